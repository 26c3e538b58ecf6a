/*
 * daily.h - the daily job's scheduler: a thread that runs the job by
 * itself shortly after local midnight (the program time zone as the active
 * rules say at that moment) and, at start, catches up every date missed
 * since the latest recorded run (at most DAILY_CATCH_UP_DAYS of them).
 * Several daemons may run it at once: the job is idempotent and takes an
 * advisory lock (store/jobs.h).
 */
#ifndef LY_API_DAILY_H
#define LY_API_DAILY_H

#include <time.h>

#define DAILY_CATCH_UP_DAYS 366

/* Starts the thread; the pool and the rules cache must be initialised. */
void daily_scheduler_start(void);
/* Stops it: a run in progress stops before its next batch (its date stays
 * unrecorded, so the next start does it again), and from `until` on
 * (core/deadline.h; borrowed) the statement it is still
 * running is cancelled (db_cancel_all): a batch waiting for another
 * daemon's can wait two minutes.  A no-op when it was not started. */
void daily_scheduler_stop(const struct timespec *until);

#endif
