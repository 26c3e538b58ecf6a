/*
 * rewards.h - the rewards catalog (rewards), redemptions and the coupons a
 * redemption issues or a cancellation withdraws.  (A purchase using a
 * coupon is store/coupons.h.)
 *
 * Every function runs on the caller's connection, inside the request's
 * transaction, one statement each.  Locks follow THE lock order of
 * store/ledger.h: the caller locks the member (store_member_lock) before
 * calling anything here that locks or writes a reward row (step 2) or a
 * redemption or coupon (step 3).
 *
 * Strings in the structs filled here are copies in the caller's arena `a`
 * (borrowed), valid until it is reset; nothing keeps a PGresult.  Values
 * arrive validated; the table constraints are the last line of defence.
 * Database failures set the codes of store/db.h (ERR_UNAVAILABLE when the
 * database is unreachable); codes specific to a function are listed with it.
 *
 * Thread-safety: as the connection's (one thread at a time).
 */
#ifndef LY_STORE_REWARDS_H
#define LY_STORE_REWARDS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/db.h"
#include "store/ledger.h"

/* Public id prefixes: ids are opaque strings to clients. */
#define REWARD_ID_PREFIX     "rwd_"
#define REDEMPTION_ID_PREFIX "red_"

/* Bounds the schema enforces (sql/migrations/0004_rewards.sql). */
#define REWARD_POINTS_COST_MAX    1000000000000LL
#define REWARD_DISCOUNT_VALUE_MAX 100000000000LL
#define REWARD_STOCK_MAX          1000000000LL
#define REWARD_LIMIT_MAX          1000000LL
#define REDEMPTION_QUANTITY_MAX   100

/* A coupon code: "XXXX-XXXX-XXXXX", 13 symbols of SECRET_READABLE (over 64
 * bits), plus NUL. */
#define COUPON_CODE_SIZE 16

/* A catalog row as stored. */
struct reward {
    int64_t id;
    const char *code;
    const char *name;
    const char *kind; /* "gift" or "discount" */
    int64_t points_cost;
    int64_t discount_value;    /* minor units; 0 = none */
    int32_t discount_pct_x100; /* hundredths of a percent; 0 = none */
    int64_t stock;             /* what remains; -1 = unlimited */
    const char *min_tier;      /* tier code, NULL = none */
    int64_t per_member_limit;  /* 0 = none */
    const char *valid_from;    /* RFC 3339 UTC, NULL = none */
    const char *valid_until;   /* RFC 3339 UTC, NULL = none */
    bool active;
    bool available; /* active and inside its validity at the statement's time */
    const char *created_at;
    const char *updated_at;
};

/*
 * Every writable field of a reward, as insert and update take them (an
 * update writes them all: the caller merges a PATCH into the current row).
 * Strings borrowed for the call; valid_from / valid_until are RFC 3339 text
 * with any offset, already checked.
 */
struct reward_fields {
    const char *code;
    const char *name;
    const char *kind;
    int64_t points_cost;
    int64_t discount_value;    /* 0 = none */
    int32_t discount_pct_x100; /* 0 = none */
    int64_t stock;             /* -1 = unlimited */
    const char *min_tier;      /* NULL = none */
    int64_t per_member_limit;  /* 0 = none */
    const char *valid_from;    /* NULL = none */
    const char *valid_until;   /* NULL = none */
    bool active;
};

/* A redemption with its coupon codes (in issue order). */
struct redemption {
    int64_t id;
    int64_t member_id;
    int64_t reward_id;
    int32_t quantity;
    int64_t points_spent;
    int64_t balance_after; /* the member's balance right after the redemption */
    const char *status;    /* "issued", "used" or "cancelled" */
    const char *created_at;
    const char *cancelled_at; /* NULL unless cancelled */
    int ncodes;
    const char **codes; /* arena array of ncodes arena strings */
};

/* ------------------------------------------------------------ catalog -- */

/* Inserts a reward; *out is the stored row.  ERR_CONFLICT (field "code")
 * when the code is taken. */
int store_reward_insert(struct db *db, const struct reward_fields *in, struct arena *a,
                        struct reward *out, struct err *e);

enum reward_lock { REWARD_NO_LOCK = 0, REWARD_KEY_SHARE, REWARD_FOR_UPDATE };

/*
 * The reward `id`, locking its row as `lock` says (step 2 of the lock order,
 * so any member row must be locked first): REWARD_KEY_SHARE for redeeming
 * and cancelling (the row cannot be deleted or re-keyed, yet redemptions of
 * one reward do not wait for each other), REWARD_FOR_UPDATE for changing
 * the reward itself (it waits for stock takers).  ERR_NOT_FOUND ("reward
 * not found") when there is none.
 */
int store_reward_get(struct db *db, int64_t id, enum reward_lock lock, struct arena *a,
                     struct reward *out, struct err *e);

/*
 * A redemption's two locks in one round trip, in THE order: member
 * `member_id` as store_member_lock, then reward `reward_id` as
 * store_reward_get with REWARD_KEY_SHARE (none when `reward_id` is 0).
 * *member_found and *reward_found tell which exist; *m and *w are filled
 * for those that do.  -1 only when the statements themselves fail.
 */
