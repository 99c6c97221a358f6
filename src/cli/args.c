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

/* Why a number could not be read. */
typedef enum { NUM_MALFORMED, NUM_NOT_FINITE, NUM_UNDERFLOW, NUM_OVERFLOW } num_error;

static const char *num_error_text(num_error e)
{
    switch (e) {
    case NUM_UNDERFLOW: return "is out of range (underflows: too close to 0 for a normal float)";
    case NUM_OVERFLOW: return "is out of range (overflows a float)";
    case NUM_NOT_FINITE: return "is not a finite number";
    default: return "is not a number";
    }
}

/* One float from the start of s, stopping at a comma or the end: where it stopped, or NULL with
 * *why set. strtof's ERANGE covers results too small for a normal float as well as too large. */
static const char *parse_one(const char *s, float *out, num_error *why)
{
    while (*s == ' ')
        s++;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    *why = NUM_MALFORMED;
    if (end == s)
        return NULL;
    const char *after = end;
    while (*after == ' ')
        after++;
    if (*after && *after != ',')
        return NULL;
    if (errno == ERANGE || !isfinite(v)) {
        *why = errno != ERANGE ? NUM_NOT_FINITE : isfinite(v) ? NUM_UNDERFLOW : NUM_OVERFLOW;
        return NULL;
    }
    *out = v;
    return after;
}

int mlic_args_float(const char *cmd, const char *name, const char *text, float *out)
{
    num_error why;
    const char *end = parse_one(text, out, &why);
    if (!end || *end) {
        fprintf(stderr, "mlic %s: %s '%s' %s\n", cmd, name, text,
                num_error_text(end ? NUM_MALFORMED : why));
        return -1;
    }
    return 0;
}

int mlic_args_float_list(const char *cmd, const char *name, const char *text, float *out, int max)
{
    int n = 0;
    for (const char *s = text;; s++) {
        float v;
        num_error why;
        s = parse_one(s, &v, &why);
        if (!s && why != NUM_MALFORMED) {
            fprintf(stderr, "mlic %s: %s '%s': number %d %s\n", cmd, name, text, n + 1,
                    num_error_text(why));
            return -1;
        }
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

int mlic_args_backend(const char *cmd, const char *text, mlic_backend_kind *out)
{
    static const struct {
        const char *name;
        mlic_backend_kind kind;
    } kinds[] = {{"auto", MLIC_BACKEND_AUTO}, {"ref", MLIC_BACKEND_REF},
                 {"onednn", MLIC_BACKEND_ONEDNN}, {"cuda", MLIC_BACKEND_CUDA}};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(text, kinds[i].name)) {
            *out = kinds[i].kind;
            return 0;
        }
    return mlic_args_usage_error(cmd, "--backend '%s' must be auto, ref, onednn or cuda", text);
}
