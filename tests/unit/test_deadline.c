/*
 * test_deadline.c - unit tests for core/deadline.c: the carry of
 * deadline_in's arithmetic, deadline_passed on both sides of a deadline,
 * and that a condition variable made by
 * deadline_cond_init waits until a deadline_in time and no less (a
 * condition variable on the wall clock would take a monotonic time, which
 * counts from boot, for one long past and return at once).
 */
#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "core/deadline.h"

static int64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t ts_us(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000 + ts->tv_nsec / 1000;
}

static void test_arithmetic(void)
{
    static const long ms[] = {0, 1, 999, 1000, 1001, 1999, 20000, 3600000};

    for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
        struct timespec ts;
        int64_t before = mono_us(), after;

        deadline_in(&ts, ms[i]);
        after = mono_us();
        CHECK(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
        CHECK(ts_us(&ts) >= before + (int64_t)ms[i] * 1000);
        CHECK(ts_us(&ts) <= after + (int64_t)ms[i] * 1000);
    }
}

static void test_passed(void)
{
    struct timespec now, later;

    deadline_in(&now, 0);
    deadline_in(&later, 60000);
    CHECK(deadline_passed(&now));
    CHECK(!deadline_passed(&later));
}

static void test_wait(void)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond;
    struct timespec until;
    int64_t start = mono_us();
    int rc;

    deadline_cond_init(&cond);
    deadline_in(&until, 50);
    pthread_mutex_lock(&lock);
    do
        rc = pthread_cond_timedwait(&cond, &lock, &until);
    while (rc == 0); /* a spurious wake-up: wait again */
    pthread_mutex_unlock(&lock);
    CHECK_EQ_I64(rc, ETIMEDOUT);
    CHECK(mono_us() - start >= 50000);
    pthread_cond_destroy(&cond);
}

int main(void)
{
    test_arithmetic();
    test_passed();
    test_wait();
    return check_report();
}
