/*
 * test_validate.c - unit tests for api/validate.c: the body getters (one
 * field error each, all collected), the value checks shared by bodies
 * and query strings, and the list page body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/validate.h"
#include "check.h"

/* Parses a JSON literal for a test; aborts the test run if it is not valid. */
static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);

    if (j == NULL) {
        fprintf(stderr, "bad test JSON %s: %s\n", text, jerr.text);
        CHECK(j != NULL);
    }
    return j;
}

static bool has_field(const struct err *e, const char *field, const char *message)
{
    for (int i = 0; i < e->nfields; i++)
        if (strcmp(e->fields[i].field, field) == 0 &&
            (message == NULL || strcmp(e->fields[i].message, message) == 0))
            return true;
    return false;
}

/* ------------------------------------------------------- utf8_length -- */

static void test_utf8_length(void)
{
    CHECK_EQ_I64(utf8_length(""), 0);
    CHECK_EQ_I64(utf8_length("Alice Example"), 13);
    CHECK_EQ_I64(utf8_length("\xe7\x8e\x8b\xe5\xb0\x8f\xe6\x98\x8e"), 3); /* 王小明 */
    CHECK_EQ_I64(utf8_length("\xf0\x9f\x98\x80"), 1);                     /* U+1F600 */
    CHECK_EQ_I64(utf8_length("Zo\xc3\xab"), 3);                           /* Zoë */
    CHECK_EQ_I64(utf8_length("\xf4\x8f\xbf\xbf"), 1);                     /* U+10FFFF */
    CHECK_EQ_I64(utf8_length("\xc2\xa0"), 1);                             /* U+00A0, after C1 */

    /* invalid sequences */
    CHECK_EQ_I64(utf8_length("ab\xff\xfe"), -1);
    CHECK_EQ_I64(utf8_length("a\x80"), -1);     /* lone continuation */
    CHECK_EQ_I64(utf8_length("a\xe7\x8e"), -1); /* truncated */
    CHECK_EQ_I64(utf8_length("\xe7\x8e"
                             "a"),
                 -1);                                  /* continuation missing */
    CHECK_EQ_I64(utf8_length("\xed\xa0\x80"), -1);     /* surrogate U+D800 */
    CHECK_EQ_I64(utf8_length("\xf4\x90\x80\x80"), -1); /* above U+10FFFF */
    CHECK_EQ_I64(utf8_length("\xf5\x80\x80\x80"), -1);

    /* overlongs */
    CHECK_EQ_I64(utf8_length("a\xc0\xaf"
                             "b"),
                 -1); /* '/' in 2 bytes */
    CHECK_EQ_I64(utf8_length("\xc1\xbf"), -1);
    CHECK_EQ_I64(utf8_length("\xe0\x80\xaf"), -1);     /* '/' in 3 bytes */
    CHECK_EQ_I64(utf8_length("\xf0\x80\x80\xaf"), -1); /* '/' in 4 bytes */
    CHECK_EQ_I64(utf8_length("\xf0\x8f\xbf\xbf"), -1); /* U+FFFF in 4 bytes */

    /* C0 and C1 controls and DEL */
    CHECK_EQ_I64(utf8_length("a\x01"
                             "b"),
                 -1);
    CHECK_EQ_I64(utf8_length("a\nb"), -1);
    CHECK_EQ_I64(utf8_length("a\tb"), -1);
    CHECK_EQ_I64(utf8_length("\x1f"), -1);
    CHECK_EQ_I64(utf8_length("\x7f"), -1);
    CHECK_EQ_I64(utf8_length("\xc2\x80"), -1); /* U+0080 */
    CHECK_EQ_I64(utf8_length("\xc2\x9f"), -1); /* U+009F */
    CHECK_EQ_I64(utf8_length(" "), 1);
    CHECK_EQ_I64(utf8_length("~"), 1);
}

/* --------------------------------------------------- phone_normalize -- */

