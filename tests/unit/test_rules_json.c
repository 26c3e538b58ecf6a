/*
 * test_rules_json.c - the rule-set document to struct rules and back:
 * the contract's example, the default document, round trips, the exact
 * hundredths and timestamps, and a table of invalid documents with the
 * exact JSON paths their errors must name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/rules_json.h"
#include "check.h"

static const char contract_example[] =
    "{\"currency\": \"CNY\", \"timezone\": \"Asia/Shanghai\","
    " \"earn\": {\"points_per_unit\": 1, \"unit\": 100, \"excluded_categories\": [\"tobacco\","
    " \"gift_card\"], \"category_multipliers\": {\"fresh\": 2}},"
    " \"tiers\": ["
    "  {\"code\": \"basic\", \"name\": \"普通会员\", \"min_spend\": 0, \"discount_pct\": 0,"
    "   \"points_multiplier\": 1},"
    "  {\"code\": \"silver\", \"name\": \"银卡会员\", \"min_spend\": 200000, \"discount_pct\": 2,"
    "   \"points_multiplier\": 1.25},"
    "  {\"code\": \"gold\", \"name\": \"金卡会员\", \"min_spend\": 1000000, \"discount_pct\": 5,"
    "   \"points_multiplier\": 1.5}],"
    " \"tier_window_days\": 365, \"tier_downgrade_grace_days\": 30,"
    " \"birthday\": {\"window\": \"month\", \"multiplier\": 2, \"bonus_points\": 500},"
    " \"referral\": {\"referrer_points\": 300, \"referee_points\": 200, \"min_first_purchase\": "
    "5000},"
    " \"promotions\": ["
    "  {\"code\": \"weekend-fresh\", \"multiplier\": 2, \"bonus_points\": 0, \"discount_pct\": 0,"
    "   \"starts_at\": \"2026-11-01T00:00:00+08:00\", \"ends_at\": \"2026-12-01T00:00:00+08:00\","
    "   \"when\": {\"all\": [{\"fact\": \"purchase.weekday\", \"op\": \"in\", \"value\": [\"sat\","
    " \"sun\"]},"
    "                    {\"fact\": \"purchase.subtotal\", \"op\": \">=\", \"value\": 10000},"
    "                    {\"fact\": \"member.tier\", \"op\": \"in\", \"value\": [\"silver\", "
    "\"gold\"]}]},"
    "   \"categories\": [\"fresh\"]}],"
    " \"redemption\": {\"points_per_unit\": 100, \"max_bill_pct\": 50},"
    " \"expiry\": {\"months\": 12}, \"pending_days\": 0, \"max_discount_pct\": 50}";

/* Every fact and operator, nested, to exercise the round trip. */
static const char rich_promotions[] =
    "[{\"code\": \"p1\", \"multiplier\": 1.1, \"bonus_points\": 7, \"discount_pct\": 2.5,"
    "  \"starts_at\": \"2024-02-29T23:59:59.5-05:30\", \"ends_at\": "
    "\"9999-12-31T23:59:59.999999Z\","
    "  \"categories\": [\"fresh\", \"生鲜\"],"
    "  \"when\": {\"any\": ["
    "    {\"not\": {\"fact\": \"member.is_birthday_window\", \"op\": \"==\", \"value\": true}},"
    "    {\"all\": [{\"fact\": \"purchase.subtotal\", \"op\": \">\", \"value\": -5},"
    "              {\"fact\": \"purchase.item_count\", \"op\": \"<=\", \"value\": 3},"
    "              {\"fact\": \"purchase.hour\", \"op\": \"not_in\", \"value\": [0, 23]},"
    "              {\"fact\": \"purchase.store_id\", \"op\": \"!=\", \"value\": \"S-01.a_b\"},"
    "              {\"fact\": \"purchase.categories\", \"op\": \"contains\", \"value\": \"生鲜\"},"
    "              {\"fact\": \"member.tier\", \"op\": \"==\", \"value\": \"basic\"},"
    "              {\"fact\": \"member.days_since_enrolled\", \"op\": \"<\", \"value\": 30},"
    "              {\"fact\": \"member.purchase_count\", \"op\": \">=\", \"value\": 2},"
    "              {\"fact\": \"member.days_since_last_purchase\", \"op\": \"in\", \"value\": [-1,"
    " 0, 180]},"
    "              {\"fact\": \"member.is_birthday_window\", \"op\": \"!=\", \"value\": false},"
    "              {\"fact\": \"member.segment\", \"op\": \"in\", \"value\": [\"important-value\","
    " \"\"]},"
    "              {\"fact\": \"member.lifecycle_stage\", \"op\": \"not_in\", \"value\": "
    "[\"lost\"]},"
    "              {\"fact\": \"purchase.weekday\", \"op\": \"==\", \"value\": \"sun\"}]}]}},"
    " {\"code\": \"p2\", \"starts_at\": \"1969-12-31T23:59:59.000001Z\","
    "  \"ends_at\": \"1970-01-01T00:00:00Z\"}]";

