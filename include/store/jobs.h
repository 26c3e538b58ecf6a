/*
 * jobs.h - the daily job's statements: birthday gifts, pending-point
 * release, expiry and tier downgrades for one local date, set-based over a
 * batch of member ids, plus the job's record (daily_jobs) and its calendar.
 *
 * Every batch is one transaction that takes the job's advisory lock first,
 * then locks the members it will change (THE lock order of store/ledger.h,
 * step 1: descending id, in a statement of its own), and only then reads
 * and writes their lots, entries, gifts and tier history in later
 * statements, whose snapshots see every change committed before the locks
 * were granted.  Each phase is idempotent by itself: a second run of a date
 * finds nothing left to do.
 *
 * Thread-safety: as the connection's (one thread at a time).
 */
#ifndef LY_STORE_JOBS_H
#define LY_STORE_JOBS_H

#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct db;

/* The rule set as the job needs it, and the date.  Borrowed for the call. */
struct daily_job_params {
    const char *date;        /* YYYY-MM-DD, a local date in `timezone` */
    const char *timezone;    /* the rules' IANA zone */
    int64_t birthday_points; /* birthday.bonus_points; 0 grants nothing */
    int32_t expiry_months;
    int32_t tier_window_days;
    int32_t tier_grace_days;
    /* The tier ladder, ascending, as PostgreSQL array literals (codes and
     * min_spends: rules_snapshot's). */
    const char *tier_codes;
    const char *tier_min_spends;
};

/* What a run did (or what to add to a date's record). */
struct daily_job_counts {
    int64_t birthday_gifts; /* members granted their birthday gift */
    int64_t released;       /* points of pending lots released */
    int64_t expired_points; /* points expired */
    int64_t downgrades;     /* members moved to a lower tier */
};

/* The local date "today" in `timezone` (YYYY-MM-DD into `today`).  -1 with
 * ERR_UNAVAILABLE or ERR_INTERNAL. */
int store_daily_today(struct db *db, const char *timezone, char today[11], struct err *e);

/*
 * What the scheduler owes: the dates after the latest recorded run up to
 * today in `timezone`, oldest first, at most `max_days` of them (the latest
 * ones); only today when nothing was ever recorded.  *dates is an arena
 * array of *n dates (YYYY-MM-DD), *n may be 0.  *seconds_to_midnight is the
 * time until the next local midnight (at least 1).
 */
int store_daily_due(struct db *db, const char *timezone, int max_days, struct arena *a,
                    char (**dates)[11], int *n, int64_t *seconds_to_midnight, struct err *e);

/* The smallest and largest member id (both 0 without members). */
int store_daily_member_range(struct db *db, int64_t *min_id, int64_t *max_id, struct err *e);

/*
 * One batch, in one transaction of its own: every phase of the job for the
 * members with lo < id <= hi, as they are when their rows are locked.
 * Adds what it did to *done (only when it committed; a total that would
 * not fit rolls the batch back with ERR_INTERNAL).  The connection must
 * not be in a transaction.  -1 with ERR_UNAVAILABLE (database down or busy)
 * or ERR_INTERNAL; nothing of the batch is then kept.
 */
int store_daily_batch(struct db *db, const struct daily_job_params *p, int64_t lo, int64_t hi,
                      struct daily_job_counts *done, struct err *e);

/*
 * Begins a transaction of the daily job's kind: its own lock and statement
 * time-outs (minutes, not the pool's request limits) and the job's advisory
 * lock, so that runs on several daemons take turns.  For the job's other
 * set-based work (store/insight.h).  -1 with nothing begun.
 */
int store_daily_begin(struct db *db, struct err *e);

/* Records a run of `date` in daily_jobs (runs + 1, counts added), in a
 * transaction of its own under the job's advisory lock. */
int store_daily_record(struct db *db, const char *date, const struct daily_job_counts *c,
                       struct err *e);

#endif
