/*
 * test_secret.c - credentials and codes (api/secret.h): shape of generated
 * tokens, alphabets, digits, and SHA-256 against published test vectors.
 */
#include <stdbool.h>
#include <string.h>

#include "api/secret.h"
#include "check.h"

#define ALNUM "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

static bool all_in(const char *s, const char *alphabet)
{
    return strspn(s, alphabet) == strlen(s);
}

static void test_token_shape(void)
{
    char a[64], b[64];

    secret_token(a, "lk_", 40, ALNUM);
    CHECK_EQ_I64(strlen(a), 43);
    CHECK(strncmp(a, "lk_", 3) == 0);
    CHECK(all_in(a + 3, ALNUM));

    secret_token(b, "lk_", 40, ALNUM);
    CHECK(strcmp(a, b) != 0);

    secret_token(a, "", 10, ALNUM);
    CHECK_EQ_I64(strlen(a), 10);
    CHECK(all_in(a, ALNUM));

    secret_token(a, "lm_", 0, ALNUM);
    CHECK_STREQ(a, "lm_");
}

/* No character outside the alphabet, and every one of them shows up. */
static void test_token_alphabet(void)
{
    char buf[4096 + 1];
    size_t k = strlen(SECRET_READABLE);
    bool seen[256] = {false};
    size_t nseen = 0;

    secret_token(buf, "", 4096, SECRET_READABLE);
    CHECK_EQ_I64(strlen(buf), 4096);
    CHECK(all_in(buf, SECRET_READABLE));
    CHECK(strpbrk(buf, "01OIL") == NULL);
    CHECK(strpbrk(SECRET_READABLE, "01OIL") == NULL);
    for (size_t i = 0; i < 4096; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (!seen[c])
            nseen++;
        seen[c] = true;
    }
    /* 4096 draws over 31 symbols: missing one has probability ~ 31 * e^-132. */
    CHECK_EQ_I64(nseen, k);
}

/*
 * Rejection sampling gives every symbol the same chance.  With 3 symbols
 * (256 % 3 != 0, so plain modulo would favour the first one) each count of
 * 30000 draws stays within 10% of 10000: about 12 standard deviations.
 */
static void test_token_uniform(void)
{
    static char buf[30000 + 1];
    long counts[3] = {0, 0, 0};

    secret_token(buf, "", 30000, "abc");
    for (size_t i = 0; i < 30000; i++)
        counts[buf[i] - 'a']++;
    for (int i = 0; i < 3; i++)
        CHECK(counts[i] > 9000 && counts[i] < 11000);

    secret_token(buf, "", 100, "x");
    CHECK(all_in(buf, "x"));
    CHECK_EQ_I64(strlen(buf), 100);
}

static void test_digits(void)
{
    char d[40];

    for (int i = 0; i < 200; i++) {
        secret_digits(d, 12);
        CHECK_EQ_I64(strlen(d), 12);
        CHECK(all_in(d, "0123456789"));
        CHECK(d[0] != '0');
    }
    secret_digits(d, 1);
    CHECK_EQ_I64(strlen(d), 1);
    CHECK(d[0] >= '1' && d[0] <= '9');
    secret_digits(d, 32);
    CHECK_EQ_I64(strlen(d), 32);
}

static void test_random(void)
{
    unsigned char a[64], b[64];
    static const unsigned char zero[64];

    secret_random(a, sizeof(a));
    secret_random(b, sizeof(b));
    CHECK(memcmp(a, zero, sizeof(a)) != 0);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    /* A zero-length request is a no-op, not a hang. */
    secret_random(a, 0);
}

/* FIPS 180-2 / NIST test vectors. */
static void test_sha256(void)
{
    char hex[65], bytea[67];

    secret_hash_hex("abc", hex);
    CHECK_STREQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    secret_hash_hex("", hex);
    CHECK_STREQ(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    secret_hash_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    CHECK_STREQ(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK_EQ_I64(strlen(hex), 64);

    secret_hash_bytea("abc", bytea);
    CHECK_STREQ(bytea, "\\xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_EQ_I64(strlen(bytea), 66);

    /* UTF-8 input is hashed byte for byte. */
    secret_hash_hex("\xe7\x8e\x8b", hex);
    CHECK_EQ_I64(strlen(hex), 64);
    CHECK(all_in(hex, "0123456789abcdef"));
}

int main(void)
{
    test_token_shape();
    test_token_alphabet();
    test_token_uniform();
    test_digits();
    test_random();
    test_sha256();
    return check_report();
}
