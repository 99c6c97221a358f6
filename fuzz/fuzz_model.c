/* libFuzzer harness: an mlic model file (safetensors with the "mlic" metadata) through
 * mlic_model_load: header, metadata JSON, class names, thresholds, preprocessing, then the state
 * dict against the arch's graph. The loader takes a path. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const char *path = fuzz_file("model.mlic", data, len);
    mlic_model *m;
    if (mlic_model_load(&m, path) != MLIC_OK)
        return 0;
    for (int i = 0; i < mlic_model_num_classes(m); i++)
        if (!mlic_model_class_name(m, i) || !(mlic_model_threshold(m, i) >= 0.0f))
            abort();
    mlic_model_free(m);
    return 0;
}
