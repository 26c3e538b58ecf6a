/*
 * discounts.c - what comes off each line: the tier and promotion discount,
 * then the coupon, then the value paid with points.
 *
 * Pure, integer only.  Never touches excluded lines (no discount, no coupon
 * share, no redeemed share).  Does not check the member's balance.
 *
 * Interpretation of the contract:
 *   - "round-half-up(amount × (tier discount_pct + every firing promotion's
 *     discount_pct) / 100), capped at max_discount_pct": the promotions
 *     counted for a line are the firing ones that cover its category (the
 *     same coverage as for multipliers; a promotion limited to "fresh" does
 *     not discount tobacco).  The cap is applied to the percentage, so the
 *     line discount is round-half-up(amount × min(sum, max_discount_pct) /
 *     100) - which equals min(rounded discount, rounded cap) because
 *     rounding is monotonic - and never more than the amount.
 *   - The cap limits the tier and promotion discount only; the coupon comes
 *     "after that" and is limited by what is left of the lines.
 *   - A percentage coupon is round-half-up(pct × the non-excluded lines'
 *     total after discounts); a value coupon is its value; either is at most
 *     that total.
 *   - Redemption: value = redeem_points × earn.unit /
 *     redemption.points_per_unit, exactly; a remainder is a 400.  "At most
 *     max_bill_pct" is exact: value × 100 <= total × max_bill_pct, with
 *     total the non-excluded lines after discounts and coupon; the value is
 *     also never more than that total.
 */
#include <stdint.h>

#include "internal.h"

/* round-half-up(x × pct_x100 / 10000) for x, pct_x100 >= 0, saturated at
 * INT64_MAX (only reachable with a percentage above 100, which the callers
 * clamp to the amount anyway). */
static int64_t pct_of(int64_t x, int64_t pct_x100)
{
    u128 n = (u128)rules_nonneg(x) * (u128)rules_nonneg(pct_x100);
    u128 q = (n + 5000) / 10000;

    return q > (u128)INT64_MAX ? INT64_MAX : (int64_t)q;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

void discounts_compute(struct engine_work *w, struct engine_result *out)
{
    const struct rules *r = w->r;
    int64_t cap = rules_nonneg(r->max_discount_pct_x100);
    int64_t tier_pct = rules_nonneg(r->tiers[w->tier].discount_pct_x100);

    for (int i = 0; i < w->nlines; i++) {
        struct engine_line_out *line = &out->lines[i];
        const char *category = w->p->lines[i].category;
        int64_t weight[1 + RULES_MAX_PROMOTIONS];
        int64_t share[1 + RULES_MAX_PROMOTIONS];
        int who[1 + RULES_MAX_PROMOTIONS]; /* -1: the tier, else a promotion */
        int n = 0;
        int64_t pct = 0;

        if (line->excluded)
            continue;
        if (tier_pct > 0) {
            weight[n] = tier_pct;
            who[n++] = -1;
            pct += tier_pct;
        }
        for (int k = 0; k < w->npromotions; k++) {
            const struct rules_promotion *pr = &r->promotions[k];
            int64_t ppct = rules_nonneg(pr->discount_pct_x100);
            if (w->fires[k] && ppct > 0 && rules_promotion_covers(pr, category)) {
                weight[n] = ppct;
                who[n++] = k;
                pct += ppct;
            }
        }
        if (pct == 0)
            continue;

        line->discount = min64(pct_of(line->amount, min64(pct, cap)), line->amount);

        /* For `applied`: the line's discount split among the rules that gave
         * it, in proportion to their percentages (largest remainders, ties to
         * the tier, then to the earlier promotion), so that the entries add
         * up to the discounts exactly. */
        shares_split(line->discount, weight, n, share);
        for (int j = 0; j < n; j++) {
            if (who[j] < 0)
                w->tier_discount += share[j];
            else
                w->promo_discount[who[j]] += share[j];
        }
    }
}

/* The non-excluded lines' remaining amounts (amount - discount) as weights,
 * and their total. */
static int64_t remaining(const struct engine_work *w, const struct engine_result *out,
                         int64_t *weight)
{
    int64_t total = 0;

    for (int i = 0; i < w->nlines; i++) {
        const struct engine_line_out *line = &out->lines[i];
        weight[i] = line->excluded ? 0 : line->amount - line->discount;
        total += weight[i]; /* <= subtotal: cannot overflow */
    }
    return total;
}

void discounts_apply_coupon(struct engine_work *w, struct engine_result *out)
{
    const struct engine_coupon *c = &w->p->coupon;
    int64_t weight[ENGINE_MAX_LINES];
    int64_t share[ENGINE_MAX_LINES];
    int64_t value;

    if (c->kind != COUPON_VALUE && c->kind != COUPON_PCT)
        return;
    int64_t base = remaining(w, out, weight);
    if (c->kind == COUPON_VALUE)
        value = min64(rules_nonneg(c->value), base);
    else
        value = min64(pct_of(base, c->pct_x100), base);

    shares_split(value, weight, w->nlines, share);
    for (int i = 0; i < w->nlines; i++) {
        out->lines[i].coupon_share = share[i];
        out->lines[i].discount += share[i];
    }
    w->coupon_value = value;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b != 0) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int discounts_apply_redeem(struct engine_work *w, struct engine_result *out, struct err *e)
{
    const struct rules *r = w->r;
    int64_t points = w->p->redeem_points;
    int64_t per_unit = r->redemption_points_per_unit;
    int64_t unit = r->earn_unit;
    int64_t weight[ENGINE_MAX_LINES];
    int64_t share[ENGINE_MAX_LINES];
    char pct[32];
    struct text t;

    if (points < 0)
        return err_field(e, "redeem_points", "must be 0 or more");
    out->points_redeemed = points;
    if (points == 0)
        return 0;
    if (per_unit <= 0 || unit <= 0)
        return err_field(e, "redeem_points", "points cannot be redeemed under the current rules");

    /* points × unit < 2^126: exact. */
    i128 num = (i128)points * unit;
    if (num % per_unit != 0)
        return err_field(e, "redeem_points",
                         "must be worth a whole number of minor units (a multiple of %lld)",
                         (long long)(per_unit / gcd64(unit, per_unit)));
    i128 value = num / per_unit;

    int64_t base = remaining(w, out, weight);
    int64_t max_pct = rules_nonneg(r->redemption_max_bill_pct_x100);
    /* value <= base < 2^63 is checked first, so value × 10000 cannot overflow. */
    if (value > base || value * 10000 > (i128)base * max_pct) {
        text_init(&t, pct, sizeof pct);
        text_x100(&t, max_pct);
        return err_field(e, "redeem_points", "worth more than %s%% of the bill (%lld)", pct,
                         (long long)base);
    }

    out->redeemed_value = (int64_t)value;
    shares_split(out->redeemed_value, weight, w->nlines, share);
    for (int i = 0; i < w->nlines; i++)
        out->lines[i].redeemed_share = share[i];
    return 0;
}
