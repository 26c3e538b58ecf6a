/*
 * ledger_json.h - a ledger entry as the contract shows it, the one
 * rendering every route that answers with entries uses.
 */
#ifndef LY_API_LEDGER_JSON_H
#define LY_API_LEDGER_JSON_H

#include <jansson.h>

#include "store/ledger.h"

#define LEDGER_ID_PREFIX "led_"

/* Every key of the contract's entry, null where the entry has no value.
 * A new reference (the caller owns it), NULL when out of memory. */
json_t *ledger_entry_json(const struct ledger_entry *l);

#endif
