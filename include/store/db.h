/*
 * db.h - the PostgreSQL connection pool and the one way statements run.
 *
 * Only src/store/ includes this header; PGresult never leaves src/store/.
 * Every statement is a `struct db_stmt` (name + parameterised SQL) prepared
 * lazily, once per connection.  Connections are opened on first use and
 * re-opened after a failure, so the daemon starts and keeps running while
 * PostgreSQL is down, answering ERR_UNAVAILABLE meanwhile.
 *
 * Thread-safety: the pool is shared; a `struct db` belongs to one thread
 * between db_acquire() and db_release(), and a worker's own connections
 * to that worker.  Waits for the server go through fiber_wait_fd(): a
 * fiber sleeps, any other caller polls.
 */
#ifndef LY_STORE_DB_H
#define LY_STORE_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/arena.h"
#include "core/err.h"

struct db;

struct db_stmt {
    const char *name; /* unique prepared-statement name */
    const char *sql;  /* parameterised text: $1, $2, ... */
};

/* Creates the process-wide pool of `size` connections (opened lazily).
 * `url` is borrowed and must outlive the pool. */
void db_pool_init(const char *url, int size);
void db_pool_cleanup(void);
/* Connections taken now, and there are in all: the pool's and the
 * workers' own (db_local_init), opened or not. */
int db_pool_in_use(void);
int db_pool_size(void);

/*
 * Takes a connection, connecting if needed.  Inside a fiber on a thread
 * with connections of its own (db_local_init) it is one of those, the
 * fiber sleeping until one is free; elsewhere it is one of the pool's,
 * waiting up to a few seconds for a free one.  Returns NULL with
 * ERR_UNAVAILABLE.
 */
struct db *db_acquire(struct err *e);

/*
 * Gives each of the `workers` threads that run fibers (the HTTP workers)
 * `per_worker` connections of its own, opened lazily; its loop watches their sockets
 * while its fibers wait on them, so they never move between threads.
 * Called once before the workers start; 0 (the default) keeps everyone on
 * the pool.  db_local_end() closes the calling thread's, at its end.
 */
void db_local_init(int per_worker, int workers);
void db_local_end(void);

/* Gives the connection back, rolling back any open transaction. */
void db_release(struct db *db);

/*
 * A connection of its own, outside the pool, for long background work (the
 * daily job) that must neither wait for a request's connection nor hold
 * one for a minute.  Opened lazily by its first statement, like the pool's.
 * Returns a new struct db: db_close_own() it.  Thread-safety: one thread at
 * a time, as any struct db.
 */
struct db *db_open_own(void);
/* Rolls back any open transaction and closes; NULL is fine. */
void db_close_own(struct db *db);

/*
 * Asks PostgreSQL to cancel the statement that each open struct db (the
 * pool's, the workers', the background work's own; not the PGconns of
 * db_connect, whose statements the 15 s statement_timeout bounds) is
 * running: for a stop whose grace period has run out.  Such a statement fails as a
 * statement_timeout would (57014: ERR_UNAVAILABLE) and its transaction
 * rolls back; a connection between statements is not affected.  Returns
 * how many connections were asked.  Thread-safety: any thread; it blocks
 * while it reaches the server.
 */
int db_cancel_all(void);

/*
 * Opens a connection outside the pool (for the CLI commands and the
 * listener).  Returns a new PGconn (PQfinish it) or NULL with ERR_UNAVAILABLE.
 */
PGconn *db_connect(const char *url, struct err *e);

/* db_connect's arguments and result, for running it on a thread of its own
 * (core/beside.h: a connect blocks): db_connect_call(call) fills `conn`,
 * or `e` when that is NULL.  `url` is borrowed. */
struct db_connect_call {
    const char *url;
    PGconn *conn;
    struct err e;
};
void db_connect_call(void *call);

/*
 * Runs `st` with `n` text parameters (NULL = SQL NULL).  Returns a new
 * PGresult (PQclear it) of status TUPLES_OK or COMMAND_OK, or NULL with `e`
 * set: ERR_CONFLICT for unique violations, ERR_VALIDATION for check and
 * foreign-key violations, ERR_UNAVAILABLE when the connection is lost,
 * ERR_INTERNAL otherwise.  db_sqlstate() and db_constraint() then tell the
 * caller more.
 */
PGresult *db_exec(struct db *db, const struct db_stmt *st, int n, const char *const *params,
                  struct err *e);

/*
 * Statements in one round trip.  db_queue() keeps a statement (copying its
 * parameters) until db_flush(), which sends every queued statement in
 * libpq's pipeline mode (behind the transaction's BEGIN when that is still
 * to be sent), waits once, and hands each result, in order, to its `fn`
 * (which must not keep `res`; NULL: nobody reads it).  A failing statement makes the server skip
 * those after it; their `fn` is not called.  db_flush returns 0, or -1 with
 * `e` from the first failure: a statement's, or the first `fn` that
 * returned -1 (every result that came is still handed to its `fn`).
 */
#define DB_MAX_QUEUED 72 /* a purchase group: 32 purchases of two statements, the COMMIT */
#define DB_MAX_PARAMS 40
typedef int (*db_result_fn)(void *arg, const PGresult *res, struct err *e);
void db_queue(struct db *db, const struct db_stmt *st, int n, const char *const *params,
              db_result_fn fn, void *arg);
