/*
 * lookup.c - comparing the rule set's fixed-size codes with the purchase's
 * strings (excluded categories and promotion coverage), and the names of
 * the rule set's enumerated settings.
 *
 * Pure.  It must not trust a code to be NUL-terminated: a rule set is plain
 * data and a damaged one must make a look-up fail, never read past its array.
 */
#include <string.h>

#include "internal.h"

bool rules_code_eq(const char *code, const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strnlen(code, RULES_CODE_MAX + 1);
    if (n > RULES_CODE_MAX)
        return false;
    return strcmp(code, s) == 0;
}

bool rules_is_excluded(const struct rules *r, const char *category)
{
    int n = rules_clamp_count(r->nexcluded, RULES_MAX_CATEGORIES);

    for (int i = 0; i < n; i++)
        if (rules_code_eq(r->excluded[i], category))
            return true;
    return false;
}

bool rules_promotion_covers(const struct rules_promotion *pr, const char *category)
{
    int n = rules_clamp_count(pr->ncategories, RULES_MAX_PROMO_CATS);

    if (n == 0)
        return true;
    for (int i = 0; i < n; i++)
        if (rules_code_eq(pr->categories[i], category))
            return true;
    return false;
}

const char *rules_insight_high_name(enum rules_insight_high h)
{
    switch (h) {
    case INSIGHT_HIGH_MEDIAN:
        return "median";
    case INSIGHT_HIGH_QUANTILE:
        return "quantile";
    case INSIGHT_HIGH_MEAN:
        break;
    }
    return "mean";
}
