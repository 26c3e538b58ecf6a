/*
 * fuzz_purchase.c - libFuzzer target for the purchase body, the busiest
 * input a client sends: bytes -> json_mem_loadb into a request arena (as
 * server.c parses every body, with jansson's allocator hook installed) ->
 * purchase_body_read -> for an accepted body, its fingerprint and the
 * answer purchase_result_text renders from it.
 *
 * What it asserts beyond "no crash, leak or sanitizer report":
 * - a refused body is refused with ERR_VALIDATION and a detail;
 * - an accepted body holds what the handlers rely on: a member named one
 *   way, 1..PURCHASE_MAX_ITEMS items with positive quantities and no
 *   negative price, no control character in any string (the fingerprint
 *   separates its fields with them), occurred_at as an instant that
 *   re-parses to itself and is not in the future past the allowed skew;
 * - the answer rendered for it is JSON that parses back, with the body's
 *   strings unchanged.
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

#include "api/purchase_json.h"
#include "core/arena.h"
#include "core/civil.h"
#include "core/json_mem.h"

#define NOW_US  INT64_C(1795342500000000) /* 2026-11-22T10:15:00Z */
#define SKEW_US INT64_C(300000000)        /* five minutes, the contract's */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Large: kept off the stack; libFuzzer runs inputs one at a time. */
static struct req rq;
static struct engine_result result;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_purchase: invariant broken: %s\n", what);
        abort();
    }
}

static int has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20)
            return 1;
    return 0;
}

static void check_string(const char *s, const char *what)
{
    check(s != NULL, what);
    check(*s != '\0' && !has_control(s), what);
}

static void check_accepted(const struct purchase_body *b)
{
    int64_t us;

    check((b->card_number != NULL) != (b->member_id != 0 || b->member_id_malformed),
          "the member is named by neither or both of member_id and card_number");
    if (b->card_number != NULL)
        check_string(b->card_number, "card_number");
    check_string(b->store_id, "store_id");
    check_string(b->terminal_id, "terminal_id");
    check_string(b->pos_transaction_id, "pos_transaction_id");
    check(b->nitems >= 1 && b->nitems <= PURCHASE_MAX_ITEMS, "item count out of range");
    for (int i = 0; i < b->nitems; i++) {
        check_string(b->items[i].sku, "items[].sku");
        check_string(b->items[i].category, "items[].category");
        check(b->items[i].quantity >= 1, "items[].quantity below 1");
        check(b->items[i].unit_price >= 0, "items[].unit_price negative");
    }
    check(b->redeem_points >= 0, "redeem_points negative");
    if (b->coupon_code != NULL)
        check_string(b->coupon_code, "coupon_code");
    check(b->occurred_at != NULL && civil_parse_rfc3339(b->occurred_at, &us) == 0 &&
              us == b->occurred_at_us,
          "occurred_at does not re-parse to occurred_at_us");
    check(b->occurred_at_us <= NOW_US + SKEW_US, "occurred_at in the future");
}

/* The answer must be JSON carrying the body's strings as they are. */
static void check_answer(const struct purchase_body *b)
{
    const struct purchase_view v = {
        .id = 42,
        .member_id = 7,
        .body = b,
        .result = &result,
        .tier_before = "bronze",
        .tier_after = "bronze",
        .balance_after = 0,
        .rules_version = 1,
    };
    char *text;
    json_t *doc, *items;

    memset(&result, 0, sizeof(result));
    result.nlines = b->nitems;
    text = purchase_result_text(&v);
    check(text != NULL, "no answer text");
    doc = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    check(doc != NULL, "the answer is not JSON");
    check(strcmp(json_string_value(json_object_get(doc, "store_id")), b->store_id) == 0,
          "the answer's store_id differs");
    check(strcmp(json_string_value(json_object_get(doc, "pos_transaction_id")),
                 b->pos_transaction_id) == 0,
          "the answer's pos_transaction_id differs");
    items = json_object_get(doc, "lines");
    check(json_array_size(items) == (size_t)b->nitems, "the answer's lines differ in number");
    for (int i = 0; i < b->nitems; i++) {
        json_t *line = json_array_get(items, (size_t)i);

        check(strcmp(json_string_value(json_object_get(line, "sku")), b->items[i].sku) == 0,
              "a line's sku differs");
        check(strcmp(json_string_value(json_object_get(line, "category")), b->items[i].category) ==
                  0,
              "a line's category differs");
    }
    json_decref(doc);
    free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_mem_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct purchase_body b;
    struct err e;
    char hex[65];

    memset(&rq, 0, sizeof(rq));
    arena_init(&rq.arena);
    rq.json = json_mem_loadb(&rq.arena, (const char *)data, size,
                             JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (rq.json != NULL) {
        err_clear(&e);
        if (purchase_body_read(&rq, NOW_US, &b, &e) == 0) {
            check(!err_is_set(&e), "accepted with an error set");
            check_accepted(&b);
            purchase_fingerprint(&b, b.member_id, hex);
            check(strlen(hex) == 64, "the fingerprint is not 64 hex digits");
            check_answer(&b);
        } else {
            check(e.code == ERR_VALIDATION, "a refused body is not a validation error");
            check(e.detail[0] != '\0', "a refused body has no detail");
        }
    }
    arena_free(&rq.arena);
    return 0;
}
