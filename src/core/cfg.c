/*
 * cfg.c - configuration parsing.  Defaults come first, then environment
 * variables, then flags, so a flag always wins.  Validation of each value
 * happens here, once, so the rest of the daemon trusts `struct cfg`.
 */
#include "core/cfg.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef LY_DEFAULT_SQL_DIR
#define LY_DEFAULT_SQL_DIR "sql/migrations"
#endif
#ifndef LY_DEFAULT_WEB_DIR
#define LY_DEFAULT_WEB_DIR "web"
#endif

static const char usage[] =
    "usage: loyaltyd [serve|migrate|check|keys create] [options]\n"
    "\n"
    "commands:\n"
    "  serve (default)   apply pending migrations (unless --no-migrate) and serve HTTP\n"
    "  migrate           apply pending migrations and exit\n"
    "  check             verify that every member's ledger entries sum to its balance;\n"
    "                    exit 1 on any breach\n"
    "  keys create --role admin|pos|app --name NAME [--store ID]\n"
    "                    create an API key and print it once on stdout\n"
    "\n"
    "options (environment variable in brackets; flags win):\n"
    "  --database-url URL   libpq connection string or URI          [DATABASE_URL]\n"
    "  --listen HOST:PORT   listen address (default 127.0.0.1:8080) [LOYALTY_LISTEN]\n"
    "  --threads N          HTTP worker threads (default cores / 2, at least 1) [LOYALTY_THREADS]\n"
    "  --pool-size N        database connections for requests, shared out among the\n"
    "                       threads, at least one each (default 8, or threads if more)\n"
    "                       [LOYALTY_POOL_SIZE]\n"
    "  --body-limit BYTES   request body limit (default 1048576)    [LOYALTY_BODY_LIMIT]\n"
    "  --log-level LEVEL    debug, info, warn or error (default info) [LOYALTY_LOG_LEVEL]\n"
    "  --admin-key KEY      an admin API key to make sure exists at start [LOYALTY_ADMIN_KEY]\n"
    "  --sql-dir DIR        migrations directory                    [LOYALTY_SQL_DIR]\n"
    "  --web-dir DIR        the admin dashboard's files, served at /admin/ [LOYALTY_WEB_DIR]\n"
    "  --stop-grace S       on SIGTERM, seconds to let requests and the daily job finish\n"
    "                       before their statements are cancelled (default 20)\n"
    "                       [LOYALTY_STOP_GRACE]\n"
    "  --no-migrate         do not apply pending migrations at start\n"
    "  --no-daily-job       do not run the daily job by itself (after local midnight and\n"
    "                       at start, catching up missed dates)  [LOYALTY_DAILY_JOB=off]\n"
    "  --help               this text\n";

const char *cfg_usage(void)
{
    return usage;
}

