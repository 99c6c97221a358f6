/* The CLI's subcommands; each parses its own arguments and returns the process exit status:
 * 0 success, 1 the run failed, 2 bad usage, 3 some inputs failed. */
#ifndef MLIC_CLI_COMMANDS_H
#define MLIC_CLI_COMMANDS_H

#include "mlic.h"

int mlic_cmd_predict(int argc, char **argv);
/* predict's option parsing alone (fuzz/fuzz_args.c drives it): -1 when argv is a complete
 * command, with *o, *workers and *progress (-1: automatic) set; else the exit status (0 after
 * --help, 2 after printing what is wrong). */
int mlic_predict_parse_args(int argc, char **argv, mlic_predict_opts *o, int *workers,
                            int *progress);
int mlic_cmd_import(int argc, char **argv);
int mlic_cmd_info(int argc, char **argv);
int mlic_cmd_export(int argc, char **argv);
int mlic_cmd_quantize(int argc, char **argv);
int mlic_cmd_eval(int argc, char **argv);
int mlic_cmd_train(int argc, char **argv);
int mlic_cmd_report(int argc, char **argv);

#endif
