/*
 * cli.c - `loyaltyd migrate` and `loyaltyd check`: connect, do one thing,
 * report, exit.  Nothing here serves HTTP.
 */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>

#include "core/log.h"
#include "store/check.h"
#include "store/db.h"
#include "store/migrate.h"

int cli_apply_migrations(const struct cfg *c, int *latest, struct err *e)
{
    struct migration_set set;
    PGconn *conn;
    int applied = 0;
    int rc;

    if (migrations_load(c->sql_dir, &set, e) < 0)
        return -1;
    *latest = migrations_latest(&set);
    conn = db_connect(c->database_url, e);
    if (conn == NULL) {
        migrations_free(&set);
        return -1;
    }
    rc = migrations_apply(conn, &set, &applied, e);
    PQfinish(conn);
    migrations_free(&set);
    if (rc == 0 && applied > 0) {
        char fields[128];

        snprintf(fields, sizeof(fields),
                 "\"msg\":\"migrations done\",\"applied\":%d,\"version\":%d", applied, *latest);
        log_fields(LOG_INFO, fields);
    }
    return rc;
}

int cli_expected_schema(const struct cfg *c, int *latest, struct err *e)
{
    struct migration_set set;

    if (migrations_load(c->sql_dir, &set, e) < 0)
        return -1;
    *latest = migrations_latest(&set);
    migrations_free(&set);
    return 0;
}

int cli_migrate(const struct cfg *c)
{
    struct err e;
    int latest = 0;

    err_clear(&e);
    if (cli_apply_migrations(c, &latest, &e) < 0) {
        fprintf(stderr, "loyaltyd migrate: %s\n", e.internal[0] ? e.internal : e.detail);
        return 1;
    }
    printf("schema at version %d\n", latest);
    return 0;
}

static void print_breach(const struct ledger_breach *b)
{
    printf("member mem_%" PRId64 ": balance %" PRId64 ", ledger sum %" PRId64
           ", newest balance_after %" PRId64 ", unspent in lots %" PRId64 "\n",
           b->member_id, b->balance, b->ledger_sum, b->last_after, b->lots);
}

int cli_check(const struct cfg *c)
{
    struct err e;
    struct db *db;
    int64_t members = 0, breaches = 0;
    int rc;

    err_clear(&e);
    db_pool_init(c->database_url, 1);
    db = db_acquire(&e);
    if (db == NULL) {
        fprintf(stderr, "loyaltyd check: %s\n", e.internal[0] ? e.internal : e.detail);
        db_pool_cleanup();
        return 2;
    }
    rc = store_check_ledger(db, 100, print_breach, &members, &breaches, &e);
    db_release(db);
    db_pool_cleanup();
    if (rc < 0) {
        fprintf(stderr, "loyaltyd check: %s\n", e.internal[0] ? e.internal : e.detail);
        return 2;
    }
    printf("%" PRId64 " members checked, %" PRId64 " breaches\n", members, breaches);
    return breaches == 0 ? 0 : 1;
}
