/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bridge_int.h - internal: the hiredis adapter on poolev's loop
 * (lib/redis_adapter.c), used by the bridge (lib/bridge.c).
 */
#ifndef POOLEV_BRIDGE_INT_H
#define POOLEV_BRIDGE_INT_H

#include "config.h"

#ifdef HAVE_HIREDIS
#include <hiredis.h>
#include <async.h>

#include "poolev/loop.h"
#include "poolev/watch.h"

/* The adapter of one redisAsyncContext: the descriptor's watcher, created
 * in @a pool. hiredis owns the record through ac->ev.data (malloc'd) and
 * frees it in its cleanup callback; pevi_redis_detach() makes it inert
 * (the pool is going: the watcher must not be touched again). */
typedef struct pevi_redis_ev pevi_redis_ev_t;

/* Attach @a ac to @a loop; the watcher is allocated from @a pool.
 * @return APR_SUCCESS; APR_EEXIST if @a ac has an adapter; APR_ENOMEM;
 *         an error of pev_watch_add_fd(). */
apr_status_t pevi_redis_attach(redisAsyncContext *ac, pev_loop_t *loop, apr_pool_t *pool);

/* The pool of @a ac's watcher is being cleared: forget the watcher (every
 * later addRead, delRead, ... of hiredis is a no-op). */
void pevi_redis_detach(redisAsyncContext *ac);
#endif

#endif /* POOLEV_BRIDGE_INT_H */
