/* Encoded image bytes -> the network's input tensor, the one way every single-image
 * evaluation-time caller makes it (mlic predict's workers, mlic_predict_image), so that they
 * give the same numbers for the same bytes. */
#ifndef MLIC_IMAGE_EVAL_INPUT_H
#define MLIC_IMAGE_EVAL_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "mlic.h"

/* out: (3, pre->crop, pre->crop). mlic_image_decode with opts (callers pass
 * mlic_decode_opts_for_eval), then mlic_image_preprocess. `what` names the image in messages
 * ("'a.jpg'", "the image of ID '7'"): "<what> is empty (0 bytes)", "decoding <what>: ...",
 * "preprocessing <what>: ...". */
mlic_status mlic_image_eval_input(float *out, const uint8_t *data, size_t len,
                                  const mlic_decode_opts *opts, const mlic_preprocess *pre,
                                  const char *what);

#endif
