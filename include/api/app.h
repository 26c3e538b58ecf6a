/*
 * app.h - what the API layer gives the HTTP server: the route table and the
 * hooks that wrap every handler (authentication, the per-request database
 * connection, transactions and Idempotency-Key replays).
 */
#ifndef LY_API_APP_H
#define LY_API_APP_H

#include <stdbool.h>

#include "core/cfg.h"
#include "http/server.h"
#include "store/idempotency.h"

/* The route table, in openapi.yaml order (routes.c). */
extern const struct route api_routes[];
extern const size_t api_nroutes;

/* The hooks for http_server_start; `c` is borrowed for the app's life. */
const struct http_app *api_app(const struct cfg *c);

/*
 * The request's database connection, acquired on first use and released by
 * the app when the request is done.  Inside a ROUTE_TX route it is already in
 * the request's transaction.  Returns NULL with ERR_UNAVAILABLE.
 */
struct db *api_db(struct req *rq, struct err *e);

/*
 * Whether a ROUTE_TX handler may end the request's transaction itself, with
 * its last statements (db_flush_commit): true when the app has nothing to
 * add after the handler, i.e. no Idempotency-Key record to store.  A
 * handler that does commit must write nothing after it; if it then fails,
 * its answer is still the problem it returns, and what it wrote stays.
 */
bool api_tx_ends_with_handler(const struct req *rq);

/*
 * For a ROUTE_GATHERS handler: the request's Idempotency-Key record, not
 * claimed yet (borrowed until the handler returns), or NULL when it names
 * none or the app has claimed it.  A handler given one either records the
 * request in a group, which claims the key, stores the answer in the same
 * transaction and answers with the stored text (api_send_text), or
 * returns API_RUN_AGAIN having done nothing: the app then claims the key
 * in the request's own transaction and runs the handler again.
 */
const struct idem_key *api_idem_unclaimed(const struct req *rq);
#define API_RUN_AGAIN 1

/* Answers a request whose key is already recorded: the stored answer when
 * it is the same request (0), else 422 idempotency_key_reused (-1). */
int api_idem_replay(struct resp *rs, const struct idem_record *rec, struct err *e);

/* The text of the answer in `rs`, or of the problem `e` when not NULL, as
 * the app sends and stores it; *status is its status.  Returns malloc'd
 * text (the caller owns it). */
char *api_render(struct req *rq, struct resp *rs, const struct err *e, int *status);

/*
 * Answers a stored JSON response body (an Idempotency-Key replay, a POS id
 * replay, a recorded purchase): the bytes as they were first sent, not
 * parsed again.  Steals `text` (malloc'd); an empty text is a bodiless
 * answer.
 */
void api_send_text(struct resp *rs, int status, char *text);

#endif
