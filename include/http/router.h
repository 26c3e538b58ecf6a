/*
 * router.h - matching a method and path against the route table.
 *
 * Pure: no I/O, no allocation beyond the caller's arena.  The table itself is
 * defined once, in src/api/routes.c.
 */
#ifndef LY_HTTP_ROUTER_H
#define LY_HTTP_ROUTER_H

#include <stddef.h>

#include "http/http.h"

#define ROUTER_NOT_FOUND          (-1)
#define ROUTER_METHOD_NOT_ALLOWED (-2)

/*
 * Returns the index of the route for (method, path), filling `params` with
 * arena copies of the "{...}" segments.  HEAD matches GET routes.  Returns
 * ROUTER_NOT_FOUND when no template matches the path, or
 * ROUTER_METHOD_NOT_ALLOWED with the methods that would match in `*allow`.
 */
int router_match(const struct route *routes, size_t n, enum http_method method, const char *path,
                 struct arena *a, const char **params, int *nparams, unsigned *allow);

/* Writes an Allow header value ("GET, PATCH") for a method mask into dst. */
void router_allow_header(unsigned allow, char *dst, size_t n);

/* Maps an HTTP method name to its enum (HTTP_OTHER when unknown). */
enum http_method router_method_of(const char *name);

#endif
