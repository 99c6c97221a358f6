/* Computes a loss for tests/py/test_loss.py.
 *   tool_loss N K LOGITS TARGETS GRAD_OUT [bce|focal|asl] [key=value ...]
 * LOGITS, TARGETS: raw float32 (N, K). Writes the gradient as raw float32 (N, K) to GRAD_OUT and
 * prints the loss (%.17g). Keys: reduction=default|mean|batch_mean|sum, pos_weight=FILE (raw
 * float32 (K)), gamma, alpha, gamma_neg, gamma_pos, clip, eps, detach_weight. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/loss.h"

static float *read_floats(const char *path, size_t n)
{
    FILE *f = fopen(path, "rb");
    float *v = malloc(n * sizeof *v + 1);
    if (!f || !v || fread(v, sizeof *v, n, f) != n) {
        fprintf(stderr, "tool_loss: cannot read %zu floats from %s\n", n, path);
        exit(2);
    }
    fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: tool_loss N K LOGITS TARGETS GRAD_OUT bce|focal|asl [key=value...]\n");
        return 2;
    }
    int n = atoi(argv[1]), k = atoi(argv[2]);
    size_t nk = (size_t)n * k;
    float *logits = read_floats(argv[3], nk), *targets = read_floats(argv[4], nk);
    float *grad = malloc(nk * sizeof *grad + 1), *pos_weight = NULL;
    mlic_loss_kind kind;
    if (mlic_loss_parse_kind(&kind, argv[6]) != MLIC_OK) {
        fprintf(stderr, "%s\n", mlic_errmsg());
        return 2;
    }
    mlic_loss_cfg c = mlic_loss_defaults(kind);
    for (int i = 7; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "tool_loss: bad option %s\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        const char *key = argv[i], *val = eq + 1;
        if (strcmp(key, "reduction") == 0) {
            static const char *const names[] = {"default", "mean", "batch_mean", "sum"};
            int r = -1;
            for (int j = 0; j < 4; j++)
                if (strcmp(val, names[j]) == 0)
                    r = j;
            if (r < 0) {
                fprintf(stderr, "tool_loss: bad reduction %s\n", val);
                return 2;
            }
            c.reduction = (mlic_reduction)r;
        } else if (strcmp(key, "pos_weight") == 0) {
            pos_weight = read_floats(val, (size_t)k);
            c.pos_weight = pos_weight;
        } else if (strcmp(key, "gamma") == 0) c.gamma = strtof(val, NULL);
        else if (strcmp(key, "alpha") == 0) c.alpha = strtof(val, NULL);
        else if (strcmp(key, "gamma_neg") == 0) c.gamma_neg = strtof(val, NULL);
        else if (strcmp(key, "gamma_pos") == 0) c.gamma_pos = strtof(val, NULL);
        else if (strcmp(key, "clip") == 0) c.clip = strtof(val, NULL);
        else if (strcmp(key, "eps") == 0) c.eps = strtof(val, NULL);
        else if (strcmp(key, "detach_weight") == 0) c.detach_weight = atoi(val);
        else {
            fprintf(stderr, "tool_loss: unknown key %s\n", key);
            return 2;
        }
    }
    double loss;
    if (mlic_loss_compute(&loss, grad, logits, targets, n, k, &c) != MLIC_OK) {
        fprintf(stderr, "%s\n", mlic_errmsg());
        return 1;
    }
    FILE *f = fopen(argv[5], "wb");
    if (!f || fwrite(grad, sizeof *grad, nk, f) != nk || fclose(f) != 0) {
        fprintf(stderr, "tool_loss: cannot write %s\n", argv[5]);
        return 2;
    }
    printf("%.17g\n", loss);
    free(logits);
    free(targets);
    free(grad);
    free(pos_weight);
    return 0;
}
