/* Runs training steps of the executor (src/train/train_graph.h) for tests/py/test_train_step.py.
 *
 *   tool_train_step ARCH WEIGHTS BATCH OUT [key=value ...]
 *
 * WEIGHTS: a torchvision state dict (safetensors) for ARCH with K outputs. BATCH: safetensors
 * with "input" (N, 3, S, S) and "targets" (N, K). Keys:
 *   loss=bce|asl (default bce)   steps=T (default 1)   threads=N   seed=S (dropout)
 *   optim=none|sgd|adamw (default none: gradients only), with lr, momentum, nesterov, wd, eps
 *   freeze=1    --freeze-backbone
 *   eval=1      an eval-mode forward only
 *   init=SEED   start from mlic_train_init_weights instead of WEIGHTS (which may then be "-")
 *   backend=ref|onednn  the training op table (default ref)
 *   grad_step=S write the gradients of step S instead of the first
 *
 * OUT (safetensors): "loss" (T) F64, each step's loss; "logits" (N, K) of the first step;
 * "grad.<param>" for every trainable parameter (before that step's update); "<param>" for every
 * parameter after the last step (running statistics included); "mask.<node>.<t>" (N * C) F32
 * 0/1 for each dropout node and step. Prints the executor's buffer bytes. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"
#include "model/state_dict.h"
#include "train/init.h"
#include "train/loss.h"
#include "train/optim.h"
#include "train/train_graph.h"

#define MAX_STEPS 16

static void die(const char *what)
{
    fprintf(stderr, "tool_train_step: %s: %s\n", what, mlic_errmsg());
    exit(1);
}

static float *read_tensor(const mlic_safetensors *f, const char *name, size_t numel)
{
    int i = mlic_safetensors_find(f, name);
    if (i < 0 || mlic_safetensors_tensor_at(f, i)->numel != numel) {
        fprintf(stderr, "tool_train_step: batch tensor %s missing or not %zu values\n", name,
                numel);
        exit(1);
    }
    float *a = malloc(numel * sizeof(float));
    if (!a || mlic_safetensors_read_f32(f, i, a) != MLIC_OK)
        die(name);
    return a;
}

typedef struct {
    mlic_safetensors_entry *e;
    char **names;
    void **owned; /* the data of entry i if the list frees it, else NULL */
    int n, cap;
} out_list;

static void *copy(const void *src, size_t bytes)
{
    void *d = malloc(bytes ? bytes : 1);
    if (!d)
        die("out of memory");
    memcpy(d, src, bytes);
    return d;
}

/* Adds an entry; with own, the list takes data (malloc'ed) and frees it in out_free. */
static void add(out_list *o, const char *name, mlic_dtype dtype, int ndim, const int64_t *dims,
                const void *data, int own)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 256;
        o->e = realloc(o->e, (size_t)o->cap * sizeof *o->e);
        o->names = realloc(o->names, (size_t)o->cap * sizeof *o->names);
        o->owned = realloc(o->owned, (size_t)o->cap * sizeof *o->owned);
        if (!o->e || !o->names || !o->owned)
            die("out of memory");
    }
    o->names[o->n] = strdup(name);
    int64_t *d = copy(dims, (size_t)ndim * sizeof *dims);
    o->e[o->n] = (mlic_safetensors_entry){o->names[o->n], dtype, ndim, d, data};
    o->owned[o->n] = own ? (void *)data : NULL;
    o->n++;
}

static void out_free(out_list *o)
{
    for (int i = 0; i < o->n; i++) {
        free(o->names[i]);
        free((void *)o->e[i].dims);
        free(o->owned[i]);
    }
    free(o->e);
    free(o->names);
    free(o->owned);
}


