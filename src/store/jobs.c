/*
 * jobs.c - every statement of the daily job (store/jobs.h): the calendar
 * the scheduler asks for, the job's record, and the four phases for one
 * batch of members, each phase one set-based statement.
 *
 * The phases keep the ledger's invariants exactly as store_ledger_post()
 * does (store/ledger.c): the balance moves in the statement that appends
 * the entry recording it, each entry records the balance after it, a
 * positive entry repays debt first and starts a lot of what is left, and
 * point lots sum to greatest(balance, 0).
 *
 * Must not decide what is owed beyond the rules it is given (the API layer
 * passes the active rule set), loop over members, or keep a PGresult past a
 * function.
 */
#include "store/jobs.h"

#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "store/db.h"

/* ---------------------------------------------------------- calendar -- */

static const struct db_stmt stmt_today = {
    "daily_today", "SELECT to_char((now() AT TIME ZONE $1::text)::date, 'YYYY-MM-DD')"};

int store_daily_today(struct db *db, const char *timezone, char today[11], struct err *e)
{
    const char *params[1] = {timezone};
    PGresult *res = db_exec(db, &stmt_today, 1, params, e);
    const char *v;
    int rc = -1;

    if (res == NULL)
        return -1;
    v = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    if (strlen(v) != 10) {
        err_internal(e, ERR_INTERNAL, "daily today: unexpected result '%s'", v);
        goto out;
    }
    memcpy(today, v, 11);
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* One row per date owed (or one row with a NULL date when none is), each
 * carrying the seconds to the next local midnight. */
static const struct db_stmt stmt_due = {
    "daily_due",
    "WITH t AS (SELECT (now() AT TIME ZONE $1::text)::date AS today),"
    " l AS (SELECT max(job_date) AS last FROM daily_jobs)"
    " SELECT to_char(g.day, 'YYYY-MM-DD'),"
    "  greatest(ceil(extract(epoch FROM ((t.today + 1)::timestamp AT TIME ZONE $1::text) - now())),"
    "   1)::bigint"
    " FROM t CROSS JOIN l LEFT JOIN LATERAL ("
    "  SELECT s::date AS day FROM generate_series("
    "   greatest(coalesce(l.last + 1, t.today), t.today - ($2::int - 1))::timestamp,"
    "   t.today::timestamp, interval '1 day') s) g ON true"
    " ORDER BY g.day"};

int store_daily_due(struct db *db, const char *timezone, int max_days, struct arena *a,
                    char (**dates)[11], int *n, int64_t *seconds_to_midnight, struct err *e)
{
    char days[24];
    const char *params[2] = {timezone, days};
    PGresult *res;
    int rows, rc = -1;

    db_i64_text(max_days, days);
    res = db_exec(db, &stmt_due, 2, params, e);
    if (res == NULL)
        return -1;
    rows = PQntuples(res);
    *n = 0;
    *dates = arena_alloc(a, sizeof(**dates) * (size_t)(rows > 0 ? rows : 1));
    if (rows < 1 || db_get_i64(res, 0, 1, seconds_to_midnight, e) < 0) {
        err_internal(e, ERR_INTERNAL, "daily due: no row");
        goto out;
    }
    for (int i = 0; i < rows; i++) {
        const char *v;

        if (db_is_null(res, i, 0))
            continue;
        v = PQgetvalue(res, i, 0);
        if (strlen(v) != 10) {
            err_internal(e, ERR_INTERNAL, "daily due: unexpected date '%s'", v);
            goto out;
        }
        memcpy((*dates)[(*n)++], v, 11);
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}

static const struct db_stmt stmt_range = {
    "daily_member_range", "SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM members"};

int store_daily_member_range(struct db *db, int64_t *min_id, int64_t *max_id, struct err *e)
{
    PGresult *res = db_exec(db, &stmt_range, 0, NULL, e);
    int rc = -1;

    if (res == NULL)
        return -1;
    if (db_get_i64(res, 0, 0, min_id, e) == 0 && db_get_i64(res, 0, 1, max_id, e) == 0)
        rc = 0;
    PQclear(res);
    return rc;
}

/* ------------------------------------------------------- transactions -- */

/*
 * A batch may wait for another run's batch (the advisory lock) and its
 * statements may each take seconds on a large batch: the pool's request
 * limits (store/db.c) are too tight for that, so the job's transactions
 * set their own.  The key is the job's alone; the only other advisory
 * locks are the Idempotency-Key claims' (store/idempotency.c), on 64-bit
 * hashes of the keys, one of which could only ever wait for this one.
 */
static const struct db_stmt stmt_limits = {"daily_limits",
                                           "SELECT set_config('lock_timeout', '120s', true),"
                                           " set_config('statement_timeout', '300s', true)"};
static const struct db_stmt stmt_advisory = {"daily_advisory",
                                             "SELECT pg_advisory_xact_lock(4419647236102418)"};

int store_daily_begin(struct db *db, struct err *e)
{
    if (db_begin(db, e) < 0)
        return -1;
    if (db_run(db, &stmt_limits, 0, NULL, e) < 0 || db_run(db, &stmt_advisory, 0, NULL, e) < 0) {
        db_rollback(db);
        return -1;
    }
    return 0;
}

static const struct db_stmt stmt_record = {
    "daily_record",
    "INSERT INTO daily_jobs (job_date, runs, birthday_gifts, released, expired_points,"
    " downgrades)"
    " VALUES ($1::date, 1, $2::bigint, $3::bigint, $4::bigint, $5::bigint)"
    " ON CONFLICT (job_date) DO UPDATE SET runs = daily_jobs.runs + 1,"
    "  birthday_gifts = daily_jobs.birthday_gifts + excluded.birthday_gifts,"
    "  released = daily_jobs.released + excluded.released,"
    "  expired_points = daily_jobs.expired_points + excluded.expired_points,"
    "  downgrades = daily_jobs.downgrades + excluded.downgrades,"
    "  last_run_at = now()"};

int store_daily_record(struct db *db, const char *date, const struct daily_job_counts *c,
                       struct err *e)
{
    char v[4][24];
    const char *params[5] = {date, v[0], v[1], v[2], v[3]};

    db_i64_text(c->birthday_gifts, v[0]);
    db_i64_text(c->released, v[1]);
    db_i64_text(c->expired_points, v[2]);
    db_i64_text(c->downgrades, v[3]);
    if (store_daily_begin(db, e) < 0)
        return -1;
    if (db_run(db, &stmt_record, 5, params, e) < 0) {
        db_rollback(db);
        return -1;
    }
    return db_commit(db, e);
}

/* ------------------------------------------------------------- phases -- */

/*
 * Who is owed a birthday gift on date `day` (a date expression): active
 * now, enrolled on or before it (local date), born on its month and day -
 * or on 29 February when `day` is 28 February of a year without one - and
 * not yet given this calendar year's gift.
 */
#define BIRTHDAY_DUE(m, day, tz, points)                                                           \
    "(" points " > 0 AND " m ".status = 'active' AND " m ".birthday IS NOT NULL"                   \
    " AND (" m ".enrolled_at AT TIME ZONE " tz ")::date <= " day " AND (to_char(" m                \
    ".birthday, 'MM-DD') = to_char(" day ", 'MM-DD')"                                              \
    "  OR (to_char(" m ".birthday, 'MM-DD') = '02-29' AND to_char(" day ", 'MM-DD') = '02-28'"     \
    "   AND to_char(" day " + 1, 'MM-DD') = '03-01'))"                                             \
    " AND NOT EXISTS (SELECT 1 FROM birthday_gifts g WHERE g.member_id = " m ".id"                 \
    "  AND g.year = extract(year FROM " day ")::int))"

/*
 * Who drops a tier on date `day`, as CTEs ending in `drops (id, from_tier,
 * to_tier, spend_d)`, over the members `src` yields (id, tier).
 * Days are counted relative to `day` (0 is `day`, -grace the first day of
 * the grace period).  A member's window spend on day x is the net spend of
 * its purchases whose local day is in (x - window, x].  That spend only
 * rises on a day with purchases, so its largest value over [-grace, 0] is
 * reached on -grace or on such a day: `spend` is the purchases per day plus
 * a zero marker on -grace and on 0, `win` the window spend on each of those
 * days (RANGE takes a day's other rows along), `best` the largest over the
 * grace period and the spend of `day` itself.  The member drops when even
 * the largest stayed below its tier's min_spend, to the highest tier whose
 * min_spend it reached (the lowest when none).  Only tiers above the lowest
 * drop; a tier the rules do not know is left alone; so is a member whose
 * tier changed after `day` (a later upgrade rests on later purchases, a
 * later downgrade already judged them), which makes catching up an old
 * date harmless.  store/purchases.c's keep_tier.by counts the same days.
 */
#define DROPS_CTES(src, day, tz, codes, mins, window, grace)                                       \
    " tiers AS ("                                                                                  \
    "  SELECT t.code, t.min_spend, t.n FROM unnest(" codes "::text[], " mins "::bigint[])"         \
    "   WITH ORDINALITY AS t(code, min_spend, n)),"                                                \
    " cand AS ("                                                                                   \
    "  SELECT s.id, s.tier, t.min_spend FROM (" src ") s JOIN tiers t ON t.code = s.tier"          \
    "  WHERE t.n > 1 AND NOT EXISTS (SELECT 1 FROM tier_history h"                                 \
    "   WHERE h.member_id = s.id AND h.effective_on > " day ")),"                                  \
    " spend AS ("                                                                                  \
    "  SELECT c.id, (p.occurred_at AT TIME ZONE " tz ")::date - " day " AS day,"                   \
    "   p.net_spend AS amount"                                                                     \
    "  FROM cand c JOIN purchases p ON p.member_id = c.id"                                         \
    "   AND p.occurred_at >= (" day " - " grace " - " window " + 1)::timestamp AT TIME ZONE " tz   \
    "   AND p.occurred_at < (" day " + 1)::timestamp AT TIME ZONE " tz                             \
    "  UNION ALL SELECT c.id, -" grace ", 0 FROM cand c"                                           \
    "  UNION ALL SELECT c.id, 0, 0 FROM cand c),"                                                  \
    " win AS ("                                                                                    \
    "  SELECT id, day, sum(amount) OVER (PARTITION BY id ORDER BY day"                             \
    "   RANGE BETWEEN " window " - 1 PRECEDING AND CURRENT ROW) AS s FROM spend),"                 \
    " best AS ("                                                                                   \
    "  SELECT id, max(s) FILTER (WHERE day >= -" grace ") AS top,"                                 \
    "   max(s) FILTER (WHERE day = 0) AS spend_d FROM win GROUP BY id),"                           \
    " drops AS ("                                                                                  \
    "  SELECT c.id, c.tier AS from_tier, b.spend_d::bigint AS spend_d,"                            \
    "   coalesce((SELECT t.code FROM tiers t WHERE t.min_spend <= b.top ORDER BY t.n DESC"         \
    "     LIMIT 1), (SELECT t.code FROM tiers t WHERE t.n = 1)) AS to_tier"                        \
    "  FROM cand c JOIN best b ON b.id = c.id WHERE b.top < c.min_spend)"

/* The macros' instances: plain names between string literals keep the
 * statements below readable after clang-format. */
#define LOCK_DROPS                                                                                 \
    DROPS_CTES("SELECT id, tier FROM members WHERE id > $1::bigint AND id <= $2::bigint",          \
               "$3::date", "$4::text", "$6", "$7", "$8::int", "$9::int")
#define LOCK_BIRTHDAY     BIRTHDAY_DUE("m", "$3::date", "$4::text", "$5::bigint")
#define BIRTHDAY_GIFT_DUE BIRTHDAY_DUE("m", "$2::date", "$3::text", "$4::bigint")
#define DOWNGRADE_DROPS                                                                            \
    DROPS_CTES("SELECT m.id, m.tier FROM members m JOIN unnest($1::bigint[]) AS k(id)"             \
               " ON k.id = m.id",                                                                  \
               "$2::date", "$3::text", "$4", "$5", "$6::int", "$7::int")

/*
 * Step 1 of the lock order: the batch's members that some phase will
 * change, locked by descending id, returned as an array literal for the
 * phases (which then touch no one else).  Parameters: $1 lo, $2 hi, $3 the
 * date, $4 the zone, $5 the birthday points, $6 tier codes, $7 their
 * min_spends, $8 window days, $9 grace days.
 */
static const struct db_stmt stmt_lock = {
    "daily_lock",
    "SELECT count(*), coalesce(array_agg(x.id ORDER BY x.id DESC), '{}')::text FROM ("
    " WITH" LOCK_DROPS
    " SELECT m.id FROM members m WHERE m.id > $1::bigint AND m.id <= $2::bigint AND (" LOCK_BIRTHDAY
    "  OR m.id IN (SELECT id FROM drops)"
    "  OR m.id IN (SELECT member_id FROM point_lots WHERE remaining > 0"
    "   AND expires_on < $3::date AND member_id > $1::bigint AND member_id <= $2::bigint)"
    "  OR m.id IN (SELECT member_id FROM point_lots WHERE NOT released"
    "   AND available_on <= $3::date AND member_id > $1::bigint AND member_id <= $2::bigint))"
    " ORDER BY m.id DESC FOR UPDATE OF m) x"};

/*
 * Birthday gifts: $1 the locked ids, $2 the date, $3 the zone, $4 the
 * points, $5 expiry months.  The gift row claims the year first (its entry
 * id drawn ahead), and only a claimed gift moves the balance and writes the
 * entry and its lot: whatever happens, a member gets one gift a year.  The
 * lot is dated by the job's date and spendable at once.
 */
static const struct db_stmt stmt_birthday = {
    "daily_birthday",
    "WITH due AS ("
    "  SELECT m.id, nextval(pg_get_serial_sequence('ledger_entries', 'id')) AS entry_id"
    "  FROM members m JOIN unnest($1::bigint[]) AS k(id) ON k.id = m.id"
    "  WHERE " BIRTHDAY_GIFT_DUE "),"
    " gift AS ("
    "  INSERT INTO birthday_gifts (member_id, year, entry_id, job_date)"
    "  SELECT id, extract(year FROM $2::date)::int, entry_id, $2::date FROM due"
    "  ON CONFLICT DO NOTHING RETURNING member_id, entry_id),"
    " m AS ("
    "  UPDATE members m SET points_balance = m.points_balance + $4::bigint"
    "  FROM gift g WHERE m.id = g.member_id"
    "  RETURNING m.id, m.points_balance AS after, g.entry_id),"
    " d AS ("
    "  SELECT (date_trunc('month', $2::date::timestamp)"
    "          + make_interval(months => $5::int + 1) - interval '1 day')::date AS expires_on),"
    " ent AS ("
    "  INSERT INTO ledger_entries (member_id, id, kind, points, balance_after, reason,"
    "   expires_at) OVERRIDING SYSTEM VALUE"
    "  SELECT m.id, m.entry_id, 'birthday', $4::bigint, m.after,"
    "   'birthday gift ' || extract(year FROM $2::date)::int,"
    "   (d.expires_on + 1)::timestamp AT TIME ZONE $3::text"
    "  FROM m, d RETURNING member_id, id, points, balance_after),"
    " lots AS ("
    "  INSERT INTO point_lots (member_id, entry_id, points, remaining, expires_on, available_on,"
    "   released)"
    "  SELECT e.member_id, e.id, least(e.points, e.balance_after),"
    "   least(e.points, e.balance_after), d.expires_on, $2::date, true"
    "  FROM ent e, d WHERE e.balance_after > 0 RETURNING 1)"
    " SELECT (SELECT count(*) FROM ent), (SELECT count(*) FROM lots)"};

/* Pending release: $1 the locked ids, $2 the date.  Spending already
 * decides by available_on, so no balance moves; the flag is the record. */
static const struct db_stmt stmt_release = {
    "daily_release", "WITH r AS ("
                     "  UPDATE point_lots l SET released = true FROM unnest($1::bigint[]) AS k(id)"
                     "  WHERE l.member_id = k.id AND NOT l.released AND l.available_on <= $2::date"
                     "  RETURNING l.remaining)"
                     " SELECT coalesce(sum(remaining), 0)::bigint FROM r"};

/*
 * Expiry: $1 the locked ids, $2 the date.  Lots whose last valid day is
 * before the date give up what is left of them, one `expire` entry per
 * member for the lot total.  Lots hold at most the balance, so it stays
 * >= 0 and the remaining lots still sum to it.
 */
static const struct db_stmt stmt_expire = {
    "daily_expire",
    "WITH x AS ("
    "  SELECT l.member_id, sum(l.remaining)::bigint AS points"
    "  FROM point_lots l JOIN unnest($1::bigint[]) AS k(id) ON l.member_id = k.id"
    "  WHERE l.remaining > 0 AND l.expires_on < $2::date GROUP BY l.member_id),"
    " m AS ("
    "  UPDATE members m SET points_balance = m.points_balance - x.points FROM x"
    "  WHERE m.id = x.member_id RETURNING m.id, m.points_balance AS after, x.points),"
    " ent AS ("
    "  INSERT INTO ledger_entries (member_id, kind, points, balance_after, reason)"
    "  SELECT id, 'expire', -points, after, 'points expired on ' || $2::date FROM m"
    "  RETURNING 1),"
    " used AS ("
    "  UPDATE point_lots l SET remaining = 0 FROM x"
    "  WHERE l.member_id = x.member_id AND l.remaining > 0 AND l.expires_on < $2::date"
    "  RETURNING 1)"
    " SELECT coalesce(sum(points), 0)::bigint, (SELECT count(*) FROM ent) FROM m"};

/* Downgrades: $1 the locked ids, $2 the date, $3 the zone, $4 tier codes,
 * $5 their min_spends, $6 window days, $7 grace days. */
static const struct db_stmt stmt_downgrade = {
    "daily_downgrade",
    "WITH" DOWNGRADE_DROPS ","
    " up AS ("
    "  UPDATE members m SET tier = d.to_tier, updated_at = now() FROM drops d"
    "  WHERE m.id = d.id RETURNING m.id),"
    " hist AS ("
    "  INSERT INTO tier_history (member_id, from_tier, to_tier, reason, qualifying_spend,"
    "   effective_on)"
    "  SELECT id, from_tier, to_tier, 'downgrade', spend_d, $2::date FROM drops RETURNING 1)"
    " SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM hist)"};

/* Reads the first `n` bigint columns of a one-row result. */
static int read_counts(const PGresult *res, int n, int64_t *out, struct err *e)
{
    if (PQntuples(res) != 1 || PQnfields(res) < n)
        return err_internal(e, ERR_INTERNAL, "daily job: %d rows", PQntuples(res));
    for (int i = 0; i < n; i++)
        if (db_get_i64(res, 0, i, &out[i], e) < 0)
            return -1;
    return 0;
}

/* Runs `st` and reads `n` counts; 0/-1. */
static int run_counts(struct db *db, const struct db_stmt *st, int nparams,
                      const char *const *params, int n, int64_t *out, struct err *e)
{
    PGresult *res = db_exec(db, st, nparams, params, e);
    int rc;

    if (res == NULL)
        return -1;
    rc = read_counts(res, n, out, e);
    PQclear(res);
    return rc;
}

/* The phases, in the batch's transaction, after the locks. */
static int run_phases(struct db *db, const struct daily_job_params *p, const char *ids,
                      const char *codes, const char *mins, struct daily_job_counts *c,
                      struct err *e)
{
    char points[24], months[24], window[24], grace[24];
    int64_t v[2] = {0, 0};

    db_i64_text(p->birthday_points, points);
    db_i64_text(p->expiry_months, months);
    db_i64_text(p->tier_window_days, window);
    db_i64_text(p->tier_grace_days, grace);
    {
        const char *params[5] = {ids, p->date, p->timezone, points, months};

        if (run_counts(db, &stmt_birthday, 5, params, 2, v, e) < 0)
            return -1;
        c->birthday_gifts = v[0];
    }
    {
        const char *params[2] = {ids, p->date};

        if (run_counts(db, &stmt_release, 2, params, 1, v, e) < 0)
            return -1;
        c->released = v[0];
        if (run_counts(db, &stmt_expire, 2, params, 2, v, e) < 0)
            return -1;
        c->expired_points = v[0];
    }
    {
        const char *params[7] = {ids, p->date, p->timezone, codes, mins, window, grace};

        if (run_counts(db, &stmt_downgrade, 7, params, 2, v, e) < 0)
            return -1;
        if (v[0] != v[1])
            return err_internal(e, ERR_INTERNAL, "daily downgrade: %lld members, %lld rows",
                                (long long)v[0], (long long)v[1]);
        c->downgrades = v[0];
    }
    return 0;
}

int store_daily_batch(struct db *db, const struct daily_job_params *p, int64_t lo, int64_t hi,
                      struct daily_job_counts *done, struct err *e)
{
    char lot[24], hit[24], points[24], window[24], grace[24];
    struct daily_job_counts c = {0, 0, 0, 0};
    const char *codes = p->tier_codes, *mins = p->tier_min_spends;
    PGresult *res = NULL;
    int64_t nlocked = 0;
    int rc = -1;

    db_i64_text(lo, lot);
    db_i64_text(hi, hit);
    db_i64_text(p->birthday_points, points);
    db_i64_text(p->tier_window_days, window);
    db_i64_text(p->tier_grace_days, grace);
    if (store_daily_begin(db, e) < 0)
        goto out;
    {
        const char *params[9] = {lot,   hit,  p->date, p->timezone, points,
                                 codes, mins, window,  grace};

        res = db_exec(db, &stmt_lock, 9, params, e);
    }
    if (res == NULL || db_get_i64(res, 0, 0, &nlocked, e) < 0)
        goto fail;
    if (nlocked > 0 && run_phases(db, p, PQgetvalue(res, 0, 1), codes, mins, &c, e) < 0)
        goto fail;
    if (__builtin_add_overflow(done->birthday_gifts, c.birthday_gifts, &c.birthday_gifts) ||
        __builtin_add_overflow(done->released, c.released, &c.released) ||
        __builtin_add_overflow(done->expired_points, c.expired_points, &c.expired_points) ||
        __builtin_add_overflow(done->downgrades, c.downgrades, &c.downgrades)) {
        err_internal(e, ERR_INTERNAL, "daily job: a count does not fit");
        goto fail;
    }
    if (db_commit(db, e) < 0)
        goto out;
    *done = c;
    rc = 0;
    goto out;
fail:
    db_rollback(db);
out:
    PQclear(res);
    return rc;
}
