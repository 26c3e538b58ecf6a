/*
 * health.h - what /readyz needs to know that only start-up knows.
 */
#ifndef LY_API_HEALTH_H
#define LY_API_HEALTH_H

/* The newest migration version this binary ships (set once at start). */
void health_set_expected_schema(int version);

#endif
