/* Model-only inference timing of the mlic engine, for bench/bench_infer.py.
 * usage: bench_forward MODEL BATCH THREADS REPS [ITERS] [--backend ref|onednn]
 *                      [--precision fp32|bf16|auto]
 * Prints one JSON line: images/s median, min, max over REPS timed runs of ITERS forwards each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "mlic.h"

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_forward MODEL BATCH THREADS REPS [ITERS] [--backend ref|onednn] "
                        "[--precision fp32|bf16|auto]\n");
        return 2;
    }
    int batch = atoi(argv[2]), threads = atoi(argv[3]), reps = atoi(argv[4]);
    int iters = argc > 5 && argv[5][0] != '-' ? atoi(argv[5]) : 1;
    mlic_engine_opts eo;
    mlic_engine_opts_init(&eo);
    for (int i = 5; i < argc; i++)
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            eo.backend = !strcmp(argv[++i], "ref") ? MLIC_BACKEND_REF : MLIC_BACKEND_ONEDNN;
        } else if (!strcmp(argv[i], "--precision") && i + 1 < argc &&
                   mlic_precision_parse(&eo.precision, argv[++i]) != MLIC_OK) {
            fprintf(stderr, "bench_forward: %s\n", mlic_errmsg());
            return 2;
        }
    if (batch < 1 || reps < 1 || iters < 1 || reps > 1000) {
        fprintf(stderr, "bench_forward: BATCH, REPS and ITERS must be positive\n");
        return 2;
    }
    eo.max_batch = batch;
    eo.threads = threads;
    mlic_model *m;
    mlic_engine *e;
    if (mlic_model_load(&m, argv[1]) != MLIC_OK || mlic_engine_create_opts(&e, m, &eo) != MLIC_OK) {
        fprintf(stderr, "bench_forward: %s\n", mlic_errmsg());
        return 1;
    }
    int crop = mlic_model_preprocess(m).crop, k = mlic_model_num_classes(m);
    size_t nin = (size_t)batch * 3 * crop * crop;
    float *x = malloc(nin * sizeof *x), *y = malloc((size_t)batch * k * sizeof *y);
    unsigned s = 12345;
    for (size_t i = 0; i < nin; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = ((s >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    for (int w = 0; w < 2; w++)
        mlic_engine_run(e, y, x, batch);
    double rates[1000];
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int i = 0; i < iters; i++)
            if (mlic_engine_run(e, y, x, batch) != MLIC_OK) {
                fprintf(stderr, "bench_forward: %s\n", mlic_errmsg());
                return 1;
            }
        rates[r] = batch * iters / (now() - t0);
    }
    qsort(rates, reps, sizeof rates[0], cmp_double);
    printf("{\"backend\": \"%s\", \"precision\": \"%s\", \"bs\": %d, \"threads\": %d, "
           "\"img_s_median\": %.2f, \"img_s_min\": %.2f, \"img_s_max\": %.2f}\n",
           mlic_engine_backend_name(e), mlic_engine_precision_name(e), batch, threads,
           rates[reps / 2], rates[0], rates[reps - 1]);
    free(x);
    free(y);
    mlic_engine_destroy(e);
    mlic_model_free(m);
    return 0;
}
