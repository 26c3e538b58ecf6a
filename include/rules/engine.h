/*
 * engine.h - the rules engine: one purchase, the member's facts and a rule
 * set in; every line's discount and points, the totals, the tier after and
 * an explanation of every rule that fired out.
 *
 * Pure: no I/O, no clock (times come in), no time-zone database (the caller
 * passes the purchase's local calendar fields), no allocation (the result
 * is a caller-owned struct).  Integer arithmetic only, exact or checked:
 * an overflow is a validation error, never a wrong number.
 */
#ifndef LY_RULES_ENGINE_H
#define LY_RULES_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "rules/rules.h"

#define ENGINE_MAX_LINES 500
/* Room for every rule of a rule set: 5 + promotions + category multipliers. */
#define ENGINE_MAX_APPLIED 128

struct engine_line_in {
    const char *sku;      /* borrowed */
    const char *category; /* borrowed */
    int64_t quantity;     /* 1..100000 */
    int64_t unit_price;   /* 0..100000000000 minor units */
};

/* The purchase's moment in the program time zone, computed by the caller. */
struct engine_local_time {
    int year, month, day; /* calendar date */
    int hour;             /* 0..23 */
    int weekday;          /* 0 = Monday .. 6 = Sunday */
};

enum engine_coupon_kind { COUPON_NONE = 0, COUPON_VALUE, COUPON_PCT };

struct engine_coupon {
    enum engine_coupon_kind kind;
    char code[RULES_CODE_MAX + 1]; /* for `applied` */
    int64_t value;                 /* COUPON_VALUE: minor units off */
    int32_t pct_x100;              /* COUPON_PCT */
};

struct engine_purchase {
    const struct engine_line_in *lines; /* borrowed, nlines of them */
    int nlines;
    const char *store_id; /* borrowed */
    int64_t occurred_at_us;
    struct engine_local_time local;
    int64_t redeem_points; /* >= 0 */
    struct engine_coupon coupon;
};

struct engine_member {
    const char *tier;         /* current tier code (borrowed) */
    int64_t qualifying_spend; /* net spend in the tier window before this purchase */
    int birthday_month;       /* 1..12, 0 when unknown */
    int birthday_day;         /* 1..31 */
    int64_t days_since_enrolled;
    int64_t purchase_count;
    int64_t days_since_last_purchase; /* -1 when none */
    /* Enrolled with a referral code whose reward has not been granted yet:
     * this purchase grants it when its net spend reaches
     * referral.min_first_purchase. */
    bool referral_pending;
    const char *segment;         /* "" when unknown (borrowed) */
    const char *lifecycle_stage; /* "" when unknown (borrowed) */
};

struct engine_line_out {
    int64_t amount;         /* quantity * unit_price */
    int64_t discount;       /* tier + promotions, then coupon share */
    int64_t coupon_share;   /* part of `discount` that came from the coupon */
    int64_t redeemed_share; /* part of the redeemed value paid on this line */
    int64_t net_spend;      /* amount - discount - redeemed_share (0 for excluded) */
    int64_t points;         /* whole points, remainders distributed */
    bool excluded;
};

struct engine_applied {
    char rule[RULES_CODE_MAX + 16]; /* "tier:gold", "promotion:weekend-fresh", ... */
    char kind[24]; /* tier_discount, promotion, multiplier, coupon, redeem (src/rules/applied.c) */
    char detail[160];
    int64_t points;   /* points this rule added (0 when not applicable) */
    int64_t discount; /* minor units this rule took off */
};

struct engine_result {
    int64_t subtotal;       /* sum of amounts */
    int64_t discount_total; /* sum of line discounts (coupon included) */
    int64_t redeemed_value; /* minor units paid with points */
    int64_t total_due;      /* subtotal - discount_total - redeemed_value */
    int64_t points_earned;  /* sum of line points + bonus_points */
    int64_t bonus_points;   /* promotions' bonus_points */
    int64_t points_redeemed;
    int64_t net_spend; /* sum of line net spend: qualifies for tiers and referral */
    int tier_before;   /* index into rules.tiers */
    int tier_after;
    bool birthday_window;
    /* The referral reward this purchase grants (semantics 5): both 0 when
     * it grants none.  Not part of points_earned: each is its own ledger
     * entry, the referee's on this member, the referrer's on the referrer. */
    bool referral;
    int64_t referee_points;
    int64_t referrer_points;
    int nlines;
    int napplied;
    /* Only lines[0 .. nlines) and applied[0 .. napplied) are written; the
     * entries past them hold whatever the memory held before. */
    struct engine_line_out lines[ENGINE_MAX_LINES];
    struct engine_applied applied[ENGINE_MAX_APPLIED];
};

/*
 * Computes a purchase.  Returns 0 with *out filled, or -1 with `e` set to
 * ERR_VALIDATION (field errors named as in the request body:
 * "redeem_points", "items[3].quantity", ...) for inputs the rules refuse
 * (redeemed value not whole minor units or over max_bill_pct, totals that do
 * not fit).  The member's spendable balance is not checked here.
 * Thread-safe: reads `r`, writes only `out` and `e`.
 */
int engine_compute(const struct rules *r, const struct engine_member *m,
                   const struct engine_purchase *p, struct engine_result *out, struct err *e);

/* Is the local date inside the member's birthday window (29 Feb -> 28 Feb
 * in other years)? */
bool engine_in_birthday_window(const struct rules *r, const struct engine_member *m,
                               const struct engine_local_time *t);

/* Evaluates promotion condition tree `node` for a purchase and member. */
bool engine_condition(const struct rules *r, int node, const struct engine_member *m,
                      const struct engine_purchase *p, bool birthday_window);

#endif
