/*
 * reports_feedback.h - what the kpis and complaints reports read
 * (GET /v1/reports/kpis, /v1/reports/complaints): counts and sums only,
 * computed set-based in PostgreSQL; ratios, rounding and bands are the
 * API layer's (src/api/reports_feedback.c).
 *
 * Every function reads without locking, outside any transaction of its
 * own, on the caller's connection.  The members a report covers are those
 * of `struct feedback_scope`; its period is [from, to], local dates in the
 * program's time zone, both included.
 *
 * Thread-safety: as the connection's (one thread at a time).
 */
#ifndef LY_STORE_REPORTS_FEEDBACK_H
#define LY_STORE_REPORTS_FEEDBACK_H

#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "store/db.h"

/* Borrowed for the call. */
struct feedback_scope {
    const char *store_id; /* NULL: every store (members.enrolled_store) */
    const char *tier;     /* NULL: every tier (members.tier, now) */
    const char *from;     /* YYYY-MM-DD */
    const char *to;       /* YYYY-MM-DD, not before from */
    const char *timezone; /* IANA name of the program's zone */
};

struct kpi_counts {
    int64_t buyers;           /* members with >= 1 purchase in the period */
    int64_t repeat_buyers;    /* ... with >= 2 */
    int64_t responses;        /* surveys in the period */
    int64_t satisfaction[5];  /* responses answering 1..5 */
    int64_t satisfaction_sum; /* sum of the answers */
    int64_t promoters;        /* recommend 9..10 */
    int64_t passives;         /* recommend 7..8 */
    int64_t detractors;       /* recommend 0..6 */
    int64_t referred;         /* enrolled in the period with a referrer */
    int64_t converted;        /* ... whose referral was granted */
    int64_t outstanding;      /* positive balances of the members not closed, now */
};

/* Points moved in one local calendar month, clipped to the period. */
struct kpi_month {
    const char *month; /* YYYY-MM */
    int64_t issued;    /* earn, bonus, birthday, referral, positive adjust */
    int64_t redeemed;  /* redeem net of redeem_cancel */
    int64_t expired;   /* expire */
};

/* The counts of the kpis report.  0 or -1. */
int store_kpi_counts(struct db *db, const struct feedback_scope *s, struct kpi_counts *out,
                     struct err *e);

/* One row per local calendar month the period touches, oldest first:
 * *months is an arena array of *n rows (strings in `a`).  0 or -1. */
int store_kpi_months(struct db *db, const struct feedback_scope *s, struct arena *a,
                     struct kpi_month **months, int *n, struct err *e);

/* Complaints filed in the period, counted by their status now. */
struct complaint_stats {
    const char *category;        /* NULL for the total row */
    int64_t open;                /* open or in_progress */
    int64_t resolved;            /* resolved */
    const char *median_hours;    /* decimal text, 2 places; NULL when none resolved */
    int64_t compensation_points; /* given by the resolved ones */
};

/* The total (row 0, category NULL) and one row per category in code
 * order: *rows is an arena array of *n >= 1 rows.  0 or -1. */
int store_complaint_stats(struct db *db, const struct feedback_scope *s, struct arena *a,
                          struct complaint_stats **rows, int *n, struct err *e);

#endif
