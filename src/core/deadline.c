/*
 * deadline.c - monotonic deadlines and the condition variables that wait
 * for them (core/deadline.h).
 */
#include "core/deadline.h"

#include "core/xmalloc.h"

void deadline_in(struct timespec *ts, long ms)
{
    ly_assert(ms >= 0);
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool deadline_passed(const struct timespec *ts)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > ts->tv_sec || (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

void deadline_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;

    ly_assert(pthread_condattr_init(&ca) == 0);
    ly_assert(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0);
    ly_assert(pthread_cond_init(c, &ca) == 0);
    pthread_condattr_destroy(&ca);
}