static const char minimal[] =
    "{\"earn\": {\"points_per_unit\": 1, \"unit\": 100},"
    " \"tiers\": [{\"code\": \"basic\", \"name\": \"B\", \"min_spend\": 0},"
    "           {\"code\": \"silver\", \"name\": \"S\", \"min_spend\": 1000}],"
    " \"redemption\": {\"points_per_unit\": 100, \"max_bill_pct\": 50},"
    " \"expiry\": {\"months\": 12}}";

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);

    if (j == NULL)
        fprintf(stderr, "test JSON does not parse: %s (line %d col %d)\n", je.text, je.line,
                je.column);
    return j;
}

/* The minimal document with top-level keys of `patch` replaced (a value of
 * "<delete>" removes the key). */
static json_t *patched(const char *patch)
{
    json_t *doc = load(minimal);
    json_t *p = load(patch);
    const char *key;
    json_t *v;

    if (doc == NULL || p == NULL || !json_is_object(p)) {
        json_decref(p);
        return doc;
    }
    json_object_foreach (p, key, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), "<delete>") == 0)
            json_object_del(doc, key);
        else
            json_object_set(doc, key, v);
    }
    json_decref(p);
    return doc;
}

static bool round_trips(const struct rules *r)
{
    struct rules *back = calloc(1, sizeof(*back));
    json_t *j = rules_to_json(r);
    char *text = j ? json_dumps(j, JSON_REAL_PRECISION(15)) : NULL;
    json_t *again = text ? load(text) : NULL;
    struct err e;
    bool same = false;

    err_clear(&e);
    if (again != NULL && rules_from_json(again, back, &e) == 0)
        same = memcmp(r, back, sizeof(*r)) == 0;
    else if (e.nfields > 0)
        fprintf(stderr, "round trip: %s: %s\n", e.fields[0].field, e.fields[0].message);
    free(text);
    json_decref(j);
    json_decref(again);
    free(back);
    return same;
}

static void test_contract_example(void)
{
    struct rules *r = calloc(1, sizeof(*r));
    json_t *doc = load(contract_example);
    struct err e;
    const struct rules_node *root, *n;

    err_clear(&e);
    CHECK_EQ_I64(rules_from_json(doc, r, &e), 0);
    CHECK_STREQ(r->currency, "CNY");
    CHECK_STREQ(r->timezone, "Asia/Shanghai");
    CHECK_EQ_I64(r->earn_points_per_unit, 1);
    CHECK_EQ_I64(r->earn_unit, 100);
    CHECK_EQ_I64(r->nexcluded, 2);
    CHECK_STREQ(r->excluded[1], "gift_card");
    CHECK_EQ_I64(r->ncategory_multipliers, 1);
    CHECK_STREQ(r->category_multipliers[0].category, "fresh");
    CHECK_EQ_I64(r->category_multipliers[0].multiplier_x100, 200);
    CHECK_EQ_I64(r->ntiers, 3);
    CHECK_STREQ(r->tiers[1].name, "银卡会员");
    CHECK_EQ_I64(r->tiers[1].min_spend, 200000);
    CHECK_EQ_I64(r->tiers[1].discount_pct_x100, 200);
    CHECK_EQ_I64(r->tiers[1].points_multiplier_x100, 125);
    CHECK_EQ_I64(r->tiers[2].points_multiplier_x100, 150);
    CHECK_EQ_I64(r->tier_window_days, 365);
    CHECK_EQ_I64(r->tier_downgrade_grace_days, 30);
    CHECK_EQ_I64(r->birthday_window, BIRTHDAY_MONTH);
    CHECK_EQ_I64(r->birthday_multiplier_x100, 200);
    CHECK_EQ_I64(r->birthday_bonus_points, 500);
    CHECK_EQ_I64(r->referral_referrer_points, 300);
    CHECK_EQ_I64(r->referral_referee_points, 200);
    CHECK_EQ_I64(r->referral_min_first_purchase, 5000);
    CHECK_EQ_I64(r->npromotions, 1);
    CHECK_STREQ(r->promotions[0].code, "weekend-fresh");
    CHECK_EQ_I64(r->promotions[0].multiplier_x100, 200);
    CHECK_EQ_I64(r->promotions[0].starts_at_us, INT64_C(1793462400000000));
    CHECK_EQ_I64(r->promotions[0].ends_at_us, INT64_C(1796054400000000));
    CHECK_EQ_I64(r->promotions[0].ncategories, 1);
    CHECK_STREQ(r->promotions[0].categories[0], "fresh");
    CHECK_EQ_I64(r->nnodes, 4);
    CHECK(r->promotions[0].when >= 0);
    root = &r->nodes[r->promotions[0].when];
    CHECK_EQ_I64(root->kind, NODE_ALL);
    CHECK_EQ_I64(root->nchildren, 3);
    n = &r->nodes[root->children[0]];
    CHECK_EQ_I64(n->kind, NODE_LEAF);
    CHECK_EQ_I64(n->fact, FACT_PURCHASE_WEEKDAY);
    CHECK_EQ_I64(n->op, OP_IN);
    CHECK_EQ_I64(n->type, VALUE_STRING_LIST);
    CHECK_EQ_I64(n->nvalues, 2);
    CHECK_STREQ(n->strs[1], "sun");
    n = &r->nodes[root->children[1]];
    CHECK_EQ_I64(n->fact, FACT_PURCHASE_SUBTOTAL);
    CHECK_EQ_I64(n->op, OP_GE);
    CHECK_EQ_I64(n->type, VALUE_INT);
    CHECK_EQ_I64(n->ints[0], 10000);
    n = &r->nodes[root->children[2]];
    CHECK_EQ_I64(n->fact, FACT_MEMBER_TIER);
    CHECK_STREQ(n->strs[0], "silver");
    CHECK_EQ_I64(r->redemption_points_per_unit, 100);
    CHECK_EQ_I64(r->redemption_max_bill_pct_x100, 5000);
    CHECK_EQ_I64(r->expiry_months, 12);
    CHECK_EQ_I64(r->pending_days, 0);
    CHECK_EQ_I64(r->max_discount_pct_x100, 5000);
    CHECK(round_trips(r));
    json_decref(doc);
    free(r);
}

