/*
 * rules_json.h - the rule-set document (JSON, as in the API contract) to and
 * from `struct rules`, with complete validation.
 *
 * Validation reports every problem, each with its JSON path
 * ("$.promotions[2].when.all[0].op"), in `e->fields` (ERR_VALIDATION).
 */
#ifndef LY_API_RULES_JSON_H
#define LY_API_RULES_JSON_H

#include <jansson.h>

#include "core/err.h"
#include "rules/rules.h"

/*
 * Parses and validates `doc` (borrowed) into *out (caller-owned, large:
 * allocate it on the heap).  Returns 0, or -1 with ERR_VALIDATION and
 * every error's path.  Unknown fields are errors; optional parts get the
 * contract's defaults (timezone "Asia/Shanghai", pending_days 0, ...).
 */
int rules_from_json(const json_t *doc, struct rules *out, struct err *e);

/* The document for `r` (new reference); rules_from_json(rules_to_json(r))
 * gives back an equal `r`. */
json_t *rules_to_json(const struct rules *r);

/* The default rule set of a new database, as JSON text (static). */
const char *rules_default_document(void);

#endif
