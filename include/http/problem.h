/*
 * problem.h - RFC 9457 problem+json bodies built from a `struct err`.
 */
#ifndef LY_HTTP_PROBLEM_H
#define LY_HTTP_PROBLEM_H

#include <jansson.h>

#include "core/err.h"

/*
 * Returns a new reference: {type, title, status, detail, code, errors,
 * request_id}.  An ERR_INTERNAL detail is replaced by a generic text naming
 * the request id, so nothing internal reaches the client; every other
 * detail is written for clients where it is set.
 */
json_t *problem_from_err(const struct err *e, const char *request_id);

#endif
