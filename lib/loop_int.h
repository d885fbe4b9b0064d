/*
 * loop_int.h - internal: what the loop's other components (signals, later
 * streams) need from it.
 */
#ifndef POOLEV_LOOP_INT_H
#define POOLEV_LOOP_INT_H

#include "poolev/loop.h"

struct pevi_signals;

/* The loop's signal state. */
struct pevi_signals *pevi_loop_signals(pev_loop_t *loop);

/* The loop's own pool (the default lifetime). */
apr_pool_t *pevi_loop_pool(pev_loop_t *loop);

#endif /* POOLEV_LOOP_INT_H */
