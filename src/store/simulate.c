/*
 * simulate.c - store_simulate_scan(): the purchases of a window with their
 * lines and context, in one statement read through a cursor.
 *
 * The statement does in SQL what would otherwise be a loop in C: the
 * member facts before each purchase are window functions over the member's
 * purchases (a count and a running maximum in id order, a sum over a
 * trailing RANGE in occurred_at order), the local calendar fields come from
 * PostgreSQL's time-zone database, and the lines arrive as arrays, one row
 * per purchase.  Rows are fetched a chunk at a time; a row is parsed in
 * place (the PGresult's text) into one reused purchase and one reused line
 * array, so a row costs no allocation.
 *
 * Must not write anything, compute points or money, or keep a PGresult
 * past a chunk.
 */
#include "store/simulate.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/xmalloc.h"
#include "store/db.h"

#define CHUNK_ROWS "2000"
#define MAX_LINES  500 /* purchase_lines.line_no is 1..500 */

/*
 * $1, $2: the window as UTC microseconds; $3: the time zone; $4: the tier
 * window in days.  `h` holds every purchase of the window's members up to
 * the window's last id, because the facts of a purchase depend on the
 * member's earlier ones, inside the window or not.  The trailing RANGE of
 * window_days less one microsecond, current row excluded, is the
 * interval (occurred_at - window, occurred_at] the purchase path sums.
 * The coupon is looked up LATERAL, so that it costs one index probe per
 * purchase whatever the planner thinks of the row counts (a join filter over
 * every coupon would cost purchases x coupons).  The instant comes as
 * integer microseconds and the local fields as one to_char text: exact, and
 * independent of the session's DateStyle.
 */
static const struct db_stmt stmt_declare = {
    "simulate_declare",
    "DECLARE simulate_purchases NO SCROLL CURSOR FOR"
    " WITH w AS ("
    "  SELECT member_id, id FROM purchases"
    "  WHERE occurred_at >= timestamptz 'epoch' + $1::bigint * interval '1 microsecond'"
    "   AND occurred_at < timestamptz 'epoch' + $2::bigint * interval '1 microsecond'),"
    " h AS ("
    "  SELECT p.member_id, p.id, p.occurred_at, p.store_id, p.tier_before, p.points_redeemed,"
    "   p.coupon_code, p.points_earned, p.discount_total,"
    "   row_number() OVER by_id - 1 AS purchase_count,"
    "   max(p.occurred_at) OVER (by_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    "    AS last_at,"
    "   coalesce(sum(p.net_spend) OVER (PARTITION BY p.member_id ORDER BY p.occurred_at"
    "    RANGE BETWEEN make_interval(days => $4::int) - interval '1 microsecond' PRECEDING"
    "    AND CURRENT ROW EXCLUDE CURRENT ROW), 0) AS spend"
    "  FROM purchases p"
    "  WHERE p.member_id IN (SELECT member_id FROM w) AND p.id <= (SELECT max(id) FROM w)"
    "  WINDOW by_id AS (PARTITION BY p.member_id ORDER BY p.id)),"
    " l AS ("
    "  SELECT member_id, purchase_id, array_agg(category ORDER BY line_no) AS categories,"
    "   array_agg(quantity ORDER BY line_no) AS quantities,"
    "   array_agg(unit_price ORDER BY line_no) AS unit_prices"
    "  FROM purchase_lines"
    "  WHERE (member_id, purchase_id) IN (SELECT member_id, id FROM w)"
    "  GROUP BY member_id, purchase_id)"
    " SELECT h.id, h.member_id, h.store_id, h.tier_before,"
    "  (extract(epoch FROM h.occurred_at) * 1000000)::bigint,"
    "  to_char(t.lt, 'YYYY MM DD HH24 ID'),"
    "  h.points_redeemed, h.coupon_code, cp.discount_value, cp.discount_pct_x100,"
    "  to_char(m.birthday, 'MM DD'),"
    "  t.lt::date - (m.enrolled_at AT TIME ZONE $3)::date,"
    "  h.purchase_count,"
    "  coalesce(t.lt::date - (h.last_at AT TIME ZONE $3)::date, -1),"
    "  h.spend, h.points_earned, h.discount_total,"
    "  l.categories, l.quantities, l.unit_prices,"
    "  coalesce(mi.segment, ''), coalesce(mi.lifecycle_stage, '')"
    " FROM h"
    " CROSS JOIN LATERAL (SELECT h.occurred_at AT TIME ZONE $3 AS lt) t"
    " JOIN l ON l.member_id = h.member_id AND l.purchase_id = h.id"
    " JOIN members m ON m.id = h.member_id"
    " LEFT JOIN member_insights mi ON mi.member_id = h.member_id"
    " LEFT JOIN LATERAL ("
    "  SELECT rw.discount_value, rw.discount_pct_x100 FROM coupons c"
    "  JOIN redemptions r ON r.member_id = c.member_id AND r.id = c.redemption_id"
    "  JOIN rewards rw ON rw.id = r.reward_id"
    "  WHERE c.code = h.coupon_code AND c.member_id = h.member_id) cp ON true"
    " WHERE h.occurred_at >= timestamptz 'epoch' + $1::bigint * interval '1 microsecond'"
    "  AND h.occurred_at < timestamptz 'epoch' + $2::bigint * interval '1 microsecond'"
    " ORDER BY h.member_id, h.id"};

