/*
 * ledger.h - the points ledger: append-only entries, each written in the
 * same statement that moves the member's balance, so the entries always sum
 * to members.points_balance and every entry records balance_after.
 *
 * LOCK ORDER (the one place it is written; every transaction follows it,
 * which is why no interleaving can deadlock):
 *   1. members rows, in ascending id order (a purchase that also rewards a
 *      referrer locks both members in ascending id order, before anything
 *      else);
 *   2. rewards rows (stock), in ascending id order;
 *   3. rows owned by those members (redemptions, coupons, purchases,
 *      ledger entries) - these are only ever touched after their member's
 *      row is locked, so they never wait on each other.
 * Idempotency records are claimed before step 1 (app.c): a key is only ever
 * locked by requests that share it, which do nothing else until it is free.
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
};

/*
 * Locks member `member_id` (SELECT ... FOR UPDATE) and reads what a balance
 * change needs.  ERR_NOT_FOUND when there is no such member.  Strings in
 * `a`.  Must be called inside the request's transaction.
 */
int store_member_lock(struct db *db, int64_t member_id, struct arena *a, struct member_lock *out,
                      struct err *e);

/*
 * Adds `points` (signed, non-zero) to the member's balance and appends the
 * entry in one statement; fills *out (strings in `a`).  The caller has
 * locked the member and checked any floor (redemptions may not go below
 * zero; returns may).  purchase_id / redemption_id 0 = none; reason may be
 * NULL.
 */
int store_ledger_append(struct db *db, int64_t member_id, const char *kind, int64_t points,
                        int64_t purchase_id, int64_t redemption_id, const char *reason,
                        struct arena *a, struct ledger_entry *out, struct err *e);

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
