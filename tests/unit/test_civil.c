/*
 * test_civil.c - unit tests for core/civil.c: leap years and month lengths,
 * day numbers both ways, RFC 3339 parsing (offsets across midnight and year
 * ends, fractions, the edges of years 0001..9999, everything refused) and
 * formatting, and YYYY-MM-DD dates.
 */
#include <stdint.h>

#include "check.h"
#include "core/civil.h"

#define US     INT64_C(1000000)
#define DAY_US (INT64_C(86400) * US)

static void test_calendar(void)
{
    CHECK(is_leap_year(2024));
    CHECK(is_leap_year(2000));
    CHECK(is_leap_year(0));
    CHECK(!is_leap_year(1900));
    CHECK(!is_leap_year(2023));
    CHECK(!is_leap_year(2100));
    CHECK_EQ_I64(days_in_month(2024, 2), 29);
    CHECK_EQ_I64(days_in_month(2023, 2), 28);
    CHECK_EQ_I64(days_in_month(1900, 2), 28);
    CHECK_EQ_I64(days_in_month(2026, 1), 31);
    CHECK_EQ_I64(days_in_month(2026, 4), 30);
    CHECK_EQ_I64(days_in_month(2026, 12), 31);
    CHECK_EQ_I64(days_in_month(2026, 0), 0);
    CHECK_EQ_I64(days_in_month(2026, 13), 0);
}

static void test_days(void)
{
    int64_t y;
    int m, d;

    CHECK_EQ_I64(days_from_civil(1970, 1, 1), 0);
    CHECK_EQ_I64(days_from_civil(1969, 12, 31), -1);
    CHECK_EQ_I64(days_from_civil(2000, 3, 1), 11017);
    CHECK_EQ_I64(days_from_civil(2024, 2, 29), 19782);
    CHECK_EQ_I64(days_from_civil(1, 1, 1), -719162);
    CHECK_EQ_I64(days_from_civil(9999, 12, 31), 2932896);
    civil_from_days(-1, &y, &m, &d);
    CHECK(y == 1969 && m == 12 && d == 31);
    civil_from_days(19782, &y, &m, &d);
    CHECK(y == 2024 && m == 2 && d == 29);
    /* Every day of years 0001..9999 and back. */
    for (int64_t z = -719162; z <= 2932896; z++) {
        civil_from_days(z, &y, &m, &d);
        if (days_from_civil(y, m, d) != z || d < 1 || d > days_in_month(y, m)) {
            CHECK_EQ_I64(days_from_civil(y, m, d), z);
            break;
        }
    }
}

/* The parse of `s`, or INT64_MIN when refused. */
static int64_t parse(const char *s)
{
    int64_t us = INT64_MIN;

    if (civil_parse_rfc3339(s, &us) < 0)
        return INT64_MIN;
    return us;
}

static int64_t parse_truncating(const char *s)
{
    int64_t us = INT64_MIN;

    if (civil_parse_rfc3339_truncating(s, &us) < 0)
        return INT64_MIN;
    return us;
}

static void test_parse(void)
{
    const int64_t new_year_2027 = days_from_civil(2027, 1, 1) * DAY_US;

    CHECK_EQ_I64(parse("1970-01-01T00:00:00Z"), 0);
    CHECK_EQ_I64(parse("1970-01-01t00:00:00z"), 0);
    CHECK_EQ_I64(parse("1970-01-01T08:00:00+08:00"), 0);
    CHECK_EQ_I64(parse("1969-12-31T19:30:00-04:30"), 0);
    CHECK_EQ_I64(parse("1970-01-01T00:00:00-00:00"), 0);
    CHECK_EQ_I64(parse("1969-12-31T23:59:59.5Z"), -US / 2);
    /* Negative offsets crossing midnight and the year's end, both ways. */
    CHECK_EQ_I64(parse("2026-12-31T23:30:00-01:00"), new_year_2027 + 30 * 60 * US);
    CHECK_EQ_I64(parse("2027-01-01T00:30:00+01:00"), new_year_2027 - 30 * 60 * US);
    CHECK_EQ_I64(parse("2026-12-31T16:00:00-08:00"), new_year_2027);
    CHECK_EQ_I64(parse("2024-02-29T23:59:59.5-05:30"),
                 days_from_civil(2024, 3, 1) * DAY_US + (5 * 3600 + 29 * 60 + 59) * US + US / 2);
    CHECK_EQ_I64(parse("2024-03-01T00:00:00+14:00"),
                 days_from_civil(2024, 2, 29) * DAY_US + 10 * 3600 * US);
    /* Fractions: 1..6 digits, scaled to microseconds. */
    CHECK_EQ_I64(parse("1970-01-01T00:00:00.1Z"), 100000);
    CHECK_EQ_I64(parse("1970-01-01T00:00:00.000001Z"), 1);
    CHECK_EQ_I64(parse("1970-01-01T00:00:00.123456+00:00"), 123456);
    CHECK_EQ_I64(parse("1970-01-01T00:00:00.1234567Z"), INT64_MIN);
    CHECK_EQ_I64(parse_truncating("1970-01-01T00:00:00.1234567Z"), 123456);
    CHECK_EQ_I64(parse_truncating("1970-01-01T00:00:00.999999999Z"), 999999);
    CHECK_EQ_I64(parse_truncating("1970-01-01T00:00:00.5Z"), 500000);
    CHECK_EQ_I64(parse_truncating("1970-01-01T00:00:00.1234567890Z"), INT64_MIN);
    /* The edges of years 0001..9999, in UTC too. */
    CHECK_EQ_I64(parse("0001-01-01T00:00:00Z"), -719162 * DAY_US);
    CHECK_EQ_I64(parse("9999-12-31T23:59:59.999999Z"), 2932897 * DAY_US - 1);
    CHECK_EQ_I64(parse("0001-01-01T00:30:00+01:00"), INT64_MIN);
    CHECK_EQ_I64(parse("9999-12-31T23:00:00-02:00"), INT64_MIN);
    CHECK_EQ_I64(parse("0000-12-31T23:00:00-02:00"), INT64_MIN);

    static const char *const bad[] = {
        "",
        "2026-11-22",
        "2026-11-22T10:15:00",
        "2026-11-22 10:15:00Z",
        "2026-11-22T10:15Z",
        "2026-11-22T10:15:00.Z",
        "2026-11-22T10:15:00Zx",
        "2026-11-22T10:15:00Z ",
        "2026-11-22T10:15:00+0800",
        "2026-11-22T10:15:00+08",
        "2026-11-22T10:15:00+08:00:00",
        "2026-11-22T10:15:00+24:00",
        "2026-11-22T10:15:00+08:60",
        "2026-11-22T10:15:00 +08:00",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T10:60:00Z",
        "2026-11-22T23:59:60Z",
        "22026-11-22T10:15:00Z",
        "226-11-22T10:15:00Z",
        "2026-1-22T10:15:00Z",
        "2026/11/22T10:15:00Z",
        "+2026-11-22T10:15:00Z",
        "2026-11-22T10:15:00.1a2Z",
        "2026-11-22T1a:15:00Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t us = 42;

        CHECK_EQ_I64(civil_parse_rfc3339(bad[i], &us), -1);
        CHECK_EQ_I64(civil_parse_rfc3339_truncating(bad[i], &us), -1);
        CHECK_EQ_I64(us, 42);
    }
}