/*
 * The first FETCH runs the sorts of the whole window: about a second per
 * 100,000 purchases on two cores, more than the connection's 15 s statement
 * timeout from a million on.  This transaction only reads, so it may take
 * longer; the setting ends with it.
 */
static const struct db_stmt stmt_budget = {"simulate_budget",
                                           "SELECT set_config('statement_timeout', '120s', true)"};

static const struct db_stmt stmt_fetch = {"simulate_fetch",
                                          "FETCH " CHUNK_ROWS " FROM simulate_purchases"};
static const struct db_stmt stmt_close = {"simulate_close", "CLOSE simulate_purchases"};

enum {
    COL_ID,
    COL_MEMBER,
    COL_STORE,
    COL_TIER,
    COL_OCCURRED_US,
    COL_LOCAL,
    COL_REDEEM,
    COL_COUPON,
    COL_COUPON_VALUE,
    COL_COUPON_PCT,
    COL_BIRTHDAY,
    COL_DAYS_ENROLLED,
    COL_PURCHASE_COUNT,
    COL_DAYS_LAST,
    COL_SPEND,
    COL_EARNED,
    COL_DISCOUNT,
    COL_CATEGORIES,
    COL_QUANTITIES,
    COL_PRICES,
    COL_SEGMENT,
    COL_STAGE,
    NCOLS
};

/* What one scan reuses for every row. */
struct scan {
    struct sim_purchase p;
    struct sim_line lines[MAX_LINES];
    char *text; /* the categories of the current row, NUL-separated */
    size_t cap;
};

/* ----------------------------------------------------------- parsing -- */

/* A decimal int64 at *s up to the first character not a digit; advances
 * *s.  False when there is no digit or the value does not fit. */
static bool parse_i64(const char **s, int64_t *out)
{
    const char *p = *s;
    bool neg = *p == '-';
    int64_t v = 0;

    if (neg)
        p++;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++)
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, neg ? -(*p - '0') : *p - '0', &v))
            return false;
    *s = p;
    *out = v;
    return true;
}

/* A whole column that is one integer. */
static int col_i64(const PGresult *res, int row, int col, int64_t *out, struct err *e)
{
    const char *s = PQgetvalue(res, row, col);

    if (PQgetisnull(res, row, col) || !parse_i64(&s, out) || *s != '\0')
        return err_internal(e, ERR_INTERNAL, "simulate: column %d of row %d is no integer", col,
                            row);
    return 0;
}

