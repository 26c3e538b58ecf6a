/*
 * test_purchase_json.c - unit tests for api/purchase_json.c: reading the
 * purchase body (RFC 3339 times in integer arithmetic, every field error
 * with its path), the replay fingerprint, and the result's shape.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/purchase_json.h"
#include "api/secret.h"
#include "check.h"

#define NOW_US      INT64_C(1795342500000000) /* 2026-11-22T10:15:00Z */
#define NOW_US_TEXT "1795342500000000"

static bool has_field(const struct err *e, const char *field)
{
    for (int i = 0; i < e->nfields; i++)
        if (strcmp(e->fields[i].field, field) == 0)
            return true;
    return false;
}

/* Reads `text` as a request body; returns purchase_body_read's result. */
static int read_body(const char *text, struct req *rq, struct purchase_body *b, struct err *e)
{
    json_error_t jerr;

    memset(rq, 0, sizeof(*rq));
    arena_init(&rq->arena);
    rq->json = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    CHECK(rq->json != NULL);
    err_clear(e);
    return purchase_body_read(rq, NOW_US, b, e);
}

static void done(struct req *rq)
{
    json_decref(rq->json);
    arena_free(&rq->arena);
}

/* A body with `occurred_at` = `at` (a JSON value). */
static int read_at(const char *at, int64_t *us, char *text, size_t n)
{
    char body[512];
    struct req rq;
    struct purchase_body b;
    struct err e;
    int rc;

    snprintf(body, sizeof(body),
             "{\"store_id\":\"S1\",\"terminal_id\":\"T\",\"pos_transaction_id\":\"p\","
             "\"member_id\":\"mem_1\",\"occurred_at\":%s,"
             "\"items\":[{\"sku\":\"a\",\"category\":\"c\",\"quantity\":1,\"unit_price\":0}]}",
             at);
    rc = read_body(body, &rq, &b, &e);
    if (rc == 0) {
        *us = b.occurred_at_us;
        snprintf(text, n, "%s", b.occurred_at);
    } else {
        CHECK(has_field(&e, "occurred_at"));
    }
    done(&rq);
    return rc;
}

