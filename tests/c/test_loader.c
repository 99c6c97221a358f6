/* The batch loader: order, targets and item indices; eval batches equal mlic_image_preprocess of
 * each file; train batches depend on (seed, epoch, item) only, not on the worker count; a missing
 * file fails the epoch naming it, or is skipped; stopping mid-epoch; drop_last. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/dataset.h"
#include "data/loader.h"

#define NIMAGES 11
#define NCLASSES 3
static const char *const class_names[NCLASSES] = {"red", "green", "blue"};

static char dir[] = "/tmp/mlic_test_loader_XXXXXX";

static void put_le(uint8_t *p, uint32_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A 24-bit BMP of w x h with a pattern that differs per image. */
static void write_bmp(const char *path, int w, int h, int seed)
{
    int stride = (3 * w + 3) & ~3;
    size_t size = 54 + (size_t)stride * h;
    uint8_t *b = calloc(1, size);
    b[0] = 'B';
    b[1] = 'M';
    put_le(b + 2, (uint32_t)size, 4);
    put_le(b + 10, 54, 4);
    put_le(b + 14, 40, 4);
    put_le(b + 18, (uint32_t)w, 4);
    put_le(b + 22, (uint32_t)h, 4);
    put_le(b + 26, 1, 2);
    put_le(b + 28, 24, 2);
    put_le(b + 34, (uint32_t)(stride * h), 4);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *px = b + 54 + (size_t)y * stride + 3 * x;
            px[0] = (uint8_t)(x * 7 + seed * 31);
            px[1] = (uint8_t)(y * 5 + x * y + seed);
            px[2] = (uint8_t)((x ^ y) * 3 + seed * 11);
        }
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, size, f);
    fclose(f);
    free(b);
}

static mlic_dataset *make_dataset(int with_missing)
{
    char path[256];
    snprintf(path, sizeof path, "%s/list.txt", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < NIMAGES; i++) {
        char img[256];
        snprintf(img, sizeof img, "%s/img%d.bmp", dir, i);
        write_bmp(img, 40 + 3 * i, 30 + 5 * (i % 4), i);
        if (with_missing && i == 6)
            fprintf(f, "missing%d.bmp\t%s\n", i, class_names[i % NCLASSES]);
        else
            fprintf(f, "img%d.bmp\t%s,%s\n", i, class_names[i % NCLASSES],
                    class_names[(i / 2) % NCLASSES]);
    }
    fclose(f);
    static char classes[256];
    snprintf(classes, sizeof classes, "%s/classes.txt", dir);
    f = fopen(classes, "w");
    for (int k = 0; k < NCLASSES; k++)
        fprintf(f, "%s\n", class_names[k]);
    fclose(f);

    mlic_dataset_opts o;
    mlic_dataset_opts_init(&o);
    o.classes_path = classes;
    mlic_dataset *d = NULL;
    mlic_status st = mlic_dataset_load(&d, path, &o);
    CHECK(st == MLIC_OK, "dataset: %s", mlic_errmsg());
    return d;
}

static const size_t order[NIMAGES] = {3, 9, 0, 10, 5, 1, 8, 2, 7, 4, 6};

static mlic_preprocess eval_pre(void)
{
    return (mlic_preprocess){.resize = 36, .crop = 32, .mean = {0.5f, 0.4f, 0.3f},
                             .std = {0.2f, 0.25f, 0.3f}};
}

/* Every image of one epoch, concatenated in order: (count, 3, S, S). */
static float *run_epoch(const mlic_loader_cfg *cfg, size_t *n_out)
{
    mlic_loader *l;
    mlic_status st = mlic_loader_create(&l, cfg);
    CHECK(st == MLIC_OK, "create: %s", mlic_errmsg());
    if (st != MLIC_OK)
        return NULL;
    int s = cfg->mode == MLIC_LOADER_TRAIN ? cfg->aug.size : cfg->pre.crop;
    size_t per = 3 * (size_t)s * s, n = 0;
    float *all = malloc(cfg->count * per * sizeof(float));
    const mlic_batch *b;
    size_t expect_batch = 0;
    while ((st = mlic_loader_next(l, &b)) == MLIC_OK && b) {
        CHECK(b->index == expect_batch, "batch %zu came as %zu", expect_batch, b->index);
        CHECK(b->size == s && b->num_classes == NCLASSES, "batch shape %d %d", b->size,
              b->num_classes);
        for (int i = 0; i < b->n; i++) {
            CHECK(b->items[i] == cfg->order[n], "row %zu is item %zu, order says %zu", n,
                  b->items[i], cfg->order[n]);
            float t[NCLASSES];
            mlic_dataset_targets_f32(t, cfg->data, b->items[i]);
            CHECK(!memcmp(t, b->targets + (size_t)i * NCLASSES, sizeof t), "targets of row %zu", n);
            memcpy(all + n * per, b->images + (size_t)i * per, per * sizeof(float));
            n++;
        }
        expect_batch++;
    }
    CHECK(st == MLIC_OK, "next: %s", mlic_errmsg());
    CHECK(expect_batch == mlic_loader_num_batches(l), "%zu batches, num_batches says %zu",
          expect_batch, mlic_loader_num_batches(l));
    mlic_loader_destroy(l);
    *n_out = n;
    return all;
}

