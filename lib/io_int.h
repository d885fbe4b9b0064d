/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * io_int.h - internal: the loop's narrow interface for the layers above it
 * (loop_int.h includes it for the loop's own components: streams and
 * watchers; the daemon uses only pevi_loop_running() and polls its sockets
 * through the public watchers): descriptors polled by the loop, and whether
 * one of its iterations runs.
 */
#ifndef POOLEV_IO_INT_H
#define POOLEV_IO_INT_H

#include <apr_poll.h>

#include "poolev/loop.h"

/* ------------------------------------------------------------------------ */
/* Descriptors                                                               */

typedef struct pevi_io pevi_io_t;

/* @a io was reported with @a events (APR_POLLIN, APR_POLLOUT, APR_POLLHUP,
 * APR_POLLERR). It may run user code; the loop checks afterwards whether it
 * is still alive. */
typedef void pevi_io_fn(pevi_io_t *io, apr_int16_t events);

/* Embedded in the record that owns a descriptor. */
struct pevi_io {
    apr_pollfd_t pfd;               /* the pollset points here (NOCOPY) */
    pevi_io_fn *ready;
    apr_int16_t events;             /* registered interest; 0: not polled */
};

/* Set up @a io for a socket (@a sock) or a file (@a file), not polled. */
void pevi_io_init(pevi_io_t *io, apr_pool_t *pool, apr_socket_t *sock,
                  apr_file_t *file, pevi_io_fn *ready);

/* Poll @a io for @a events (0: stop polling). A descriptor taken out of the
 * pollset is also forgotten by the current poll's results: it is not
 * reported again in this iteration, even if the poll reported it. */
apr_status_t pevi_io_set(pev_loop_t *loop, pevi_io_t *io, apr_int16_t events);

/* ------------------------------------------------------------------------ */
/* Iterations                                                                */

/* Non-zero while one of the loop's iterations runs (a callback is the
 * caller). */
int pevi_loop_running(const pev_loop_t *loop);

/* Number of the loop's timers bound to exactly @a pool (the daemon warns
 * about timers that outlive their generation). O(those timers). */
apr_size_t pevi_loop_pool_timers(const pev_loop_t *loop, apr_pool_t *pool);

#endif /* POOLEV_IO_INT_H */