static void test_times(void)
{
    int64_t us = 0;
    char text[40];

    CHECK_EQ_I64(read_at("\"2026-11-22T18:15:00+08:00\"", &us, text, sizeof(text)), 0);
    CHECK_EQ_I64(us, NOW_US);
    CHECK_STREQ(text, "2026-11-22T10:15:00.000000Z");
    CHECK_EQ_I64(read_at("\"2026-11-22T10:15:00Z\"", &us, text, sizeof(text)), 0);
    CHECK_EQ_I64(us, NOW_US);
    CHECK_EQ_I64(read_at("\"2026-11-22t05:45:00.1234567-04:30\"", &us, text, sizeof(text)), 0);
    CHECK_EQ_I64(us, NOW_US + 123456);
    CHECK_STREQ(text, "2026-11-22T10:15:00.123456Z");
    CHECK_EQ_I64(read_at("\"2024-02-29T00:00:00+08:00\"", &us, text, sizeof(text)), 0);
    CHECK_STREQ(text, "2024-02-28T16:00:00.000000Z");
    CHECK_EQ_I64(read_at("\"1969-12-31T23:59:59.5Z\"", &us, text, sizeof(text)), 0);
    CHECK_EQ_I64(us, -500000);
    CHECK_STREQ(text, "1969-12-31T23:59:59.500000Z");
    /* five minutes ahead is the limit */
    CHECK_EQ_I64(read_at("\"2026-11-22T10:20:00Z\"", &us, text, sizeof(text)), 0);
    CHECK_EQ_I64(read_at("\"2026-11-22T10:20:00.000001Z\"", &us, text, sizeof(text)), -1);

    static const char *const bad[] = {
        "\"2026-11-22T10:15:00\"",
        "\"2026-11-22 10:15:00Z\"",
        "\"2026-11-22T10:15Z\"",
        "\"2023-02-29T00:00:00Z\"",
        "\"2026-04-31T00:00:00Z\"",
        "\"2026-13-01T00:00:00Z\"",
        "\"2026-11-22T24:00:00Z\"",
        "\"2026-11-22T10:60:00Z\"",
        "\"2026-11-22T10:15:60Z\"",
        "\"2026-11-22T10:15:00+0800\"",
        "\"2026-11-22T10:15:00+24:00\"",
        "\"2026-11-22T10:15:00.Z\"",
        "\"2026-11-22T10:15:00.1234567890Z\"",
        "\"2026-11-22T10:15:00Zx\"",
        "\"1899-12-31T00:00:00Z\"",
        "\"22026-11-22T10:15:00Z\"",
        "\"\"",
        "1795342500",
        "null",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_I64(read_at(bad[i], &us, text, sizeof(text)), -1);
}

static void test_fields(void)
{
    struct req rq;
    struct purchase_body b;
    struct err e;

    CHECK_EQ_I64(read_body("{\"store_id\":\"S1\",\"terminal_id\":\"T\",\"pos_transaction_id\":"
                           "\"a.b_c-d:e\",\"card_number\":\"12345678\",\"member_id\":null,"
                           "\"occurred_at\":\"2026-11-22T10:15:00Z\",\"redeem_points\":7,"
                           "\"coupon_code\":null,\"items\":[{\"sku\":\"\xe7\x8e\x8b\","
                           "\"category\":\"fresh\",\"quantity\":100000,\"unit_price\":"
                           "100000000000}]}",
                           &rq, &b, &e),
                 0);
    CHECK_STREQ(b.card_number, "12345678");
    CHECK_EQ_I64(b.member_id, 0);
    CHECK(!b.member_id_malformed);
    CHECK_EQ_I64(b.redeem_points, 7);
    CHECK(b.coupon_code == NULL);
    CHECK_EQ_I64(b.nitems, 1);
    CHECK_EQ_I64(b.items[0].quantity, 100000);
    CHECK_EQ_I64(b.items[0].unit_price, INT64_C(100000000000));
    done(&rq);

    /* a member id that is not one of ours is not a body error */
    CHECK_EQ_I64(read_body("{\"store_id\":\"S1\",\"terminal_id\":\"T\",\"pos_transaction_id\":"
                           "\"p\",\"member_id\":\"key_1\",\"occurred_at\":"
                           "\"2026-11-22T10:15:00Z\",\"items\":[{\"sku\":\"a\",\"category\":"
                           "\"c\",\"quantity\":1,\"unit_price\":0}]}",
                           &rq, &b, &e),
                 0);
    CHECK(b.member_id_malformed);
    done(&rq);

    /* every problem, each with its path */
    CHECK_EQ_I64(read_body("{\"store_id\":\"S 1\",\"terminal_id\":\"\",\"pos_transaction_id\":"
                           "\"a/b\",\"member_id\":\"mem_1\",\"card_number\":\"123456\","
                           "\"occurred_at\":\"x\",\"redeem_points\":-1,\"coupon_code\":1,"
                           "\"extra\":true,\"items\":[{\"sku\":\"a\",\"category\":\"c\","
                           "\"quantity\":0,\"unit_price\":1,\"colour\":1},{\"sku\":\"b\"}]}",
                           &rq, &b, &e),
                 -1);
    CHECK_EQ_I64(e.code, ERR_VALIDATION);
    static const char *const fields[] = {
        "store_id",
        "terminal_id",
        "pos_transaction_id",
        "card_number",
        "occurred_at",
        "redeem_points",
        "coupon_code",
        "extra",
        "items[0].colour",
        "items[0].quantity",
        "items[1].category",
        "items[1].quantity",
        "items[1].unit_price",
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        CHECK(has_field(&e, fields[i]));
    CHECK_EQ_I64(e.nfields, (long long)(sizeof(fields) / sizeof(fields[0])));
    done(&rq);
}

static void test_fingerprint(void)
{
    struct purchase_item items[2] = {{"a", "fresh", 2, 1250}, {"b", "dry", 1, 999}};
    struct purchase_body b = {.occurred_at_us = NOW_US, .nitems = 2, .items = items};
    char h1[65], h2[65], h3[65];

    purchase_fingerprint(&b, 42, h1);
    CHECK_EQ_I64(strlen(h1), 64);
    /* The text hashed is part of the database: purchases recorded by an
     * earlier version must still match their replays. */
    secret_hash_hex("purchase/1\nmember 42\nat " NOW_US_TEXT "\nredeem 0\nno coupon\n"
                    "item a\tfresh\t2\t1250\nitem b\tdry\t1\t999\n",
                    h2);
    CHECK_STREQ(h1, h2);
    /* how the member was named, the store and the terminal are not content */
    b.card_number = "12345678";
    b.terminal_id = "T9";
    purchase_fingerprint(&b, 42, h2);
    CHECK_STREQ(h1, h2);
    purchase_fingerprint(&b, 43, h3);
    CHECK(strcmp(h1, h3) != 0);
    b.redeem_points = 1;
    purchase_fingerprint(&b, 42, h3);
    CHECK(strcmp(h1, h3) != 0);
    b.redeem_points = 0;
    b.coupon_code = "";
    purchase_fingerprint(&b, 42, h3);
    CHECK(strcmp(h1, h3) != 0);
    b.coupon_code = "K7";
    purchase_fingerprint(&b, 42, h3);
    secret_hash_hex("purchase/1\nmember 42\nat " NOW_US_TEXT "\nredeem 0\ncoupon K7\n"
                    "item a\tfresh\t2\t1250\nitem b\tdry\t1\t999\n",
                    h2);
    CHECK_STREQ(h3, h2);
    b.coupon_code = NULL;
    items[1].unit_price = 998;
    purchase_fingerprint(&b, 42, h3);
    CHECK(strcmp(h1, h3) != 0);
    items[1].unit_price = 999;
    items[0].category = "fresh\tb";
    items[1].sku = "x";
    purchase_fingerprint(&b, 42, h3);
    CHECK(strcmp(h1, h3) != 0);
}

static void test_result_shape(void)
{
    struct purchase_item items[1] = {{"a", "fresh", 2, 1250}};
    struct purchase_body b = {.store_id = "S1",
                              .pos_transaction_id = "p",
                              .occurred_at = "2026-11-22T10:15:00.000000Z",
                              .nitems = 1,
                              .items = items};
    static struct engine_result r;
    struct purchase_view v = {.member_id = 42,
                              .body = &b,
                              .result = &r,
                              .tier_before = "basic",
                              .tier_after = "basic",
                              .balance_after = 50,
                              .rules_version = 1};
    char *text;
    json_t *j;

    memset(&r, 0, sizeof(r));
    r.subtotal = r.total_due = 2500;
    r.points_earned = 50;
    r.nlines = 1;
    r.lines[0].amount = 2500;
    r.lines[0].points = 50;
    r.napplied = 1;
    snprintf(r.applied[0].rule, sizeof(r.applied[0].rule), "category:fresh");
    snprintf(r.applied[0].kind, sizeof(r.applied[0].kind), "multiplier");
    snprintf(r.applied[0].detail, sizeof(r.applied[0].detail), "x2");
    r.applied[0].points = 25;

    text = purchase_result_text(&v);
    CHECK_STREQ(text, "{\"member_id\":\"mem_42\",\"store_id\":\"S1\",\"pos_transaction_id\":\"p\","
                      "\"occurred_at\":\"2026-11-22T10:15:00.000000Z\",\"subtotal\":2500,"
                      "\"discount_total\":0,\"redeemed_value\":0,\"total_due\":2500,"
                      "\"points_earned\":50,\"points_redeemed\":0,\"tier_before\":\"basic\","
                      "\"tier_after\":\"basic\",\"rules_version\":1,\"lines\":[{\"sku\":\"a\","
                      "\"category\":\"fresh\",\"quantity\":2,\"unit_price\":1250,\"amount\":2500,"
                      "\"discount\":0,\"points\":50}],\"applied\":[{\"rule\":\"category:fresh\","
                      "\"kind\":\"multiplier\",\"detail\":\"x2\",\"points\":25}]}");
    free(text);

    v.id = 7;
    text = purchase_result_text(&v);
    j = json_loads(text, 0, NULL);
    CHECK(j != NULL);
    CHECK_STREQ(json_string_value(json_object_get(j, "id")), "pur_7");
    CHECK_EQ_I64(json_integer_value(json_object_get(j, "balance_after")), 50);
    CHECK(strncmp(text, "{\"id\":\"pur_7\",\"member_id\"", 25) == 0);
    CHECK(strstr(text, "\"points_redeemed\":0,\"balance_after\":50,\"tier_before\"") != NULL);
    free(text);
    json_decref(j);
}

int main(void)
{
    test_times();
    test_fields();
    test_fingerprint();
    test_result_shape();
    return check_report();
}
