/*
 * tier_history.h - reading a member's tier changes (written by purchases
 * that upgrade and by the daily job that downgrades).
 *
 * Strings are copies in the caller's arena; nothing keeps a PGresult.
 */
#ifndef LY_STORE_TIER_HISTORY_H
#define LY_STORE_TIER_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/db.h"

struct tier_change {
    int64_t id;
    const char *from_tier;
    const char *to_tier;
    const char *reason;  /* purchase, downgrade */
    int64_t purchase_id; /* 0 when none */
    int64_t qualifying_spend;
    const char *effective_on; /* YYYY-MM-DD, program time zone */
    const char *created_at;   /* RFC 3339 UTC */
};

/*
 * A page of a member's tier changes, newest first: ids below before_id
 * (0 = from the newest), at most `limit`.  *items is an arena array of *n;
 * *more tells whether older ones exist.  -1 with ERR_NOT_FOUND for no such
 * member.
 */
int store_tier_history_list(struct db *db, int64_t member_id, int64_t before_id, int limit,
                            struct arena *a, struct tier_change **items, int *n, bool *more,
                            struct err *e);

#endif
