/*
 * posting.h - a ledger posting with the calendar of the active rules: the
 * one place the API layer turns a rule set into a posting's time zone,
 * expiry and pending period.  Header only; no state.
 */
#ifndef LY_API_POSTING_H
#define LY_API_POSTING_H

#include <string.h>

#include "rules/rules.h"
#include "store/ledger.h"

/* A posting of `nmoves` moves (borrowed) for `member_id` under rules `r`
 * (borrowed: keep the snapshot held while the posting is used). */
static inline struct ledger_posting api_posting(const struct rules *r, int64_t member_id,
                                                int nmoves, const struct ledger_move *moves)
{
    struct ledger_posting p;

    memset(&p, 0, sizeof(p));
    p.member_id = member_id;
    p.timezone = r->timezone;
    p.expiry_months = r->expiry_months;
    p.pending_days = r->pending_days;
    p.nmoves = nmoves;
    p.moves = moves;
    return p;
}

#endif
