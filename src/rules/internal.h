/*
 * internal.h - what the files of src/rules/ share and nobody else sees: the
 * working state of one engine_compute() call and the steps that fill it.
 *
 * Like the rest of src/rules/ this is pure: no I/O, no clock, no allocation.
 * Every array is fixed-size and lives on the caller's stack (engine.c).
 */
#ifndef LY_RULES_INTERNAL_H
#define LY_RULES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "rules/engine.h"
#include "rules/rules.h"

/* -Wpedantic accepts the 128-bit types only behind __extension__. */
__extension__ typedef unsigned __int128 u128;
__extension__ typedef __int128 i128;

/*
 * The state of one computation.  Filled in this order by engine.c:
 * facts (tier, birthday, firing promotions, per-line lookups), then
 * discounts.c, then points.c; applied.c only reads it.
 */
struct engine_work {
    const struct rules *r;           /* borrowed */
    const struct engine_member *m;   /* borrowed */
    const struct engine_purchase *p; /* borrowed */
    int nlines;

    /* Counts of `r` clamped to their arrays, so a damaged rule set cannot
     * make the engine read out of bounds. */
    int npromotions;
    int ncategory_multipliers;

    int tier;      /* the tier used: the member's current tier, tiers[0] when unknown */
    bool birthday; /* the purchase's local date is in the member's birthday window */
    bool fires[RULES_MAX_PROMOTIONS];

    /* Tier and promotion discounts attributed to the rule that gave them. */
    int64_t tier_discount;
    int64_t promo_discount[RULES_MAX_PROMOTIONS];
    int64_t coupon_value;

    /* The exact points of the purchase: line i is points_num[i] / points_den. */
    u128 points_den;

    /* Per line, from here on (excluded lines keep the neutral values).
     * Only the first nlines entries are written, by gather_facts and
     * points_compute, before they are read; engine.c clears nothing from
     * cat_index on. */
    int cat_index[ENGINE_MAX_LINES];      /* index into category_multipliers, -1 for none */
    int32_t cat_mult[ENGINE_MAX_LINES];   /* x100; 100 without a category multiplier */
    int promo_best[ENGINE_MAX_LINES];     /* promotion whose multiplier applies, -1 for none */
    int32_t promo_mult[ENGINE_MAX_LINES]; /* x100; 100 without a covering promotion */
    u128 points_num[ENGINE_MAX_LINES];
};

/* ---------------------------------------------------------------- helpers -- */

/* `n` clamped to 0..max. */
static inline int rules_clamp_count(int n, int max)
{
    return n < 0 ? 0 : (n > max ? max : n);
}

/* A percentage or multiplier from the rule set; negative values (which
 * validation refuses) count as 0 so that no result can turn negative. */
static inline int64_t rules_nonneg(int64_t v)
{
    return v < 0 ? 0 : v;
}

/* Does the fixed-size code `code` (a rules.h array of RULES_CODE_MAX + 1)
 * equal the C string `s`?  An unterminated code or a NULL `s` never
 * matches. */
bool rules_code_eq(const char *code, const char *s);

/* Is `category` one of the rule set's excluded categories? */
bool rules_is_excluded(const struct rules *r, const char *category);

/* Does promotion `pr` cover `category` (every category when its list is
 * empty)? */
bool rules_promotion_covers(const struct rules_promotion *pr, const char *category);

/* ----------------------------------------------------------------- shares -- */

/*
 * Splits `total` (>= 0) among n (<= ENGINE_MAX_LINES) entries in proportion
 * to `weight` (negative weights count as 0): each share is the floor of its
 * exact part, then the units left over go one at a time to the largest
 * fractional parts, ties to the earlier entry.  All shares are 0 when the
 * weights sum to 0.  When total <= Σ weight no share exceeds its weight.
 */
void shares_split(int64_t total, const int64_t *weight, int n, int64_t *share);

/*
 * Adds 1 to out[i] for the `extra` entries with the largest frac[i] (ties:
 * the smaller i), n <= ENGINE_MAX_LINES.
 */
void shares_give_remainder(const u128 *frac, int n, int64_t extra, int64_t *out);

/* ------------------------------------------------------------------ tiers -- */

/* The highest tier index whose min_spend <= spend, never below `floor_index`. */
int tiers_for_spend(const struct rules *r, int64_t spend, int floor_index);

/* -------------------------------------------------------------- discounts -- */

/* Tier and promotion discounts of every line (capped), and their attribution. */
void discounts_compute(struct engine_work *w, struct engine_result *out);

/* The coupon, after the tier and promotion discounts. */
void discounts_apply_coupon(struct engine_work *w, struct engine_result *out);

/* The redeemed value, after the coupon.  -1 with ERR_VALIDATION on
 * "redeem_points" when the value is not whole or over max_bill_pct. */
int discounts_apply_redeem(struct engine_work *w, struct engine_result *out, struct err *e);

/* ----------------------------------------------------------------- points -- */

/* Every line's points and the purchase's line total.  -1 with
 * ERR_VALIDATION on "items" when a product does not fit. */
int points_compute(struct engine_work *w, struct engine_result *out, struct err *e);

enum points_multiplier { MULT_CATEGORY, MULT_TIER, MULT_BIRTHDAY, MULT_PROMOTION };

/* The points a multiplier added (see points.c for the definition); `index`
 * is the category multiplier or promotion index. */
int64_t points_added_by(const struct engine_work *w, const struct engine_result *out,
                        enum points_multiplier which, int index);

/* ---------------------------------------------------------------- applied -- */

/* Fills out->applied from the finished computation. */
void applied_build(const struct engine_work *w, struct engine_result *out);

/* A bounded string builder for the explanation texts: never overflows,
 * always NUL-terminated, cuts silently when full. */
struct text {
    char *buf;
    size_t cap;
    size_t len;
};

void text_init(struct text *t, char *buf, size_t cap);
void text_str(struct text *t, const char *s);
/* A code from the rule set: at most RULES_CODE_MAX bytes, terminated or not. */
void text_code(struct text *t, const char *code);
void text_i64(struct text *t, int64_t v);
/* A hundredths value as a decimal without trailing zeros: 125 -> "1.25", 200 -> "2". */
void text_x100(struct text *t, int64_t v);
/* "items[<i>].<name>" into buf (the field an item's error names); returns buf. */
const char *text_item_field(char *buf, size_t cap, int i, const char *name);

#endif
