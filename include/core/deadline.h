/*
 * deadline.h - the absolute time `ms` milliseconds from now, on a given
 * clock, for pthread_cond_timedwait (CLOCK_REALTIME unless the condition
 * variable was made with another clock).  Thread-safe; no state.  Must not
 * sleep or wait itself.
 */
#ifndef LY_CORE_DEADLINE_H
#define LY_CORE_DEADLINE_H

#include <time.h>

void deadline_in(struct timespec *ts, clockid_t clock, long ms);

#endif
