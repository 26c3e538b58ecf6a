/*
 * test_db_values.c - statement parameters as text (store/db.h): integers at
 * their edges and PostgreSQL array literals of integers and strings.  No
 * database: these are what every statement of the hot paths binds.
 */
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "core/buf.h"
#include "store/db.h"

static void test_i64_text(void)
{
    static const struct {
        int64_t v;
        const char *text;
    } cases[] = {
        {0, "0"},
        {7, "7"},
        {-7, "-7"},
        {10, "10"},
        {1000000, "1000000"},
        {-1000050, "-1000050"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
        {INT64_MIN + 1, "-9223372036854775807"},
    };
    char text[24];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        db_i64_text(cases[i].v, text);
        CHECK_STREQ(text, cases[i].text);
    }
}

struct row {
    const char *name;
    int64_t amount;
    int64_t points;
};

static void test_i64_array(void)
{
    const struct row rows[] = {{"a", 2500, 50}, {"b", -3999, 0}, {"c", INT64_MIN, INT64_MAX}};
    struct buf b;

    buf_init(&b);
    db_i64_array(&b, rows, 3, sizeof(rows[0]), offsetof(struct row, amount));
    buf_append(&b, "", 1);
    CHECK_STREQ(b.data, "{2500,-3999,-9223372036854775808}");
    buf_cleanup(&b);

    buf_init(&b);
    db_i64_array(&b, rows, 3, sizeof(rows[0]), offsetof(struct row, points));
    buf_append(&b, "", 1);
    CHECK_STREQ(b.data, "{50,0,9223372036854775807}");
    buf_cleanup(&b);

    buf_init(&b);
    db_i64_array(&b, rows, 0, sizeof(rows[0]), offsetof(struct row, points));
    buf_append(&b, "", 1);
    CHECK_STREQ(b.data, "{}");
    buf_cleanup(&b);
}

/* Quotes and backslashes escaped, NULL unquoted. */
static void test_array_text(void)
{
    struct buf b;

    buf_init(&b);
    buf_puts(&b, "{");
    db_array_text(&b, true, "fresh");
    db_array_text(&b, false, NULL);
    db_array_text(&b, false, "say \"hi\" \\ bye");
    db_array_text(&b, false, "");
    buf_puts(&b, "}");
    buf_append(&b, "", 1);
    CHECK_STREQ(b.data, "{\"fresh\",NULL,\"say \\\"hi\\\" \\\\ bye\",\"\"}");
    buf_cleanup(&b);
}

int main(void)
{
    test_i64_text();
    test_i64_array();
    test_array_text();
    return check_report();
}
