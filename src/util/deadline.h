/* Absolute deadlines for pthread_cond_timedwait (CLOCK_REALTIME, the condition's default clock):
 * the threads that must look at a cancel flag while they wait wake up this way. */
#ifndef MLIC_UTIL_DEADLINE_H
#define MLIC_UTIL_DEADLINE_H

#include <time.h>

/* Now plus ns nanoseconds (0 <= ns < 1e9). */
static inline struct timespec mlic_deadline_in(long ns)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += ns;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

#endif
