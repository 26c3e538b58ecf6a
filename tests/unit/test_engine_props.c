/*
 * test_engine_props.c - properties of the rules engine over thousands of
 * random rule sets and purchases from a fixed-seed PRNG (so every run
 * checks the same cases and a failure can be replayed):
 *   - the money adds up: discount_total + redeemed_value + total_due ==
 *     subtotal; net_spend == Σ line net spend; coupon and redeemed shares
 *     add up to the coupon and the redeemed value;
 *   - the points add up: Σ lines[].points + bonus_points == points_earned,
 *     every line's points are its exact value floored or one more, and
 *     their sum is the floor of the exact sum (an independent oracle below);
 *   - bounds: points >= 0; every line's tier + promotion discount <= the
 *     max_discount_pct cap and every discount <= its amount; excluded lines
 *     get nothing; tier_after >= tier_before;
 *   - determinism: computing twice gives the same bytes;
 *   - robustness: damaged rule sets and random condition node soups never
 *     crash or hang the engine.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "engine_same.h"
#include "rules/engine.h"
#include "rules/rules.h"

#define T0     INT64_C(1795400100000000)
#define DAY_US INT64_C(86400000000)

__extension__ typedef unsigned __int128 u128;

static uint64_t rng_state = UINT64_C(0x6c6f79616c747964); /* fixed seed */

