/*
 * points.c - the points each line earns, exactly, then made whole.
 *
 * Pure, integer only; no rounding before the end.  A line's exact points are
 *
 *   (amount - discount - redeemed share) × points_per_unit
 *       × category × tier × birthday × promotion multipliers (each x100)
 *   / (unit × 100^4)
 *
 * kept as a numerator over one common denominator (unsigned 128-bit, every
 * product checked).  The purchase's line points are floor(Σ numerators /
 * denominator); each line gets the floor of its own value, and the points
 * left over up to that total go one at a time to the lines with the largest
 * fractional parts (ties: the earlier line).  Excluded lines earn nothing.
 *
 * Interpretation: points_per_unit or unit <= 0 (refused at PUT) earn
 * nothing rather than dividing by zero.  Promotion bonus points are not
 * line points; engine.c adds them.
 */
#include <stdint.h>

#include "internal.h"

/* Multipliers of one line, x100, all >= 0. */
struct line_mults {
    int64_t category, tier, birthday, promotion;
};

static struct line_mults mults_of(const struct engine_work *w, int i)
{
    struct line_mults lm;

    lm.category = rules_nonneg(w->cat_mult[i]);
    lm.tier = rules_nonneg(w->r->tiers[w->tier].points_multiplier_x100);
    lm.birthday = w->birthday ? rules_nonneg(w->r->birthday_multiplier_x100) : 100;
    lm.promotion = rules_nonneg(w->promo_mult[i]);
    return lm;
}

/* base × points_per_unit × the four multipliers, or false when it does not
 * fit in 128 bits. */
static bool line_numerator(int64_t base, int64_t per_unit, const struct line_mults *lm, u128 *out)
{
    const int64_t factors[5] = {per_unit, lm->category, lm->tier, lm->birthday, lm->promotion};
    u128 v = (u128)rules_nonneg(base);

    for (int k = 0; k < 5; k++)
        if (__builtin_mul_overflow(v, (u128)factors[k], &v))
            return false;
    *out = v;
    return true;
}

static int64_t line_base(const struct engine_line_out *line)
{
    return line->amount - line->discount - line->redeemed_share;
}

int points_compute(struct engine_work *w, struct engine_result *out, struct err *e)
{
    int64_t per_unit = w->r->earn_points_per_unit;
    int64_t unit = w->r->earn_unit;
    u128 frac[ENGINE_MAX_LINES];
    int64_t points[ENGINE_MAX_LINES];
    u128 sum = 0;

    for (int i = 0; i < w->nlines; i++)
        w->points_num[i] = 0;
    w->points_den = 1;
    if (per_unit <= 0 || unit <= 0)
        return 0;
    /* unit < 2^63, so unit × 10^8 < 2^90. */
    w->points_den = (u128)unit * 100000000u;

    for (int i = 0; i < w->nlines; i++) {
        struct line_mults lm = mults_of(w, i);
        if (out->lines[i].excluded)
            continue;
        if (!line_numerator(line_base(&out->lines[i]), per_unit, &lm, &w->points_num[i]) ||
            __builtin_add_overflow(sum, w->points_num[i], &sum))
            return err_field(e, "items", "the points of this purchase do not fit");
    }
    u128 total = sum / w->points_den;
    if (total > (u128)INT64_MAX)
        return err_field(e, "items", "the points of this purchase do not fit");

    /* Each floor is at most the total, so all of this fits in int64. */
    int64_t given = 0;
    for (int i = 0; i < w->nlines; i++) {
        points[i] = (int64_t)(w->points_num[i] / w->points_den);
        frac[i] = w->points_num[i] % w->points_den;
        given += points[i];
    }
    shares_give_remainder(frac, w->nlines, (int64_t)total - given, points);
    for (int i = 0; i < w->nlines; i++)
        out->lines[i].points = points[i];
    return 0;
}

/*
 * "The points a multiplier added", for `applied`: over the lines the
 * multiplier applies to, floor(Σ exact points) - floor(Σ exact points with
 * that one multiplier taken as 1), or 0 if that is negative (a multiplier
 * below 1 adds nothing).  Each multiplier is measured against the others
 * all in place, so the entries need not add up to the points earned; they
 * are explanations, deterministic and never negative.  A promotion's
 * multiplier applies to the lines where it is the highest (ties: the
 * earlier promotion).  A product that does not fit counts as 0.
 */
int64_t points_added_by(const struct engine_work *w, const struct engine_result *out,
                        enum points_multiplier which, int index)
{
    u128 with = 0, without = 0;

    if (w->r->earn_points_per_unit <= 0 || w->r->earn_unit <= 0)
        return 0;
    for (int i = 0; i < w->nlines; i++) {
        struct line_mults lm = mults_of(w, i);
        u128 x;
        if (out->lines[i].excluded)
            continue;
        switch (which) {
        case MULT_CATEGORY:
            if (w->cat_index[i] != index)
                continue;
            lm.category = 100;
            break;
        case MULT_TIER:
            lm.tier = 100;
            break;
        case MULT_BIRTHDAY:
            if (!w->birthday)
                continue;
            lm.birthday = 100;
            break;
        case MULT_PROMOTION:
            if (w->promo_best[i] != index)
                continue;
            lm.promotion = 100;
            break;
        }
        if (!line_numerator(line_base(&out->lines[i]), w->r->earn_points_per_unit, &lm, &x) ||
            __builtin_add_overflow(without, x, &without) ||
            __builtin_add_overflow(with, w->points_num[i], &with))
            return 0;
    }
    u128 a = with / w->points_den, b = without / w->points_den;
    return a > b ? (int64_t)(a - b) : 0;
}
