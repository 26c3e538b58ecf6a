/*
 * fuzz_rules.c - libFuzzer target for the rule-set document: bytes ->
 * json_loadb -> rules_from_json and, when the document is valid, its round
 * trip through rules_to_json, every promotion's condition (engine_condition)
 * and engine_compute on a small fixed purchase.
 *
 * What it asserts beyond "no crash, leak or sanitizer report": a refused
 * document is refused with ERR_VALIDATION and at least one field, and an
 * accepted one survives to_json -> text -> from_json unchanged.
 *
 * Linked with replay.c it is an ordinary program that runs the same checks
 * on the files named on its command line (the committed corpus, as a
 * ctest, with any compiler).  Must not keep state between inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/rules_json.h"
#include "rules/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Large: kept off the stack; libFuzzer runs inputs one at a time. */
static struct rules rules;
static struct rules again;
static struct engine_result result;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_rules: invariant broken: %s\n", what);
        abort();
    }
}

/* The parsed document must render, re-parse and compare equal. */
static void check_round_trip(void)
{
    json_t *doc = rules_to_json(&rules);
    char *text;
    json_t *back;
    struct err e;

    check(doc != NULL, "rules_to_json returned NULL");
    text = json_dumps(doc, JSON_COMPACT);
    check(text != NULL, "the rendered document does not dump");
    back = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    check(back != NULL, "the rendered document does not parse");
    err_clear(&e);
    check(rules_from_json(back, &again, &e) == 0, "the rendered document is refused");
    check(memcmp(&rules, &again, sizeof(rules)) == 0, "the round trip changed the rule set");
    json_decref(back);
    free(text);
    json_decref(doc);
}

static void compute(void)
{
    static const struct engine_line_in lines[] = {
        {"A1", "fresh", 2, 1250},
        {"T1", "tobacco", 1, 3000},
        {"G1", "grocery", 3, 999},
        {"Z1", "grocery", 1, 0},
        {"D1", "dairy", 100000, 100000000000},
    };
    struct engine_member m = {
        .tier = rules.tiers[0].code,
        .qualifying_spend = 199999,
        .birthday_month = 2,
        .birthday_day = 29,
        .days_since_enrolled = 30,
        .purchase_count = 1,
        .days_since_last_purchase = -1,
        .segment = "important-value",
        .lifecycle_stage = "active",
    };
    struct engine_purchase p = {
        .lines = lines,
        .nlines = 4,
        .store_id = "S001",
        .occurred_at_us = INT64_C(1795593600000000), /* 2026-11-22T00:00:00+08:00 */
        .local = {2026, 11, 22, 0, 6},
        .redeem_points = 100,
        .coupon = {COUPON_VALUE, "C1", 500, 0},
    };
    struct err e;

    for (int i = 0; i < rules.npromotions; i++)
        if (rules.promotions[i].when >= 0)
            (void)engine_condition(&rules, rules.promotions[i].when, &m, &p, i % 2 == 0);
    err_clear(&e);
    (void)engine_compute(&rules, &m, &p, &result, &e);

    /* The largest amounts the purchase limits allow, with a pct coupon. */
    p.nlines = 5;
    p.redeem_points = 0;
    p.coupon.kind = COUPON_PCT;
    p.coupon.pct_x100 = 1050;
    m.tier = rules.tiers[rules.ntiers - 1].code;
    err_clear(&e);
    (void)engine_compute(&rules, &m, &p, &result, &e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    struct err e;

    if (doc == NULL)
        return 0;
    err_clear(&e);
    if (rules_from_json(doc, &rules, &e) == 0) {
        check(rules.ntiers >= 1 && rules.ntiers <= RULES_MAX_TIERS, "tier count out of range");
        check_round_trip();
        compute();
    } else {
        check(e.code == ERR_VALIDATION, "a refused document is not a validation error");
        check(e.nfields >= 1, "a refused document names no field");
    }
    json_decref(doc);
    return 0;
}
