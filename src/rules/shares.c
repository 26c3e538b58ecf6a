/*
 * shares.c - largest-remainder apportionment: one amount split into whole
 * units in proportion to weights, leftovers to the largest fractional parts,
 * ties to the earlier entry.
 *
 * The contract uses this one method for the coupon, the redeemed value and
 * the points of the lines; the engine also uses it to attribute a line's
 * discount to the rules that gave it.  Pure, no allocation: the working
 * arrays are on the stack and bounded by ENGINE_MAX_LINES.
 */
#include "core/xmalloc.h" /* ly_assert only */
#include "internal.h"

void shares_give_remainder(const u128 *frac, int n, int64_t extra, int64_t *out)
{
    int order[ENGINE_MAX_LINES];

    ly_assert(n >= 0 && n <= ENGINE_MAX_LINES);
    if (extra <= 0)
        return;
    /* Stable insertion sort by descending fraction: equal fractions keep
     * their order, which gives the tie to the earlier entry.  n is at most
     * 500 and this runs a handful of times per purchase. */
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && frac[order[j - 1]] < frac[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int k = 0; k < n && extra > 0; k++, extra--)
        out[order[k]] += 1;
}

void shares_split(int64_t total, const int64_t *weight, int n, int64_t *share)
{
    u128 frac[ENGINE_MAX_LINES];
    u128 sum = 0;

    ly_assert(n >= 0 && n <= ENGINE_MAX_LINES);
    for (int i = 0; i < n; i++) {
        share[i] = 0;
        sum += (uint64_t)rules_nonneg(weight[i]);
    }
    if (total <= 0 || sum == 0)
        return;

    /* total * weight < 2^126 and sum < 2^72: exact in 128 bits. */
    int64_t given = 0;
    for (int i = 0; i < n; i++) {
        u128 part = (u128)total * (u128)rules_nonneg(weight[i]);
        share[i] = (int64_t)(part / sum);
        frac[i] = part % sum;
        given += share[i];
    }
    /* Σ floor(parts) > total - n, so fewer than n units are left over and
     * each goes to a different entry with a non-zero fraction. */
    shares_give_remainder(frac, n, total - given, share);
}