static void test_default_document(void)
{
    struct rules *r = calloc(1, sizeof(*r));
    json_t *doc = load(rules_default_document());
    struct err e;

    err_clear(&e);
    CHECK(doc != NULL);
    CHECK_EQ_I64(rules_from_json(doc, r, &e), 0);
    CHECK_EQ_I64(r->ntiers, 3);
    CHECK_STREQ(r->tiers[0].code, "basic");
    CHECK_STREQ(r->tiers[0].name, "普通会员");
    CHECK_STREQ(r->tiers[2].code, "gold");
    CHECK_STREQ(r->tiers[2].name, "金卡会员");
    CHECK_EQ_I64(r->npromotions, 0);
    CHECK_EQ_I64(r->expiry_months, 12);
    CHECK_EQ_I64(r->pending_days, 0);
    CHECK_EQ_I64(r->max_discount_pct_x100, 5000);
    CHECK_EQ_I64(r->birthday_bonus_points, 500);
    CHECK_EQ_I64(r->redemption_max_bill_pct_x100, 5000);
    CHECK(round_trips(r));
    json_decref(doc);
    free(r);
}

static void test_defaults_and_rendering(void)
{
    struct rules *r = calloc(1, sizeof(*r));
    json_t *doc = load(minimal);
    json_t *out;
    char *text;
    struct err e;

    err_clear(&e);
    CHECK_EQ_I64(rules_from_json(doc, r, &e), 0);
    CHECK_STREQ(r->currency, "CNY");
    CHECK_STREQ(r->timezone, "Asia/Shanghai");
    CHECK_EQ_I64(r->tiers[0].discount_pct_x100, 0);
    CHECK_EQ_I64(r->tiers[0].points_multiplier_x100, 100);
    CHECK_EQ_I64(r->tier_window_days, 365);
    CHECK_EQ_I64(r->tier_downgrade_grace_days, 0);
    CHECK_EQ_I64(r->birthday_window, BIRTHDAY_DAY);
    CHECK_EQ_I64(r->birthday_multiplier_x100, 100);
    CHECK_EQ_I64(r->birthday_bonus_points, 0);
    CHECK_EQ_I64(r->referral_referrer_points, 0);
    CHECK_EQ_I64(r->npromotions, 0);
    CHECK_EQ_I64(r->pending_days, 0);
    CHECK_EQ_I64(r->max_discount_pct_x100, 10000);
    CHECK(round_trips(r));

    /* Rendering: whole multipliers as integers, others with 2 decimals at
     * most (when dumped with a sane real precision), timestamps in UTC. */
    r->tiers[1].points_multiplier_x100 = 110;
    r->tiers[1].discount_pct_x100 = 7;
    r->tiers[0].points_multiplier_x100 = 9999;
    out = rules_to_json(r);
    text = json_dumps(json_object_get(out, "tiers"), JSON_COMPACT | JSON_REAL_PRECISION(15));
    CHECK_STREQ(text, "[{\"code\":\"basic\",\"name\":\"B\",\"min_spend\":0,\"discount_pct\":0,"
                      "\"points_multiplier\":99.99},{\"code\":\"silver\",\"name\":\"S\","
                      "\"min_spend\":1000,\"discount_pct\":0.07,\"points_multiplier\":1.1}]");
    free(text);
    CHECK(round_trips(r));
    json_decref(out);
    json_decref(doc);
    free(r);
}

