/*
 * rewards.c - every statement on the rewards catalog, on redemptions, and
 * the issuing and withdrawing of a redemption's coupons.
 *
 * Each public function runs one parameterised statement on the caller's
 * connection (so inside the request's transaction) and copies what it
 * returns into the caller's arena.  Timestamps are rendered by PostgreSQL
 * (RFC 3339 UTC); "available" (active and inside the validity window) is
 * decided by PostgreSQL's clock too, so every daemon agrees.
 *
 * Must not validate input or decide the order of business checks (the
 * handlers do, and write that order down); must not lock anything out of
 * the order written in store/ledger.h; must not keep a PGresult past a
 * function.
 */
#include "store/rewards.h"

#include <string.h>

/* ------------------------------------------------------------ helpers -- */

/* A non-zero int64 as a parameter, or SQL NULL for `none`. */
static const char *opt_i64(int64_t v, int64_t none, char buf[24])
{
    if (v == none)
        return NULL;
    db_i64_text(v, buf);
    return buf;
}

/*
 * After a failed write: a clash on the reward code names the field (the
 * contract's conflicts name what clashed).  Only the client-visible text
 * changes; the code and the logged SQL message stay.
 */
static void name_code_conflict(const struct db *db, struct err *e)
{
    struct err_field *f;

    if (e->code != ERR_CONFLICT || strcmp(db_constraint(db), "rewards_code_key") != 0)
        return;
    strcpy(e->detail, "code is already in use");
    if (e->nfields < ERR_MAX_FIELDS) {
        f = &e->fields[e->nfields++];
        strcpy(f->field, "code");
        strcpy(f->message, "is already in use");
    }
}

/* --------------------------------------------------------------- rewards -- */

#define REWARD_AVAILABLE                                                                           \
    "(active AND (valid_from IS NULL OR valid_from <= now()) "                                     \
    "AND (valid_until IS NULL OR now() < valid_until))"

/* The reward columns in the order read_reward() expects; every statement
 * returning a reward ends with this list, so they cannot drift apart. */
#define REWARD_COLUMNS                                                                             \
    "id, code, name, kind, points_cost, coalesce(discount_value, 0), "                             \
    "coalesce(discount_pct_x100, 0), coalesce(stock, -1), min_tier, "                              \
    "coalesce(per_member_limit, 0), " DB_TIMESTAMP("valid_from") ", " DB_TIMESTAMP(                \
        "valid_until") ", active, " REWARD_AVAILABLE                                               \
                       ", " DB_TIMESTAMP("created_at") ", " DB_TIMESTAMP("updated_at")

enum {
    RC_ID,
    RC_CODE,
    RC_NAME,
    RC_KIND,
    RC_COST,
    RC_VALUE,
    RC_PCT,
    RC_STOCK,
    RC_MIN_TIER,
    RC_LIMIT,
    RC_FROM,
    RC_UNTIL,
    RC_ACTIVE,
    RC_AVAILABLE,
    RC_CREATED,
    RC_UPDATED,
    RC_NCOLS
};

static int read_reward(const PGresult *res, int row, struct arena *a, struct reward *r,
                       struct err *e)
{
    int64_t pct;

