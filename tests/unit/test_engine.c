/*
 * test_engine.c - hand-computed cases for the rules engine (src/rules/):
 * rounding, caps, exclusions, coupons, redemption, multipliers, bonuses,
 * promotion windows, tiers, birthday windows, every condition fact and op,
 * invalid trees and remainder distribution.  Rule sets are built in C so
 * that each case shows exactly the numbers it depends on; the expected
 * values are worked out in the comments.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "engine_same.h"
#include "rules/engine.h"
#include "rules/rules.h"

/* 2026-11-22T02:15:00Z, a Saturday 10:15 in Asia/Shanghai. */
#define T0 INT64_C(1795400100000000)

static struct rules R;
static struct engine_result OUT;
static struct err E;
static struct engine_line_in LINES[ENGINE_MAX_LINES];
static int NLINES;

/* ------------------------------------------------------------ builders -- */

static void set_code(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s);
}

static void set_tier(struct rules *r, int i, const char *code, int64_t min_spend, int32_t pct,
                     int32_t mult)
{
    set_code(r->tiers[i].code, sizeof r->tiers[i].code, code);
    set_code(r->tiers[i].name, sizeof r->tiers[i].name, code);
    r->tiers[i].min_spend = min_spend;
    r->tiers[i].discount_pct_x100 = pct;
    r->tiers[i].points_multiplier_x100 = mult;
}

/* The contract's example rule set, without promotions or exclusions:
 * 1 point per 100, basic/silver/gold, birthday month x2, 100 points per
 * unit redeemed up to 50 %, discounts capped at 50 %. */
static void rules_base(void)
{
    struct rules *r = &R;

    memset(r, 0, sizeof *r);
    set_code(r->currency, sizeof r->currency, "CNY");
    set_code(r->timezone, sizeof r->timezone, "Asia/Shanghai");
    r->earn_points_per_unit = 1;
    r->earn_unit = 100;
    r->ntiers = 3;
    set_tier(r, 0, "basic", 0, 0, 100);
    set_tier(r, 1, "silver", 200000, 200, 125);
    set_tier(r, 2, "gold", 1000000, 500, 150);
    r->tier_window_days = 365;
    r->tier_downgrade_grace_days = 30;
    r->birthday_window = BIRTHDAY_MONTH;
    r->birthday_multiplier_x100 = 200;
    r->birthday_bonus_points = 500;
    r->redemption_points_per_unit = 100;
    r->redemption_max_bill_pct_x100 = 5000;
    r->expiry_months = 12;
    r->max_discount_pct_x100 = 5000;
}

static void exclude(const char *category)
{
    set_code(R.excluded[R.nexcluded], sizeof R.excluded[0], category);
    R.nexcluded++;
}

static void category_multiplier(const char *category, int32_t mult)
{
    struct rules_category_multiplier *cm = &R.category_multipliers[R.ncategory_multipliers++];

    set_code(cm->category, sizeof cm->category, category);
    cm->multiplier_x100 = mult;
}

/* A promotion running from T0 - 1 day to T0 + 1 day, always firing, on
 * every category; the caller adjusts. */
static struct rules_promotion *promotion(const char *code, int32_t mult, int64_t bonus, int32_t pct)
{
    struct rules_promotion *pr = &R.promotions[R.npromotions++];

    memset(pr, 0, sizeof *pr);
    set_code(pr->code, sizeof pr->code, code);
    pr->multiplier_x100 = mult;
    pr->bonus_points = bonus;
    pr->discount_pct_x100 = pct;
    pr->starts_at_us = T0 - INT64_C(86400000000);
    pr->ends_at_us = T0 + INT64_C(86400000000);
    pr->when = -1;
    return pr;
}

static void promo_category(struct rules_promotion *pr, const char *category)
{
    set_code(pr->categories[pr->ncategories], sizeof pr->categories[0], category);
    pr->ncategories++;
}

static struct rules_node *new_node(enum rules_node_kind kind)
{
    struct rules_node *n = &R.nodes[R.nnodes++];

    memset(n, 0, sizeof *n);
    n->kind = kind;
    return n;
}

static int leaf_int(enum rules_fact f, enum rules_op op, int64_t v)
{
    struct rules_node *n = new_node(NODE_LEAF);

    n->fact = f;
    n->op = op;
    n->type = VALUE_INT;
    n->nvalues = 1;
    n->ints[0] = v;
    return R.nnodes - 1;
}

static int leaf_bool(enum rules_fact f, enum rules_op op, bool v)
{
    int i = leaf_int(f, op, v ? 1 : 0);

    R.nodes[i].type = VALUE_BOOL;
    return i;
}

static int leaf_ints(enum rules_fact f, enum rules_op op, int n, const int64_t *v)
{
    int i = leaf_int(f, op, 0);

    R.nodes[i].type = VALUE_INT_LIST;
    R.nodes[i].nvalues = n;
    for (int k = 0; k < n; k++)
        R.nodes[i].ints[k] = v[k];
    return i;
}

static int leaf_str(enum rules_fact f, enum rules_op op, const char *s)
{
    struct rules_node *n = new_node(NODE_LEAF);

    n->fact = f;
    n->op = op;
    n->type = VALUE_STRING;
    n->nvalues = 1;
    set_code(n->strs[0], sizeof n->strs[0], s);
    return R.nnodes - 1;
}

static int leaf_strs(enum rules_fact f, enum rules_op op, int count, ...)
{
    struct rules_node *n = new_node(NODE_LEAF);
    va_list ap;

    n->fact = f;
    n->op = op;
    n->type = VALUE_STRING_LIST;
    n->nvalues = count;
    va_start(ap, count);
    for (int k = 0; k < count; k++)
        set_code(n->strs[k], sizeof n->strs[k], va_arg(ap, const char *));
    va_end(ap);
    return R.nnodes - 1;
}

static int combine(enum rules_node_kind kind, int count, ...)
{
    struct rules_node *n = new_node(kind);
    va_list ap;

    n->nchildren = count;
    va_start(ap, count);
    for (int k = 0; k < count; k++)
        n->children[k] = (int16_t)va_arg(ap, int);
    va_end(ap);
    return R.nnodes - 1;
}

