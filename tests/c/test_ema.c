/* The moving average of the weights (src/train/ema.h): the warm-up of the decay, one update
 * against the formula computed in double, elements that do not change staying exact, a swap
 * that a second swap undoes, and a bad decay refused. (tests/py/test_train_ema.py follows the
 * average through whole training runs.) */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/rng.h"
#include "train/ema.h"

#define N 1000

int main(void)
{
    /* The warm-up: (1 + t) / (10 + t) until it reaches the decay asked for. */
    CHECK_NEAR(mlic_ema_decay_at(0.999, 0), 0.1, 1e-15);
    CHECK_NEAR(mlic_ema_decay_at(0.999, 90), 91.0 / 100.0, 1e-15);
    CHECK_NEAR(mlic_ema_decay_at(0.5, 90), 0.5, 0);
    CHECK_NEAR(mlic_ema_decay_at(0.999, 100000), 0.999, 0);

    float w[N], start[N];
    mlic_rng r;
    mlic_rng_init(&r, 5, 0);
    for (int i = 0; i < N; i++)
        start[i] = w[i] = (float)mlic_rng_range(&r, -2, 2);
    mlic_ema *e = NULL;
    CHECK(mlic_ema_create(&e, w, N, 0.9) == MLIC_OK, "%s", mlic_errmsg());
    CHECK(!memcmp(mlic_ema_weights(e), start, sizeof start), "starts as the weights");

    /* Steps move every weight but the last ten (a frozen part). */
    double ref[N];
    for (int i = 0; i < N; i++)
        ref[i] = start[i];
    for (int64_t t = 0; t < 100; t++) { /* the warm-up ends at t = 81 */
        for (int i = 0; i < N - 10; i++)
            w[i] += (float)mlic_rng_range(&r, -0.1, 0.1);
        mlic_ema_update(e, w, t);
        const double warm = (t + 1.0) / (t + 10.0), d = warm < 0.9 ? warm : 0.9;
        for (int i = 0; i < N; i++)
            ref[i] = d * ref[i] + (1 - d) * w[i];
    }
    const float *avg = mlic_ema_weights(e);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        const double err = fabs(avg[i] - ref[i]);
        worst = err > worst ? err : worst;
    }
    /* Each float32 update of values below 3 in magnitude rounds by a few 2^-24 x 3 (about
     * 2e-7), and later updates shrink an earlier error by d <= 0.9, so the errors sum to at most
     * ten times that: 1e-5 bounds it with room. */
    CHECK(worst < 1e-5, "the average is %g away from the formula in double", worst);
    for (int i = N - 10; i < N; i++)
        CHECK(avg[i] == start[i], "an unchanged weight moved: %d %.9g %.9g", i, avg[i], start[i]);

    float before_w[N], before_avg[N];
    memcpy(before_w, w, sizeof w);
    memcpy(before_avg, avg, sizeof before_avg);
    mlic_ema_swap(e, w);
    CHECK(!memcmp(w, before_avg, sizeof w) && !memcmp(avg, before_w, sizeof w), "swapped");
    mlic_ema_swap(e, w);
    CHECK(!memcmp(w, before_w, sizeof w) && !memcmp(avg, before_avg, sizeof w), "swapped back");
    mlic_ema_destroy(e);

    mlic_ema *bad = NULL;
    CHECK(mlic_ema_create(&bad, w, N, 1.0) == MLIC_ERR_INVALID_ARG && !bad, "decay 1 refused");
    CHECK(strstr(mlic_errmsg(), "--ema 1") && strstr(mlic_errmsg(), "HINT"), "%s", mlic_errmsg());
    CHECK(mlic_ema_create(&bad, w, N, -0.5) == MLIC_ERR_INVALID_ARG, "a negative decay refused");
    CHECK_DONE();
}
