/*
 * rules.c - the rule_versions table: the first version at start, the active
 * (highest) version, one version, the history, activation of a new version,
 * and the one time-zone question PostgreSQL answers better than we can.
 *
 * Must not parse or judge documents (rules_json.c does, before they get
 * here), and must not begin or end transactions (the caller's pipeline does).
 */
#include "store/rules.h"

#include <stdio.h>
#include <string.h>

#include "core/xmalloc.h"

#define VERSION_COLUMNS "version, " DB_TIMESTAMP("activated_at")

/* Reads (version, activated_at[, document]); `a` may be NULL without a document. */
static int read_version(const PGresult *res, int row, bool with_document, struct arena *a,
                        struct store_rule_version *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (db_get_i64(res, row, 0, &out->version, e) < 0)
        return -1;
    snprintf(out->activated_at, sizeof(out->activated_at), "%s", PQgetvalue(res, row, 1));
    if (with_document) {
        out->document = db_get_str(res, row, 2, a);
        if (out->document == NULL)
            return err_internal(e, ERR_INTERNAL, "rule version %lld has no document",
                                (long long)out->version);
    }
    return 0;
}

/* ------------------------------------------------------------ version 1 -- */

/*
 * NOT EXISTS keeps a database that has versions (even without version 1)
 * as it is; ON CONFLICT lets two daemons starting at once both succeed.
 */
static const struct db_stmt stmt_ensure_first = {
    "rules_ensure_first", "INSERT INTO rule_versions (version, document) "
                          "SELECT 1, $1::jsonb WHERE NOT EXISTS (SELECT 1 FROM rule_versions) "
                          "ON CONFLICT (version) DO NOTHING RETURNING version"};

int store_rules_ensure_first(struct db *db, const char *document, bool *inserted, struct err *e)
{
    const char *params[] = {document};
    PGresult *res = db_exec(db, &stmt_ensure_first, 1, params, e);

    if (res == NULL)
        return -1;
    if (inserted != NULL)
        *inserted = PQntuples(res) == 1;
    PQclear(res);
    return 0;
}

/* -------------------------------------------------------------- reading -- */

static const struct db_stmt stmt_active = {"rules_active", "SELECT " VERSION_COLUMNS
                                                           ", document::text FROM rule_versions "
                                                           "ORDER BY version DESC LIMIT 1"};

int store_rules_get_active(struct db *db, struct arena *a, struct store_rule_version *out,
                           struct err *e)
{
    PGresult *res = db_exec(db, &stmt_active, 0, NULL, e);
    int rc;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0)
        rc = 0;
    else
        rc = read_version(res, 0, true, a, out, e) < 0 ? -1 : 1;
    PQclear(res);
    return rc;
}

static const struct db_stmt stmt_get = {"rules_get", "SELECT " VERSION_COLUMNS
                                                     ", document::text FROM rule_versions "
                                                     "WHERE version = $1::bigint"};

int store_rules_get(struct db *db, int64_t version, struct arena *a, struct store_rule_version *out,
                    struct err *e)
{
    PGresult *res = db_exec_id(db, &stmt_get, version, e);
    int rc;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0)
        rc = err_set(e, ERR_NOT_FOUND, "rules version not found");
    else
        rc = read_version(res, 0, true, a, out, e);
    PQclear(res);
    return rc;
}

static const struct db_stmt stmt_list = {
    "rules_list", "SELECT " VERSION_COLUMNS " FROM rule_versions WHERE version < $1::bigint "
                  "ORDER BY version DESC LIMIT $2::bigint"};

int store_rules_list(struct db *db, int64_t before, int limit, struct arena *a,
                     struct store_rule_version **items, int *n, bool *more, struct err *e)
{
    char b[24];
    const char *params[] = {b, NULL};
    PGresult *res;
    int rows, rc = -1;

    db_i64_text(before, b);
    res = db_exec_page(db, &stmt_list, 2, params, limit, &rows, more, e);
    if (res == NULL)
        return -1;
    *items = arena_alloc(a, sizeof(**items) * (size_t)(rows > 0 ? rows : 1));
    for (int i = 0; i < rows; i++)
        if (read_version(res, i, false, a, &(*items)[i], e) < 0)
            goto out;
    *n = rows;
    rc = 0;
out:
    PQclear(res);
    return rc;
}

/* ----------------------------------------------------------- activation -- */

/*
 * SHARE ROW EXCLUSIVE conflicts with itself and with every INSERT, and not
 * with readers: two activations queue up here, and the second one's INSERT
 * (a new statement, hence a new snapshot under READ COMMITTED) sees the
 * first one's committed row, so max + 1 is never taken twice.
 */
static const struct db_stmt stmt_lock = {"rules_lock",
                                         "LOCK TABLE rule_versions IN SHARE ROW EXCLUSIVE MODE"};

/* clock_timestamp(), not now(): a transaction that waited for the lock is
 * activated when it inserts, so activated_at grows with the version. */
static const struct db_stmt stmt_insert = {
    "rules_insert", "INSERT INTO rule_versions (version, document, activated_at, activated_by) "
                    "SELECT COALESCE(max(version), 0) + 1, $1::jsonb, clock_timestamp(), "
                    "$2::bigint FROM rule_versions RETURNING " VERSION_COLUMNS};

int store_rules_insert(struct db *db, const char *document, int64_t activated_by,
                       struct store_rule_version *out, struct err *e)
{
    char by[24];
    const char *params[] = {document, activated_by != 0 ? by : NULL};
    PGresult *res;
    int rc = -1;

    ly_assert(db_in_tx(db));
    db_i64_text(activated_by, by);
    if (db_run(db, &stmt_lock, 0, NULL, e) < 0)
        return -1;
    res = db_exec(db, &stmt_insert, 2, params, e);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1)
        err_internal(e, ERR_INTERNAL, "rules_insert returned %d rows", PQntuples(res));
    else
        rc = read_version(res, 0, false, NULL, out, e);
    PQclear(res);
    return rc;
}

/* ------------------------------------------------------------ time zones -- */

static const struct db_stmt stmt_timezone = {
    "rules_timezone_known", "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)"};

int store_rules_timezone_known(struct db *db, const char *name, bool *known, struct err *e)
{
    const char *params[] = {name};
    PGresult *res = db_exec(db, &stmt_timezone, 1, params, e);

    if (res == NULL)
        return -1;
    *known = PQntuples(res) == 1 && db_get_bool(res, 0, 0);
    PQclear(res);
    return 0;
}