static struct engine_member member(const char *tier)
{
    struct engine_member m = {
        .tier = tier,
        .qualifying_spend = 0,
        .birthday_month = 0,
        .birthday_day = 0,
        .days_since_enrolled = 100,
        .purchase_count = 3,
        .days_since_last_purchase = 10,
        .segment = "important-value",
        .lifecycle_stage = "active",
    };
    return m;
}

static void lines_reset(void)
{
    NLINES = 0;
}

static void line(const char *category, int64_t quantity, int64_t unit_price)
{
    LINES[NLINES].sku = "SKU";
    LINES[NLINES].category = category;
    LINES[NLINES].quantity = quantity;
    LINES[NLINES].unit_price = unit_price;
    NLINES++;
}

static struct engine_purchase purchase(void)
{
    struct engine_purchase p = {
        .lines = LINES,
        .nlines = NLINES,
        .store_id = "S001",
        .occurred_at_us = T0,
        .local = {.year = 2026, .month = 11, .day = 22, .hour = 10, .weekday = 5},
        .redeem_points = 0,
        .coupon = {.kind = COUPON_NONE},
    };
    return p;
}

static int compute(const struct engine_member *m, const struct engine_purchase *p)
{
    err_clear(&E);
    return engine_compute(&R, m, p, &OUT, &E);
}

static bool has_field(const char *field)
{
    for (int i = 0; i < E.nfields; i++)
        if (strcmp(E.fields[i].field, field) == 0)
            return true;
    return false;
}

/* The index of the applied entry (rule, kind), or -1. */
static int applied(const char *rule, const char *kind)
{
    for (int i = 0; i < OUT.napplied; i++)
        if (strcmp(OUT.applied[i].rule, rule) == 0 && strcmp(OUT.applied[i].kind, kind) == 0)
            return i;
    return -1;
}

/* --------------------------------------------------------------- cases -- */

static void test_basic(void)
{
    rules_base();
    lines_reset();
    line("dry", 2, 1250);
    struct engine_member m = member("basic");
    struct engine_purchase p = purchase();

    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.subtotal, 2500);
    CHECK_EQ_I64(OUT.lines[0].amount, 2500);
    CHECK_EQ_I64(OUT.discount_total, 0);
    CHECK_EQ_I64(OUT.total_due, 2500);
    CHECK_EQ_I64(OUT.points_earned, 25);
    CHECK_EQ_I64(OUT.lines[0].points, 25);
    CHECK_EQ_I64(OUT.net_spend, 2500);
    CHECK_EQ_I64(OUT.tier_before, 0);
    CHECK_EQ_I64(OUT.tier_after, 0);
    CHECK_EQ_I64(OUT.napplied, 0);
    CHECK(!OUT.birthday_window);
}

/* Silver 2 %: 25 -> 0.5 -> 1; 75 -> 1.5 -> 2; 24 -> 0.48 -> 0; 26 -> 0.52 -> 1.
 * Points: bases 24, 73, 24, 25 x 1.25 / 100 = 0.3, 0.9125, 0.3, 0.3125,
 * sum 1.825 -> 1, given to the largest fraction (line 1). */
static void test_discount_rounding(void)
{
    rules_base();
    lines_reset();
    line("dry", 1, 25);
    line("dry", 1, 75);
    line("dry", 1, 24);
    line("dry", 1, 26);
    struct engine_member m = member("silver");
    struct engine_purchase p = purchase();

    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].discount, 1);
    CHECK_EQ_I64(OUT.lines[1].discount, 2);
    CHECK_EQ_I64(OUT.lines[2].discount, 0);
    CHECK_EQ_I64(OUT.lines[3].discount, 1);
    CHECK_EQ_I64(OUT.discount_total, 4);
    CHECK_EQ_I64(OUT.total_due, 146);
    CHECK_EQ_I64(OUT.points_earned, 1);
    CHECK_EQ_I64(OUT.lines[1].points, 1);
    CHECK_EQ_I64(OUT.lines[0].points + OUT.lines[2].points + OUT.lines[3].points, 0);
    /* tier discount 4; tier multiplier: floor(1.825) - floor(1.46) = 0 */
    int td = applied("tier:silver", "tier_discount");
    int tm = applied("tier:silver", "multiplier");
    CHECK(td == 0 && tm == 1);
    CHECK_EQ_I64(OUT.applied[td].discount, 4);
    CHECK_STREQ(OUT.applied[td].detail, "2% off for tier silver");
    CHECK_EQ_I64(OUT.applied[tm].points, 0);
    CHECK_STREQ(OUT.applied[tm].detail, "x1.25 points for tier silver");

    /* Tier 2 % + promotion 0.5 % = 2.5 %: 20 -> 0.5 -> 1, 60 -> 1.5 -> 2,
     * 100 -> 2.5 -> 3.  Attribution of line 0's 1: 0.8 tier, 0.2 promotion
     * -> tier; line 1's 2: 1.6 / 0.4 -> 1 + 1 (0.6 > 0.4) / 0 -> tier 2;
     * line 2's 3: 2.4 / 0.6 -> 2 + 0 / 0 + 1 (0.6 > 0.4) -> tier 2, promo 1. */
    rules_base();
    promotion("half", 100, 0, 50);
    lines_reset();
    line("dry", 1, 20);
    line("dry", 1, 60);
    line("dry", 1, 100);
    p = purchase();
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].discount, 1);
    CHECK_EQ_I64(OUT.lines[1].discount, 2);
    CHECK_EQ_I64(OUT.lines[2].discount, 3);
    CHECK_EQ_I64(OUT.applied[applied("tier:silver", "tier_discount")].discount, 5);
    CHECK_EQ_I64(OUT.applied[applied("promotion:half", "promotion")].discount, 1);
    CHECK_STREQ(OUT.applied[applied("promotion:half", "promotion")].detail, "0.5% off");
}

/* Gold 5 % + promotion 50 % = 55 %, capped at 50 %: 1001 -> 500.5 -> 501,
 * 1000 -> 500.  Points: 500 + 500 at x1.5 = 7.5 + 7.5 = 15, the tie's
 * point to the earlier line. */
