/* The images a model gets most wrong, as thumbnails for the report: the worst false positives
 * (an absent class scored highest above its threshold) and false negatives (a present class
 * scored lowest below its threshold), one card per image. */
#ifndef MLIC_REPORT_REPORT_EXAMPLES_H
#define MLIC_REPORT_REPORT_EXAMPLES_H

#include "data/dataset.h"
#include "eval/evaluate.h"
#include "mlic.h"
#include "util/strbuf.h"

/* Thumbnails: the longer side at most this many pixels, JPEG at this quality. */
#define MLIC_REPORT_THUMB_SIDE 128
#define MLIC_REPORT_THUMB_QUALITY 72

/* Appends "data:image/jpeg;base64,..." for the image at path (a local path or URL, read as the
 * loader reads them) scaled to fit max_side. On failure b is unchanged and the message names
 * the image. */
mlic_status mlic_report_thumbnail(mlic_strbuf *b, const char *path, int max_side);

/* The two galleries (worst false positives, worst false negatives), up to max_images cards
 * each, under <h3> headings. An image that cannot be read shows why instead of its thumbnail. */
void mlic_report_examples(mlic_strbuf *b, const mlic_eval_result *r, const mlic_model *m,
                          const mlic_dataset *d, int max_images);

#endif
