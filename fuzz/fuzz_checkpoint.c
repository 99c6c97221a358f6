/* libFuzzer harness: a training checkpoint through mlic_checkpoint_load (safetensors header, the
 * "mlic_checkpoint" metadata, the config comparison, parameters, AdamW state, the item order),
 * restored into a tiny graph (fuzz/make_corpus.py writes seeds for the same graph). The loader
 * takes a path. */
#include "fuzz.h"
#include "nn/graph_builder.h"
#include "train/checkpoint.h"

#define N_ITEMS 4
#define CONFIG "{\"lr\":0.1,\"batch_size\":8,\"classes\":[\"a\",\"b\"]}"

static mlic_graph *g;
static mlic_optim *o;

/* conv 3->4 (3x3) -> batch norm -> ReLU -> global average pool -> linear 4->2. */
static void make_graph(void)
{
    mlic_graph_builder b;
    if (mlic_graph_builder_init(&b, "tiny", 2) != MLIC_OK)
        abort();
    int x = mlic_graph_emit_conv(&b, "c1", 0, 3, 4, 3, 1, 1, 1, 0);
    x = mlic_graph_emit_batchnorm(&b, "b1", x, 4);
    x = mlic_graph_emit_act(&b, "r1", x, MLIC_ACT_RELU);
    x = mlic_graph_emit_global_avgpool(&b, "pool", x);
    x = mlic_graph_emit_linear(&b, "fc", x, 4, 2);
    mlic_optim_cfg c = mlic_optim_defaults(MLIC_OPTIM_ADAMW);
    if (mlic_graph_builder_finish(&b, &g, x) != MLIC_OK ||
        mlic_optim_create(&o, &c, g->nweights, NULL) != MLIC_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (!g)
        make_graph();
    const char *path = fuzz_file("checkpoint.safetensors", data, len);
    size_t order[N_ITEMS];
    mlic_checkpoint_state st = {0}; /* no moving average */
    if (mlic_checkpoint_load(path, g, o, order, N_ITEMS, &st, CONFIG) == MLIC_OK) {
        int seen[N_ITEMS] = {0};
        for (int i = 0; i < N_ITEMS; i++)
            if (order[i] >= N_ITEMS || seen[order[i]]++)
                abort(); /* a restored order must be a permutation */
    }
    return 0;
}
