/* Minimal assertion helpers for the C unit tests: a failed CHECK prints where and why and
 * makes the test binary exit non-zero at the end. */
#ifndef MLIC_TESTS_CHECK_H
#define MLIC_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_failures;

#define CHECK(cond, ...)                                                          \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                         \
            fprintf(stderr, "\n");                                                \
            check_failures++;                                                     \
        }                                                                         \
    } while (0)

#define CHECK_NEAR(a, b, tol) \
    CHECK(fabs((double)(a) - (double)(b)) <= (tol), "%s=%g %s=%g tol=%g", #a, (double)(a), #b, (double)(b), (double)(tol))

#define CHECK_DONE()                                                              \
    do {                                                                          \
        if (check_failures) {                                                     \
            fprintf(stderr, "%d check(s) failed\n", check_failures);             \
            return 1;                                                             \
        }                                                                         \
        printf("ok\n");                                                           \
        return 0;                                                                 \
    } while (0)

#endif
