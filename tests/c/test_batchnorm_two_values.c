/* Training batch norm over the fewest values it accepts, 2 per channel (batch 2, 1x1 maps: where
 * mobilenet_v2 at --crop 32 --batch-size 2 diverges), against the closed form. With
 * x = (x0, x1), u = x1 - x0, d = u / 2:
 *   y1 - beta = -(y0 - beta) = gamma * d / sqrt(d^2 + eps)
 *   dx1 = -dx0 = (dy1 - dy0) * k,  k = gamma * eps / (2 (d^2 + eps)^1.5)
 *   dgamma = (dy1 - dy0) * d / sqrt(d^2 + eps),  dbeta = dy0 + dy1
 * Equal values (d = 0) give the largest gradient, gamma / (2 sqrt(eps)) per unit of dy1 - dy0,
 * finite; far apart ones almost none (the output is +-gamma whatever x is). Values near 1000
 * check that the variance does not cancel (E[x^2] - E[x]^2 would come out 0 or negative). */
#include <float.h>

#include "check.h"
#include "nn/kernels_train.h"

static void check_case(double x0, double u, double g0, double g1)
{
    const float eps = 1e-5f, gamma = 1.5f, beta = 0.25f;
    float x[2] = {(float)x0, (float)(x0 + u)}, y[2], dy[2] = {(float)g0, (float)g1};
    float dx[2] = {0.0f, 0.0f}; /* the backward adds into it (nn/kernels_train.h) */
    float mean, invstd, scale, shift, rmean = 0.0f, rvar = 1.0f, dgamma = 0.0f, dbeta = 0.0f;
    CHECK((double)x[1] - (double)x[0] == u, "case x0 %g u %g: x1 - x0 is not exact in float", x0,
          u);
    CHECK(mlic_batchnorm_forward_train(y, &mean, &invstd, &scale, &shift, &rmean, &rvar, x, &gamma,
                                       &beta, 2, 1, 1, eps, 0.1f) == MLIC_OK,
          "case x0 %g u %g: forward failed", x0, u);
    mlic_batchnorm_backward(dx, &dgamma, &dbeta, dy, x, &mean, &invstd, &gamma, 2, 1, 1);

    const double d = u / 2, r = sqrt(d * d + eps), k = gamma * eps / (2 * r * r * r);
    const double want_y = gamma * d / r, want_dx = (g1 - g0) * k;
    /* x - mean is exact (the cases keep the mean a float), so y rounds relative to its terms;
     * dx is a difference of terms as large as |gamma| / r times dy, a few operations each. */
    const double tol_y = 16 * FLT_EPSILON * (gamma * fabs(d) / r + fabs(beta));
    const double tol_dx = 16 * FLT_EPSILON * gamma / r * (fabs(g0) + fabs(g1));
    for (int i = 0; i < 2; i++)
        CHECK(isfinite(y[i]) && isfinite(dx[i]), "case x0 %g u %g: y[%d] %g dx[%d] %g", x0, u, i,
              y[i], i, dx[i]);
    CHECK_NEAR(y[1] - beta, want_y, tol_y);
    CHECK_NEAR(y[0] - beta, -want_y, tol_y);
    CHECK_NEAR(dx[1], want_dx, tol_dx);
    CHECK_NEAR(dx[0], -want_dx, tol_dx);
    CHECK_NEAR(dgamma, (g1 - g0) * d / r, 16 * FLT_EPSILON * (fabs(g0) + fabs(g1)));
    CHECK_NEAR(dbeta, g0 + g1, 4 * FLT_EPSILON * (fabs(g0) + fabs(g1)));
}

int main(void)
{
    const double us[] = {0.0, 0x1p-12, 0x1p-9, 0x1p-7 /* d ~ 1.2 sqrt(eps) */, 1.0, 8.0};
    const double x0s[] = {0.0, -0.75, 1000.0};
    for (size_t i = 0; i < sizeof x0s / sizeof x0s[0]; i++)
        for (size_t j = 0; j < sizeof us / sizeof us[0]; j++) {
            check_case(x0s[i], us[j], 0.5, -0.25);
            check_case(x0s[i], us[j], 0.125, 0.125); /* dy1 = dy0: no gradient reaches x */
        }
    CHECK_DONE();
}
