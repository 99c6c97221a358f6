/* libFuzzer harness: a Pascal VOC annotation (Annotations/<id>.xml), read through
 * mlic_dataset_load on a VOC folder whose split lists that one image. The reader takes paths, so
 * the folder lives in this harness's /dev/shm folder. An input with a NUL byte carries a class
 * file before it. */
#include "data/dataset.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static char voc[160];
    if (!voc[0]) {
        snprintf(voc, sizeof voc, "%s", fuzz_path("voc"));
        const char *dirs[] = {"voc", "voc/Annotations", "voc/ImageSets", "voc/ImageSets/Main"};
        for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
            mkdir(fuzz_path(dirs[i]), 0700);
        fuzz_file("voc/ImageSets/Main/trainval.txt", (const uint8_t *)"a\n", 2);
    }
    const char *classes;
    fuzz_split_classes(&data, &len, &classes);
    fuzz_file("voc/Annotations/a.xml", data, len);
    mlic_dataset_opts o;
    mlic_dataset_opts_init(&o);
    o.classes_path = classes;
    mlic_dataset *d = NULL;
    mlic_dataset_load(&d, voc, &o);
    mlic_dataset_free(d);
    return 0;
}
