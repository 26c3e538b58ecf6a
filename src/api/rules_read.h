/*
 * rules_read.h - what the rule-set parser (rules_json.c's sections and
 * rules_conditions.c's condition trees) and its reusable layer
 * (rules_read.c) share: the state of one validation and the typed readers
 * that report every problem at its $-rooted JSON path.
 * Private to src/api/rules_json.c, rules_conditions.c and rules_read.c;
 * everyone else sees api/rules_json.h only.
 *
 * Every json_t here is borrowed from the document being parsed, and a
 * string a reader returns points into that document (valid while it is).
 * The names carry rj_ (rules JSON) since they are global symbols.
 */
#ifndef LY_API_RULES_READ_H
#define LY_API_RULES_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "rules/rules.h"

/* The state of one validation: where we are in the document and how many
 * errors were found (err_field keeps only the first ERR_MAX_FIELDS). */
struct ctx {
    struct err *e;
    struct rules *r;
    int nerrors;
    bool tier_codes_known; /* every tier code valid and unique: conditions may check them */
    bool nodes_full;       /* the node capacity error was reported once */
    size_t len;
    char path[512];
};

/* ------------------------------------------------------- the path ----- */

/* Records an error (printf-style message) at the current path: counted in
 * c->nerrors, kept in c->e when there is room. */
void rj_fail(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends ".key" (or "['key']") or "[i]" to the path; each returns the mark
 * that rj_pop() goes back to.  `key` is copied. */
size_t rj_push_key(struct ctx *c, const char *key);
size_t rj_push_index(struct ctx *c, size_t i);
void rj_pop(struct ctx *c, size_t mark);

/* ------------------------------------------------------ the readers ---- */

/* Reports every key of `o` that is not in the NULL-terminated `allowed`. */
void rj_check_unknown(struct ctx *c, json_t *o, const char *const *allowed);

/* `v` (at the current path) is an object; errors for absent-but-required
 * and for other types.  False when there is nothing to read. */
bool rj_expect_object(struct ctx *c, json_t *v, bool required);

/* The integer field `key` of `o` in [min, max]; absent: `dflt`, or "is
 * required".  Writes *out only when valid; false after an error. */
bool rj_read_int(struct ctx *c, json_t *o, const char *key, bool required, int64_t dflt,
                 int64_t min, int64_t max, int64_t *out);
bool rj_read_int32(struct ctx *c, json_t *o, const char *key, bool required, int32_t dflt,
                   int32_t min, int32_t max, int32_t *out);

/* `v` as exact hundredths into *out, reporting nothing: 1 (valid), 0 (not
 * a number), -1 (more than 2 decimals) or -2 (outside +-10^6). */
int rj_decimal_x100(json_t *v, int64_t *out);

enum decimal_kind {
    DECIMAL_PCT,  /* 0 .. 100 */
    DECIMAL_MULT, /* 0 < m <= 100 */
};

/* The percentage or multiplier field `key` of `o` as hundredths into *out;
 * absent: `dflt_x100`, or "is required".  False after an error. */
bool rj_read_decimal(struct ctx *c, json_t *o, const char *key, bool required,
                     enum decimal_kind kind, int32_t dflt_x100, int32_t *out);

/* --------------------------------------------------- value formats ----- */

/* `s` (`len` bytes) is a code of tiers and promotions: 1..RULES_CODE_MAX
 * of [A-Za-z0-9._-]. */
bool rj_is_code(const char *s, size_t len);

/* `s` (`len` bytes) is min..RULES_CODE_MAX bytes of UTF-8 without control
 * characters (a category, a segment). */
bool rj_is_short_text(const char *s, size_t len, size_t min);

/* The messages for a value that fails rj_is_code and rj_is_short_text(.., 1). */
#define CODE_MSG     "must be 1 to 32 characters of A-Z a-z 0-9 . _ -"
#define CATEGORY_MSG "must be a category of 1 to 32 bytes without control characters"

/* The string `v` at the current path and its length in *len, or NULL after
 * an error. */
const char *rj_string_value(struct ctx *c, json_t *v, size_t *len);

/* The required code field `key` of `o`, copied into dst (RULES_CODE_MAX + 1
 * bytes).  False after an error. */
bool rj_read_code(struct ctx *c, json_t *o, const char *key, char *dst);

/* The list of at most `max` unique categories `v` at the current path,
 * copied into dst.  Returns the count, or -1 after an error. */
int rj_read_categories(struct ctx *c, json_t *v, int max, char (*dst)[RULES_CODE_MAX + 1]);

/* The required RFC 3339 timestamp field `key` of `o` as UTC microseconds
 * into *out.  False after an error. */
bool rj_read_timestamp(struct ctx *c, json_t *o, const char *key, int64_t *out);

#endif
