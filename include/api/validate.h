/*
 * validate.h - reading a JSON request body into C values, collecting every
 * field error (with its JSON path) instead of stopping at the first.
 *
 * Each getter looks up `key` in object `o`; if present and valid, stores it
 * and returns 1; if absent (or JSON null where `nullable`), returns 0 and
 * leaves *out alone; if invalid, adds a field error to `e` and returns -1.
 * Strings are borrowed from the jansson object, which the request owns.
 */
#ifndef LY_API_VALIDATE_H
#define LY_API_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "http/http.h"

/*
 * The request body as an object.  A missing body is treated as {} when
 * `optional`, else "request body is required".  A non-object body is a
 * validation error.  Returns a borrowed reference or NULL with `e` set.
 */
json_t *body_object(struct req *rq, bool optional, struct err *e);

/*
 * Adds a field error for every key of `o` not in the NULL-terminated
 * `allowed` list ("unknown field").  Returns 0 if none, -1 otherwise.
 */
int body_no_unknown(json_t *o, const char *const *allowed, struct err *e);

/* A required field is missing: adds "is required" and returns -1. */
int body_missing(const char *key, struct err *e);

/*
 * A string of `min`..`max` Unicode code points, no control characters.
 * `nullable`: JSON null counts as absent and sets *is_null (may be NULL).
 */
int body_string(json_t *o, const char *key, int min, int max, bool nullable, const char **out,
                bool *is_null, struct err *e);

/* An integer in [min, max] (JSON integers only: 1.0 and 1e3 are rejected). */
int body_int(json_t *o, const char *key, int64_t min, int64_t max, int64_t *out, struct err *e);

/* A boolean. */
int body_bool(json_t *o, const char *key, bool *out, struct err *e);

/* --- value checks shared by bodies and query strings ------------------ */

/* Counts code points of valid UTF-8 with no C0/C1 control characters; -1 if invalid. */
int utf8_length(const char *s);

/*
 * Normalises a phone number: removes spaces and dashes, then requires an
 * optional '+' followed by 5..20 digits.  Writes into dst (>= 22 bytes).
 * Returns 0 or -1 when invalid.
 */
int phone_normalize(const char *in, char *dst, size_t n);

/* An email: 3..254 bytes, exactly one '@', non-empty local part and domain, no spaces. */
bool is_valid_email(const char *s);

/* A calendar date YYYY-MM-DD (real day, years 1900..9999). */
bool is_valid_date(const char *s, int *y, int *m, int *d);

/* 1..64 characters of [A-Za-z0-9._-] (store ids). */
bool is_valid_store_id(const char *s);

/* Parses an id of the form "<prefix><digits>" (e.g. "mem_42"); -1 if malformed. */
int id_parse(const char *s, const char *prefix, int64_t *out);

#endif
