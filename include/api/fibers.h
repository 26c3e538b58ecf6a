/*
 * fibers.h - the glue between core/fiber.h and a worker's event loop: the
 * loop watches the descriptors its fibers wait on (their database
 * sockets) and continues each fiber when its descriptor is ready.
 */
#ifndef LY_API_FIBERS_H
#define LY_API_FIBERS_H

/* Installs the watcher on the calling worker (once; cheap afterwards). */
void api_fibers_enter(void);

/* The worker's hooks: continue the fibers woken during the turn; at its
 * end, free what the worker's fibers kept. */
void api_fibers_turn(void);
void api_fibers_worker_end(void);

#endif
