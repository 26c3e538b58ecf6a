/*
 * rules.h - a rule set (the contract's "Rules" document) as plain C data.
 *
 * Pure data: no pointers, fixed capacities, so a rule set can be copied,
 * compared and shared read-only between threads.  Parsing and validation
 * from JSON live in src/api/rules_json.c; computing with it in src/rules/.
 *
 * Units: money in minor units (int64), multipliers and percentages as exact
 * hundredths (`_x100`: 1.25 -> 125, 5 -> 500, 2.5% -> 250).  Times are UTC
 * microseconds since the epoch (`_us`).  Strings are NUL-terminated and
 * bounded by their array.
 */
#ifndef LY_RULES_RULES_H
#define LY_RULES_RULES_H

#include <stdbool.h>
#include <stdint.h>

#define RULES_CODE_MAX       32  /* codes: tiers, promotions, categories, stores */
#define RULES_NAME_MAX       100 /* names: up to 100 code points, so up to 400 bytes */
#define RULES_MAX_TIERS      10
#define RULES_MAX_CATEGORIES 64 /* excluded categories; category multipliers */
#define RULES_MAX_PROMOTIONS 50
#define RULES_MAX_PROMO_CATS 32
#define RULES_MAX_NODES      512 /* condition nodes across all promotions */
#define RULES_MAX_VALUES     16  /* items in one condition's value list */
#define RULES_MAX_DEPTH      8   /* nesting of all/any/not */

struct rules_tier {
    char code[RULES_CODE_MAX + 1];
    char name[4 * RULES_NAME_MAX + 1];
    int64_t min_spend;
    int32_t discount_pct_x100;
    int32_t points_multiplier_x100;
};

struct rules_category_multiplier {
    char category[RULES_CODE_MAX + 1];
    int32_t multiplier_x100;
};

enum rules_fact {
    FACT_PURCHASE_SUBTOTAL = 0,           /* int: minor units, all lines */
    FACT_PURCHASE_ITEM_COUNT,             /* int: sum of quantities */
    FACT_PURCHASE_WEEKDAY,                /* string: mon..sun, program time zone */
    FACT_PURCHASE_HOUR,                   /* int: 0..23, program time zone */
    FACT_PURCHASE_STORE_ID,               /* string */
    FACT_PURCHASE_CATEGORIES,             /* list of strings */
    FACT_MEMBER_TIER,                     /* string: tier code */
    FACT_MEMBER_DAYS_SINCE_ENROLLED,      /* int */
    FACT_MEMBER_PURCHASE_COUNT,           /* int: purchases before this one */
    FACT_MEMBER_DAYS_SINCE_LAST_PURCHASE, /* int; -1 when there was none */
    FACT_MEMBER_IS_BIRTHDAY_WINDOW,       /* bool */
    FACT_MEMBER_SEGMENT,                  /* string (RFM segment), "" if unknown */
    FACT_MEMBER_LIFECYCLE_STAGE,          /* string, "" if unknown */
    FACT__COUNT
};

enum rules_op { OP_EQ = 0, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOT_IN, OP_CONTAINS };

enum rules_node_kind { NODE_ALL = 0, NODE_ANY, NODE_NOT, NODE_LEAF };

enum rules_value_type {
    VALUE_INT = 0,
    VALUE_BOOL,
    VALUE_STRING,
    VALUE_INT_LIST,
    VALUE_STRING_LIST
};

/*
 * One node of a condition tree.  Trees are stored flat in rules.nodes; a
 * node's children are the `nchildren` nodes listed in `children` (indices
 * into rules.nodes).  NODE_NOT has exactly one child.
 */
struct rules_node {
    enum rules_node_kind kind;
    int nchildren;
    int16_t children[RULES_MAX_VALUES];
    /* NODE_LEAF */
    enum rules_fact fact;
    enum rules_op op;
    enum rules_value_type type;
    int nvalues;                                     /* 1 for scalars */
    int64_t ints[RULES_MAX_VALUES];                  /* VALUE_INT(_LIST); VALUE_BOOL as 0/1 */
    char strs[RULES_MAX_VALUES][RULES_CODE_MAX + 1]; /* VALUE_STRING(_LIST) */
};

struct rules_promotion {
    char code[RULES_CODE_MAX + 1];
    int32_t multiplier_x100; /* 100 = no multiplier */
    int64_t bonus_points;
    int32_t discount_pct_x100;
    int64_t starts_at_us; /* inclusive */
    int64_t ends_at_us;   /* exclusive */
    int when;             /* root node index in rules.nodes, -1 = always */
    int ncategories;      /* 0 = every category */
    char categories[RULES_MAX_PROMO_CATS][RULES_CODE_MAX + 1];
};

enum rules_birthday_window { BIRTHDAY_DAY = 0, BIRTHDAY_WEEK, BIRTHDAY_MONTH };

/* How the RFM snapshot decides "high": against the buyers' mean, their
 * median, or a quantile of them (insight_quantile_x100). */
enum rules_insight_high { INSIGHT_HIGH_MEAN = 0, INSIGHT_HIGH_MEDIAN, INSIGHT_HIGH_QUANTILE };

struct rules {
    char currency[4];
    char timezone[64]; /* IANA name; conversion happens outside the engine */

    /* earn */
    int64_t earn_points_per_unit;
    int64_t earn_unit;
    int nexcluded;
    char excluded[RULES_MAX_CATEGORIES][RULES_CODE_MAX + 1];
    int ncategory_multipliers;
    struct rules_category_multiplier category_multipliers[RULES_MAX_CATEGORIES];

    /* tiers, ascending by min_spend; tiers[0].min_spend == 0 */
    int ntiers;
    struct rules_tier tiers[RULES_MAX_TIERS];
    int32_t tier_window_days;
    int32_t tier_downgrade_grace_days;

    /* birthday */
    enum rules_birthday_window birthday_window;
    int32_t birthday_multiplier_x100;
    int64_t birthday_bonus_points;

    /* referral */
    int64_t referral_referrer_points;
    int64_t referral_referee_points;
    int64_t referral_min_first_purchase;

    /* promotions and their condition trees */
    int npromotions;
    struct rules_promotion promotions[RULES_MAX_PROMOTIONS];
    int nnodes;
    struct rules_node nodes[RULES_MAX_NODES];

    /* redemption as part payment */
    int64_t redemption_points_per_unit;
    int32_t redemption_max_bill_pct_x100;

    int32_t expiry_months;
    int32_t pending_days;
    int32_t max_discount_pct_x100;

    /* insight: the RFM snapshot and life-cycle stages (read by the daily
     * job's refresh in the store, never by the engine) */
    int32_t insight_rfm_period_days;
    enum rules_insight_high insight_high;
    int32_t insight_quantile_x100;   /* 1..99, with INSIGHT_HIGH_QUANTILE */
    int32_t insight_silent_days;     /* active below this many days */
    int32_t insight_forgetting_days; /* silent below this */
    int32_t insight_lost_days;       /* forgetting up to and including this; lost after */
};

/* "mean", "median" or "quantile". */
const char *rules_insight_high_name(enum rules_insight_high h);

/* The index of the tier with `code`, or -1. */
int rules_tier_index(const struct rules *r, const char *code);

#endif
