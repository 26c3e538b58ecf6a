/*
 * notify.h - a background listener for PostgreSQL notifications (LISTEN),
 * used to drop in-process caches when another process changes what they
 * hold (channel loyalty_auth today; more channels by passing more names).
 *
 * The listener owns one connection outside the pool.  It calls back
 *   - cb(channel, arg) for every notification on one of its channels, and
 *   - cb(NULL, arg) whenever notifications may have been missed: when the
 *     connection is lost, and again once LISTEN is active on a new
 *     connection (including the first one).
 * A cache that flushes on every call and is only trusted while
 * notify_is_listening() is true never serves anything changed elsewhere
 * longer than the notification takes to arrive.
 *
 * Thread-safety: callbacks run on the listener's own thread, one at a time;
 * notify_is_listening() may be called from any thread.
 */
#ifndef LY_STORE_NOTIFY_H
#define LY_STORE_NOTIFY_H

#include <stdbool.h>

struct notify;

typedef void (*notify_fn)(const char *channel, void *arg);

/*
 * Starts the listener thread.  `url` and `channels` (a NULL-terminated list
 * of channel names) are copied; `arg` is borrowed until notify_stop()
 * returns.  The first connection is made on the listener's thread, so this
 * never waits for the database; failures are retried every 250 ms and
 * logged once per outage.  Returns a new listener, or NULL if no thread
 * could be started.
 */
struct notify *notify_start(const char *url, const char *const *channels, notify_fn cb, void *arg);

/* True while LISTEN is active on a live connection. */
bool notify_is_listening(const struct notify *n);

/*
 * Stops the thread, closes its connection and frees `n` (NULL is fine).
 * Returns at once, unless the thread is inside a connection attempt (then
 * after at most the connect timeout).  No callback runs after it returns.
 */
void notify_stop(struct notify *n);

#endif
