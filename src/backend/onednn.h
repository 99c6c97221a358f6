/* Internals of the oneDNN backend (oneDNN v2 C API, CPU engine, OpenMP runtime).
 *
 * A folded graph becomes a *plan* for one batch size n: a flat list of steps (oneDNN primitives
 * with their bound arguments) that run in order on one stream. Plans are built once per batch
 * size: at create for max_batch, and on the first run with any smaller n (a run with n < max_batch
 * then costs exactly an n-image forward instead of a padded max_batch one). Plans share
 *   - the packed weights: each node keeps its weights reordered into the layout its primitive
 *     chose, once per distinct layout (in practice one), packed when first needed;
 *   - one activation arena (sized for the largest plan) and one scratchpad (user scratchpad mode,
 *     so a plan may run on any thread).
 *
 * Layouts: weights are always left to oneDNN (format_tag_any) and reordered once into the layout
 * it picks. Convolution activations ask for the CPU's blocked layout (nChw16c on AVX-512,
 * nChw8c on AVX2) and fall back to format_tag_any where oneDNN has only its reference kernel
 * or none for it (grouped convolutions with few channels per group, for example): with
 * everything left to oneDNN, v2.6 on AVX-512 picks its NHWC "brgconv" kernels, which measured
 * 25% slower than the blocked "jit" ones on resnet50 here. Pooling and the inner product read
 * their producer's layout. A value keeps the layout its producer chose; a consumer that wants
 * another gets a reorder into a temporary buffer just before it. The input is read in NCHW (a
 * reorder only if the first convolution wants another layout), the logits written row-major.
 *
 * Activation memory: each value lives in an arena buffer from its producer to its last consumer;
 * buffers are reused once free (util/buffer_plan.h, the planner the training executor uses
 * too). A convolution with a fused residual add uses a sum post-op with its destination aliased
 * to the residual's buffer when the residual dies at that node and has the destination's
 * layout, else the residual is first copied (reordered) there.
 *
 * Precision: in bf16 (dt), activations and weights are bf16 while the input stays the caller's
 * fp32 (the first convolution's input reorder converts it, once per run), biases stay fp32
 * (oneDNN accumulates in fp32 and adds them there) and the linear layer writes fp32 logits.
 * Post-ops (ReLU, residual sum) are the same in both.
 *
 * int8 (a quantized model, docs/quantization.md): an int8 convolution reads u8 (never negative)
 * or s8 codes of its input, runs on s8 weights, and applies per-output-channel output scales
 * (input scale x weight scale), its bias, residual sum and ReLU fused as in fp32. It writes the
 * codes its readers want directly when they all are int8 convolutions taking the value as their
 * input (inside a residual block); else it writes f32 (a value that is also a residual, or read
 * by pooling), and each int8 reader reorders that into its codes with its input scale.
 *
 * Threads: OpenMP, set to the backend's count (create's `threads`, 0 = all cores) around every
 * call into oneDNN and restored afterwards, since the setting belongs to the calling thread.
 *
 * Files: onednn_backend.c (entry points), onednn_build.c (walking the graph into a plan,
 * running it), onednn_plan.c (memories, buffers, steps, packed weights), and one planning
 * function per op (onednn_conv.c, onednn_pool.c, onednn_linear.c, onednn_eltwise.c) so that
 * any op's kernel can be swapped alone. The training op tables (onednn_train.h) stand on the
 * same helpers: the status mapping, allocator, blocked layout and activation descriptors of
 * onednn_plan.c, and the engine, attributes, reorders and weight descriptors of
 * onednn_common.c.
 */
#ifndef MLIC_BACKEND_ONEDNN_H
#define MLIC_BACKEND_ONEDNN_H

#include <dnnl.h>

#include "backend/backend.h"
#include "util/buffer_plan.h"

/* Evaluate a dnnl call inside a function that has `mlic_status st` and a `done:` cleanup label;
 * on failure set st to onednn_fail's status naming the call and jump to done. */