/* splitmix64 */
static uint64_t rng(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in lo..hi (inclusive). */
static int64_t between(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

static bool chance(int percent)
{
    return between(1, 100) <= percent;
}

static const char *const CATEGORIES[] = {"fresh", "dry", "tobacco", "gift_card", "dairy", "toys"};
#define NCATEGORIES 6
static const char *const TIERS[] = {"basic", "silver", "gold", "black"};

static struct rules R;
static struct engine_result OUT, AGAIN;
static struct err E;
static struct engine_line_in LINES[ENGINE_MAX_LINES];

static void set_code(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s);
}

static const char *any_category(void)
{
    return CATEGORIES[between(0, NCATEGORIES - 1)];
}

/* ------------------------------------------------------- random inputs -- */

/* A random valid leaf. */
static int random_leaf(void)
{
    static const char *const weekdays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    int i = R.nnodes++;
    struct rules_node *n = &R.nodes[i];

    memset(n, 0, sizeof *n);
    n->kind = NODE_LEAF;
    n->nvalues = 1;
    switch (between(0, 5)) {
    case 0:
        n->fact = FACT_PURCHASE_SUBTOTAL;
        n->op = (enum rules_op)between(OP_EQ, OP_GE);
        n->type = VALUE_INT;
        n->ints[0] = between(0, 50000);
        break;
    case 1:
        n->fact = FACT_PURCHASE_ITEM_COUNT;
        n->op = (enum rules_op)between(OP_EQ, OP_GE);
        n->type = VALUE_INT;
        n->ints[0] = between(1, 20);
        break;
    case 2:
        n->fact = FACT_PURCHASE_WEEKDAY;
        n->op = OP_IN;
        n->type = VALUE_STRING_LIST;
        n->nvalues = (int)between(0, 3);
        for (int k = 0; k < n->nvalues; k++)
            set_code(n->strs[k], sizeof n->strs[k], weekdays[between(0, 6)]);
        break;
    case 3:
        n->fact = FACT_PURCHASE_CATEGORIES;
        n->op = OP_CONTAINS;
        n->type = VALUE_STRING;
        set_code(n->strs[0], sizeof n->strs[0], any_category());
        break;
    case 4:
        n->fact = FACT_MEMBER_TIER;
        n->op = chance(50) ? OP_EQ : OP_NE;
        n->type = VALUE_STRING;
        set_code(n->strs[0], sizeof n->strs[0], TIERS[between(0, 3)]);
        break;
    default:
        n->fact = FACT_MEMBER_IS_BIRTHDAY_WINDOW;
        n->op = OP_EQ;
        n->type = VALUE_BOOL;
        n->ints[0] = chance(50);
        break;
    }
    return i;
}

/* A random valid tree of depth <= depth. */
static int random_tree(int depth)
{
    if (depth == 0 || R.nnodes > RULES_MAX_NODES - 40 || chance(40))
        return random_leaf();
    int nchildren = (int)between(0, 3);
    int children[3];
    for (int k = 0; k < nchildren; k++)
        children[k] = random_tree(depth - 1);
    int i = R.nnodes++;
    struct rules_node *n = &R.nodes[i];
    memset(n, 0, sizeof *n);
    n->kind = (enum rules_node_kind)between(NODE_ALL, NODE_NOT);
    if (n->kind == NODE_NOT && nchildren != 1) {
        nchildren = 1;
        children[0] = random_leaf();
    }
    n->nchildren = nchildren;
    for (int k = 0; k < nchildren; k++)
        n->children[k] = (int16_t)children[k];
    return i;
}

static void random_rules(void)
{
    static const int64_t units[] = {1, 10, 100, 1000};
    static const int64_t per_unit[] = {1, 3, 10, 100, 300};

    memset(&R, 0, sizeof R);
    set_code(R.currency, sizeof R.currency, "CNY");
    set_code(R.timezone, sizeof R.timezone, "Asia/Shanghai");
    R.earn_points_per_unit = between(1, 10);
    R.earn_unit = units[between(0, 3)];
    R.nexcluded = (int)between(0, 2);
    for (int i = 0; i < R.nexcluded; i++)
        set_code(R.excluded[i], sizeof R.excluded[i], any_category());
    R.ncategory_multipliers = (int)between(0, 3);
    for (int i = 0; i < R.ncategory_multipliers; i++) {
        set_code(R.category_multipliers[i].category, sizeof R.category_multipliers[i].category,
                 any_category());
        R.category_multipliers[i].multiplier_x100 = (int32_t)between(50, 500);
    }
    R.ntiers = (int)between(1, 4);
    int64_t spend = 0;
    for (int i = 0; i < R.ntiers; i++) {
        set_code(R.tiers[i].code, sizeof R.tiers[i].code, TIERS[i]);
        set_code(R.tiers[i].name, sizeof R.tiers[i].name, TIERS[i]);
        R.tiers[i].min_spend = spend;
        spend += between(1, 500000);
        R.tiers[i].discount_pct_x100 = (int32_t)between(0, 2000);
        R.tiers[i].points_multiplier_x100 = (int32_t)between(100, 300);
    }
    R.birthday_window = (enum rules_birthday_window)between(BIRTHDAY_DAY, BIRTHDAY_MONTH);
    R.birthday_multiplier_x100 = (int32_t)between(100, 300);
    R.npromotions = (int)between(0, 5);
    for (int k = 0; k < R.npromotions; k++) {
        struct rules_promotion *pr = &R.promotions[k];
        char code[24];
        snprintf(code, sizeof code, "promo%d", k);
        set_code(pr->code, sizeof pr->code, code);
        pr->multiplier_x100 = chance(30) ? 100 : (int32_t)between(100, 400);
        pr->bonus_points = chance(60) ? 0 : between(1, 200);
        pr->discount_pct_x100 = chance(50) ? 0 : (int32_t)between(1, 3000);
        pr->starts_at_us = T0 + between(-3, 1) * DAY_US;
        pr->ends_at_us = pr->starts_at_us + between(0, 4) * DAY_US;
        pr->when = chance(40) ? -1 : random_tree(3);
        pr->ncategories = (int)between(0, 2);
        for (int i = 0; i < pr->ncategories; i++)
            set_code(pr->categories[i], sizeof pr->categories[i], any_category());
    }
    R.redemption_points_per_unit = per_unit[between(0, 4)];
    R.redemption_max_bill_pct_x100 = (int32_t)between(0, 10000);
    R.max_discount_pct_x100 = (int32_t)between(0, 10000);
}

static struct engine_member random_member(void)
{
    struct engine_member m;

    memset(&m, 0, sizeof m);
    m.tier = chance(90) ? TIERS[between(0, 3)] : "unknown";
    m.qualifying_spend = between(0, 2000000);
    if (chance(80)) {
        m.birthday_month = (int)between(1, 12);
        m.birthday_day = chance(10) && m.birthday_month == 2 ? 29 : (int)between(1, 28);
    }
    m.days_since_enrolled = between(0, 1000);
    m.purchase_count = between(0, 50);
    m.days_since_last_purchase = between(-1, 400);
    m.segment = "";
    m.lifecycle_stage = "";
    return m;
}

static struct engine_purchase random_purchase(void)
{
    struct engine_purchase p;

    memset(&p, 0, sizeof p);
    p.nlines = (int)(chance(2) ? between(100, ENGINE_MAX_LINES) : between(1, 12));
    for (int i = 0; i < p.nlines; i++) {
        LINES[i].sku = "SKU";
        LINES[i].category = any_category();
        LINES[i].quantity = chance(3) ? between(1, 100000) : between(1, 5);
        LINES[i].unit_price = chance(3) ? between(0, INT64_C(100000000000)) : between(0, 20000);
    }
    p.lines = LINES;
    p.store_id = "S001";
    p.occurred_at_us = T0 + between(-2 * DAY_US, 2 * DAY_US);
    p.local.year = (int)between(2024, 2028);
    p.local.month = (int)between(1, 12);
    p.local.day = (int)between(1, 28);
    p.local.hour = (int)between(0, 23);
    p.local.weekday = (int)between(0, 6);
    switch (between(0, 2)) {
    case 0:
        p.coupon.kind = COUPON_NONE;
        break;
    case 1:
        p.coupon.kind = COUPON_VALUE;
        p.coupon.value = between(0, 30000);
        break;
    default:
        p.coupon.kind = COUPON_PCT;
        p.coupon.pct_x100 = (int32_t)between(0, 10000);
        break;
    }
    set_code(p.coupon.code, sizeof p.coupon.code, "CPN");
    /* Mostly whole-unit amounts (so most purchases go through), some not. */
    if (chance(50))
        p.redeem_points =
            chance(80) ? between(0, 50) * R.redemption_points_per_unit : between(0, 5000);
    return p;
}

/* ------------------------------------------------------------ oracle -- */

static int64_t nonneg(int64_t v)
{
    return v < 0 ? 0 : v;
}

static bool is_excluded(const char *category)
{
    for (int i = 0; i < R.nexcluded; i++)
        if (strcmp(R.excluded[i], category) == 0)
            return true;
    return false;
}

static bool covers(const struct rules_promotion *pr, const char *category)
{
    if (pr->ncategories == 0)
        return true;
    for (int i = 0; i < pr->ncategories; i++)
        if (strcmp(pr->categories[i], category) == 0)
            return true;
    return false;
}

/* The exact points numerator of line i over unit x 100^4, written from the
 * contract's formula independently of src/rules/points.c. */
static u128 exact_points(const struct engine_member *m, const struct engine_purchase *p, int i)
{
    const struct engine_line_out *line = &OUT.lines[i];
    const char *category = p->lines[i].category;
    int tier = rules_tier_index(&R, m->tier);
    bool birthday = engine_in_birthday_window(&R, m, &p->local);
    int64_t cat = 100, promo = 100;
    bool any_promo = false;

    if (line->excluded)
        return 0;
    for (int j = 0; j < R.ncategory_multipliers; j++)
        if (strcmp(R.category_multipliers[j].category, category) == 0) {
            cat = R.category_multipliers[j].multiplier_x100;
            break;
        }
    for (int k = 0; k < R.npromotions; k++) {
        const struct rules_promotion *pr = &R.promotions[k];
        bool fires = pr->starts_at_us <= p->occurred_at_us && p->occurred_at_us < pr->ends_at_us &&
                     engine_condition(&R, pr->when, m, p, birthday);
        if (fires && covers(pr, category) && (!any_promo || pr->multiplier_x100 > promo)) {
            promo = pr->multiplier_x100;
            any_promo = true;
        }
    }
    u128 base = (u128)(line->amount - line->discount - line->redeemed_share);
    return base * (u128)R.earn_points_per_unit * (u128)cat *
           (u128)R.tiers[tier < 0 ? 0 : tier].points_multiplier_x100 *
           (u128)(birthday ? R.birthday_multiplier_x100 : 100) * (u128)promo;
}

/* ---------------------------------------------------------- properties -- */

static int64_t round_half_up_pct(int64_t amount, int64_t pct_x100)
{
    return (int64_t)(((u128)amount * (u128)nonneg(pct_x100) + 5000) / 10000);
}

static void check_accounting(void)
{
    int64_t discount = 0, net = 0, points = 0;

    for (int i = 0; i < OUT.nlines; i++) {
        discount += OUT.lines[i].discount;
        net += OUT.lines[i].net_spend;
        points += OUT.lines[i].points;
    }
    CHECK_EQ_I64(OUT.discount_total, discount);
    CHECK_EQ_I64(OUT.discount_total + OUT.redeemed_value + OUT.total_due, OUT.subtotal);
    CHECK_EQ_I64(OUT.net_spend, net);
    CHECK_EQ_I64(points + OUT.bonus_points, OUT.points_earned);
}

static void check_purchase(const struct engine_member *m, const struct engine_purchase *p)
{
    int64_t coupon = 0, redeemed = 0, subtotal = 0, rule_discounts = 0;
    u128 exact_sum = 0;
    u128 den = (u128)R.earn_unit * 100000000u;

    check_accounting();
    CHECK(OUT.points_earned >= 0);
    CHECK(OUT.tier_after >= OUT.tier_before && OUT.tier_after < R.ntiers);
    for (int i = 0; i < OUT.nlines; i++) {
        const struct engine_line_out *l = &OUT.lines[i];
        int64_t cap = round_half_up_pct(l->amount, R.max_discount_pct_x100);
        u128 exact = exact_points(m, p, i);

        subtotal += l->amount;
        CHECK(l->excluded == is_excluded(p->lines[i].category));
        coupon += l->coupon_share;
        redeemed += l->redeemed_share;
        CHECK(l->points >= 0);
        CHECK(l->coupon_share >= 0 && l->coupon_share <= l->discount);
        CHECK(l->discount - l->coupon_share <= cap);
        CHECK(l->discount <= l->amount);
        CHECK(l->redeemed_share >= 0 && l->discount + l->redeemed_share <= l->amount);
        CHECK_EQ_I64(l->net_spend, l->excluded ? 0 : l->amount - l->discount - l->redeemed_share);
        if (l->excluded)
            CHECK(l->discount == 0 && l->redeemed_share == 0 && l->points == 0);
        /* floor(exact) or one more */
        CHECK((u128)l->points == exact / den || (u128)l->points == exact / den + 1);
        exact_sum += exact;
    }
    CHECK_EQ_I64(OUT.subtotal, subtotal);
    CHECK((u128)(OUT.points_earned - OUT.bonus_points) == exact_sum / den);
    CHECK_EQ_I64(OUT.redeemed_value, redeemed);
    CHECK_EQ_I64(OUT.points_redeemed, p->redeem_points);

    for (int a = 0; a < OUT.napplied; a++) {
        const struct engine_applied *ap = &OUT.applied[a];
        CHECK(ap->points >= 0 && ap->discount >= 0);
        if (strcmp(ap->kind, "tier_discount") == 0 || strcmp(ap->kind, "promotion") == 0)
            rule_discounts += ap->discount;
        if (strcmp(ap->kind, "coupon") == 0)
            CHECK_EQ_I64(ap->discount, coupon);
        if (strcmp(ap->kind, "redeem") == 0)
            CHECK_EQ_I64(ap->discount, OUT.redeemed_value);
    }
    /* the tier and promotion entries account for every non-coupon discount */
    CHECK_EQ_I64(rule_discounts, OUT.discount_total - coupon);
}

static void test_random_purchases(void)
{
    int ok = 0, refused = 0;

    for (int iter = 0; iter < 4000; iter++) {
        random_rules();
        struct engine_member m = random_member();
        struct engine_purchase p = random_purchase();

        err_clear(&E);
        int rc = engine_compute(&R, &m, &p, &OUT, &E);
        if (rc != 0) {
            refused++;
            CHECK_EQ_I64(E.code, ERR_VALIDATION);
            CHECK(E.nfields == 1 && strcmp(E.fields[0].field, "redeem_points") == 0);
            continue;
        }
        ok++;
        check_purchase(&m, &p);

        memset(&AGAIN, 0x5a, sizeof AGAIN);
        CHECK_EQ_I64(engine_compute(&R, &m, &p, &AGAIN, &E), 0);
        CHECK(engine_same(&OUT, &AGAIN));
    }
    printf("random purchases: %d computed, %d refused\n", ok, refused);
    CHECK(ok > 3000);
    CHECK(refused > 0);
}

/* Valid rule sets with random bytes overwritten: whatever happens, no crash
 * (the sanitizers watch), and a computed purchase still adds up. */
static void test_damaged_rules(void)
{
    int ok = 0;

    for (int iter = 0; iter < 3000; iter++) {
        random_rules();
        struct engine_member m = random_member();
        struct engine_purchase p = random_purchase();
        unsigned char *bytes = (unsigned char *)&R;
        /* Damage where the data is: the fields before the node array, and
         * the nodes in use. */
        size_t span = offsetof(struct rules, nodes) + (size_t)R.nnodes * sizeof R.nodes[0] + 64;
        int damage = (int)between(1, 64);

        for (int k = 0; k < damage; k++) {
            size_t off = (size_t)between(0, (int64_t)span - 1);
            if (chance(20) && off + 4 <= sizeof R) {
                uint32_t v = (uint32_t)rng();
                memcpy(bytes + off, &v, sizeof v);
            } else {
                bytes[off] = (unsigned char)rng();
            }
        }
        err_clear(&E);
        if (engine_compute(&R, &m, &p, &OUT, &E) == 0) {
            ok++;
            check_accounting();
            CHECK(OUT.points_earned >= 0);
        } else {
            CHECK(E.code == ERR_VALIDATION || E.code == ERR_INTERNAL);
        }
    }
    printf("damaged rule sets: %d computed\n", ok);
    CHECK(ok > 0);
}

/* 512 random nodes pointing anywhere: every root evaluates and ends. */
static void test_node_soup(void)
{
    struct engine_member m = random_member();
    struct engine_purchase p;
    int trues = 0;

    random_rules();
    p = random_purchase();
    for (int round = 0; round < 20; round++) {
        R.nnodes = RULES_MAX_NODES;
        for (int i = 0; i < RULES_MAX_NODES; i++) {
            struct rules_node *n = &R.nodes[i];
            memset(n, 0, sizeof *n);
            n->kind = (enum rules_node_kind)between(0, 4);
            n->nchildren = (int)between(-1, RULES_MAX_VALUES + 1);
            for (int k = 0; k < RULES_MAX_VALUES; k++)
                n->children[k] = (int16_t)between(-2, RULES_MAX_NODES + 2);
            n->fact = (enum rules_fact)between(0, FACT__COUNT);
            n->op = (enum rules_op)between(0, OP_CONTAINS + 1);
            n->type = (enum rules_value_type)between(0, VALUE_STRING_LIST + 1);
            n->nvalues = (int)between(-1, RULES_MAX_VALUES + 1);
            for (int k = 0; k < RULES_MAX_VALUES; k++) {
                n->ints[k] = between(-2, 3);
                set_code(n->strs[k], sizeof n->strs[k], any_category());
            }
        }
        for (int i = -2; i < RULES_MAX_NODES + 2; i++)
            trues += engine_condition(&R, i, &m, &p, chance(50));
    }
    printf("node soup: %d true roots\n", trues);
    CHECK(trues > 0);
}

int main(void)
{
    test_random_purchases();
    test_damaged_rules();
    test_node_soup();
    return check_report();
}
