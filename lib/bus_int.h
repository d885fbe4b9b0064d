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

#endif /* POOLEV_BUS_INT_H */
