/*
 * birthday.c - is a local calendar date inside a member's birthday window?
 *
 * Pure calendar arithmetic (core/civil.h) on dates the caller already
 * converted to the program time zone; no clock and no time-zone database
 * here.
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
#include "core/civil.h"
#include "internal.h"

static bool is_valid_date(int64_t y, int month, int day)
{
    /* days_in_month is 0 for a month that is none. */
    return y >= 1 && y <= 9999 && day >= 1 && day <= days_in_month(y, month);
}

/* The day a birthday falls on in year y: 29 Feb is 28 Feb in common years. */
static int64_t birthday_in_year(const struct engine_member *m, int64_t y)
{
    int day = m->birthday_day;

    if (m->birthday_month == 2 && day == 29 && !is_leap_year(y))
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
