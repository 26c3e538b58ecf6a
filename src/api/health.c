/*
 * health.c - /healthz (the process answers), /readyz (the database answers
 * and its schema is the one this binary expects) and /metrics.
 *
 * Must not do anything slow or stateful: load balancers call these often.
 */
#include "api/health.h"

#include <stdatomic.h>

#include "api/app.h"
#include "api/counters.h"
#include "api/handlers.h"
#include "core/buf.h"
#include "http/metrics.h"
#include "store/db.h"
#include "store/migrate.h"

static atomic_int expected_schema;

void health_set_expected_schema(int version)
{
    atomic_store(&expected_schema, version);
}

int api_healthz(struct req *rq, struct resp *rs, struct err *e)
{
    (void)rq;
    (void)e;
    resp_json(rs, 200, json_pack("{s:s}", "status", "ok"));
    return 0;
}

int api_readyz(struct req *rq, struct resp *rs, struct err *e)
{
    struct err dberr; /* its generic text would hide the reason /readyz exists to give */
    struct db *db;
    int want = atomic_load(&expected_schema);
    int have = 0;

    err_clear(&dberr);
    db = api_db(rq, &dberr);
    if (db == NULL || store_schema_version(db, &have, &dberr) < 0)
        return err_set(e, ERR_UNAVAILABLE, "database unreachable");
    if (have < want)
        return err_set(e, ERR_UNAVAILABLE,
                       "database schema is behind: version %d, this binary needs %d", have, want);
    if (have > want)
        return err_set(e, ERR_UNAVAILABLE,
                       "database schema version %d is newer than this binary knows (%d)", have,
                       want);
    resp_json(rs, 200, json_pack("{s:s, s:i}", "status", "ready", "schema_version", have));
    return 0;
}

int api_metrics(struct req *rq, struct resp *rs, struct err *e)
{
    struct buf b;
    size_t len;
    char *text;

    (void)rq;
    (void)e;
    buf_init(&b);
    metrics_render(&b);
    buf_printf(&b,
               "# HELP loyalty_db_pool_in_use Database connections in use.\n"
               "# TYPE loyalty_db_pool_in_use gauge\n"
               "loyalty_db_pool_in_use %d\n"
               "# HELP loyalty_db_pool_size Database connections in the pool.\n"
               "# TYPE loyalty_db_pool_size gauge\n"
               "loyalty_db_pool_size %d\n",
               db_pool_in_use(), db_pool_size());
    counters_render(&b);
    text = buf_steal(&b, &len);
    resp_raw(rs, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    return 0;
}
