/*
 * check.h - verification of the ledger invariant: for every member, the
 * ledger entries sum to points_balance, the newest entry's balance_after
 * equals it, and the unspent points of its lots sum to the balance, or to 0
 * when the balance is negative (migration 0005).
 */
#ifndef LY_STORE_CHECK_H
#define LY_STORE_CHECK_H

#include <stdint.h>

#include "core/err.h"
#include "store/db.h"

struct ledger_breach {
    int64_t member_id;
    int64_t balance;    /* members.points_balance */
    int64_t ledger_sum; /* sum of the member's entries */
    int64_t last_after; /* the newest entry's balance_after (0 without entries) */
    int64_t lots;       /* the unspent points of its lots */
};

/*
 * Scans every member.  Calls `report` for each breach (at most `max`
 * reported; all counted in *breaches).  Returns 0 when the scan ran (whatever
 * it found) or -1 with `e` set.
 */
int store_check_ledger(struct db *db, int max, void (*report)(const struct ledger_breach *b),
                       int64_t *members, int64_t *breaches, struct err *e);

#endif