static void test_discount_cap(void)
{
    rules_base();
    promotion("big", 100, 0, 5000);
    lines_reset();
    line("dry", 1, 1001);
    line("dry", 1, 1000);
    struct engine_member m = member("gold");
    struct engine_purchase p = purchase();

    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].discount, 501);
    CHECK_EQ_I64(OUT.lines[1].discount, 500);
    CHECK_EQ_I64(OUT.lines[0].points, 8);
    CHECK_EQ_I64(OUT.lines[1].points, 7);
    CHECK_EQ_I64(OUT.points_earned, 15);
    /* 501 = 45.55 tier + 455.45 promo -> 46 + 455; 500 = 45.45 + 454.55 -> 45 + 455 */
    CHECK_EQ_I64(OUT.applied[applied("tier:gold", "tier_discount")].discount, 91);
    CHECK_EQ_I64(OUT.applied[applied("promotion:big", "promotion")].discount, 910);
    CHECK_EQ_I64(OUT.applied[applied("tier:gold", "multiplier")].points, 5);

    /* A cap of 0 % leaves no tier or promotion discount at all. */
    R.max_discount_pct_x100 = 0;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.discount_total, 0);
}

/* tobacco excluded; promotion 10 % everywhere; coupon 300; redeem 1000.
 *   discounts: fresh 100, dry 200; remaining 900 + 1800 = 2700
 *   coupon 300: 100 + 200; remaining 800 + 1600 = 2400 (cap 1200)
 *   redeem 1000: 333.33 + 666.67 -> 333 + 667
 *   points: 467 / 100 + 933 / 100 = 4.67 + 9.33 = 14 -> 4 + 9 + 1 to fresh */
static void test_excluded(void)
{
    rules_base();
    exclude("tobacco");
    promotion("p10", 100, 0, 1000);
    lines_reset();
    line("tobacco", 1, 5000);
    line("fresh", 1, 1000);
    line("dry", 1, 2000);
    struct engine_member m = member("basic");
    struct engine_purchase p = purchase();
    p.coupon.kind = COUPON_VALUE;
    p.coupon.value = 300;
    set_code(p.coupon.code, sizeof p.coupon.code, "C1");
    p.redeem_points = 1000;

    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK(OUT.lines[0].excluded);
    CHECK_EQ_I64(OUT.lines[0].discount, 0);
    CHECK_EQ_I64(OUT.lines[0].coupon_share, 0);
    CHECK_EQ_I64(OUT.lines[0].redeemed_share, 0);
    CHECK_EQ_I64(OUT.lines[0].points, 0);
    CHECK_EQ_I64(OUT.lines[0].net_spend, 0);
    CHECK_EQ_I64(OUT.lines[1].discount, 200);
    CHECK_EQ_I64(OUT.lines[1].coupon_share, 100);
    CHECK_EQ_I64(OUT.lines[2].discount, 400);
    CHECK_EQ_I64(OUT.lines[2].coupon_share, 200);
    CHECK_EQ_I64(OUT.lines[1].redeemed_share, 333);
    CHECK_EQ_I64(OUT.lines[2].redeemed_share, 667);
    CHECK_EQ_I64(OUT.lines[1].net_spend, 467);
    CHECK_EQ_I64(OUT.lines[2].net_spend, 933);
    CHECK_EQ_I64(OUT.net_spend, 1400);
    CHECK_EQ_I64(OUT.lines[1].points, 5);
    CHECK_EQ_I64(OUT.lines[2].points, 9);
    CHECK_EQ_I64(OUT.points_earned, 14);
    CHECK_EQ_I64(OUT.subtotal, 8000);
    CHECK_EQ_I64(OUT.discount_total, 600);
    CHECK_EQ_I64(OUT.redeemed_value, 1000);
    CHECK_EQ_I64(OUT.points_redeemed, 1000);
    CHECK_EQ_I64(OUT.total_due, 6400);
    CHECK_EQ_I64(OUT.napplied, 3);
    CHECK_STREQ(OUT.applied[0].rule, "promotion:p10");
    CHECK_EQ_I64(OUT.applied[0].discount, 300);
    CHECK_STREQ(OUT.applied[1].rule, "coupon:C1");
    CHECK_STREQ(OUT.applied[1].kind, "coupon");
    CHECK_EQ_I64(OUT.applied[1].discount, 300);
    CHECK_STREQ(OUT.applied[2].rule, "redeem");
    CHECK_STREQ(OUT.applied[2].kind, "redeem");
    CHECK_EQ_I64(OUT.applied[2].discount, 1000);
    CHECK_EQ_I64(OUT.applied[2].points, 0);

    /* Only excluded lines: points cannot pay for them. */
    lines_reset();
    line("tobacco", 1, 5000);
    p = purchase();
    p.redeem_points = 1;
    CHECK_EQ_I64(compute(&m, &p), -1);
    CHECK(has_field("redeem_points"));
}

static void test_coupons(void)
{
    struct engine_member m = member("basic");
    struct engine_purchase p;

    /* 101 over 1000 / 3000: 25.25 + 75.75 -> 25 + 75, the unit left to 0.75. */
    rules_base();
    lines_reset();
    line("dry", 1, 1000);
    line("dry", 1, 3000);
    p = purchase();
    p.coupon.kind = COUPON_VALUE;
    p.coupon.value = 101;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].discount, 25);
    CHECK_EQ_I64(OUT.lines[1].discount, 76);
    CHECK_EQ_I64(OUT.discount_total, 101);

    /* Ties go to the earlier line: 1 over 1000 / 1000; 2 over three 1000s. */
    lines_reset();
    line("dry", 1, 1000);
    line("dry", 1, 1000);
    p = purchase();
    p.coupon.kind = COUPON_VALUE;
    p.coupon.value = 1;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].coupon_share, 1);
    CHECK_EQ_I64(OUT.lines[1].coupon_share, 0);
    line("dry", 1, 1000);
    p = purchase();
    p.coupon.kind = COUPON_VALUE;
    p.coupon.value = 2;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].coupon_share, 1);
    CHECK_EQ_I64(OUT.lines[1].coupon_share, 1);
    CHECK_EQ_I64(OUT.lines[2].coupon_share, 0);

    /* A coupon larger than the eligible lines takes them to 0, not the
     * excluded line. */
    rules_base();
    exclude("tobacco");
    lines_reset();
    line("dry", 1, 1000);
    line("tobacco", 1, 500);
    line("dry", 1, 3000);
    p = purchase();
    p.coupon.kind = COUPON_VALUE;
    p.coupon.value = 10000;
    set_code(p.coupon.code, sizeof p.coupon.code, "BIG");
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].discount, 1000);
    CHECK_EQ_I64(OUT.lines[1].discount, 0);
    CHECK_EQ_I64(OUT.lines[2].discount, 3000);
    CHECK_EQ_I64(OUT.total_due, 500);
    CHECK_EQ_I64(OUT.points_earned, 0);
    CHECK_EQ_I64(OUT.net_spend, 0);
    CHECK_EQ_I64(OUT.applied[applied("coupon:BIG", "coupon")].discount, 4000);

    /* 10 % of 4005 = 400.5 -> 401, shared 100.22 + 300.78 -> 100 + 301. */
    rules_base();
    lines_reset();
    line("dry", 1, 1001);
    line("dry", 1, 3004);
    p = purchase();
    p.coupon.kind = COUPON_PCT;
    p.coupon.pct_x100 = 1000;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.discount_total, 401);
    CHECK_EQ_I64(OUT.lines[0].coupon_share, 100);
    CHECK_EQ_I64(OUT.lines[1].coupon_share, 301);

    /* The coupon comes after the tier discount: gold 5 % of 2000 = 100,
     * then 10 % of 1900 = 190. */
    lines_reset();
    line("dry", 1, 2000);
    p = purchase();
    p.coupon.kind = COUPON_PCT;
    p.coupon.pct_x100 = 1000;
    struct engine_member gold = member("gold");
    CHECK_EQ_I64(compute(&gold, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].coupon_share, 190);
    CHECK_EQ_I64(OUT.lines[0].discount, 290);
}

