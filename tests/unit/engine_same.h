/*
 * engine_same.h - do two engine results hold the same bytes?  Compares
 * what engine_compute() writes: the header, lines[0 .. nlines) and
 * applied[0 .. napplied).  The entries past those are unspecified
 * (rules/engine.h), so a check over the whole struct would compare
 * whatever the memory held before.
 */
#ifndef LY_TESTS_ENGINE_SAME_H
#define LY_TESTS_ENGINE_SAME_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "rules/engine.h"

static inline bool engine_same(const struct engine_result *a, const struct engine_result *b)
{
    return memcmp(a, b, offsetof(struct engine_result, lines)) == 0 &&
           memcmp(a->lines, b->lines, sizeof(a->lines[0]) * (size_t)a->nlines) == 0 &&
           memcmp(a->applied, b->applied, sizeof(a->applied[0]) * (size_t)a->napplied) == 0;
}

#endif
