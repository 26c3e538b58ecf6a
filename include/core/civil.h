/*
 * civil.h - the proleptic Gregorian calendar, RFC 3339 timestamps and
 * YYYY-MM-DD dates, in integer arithmetic.
 *
 * Days count from 1970-01-01 (day 0); instants are int64 microseconds since
 * 1970-01-01T00:00:00Z.  Nothing here needs a time-zone database: an
 * RFC 3339 offset is plain arithmetic, and local calendars of a named zone
 * are PostgreSQL's business.  Pure functions: no state, no allocation,
 * thread-safe.
 */
#ifndef LY_CORE_CIVIL_H
#define LY_CORE_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

#define CIVIL_US_PER_SECOND INT64_C(1000000)
#define CIVIL_US_PER_DAY    INT64_C(86400000000)

/* Gregorian leap years: every 4th, except centuries not divisible by 400. */
bool is_leap_year(int64_t y);

/* 28..31, or 0 when `m` is not a month (1..12). */
int days_in_month(int64_t y, int m);

/* Days since 1970-01-01 of y-m-d (H. Hinnant's days_from_civil); `m` and
 * `d` must form a real date. */
int64_t days_from_civil(int64_t y, int m, int d);

/* The date of day `days` since 1970-01-01 (the inverse of days_from_civil). */
void civil_from_days(int64_t days, int64_t *y, int *m, int *d);

/*
 * A strict RFC 3339 date-time to UTC microseconds:
 * "YYYY-MM-DDTHH:MM:SS[.f]Z" or "...+HH:MM"/"...-HH:MM".  The offset is
 * required; "t" and "z" may be lower case; 1..6 fraction digits; a real
 * date in years 0001..9999, hours 00..23, minutes and seconds 00..59 (no
 * leap second), offset hours 00..23 and minutes 00..59; nothing after the
 * offset.  The instant must lie in years 0001..9999 in UTC as well, so
 * that civil_format_rfc3339 writes it back in the same form.  Returns 0
 * with *utc_us set, or -1 (leaving *utc_us alone).
 */
int civil_parse_rfc3339(const char *s, int64_t *utc_us);

/*
 * As civil_parse_rfc3339, but 1..9 fraction digits, those past the
 * microsecond dropped (not rounded): what a point-of-sale clock with
 * nanoseconds (7 digits from .NET, 9 from Java) sends.
 */
int civil_parse_rfc3339_truncating(const char *s, int64_t *utc_us);

/* `utc_us` as RFC 3339 UTC, "YYYY-MM-DDTHH:MM:SSZ", with ".ffffff" before
 * the "Z" only when the microseconds are not zero (at most 28 bytes with
 * the NUL for years 0001..9999). */
void civil_format_rfc3339(int64_t utc_us, char out[32]);

/* As civil_format_rfc3339, always with six fraction digits: the text
 * DB_TIMESTAMP (store/db.h) renders, so a stored and a fresh value agree. */
void civil_format_rfc3339_us(int64_t utc_us, char out[32]);

/*
 * A calendar date "YYYY-MM-DD": exactly ten characters, a real day in years
 * 0001..9999.  Returns 0 with *y, *m and *d set, or -1.
 */
int civil_parse_date(const char *s, int *y, int *m, int *d);

#endif