static void test_phone_normalize(void)
{
    char out[22];
    char small[10];

    CHECK_EQ_I64(phone_normalize("+86 138-0013-8000", out, sizeof(out)), 0);
    CHECK_STREQ(out, "+8613800138000");
    CHECK_EQ_I64(phone_normalize("13800138000", out, sizeof(out)), 0);
    CHECK_STREQ(out, "13800138000");
    CHECK_EQ_I64(phone_normalize(" +86-137 0000 1234 ", out, sizeof(out)), 0);
    CHECK_STREQ(out, "+8613700001234");
    CHECK_EQ_I64(phone_normalize("12345", out, sizeof(out)), 0); /* shortest */
    CHECK_STREQ(out, "12345");
    CHECK_EQ_I64(phone_normalize("+22222222222222222222", out, sizeof(out)), 0); /* longest */
    CHECK_STREQ(out, "+22222222222222222222");

    CHECK_EQ_I64(phone_normalize("1234", out, sizeof(out)), -1);
    CHECK_EQ_I64(phone_normalize("+1234", out, sizeof(out)), -1);
    CHECK_EQ_I64(phone_normalize("111111111111111111111", out, sizeof(out)), -1); /* 21 */
    CHECK_EQ_I64(phone_normalize("12ab34567", out, sizeof(out)), -1);
    CHECK_EQ_I64(phone_normalize("++8613800000000", out, sizeof(out)), -1);
    CHECK_EQ_I64(phone_normalize("86+13800000000", out, sizeof(out)), -1);
    CHECK_EQ_I64(phone_normalize("138\t0013 8000", out, sizeof(out)), -1);
    CHECK_EQ_I64(phone_normalize("(138) 0013", out, sizeof(out)), -1);
    CHECK_EQ_I64(phone_normalize("", out, sizeof(out)), -1);
    CHECK_EQ_I64(phone_normalize("+", out, sizeof(out)), -1);
    CHECK_EQ_I64(phone_normalize(" - ", out, sizeof(out)), -1);
    CHECK_EQ_I64(phone_normalize("12345", small, sizeof(small)), -1); /* buffer too small */
}

/* ----------------------------------------------------- is_valid_email -- */

static void test_is_valid_email(void)
{
    char long_email[300];

    CHECK(is_valid_email("a@b"));
    CHECK(is_valid_email("alice.example@example.com"));
    CHECK(is_valid_email("O'Brien@Example.COM"));
    CHECK(is_valid_email("\xe7\x8e\x8b@example.cn"));

    CHECK(!is_valid_email(""));
    CHECK(!is_valid_email("a@"));
    CHECK(!is_valid_email("@b"));
    CHECK(!is_valid_email("@ab"));
    CHECK(!is_valid_email("ab@"));
    CHECK(!is_valid_email("no-at.example.com"));
    CHECK(!is_valid_email("a@b@example.com"));
    CHECK(!is_valid_email("a@@example.com"));
    CHECK(!is_valid_email("a b@example.com"));
    CHECK(!is_valid_email("ab@example.com "));
    CHECK(!is_valid_email("a\t@example.com"));
    CHECK(!is_valid_email("a\x7f@example.com"));

    memset(long_email, 'a', sizeof(long_email));
    memcpy(long_email + 240, "@example.com", 13); /* 252 bytes */
    CHECK(is_valid_email(long_email));
    memcpy(long_email + 243, "@example.com", 13); /* 255 bytes */
    CHECK(!is_valid_email(long_email));
}

/* ------------------------------------------------------ is_valid_date -- */

static void test_is_valid_date(void)
{
    int y = 0, m = 0, d = 0;

    CHECK(is_valid_date("2024-02-29", &y, &m, &d));
    CHECK_EQ_I64(y, 2024);
    CHECK_EQ_I64(m, 2);
    CHECK_EQ_I64(d, 29);
    CHECK(is_valid_date("2000-02-29", NULL, NULL, NULL)); /* divisible by 400 */
    CHECK(is_valid_date("1990-12-31", &y, &m, &d));
    CHECK(is_valid_date("1900-01-01", &y, &m, &d));
    CHECK(is_valid_date("9999-12-31", &y, &m, &d));

    CHECK(!is_valid_date("2023-02-29", &y, &m, &d));
    CHECK(!is_valid_date("1900-02-29", &y, &m, &d)); /* divisible by 100 */
    CHECK(!is_valid_date("2026-13-01", &y, &m, &d));
    CHECK(!is_valid_date("2026-00-10", &y, &m, &d));
    CHECK(!is_valid_date("2026-01-00", &y, &m, &d));
    CHECK(!is_valid_date("1990-04-31", &y, &m, &d));
    CHECK(!is_valid_date("2026-1-01", &y, &m, &d));
    CHECK(!is_valid_date("2026-01-1", &y, &m, &d));
    CHECK(!is_valid_date("90-01-01", &y, &m, &d));
    CHECK(!is_valid_date("1990/01/01", &y, &m, &d));
    CHECK(!is_valid_date("1990-01-01T00:00:00Z", &y, &m, &d));
    CHECK(!is_valid_date("1899-12-31", &y, &m, &d));
    CHECK(!is_valid_date("+990-01-01", &y, &m, &d));
    CHECK(!is_valid_date("1990-0a-01", &y, &m, &d));
    CHECK(!is_valid_date("", &y, &m, &d));
}

