/*
 * json_mem.h - jansson's allocator: a request body's values in its arena.
 *
 * json_mem_init() installs the allocator once, before any thread and any
 * other jansson call.  json_mem_loadb() then parses into an arena: the
 * values go when the arena is reset, and need no json_decref.  Every other
 * jansson value still comes from malloc and is freed by json_decref.
 *
 * With the allocator installed, what jansson hands out is not free()'s to
 * free: text is made with json_mem_dumps(), never json_dumps().
 */
#ifndef LY_CORE_JSON_MEM_H
#define LY_CORE_JSON_MEM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct arena;

/* Installs the allocator (json_set_alloc_funcs); at the start of main(). */
void json_mem_init(void);

/* json_loadb() whose values live in `a` (borrowed; the values are its) when
 * the allocator is installed, else plain json_loadb().  Nothing that
 * outlives `a` may keep a reference to them, and nothing may be added to
 * them: a value set into them later comes from malloc, and would leak with
 * a body that is never json_decref'd (LeakSanitizer reports it). */
json_t *json_mem_loadb(struct arena *a, const char *buf, size_t len, size_t flags,
                       json_error_t *error);

/* json_dumps(): the text (new allocation, the caller's to free(); NULL when
 * `v` cannot be encoded with `flags`). */
char *json_mem_dumps(const json_t *v, size_t flags);

/* Whether json_mem_loadb() puts its values in the arena (json_mem_init()
 * ran), so that their owner may skip json_decref. */
bool json_mem_in_arena(void);

#endif
