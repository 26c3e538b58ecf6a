/*
 * arena.h - a bump allocator with a request lifetime, plus a defer list.
 *
 * Everything allocated from an arena is released at once by arena_reset() or
 * arena_free(); deferred cleanups run then, in reverse order of registration
 * (lwan's coro_defer, postgres memory-context reset callbacks).  Not
 * thread-safe: one arena belongs to one request on one thread.
 */
#ifndef LY_CORE_ARENA_H
#define LY_CORE_ARENA_H

#include <stddef.h>

struct arena_block;
struct arena_defer;

struct arena {
    struct arena_block *head;
    struct arena_defer *defers;
};

void arena_init(struct arena *a);

/* Runs the defers (newest first) and frees every block; `a` stays usable. */
void arena_reset(struct arena *a);

/* Same as arena_reset(); named for the end of the arena's life. */
void arena_free(struct arena *a);

/* Arena-owned memory, aligned for any type; never NULL (aborts on OOM). */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Calls fn(p) when the arena is reset; `p` is borrowed until then. */
void arena_defer(struct arena *a, void (*fn)(void *), void *p);

#endif
