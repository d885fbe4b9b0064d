/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/watch.h - descriptor watchers: a callback when a descriptor the
 * caller owns (an apr_socket_t, an apr_file_t or a raw OS descriptor) is
 * readable or writable. This is how a library with its own sockets (a
 * database or DNS client) is driven by the loop (doc/loop.md, "Watchers").
 *
 * Lifetimes:
 *  - A watcher is owned by the pool given when it is added; its record is
 *    allocated from that pool. Clearing or destroying the pool removes the
 *    watcher before anything of the pool goes (also from inside the
 *    watcher's own callback).
 *  - The watcher never closes, reads or writes its descriptor: the caller
 *    owns it, and removes the watcher (or lets its pool go) before closing
 *    the descriptor.
 *  - When the loop is destroyed first, the watcher becomes inert: it is
 *    never called again and every call on it returns PEV_EDESTROYED; its
 *    memory goes with its pool.
 *  - A watcher with a non-zero interest keeps pev_loop_run() going, like an
 *    open stream (pev_loop_stats() counts it among the streams); a paused
 *    watcher (interest 0) or a removed one does not.
 *
 * Threads: everything here belongs to the loop's thread.
 */
#ifndef POOLEV_WATCH_H
#define POOLEV_WATCH_H

#include <apr_file_io.h>
#include <apr_network_io.h>
#include <apr_poll.h>
#include <apr_pools.h>

#include "poolev/export.h"
#include "poolev/loop.h"
#include "poolev/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A descriptor watcher (opaque). */
typedef struct pev_watch pev_watch_t;

/** Interest and report: the descriptor is readable. */
#define PEV_WATCH_READ  APR_POLLIN
/** Interest and report: the descriptor is writable. */
#define PEV_WATCH_WRITE APR_POLLOUT

/**
 * A watcher callback: the poll reported @a w's descriptor ready. @a events
 * is PEV_WATCH_READ, PEV_WATCH_WRITE or both, never more than the interest
 * at the time of the call. An error or hangup on the descriptor is reported
 * as readable and writable (as far as the interest goes), so the read or
 * write the callback makes meets the error itself.
 *
 * Readiness is level-triggered: a descriptor that stays ready is reported
 * again in the next iteration. The callback may change the interest
 * (pev_watch_set()), remove the watcher, add and remove other watchers,
 * and clear or destroy any pool, the watcher's own included (then it must
 * not touch @a w again), or the loop's.
 */
typedef void pev_watch_fn(pev_watch_t *w, apr_int16_t events, void *user_data);

/**
 * Watch a socket.
 *
 * @param w         out: the watcher (may be NULL; NULL on failure)
 * @param loop      the loop that polls it
 * @param sock      the socket, from @a pool or one of its ancestors; not
 *                  owned (never closed, and its blocking mode is left as
 *                  it is)
 * @param events    the interest: PEV_WATCH_READ, PEV_WATCH_WRITE, both, or
 *                  0 (added paused)
 * @param fn        the callback
 * @param user_data passed to @a fn
 * @param pool      owning pool; the record is allocated from it
 * @return APR_SUCCESS; APR_EINVAL for NULL arguments, other bits in
 *         @a events, or a socket from an unrelated pool; APR_ENOMEM; an APR
 *         error from the pollset: the descriptor cannot be polled, or
 *         (APR_EEXIST from epoll) it has a watcher on this loop already, or
 *         a stream (one watcher per descriptor and loop; an interest of 0
 *         defers these errors to the first pev_watch_set() that polls).
 * Callable from any callback of the loop.
 */
PEV_API apr_status_t pev_watch_add_socket(pev_watch_t **w, pev_loop_t *loop,
                                          apr_socket_t *sock, apr_int16_t events,
                                          pev_watch_fn *fn, void *user_data,
                                          apr_pool_t *pool);

/** pev_watch_add_socket() for a file (a pipe end, a terminal, a character
 *  device). A regular file cannot be polled: the pollset's error is
 *  returned (EPERM from epoll). */
PEV_API apr_status_t pev_watch_add_file(pev_watch_t **w, pev_loop_t *loop,
                                        apr_file_t *file, apr_int16_t events,
                                        pev_watch_fn *fn, void *user_data,
                                        apr_pool_t *pool);

/** pev_watch_add_socket() for a raw OS descriptor (@a fd >= 0, else
 *  APR_EINVAL), wrapped in @a pool without taking it over: the descriptor
 *  stays open when the watcher goes. */
PEV_API apr_status_t pev_watch_add_fd(pev_watch_t **w, pev_loop_t *loop, int fd,
                                      apr_int16_t events, pev_watch_fn *fn,
                                      void *user_data, apr_pool_t *pool);

/**
 * Change the interest to @a events (0: paused; the watcher stays owned by
 * its pool and can be resumed). Takes effect at once: a change forgets what
 * the current poll reported for the descriptor (it is reported again in the
 * next iteration if it is still ready); setting the same interest again
 * changes nothing. Callable from any callback, the watcher's own included.
 * @return APR_SUCCESS; APR_EINVAL for NULL or other bits in @a events;
 *         PEV_EREMOVED after pev_watch_remove(); PEV_EDESTROYED if the loop
 *         is gone; an APR error from the pollset (then the watcher is
 *         paused).
 */
PEV_API apr_status_t pev_watch_set(pev_watch_t *w, apr_int16_t events);

/**
 * Stop watching for good: the callback is never called again, even when
 * the current poll already reported the descriptor (also when removed from
 * the callback of another watcher reported in the same poll). The record's
 * memory stays until its pool goes; the descriptor is not touched.
 * Callable from any callback, the watcher's own included.
 * @return APR_SUCCESS; APR_EINVAL for NULL; PEV_EREMOVED if removed
 *         already; PEV_EDESTROYED if the loop is gone.
 */
PEV_API apr_status_t pev_watch_remove(pev_watch_t *w);

/** The current interest (0: paused, removed, inert, or NULL @a w). */
PEV_API apr_int16_t pev_watch_events(const pev_watch_t *w);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_WATCH_H */
