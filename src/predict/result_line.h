/* One output line per input, EasyVision's way or as JSON lines:
 *   ev:    <path>, {"class_probs": {...}, "classes": [...], "predictions": [...],
 *                   "class_names": [...], "probs": [...]}
 *   jsonl: {"path": <path>, "class_probs": ..., "probs": [...]}
 * and for a failed input  <path>, {"error": "..."}  or  {"path": ..., "error": "..."}.
 * The ev path is written as given (EasyVision does the same); everything in JSON is escaped. */
#ifndef MLIC_PREDICT_RESULT_LINE_H
#define MLIC_PREDICT_RESULT_LINE_H

#include "mlic.h"
#include "util/strbuf.h"

typedef struct {
    mlic_output_format format;
    int num_classes;
    const char *const *class_names; /* (num_classes) */
    const float *thresholds;        /* (num_classes): positive when prob >= threshold */
} mlic_result_format;

/* Append one line, '\n' included. probs: (num_classes). */
void mlic_result_line_ok(mlic_strbuf *b, const mlic_result_format *f, const char *path,
                         const float *probs);
void mlic_result_line_error(mlic_strbuf *b, const mlic_result_format *f, const char *path,
                            const char *message);

#endif
