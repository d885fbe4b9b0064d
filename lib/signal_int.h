/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * signal_int.h - internal: a loop's signal handlers (see poolev/signal.h).
 */
#ifndef POOLEV_SIGNAL_INT_H
#define POOLEV_SIGNAL_INT_H

#include <signal.h>
#include <stdatomic.h>

#include "poolev/signal.h"
#include "loop_int.h"
#include "owner.h"
#include "sentry.h"

#define PEVI_NSIG 65            /* signal numbers 1..64 */

typedef struct pevi_sigslot {
    pevi_link_t handlers;       /* sentinel; in the order they were added */
    struct sigaction old;       /* the disposition to restore */
    unsigned count;             /* handlers; > 0: our disposition is in place */
} pevi_sigslot_t;

/* Embedded in the loop. */
typedef struct pevi_signals {
    pev_loop_t *loop;
    atomic_ullong pending;      /* bit signo-1: delivered, not yet handled */
    pevi_sigslot_t slot[PEVI_NSIG];
    pevi_owners_t owners;       /* lifetime pools of handlers */
    pevi_link_t *cursor;        /* the next handler of a running dispatch */
    apr_uint64_t seq;
    unsigned total;             /* handlers, all signals */
} pevi_signals_t;

void pevi_signals_init(pevi_signals_t *s, pev_loop_t *loop, apr_pool_t *pool);

/* Run the handlers of every signal delivered since the last call. Stops at
 * once and returns non-zero when @a frame, the running iteration's sentry,
 * is gone (the loop was destroyed by a handler). */
int pevi_signals_dispatch(pevi_signals_t *s, const pevi_sentry_t *frame);

/* The loop is going: restore every disposition; handlers in pools that
 * outlive the loop become inert. */
void pevi_signals_fini(pevi_signals_t *s);

/* Number of handlers, all signals. */
unsigned pevi_signals_count(const pevi_signals_t *s);

#endif /* POOLEV_SIGNAL_INT_H */
