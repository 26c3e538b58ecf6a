/*
 * db_conn.h - what db.c (statements on one connection) and db_pool.c (who
 * gets which connection) share: `struct db` and a connection's own life.
 * Private to src/store/db*.c; everyone else sees store/db.h only.
 */
#ifndef LY_STORE_DB_CONN_H
#define LY_STORE_DB_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/buf.h"
#include "store/db.h"

#define MAX_PREPARED 256

struct db {
    PGconn *conn;
    int sock;   /* conn's socket as opened (libpq closes it on a failure); -1 */
    bool local; /* one of a worker's own (db_local_init) */
    bool in_tx;
    bool begin_pending; /* in_tx, and BEGIN not sent yet */
    bool broken;
    uint64_t last_connect_us;
    int nprepared;
    const struct db_stmt *prepared[MAX_PREPARED];
    char sqlstate[6];
    char constraint[64];
    /* statements waiting for db_flush, their parameters' text in `qtext` */
    int nqueued;
    struct queued {
        const struct db_stmt *st;
        int n;
        long off[DB_MAX_PARAMS]; /* into qtext; -1: NULL */
        db_result_fn fn;
        void *arg;
        struct err *own; /* where fn's failure goes; NULL: db_flush's */
    } queued[DB_MAX_QUEUED];
    struct err *own; /* db_queue_errors_to's, for the next db_queue */
    struct buf qtext;
    /* While the connection is open: libpq's cancel handle for it, its
     * place in db_cancel.c's list, and how many db_cancel_all calls are
     * using the handle (that file's lock guards all three). */
    PGcancel *cancel;
    struct db *cancel_prev, *cancel_next;
    int cancel_users;
};

/* The database every connection opens; `url` is borrowed for the
 * process's life. */
void db_conn_init(const char *url);

/* (Re)opens db's connection, at most once per backoff period.  Returns 0,
 * or -1 with ERR_UNAVAILABLE. */
int db_conn_ensure(struct db *db, struct err *e);

/* Closes db's connection (none is fine), first telling the thread's loop
 * to stop watching its socket. */
void db_conn_close(struct db *db);

/* db_cancel.c: db.c tracks each connection once it is open and stops
 * tracking it before closing it, so that db_cancel_all reaches it. */
void db_cancel_track(struct db *db);
void db_cancel_untrack(struct db *db);

/* Makes a connection coming back fit for its next user: drains what is
 * pending, rolls back an open transaction, clears the transaction state. */
void db_conn_settle(struct db *db);

#endif
