/*
 * purchases.c - every statement on purchases, purchase_lines and
 * pos_transactions, plus the balance view (a sum over purchases).
 *
 * The purchase path is three statements besides the ledger's: the context
 * (member locked, qualifying spend, local calendar fields, an earlier
 * recording of the POS id), the write (claim, purchase, lines and member
 * facts at once, the lines as arrays through unnest), and, only after a
 * lost race, the look-up of the recording that won it.
 *
 * Must not compute points or money (the rules engine does), validate input
 * (the API layer does) or keep a PGresult past a function.
 */
#include "store/purchases.h"

#include <stddef.h>
#include <string.h>

#include "core/buf.h"
#include "core/xmalloc.h"
#include "store/db.h"
#include "store/ledger.h"
#include "store/reader.h"

/* ------------------------------------------------------------ helpers -- */

static int get_optional_i64(const PGresult *res, int row, int col, int64_t *out, struct err *e)
{
    *out = 0;
    if (db_is_null(res, row, col))
        return 0;
    return db_get_i64(res, row, col, out, e);
}

static int get_int(const PGresult *res, int row, int col, int *out, struct err *e)
{
    int64_t v;

    if (db_get_i64(res, row, col, &v, e) < 0)
        return -1;
    if (v < -2147483647 || v > 2147483647)
        return err_internal(e, ERR_INTERNAL, "column %d out of int range", col);
    *out = (int)v;
    return 0;
}

/* Appends a PostgreSQL text array literal of the lines' skus or categories. */
static void text_array(struct buf *b, int n, const struct purchase_line_row *lines, bool category)
{
    buf_puts(b, "{");
    for (int i = 0; i < n; i++)
        db_array_text(b, i == 0, category ? lines[i].category : lines[i].sku);
    buf_puts(b, "}");
}

/* ------------------------------------------------------------ context -- */

/*
 * The member, locked or not, drives everything; the calendar fields come
 * from PostgreSQL's time-zone database.  `fresh` compares the version of
 * the member row that was locked with the one the statement's snapshot saw:
 * they differ when the lock had to wait for a transaction that changed the
 * member (every purchase does), and then the sums and the POS look-up,
 * which read the older snapshot, must be read again.
 */
#define CONTEXT_SELECT(lock_clause, fresh, reserve_id, recorded_cols, recorded_join)               \
    "WITH m AS ("                                                                                  \
    "  SELECT id, status, tier, points_balance, enrolled_at, birthday, purchase_count,"            \
    "         last_purchase_at, referred_by, referral_granted_at, xmin::text AS row_version"       \
    "  FROM members"                                                                               \
    "  WHERE id = coalesce($1::bigint, (SELECT id FROM members WHERE card_number = $2))"           \
    "  " lock_clause ")"                                                                           \
    " SELECT m.id, m.status, m.tier, m.points_balance,"                                            \
    "  $3::timestamptz < m.enrolled_at - interval '1 day',"                                        \
    "  coalesce(extract(month FROM m.birthday)::int, 0),"                                          \
    "  coalesce(extract(day FROM m.birthday)::int, 0),"                                            \
    "  m.purchase_count,"                                                                          \
    "  t.lt::date - (m.enrolled_at AT TIME ZONE $4)::date,"                                        \
    "  coalesce(t.lt::date - (m.last_purchase_at AT TIME ZONE $4)::date, -1),"                     \
    "  (SELECT coalesce(sum(p.net_spend), 0) FROM purchases p WHERE p.member_id = m.id"            \
    "    AND p.occurred_at > $3::timestamptz - make_interval(days => $5::int)"                     \
    "    AND p.occurred_at <= $3::timestamptz),"                                                   \
    "  extract(year FROM t.lt)::int, extract(month FROM t.lt)::int,"                               \
    "  extract(day FROM t.lt)::int, extract(hour FROM t.lt)::int,"                                 \
    "  extract(isodow FROM t.lt)::int - 1,"                                                        \
    "  (SELECT coalesce(sum(l.remaining), 0) FROM point_lots l WHERE l.member_id = m.id"           \
    "    AND l.remaining > 0 AND l.available_on > (now() AT TIME ZONE $4)::date),"                 \
    "  coalesce(m.referred_by, 0), m.referred_by IS NOT NULL AND m.referral_granted_at IS NULL,"   \
    "  coalesce((SELECT i.segment FROM member_insights i WHERE i.member_id = m.id), ''),"          \
    "  coalesce((SELECT i.lifecycle_stage FROM member_insights i WHERE i.member_id = m.id), ''),"  \
    "  " fresh ", " reserve_id ", " recorded_cols " FROM m"                                        \
    " CROSS JOIN (SELECT $3::timestamptz AT TIME ZONE $4 AS lt) t" recorded_join