    if (PQnfields(res) != RC_NCOLS)
        return err_internal(e, ERR_INTERNAL, "rewards: %d columns, expected %d", PQnfields(res),
                            RC_NCOLS);
    memset(r, 0, sizeof(*r));
    if (db_get_i64(res, row, RC_ID, &r->id, e) < 0 ||
        db_get_i64(res, row, RC_COST, &r->points_cost, e) < 0 ||
        db_get_i64(res, row, RC_VALUE, &r->discount_value, e) < 0 ||
        db_get_i64(res, row, RC_PCT, &pct, e) < 0 ||
        db_get_i64(res, row, RC_STOCK, &r->stock, e) < 0 ||
        db_get_i64(res, row, RC_LIMIT, &r->per_member_limit, e) < 0)
        return -1;
    r->discount_pct_x100 = (int32_t)pct; /* CHECK: 1..10000 or 0 */
    r->code = db_get_str(res, row, RC_CODE, a);
    r->name = db_get_str(res, row, RC_NAME, a);
    r->kind = db_get_str(res, row, RC_KIND, a);
    r->min_tier = db_get_str(res, row, RC_MIN_TIER, a);
    r->valid_from = db_get_str(res, row, RC_FROM, a);
    r->valid_until = db_get_str(res, row, RC_UNTIL, a);
    r->active = db_get_bool(res, row, RC_ACTIVE);
    r->available = db_get_bool(res, row, RC_AVAILABLE);
    r->created_at = db_get_str(res, row, RC_CREATED, a);
    r->updated_at = db_get_str(res, row, RC_UPDATED, a);
    return 0;
}

/* A one-reward result into the struct reward `dst` (a db_row_fn). */
static int read_reward_row(const PGresult *res, struct arena *a, void *dst, struct err *e)
{
    if (PQntuples(res) == 0)
        return 0;
    return read_reward(res, 0, a, dst, e) < 0 ? -1 : 1;
}

/* Runs a statement returning at most one reward: 1 found, 0 none, -1. */
static int fetch_reward(struct db *db, const struct db_stmt *st, int n, const char *const *params,
                        struct arena *a, struct reward *out, struct err *e)
{
    PGresult *res = db_exec(db, st, n, params, e);
    int rc;

    if (res == NULL) {
        name_code_conflict(db, e);
        return -1;
    }
    rc = read_reward_row(res, a, out, e);
    PQclear(res);
    return rc;
}

/* The twelve writable fields as parameters $first..$first+11. */
struct field_params {
    char cost[24], value[24], pct[24], stock[24], limit[24];
};

static void fill_fields(const struct reward_fields *in, struct field_params *b,
                        const char **p /* 12 slots */)
{
    p[0] = in->code;
    p[1] = in->name;
    p[2] = in->kind;
    db_i64_text(in->points_cost, b->cost);
    p[3] = b->cost;
    p[4] = opt_i64(in->discount_value, 0, b->value);
    p[5] = opt_i64(in->discount_pct_x100, 0, b->pct);
    p[6] = opt_i64(in->stock, -1, b->stock);
    p[7] = in->min_tier;
    p[8] = opt_i64(in->per_member_limit, 0, b->limit);
    p[9] = in->valid_from;
    p[10] = in->valid_until;
    p[11] = in->active ? "true" : "false";
}

static const struct db_stmt stmt_reward_insert = {
    "rewards_insert",
    "INSERT INTO rewards (code, name, kind, points_cost, discount_value, discount_pct_x100, "
    "stock, min_tier, per_member_limit, valid_from, valid_until, active) "
    "VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6::integer, $7::bigint, $8, $9::bigint, "
    "$10::timestamptz, $11::timestamptz, $12::boolean) "
    "RETURNING " REWARD_COLUMNS};

int store_reward_insert(struct db *db, const struct reward_fields *in, struct arena *a,
                        struct reward *out, struct err *e)
{
    struct field_params b;
    const char *params[12];
    int rc;

    fill_fields(in, &b, params);
    rc = fetch_reward(db, &stmt_reward_insert, 12, params, a, out, e);
    if (rc == 0)
        return err_internal(e, ERR_INTERNAL, "rewards_insert returned no row");
    return rc < 0 ? -1 : 0;
}

static const struct db_stmt stmt_reward_get = {
    "rewards_get", "SELECT " REWARD_COLUMNS " FROM rewards WHERE id = $1::bigint"};

/* KEY SHARE: the reward cannot be deleted or re-keyed under us, yet
 * redemptions of one reward do not wait for each other; a limited stock is
 * taken by one conditional UPDATE (store_reward_move_stock), which is where
 * they serialise, and only for limited stock. */