static void test_rich_round_trip(void)
{
    struct rules *r = calloc(1, sizeof(*r));
    json_t *doc = patched("{}");
    json_t *promos = load(rich_promotions);
    json_t *out;
    struct err e;

    err_clear(&e);
    json_object_set_new(doc, "promotions", promos);
    CHECK_EQ_I64(rules_from_json(doc, r, &e), 0);
    if (e.nfields > 0)
        fprintf(stderr, "%s: %s\n", e.fields[0].field, e.fields[0].message);
    CHECK_EQ_I64(r->npromotions, 2);
    CHECK_EQ_I64(r->promotions[0].multiplier_x100, 110);
    CHECK_EQ_I64(r->promotions[0].discount_pct_x100, 250);
    CHECK_EQ_I64(r->promotions[0].starts_at_us, INT64_C(1709270999500000));
    CHECK_EQ_I64(r->promotions[0].ends_at_us, INT64_C(253402300799999999));
    CHECK_EQ_I64(r->promotions[1].starts_at_us, -999999);
    CHECK_EQ_I64(r->promotions[1].when, -1);
    CHECK_EQ_I64(r->promotions[1].multiplier_x100, 100);
    CHECK_EQ_I64(r->nnodes, 17);
    CHECK(round_trips(r));

    out = rules_to_json(r);
    CHECK_STREQ(json_string_value(json_object_get(
                    json_array_get(json_object_get(out, "promotions"), 0), "starts_at")),
                "2024-03-01T05:29:59.500000Z");
    CHECK_STREQ(json_string_value(json_object_get(
                    json_array_get(json_object_get(out, "promotions"), 1), "starts_at")),
                "1969-12-31T23:59:59.000001Z");
    json_decref(out);
    json_decref(doc);
    free(r);
}

/* Multipliers: how a JSON number becomes hundredths, or why it does not. */
static void test_hundredths(void)
{
    static const struct {
        const char *text;
        int x100; /* -1: rejected */
    } cases[] = {
        {"1", 100},     {"1.25", 125},  {"0.01", 1},   {"1.10", 110}, {"99.99", 9999},
        {"100", 10000}, {"1e2", 10000}, {"2.5", 250},  {"0.29", 29},  {"1.15", 115},
        {"2.675", -1},  {"1.005", -1},  {"1.001", -1}, {"0", -1},     {"100.01", -1},
        {"-1", -1},     {"\"2\"", -1},  {"true", -1},  {"1e-3", -1},  {"1000001", -1},
    };
    struct rules *r = calloc(1, sizeof(*r));

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char patch[200];
        json_t *doc;
        struct err e;
        int rc;

        snprintf(patch, sizeof(patch), "{\"birthday\": {\"window\": \"day\", \"multiplier\": %s}}",
                 cases[i].text);
        doc = patched(patch);
        err_clear(&e);
        rc = rules_from_json(doc, r, &e);
        if (cases[i].x100 < 0) {
            CHECK_EQ_I64(rc, -1);
            CHECK_EQ_I64(e.nfields, 1);
            CHECK_STREQ(e.fields[0].field, "$.birthday.multiplier");
        } else {
            CHECK_EQ_I64(rc, 0);
            CHECK_EQ_I64(r->birthday_multiplier_x100, cases[i].x100);
        }
        if ((rc == 0) != (cases[i].x100 >= 0))
            fprintf(stderr, "  multiplier %s\n", cases[i].text);
        json_decref(doc);
    }
    free(r);
}