static const struct db_stmt stmt_context_purchase = {
    "purchases_context",
    CONTEXT_SELECT(
        "FOR UPDATE", "m.row_version = (SELECT xmin::text FROM members WHERE id = m.id)",
        "CASE WHEN x.purchase_id IS NULL THEN nextval('purchase_ids') END",
        "x.purchase_id, x.member_id, r.store_id, encode(r.request_hash, 'hex'), r.result",
        " LEFT JOIN pos_transactions x"
        "  ON x.store_id = $6 AND x.pos_transaction_id = $7"
        " LEFT JOIN purchases r ON r.member_id = x.member_id AND r.id = x.purchase_id")};

/* A quote locks nothing, reserves nothing and replays nothing (and takes
 * only the first five parameters). */
static const struct db_stmt stmt_context_quote = {
    "purchases_context_quote",
    CONTEXT_SELECT("", "true", "NULL::bigint",
                   "NULL::bigint, NULL::bigint, NULL::text, NULL::text, NULL::text", "")};

enum {
    CTX_ID,
    CTX_STATUS,
    CTX_TIER,
    CTX_BALANCE,
    CTX_BEFORE_ENROLMENT,
    CTX_BIRTH_MONTH,
    CTX_BIRTH_DAY,
    CTX_PURCHASE_COUNT,
    CTX_DAYS_ENROLLED,
    CTX_DAYS_LAST,
    CTX_SPEND,
    CTX_YEAR,
    CTX_MONTH,
    CTX_DAY,
    CTX_HOUR,
    CTX_WEEKDAY,
    CTX_PENDING,
    CTX_REFERRER,
    CTX_REFERRAL_PENDING,
    CTX_SEGMENT,
    CTX_STAGE,
    CTX_FRESH,
    CTX_NEW_ID,
    CTX_REC_ID,
    CTX_REC_MEMBER,
    CTX_REC_STORE,
    CTX_REC_HASH,
    CTX_REC_RESULT,
    CTX_NCOLS
};