/* `n` integers separated by single spaces ("2026 11 22 10 7"). */
static int col_ints(const PGresult *res, int row, int col, int n, int64_t *out, struct err *e)
{
    const char *s = PQgetvalue(res, row, col);

    for (int i = 0; i < n; i++)
        if ((i > 0 && *s++ != ' ') || !parse_i64(&s, &out[i]))
            return err_internal(e, ERR_INTERNAL, "simulate: column %d of row %d is malformed", col,
                                row);
    if (*s != '\0')
        return err_internal(e, ERR_INTERNAL, "simulate: column %d of row %d is malformed", col,
                            row);
    return 0;
}

/* The elements of a bigint[] literal ("{1,2,3}") into lines[].quantity or
 * lines[].unit_price: exactly `n` of them. */
static bool parse_int_array(const char *s, struct sim_line *lines, int n, bool price)
{
    if (*s++ != '{')
        return false;
    for (int i = 0; i < n; i++) {
        int64_t v;

        if ((i > 0 && *s++ != ',') || !parse_i64(&s, &v))
            return false;
        if (price)
            lines[i].unit_price = v;
        else
            lines[i].quantity = v;
    }
    return s[0] == '}' && s[1] == '\0';
}

/*
 * The elements of a text[] literal into sc->text, each NUL-terminated, and
 * lines[].category pointing at them; returns their count or -1.  An element
 * is quoted when it holds a delimiter, a space, a quote or a backslash (or
 * is empty or spells NULL); inside quotes a backslash escapes the next
 * byte.  An unquoted NULL is SQL NULL, which category never is.
 */
static int parse_text_array(struct scan *sc, const char *s, size_t len)
{
    char *out;
    int n = 0;

    if (len + 1 > sc->cap) {
        sc->cap = len + 1 > 2 * sc->cap ? len + 1 : 2 * sc->cap;
        sc->text = xrealloc(sc->text, sc->cap);
    }
    out = sc->text;
    if (*s++ != '{')
        return -1;
    if (*s == '}')
        return s[1] == '\0' ? 0 : -1;
    for (;;) {
        if (n == MAX_LINES)
            return -1;
        sc->lines[n].category = out;
        if (*s == '"') {
            for (s++; *s != '"'; s++) {
                if (*s == '\\')
                    s++;
                if (*s == '\0')
                    return -1;
                *out++ = *s;
            }
            s++;
        } else {
            const char *start = s;

            s += strcspn(s, ",}");
            if (s - start == 4 && memcmp(start, "NULL", 4) == 0)
                return -1;
            memcpy(out, start, (size_t)(s - start));
            out += s - start;
        }
        *out++ = '\0';
        n++;
        if (*s == '}')
            return s[1] == '\0' ? n : -1;
        if (*s++ != ',')
            return -1;
    }
}

