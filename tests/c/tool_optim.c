/* Runs optimizer steps for tests/py/test_optim.py.
 *   tool_optim N STEPS W0 GRADS ROLES OUT sgd|adamw [key=value ...]
 * W0: raw float32 (N); GRADS: raw float32 (STEPS, N); ROLES: raw uint8 (N) or "-" for all decayed.
 * Writes the weights after every step, raw float32 (STEPS, N), to OUT and prints each step's
 * gradient norm. Keys: lr=a,b,... (one per step, or one for all), momenta=a,b,... (set before each
 * step), wd, momentum, dampening, nesterov, beta1, beta2, eps, clip, restart_at=S (after S steps
 * copy the state and step count into a new optimizer, as a checkpoint resume would).
 *
 *   tool_optim schedule KIND STEPS [key=value ...]
 * prints "lr momentum" for steps 0 .. STEPS-1 of an lr schedule. Keys: lr, total, warmup,
 * warmup_factor, step_size, gamma, min_lr, pct_start, div_factor, final_div_factor,
 * base_momentum, max_momentum. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/optim.h"
#include "train/schedule.h"

static void *read_file(const char *path, size_t bytes)
{
    FILE *f = fopen(path, "rb");
    void *v = malloc(bytes + 1);
    if (!f || !v || fread(v, 1, bytes, f) != bytes) {
        fprintf(stderr, "tool_optim: cannot read %zu bytes from %s\n", bytes, path);
        exit(2);
    }
    fclose(f);
    return v;
}

/* Parses "a,b,c" into up to max doubles; returns the count. */
static int parse_list(double *out, int max, const char *s)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        out[n++] = strtod(s, &end);
        s = *end == ',' ? end + 1 : end;
        if (end == s && *s)
            break;
    }
    return n;
}

static void die(void)
{
    fprintf(stderr, "%s\n", mlic_errmsg());
    exit(1);
}

static int schedule_main(int argc, char **argv)
{
    mlic_sched_kind kind;
    if (argc < 4 || mlic_sched_parse_kind(&kind, argv[2]) != MLIC_OK) {
        fprintf(stderr, "usage: tool_optim schedule KIND STEPS [key=value...]\n");
        return 2;
    }
    mlic_sched_cfg c = mlic_sched_defaults(kind, 0.1);
    for (int i = 4; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "tool_optim: bad option %s\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        const char *key = argv[i];
        double v = strtod(eq + 1, NULL);
        if (strcmp(key, "lr") == 0) c.lr = v;
        else if (strcmp(key, "total") == 0) c.total_steps = (int64_t)v;
        else if (strcmp(key, "warmup") == 0) c.warmup_steps = (int64_t)v;
        else if (strcmp(key, "warmup_factor") == 0) c.warmup_factor = v;
        else if (strcmp(key, "step_size") == 0) c.step_size = (int64_t)v;
        else if (strcmp(key, "gamma") == 0) c.gamma = v;
        else if (strcmp(key, "min_lr") == 0) c.min_lr = v;
        else if (strcmp(key, "pct_start") == 0) c.pct_start = v;
        else if (strcmp(key, "div_factor") == 0) c.div_factor = v;
        else if (strcmp(key, "final_div_factor") == 0) c.final_div_factor = v;
        else if (strcmp(key, "base_momentum") == 0) c.base_momentum = v;
        else if (strcmp(key, "max_momentum") == 0) c.max_momentum = v;
        else {
            fprintf(stderr, "tool_optim: unknown key %s\n", key);
            return 2;
        }
    }
    if (mlic_sched_check(&c) != MLIC_OK)
        die();
    for (int64_t s = 0; s < atoll(argv[3]); s++)
        printf("%.17g %.17g\n", mlic_sched_lr(&c, s), mlic_sched_momentum(&c, s));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "schedule") == 0)
        return schedule_main(argc, argv);
    if (argc < 8) {
        fprintf(stderr, "usage: tool_optim N STEPS W0 GRADS ROLES OUT sgd|adamw [key=value...]\n");
        return 2;
    }
    size_t n = strtoull(argv[1], NULL, 10);
    int steps = atoi(argv[2]);
    float *w = read_file(argv[3], n * sizeof(float));
    float *grads = read_file(argv[4], (size_t)steps * n * sizeof(float));
    uint8_t *roles = strcmp(argv[5], "-") == 0 ? NULL : read_file(argv[5], n);
    mlic_optim_kind kind;
    if (mlic_optim_parse_kind(&kind, argv[7]) != MLIC_OK)
        die();
    mlic_optim_cfg c = mlic_optim_defaults(kind);
    double *lrs = calloc((size_t)steps + 1, sizeof *lrs), *momenta = calloc((size_t)steps + 1, sizeof *momenta);
    int nlr = 0, nmom = 0, restart_at = -1;
    for (int i = 8; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "tool_optim: bad option %s\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        const char *key = argv[i], *val = eq + 1;
        float f = strtof(val, NULL);
        if (strcmp(key, "lr") == 0) nlr = parse_list(lrs, steps, val);
        else if (strcmp(key, "momenta") == 0) nmom = parse_list(momenta, steps, val);
        else if (strcmp(key, "wd") == 0) c.weight_decay = f;
        else if (strcmp(key, "momentum") == 0) c.momentum = f;
        else if (strcmp(key, "dampening") == 0) c.dampening = f;
        else if (strcmp(key, "nesterov") == 0) c.nesterov = atoi(val);
        else if (strcmp(key, "beta1") == 0) c.beta1 = f;
        else if (strcmp(key, "beta2") == 0) c.beta2 = f;
        else if (strcmp(key, "eps") == 0) c.eps = f;
        else if (strcmp(key, "clip") == 0) c.max_grad_norm = f;
        else if (strcmp(key, "restart_at") == 0) restart_at = atoi(val);
        else {
            fprintf(stderr, "tool_optim: unknown key %s\n", key);
            return 2;
        }
    }
    if (nlr == 0) {
        fprintf(stderr, "tool_optim: lr=... is required\n");
        return 2;
    }
    mlic_optim *o;
    if (mlic_optim_create(&o, &c, n, roles) != MLIC_OK)
        die();
    FILE *out = fopen(argv[6], "wb");
    if (!out)
        return 2;
    for (int s = 0; s < steps; s++) {
        if (s == restart_at) {
            size_t count, count2;
            float *state = mlic_optim_state(o, &count);
            float *saved = malloc(count * sizeof *saved + 1);
            memcpy(saved, state, count * sizeof *saved);
            int64_t done = mlic_optim_step_count(o);
            mlic_optim_destroy(o);
            if (mlic_optim_create(&o, &c, n, roles) != MLIC_OK)
                die();
            state = mlic_optim_state(o, &count2);
            if (count2 != count)
                return 3;
            memcpy(state, saved, count * sizeof *saved);
            mlic_optim_set_step_count(o, done);
            free(saved);
        }
        if (nmom && mlic_optim_set_momentum(o, (float)momenta[s < nmom ? s : nmom - 1]) != MLIC_OK)
            die();
        if (mlic_optim_step(o, w, grads + (size_t)s * n, lrs[s < nlr ? s : nlr - 1]) != MLIC_OK)
            die();
        printf("%.17g\n", mlic_optim_grad_norm(o));
        if (fwrite(w, sizeof *w, n, out) != n)
            return 2;
    }
    if (fclose(out) != 0)
        return 2;
    mlic_optim_destroy(o);
    free(w);
    free(grads);
    free(roles);
    free(lrs);
    free(momenta);
    return 0;
}