static int read_context(const PGresult *res, struct arena *a, struct purchase_context *c,
                        struct err *e)
{
    if (PQnfields(res) != CTX_NCOLS)
        return err_internal(e, ERR_INTERNAL, "purchase context: %d columns", PQnfields(res));
    memset(c, 0, sizeof(*c));
    if (db_get_i64(res, 0, CTX_ID, &c->member_id, e) < 0 ||
        db_get_i64(res, 0, CTX_BALANCE, &c->points_balance, e) < 0 ||
        get_int(res, 0, CTX_BIRTH_MONTH, &c->birthday_month, e) < 0 ||
        get_int(res, 0, CTX_BIRTH_DAY, &c->birthday_day, e) < 0 ||
        db_get_i64(res, 0, CTX_PURCHASE_COUNT, &c->purchase_count, e) < 0 ||
        db_get_i64(res, 0, CTX_DAYS_ENROLLED, &c->days_since_enrolled, e) < 0 ||
        db_get_i64(res, 0, CTX_DAYS_LAST, &c->days_since_last_purchase, e) < 0 ||
        db_get_i64(res, 0, CTX_SPEND, &c->qualifying_spend, e) < 0 ||
        get_int(res, 0, CTX_YEAR, &c->local_year, e) < 0 ||
        get_int(res, 0, CTX_MONTH, &c->local_month, e) < 0 ||
        get_int(res, 0, CTX_DAY, &c->local_day, e) < 0 ||
        get_int(res, 0, CTX_HOUR, &c->local_hour, e) < 0 ||
        get_int(res, 0, CTX_WEEKDAY, &c->local_weekday, e) < 0 ||
        db_get_i64(res, 0, CTX_PENDING, &c->pending_points, e) < 0 ||
        db_get_i64(res, 0, CTX_REFERRER, &c->referrer_id, e) < 0 ||
        get_optional_i64(res, 0, CTX_NEW_ID, &c->new_id, e) < 0 ||
        get_optional_i64(res, 0, CTX_REC_ID, &c->recorded.id, e) < 0 ||
        get_optional_i64(res, 0, CTX_REC_MEMBER, &c->recorded.member_id, e) < 0)
        return -1;
    c->status = db_get_str(res, 0, CTX_STATUS, a);
    c->tier = db_get_str(res, 0, CTX_TIER, a);
    c->before_enrolment = db_get_bool(res, 0, CTX_BEFORE_ENROLMENT);
    c->referral_pending = db_get_bool(res, 0, CTX_REFERRAL_PENDING);
    c->segment = db_get_str(res, 0, CTX_SEGMENT, a);
    c->lifecycle_stage = db_get_str(res, 0, CTX_STAGE, a);
    c->recorded.store_id = db_get_str(res, 0, CTX_REC_STORE, a);
    c->recorded.request_hash = db_get_str(res, 0, CTX_REC_HASH, a);
    c->recorded.result = db_get_str(res, 0, CTX_REC_RESULT, a);
    return 0;
}

static int context_done(void *arg, const PGresult *res, struct err *e)
{
    struct purchase_context_read *r = arg;

    (void)e;
    if (PQntuples(res) == 0) {
        r->state = PURCHASE_CTX_MISSING;
        return 0;
    }
    if (read_context(res, r->a, r->out, &r->e) < 0) {
        r->state = PURCHASE_CTX_FAILED;
        return 0;
    }
    r->state = db_get_bool(res, 0, CTX_FRESH) ? PURCHASE_CTX_READ : PURCHASE_CTX_STALE;
    return 0;
}

void store_purchase_context_queue(struct db *db, const struct purchase_context_query *q,
                                  struct arena *a, struct purchase_context *out,
                                  struct purchase_context_read *r)
{
    char idt[24], window[24];
    const char *params[7] = {NULL,
                             q->member_id == 0 ? q->card_number : NULL,
                             q->occurred_at,
                             q->timezone,
                             window,
                             q->store_id,
                             q->pos_transaction_id};
    const struct db_stmt *st = q->for_purchase ? &stmt_context_purchase : &stmt_context_quote;

    if (q->member_id != 0) {
        db_i64_text(q->member_id, idt);
        params[0] = idt;
    }
    db_i64_text(q->window_days, window);
    r->out = out;
    r->a = a;
    r->state = PURCHASE_CTX_QUEUED;
    err_clear(&r->e);
    db_queue(db, st, q->for_purchase ? 7 : 5, params, context_done, r);
}

int store_purchase_context(struct db *db, const struct purchase_context_query *q, struct arena *a,
                           struct purchase_context *out, struct err *e)
{
    struct purchase_context_read *r = arena_alloc(a, sizeof(*r));

