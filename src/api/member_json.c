/*
 * member_json.c - renders a stored member as the contract's Member object.
 *
 * Must not read request input or the database: it only formats what the
 * store returned.  The enrolling store is internal and never shown.
 */
#include "api/member_json.h"

#include <inttypes.h>
#include <stdio.h>

void member_id_format(char *dst, size_t n, int64_t id)
{
    snprintf(dst, n, MEMBER_ID_PREFIX "%" PRId64, id);
}

json_t *member_json(const struct member *m)
{
    char id[24];
    char referred_by[24];

    member_id_format(id, sizeof(id), m->id);
    if (m->referred_by != 0)
        member_id_format(referred_by, sizeof(referred_by), m->referred_by);
    /* json_pack fails as a whole (NULL) on any allocation failure, which is
     * the one check the caller needs; "s?" renders a NULL string as null. */
    return json_pack(
        "{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:s, s:I, s:s, s:s?, s:s, s:s, s:s?, s:s?}", "id",
        id, "card_number", m->card_number, "name", m->name, "phone", m->phone, "email", m->email,
        "birthday", m->birthday, "status", m->status, "tier", m->tier, "points_balance",
        (json_int_t)m->points_balance, "referral_code", m->referral_code, "referred_by",
        m->referred_by != 0 ? referred_by : NULL, "enrolled_at", m->enrolled_at, "updated_at",
        m->updated_at, "segment", m->segment, "lifecycle_stage", m->lifecycle_stage);
}
