/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bridge.c - the Redis bridge (poolev/bridge.h).
 */
#include "config.h"

#include "poolev/bridge.h"

/* Built --without-hiredis: the API exists, every call says APR_ENOTIMPL.
 * (The hiredis implementation is not written yet: every build has this.) */

int pev_bridge_available(void)
{
    return 0;
}

void pev_bridge_options_init(pev_bridge_options_t *opts)
{
    (void) opts;
}

apr_status_t pev_bridge_parse_url(pev_bridge_options_t *opts, const char *url,
                                  apr_pool_t *pool)
{
    (void) opts, (void) url, (void) pool;
    return APR_ENOTIMPL;
}

apr_status_t pev_bridge_create(pev_bridge_t **bridge, pev_loop_t *loop, pev_bus_t *bus,
                               const pev_bridge_options_t *opts, apr_pool_t *pool)
{
    (void) loop, (void) bus, (void) opts, (void) pool;
    if (bridge)
        *bridge = NULL;
    return APR_ENOTIMPL;
}

apr_status_t pev_bridge_export(pev_bridge_t *bridge, const char *name, int flags,
                               pev_bridge_encode_fn *encode, void *user_data)
{
    (void) bridge, (void) name, (void) flags, (void) encode, (void) user_data;
    return APR_ENOTIMPL;
}

apr_status_t pev_bridge_import(pev_bridge_t *bridge, const char *name, int flags,
                               pev_bridge_decode_fn *decode, void *user_data)
{
    (void) bridge, (void) name, (void) flags, (void) decode, (void) user_data;
    return APR_ENOTIMPL;
}

const pev_bridge_msg_t *pev_bridge_current(const pev_bridge_t *bridge)
{
    (void) bridge;
    return NULL;
}

const char *pev_bridge_origin(const pev_bridge_t *bridge)
{
    (void) bridge;
    return NULL;
}

const char *pev_bridge_node_id(const pev_bridge_t *bridge)
{
    (void) bridge;
    return NULL;
}

apr_status_t pev_bridge_stats(const pev_bridge_t *bridge, pev_bridge_stats_t *stats)
{
    (void) bridge, (void) stats;
    return APR_ENOTIMPL;
}
