/*
 * test_cfg.c - configuration: defaults, environment, flags over environment,
 * commands, and rejected values.
 */
#include <stdint.h>

#include "check.h"
#include "core/cfg.h"

static const char *const *fake_env;

static const char *env_get(const char *name)
{
    for (const char *const *p = fake_env; p && *p; p += 2)
        if (0 == strcmp(p[0], name))
            return p[1];
    return NULL;
}

static int parse(struct cfg *c, const char *const *env, int argc, const char **argv, struct err *e)
{
    fake_env = env;
    err_clear(e);
    return cfg_parse(c, argc, (char **)(uintptr_t)argv, env_get, 2, e);
}

static void test_defaults(void)
{
    struct cfg c;
    struct err e;
    const char *argv[] = {"loyaltyd"};

    CHECK_EQ_I64(parse(&c, NULL, 1, argv, &e), 0);
    CHECK_EQ_I64(c.command, CMD_SERVE);
    CHECK_STREQ(c.listen_host, "127.0.0.1");
    CHECK_EQ_I64(c.listen_port, 8080);
    CHECK_EQ_I64(c.threads, 1);
    CHECK_EQ_I64(c.pool_size, 8);
    CHECK_EQ_I64(c.body_limit, 1048576);
    CHECK_EQ_I64(c.log_level, LOG_INFO);
    CHECK(c.database_url == NULL);
    CHECK(!c.no_migrate);
    CHECK(!c.no_daily_job);
    CHECK_EQ_I64(c.stop_grace_s, 20);
}

static void test_daily_job_switch(void)
{
    struct cfg c;
    struct err e;
    const char *off[] = {"LOYALTY_DAILY_JOB", "off", NULL};
    const char *on[] = {"LOYALTY_DAILY_JOB", "on", NULL};
    const char *bad[] = {"LOYALTY_DAILY_JOB", "no", NULL};
    const char *argv[] = {"loyaltyd"};
    const char *flag[] = {"loyaltyd", "--no-daily-job"};

    CHECK_EQ_I64(parse(&c, off, 1, argv, &e), 0);
    CHECK(c.no_daily_job);
    CHECK_EQ_I64(parse(&c, on, 1, argv, &e), 0);
    CHECK(!c.no_daily_job);
    CHECK_EQ_I64(parse(&c, on, 2, flag, &e), 0);
    CHECK(c.no_daily_job);
    CHECK_EQ_I64(parse(&c, bad, 1, argv, &e), -1);
    CHECK(strstr(e.detail, "LOYALTY_DAILY_JOB") != NULL);
}

/* The stop's grace: seconds, 0 (cancel at once) to an hour; a flag over the environment. */
static void test_stop_grace(void)
{
    struct cfg c;
    struct err e;
    const char *env[] = {"LOYALTY_STOP_GRACE", "5", NULL};
    const char *argv[] = {"loyaltyd"};
    const char *zero[] = {"loyaltyd", "--stop-grace", "0"};
    const char *big[] = {"loyaltyd", "--stop-grace=3601"};
    const char *ms[] = {"loyaltyd", "--stop-grace", "1500ms"};

    CHECK_EQ_I64(parse(&c, env, 1, argv, &e), 0);
    CHECK_EQ_I64(c.stop_grace_s, 5);
    CHECK_EQ_I64(parse(&c, env, 3, zero, &e), 0);
    CHECK_EQ_I64(c.stop_grace_s, 0);
    CHECK_EQ_I64(parse(&c, NULL, 2, big, &e), -1);
    CHECK(strstr(e.detail, "--stop-grace") != NULL && strstr(e.detail, "0..3600") != NULL);
    CHECK_EQ_I64(parse(&c, NULL, 3, ms, &e), -1);
}

/* The dashboard's directory: a built-in default, the environment, a flag over it. */
static void test_web_dir(void)
{
    struct cfg c;
    struct err e;
    const char *env[] = {"LOYALTY_WEB_DIR", "/srv/web", NULL};
    const char *argv[] = {"loyaltyd"};
    const char *flag[] = {"loyaltyd", "--web-dir", "/opt/web"};

    CHECK_EQ_I64(parse(&c, NULL, 1, argv, &e), 0);
    CHECK(c.web_dir != NULL && c.web_dir[0] != '\0');
    CHECK_EQ_I64(parse(&c, env, 1, argv, &e), 0);
    CHECK_STREQ(c.web_dir, "/srv/web");
    CHECK_EQ_I64(parse(&c, env, 3, flag, &e), 0);
    CHECK_STREQ(c.web_dir, "/opt/web");
}

static void test_env_and_flags(void)
{
    struct cfg c;
    struct err e;
    const char *env[] = {"DATABASE_URL",
                         "host=/tmp",
                         "LOYALTY_LISTEN",
                         "0.0.0.0:9000",
                         "LOYALTY_THREADS",
                         "8",
                         "LOYALTY_LOG_LEVEL",
                         "warn",
                         "LOYALTY_BODY_LIMIT",
                         "2048",
                         NULL};
    const char *argv[] = {"loyaltyd",     "serve",       "--threads", "3", "--listen=127.0.0.1:0",
                          "--no-migrate", "--pool-size", "2"};

    CHECK_EQ_I64(parse(&c, env, 8, argv, &e), 0);
    CHECK_STREQ(c.database_url, "host=/tmp");
    CHECK_STREQ(c.listen_host, "127.0.0.1");
    CHECK_EQ_I64(c.listen_port, 0);
    CHECK_EQ_I64(c.threads, 3);
    CHECK_EQ_I64(c.pool_size, 2);
    CHECK_EQ_I64(c.body_limit, 2048);
    CHECK_EQ_I64(c.log_level, LOG_WARN);
    CHECK(c.no_migrate);
}

