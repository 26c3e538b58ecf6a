/*
 * engine.c - engine_compute(): one purchase through the rules, step by step.
 *
 * Orchestration only: checks the lines, gathers the facts (tier, birthday
 * window, firing promotions, per-line multipliers), then runs discounts.c
 * (tier and promotion discounts, coupon, redemption), points.c, the totals,
 * the tier after, and applied.c.  Pure: no I/O, no clock, no allocation, no
 * global state; the same inputs give the same bytes in *out.
 *
 * Interpretation of the contract, beyond what the other files say:
 *   - The tier used is the member's current tier; a code the rule set does
 *     not know (a tier removed by a new rule set) is tiers[0].
 *   - A promotion fires when starts_at <= occurred_at < ends_at and its
 *     `when` holds.  Its bonus_points count once the promotion fires, even
 *     if none of its categories is bought ("plus every firing promotion's
 *     bonus_points").
 *   - The highest multiplier among the firing promotions that cover a line
 *     applies to it (1 when none covers it); equal multipliers: the earlier
 *     promotion gets the credit in `applied`.
 *   - Net spend of a line = amount - discount (coupon share included) -
 *     redeemed share; 0 for excluded lines.  The contract's "amount -
 *     discount - coupon share - redeemed share" names the tier + promotion
 *     discount "discount"; lines[].discount already holds the coupon share
 *     ("it is part of lines[].discount"), so it is subtracted once.  The
 *     same holds for "its discount" in the points formula.  tier_after is the highest tier
 *     whose min_spend <= qualifying_spend + net spend, never below the tier
 *     before (a sum that does not fit counts as INT64_MAX).
 *   - The line limits of the contract (quantity 1..100000, unit_price
 *     0..100000000000, 1..500 items) are checked again here so that no
 *     caller can make a product overflow; every line error is reported.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

#define QUANTITY_MAX   100000
#define UNIT_PRICE_MAX INT64_C(100000000000)

/* Amounts, exclusion and the subtotal.  -1 with every bad line named. */
static int check_lines(struct engine_work *w, struct engine_result *out, struct err *e)
{
    const struct engine_purchase *p = w->p;
    bool bad = false;
    char field[48];

    if (p->nlines < 1 || p->nlines > ENGINE_MAX_LINES || p->lines == NULL)
        return err_field(e, "items", "must have 1 to %d items", ENGINE_MAX_LINES);
    w->nlines = out->nlines = p->nlines;
    for (int i = 0; i < p->nlines; i++) {
        const struct engine_line_in *in = &p->lines[i];
        if (in->quantity < 1 || in->quantity > QUANTITY_MAX) {
            err_field(e, text_item_field(field, sizeof field, i, "quantity"), "must be 1 to %d",
                      QUANTITY_MAX);
            bad = true;
        }
        if (in->unit_price < 0 || in->unit_price > UNIT_PRICE_MAX) {
            err_field(e, text_item_field(field, sizeof field, i, "unit_price"), "must be 0 to %lld",
                      (long long)UNIT_PRICE_MAX);
            bad = true;
        }
    }
    if (bad)
        return -1;

    for (int i = 0; i < p->nlines; i++) {
        struct engine_line_out *line = &out->lines[i];

        memset(line, 0, sizeof *line);
        /* 1e5 × 1e11 = 1e16 and 500 of those fit; checked all the same. */
        if (__builtin_mul_overflow(p->lines[i].quantity, p->lines[i].unit_price, &line->amount) ||
            __builtin_add_overflow(out->subtotal, line->amount, &out->subtotal))
            return err_field(e, "items", "the total of this purchase does not fit");
        line->excluded = rules_is_excluded(w->r, p->lines[i].category);
    }
    return 0;
}

