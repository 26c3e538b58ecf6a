/*
 * housekeeping.h - periodic background work of a serving daemon (today:
 * forgetting Idempotency-Key records older than 24 hours).
 */
#ifndef LY_API_HOUSEKEEPING_H
#define LY_API_HOUSEKEEPING_H

/* Starts the background thread; the pool must be initialised. */
void housekeeping_start(void);
/* Stops it promptly (it waits on a condition variable, not a sleep). */
void housekeeping_stop(void);

#endif
