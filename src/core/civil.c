/*
 * civil.c - calendar arithmetic, RFC 3339 timestamps and YYYY-MM-DD dates:
 * the one copy that purchases, rewards, rule sets, member birthdays and the
 * rules engine share, so that every part of the daemon reads a timestamp
 * the same way.
 *
 * Must not call the C library's time functions (no time zones, no clock):
 * an RFC 3339 offset is arithmetic, and "now" is always the caller's.
 */
#include "core/civil.h"

#include <stdio.h>
#include <string.h>

#include "core/xmalloc.h"

/* 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z: what four year digits show. */
#define MIN_US (INT64_C(-719162) * CIVIL_US_PER_DAY)
#define END_US (INT64_C(2932897) * CIVIL_US_PER_DAY)

/* ----------------------------------------------------------- calendar -- */

bool is_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (m < 1 || m > 12)
        return 0;
    return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* The year is shifted to start in March, so that the leap day ends it; an
 * era is 400 years (146097 days). */
int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;

    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* -------------------------------------------------------------- parse -- */

/* Exactly `n` ASCII digits at s, or -1 (a NUL stops the reading). */
static int digits_at(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DD" at s (s has at least ten characters); -1 unless a real day
 * of years 0001..9999. */
static int date_at(const char *s, int *y, int *m, int *d)
{
    int yy = digits_at(s, 4), mm = digits_at(s + 5, 2), dd = digits_at(s + 8, 2);

    if (s[4] != '-' || s[7] != '-' || yy < 1 || mm < 1 || mm > 12 || dd < 1 ||
        dd > days_in_month(yy, mm))
        return -1;
    *y = yy;
    *m = mm;
    *d = dd;
    return 0;
}

static int parse_rfc3339(const char *s, int max_fraction_digits, int64_t *utc_us)
{
    int y, mo, d, h, mi, sec;
    int64_t frac = 0, off = 0, us;
    const char *p = s + 19;

    if (strlen(s) < 20 || date_at(s, &y, &mo, &d) < 0)
        return -1;
    h = digits_at(s + 11, 2);
    mi = digits_at(s + 14, 2);
    sec = digits_at(s + 17, 2);
    if ((s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || sec < 0 || sec > 59)
        return -1;
    if (*p == '.') {
        int64_t scale = 100000;
        int n = 0;

        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (++n > max_fraction_digits)
                return -1;
            frac += (*p - '0') * scale;
            scale /= 10;
        }
        if (n == 0)
            return -1;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = digits_at(p + 1, 2), om = digits_at(p + 4, 2);

        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
    } else {
        return -1;
    }
    us =
        (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off) * CIVIL_US_PER_SECOND +
        frac;
    if (us < MIN_US || us >= END_US)
        return -1;
    *utc_us = us;
    return 0;
}

int civil_parse_rfc3339(const char *s, int64_t *utc_us)
{
    return parse_rfc3339(s, 6, utc_us);
}

int civil_parse_rfc3339_truncating(const char *s, int64_t *utc_us)
{
    return parse_rfc3339(s, 9, utc_us);
}

int civil_parse_date(const char *s, int *y, int *m, int *d)
{
    if (strlen(s) != 10)
        return -1;
    return date_at(s, y, m, d);
}

/* ------------------------------------------------------------- format -- */

/* Writes `v` (0 <= v < 10^width) as `width` digits at `p`; returns the end. */
static char *put_digits(char *p, int v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + width;
}

/* Without stdio: every purchase and ledger entry formats a few of these,
 * and snprintf's format parsing cost more than the digits. */
static void format_rfc3339(int64_t utc_us, bool always_fraction, char out[32])
{
    int64_t days = utc_us / CIVIL_US_PER_DAY, rest = utc_us % CIVIL_US_PER_DAY, y;
    int m, d, secs, micro;
    char *p;

    if (rest < 0) {
        rest += CIVIL_US_PER_DAY;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    secs = (int)(rest / CIVIL_US_PER_SECOND);
    micro = (int)(rest % CIVIL_US_PER_SECOND);
    if (y >= 0 && y <= 9999) {
        p = put_digits(out, (int)y, 4);
    } else {
        /* Years of other widths and signs: rare enough for snprintf.  Any
         * int64's year is within +-292278 (7 characters), so the whole
         * text stays within 30 bytes. */
        int len = snprintf(out, 32, "%04lld", (long long)y);

        ly_assert(len > 0 && len <= 7);
        p = out + len;
    }
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p++ = 'T';
    p = put_digits(p, secs / 3600, 2);
    *p++ = ':';
    p = put_digits(p, secs / 60 % 60, 2);
    *p++ = ':';
    p = put_digits(p, secs % 60, 2);
    if (micro != 0 || always_fraction) {
        *p++ = '.';
        p = put_digits(p, micro, 6);
    }
    memcpy(p, "Z", 2);
}

void civil_format_rfc3339(int64_t utc_us, char out[32])
{
    format_rfc3339(utc_us, false, out);
}

void civil_format_rfc3339_us(int64_t utc_us, char out[32])
{
    format_rfc3339(utc_us, true, out);
}
