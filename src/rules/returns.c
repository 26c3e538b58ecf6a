/*
 * returns.c - the arithmetic of a purchase return (rules/returns.h): the
 * returned units allocated to the purchase's lines, and each line's points,
 * redeemed points and net spend taken back.
 *
 * Pure: the recorded lines come in (the store layer read them under the
 * member's lock), the amounts go out; no I/O, no clock, no allocation.  The
 * redeemed points of each line are shared the engine's way (shares.c), so
 * a return and the purchase agree on every split.
 */
#include "rules/returns.h"

#include <string.h>

#include "core/xmalloc.h" /* ly_assert only */
#include "internal.h"

int returns_items_merge(const struct return_item *in, int n, struct return_item *out)
{
    int nout = 0;

    for (int i = 0; i < n; i++) {
        int k = 0;

        while (k < nout && strcmp(out[k].sku, in[i].sku) != 0)
            k++;
        if (k == nout)
            out[nout++] = in[i];
        else
            out[k].quantity += in[i].quantity;
    }
    return nout;
}

int64_t returns_take(int64_t total, int64_t taken, int64_t q, int64_t returned, int64_t bought)
{
    u128 part;

    ly_assert(taken >= 0 && taken <= total && returned >= 0 && q >= 1 && q <= bought - returned);
    if (returned + q == bought)
        return total - taken;
    /* total < 2^63 and q < 2^63: the product is exact in 128 bits. */
    part = (u128)(uint64_t)total * (uint64_t)q / (uint64_t)bought;
    /* Earlier returns took the floors of their own units, which add up to
     * at most floor(total x returned / bought); so part <= total - taken
     * already, and the bound only keeps a damaged record from going over. */
    if (part > (u128)(uint64_t)(total - taken))
        return total - taken;
    return (int64_t)part;
}

void returns_redeemed_split(const struct return_purchase *p, int64_t *out)
{
    int64_t weight[RETURNS_MAX_LINES];

    ly_assert(p->nlines >= 0 && p->nlines <= RETURNS_MAX_LINES);
    for (int i = 0; i < p->nlines; i++)
        weight[i] = p->lines[i].redeemed_share;
    shares_split(p->points_redeemed, weight, p->nlines, out);
}

/* Is the recorded line consistent (what was taken back within its totals)? */
static bool is_sound(const struct return_line *l)
{
    return l->sku != NULL && l->quantity >= 1 && l->returned_quantity >= 0 &&
           l->returned_quantity <= l->quantity && l->returned_points >= 0 &&
           l->returned_points <= l->points && l->returned_net_spend >= 0 &&
           l->returned_net_spend <= l->net_spend && l->redeemed_share >= 0 &&
           l->returned_redeemed_points >= 0;
}

/* Puts the units of `it` on the lines of its sku, earliest line first.
 * Adds a field error when no line has the sku or too few units are left. */
static void allocate(const struct return_purchase *p, const struct return_item *it,
                     struct return_result *out, struct err *e)
{
    int64_t left = it->quantity, returnable = 0;
    bool known = false;
    char field[48];

    for (int l = 0; l < p->nlines; l++) {
        const struct return_line *line = &p->lines[l];
        int64_t avail, take;

        if (strcmp(line->sku, it->sku) != 0)
            continue;
        known = true;
        avail = line->quantity - line->returned_quantity - out->lines[l].quantity;
        returnable += avail;
        take = avail < left ? avail : left;
        out->lines[l].quantity += take;
        left -= take;
    }
    if (!known)
        err_field(e, text_item_field(field, sizeof field, it->index, "sku"),
                  "is not on this purchase");
    else if (left > 0)
        err_field(e, text_item_field(field, sizeof field, it->index, "quantity"),
                  "is more than the %lld still returnable", (long long)returnable);
}

/* Adds v to *sum; false when it does not fit. */
static bool add(int64_t *sum, int64_t v)
{
    return !__builtin_add_overflow(*sum, v, sum);
}

int returns_compute(const struct return_purchase *p, const struct return_item *items, int nitems,
                    struct return_result *out, struct err *e)
{
    int64_t redeemed[RETURNS_MAX_LINES];
    bool full = true, any = false;

    memset(out, 0, sizeof(*out));
    if (p->nlines < 1 || p->nlines > RETURNS_MAX_LINES)
        return err_internal(e, ERR_INTERNAL, "return: a purchase of %d lines", p->nlines);
    for (int l = 0; l < p->nlines; l++)
        if (!is_sound(&p->lines[l]))
            return err_internal(e, ERR_INTERNAL, "return: line %d is inconsistent", l + 1);
    out->nlines = p->nlines;
    for (int i = 0; i < nitems; i++)
        allocate(p, &items[i], out, e);
    if (err_is_set(e))
        return -1;

    returns_redeemed_split(p, redeemed);
    for (int l = 0; l < p->nlines; l++) {
        const struct return_line *line = &p->lines[l];
        struct return_line_out *o = &out->lines[l];
        int64_t q = o->quantity, r = line->returned_quantity;

        if (line->returned_redeemed_points > redeemed[l])
            return err_internal(e, ERR_INTERNAL, "return: line %d gave back too much", l + 1);
        if (r + q != line->quantity)
            full = false;
        if (q == 0)
            continue;
        any = true;
        o->points = returns_take(line->points, line->returned_points, q, r, line->quantity);
        o->redeemed_points =
            returns_take(redeemed[l], line->returned_redeemed_points, q, r, line->quantity);
        o->net_spend =
            returns_take(line->net_spend, line->returned_net_spend, q, r, line->quantity);
        if (!add(&out->points_taken, o->points) || !add(&out->points_given, o->redeemed_points) ||
            !add(&out->net_spend, o->net_spend))
            return err_field(e, "items", "the totals of this return do not fit");
    }
    /* Only the return that completes the purchase takes the bonus, once. */
    out->fully_returned = full && any;
    out->bonus_taken = out->fully_returned ? p->bonus_points : 0;
    return 0;
}
