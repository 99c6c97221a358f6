/* mlic_predict_image: one encoded image through the engine, prepared exactly as mlic predict
 * prepares each line's image (mlic_image_eval_input with mlic_decode_opts_for_eval);
 * mlic_predict_pixels: the same from pixels the caller decoded. */
#include <stdlib.h>

#include "core/error.h"
#include "image/eval_input.h"
#include "mlic.h"

mlic_status mlic_predict_image(mlic_engine *e, float *probs, const uint8_t *data, size_t len,
                               uint64_t max_pixels)
{
    const mlic_model *m = mlic_engine_model(e);
    if (!m || !probs || (!data && len))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_predict_image: needs an engine, an output "
                         "buffer and the image's bytes");
    const mlic_preprocess pre = mlic_model_preprocess(m);
    const mlic_decode_opts opts = mlic_decode_opts_for_eval(&pre, max_pixels);
    float *input = malloc((size_t)3 * pre.crop * pre.crop * sizeof *input);
    if (!input)
        return mlic_fail(MLIC_ERR_NOMEM, "mlic_predict_image: out of memory");
    mlic_status st = mlic_image_eval_input(input, data, len, &opts, &pre, "the image");
    if (st == MLIC_OK)
        st = mlic_engine_run(e, probs, input, 1);
    free(input);
    return st;
}

mlic_status mlic_predict_pixels(mlic_engine *e, float *probs, const mlic_image *img)
{
    const mlic_model *m = mlic_engine_model(e);
    if (!m || !probs || !img || !img->pixels || img->width < 1 || img->height < 1)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "mlic_predict_pixels: needs an engine, an output "
                         "buffer and an image of at least 1 x 1 pixels");
    const mlic_preprocess pre = mlic_model_preprocess(m);
    float *input = malloc((size_t)3 * pre.crop * pre.crop * sizeof *input);
    if (!input)
        return mlic_fail(MLIC_ERR_NOMEM, "mlic_predict_pixels: out of memory");
    mlic_status st = mlic_image_preprocess(input, img, &pre);
    if (st != MLIC_OK)
        st = mlic_fail_prefix(st, "preprocessing the image: ");
    else
        st = mlic_engine_run(e, probs, input, 1);
    free(input);
    return st;
}
