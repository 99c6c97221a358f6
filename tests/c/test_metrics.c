/* Metrics on small cases worked out by hand from the definitions in docs/metrics.md
 * (tests/py/test_metrics.py compares with scikit-learn on random data). */
#include <string.h>

#include "check.h"
#include "eval/metrics.h"

int main(void)
{
    /* Class 0 ranks + - + - : AP = 1/2 * 1 + 1/2 * 2/3 = 5/6.
     * Class 1 has its positive tied with a negative at the top: one point, P = 1/2, R = 1.
     * Class 2 has no positive: AP NaN, left out of mAP. */
    const float scores[4 * 3] = {0.9f, 0.7f, 0.1f,
                                 0.8f, 0.7f, 0.2f,
                                 0.7f, 0.1f, 0.3f,
                                 0.6f, 0.2f, 0.4f};
    const uint8_t targets[4 * 3] = {1, 1, 0,
                                    0, 0, 0,
                                    1, 0, 0,
                                    0, 0, 0};
    const float thr[3] = {0.75f, 0.5f, 0.35f};
    mlic_metrics m;
    mlic_class_metrics pc[3];
    CHECK(mlic_metrics_compute(&m, pc, scores, targets, 4, 3, thr) == MLIC_OK, "%s", mlic_errmsg());
    CHECK_NEAR(pc[0].ap, 100.0 * 5 / 6, 1e-9);
    CHECK_NEAR(pc[1].ap, 50.0, 1e-9);
    CHECK(isnan(pc[2].ap), "no positives: NaN, got %g", pc[2].ap);
    CHECK(m.map_classes == 2, "%d classes in mAP", m.map_classes);
    CHECK_NEAR(m.map, (100.0 * 5 / 6 + 50.0) / 2, 1e-9);
    /* At the thresholds: class 0 predicts rows 0,1 (1 right), class 1 rows 0,1 (1 right), class 2
     * row 3 (wrong). P = 1/2, 1/2, 0; R = 1/2, 1, 0 (0/0). */
    CHECK(pc[0].predicted == 2 && pc[0].correct == 1 && pc[0].positives == 2, "class 0 counts");
    CHECK_NEAR(m.cp, 100.0 / 3, 1e-9);
    CHECK_NEAR(m.cr, 50.0, 1e-9);
    CHECK_NEAR(m.cf1, 2 * (100.0 / 3) * 50.0 / (100.0 / 3 + 50.0), 1e-9);
    CHECK_NEAR(m.op, 40.0, 1e-9);  /* 2 of 5 */
    CHECK_NEAR(m.or_, 200.0 / 3, 1e-9); /* 2 of 3 */
    CHECK_NEAR(m.of1, 2 * 40.0 * (200.0 / 3) / (40.0 + 200.0 / 3), 1e-9);

    /* Class 0: cuts after 0.9 (F1 2/3), 0.8 (1/2), 0.7 (4/5), 0.6 (2/3): best between 0.7 and 0.6.
     * Class 1: cut after the tie at 0.7 gives 2/3, which the lower cuts do not beat. */
    float tuned[3];
    double f1[3];
    CHECK(mlic_metrics_tune_thresholds(tuned, f1, scores, targets, 4, 3, 0.5f) == MLIC_OK, "%s",
          mlic_errmsg());
    CHECK_NEAR(tuned[0], 0.65f, 1e-7);
    CHECK_NEAR(f1[0], 80.0, 1e-9);
    CHECK_NEAR(tuned[1], 0.45f, 1e-7);
    CHECK_NEAR(f1[1], 200.0 / 3, 1e-9);
    CHECK(tuned[2] == 0.5f && isnan(f1[2]), "no positives: the fallback");

    uint8_t bad[4 * 3];
    memcpy(bad, targets, sizeof bad);
    bad[5] = 2;
    CHECK(mlic_metrics_compute(&m, NULL, scores, bad, 4, 3, thr) == MLIC_ERR_INVALID_ARG, "target 2");
    CHECK(strstr(mlic_errmsg(), "(1, 2)") != NULL, "%s", mlic_errmsg());
    CHECK_DONE();
}
