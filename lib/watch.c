/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * watch.c - descriptor watchers (poolev/watch.h): a public face on the
 * loop's descriptor interface (io_int.h) for descriptors the caller owns.
 *
 * A watcher embeds a pevi_io. It is owned through its pool (owner.h), in the
 * loop's owners of watchers (pevi_loop_owners(), loop_int.h), made with the
 * loop's first watcher: the pool's teardown releases it, the loop's orphans
 * it. A watcher is LIVE (polled for its interest, or paused at 0), REMOVED
 * (out of the pollset, off its owner, waiting for its pool to go) or INERT
 * (the loop went first; loop is NULL).
 *
 * Nothing of the watcher is touched after its callback returns, so the
 * callback may destroy the watcher's pool or the loop without a guard: the
 * loop's iteration checks its own frame afterwards. A watcher taken out of
 * the pollset (remove, pause, another interest, its pool going) is also
 * forgotten by the current poll's results (pevi_io_set()), so no report
 * reaches a removed watcher or freed memory.
 *
 * A watcher with a non-zero interest counts as one of the loop's open items
 * (pevi_loop_ios_adjust()): it keeps pev_loop_run() going.
 */
#include "config.h"

#include <apr_portable.h>

#include "poolev/watch.h"
#include "loop_int.h"
#include "owner.h"
#include "watch_int.h"

#define WATCH_EVENTS (PEV_WATCH_READ | PEV_WATCH_WRITE)

struct pev_watch {
    pevi_io_t io;
    pevi_link_t owned;              /* on its pool's owner list while LIVE */
    pev_loop_t *loop;               /* NULL once the loop is gone */
    pevi_task_t soon;               /* pevi_watch_soon() */
    apr_int16_t soon_events;        /* what it reports */
    pev_watch_fn *fn;
    void *user_data;
    unsigned removed : 1;
};

/* Poll @a w for @a events, keeping the loop's count of open items. */
static apr_status_t watch_poll(pev_watch_t *w, apr_int16_t events)
{
    int was = w->io.events != 0;
    apr_status_t st = pevi_io_set(w->loop, &w->io, events);
    int is = w->io.events != 0;

    if (is != was)
        pevi_loop_ios_adjust(w->loop, is - was);
    return st;
}

static void watch_ready(pevi_io_t *io, apr_int16_t events)
{
    pev_watch_t *w = PEVI_CONTAINER(io, pev_watch_t, io);
    apr_int16_t report = events & WATCH_EVENTS;

    /* an error or hangup: let the caller's read or write meet it */
    if (events & (APR_POLLERR | APR_POLLHUP | APR_POLLNVAL))
        report = WATCH_EVENTS;
    report &= w->io.events;
    if (report)
        w->fn(w, report, w->user_data);     /* may free w or the loop */
}

/* The end-of-iteration call pevi_watch_soon() posted. */
static void watch_soon(pevi_task_t *task)
{
    pev_watch_t *w = PEVI_CONTAINER(task, pev_watch_t, soon);
    apr_int16_t events = w->soon_events;

    w->soon_events = 0;
    w->fn(w, events, w->user_data);     /* may free w or the loop */
}

void pevi_watch_soon(pev_watch_t *w, apr_int16_t events)
{
    events &= WATCH_EVENTS;
    if (w && w->loop && !w->removed && events) {
        w->soon_events |= events;
        pevi_task_post(w->loop, &w->soon);
    }
}

void pevi_watch_write_soon(pev_watch_t *w)
{
    pevi_watch_soon(w, PEV_WATCH_WRITE);
}