static int parse_int(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_listen(struct cfg *c, const char *s, struct err *e)
{
    const char *colon = strrchr(s, ':');
    size_t hostlen;
    long port;

    if (colon == NULL || parse_int(colon + 1, 0, 65535, &port) < 0)
        return err_set(e, ERR_VALIDATION, "listen address must be HOST:PORT, got '%s'", s);
    hostlen = (size_t)(colon - s);
    if (hostlen == 0 || hostlen >= sizeof(c->listen_host))
        return err_set(e, ERR_VALIDATION, "listen host is empty or too long");
    memcpy(c->listen_host, s, hostlen);
    c->listen_host[hostlen] = '\0';
    c->listen_port = (int)port;
    return 0;
}

/* Applies one setting by its flag name; `source` names it in errors. */
static int apply(struct cfg *c, const char *flag, const char *val, const char *source,
                 struct err *e)
{
    long n;

    if (0 == strcmp(flag, "database-url")) {
        c->database_url = val;
    } else if (0 == strcmp(flag, "listen")) {
        return parse_listen(c, val, e);
    } else if (0 == strcmp(flag, "threads")) {
        if (parse_int(val, 1, 256, &n) < 0)
            return err_set(e, ERR_VALIDATION, "%s must be 1..256", source);
        c->threads = (int)n;
    } else if (0 == strcmp(flag, "pool-size")) {
        if (parse_int(val, 1, 256, &n) < 0)
            return err_set(e, ERR_VALIDATION, "%s must be 1..256", source);
        c->pool_size = (int)n;
    } else if (0 == strcmp(flag, "body-limit")) {
        if (parse_int(val, 64, 1L << 30, &n) < 0)
            return err_set(e, ERR_VALIDATION, "%s must be 64..1073741824", source);
        c->body_limit = (size_t)n;
    } else if (0 == strcmp(flag, "log-level")) {
        if (log_level_parse(val, &c->log_level) < 0)
            return err_set(e, ERR_VALIDATION, "%s must be debug, info, warn or error", source);
    } else if (0 == strcmp(flag, "admin-key")) {
        c->admin_key = val;
    } else if (0 == strcmp(flag, "sql-dir")) {
        c->sql_dir = val;
    } else if (0 == strcmp(flag, "web-dir")) {
        c->web_dir = val;
    } else if (0 == strcmp(flag, "stop-grace")) {
        if (parse_int(val, 0, 3600, &n) < 0)
            return err_set(e, ERR_VALIDATION, "%s must be 0..3600 seconds", source);
        c->stop_grace_s = (int)n;
    } else if (0 == strcmp(flag, "daily-job")) {
        if (0 != strcmp(val, "on") && 0 != strcmp(val, "off"))
            return err_set(e, ERR_VALIDATION, "%s must be on or off", source);
        c->no_daily_job = 0 == strcmp(val, "off");
    } else if (0 == strcmp(flag, "role")) {
        c->key_role = val;
    } else if (0 == strcmp(flag, "name")) {
        c->key_name = val;
    } else if (0 == strcmp(flag, "store")) {
        c->key_store = val;
    } else {
        return err_set(e, ERR_VALIDATION, "unknown option --%s", flag);
    }
    return 0;
}

static const struct {
    const char *env;
    const char *flag;
} env_map[] = {
    {"DATABASE_URL", "database-url"},     {"LOYALTY_LISTEN", "listen"},
    {"LOYALTY_THREADS", "threads"},       {"LOYALTY_POOL_SIZE", "pool-size"},
    {"LOYALTY_BODY_LIMIT", "body-limit"}, {"LOYALTY_LOG_LEVEL", "log-level"},
    {"LOYALTY_ADMIN_KEY", "admin-key"},   {"LOYALTY_SQL_DIR", "sql-dir"},
    {"LOYALTY_DAILY_JOB", "daily-job"},   {"LOYALTY_WEB_DIR", "web-dir"},
    {"LOYALTY_STOP_GRACE", "stop-grace"},
};

int cfg_parse(struct cfg *c, int argc, char **argv, cfg_getenv_fn env, int ncores, struct err *e)
{
    int i = 1;
    bool pool_set = false;

    memset(c, 0, sizeof(*c));
    c->command = CMD_SERVE;
    snprintf(c->listen_host, sizeof(c->listen_host), "127.0.0.1");
    c->listen_port = 8080;
    /* One worker thread per two cores.  A worker waits for nothing (its
     * requests wait for PostgreSQL on their own), and on a machine that
     * PostgreSQL shares, fewer workers each gather more requests into one
     * wake-up: on 2 cores one worker spent a third less CPU per request
     * than four, and answered more (docs/performance.md). */
    c->threads = ncores < 2 ? 1 : ncores > 256 ? 128 : ncores / 2;
    c->body_limit = 1024 * 1024;
    c->stop_grace_s = 20;
    c->log_level = LOG_INFO;
    c->sql_dir = LY_DEFAULT_SQL_DIR;
    c->web_dir = LY_DEFAULT_WEB_DIR;

    for (size_t k = 0; k < sizeof(env_map) / sizeof(env_map[0]); k++) {
        const char *v = env(env_map[k].env);

        if (v == NULL || *v == '\0')
            continue;
        if (apply(c, env_map[k].flag, v, env_map[k].env, e) < 0)
            return -1;
        if (0 == strcmp(env_map[k].flag, "pool-size"))
            pool_set = true;
    }

    if (i < argc && argv[i][0] != '-') {
        if (0 == strcmp(argv[i], "serve")) {
            c->command = CMD_SERVE;
        } else if (0 == strcmp(argv[i], "migrate")) {
            c->command = CMD_MIGRATE;
        } else if (0 == strcmp(argv[i], "check")) {
            c->command = CMD_CHECK;
        } else if (0 == strcmp(argv[i], "keys") && i + 1 < argc &&
                   0 == strcmp(argv[i + 1], "create")) {
            c->command = CMD_KEYS_CREATE;
            i++;
        } else {
            return err_set(e, ERR_VALIDATION, "unknown command '%s'", argv[i]);
        }
        i++;
    }

    for (; i < argc; i++) {
        const char *arg = argv[i];
        char flag[32];
        const char *val;
        const char *eq;

        if (0 == strcmp(arg, "--help") || 0 == strcmp(arg, "-h")) {
            c->command = CMD_HELP;
            return 0;
        }
        if (0 == strcmp(arg, "--no-migrate")) {
            c->no_migrate = true;
            continue;
        }
        if (0 == strcmp(arg, "--no-daily-job")) {
            c->no_daily_job = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            return err_set(e, ERR_VALIDATION, "unexpected argument '%s'", arg);
        eq = strchr(arg, '=');
        if (eq != NULL) {
            if ((size_t)(eq - arg - 2) >= sizeof(flag))
                return err_set(e, ERR_VALIDATION, "unknown option '%s'", arg);
            memcpy(flag, arg + 2, (size_t)(eq - arg - 2));
            flag[eq - arg - 2] = '\0';
            val = eq + 1;
        } else {
            if (strlen(arg + 2) >= sizeof(flag))
                return err_set(e, ERR_VALIDATION, "unknown option '%s'", arg);
            snprintf(flag, sizeof(flag), "%s", arg + 2);
            if (i + 1 >= argc)
                return err_set(e, ERR_VALIDATION, "option '%s' needs a value", arg);
            val = argv[++i];
        }
        if (apply(c, flag, val, arg, e) < 0)
            return -1;
        if (0 == strcmp(flag, "pool-size"))
            pool_set = true;
    }
    /* Each purchase waits for its commit to reach the disk; eight
     * connections let PostgreSQL flush several commits at once (on 2 cores
     * four answered a sixth fewer purchases).  A large daemon gets one per
     * thread at least. */
    if (!pool_set)
        c->pool_size = c->threads > 8 ? c->threads : 8;
    if (c->command == CMD_KEYS_CREATE && (c->key_role == NULL || c->key_name == NULL))
        return err_set(e, ERR_VALIDATION, "keys create needs --role and --name");
    return 0;
}