int store_redemption_locks(struct db *db, int64_t member_id, const char *timezone,
                           int64_t reward_id, struct arena *a, struct member_lock *m,
                           bool *member_found, struct reward *w, bool *reward_found, struct err *e);

/* store_reward_get with REWARD_KEY_SHARE as a db_queue() statement (for
 * several redemptions in one round trip, api/redemption_group.c): *found
 * tells whether there is such a reward (no error for none), *out is filled
 * when there is.  `out` and `found` must live until the flush. */
void store_reward_lock_queue(struct db *db, int64_t reward_id, struct arena *a, struct reward *out,
                             bool *found);

/* Overwrites every field of reward `id` (locked by the caller) and bumps
 * updated_at.  ERR_NOT_FOUND, or ERR_CONFLICT (field "code"). */
int store_reward_update(struct db *db, int64_t id, const struct reward_fields *in, struct arena *a,
                        struct reward *out, struct err *e);

/*
 * A page of the catalog, newest first: rewards with id < before_id
 * (INT64_MAX = from the newest), at most `limit`.  Unless `all`, only
 * available ones (active, inside their validity).  With `tiers` non-NULL,
 * only rewards whose min_tier is NULL or one of the `ntiers` codes (borrowed).
 * *items is an arena array of *n rewards; *more says whether more follow.
 */
int store_reward_list(struct db *db, int64_t before_id, int limit, bool all,
                      const char *const *tiers, int ntiers, struct arena *a, struct reward **items,
                      int *n, bool *more, struct err *e);

/*
 * Moves the limited stock of reward `id` by `delta` (negative to take,
 * positive to give back) in one conditional UPDATE, which locks the row
 * until commit: concurrent takers serialise here and the stock is re-read
 * after the wait.  ERR_OUT_OF_STOCK when taking would go below zero.  Call it
 * only for a limited stock (an unlimited one has nothing to move).
 */
int store_reward_move_stock(struct db *db, int64_t id, int64_t delta, struct err *e);

/* store_reward_move_stock as a db_queue() statement: *moved tells, after
 * the caller's flush, whether the stock moved (false: not enough left).
 * `moved` must live until the flush. */
void store_reward_move_stock_queue(struct db *db, int64_t id, int64_t delta, bool *moved);

/* ------------------------------------------------------- redemptions -- */

/* Σ quantity of the member's redemptions of `reward_id` that are not
 * cancelled.  The member must be locked, so the sum cannot change under it. */
int store_redemption_live_quantity(struct db *db, int64_t member_id, int64_t reward_id,
                                   int64_t *sum, struct err *e);

/* store_redemption_live_quantity as a db_queue() statement: *sum is set by
 * the caller's flush, which fails as the call would.  `sum` must live
 * until then. */
void store_redemption_live_quantity_queue(struct db *db, int64_t member_id, int64_t reward_id,
                                          int64_t *sum);

/* A redemption to record; borrowed for the call. */
struct redemption_new {
    int64_t member_id;
    int64_t reward_id;
    int32_t quantity;
    int64_t points_spent;
    int64_t balance_after;
    int ncodes;
    const char *const *codes; /* the coupons' codes, in issue order */
};

/*
 * Records a redemption (status issued) and its coupons, in one statement;
 * *out is the stored redemption (strings in `a`).  The member and the
 * reward are locked by the caller.  ERR_CONFLICT on the (astronomically
 * unlikely) clash of a coupon code.
 */
int store_redemption_insert(struct db *db, const struct redemption_new *in, struct arena *a,
                            struct redemption *out, struct err *e);

/* store_redemption_insert as a db_queue() statement, sent with others by
 * the next db_flush(), which fails as store_redemption_insert would (but
 * for the clash's detail).  `out` must live until then. */
void store_redemption_insert_queue(struct db *db, const struct redemption_new *in, struct arena *a,
                                   struct redemption *out);

/*
 * The redemption `id`, without locking (to learn its member and reward
 * before locking them in order).  ERR_NOT_FOUND ("redemption not found").
 */
int store_redemption_get(struct db *db, int64_t id, struct arena *a, struct redemption *out,
                         struct err *e);

/*
 * Locks redemption `id` of `member_id` (step 3: member and reward already
 * locked) and reads it as it now is.  ERR_NOT_FOUND.
 */
int store_redemption_lock(struct db *db, int64_t member_id, int64_t id, struct arena *a,
                          struct redemption *out, struct err *e);

/*
 * Cancels an issued redemption (locked by the caller) and its issued
 * coupons; *out is the redemption afterwards.  ERR_CONFLICT when it is no
 * longer issued.  Points and stock are the caller's (ledger, move_stock).
 */
int store_redemption_cancel(struct db *db, int64_t member_id, int64_t id, struct arena *a,
                            struct redemption *out, struct err *e);

/*
 * A page of a member's redemptions, newest first: ids < before_id
 * (INT64_MAX = from the newest), at most `limit`, each with its codes.
 */
int store_redemption_list(struct db *db, int64_t member_id, int64_t before_id, int limit,
                          struct arena *a, struct redemption **items, int *n, bool *more,
                          struct err *e);

#endif
