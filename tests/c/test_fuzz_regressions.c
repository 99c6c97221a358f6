/* Inputs the fuzzers (fuzz/, `make fuzz`) found to misbehave, fed through the same entry points,
 * each with what the parser must do with it now. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "data/dataset.h"
#include "train/trainer_log.h"

static char dir[] = "/tmp/mlic_test_fuzz_XXXXXX";

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[4][256];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f && fwrite(text, 1, len, f) == len && fclose(f) == 0, "write %s", p);
    return p;
}

/* Load text (with an optional class file) as format; the data set or NULL. */
static mlic_dataset *load(const char *name, const char *text, mlic_dataset_format format,
                          const char *classes)
{
    mlic_dataset_opts o;
    mlic_dataset_opts_init(&o);
    o.format = format;
    if (classes)
        o.classes_path = write_file("classes.txt", classes, strlen(classes));
    mlic_dataset *d = NULL;
    const char *path = write_file(name, text, strlen(text));
    CHECK(mlic_dataset_load(&d, path, &o) == MLIC_OK, "%s: %s", name, mlic_errmsg());
    return d;
}

static void check_unlabelled(mlic_dataset *d, size_t nitems, int num_classes, const char *what)
{
    if (!d)
        return;
    CHECK(d->nitems == nitems && d->num_classes == num_classes, "%s: %zu items, %d classes", what,
          d->nitems, d->num_classes);
    for (size_t i = 0; i < d->nitems; i++) {
        uint8_t t[32];
        CHECK(d->items[i].nlabels == 0, "%s: item %zu has %d labels", what, i,
              d->items[i].nlabels);
        mlic_dataset_targets_u8(t, d, i);
        for (int c = 0; c < d->num_classes && c < 32; c++)
            CHECK(t[c] == 0, "%s: item %zu is positive for class %d", what, i, c);
    }
    mlic_dataset_free(d);
}

/* A data set whose items are all unlabelled: the label pool was never allocated, and building
 * the result did arithmetic on its NULL pointer (UBSan, fuzz_list/pai_csv/coco/voc). */
static void test_all_unlabelled(void)
{
    check_unlabelled(load("l.txt", "a.jpg\t\nb.jpg\t\n", MLIC_DATASET_LIST, "cat\ndog\n"), 2, 2,
                     "list");
    check_unlabelled(load("p.csv", "1,{\"url\": \"a.jpg\"},{\"option\": []}\n", MLIC_DATASET_PAI_CSV,
                          "x\n"), 1, 1, "pai_csv");
    check_unlabelled(load("i.json", "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\"}], "
                          "\"annotations\": [], \"categories\": [{\"id\": 3, \"name\": \"c\"}]}",
                          MLIC_DATASET_COCO, NULL), 1, 1, "coco");
    char voc[300];
    snprintf(voc, sizeof voc, "%s/voc", dir);
    const char *dirs[] = {"voc", "voc/Annotations", "voc/ImageSets", "voc/ImageSets/Main"};
    for (int i = 0; i < 4; i++) {
        char p[300];
        snprintf(p, sizeof p, "%s/%s", dir, dirs[i]);
        mkdir(p, 0700);
    }
    write_file("voc/ImageSets/Main/trainval.txt", "a\n", 2);
    write_file("voc/Annotations/a.xml", "", 0); /* fuzz_voc's first input: an empty file */
    mlic_dataset_opts o;
    mlic_dataset_opts_init(&o);
    mlic_dataset *d = NULL;
    CHECK(mlic_dataset_load(&d, voc, &o) == MLIC_OK, "voc: %s", mlic_errmsg());
    check_unlabelled(d, 1, 20, "voc");
}

/* A COCO id beyond int64_t (1e3081 is an infinity as a double) was converted to int64_t before
 * the range check (UBSan, fuzz_coco): now it is a bad id like any non-integer. */
static void test_coco_huge_id(void)
{
    const char *ids[] = {"1e3081", "-1e400", "1e300", "2.5"};
    for (int i = 0; i < 4; i++) {
        char text[300];
        snprintf(text, sizeof text, "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\"}],\n"
                 "\"annotations\": [{\"image_id\": 1, \"category_id\": %s}],\n"
                 "\"categories\": [{\"id\": 1, \"name\": \"c\"}]}", ids[i]);
        mlic_dataset_opts o;
        mlic_dataset_opts_init(&o);
        mlic_dataset *d = NULL;
        mlic_status st = mlic_dataset_load(&d, write_file("h.json", text, strlen(text)), &o);
        CHECK(st == MLIC_ERR_FORMAT && d == NULL, "category_id %s: status %d", ids[i], (int)st);
        CHECK(strstr(mlic_errmsg(), "h.json:2: bad JSON") != NULL, "category_id %s: %s", ids[i],
              mlic_errmsg());
    }
}

/* An epoch number beyond int (1.9e119) in a training log was converted to int unchecked (UBSan,
 * fuzz_trainer_log): now a line whose epoch or step is not a whole number in range is refused,
 * naming the line; a huge best_epoch in the final line counts as none. */
static void test_trainer_log_huge_numbers(void)
{
    const char *lines[] = {"{\"epoch\": 1888888888888888888888888888888, \"step\": 3}",
                           "{\"epoch\": 2, \"step\": 1e300}", "{\"epoch\": 2.5, \"step\": 3}",
                           "{\"epoch\": 2, \"step\": -1}", "{\"epoch\": 0, \"step\": 3}"};
    for (int i = 0; i < 5; i++) {
        char text[300];
        snprintf(text, sizeof text, "{\"epoch\": 1, \"step\": 2}\n%s\n", lines[i]);
        mlic_trainer_log l;
        mlic_status st = mlic_trainer_log_read(&l, write_file("log.jsonl", text, strlen(text)));
        CHECK(st == MLIC_ERR_FORMAT && l.nepochs == 0, "%s: status %d", lines[i], (int)st);
        CHECK(strstr(mlic_errmsg(), "log.jsonl:2: an epoch line needs") != NULL, "%s: %s",
              lines[i], mlic_errmsg());
    }
    const char *final = "{\"epoch\": 1, \"step\": 2}\n{\"final\": true, \"best_epoch\": 1e300}\n";
    mlic_trainer_log l;
    CHECK(mlic_trainer_log_read(&l, write_file("log.jsonl", final, strlen(final))) == MLIC_OK &&
          l.has_final && l.best_epoch == 0, "a huge best_epoch: %s", mlic_errmsg());
    mlic_trainer_log_free(&l);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        CHECK_DONE();
    }
    test_all_unlabelled();
    test_coco_huge_id();
    test_trainer_log_huge_numbers();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    CHECK_DONE();
}
