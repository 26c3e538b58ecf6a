/*
 * deadline.h - deadlines for pthread_cond_timedwait on CLOCK_MONOTONIC, so
 * that a step of the wall clock (NTP, an operator) neither cuts a wait
 * short nor stretches it.  Every timed wait of the daemon waits on a
 * condition variable made by deadline_cond_init for a time made by
 * deadline_in.  Thread-safe; no state.  Must not sleep or wait itself.
 */
#ifndef LY_CORE_DEADLINE_H
#define LY_CORE_DEADLINE_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

/* The CLOCK_MONOTONIC time `ms` (>= 0) milliseconds from now, into *ts. */
void deadline_in(struct timespec *ts, long ms);

/* Whether CLOCK_MONOTONIC has reached *ts (a deadline_in time), for a
 * retry loop that sleeps rather than waits on a condition variable. */
bool deadline_passed(const struct timespec *ts);

/* Initialises `c` (not yet initialised, or destroyed) so that its timed
 * waits take deadline_in's times. */
void deadline_cond_init(pthread_cond_t *c);

#endif