static void test_redeem(void)
{
    struct engine_member m = member("basic");
    struct engine_purchase p;

    rules_base();
    lines_reset();
    line("dry", 1, 4000);
    /* 2000 points x 100 / 100 = 2000 = exactly 50 % of 4000. */
    p = purchase();
    p.redeem_points = 2000;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.redeemed_value, 2000);
    CHECK_EQ_I64(OUT.total_due, 2000);
    CHECK_EQ_I64(OUT.points_earned, 20);
    CHECK_EQ_I64(OUT.net_spend, 2000);
    CHECK_STREQ(OUT.applied[applied("redeem", "redeem")].detail,
                "2000 points paid 2000 minor units");

    p.redeem_points = 2001;
    CHECK_EQ_I64(compute(&m, &p), -1);
    CHECK_EQ_I64(E.code, ERR_VALIDATION);
    CHECK(has_field("redeem_points"));

    p.redeem_points = -1;
    CHECK_EQ_I64(compute(&m, &p), -1);
    CHECK(has_field("redeem_points"));

    /* 300 points per unit of 100: 100 points = 33.33 -> refused; 3 -> 1. */
    R.redemption_points_per_unit = 300;
    p.redeem_points = 100;
    CHECK_EQ_I64(compute(&m, &p), -1);
    CHECK(has_field("redeem_points"));
    CHECK_STREQ(E.fields[0].message,
                "must be worth a whole number of minor units (a multiple of 3)");
    p.redeem_points = 3;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.redeemed_value, 1);
    p.redeem_points = 300;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.redeemed_value, 100);

    /* Shared 1000 over 1000 / 2000: 333.33 + 666.67 -> 333 + 667. */
    rules_base();
    lines_reset();
    line("dry", 1, 1000);
    line("dry", 1, 2000);
    p = purchase();
    p.redeem_points = 1000;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].redeemed_share, 333);
    CHECK_EQ_I64(OUT.lines[1].redeemed_share, 667);
    CHECK_EQ_I64(OUT.points_earned, 20);
}

/* Gold x1.5, fresh x2, birthday x2, promotion x3 on fresh: 10000 - 5 % =
 * 9500 -> 95 x 2 x 1.5 x 2 x 3 = 1710.  Added: promotion 1710 - 570,
 * category 1710 - 855, tier 1710 - 1140, birthday 1710 - 855. */
static void test_multiplier_stacking(void)
{
    rules_base();
    category_multiplier("fresh", 200);
    promo_category(promotion("triple", 300, 0, 0), "fresh");
    lines_reset();
    line("fresh", 1, 10000);
    struct engine_member m = member("gold");
    m.birthday_month = 11;
    m.birthday_day = 5;
    struct engine_purchase p = purchase();

    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK(OUT.birthday_window);
    CHECK_EQ_I64(OUT.lines[0].discount, 500);
    CHECK_EQ_I64(OUT.points_earned, 1710);
    CHECK_EQ_I64(OUT.napplied, 5);
    CHECK_STREQ(OUT.applied[0].rule, "tier:gold");
    CHECK_STREQ(OUT.applied[0].kind, "tier_discount");
    CHECK_EQ_I64(OUT.applied[0].discount, 500);
    CHECK_STREQ(OUT.applied[1].rule, "promotion:triple");
    CHECK_EQ_I64(OUT.applied[1].points, 1140);
    CHECK_STREQ(OUT.applied[1].detail, "x3 points");
    CHECK_STREQ(OUT.applied[2].rule, "category:fresh");
    CHECK_STREQ(OUT.applied[2].kind, "multiplier");
    CHECK_EQ_I64(OUT.applied[2].points, 855);
    CHECK_STREQ(OUT.applied[2].detail, "x2 points on fresh");
    CHECK_STREQ(OUT.applied[3].rule, "tier:gold");
    CHECK_STREQ(OUT.applied[3].kind, "multiplier");
    CHECK_EQ_I64(OUT.applied[3].points, 570);
    CHECK_STREQ(OUT.applied[4].rule, "birthday");
    CHECK_EQ_I64(OUT.applied[4].points, 855);
    CHECK_STREQ(OUT.applied[4].detail, "x2 points in the birthday window");

    /* Out of the birthday month: 95 x 2 x 1.5 x 3 = 855, no birthday entry. */
    m.birthday_month = 12;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK(!OUT.birthday_window);
    CHECK_EQ_I64(OUT.points_earned, 855);
    CHECK_EQ_I64(applied("birthday", "multiplier"), -1);
}

