/* Runs one training kernel for tests/py/test_backward.py.
 *
 *   tool_backward OP DIR ARGS...
 *
 * Inputs are raw little-endian float32 files DIR/<name>.f32 written by the Python test; the
 * gradient buffers (dx, dw, ...) are read as well and passed in as the starting values, so the
 * test also checks that every gradient accumulates. Outputs overwrite DIR/<name>.f32.
 *   conv    N CIN H W COUT K STRIDE PAD GROUPS BIAS  in: x weight dy dx dw [db]  out: dx dw [db]
 *           (dx is skipped, and must not be passed, when the file DIR/dx.f32 is absent)
 *   bn      N C H W EPS MOMENTUM    in: x gamma beta running_mean running_var dy dx dgamma dbeta
 *                                   out: y save_mean save_invstd running_mean running_var dx
 *                                        dgamma dbeta
 *   relu | relu6  COUNT             in: y dy dx  out: dx
 *   add     COUNT                   in: dy dx  out: dx
 *   maxpool N C H W K STRIDE PAD    in: x dy dx  out: dx
 *   gap     N C H W                 in: dy dx  out: dx
 *   linear  N C K BIAS              in: x weight dy dx dw [db]  out: dx dw [db]
 *   dropout COUNT P SEED STREAM     in: x dy dx  out: y mask dx
 * Exit status 0 on success, 2 when the kernel refuses its input (message on stderr), 1 on a
 * usage or file error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels_train.h"

static void die(const char *fmt, const char *what)
{
    fprintf(stderr, "tool_backward: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    exit(1);
}

static void path_of(char *buf, size_t cap, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, cap, "%s/%s.f32", dir, name) >= cap)
        die("path too long for %s", name);
}

static int exists(const char *dir, const char *name)
{
    char path[4096];
    path_of(path, sizeof path, dir, name);
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static float *load(const char *dir, const char *name, size_t count)
{
    char path[4096];
    path_of(path, sizeof path, dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open %s", path);
    float *a = malloc((count ? count : 1) * sizeof(float));
    if (!a)
        die("out of memory for %s", name);
    size_t got = fread(a, sizeof(float), count, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != count || extra) {
        fprintf(stderr, "tool_backward: %s holds other than %zu floats\n", path, count);
        exit(1);
    }
    return a;
}

static void save(const char *dir, const char *name, const float *a, size_t count)
{
    char path[4096];
    path_of(path, sizeof path, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, sizeof(float), count, f) != count || fclose(f) != 0)
        die("cannot write %s", path);
}

static long arg_int(char **argv, int i)
{
    char *end;
    errno = 0;
    long v = strtol(argv[i], &end, 10);
    if (errno || *end || end == argv[i])
        die("bad integer argument %s", argv[i]);
    return v;
}

static double arg_real(char **argv, int i)
{
    char *end;
    double v = strtod(argv[i], &end);
    if (*end || end == argv[i])
        die("bad number argument %s", argv[i]);
    return v;
}

static void need_args(int argc, int n, const char *op)
{
    if (argc != 3 + n)
        die("wrong number of arguments for %s", op);
}

static int run_conv(int argc, char **argv)
{
    const char *dir = argv[2];
    need_args(argc, 10, "conv");
    int n = arg_int(argv, 3), cin = arg_int(argv, 4), h = arg_int(argv, 5), w = arg_int(argv, 6);
    int cout = arg_int(argv, 7), k = arg_int(argv, 8), stride = arg_int(argv, 9);
    int pad = arg_int(argv, 10), groups = arg_int(argv, 11), bias = arg_int(argv, 12);
    mlic_conv_geom g = mlic_conv_geom_make(n, cin, h, w, cout, k, stride, pad, groups);
    size_t nx = (size_t)n * cin * h * w, nw = (size_t)cout * (cin / groups) * k * k;
    size_t ny = (size_t)n * cout * g.ho * g.wo;
    float *x = load(dir, "x", nx), *wt = load(dir, "weight", nw), *dy = load(dir, "dy", ny);
    float *dx = exists(dir, "dx") ? load(dir, "dx", nx) : NULL, *dw = load(dir, "dw", nw);
    float *db = bias ? load(dir, "db", cout) : NULL;
    size_t nwork = mlic_conv2d_backward_workspace_floats(&g);
    float *work = malloc((nwork ? nwork : 1) * sizeof(float));
    if (!work)
        die("out of memory for %s", "workspace");
    mlic_conv2d_backward(dx, dw, db, work, x, wt, dy, &g);
    if (dx)
        save(dir, "dx", dx, nx);
    save(dir, "dw", dw, nw);
    if (db)
        save(dir, "db", db, cout);
    free(x); free(wt); free(dy); free(dx); free(dw); free(db); free(work);
    return 0;
}

static int run_bn(int argc, char **argv)
{
    const char *dir = argv[2];
    need_args(argc, 6, "bn");
    int n = arg_int(argv, 3), c = arg_int(argv, 4), h = arg_int(argv, 5), w = arg_int(argv, 6);
    float eps = arg_real(argv, 7), momentum = arg_real(argv, 8);
    size_t nx = (size_t)n * c * h * w;
    float *x = load(dir, "x", nx), *gamma = load(dir, "gamma", c), *beta = load(dir, "beta", c);
    float *rmean = load(dir, "running_mean", c), *rvar = load(dir, "running_var", c);
    float *dy = load(dir, "dy", nx), *dx = load(dir, "dx", nx);
    float *dgamma = load(dir, "dgamma", c), *dbeta = load(dir, "dbeta", c);
    float *y = malloc(nx * sizeof(float) + 1), *mean = malloc(c * sizeof(float) + 1);
    float *invstd = malloc(c * sizeof(float) + 1);
    if (!y || !mean || !invstd)
        die("out of memory for %s", "bn outputs");
    mlic_status s = mlic_batchnorm_forward_train(y, mean, invstd, NULL, NULL, rmean, rvar, x, gamma, beta, n,
                                                 c, h * w, eps, momentum);
    int rc = 0;
    if (s != MLIC_OK) {
        fprintf(stderr, "%s: %s\n", mlic_status_name(s), mlic_errmsg());
        rc = 2;
    } else {
        mlic_batchnorm_backward(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, n, c, h * w);
        save(dir, "y", y, nx);
        save(dir, "save_mean", mean, c);
        save(dir, "save_invstd", invstd, c);
        save(dir, "running_mean", rmean, c);
        save(dir, "running_var", rvar, c);
        save(dir, "dx", dx, nx);
        save(dir, "dgamma", dgamma, c);
        save(dir, "dbeta", dbeta, c);
    }
    free(x); free(gamma); free(beta); free(rmean); free(rvar); free(dy); free(dx); free(dgamma);
    free(dbeta); free(y); free(mean); free(invstd);
    return rc;
}

static int run_elementwise(int argc, char **argv, const char *op)
{
    const char *dir = argv[2];
    need_args(argc, 1, op);
    size_t count = arg_int(argv, 3);
    float *dy = load(dir, "dy", count), *dx = load(dir, "dx", count);
    if (strcmp(op, "add") == 0) {
        mlic_add_backward(dx, dy, count);
    } else {
        float *y = load(dir, "y", count);
        if (strcmp(op, "relu") == 0)
            mlic_relu_backward(dx, dy, y, count);
        else
            mlic_relu6_backward(dx, dy, y, count);
        free(y);
    }
    save(dir, "dx", dx, count);
    free(dy); free(dx);
    return 0;
}

static int run_maxpool(int argc, char **argv)
{
    const char *dir = argv[2];
    need_args(argc, 7, "maxpool");
    int n = arg_int(argv, 3), c = arg_int(argv, 4), h = arg_int(argv, 5), w = arg_int(argv, 6);
    int k = arg_int(argv, 7), stride = arg_int(argv, 8), pad = arg_int(argv, 9);
    mlic_pool_geom g = mlic_pool_geom_make(n, c, h, w, k, stride, pad);
    size_t nx = (size_t)n * c * h * w;
    float *x = load(dir, "x", nx), *dy = load(dir, "dy", (size_t)n * c * g.ho * g.wo);
    float *dx = load(dir, "dx", nx);
    mlic_maxpool2d_backward(dx, dy, x, &g);
    save(dir, "dx", dx, nx);
    free(x); free(dy); free(dx);
    return 0;
}

static int run_gap(int argc, char **argv)
{
    const char *dir = argv[2];
    need_args(argc, 4, "gap");
    int n = arg_int(argv, 3), c = arg_int(argv, 4), h = arg_int(argv, 5), w = arg_int(argv, 6);
    size_t nx = (size_t)n * c * h * w;
    float *dy = load(dir, "dy", (size_t)n * c), *dx = load(dir, "dx", nx);
    mlic_global_avgpool_backward(dx, dy, n, c, h * w);
    save(dir, "dx", dx, nx);
    free(dy); free(dx);
    return 0;
}

static int run_linear(int argc, char **argv)
{
    const char *dir = argv[2];
    need_args(argc, 4, "linear");
    int n = arg_int(argv, 3), c = arg_int(argv, 4), k = arg_int(argv, 5), bias = arg_int(argv, 6);
    float *x = load(dir, "x", (size_t)n * c), *wt = load(dir, "weight", (size_t)k * c);
    float *dy = load(dir, "dy", (size_t)n * k), *dx = load(dir, "dx", (size_t)n * c);
    float *dw = load(dir, "dw", (size_t)k * c), *db = bias ? load(dir, "db", k) : NULL;
    mlic_linear_backward(dx, dw, db, x, wt, dy, n, c, k);
    save(dir, "dx", dx, (size_t)n * c);
    save(dir, "dw", dw, (size_t)k * c);
    if (db)
        save(dir, "db", db, k);
    free(x); free(wt); free(dy); free(dx); free(dw); free(db);
    return 0;
}

static int run_dropout(int argc, char **argv)
{
    const char *dir = argv[2];
    need_args(argc, 4, "dropout");
    size_t count = arg_int(argv, 3);
    float p = arg_real(argv, 4);
    uint64_t seed = strtoull(argv[5], NULL, 10), stream = strtoull(argv[6], NULL, 10);
    float *x = load(dir, "x", count), *dy = load(dir, "dy", count), *dx = load(dir, "dx", count);
    float *y = malloc(count * sizeof(float) + 1), *maskf = malloc(count * sizeof(float) + 1);
    uint8_t *mask = malloc(count + 1);
    if (!y || !maskf || !mask)
        die("out of memory for %s", "dropout outputs");
    mlic_rng rng;
    mlic_rng_init(&rng, seed, stream);
    mlic_dropout_forward_train(y, mask, x, count, p, &rng);
    mlic_dropout_backward(dx, dy, mask, count, p);
    for (size_t i = 0; i < count; i++)
        maskf[i] = mask[i];
    save(dir, "y", y, count);
    save(dir, "mask", maskf, count);
    save(dir, "dx", dx, count);
    free(x); free(dy); free(dx); free(y); free(maskf); free(mask);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tool_backward OP DIR ARGS... (see tests/c/tool_backward.c)\n");
        return 1;
    }
    const char *op = argv[1];
    if (strcmp(op, "conv") == 0)
        return run_conv(argc, argv);
    if (strcmp(op, "bn") == 0)
        return run_bn(argc, argv);
    if (strcmp(op, "relu") == 0 || strcmp(op, "relu6") == 0 || strcmp(op, "add") == 0)
        return run_elementwise(argc, argv, op);
    if (strcmp(op, "maxpool") == 0)
        return run_maxpool(argc, argv);
    if (strcmp(op, "gap") == 0)
        return run_gap(argc, argv);
    if (strcmp(op, "linear") == 0)
        return run_linear(argc, argv);
    if (strcmp(op, "dropout") == 0)
        return run_dropout(argc, argv);
    die("unknown op %s", op);
    return 1;
}