/* Documents that must be refused, each with the exact paths it names. */
static const struct {
    const char *patch; /* top-level keys replacing the minimal document's */
    const char *paths; /* every expected path, separated by " $" */
} invalid[] = {
    {"{\"currency\": \"cny\"}", "$.currency"},
    {"{\"currency\": \"YUAN\"}", "$.currency"},
    {"{\"timezone\": \"\"}", "$.timezone"},
    {"{\"timezone\": \"Asia//Shanghai\"}", "$.timezone"},
    {"{\"timezone\": \"Asia/Shang hai\"}", "$.timezone"},
    {"{\"earn\": {\"points_per_unit\": -1, \"unit\": 0}}", "$.earn.points_per_unit $.earn.unit"},
    {"{\"earn\": {\"unit\": 100}}", "$.earn.points_per_unit"},
    {"{\"earn\": {\"points_per_unit\": 1.5, \"unit\": 100}}", "$.earn.points_per_unit"},
    {"{\"earn\": {\"points_per_unit\": 1, \"unit\": 100, \"category_multipliers\": "
     "{\"fresh\": 0}}}",
     "$.earn.category_multipliers.fresh"},
    {"{\"earn\": {\"points_per_unit\": 1, \"unit\": 100, \"category_multipliers\": "
     "{\"fresh\": 1.255, \"dairy\": 101, \"bakery\": \"2\", \"gift card\": -1}}}",
     "$.earn.category_multipliers.fresh $.earn.category_multipliers.dairy "
     "$.earn.category_multipliers.bakery $.earn.category_multipliers['gift card']"},
    {"{\"earn\": {\"points_per_unit\": 1, \"unit\": 100, \"excluded_categories\": [\"tobacco\","
     " \"tobacco\", 3, \"\"]}}",
     "$.earn.excluded_categories[1] $.earn.excluded_categories[2] "
     "$.earn.excluded_categories[3]"},
    {"{\"earn\": {\"points_per_unit\": 1, \"unit\": 100, \"bonus\": 1}}", "$.earn.bonus"},
    {"{\"earn\": \"<delete>\"}", "$.earn"},
    {"{\"earn\": []}", "$.earn"},
    {"{\"tiers\": []}", "$.tiers"},
    {"{\"tiers\": \"<delete>\"}", "$.tiers"},
    {"{\"tiers\": [{\"code\": \"a\", \"name\": \"A\", \"min_spend\": 0}, {\"code\": \"b\", "
     "\"name\": \"B\", \"min_spend\": 1}, {\"code\": \"c\", \"name\": \"C\", \"min_spend\": 2}, "
     "{\"code\": \"d\", \"name\": \"D\", \"min_spend\": 3}, {\"code\": \"e\", \"name\": \"E\", "
     "\"min_spend\": 4}, {\"code\": \"f\", \"name\": \"F\", \"min_spend\": 5}, {\"code\": \"g\", "
     "\"name\": \"G\", \"min_spend\": 6}, {\"code\": \"h\", \"name\": \"H\", \"min_spend\": 7}, "
     "{\"code\": \"i\", \"name\": \"I\", \"min_spend\": 8}, {\"code\": \"j\", \"name\": \"J\", "
     "\"min_spend\": 9}, {\"code\": \"k\", \"name\": \"K\", \"min_spend\": 10}]}",
     "$.tiers"},
    {"{\"tiers\": [{\"code\": \"basic\", \"name\": \"B\", \"min_spend\": 100}]}",
     "$.tiers[0].min_spend"},
    {"{\"tiers\": [{\"code\": \"a\", \"name\": \"A\", \"min_spend\": 0}, {\"code\": \"b\", "
     "\"name\": \"B\", \"min_spend\": 500}, {\"code\": \"c\", \"name\": \"C\", \"min_spend\": "
     "500}]}",
     "$.tiers[2].min_spend"},
    {"{\"tiers\": [{\"code\": \"a\", \"name\": \"A\", \"min_spend\": 0}, {\"code\": \"a\", "
     "\"name\": \"B\", \"min_spend\": 500}]}",
     "$.tiers[1].code"},
    {"{\"tiers\": [{\"code\": \"a\", \"name\": \"A\", \"min_spend\": 0, \"discount_pct\": "
     "100.5, \"points_multiplier\": 0}]}",
     "$.tiers[0].discount_pct $.tiers[0].points_multiplier"},
    {"{\"tiers\": [{\"min_spend\": 0}, {\"code\": \"bad code\", \"name\": \"\", \"min_spend\": "
     "10, \"colour\": \"red\"}]}",
     "$.tiers[0].code $.tiers[0].name $.tiers[1].code $.tiers[1].name $.tiers[1].colour"},
    {"{\"tiers\": [{\"code\": \"a\", \"name\": "
     "\"0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567"
     "890123456789x\", \"min_spend\": 0}]}",
     "$.tiers[0].name"},
    {"{\"tiers\": [5]}", "$.tiers[0]"},
    {"{\"tier_window_days\": 0, \"tier_downgrade_grace_days\": -1}",
     "$.tier_window_days $.tier_downgrade_grace_days"},
    {"{\"tier_window_days\": 3661, \"tier_downgrade_grace_days\": 3661}",
     "$.tier_window_days $.tier_downgrade_grace_days"},
    {"{\"birthday\": {\"window\": \"year\", \"multiplier\": 2.001, \"bonus_points\": -1}}",
     "$.birthday.window $.birthday.multiplier $.birthday.bonus_points"},
    {"{\"referral\": {\"referrer_points\": -5, \"referee_points\": 1.5, \"min_first_purchase\": "
     "null, \"extra\": 1}}",
     "$.referral.referrer_points $.referral.referee_points $.referral.min_first_purchase "
     "$.referral.extra"},
    {"{\"promotions\": {}}", "$.promotions"},
    {"{\"promotions\": [{\"code\": \"p\", \"starts_at\": \"2026-11-01T00:00:00\", \"ends_at\": "
     "\"2026-13-01T00:00:00Z\"}]}",
     "$.promotions[0].starts_at $.promotions[0].ends_at"},
    {"{\"promotions\": [{\"code\": \"p\", \"starts_at\": \"2026-11-01T00:00:00+08:00\", "
     "\"ends_at\": \"2026-10-31T16:00:00Z\"}]}",
     "$.promotions[0].ends_at"},
    {"{\"promotions\": [{\"code\": \"p\", \"starts_at\": \"2025-02-29T00:00:00Z\", "
     "\"ends_at\": \"2026-01-01T00:00:00.1234567Z\"}]}",
     "$.promotions[0].starts_at $.promotions[0].ends_at"},
    {"{\"promotions\": [{\"code\": \"p\", \"starts_at\": \"2026-01-01T00:00:00Z\", \"ends_at\": "
     "\"2027-01-01T00:00:00Z\"}, {\"code\": \"p\", \"multiplier\": 0, \"discount_pct\": -1, "
     "\"bonus_points\": 1.5, \"starts_at\": \"2026-01-01T00:00:00Z\", \"ends_at\": "
     "\"2027-01-01T00:00:00Z\", \"categories\": \"fresh\", \"note\": 1}]}",
     "$.promotions[1].code $.promotions[1].multiplier $.promotions[1].bonus_points "
     "$.promotions[1].discount_pct $.promotions[1].categories $.promotions[1].note"},
    {"{\"promotions\": [{\"code\": \"p\", \"starts_at\": \"2026-01-01T00:00:00Z\", \"ends_at\": "
     "\"2027-01-01T00:00:00Z\", \"when\": {\"all\": [{\"fact\": \"purchase.subtotal\", \"op\": "
     "\"=~\", \"value\": 1}, {\"fact\": \"purchase.colour\", \"op\": \"==\", \"value\": 1}]}}]}",
     "$.promotions[0].when.all[0].op $.promotions[0].when.all[1].fact"},
    {"{\"promotions\": [{\"code\": \"p\", \"starts_at\": \"2026-01-01T00:00:00Z\", \"ends_at\": "
     "\"2027-01-01T00:00:00Z\", \"when\": {\"any\": ["
     "{\"fact\": \"purchase.weekday\", \"op\": \"<\", \"value\": \"mon\"},"
     "{\"fact\": \"purchase.subtotal\", \"op\": \"contains\", \"value\": 1},"
     "{\"fact\": \"purchase.categories\", \"op\": \"==\", \"value\": \"fresh\"},"
     "{\"fact\": \"member.is_birthday_window\", \"op\": \"in\", \"value\": [true]},"
     "{\"fact\": \"member.tier\", \"op\": \">=\", \"value\": \"basic\"}]}}]}",
     "$.promotions[0].when.any[0].op $.promotions[0].when.any[1].op "
     "$.promotions[0].when.any[2].op $.promotions[0].when.any[3].op "
     "$.promotions[0].when.any[4].op"},
    {"{\"promotions\": [{\"code\": \"p\", \"starts_at\": \"2026-01-01T00:00:00Z\", \"ends_at\": "
     "\"2027-01-01T00:00:00Z\", \"when\": {\"all\": ["
     "{\"fact\": \"purchase.weekday\", \"op\": \"in\", \"value\": []},"
     "{\"fact\": \"purchase.weekday\", \"op\": \"in\", \"value\": [\"sat\", \"monday\"]},"
     "{\"fact\": \"member.tier\", \"op\": \"==\", \"value\": \"platinum\"},"
     "{\"fact\": \"member.is_birthday_window\", \"op\": \"==\", \"value\": 1},"
     "{\"fact\": \"purchase.hour\", \"op\": \"==\", \"value\": 24},"
     "{\"fact\": \"purchase.hour\", \"op\": \"in\", \"value\": [1, \"2\"]},"
     "{\"fact\": \"purchase.subtotal\", \"op\": \">=\", \"value\": 1.5},"
     "{\"fact\": \"purchase.store_id\", \"op\": \"==\", \"value\": "
     "\"S0123456789012345678901234567890123\"},"
     "{\"fact\": \"purchase.subtotal\", \"op\": \"in\", \"value\": "
     "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]},"
     "{\"fact\": \"member.segment\", \"op\": \"==\", \"value\": [\"a\"]},"
     "{\"fact\": \"purchase.categories\", \"op\": \"contains\", \"value\": \"\"},"
     "{\"fact\": \"purchase.subtotal\", \"op\": \">\"}]}}]}",
     "$.promotions[0].when.all[0].value $.promotions[0].when.all[1].value[1] "
     "$.promotions[0].when.all[2].value $.promotions[0].when.all[3].value "
     "$.promotions[0].when.all[4].value $.promotions[0].when.all[5].value[1] "
     "$.promotions[0].when.all[6].value $.promotions[0].when.all[7].value "
     "$.promotions[0].when.all[8].value $.promotions[0].when.all[9].value "
     "$.promotions[0].when.all[10].value $.promotions[0].when.all[11].value"},
    {"{\"promotions\": [{\"code\": \"p\", \"starts_at\": \"2026-01-01T00:00:00Z\", \"ends_at\": "
     "\"2027-01-01T00:00:00Z\", \"when\": {\"not\": {\"not\": {\"not\": {\"not\": {\"not\": "
     "{\"not\": {\"not\": {\"not\": {\"not\": {\"fact\": \"purchase.hour\", \"op\": \"==\", "
     "\"value\": 1}}}}}}}}}}}]}",
     "$.promotions[0].when.not.not.not.not.not.not.not.not"},
    {"{\"promotions\": [{\"code\": \"p\", \"starts_at\": \"2026-01-01T00:00:00Z\", \"ends_at\": "
     "\"2027-01-01T00:00:00Z\", \"when\": {\"all\": [], \"any\": []}}, {\"code\": \"q\", "
     "\"starts_at\": \"2026-01-01T00:00:00Z\", \"ends_at\": \"2027-01-01T00:00:00Z\", "
     "\"when\": {\"not\": [], \"why\": 1}}, {\"code\": \"r\", \"starts_at\": "
     "\"2026-01-01T00:00:00Z\", \"ends_at\": \"2027-01-01T00:00:00Z\", \"when\": {\"all\": []}}, "
     "{\"code\": \"s\", \"starts_at\": \"2026-01-01T00:00:00Z\", \"ends_at\": "
     "\"2027-01-01T00:00:00Z\", \"when\": 5}, {\"code\": \"t\", \"starts_at\": "
     "\"2026-01-01T00:00:00Z\", \"ends_at\": \"2027-01-01T00:00:00Z\", \"when\": {\"fact\": "
     "\"purchase.hour\", \"op\": \"==\", \"value\": 1, \"note\": \"x\"}}]}",
     "$.promotions[0].when $.promotions[1].when.why $.promotions[1].when.not "
     "$.promotions[2].when.all $.promotions[3].when $.promotions[4].when.note"},
    {"{\"redemption\": {\"points_per_unit\": 0, \"max_bill_pct\": 100.001}}",
     "$.redemption.points_per_unit $.redemption.max_bill_pct"},
    {"{\"redemption\": \"<delete>\", \"expiry\": \"<delete>\"}", "$.redemption $.expiry"},
    {"{\"expiry\": {\"months\": 121}}", "$.expiry.months"},
    {"{\"expiry\": {\"months\": 0, \"days\": 3}}", "$.expiry.months $.expiry.days"},
    {"{\"pending_days\": 366, \"max_discount_pct\": 100.01}", "$.pending_days $.max_discount_pct"},
    {"{\"foo\": 1, \"Bar Baz\": 2}", "$.foo $['Bar Baz']"},
};

