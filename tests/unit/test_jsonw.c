/*
 * test_jsonw.c - core/jsonw.h writes what jansson's json_dumps(JSON_COMPACT)
 * writes for the same values: every byte of a string from 0x01 to 0xFF in
 * UTF-8, nesting, empty containers, integers at their edges, null and
 * booleans.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "core/jsonw.h"

/* What jansson dumps for `v` (stolen). */
static char *jansson_text(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

    json_decref(v);
    return s;
}

static void check_same(struct jw *w, json_t *v)
{
    char *mine = jw_finish(w, NULL), *theirs = jansson_text(v);

    CHECK_STREQ(mine, theirs);
    free(mine);
    free(theirs);
}

/* One string per code point below 0x100, and some beyond: escapes. */
static void test_strings(void)
{
    for (unsigned c = 1; c < 0x100; c++) {
        char s[8];
        struct jw w;

        if (c < 0x80) {
            s[0] = 'a', s[1] = (char)c, s[2] = 'z', s[3] = '\0';
        } else { /* two-byte UTF-8 */
            s[0] = 'a', s[1] = (char)(0xC0 | (c >> 6)), s[2] = (char)(0x80 | (c & 0x3F));
            s[3] = 'z', s[4] = '\0';
        }
        jw_init(&w);
        jw_string(&w, s);
        check_same(&w, json_string(s));
    }
    static const char *const others[] = {
        "", "王小明", "\"quoted\" and \\back\\", "tab\tnew\nline", "€ 1,99 — 𝄞", "\x7f"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        struct jw w;

        jw_init(&w);
        jw_string(&w, others[i]);
        check_same(&w, json_string(others[i]));
    }
}

static void test_scalars(void)
{
    static const int64_t ints[] = {0, 1, -1, 89, 1000000, INT64_MAX, INT64_MIN};
    struct jw w;

    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        jw_init(&w);
        jw_int(&w, ints[i]);
        check_same(&w, json_integer(ints[i]));
    }
    jw_init(&w);
    jw_null(&w);
    check_same(&w, json_null());
    jw_init(&w);
    jw_string(&w, NULL);
    check_same(&w, json_null());
    jw_init(&w);
    jw_bool(&w, true);
    check_same(&w, json_true());
    jw_init(&w);
    jw_bool(&w, false);
    check_same(&w, json_false());
}

/* A balance-like document: members in order, nesting, empty containers. */
static void test_nesting(void)
{
    struct jw w;
    json_t *lots = json_array();

    jw_init(&w);
    jw_object_begin(&w);
    jw_key(&w, "member_id");
    jw_string(&w, "mem_1");
    jw_key(&w, "points_balance");
    jw_int(&w, 1000050);
    jw_key(&w, "next_tier");
    jw_object_begin(&w);
    jw_key(&w, "code");
    jw_string(&w, "silver");
    jw_key(&w, "spend_needed");
    jw_int(&w, 200000);
    jw_object_end(&w);
    jw_key(&w, "keep_tier");
    jw_null(&w);
    jw_key(&w, "empty");
    jw_object_begin(&w);
    jw_object_end(&w);
    jw_key(&w, "none");
    jw_array_begin(&w);
    jw_array_end(&w);
    jw_key(&w, "expiring");
    jw_array_begin(&w);
    for (int i = 0; i < 3; i++) {
        jw_object_begin(&w);
        jw_member_int(&w, "points", 10 * i);
        jw_member_string(&w, "expires_at", "2027-11-30T16:00:00.000000Z");
        jw_object_end(&w);
        json_array_append_new(lots, json_pack("{s:I, s:s}", "points", (json_int_t)(10 * i),
                                              "expires_at", "2027-11-30T16:00:00.000000Z"));
    }
    jw_array_end(&w);
    jw_key(&w, "list");
    jw_array_begin(&w);
    jw_int(&w, 1);
    jw_string(&w, "two");
    jw_array_begin(&w);
    jw_array_end(&w);
    jw_bool(&w, false);
    jw_array_end(&w);
    jw_object_end(&w);
    check_same(&w, json_pack("{s:s, s:I, s:{s:s, s:I}, s:n, s:{}, s:[], s:o, s:[i, s, [], b]}",
                             "member_id", "mem_1", "points_balance", (json_int_t)1000050,
                             "next_tier", "code", "silver", "spend_needed", (json_int_t)200000,
                             "keep_tier", "empty", "none", "expiring", lots, "list", 1, "two", 0));
}

/* A key is escaped as a string is, and the colon follows its quote. */
static void test_escaped_key(void)
{
    static const char *const keys[] = {"\"", "a\\", "\tb", "c\x01d\"", "plain"};
    struct jw w;
    json_t *o = json_object();

    jw_init(&w);
    jw_object_begin(&w);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        jw_member_int(&w, keys[i], (int64_t)i);
        json_object_set_new(o, keys[i], json_integer((json_int_t)i));
    }
    jw_object_end(&w);
    check_same(&w, o);
}

int main(void)
{
    test_strings();
    test_scalars();
    test_nesting();
    test_escaped_key();
    return check_report();
}
