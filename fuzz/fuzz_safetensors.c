/* libFuzzer harness: a safetensors file (8-byte header length, JSON header, data), opened and
 * validated by mlic_safetensors_open, then every tensor of a modest size read as floats (the
 * float dtypes) or raw bytes, and the metadata looked up. The reader takes a path. */
#include "model/safetensors.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const char *path = fuzz_file("model.safetensors", data, len);
    mlic_safetensors *f;
    if (mlic_safetensors_open(&f, path) != MLIC_OK)
        return 0;
    mlic_safetensors_metadata(f, "mlic");
    for (int i = 0; i < mlic_safetensors_count(f); i++) {
        const mlic_safetensors_tensor *t = mlic_safetensors_tensor_at(f, i);
        if (mlic_safetensors_find(f, t->name) < 0 || t->end - t->begin > (1u << 20))
            continue;
        size_t bytes = (size_t)(t->end - t->begin);
        float *v = malloc((size_t)t->numel * sizeof *v + 1);
        void *raw = malloc(bytes + 1);
        if (!v || !raw)
            abort();
        mlic_safetensors_read_f32(f, i, v);
        mlic_safetensors_read_raw(f, i, raw);
        free(v);
        free(raw);
    }
    mlic_safetensors_close(f);
    return 0;
}
