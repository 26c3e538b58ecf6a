/*
 * birthday.c - is a local calendar date inside a member's birthday window?
 *
 * Pure calendar arithmetic on dates the caller already converted to the
 * program time zone; no clock and no time-zone database here.
 *
 * Interpretation of the contract ("day is the birthday; week is the
 * birthday ± 3 days (across the new year too); month is its calendar month.
 * A 29 February birthday counts as 28 February in other years"):
 *   - the birthday of year Y is (month, day), or 28 Feb for a 29 Feb
 *     birthday when Y is not a leap year;
 *   - week: the date is at most 3 days from the birthday of its own year,
 *     the year before or the year after (so a 30 Dec birthday covers
 *     27 Dec .. 2 Jan, and a 2 Jan birthday 30 Dec .. 5 Jan);
 *   - month: the date's month is the birthday's month (29 Feb -> February);
 *   - an unknown (month 0) or impossible birthday, or an impossible date,
 *     is never in the window.
 */
#include "internal.h"

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    if (month == 2 && is_leap(y))
        return 29;
    return days[month - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool is_valid_date(int64_t y, int month, int day)
{
    return y >= 1 && y <= 9999 && month >= 1 && month <= 12 && day >= 1 &&
           day <= days_in_month(y, month);
}

/* The day a birthday falls on in year y: 29 Feb is 28 Feb in common years. */
static int64_t birthday_in_year(const struct engine_member *m, int64_t y)
{
    int day = m->birthday_day;

    if (m->birthday_month == 2 && day == 29 && !is_leap(y))
        day = 28;
    return days_from_civil(y, m->birthday_month, day);
}

bool engine_in_birthday_window(const struct rules *r, const struct engine_member *m,
                               const struct engine_local_time *t)
{
    /* 2000 is a leap year, so this accepts 29 Feb and refuses 30 Feb. */
    if (!is_valid_date(2000, m->birthday_month, m->birthday_day))
        return false;
    if (!is_valid_date(t->year, t->month, t->day))
        return false;

    switch (r->birthday_window) {
    case BIRTHDAY_DAY:
        return days_from_civil(t->year, t->month, t->day) == birthday_in_year(m, t->year);
    case BIRTHDAY_WEEK: {
        int64_t today = days_from_civil(t->year, t->month, t->day);
        for (int64_t y = t->year - 1; y <= t->year + 1; y++) {
            int64_t diff = today - birthday_in_year(m, y);
            if (diff >= -3 && diff <= 3)
                return true;
        }
        return false;
    }
    case BIRTHDAY_MONTH:
        return t->month == m->birthday_month;
    }
    return false;
}
