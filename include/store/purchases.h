/*
 * purchases.h - recorded purchases: the context a purchase is computed in,
 * writing a purchase with its lines and its POS claim, reading purchases
 * back, and the balance view's one statement (mostly a sum over purchases).
 *
 * Strings in the output structs are copies in the caller's arena (`a`);
 * nothing here keeps a PGresult.  Every function runs on the caller's
 * connection, so a handler's calls share its transaction.  Values arrive
 * validated; the tables' constraints are the last line of defence.
 *
 * Thread-safety: as the connection's (one thread at a time).
 */
#ifndef LY_STORE_PURCHASES_H
#define LY_STORE_PURCHASES_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "core/arena.h"
#include "core/err.h"

struct db;
struct reader_job;

/* What the context of a purchase (or a quote) is looked up by.  Borrowed. */
struct purchase_context_query {
    int64_t member_id;       /* 0: find the member by card_number */
    const char *card_number; /* used when member_id is 0 */
    const char *occurred_at; /* RFC 3339 with offset */
    const char *timezone;    /* the rules' IANA zone: local calendar fields */
    int32_t window_days;     /* tier_window_days: qualifying spend */
    /*
     * A purchase (true): lock the member row (step 1 of the lock order in
     * store/ledger.h), reserve the new purchase's id and find a purchase
     * already recorded under (store_id, pos_transaction_id).  A quote
     * (false) does none of these.
     */
    bool for_purchase;
    const char *store_id;
    const char *pos_transaction_id;
};

/* A recorded purchase as a replay needs it. */
struct purchase_record {
    int64_t id; /* 0 when there is none */
    int64_t member_id;
    const char *store_id;
    const char *request_hash; /* 64 lowercase hex digits */
    const char *result;       /* the response body as first sent */
};

/* The member and the moment, as the rules engine needs them. */
struct purchase_context {
    int64_t member_id;
    const char *status; /* active, suspended, closed */
    const char *tier;
    int64_t points_balance;
    int64_t pending_points; /* not yet spendable: part of points_balance */
    int64_t referrer_id;    /* 0 when the member was not referred */
    bool referral_pending;  /* referred, and the referral not granted yet */
    bool before_enrolment;  /* occurred_at is more than a day before enrolment */
    int birthday_month;     /* 0 when the member has no birthday */
    int birthday_day;
    int64_t purchase_count;           /* purchases recorded before this one */
    int64_t days_since_enrolled;      /* local calendar days */
    int64_t days_since_last_purchase; /* local calendar days, -1 when none */
    int64_t qualifying_spend;         /* net spend in (occurred_at - window, occurred_at] */
    const char *segment;              /* the latest insight snapshot's, "" when none */
    const char *lifecycle_stage;      /* the latest insight snapshot's, "" when none */
    int local_year, local_month, local_day, local_hour;
    int local_weekday;               /* 0 = Monday .. 6 = Sunday */
    int64_t new_id;                  /* for_purchase, nothing recorded: the id to write */
    struct purchase_record recorded; /* for_purchase: the POS id's purchase */
};

/*
 * Reads the context in one statement.  For a purchase the member row stays
 * locked to the end of the transaction, and the result is as of after the
 * lock was granted (a purchase that committed while this one waited is
 * seen).  -1 with ERR_NOT_FOUND ("member not found") when no member has the
 * id or card.
 *
 * "As of after the lock" rests on one rule every writer keeps: a
 * transaction that changes a member's purchases (a purchase, a return)
 * also updates the member's row.  The statement compares the row version it
 * locked with the one its snapshot saw and reads again when they differ.
 */
int store_purchase_context(struct db *db, const struct purchase_context_query *q, struct arena *a,
                           struct purchase_context *out, struct err *e);

/* Where a queued context goes, and what became of it at the flush. */
enum purchase_context_state {
    PURCHASE_CTX_QUEUED,  /* not run: an earlier statement of the pipeline failed */
    PURCHASE_CTX_READ,    /* *out holds it */
    PURCHASE_CTX_STALE,   /* the lock waited for a writer: queue it again */
    PURCHASE_CTX_MISSING, /* no member has the id or card */
    PURCHASE_CTX_FAILED,  /* `e` says why */
};
struct purchase_context_read {
    struct purchase_context *out;
    struct arena *a;
    enum purchase_context_state state;
    struct err e;
};

/*
 * store_purchase_context's statement, queued (db_queue) to run with others
 * in one pipeline: the contexts of a purchase group (api/purchase_group.c).
 * At the flush `r` tells what became of it, and *out is filled when READ.
 * `out` and `r` (both filled here) must live until the flush.
 */
void store_purchase_context_queue(struct db *db, const struct purchase_context_query *q,
                                  struct arena *a, struct purchase_context *out,
                                  struct purchase_context_read *r);

/* One line as recorded.  Borrowed. */
struct purchase_line_row {
    const char *sku;
    const char *category;
    int64_t quantity, unit_price, amount, discount, redeemed_share, net_spend, points;
};