static void test_highest_promotion(void)
{
    struct engine_member m = member("basic");

    /* fresh: max(x2, x3, x1.5) = x3 -> 30; dry: x3 -> 30. */
    rules_base();
    promo_category(promotion("A", 200, 0, 0), "fresh");
    struct rules_promotion *b = promotion("B", 300, 0, 0);
    promo_category(promotion("C", 150, 0, 0), "fresh");
    lines_reset();
    line("fresh", 1, 1000);
    line("dry", 1, 1000);
    struct engine_purchase p = purchase();
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].points, 30);
    CHECK_EQ_I64(OUT.lines[1].points, 30);
    CHECK_EQ_I64(OUT.napplied, 1);
    CHECK_EQ_I64(OUT.applied[0].points, 40);

    /* B only on dry: fresh max(x2, x1.5) = x2 -> 20; C does nothing. */
    promo_category(b, "dry");
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].points, 20);
    CHECK_EQ_I64(OUT.lines[1].points, 30);
    CHECK_EQ_I64(OUT.napplied, 2);
    CHECK_EQ_I64(OUT.applied[applied("promotion:A", "promotion")].points, 10);
    CHECK_EQ_I64(OUT.applied[applied("promotion:B", "promotion")].points, 20);
    CHECK_EQ_I64(applied("promotion:C", "promotion"), -1);

    /* Equal multipliers: the earlier promotion gets the credit. */
    rules_base();
    promotion("first", 200, 0, 0);
    promotion("second", 200, 0, 0);
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.points_earned, 40);
    CHECK_EQ_I64(OUT.napplied, 1);
    CHECK_STREQ(OUT.applied[0].rule, "promotion:first");
}

static void test_bonus(void)
{
    struct engine_member m = member("basic");

    /* Bonus points of a firing promotion count even when none of its
     * categories is bought. */
    rules_base();
    promo_category(promotion("gift", 100, 100, 0), "fresh");
    promotion("more", 100, 7, 0);
    lines_reset();
    line("dry", 1, 1000);
    struct engine_purchase p = purchase();
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].points, 10);
    CHECK_EQ_I64(OUT.bonus_points, 107);
    CHECK_EQ_I64(OUT.points_earned, 117);
    CHECK_EQ_I64(OUT.applied[0].points, 100);
    CHECK_STREQ(OUT.applied[0].detail, "+100 bonus points");
    CHECK_EQ_I64(OUT.applied[1].points, 7);

    /* A promotion whose condition is false gives nothing. */
    R.promotions[0].when = leaf_int(FACT_PURCHASE_SUBTOTAL, OP_GE, 1001);
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.points_earned, 17);
    R.nodes[R.promotions[0].when].ints[0] = 1000;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.points_earned, 117);
}

static void test_promotion_window(void)
{
    struct engine_member m = member("basic");

    rules_base();
    struct rules_promotion *pr = promotion("window", 200, 0, 0);
    pr->starts_at_us = T0;
    pr->ends_at_us = T0 + 1000;
    lines_reset();
    line("dry", 1, 1000);
    struct engine_purchase p = purchase();

    p.occurred_at_us = T0 - 1;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.points_earned, 10);
    p.occurred_at_us = T0;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.points_earned, 20);
    p.occurred_at_us = T0 + 999;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.points_earned, 20);
    p.occurred_at_us = T0 + 1000;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.points_earned, 10);
}

static void test_tiers(void)
{
    struct engine_purchase p;

    rules_base();
    CHECK_EQ_I64(rules_tier_index(&R, "gold"), 2);
    CHECK_EQ_I64(rules_tier_index(&R, "platinum"), -1);
    CHECK_EQ_I64(rules_tier_index(&R, NULL), -1);

    /* Silver with 990000: 20000 - 2 % = 19600 of net spend reaches gold;
     * the discount and multiplier are silver's: 196 x 1.25 = 245. */
    lines_reset();
    line("dry", 1, 20000);
    p = purchase();
    struct engine_member m = member("silver");
    m.qualifying_spend = 990000;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.tier_before, 1);
    CHECK_EQ_I64(OUT.tier_after, 2);
    CHECK_EQ_I64(OUT.discount_total, 400);
    CHECK_EQ_I64(OUT.points_earned, 245);

    /* One short of gold stays silver: 980400 + 19600 = 1000000 is gold,
     * 980399 is not. */
    m.qualifying_spend = 980399;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.tier_after, 1);
    m.qualifying_spend = 980400;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.tier_after, 2);

    /* Basic straight to gold in one purchase. */
    lines_reset();
    line("dry", 1, 1000000);
    p = purchase();
    m = member("basic");
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.tier_after, 2);

    /* No downgrade in a purchase. */
    lines_reset();
    line("dry", 1, 100);
    p = purchase();
    m = member("gold");
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.tier_before, 2);
    CHECK_EQ_I64(OUT.tier_after, 2);

    /* An unknown tier is the first tier. */
    m = member("platinum");
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.tier_before, 0);
    CHECK_EQ_I64(OUT.discount_total, 0);
}

static bool in_window(enum rules_birthday_window window, int bm, int bd, int y, int mo, int d)
{
    struct engine_member m = member("basic");
    struct engine_local_time t = {.year = y, .month = mo, .day = d, .hour = 12, .weekday = 0};

    R.birthday_window = window;
    m.birthday_month = bm;
    m.birthday_day = bd;
    return engine_in_birthday_window(&R, &m, &t);
}

