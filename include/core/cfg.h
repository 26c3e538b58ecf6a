/*
 * cfg.h - the daemon's configuration, from the environment and the command
 * line (flags win over the environment).
 *
 * Parsing is pure: the environment comes in through a lookup function so the
 * unit tests can pass their own.  Nothing here opens files or sockets.
 */
#ifndef LY_CORE_CFG_H
#define LY_CORE_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/log.h"

enum cfg_command { CMD_SERVE = 0, CMD_MIGRATE, CMD_CHECK, CMD_KEYS_CREATE, CMD_HELP };

struct cfg {
    enum cfg_command command;
    const char *database_url; /* borrowed from argv/env; NULL when unset */
    char listen_host[64];
    int listen_port; /* 0 asks the kernel for a free port */
    int threads;
    int pool_size;
    size_t body_limit;
    enum log_level log_level;
    const char *admin_key; /* borrowed; NULL when unset */
    const char *sql_dir;   /* borrowed; directory of NNNN_*.sql migrations */
    const char *web_dir;   /* borrowed; directory of the dashboard's files (/admin/) */
    int stop_grace_s;      /* SIGTERM to cancelling what still runs */
    bool no_migrate;
    bool no_daily_job; /* the scheduler of the daily job stays off */
    /* keys create */
    const char *key_role;
    const char *key_name;
    const char *key_store;
};

/* Returns the value of an environment variable or NULL (getenv's contract). */
typedef const char *(*cfg_getenv_fn)(const char *name);

/*
 * Fills `c` from `env` and argv.  `ncores` sets the default thread count.
 * Strings in `c` are borrowed from argv and the environment, which outlive
 * it.  Sets ERR_VALIDATION with the offending option in `detail`.
 */
int cfg_parse(struct cfg *c, int argc, char **argv, cfg_getenv_fn env, int ncores, struct err *e);

/* The --help text: every command, flag and environment variable. */
const char *cfg_usage(void);

#endif
