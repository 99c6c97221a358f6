/* libFuzzer harness: COCO instances JSON, as mlic_dataset_load reads it: the text in memory (NUL-
 * terminated), the result built and freed. An input with a NUL byte carries a class file before
 * it. */
#include "data/dataset_build.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const char *classes;
    fuzz_split_classes(&data, &len, &classes);
    char *text = fuzz_text(data, len);
    if (!text)
        return 0;
    mlic_dataset_builder b;
    mlic_dataset *d = NULL;
    mlic_status st = mlic_dataset_builder_init(&b, "fuzz.txt", "/data", classes, 0);
    if (st == MLIC_OK)
        st = mlic_dataset_read_coco(&b, text, len);
    if (st == MLIC_OK)
        st = mlic_dataset_builder_finish(&b, &d, MLIC_DATASET_COCO);
    mlic_dataset_builder_free(&b);
    mlic_dataset_free(d);
    free(text);
    return 0;
}
