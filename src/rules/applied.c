/*
 * applied.c - the `applied` list of a purchase: one entry per rule that
 * fired and did something, so a cashier can answer "why these points".
 *
 * Reads the finished computation; changes no number of it.  Pure.
 *
 * Interpretation of "fired and did something": a rule is listed when it
 * applies to at least one non-excluded line with a setting that is not
 * neutral (a discount above 0 %, a multiplier other than 1), even if
 * rounding made its share 0; a promotion is also listed for its bonus
 * points alone; the coupon and the redemption are listed whenever the
 * purchase carries them.  Order: tier discount, promotions (rule-set
 * order), coupon, redemption, category multipliers (rule-set order), tier
 * multiplier, birthday multiplier, referral (listed when the purchase grants
 * it, even with 0 points: it is granted once).
 *
 *   rule                 kind           discount              points
 *   tier:<code>          tier_discount  its share of lines    0
 *   promotion:<code>     promotion      its share of lines    multiplier added + bonus
 *   coupon:<code>        coupon         coupon value applied  0
 *   redeem               redeem         redeemed value        0
 *   category:<category>  multiplier     0                     added
 *   tier:<code>          multiplier     0                     added
 *   birthday             multiplier     0                     added
 *   referral             referral       0                     the referee's points
 *
 * "Shares" of a line's tier + promotion discount are apportioned by
 * percentage (discounts.c), so the discount entries add up to the line
 * discounts exactly; "added" points are defined in points.c.
 */
#include <string.h>

#include "core/xmalloc.h" /* ly_assert only */
#include "internal.h"

_Static_assert(ENGINE_MAX_APPLIED >= 6 + RULES_MAX_PROMOTIONS + RULES_MAX_CATEGORIES,
               "every rule of a rule set must fit in `applied`");

static struct engine_applied *add(struct engine_result *out, const char *prefix, const char *code,
                                  const char *kind)
{
    struct text t;

    ly_assert(out->napplied < ENGINE_MAX_APPLIED);
    struct engine_applied *a = &out->applied[out->napplied++];
    memset(a, 0, sizeof *a);
    text_init(&t, a->rule, sizeof a->rule);
    text_str(&t, prefix);
    text_code(&t, code);
    text_init(&t, a->kind, sizeof a->kind);
    text_str(&t, kind);
    text_init(&t, a->detail, sizeof a->detail);
    return a;
}

/* Is there a non-excluded line? */
static bool any_line(const struct engine_result *out)
{
    for (int i = 0; i < out->nlines; i++)
        if (!out->lines[i].excluded)
            return true;
    return false;
}

/* Does promotion k discount some non-excluded line? */
static bool promo_discounts(const struct engine_work *w, const struct engine_result *out, int k)
{
    if (w->r->promotions[k].discount_pct_x100 <= 0)
        return false;
    for (int i = 0; i < out->nlines; i++)
        if (!out->lines[i].excluded &&
            rules_promotion_covers(&w->r->promotions[k], w->p->lines[i].category))
            return true;
    return false;
}

/* Is promotion k's multiplier the one used on some line? */
static bool promo_multiplies(const struct engine_work *w, const struct engine_result *out, int k)
{
    if (w->r->promotions[k].multiplier_x100 == 100)
        return false;
    for (int i = 0; i < out->nlines; i++)
        if (!out->lines[i].excluded && w->promo_best[i] == k)
            return true;
    return false;
}

static void add_promotion(const struct engine_work *w, struct engine_result *out, int k)
{
    const struct rules_promotion *pr = &w->r->promotions[k];
    bool multiplies = promo_multiplies(w, out, k);
    bool discounts = promo_discounts(w, out, k);
    int64_t bonus = rules_nonneg(pr->bonus_points);
    struct text t;

    if (!multiplies && !discounts && bonus == 0)
        return;
    struct engine_applied *a = add(out, "promotion:", pr->code, "promotion");
    text_init(&t, a->detail, sizeof a->detail);
    if (multiplies) {
        text_str(&t, "x");
        text_x100(&t, pr->multiplier_x100);
        text_str(&t, " points");
        a->points = points_added_by(w, out, MULT_PROMOTION, k);
    }
    if (discounts) {
        text_str(&t, t.len > 0 ? ", " : "");
        text_x100(&t, pr->discount_pct_x100);
        text_str(&t, "% off");
        a->discount = w->promo_discount[k];
    }
    if (bonus > 0) {
        text_str(&t, t.len > 0 ? ", +" : "+");
        text_i64(&t, bonus);
        text_str(&t, " bonus points");
        a->points += bonus; /* both are <= points_earned: no overflow */
    }
}

