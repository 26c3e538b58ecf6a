/*
 * rules_conditions.h - the condition parser (rules_conditions.c) as the
 * section parsers (rules_json.c) call it for a promotion's `when`.
 * Private to src/api/rules_json.c and rules_conditions.c; everyone else
 * sees api/rules_json.h only.
 */
#ifndef LY_API_RULES_CONDITIONS_H
#define LY_API_RULES_CONDITIONS_H

#include <jansson.h>

#include "rules_read.h"

/*
 * The condition `v` (borrowed) at the current path, a promotion's `when`,
 * appended to c->r->nodes (its nesting bounded by RULES_MAX_DEPTH).
 * Returns the root's node index, or -1 after the errors have been reported
 * in `c`.  member.tier values are checked against the document's tier
 * codes only when c->tier_codes_known, so the tiers are parsed first.
 */
int rj_parse_condition(struct ctx *c, json_t *v);

#endif
