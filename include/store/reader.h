/*
 * reader.h - asynchronous reads: single statements sent on a few
 * connections in libpq's pipeline mode by one thread, so that a worker that
 * serves a read never sleeps waiting for the database and many reads share
 * each wake-up (of this thread, of the PostgreSQL backends, and of the HTTP
 * workers they are handed back to).
 *
 * For reads outside any transaction only (a SELECT that needs no lock and
 * sees the latest committed data): the pipeline puts many requests' reads
 * in one batch, and a failing statement aborts the rest of its batch.
 *
 * Thread-safety: reader_submit may be called from any thread; the `done`
 * callback runs on the reader's thread and must be short (hand the result
 * over and wake whoever waits for it).
 */
#ifndef LY_STORE_READER_H
#define LY_STORE_READER_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "store/db.h"

/*
 * Called once per job.  On success `res` is the statement's result
 * (PGRES_TUPLES_OK), owned by the callee from here on (PQclear it), and `e`
 * is NULL; on failure `res` is NULL and `e` says why (ERR_UNAVAILABLE when
 * the database is unreachable or the job's batch was aborted by another
 * job's failure, ERR_INTERNAL otherwise).
 */
typedef void (*reader_done_fn)(void *arg, PGresult *res, const struct err *e);

/* One read.  The caller fills the first five fields and keeps the job, the
 * statement and the parameters alive until `done` has been called. */
struct reader_job {
    const struct db_stmt *stmt;
    int nparams;
    const char *const *params;
    reader_done_fn done;
    void *arg;
    /* the reader's own */
    struct reader_job *next;
    int queries_left; /* results still due: the prepare, if sent, and the execute */
    bool got;         /* the current query has produced a result */
    PGresult *res;
    struct err err;
};

/* Starts the reader thread with `nconns` connections to `url` (borrowed for
 * the reader's life); connections are opened on first use and reopened
 * after a failure.  -1 with `e` set when the thread cannot start. */
int reader_start(const char *url, int nconns, struct err *e);

/* Queues a job; `done` will be called exactly once, possibly before this
 * returns. */
void reader_submit(struct reader_job *job);

/* Stops the thread after failing whatever is still queued or in flight;
 * safe when not started. */
void reader_stop(void);

#endif