static void add_multiplier(struct engine_result *out, const char *prefix, const char *code,
                           int64_t mult_x100, const char *what, int64_t points)
{
    struct engine_applied *a = add(out, prefix, code, "multiplier");
    struct text t;

    text_init(&t, a->detail, sizeof a->detail);
    text_str(&t, "x");
    text_x100(&t, mult_x100);
    text_str(&t, " points ");
    text_str(&t, what);
    a->points = points;
}

void applied_build(const struct engine_work *w, struct engine_result *out)
{
    const struct rules *r = w->r;
    const struct rules_tier *tier = &r->tiers[w->tier];
    const struct engine_purchase *p = w->p;
    bool lines = any_line(out);
    struct engine_applied *a;
    struct text t;

    out->napplied = 0;
    if (tier->discount_pct_x100 > 0 && lines) {
        a = add(out, "tier:", tier->code, "tier_discount");
        text_init(&t, a->detail, sizeof a->detail);
        text_x100(&t, tier->discount_pct_x100);
        text_str(&t, "% off for tier ");
        text_code(&t, tier->code);
        a->discount = w->tier_discount;
    }

    for (int k = 0; k < w->npromotions; k++)
        if (w->fires[k])
            add_promotion(w, out, k);

    if (p->coupon.kind == COUPON_VALUE || p->coupon.kind == COUPON_PCT) {
        a = add(out, "coupon:", p->coupon.code, "coupon");
        text_init(&t, a->detail, sizeof a->detail);
        if (p->coupon.kind == COUPON_VALUE) {
            text_i64(&t, p->coupon.value);
            text_str(&t, " minor units off");
        } else {
            text_x100(&t, p->coupon.pct_x100);
            text_str(&t, "% off");
        }
        a->discount = w->coupon_value;
    }

    if (out->points_redeemed > 0) {
        a = add(out, "redeem", "", "redeem");
        text_init(&t, a->detail, sizeof a->detail);
        text_i64(&t, out->points_redeemed);
        text_str(&t, " points paid ");
        text_i64(&t, out->redeemed_value);
        text_str(&t, " minor units");
        a->discount = out->redeemed_value;
    }

    for (int j = 0; j < w->ncategory_multipliers; j++) {
        const struct rules_category_multiplier *cm = &r->category_multipliers[j];
        bool used = false;
        if (cm->multiplier_x100 == 100)
            continue;
        for (int i = 0; i < out->nlines && !used; i++)
            used = !out->lines[i].excluded && w->cat_index[i] == j;
        if (used) {
            char what[RULES_CODE_MAX + 8];
            text_init(&t, what, sizeof what);
            text_str(&t, "on ");
            text_code(&t, cm->category);
            add_multiplier(out, "category:", cm->category, cm->multiplier_x100, what,
                           points_added_by(w, out, MULT_CATEGORY, j));
        }
    }

    if (tier->points_multiplier_x100 != 100 && lines) {
        char what[RULES_CODE_MAX + 16];
        text_init(&t, what, sizeof what);
        text_str(&t, "for tier ");
        text_code(&t, tier->code);
        add_multiplier(out, "tier:", tier->code, tier->points_multiplier_x100, what,
                       points_added_by(w, out, MULT_TIER, 0));
    }

    if (w->birthday && r->birthday_multiplier_x100 != 100 && lines)
        add_multiplier(out, "birthday", "", r->birthday_multiplier_x100, "in the birthday window",
                       points_added_by(w, out, MULT_BIRTHDAY, 0));

    if (out->referral) {
        a = add(out, "referral", "", "referral");
        text_init(&t, a->detail, sizeof a->detail);
        text_str(&t, "first purchase of ");
        text_i64(&t, out->net_spend);
        text_str(&t, " minor units: ");
        text_i64(&t, out->referrer_points);
        text_str(&t, " points to the referrer");
        a->points = out->referee_points;
    }
}
