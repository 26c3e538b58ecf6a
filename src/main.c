/*
 * main.c - configuration, signals, start and stop.  Nothing else: every
 * command's work lives in its own file (cli.c, cli_keys.c, the API layer).
 *
 * Shutdown: SIGTERM and SIGINT are blocked in every thread and taken by
 * sigwait() here, so no handler runs in a random thread; the server then
 * stops accepting and lets requests in flight, and the daily job, finish
 * for up to --stop-grace seconds in all.  Past it, what still runs on the
 * database is cancelled (db_cancel_all): those requests are answered 503,
 * the job's batch rolls back, and the process exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "api/admin_static.h"
#include "api/app.h"
#include "api/auth.h"
#include "api/cli_keys.h"
#include "api/daily.h"
#include "api/health.h"
#include "api/housekeeping.h"
#include "api/purchase_group.h"
#include "api/redemption_group.h"
#include "api/rules_cache.h"
#include "cli.h"
#include "core/cfg.h"
#include "core/deadline.h"
#include "core/json_mem.h"
#include "core/log.h"
#include "core/log_writer.h"
#include "http/server.h"
#include "store/db.h"

#define START_DB_WAIT_S 30

static const char *env_lookup(const char *name)
{
    return getenv(name);
}

/* Migrations at start, waiting a while for a database that is starting too. */
static int migrate_at_start(const struct cfg *c, int *latest)
{
    struct err e;
    struct timespec give_up;

    deadline_in(&give_up, START_DB_WAIT_S * 1000L);

    for (;;) {
        err_clear(&e);
        if (cli_apply_migrations(c, latest, &e) == 0)
            return 0;
        if (e.code != ERR_UNAVAILABLE || deadline_passed(&give_up)) {
            log_msg(LOG_ERROR, "migrations failed", e.internal[0] ? e.internal : e.detail);
            return -1;
        }
        log_msg(LOG_WARN, "database not reachable yet, retrying", e.internal);
        sleep(1);
    }
}

/* The server's life, with SIGTERM and SIGINT blocked in every thread
 * (`sigs`, for sigwait). */
static int run_server(const struct cfg *c, const sigset_t *sigs)
{
    struct err e;
    struct http_server *srv;
    struct timespec until;
    int sig = 0;
    int latest = 0;
    int per_worker;
    char fields[256];

    if (c->database_url == NULL) {
        log_msg(LOG_ERROR, "DATABASE_URL is not set", NULL);
        return 2;
    }
    if (c->no_migrate) {
        err_clear(&e);
        if (cli_expected_schema(c, &latest, &e) < 0) {
            log_msg(LOG_ERROR, "cannot read migrations", e.detail);
            return 1;
        }
    } else if (migrate_at_start(c, &latest) < 0) {
        return 1;
    }
    health_set_expected_schema(latest);
    db_pool_init(c->database_url, c->pool_size);
    /* The requests' connections are shared out among the workers, at
     * least one each; the pool serves the threads without fibers
     * (authentication lookups, background jobs). */
    per_worker = (c->pool_size + c->threads - 1) / c->threads;
    db_local_init(per_worker, c->threads);
    /* A quarter of a worker's connections record purchase groups at once:
     * fewer groups gather more purchases each, and the rest of the
     * connections serve reads and other writes.  On the 2-core rig a
     * quarter (2 of 8) beat 1, 3 and 4 in purchases/s and CPU per
     * purchase (docs/performance.md). */
    purchase_groups_init(per_worker / 4 > 0 ? per_worker / 4 : 1);
    /* Redemptions are bound by the database as purchases are, and gather
     * in the same way; their groups are counted apart, so that neither
     * kind waits for the other's. */
    redemption_groups_init(per_worker / 4 > 0 ? per_worker / 4 : 1);

    err_clear(&e);
    if (auth_init(c, &e) < 0) {
        log_msg(LOG_ERROR, "auth start failed", e.internal[0] ? e.internal : e.detail);
        db_pool_cleanup();
        return 1;
    }
    if (rules_cache_init(c, &e) < 0) {
        log_msg(LOG_ERROR, "rules start failed", e.internal[0] ? e.internal : e.detail);
        auth_cleanup();
        db_pool_cleanup();
        return 1;
    }
    admin_static_init(c->web_dir);
    srv = http_server_start(c, api_app(c), &e);
    if (srv == NULL) {
        log_msg(LOG_ERROR, "cannot start HTTP server", e.detail);
        rules_cache_cleanup();
        auth_cleanup();
        db_pool_cleanup();
        return 1;
    }
    housekeeping_start();
    if (!c->no_daily_job)
        daily_scheduler_start();
    snprintf(fields, sizeof(fields),
             "\"msg\":\"listening\",\"url\":\"http://%s:%d\",\"threads\":%d,\"pool\":%d",
             c->listen_host, http_server_port(srv), c->threads, c->pool_size);
    log_fields(LOG_INFO, fields);

    while (sig != SIGTERM && sig != SIGINT) {
        if (sigwait(sigs, &sig) != 0)
            break;
    }
    log_msg(LOG_INFO, "shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    /* One grace period covers both stops: the requests', then the
     * scheduler's run (which goes on meanwhile). */
    deadline_in(&until, c->stop_grace_s * 1000L);
    http_server_stop(srv, &until);
    daily_scheduler_stop(&until);
    housekeeping_stop();
    rules_cache_cleanup();
    auth_cleanup();
    db_pool_cleanup();
    log_msg(LOG_INFO, "stopped", NULL);
    return 0;
}

static int serve(const struct cfg *c)
{
    sigset_t sigs;
    int rc;

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* After the mask, which the writer thread inherits.  Without it the
     * threads write their lines themselves, as the CLI commands do. */
    if (log_writer_start() < 0)
        log_msg(LOG_WARN, "cannot start the log writer thread", NULL);
    rc = run_server(c, &sigs);
    log_writer_stop();
    return rc;
}

int main(int argc, char **argv)
{
    struct cfg c;
    struct err e;
    long ncores = sysconf(_SC_NPROCESSORS_ONLN);

    /* Before any other jansson call, so every value has the allocator's header. */
    json_mem_init();
    err_clear(&e);
    if (cfg_parse(&c, argc, argv, env_lookup, (int)ncores, &e) < 0) {
        fprintf(stderr, "loyaltyd: %s\n\n%s", e.detail, cfg_usage());
        return 2;
    }
    log_set_level(c.log_level);
    switch (c.command) {
    case CMD_HELP:
        fputs(cfg_usage(), stdout);
        return 0;
    case CMD_MIGRATE:
        return cli_migrate(&c);
    case CMD_CHECK:
        return cli_check(&c);
    case CMD_KEYS_CREATE:
        return cli_keys_create(&c);
    case CMD_SERVE:
        break;
    }
    return serve(&c);
}
