/* libFuzzer harness: PNG (libpng behind mlic's header checks and the bomb guard),
 * through mlic_image_decode. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_decode(data, len);
    return 0;
}
