/* A program that uses mlic as an installed library would: only <mlic.h> and libmlic.so, built
 * with `cc train_eval_predict.c $(pkg-config --cflags --libs mlic)` (tests/py/test_c_api.py
 * builds it against `make install PREFIX=...` and checks what it prints against the CLI's).
 *
 *   train_eval_predict TRAIN VAL CLASSES ROOT MODEL IMAGE
 *
 * reads TRAIN as a data set, trains resnet18 at crop 32 for one epoch into MODEL, evaluates MODEL
 * on VAL and predicts IMAGE; prints "items N", "classes K", "epoch E loss L", "mAP M",
 * "ap CLASS A" lines (%.17g) and "prob CLASS P" lines (%.9g: each reads back exactly). */
#include <stdio.h>
#include <stdlib.h>

#include <mlic.h>

static int failed(const char *what)
{
    fprintf(stderr, "train_eval_predict: %s: %s\n", what, mlic_errmsg());
    return 1;
}

static void on_progress(void *user, const mlic_train_progress *p)
{
    if (p->kind == MLIC_TRAIN_EVENT_EPOCH)
        printf("epoch %d loss %.17g\n", p->epoch, p->loss);
    ++*(int *)user;
}

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(*len ? *len : 1);
    int ok = *data && fread(*data, 1, *len, f) == *len;
    fclose(f);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: train_eval_predict TRAIN VAL CLASSES ROOT MODEL IMAGE\n");
        return 2;
    }
    if (mlic_version() / 100 != MLIC_VERSION_NUMBER / 100) {
        fprintf(stderr, "built for mlic %s, running with %d\n", MLIC_VERSION, mlic_version());
        return 1;
    }
    const char *train = argv[1], *val = argv[2], *classes = argv[3], *root = argv[4];
    const char *model_path = argv[5], *image = argv[6];

    mlic_dataset_read_opts ro;
    mlic_dataset_read_opts_init(&ro);
    ro.root = root;
    ro.classes_path = classes;
    mlic_dataset *d;
    if (mlic_dataset_read(&d, train, &ro) != MLIC_OK)
        return failed("reading the training data");
    printf("items %zu\nclasses %d\n", mlic_dataset_num_items(d), mlic_dataset_num_classes(d));
    mlic_dataset_free(d);

    mlic_train_opts to;
    mlic_train_opts_init(&to);
    to.arch = "resnet18";
    to.train_path = train;
    to.val_path = val;
    to.classes_path = classes;
    to.root = root;
    to.output_path = model_path;
    to.epochs = 1;
    to.batch_size = 16;
    to.crop = 32;
    to.resize = 37;
    to.threads = 1;
    to.workers = 1;
    to.seed = 3;
    to.lr = 0.05;
    int reports = 0;
    to.progress = on_progress;
    to.progress_user = &reports;
    if (mlic_train_run(&to) != MLIC_OK)
        return failed("training");
    if (reports < 2)
        return fprintf(stderr, "only %d progress reports\n", reports), 1;

    mlic_eval_run_opts eo;
    mlic_eval_run_opts_init(&eo);
    eo.model_path = model_path;
    eo.data_path = val;
    eo.data.root = root;
    eo.data.classes_path = classes;
    eo.threads = 1;
    mlic_eval_result r;
    if (mlic_eval_run(&eo, &r) != MLIC_OK) {
        mlic_eval_result_free(&r);
        return failed("evaluating");
    }
    printf("mAP %.17g\n", r.summary.map);
    for (int c = 0; c < r.num_classes; c++)
        printf("ap %s %.17g\n", r.classes[c], r.per_class[c].ap);
    mlic_eval_result_free(&r);

    mlic_model *m;
    mlic_engine *e;
    uint8_t *bytes = NULL;
    size_t len;
    if (mlic_model_load(&m, model_path) != MLIC_OK)
        return failed("loading the model");
    if (mlic_engine_create(&e, m, MLIC_BACKEND_AUTO, 1, 1) != MLIC_OK)
        return failed("preparing the model");
    if (read_file(image, &bytes, &len))
        return fprintf(stderr, "cannot read %s\n", image), 1;
    float *probs = malloc(sizeof *probs * (size_t)mlic_model_num_classes(m));
    if (!probs || mlic_predict_image(e, probs, bytes, len, 0) != MLIC_OK)
        return failed("predicting");
    for (int c = 0; c < mlic_model_num_classes(m); c++)
        printf("prob %s %.9g\n", mlic_model_class_name(m, c), probs[c]);
    free(probs);
    free(bytes);
    mlic_engine_destroy(e);
    mlic_model_free(m);
    return 0;
}
