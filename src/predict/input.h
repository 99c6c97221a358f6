/* From one line of the input list to a preprocessed tensor: what a fetch/decode worker does.
 *
 *   url:     the line is a local path (relative to the root), a file://, http(s)://, s3:// or
 *            oss:// URL (remote ones usually arrive fetched already: predict.c's fetch stage);
 *   base64:  "ID<TAB>BASE64" or just "BASE64" (the ID is then the 1-based line number).
 */
#ifndef MLIC_PREDICT_INPUT_H
#define MLIC_PREDICT_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "mlic.h"
#include "io/client.h"

typedef struct {
    mlic_image_type type;
    mlic_io *io; /* this worker's */
    mlic_decode_opts decode;
    mlic_preprocess pre;
} mlic_input_ctx;

/* What the output line names this input by: the path/URL as written, or the base64 ID.
 * malloc'd; NULL only when out of memory. */
char *mlic_input_label(mlic_image_type type, const char *line, size_t len, uint64_t lineno);

/* A line of `total` bytes, over the limit of max, of which the first len are kept in line: its
 * label (the base64 ID when the tab is among the kept bytes, else the line number; the first
 * bytes of a url line and "...") into *label (malloc'd, NULL when out of memory) and the error. */
mlic_status mlic_input_too_long(char **label, mlic_image_type type, const char *line, size_t len,
                                uint64_t total, size_t max, uint64_t lineno);

/* out: (3, pre.crop, pre.crop). line: without its newline; len may exceed strlen(line) when the
 * line holds NUL bytes (an error). On failure the message says which input and what is wrong. */
mlic_status mlic_input_prepare(float *out, const mlic_input_ctx *c, const char *line, size_t len,
                               uint64_t lineno);
/* The same for a url line whose bytes were fetched already: data (n bytes) is decoded. */
mlic_status mlic_input_prepare_fetched(float *out, const mlic_input_ctx *c, const char *line,
                                       size_t len, uint64_t lineno, const uint8_t *data, size_t n);

#endif