    /* The second run holds the lock from the first, so its snapshot is
     * taken after every writer this member was waiting for. */
    for (int attempt = 0; attempt < 2; attempt++) {
        store_purchase_context_queue(db, q, a, out, r);
        if (db_flush(db, e) < 0)
            return -1;
        switch (r->state) {
        case PURCHASE_CTX_READ:
            return 0;
        case PURCHASE_CTX_MISSING:
            return err_set(e, ERR_NOT_FOUND, "member not found");
        case PURCHASE_CTX_FAILED:
            *e = r->e;
            return -1;
        case PURCHASE_CTX_STALE:
            continue;
        case PURCHASE_CTX_QUEUED:
            break;
        }
        break;
    }
    return err_internal(e, ERR_INTERNAL, "purchase context changed under a held lock");
}

/* -------------------------------------------------------------- write -- */

/*
 * Data-modifying CTEs all run, in one snapshot, whatever the final SELECT
 * reads; each later one writes only when the claim did (it reads the rows
 * the earlier one returned).  ON CONFLICT DO NOTHING waits for a
 * concurrent claim of the same POS id and then does nothing if it
 * committed, so a race across members ends in a clean "already recorded"
 * rather than an aborted transaction.
 */
static const struct db_stmt stmt_insert = {
    "purchases_insert",
    "WITH claim AS ("
    "  INSERT INTO pos_transactions (store_id, pos_transaction_id, member_id, purchase_id)"
    "  VALUES ($1, $2, $3::bigint, $4::bigint) ON CONFLICT DO NOTHING RETURNING purchase_id),"
    " pur AS ("
    "  INSERT INTO purchases (member_id, id, store_id, terminal_id, pos_transaction_id,"
    "   occurred_at, subtotal, discount_total, redeemed_value, total_due, points_earned,"
    "   points_redeemed, net_spend, tier_before, tier_after, rules_version, coupon_code,"
    "   request_hash, result, bonus_points)"
    "  SELECT $3::bigint, c.purchase_id, $1, $5, $2, $6::timestamptz, $7::bigint, $8::bigint,"
    "   $9::bigint, $10::bigint, $11::bigint, $12::bigint, $13::bigint, $14, $15, $16::bigint,"
    "   $17, decode($18, 'hex'), $19, $30::bigint"
    "  FROM claim c RETURNING id),"
    " lines AS ("
    "  INSERT INTO purchase_lines (member_id, purchase_id, line_no, sku, category, quantity,"
    "   unit_price, amount, discount, redeemed_share, net_spend, points)"
    "  SELECT $3::bigint, p.id, l.n::int, l.sku, l.category, l.quantity, l.unit_price, l.amount,"
    "   l.discount, l.redeemed_share, l.net_spend, l.points"
    "  FROM pur p, unnest($20::text[], $21::text[], $22::bigint[], $23::bigint[], $24::bigint[],"
    "   $25::bigint[], $26::bigint[], $27::bigint[], $28::bigint[]) WITH ORDINALITY"
    "   AS l(sku, category, quantity, unit_price, amount, discount, redeemed_share, net_spend,"
    "   points, n)"
    "  RETURNING 1),"
    " mem AS ("
    "  UPDATE members SET purchase_count = purchase_count + 1,"
    "   last_purchase_at = greatest(last_purchase_at, $6::timestamptz),"
    "   tier = CASE WHEN $29::boolean THEN $15 ELSE tier END,"
    "   updated_at = CASE WHEN $29::boolean THEN now() ELSE updated_at END,"
    "   referral_granted_at = CASE WHEN $31::boolean THEN now() ELSE referral_granted_at END"
    "  WHERE id = $3::bigint AND EXISTS (SELECT 1 FROM pur) RETURNING 1),"
    " hist AS ("
    "  INSERT INTO tier_history (member_id, from_tier, to_tier, reason, purchase_id,"
    "   qualifying_spend, effective_on)"
    "  SELECT $3::bigint, $14, $15, 'purchase', p.id, $32::bigint,"
    "   ($6::timestamptz AT TIME ZONE $33)::date"
    "  FROM pur p WHERE $29::boolean RETURNING 1)"
    " SELECT (SELECT count(*) FROM pur), (SELECT count(*) FROM lines), (SELECT count(*) FROM mem),"
    "  (SELECT count(*) FROM hist)"};