#define ONEDNN_CALL(fn, args)                                  \
    do {                                                       \
        dnnl_status_t onednn_s_ = fn args;                     \
        if (onednn_s_ != dnnl_success) {                       \
            st = onednn_fail(onednn_s_, #fn);                  \
            goto done;                                         \
        }                                                      \
    } while (0)

typedef enum {
    ONEDNN_MEM_ARENA,   /* an activation buffer in the shared arena */
    ONEDNN_MEM_INPUT,   /* the caller's input, bound at each run */
    ONEDNN_MEM_OUTPUT,  /* the caller's logits, bound at each run */
    ONEDNN_MEM_FIXED,   /* packed weights or the graph's biases, fixed for the plan's life */
    ONEDNN_MEM_SCRATCH  /* the shared scratchpad */
} onednn_mem_kind;

typedef struct {
    dnnl_memory_desc_t md;
    onednn_mem_kind kind;
    int buf;            /* ARENA: buffer (slot of the plan's bufs) */
    void *ptr;          /* FIXED: the data */
    dnnl_memory_t mem;  /* created by onednn_plan_finish */
} onednn_mem;

/* Bytes: arena buffers and allocations (onednn_alloc) start on cache lines. */
#define ONEDNN_ALIGN 64

#define ONEDNN_MAX_ARGS 8

typedef struct {
    dnnl_primitive_t prim;
    int nargs;
    int arg[ONEDNN_MAX_ARGS];          /* DNNL_ARG_* */
    int mem[ONEDNN_MAX_ARGS];          /* index into the plan's mems */
    dnnl_exec_arg_t exec[ONEDNN_MAX_ARGS]; /* resolved by onednn_plan_finish */
} onednn_step;

typedef struct {
    int n;              /* batch size */
    onednn_mem *mems;
    int nmems, cap_mems;
    onednn_step *steps;
    int nsteps, cap_steps;
    mlic_buffer_plan *bufs; /* the arena's buffers (bytes): values and temporaries hold them */
    size_t arena_size, scratch_size; /* bytes */
    void *bound_arena, *bound_scratch; /* what the ARENA/SCRATCH mems point into */
} onednn_plan;

/* Weights of one node reordered into one layout. */
typedef struct onednn_packed {
    dnnl_memory_desc_t md;
    void *data;
    struct onednn_packed *next;
} onednn_packed;

typedef struct {
    const mlic_graph *g;
    int max_batch;
    int threads;                /* OpenMP threads for every oneDNN call */
    dnnl_data_type_t dt;        /* of activations and weights: f32, or bf16 (see above); f32
                                 * in int8, where the int8 convolutions choose their own */
    dnnl_format_tag_t act_tag;  /* preferred activation layout, format_tag_any for none */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    onednn_packed **packed;     /* (nnodes) lists */
    onednn_plan **plans;        /* (max_batch + 1) by batch size, NULL until built */
    void *arena, *scratch;
    size_t arena_size, scratch_size;
} onednn_state;

/* What an op's planning function works on: the plan being built and the node being planned. */
typedef struct {
    onednn_state *s;
    onednn_plan *p;
    int node;
    int *value_mem;     /* (nvalues) mem of each value, -1 until produced */
    int *held;          /* (nvalues) 1 while the value holds its buffer */
    int *last_use;      /* (nvalues) index of the last node reading it; nnodes for the output */
    int temps[4];       /* buffers of this node's reordered inputs, freed after it */
    int ntemps;
} onednn_ctx;

/* The one mapping of a oneDNN failure to a status (MLIC_ERR_NOMEM for its out-of-memory, else
 * MLIC_ERR_BACKEND) and a message naming the call, with a HINT. */
mlic_status onednn_fail(dnnl_status_t s, const char *call);
/* Memory for weights and activations (free with free()): 64-byte aligned; from 2 MB on, 2 MB
 * aligned and advised to use transparent huge pages, which spares TLB misses when a layer
 * streams through hundreds of MB. */
void *onednn_alloc(size_t size);

/* The blocked activation layout of oneDNN's direct convolutions on this CPU: nChw16c on
 * AVX-512, nChw8c on AVX2, else dnnl_format_tag_any (none). Shared with the training backend. */
dnnl_format_tag_t onednn_blocked_tag(void);

/* NULL when oneDNN's effective ISA has native bf16 (AVX512_BF16 or AMX), else why not (the
 * ISA is what ONEDNN_MAX_CPU_ISA allows, so AVX2 there makes this CPU count as lacking it). */
const char *onednn_bf16_unavailable(void);

/* md of a 4-D activation (n, c, h, w) of data type dt with a format tag (dnnl_format_tag_any to
 * let a primitive choose); onednn_md_4d is the fp32 one. */
mlic_status onednn_md_4d_dt(dnnl_memory_desc_t *md, dnnl_data_type_t dt, int n, int c, int h,
                            int w, dnnl_format_tag_t tag);
mlic_status onednn_md_4d(dnnl_memory_desc_t *md, int n, int c, int h, int w, dnnl_format_tag_t tag);

/* ---- shared by inference and training (onednn_common.c) */

/* The CPU engine and a stream on it; close destroys what open made (NULLs are skipped). */
mlic_status onednn_engine_open(dnnl_engine_t *engine, dnnl_stream_t *stream);
void onednn_engine_close(dnnl_engine_t *engine, dnnl_stream_t *stream);

/* Flags of onednn_attr_create and onednn_reorder_pd. */
#define ONEDNN_ATTR_USER_SCRATCHPAD 1u /* the caller passes the scratchpad (DNNL_ARG_SCRATCHPAD) */
#define ONEDNN_ATTR_SUM 2u             /* a sum post-op: the result adds into dst */
mlic_status onednn_attr_create(dnnl_primitive_attr_t *attr, unsigned flags);
/* The one reorder builder: from -> to on engine; flags 0 for no attributes. */
mlic_status onednn_reorder_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                              const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                              unsigned flags);
/* A convolution's weights: *prim_md of data type dt in the layout the primitive picks
 * (format_tag_any), *user_md the graph's fp32 (o, i, kh, kw), or (g, o/g, i/g, kh, kw) when
 * groups > 1. out and in are the channel counts. */