static void test_birthday(void)
{
    rules_base();
    /* day */
    CHECK(in_window(BIRTHDAY_DAY, 5, 14, 2026, 5, 14));
    CHECK(!in_window(BIRTHDAY_DAY, 5, 14, 2026, 5, 13));
    CHECK(!in_window(BIRTHDAY_DAY, 5, 14, 2026, 5, 15));
    /* week across the new year, both ways */
    CHECK(in_window(BIRTHDAY_WEEK, 12, 30, 2026, 12, 27));
    CHECK(!in_window(BIRTHDAY_WEEK, 12, 30, 2026, 12, 26));
    CHECK(in_window(BIRTHDAY_WEEK, 12, 30, 2027, 1, 2));
    CHECK(!in_window(BIRTHDAY_WEEK, 12, 30, 2027, 1, 3));
    CHECK(in_window(BIRTHDAY_WEEK, 1, 2, 2026, 12, 30));
    CHECK(!in_window(BIRTHDAY_WEEK, 1, 2, 2026, 12, 29));
    CHECK(in_window(BIRTHDAY_WEEK, 1, 2, 2027, 1, 5));
    CHECK(!in_window(BIRTHDAY_WEEK, 1, 2, 2027, 1, 6));
    /* month */
    CHECK(in_window(BIRTHDAY_MONTH, 5, 14, 2026, 5, 1));
    CHECK(in_window(BIRTHDAY_MONTH, 5, 14, 2026, 5, 31));
    CHECK(!in_window(BIRTHDAY_MONTH, 5, 14, 2026, 6, 1));
    /* 29 February: itself in a leap year, 28 February in others */
    CHECK(in_window(BIRTHDAY_DAY, 2, 29, 2028, 2, 29));
    CHECK(!in_window(BIRTHDAY_DAY, 2, 29, 2028, 2, 28));
    CHECK(in_window(BIRTHDAY_DAY, 2, 29, 2027, 2, 28));
    CHECK(!in_window(BIRTHDAY_DAY, 2, 29, 2027, 3, 1));
    CHECK(in_window(BIRTHDAY_WEEK, 2, 29, 2028, 3, 3));
    CHECK(!in_window(BIRTHDAY_WEEK, 2, 29, 2028, 3, 4));
    CHECK(in_window(BIRTHDAY_WEEK, 2, 29, 2028, 2, 26));
    CHECK(!in_window(BIRTHDAY_WEEK, 2, 29, 2028, 2, 25));
    CHECK(in_window(BIRTHDAY_WEEK, 2, 29, 2027, 2, 25));
    CHECK(!in_window(BIRTHDAY_WEEK, 2, 29, 2027, 2, 24));
    CHECK(in_window(BIRTHDAY_WEEK, 2, 29, 2027, 3, 3));
    CHECK(!in_window(BIRTHDAY_WEEK, 2, 29, 2027, 3, 4));
    CHECK(in_window(BIRTHDAY_MONTH, 2, 29, 2027, 2, 1));
    /* unknown or impossible birthdays, impossible dates */
    CHECK(!in_window(BIRTHDAY_MONTH, 0, 0, 2026, 1, 1));
    CHECK(!in_window(BIRTHDAY_DAY, 2, 30, 2026, 3, 2));
    CHECK(!in_window(BIRTHDAY_MONTH, 13, 1, 2026, 1, 1));
    CHECK(!in_window(BIRTHDAY_DAY, 2, 28, 2026, 2, 29));
    CHECK(!in_window((enum rules_birthday_window)7, 5, 14, 2026, 5, 14));
}

/* ----------------------------------------------------------- conditions -- */

static struct engine_member CM;
static struct engine_purchase CP;

/* fresh 2 x 1250 + dry 1 x 500: subtotal 3000, 3 items; Saturday 10:xx at S001. */
static void condition_setup(void)
{
    rules_base();
    lines_reset();
    line("fresh", 2, 1250);
    line("dry", 1, 500);
    CP = purchase();
    CM = member("silver");
}

static bool cond(int node)
{
    return engine_condition(&R, node, &CM, &CP, true);
}

static void test_condition_facts_and_ops(void)
{
    static const int64_t one_three[2] = {1, 3};
    static const int64_t three[1] = {3};

    condition_setup();
    CHECK(cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_EQ, 3000)));
    CHECK(!cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_NE, 3000)));
    CHECK(cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_LT, 3001)));
    CHECK(!cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_LT, 3000)));
    CHECK(cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_LE, 3000)));
    CHECK(!cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_LE, 2999)));
    CHECK(cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_GT, 2999)));
    CHECK(!cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_GT, 3000)));
    CHECK(cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_GE, 3000)));
    CHECK(!cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_GE, 3001)));
    CHECK(cond(leaf_int(FACT_PURCHASE_ITEM_COUNT, OP_EQ, 3)));
    CHECK(cond(leaf_ints(FACT_PURCHASE_ITEM_COUNT, OP_IN, 2, one_three)));
    CHECK(!cond(leaf_ints(FACT_PURCHASE_ITEM_COUNT, OP_NOT_IN, 1, three)));
    CHECK(!cond(leaf_ints(FACT_PURCHASE_ITEM_COUNT, OP_IN, 0, three)));
    CHECK(cond(leaf_str(FACT_PURCHASE_WEEKDAY, OP_EQ, "sat")));
    CHECK(cond(leaf_str(FACT_PURCHASE_WEEKDAY, OP_NE, "sun")));
    CHECK(cond(leaf_strs(FACT_PURCHASE_WEEKDAY, OP_IN, 2, "sat", "sun")));
    CHECK(!cond(leaf_strs(FACT_PURCHASE_WEEKDAY, OP_NOT_IN, 2, "sat", "sun")));
    CP.local.weekday = 0;
    CHECK(cond(leaf_str(FACT_PURCHASE_WEEKDAY, OP_EQ, "mon")));
    CP.local.weekday = 6;
    CHECK(cond(leaf_str(FACT_PURCHASE_WEEKDAY, OP_EQ, "sun")));
    CP.local.weekday = 5;
    CHECK(cond(leaf_int(FACT_PURCHASE_HOUR, OP_GE, 10)));
    CHECK(!cond(leaf_int(FACT_PURCHASE_HOUR, OP_LT, 10)));
    CHECK(cond(leaf_str(FACT_PURCHASE_STORE_ID, OP_EQ, "S001")));
    CHECK(!cond(leaf_strs(FACT_PURCHASE_STORE_ID, OP_IN, 1, "S002")));
    CHECK(cond(leaf_str(FACT_PURCHASE_CATEGORIES, OP_CONTAINS, "fresh")));
    CHECK(!cond(leaf_str(FACT_PURCHASE_CATEGORIES, OP_CONTAINS, "tobacco")));
    CHECK(cond(leaf_strs(FACT_PURCHASE_CATEGORIES, OP_IN, 2, "tobacco", "dry")));
    CHECK(!cond(leaf_strs(FACT_PURCHASE_CATEGORIES, OP_IN, 1, "tobacco")));
    CHECK(cond(leaf_strs(FACT_PURCHASE_CATEGORIES, OP_NOT_IN, 1, "tobacco")));
    CHECK(!cond(leaf_strs(FACT_PURCHASE_CATEGORIES, OP_NOT_IN, 2, "tobacco", "fresh")));
    CHECK(!cond(leaf_strs(FACT_PURCHASE_CATEGORIES, OP_IN, 0)));
    CHECK(cond(leaf_strs(FACT_PURCHASE_CATEGORIES, OP_NOT_IN, 0)));
    CHECK(cond(leaf_str(FACT_MEMBER_TIER, OP_EQ, "silver")));
    CHECK(!cond(leaf_strs(FACT_MEMBER_TIER, OP_IN, 1, "gold")));
    CM.tier = "platinum"; /* unknown: the first tier */
    CHECK(cond(leaf_str(FACT_MEMBER_TIER, OP_EQ, "basic")));
    CM.tier = "silver";
    CHECK(cond(leaf_int(FACT_MEMBER_DAYS_SINCE_ENROLLED, OP_GT, 99)));
    CHECK(cond(leaf_int(FACT_MEMBER_PURCHASE_COUNT, OP_EQ, 3)));
    CHECK(cond(leaf_int(FACT_MEMBER_DAYS_SINCE_LAST_PURCHASE, OP_LE, 10)));
    CM.days_since_last_purchase = -1;
    CHECK(cond(leaf_int(FACT_MEMBER_DAYS_SINCE_LAST_PURCHASE, OP_EQ, -1)));
    CHECK(cond(leaf_bool(FACT_MEMBER_IS_BIRTHDAY_WINDOW, OP_EQ, true)));
    CHECK(!cond(leaf_bool(FACT_MEMBER_IS_BIRTHDAY_WINDOW, OP_NE, true)));
    CHECK(!engine_condition(&R, leaf_bool(FACT_MEMBER_IS_BIRTHDAY_WINDOW, OP_EQ, true), &CM, &CP,
                            false));
    CHECK(cond(leaf_str(FACT_MEMBER_SEGMENT, OP_EQ, "important-value")));
    CHECK(cond(leaf_strs(FACT_MEMBER_LIFECYCLE_STAGE, OP_IN, 2, "silent", "active")));
    CM.segment = NULL; /* unknown is "" */
    CHECK(cond(leaf_str(FACT_MEMBER_SEGMENT, OP_EQ, "")));
}