#define NARRAYS 9

static int insert_done(void *arg, const PGresult *res, struct err *e)
{
    struct purchase_insert_read *r = arg;
    const struct purchase_new *p = r->p;
    int64_t counts[4];

    for (int i = 0; i < 4; i++)
        if (db_get_i64(res, 0, i, &counts[i], e) < 0)
            return -1;
    if (counts[0] == 0) {
        r->rc = 0;
        return 0;
    }
    if (counts[0] != 1 || counts[1] != p->nlines || counts[2] != 1 ||
        counts[3] != (p->tier_changed ? 1 : 0))
        return err_internal(e, ERR_INTERNAL, "purchase insert wrote %lld/%lld/%lld/%lld rows",
                            (long long)counts[0], (long long)counts[1], (long long)counts[2],
                            (long long)counts[3]);
    r->rc = 1;
    return 0;
}

static void insert_queue(struct db *db, const struct purchase_new *p,
                         struct purchase_insert_read *r)
{
    static const size_t offsets[NARRAYS - 2] = {
        offsetof(struct purchase_line_row, quantity),
        offsetof(struct purchase_line_row, unit_price),
        offsetof(struct purchase_line_row, amount),
        offsetof(struct purchase_line_row, discount),
        offsetof(struct purchase_line_row, redeemed_share),
        offsetof(struct purchase_line_row, net_spend),
        offsetof(struct purchase_line_row, points),
    };
    char num[12][24];
    struct buf arrays[NARRAYS];
    const char *params[33];

    ly_assert(p->nlines >= 1);
    db_i64_text(p->member_id, num[0]);
    db_i64_text(p->id, num[1]);
    db_i64_text(p->subtotal, num[2]);
    db_i64_text(p->discount_total, num[3]);
    db_i64_text(p->redeemed_value, num[4]);
    db_i64_text(p->total_due, num[5]);
    db_i64_text(p->points_earned, num[6]);
    db_i64_text(p->points_redeemed, num[7]);
    db_i64_text(p->net_spend, num[8]);
    db_i64_text(p->rules_version, num[9]);
    db_i64_text(p->bonus_points, num[10]);
    db_i64_text(p->qualifying_spend_after, num[11]);
    for (int i = 0; i < NARRAYS; i++)
        buf_init(&arrays[i]);
    text_array(&arrays[0], p->nlines, p->lines, false);
    text_array(&arrays[1], p->nlines, p->lines, true);
    for (int i = 2; i < NARRAYS; i++)
        db_i64_array(&arrays[i], p->lines, p->nlines, sizeof(*p->lines), offsets[i - 2]);

    params[0] = p->store_id;
    params[1] = p->pos_transaction_id;
    params[2] = num[0];
    params[3] = num[1];
    params[4] = p->terminal_id;
    params[5] = p->occurred_at;
    for (int i = 0; i < 7; i++)
        params[6 + i] = num[2 + i];
    params[13] = p->tier_before;
    params[14] = p->tier_after;
    params[15] = num[9];
    params[16] = p->coupon_code;
    params[17] = p->request_hash;
    params[18] = p->result;
    for (int i = 0; i < NARRAYS; i++)
        params[19 + i] = arrays[i].data;
    params[28] = p->tier_changed ? "true" : "false";
    params[29] = num[10];
    params[30] = p->referral_granted ? "true" : "false";
    params[31] = num[11];
    params[32] = p->timezone;

    *r = (struct purchase_insert_read){p, -1};
    db_queue(db, &stmt_insert, 33, params, insert_done, r);
    for (int i = 0; i < NARRAYS; i++)
        buf_cleanup(&arrays[i]);
}

