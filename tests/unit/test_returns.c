/*
 * test_returns.c - the arithmetic of returns (rules/returns.h): exact
 * numbers for the floors and "the last units take the rest", allocation of
 * units over lines of one sku, the field errors, the bonus on the completing
 * return only, and a property over thousands of random purchases from a
 * fixed-seed PRNG: any sequence of partial returns that ends in a full
 * return takes back exactly each line's totals, and never more on the way.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "rules/returns.h"

__extension__ typedef unsigned __int128 u128;

static struct return_result res; /* 16 KiB: not on the stack */

static struct return_line line(const char *sku, int64_t qty, int64_t points, int64_t share,
                               int64_t net)
{
    struct return_line l;

    memset(&l, 0, sizeof(l));
    l.sku = sku;
    l.quantity = qty;
    l.points = points;
    l.redeemed_share = share;
    l.net_spend = net;
    return l;
}

/* Records `res` into the lines, as the store layer does after a return. */
static void apply(struct return_line *lines, int n)
{
    for (int i = 0; i < n; i++) {
        lines[i].returned_quantity += res.lines[i].quantity;
        lines[i].returned_points += res.lines[i].points;
        lines[i].returned_redeemed_points += res.lines[i].redeemed_points;
        lines[i].returned_net_spend += res.lines[i].net_spend;
    }
}

static int run(const struct return_purchase *p, const struct return_item *items, int n,
               struct err *e)
{
    err_clear(e);
    return returns_compute(p, items, n, &res, e);
}

static void test_take(void)
{
    /* floor(T x q / Q), the last units the rest */
    CHECK_EQ_I64(returns_take(100, 0, 1, 0, 3), 33);
    CHECK_EQ_I64(returns_take(100, 33, 1, 1, 3), 33);
    CHECK_EQ_I64(returns_take(100, 66, 1, 2, 3), 34);
    CHECK_EQ_I64(returns_take(100, 0, 2, 0, 3), 66);
    CHECK_EQ_I64(returns_take(100, 0, 3, 0, 3), 100);
    CHECK_EQ_I64(returns_take(0, 0, 1, 0, 7), 0);
    CHECK_EQ_I64(returns_take(5, 0, 1, 0, 7), 0);
    CHECK_EQ_I64(returns_take(5, 0, 1, 6, 7), 5);
    /* no overflow where T x q does not fit 64 bits */
    CHECK_EQ_I64(returns_take(INT64_C(4000000000000000000), 0, 99999, 0, 100000),
                 INT64_C(3999960000000000000));
    CHECK_EQ_I64(returns_take(INT64_MAX, 0, 99999, 0, 100000),
                 (int64_t)(((u128)INT64_MAX * 99999) / 100000));
    /* a damaged record never makes a return take more than is left */
    CHECK_EQ_I64(returns_take(10, 9, 1, 0, 2), 1);
}

static void test_merge(void)
{
    const struct return_item in[] = {
        {"A", 1, 0}, {"B", 2, 1}, {"A", 3, 2}, {"C", 1, 3}, {"B", 1, 4}};
    struct return_item out[5];
    int n = returns_items_merge(in, 5, out);

    CHECK_EQ_I64(n, 3);
    CHECK_STREQ(out[0].sku, "A");
    CHECK_EQ_I64(out[0].quantity, 4);
    CHECK_EQ_I64(out[0].index, 0);
    CHECK_STREQ(out[1].sku, "B");
    CHECK_EQ_I64(out[1].quantity, 3);
    CHECK_EQ_I64(out[1].index, 1);
    CHECK_STREQ(out[2].sku, "C");
    CHECK_EQ_I64(out[2].index, 3);
}

static void test_partial_then_rest(void)
{
    /* one line of 3 units, 100 points, 1000 net spend: 1 + 1 + 1 units */
    struct return_line lines[] = {line("A", 3, 100, 0, 1000)};
    const struct return_purchase p = {0, 50, 1, lines};
    const struct return_item one = {"A", 1, 0};
    struct err e;

    CHECK_EQ_I64(run(&p, &one, 1, &e), 0);
    CHECK_EQ_I64(res.lines[0].points, 33);
    CHECK_EQ_I64(res.lines[0].net_spend, 333);
    CHECK_EQ_I64(res.points_taken, 33);
    CHECK_EQ_I64(res.bonus_taken, 0);
    CHECK(!res.fully_returned);
    apply(lines, 1);
    CHECK_EQ_I64(run(&p, &one, 1, &e), 0);
    CHECK_EQ_I64(res.points_taken, 33);
    CHECK_EQ_I64(res.net_spend, 333);
    apply(lines, 1);
    CHECK_EQ_I64(run(&p, &one, 1, &e), 0);
    CHECK_EQ_I64(res.points_taken, 34);
    CHECK_EQ_I64(res.net_spend, 334);
    CHECK_EQ_I64(res.bonus_taken, 50);
    CHECK(res.fully_returned);
    apply(lines, 1);
    /* nothing is left */
    CHECK_EQ_I64(run(&p, &one, 1, &e), -1);
    CHECK_EQ_I64(e.code, ERR_VALIDATION);
    CHECK_STREQ(e.fields[0].field, "items[0].quantity");
}

