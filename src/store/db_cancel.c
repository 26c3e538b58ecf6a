/*
 * db_cancel.c - every statement in flight cancelled at once, for a stop
 * whose grace period has run out (store/db.h: db_cancel_all).
 *
 * db.c tracks each connection here once it is open, with the cancel
 * handle libpq made for it then, and stops tracking it before closing it.
 * PQcancel is libpq's one call meant for another thread: it sends the
 * request on a connection of its own and touches nothing of the PGconn, so
 * the owner of the connection goes on using it meanwhile and simply sees
 * its statement fail (57014).
 *
 * PQcancel connects to the server and waits for it, so it runs outside
 * the list's lock: a worker opening or closing a connection meanwhile does
 * not wait for it.  The handles in use are counted on their connection
 * (cancel_users); untracking one waits until no cancel uses its handle
 * (a closing connection waits for its own cancel at most), and only then
 * frees it.
 *
 * Must not touch a connection's PGconn but on its owner's thread (db_cancel_track,
 * called by db.c), nor run statements.
 */
#include <pthread.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/xmalloc.h"
#include "db_conn.h"
#include "store/db.h"

/* The open connections, in a list through their cancel_prev/next. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t unused = PTHREAD_COND_INITIALIZER; /* a cancel ended */
static struct db *head;

void db_cancel_track(struct db *db)
{
    db->cancel = PQgetCancel(db->conn);
    if (db->cancel == NULL)
        return; /* out of memory: this one will not be cancelled */
    pthread_mutex_lock(&lock);
    db->cancel_prev = NULL;
    db->cancel_next = head;
    db->cancel_users = 0;
    if (head != NULL)
        head->cancel_prev = db;
    head = db;
    pthread_mutex_unlock(&lock);
}

void db_cancel_untrack(struct db *db)
{
    if (db->cancel == NULL)
        return;
    pthread_mutex_lock(&lock);
    if (db->cancel_prev != NULL)
        db->cancel_prev->cancel_next = db->cancel_next;
    else
        head = db->cancel_next;
    if (db->cancel_next != NULL)
        db->cancel_next->cancel_prev = db->cancel_prev;
    while (db->cancel_users > 0)
        pthread_cond_wait(&unused, &lock);
    pthread_mutex_unlock(&lock);
    /* Off the list and unused: no cancel can take the handle any more. */
    PQfreeCancel(db->cancel);
    db->cancel = NULL;
}

int db_cancel_all(void)
{
    char why[256];
    struct db **dbs;
    int n = 0, asked = 0;

    pthread_mutex_lock(&lock);
    for (struct db *db = head; db != NULL; db = db->cancel_next)
        n++;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    dbs = xcalloc(n > 0 ? (size_t)n : 1, sizeof(dbs[0]));
    n = 0;
    for (struct db *db = head; db != NULL; db = db->cancel_next) {
        db->cancel_users++;
        dbs[n++] = db;
    }
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++) {
        int ok = PQcancel(dbs[i]->cancel, why, (int)sizeof(why));

        /* Each handle is given back as soon as its own cancel is done: a
         * connection closing waits for its cancel, not the whole batch. */
        pthread_mutex_lock(&lock);
        if (--dbs[i]->cancel_users == 0)
            pthread_cond_broadcast(&unused);
        pthread_mutex_unlock(&lock);
        if (ok)
            asked++;
        else
            log_msg(LOG_WARN, "cannot cancel a statement", why);
    }
    free(dbs);
    return asked;
}
