/* Forward pass driver for tests/py/test_forward*.py.
 *   tool_forward MODEL.safetensors INPUT.bin OUTPUT.bin N [--backend auto|ref|onednn]
 *                [--logits] [--threads T] [--max-batch B] [--precision fp32|bf16|auto]
 *     reads N * 3 * crop * crop float32 (NCHW), writes N * num_classes float32 probabilities
 *     (or logits); says the backend and the precision it computed in on stderr.
 *   tool_forward --list-params ARCH NUM_CLASSES [--folded]
 *     prints one line per parameter of the built (or inference-folded) graph: name and dims. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlic.h"
#include "model/model.h"
#include "nn/graph.h"

static int list_params(const char *arch, int num_classes, int folded)
{
    mlic_graph *g = NULL, *f = NULL;
    if (mlic_graph_build(&g, arch, num_classes) != MLIC_OK ||
        (folded && mlic_graph_fold_for_inference(&f, g) != MLIC_OK)) {
        fprintf(stderr, "tool_forward: %s\n", mlic_errmsg());
        mlic_graph_free(g);
        return 1;
    }
    const mlic_graph *show = folded ? f : g;
    for (int i = 0; i < show->nparams; i++) {
        const mlic_param *p = &show->params[i];
        printf("%s", p->name);
        for (int d = 0; d < p->ndim; d++)
            printf(" %lld", (long long)p->dims[d]);
        printf("\n");
    }
    mlic_graph_free(f);
    mlic_graph_free(g);
    return 0;
}

static int fail(const char *what)
{
    fprintf(stderr, "tool_forward: %s: %s\n", what, mlic_errmsg());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[1], "--list-params"))
        return list_params(argv[2], atoi(argv[3]), argc >= 5 && !strcmp(argv[4], "--folded"));
    if (argc < 5) {
        fprintf(stderr, "usage: tool_forward MODEL INPUT.bin OUTPUT.bin N [--backend "
                        "auto|ref|onednn] [--logits] [--threads T] [--max-batch B] "
                        "[--precision fp32|bf16|auto]\n"
                        "       tool_forward --list-params ARCH NUM_CLASSES [--folded]\n");
        return 2;
    }
    const int n = atoi(argv[4]);
    mlic_backend_kind kind = MLIC_BACKEND_AUTO;
    int logits = 0, threads = 0, max_batch = n;
    mlic_precision precision = MLIC_PRECISION_FP32;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
            if (mlic_precision_parse(&precision, argv[++i]) != MLIC_OK)
                return fail("--precision");
        } else if (!strcmp(argv[i], "--logits")) {
            logits = 1;
        } else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            const char *b = argv[++i];
            kind = !strcmp(b, "ref") ? MLIC_BACKEND_REF
                 : !strcmp(b, "onednn") ? MLIC_BACKEND_ONEDNN
                 : !strcmp(b, "cuda") ? MLIC_BACKEND_CUDA : MLIC_BACKEND_AUTO;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--max-batch") && i + 1 < argc) {
            max_batch = atoi(argv[++i]);
        } else {
            fprintf(stderr, "tool_forward: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    mlic_model *m = NULL;
    if (mlic_model_load(&m, argv[1]) != MLIC_OK)
        return fail(argv[1]);
    const int crop = m->pre.crop, k = m->num_classes;
    const size_t nin = (size_t)n * 3 * crop * crop, nout = (size_t)n * k;
    float *in = malloc(nin * sizeof *in + 1), *out = malloc(nout * sizeof *out + 1);
    FILE *fi = fopen(argv[2], "rb");
    if (!in || !out || !fi || fread(in, sizeof *in, nin, fi) != nin) {
        fprintf(stderr, "tool_forward: %s: cannot read %zu floats (%d x 3 x %d x %d)\n", argv[2],
                nin, n, crop, crop);
        return 1;
    }
    fclose(fi);
    mlic_engine *e = NULL;
    mlic_engine_opts eo;
    mlic_engine_opts_init(&eo);
    eo.backend = kind;
    eo.max_batch = max_batch;
    eo.threads = threads;
    eo.precision = precision;
    if (mlic_engine_create_opts(&e, m, &eo) != MLIC_OK)
        return fail("engine");
    mlic_status s = logits ? mlic_engine_run_logits(e, out, in, n) : mlic_engine_run(e, out, in, n);
    if (s != MLIC_OK)
        return fail("run");
    fprintf(stderr, "tool_forward: backend %s precision %s\n", mlic_engine_backend_name(e),
            mlic_engine_precision_name(e));
    FILE *fo = fopen(argv[3], "wb");
    if (!fo || fwrite(out, sizeof *out, nout, fo) != nout || fclose(fo) != 0) {
        fprintf(stderr, "tool_forward: cannot write %s\n", argv[3]);
        return 1;
    }
    mlic_engine_destroy(e);
    mlic_model_free(m);
    free(in);
    free(out);
    return 0;
}
