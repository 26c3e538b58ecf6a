/*
 * group_keys.c - a group's Idempotency-Keys (api/group_keys.h).
 *
 * Must not know what a group records, or contain SQL.
 */
#include "api/group_keys.h"

#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/gather.h"
#include "core/xmalloc.h"

static int key_cmp(const struct idem_key *a, const struct idem_key *b)
{
    int c = strcmp(a->scope, b->scope);

    if (c == 0)
        c = strcmp(a->method, b->method);
    if (c == 0)
        c = strcmp(a->path, b->path);
    return c != 0 ? c : strcmp(a->key, b->key);
}

static int by_key(const void *x, const void *y)
{
    return key_cmp((*(struct group_key *const *)x)->key, (*(struct group_key *const *)y)->key);
}

bool group_may_join(const struct req *rq, enum gather_kind kind)
{
    return (rq->route->flags & ROUTE_TX) && rq->db == NULL &&
           (api_tx_ends_with_handler(rq) || api_idem_unclaimed(rq) != NULL) &&
           gather_possible(kind);
}

void group_key_take(struct group_key *k, struct req *rq)
{
    k->key = api_idem_unclaimed(rq);
    k->arena = &rq->arena;
    rq->idem_taken = k->key != NULL;
}

int group_keys_claim(struct db *db, struct group_key *const *keys, int n, struct err *e)
{
    struct group_key *keyed[GATHER_MAX];
    int k = 0;

    for (int i = 0; i < n; i++)
        if (keys[i]->key != NULL)
            keyed[k++] = keys[i];
    if (k == 0)
        return 0;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    qsort(keyed, (size_t)k, sizeof(keyed[0]), by_key);
    for (int i = 0; i < k; i++) {
        if (i > 0 && key_cmp(keyed[i - 1]->key, keyed[i]->key) == 0)
            keyed[i]->claim.state = IDEM_IN_PROGRESS;
        else
            store_idem_claim_queue(db, keyed[i]->key, keyed[i]->arena, &keyed[i]->claim);
    }
    return db_flush(db, e);
}

int group_key_claimed(const struct group_key *k, struct resp *rs, struct err *e, int *rc)
{
    if (k->key == NULL || k->claim.state == IDEM_CLAIMED)
        return 1;
    if (k->claim.state == IDEM_IN_PROGRESS)
        return -1;
    *rc = api_idem_replay(rs, &k->claim.rec, e);
    return 0;
}

bool group_key_keep(struct group_key *k, struct req *rq, struct resp *rs, const struct err *e)
{
    if (e != NULL && err_info_of(e->code)->status >= 500) {
        k->release = true;
        return false;
    }
    free(k->text);
    k->text = api_render(rq, rs, e, &k->status);
    k->keep = true;
    return true;
}

void group_key_keep_text(struct group_key *k, int status, const char *text)
{
    free(k->text);
    k->text = xstrdup(text);
    k->status = status;
    k->keep = true;
}

void group_key_queue(struct db *db, const struct group_key *k)
{
    if (k->keep)
        store_idem_finish_queue(db, k->key, k->status, k->text);
    else if (k->release)
        store_idem_release_queue(db, k->key);
}

void group_key_send(struct group_key *k, struct resp *rs)
{
    api_send_text(rs, k->status, k->text);
    k->text = NULL;
    k->keep = false;
}

void group_key_drop(struct group_key *k)
{
    free(k->text);
    k->text = NULL;
    k->keep = false;
}
