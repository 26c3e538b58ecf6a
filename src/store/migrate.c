/*
 * migrate.c - loading migration files and applying the pending ones.
 *
 * The migration files are trusted text from the package, run through the
 * simple-query protocol because they hold many statements; nothing a client
 * sends ever reaches this file.
 */
#include "store/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xmalloc.h"

/* An arbitrary constant naming the lock that serialises migrations. */
#define MIGRATION_LOCK_ID "7240118301"

static int cmp_version(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;

    return (x->version > y->version) - (x->version < y->version);
}

static char *read_file(const char *path, struct err *e)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[4096];
    size_t n;

    if (f == NULL)
        return err_set(e, ERR_INTERNAL, "cannot read migration %s", path), NULL;
    buf_init(&b);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_steal(&b, NULL);
}

int migrations_load(const char *dir, struct migration_set *out, struct err *e)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int cap = 0;

    out->items = NULL;
    out->n = 0;
    if (d == NULL)
        return err_set(e, ERR_INTERNAL, "cannot open migrations directory %s", dir);
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        char path[4096];

        if (len < 10 || !isdigit((unsigned char)nm[0]) || !isdigit((unsigned char)nm[1]) ||
            !isdigit((unsigned char)nm[2]) || !isdigit((unsigned char)nm[3]) || nm[4] != '_' ||
            strcmp(nm + len - 4, ".sql") != 0)
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->items = xrealloc(out->items, (size_t)cap * sizeof(*out->items));
        }
        snprintf(path, sizeof(path), "%s/%s", dir, nm);
        out->items[out->n].version = atoi(nm);
        out->items[out->n].name = xstrdup(nm);
        out->items[out->n].sql = read_file(path, e);
        if (out->items[out->n].sql == NULL) {
            free(out->items[out->n].name);
            closedir(d);
            migrations_free(out);
            return -1;
        }
        out->n++;
    }
    closedir(d);
    if (out->n > 1) /* qsort wants a non-NULL array even for no element */
        qsort(out->items, (size_t)out->n, sizeof(*out->items), cmp_version);
    for (int i = 1; i < out->n; i++) {
        if (out->items[i].version == out->items[i - 1].version) {
            err_set(e, ERR_INTERNAL, "two migrations have version %d", out->items[i].version);
            migrations_free(out);
            return -1;
        }
    }
    return 0;
}

void migrations_free(struct migration_set *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->items[i].name);
        free(s->items[i].sql);
    }
    free(s->items);
    s->items = NULL;
    s->n = 0;
}

int migrations_latest(const struct migration_set *s)
{
    return s->n > 0 ? s->items[s->n - 1].version : 0;
}

/* Runs simple-query text; returns 0 or -1 with the server's message logged. */
static int simple(PGconn *conn, const char *sql, const char *what, struct err *e)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int rc = 0;

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = err_internal(e, PQstatus(conn) == CONNECTION_OK ? ERR_INTERNAL : ERR_UNAVAILABLE,
                          "%s: %s", what, res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    }
    PQclear(res);
    return rc;
}

static int applied_version(PGconn *conn, int *version, struct err *e)
{
    PGresult *res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        err_internal(e, ERR_INTERNAL, "reading schema_migrations: %s",
                     res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
        PQclear(res);
        return -1;
    }
    *version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

static int apply_one(PGconn *conn, const struct migration *m, struct err *e)
{
    const char *params[2];
    char ver[16];
    PGresult *res;
    int ok;

    if (simple(conn, "BEGIN", "begin", e) < 0)
        return -1;
    if (simple(conn, m->sql, m->name, e) < 0) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    snprintf(ver, sizeof(ver), "%d", m->version);
    params[0] = ver;
    params[1] = m->name;
    res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                       NULL, params, NULL, NULL, 0);
    ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return err_internal(e, ERR_INTERNAL, "recording migration %s failed", m->name);
    }
    if (simple(conn, "COMMIT", "commit", e) < 0)
        return -1;
    log_msg(LOG_INFO, "migration applied", m->name);
    return 0;
}

int migrations_apply(PGconn *conn, const struct migration_set *s, int *applied, struct err *e)
{
    int current = 0;
    int rc = 0;

    *applied = 0;
    if (simple(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK_ID ")", "lock", e) < 0)
        return -1;
    if (simple(conn,
               "CREATE TABLE IF NOT EXISTS schema_migrations ("
               " version integer PRIMARY KEY, name text NOT NULL,"
               " applied_at timestamptz NOT NULL DEFAULT now())",
               "schema_migrations", e) < 0 ||
        applied_version(conn, &current, e) < 0) {
        rc = -1;
        goto out;
    }
    if (current > migrations_latest(s)) {
        /* A newer daemon migrated first (a rolling upgrade): keep running,
         * and let /readyz say why this one should not get traffic. */
        log_msg(LOG_WARN, "database schema is newer than this binary knows", NULL);
        goto out;
    }
    for (int i = 0; i < s->n; i++) {
        if (s->items[i].version <= current)
            continue;
        if (apply_one(conn, &s->items[i], e) < 0) {
            rc = -1;
            goto out;
        }
        (*applied)++;
    }
out:
    PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_ID ")"));
    return rc;
}

static const struct db_stmt SQL_SCHEMA_VERSION = {
    "schema_version",
    "SELECT coalesce(max(version), 0) FROM schema_migrations",
};

int store_schema_version(struct db *db, int *version, struct err *e)
{
    PGresult *res = db_exec(db, &SQL_SCHEMA_VERSION, 0, NULL, e);
    int64_t v = 0;
    int rc = -1;

    if (res == NULL) {
        /* No table at all: a database nobody has migrated yet. */
        if (0 == strcmp(db_sqlstate(db), "42P01")) {
            err_clear(e);
            *version = 0;
            return 0;
        }
        return -1;
    }
    if (db_get_i64(res, 0, 0, &v, e) == 0) {
        *version = (int)v;
        rc = 0;
    }
    PQclear(res);
    return rc;
}