int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: tool_train_step ARCH WEIGHTS BATCH OUT [key=value ...]\n");
        return 2;
    }
    const char *arch = argv[1];
    const char *loss_name = "bce", *optim_name = "none";
    int steps = 1, threads = 0, freeze = 0, eval = 0, grad_step = 0, init = -1;
    const char *backend = "ref";
    double lr = 0.1, momentum = 0.0, wd = 0.0, eps = 1e-8;
    int nesterov = 0;
    unsigned long long seed = 1;
    for (int i = 5; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "tool_train_step: expected key=value, got %s\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        const char *k = argv[i], *v = eq + 1;
        if (!strcmp(k, "loss")) loss_name = v;
        else if (!strcmp(k, "optim")) optim_name = v;
        else if (!strcmp(k, "steps")) steps = atoi(v);
        else if (!strcmp(k, "grad_step")) grad_step = atoi(v);
        else if (!strcmp(k, "threads")) threads = atoi(v);
        else if (!strcmp(k, "freeze")) freeze = atoi(v);
        else if (!strcmp(k, "eval")) eval = atoi(v);
        else if (!strcmp(k, "lr")) lr = atof(v);
        else if (!strcmp(k, "momentum")) momentum = atof(v);
        else if (!strcmp(k, "nesterov")) nesterov = atoi(v);
        else if (!strcmp(k, "wd")) wd = atof(v);
        else if (!strcmp(k, "eps")) eps = atof(v);
        else if (!strcmp(k, "seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "init")) init = atoi(v);
        else if (!strcmp(k, "backend")) backend = v;
        else {
            fprintf(stderr, "tool_train_step: unknown key %s\n", k);
            return 2;
        }
    }
    if (steps < 1 || steps > MAX_STEPS) {
        fprintf(stderr, "tool_train_step: steps must be 1..%d\n", MAX_STEPS);
        return 2;
    }
    if (threads > 0)
        omp_set_num_threads(threads);

    mlic_safetensors *bf = NULL, *wf = NULL;
    if (mlic_safetensors_open(&bf, argv[3]) != MLIC_OK)
        die(argv[3]);
    int ii = mlic_safetensors_find(bf, "input"), ti = mlic_safetensors_find(bf, "targets");
    if (ii < 0 || ti < 0 || mlic_safetensors_tensor_at(bf, ii)->ndim != 4 ||
        mlic_safetensors_tensor_at(bf, ti)->ndim != 2) {
        fprintf(stderr, "tool_train_step: %s needs input (N,3,S,S) and targets (N,K)\n", argv[3]);
        return 1;
    }
    const int64_t *idims = mlic_safetensors_tensor_at(bf, ii)->dims;
    const int n = (int)idims[0], size = (int)idims[2];
    const int k = (int)mlic_safetensors_tensor_at(bf, ti)->dims[1];
    float *input = read_tensor(bf, "input", (size_t)n * 3 * size * size);
    float *targets = read_tensor(bf, "targets", (size_t)n * k);
    mlic_safetensors_close(bf);

    mlic_graph *g = NULL;
    if (mlic_graph_build(&g, arch, k) != MLIC_OK)
        die(arch);
    if (init >= 0) {
        mlic_train_init_weights(g, (uint64_t)init);
    } else {
        if (mlic_safetensors_open(&wf, argv[2]) != MLIC_OK ||
            mlic_state_dict_load(g, wf, 0, "HINT: write the state dict for K outputs") != MLIC_OK)
            die(argv[2]);
        mlic_safetensors_close(wf);
    }
    if (freeze)
        mlic_train_graph_freeze_backbone(g);

    mlic_train_graph *t = NULL;
    if (!mlic_train_backend_find(backend)) {
        fprintf(stderr, "tool_train_step: this build has no training backend %s\n", backend);
        return 2;
    }
    if (mlic_train_graph_create(&t, g, n, size, size, mlic_train_backend_find(backend)) !=
        MLIC_OK)
        die("creating the executor");
    mlic_loss_kind lk;
    if (mlic_loss_parse_kind(&lk, loss_name) != MLIC_OK)
        die("loss");
    const mlic_loss_cfg lcfg = mlic_loss_defaults(lk);

    mlic_optim *opt = NULL;
    if (strcmp(optim_name, "none")) {
        mlic_optim_kind ok;
        if (mlic_optim_parse_kind(&ok, optim_name) != MLIC_OK)
            die("optim");
        mlic_optim_cfg oc = mlic_optim_defaults(ok);
        oc.weight_decay = (float)wd;
        if (ok == MLIC_OPTIM_SGD) {
            oc.momentum = (float)momentum;
            oc.nesterov = nesterov;
        } else {
            oc.eps = (float)eps;
        }
        uint8_t *roles = malloc(g->nweights + 1);
        if (!roles)
            die("out of memory");
        mlic_optim_roles_from_graph(roles, g);
        if (mlic_optim_create(&opt, &oc, g->nweights, roles) != MLIC_OK)
            die("optimizer");
        free(roles);
    }

    out_list o = {0};
    double losses[MAX_STEPS];
    float *grad = malloc((size_t)n * k * sizeof(float));
    if (!grad)
        die("out of memory");
    for (int s = 0; s < steps; s++) {
        const float *logits;
        if (mlic_train_graph_forward(t, &logits, input, n, !eval, seed, (uint64_t)s) != MLIC_OK)
            die("forward");
        if (mlic_loss_compute(&losses[s], grad, logits, targets, n, k, &lcfg) != MLIC_OK)
            die("loss");
        const mlic_train_ctx *c = mlic_train_graph_ctx(t);
        for (int i = 0; i < g->nnodes && !eval; i++) {
            const mlic_node *nd = &g->nodes[i];
            if (nd->op != MLIC_OP_DROPOUT)
                continue;
            const mlic_shape3 sh = g->values[nd->out];
            const size_t count = (size_t)n * sh.c * sh.h * sh.w;
            float *m = malloc(count * sizeof(float));
            if (!m)
                die("out of memory");
            for (size_t j = 0; j < count; j++)
                m[j] = c->mask[i][j];
            char name[128];
            snprintf(name, sizeof name, "mask.%s.%d", nd->name, s);
            const int64_t d[1] = {(int64_t)count};
            add(&o, name, MLIC_DTYPE_F32, 1, d, m, 1);
        }
        if (s == 0) {
            const int64_t d[2] = {n, k};
            add(&o, "logits", MLIC_DTYPE_F32, 2, d, copy(logits, (size_t)n * k * sizeof(float)), 1);
        }
        if (eval)
            break;
        mlic_train_graph_zero_grad(t);
        if (mlic_train_graph_backward(t, grad) != MLIC_OK)
            die("backward");
        const float *grads = mlic_train_graph_grads(t);
        if (s == grad_step)
            for (int p = 0; p < g->nparams; p++) {
                const mlic_param *pp = &g->params[p];
                if (!pp->trainable)
                    continue;
                char name[128];
                snprintf(name, sizeof name, "grad.%s", pp->name);
                add(&o, name, MLIC_DTYPE_F32, pp->ndim, pp->dims,
                    copy(grads + pp->offset, pp->numel * sizeof(float)), 1);
            }
        if (opt && mlic_optim_step(opt, g->weights, grads, lr) != MLIC_OK)
            die("optimizer step");
    }
    const int64_t ld[1] = {eval ? 1 : steps};
    add(&o, "loss", MLIC_DTYPE_F64, 1, ld, losses, 0);
    for (int p = 0; p < g->nparams; p++) {
        const mlic_param *pp = &g->params[p];
        add(&o, pp->name, MLIC_DTYPE_F32, pp->ndim, pp->dims, mlic_graph_param(g, p), 0);
    }
    if (mlic_safetensors_write(argv[4], o.e, o.n, NULL, NULL, 0) != MLIC_OK)
        die(argv[4]);
    printf("%zu\n", mlic_train_graph_bytes(t));
    mlic_train_graph_destroy(t);
    mlic_optim_destroy(opt);
    mlic_graph_free(g);
    out_free(&o);
    free(grad);
    free(input);
    free(targets);
    return 0;
}
