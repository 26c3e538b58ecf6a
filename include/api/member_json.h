/*
 * member_json.h - the Member resource as the contract shows it, and the
 * member id's public spelling ("mem_<n>").
 */
#ifndef LY_API_MEMBER_JSON_H
#define LY_API_MEMBER_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "store/members.h"

/* The prefix of every public member id: ids are opaque strings to clients. */
#define MEMBER_ID_PREFIX "mem_"

/* Writes "mem_<id>" into dst (24 bytes are always enough). */
void member_id_format(char *dst, size_t n, int64_t id);

/*
 * The Member object with exactly the contract's keys, in its order: id,
 * card_number, name, phone, email, birthday, status, tier, points_balance,
 * referral_code, referred_by, enrolled_at, updated_at, then segment and
 * lifecycle_stage (issue 6; null until a snapshot has the member).  `m` is
 * borrowed.
 * Returns a new reference, or NULL when jansson runs out of memory.
 */
json_t *member_json(const struct member *m);

#endif