void store_purchase_record_queue(struct db *db, const struct purchase_new *p,
                                 const struct ledger_posting *posting, struct arena *a,
                                 struct ledger_entry *entries, struct purchase_write *w)
{
    err_clear(&w->e);
    db_queue_errors_to(db, &w->e);
    insert_queue(db, p, &w->insert);
    if (posting != NULL)
        store_ledger_post_queue(db, posting, a, entries);
    db_queue_errors_to(db, NULL);
}

int store_purchase_record_result(const struct purchase_write *w, struct err *e)
{
    /* A POS id taken meanwhile: the posting found no purchase and wrote
     * nothing (its ERR_NOT_FOUND is no error here). */
    if (w->insert.rc == 0)
        return 0;
    if (err_is_set(&w->e)) {
        *e = w->e;
        return -1;
    }
    if (w->insert.rc != 1)
        return err_internal(e, ERR_INTERNAL, "the purchase insert gave no result");
    return 1;
}

/* ----------------------------------------------------------- reading -- */

#define RECORD_COLUMNS "r.id, r.member_id, r.store_id, encode(r.request_hash, 'hex'), r.result"

static int read_record(const PGresult *res, struct arena *a, struct purchase_record *out,
                       struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (db_get_i64(res, 0, 0, &out->id, e) < 0 || db_get_i64(res, 0, 1, &out->member_id, e) < 0)
        return -1;
    out->store_id = db_get_str(res, 0, 2, a);
    out->request_hash = db_get_str(res, 0, 3, a);
    out->result = db_get_str(res, 0, 4, a);
    return 0;
}

/* 1 found, 0 none, -1. */
static int fetch_record(struct db *db, const struct db_stmt *st, int n, const char *const *params,
                        struct arena *a, struct purchase_record *out, struct err *e)
{
    PGresult *res = db_exec(db, st, n, params, e);
    int rc;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0)
        rc = 0;
    else
        rc = read_record(res, a, out, e) < 0 ? -1 : 1;
    PQclear(res);
    return rc;
}

static const struct db_stmt stmt_by_pos = {
    "purchases_by_pos", "SELECT " RECORD_COLUMNS " FROM pos_transactions x"
                        " JOIN purchases r ON r.member_id = x.member_id AND r.id = x.purchase_id"
                        " WHERE x.store_id = $1 AND x.pos_transaction_id = $2"};

int store_purchase_find_by_pos(struct db *db, const char *store_id, const char *pos_transaction_id,
                               struct arena *a, struct purchase_record *out, struct err *e)
{
    const char *params[2] = {store_id, pos_transaction_id};

    return fetch_record(db, &stmt_by_pos, 2, params, a, out, e);
}

static const struct db_stmt stmt_get = {
    "purchases_get", "SELECT " RECORD_COLUMNS " FROM purchases r WHERE r.id = $1::bigint"};

int store_purchase_get(struct db *db, int64_t id, struct arena *a, struct purchase_record *out,
                       struct err *e)
{
    char idt[24];
    const char *params[1] = {idt};
    int rc;

    db_i64_text(id, idt);
    rc = fetch_record(db, &stmt_get, 1, params, a, out, e);
    if (rc == 0)
        return err_set(e, ERR_NOT_FOUND, "purchase not found");
    return rc < 0 ? -1 : 0;
}

/* As in ledger.c: the member row tells "no such member" (no row) from "no
 * purchases" (one row of NULLs): db_exec_owned_page. */
#define SUMMARY_COLUMNS                                                                            \
    "id, member_id, store_id, terminal_id, pos_transaction_id, " DB_TIMESTAMP(                     \
        "occurred_at") ", subtotal, discount_total, redeemed_value, total_due, points_earned, "    \
                       "points_redeemed, tier_after, rules_version, " DB_TIMESTAMP("created_at")

