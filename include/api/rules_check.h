/*
 * rules_check.h - the complete check of a rule-set document, as every route
 * that takes one needs it: PUT /v1/rules activates it, POST
 * /v1/rules/simulate computes with it.
 *
 * Complete means rules_from_json's validation plus what only the database
 * can tell: that PostgreSQL knows the time zone, which every conversion of
 * a purchase to local time relies on.
 */
#ifndef LY_API_RULES_CHECK_H
#define LY_API_RULES_CHECK_H

#include <jansson.h>

#include "core/err.h"
#include "http/http.h"
#include "rules/rules.h"

/*
 * Parses and validates `doc` (borrowed) into *out (caller-owned, about
 * 0.5 MB: allocate it on the heap or in the arena), asking the request's
 * database connection about the time zone.  Returns 0, or -1 with
 * ERR_VALIDATION and every problem named by its $-rooted JSON path
 * ("$.timezone", "$.promotions[2].when.all[0].op"), or with the database's
 * error (ERR_UNAVAILABLE, ...) when the document is otherwise valid but the
 * time zone could not be looked up.
 */
int rules_check_document(struct req *rq, json_t *doc, struct rules *out, struct err *e);

#endif