/* Does the error list name exactly the paths in `expected` (any order)? */
static bool same_paths(const struct err *e, const char *expected)
{
    char buf[1024];
    int n = 0;
    bool ok = true;

    snprintf(buf, sizeof(buf), "%s", expected);
    /* Paths are separated by " $" (a key may contain a space). */
    for (char *tok = buf, *next; tok != NULL; tok = next) {
        bool found = false;

        next = strstr(tok, " $");
        if (next != NULL)
            *next++ = '\0';
        for (int i = 0; i < e->nfields; i++)
            found = found || strcmp(e->fields[i].field, tok) == 0;
        if (!found) {
            fprintf(stderr, "  expected path %s not reported\n", tok);
            ok = false;
        }
        n++;
    }
    if (n != e->nfields) {
        ok = false;
        fprintf(stderr, "  expected %d paths, got %d:\n", n, e->nfields);
        for (int i = 0; i < e->nfields; i++)
            fprintf(stderr, "    %s: %s\n", e->fields[i].field, e->fields[i].message);
    }
    return ok;
}

static void test_invalid_documents(void)
{
    struct rules *r = calloc(1, sizeof(*r));

    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        json_t *doc = patched(invalid[i].patch);
        struct err e;
        int rc;
        bool ok;

        err_clear(&e);
        CHECK(doc != NULL);
        rc = rules_from_json(doc, r, &e);
        CHECK_EQ_I64(rc, -1);
        CHECK_EQ_I64(e.code, ERR_VALIDATION);
        ok = same_paths(&e, invalid[i].paths);
        CHECK(ok);
        if (!ok || rc != -1)
            fprintf(stderr, "  in invalid document %zu: %s\n", i, invalid[i].patch);
        json_decref(doc);
    }
    CHECK(sizeof(invalid) / sizeof(invalid[0]) >= 30);
    free(r);
}