static void test_pool_follows_threads(void)
{
    struct cfg c;
    struct err e;
    const char *six[] = {"loyaltyd", "--threads", "6"};
    const char *twelve[] = {"loyaltyd", "--threads", "12"};

    CHECK_EQ_I64(parse(&c, NULL, 3, six, &e), 0);
    CHECK_EQ_I64(c.pool_size, 8);
    CHECK_EQ_I64(parse(&c, NULL, 3, twelve, &e), 0);
    CHECK_EQ_I64(c.pool_size, 12);
}

static void test_commands(void)
{
    struct cfg c;
    struct err e;
    const char *migrate[] = {"loyaltyd", "migrate"};
    const char *check[] = {"loyaltyd", "check"};
    const char *keys[] = {"loyaltyd", "keys",   "create",  "--role", "pos",
                          "--name",   "till 1", "--store", "S1"};
    const char *keys_bad[] = {"loyaltyd", "keys", "create", "--role", "pos"};
    const char *help[] = {"loyaltyd", "--help"};
    const char *unknown[] = {"loyaltyd", "frobnicate"};

    CHECK_EQ_I64(parse(&c, NULL, 2, migrate, &e), 0);
    CHECK_EQ_I64(c.command, CMD_MIGRATE);
    CHECK_EQ_I64(parse(&c, NULL, 2, check, &e), 0);
    CHECK_EQ_I64(c.command, CMD_CHECK);
    CHECK_EQ_I64(parse(&c, NULL, 9, keys, &e), 0);
    CHECK_EQ_I64(c.command, CMD_KEYS_CREATE);
    CHECK_STREQ(c.key_role, "pos");
    CHECK_STREQ(c.key_name, "till 1");
    CHECK_STREQ(c.key_store, "S1");
    CHECK_EQ_I64(parse(&c, NULL, 5, keys_bad, &e), -1);
    CHECK_EQ_I64(parse(&c, NULL, 2, help, &e), 0);
    CHECK_EQ_I64(c.command, CMD_HELP);
    CHECK_EQ_I64(parse(&c, NULL, 2, unknown, &e), -1);
    CHECK_EQ_I64(e.code, ERR_VALIDATION);
}

static void test_rejects(void)
{
    struct cfg c;
    struct err e;
    const char *bad_threads[] = {"loyaltyd", "--threads", "0"};
    const char *bad_threads2[] = {"loyaltyd", "--threads", "4x"};
    const char *bad_listen[] = {"loyaltyd", "--listen", "localhost"};
    const char *bad_port[] = {"loyaltyd", "--listen", "127.0.0.1:70000"};
    const char *bad_level[] = {"loyaltyd", "--log-level", "loud"};
    const char *bad_flag[] = {"loyaltyd", "--frob", "1"};
    const char *no_value[] = {"loyaltyd", "--threads"};
    const char *bad_env[] = {"LOYALTY_THREADS", "many", NULL};
    const char *argv[] = {"loyaltyd"};

    CHECK_EQ_I64(parse(&c, NULL, 3, bad_threads, &e), -1);
    CHECK_EQ_I64(parse(&c, NULL, 3, bad_threads2, &e), -1);
    CHECK_EQ_I64(parse(&c, NULL, 3, bad_listen, &e), -1);
    CHECK_EQ_I64(parse(&c, NULL, 3, bad_port, &e), -1);
    CHECK_EQ_I64(parse(&c, NULL, 3, bad_level, &e), -1);
    CHECK_EQ_I64(parse(&c, NULL, 3, bad_flag, &e), -1);
    CHECK_EQ_I64(parse(&c, NULL, 2, no_value, &e), -1);
    CHECK_EQ_I64(parse(&c, bad_env, 1, argv, &e), -1);
    CHECK(strstr(e.detail, "LOYALTY_THREADS") != NULL);
}

static void test_usage_lists_everything(void)
{
    static const char *const names[] = {
        "DATABASE_URL",
        "LOYALTY_LISTEN",
        "LOYALTY_THREADS",
        "LOYALTY_POOL_SIZE",
        "LOYALTY_BODY_LIMIT",
        "LOYALTY_LOG_LEVEL",
        "LOYALTY_ADMIN_KEY",
        "LOYALTY_SQL_DIR",
        "LOYALTY_WEB_DIR",
        "--web-dir",
        "LOYALTY_STOP_GRACE",
        "--stop-grace",
        "--no-migrate",
        "LOYALTY_DAILY_JOB",
        "--no-daily-job",
        "migrate",
        "check",
        "keys create",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        CHECK(strstr(cfg_usage(), names[i]) != NULL);
}

int main(void)
{
    test_defaults();
    test_env_and_flags();
    test_pool_follows_threads();
    test_daily_job_switch();
    test_web_dir();
    test_stop_grace();
    test_commands();
    test_rejects();
    test_usage_lists_everything();
    return check_report();
}
