/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * redis_adapter.c - hiredis's asynchronous API on poolev's loop: the
 * event-library adapter (bridge_int.h), written the way hiredis's own
 * adapters/libevent.h and adapters/libev.h are.
 */
#include "config.h"

#ifdef HAVE_HIREDIS

#include <stdlib.h>

#include "bridge_int.h"
#include <sds.h>

typedef struct adapter {
    redisAsyncContext *ac;
    pev_watch_t *w;             /* NULL once removed (detach, cleanup) */
    apr_int16_t want;           /* the interest hiredis asked for */
    int in_cb;                  /* inside the watcher's callback */
    int freed;                  /* hiredis cleaned up: free after the callback */
    pevi_redis_gone_fn *gone;
    void *arg;
} adapter_t;

static void set_interest(adapter_t *a, apr_int16_t want)
{
    a->want = want;
    if (a->w && pev_watch_set(a->w, want) == PEV_EDESTROYED)
        a->w = NULL;            /* the loop is gone: inert */
}

static void add_read(void *data)
{
    adapter_t *a = data;

    set_interest(a, a->want | PEV_WATCH_READ);
}

static void del_read(void *data)
{
    adapter_t *a = data;

    set_interest(a, a->want & ~PEV_WATCH_READ);
}

static void add_write(void *data)
{
    adapter_t *a = data;

    set_interest(a, a->want | PEV_WATCH_WRITE);
}

static void del_write(void *data)
{
    adapter_t *a = data;

    set_interest(a, a->want & ~PEV_WATCH_WRITE);
}

/* hiredis frees the context (__redisAsyncFree): the last call it makes on
 * the adapter. */
static void cleanup(void *data)
{
    adapter_t *a = data;

    if (a->w)
        pev_watch_remove(a->w);
    a->w = NULL;
    a->ac->ev.data = NULL;
    a->ac->ev.addRead = a->ac->ev.delRead = NULL;
    a->ac->ev.addWrite = a->ac->ev.delWrite = NULL;
    a->ac->ev.cleanup = NULL;
    if (a->gone)
        a->gone(a->arg, a->ac);
    if (a->in_cb)
        a->freed = 1;
    else
        free(a);
}

/* hiredis gives back a reader buffer that grew for a large reply only at
 * its next read: when all of it was consumed, give it back now, so that a
 * large message does not stay behind on a quiet connection. */
static void reader_trim(redisAsyncContext *ac)
{
    redisReader *r = ac->c.reader;
    sds empty;

    if (!r || !r->buf || !r->maxbuf || r->pos < r->len
        || r->len + sdsavail(r->buf) <= r->maxbuf)
        return;
    if ((empty = sdsempty()) == NULL)
        return;
    sdsfree(r->buf);
    r->buf = empty;
    r->pos = r->len = 0;
}

static void on_ready(pev_watch_t *w, apr_int16_t events, void *user_data)
{
    adapter_t *a = user_data;
    redisAsyncContext *ac = a->ac;

    (void) w;
    a->in_cb = 1;
    /* reading may end the context (an error, a redisAsyncFree() from a
     * callback, the bridge's pool destroyed): then no write */
    if (events & PEV_WATCH_READ) {
        redisAsyncHandleRead(ac);
        if (!a->freed)
            reader_trim(ac);
    }
    if (!a->freed && (events & PEV_WATCH_WRITE) && (a->want & PEV_WATCH_WRITE))
        redisAsyncHandleWrite(ac);
    a->in_cb = 0;
    if (a->freed)
        free(a);
}

apr_status_t pevi_redis_attach(redisAsyncContext *ac, pev_loop_t *loop, apr_pool_t *pool,
                               pevi_redis_gone_fn *gone, void *arg)
{
    adapter_t *a;
    apr_status_t st;

    if (ac->ev.data)
        return APR_EEXIST;
    a = calloc(1, sizeof *a);
    if (!a)
        return APR_ENOMEM;
    a->ac = ac;
    a->gone = gone;
    a->arg = arg;
    st = pev_watch_add_fd(&a->w, loop, ac->c.fd, 0, on_ready, a, pool);
    if (st != APR_SUCCESS) {
        free(a);
        return st;
    }
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = a;
    return APR_SUCCESS;
}

void pevi_redis_detach(redisAsyncContext *ac)
{
    adapter_t *a = ac->ev.data;

    if (!a)
        return;
    if (a->w)
        pev_watch_remove(a->w);
    a->w = NULL;
}

#else
/* ISO C forbids an empty translation unit */
typedef int pevi_redis_adapter_unused;
#endif /* HAVE_HIREDIS */
