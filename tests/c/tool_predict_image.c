/* mlic_predict_image driver for tests/py/test_predict_image.py.
 *   tool_predict_image MODEL.safetensors [--backend auto|ref|onednn] IMAGE...
 *     reads each IMAGE's bytes and prints one line per image: its probabilities ("%.9g",
 *     space-separated, as mlic predict's JSON writes them), or "error: MESSAGE". One
 *     inference thread, as the test runs mlic predict with --threads 1.
 *   tool_predict_image --version
 *     prints the header's MLIC_VERSION, MLIC_VERSION_NUMBER and the library's mlic_version(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlic.h"

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--version")) {
        printf("%s %d %d\n", MLIC_VERSION, MLIC_VERSION_NUMBER, mlic_version());
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: tool_predict_image MODEL [--backend B] IMAGE...\n");
        return 2;
    }
    mlic_backend_kind backend = MLIC_BACKEND_AUTO;
    int first = 2;
    if (argc > 3 && !strcmp(argv[2], "--backend")) {
        backend = !strcmp(argv[3], "ref") ? MLIC_BACKEND_REF
                  : !strcmp(argv[3], "onednn") ? MLIC_BACKEND_ONEDNN : MLIC_BACKEND_AUTO;
        first = 4;
    }
    mlic_model *m = NULL;
    mlic_engine *e = NULL;
    if (mlic_model_load(&m, argv[1]) != MLIC_OK ||
        mlic_engine_create(&e, m, backend, 1, 1) != MLIC_OK) {
        fprintf(stderr, "tool_predict_image: %s\n", mlic_errmsg());
        mlic_model_free(m);
        return 1;
    }
    const int k = mlic_model_num_classes(m);
    float *probs = malloc((size_t)k * sizeof *probs);
    int rc = probs ? 0 : 1;
    for (int i = first; i < argc && probs; i++) {
        size_t len = 0;
        unsigned char *data = read_file(argv[i], &len);
        if (!data) {
            fprintf(stderr, "tool_predict_image: cannot read %s\n", argv[i]);
            rc = 1;
            break;
        }
        if (mlic_predict_image(e, probs, data, len, 0) == MLIC_OK) {
            for (int c = 0; c < k; c++)
                printf(c ? " %.9g" : "%.9g", probs[c]);
            printf("\n");
        } else {
            printf("error: %s\n", mlic_errmsg());
        }
        free(data);
    }
    free(probs);
    mlic_engine_destroy(e);
    mlic_model_free(m);
    return rc;
}
