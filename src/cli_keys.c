/*
 * cli_keys.c - `loyaltyd keys create --role R --name N [--store ID]`: the
 * way to make the first admin key.  It validates like POST /v1/keys,
 * inserts through a one-connection pool and prints the secret once.
 *
 * stdout carries the key and nothing else, so scripts can capture it with
 * $(loyaltyd keys create ...); every message goes to stderr.  Must not
 * log the key.
 */
#include "api/cli_keys.h"

#include <stdio.h>
#include <string.h>

#include "api/auth.h"
#include "api/validate.h"
#include "core/arena.h"
#include "store/db.h"
#include "store/keys.h"

static int fail(const char *msg)
{
    fprintf(stderr, "loyaltyd keys create: %s\n", msg);
    return 1;
}

int cli_keys_create(const struct cfg *c)
{
    const char *role = c->key_role, *name = c->key_name, *store = c->key_store;
    char secret[AUTH_SECRET_SIZE], hash[67];
    struct store_key k;
    struct arena a;
    struct err e;
    struct db *db;
    int n, rc;

    if (role == NULL ||
        (strcmp(role, "admin") != 0 && strcmp(role, "pos") != 0 && strcmp(role, "app") != 0))
        return fail("--role must be admin, pos or app");
    n = name ? utf8_length(name) : -1;
    if (n < 1 || n > 100)
        return fail("--name must be 1 to 100 characters of UTF-8 without control characters");
    if (store != NULL && !is_valid_store_id(store))
        return fail("--store must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    if (store != NULL && strcmp(role, "pos") != 0)
        return fail("--store is only allowed with --role pos");

    err_clear(&e);
    arena_init(&a);
    db_pool_init(c->database_url, 1);
    db = db_acquire(&e);
    rc = -1;
    if (db != NULL) {
        auth_secret_new(AUTH_KEY_PREFIX, secret, hash);
        rc = store_key_insert(db, name, role, store, hash, &a, &k, &e);
        db_release(db);
    }
    db_pool_cleanup();
    arena_free(&a);
    if (rc < 0) {
        /* An operator's tool: the internal text (libpq's) is what helps here. */
        fprintf(stderr, "loyaltyd keys create: cannot create the key: %s\n",
                e.internal[0] ? e.internal : e.detail);
        return 1;
    }
    printf("%s\n", secret);
    return fflush(stdout) == 0 ? 0 : 1;
}
