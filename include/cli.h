/*
 * cli.h - the one-shot commands: `loyaltyd migrate` and `loyaltyd check`.
 * Each returns the process exit status and prints for a human.
 */
#ifndef LY_CLI_H
#define LY_CLI_H

#include "core/cfg.h"

/* Applies pending migrations; 0 on success. */
int cli_migrate(const struct cfg *c);

/* Verifies the ledger invariant for every member; 0 if it holds, 1 if not. */
int cli_check(const struct cfg *c);

/*
 * Applies pending migrations on a fresh connection (used by serve too).
 * Sets *latest to the newest version this binary ships.  0 or -1 with `e`.
 */
int cli_apply_migrations(const struct cfg *c, int *latest, struct err *e);

/* Reads the migrations directory only: the newest version it holds. */
int cli_expected_schema(const struct cfg *c, int *latest, struct err *e);

#endif
