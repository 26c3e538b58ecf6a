/*
 * test_router.c - route matching, 404 versus 405, Allow headers, and the
 * real route table's invariants.
 */
#include "api/app.h"
#include "check.h"
#include "http/router.h"

static int h(struct req *rq, struct resp *rs, struct err *e)
{
    (void)rq;
    (void)rs;
    (void)e;
    return 0;
}

static const struct route table[] = {
    {HTTP_GET, "/v1/members", h, ROLE_ADMIN, 0},
    {HTTP_POST, "/v1/members", h, ROLE_ADMIN, ROUTE_TX},
    {HTTP_GET, "/v1/members/{id}", h, ROLE_ADMIN, 0},
    {HTTP_PATCH, "/v1/members/{id}", h, ROLE_ADMIN, ROUTE_TX},
    {HTTP_POST, "/v1/members/{id}/tokens", h, ROLE_ADMIN, ROUTE_TX},
    {HTTP_POST, "/v1/redemptions/{id}/cancel", h, ROLE_ADMIN, ROUTE_TX},
};
#define N (sizeof(table) / sizeof(table[0]))

static void test_match(void)
{
    struct arena a;
    const char *params[REQ_MAX_PARAMS];
    int np;
    unsigned allow;

    arena_init(&a);
    CHECK_EQ_I64(router_match(table, N, HTTP_GET, "/v1/members", &a, params, &np, &allow), 0);
    CHECK_EQ_I64(np, 0);
    CHECK_EQ_I64(router_match(table, N, HTTP_POST, "/v1/members", &a, params, &np, &allow), 1);
    CHECK_EQ_I64(router_match(table, N, HTTP_GET, "/v1/members/mem_7", &a, params, &np, &allow), 2);
    CHECK_EQ_I64(np, 1);
    CHECK_STREQ(params[0], "mem_7");
    CHECK_EQ_I64(
        router_match(table, N, HTTP_POST, "/v1/members/mem_9/tokens", &a, params, &np, &allow), 4);
    CHECK_STREQ(params[0], "mem_9");
    CHECK_EQ_I64(
        router_match(table, N, HTTP_POST, "/v1/redemptions/r_1/cancel", &a, params, &np, &allow),
        5);
    /* HEAD is served by GET routes. */
    CHECK_EQ_I64(router_match(table, N, HTTP_HEAD, "/v1/members/x", &a, params, &np, &allow), 2);
    arena_free(&a);
}

static void test_not_found(void)
{
    struct arena a;
    const char *params[REQ_MAX_PARAMS];
    int np;
    unsigned allow;
    static const char *const paths[] = {
        "/",
        "/v1",
        "/v1/",
        "/v1/members/",
        "/v1/members//tokens",
        "/v1/members/x/tokens/y",
        "/v1/memberss",
        "/v1/member",
        "//v1/members",
        "/v2/members",
        "",
        "/v1/members/x/",
        "/v1/redemptions/x",
    };

    arena_init(&a);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        int r = router_match(table, N, HTTP_GET, paths[i], &a, params, &np, &allow);

        if (r != ROUTER_NOT_FOUND)
            fprintf(stderr, "path %s\n", paths[i]);
        CHECK_EQ_I64(r, ROUTER_NOT_FOUND);
    }
    arena_free(&a);
}

static void test_method_not_allowed(void)
{
    struct arena a;
    const char *params[REQ_MAX_PARAMS];
    int np;
    unsigned allow;
    char hdr[64];

    arena_init(&a);
    CHECK_EQ_I64(router_match(table, N, HTTP_DELETE, "/v1/members", &a, params, &np, &allow),
                 ROUTER_METHOD_NOT_ALLOWED);
    router_allow_header(allow, hdr, sizeof(hdr));
    CHECK_STREQ(hdr, "GET, HEAD, POST");
    CHECK_EQ_I64(router_match(table, N, HTTP_PUT, "/v1/members/1", &a, params, &np, &allow),
                 ROUTER_METHOD_NOT_ALLOWED);
    router_allow_header(allow, hdr, sizeof(hdr));
    CHECK_STREQ(hdr, "GET, HEAD, PATCH");
    CHECK_EQ_I64(router_match(table, N, HTTP_GET, "/v1/members/1/tokens", &a, params, &np, &allow),
                 ROUTER_METHOD_NOT_ALLOWED);
    router_allow_header(allow, hdr, sizeof(hdr));
    CHECK_STREQ(hdr, "POST");
    CHECK_EQ_I64(router_match(table, N, HTTP_OTHER, "/v1/members", &a, params, &np, &allow),
                 ROUTER_METHOD_NOT_ALLOWED);
    arena_free(&a);
}

static void test_method_names(void)
{
    CHECK_EQ_I64(router_method_of("GET"), HTTP_GET);
    CHECK_EQ_I64(router_method_of("PATCH"), HTTP_PATCH);
    CHECK_EQ_I64(router_method_of("get"), HTTP_OTHER);
    CHECK_EQ_I64(router_method_of("BREW"), HTTP_OTHER);
}

/* The real table: no two routes share (method, path); every POST runs in a
 * transaction (so it can honour Idempotency-Key); only health is public. */
static void test_real_table(void)
{
    for (size_t i = 0; i < api_nroutes; i++) {
        const struct route *r = &api_routes[i];

        for (size_t j = i + 1; j < api_nroutes; j++)
            CHECK(!(r->method == api_routes[j].method && 0 == strcmp(r->path, api_routes[j].path)));
        if (r->method == HTTP_POST || r->method == HTTP_PATCH || r->method == HTTP_DELETE ||
            r->method == HTTP_PUT)
            CHECK(r->flags & ROUTE_TX);
        if (r->roles == ROLE_NONE)
            CHECK(strncmp(r->path, "/v1/", 4) != 0);
        else
            CHECK(strncmp(r->path, "/v1/", 4) == 0);
    }
}

int main(void)
{
    test_match();
    test_not_found();
    test_method_not_allowed();
    test_method_names();
    test_real_table();
    return check_report();
}