/* -------------------------------------------------- is_valid_store_id -- */

static void test_is_valid_store_id(void)
{
    char s[80];

    CHECK(is_valid_store_id("S001"));
    CHECK(is_valid_store_id("shanghai.pudong_01-b"));
    memset(s, 'x', 64);
    s[64] = '\0';
    CHECK(is_valid_store_id(s));
    s[64] = 'x';
    s[65] = '\0';
    CHECK(!is_valid_store_id(s));
    CHECK(!is_valid_store_id(""));
    CHECK(!is_valid_store_id("S 001"));
    CHECK(!is_valid_store_id("S/001"));
    CHECK(!is_valid_store_id("店001"));
}

/* ----------------------------------------------------------- id_parse -- */

static void test_id_parse(void)
{
    int64_t id = 0;

    CHECK_EQ_I64(id_parse("mem_42", "mem_", &id), 0);
    CHECK_EQ_I64(id, 42);
    CHECK_EQ_I64(id_parse("mem_9223372036854775807", "mem_", &id), 0);
    CHECK_EQ_I64(id, INT64_MAX);
    CHECK_EQ_I64(id_parse("7", "", &id), 0);
    CHECK_EQ_I64(id, 7);

    id = 5;
    CHECK_EQ_I64(id_parse("mem_", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("mem_-1", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("mem_+1", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("mem_99999999999999999999", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("mem_9223372036854775808", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("xyz_1", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("mem_1a", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("mem_0", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("mem_042", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("mem_ 1", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("MEM_1", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse("42", "mem_", &id), -1);
    CHECK_EQ_I64(id_parse(NULL, "mem_", &id), -1);
    CHECK_EQ_I64(id, 5); /* untouched on failure */
}

/* ------------------------------------------------------- body getters -- */

static void test_body_object(void)
{
    struct req rq;
    struct err e;
    json_t *o;

    memset(&rq, 0, sizeof(rq));
    err_clear(&e);
    CHECK(body_object(&rq, false, &e) == NULL);
    CHECK_EQ_I64(e.code, ERR_MALFORMED_JSON);

    err_clear(&e);
    o = body_object(&rq, true, &e);
    CHECK(o != NULL && json_is_object(o) && json_object_size(o) == 0);
    CHECK(o == rq.json);
    CHECK(!err_is_set(&e));
    json_decref(rq.json);

    rq.json = parse("[1]");
    err_clear(&e);
    CHECK(body_object(&rq, true, &e) == NULL);
    CHECK_EQ_I64(e.code, ERR_VALIDATION);
    json_decref(rq.json);

    rq.json = parse("{\"a\": 1}");
    err_clear(&e);
    CHECK(body_object(&rq, false, &e) == rq.json);
    CHECK(!err_is_set(&e));
    json_decref(rq.json);
}

static void test_body_no_unknown(void)
{
    static const char *const allowed[] = {"name", "phone", NULL};
    json_t *o = parse("{\"name\": \"x\", \"nickname\": 1, \"phone\": null, \"zzz\": null}");
    json_t *ok = parse("{\"name\": \"x\"}");
    struct err e;

    err_clear(&e);
    CHECK_EQ_I64(body_no_unknown(ok, allowed, &e), 0);
    CHECK(!err_is_set(&e));

    CHECK_EQ_I64(body_no_unknown(o, allowed, &e), -1);
    CHECK_EQ_I64(e.code, ERR_VALIDATION);
    CHECK_EQ_I64(e.nfields, 2);
    CHECK(has_field(&e, "nickname", "unknown field"));
    CHECK(has_field(&e, "zzz", "unknown field"));
    CHECK(!has_field(&e, "name", NULL));

    err_clear(&e);
    CHECK_EQ_I64(body_missing("name", &e), -1);
    CHECK(has_field(&e, "name", "is required"));
    json_decref(o);
    json_decref(ok);
}

static void test_body_int(void)
{
    json_t *o = parse("{\"ok\": 42, \"neg\": -5, \"big\": 1e30, \"real\": 1.0, \"exp\": 1e3, "
                      "\"t\": true, \"s\": \"1\", \"null\": null, \"max\": 9223372036854775807}");
    struct err e;
    int64_t v = 7;

    err_clear(&e);
    CHECK_EQ_I64(body_int(o, "ok", 1, 100, &v, &e), 1);
    CHECK_EQ_I64(v, 42);
    CHECK_EQ_I64(body_int(o, "absent", 1, 100, &v, &e), 0);
    CHECK_EQ_I64(v, 42);
    CHECK_EQ_I64(body_int(o, "max", INT64_MIN, INT64_MAX, &v, &e), 1);
    CHECK_EQ_I64(v, INT64_MAX);
    CHECK(!err_is_set(&e));

    v = 7;
    CHECK_EQ_I64(body_int(o, "big", 0, INT64_MAX, &v, &e), -1);
    CHECK(has_field(&e, "big", "must be an integer"));
    CHECK_EQ_I64(body_int(o, "real", 0, 100, &v, &e), -1);
    CHECK(has_field(&e, "real", "must be an integer"));
    CHECK_EQ_I64(body_int(o, "exp", 0, 10000, &v, &e), -1);
    CHECK(has_field(&e, "exp", "must be an integer"));
    CHECK_EQ_I64(body_int(o, "t", 0, 1, &v, &e), -1);
    CHECK(has_field(&e, "t", "must be an integer"));
    CHECK_EQ_I64(body_int(o, "s", 0, 10, &v, &e), -1);
    CHECK(has_field(&e, "s", "must be an integer"));
    CHECK_EQ_I64(body_int(o, "null", 0, 10, &v, &e), -1);
    CHECK(has_field(&e, "null", NULL));
    CHECK_EQ_I64(body_int(o, "ok", 50, 100, &v, &e), -1);
    CHECK(has_field(&e, "ok", "must be between 50 and 100"));
    CHECK_EQ_I64(body_int(o, "neg", 0, 100, &v, &e), -1);
    CHECK(has_field(&e, "neg", "must be between 0 and 100"));
    CHECK_EQ_I64(v, 7);
    CHECK_EQ_I64(e.code, ERR_VALIDATION);
    CHECK_EQ_I64(e.nfields, 8);
    json_decref(o);
}

static void test_body_bool(void)
{
    json_t *o = parse("{\"t\": true, \"f\": false, \"one\": 1, \"s\": \"true\"}");
    struct err e;
    bool b = false;

    err_clear(&e);
    CHECK_EQ_I64(body_bool(o, "t", &b, &e), 1);
    CHECK(b);
    CHECK_EQ_I64(body_bool(o, "f", &b, &e), 1);
    CHECK(!b);
    CHECK_EQ_I64(body_bool(o, "absent", &b, &e), 0);
    CHECK(!err_is_set(&e));
    CHECK_EQ_I64(body_bool(o, "one", &b, &e), -1);
    CHECK_EQ_I64(body_bool(o, "s", &b, &e), -1);
    CHECK_EQ_I64(e.nfields, 2);
    json_decref(o);
}

static void test_body_string(void)
{
    json_t *o = parse("{\"name\": \"\\u738b\\u5c0f\\u660e\", \"empty\": \"\", \"null\": null, "
                      "\"num\": 1e30, \"bell\": \"a\\u0007b\", \"nl\": \"a\\nb\", "
                      "\"c1\": \"a\\u0085b\", \"del\": \"a\\u007fb\", \"arr\": [\"a\"]}");
    const char *s = NULL;
    bool is_null = true;
    struct err e;
    char long_name[102];

    err_clear(&e);
    CHECK_EQ_I64(body_string(o, "name", 1, 3, false, &s, &is_null, &e), 1);
    CHECK_STREQ(s, "\xe7\x8e\x8b\xe5\xb0\x8f\xe6\x98\x8e");
    CHECK(!is_null);
    CHECK_EQ_I64(body_string(o, "absent", 1, 3, false, &s, &is_null, &e), 0);
    CHECK(!is_null);
    CHECK_EQ_I64(body_string(o, "null", 1, 3, true, &s, &is_null, &e), 0);
    CHECK(is_null);
    CHECK_EQ_I64(body_string(o, "null", 1, 3, true, &s, NULL, &e), 0);
    CHECK_EQ_I64(body_string(o, "empty", 0, 3, false, &s, NULL, &e), 1);
    CHECK_STREQ(s, "");
    CHECK(!err_is_set(&e));

    s = NULL;
    CHECK_EQ_I64(body_string(o, "name", 1, 2, false, &s, NULL, &e), -1);
    CHECK(has_field(&e, "name", "must be 1 to 2 characters"));
    CHECK_EQ_I64(body_string(o, "empty", 1, 100, false, &s, NULL, &e), -1);
    CHECK(has_field(&e, "empty", "must be 1 to 100 characters"));
    CHECK_EQ_I64(body_string(o, "null", 1, 3, false, &s, &is_null, &e), -1);
    CHECK(has_field(&e, "null", "must not be null"));
    CHECK_EQ_I64(body_string(o, "num", 1, 3, false, &s, NULL, &e), -1);
    CHECK(has_field(&e, "num", "must be a string"));
    CHECK_EQ_I64(body_string(o, "arr", 1, 3, true, &s, NULL, &e), -1);
    CHECK(has_field(&e, "arr", "must be a string"));
    CHECK_EQ_I64(body_string(o, "bell", 1, 100, false, &s, NULL, &e), -1);
    CHECK(has_field(&e, "bell", "must not contain control characters"));
    CHECK_EQ_I64(body_string(o, "nl", 1, 100, false, &s, NULL, &e), -1);
    CHECK(has_field(&e, "nl", NULL));
    CHECK_EQ_I64(body_string(o, "c1", 1, 100, false, &s, NULL, &e), -1);
    CHECK(has_field(&e, "c1", NULL));
    CHECK_EQ_I64(body_string(o, "del", 1, 100, false, &s, NULL, &e), -1);
    CHECK(has_field(&e, "del", NULL));
    CHECK(s == NULL);
    CHECK_EQ_I64(e.nfields, 9);
    json_decref(o);

    /* 100 characters fit, 101 do not; an embedded NUL is refused. */
    memset(long_name, 'a', 101);
    long_name[101] = '\0';
    o = json_object();
    json_object_set_new(o, "n101", json_string(long_name));
    long_name[100] = '\0';
    json_object_set_new(o, "n100", json_string(long_name));
    json_object_set_new(o, "nul", json_stringn("a\0b", 3));
    err_clear(&e);
    CHECK_EQ_I64(body_string(o, "n100", 1, 100, false, &s, NULL, &e), 1);
    CHECK_EQ_I64(body_string(o, "n101", 1, 100, false, &s, NULL, &e), -1);
    CHECK(has_field(&e, "n101", "must be 1 to 100 characters"));
    CHECK_EQ_I64(body_string(o, "nul", 1, 100, false, &s, NULL, &e), -1);
    CHECK(has_field(&e, "nul", "must not contain control characters"));
    json_decref(o);
}

/* ------------------------------------------------------------- pages -- */

static void test_page_reply(void)
{
    struct resp rs = {0};
    struct err e;
    json_t *items = json_array();
    char *text;

    err_clear(&e);
    items = page_items_add(items, json_integer(1));
    items = page_items_add(items, json_integer(2));
    CHECK_EQ_I64(page_reply(&rs, items, true, "key_", 7, &e), 0);
    CHECK_EQ_I64(rs.status, 200);
    text = json_dumps(rs.json, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STREQ(text, "{\"items\":[1,2],\"next_cursor\":\"key_7\"}");
    free(text);
    CHECK_EQ_I64(page_reply(&rs, json_array(), false, "key_", 0, &e), 0);
    text = json_dumps(rs.json, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STREQ(text, "{\"items\":[],\"next_cursor\":null}");
    free(text);
    json_decref(rs.json);

    /* A failed item or array frees what was built and says so once. */
    CHECK(page_items_add(json_array(), NULL) == NULL);
    CHECK(page_items_add(NULL, json_integer(3)) == NULL);
    CHECK_EQ_I64(page_reply(&rs, NULL, false, "", 0, &e), -1);
    CHECK_EQ_I64(e.code, ERR_INTERNAL);
}

int main(void)
{
    test_utf8_length();
    test_phone_normalize();
    test_is_valid_email();
    test_is_valid_date();
    test_is_valid_store_id();
    test_id_parse();
    test_body_object();
    test_body_no_unknown();
    test_body_int();
    test_body_bool();
    test_body_string();
    test_page_reply();
    return check_report();
}
