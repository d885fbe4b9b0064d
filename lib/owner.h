/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * owner.h - internal: items owned through APR pools, O(1) per item.
 *
 * A container (the bus, the loop) holds items (listeners, timers, signal
 * handlers, streams) that each have a lifetime pool. For every (pool,
 * container) pair there is one owner record, allocated from the pool, with
 * one pre-cleanup and one plain backstop cleanup, and an intrusive list of the
 * items. When the pool is cleared or destroyed, the owner releases each item
 * through the container's release function, before anything else of the pool
 * goes. When the container dies first, it detaches every owner, and the
 * pool's later teardown does nothing.
 *
 * Why two cleanups: the pre-cleanup runs before the pool's subpools and other
 * cleanups, so no item of a dying pool is used by anything the teardown runs.
 * An owner created while its pool is already being torn down (an item added
 * to the pool from one of its subpools' or its own cleanups) gets a
 * pre-cleanup APR no longer runs; the plain cleanup catches that case.
 */
#ifndef POOLEV_OWNER_H
#define POOLEV_OWNER_H

#include <apr_pools.h>
#include <apr_hash.h>

#include "list.h"

typedef struct pevi_owner pevi_owner_t;

/* Release one item whose pool is going (already unlinked from its owner).
 * Must not call user code that could clear or destroy pools. */
typedef void pevi_release_fn(void *container, pevi_link_t *item);
/* Called once after an owner released all its items (may be NULL). */
typedef void pevi_settle_fn(void *container);
/* The container dies while @a item's pool lives on: make the item inert
 * (may be NULL when items die with the container anyway). */
typedef void pevi_orphan_fn(void *container, pevi_link_t *item);

/* Embedded in the container. */
typedef struct pevi_owners {
    void *container;
    pevi_release_fn *release;
    pevi_settle_fn *settle;
    pevi_orphan_fn *orphan;
    apr_hash_t *by_pool;            /* lifetime pool -> owner */
    pevi_owner_t *last;             /* cache of the last owner used */
    apr_size_t cleanups_registered;
} pevi_owners_t;

/* Set up @a o; the index lives in @a pool (the container's own pool). */
void pevi_owners_init(pevi_owners_t *o, void *container, pevi_release_fn *release,
                      pevi_settle_fn *settle, pevi_orphan_fn *orphan,
                      apr_pool_t *pool);

/* One (pool, container) owner. Private to owner.c but for the fast path of
 * pevi_owner_add(). */
struct pevi_owner {
    pevi_owners_t *owners;          /* NULL once detached */
    apr_pool_t *pool;
    pevi_link_t head;               /* sentinel of the circular item list */
    void *spare;                    /* the container's (NULL when made; the
                                     * loop keeps released timers there) */
};

/* pevi_owner_add() when @a lifetime is not the last pool used. */
apr_status_t pevi_owner_add_slow(pevi_owners_t *o, apr_pool_t *lifetime,
                                 pevi_link_t *item);

/* Add @a item to the items owned through @a lifetime. O(1) when @a lifetime
 * is the last pool used (inline); else one hash lookup (and on first use an
 * allocation from @a lifetime and two cleanup registrations).
 * Returns APR_SUCCESS or APR_ENOMEM. */
static inline apr_status_t pevi_owner_add(pevi_owners_t *o, apr_pool_t *lifetime,
                                          pevi_link_t *item)
{
    pevi_owner_t *ow = o->last;

    if (!ow || ow->pool != lifetime)
        return pevi_owner_add_slow(o, lifetime, item);
    /* newest first: a pool's teardown releases the newest item first */
    pevi_list_prepend(&ow->head, item);
    return APR_SUCCESS;
}

/* The container dies: detach every owner (their pools' later teardown does
 * nothing). Items are not released; each is passed to the orphan function,
 * if there is one. */
void pevi_owners_detach_all(pevi_owners_t *o);

/* Number of (pool, container) owners. */
apr_size_t pevi_owners_count(const pevi_owners_t *o);

/* Number of items owned through @a pool. O(items of @a pool). */
apr_size_t pevi_owners_items(const pevi_owners_t *o, apr_pool_t *pool);

#endif /* POOLEV_OWNER_H */
