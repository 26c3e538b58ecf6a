/*
 * tiers.c - tier look-ups: a tier by code, and the tier a spend reaches.
 *
 * Pure.  Downgrades are not decided here (the daily job does that): a
 * purchase can only keep or raise the tier.
 */
#include "internal.h"

int rules_tier_index(const struct rules *r, const char *code)
{
    int n = rules_clamp_count(r->ntiers, RULES_MAX_TIERS);

    for (int i = 0; i < n; i++)
        if (rules_code_eq(r->tiers[i].code, code))
            return i;
    return -1;
}

/*
 * Tiers are ascending by min_spend, so "the highest tier" is the highest
 * index whose min_spend is reached.  Every tier is looked at rather than
 * stopping at the first one out of reach, so that an unsorted rule set still
 * gives the highest reachable index.
 */
int tiers_for_spend(const struct rules *r, int64_t spend, int floor_index)
{
    int n = rules_clamp_count(r->ntiers, RULES_MAX_TIERS);
    int best = floor_index;

    for (int i = 0; i < n; i++)
        if (r->tiers[i].min_spend <= spend && i > best)
            best = i;
    return best;
}
