/*
 * daily.c - the daily job's scheduler (api/daily.h), modelled on
 * housekeeping.c: one thread that sleeps on a condition variable, so that
 * a stop wakes it at once.
 *
 * Each round asks PostgreSQL, in the zone of the active rules, which dates
 * are due (after the latest daily_jobs row, up to today) and how long it is
 * to the next local midnight, runs the due dates oldest first, then sleeps
 * until just after that midnight - or RECHECK_S at most, so a change of
 * time zone in the rules, or a date that failed while the database was
 * down, is picked up within minutes.
 *
 * Must not contain SQL or run a date that is not due (the job itself is
 * in daily_job.c).
 */
#include "api/daily.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "api/daily_job.h"
#include "api/rules_cache.h"
#include "core/arena.h"
#include "core/deadline.h"
#include "core/log.h"
#include "store/db.h"
#include "store/jobs.h"

#define SETTLE_S  2   /* after midnight: past the day boundary on any clock */
#define RECHECK_S 600 /* the longest sleep */
#define RETRY_S   60  /* after a failure */

static pthread_t thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;       /* deadline_cond_init, once */
static pthread_cond_t ended_cond; /* likewise */
static pthread_once_t conds_once = PTHREAD_ONCE_INIT;
static bool stopping;
static bool started;
static bool running; /* in run_due: a run may be on the database */
static bool ended;   /* the thread is about to return */

static bool is_stopping(void)
{
    bool s;

    pthread_mutex_lock(&lock);
    s = stopping;
    pthread_mutex_unlock(&lock);
    return s;
}

static void log_failure(const char *what, const char *date, const struct err *e)
{
    char detail[700];

    snprintf(detail, sizeof(detail), "%s%s%s", date ? date : "", date ? ": " : "",
             e->internal[0] ? e->internal : e->detail);
    log_msg(LOG_WARN, what, detail);
}

/* Runs what is due; returns the seconds to sleep. */
static long run_due(void)
{
    const struct rules_snapshot *snap = rules_cache_acquire();
    struct arena a;
    struct err e;
    struct db *db;
    char(*dates)[11] = NULL;
    int n = 0;
    int64_t to_midnight = RETRY_S;
    long sleep_s = RETRY_S;

    arena_init(&a);
    err_clear(&e);
    db = db_acquire(&e);
    if (db == NULL || store_daily_due(db, snap->rules.timezone, DAILY_CATCH_UP_DAYS, &a, &dates, &n,
                                      &to_midnight, &e) < 0) {
        log_failure("daily job: cannot tell which dates are due", NULL, &e);
        goto out;
    }
    db_release(db);
    db = NULL;
    for (int i = 0; i < n && !is_stopping(); i++) {
        struct daily_job_counts c;

        err_clear(&e);
        if (daily_job_run(snap, dates[i], &c, &e) < 0) {
            log_failure("daily job failed", dates[i], &e);
            goto out;
        }
    }
    sleep_s = to_midnight + SETTLE_S < RECHECK_S ? (long)to_midnight + SETTLE_S : RECHECK_S;
out:
    if (db != NULL)
        db_release(db);
    arena_free(&a);
    rules_cache_release(snap);
    return sleep_s;
}

static void *loop(void *arg)
{
    struct timespec deadline;

    (void)arg;
    pthread_mutex_lock(&lock);
    while (!stopping) {
        long sleep_s;

        running = true;
        pthread_mutex_unlock(&lock);
        sleep_s = run_due();
        pthread_mutex_lock(&lock);
        running = false;
        deadline_in(&deadline, sleep_s * 1000L);
        while (!stopping && pthread_cond_timedwait(&wake, &lock, &deadline) == 0)
            ;
    }
    ended = true;
    pthread_cond_broadcast(&ended_cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void conds_init(void)
{
    deadline_cond_init(&wake);
    deadline_cond_init(&ended_cond);
}

void daily_scheduler_start(void)
{
    pthread_once(&conds_once, conds_init);
    stopping = false;
    ended = false;
    started = pthread_create(&thread, NULL, loop, NULL) == 0;
    log_msg(started ? LOG_INFO : LOG_ERROR,
            started ? "daily job scheduler started" : "daily job scheduler did not start", NULL);
}

void daily_scheduler_stop(const struct timespec *until)
{
    struct timespec next;

    if (!started)
        return;
    daily_job_cancel();
    pthread_mutex_lock(&lock);
    stopping = true;
    pthread_cond_broadcast(&wake);
    while (!ended && pthread_cond_timedwait(&ended_cond, &lock, until) == 0)
        ;
    /* Past the grace: cancel what the job runs, again each second, as a
     * cancel that lands between two statements of a batch stops neither.
     * A thread between runs ends by itself at once. */
    while (!ended && !running)
        pthread_cond_wait(&ended_cond, &lock);
    while (!ended) {
        pthread_mutex_unlock(&lock);
        log_msg(LOG_WARN, "the daily job is still running after the grace period: cancelling",
                NULL);
        db_cancel_all();
        pthread_mutex_lock(&lock);
        deadline_in(&next, 1000);
        while (!ended && pthread_cond_timedwait(&ended_cond, &lock, &next) == 0)
            ;
    }
    pthread_mutex_unlock(&lock);
    pthread_join(thread, NULL);
    started = false;
}