static const struct db_stmt stmt_list = {
    "purchases_list", "SELECT m.id, l.* FROM members m LEFT JOIN LATERAL ("
                      "  SELECT " SUMMARY_COLUMNS " FROM purchases"
                      "  WHERE member_id = m.id AND ($2::bigint IS NULL OR id < $2::bigint)"
                      "  ORDER BY id DESC LIMIT $3::int) l ON true"
                      " WHERE m.id = $1::bigint ORDER BY l.id DESC"};

enum {
    SUM_ID = 1,
    SUM_MEMBER,
    SUM_STORE,
    SUM_TERMINAL,
    SUM_POS,
    SUM_OCCURRED,
    SUM_SUBTOTAL,
    SUM_DISCOUNT,
    SUM_REDEEMED,
    SUM_DUE,
    SUM_EARNED,
    SUM_POINTS_REDEEMED,
    SUM_TIER_AFTER,
    SUM_RULES_VERSION,
    SUM_CREATED,
};

static int read_summary(const PGresult *res, int row, struct arena *a, struct purchase_summary *s,
                        struct err *e)
{
    memset(s, 0, sizeof(*s));
    if (db_get_i64(res, row, SUM_ID, &s->id, e) < 0 ||
        db_get_i64(res, row, SUM_MEMBER, &s->member_id, e) < 0 ||
        db_get_i64(res, row, SUM_SUBTOTAL, &s->subtotal, e) < 0 ||
        db_get_i64(res, row, SUM_DISCOUNT, &s->discount_total, e) < 0 ||
        db_get_i64(res, row, SUM_REDEEMED, &s->redeemed_value, e) < 0 ||
        db_get_i64(res, row, SUM_DUE, &s->total_due, e) < 0 ||
        db_get_i64(res, row, SUM_EARNED, &s->points_earned, e) < 0 ||
        db_get_i64(res, row, SUM_POINTS_REDEEMED, &s->points_redeemed, e) < 0 ||
        db_get_i64(res, row, SUM_RULES_VERSION, &s->rules_version, e) < 0)
        return -1;
    s->store_id = db_get_str(res, row, SUM_STORE, a);
    s->terminal_id = db_get_str(res, row, SUM_TERMINAL, a);
    s->pos_transaction_id = db_get_str(res, row, SUM_POS, a);
    s->occurred_at = db_get_str(res, row, SUM_OCCURRED, a);
    s->tier_after = db_get_str(res, row, SUM_TIER_AFTER, a);
    s->created_at = db_get_str(res, row, SUM_CREATED, a);
    return 0;
}

int store_purchase_list(struct db *db, int64_t member_id, int64_t before_id, int limit,
                        struct arena *a, struct purchase_summary **items, int *n, bool *more,
                        struct err *e)
{
    PGresult *res = db_exec_owned_page(db, &stmt_list, member_id, before_id, limit,
                                       "member not found", n, more, e);
    int rc = -1;

