/*
 * json_mem.c - jansson's allocator: a request body's values in its arena.
 *
 * jansson makes every object, key, string and number an allocation of its
 * own: about sixty for a purchase's body, each a malloc and a free, and a
 * json_decref walk over the tree at the end.  A body is parsed once and
 * dropped with its request, so its values come from the request's arena
 * instead and go with it.  Values made any other way (responses, the rules
 * document) still come from malloc.
 *
 * Each allocation starts with a header that says where it came from: jansson
 * frees what a parse outgrows (its string buffers, a rehashed table) and
 * what a handler deletes, and only malloc's reach free().  For the same
 * reason text is dumped into a buffer of our own: json_dumps' string
 * carries the header, and its callers would free() it.
 *
 * Must not: let an arena's values outlive their request (no cache, job or
 * other request may keep one); parse on another thread's arena.  Handlers
 * read a body and never add to it (checked: no json_object_set or
 * json_array_append on a request's body); what they would add would come
 * from malloc, outside the arena, and leak.
 */
#include "core/json_mem.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/xmalloc.h"

/* Keeps the value behind it aligned as malloc's are. */
#define HEADER ((size_t)alignof(max_align_t))

enum origin { FROM_MALLOC = 0x4d414c4c, FROM_ARENA = 0x4152454e };

/* The arena of the parse running on this thread; NULL outside one. */
static _Thread_local struct arena *parse_arena;
static bool installed;

static void *mem_alloc(size_t n)
{
    unsigned char *p;

    if (n > SIZE_MAX - HEADER)
        return NULL;
    if (parse_arena != NULL) {
        p = arena_alloc(parse_arena, n + HEADER);
        *(uint32_t *)(void *)p = FROM_ARENA;
    } else {
        p = malloc(n + HEADER);
        if (p == NULL)
            return NULL; /* jansson reports it as its own failure */
        *(uint32_t *)(void *)p = FROM_MALLOC;
    }
    return p + HEADER;
}

static void mem_free(void *value)
{
    unsigned char *p;
    uint32_t origin;

    if (value == NULL)
        return;
    p = (unsigned char *)value - HEADER;
    origin = *(uint32_t *)(void *)p;
    if (origin == FROM_MALLOC)
        free(p);
    else
        ly_assert(origin == FROM_ARENA); /* the arena frees it */
}

void json_mem_init(void)
{
    json_set_alloc_funcs(mem_alloc, mem_free);
    installed = true;
}

json_t *json_mem_loadb(struct arena *a, const char *buf, size_t len, size_t flags,
                       json_error_t *error)
{
    json_t *v;

    if (!installed)
        return json_loadb(buf, len, flags, error);
    parse_arena = a;
    v = json_loadb(buf, len, flags, error);
    parse_arena = NULL;
    return v;
}

static int dump_append(const char *text, size_t n, void *out)
{
    buf_append(out, text, n);
    return 0;
}

char *json_mem_dumps(const json_t *v, size_t flags)
{
    struct buf b;

    buf_init(&b);
    if (v == NULL || json_dump_callback(v, dump_append, &b, flags) < 0) {
        buf_cleanup(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

bool json_mem_in_arena(void)
{
    return installed;
}
