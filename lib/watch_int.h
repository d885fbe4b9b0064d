/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * watch_int.h - internal: what the library's own users of descriptor
 * watchers (the hiredis adapter) get beyond poolev/watch.h.
 */
#ifndef POOLEV_WATCH_INT_H
#define POOLEV_WATCH_INT_H

#include "poolev/watch.h"

/* Call @a w's callback with PEV_WATCH_WRITE at the end of the current
 * iteration (its output tasks, step 6 of pev_loop_run_once()), as if the
 * descriptor had been reported writable, without polling for it: for a
 * connected socket that almost always has room, this saves the two
 * epoll_ctl(2) calls and the extra iteration of a write interest. The
 * callback must cope with a write that would block (then poll for
 * PEV_WATCH_WRITE). Called again before it ran: one call. Nothing runs if
 * the watcher is removed, or its pool or its loop goes, first. From a
 * callback of the last step, the call runs in the next iteration. On the
 * loop's thread only. */
void pevi_watch_write_soon(pev_watch_t *w);

/* pevi_watch_write_soon() for any of PEV_WATCH_READ and PEV_WATCH_WRITE:
 * the callback is given what the calls before it asked for (a read that
 * finds nothing must cope, as with a write that would block). */
void pevi_watch_soon(pev_watch_t *w, apr_int16_t events);

/* If a pevi_watch_soon() call is waiting for the end of the iteration,
 * make it now: the callback runs with what it was to be given from
 * inside this call (it may free @a w, its pool or the loop), not again at
 * the end of the iteration. Returns 1 when it ran, 0 when nothing was
 * waiting. On the loop's thread only. */
int pevi_watch_soon_now(pev_watch_t *w);

#endif /* POOLEV_WATCH_INT_H */
