/*
 * jsonw.h - compact JSON text written straight into a buffer, for the
 * answers on the hot paths (a balance read, a purchase).
 *
 * Building a jansson tree and dumping it took about 40% of the instructions
 * of a balance read and a quarter of a purchase's (callgrind): jansson makes
 * an snprintf per integer and a loop-check hash entry per object.  The text
 * written here is byte for byte what json_dumps(JSON_COMPACT) gives for the
 * same values (tests/unit/test_jsonw.c compares them).  Parsing stays
 * jansson's.
 *
 * Usage: jw_init, then values; inside an object every value follows a
 * jw_key.  jw_finish hands the text over (malloc'd: the caller frees it).
 * Strings must be valid UTF-8 (those written here come from PostgreSQL,
 * whose client encoding is UTF8, or from a body jansson accepted).
 */
#ifndef LY_CORE_JSONW_H
#define LY_CORE_JSONW_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

#define JW_MAX_DEPTH 8

struct jw {
    struct buf out;
    int depth;
    bool after_key;              /* the next value is a member's */
    bool more[JW_MAX_DEPTH + 1]; /* the container at each depth has a value */
};

void jw_init(struct jw *w);

void jw_object_begin(struct jw *w);
void jw_object_end(struct jw *w);
void jw_array_begin(struct jw *w);
void jw_array_end(struct jw *w);

/* The key of the next value, in an object. */
void jw_key(struct jw *w, const char *key);

void jw_string(struct jw *w, const char *s); /* NULL writes null */
void jw_int(struct jw *w, int64_t v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);

/* A member of an object: jw_key, then the value. */
void jw_member_string(struct jw *w, const char *key, const char *s);
void jw_member_int(struct jw *w, const char *key, int64_t v);

/* A value that is JSON text already (compact, from a trusted source: one of
 * our own statements), written as it is. */
void jw_raw(struct jw *w, const char *json);

/* The text (NUL-terminated, malloc'd, never NULL; the caller frees it) and
 * its length; `w` is empty afterwards. */
char *jw_finish(struct jw *w, size_t *len);

#endif
