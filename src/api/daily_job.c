/*
 * daily_job.c - one run of the daily job: the rule set turned into the
 * job's parameters, the members cut into batches of ids, one store call per
 * batch, then the RFM and life-cycle snapshot refreshed for the date (after
 * the batches, so that it sees the day's tier changes), the run recorded and
 * logged.
 *
 * Must not contain SQL, loop over single members (each batch is set-based
 * in src/store/jobs.c) or decide which date is due (the scheduler and the
 * HTTP handler do).
 */
#include "api/daily_job.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "store/db.h"
#include "store/insight.h"

/* Members per batch transaction: big enough that a million members take a
 * few dozen round trips, small enough that a batch holds its row locks for
 * a moment only. */
#define BATCH_IDS 50000

/* One run at a time in this daemon.  It is held while the run waits for
 * the database, so it must never be taken on an HTTP worker (a second run
 * there would block the thread its holder's fiber needs): the route runs
 * each job on a thread of its own (api/jobs.c). */
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool cancelled;

void daily_job_cancel(void)
{
    atomic_store(&cancelled, true);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* What the insight refresh of a run did, for its log line. */
struct insight_run {
    int refreshed; /* store_insight_refresh's 1 or 0 (a later snapshot exists) */
    struct insight_counts counts;
    double seconds;
};

static void log_run(const char *date, const struct daily_job_counts *c, int batches,
                    const struct insight_run *ir, const struct timespec *t0)
{
    char fields[480];

    snprintf(fields, sizeof(fields),
             "\"msg\":\"daily job done\",\"date\":\"%s\",\"birthday_gifts\":%lld,"
             "\"released\":%lld,\"expired_points\":%lld,\"downgrades\":%lld,\"batches\":%d,"
             "\"insight_refreshed\":%s,\"insight_members\":%lld,\"insight_buyers\":%lld,"
             "\"insight_seconds\":%.3f,\"seconds\":%.3f",
             date, (long long)c->birthday_gifts, (long long)c->released,
             (long long)c->expired_points, (long long)c->downgrades, batches,
             ir->refreshed == 1 ? "true" : "false", (long long)ir->counts.members,
             (long long)ir->counts.buyers, ir->seconds, seconds_since(t0));
    log_fields(LOG_INFO, fields);
}

/* The batches, the snapshot and the record, on `db`. */
static int run_on(struct db *db, const struct daily_job_params *p, const struct insight_params *ip,
                  struct daily_job_counts *out, int *batches, struct insight_run *ir, struct err *e)
{
    struct timespec t0;

    int64_t min_id, max_id;

    if (store_daily_member_range(db, &min_id, &max_id, e) < 0)
        return -1;
    for (int64_t lo = min_id - 1; max_id > 0 && lo < max_id;) {
        int64_t hi = max_id - lo > BATCH_IDS ? lo + BATCH_IDS : max_id;

        if (atomic_load(&cancelled))
            return err_internal(e, ERR_UNAVAILABLE, "daily job %s stopped: shutting down", p->date);
        if (store_daily_batch(db, p, lo, hi, out, e) < 0)
            return -1;
        (*batches)++;
        lo = hi;
    }
    if (atomic_load(&cancelled))
        return err_internal(e, ERR_UNAVAILABLE, "daily job %s stopped: shutting down", p->date);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ir->refreshed = store_insight_refresh(db, ip, &ir->counts, e);
    ir->seconds = seconds_since(&t0);
    if (ir->refreshed < 0)
        return -1;
    return store_daily_record(db, p->date, out, e);
}

int daily_job_run(const struct rules_snapshot *snap, const char *date, struct daily_job_counts *out,
                  struct err *e)
{
    const struct rules *r = &snap->rules;
    struct daily_job_params p = {date,
                                 r->timezone,
                                 r->birthday_bonus_points,
                                 r->expiry_months,
                                 r->tier_window_days,
                                 r->tier_downgrade_grace_days,
                                 snap->tier_codes_sql,
                                 snap->tier_mins_sql};
    struct insight_params ip = {date,
                                r->timezone,
                                r->insight_rfm_period_days,
                                rules_insight_high_name(r->insight_high),
                                r->insight_quantile_x100,
                                r->insight_silent_days,
                                r->insight_forgetting_days,
                                r->insight_lost_days,
                                r->earn_unit,
                                r->redemption_points_per_unit};
    struct insight_run ir = {0, {0, 0}, 0.0};
    struct timespec t0;
    struct db *db;
    int batches = 0, rc;

    *out = (struct daily_job_counts){0, 0, 0, 0};
    pthread_mutex_lock(&run_lock);
    if (atomic_load(&cancelled)) {
        /* A run that waited for this lock through a stop. */
        pthread_mutex_unlock(&run_lock);
        return err_internal(e, ERR_UNAVAILABLE, "daily job %s stopped: shutting down", date);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    db = db_open_own();
    rc = run_on(db, &p, &ip, out, &batches, &ir, e);
    db_close_own(db);
    pthread_mutex_unlock(&run_lock);
    if (rc == 0)
        log_run(date, out, batches, &ir, &t0);
    return rc;
}
