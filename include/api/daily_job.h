/*
 * daily_job.h - running the daily job for one date with a rule set: the
 * one entry point that POST /v1/jobs/daily and the scheduler share.
 *
 * Runs in this process one at a time (a second caller waits for the first
 * to finish, then runs and finds what is left), on a database connection of
 * its own outside the pool, in batches of member ids, each batch its own
 * transaction under the job's advisory lock (store/jobs.h), so that several
 * daemons may run it at once.
 */
#ifndef LY_API_DAILY_JOB_H
#define LY_API_DAILY_JOB_H

#include "api/rules_cache.h"
#include "core/err.h"
#include "store/jobs.h"

/*
 * Runs the job for `date` (YYYY-MM-DD, not after today in the rules'
 * timezone: the caller checked) under the rules of `snap` (borrowed for the
 * call), and records
 * the run in daily_jobs.  *out is what this run did.  -1 with
 * ERR_UNAVAILABLE (database down or busy, or the daemon is stopping: the
 * batches done so far stay done and the date is not recorded) or
 * ERR_INTERNAL.  Thread-safe.
 */
int daily_job_run(const struct rules_snapshot *snap, const char *date, struct daily_job_counts *out,
                  struct err *e);

/* Makes every run, now and later, stop before its next batch (shutdown). */
void daily_job_cancel(void);

#endif