static const struct db_stmt stmt_reward_lock = {
    "rewards_lock", "SELECT " REWARD_COLUMNS " FROM rewards WHERE id = $1::bigint FOR KEY SHARE"};

/* A change of the reward itself waits for stock takers and keeps them out,
 * so it writes back the stock it read. */
static const struct db_stmt stmt_reward_lock_update = {
    "rewards_lock_update",
    "SELECT " REWARD_COLUMNS " FROM rewards WHERE id = $1::bigint FOR UPDATE"};

int store_reward_get(struct db *db, int64_t id, enum reward_lock lock, struct arena *a,
                     struct reward *out, struct err *e)
{
    static const struct db_stmt *const by_lock[] = {
        [REWARD_NO_LOCK] = &stmt_reward_get,
        [REWARD_KEY_SHARE] = &stmt_reward_lock,
        [REWARD_FOR_UPDATE] = &stmt_reward_lock_update,
    };
    char idt[24];
    const char *params[1] = {idt};
    int rc;

    db_i64_text(id, idt);
    rc = fetch_reward(db, by_lock[lock], 1, params, a, out, e);
    if (rc == 0)
        return err_set(e, ERR_NOT_FOUND, "reward not found");
    return rc < 0 ? -1 : 0;
}

void store_reward_lock_queue(struct db *db, int64_t reward_id, struct arena *a, struct reward *out,
                             bool *found)
{
    char idt[24];
    const char *params[1] = {idt};

    db_i64_text(reward_id, idt);
    db_queue_row(db, &stmt_reward_lock, 1, params, a, read_reward_row, out, found);
}

int store_redemption_locks(struct db *db, int64_t member_id, const char *timezone,
                           int64_t reward_id, struct arena *a, struct member_lock *m,
                           bool *member_found, struct reward *w, bool *reward_found, struct err *e)
{
    store_member_lock_queue(db, member_id, timezone, a, m, member_found);
    *reward_found = false;
    if (reward_id != 0)
        store_reward_lock_queue(db, reward_id, a, w, reward_found);
    if (db_flush(db, e) < 0)
        return -1;
    if (!*member_found || !m->stale)
        return 0;
    store_member_lock_queue(db, member_id, timezone, a, m, member_found);
    if (db_flush(db, e) < 0)
        return -1;
    if (*member_found && m->stale)
        return err_internal(e, ERR_INTERNAL, "member row changed under a held lock");
    return 0;
}

static const struct db_stmt stmt_reward_update = {
    "rewards_update",
    "UPDATE rewards SET code = $2, name = $3, kind = $4, points_cost = $5::bigint, "
    "discount_value = $6::bigint, discount_pct_x100 = $7::integer, stock = $8::bigint, "
    "min_tier = $9, per_member_limit = $10::bigint, valid_from = $11::timestamptz, "
    "valid_until = $12::timestamptz, active = $13::boolean, updated_at = now() "
    "WHERE id = $1::bigint RETURNING " REWARD_COLUMNS};

int store_reward_update(struct db *db, int64_t id, const struct reward_fields *in, struct arena *a,
                        struct reward *out, struct err *e)
{
    struct field_params b;
    char idt[24];
    const char *params[13];
    int rc;

    db_i64_text(id, idt);
    params[0] = idt;
    fill_fields(in, &b, params + 1);
    rc = fetch_reward(db, &stmt_reward_update, 13, params, a, out, e);
    if (rc == 0)
        return err_set(e, ERR_NOT_FOUND, "reward not found");
    return rc < 0 ? -1 : 0;
}

/* $3 is a text array literal of tier codes, or NULL for no tier filter. */
static const struct db_stmt stmt_reward_list = {
    "rewards_list", "SELECT " REWARD_COLUMNS " FROM rewards "
                    "WHERE id < $1::bigint AND ($2::boolean OR " REWARD_AVAILABLE ") "
                    "AND ($3::text[] IS NULL OR min_tier IS NULL OR min_tier = ANY ($3::text[])) "
                    "ORDER BY id DESC LIMIT $4::integer"};