static void test_format(void)
{
    static const int64_t samples[] = {
        0, 1, -1, 123456, -US / 2, 1795342500 * US, -719162 * DAY_US, 2932897 * DAY_US - 1,
    };
    char out[32];

    civil_format_rfc3339(0, out);
    CHECK_STREQ(out, "1970-01-01T00:00:00Z");
    civil_format_rfc3339_us(0, out);
    CHECK_STREQ(out, "1970-01-01T00:00:00.000000Z");
    civil_format_rfc3339(-1, out);
    CHECK_STREQ(out, "1969-12-31T23:59:59.999999Z");
    civil_format_rfc3339(1795342500 * US + 5000, out);
    CHECK_STREQ(out, "2026-11-22T10:15:00.005000Z");
    civil_format_rfc3339_us(1795342500 * US, out);
    CHECK_STREQ(out, "2026-11-22T10:15:00.000000Z");
    civil_format_rfc3339(-719162 * DAY_US, out);
    CHECK_STREQ(out, "0001-01-01T00:00:00Z");
    civil_format_rfc3339(2932897 * DAY_US - 1, out);
    CHECK_STREQ(out, "9999-12-31T23:59:59.999999Z");
    civil_format_rfc3339(days_from_civil(2024, 2, 29) * DAY_US + 86399 * US, out);
    CHECK_STREQ(out, "2024-02-29T23:59:59Z");
    /* Outside years 0000-9999 (no instant the API accepts, but any int64
     * formats): the same fields, the year as wide as it needs. */
    civil_format_rfc3339(2932897 * DAY_US, out);
    CHECK_STREQ(out, "10000-01-01T00:00:00Z");
    civil_format_rfc3339_us(-719528 * DAY_US - 1, out);
    CHECK_STREQ(out, "-001-12-31T23:59:59.999999Z");
    civil_format_rfc3339(-719528 * DAY_US - US, out);
    CHECK_STREQ(out, "-001-12-31T23:59:59Z");
    civil_format_rfc3339(INT64_MIN, out);
    CHECK(strlen(out) < 32);
    /* What is written reads back as the same instant. */
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        civil_format_rfc3339(samples[i], out);
        CHECK_EQ_I64(parse(out), samples[i]);
        civil_format_rfc3339_us(samples[i], out);
        CHECK_EQ_I64(parse(out), samples[i]);
    }
}

static void test_date(void)
{
    int y = 0, m = 0, d = 0;

    CHECK_EQ_I64(civil_parse_date("2024-02-29", &y, &m, &d), 0);
    CHECK(y == 2024 && m == 2 && d == 29);
    CHECK_EQ_I64(civil_parse_date("0001-01-01", &y, &m, &d), 0);
    CHECK_EQ_I64(civil_parse_date("9999-12-31", &y, &m, &d), 0);

    static const char *const bad[] = {
        "",
        "2023-02-29",
        "1900-02-29",
        "0000-01-01",
        "2024-13-01",
        "2024-00-10",
        "2024-04-31",
        "2024-1-01",
        "2024-01-1",
        "2024/01/01",
        "24-01-01",
        "2024-01-011",
        "2024-01-01T",
        "20240101",
        "abcd-ef-gh",
        " 2024-01-01",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ_I64(civil_parse_date(bad[i], &y, &m, &d), -1);
}

int main(void)
{
    test_calendar();
    test_days();
    test_parse();
    test_format();
    test_date();
    return check_report();
}
