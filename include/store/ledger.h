/*
 * ledger.h - the points ledger: append-only entries, each written in the
 * same statement that moves the member's balance, so the entries always sum
 * to members.points_balance and every entry records balance_after.
 *
 * LOCK ORDER (the one place it is written; every transaction follows it,
 * which is why no interleaving can deadlock):
 *   1. members rows, in DESCENDING id order.  A purchase locks its member,
 *      then, when it earns the referral, the referrer - who enrolled first
 *      and so has the lower id.  The daily job locks each batch of members
 *      with ORDER BY id DESC before it touches any of them;
 *   2. rewards rows (stock), in ascending id order;
 *   3. rows owned by those members (redemptions, coupons, purchases,
 *      returns, ledger entries, point lots, birthday gifts, tier history) -
 *      these are only ever touched after their member's row is locked, so
 *      they never wait on each other.  The exception is a POS id's claim
 *      (pos_transactions), which another member's purchase of the same POS
 *      id may wait for: a purchase group (api/purchase_group.c), which
 *      locks all its members in step 1 and claims several POS ids, claims
 *      them in ascending (store_id, pos_transaction_id) order.
 * Idempotency records are claimed before step 1 (app.c): a key is only ever
 * locked by requests that share it.  A request alone waits for its one key
 * before it locks anything else.  A group (api/group_keys.c), which claims
 * several, claims them in ascending (scope, method, path, key) order and
 * never waits for one (store_idem_claim_queue): a key held elsewhere sends
 * its request alone.
 */
#ifndef LY_STORE_LEDGER_H
#define LY_STORE_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/db.h"

struct ledger_entry {
    int64_t id;
    int64_t member_id;
    const char *kind; /* earn bonus birthday referral redeem redeem_cancel return adjust expire */
    int64_t points;   /* signed */
    int64_t balance_after;
    int64_t purchase_id;    /* 0 when none */
    int64_t redemption_id;  /* 0 when none */
    int64_t return_id;      /* 0 when none */
    const char *reason;     /* NULL when none */
    const char *created_at; /* RFC 3339 UTC */
    const char *expires_at; /* RFC 3339 UTC, NULL when none */
};

/* The member row as locked for a balance change (step 1 of the lock order). */
struct member_lock {
    int64_t id;
    const char *status; /* active, suspended, closed */
    const char *tier;
    int64_t points_balance;
    int64_t pending_points; /* not yet spendable (pending_days) */
    int64_t spendable;      /* points_balance - pending_points; may be < 0 */
    /* The lock waited for a transaction that changed the member: the row is
     * that transaction's, but the pending sum was read in the statement's
     * snapshot, from before it.  Read it again (the lock is held now, so
     * the next statement's snapshot is after every such writer). */
    bool stale;
};

/*
 * Locks member `member_id` (SELECT ... FOR UPDATE) and reads what a balance
 * change needs; pending points are those of lots whose available_on is
 * after today in `timezone`.  ERR_NOT_FOUND when there is no such member.
 * Strings in `a`.  Must be called inside the request's transaction.
 */
int store_member_lock(struct db *db, int64_t member_id, const char *timezone, struct arena *a,
                      struct member_lock *out, struct err *e);

/* store_member_lock as a db_queue() statement, sent with others by the
 * caller's db_flush: *found tells whether there is such a member (no error
 * for none), and *out is filled when there is; when out->stale, the caller
 * must queue it again.  `out` and `found` must live until the flush. */
void store_member_lock_queue(struct db *db, int64_t member_id, const char *timezone,
                             struct arena *a, struct member_lock *out, bool *found);

/* One balance movement of a posting. */
struct ledger_move {
    const char *kind;   /* earn bonus birthday referral redeem redeem_cancel return adjust */
    int64_t points;     /* signed, non-zero */
    const char *reason; /* NULL when none */
};

/* What a posting needs beyond its moves.  Borrowed for the call. */
struct ledger_posting {
    int64_t member_id;
    int64_t purchase_id;   /* 0 when none; for every move */
    int64_t redemption_id; /* 0 when none */
    int64_t return_id;     /* 0 when none */
    /* When the points were earned (RFC 3339), which dates their lot: NULL
     * for now.  A purchase passes its occurred_at. */
    const char *occurred_at;
    const char *timezone;  /* the program's IANA zone: lots' calendar dates */
    int32_t expiry_months; /* lots expire at the end of the month this many after */
    int32_t pending_days;  /* earn and bonus lots become spendable this many days later */
    int nmoves;            /* 1..LEDGER_MAX_MOVES */
    const struct ledger_move *moves;
};

#define LEDGER_MAX_MOVES 8

/*
 * Posts the moves, in order, as ledger entries in one statement: the
 * balance moves by their sum, each entry records the balance after it,
 * negative moves take points out of the member's lots (spendable first,
 * then soonest expiry, then oldest; what no lot covers becomes debt) and
 * positive moves repay any debt, then start a lot with the rest.  Every
 * negative move must come before every positive one (a lot written by this
 * statement cannot be spent by it).  The caller has locked the member and
 * checked any floor (redemptions may not go below zero; returns may).
 * out[i] is the entry of moves[i] (strings in `a`).  -1 with ERR_NOT_FOUND
 * when there is no such member.
 */
int store_ledger_post(struct db *db, const struct ledger_posting *p, struct arena *a,
                      struct ledger_entry *out, struct err *e);

/* store_ledger_post with the transaction's COMMIT in the same round trip
 * (db_flush_commit), for a write whose posting is its last statement. */
int store_ledger_post_commit(struct db *db, const struct ledger_posting *p, struct arena *a,
                             struct ledger_entry *out, struct err *e);

/*
 * store_ledger_post as a db_queue() statement, sent with others by the
 * next db_flush(), which fails as store_ledger_post would.  `p` and `out`
 * must live until then.  A posting for a purchase (purchase_id set) writes
 * nothing when that purchase does not exist, so it can follow the
 * purchase's own insert in one round trip: when the insert found the POS id
 * taken, the posting fails with ERR_NOT_FOUND and has changed nothing.
 */
void store_ledger_post_queue(struct db *db, const struct ledger_posting *p, struct arena *a,
                             struct ledger_entry *out);

/*
 * A page of a member's entries, newest first: those with id < before_id
 * (0 = from the newest), at most `limit`.  *items is an arena array of *n
 * entries; *more tells whether older entries exist.  -1 with ERR_NOT_FOUND
 * when there is no such member (an existing member without entries is an
 * empty page).
 */
int store_ledger_list(struct db *db, int64_t member_id, int64_t before_id, int limit,
                      struct arena *a, struct ledger_entry **items, int *n, bool *more,
                      struct err *e);

#endif