    if (res == NULL)
        return -1;
    *items = arena_alloc(a, sizeof(**items) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++)
        if (read_summary(res, i, a, &(*items)[i], e) < 0)
            goto out;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* ------------------------------------------------------------ balance -- */

/* The instant a lot expires: the end of its last day, in the program zone. */
#define LOT_EXPIRES_AT DB_TIMESTAMP("(x.expires_on + 1)::timestamp AT TIME ZONE $2")

/*
 * Days are counted as integers from 2000-01-01 so the window frame can be
 * an integer RANGE.  `p` holds every purchase that can matter: those of the
 * tier window up to now, and those whose window could still have reached
 * the tier's min_spend on a day of the grace period.  For each purchase
 * day d, `spend` is the window spend of the day d + window - 1 (the last
 * day d still counts), and the latest such day whose spend reaches the
 * tier is the last day that keeps the tier: the member drops grace days
 * after the day following it.
 */
static const struct db_stmt stmt_balance = {
    "purchases_balance_view",
    "WITH m AS ("
    "  SELECT id, points_balance, tier, (now() AT TIME ZONE $2)::date - date '2000-01-01' AS today,"
    "         ($6::bigint[])[array_position($5::text[], tier)] AS min_spend"
    "  FROM members WHERE id = $1::bigint),"
    " p AS ("
    "  SELECT (occurred_at AT TIME ZONE $2)::date - date '2000-01-01' AS day, occurred_at,"
    "         net_spend"
    "  FROM purchases WHERE member_id = $1::bigint"
    "   AND occurred_at > now() - make_interval(days => $3::int + $4::int + 2)),"
    " w AS ("
    "  SELECT day, sum(net_spend) OVER (ORDER BY day"
    "   RANGE BETWEEN CURRENT ROW AND $3::int - 1 FOLLOWING) AS spend FROM p),"
    " lots AS ("
    "  SELECT remaining, expires_on, available_on FROM point_lots"
    "  WHERE member_id = $1::bigint AND remaining > 0)"
    " SELECT m.id, m.points_balance, m.tier,"
    "  (SELECT coalesce(sum(net_spend), 0) FROM p"
    "    WHERE occurred_at > now() - make_interval(days => $3::int)),"
    "  to_char(date '2000-01-01' + greatest(m.today,"
    "   (SELECT max(day) FROM w WHERE spend >= m.min_spend"
    "     AND day + $3::int - 1 >= m.today - $4::int) + $3::int + $4::int), 'YYYY-MM-DD'),"
    "  (SELECT coalesce(sum(remaining), 0) FROM lots"
    "    WHERE available_on > date '2000-01-01' + m.today),"
    /* The next lots to expire as compact JSON text, which the answer
     * embeds as it is: integers, and times in a fixed format. */
    "  (SELECT '[' || coalesce(string_agg(format('{\"points\":%s,\"expires_at\":\"%s\"}',"
    "     x.points, " LOT_EXPIRES_AT "), ',' ORDER BY x.expires_on), '') || ']'"
    "   FROM (SELECT expires_on, sum(remaining) AS points FROM lots GROUP BY expires_on"
    "         ORDER BY expires_on LIMIT 3) x)"
    " FROM m"};

void store_balance_view_job(const struct balance_query *q, struct arena *a, struct reader_job *job)
{
    const char **params = arena_alloc(a, 6 * sizeof(*params));
    char *idt = arena_alloc(a, 24), *window = arena_alloc(a, 24), *grace = arena_alloc(a, 24);

    db_i64_text(q->member_id, idt);
    db_i64_text(q->window_days, window);
    db_i64_text(q->grace_days, grace);
    params[0] = idt;
    params[1] = q->timezone;
    params[2] = window;
    params[3] = grace;
    params[4] = q->tier_codes;
    params[5] = q->tier_min_spends;
    job->stmt = &stmt_balance;
    job->nparams = 6;
    job->params = params;
}

int store_balance_view_read(PGresult *res, struct arena *a, struct balance_row *out, struct err *e)
{
    int rc = -1;

    if (PQntuples(res) == 0) {
        err_set(e, ERR_NOT_FOUND, "member not found");
        goto out;
    }
    memset(out, 0, sizeof(*out));
    if (db_get_i64(res, 0, 0, &out->member_id, e) < 0 ||
        db_get_i64(res, 0, 1, &out->points_balance, e) < 0 ||
        db_get_i64(res, 0, 3, &out->qualifying_spend, e) < 0 ||
        db_get_i64(res, 0, 5, &out->pending_points, e) < 0)
        goto out;
    out->tier = db_get_str(res, 0, 2, a);
    out->keep_by = db_get_str(res, 0, 4, a);
    out->expiring = db_get_str(res, 0, 6, a);
    if (out->expiring == NULL) {
        err_internal(e, ERR_INTERNAL, "balance view without its expiring lots");
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    return rc;
}
