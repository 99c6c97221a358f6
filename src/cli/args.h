/* Option parsing shared by the subcommands: `--name value` or `--name=value`, numbers, and
 * comma-separated float lists. Whatever reports a problem prints "mlic CMD: message" on stderr
 * (cmd is the subcommand, e.g. "import") and returns -1, or for mlic_args_usage_error the bad
 * usage exit status 2.
 *
 * A subcommand's loop reads:
 *     for (int i = 1; i < argc; i++) {
 *         int r;
 *         if ((r = mlic_args_value(cmd, argc, argv, &i, "--arch", &arch))) { if (r < 0) return 2; }
 *         else if (mlic_args_flag(argv[i], "--json")) json = 1;
 *         else return mlic_args_usage_error(cmd, "unknown option '%s'", argv[i]);
 *     }
 */
#ifndef MLIC_CLI_ARGS_H
#define MLIC_CLI_ARGS_H

#include "mlic.h"

/* If argv[*i] is `name` followed by a value word, or `name=value`: set *value, leave *i on the
 * option's last word and return 1. If argv[*i] is something else: return 0. If the value is
 * missing: print so and return -1. */
int mlic_args_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                    const char **value);

/* 1 if arg is exactly name (a flag without a value), else 0. */
int mlic_args_flag(const char *arg, const char *name);

/* 1 for "-h" and "--help". */
int mlic_args_is_help(const char *arg);

/* text as a whole decimal integer in [lo, hi]: 0, or -1 after printing what is wrong with
 * option `name`. */
int mlic_args_int(const char *cmd, const char *name, const char *text, long lo, long hi, int *out);

/* text as one finite float: 0, or -1 after printing. */
int mlic_args_float(const char *cmd, const char *name, const char *text, float *out);

/* Comma-separated finite floats ("0.485,0.456,0.406"; spaces around numbers allowed), at most
 * max: how many were read, or -1 after printing. */
int mlic_args_float_list(const char *cmd, const char *name, const char *text, float *out, int max);

/* Exactly n comma-separated floats: 0, or -1 after printing. */
int mlic_args_floats(const char *cmd, const char *name, const char *text, float *out, int n);

/* --backend's value (auto, ref, onednn or cuda): 0, or 2 (bad usage) after printing. */
int mlic_args_backend(const char *cmd, const char *text, mlic_backend_kind *out);

/* Print "mlic CMD: message" and a hint to read --help; return 2, the bad-usage exit status. */
int mlic_args_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