static void test_eval_matches_preprocess(const mlic_dataset *d)
{
    mlic_loader_cfg cfg;
    mlic_loader_cfg_init(&cfg);
    cfg.data = d;
    cfg.order = order;
    cfg.count = NIMAGES;
    cfg.batch_size = 4;
    cfg.pre = eval_pre();
    cfg.workers = 3;
    size_t n;
    float *all = run_epoch(&cfg, &n);
    CHECK(n == NIMAGES, "eval epoch gave %zu images", n);
    size_t per = 3 * 32 * 32;
    float *want = malloc(per * sizeof(float));
    for (size_t i = 0; all && i < n; i++) {
        FILE *f = fopen(d->items[order[i]].path, "rb");
        uint8_t buf[1 << 16];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        mlic_image img = {0};
        CHECK(mlic_image_decode(&img, buf, len, NULL) == MLIC_OK, "decode: %s", mlic_errmsg());
        mlic_preprocess p = eval_pre();
        CHECK(mlic_image_preprocess(want, &img, &p) == MLIC_OK, "preprocess: %s", mlic_errmsg());
        mlic_image_free(&img);
        CHECK(!memcmp(want, all + i * per, per * sizeof(float)), "eval row %zu differs from "
              "mlic_image_preprocess of %s", i, d->items[order[i]].path);
    }
    free(want);
    free(all);
}

static mlic_loader_cfg train_cfg(const mlic_dataset *d, int workers, uint32_t epoch)
{
    mlic_loader_cfg cfg;
    mlic_loader_cfg_init(&cfg);
    cfg.data = d;
    cfg.order = order;
    cfg.count = NIMAGES;
    cfg.batch_size = 3;
    cfg.mode = MLIC_LOADER_TRAIN;
    mlic_preprocess p = eval_pre();
    cfg.aug = mlic_augment_cfg_default(&p);
    cfg.seed = 1234;
    cfg.epoch = epoch;
    cfg.workers = workers;
    cfg.prefetch = 2;
    return cfg;
}

static void test_train_is_deterministic(const mlic_dataset *d)
{
    mlic_loader_cfg c1 = train_cfg(d, 1, 2), c3 = train_cfg(d, 3, 2), other = train_cfg(d, 3, 3);
    size_t n1, n3, no;
    float *a = run_epoch(&c1, &n1), *b = run_epoch(&c3, &n3), *c = run_epoch(&other, &no);
    size_t per = 3 * 32 * 32;
    CHECK(n1 == NIMAGES && n3 == NIMAGES && no == NIMAGES, "%zu %zu %zu images", n1, n3, no);
    if (a && b && c) {
        CHECK(!memcmp(a, b, NIMAGES * per * sizeof(float)), "1 and 3 workers disagree");
        CHECK(memcmp(a, c, NIMAGES * per * sizeof(float)), "epochs 2 and 3 gave the same images");
        /* Each image is the augmentation of its own (seed, epoch, item) stream. */
        float *want = malloc(per * sizeof(float));
        FILE *f = fopen(d->items[order[4]].path, "rb");
        uint8_t buf[1 << 16];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        mlic_image img = {0};
        mlic_rng rng;
        mlic_rng_init(&rng, c1.seed, MLIC_LOADER_STREAM(2, order[4]));
        CHECK(mlic_image_decode(&img, buf, len, NULL) == MLIC_OK, "decode: %s", mlic_errmsg());
        CHECK(mlic_augment_train(want, &img, &c1.aug, &rng) == MLIC_OK, "%s", mlic_errmsg());
        CHECK(!memcmp(want, a + 4 * per, per * sizeof(float)), "row 4 is not its item's stream");
        mlic_image_free(&img);
        free(want);
    }
    free(a);
    free(b);
    free(c);
}

