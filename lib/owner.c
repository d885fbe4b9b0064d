/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * owner.c - internal: items owned through APR pools (see owner.h).
 */
#include "config.h"

#include "owner.h"

/* Release every item and forget the owner. */
static void owner_detach(pevi_owner_t *ow)
{
    pevi_owners_t *o = ow->owners;
    pevi_link_t *item;

    while ((item = pevi_list_shift(&ow->head)) != NULL)
        o->release(o->container, item);
    apr_hash_set(o->by_pool, &ow->pool, sizeof ow->pool, NULL);
    if (o->last == ow)
        o->last = NULL;
    ow->owners = NULL;
    if (o->settle)
        o->settle(o->container);
}

static apr_status_t owner_plain_cleanup(void *data);

/* Runs before the pool's subpools and other cleanups. */
static apr_status_t owner_pre_cleanup(void *data)
{
    pevi_owner_t *ow = data;

    if (ow->owners)             /* NULL: the container went first */
        owner_detach(ow);
    return APR_SUCCESS;
}

/* The backstop for an owner made while its pool was already being torn down
 * (see owner.h); it also unlinks the stale pre-cleanup record, which
 * apr_pool_clear would otherwise keep into the pool's next life. For every
 * other owner it finds ow->owners NULL and does nothing. */
static apr_status_t owner_plain_cleanup(void *data)
{
    pevi_owner_t *ow = data;

    if (ow->owners) {
        owner_detach(ow);
        apr_pool_cleanup_kill(ow->pool, ow, owner_pre_cleanup);
    }
    return APR_SUCCESS;
}

void pevi_owners_init(pevi_owners_t *o, void *container, pevi_release_fn *release,
                      pevi_settle_fn *settle, pevi_orphan_fn *orphan,
                      apr_pool_t *pool)
{
    o->container = container;
    o->release = release;
    o->settle = settle;
    o->orphan = orphan;
    o->by_pool = apr_hash_make(pool);
    o->last = NULL;
    o->cleanups_registered = 0;
}

apr_status_t pevi_owner_add_slow(pevi_owners_t *o, apr_pool_t *lifetime,
                                 pevi_link_t *item)
{
    pevi_owner_t *ow = o->last;

    if (!ow || ow->pool != lifetime) {
        ow = apr_hash_get(o->by_pool, &lifetime, sizeof lifetime);
        if (!ow) {
            ow = apr_palloc(lifetime, sizeof *ow);
            if (!ow)
                return APR_ENOMEM;
            ow->owners = o;
            ow->pool = lifetime;
            pevi_list_init(&ow->head);
            ow->spare = NULL;
            apr_pool_pre_cleanup_register(lifetime, ow, owner_pre_cleanup);
            apr_pool_cleanup_register(lifetime, ow, owner_plain_cleanup,
                                      apr_pool_cleanup_null);
            apr_hash_set(o->by_pool, &ow->pool, sizeof ow->pool, ow);
            o->cleanups_registered += 2;
        }
        o->last = ow;
    }
    /* newest first: a pool's teardown releases the newest item first */
    pevi_list_prepend(&ow->head, item);
    return APR_SUCCESS;
}

void pevi_owners_detach_all(pevi_owners_t *o)
{
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(NULL, o->by_pool); hi; hi = apr_hash_next(hi)) {
        pevi_owner_t *ow = apr_hash_this_val(hi);
        pevi_link_t *item;

        if (o->orphan)
            for (item = ow->head.next; item != &ow->head; item = item->next)
                o->orphan(o->container, item);
        ow->owners = NULL;
        /* kill reaches pre-cleanups on APR >= 1.7; on older APR the
         * pre-cleanup stays and finds ow->owners NULL */
        apr_pool_cleanup_kill(ow->pool, ow, owner_pre_cleanup);
        apr_pool_cleanup_kill(ow->pool, ow, owner_plain_cleanup);
    }
    o->last = NULL;
}

apr_size_t pevi_owners_count(const pevi_owners_t *o)
{
    return (apr_size_t) apr_hash_count(o->by_pool);
}

apr_size_t pevi_owners_items(const pevi_owners_t *o, apr_pool_t *pool)
{
    const pevi_owner_t *ow = apr_hash_get(o->by_pool, &pool, sizeof pool);
    const pevi_link_t *item;
    apr_size_t n = 0;

    if (ow)
        for (item = ow->head.next; item != &ow->head; item = item->next)
            n++;
    return n;
}
