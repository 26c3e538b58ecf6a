/*
 * insight.h - the RFM segment and life-cycle stage snapshot (tables of
 * sql/migrations/0006_insight.sql): its set-based refresh for a local date,
 * and what the segments, lifecycle and concentration reports read.
 *
 * Strings returned are copies in the caller's arena; nothing here keeps a
 * PGresult.  Errors: ERR_UNAVAILABLE (database down or busy), ERR_INTERNAL.
 * Thread-safety: as the connection's (one thread at a time).
 */
#ifndef LY_STORE_INSIGHT_H
#define LY_STORE_INSIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct db;

/* The rule set's `insight` settings and the date.  Borrowed for the call. */
struct insight_params {
    const char *date;      /* YYYY-MM-DD, the snapshot's local date */
    const char *timezone;  /* the rules' IANA zone */
    int32_t period_days;   /* the RFM period: the period_days local days ending on `date` */
    const char *high;      /* "mean", "median" or "quantile" */
    int32_t quantile_x100; /* 1..99, for "quantile" */
    int32_t silent_days, forgetting_days, lost_days;
    int64_t earn_unit; /* points_per_unit points are worth earn_unit minor units (margin) */
    int64_t points_per_unit;
};

/* What a refresh counted. */
struct insight_counts {
    int64_t members; /* members in the snapshot (all but closed ones) */
    int64_t buyers;  /* of them, those with a purchase in the RFM period */
};

/*
 * Refreshes the snapshot for p->date in one transaction of its own under
 * the daily job's advisory lock (store_daily_begin): every member's row of
 * member_insights, the date's insight_snapshots row and its insight_groups.
 * Returns 1 when refreshed, 0 when a snapshot of a later date exists (the
 * snapshot only moves forward; nothing written), -1 on error (nothing
 * kept).  The connection must not be in a transaction.
 */
int store_insight_refresh(struct db *db, const struct insight_params *p, struct insight_counts *out,
                          struct err *e);

/* The newest snapshot date in [from, to] (YYYY-MM-DD): 1 with `date` set,
 * 0 when there is none, -1 on error. */
int store_insight_snapshot_in(struct db *db, const char *from, const char *to, char date[11],
                              struct err *e);

enum insight_group_kind { INSIGHT_BY_SEGMENT = 0, INSIGHT_BY_STAGE, INSIGHT_BY_TIER };

/* One total of a snapshot's members: by segment, by stage or by tier. */
struct insight_group {
    enum insight_group_kind kind;
    const char *key; /* segment, stage or tier; NULL for "none" (no segment or stage) */
    int64_t members;
    int64_t spend; /* net spend in the RFM period */
};

/*
 * The totals of snapshot `date` for the members enrolled at `store_id` and
 * in tier `tier` (NULL: any), by segment, by stage and by tier at once.
 * *rows is an arena array of *n groups (only non-empty ones).
 */
int store_insight_groups(struct db *db, const char *date, const char *store_id, const char *tier,
                         struct arena *a, struct insight_group **rows, int *n, struct err *e);

/* A spend decile of the buyers in a period. */
struct insight_decile {
    int decile; /* 1 = top spenders .. 10 */
    int64_t members;
    int64_t spend;  /* net spend in the period */
    int64_t margin; /* spend - the points they earned, valued at the redemption rate */
};

/* What the concentration report reads.  Borrowed for the call. */
struct insight_period {
    const char *from, *to; /* local dates, inclusive */
    const char *timezone;
    const char *store_id; /* NULL: any */
    const char *tier;     /* NULL: any */
    int64_t earn_unit;    /* redemption.points_per_unit points are worth earn_unit minor units */
    int64_t points_per_unit;
};

/*
 * The buyers (members not closed with a purchase in the period) cut into
 * ten groups by net spend, largest first (ties by member id), as ntile(10)
 * does; `out` gets the ten deciles in order, empty ones zero.  When the
 * snapshot of p->to has exactly [p->from, p->to] as its RFM period, they
 * are read from it (as of its refresh, at its rates);
 * otherwise computed from the purchases now.
 */
int store_insight_deciles(struct db *db, const struct insight_period *p,
                          struct insight_decile out[10], struct err *e);

#endif
