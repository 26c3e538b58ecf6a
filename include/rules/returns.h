/*
 * returns.h - the arithmetic of a purchase return: which lines the returned
 * units come off, and how much of each line's points, redeemed points and
 * net spend they take back.
 *
 * Pure, like the rest of the engine: the recorded purchase and the request
 * come in, the amounts go out into a caller-owned struct; no I/O, no clock,
 * no allocation.  Integer arithmetic only (128-bit where a product could
 * overflow), so every number is exact:
 *   - units of a sku come off the purchase's lines with that sku in line
 *     order, the earliest line's still returnable units first;
 *   - for each of a line's totals T (points, redeemed points, net spend) of
 *     which t was taken back before, returning q of its Q bought units (R
 *     returned before) takes T - t when R + q == Q (the last units take the
 *     rest, so a full return nets to exactly zero), else floor(T x q / Q);
 *   - a line's redeemed points are the purchase's points_redeemed split over
 *     the lines in proportion to their redeemed share (largest remainders,
 *     ties to the earlier line: the engine's one way of sharing);
 *   - the promotions' bonus comes back only with the return that completes
 *     the full return of every line.
 */
#ifndef LY_RULES_RETURNS_H
#define LY_RULES_RETURNS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "rules/engine.h"

#define RETURNS_MAX_LINES ENGINE_MAX_LINES
#define RETURNS_MAX_ITEMS 500

/* One item of a return request. */
struct return_item {
    const char *sku;  /* borrowed */
    int64_t quantity; /* >= 1 */
    int index;        /* its position in the request's items (for field errors) */
};

/* One line of the purchase as recorded, with what earlier returns took. */
struct return_line {
    const char *sku; /* borrowed */
    int64_t quantity, returned_quantity;
    int64_t points, returned_points;
    int64_t redeemed_share; /* minor units of the redeemed value paid on the line: the weight */
    int64_t returned_redeemed_points;
    int64_t net_spend, returned_net_spend;
};

/* The purchase as recorded.  Borrowed. */
struct return_purchase {
    int64_t points_redeemed;
    int64_t bonus_points;
    int nlines; /* 1..RETURNS_MAX_LINES */
    const struct return_line *lines;
};

/* What this return takes from one line (all 0 for a line it leaves alone). */
struct return_line_out {
    int64_t quantity;        /* units returned now */
    int64_t points;          /* points taken back */
    int64_t redeemed_points; /* redeemed points given back */
    int64_t net_spend;       /* net spend returned */
};

struct return_result {
    int nlines; /* = the purchase's */
    struct return_line_out lines[RETURNS_MAX_LINES];
    int64_t points_taken; /* Σ lines[].points */
    int64_t bonus_taken;  /* the purchase's bonus_points when fully_returned, else 0 */
    int64_t points_given; /* Σ lines[].redeemed_points */
    int64_t net_spend;    /* Σ lines[].net_spend */
    bool fully_returned;  /* every line is returned in full once this return is */
};

/*
 * Sums the items of one sku: out[] gets one item per distinct sku, in the
 * order of their first occurrence, whose index is that first occurrence.
 * `out` has room for n items; returns how many it holds.  Quantities are
 * request values (<= 100000 each, n <= RETURNS_MAX_ITEMS), so sums fit.
 */
int returns_items_merge(const struct return_item *in, int n, struct return_item *out);

/*
 * A line total's share for one return: T - t when R + q == Q, else
 * floor(T x q / Q).  Requires 0 <= t <= T, 0 <= R, 1 <= q, R + q <= Q.
 */
int64_t returns_take(int64_t total, int64_t taken, int64_t q, int64_t returned, int64_t bought);

/*
 * Splits points_redeemed over the lines in proportion to redeemed_share
 * (largest remainders, ties to the earlier line) into out[nlines].
 */
void returns_redeemed_split(const struct return_purchase *p, int64_t *out);

/*
 * Computes the return of `items` (merged: one per sku) from purchase `p`.
 * 0 with *out filled, or -1 with `e` set: ERR_VALIDATION naming
 * "items[i].sku" (no line has that sku) or "items[i].quantity" (more than
 * is still returnable), every such item named; ERR_INTERNAL when the
 * recorded lines contradict themselves.  Thread-safe: writes only `out`
 * and `e`.
 */
int returns_compute(const struct return_purchase *p, const struct return_item *items, int nitems,
                    struct return_result *out, struct err *e);

#endif
