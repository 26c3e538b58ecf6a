/*
 * test_problem.c - the error table and problem+json rendering: every code has
 * the contract's status, internals never reach the body, field errors are
 * kept (and capped), and the first error set wins.
 */
#include "check.h"
#include "http/problem.h"

static void test_table(void)
{
    static const struct {
        enum err_code code;
        int status;
        const char *name;
    } want[] = {
        {ERR_VALIDATION, 400, "validation_failed"},
        {ERR_MALFORMED_JSON, 400, "malformed_json"},
        {ERR_UNAUTHORIZED, 401, "unauthorized"},
        {ERR_FORBIDDEN, 403, "forbidden"},
        {ERR_NOT_FOUND, 404, "not_found"},
        {ERR_METHOD_NOT_ALLOWED, 405, "method_not_allowed"},
        {ERR_CONFLICT, 409, "conflict"},
        {ERR_INSUFFICIENT_POINTS, 409, "insufficient_points"},
        {ERR_OUT_OF_STOCK, 409, "out_of_stock"},
        {ERR_LIMIT_REACHED, 409, "limit_reached"},
        {ERR_MEMBER_INACTIVE, 409, "member_inactive"},
        {ERR_IDEMPOTENCY_KEY_REUSED, 422, "idempotency_key_reused"},
        {ERR_PAYLOAD_TOO_LARGE, 413, "payload_too_large"},
        {ERR_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type"},
        {ERR_RATE_LIMITED, 429, "rate_limited"},
        {ERR_UNAVAILABLE, 503, "unavailable"},
        {ERR_INTERNAL, 500, "internal"},
    };

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        CHECK_EQ_I64(err_info_of(want[i].code)->status, want[i].status);
        CHECK_STREQ(err_info_of(want[i].code)->code, want[i].name);
    }
}

static void test_render(void)
{
    struct err e;
    json_t *p;

    err_clear(&e);
    CHECK_EQ_I64(err_field(&e, "name", "must be 1 to 100 characters"), -1);
    err_field(&e, "phone", "is not a phone number");
    p = problem_from_err(&e, "rid-1");
    CHECK_EQ_I64(json_integer_value(json_object_get(p, "status")), 400);
    CHECK_STREQ(json_string_value(json_object_get(p, "code")), "validation_failed");
    CHECK_STREQ(json_string_value(json_object_get(p, "type")), "/problems/validation_failed");
    CHECK_STREQ(json_string_value(json_object_get(p, "request_id")), "rid-1");
    CHECK_EQ_I64(json_array_size(json_object_get(p, "errors")), 2);
    CHECK_STREQ(json_string_value(
                    json_object_get(json_array_get(json_object_get(p, "errors"), 1), "field")),
                "phone");
    json_decref(p);
}

static void test_internal_hidden(void)
{
    struct err e;
    json_t *p;
    const char *detail;

    err_clear(&e);
    err_internal(&e, ERR_INTERNAL, "ERROR: relation \"members\" does not exist (SELECT ...)");
    p = problem_from_err(&e, "abc");
    detail = json_string_value(json_object_get(p, "detail"));
    CHECK(strstr(detail, "relation") == NULL);
    CHECK(strstr(detail, "abc") != NULL);
    CHECK_EQ_I64(json_integer_value(json_object_get(p, "status")), 500);
    json_decref(p);

    err_clear(&e);
    err_internal(&e, ERR_UNAVAILABLE, "could not connect to server: /tmp/.s.PGSQL.5432");
    p = problem_from_err(&e, "abc");
    detail = json_string_value(json_object_get(p, "detail"));
    CHECK(strstr(detail, "PGSQL") == NULL);
    CHECK_STREQ(json_string_value(json_object_get(p, "code")), "unavailable");
    json_decref(p);
}

static void test_first_error_wins(void)
{
    struct err e;

    err_clear(&e);
    err_set(&e, ERR_NOT_FOUND, "member not found");
    err_set(&e, ERR_CONFLICT, "other");
    err_field(&e, "x", "ignored");
    CHECK_EQ_I64(e.code, ERR_NOT_FOUND);
    CHECK_STREQ(e.detail, "member not found");
    CHECK_EQ_I64(e.nfields, 0);
}

static void test_field_cap_and_utf8(void)
{
    struct err e;
    char longname[300];
    json_t *p;

    err_clear(&e);
    for (int i = 0; i < ERR_MAX_FIELDS + 5; i++)
        err_field(&e, "f", "m");
    CHECK_EQ_I64(e.nfields, ERR_MAX_FIELDS);
    /* A field name cut in the middle of a 3-byte character stays valid UTF-8. */
    err_clear(&e);
    memset(longname, 0, sizeof(longname));
    for (int i = 0; i < 30; i++)
        memcpy(longname + 3 * i, "\xe7\x8e\x8b", 3); /* 王 */
    err_field(&e, longname, "unknown field");
    p = problem_from_err(&e, "r");
    CHECK(json_string_value(
              json_object_get(json_array_get(json_object_get(p, "errors"), 0), "field")) != NULL);
    json_decref(p);
}

int main(void)
{
    test_table();
    test_render();
    test_internal_hidden();
    test_first_error_wins();
    test_field_cap_and_utf8();
    return check_report();
}
