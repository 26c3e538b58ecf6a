/*
 * db_pool.c - who gets which connection: the pool shared by the threads
 * without fibers (authentication lookups, background jobs, the CLI), each
 * worker's own connections for its fibers (db_local_init), and the
 * connections of their own that long background work opens.
 *
 * A worker's own connections never move between threads, so its loop can
 * keep watching their sockets; a fiber that finds them all taken sleeps
 * until one comes back, first come first served, handed over by
 * db_release.  lock_timeout and statement_timeout (db_connect) bound how
 * long anyone holds one.
 *
 * Must not run statements itself: db.c does, on the connection it is given.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/deadline.h"
#include "core/fiber.h"
#include "core/log.h"
#include "core/xmalloc.h"
#include "db_conn.h"
#include "store/db.h"

#define ACQUIRE_TIMEOUT_S 5

static struct {
    int size;
    struct db *dbs;
    struct db **free_list;
    int nfree;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_int in_use;
} pool;

/* A fiber waiting for one of its worker's connections (on its stack). */
struct local_waiter {
    struct fiber *fiber;
    struct db *db; /* handed over by db_release */
    struct local_waiter *next;
};

/* The connections of one worker thread, used only by its fibers. */
struct local_pool {
    struct db *dbs;
    struct db **free_list;
    int size, nfree;
    struct local_waiter *head, *tail; /* FIFO */
};

static int local_size;  /* per worker; 0: workers use the pool too */
static int local_total; /* of all workers, for db_pool_size */
static _Thread_local struct local_pool *local;

void db_pool_init(const char *url, int size)
{
    db_conn_init(url);
    pool.size = size;
    pool.dbs = xcalloc((size_t)size, sizeof(*pool.dbs));
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    pool.free_list = xcalloc((size_t)size, sizeof(*pool.free_list));
    for (int i = 0; i < size; i++) {
        pool.dbs[i].sock = -1;
        pool.free_list[i] = &pool.dbs[size - 1 - i];
    }
    pool.nfree = size;
    pthread_mutex_init(&pool.lock, NULL);
    deadline_cond_init(&pool.cond);
    atomic_store(&pool.in_use, 0);
}

void db_pool_cleanup(void)
{
    if (pool.dbs == NULL)
        return;
    for (int i = 0; i < pool.size; i++) {
        db_conn_close(&pool.dbs[i]);
        buf_cleanup(&pool.dbs[i].qtext);
    }
    free(pool.dbs);
    free(pool.free_list);
    pool.dbs = NULL;
    pool.free_list = NULL;
    pthread_cond_destroy(&pool.cond);
    pthread_mutex_destroy(&pool.lock);
}

int db_pool_in_use(void)
{
    return atomic_load_explicit(&pool.in_use, memory_order_relaxed);
}

int db_pool_size(void)
{
    return pool.size + local_total;
}

/* The calling worker's own connections, made on its first fiber's use. */
static struct local_pool *local_pool(void)
{
    if (local == NULL) {
        local = xcalloc(1, sizeof(*local));
        local->size = local_size;
        local->dbs = xcalloc((size_t)local_size, sizeof(*local->dbs));
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
        local->free_list = xcalloc((size_t)local_size, sizeof(*local->free_list));
        for (int i = 0; i < local_size; i++) {
            local->dbs[i].local = true;
            local->dbs[i].sock = -1;
            local->free_list[i] = &local->dbs[local_size - 1 - i];
        }
        local->nfree = local_size;
    }
    return local;
}

/* One of the worker's connections; the fiber sleeps, first come first
 * served, while all of them are in use (lock_timeout and
 * statement_timeout bound how long anyone holds one). */
static struct db *local_acquire(void)
{
    struct local_pool *lp = local_pool();
    struct local_waiter me = {fiber_self(), NULL, NULL};

    if (lp->nfree > 0)
        return lp->free_list[--lp->nfree];
    if (lp->tail != NULL)
        lp->tail->next = &me;
    else
        lp->head = &me;
    lp->tail = &me;
    while (me.db == NULL)
        fiber_sleep();
    return me.db;
}

struct db *db_acquire(struct err *e)
{
    struct db *db = NULL;
    struct timespec deadline;

    if (local_size > 0 && fiber_self() != NULL) {
        db = local_acquire();
        atomic_fetch_add_explicit(&pool.in_use, 1, memory_order_relaxed);
        if (db_conn_ensure(db, e) < 0) {
            db_release(db);
            return NULL;
        }
        return db;
    }

    deadline_in(&deadline, ACQUIRE_TIMEOUT_S * 1000L);
    pthread_mutex_lock(&pool.lock);
    while (pool.nfree == 0) {
        if (pthread_cond_timedwait(&pool.cond, &pool.lock, &deadline) != 0)
            break;
    }
    if (pool.nfree > 0)
        db = pool.free_list[--pool.nfree];
    pthread_mutex_unlock(&pool.lock);
    if (db == NULL)
        return err_internal(e, ERR_UNAVAILABLE, "no free database connection"), NULL;
    atomic_fetch_add_explicit(&pool.in_use, 1, memory_order_relaxed);
    if (db_conn_ensure(db, e) < 0) {
        db_release(db);
        return NULL;
    }
    return db;
}

void db_release(struct db *db)
{
    if (db == NULL)
        return;
    /* No transaction leaks into the next request. */
    db_conn_settle(db);
    atomic_fetch_sub_explicit(&pool.in_use, 1, memory_order_relaxed);
    if (db->local) {
        struct local_waiter *w;

        ly_assert(local != NULL && db >= local->dbs && db < local->dbs + local->size);
        w = local->head;
        if (w == NULL) {
            local->free_list[local->nfree++] = db;
            return;
        }
        local->head = w->next;
        if (local->head == NULL)
            local->tail = NULL;
        w->db = db;
        fiber_wake(w->fiber);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    pool.free_list[pool.nfree++] = db;
    pthread_cond_signal(&pool.cond);
    pthread_mutex_unlock(&pool.lock);
}

struct db *db_open_own(void)
{
    struct db *db = xcalloc(1, sizeof(*db));

    db->sock = -1;
    return db;
}

void db_close_own(struct db *db)
{
    if (db == NULL)
        return;
    db_conn_settle(db);
    db_conn_close(db);
    buf_cleanup(&db->qtext);
    free(db);
}

void db_local_init(int per_worker, int workers)
{
    ly_assert(per_worker >= 0 && workers >= 0);
    local_size = per_worker;
    local_total = per_worker * workers;
}

void db_local_end(void)
{
    if (local == NULL)
        return;
    /* Connections still held belong to requests a stop's grace period cut
     * short: their transactions end with the connection. */
    if (local->nfree != local->size)
        log_msg(LOG_WARN, "closing database connections still in use at the worker's end", NULL);
    for (int i = 0; i < local->size; i++) {
        db_conn_close(&local->dbs[i]);
        buf_cleanup(&local->dbs[i].qtext);
    }
    free(local->dbs);
    free(local->free_list);
    free(local);
    local = NULL;
}