/* A text[] literal of `n` strings, each quoted and escaped. */
static char *array_literal(struct arena *a, const char *const *items, int n)
{
    size_t len = 3;
    char *out, *p;

    for (int i = 0; i < n; i++)
        len += 2 * strlen(items[i]) + 3;
    out = p = arena_alloc(a, len);
    *p++ = '{';
    for (int i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        *p++ = '"';
        for (const char *s = items[i]; *s != '\0'; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

int store_reward_list(struct db *db, int64_t before_id, int limit, bool all,
                      const char *const *tiers, int ntiers, struct arena *a, struct reward **items,
                      int *n, bool *more, struct err *e)
{
    char before[24];
    const char *params[4] = {before, all ? "true" : "false", NULL, NULL};
    PGresult *res;
    int rows, rc = -1;

    db_i64_text(before_id, before);
    if (tiers != NULL)
        params[2] = array_literal(a, tiers, ntiers);
    res = db_exec_page(db, &stmt_reward_list, 4, params, limit, &rows, more, e);
    if (res == NULL)
        return -1;
    *items = arena_alloc(a, sizeof(**items) * (size_t)(rows > 0 ? rows : 1));
    for (int i = 0; i < rows; i++)
        if (read_reward(res, i, a, &(*items)[i], e) < 0)
            goto out;
    *n = rows;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* Re-evaluated on the newest row version after waiting for a concurrent
 * redemption, so the stock read earlier cannot be spent twice. */
static const struct db_stmt stmt_reward_move_stock = {
    "rewards_move_stock", "UPDATE rewards SET stock = stock + $2::bigint "
                          "WHERE id = $1::bigint AND stock + $2::bigint >= 0"};

static int stock_moved(void *arg, const PGresult *res, struct err *e)
{
    (void)e;
    *(bool *)arg = db_affected(res) > 0;
    return 0;
}

void store_reward_move_stock_queue(struct db *db, int64_t id, int64_t delta, bool *moved)
{
    char idt[24], dt[24];
    const char *params[2] = {idt, dt};

    *moved = false;
    db_i64_text(id, idt);
    db_i64_text(delta, dt);
    db_queue(db, &stmt_reward_move_stock, 2, params, stock_moved, moved);
}

int store_reward_move_stock(struct db *db, int64_t id, int64_t delta, struct err *e)
{
    bool moved;

    store_reward_move_stock_queue(db, id, delta, &moved);
    if (db_flush(db, e) < 0)
        return -1;
    if (!moved)
        return err_set(e, ERR_OUT_OF_STOCK, "not enough of this reward left");
    return 0;
}

/* ----------------------------------------------------------- redemptions -- */

/* The redemption columns in the order read_redemption() expects, over
 * `redemptions r`; the codes come as one comma-separated text in issue
 * order (codes never contain commas). */
#define REDEMPTION_COLUMNS                                                                         \
    "r.id, r.member_id, r.reward_id, r.quantity, r.points_spent, r.balance_after, r.status, "      \
    "" DB_TIMESTAMP("r.created_at") ", " DB_TIMESTAMP(                                             \
        "r.cancelled_at") ", "                                                                     \
                          "(SELECT string_agg(c.code, ',' ORDER BY c.id) FROM coupons c "          \
                          " WHERE c.member_id = r.member_id AND c.redemption_id = r.id)"

enum {
    DC_ID,
    DC_MEMBER,
    DC_REWARD,
    DC_QUANTITY,
    DC_SPENT,
    DC_BALANCE,
    DC_STATUS,
    DC_CREATED,
    DC_CANCELLED,
    DC_CODES,
    DC_NCOLS
};

/* Splits "A,B,C" (an arena copy, cut in place) into r->codes. */
static void split_codes(char *s, struct arena *a, struct redemption *r)
{
    int n = 1;

    r->ncodes = 0;
    r->codes = NULL;
    if (s == NULL || *s == '\0')
        return;
    for (const char *p = s; *p != '\0'; p++)
        n += *p == ',';
    r->codes = arena_alloc(a, sizeof(*r->codes) * (size_t)n);
    for (char *tok = s;;) {
        char *comma = strchr(tok, ',');

        r->codes[r->ncodes++] = tok;
        if (comma == NULL)
            break;
        *comma = '\0';
        tok = comma + 1;
    }
}

static int read_redemption(const PGresult *res, int row, struct arena *a, struct redemption *r,
                           struct err *e)
{
    int64_t qty;

    if (PQnfields(res) != DC_NCOLS)
        return err_internal(e, ERR_INTERNAL, "redemptions: %d columns, expected %d", PQnfields(res),
                            DC_NCOLS);
    memset(r, 0, sizeof(*r));
    if (db_get_i64(res, row, DC_ID, &r->id, e) < 0 ||
        db_get_i64(res, row, DC_MEMBER, &r->member_id, e) < 0 ||
        db_get_i64(res, row, DC_REWARD, &r->reward_id, e) < 0 ||
        db_get_i64(res, row, DC_QUANTITY, &qty, e) < 0 ||
        db_get_i64(res, row, DC_SPENT, &r->points_spent, e) < 0 ||
        db_get_i64(res, row, DC_BALANCE, &r->balance_after, e) < 0)
        return -1;
    r->quantity = (int32_t)qty; /* CHECK: 1..100 */
    r->status = db_get_str(res, row, DC_STATUS, a);
    r->created_at = db_get_str(res, row, DC_CREATED, a);
    r->cancelled_at = db_get_str(res, row, DC_CANCELLED, a);
    split_codes(db_get_str(res, row, DC_CODES, a), a, r);
    return 0;
}

/* Runs a statement returning at most one redemption: 1 found, 0 none, -1. */
static int fetch_redemption(struct db *db, const struct db_stmt *st, int n,
                            const char *const *params, struct arena *a, struct redemption *out,
                            struct err *e)
{
    PGresult *res = db_exec(db, st, n, params, e);
    int rc;

    if (res == NULL)
        return -1;
    rc = PQntuples(res) == 0 ? 0 : read_redemption(res, 0, a, out, e) < 0 ? -1 : 1;
    PQclear(res);
    return rc;
}

static const struct db_stmt stmt_redemption_live = {
    "redemptions_live_quantity",
    "SELECT coalesce(sum(quantity), 0) FROM redemptions "
    "WHERE member_id = $1::bigint AND reward_id = $2::bigint AND status <> 'cancelled'"};

static int live_read(void *arg, const PGresult *res, struct err *e)
{
    if (PQntuples(res) != 1)
        return err_internal(e, ERR_INTERNAL, "redemptions_live_quantity: no row");
    return db_get_i64(res, 0, 0, arg, e);
}

void store_redemption_live_quantity_queue(struct db *db, int64_t member_id, int64_t reward_id,
                                          int64_t *sum)
{
    char mt[24], rt[24];
    const char *params[2] = {mt, rt};

    *sum = 0;
    db_i64_text(member_id, mt);
    db_i64_text(reward_id, rt);
    db_queue(db, &stmt_redemption_live, 2, params, live_read, sum);
}

int store_redemption_live_quantity(struct db *db, int64_t member_id, int64_t reward_id,
                                   int64_t *sum, struct err *e)
{
    store_redemption_live_quantity_queue(db, member_id, reward_id, sum);
    return db_flush(db, e);
}

/*
 * The redemption and its coupons in one statement.  The coupons are
 * inserted in the order of the codes given (WITH ORDINALITY), so their ids,
 * and every later listing, keep the issue order.
 */
static const struct db_stmt stmt_redemption_insert = {
    "redemptions_insert",
    "WITH r AS ("
    "  INSERT INTO redemptions (member_id, reward_id, quantity, points_spent, balance_after)"
    "  VALUES ($1::bigint, $2::bigint, $3::integer, $4::bigint, $5::bigint)"
    "  RETURNING id, created_at),"
    " c AS ("
    "  INSERT INTO coupons (member_id, redemption_id, code)"
    "  SELECT $1::bigint, r.id, x.code"
    "  FROM r, unnest(string_to_array($6, ',')) WITH ORDINALITY AS x (code, n)"
    "  ORDER BY x.n"
    "  RETURNING 1)"
    " SELECT r.id, " DB_TIMESTAMP("r.created_at") ", (SELECT count(*) FROM c) FROM r"};

/* A queued insert: what its result is read into. */
struct queued_insert {
    struct arena *a;
    struct redemption_new in; /* its codes borrowed until the flush */
    struct redemption *out;
};

static int insert_done(void *arg, const PGresult *res, struct err *e)
{
    struct queued_insert *q = arg;
    struct redemption *out = q->out;
    int64_t ncoupons;

    memset(out, 0, sizeof(*out));
    if (PQntuples(res) != 1 || db_get_i64(res, 0, 0, &out->id, e) < 0 ||
        db_get_i64(res, 0, 2, &ncoupons, e) < 0)
        return err_internal(e, ERR_INTERNAL, "redemptions_insert: unexpected result");
    if (ncoupons != q->in.ncodes)
        return err_internal(e, ERR_INTERNAL, "redemptions_insert: %lld coupons for %d codes",
                            (long long)ncoupons, q->in.ncodes);
    out->member_id = q->in.member_id;
    out->reward_id = q->in.reward_id;
    out->quantity = q->in.quantity;
    out->points_spent = q->in.points_spent;
    out->balance_after = q->in.balance_after;
    out->status = "issued";
    out->created_at = db_get_str(res, 0, 1, q->a);
    out->cancelled_at = NULL;
    out->ncodes = q->in.ncodes;
    out->codes =
        arena_alloc(q->a, sizeof(*out->codes) * (size_t)(out->ncodes > 0 ? out->ncodes : 1));
    for (int i = 0; i < out->ncodes; i++)
        out->codes[i] = arena_strdup(q->a, q->in.codes[i]);
    return 0;
}

void store_redemption_insert_queue(struct db *db, const struct redemption_new *in, struct arena *a,
                                   struct redemption *out)
{
    struct queued_insert *q = arena_alloc(a, sizeof(*q));
    char mt[24], rt[24], qt[24], st[24], bt[24];
    const char *params[6] = {mt, rt, qt, st, bt, NULL};
    size_t len = 1;
    char *joined, *p;

    for (int i = 0; i < in->ncodes; i++)
        len += strlen(in->codes[i]) + 1;
    joined = p = arena_alloc(a, len);
    for (int i = 0; i < in->ncodes; i++) {
        size_t n = strlen(in->codes[i]);

        if (i > 0)
            *p++ = ',';
        memcpy(p, in->codes[i], n);
        p += n;
    }
    *p = '\0';
    params[5] = joined;
    db_i64_text(in->member_id, mt);
    db_i64_text(in->reward_id, rt);
    db_i64_text(in->quantity, qt);
    db_i64_text(in->points_spent, st);
    db_i64_text(in->balance_after, bt);
    *q = (struct queued_insert){a, *in, out};
    db_queue(db, &stmt_redemption_insert, 6, params, insert_done, q);
}

int store_redemption_insert(struct db *db, const struct redemption_new *in, struct arena *a,
                            struct redemption *out, struct err *e)
{
    store_redemption_insert_queue(db, in, a, out);
    if (db_flush(db, e) < 0) {
        if (e->code == ERR_CONFLICT)
            strcpy(e->detail, "a coupon code clashed; retry with a new Idempotency-Key");
        return -1;
    }
    return 0;
}

static const struct db_stmt stmt_redemption_get = {
    "redemptions_get", "SELECT " REDEMPTION_COLUMNS " FROM redemptions r WHERE r.id = $1::bigint"};

int store_redemption_get(struct db *db, int64_t id, struct arena *a, struct redemption *out,
                         struct err *e)
{
    char idt[24];
    const char *params[1] = {idt};
    int rc;

    db_i64_text(id, idt);
    rc = fetch_redemption(db, &stmt_redemption_get, 1, params, a, out, e);
    if (rc == 0)
        return err_set(e, ERR_NOT_FOUND, "redemption not found");
    return rc < 0 ? -1 : 0;
}

static const struct db_stmt stmt_redemption_lock = {
    "redemptions_lock", "SELECT " REDEMPTION_COLUMNS " FROM redemptions r "
                        "WHERE r.member_id = $1::bigint AND r.id = $2::bigint FOR UPDATE OF r"};

/* Runs `st` on ($1 member_id, $2 id) expecting one redemption; `none` is
 * the error when there is none. */
static int fetch_member_redemption(struct db *db, const struct db_stmt *st, int64_t member_id,
                                   int64_t id, enum err_code none, const char *none_detail,
                                   struct arena *a, struct redemption *out, struct err *e)
{
    char mt[24], idt[24];
    const char *params[2] = {mt, idt};
    int rc;

    db_i64_text(member_id, mt);
    db_i64_text(id, idt);
    rc = fetch_redemption(db, st, 2, params, a, out, e);
    if (rc == 0)
        return err_set(e, none, "%s", none_detail);
    return rc < 0 ? -1 : 0;
}

int store_redemption_lock(struct db *db, int64_t member_id, int64_t id, struct arena *a,
                          struct redemption *out, struct err *e)
{
    return fetch_member_redemption(db, &stmt_redemption_lock, member_id, id, ERR_NOT_FOUND,
                                   "redemption not found", a, out, e);
}

/* The redemption and its still issued coupons in one statement; the
 * codes read by the outer SELECT are unchanged by the CTE. */
static const struct db_stmt stmt_redemption_cancel = {
    "redemptions_cancel",
    "WITH r AS ("
    "  UPDATE redemptions SET status = 'cancelled', cancelled_at = now()"
    "  WHERE member_id = $1::bigint AND id = $2::bigint AND status = 'issued'"
    "  RETURNING *),"
    " c AS ("
    "  UPDATE coupons SET status = 'cancelled'"
    "  WHERE member_id = $1::bigint AND redemption_id = $2::bigint AND status = 'issued'"
    "  AND EXISTS (SELECT 1 FROM r)"
    "  RETURNING 1)"
    " SELECT " REDEMPTION_COLUMNS " FROM r"};

int store_redemption_cancel(struct db *db, int64_t member_id, int64_t id, struct arena *a,
                            struct redemption *out, struct err *e)
{
    return fetch_member_redemption(db, &stmt_redemption_cancel, member_id, id, ERR_CONFLICT,
                                   "the redemption is no longer issued", a, out, e);
}

static const struct db_stmt stmt_redemption_list = {
    "redemptions_list", "SELECT " REDEMPTION_COLUMNS " FROM redemptions r "
                        "WHERE r.member_id = $1::bigint AND r.id < $2::bigint "
                        "ORDER BY r.id DESC LIMIT $3::integer"};

int store_redemption_list(struct db *db, int64_t member_id, int64_t before_id, int limit,
                          struct arena *a, struct redemption **items, int *n, bool *more,
                          struct err *e)
{
    char mt[24], before[24];
    const char *params[3] = {mt, before, NULL};
    PGresult *res;
    int rows, rc = -1;

    db_i64_text(member_id, mt);
    db_i64_text(before_id, before);
    res = db_exec_page(db, &stmt_redemption_list, 3, params, limit, &rows, more, e);
    if (res == NULL)
        return -1;
    *items = arena_alloc(a, sizeof(**items) * (size_t)(rows > 0 ? rows : 1));
    for (int i = 0; i < rows; i++)
        if (read_redemption(res, i, a, &(*items)[i], e) < 0)
            goto out;
    *n = rows;
    rc = 0;
out:
    PQclear(res);
    return rc;
}
