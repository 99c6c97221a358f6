#include "cli/args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mlic_args_value(const char *cmd, int argc, char **argv, int *i, const char *name,
                    const char **value)
{
    const char *arg = argv[*i];
    size_t len = strlen(name);
    if (strncmp(arg, name, len))
        return 0;
    if (arg[len] == '=') {
        *value = arg + len + 1;
        return 1;
    }
    if (arg[len])
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "mlic %s: %s needs a value\nHINT: run 'mlic %s --help'\n", cmd, name, cmd);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int mlic_args_flag(const char *arg, const char *name) { return !strcmp(arg, name); }

int mlic_args_is_help(const char *arg) { return !strcmp(arg, "-h") || !strcmp(arg, "--help"); }

int mlic_args_int(const char *cmd, const char *name, const char *text, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (end == text || *end || errno || isspace((unsigned char)text[0]) || v < lo || v > hi) {
        fprintf(stderr, "mlic %s: %s '%s' is not an integer in [%ld, %ld]\n", cmd, name, text, lo,
                hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* One float from the start of s, stopping at a comma or the end; NULL if there is none. */
static const char *parse_one(const char *s, float *out)
{
    while (*s == ' ')
        s++;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (end == s || errno == ERANGE || !isfinite(v))
        return NULL;
    while (*end == ' ')
        end++;
    if (*end && *end != ',')
        return NULL;
    *out = v;
    return end;
}

int mlic_args_float(const char *cmd, const char *name, const char *text, float *out)
{
    const char *end = parse_one(text, out);
    if (!end || *end) {
        fprintf(stderr, "mlic %s: %s '%s' is not a number\n", cmd, name, text);
        return -1;
    }
    return 0;
}

int mlic_args_float_list(const char *cmd, const char *name, const char *text, float *out, int max)
{
    int n = 0;
    for (const char *s = text;; s++) {
        float v;
        s = parse_one(s, &v);
        if (!s) {
            fprintf(stderr, "mlic %s: %s '%s': number %d is missing or malformed (expected "
                    "comma-separated numbers like 0.5,0.25)\n", cmd, name, text, n + 1);
            return -1;
        }
        if (n == max) {
            fprintf(stderr, "mlic %s: %s '%s': more than %d numbers\n", cmd, name, text, max);
            return -1;
        }
        out[n++] = v;
        if (!*s)
            return n;
    }
}

int mlic_args_floats(const char *cmd, const char *name, const char *text, float *out, int n)
{
    int got = mlic_args_float_list(cmd, name, text, out, n);
    if (got < 0)
        return -1;
    if (got != n) {
        fprintf(stderr, "mlic %s: %s '%s': %d numbers, expected %d\n", cmd, name, text, got, n);
        return -1;
    }
    return 0;
}

int mlic_args_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mlic %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nHINT: run 'mlic %s --help'\n", cmd);
    va_end(ap);
    return 2;
}