/* Tier, birthday window, firing promotions and each line's multipliers. */
static void gather_facts(struct engine_work *w, const struct engine_result *out)
{
    const struct rules *r = w->r;
    const struct engine_purchase *p = w->p;

    w->tier = rules_tier_index(r, w->m->tier);
    if (w->tier < 0)
        w->tier = 0;
    w->birthday = engine_in_birthday_window(r, w->m, &p->local);
    w->npromotions = rules_clamp_count(r->npromotions, RULES_MAX_PROMOTIONS);
    w->ncategory_multipliers = rules_clamp_count(r->ncategory_multipliers, RULES_MAX_CATEGORIES);

    for (int k = 0; k < w->npromotions; k++) {
        const struct rules_promotion *pr = &r->promotions[k];
        w->fires[k] = pr->starts_at_us <= p->occurred_at_us && p->occurred_at_us < pr->ends_at_us &&
                      engine_condition(r, pr->when, w->m, p, w->birthday);
    }

    for (int i = 0; i < w->nlines; i++) {
        const char *category = p->lines[i].category;
        w->cat_index[i] = -1;
        w->cat_mult[i] = 100;
        w->promo_best[i] = -1;
        w->promo_mult[i] = 100;
        if (out->lines[i].excluded)
            continue;
        for (int j = 0; j < w->ncategory_multipliers; j++)
            if (rules_code_eq(r->category_multipliers[j].category, category)) {
                w->cat_index[i] = j;
                w->cat_mult[i] = r->category_multipliers[j].multiplier_x100;
                break;
            }
        for (int k = 0; k < w->npromotions; k++) {
            const struct rules_promotion *pr = &r->promotions[k];
            if (w->fires[k] && rules_promotion_covers(pr, category) &&
                (w->promo_best[i] < 0 || pr->multiplier_x100 > w->promo_mult[i])) {
                w->promo_best[i] = k;
                w->promo_mult[i] = pr->multiplier_x100;
            }
        }
    }
}

/* Totals, net spend, bonus and the tier after.  -1 when points do not fit. */
static int sum_up(struct engine_work *w, struct engine_result *out, struct err *e)
{
    int64_t line_points = 0;

    for (int i = 0; i < w->nlines; i++) {
        struct engine_line_out *line = &out->lines[i];
        /* Every term is part of the subtotal, which fits. */
        out->discount_total += line->discount;
        line->net_spend = line->excluded ? 0 : line->amount - line->discount - line->redeemed_share;
        out->net_spend += line->net_spend;
        line_points += line->points; /* Σ = the floored total, which fits */
    }
    out->total_due = out->subtotal - out->discount_total - out->redeemed_value;

    for (int k = 0; k < w->npromotions; k++)
        if (w->fires[k] && __builtin_add_overflow(out->bonus_points,
                                                  rules_nonneg(w->r->promotions[k].bonus_points),
                                                  &out->bonus_points))
            return err_field(e, "items", "the points of this purchase do not fit");
    if (__builtin_add_overflow(line_points, out->bonus_points, &out->points_earned))
        return err_field(e, "items", "the points of this purchase do not fit");

    int64_t spend;
    if (__builtin_add_overflow(w->m->qualifying_spend, out->net_spend, &spend))
        spend = INT64_MAX;
    out->tier_before = w->tier;
    out->tier_after = tiers_for_spend(w->r, spend, w->tier);
    out->birthday_window = w->birthday;
    /* Semantics 5: the first purchase whose net spend reaches the threshold. */
    out->referral = w->m->referral_pending && out->net_spend >= w->r->referral_min_first_purchase;
    if (out->referral) {
        out->referee_points = rules_nonneg(w->r->referral_referee_points);
        out->referrer_points = rules_nonneg(w->r->referral_referrer_points);
    }
    return 0;
}

int engine_compute(const struct rules *r, const struct engine_member *m,
                   const struct engine_purchase *p, struct engine_result *out, struct err *e)
{
    struct engine_work w;

    /* Only what every computation reads is cleared: the result's header,
     * the lines it has (check_lines) and the applied entries it adds
     * (applied.c), and the work's scalars.  Clearing the whole of both
     * (77 KiB) cost more than the rest of the computation. */
    memset(out, 0, offsetof(struct engine_result, lines));
    memset(&w, 0, offsetof(struct engine_work, cat_index));
    w.r = r;
    w.m = m;
    w.p = p;
    if (rules_clamp_count(r->ntiers, RULES_MAX_TIERS) == 0)
        return err_internal(e, ERR_INTERNAL, "rule set without tiers");

    if (check_lines(&w, out, e) < 0)
        return -1;
    gather_facts(&w, out);
    discounts_compute(&w, out);
    discounts_apply_coupon(&w, out);
    if (discounts_apply_redeem(&w, out, e) < 0)
        return -1;
    if (points_compute(&w, out, e) < 0)
        return -1;
    if (sum_up(&w, out, e) < 0)
        return -1;
    applied_build(&w, out);
    return 0;
}