mlic_status onednn_md_conv_weights(dnnl_memory_desc_t *prim_md, dnnl_memory_desc_t *user_md,
                                   dnnl_data_type_t dt, int out, int in, int k, int groups);
/* The layout a blocked convolution reads its input of `channels` channels in: the CPU's
 * blocked one, except for a first layer with few channels (the usual 3), which reads them in
 * whatever layout its kernel wants (format_tag_any). */
dnnl_format_tag_t onednn_conv_src_tag(int channels);
/* True when oneDNN picked its reference implementation ("ref:..."), plain loops far slower than
 * its JIT or GEMM kernels. */
int onednn_is_reference_impl(const_dnnl_primitive_desc_t pd);

/* ---- plan building (onednn_plan.c) */

int onednn_plan_add_mem(onednn_plan *p, const dnnl_memory_desc_t *md, onednn_mem_kind kind,
                        int buf, void *ptr);
/* The layout `value` was produced in; fails if it has not been produced yet. */
mlic_status onednn_plan_value_md(const onednn_ctx *c, int value, dnnl_memory_desc_t *md);
/* The mem holding `value` in layout `want`: the value's own, or a temporary it is reordered to. */
mlic_status onednn_plan_src(onednn_ctx *c, int value, const dnnl_memory_desc_t *want, int *mem);
/* A new mem for the node's output in layout md. Handles the node's fused residual add: on
 * return dst already holds the residual (aliased or copied), ready for a sum post-op. */
mlic_status onednn_plan_dst(onednn_ctx *c, const dnnl_memory_desc_t *md, int *mem);
/* Like onednn_plan_dst (no fused add), but reuses the mem of `value` in place when the value
 * dies at this node and already has layout md. */
mlic_status onednn_plan_dst_inplace(onednn_ctx *c, const dnnl_memory_desc_t *md, int value,
                                    int *mem);
/* Attributes every step uses (user scratchpad) plus, when with_fusion, the node's fused add
 * (sum post-op) and activation (eltwise post-op). */
mlic_status onednn_plan_attr(onednn_ctx *c, int with_fusion, dnnl_primitive_attr_t *attr);
/* The primitive descriptor for desc with onednn_plan_attr's attributes. */
mlic_status onednn_plan_pd(onednn_ctx *c, int with_fusion, const_dnnl_op_desc_t desc,
                           dnnl_primitive_desc_t *pd);
/* Create pd's primitive and append it as a step with these arguments (and a scratchpad). */
mlic_status onednn_plan_step(onednn_ctx *c, const_dnnl_primitive_desc_t pd, int nargs,
                             const int *args, const int *mems);
mlic_status onednn_plan_reorder(onednn_ctx *c, int src_mem, int dst_mem);
/* A FIXED mem with the node's weights (user layout user_md, at data) packed into layout want. */
mlic_status onednn_plan_weights(onednn_ctx *c, const dnnl_memory_desc_t *user_md,
                                const void *data, const dnnl_memory_desc_t *want, int *mem);
/* int8: the mem holding `value` as want's u8 or s8 codes: value * scale, rounded to nearest and
 * saturated, in a temporary; or the value itself (reordered if need be) when its producer wrote
 * those codes already. */
mlic_status onednn_plan_src_scaled(onednn_ctx *c, int value, const dnnl_memory_desc_t *want,
                                   float scale, int *mem);
/* A FIXED mem over graph parameter `param` (1-D, e.g. a bias) used as is. */
mlic_status onednn_plan_param(onednn_ctx *c, int param, int *mem);
/* Append pd, an op on the node's input, weights (in the graph's layout user_wei_md) and bias
 * if any, as a step: the input reordered and the weights packed into the layouts pd chose. */
mlic_status onednn_plan_weighted_step(onednn_ctx *c, const_dnnl_primitive_desc_t pd,
                                      const dnnl_memory_desc_t *user_wei_md);

/* ---- one planning function per op */

mlic_status onednn_plan_conv(onednn_ctx *c);
/* A convolution whose node carries int8 weights (onednn_conv_int8.c). */
mlic_status onednn_plan_conv_int8(onednn_ctx *c);
mlic_status onednn_plan_maxpool(onednn_ctx *c);
mlic_status onednn_plan_global_avgpool(onednn_ctx *c);
mlic_status onednn_plan_linear(onednn_ctx *c);
mlic_status onednn_plan_act(onednn_ctx *c);
mlic_status onednn_plan_add(onednn_ctx *c);

/* ---- plans (onednn_build.c) */

mlic_status onednn_plan_build(onednn_state *s, int n, onednn_plan **out);
void onednn_plan_free(onednn_plan *p);
/* Create the memory objects, binding ARENA/SCRATCH mems to s->arena and s->scratch. */
mlic_status onednn_plan_finish(onednn_state *s, onednn_plan *p);
mlic_status onednn_plan_execute(onednn_state *s, onednn_plan *p, float *logits,
                                const float *input);

#endif
