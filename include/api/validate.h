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

/*
 * A required array of 1..`max` elements: returns it (borrowed) with its size
 * in *n, or NULL with the field's error in `e` (missing, not an array, too
 * few or too many).
 */
json_t *body_array(json_t *o, const char *key, size_t max, size_t *n, struct err *e);

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

/* --- query strings and list pages -------------------------------------- */

/* Every list's `?limit=`: the default and the largest. */
#define PAGE_LIMIT_DEFAULT 50
#define PAGE_LIMIT_MAX     500

/*
 * Adds a field error about the query string (`field` names the parameter,
 * or "query" for the whole of it); the detail, when this is the first
 * error, says "the query string is not valid".  Returns -1.
 */
int query_error(struct err *e, const char *field, const char *msg);

/*
 * Refuses parameters not in the NULL-terminated `allowed` list, and repeated
 * ones, with one "query" error ("only limit and cursor are allowed, once
 * each").  0 or -1.
 */
int query_no_unknown(const struct req *rq, const char *const *allowed, struct err *e);

/*
 * A list's `?limit=` (1..PAGE_LIMIT_MAX, default PAGE_LIMIT_DEFAULT) and
 * `?cursor=` ("<cursor_prefix><n>", the last id of the page before; without
 * one *before is INT64_MAX), errors added with query_error.  Returns -1 when
 * `e` is set afterwards, errors the caller collected before included.
 */
int page_query_read(const struct req *rq, const char *cursor_prefix, int *limit, int64_t *before,
                    struct err *e);

/*
 * Appends `item` (stolen) to the array `items` (stolen) and returns it; if
 * either is NULL or appending fails, frees both and returns NULL.  A loop
 * builds a page with it and checks for running out of memory once.
 */
json_t *page_items_add(json_t *items, json_t *item);

/*
 * Answers 200 {"items": items, "next_cursor": c}: c is
 * "<cursor_prefix><last_id>" when `more`, else null.  Steals `items` (NULL
 * means jansson ran out of memory).  0, or -1 with ERR_INTERNAL.
 */
int page_reply(struct resp *rs, json_t *items, bool more, const char *cursor_prefix,
               int64_t last_id, struct err *e);

/* --- free text ------------------------------------------------------------ */

/*
 * As body_string, for free text (comments, complaints): line breaks and
 * tabs are allowed and count as one character each; other control
 * characters are not.
 */
int body_text(json_t *o, const char *key, int min, int max, bool nullable, const char **out,
              bool *is_null, struct err *e);

#endif
