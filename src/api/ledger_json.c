/*
 * ledger_json.c - rendering a ledger entry (api/ledger_json.h).  Formats
 * ids with their public prefixes; reads nothing else.
 */
#include "api/ledger_json.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>

#include "api/purchase_json.h"

/* Adds `key`: `value` (stolen); clears *ok on failure. */
static void put(json_t *o, const char *key, json_t *value, bool *ok)
{
    if (json_object_set_new(o, key, value) < 0)
        *ok = false;
}

/* "<prefix><id>", or null when id is 0. */
static json_t *optional_id(const char *prefix, int64_t id)
{
    char text[32];

    if (id == 0)
        return json_null();
    snprintf(text, sizeof(text), "%s%" PRId64, prefix, id);
    return json_string(text);
}

json_t *ledger_entry_json(const struct ledger_entry *l)
{
    char id[32], pur[32];
    json_t *o = json_object();
    bool ok = o != NULL;

    snprintf(id, sizeof(id), LEDGER_ID_PREFIX "%" PRId64, l->id);
    if (l->purchase_id != 0)
        purchase_id_format(pur, sizeof(pur), l->purchase_id);
    put(o, "id", json_string(id), &ok);
    put(o, "kind", json_string(l->kind), &ok);
    put(o, "points", json_integer(l->points), &ok);
    put(o, "balance_after", json_integer(l->balance_after), &ok);
    put(o, "purchase_id", l->purchase_id != 0 ? json_string(pur) : json_null(), &ok);
    put(o, "redemption_id", optional_id("red_", l->redemption_id), &ok);
    put(o, "return_id", optional_id("ret_", l->return_id), &ok);
    put(o, "reason", l->reason != NULL ? json_string(l->reason) : json_null(), &ok);
    put(o, "created_at", json_string(l->created_at), &ok);
    put(o, "expires_at", l->expires_at != NULL ? json_string(l->expires_at) : json_null(), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}
