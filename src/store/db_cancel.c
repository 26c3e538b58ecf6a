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
 * Must not touch a connection's PGconn but on its owner's thread (db_cancel_track,
 * called by db.c), nor run statements.
 */
#include <pthread.h>

#include "core/log.h"
#include "db_conn.h"
#include "store/db.h"

/* The open connections, in a list through their cancel_prev/next. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct db *head;

void db_cancel_track(struct db *db)
{
    db->cancel = PQgetCancel(db->conn);
    if (db->cancel == NULL)
        return; /* out of memory: this one will not be cancelled */
    pthread_mutex_lock(&lock);
    db->cancel_prev = NULL;
    db->cancel_next = head;
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
    pthread_mutex_unlock(&lock);
    /* Freed outside the lock, but after leaving the list: db_cancel_all
     * holds the lock for as long as it uses any handle. */
    PQfreeCancel(db->cancel);
    db->cancel = NULL;
}

int db_cancel_all(void)
{
    char why[256];
    int asked = 0;

    pthread_mutex_lock(&lock);
    for (struct db *db = head; db != NULL; db = db->cancel_next) {
        if (PQcancel(db->cancel, why, (int)sizeof(why)))
            asked++;
        else
            log_msg(LOG_WARN, "cannot cancel a statement", why);
    }
    pthread_mutex_unlock(&lock);
    return asked;
}