static void test_condition_trees(void)
{
    condition_setup();
    int t = leaf_int(FACT_PURCHASE_SUBTOTAL, OP_EQ, 3000);
    int f = leaf_int(FACT_PURCHASE_SUBTOTAL, OP_EQ, 1);

    CHECK(cond(-1));
    CHECK(cond(combine(NODE_ALL, 0)));
    CHECK(!cond(combine(NODE_ANY, 0)));
    CHECK(cond(combine(NODE_ALL, 2, t, t)));
    CHECK(!cond(combine(NODE_ALL, 2, t, f)));
    CHECK(cond(combine(NODE_ANY, 2, f, t)));
    CHECK(!cond(combine(NODE_ANY, 2, f, f)));
    CHECK(!cond(combine(NODE_NOT, 1, t)));
    CHECK(cond(combine(NODE_NOT, 1, f)));
    CHECK(cond(combine(NODE_ALL, 2, combine(NODE_NOT, 1, f), combine(NODE_ANY, 2, f, t))));

    /* 8 nested combinators hold; 9 are invalid. */
    int deep = t;
    for (int i = 0; i < RULES_MAX_DEPTH; i++)
        deep = combine(NODE_ALL, 1, deep);
    CHECK(cond(deep));
    CHECK(!cond(combine(NODE_ALL, 1, deep)));
}

static void test_condition_invalid(void)
{
    condition_setup();
    int f = leaf_int(FACT_PURCHASE_SUBTOTAL, OP_EQ, 1);

    CHECK(!cond(R.nnodes));
    CHECK(!cond(-2));
    CHECK(!cond(RULES_MAX_NODES + 5));
    /* value type, op and fact mismatches */
    CHECK(!cond(leaf_str(FACT_PURCHASE_SUBTOTAL, OP_EQ, "3000")));
    CHECK(!cond(leaf_int(FACT_PURCHASE_SUBTOTAL, OP_CONTAINS, 3000)));
    CHECK(!cond(leaf_str(FACT_PURCHASE_WEEKDAY, OP_LT, "sat")));
    CHECK(!cond(leaf_str(FACT_PURCHASE_WEEKDAY, OP_IN, "sat")));
    CHECK(!cond(leaf_str(FACT_PURCHASE_CATEGORIES, OP_EQ, "fresh")));
    CHECK(!cond(leaf_int(FACT_MEMBER_IS_BIRTHDAY_WINDOW, OP_EQ, 1)));
    CHECK(!cond(leaf_bool(FACT_MEMBER_IS_BIRTHDAY_WINDOW, OP_GT, true)));
    CHECK(!cond(leaf_int((enum rules_fact)FACT__COUNT, OP_EQ, 1)));
    CHECK(!cond(leaf_int(FACT_PURCHASE_SUBTOTAL, (enum rules_op)42, 1)));
    int many = leaf_strs(FACT_PURCHASE_WEEKDAY, OP_IN, 1, "sat");
    R.nodes[many].nvalues = RULES_MAX_VALUES + 1;
    CHECK(!cond(many));
    int unterminated = leaf_str(FACT_PURCHASE_STORE_ID, OP_EQ, "S001");
    memset(R.nodes[unterminated].strs[0], 'x', sizeof R.nodes[0].strs[0]);
    CHECK(!cond(unterminated));
    /* an invalid node makes the whole tree false, even under `not` */
    int bad = leaf_str(FACT_PURCHASE_SUBTOTAL, OP_EQ, "x");
    CHECK(!cond(combine(NODE_NOT, 1, bad)));
    CHECK(!cond(combine(NODE_ANY, 2, combine(NODE_NOT, 1, f), bad)));
    CHECK(!cond(combine(NODE_NOT, 2, f, f)));
    CHECK(!cond(combine(NODE_NOT, 0)));
    int kind = combine(NODE_ALL, 0);
    R.nodes[kind].kind = (enum rules_node_kind)9;
    CHECK(!cond(kind));
    /* a cycle */
    int loop = combine(NODE_ANY, 1, 0);
    R.nodes[loop].children[0] = (int16_t)loop;
    CHECK(!cond(loop));
    /* a DAG that would take 16^8 visits: refused after RULES_MAX_NODES */
    int level = f;
    for (int d = 0; d < RULES_MAX_DEPTH; d++) {
        int n = combine(NODE_ANY, 0);
        R.nodes[n].nchildren = RULES_MAX_VALUES;
        for (int k = 0; k < RULES_MAX_VALUES; k++)
            R.nodes[n].children[k] = (int16_t)level;
        level = n;
    }
    CHECK(!cond(level));
}

/* ------------------------------------------------------------- points -- */

