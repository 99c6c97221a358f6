/* libFuzzer harness: a data-set text file as `mlic train --data` reads it: mlic_dataset_load with
 * the format auto-detected, so mostly the plain list (path<TAB>labels, or path label label with a
 * class file) and, when the text looks like one, PAI CSV or COCO. An input with a NUL byte
 * carries a class file before it. The loader takes a path. */
#include "data/dataset.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    const char *classes;
    fuzz_split_classes(&data, &len, &classes);
    mlic_dataset_opts o;
    mlic_dataset_opts_init(&o);
    o.classes_path = classes;
    mlic_dataset *d = NULL;
    mlic_dataset_load(&d, fuzz_file("train.txt", data, len), &o);
    mlic_dataset_free(d);
    return 0;
}
