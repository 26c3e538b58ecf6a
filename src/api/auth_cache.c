/*
 * auth_cache.c - the credential cache (api/auth_cache.h): sets of
 * AUTH_CACHE_WAYS entries under one reader-writer lock.
 *
 * Must not ask the database, read a clock or decide what is cacheable:
 * api/auth.c does.
 */
#include "api/auth_cache.h"

#include <pthread.h>
#include <string.h>

struct entry {
    uint64_t gen;       /* the entry exists only while this equals cache.gen */
    char hash[64];      /* lowercase hex SHA-256, no NUL */
    int64_t expires_at; /* unix seconds; INT64_MAX for API keys */
    int64_t cached_at;  /* monotonic seconds */
    struct principal who;
};

/* Apart from the lock so that the table stays in .bss. */
static struct entry sets[AUTH_CACHE_SETS][AUTH_CACHE_WAYS];

static struct {
    pthread_rwlock_t lock;
    uint64_t gen; /* 0 is never current: zeroed entries are empty */
} cache = {PTHREAD_RWLOCK_INITIALIZER, 1};

/* SHA-256 output is uniform, so its first 16 hex digits make a fine hash. */
static struct entry *set_of(const char *hex)
{
    uint64_t h = 0;

    for (int i = 0; i < 16; i++) {
        char c = hex[i];

        h = h << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return sets[h & (AUTH_CACHE_SETS - 1)];
}

static bool is_current(const struct entry *s, int64_t now, int64_t mono)
{
    return s->gen == cache.gen && now < s->expires_at && mono - s->cached_at < AUTH_CACHE_MAX_AGE_S;
}

void auth_cache_flush(void)
{
    pthread_rwlock_wrlock(&cache.lock);
    cache.gen++;
    pthread_rwlock_unlock(&cache.lock);
}

uint64_t auth_cache_gen(void)
{
    uint64_t g;

    pthread_rwlock_rdlock(&cache.lock);
    g = cache.gen;
    pthread_rwlock_unlock(&cache.lock);
    return g;
}

bool auth_cache_get(const char *hex, int64_t now, int64_t mono, struct principal *who)
{
    const struct entry *set = set_of(hex);
    bool hit = false;

    pthread_rwlock_rdlock(&cache.lock);
    for (int i = 0; i < AUTH_CACHE_WAYS; i++)
        if (memcmp(set[i].hash, hex, 64) == 0 && is_current(&set[i], now, mono)) {
            *who = set[i].who;
            hit = true;
            break;
        }
    pthread_rwlock_unlock(&cache.lock);
    return hit;
}

void auth_cache_put(const char *hex, uint64_t seen, int64_t expires_at, int64_t mono,
                    const struct principal *who)
{
    struct entry *set = set_of(hex), *victim = NULL;

    pthread_rwlock_wrlock(&cache.lock);
    if (cache.gen != seen)
        goto out;
    /* The same credential's entry, else a dropped one, else the oldest. */
    for (int i = 0; i < AUTH_CACHE_WAYS; i++) {
        struct entry *s = &set[i];

        if (s->gen == cache.gen && memcmp(s->hash, hex, 64) == 0) {
            victim = s;
            break;
        }
        if (victim == NULL || (victim->gen == cache.gen && s->gen != cache.gen) ||
            (victim->gen == s->gen && s->cached_at < victim->cached_at))
            victim = s;
    }
    *victim = (struct entry){cache.gen, {0}, expires_at, mono, *who};
    memcpy(victim->hash, hex, 64);
out:
    pthread_rwlock_unlock(&cache.lock);
}
