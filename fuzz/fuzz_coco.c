/* libFuzzer harness: COCO instances JSON, as mlic_dataset_load reads it: the text in memory (NUL-
 * terminated), the result built and freed. An input with a NUL byte carries a class file before
 * it. */
#include "fuzz_text_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_text_dataset(data, len, mlic_dataset_read_coco, MLIC_DATASET_COCO);
    return 0;
}
