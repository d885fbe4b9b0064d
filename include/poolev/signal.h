/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/signal.h - signal handlers that run in loop context.
 *
 * A handler is added on a loop for a signal number. When the signal arrives,
 * poolev's own C-level handler only records it and wakes the loop (both
 * async-signal-safe); the handlers run later, synchronously, in the loop's
 * next iteration, in the order they were added. Deliveries between two
 * iterations coalesce: each handler runs once.
 *
 * Lifetimes: a handler is bound to a lifetime pool (NULL: the loop's pool);
 * clearing or destroying that pool removes it, also from inside a handler.
 * Adding the first handler for a signal installs poolev's disposition and
 * saves the previous one; removing the last handler (by any means, the loop's
 * own destruction included) restores it.
 *
 * Process-wide: dispositions belong to the process, so one loop at a time may
 * hold handlers for a given signal. In a threaded program, block the signals
 * in the threads that do not run that loop, or any thread may take them (the
 * handlers still run on the loop's thread).
 */
#ifndef POOLEV_SIGNAL_H
#define POOLEV_SIGNAL_H

#include <apr_pools.h>

#include "poolev/export.h"
#include "poolev/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A signal handler registration (opaque). */
typedef struct pev_signal pev_signal_t;

/**
 * A handler: runs in loop context (any poolev call is allowed), may remove
 * itself or other handlers, add handlers (not called for the delivery being
 * handled), or clear or destroy any pool, its own included.
 */
typedef void pev_signal_fn(int signo, void *user_data);

/**
 * Add a handler for @a signo on @a loop.
 *
 * @param handler   out: the handle (may be NULL); valid memory as long as
 *                  @a lifetime
 * @param loop      the loop whose iterations run the handler
 * @param signo     a catchable signal, 1 to 64 (not SIGKILL or SIGSTOP)
 * @param fn        the handler
 * @param user_data passed to @a fn
 * @param lifetime  owning pool (NULL: the loop's pool)
 * @return APR_SUCCESS; APR_EINVAL for a NULL loop or fn, or a signal number
 *         out of range or not catchable; PEV_EBUSY if another loop holds
 *         handlers for @a signo; APR_ENOMEM.
 * Callable from loop callbacks.
 */
PEV_API apr_status_t pev_signal_add(pev_signal_t **handler, pev_loop_t *loop, int signo,
                                    pev_signal_fn *fn, void *user_data, apr_pool_t *lifetime);

/**
 * Remove a handler. Once this returns the handler is never called again. If
 * it was the last handler for its signal, the previous disposition is back.
 * @return APR_SUCCESS; APR_EINVAL for NULL; APR_ENOENT if it was removed
 *         already; PEV_EDESTROYED if the loop is gone.
 * Callable from handlers, including the handler's own.
 */
PEV_API apr_status_t pev_signal_remove(pev_signal_t *handler);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_SIGNAL_H */