static void test_allocation_in_line_order(void)
{
    /* two lines of sku A (2 and 3 units) around a line of B */
    struct return_line lines[] = {line("A", 2, 20, 0, 200), line("B", 1, 7, 0, 70),
                                  line("A", 3, 30, 0, 300)};
    const struct return_purchase p = {0, 0, 3, lines};
    const struct return_item a3 = {"A", 3, 0};
    struct err e;

    CHECK_EQ_I64(run(&p, &a3, 1, &e), 0);
    CHECK_EQ_I64(res.lines[0].quantity, 2);
    CHECK_EQ_I64(res.lines[1].quantity, 0);
    CHECK_EQ_I64(res.lines[2].quantity, 1);
    CHECK_EQ_I64(res.lines[0].points, 20); /* the first line's last units: all */
    CHECK_EQ_I64(res.lines[2].points, 10);
    CHECK_EQ_I64(res.points_taken, 30);
    CHECK_EQ_I64(res.net_spend, 300);
    apply(lines, 3);
    /* 2 of A are left, both on the third line */
    {
        const struct return_item a3again = {"A", 3, 4};
        const struct return_item a2 = {"A", 2, 0};

        CHECK_EQ_I64(run(&p, &a3again, 1, &e), -1);
        CHECK_STREQ(e.fields[0].field, "items[4].quantity");
        CHECK(strstr(e.fields[0].message, "2 still returnable") != NULL);
        CHECK_EQ_I64(run(&p, &a2, 1, &e), 0);
        CHECK_EQ_I64(res.lines[2].quantity, 2);
        CHECK_EQ_I64(res.lines[2].points, 20);
        CHECK(!res.fully_returned); /* B is still out */
    }
}

static void test_errors_name_every_item(void)
{
    struct return_line lines[] = {line("A", 2, 20, 0, 200)};
    const struct return_purchase p = {0, 0, 1, lines};
    const struct return_item items[] = {{"X", 1, 0}, {"A", 3, 1}, {"Y", 1, 5}};
    struct err e;

    CHECK_EQ_I64(run(&p, items, 3, &e), -1);
    CHECK_EQ_I64(e.code, ERR_VALIDATION);
    CHECK_EQ_I64(e.nfields, 3);
    CHECK_STREQ(e.fields[0].field, "items[0].sku");
    CHECK_STREQ(e.fields[1].field, "items[1].quantity");
    CHECK_STREQ(e.fields[2].field, "items[5].sku");
}

static void test_redeemed_points_and_bonus(void)
{
    /* 1000 points redeemed over shares 750 : 250 : 0 -> 750, 250, 0 */
    struct return_line lines[] = {line("a", 4, 22, 750, 2250), line("b", 1, 15, 250, 750),
                                  line("CIG", 1, 0, 0, 0)};
    const struct return_purchase p = {1000, 100, 3, lines};
    const struct return_item a1 = {"a", 1, 0};
    const struct return_item rest[] = {{"a", 3, 0}, {"b", 1, 1}, {"CIG", 1, 2}};
    int64_t split[3];
    struct err e;

    returns_redeemed_split(&p, split);
    CHECK_EQ_I64(split[0], 750);
    CHECK_EQ_I64(split[1], 250);
    CHECK_EQ_I64(split[2], 0);
    CHECK_EQ_I64(run(&p, &a1, 1, &e), 0);
    CHECK_EQ_I64(res.lines[0].redeemed_points, 187);
    CHECK_EQ_I64(res.lines[0].points, 5);
    CHECK_EQ_I64(res.lines[0].net_spend, 562);
    CHECK_EQ_I64(res.points_given, 187);
    apply(lines, 3);
    CHECK_EQ_I64(run(&p, rest, 3, &e), 0);
    CHECK_EQ_I64(res.points_given, 1000 - 187);
    CHECK_EQ_I64(res.points_taken, 22 + 15 - 5);
    CHECK_EQ_I64(res.net_spend, 3000 - 562);
    CHECK_EQ_I64(res.bonus_taken, 100);
    CHECK(res.fully_returned);

    /* remainders: 10 points over three equal shares -> 4, 3, 3 (ties to the earlier line) */
    {
        struct return_line eq[] = {line("x", 1, 0, 5, 5), line("y", 1, 0, 5, 5),
                                   line("z", 1, 0, 5, 5)};
        const struct return_purchase q = {10, 0, 3, eq};

        returns_redeemed_split(&q, split);
        CHECK_EQ_I64(split[0], 4);
        CHECK_EQ_I64(split[1], 3);
        CHECK_EQ_I64(split[2], 3);
    }
}

