/* libFuzzer harness: BMP (mlic's own decoder),
 * through mlic_image_decode. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_decode(data, len);
    return 0;
}
