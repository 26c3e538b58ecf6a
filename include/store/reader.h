/*
 * reader.h - asynchronous reads on one connection in libpq's pipeline
 * mode, owned by one thread (an HTTP worker, which watches the
 * connection's socket in its own event loop).  A read is sent into the
 * connection's buffer at once; the owner flushes the buffer once per turn
 * of its loop, so every read its turn produced travels in one batch, and
 * one wake-up of the backend answers them all.
 *
 * For reads outside any transaction only (a SELECT that needs no lock and
 * sees the latest committed data): a failing statement aborts the rest of
 * its batch.
 *
 * Thread-safety: none; every call on a reader comes from its owner thread.
 */
#ifndef LY_STORE_READER_H
#define LY_STORE_READER_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "core/err.h"
#include "store/db.h"

/*
 * Called once per job, on the owner thread.  On success `res` is the
 * statement's result (PGRES_TUPLES_OK), owned by the callee (PQclear it),
 * and `e` is NULL; on failure `res` is NULL and `e` says why
 * (ERR_UNAVAILABLE when the database is unreachable or the job's batch was
 * aborted by another job's failure, ERR_INTERNAL otherwise).
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

/*
 * Tells the owner which socket to watch: `fd` (-1: none any more) for
 * input, and also for output while `want_write`.  Called whenever that
 * changes (a connect, a drop, a partial flush).
 */
typedef void (*reader_watch_fn)(void *arg, int old_fd, int fd, bool want_write);

struct reader;

/* A reader of `url` (borrowed for the reader's life); it connects on first
 * use and again after a failure, on a thread of its own, the jobs of the
 * meantime waiting for it (the socket to watch is then the connect's
 * eventfd).  Owned by the caller: reader_free. */
struct reader *reader_new(const char *url, reader_watch_fn watch, void *watch_arg);

/* Sends a job into the connection's buffer; `done` is called exactly once,
 * possibly before this returns (when the database is unreachable). */
void reader_submit(struct reader *r, struct reader_job *job);

/* Ends the batch of the jobs submitted since the last flush and sends
 * what the buffer holds; cheap when nothing is pending. */
void reader_flush(struct reader *r);

/* The watched socket is ready: send what is left, read what has arrived,
 * complete the jobs it finishes. */
void reader_ready(struct reader *r, bool readable, bool writable);

/* Fails whatever is in flight and closes the connection (first waiting
 * for a connect in progress to end). */
void reader_free(struct reader *r);

#endif
