/*
 * secret.c - random credentials and codes, and SHA-256 through OpenSSL's
 * libcrypto (already linked by libpq, and maintained far better than a hash
 * we would write ourselves).
 */
#include "api/secret.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "core/xmalloc.h"

void secret_random(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);

        ly_assert(got > 0);
        p += got;
        n -= (size_t)got;
    }
}

void secret_token(char *dst, const char *prefix, size_t nchars, const char *alphabet)
{
    size_t k = strlen(alphabet);
    size_t plen = strlen(prefix);
    unsigned limit;
    unsigned char pool[64];
    size_t used = sizeof(pool);

    ly_assert(k > 0 && k <= 256);
    /* Largest multiple of k below 256: bytes at or above it are redrawn.
     * (cppcheck does not see that ly_assert stops the process when k is 0.) */
    /* cppcheck-suppress zerodivcond */
    limit = 256u - (256u % (unsigned)k);
    memcpy(dst, prefix, plen);
    for (size_t i = 0; i < nchars;) {
        if (used == sizeof(pool)) {
            secret_random(pool, sizeof(pool));
            used = 0;
        }
        if (pool[used] < limit)
            dst[plen + i++] = alphabet[pool[used] % k];
        used++;
    }
    dst[plen + nchars] = '\0';
}

void secret_digits(char *dst, size_t ndigits)
{
    ly_assert(ndigits > 0);
    secret_token(dst, "", 1, "123456789");
    secret_token(dst + 1, "", ndigits - 1, "0123456789");
}

/*
 * OpenSSL 3 looks the algorithm up on every EVP_sha256()-based digest; every
 * authenticated request hashes its token, so the implementation is fetched
 * once (thread-safe: EVP_MD_fetch may race, both results are equal and the
 * loser is freed).
 */
static EVP_MD *sha256_md(void)
{
    static _Atomic(EVP_MD *) md;
    EVP_MD *m = md;
    EVP_MD *expected = NULL;

    if (m != NULL)
        return m;
    m = EVP_MD_fetch(NULL, "SHA256", NULL);
    ly_assert(m != NULL);
    if (!atomic_compare_exchange_strong(&md, &expected, m)) {
        EVP_MD_free(m);
        m = expected;
    }
    return m;
}

static void sha256(const char *s, unsigned char md[32])
{
    unsigned int len = 0;

    ly_assert(EVP_Digest(s, strlen(s), md, &len, sha256_md(), NULL) == 1 && len == 32);
}

void secret_hash_hex(const char *s, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[32];

    sha256(s, md);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0xf];
    }
    hex[64] = '\0';
}

void secret_hash_bytea(const char *s, char out[67])
{
    out[0] = '\\';
    out[1] = 'x';
    secret_hash_hex(s, out + 2);
}
