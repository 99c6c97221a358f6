/* What the libFuzzer harnesses share: the parsers that only take a path get the input through a
 * file in a private folder under /dev/shm (memory, not disk), removed when the harness exits. */
#ifndef MLIC_FUZZ_H
#define MLIC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir[160];

static inline void fuzz_remove_dir(void)
{
    char cmd[192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

/* name's path in this process's folder (made on first use); the result lives until the next call. */
static inline const char *fuzz_path(const char *name)
{
    static char path[160];
    if (!fuzz_dir[0]) {
        /* fuzz/run.sh names the folder and removes it: libFuzzer may end without atexit. */
        const char *given = getenv("MLIC_FUZZ_TMP");
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        if (given && given[0])
            snprintf(fuzz_dir, sizeof fuzz_dir, "%s", given);
        else
            snprintf(fuzz_dir, sizeof fuzz_dir, "%s/mlic-fuzz-%ld", base, (long)getpid());
        mkdir(fuzz_dir, 0700);
        atexit(fuzz_remove_dir);
    }
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
    return path;
}

/* Writes the bytes to name (folders in name must exist) and returns its path. */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t len)
{
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* A malloc'd copy of the bytes with a NUL after them (NUL bytes inside are kept). */
static inline char *fuzz_terminated(const uint8_t *data, size_t len)
{
    char *t = malloc(len + 1);
    if (!t)
        abort();
    memcpy(t, data, len);
    t[len] = '\0';
    return t;
}

/* The bytes as a NUL-terminated text (what the readers get from mlic_dataset_read_text), or
 * NULL when they hold a NUL byte, which that function refuses before any reader sees it. */
static inline char *fuzz_text(const uint8_t *data, size_t len)
{
    return memchr(data, 0, len) ? NULL : fuzz_terminated(data, len);
}

/* Splits an input at its first NUL byte: the part before is a class file (written to
 * "classes.txt", *classes_path set), the rest the data set text. Without a NUL, no class file. */
static inline void fuzz_split_classes(const uint8_t **data, size_t *len, const char **classes_path)
{
    const uint8_t *nul = memchr(*data, 0, *len);
    *classes_path = NULL;
    if (!nul)
        return;
    static char path[160];
    snprintf(path, sizeof path, "%s", fuzz_file("classes.txt", *data, (size_t)(nul - *data)));
    *classes_path = path;
    *len -= (size_t)(nul - *data) + 1;
    *data = nul + 1;
}

/* mlic_image_decode as every reader calls it, with a pixel limit low enough that the fuzzer
 * spends its time in the parsers rather than in memset (the guard's arithmetic is the same at any
 * limit). Odd-length inputs ask for DCT-domain downscaling, as predict does. A decoded image's
 * every pixel is read, so that a buffer smaller than its header's size is caught. */
#include "mlic.h"

static inline void fuzz_decode(const uint8_t *data, size_t len)
{
    mlic_decode_opts o = {.max_pixels = 1u << 22, .min_short_side = len % 2 ? 64 : 0};
    mlic_image img;
    if (mlic_image_decode(&img, data, len, &o) != MLIC_OK)
        return;
    if (img.width <= 0 || img.height <= 0 || !img.pixels ||
        (uint64_t)img.width * (uint64_t)img.height > o.max_pixels)
        abort();
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)img.width * (size_t)img.height * 3; i++)
        sum += img.pixels[i];
    volatile unsigned keep = sum;
    (void)keep;
    mlic_image_free(&img);
}

#endif
