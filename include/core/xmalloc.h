/*
 * xmalloc.h - allocation that aborts on out-of-memory.
 *
 * Out of memory is not an error a request can recover from (redis zmalloc,
 * postgres palloc), so callers never check for NULL.  Every returned pointer
 * is a new allocation owned by the caller and released with free().
 */
#ifndef LY_CORE_XMALLOC_H
#define LY_CORE_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size); /* checks count * size for overflow */
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Aborts with file:line and a message: for broken invariants (bugs) only. */
#define ly_assert(cond) ((cond) ? (void)0 : ly_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void ly_assert_fail(const char *what, const char *file, int line);

#endif
