/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_bus_proftpd.h - a small reimplementation of the lookup and dispatch
 * structure of ProFTPD's Events API, for bench_bus's comparison rows.
 * bench_bus_proftpd.c says what it reproduces and what it leaves out.
 */
#ifndef POOLEV_BENCH_BUS_PROFTPD_H
#define POOLEV_BENCH_BUS_PROFTPD_H

#include <stdint.h>

#include <apr_pools.h>

/** A registry: ProFTPD keeps one per process in static variables. */
typedef struct pf_registry pf_registry_t;

/** ProFTPD's listener callback: (event_data, user_data). */
typedef void pf_event_fn(const void *event_data, void *user_data);

/* An empty registry allocated from @a pool. With @a trace set, each call of
 * a handler is preceded by the check a default (--enable-trace) ProFTPD build
 * makes when no TraceLog is configured: whether anybody listens to the trace
 * log's event, a second scan of the name list. */
pf_registry_t *pf_registry_create(apr_pool_t *pool, int trace);

/* Register @a cb with @a user_data on @a event (copied), as ProFTPD does for
 * a core listener (no module). Returns 0, or -1 for a NULL argument or a
 * @a cb already on that event. */
int pf_event_register(pf_registry_t *reg, const char *event, pf_event_fn *cb,
                      void *user_data);

/* Call the handlers of @a event with @a event_data (nothing when none). */
void pf_event_generate(pf_registry_t *reg, const char *event, const void *event_data);

/* The number of handlers of @a event (0 when unknown); -1 for NULL. */
int pf_event_listening(pf_registry_t *reg, const char *event);

/* How many generates have found the one-entry cache set (a nested generate
 * of the event being dispatched). */
uint64_t pf_cache_hits(const pf_registry_t *reg);

#endif /* POOLEV_BENCH_BUS_PROFTPD_H */