/* A purchase to record.  Borrowed for the call. */
struct purchase_new {
    int64_t id; /* purchase_context.new_id */
    int64_t member_id;
    const char *store_id;
    const char *terminal_id;
    const char *pos_transaction_id;
    const char *occurred_at; /* RFC 3339 */
    int64_t subtotal, discount_total, redeemed_value, total_due;
    int64_t points_earned, points_redeemed, net_spend;
    const char *tier_before;
    const char *tier_after;
    bool tier_changed; /* the member's tier becomes tier_after (and tier history says so) */
    int64_t qualifying_spend_after; /* for the tier history */
    const char *timezone;           /* the program zone: the history's effective date */
    int64_t bonus_points;           /* promotions' bonus (taken back by a full return) */
    bool referral_granted;          /* this purchase grants the member's referral */
    int64_t rules_version;
    const char *coupon_code;  /* NULL when none */
    const char *request_hash; /* 64 lowercase hex digits */
    const char *result;       /* the response body */
    int nlines;
    const struct purchase_line_row *lines;
};

struct ledger_posting;
struct ledger_entry;

/* What the write of one purchase tells at the flush. */
struct purchase_insert_read {
    const struct purchase_new *p;
    int rc; /* 1 written, 0 the POS id was taken, -1 not read */
};
struct purchase_write {
    struct purchase_insert_read insert;
    struct err e; /* the first failure reading its results */
};

/*
 * Queues the claim of the POS id and the write of the purchase, its lines,
 * the member's purchase facts (count, last purchase, tier, referral
 * granted) and a tier change's history in one statement, then, when
 * `posting` is not NULL, its ledger entries (store_ledger_post_queue;
 * entries[i] for posting->moves[i]).  The member must be locked; the
 * caller flushes, alone or beside other purchases' statements (a
 * purchase group), with the COMMIT when nothing follows.  `p`, `posting`,
 * `entries` and `w` must live until the flush.
 * store_purchase_record_result() then tells, for this purchase alone: 1
 * written, 0 when the POS id is recorded already (by another purchase:
 * nothing was written), -1 with `e`.
 */
void store_purchase_record_queue(struct db *db, const struct purchase_new *p,
                                 const struct ledger_posting *posting, struct arena *a,
                                 struct ledger_entry *entries, struct purchase_write *w);
int store_purchase_record_result(const struct purchase_write *w, struct err *e);

/* The purchase recorded under a POS id: 1 with *out filled, 0 none, -1. */
int store_purchase_find_by_pos(struct db *db, const char *store_id, const char *pos_transaction_id,
                               struct arena *a, struct purchase_record *out, struct err *e);

/* The purchase `id`: 0, or -1 with ERR_NOT_FOUND ("purchase not found"). */
int store_purchase_get(struct db *db, int64_t id, struct arena *a, struct purchase_record *out,
                       struct err *e);

/* A purchase in a member's list. */
struct purchase_summary {
    int64_t id;
    int64_t member_id;
    const char *store_id;
    const char *terminal_id;
    const char *pos_transaction_id;
    const char *occurred_at; /* RFC 3339 UTC */
    int64_t subtotal, discount_total, redeemed_value, total_due;
    int64_t points_earned, points_redeemed;
    const char *tier_after;
    int64_t rules_version;
    const char *created_at; /* RFC 3339 UTC */
};

/*
 * A page of a member's purchases, newest first: ids below before_id (0 =
 * from the newest), at most `limit`.  *items is an arena array of *n; *more
 * tells whether older ones exist.  -1 with ERR_NOT_FOUND for no such member.
 */
int store_purchase_list(struct db *db, int64_t member_id, int64_t before_id, int limit,
                        struct arena *a, struct purchase_summary **items, int *n, bool *more,
                        struct err *e);

/* What the balance view is computed with.  Borrowed. */
struct balance_query {
    int64_t member_id;
    const char *timezone;
    int32_t window_days; /* tier_window_days */
    int32_t grace_days;  /* tier_downgrade_grace_days */
    /* The tier ladder as PostgreSQL array literals (rules_snapshot's). */
    const char *tier_codes;
    const char *tier_min_spends;
};

struct balance_row {
    int64_t member_id;
    int64_t points_balance;
    const char *tier;
    int64_t qualifying_spend; /* net spend in (now - window, now] */
    /*
     * The first daily check (YYYY-MM-DD, program time zone) that drops the
     * member below its tier if it buys nothing more: the check on D drops it
     * when each day of [D - grace, D] had a window spend (purchases of the
     * window_days local days ending that day) below the tier's min_spend.
     * Today when that already holds.  Meaningless for the lowest tier.
     */
    const char *keep_by;
    int64_t pending_points; /* part of points_balance not yet spendable */
    /* Compact JSON text, as json_dumps(JSON_COMPACT) would write it: up to
     * three [{points, expires_at}] of unspent lots by expiry date, soonest
     * first (expires_at: the instant they expire). */
    const char *expiring;
};

/*
 * The balance view is one statement outside any transaction, run by the
 * asynchronous reader (store/reader.h): store_balance_view_job fills the
 * job's statement and parameters (copies in `a`; the caller sets done and
 * arg), and store_balance_view_read reads the result it delivers (taking
 * ownership of `res`): -1 with ERR_NOT_FOUND ("member not found").
 */
void store_balance_view_job(const struct balance_query *q, struct arena *a, struct reader_job *job);
int store_balance_view_read(PGresult *res, struct arena *a, struct balance_row *out, struct err *e);

#endif