static const char *col_str(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Row `row` into sc->p; its strings point into `res`. */
static int read_row(const PGresult *res, int row, struct scan *sc, struct err *e)
{
    struct sim_purchase *p = &sc->p;
    int64_t local[5] = {0}, birthday[2] = {0, 0}, pct = 0;
    const char *categories = col_str(res, row, COL_CATEGORIES);
    int n;

    p->coupon_value = 0;
    if (col_i64(res, row, COL_ID, &p->id, e) < 0 ||
        col_i64(res, row, COL_MEMBER, &p->member_id, e) < 0 ||
        col_i64(res, row, COL_OCCURRED_US, &p->occurred_at_us, e) < 0 ||
        col_ints(res, row, COL_LOCAL, 5, local, e) < 0 ||
        col_i64(res, row, COL_REDEEM, &p->redeem_points, e) < 0 ||
        (!PQgetisnull(res, row, COL_COUPON_VALUE) &&
         col_i64(res, row, COL_COUPON_VALUE, &p->coupon_value, e) < 0) ||
        (!PQgetisnull(res, row, COL_COUPON_PCT) &&
         col_i64(res, row, COL_COUPON_PCT, &pct, e) < 0) ||
        (!PQgetisnull(res, row, COL_BIRTHDAY) &&
         col_ints(res, row, COL_BIRTHDAY, 2, birthday, e) < 0) ||
        col_i64(res, row, COL_DAYS_ENROLLED, &p->days_since_enrolled, e) < 0 ||
        col_i64(res, row, COL_PURCHASE_COUNT, &p->purchase_count, e) < 0 ||
        col_i64(res, row, COL_DAYS_LAST, &p->days_since_last_purchase, e) < 0 ||
        col_i64(res, row, COL_SPEND, &p->qualifying_spend, e) < 0 ||
        col_i64(res, row, COL_EARNED, &p->points_earned, e) < 0 ||
        col_i64(res, row, COL_DISCOUNT, &p->discount_total, e) < 0)
        return -1;
    /* to_char's year is at most 4 digits here, the rest 2 or 1 (ISO weekday 1..7). */
    p->local_year = (int)local[0];
    p->local_month = (int)local[1];
    p->local_day = (int)local[2];
    p->local_hour = (int)local[3];
    p->local_weekday = (int)local[4] - 1;
    p->birthday_month = (int)birthday[0];
    p->birthday_day = (int)birthday[1];
    p->coupon_pct_x100 = (int32_t)pct;
    p->store_id = col_str(res, row, COL_STORE);
    p->tier_before = col_str(res, row, COL_TIER);
    p->coupon_code = col_str(res, row, COL_COUPON);
    p->segment = PQgetvalue(res, row, COL_SEGMENT);
    p->lifecycle_stage = PQgetvalue(res, row, COL_STAGE);

    n = categories == NULL
            ? -1
            : parse_text_array(sc, categories, (size_t)PQgetlength(res, row, COL_CATEGORIES));
    if (n < 1 || p->store_id == NULL || p->tier_before == NULL ||
        !parse_int_array(PQgetvalue(res, row, COL_QUANTITIES), sc->lines, n, false) ||
        !parse_int_array(PQgetvalue(res, row, COL_PRICES), sc->lines, n, true))
        return err_internal(e, ERR_INTERNAL, "simulate: purchase %lld has malformed lines",
                            (long long)p->id);
    p->nlines = n;
    p->lines = sc->lines;
    return 0;
}

/* --------------------------------------------------------------- scan -- */

/* One chunk: 1 when it had rows, 0 at the end, -1. */
static int scan_chunk(struct db *db, struct scan *sc, sim_visit_fn visit, void *arg, struct err *e)
{
    PGresult *res = db_exec(db, &stmt_fetch, 0, NULL, e);
    int rows, rc = -1;

    if (res == NULL)
        return -1;
    if (PQnfields(res) != NCOLS) {
        err_internal(e, ERR_INTERNAL, "simulate: %d columns", PQnfields(res));
        goto out;
    }
    rows = PQntuples(res);
    for (int i = 0; i < rows; i++)
        if (read_row(res, i, sc, e) < 0 || visit(arg, &sc->p, e) < 0)
            goto out;
    rc = rows > 0;
out:
    PQclear(res);
    return rc;
}

int store_simulate_scan(struct db *db, const struct sim_query *q, sim_visit_fn visit, void *arg,
                        struct err *e)
{
    char from[24], to[24], days[24];
    const char *params[4] = {from, to, q->timezone, days};
    struct scan *sc;
    int rc;

    ly_assert(db_in_tx(db) && q->window_days >= 1);
    db_i64_text(q->from_us, from);
    db_i64_text(q->to_us, to);
    db_i64_text(q->window_days, days);
    if (db_run(db, &stmt_budget, 0, NULL, e) < 0 || db_run(db, &stmt_declare, 4, params, e) < 0)
        return -1;
    sc = xcalloc(1, sizeof(*sc));
    do
        rc = scan_chunk(db, sc, visit, arg, e);
    while (rc > 0);
    free(sc->text);
    free(sc);
    if (rc < 0)
        return -1;
    return db_run(db, &stmt_close, 0, NULL, e);
}
