/* libFuzzer harness: PAI's labelled CSV, as mlic_dataset_load reads it: the text in memory (NUL-
 * terminated), the result built and freed. An input with a NUL byte carries a class file before
 * it. */
#include "fuzz_text_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_text_dataset(data, len, mlic_dataset_read_pai_csv, MLIC_DATASET_PAI_CSV);
    return 0;
}
