/*
 * secret.h - credentials and codes from the OS random source, and their
 * SHA-256 hashes (credentials are stored only as hashes).
 */
#ifndef LY_API_SECRET_H
#define LY_API_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define SECRET_HASH_LEN 32
/* Alphabet for codes read aloud: no 0/O, 1/I/L. */
#define SECRET_READABLE "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

/* Fills buf with n bytes from getrandom(2); aborts if the kernel cannot. */
void secret_random(void *buf, size_t n);

/*
 * Writes prefix + `nchars` characters drawn uniformly from `alphabet`
 * (rejection sampling, no modulo bias) into dst, NUL-terminated.
 * dst must hold strlen(prefix) + nchars + 1 bytes.
 */
void secret_token(char *dst, const char *prefix, size_t nchars, const char *alphabet);

/* A random card number of `ndigits` digits (first digit non-zero). */
void secret_digits(char *dst, size_t ndigits);

/* SHA-256 of s, as 64 lowercase hex characters plus NUL into hex[65]. */
void secret_hash_hex(const char *s, char hex[65]);

/* The same as a PostgreSQL bytea hex literal ("\\x..." text form, 67 bytes). */
void secret_hash_bytea(const char *s, char out[67]);

#endif
