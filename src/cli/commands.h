/* The CLI's subcommands; each parses its own arguments and returns the process exit status:
 * 0 success, 1 the run failed, 2 bad usage, 3 some inputs failed. */
#ifndef MLIC_CLI_COMMANDS_H
#define MLIC_CLI_COMMANDS_H

int mlic_cmd_predict(int argc, char **argv);
int mlic_cmd_import(int argc, char **argv);
int mlic_cmd_info(int argc, char **argv);
int mlic_cmd_eval(int argc, char **argv);
int mlic_cmd_train(int argc, char **argv);

#endif
