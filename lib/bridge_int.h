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

/*
 * The adapter of one redisAsyncContext (hiredis's ac->ev, as its
 * adapters/libevent.h does for libevent): addRead, delRead, addWrite and
 * delWrite set the interest of a poolev watcher of the context's
 * descriptor, and the watcher's callback calls redisAsyncHandleRead() and
 * redisAsyncHandleWrite(). hiredis 0.14 has no timer hook: the bridge's
 * timeouts are its own loop timers.
 *
 * The record is malloc'd and hiredis owns it through ac->ev.data: its
 * cleanup callback (run inside __redisAsyncFree, whichever way the context
 * goes: redisAsyncFree(), a disconnect after an error, a failed connect)
 * removes the watcher, calls @a gone, and frees the record (after the
 * watcher's callback returned, if the context went inside it).
 *
 * The adapter also gives the context's reader object functions of its own:
 * replies are made in an arena of the record, reset when hiredis frees the
 * reply after its callback (no allocation per reply), so a reply is valid
 * during its callback only, as with hiredis's own functions. And it gives
 * back a reader buffer that grew for a large reply once all of it was read.
 */
/* The context @a ac is being freed by hiredis: called from its cleanup
 * callback, once; @a ac is valid memory during the call, but may not be
 * given to any hiredis call (above all not redisAsyncFree()). */
typedef void pevi_redis_gone_fn(void *arg, redisAsyncContext *ac);

/* Attach @a ac to @a loop; the watcher is allocated from @a pool.
 * @return APR_SUCCESS; APR_EEXIST if @a ac has an adapter; APR_ENOMEM;
 *         an error of pev_watch_add_fd() (PEV_EDESTROYED: the loop is
 *         gone). On an error nothing is attached. */
apr_status_t pevi_redis_attach(redisAsyncContext *ac, pev_loop_t *loop, apr_pool_t *pool,
                               pevi_redis_gone_fn *gone, void *arg);

/* The pool of @a ac's watcher is going: remove the watcher now; hiredis's
 * later addRead, delRead, ... are no-ops (the context is about to be
 * freed). No-op for a context without an adapter. */
void pevi_redis_detach(redisAsyncContext *ac);

/* Write what hiredis holds for @a ac now, instead of at the end of the
 * iteration (the connected socket's usual path, see add_write()). No-op
 * when nothing waits for that write: no output, a connect or a full socket
 * polled for room, or a call from inside @a ac's own callback. A write
 * error ends the context as at the end of the iteration would (hiredis
 * frees it; the adapter's gone callback runs from inside this call). */
void pevi_redis_write_now(redisAsyncContext *ac);

/* Quiet: what @a ac receives does not wake the loop (a socket low-water
 * mark far above a reply's size; end of file and errors still do), and
 * waits to be read by pevi_redis_read_soon() or pevi_redis_read_now().
 * For replies that nobody waits for and that always come with something
 * else that does wake the loop (the bridge's PUBLISH replies, with the
 * message's echo on the subscribing connection). Off again: what came
 * meanwhile is read at the end of the iteration. */
void pevi_redis_quiet(redisAsyncContext *ac, int on);

/* Call @a fn before each read of @a ac (its socket reported readable, or a
 * read asked for), outside hiredis: it may not free anything; it may call
 * pevi_redis_read_soon() on another context. NULL: none. */
void pevi_redis_on_readable(redisAsyncContext *ac, void (*fn)(void *arg), void *arg);

/* Read what @a ac has received at the end of this iteration, as if it had
 * been reported readable (nothing there: nothing happens). */
void pevi_redis_read_soon(redisAsyncContext *ac);

/* Read what @a ac has received now; no-op from inside @a ac's own
 * callback or while hiredis does not read it (connecting). hiredis may
 * free the context from inside (end of file, an error): the gone callback
 * runs then. */
void pevi_redis_read_now(redisAsyncContext *ac);
#endif

#endif /* POOLEV_BRIDGE_INT_H */