static void test_points_remainders(void)
{
    struct engine_member m = member("basic");
    struct engine_purchase p;

    rules_base();
    /* 0.5 + 0.5 + 0.5 = 1.5 -> 1, the tie to the first line. */
    lines_reset();
    line("dry", 1, 50);
    line("dry", 1, 50);
    line("dry", 1, 50);
    p = purchase();
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].points, 1);
    CHECK_EQ_I64(OUT.lines[1].points, 0);
    CHECK_EQ_I64(OUT.lines[2].points, 0);
    CHECK_EQ_I64(OUT.points_earned, 1);

    /* 0.3 + 0.7 + 0.5 = 1.5 -> 1 to the 0.7. */
    lines_reset();
    line("dry", 1, 30);
    line("dry", 1, 70);
    line("dry", 1, 50);
    p = purchase();
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].points, 0);
    CHECK_EQ_I64(OUT.lines[1].points, 1);
    CHECK_EQ_I64(OUT.lines[2].points, 0);

    /* 0.6 + 0.6 + 0.6 + 1.2 = 3 -> 0 + 0 + 0 + 1 floored, 2 more to the
     * first two 0.6s. */
    lines_reset();
    line("dry", 1, 60);
    line("dry", 1, 60);
    line("dry", 1, 60);
    line("dry", 1, 120);
    p = purchase();
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].points, 1);
    CHECK_EQ_I64(OUT.lines[1].points, 1);
    CHECK_EQ_I64(OUT.lines[2].points, 0);
    CHECK_EQ_I64(OUT.lines[3].points, 1);
    CHECK_EQ_I64(OUT.points_earned, 3);

    /* 3 points per 1000 minor units: 2.997 + 3.003 = 6; floors 2 + 3, the
     * point left over to the 0.997. */
    R.earn_points_per_unit = 3;
    R.earn_unit = 1000;
    lines_reset();
    line("dry", 1, 999);
    line("dry", 1, 1001);
    p = purchase();
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.lines[0].points, 3);
    CHECK_EQ_I64(OUT.lines[1].points, 3);
    CHECK_EQ_I64(OUT.points_earned, 6);
}

static void test_limits_and_overflow(void)
{
    struct engine_member m = member("basic");
    struct engine_purchase p;

    rules_base();
    lines_reset();
    line("dry", 0, 100);
    line("dry", 1, -1);
    p = purchase();
    CHECK_EQ_I64(compute(&m, &p), -1);
    CHECK_EQ_I64(E.code, ERR_VALIDATION);
    CHECK(has_field("items[0].quantity"));
    CHECK(has_field("items[1].unit_price"));

    lines_reset();
    p = purchase();
    CHECK_EQ_I64(compute(&m, &p), -1);
    CHECK(has_field("items"));

    /* The largest purchase fits: 500 lines of 100000 x 100000000000. */
    for (int i = 0; i < ENGINE_MAX_LINES; i++)
        line("dry", 100000, INT64_C(100000000000));
    p = purchase();
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.subtotal, INT64_C(5000000000000000000));
    CHECK_EQ_I64(OUT.points_earned, INT64_C(50000000000000000));

    /* ... but not with absurd earn rates. */
    R.earn_points_per_unit = INT64_MAX;
    CHECK_EQ_I64(compute(&m, &p), -1);
    CHECK_EQ_I64(E.code, ERR_VALIDATION);
    CHECK(has_field("items"));
}

static void test_deterministic(void)
{
    static struct engine_result first;

    rules_base();
    exclude("tobacco");
    category_multiplier("fresh", 150);
    promo_category(promotion("p", 250, 30, 150), "fresh");
    lines_reset();
    line("fresh", 3, 333);
    line("tobacco", 1, 999);
    line("dry", 7, 101);
    struct engine_member m = member("silver");
    m.birthday_month = 11;
    m.birthday_day = 30;
    struct engine_purchase p = purchase();
    p.coupon.kind = COUPON_PCT;
    p.coupon.pct_x100 = 333;
    p.redeem_points = 500;

    CHECK_EQ_I64(compute(&m, &p), 0);
    memcpy(&first, &OUT, sizeof OUT);
    memset(&OUT, 0xa5, sizeof OUT);
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK(engine_same(&first, &OUT));
}

/* Semantics 5: the referral fires on the first purchase whose net spend
 * (after discounts, not counting excluded lines) reaches the threshold,
 * and only while it is pending; its points are not part of points_earned. */
static void test_referral(void)
{
    rules_base();
    exclude("tobacco");
    R.referral_referrer_points = 300;
    R.referral_referee_points = 200;
    R.referral_min_first_purchase = 5000;

    lines_reset();
    line("dry", 1, 4999);
    line("tobacco", 1, 100000);
    struct engine_member m = member("basic");
    m.referral_pending = true;
    struct engine_purchase p = purchase();
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK(!OUT.referral);
    CHECK_EQ_I64(OUT.referee_points + OUT.referrer_points, 0);
    CHECK_EQ_I64(OUT.napplied, 0);

    lines_reset();
    line("dry", 1, 5000);
    p = purchase();
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK(OUT.referral);
    CHECK_EQ_I64(OUT.referee_points, 200);
    CHECK_EQ_I64(OUT.referrer_points, 300);
    CHECK_EQ_I64(OUT.points_earned, 50);
    CHECK_EQ_I64(OUT.napplied, 1);
    CHECK_STREQ(OUT.applied[0].rule, "referral");
    CHECK_STREQ(OUT.applied[0].kind, "referral");
    CHECK_EQ_I64(OUT.applied[0].points, 200);

    m.referral_pending = false;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK(!OUT.referral);

    /* Silver's 2 % discount takes 5000 below the threshold. */
    m = member("silver");
    m.referral_pending = true;
    CHECK_EQ_I64(compute(&m, &p), 0);
    CHECK_EQ_I64(OUT.net_spend, 4900);
    CHECK(!OUT.referral);
}

int main(void)
{
    test_basic();
    test_discount_rounding();
    test_discount_cap();
    test_excluded();
    test_coupons();
    test_redeem();
    test_multiplier_stacking();
    test_highest_promotion();
    test_bonus();
    test_promotion_window();
    test_tiers();
    test_birthday();
    test_condition_facts_and_ops();
    test_condition_trees();
    test_condition_invalid();
    test_points_remainders();
    test_limits_and_overflow();
    test_deterministic();
    test_referral();
    return check_report();
}
