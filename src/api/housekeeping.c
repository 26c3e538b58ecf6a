/*
 * housekeeping.c - one thread that wakes every few minutes for maintenance.
 * Several daemons may do the same work on one database; every task here is a
 * single idempotent statement, so that is harmless.
 */
#include "api/housekeeping.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "core/deadline.h"
#include "core/log.h"
#include "store/db.h"
#include "store/idempotency.h"

#define PERIOD_S 300

static pthread_t thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake; /* deadline_cond_init, once */
static pthread_once_t wake_once = PTHREAD_ONCE_INIT;
static bool stopping;
static bool started;

static void run_once(void)
{
    struct err e;
    struct db *db;
    long long deleted = 0;

    err_clear(&e);
    db = db_acquire(&e);
    if (db == NULL)
        return; /* the database is down; try again next period */
    if (store_idem_expire(db, &deleted, &e) < 0) {
        log_msg(LOG_WARN, "idempotency cleanup failed", e.internal);
    } else if (deleted > 0) {
        char fields[96];

        snprintf(fields, sizeof(fields), "\"msg\":\"idempotency keys expired\",\"count\":%lld",
                 deleted);
        log_fields(LOG_INFO, fields);
    }
    db_release(db);
}

static void *loop(void *arg)
{
    struct timespec deadline;

    (void)arg;
    pthread_mutex_lock(&lock);
    while (!stopping) {
        deadline_in(&deadline, PERIOD_S * 1000L);
        while (!stopping && pthread_cond_timedwait(&wake, &lock, &deadline) == 0)
            ;
        if (stopping)
            break;
        pthread_mutex_unlock(&lock);
        run_once();
        pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void wake_init(void)
{
    deadline_cond_init(&wake);
}

void housekeeping_start(void)
{
    pthread_once(&wake_once, wake_init);
    stopping = false;
    started = pthread_create(&thread, NULL, loop, NULL) == 0;
}

void housekeeping_stop(void)
{
    if (!started)
        return;
    pthread_mutex_lock(&lock);
    stopping = true;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);
    pthread_join(thread, NULL);
    started = false;
}