int pevi_watch_soon_now(pev_watch_t *w)
{
    if (!w || !pevi_link_linked(&w->soon.link))
        return 0;
    pevi_task_cancel(&w->soon);
    watch_soon(&w->soon);           /* may free w or the loop */
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Owners                                                                    */

/* The watcher's pool is going (owner.h). */
static void watch_release(void *loop, pevi_link_t *item)
{
    pev_watch_t *w = PEVI_CONTAINER(item, pev_watch_t, owned);

    (void) loop;
    (void) watch_poll(w, 0);
    pevi_task_cancel(&w->soon);
    w->removed = 1;
}

/* The loop is going while the watcher's pool lives on: the pollset goes
 * with the loop, nothing to take out of it. */
static void watch_orphan(void *loop, pevi_link_t *item)
{
    pev_watch_t *w = PEVI_CONTAINER(item, pev_watch_t, owned);

    (void) loop;
    w->io.events = 0;
    pevi_task_cancel(&w->soon);
    w->loop = NULL;
}

static const char watches_key;      /* the loop's owners of watchers */

/* The owners of @a loop's watchers' pools; NULL when out of memory. */
static pevi_owners_t *loop_watches(pev_loop_t *loop)
{
    return pevi_loop_owners(loop, &watches_key, watch_release, watch_orphan);
}

/* ------------------------------------------------------------------------ */
/* The API                                                                   */

static apr_status_t watch_add(pev_watch_t **out, pev_loop_t *loop, apr_socket_t *sock,
                              apr_file_t *file, apr_int16_t events, pev_watch_fn *fn,
                              void *user_data, apr_pool_t *pool)
{
    pevi_owners_t *owners;
    pev_watch_t *w;
    apr_status_t st;

    w = apr_pcalloc(pool, sizeof *w);
    if (!w)
        return APR_ENOMEM;
    w->loop = loop;
    w->fn = fn;
    w->user_data = user_data;
    pevi_io_init(&w->io, pool, sock, file, watch_ready);
    pevi_task_init(&w->soon, watch_soon);
    owners = loop_watches(loop);
    if (!owners)
        return APR_ENOMEM;
    if ((st = watch_poll(w, events)) != APR_SUCCESS)
        return st;
    if ((st = pevi_owner_add(owners, pool, &w->owned)) != APR_SUCCESS) {
        (void) watch_poll(w, 0);
        return st;
    }
    if (out)
        *out = w;
    return APR_SUCCESS;
}

/* The arguments every add takes. */
static int add_args_ok(pev_watch_t **out, pev_loop_t *loop, apr_int16_t events,
                       pev_watch_fn *fn, apr_pool_t *pool)
{
    if (out)
        *out = NULL;
    return loop && fn && pool && (events & ~WATCH_EVENTS) == 0;
}

apr_status_t pev_watch_add_socket(pev_watch_t **w, pev_loop_t *loop, apr_socket_t *sock,
                                  apr_int16_t events, pev_watch_fn *fn, void *user_data,
                                  apr_pool_t *pool)
{
    if (!add_args_ok(w, loop, events, fn, pool) || !sock
        || !apr_pool_is_ancestor(apr_socket_pool_get(sock), pool))
        return APR_EINVAL;
    return watch_add(w, loop, sock, NULL, events, fn, user_data, pool);
}

apr_status_t pev_watch_add_file(pev_watch_t **w, pev_loop_t *loop, apr_file_t *file,
                                apr_int16_t events, pev_watch_fn *fn, void *user_data,
                                apr_pool_t *pool)
{
    if (!add_args_ok(w, loop, events, fn, pool) || !file
        || !apr_pool_is_ancestor(apr_file_pool_get(file), pool))
        return APR_EINVAL;
    return watch_add(w, loop, NULL, file, events, fn, user_data, pool);
}

apr_status_t pev_watch_add_fd(pev_watch_t **w, pev_loop_t *loop, int fd,
                              apr_int16_t events, pev_watch_fn *fn, void *user_data,
                              apr_pool_t *pool)
{
    apr_os_file_t ofd = fd;
    apr_file_t *file = NULL;
    apr_status_t st;

    if (!add_args_ok(w, loop, events, fn, pool) || fd < 0)
        return APR_EINVAL;
    /* no cleanup of its own: the descriptor stays the caller's */
    st = apr_os_file_put(&file, &ofd, 0, pool);
    if (st != APR_SUCCESS)
        return st;
    return watch_add(w, loop, NULL, file, events, fn, user_data, pool);
}

/* The opening checks of set and remove. */
static apr_status_t watch_check(const pev_watch_t *w)
{
    if (!w)
        return APR_EINVAL;
    if (!w->loop)
        return PEV_EDESTROYED;
    if (w->removed)
        return PEV_EREMOVED;
    return APR_SUCCESS;
}

apr_status_t pev_watch_set(pev_watch_t *w, apr_int16_t events)
{
    apr_status_t st;

    if ((st = watch_check(w)) != APR_SUCCESS)
        return st;
    if (events & ~WATCH_EVENTS)
        return APR_EINVAL;
    return watch_poll(w, events);
}

apr_status_t pev_watch_remove(pev_watch_t *w)
{
    apr_status_t st;

    if ((st = watch_check(w)) != APR_SUCCESS)
        return st;
    (void) watch_poll(w, 0);
    pevi_task_cancel(&w->soon);
    pevi_link_remove(&w->owned);
    w->removed = 1;
    return APR_SUCCESS;
}

apr_int16_t pev_watch_events(const pev_watch_t *w)
{
    return w ? w->io.events : 0;
}
