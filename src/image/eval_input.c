#include "image/eval_input.h"

#include "core/error.h"

mlic_status mlic_image_eval_input(float *out, const uint8_t *data, size_t len,
                                  const mlic_decode_opts *opts, const mlic_preprocess *pre,
                                  const char *what)
{
    if (len == 0)
        return mlic_fail(MLIC_ERR_DECODE, "%s is empty (0 bytes)", what);
    mlic_image img = {0};
    mlic_status st = mlic_image_decode(&img, data, len, opts);
    if (st != MLIC_OK)
        return mlic_fail_prefix(st, "decoding %s: ", what);
    st = mlic_image_preprocess(out, &img, pre);
    if (st != MLIC_OK)
        mlic_fail_prefix(st, "preprocessing %s: ", what);
    mlic_image_free(&img);
    return st;
}
