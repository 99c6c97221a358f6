/* libFuzzer harness: an ONNX export through mlic_model_import_onnx (protobuf, node walk, the match
 * against resnet18 with a two-class head, the weights), then again without a class list, as for
 * a file of mlic export's (its "mlic" metadata_props). The importer takes paths; what it writes
 * goes to this harness's /dev/shm folder. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static const char *const classes[] = {"cat", "dog"};
    const char *in = fuzz_file("model.onnx", data, len);
    char in_path[160];
    snprintf(in_path, sizeof in_path, "%s", in);
    mlic_model_spec spec = {.arch = "resnet18", .classes = classes, .num_classes = 2,
                            .threshold = 0.5f, .pre = mlic_preprocess_default()};
    mlic_model_import_onnx(in_path, &spec, fuzz_path("out.mlic"), NULL);
    spec.arch = NULL;
    spec.classes = NULL;
    spec.num_classes = 0;
    mlic_model_import_onnx(in_path, &spec, fuzz_path("out.mlic"), NULL);
    return 0;
}
