/* JSON values written straight to a stream, for the commands' --json output (mlic eval). */
#ifndef MLIC_CLI_JSON_OUT_H
#define MLIC_CLI_JSON_OUT_H

#include <stdio.h>

/* A quoted string: quotes, backslashes and control characters escaped; UTF-8 kept as is (the
 * library's names are valid UTF-8). */
void mlic_cli_json_string(FILE *f, const char *s);
/* "%.9g" (a float reads back exactly), null for NaN and infinities. */
void mlic_cli_json_number(FILE *f, double v);

#endif
