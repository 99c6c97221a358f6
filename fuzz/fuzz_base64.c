/* libFuzzer harness: one line of a base64 input list ("ID<TAB>BASE64" or "BASE64"), as a predict
 * worker prepares it: base64 decoded, the image decoded (any format) and preprocessed. */
#include "predict/input.h"
#include "util/base64.h"
#include "fuzz.h"

#define CROP 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    /* The line as the list reader hands it over: NUL-terminated, without its newline. */
    char *line = fuzz_terminated(data, len);
    mlic_input_ctx c = {.type = MLIC_IMAGE_TYPE_BASE64,
                        .pre = {.resize = 40, .crop = CROP, .mean = {0.5f, 0.5f, 0.5f},
                                .std = {0.25f, 0.25f, 0.25f}}};
    c.decode = mlic_decode_opts_for_eval(&c.pre, 1u << 22);
    static float out[3 * CROP * CROP];
    mlic_input_prepare(out, &c, line, len, 1);
    /* The decoder alone too, on the raw bytes: every length and padding. */
    uint8_t *bytes;
    size_t n;
    if (mlic_base64_decode(&bytes, &n, line, len) == MLIC_OK) {
        if (n > len)
            abort(); /* three bytes per four characters at most */
        free(bytes);
    }
    free(line);
    return 0;
}
