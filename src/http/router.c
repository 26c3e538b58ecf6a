/*
 * router.c - segment-by-segment matching of paths against route templates.
 *
 * The table is small (a few dozen routes) and scanned linearly: a trie would
 * cost more code than the microsecond it could save.  Must not know any
 * particular route: those live in src/api/routes.c.
 */
#include "http/router.h"

#include <stdio.h>
#include <string.h>

enum http_method router_method_of(const char *name)
{
    static const struct {
        const char *name;
        enum http_method m;
    } names[] = {
        {"GET", HTTP_GET},     {"POST", HTTP_POST},     {"PUT", HTTP_PUT},
        {"PATCH", HTTP_PATCH}, {"DELETE", HTTP_DELETE}, {"HEAD", HTTP_HEAD},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (0 == strcmp(name, names[i].name))
            return names[i].m;
    return HTTP_OTHER;
}

/*
 * Does `path` match template `tpl`?  On a match, records the parameter
 * segments as (start, length) pairs.
 */
static bool path_matches(const char *tpl, const char *path, const char **pstart, size_t *plen,
                         int *np)
{
    *np = 0;
    while (*tpl != '\0' && *path != '\0') {
        if (*tpl != '/' || *path != '/')
            return false;
        tpl++;
        path++;
        if (*tpl == '{') {
            const char *tend = strchr(tpl, '}');
            const char *pend = strchr(path, '/');
            size_t len = pend ? (size_t)(pend - path) : strlen(path);

            if (tend == NULL || len == 0 || *np >= REQ_MAX_PARAMS)
                return false;
            pstart[*np] = path;
            plen[*np] = len;
            (*np)++;
            tpl = tend + 1;
            path += len;
        } else {
            const char *tend = strchr(tpl, '/');
            size_t tlen = tend ? (size_t)(tend - tpl) : strlen(tpl);

            if (strncmp(tpl, path, tlen) != 0 || (path[tlen] != '/' && path[tlen] != '\0'))
                return false;
            tpl += tlen;
            path += tlen;
        }
    }
    return *tpl == '\0' && *path == '\0';
}

int router_match(const struct route *routes, size_t n, enum http_method method, const char *path,
                 struct arena *a, const char **params, int *nparams, unsigned *allow)
{
    enum http_method want = method == HTTP_HEAD ? HTTP_GET : method;
    const char *pstart[REQ_MAX_PARAMS];
    size_t plen[REQ_MAX_PARAMS];
    int np;

    *allow = 0;
    *nparams = 0;
    /* The method is compared first: a request only walks the paths of its
     * own method, and only a miss walks the others (for a 405's Allow). */
    for (size_t i = 0; i < n; i++) {
        if (routes[i].method != want || !path_matches(routes[i].path, path, pstart, plen, &np))
            continue;
        for (int k = 0; k < np; k++)
            params[k] = arena_strndup(a, pstart[k], plen[k]);
        *nparams = np;
        return (int)i;
    }
    for (size_t i = 0; i < n; i++)
        if (path_matches(routes[i].path, path, pstart, plen, &np))
            *allow |= (unsigned)routes[i].method;
    return *allow ? ROUTER_METHOD_NOT_ALLOWED : ROUTER_NOT_FOUND;
}

void router_allow_header(unsigned allow, char *dst, size_t n)
{
    static const struct {
        enum http_method m;
        const char *name;
    } order[] = {
        {HTTP_GET, "GET"}, {HTTP_HEAD, "HEAD"},   {HTTP_POST, "POST"},
        {HTTP_PUT, "PUT"}, {HTTP_PATCH, "PATCH"}, {HTTP_DELETE, "DELETE"},
    };
    size_t o = 0;

    if (n == 0)
        return;
    dst[0] = '\0';
    if (allow & HTTP_GET)
        allow |= HTTP_HEAD;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        int w;

        if (!(allow & (unsigned)order[i].m))
            continue;
        w = snprintf(dst + o, n - o, "%s%s", o ? ", " : "", order[i].name);
        if (w < 0 || (size_t)w >= n - o)
            return;
        o += (size_t)w;
    }
}
