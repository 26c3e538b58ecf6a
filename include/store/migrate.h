/*
 * migrate.h - schema migrations: numbered files NNNN_slug.sql in one
 * directory, each applied once, in order, in its own transaction, and
 * recorded in schema_migrations.
 */
#ifndef LY_STORE_MIGRATE_H
#define LY_STORE_MIGRATE_H

#include <libpq-fe.h>

#include "core/err.h"
#include "store/db.h"

struct migration {
    int version;
    char *name; /* owned by the set */
    char *sql;  /* owned by the set */
};

struct migration_set {
    struct migration *items; /* sorted by version, owned */
    int n;
};

/* Reads every NNNN_*.sql in `dir`.  Duplicate versions are an error. */
int migrations_load(const char *dir, struct migration_set *out, struct err *e);
void migrations_free(struct migration_set *s);

/* The highest version in the set (0 when empty). */
int migrations_latest(const struct migration_set *s);

/*
 * Applies the pending migrations on `conn` (borrowed), under an advisory lock
 * so that daemons starting together apply each migration once.  Sets
 * *applied to the number applied.  A database whose schema is newer than the
 * set is left alone (with a warning): /readyz reports it.
 */
int migrations_apply(PGconn *conn, const struct migration_set *s, int *applied, struct err *e);

/* The highest applied version (0 for an empty database). */
int store_schema_version(struct db *db, int *version, struct err *e);

#endif
