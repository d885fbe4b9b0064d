/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bus_int.h - internal: what the bus tells other parts of the library (the
 * daemon) beyond poolev/bus.h.
 */
#ifndef POOLEV_BUS_INT_H
#define POOLEV_BUS_INT_H

#include <apr_pools.h>

#include "poolev/bus.h"

/* Number of @a bus's listeners bound to exactly @a pool (registered with it
 * as their lifetime and not yet unregistered). O(those listeners). */
apr_size_t pevi_bus_pool_listeners(const pev_bus_t *bus, apr_pool_t *pool);

/*
 * Taps: the bridge (lib/bridge.c) sees every generate on a bus, whatever the
 * event's name (the bus's listeners are by exact name only).
 *
 * A tap is a record its owner allocates and keeps until it removes the tap.
 * Each pev_event_generate() and pev_event_generate_handle() that dispatches
 * (not one refused for the nesting limit) calls every tap first, in the
 * order they were added, with the event's name and event_data, unless the
 * generate runs inside pevi_bus_generate_untapped() (directly or nested in
 * its dispatch). A tap function may not add or remove taps, generate
 * events, nor clear or destroy pools. When the bus goes first, every tap's
 * @a bus becomes NULL (pevi_bus_tap_remove() is then a no-op).
 *
 * Cost when no tap is added: one test of a pointer per generate.
 */
typedef void pevi_bus_tap_fn(void *user_data, const char *event, const void *event_data);

typedef struct pevi_bus_tap {
    pevi_bus_tap_fn *fn;
    void *user_data;
    pev_bus_t *bus;                 /* NULL: not added, removed, bus gone */
    struct pevi_bus_tap *next, *prev;
} pevi_bus_tap_t;

/* Add @a tap (fn and user_data set by the caller) to @a bus. */
void pevi_bus_tap_add(pev_bus_t *bus, pevi_bus_tap_t *tap);

/* Remove @a tap; harmless when it is not on a bus. */
void pevi_bus_tap_remove(pevi_bus_tap_t *tap);

/* pev_event_generate() without calling the taps, for this event and every
 * event generated while its dispatch runs. */
apr_status_t pevi_bus_generate_untapped(pev_bus_t *bus, const char *event,
                                        const void *event_data);

#endif /* POOLEV_BUS_INT_H */
