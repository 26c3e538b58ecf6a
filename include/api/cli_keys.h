/*
 * cli_keys.h - `loyaltyd keys create`: makes an API key from the command
 * line (the first admin key, typically) and prints its secret once.
 */
#ifndef LY_API_CLI_KEYS_H
#define LY_API_CLI_KEYS_H

#include "core/cfg.h"

/*
 * Validates c->key_role (admin|pos|app), c->key_name (1..100 characters)
 * and c->key_store (a store id, pos keys only), inserts the key through a
 * one-connection pool on c->database_url (borrowed), and prints only the
 * key and a newline on stdout.  Returns the process exit code: 0, or 1
 * after a message on stderr.  Not thread-safe: it owns the pool while it
 * runs.
 */
int cli_keys_create(const struct cfg *c);

#endif