static void test_damaged_record(void)
{
    struct return_line lines[] = {line("A", 2, 20, 0, 200)};
    const struct return_purchase p = {0, 0, 1, lines};
    const struct return_item a = {"A", 1, 0};
    struct err e;

    lines[0].returned_points = 21;
    CHECK_EQ_I64(run(&p, &a, 1, &e), -1);
    CHECK_EQ_I64(e.code, ERR_INTERNAL);
}

/* ------------------------------------------------------------ property -- */

static uint64_t rng_state = UINT64_C(0x72657475726e7321); /* fixed seed */

/* splitmix64 */
static uint64_t rng(void)
{
    uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static int64_t pick(int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng() % (uint64_t)(hi - lo + 1));
}

/* A value that is sometimes 0, sometimes small, sometimes huge. */
static int64_t amount(void)
{
    switch (rng() % 4) {
    case 0:
        return 0;
    case 1:
        return pick(1, 50);
    case 2:
        return pick(1, 1000000);
    default:
        return pick(1, INT64_C(1000000000000000));
    }
}

static const char *const skus[] = {"A", "B", "C", "D"};

static void test_property_full_return_takes_the_totals(void)
{
    static struct return_line lines[12];
    int64_t taken[12], given[12], spend[12], split[12];
    int failures_before = check_failures;

    for (int round = 0; round < 3000 && check_failures == failures_before; round++) {
        int n = (int)pick(1, 12), returns = 0;
        struct return_purchase p = {amount(), pick(0, 500), n, lines};
        int64_t bonus = 0;

        for (int i = 0; i < n; i++) {
            lines[i] = line(skus[rng() % 4], pick(1, rng() % 3 ? 5 : 100000), amount(), amount(),
                            amount());
            taken[i] = given[i] = spend[i] = 0;
        }
        returns_redeemed_split(&p, split);
        for (;;) {
            struct return_item items[4], merged[4];
            int64_t left[4] = {0, 0, 0, 0};
            int nitems = 0, nmerged;
            struct err e;

            for (int i = 0; i < n; i++)
                for (int k = 0; k < 4; k++)
                    if (strcmp(lines[i].sku, skus[k]) == 0)
                        left[k] += lines[i].quantity - lines[i].returned_quantity;
            if (left[0] + left[1] + left[2] + left[3] == 0)
                break;
            /* Some units of some skus; at most 8 returns, the last takes all. */
            for (int k = 0; k < 4; k++) {
                int64_t q = returns >= 7 ? left[k] : pick(0, left[k]);

                if (q > 0) {
                    items[nitems] = (struct return_item){skus[k], q, nitems};
                    nitems++;
                }
            }
            if (nitems == 0) {
                returns++;
                continue;
            }
            nmerged = returns_items_merge(items, nitems, merged);
            CHECK_EQ_I64(nmerged, nitems);
            CHECK_EQ_I64(run(&p, merged, nmerged, &e), 0);
            for (int i = 0; i < n; i++) {
                CHECK(res.lines[i].points >= 0 && res.lines[i].redeemed_points >= 0 &&
                      res.lines[i].net_spend >= 0);
                taken[i] += res.lines[i].points;
                given[i] += res.lines[i].redeemed_points;
                spend[i] += res.lines[i].net_spend;
                /* never beyond the line's totals on the way */
                CHECK(taken[i] <= lines[i].points && given[i] <= split[i] &&
                      spend[i] <= lines[i].net_spend);
            }
            CHECK(res.bonus_taken == 0 || res.fully_returned);
            bonus += res.bonus_taken;
            apply(lines, n);
            returns++;
        }
        for (int i = 0; i < n; i++) {
            CHECK_EQ_I64(taken[i], lines[i].points);
            CHECK_EQ_I64(given[i], split[i]);
            CHECK_EQ_I64(spend[i], lines[i].net_spend);
        }
        CHECK_EQ_I64(bonus, p.bonus_points);
        CHECK(res.fully_returned);
    }
}

int main(void)
{
    test_take();
    test_merge();
    test_partial_then_rest();
    test_allocation_in_line_order();
    test_errors_name_every_item();
    test_redeemed_points_and_bonus();
    test_damaged_record();
    test_property_full_return_takes_the_totals();
    return check_report();
}
