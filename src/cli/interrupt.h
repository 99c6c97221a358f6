/* SIGINT and SIGTERM for the long commands (predict, train): the first sets a flag the library
 * polls (mlic_predict_opts.cancel, the trainer's cancel), so the run stops at a clean point and
 * keeps what it finished; a second one ends the process at once, by the default action of that
 * signal. The library itself installs no handlers. */
#ifndef MLIC_CLI_INTERRUPT_H
#define MLIC_CLI_INTERRUPT_H

#include <signal.h>

/* Install the handlers; returns the flag, which holds the first signal's number once one came. */
const volatile sig_atomic_t *mlic_cli_interrupt_install(void);

/* The exit status for a run stopped by the signal in the flag: 128 + its number (130, 143). */
int mlic_cli_interrupt_exit_code(void);

/* Print why `mlic CMD` stopped (what: the library's message) and the command that continues
 * it: argv (argc entries, argv[0] the subcommand's name) with --resume added. */
void mlic_cli_interrupt_report(const char *cmd, const char *what, int argc, char **argv);

#endif
