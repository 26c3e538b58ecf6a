/*
 * simulate.h - the recorded purchases of a time window, read back in bulk
 * with everything the rules engine needs to compute each one again: its
 * lines, the member's facts as they were just before it, the local calendar
 * fields of its moment in a given time zone, and the totals that were
 * recorded for it.
 *
 * Read only: nothing here writes.  One statement, streamed in chunks
 * through a cursor of the caller's transaction, so memory stays bounded
 * whatever the number of purchases.  Strings and lines handed to the
 * visitor are borrowed until it returns; nothing keeps a PGresult.
 *
 * Thread-safety: as the connection's (one thread at a time).
 */
#ifndef LY_STORE_SIMULATE_H
#define LY_STORE_SIMULATE_H

#include <stdint.h>

#include "core/err.h"

struct db;

/* What to read.  Borrowed for the call. */
struct sim_query {
    int64_t from_us, to_us; /* from <= occurred_at < to, UTC microseconds */
    const char *timezone;   /* IANA zone PostgreSQL knows: the local calendar fields */
    int32_t window_days;    /* >= 1: the tier window of qualifying_spend */
};

/* One line as recorded.  The sku is not read: the engine names lines by
 * their index and computes with category, quantity and unit price only. */
struct sim_line {
    const char *category;
    int64_t quantity, unit_price;
};

/*
 * A recorded purchase and its context.  The member facts are those the
 * purchase was computed with when it was recorded, rebuilt from the
 * purchases table: purchase_count counts the member's purchases recorded
 * before it (lower id: ids are taken under the member lock), and
 * days_since_last_purchase looks at the latest occurred_at among them, as
 * members.purchase_count and last_purchase_at did.  qualifying_spend is the
 * recorded net spend (returns included) of the member's other purchases in
 * (occurred_at - window_days, occurred_at].  The birthday, the enrolment,
 * the RFM segment and the life-cycle stage are the member's today (the
 * newest insight snapshot for the last two; "" when the member has none).
 */
struct sim_purchase {
    int64_t id;
    int64_t member_id;
    const char *store_id;
    const char *tier_before; /* the tier the purchase was computed with */
    int64_t occurred_at_us;
    int local_year, local_month, local_day, local_hour;
    int local_weekday;       /* 0 = Monday .. 6 = Sunday */
    int64_t redeem_points;   /* the points redeemed, as recorded */
    const char *coupon_code; /* NULL when the purchase used no coupon */
    int64_t coupon_value;    /* the coupon's reward: minor units off, 0 when none */
    int32_t coupon_pct_x100; /* or a percentage, 0 when none */
    int birthday_month;      /* 0 when the member has no birthday */
    int birthday_day;
    int64_t days_since_enrolled;      /* local calendar days */
    int64_t purchase_count;           /* purchases recorded before this one */
    int64_t days_since_last_purchase; /* local calendar days, -1 when none */
    int64_t qualifying_spend;
    int64_t points_earned;       /* as recorded */
    int64_t discount_total;      /* as recorded */
    const char *segment;         /* "" when none */
    const char *lifecycle_stage; /* "" when none */
    int nlines;
    const struct sim_line *lines; /* in line order */
};

/* Called once per purchase; returning -1 (with `e` set) stops the scan. */
typedef int (*sim_visit_fn)(void *arg, const struct sim_purchase *p, struct err *e);

/*
 * Calls `visit` for every purchase with from <= occurred_at < to, ordered
 * by (member_id, id): all purchases of a member come one after another.
 * Must run inside a transaction (the cursor lives in it); the cursor is
 * closed on success, and by the rollback otherwise.  Returns 0, or -1 with
 * `e` set (by the database or by `visit`).
 */
int store_simulate_scan(struct db *db, const struct sim_query *q, sim_visit_fn visit, void *arg,
                        struct err *e);

#endif
