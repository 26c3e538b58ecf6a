/*
 * test_auth_cache.c - api/auth_cache.h: a cached credential is found until
 * a flush, its expiry or its maximum age; a look-up that saw an older
 * generation fills nothing; and a full cache gives up its oldest entries
 * one at a time, never all at once.
 */
#include <stdio.h>
#include <string.h>

#include "api/auth_cache.h"
#include "check.h"

/* A hash whose set is `i` modulo the sets and which differs for every i. */
static void hex_of(unsigned long i, char hex[65])
{
    snprintf(hex, 65, "%016lx%048lx", i, i);
}

static struct principal member(int64_t id)
{
    struct principal p;

    memset(&p, 0, sizeof(p));
    p.role = ROLE_MEMBER;
    p.member_id = id;
    return p;
}

static void test_found_until_flush_expiry_or_age(void)
{
    struct principal who, p = member(42);
    char hex[65];

    hex_of(7, hex);
    auth_cache_put(hex, auth_cache_gen(), 1000, 500, &p);
    CHECK(auth_cache_get(hex, 999, 500 + AUTH_CACHE_MAX_AGE_S - 1, &who));
    CHECK_EQ_I64(who.member_id, 42);
    CHECK(!auth_cache_get(hex, 1000, 500, &who));                       /* expired */
    CHECK(!auth_cache_get(hex, 999, 500 + AUTH_CACHE_MAX_AGE_S, &who)); /* too old */
    auth_cache_flush();
    CHECK(!auth_cache_get(hex, 999, 500, &who));
}

static void test_no_fill_after_a_flush(void)
{
    struct principal who, p = member(1);
    char hex[65];
    uint64_t seen = auth_cache_gen();

    hex_of(8, hex);
    auth_cache_flush(); /* a revocation while the look-up ran */
    auth_cache_put(hex, seen, INT64_MAX, 0, &p);
    CHECK(!auth_cache_get(hex, 0, 0, &who));
}

static void test_same_credential_replaced_in_place(void)
{
    struct principal who, p = member(1), q = member(2);
    char hex[65];

    auth_cache_flush();
    hex_of(9, hex);
    auth_cache_put(hex, auth_cache_gen(), INT64_MAX, 0, &p);
    auth_cache_put(hex, auth_cache_gen(), INT64_MAX, 1, &q);
    CHECK(auth_cache_get(hex, 0, 1, &who));
    CHECK_EQ_I64(who.member_id, 2);
    /* It took one way, not two: the other ways still hold their own. */
    for (unsigned long k = 1; k < AUTH_CACHE_WAYS; k++) {
        char other[65];

        hex_of(9 + k * AUTH_CACHE_SETS, other);
        p = member((int64_t)k);
        auth_cache_put(other, auth_cache_gen(), INT64_MAX, 2, &p);
    }
    CHECK(auth_cache_get(hex, 0, 2, &who));
    for (unsigned long k = 1; k < AUTH_CACHE_WAYS; k++) {
        char other[65];

        hex_of(9 + k * AUTH_CACHE_SETS, other);
        CHECK(auth_cache_get(other, 0, 2, &who));
    }
}

/* More credentials than the cache holds, one per second: afterwards the
 * newest that fit are all found, and only the oldest went, one by one. */
static void test_full_cache_drops_the_oldest(void)
{
    const unsigned long total = AUTH_CACHE_SETS * AUTH_CACHE_WAYS, extra = 100;
    struct principal who, p;
    char hex[65];
    unsigned long found = 0;

    auth_cache_flush();
    for (unsigned long i = 0; i < total + extra; i++) {
        hex_of(i, hex);
        p = member((int64_t)i);
        auth_cache_put(hex, auth_cache_gen(), INT64_MAX, (int64_t)(i / 1000), &p);
    }
    for (unsigned long i = 0; i < extra; i++) {
        hex_of(i, hex);
        CHECK(!auth_cache_get(hex, 0, 0, &who));
    }
    for (unsigned long i = extra; i < total + extra; i++) {
        hex_of(i, hex);
        if (auth_cache_get(hex, 0, (int64_t)((total + extra) / 1000), &who) &&
            who.member_id == (int64_t)i)
            found++;
    }
    CHECK_EQ_I64((int64_t)found, (int64_t)total);
}

int main(void)
{
    test_found_until_flush_expiry_or_age();
    test_no_fill_after_a_flush();
    test_same_credential_replaced_in_place();
    test_full_cache_drops_the_oldest();
    return check_report();
}