static void test_missing_file(const mlic_dataset *d)
{
    for (int workers = 1; workers <= 3; workers += 2) {
        mlic_loader_cfg cfg;
        mlic_loader_cfg_init(&cfg);
        cfg.data = d;
        cfg.order = order;
        cfg.count = NIMAGES;
        cfg.batch_size = 2;
        cfg.pre = eval_pre();
        cfg.workers = workers;
        mlic_loader *l;
        CHECK(mlic_loader_create(&l, &cfg) == MLIC_OK, "create: %s", mlic_errmsg());
        const mlic_batch *b;
        mlic_status st;
        size_t rows = 0;
        while ((st = mlic_loader_next(l, &b)) == MLIC_OK && b)
            rows += (size_t)b->n;
        /* order[10] = 6 is missing: the 5 batches before its batch come out whole. */
        CHECK(st == MLIC_ERR_IO, "status %s: %s", mlic_status_name(st), mlic_errmsg());
        CHECK(strstr(mlic_errmsg(), "missing6.bmp") != NULL, "message does not name the file: %s",
              mlic_errmsg());
        CHECK(rows == 10, "%zu rows before the failing batch", rows);
        CHECK(mlic_loader_next(l, &b) == MLIC_ERR_IO && !b, "the error does not stick");
        mlic_loader_destroy(l);

        cfg.on_error = MLIC_LOADER_SKIP;
        CHECK(mlic_loader_create(&l, &cfg) == MLIC_OK, "create: %s", mlic_errmsg());
        rows = 0;
        int skipped = 0;
        while ((st = mlic_loader_next(l, &b)) == MLIC_OK && b) {
            for (int i = 0; i < b->n; i++)
                CHECK(b->items[i] != 6, "the missing item came out");
            if (b->skipped) {
                skipped += b->skipped;
                CHECK(b->skip_error && strstr(b->skip_error, "missing6.bmp"), "skip error: %s",
                      b->skip_error ? b->skip_error : "(null)");
            }
            rows += (size_t)b->n;
        }
        CHECK(st == MLIC_OK, "skip mode: %s", mlic_errmsg());
        CHECK(rows == NIMAGES - 1 && skipped == 1, "skip mode: %zu rows, %d skipped", rows, skipped);
        mlic_loader_destroy(l);
    }
}

static void test_stop_mid_epoch_and_drop_last(const mlic_dataset *d)
{
    mlic_loader_cfg cfg = train_cfg(d, 3, 0);
    cfg.batch_size = 1;
    cfg.prefetch = 2;
    mlic_loader *l;
    CHECK(mlic_loader_create(&l, &cfg) == MLIC_OK, "create: %s", mlic_errmsg());
    const mlic_batch *b;
    CHECK(mlic_loader_next(l, &b) == MLIC_OK && b && b->n == 1, "first batch");
    mlic_loader_destroy(l);

    cfg.batch_size = 4;
    cfg.drop_last = 1;
    CHECK(mlic_loader_create(&l, &cfg) == MLIC_OK, "create: %s", mlic_errmsg());
    CHECK(mlic_loader_num_batches(l) == 2, "drop_last: %zu batches", mlic_loader_num_batches(l));
    int batches = 0;
    while (mlic_loader_next(l, &b) == MLIC_OK && b) {
        CHECK(b->n == 4, "drop_last batch of %d", b->n);
        batches++;
    }
    CHECK(batches == 2, "drop_last gave %d batches", batches);
    mlic_loader_destroy(l);

    cfg.count = 0;
    CHECK(mlic_loader_create(&l, &cfg) == MLIC_OK, "empty epoch: %s", mlic_errmsg());
    CHECK(mlic_loader_next(l, &b) == MLIC_OK && !b, "an empty epoch has no batch");
    mlic_loader_destroy(l);

    size_t bad = NIMAGES;
    cfg.order = &bad;
    cfg.count = 1;
    CHECK(mlic_loader_create(&l, &cfg) == MLIC_ERR_INVALID_ARG && !l, "an out-of-range item");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    mlic_dataset *d = make_dataset(0);
    if (d) {
        test_eval_matches_preprocess(d);
        test_train_is_deterministic(d);
        test_stop_mid_epoch_and_drop_last(d);
        mlic_dataset_free(d);
    }
    d = make_dataset(1);
    if (d) {
        test_missing_file(d);
        mlic_dataset_free(d);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup of %s", dir);
    CHECK_DONE();
}