static void test_not_an_object(void)
{
    struct rules *r = calloc(1, sizeof(*r));
    json_t *doc = json_array();
    struct err e;

    err_clear(&e);
    CHECK_EQ_I64(rules_from_json(doc, r, &e), -1);
    CHECK_EQ_I64(e.nfields, 1);
    CHECK_STREQ(e.fields[0].field, "$");
    json_decref(doc);
    free(r);
}

/* More errors than err keeps: 16 listed, the detail tells the total. */
static void test_error_count(void)
{
    struct rules *r = calloc(1, sizeof(*r));
    json_t *doc = patched("{}");
    struct err e;

    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof(key), "x%d", i);
        json_object_set_new(doc, key, json_true());
    }
    err_clear(&e);
    CHECK_EQ_I64(rules_from_json(doc, r, &e), -1);
    CHECK_EQ_I64(e.nfields, ERR_MAX_FIELDS);
    CHECK_STREQ(e.detail, "the rule set has 20 errors; the first 16 are listed");
    json_decref(doc);

    doc = patched("{\"pending_days\": -1}");
    err_clear(&e);
    CHECK_EQ_I64(rules_from_json(doc, r, &e), -1);
    CHECK_STREQ(e.detail, "the rule set has 1 error");
    json_decref(doc);
    free(r);
}