int db_flush(struct db *db, struct err *e);

/*
 * For the statements of several requests in one pipeline (a purchase
 * group, api/purchase_group.c), each of which must learn its own fate: the
 * `fn` of a statement queued after this call reports a failure to `own`
 * (borrowed; it must live until the flush, and start cleared) instead of
 * to db_flush's result; `own` keeps the first.
 * NULL, the default after every flush, reports to the flush again.  A
 * failing *statement* still fails the flush, and the whole transaction.
 */
void db_queue_errors_to(struct db *db, struct err *own);

/* Reads the first row of `res` into `out` (its strings in `a`): 1 read,
 * 0 for no row, -1 with `e` set. */
typedef int (*db_row_fn)(const PGresult *res, struct arena *a, void *out, struct err *e);
/* db_queue for a statement of at most one row: at the flush `read` fills
 * `out` when there is a row, and *found tells whether there was (no row
 * is no error).  `out` and `found` must live until the flush. */
void db_queue_row(struct db *db, const struct db_stmt *st, int n, const char *const *params,
                  struct arena *a, db_row_fn read, void *out, bool *found);

/*
 * db_flush with the transaction's COMMIT at the end of the same pipeline:
 * a write whose last statements need nothing after them ends in one round
 * trip instead of two.  A failing statement makes the server skip the
 * COMMIT: the transaction is then still open, for db_rollback.  Once the
 * COMMIT has run, the transaction is over even when an `fn` returned -1:
 * what the functions check can then only be reported, not undone.
 */
int db_flush_commit(struct db *db, struct err *e);

/* Like db_exec, for statements whose result is not needed.  Returns 0/-1. */
int db_run(struct db *db, const struct db_stmt *st, int n, const char *const *params,
           struct err *e);

/* db_exec of a statement whose one parameter ($1) is `id`. */
PGresult *db_exec_id(struct db *db, const struct db_stmt *st, int64_t id, struct err *e);

/*
 * Runs a keyset page statement whose last parameter is the page size:
 * params[n - 1] is set here to limit + 1, so that one row more than asked
 * tells whether a next page exists.  Returns the result as db_exec does,
 * with *rows = the rows that belong to the page (at most `limit`) and
 * *more = whether there are more.
 */
PGresult *db_exec_page(struct db *db, const struct db_stmt *st, int n, const char **params,
                       int limit, int *rows, bool *more, struct err *e);

/*
 * db_exec_page for a page of one owner's rows that the owner's row drives
 * ("SELECT o.id, l.* FROM owners o LEFT JOIN LATERAL (...) l ON true WHERE
 * o.id = $1"), with $1 = owner_id, $2 = before_id (NULL when 0: from the
 * newest) and $3 the page size.  No row at all is ERR_NOT_FOUND with the
 * detail `missing`; the owner's row alone (column 1 NULL) is an empty page.
 */
PGresult *db_exec_owned_page(struct db *db, const struct db_stmt *st, int64_t owner_id,
                             int64_t before_id, int limit, const char *missing, int *rows,
                             bool *more, struct err *e);

/* Transactions: one request's writes go into one transaction. */
int db_begin(struct db *db, struct err *e);
int db_commit(struct db *db, struct err *e);
void db_rollback(struct db *db);
int db_savepoint(struct db *db, struct err *e);
int db_rollback_to_savepoint(struct db *db, struct err *e);
bool db_in_tx(const struct db *db);

/* The SQLSTATE and constraint name of the last failed statement ("" if none). */
const char *db_sqlstate(const struct db *db);
const char *db_constraint(const struct db *db);

/* A timestamptz column rendered as the API shows times: RFC 3339 in UTC. */
#define DB_TIMESTAMP(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* Writes v as a decimal statement parameter into buf. */
void db_i64_text(int64_t v, char buf[24]);

struct buf;

/* Appends `s` as an element of a PostgreSQL array literal: quoted and
 * escaped, or NULL when `s` is NULL.  `first` omits the separator; the
 * caller writes the braces. */
void db_array_text(struct buf *b, bool first, const char *s);

/* A PostgreSQL bigint array literal, braces included, of the int64_t at
 * `offset` in each of `n` elements `stride` bytes apart from `base`:
 * {1,2,3} from an array of structs (or of int64_t, with stride 8). */
void db_i64_array(struct buf *b, const void *base, int n, size_t stride, size_t offset);

/* The row count of an INSERT, UPDATE or DELETE result. */
int64_t db_affected(const PGresult *res);

/* --- reading results (values are copied; nothing keeps the PGresult) --- */
bool db_is_null(const PGresult *res, int row, int col);
/* Parses an int8/int4 column; -1 with ERR_INTERNAL if it is not one. */
int db_get_i64(const PGresult *res, int row, int col, int64_t *out, struct err *e);
/* Returns an arena copy of a text column, or NULL when it is SQL NULL. */
char *db_get_str(const PGresult *res, int row, int col, struct arena *a);
bool db_get_bool(const PGresult *res, int row, int col);

#endif