/* Nesting of exactly 8 is fine; the node capacity is an error, not a cut. */
static void test_limits(void)
{
    struct rules *r = calloc(1, sizeof(*r));
    json_t *doc = patched("{\"promotions\": [{\"code\": \"p\", \"starts_at\": "
                          "\"2026-01-01T00:00:00Z\", \"ends_at\": \"2027-01-01T00:00:00Z\", "
                          "\"when\": {\"not\": {\"not\": {\"not\": {\"not\": {\"not\": {\"not\": "
                          "{\"not\": {\"all\": [{\"fact\": \"purchase.hour\", \"op\": \"==\", "
                          "\"value\": 1}]}}}}}}}}}]}");
    json_t *promos, *leaves;
    struct err e;

    err_clear(&e);
    CHECK_EQ_I64(rules_from_json(doc, r, &e), 0);
    CHECK_EQ_I64(r->nnodes, 9);
    CHECK(round_trips(r));
    json_decref(doc);

    /* 33 promotions of 16 leaves under one `all`: 17 nodes each, 561 in all. */
    promos = json_array();
    for (int i = 0; i < 33; i++) {
        char code[8];
        leaves = json_array();
        for (int k = 0; k < 16; k++)
            json_array_append_new(leaves, json_pack("{s:s, s:s, s:i}", "fact", "purchase.hour",
                                                    "op", "==", "value", k));
        snprintf(code, sizeof(code), "p%d", i);
        json_array_append_new(promos, json_pack("{s:s, s:s, s:s, s:{s:o}}", "code", code,
                                                "starts_at", "2026-01-01T00:00:00Z", "ends_at",
                                                "2027-01-01T00:00:00Z", "when", "all", leaves));
    }
    doc = patched("{}");
    json_object_set_new(doc, "promotions", promos);
    err_clear(&e);
    CHECK_EQ_I64(rules_from_json(doc, r, &e), -1);
    /* Node 512 is the 2nd leaf of promotion 30 (30 x 17 = 510, its `all`
     * is 510, its first leaf 511). */
    CHECK_EQ_I64(e.nfields, 1);
    CHECK_STREQ(e.fields[0].field, "$.promotions[30].when.all[1]");
    json_decref(doc);

    /* 51 promotions. */
    promos = json_array();
    for (int i = 0; i < 51; i++)
        json_array_append_new(promos,
                              json_pack("{s:s, s:s, s:s}", "code", "p", "starts_at",
                                        "2026-01-01T00:00:00Z", "ends_at", "2027-01-01T00:00:00Z"));
    doc = patched("{}");
    json_object_set_new(doc, "promotions", promos);
    err_clear(&e);
    CHECK_EQ_I64(rules_from_json(doc, r, &e), -1);
    CHECK_EQ_I64(e.nfields, 1);
    CHECK_STREQ(e.fields[0].field, "$.promotions");
    json_decref(doc);
    free(r);
}

int main(void)
{
    test_contract_example();
    test_default_document();
    test_defaults_and_rendering();
    test_rich_round_trip();
    test_hundredths();
    test_invalid_documents();
    test_not_an_object();
    test_error_count();
    test_limits();
    return check_report();
}
