/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * workers.c - a group of worker threads, each with its own loop, bus and
 * pools, and events sent across them (poolev/workers.h).
 *
 * A worker's thread makes its root pool (unmanaged, with an allocator of
 * its own), its loop and its bus, meets the other workers (so that a send
 * from an init hook finds every loop made), runs the init hook, meets them
 * again (start decides: run, or all give up), runs its loop until the group
 * stops, runs the exit hook and destroys its pool. Every pool operation of
 * a worker happens on its thread.
 *
 * A send: one malloc'd message (its name and, for a copy, its bytes inline)
 * with an atomic count of references, and one pev_loop_post() per receiver.
 * The posted call generates the event on the receiving worker's bus (found
 * by the thread's own worker pointer) and drops its reference; a call
 * cancelled because the receiver's loop went only drops it. A post to a
 * loop that another thread may be destroying is not safe (poolev/loop.h),
 * so each worker has a guard: a sender counts itself in (sending) and
 * checks that the worker is open; the worker, before destroying its pool,
 * closes and waits for the count to drain (sequentially consistent atomics:
 * either the sender sees it closed, or the worker sees the sender).
 *
 * The queue bound: each worker counts the events taken for it and not yet
 * run or released (queued). A send first claims a place in each receiver's
 * queue (a compare-and-swap that never goes beyond the group's limit), under
 * the receiver's guard; only when some receiver took it does it make the
 * message (and take the shared block's reference), then posts to each of
 * them and leaves their guards. The receiver gives the place back once the
 * event's listeners returned, or once it released the event undelivered.
 * Nothing but atomics on the way: the counts are relaxed (they order no
 * other memory; the post itself carries the message to the receiver).
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "poolev/workers.h"

struct pev_shared {
    atomic_uint refs;
    const void *data;
    apr_size_t len;
    pev_shared_free_fn *free_fn;    /* NULL: the bytes follow, inline */
    void *ctx;
};

/* One sent event: shared by every receiver. */
typedef struct xmsg {
    atomic_uint refs;               /* the sender's while sending, one per
                                     * queued delivery */
    int sender;
    pev_shared_t *shared;           /* send_shared: one reference, or NULL */
    const void *data;
    apr_size_t len;
    char name[];                    /* then, for a copy, the bytes */
} xmsg_t;

struct pev_worker {
    pev_workers_t *group;
    int index;
    int thread_made;                /* start made its thread */
    pthread_t thread;
    atomic_int open;                /* loop made, not closing: takes sends */
    atomic_int sending;             /* sends (and wakeups) under way */
    atomic_size_t queued;           /* events taken, not yet run or released */
    atomic_size_t peak;             /* the most queued */
    atomic_uint_least64_t refused;  /* sends refused: PEV_EFULL */
    atomic_uint_least64_t delivered;    /* these two: written by the worker's */
    atomic_uint_least64_t released;     /* thread only, read by any */
    apr_status_t err;               /* its make or init failure */
    int inited;                     /* its init hook succeeded */
    apr_pool_t *pool;               /* these three: its own thread only */
    pev_loop_t *loop;
    pev_bus_t *bus;
    char pad[64];                   /* workers' guards on own lines */
};

struct pev_workers {
    apr_pool_t *pool;
    int n;
    pev_worker_fn *init, *exit;
    void *user_data;
    pev_worker_t *w;
    pthread_mutex_t mu;             /* the start rendezvous */
    pthread_cond_t cv;
    int made, inited;               /* workers at each meeting point */
    int made_failed, init_failed;   /* a make, an init failed */
    int failed;                     /* either */
    int go;                         /* 0: wait; 1: run; -1: give up */
    atomic_int stopping;
    atomic_size_t limit;            /* events queued per worker; 0: none */
    int started, joined;            /* the owning thread's */
};

static _Thread_local pev_worker_t *self;

/* Copies are aligned as malloc(3)'s memory is: a receiver may read them as
 * any type. */
#define ALIGN_UP(n) (((n) + _Alignof(max_align_t) - 1) & ~(_Alignof(max_align_t) - 1))
#define SHARED_HEAD ALIGN_UP(sizeof(pev_shared_t))

/* ------------------------------------------------------------------------ */
/* Shared blocks                                                             */

apr_status_t pev_shared_create(pev_shared_t **shared, const void *data, apr_size_t len)
{
    pev_shared_t *s;

    if (!shared || (!data && len))
        return APR_EINVAL;
    s = malloc(SHARED_HEAD + (len ? len : 1));
    if (!s)
        return APR_ENOMEM;
    atomic_init(&s->refs, 1);
    if (len)
        memcpy((char *) s + SHARED_HEAD, data, len);
    s->data = len ? (const void *) ((char *) s + SHARED_HEAD) : NULL;
    s->len = len;
    s->free_fn = NULL;
    s->ctx = NULL;
    *shared = s;
    return APR_SUCCESS;
}

apr_status_t pev_shared_wrap(pev_shared_t **shared, const void *data, apr_size_t len,
                             pev_shared_free_fn *free_fn, void *ctx)
{
    pev_shared_t *s;

    if (!shared || !free_fn)
        return APR_EINVAL;
    s = malloc(sizeof *s);
    if (!s)
        return APR_ENOMEM;
    atomic_init(&s->refs, 1);
    s->data = data;
    s->len = len;
    s->free_fn = free_fn;
    s->ctx = ctx;
    *shared = s;
    return APR_SUCCESS;
}

pev_shared_t *pev_shared_ref(pev_shared_t *shared)
{
    if (shared)
        atomic_fetch_add_explicit(&shared->refs, 1, memory_order_relaxed);
    return shared;
}

void pev_shared_release(pev_shared_t *shared)
{
    if (!shared)
        return;
    /* release: this thread's reads of the block happen before the free */
    if (atomic_fetch_sub_explicit(&shared->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (shared->free_fn)
        shared->free_fn((void *) shared->data, shared->len, shared->ctx);
    free(shared);
}

const void *pev_shared_data(const pev_shared_t *shared)
{
    return shared ? shared->data : NULL;
}

apr_size_t pev_shared_len(const pev_shared_t *shared)
{
    return shared ? shared->len : 0;
}

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */

static void msg_release(xmsg_t *m)
{
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    pev_shared_release(m->shared);
    free(m);
}

/* One more for a counter that only the worker's thread writes. */
static void count_own(atomic_uint_least64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* The posted call, on the receiving worker's thread (also when cancelled:
 * the worker destroys its own loop, so self is the receiver either way). */
static void deliver(void *user_data, int cancelled)
{
    xmsg_t *m = user_data;
    pev_worker_t *w = self;

    if (!cancelled && w && w->bus) {
        pev_worker_event_t ev;

        ev.data = m->data;
        ev.len = m->len;
        ev.shared = m->shared;
        ev.sender = m->sender;
        (void) pev_event_generate(w->bus, m->name, &ev);
    }
    msg_release(m);
    if (w) {
        count_own(cancelled ? &w->released : &w->delivered);
        /* its place in the queue, once it has run */
        atomic_fetch_sub_explicit(&w->queued, 1, memory_order_relaxed);
    }
}

/* A place in @a w's queue, within @a limit (0: none): 0 when it is full. */
static int queue_take(pev_worker_t *w, apr_size_t limit)
{
    apr_size_t q, peak;

    if (!limit) {
        q = atomic_fetch_add_explicit(&w->queued, 1, memory_order_relaxed);
    } else {
        q = atomic_load_explicit(&w->queued, memory_order_relaxed);
        do {
            if (q >= limit)
                return 0;
        } while (!atomic_compare_exchange_weak_explicit(&w->queued, &q, q + 1,
                                                        memory_order_relaxed,
                                                        memory_order_relaxed));
    }
    q++;
    peak = atomic_load_explicit(&w->peak, memory_order_relaxed);
    while (q > peak && !atomic_compare_exchange_weak_explicit(&w->peak, &peak, q,
                                                              memory_order_relaxed,
                                                              memory_order_relaxed))
        ;
    return 1;
}

/* Claim @a w for a send: its guard and a place in its queue. On success
 * the caller holds both until claim_end(). */
static apr_status_t claim(pev_worker_t *w, apr_size_t limit)
{
    apr_status_t st = APR_SUCCESS;

    atomic_fetch_add(&w->sending, 1);
    /* stopping: the worker may still be in its last iteration, but what is
     * queued now would only be released (workers.h: PEV_ECLOSED) */
    if (!atomic_load(&w->open) || atomic_load(&w->group->stopping)) {
        st = PEV_ECLOSED;
    } else if (!queue_take(w, limit)) {
        atomic_fetch_add_explicit(&w->refused, 1, memory_order_relaxed);
        st = PEV_EFULL;
    }
    if (st != APR_SUCCESS)
        atomic_fetch_sub(&w->sending, 1);
    return st;
}

/* Leave @a w's guard; @a giveback: its place too (nothing was posted). */
static void claim_end(pev_worker_t *w, int giveback)
{
    if (giveback)
        atomic_fetch_sub_explicit(&w->queued, 1, memory_order_relaxed);
    atomic_fetch_sub(&w->sending, 1);
}

/* A message for @a event with room for @a extra bytes after its name. */
static xmsg_t *msg_make(const char *event, apr_size_t extra)
{
    apr_size_t nlen = strlen(event) + 1;
    xmsg_t *m = malloc(ALIGN_UP(sizeof *m + nlen) + extra);

    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);
    memcpy(m->name, event, nlen);
    m->shared = NULL;
    m->data = NULL;
    m->len = 0;
    return m;
}

static int send_args_ok(const pev_workers_t *g, int to, const char *event)
{
    return g && event && *event
           && (to == PEV_WORKERS_ALL || to == PEV_WORKERS_OTHERS || (to >= 0 && to < g->n));
}

#define TOOK_WORDS ((PEV_WORKERS_MAX + 63) / 64)
#define TOOK(took, i) ((took)[(i) / 64] & ((uint64_t) 1 << ((i) % 64)))

apr_status_t pev_workers_send_ex(pev_workers_sent_t *sent, pev_workers_t *g, int to,
                                 const char *event, const void *data, apr_size_t len,
                                 pev_shared_t *shared, int flags)
{
    uint64_t took[TOOK_WORDS];
    pev_workers_sent_t acc = { 0, 0, 0 };
    apr_status_t st = APR_SUCCESS;
    apr_size_t limit;
    int first, end, me, i;
    xmsg_t *m;

    if (!send_args_ok(g, to, event) || (!data && len) || (shared && (data || len))
        || (flags & ~PEV_WORKERS_FORCE))
        return APR_EINVAL;
    me = (self && self->group == g) ? self->index : -1;
    limit = (flags & PEV_WORKERS_FORCE) ? 0
                                        : atomic_load_explicit(&g->limit, memory_order_relaxed);
    first = to >= 0 ? to : 0;
    end = to >= 0 ? to + 1 : g->n;
    memset(took + first / 64, 0, sizeof *took * (apr_size_t) ((end - 1) / 64 - first / 64 + 1));

    /* every receiver takes or refuses the event on its own */
    for (i = first; i < end; i++) {
        apr_status_t s;

        if (i == me && to == PEV_WORKERS_OTHERS)
            continue;
        s = claim(&g->w[i], limit);
        if (s == APR_SUCCESS) {
            took[i / 64] |= (uint64_t) 1 << (i % 64);
            acc.queued++;
            continue;
        }
        if (s == PEV_EFULL)
            acc.full++;
        else
            acc.closed++;
        if (st == APR_SUCCESS)
            st = s;
    }
    if (!acc.queued)
        goto done;                  /* nothing copied, no reference taken */

    m = msg_make(event, shared ? 0 : len);
    if (!m) {
        for (i = first; i < end; i++)
            if (TOOK(took, i))
                claim_end(&g->w[i], 1);
        acc.queued = 0;
        st = APR_ENOMEM;
        goto done;
    }
    m->sender = me;
    if (shared) {
        m->shared = pev_shared_ref(shared);
        m->data = shared->data;
        m->len = shared->len;
    } else if (len) {
        char *bytes = (char *) m + ALIGN_UP(sizeof *m + strlen(event) + 1);

        memcpy(bytes, data, len);
        m->data = bytes;
        m->len = len;
    }
    for (i = first; i < end; i++) {
        pev_worker_t *w = &g->w[i];
        apr_status_t s;

        if (!TOOK(took, i))
            continue;
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
        s = pev_loop_post(w->loop, deliver, m);
        if (s != APR_SUCCESS) {     /* never the last: the sender holds one */
            atomic_fetch_sub_explicit(&m->refs, 1, memory_order_relaxed);
            acc.queued--;
            if (st == APR_SUCCESS)
                st = s;
        }
        claim_end(w, s != APR_SUCCESS);
    }
    msg_release(m);                 /* the sender's */
done:
    if (sent)
        *sent = acc;
    return st;
}

apr_status_t pev_workers_send(pev_workers_t *group, int to, const char *event,
                              const void *data, apr_size_t len)
{
    return pev_workers_send_ex(NULL, group, to, event, data, len, NULL, 0);
}

apr_status_t pev_workers_send_shared(pev_workers_t *group, int to, const char *event,
                                     pev_shared_t *shared)
{
    if (!shared)
        return APR_EINVAL;
    return pev_workers_send_ex(NULL, group, to, event, NULL, 0, shared, 0);
}

apr_status_t pev_workers_set_queue_limit(pev_workers_t *g, apr_size_t limit)
{
    if (!g)
        return APR_EINVAL;
    atomic_store_explicit(&g->limit, limit, memory_order_relaxed);
    return APR_SUCCESS;
}

apr_size_t pev_workers_queue_limit(const pev_workers_t *g)
{
    return g ? atomic_load_explicit(&((pev_workers_t *) g)->limit, memory_order_relaxed) : 0;
}

apr_status_t pev_workers_queue_stats(pev_worker_queue_stats_t *stats, const pev_workers_t *g,
                                     int i)
{
    pev_worker_t *w;

    if (!stats || !g || i < 0 || i >= g->n)
        return APR_EINVAL;
    w = &g->w[i];
    stats->delivered = atomic_load_explicit(&w->delivered, memory_order_relaxed);
    stats->released = atomic_load_explicit(&w->released, memory_order_relaxed);
    stats->refused = atomic_load_explicit(&w->refused, memory_order_relaxed);
    stats->queued = atomic_load_explicit(&w->queued, memory_order_relaxed);
    stats->peak = atomic_load_explicit(&w->peak, memory_order_relaxed);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                   */

/* Arrive at a meeting point (@a count, with its own @a failed flag: a
 * worker slow to leave one meeting must not see the next one's failures)
 * with @a st, and wait for all. Returns non-zero when a worker failed. */
static int meet(pev_workers_t *g, int *count, int *failedp, pev_worker_t *w, apr_status_t st)
{
    int failed;

    pthread_mutex_lock(&g->mu);
    if (st != APR_SUCCESS) {
        w->err = st;
        *failedp = g->failed = 1;
    }
    (*count)++;
    pthread_cond_broadcast(&g->cv);
    while (*count < g->n)
        pthread_cond_wait(&g->cv, &g->mu);
    failed = *failedp;
    pthread_mutex_unlock(&g->mu);
    return failed;
}

/* Close @a w to sends, wait for those under way, destroy its pool (posted
 * calls still queued are cancelled: their messages released). */
static void worker_close(pev_worker_t *w)
{
    atomic_store(&w->open, 0);
    while (atomic_load(&w->sending) > 0)
        sched_yield();
    if (w->pool)
        apr_pool_destroy(w->pool);
    w->pool = NULL;
    w->loop = NULL;
    w->bus = NULL;
}

static void *worker_main(void *arg)
{
    pev_worker_t *w = arg;
    pev_workers_t *g = w->group;
    apr_status_t st;
    int go;

    self = w;
    st = apr_pool_create_unmanaged_ex(&w->pool, NULL, NULL);
    if (st == APR_SUCCESS) {
        apr_pool_tag(w->pool, "pev_worker");
        st = pev_loop_create(&w->loop, w->pool);
    }
    if (st == APR_SUCCESS)
        st = pev_bus_create(&w->bus, w->pool);
    if (st == APR_SUCCESS)
        atomic_store(&w->open, 1);
    if (!meet(g, &g->made, &g->made_failed, w, st)) {
        st = g->init ? g->init(w, g->user_data) : APR_SUCCESS;
        w->inited = (st == APR_SUCCESS);
    }
    meet(g, &g->inited, &g->init_failed, w, st);
    pthread_mutex_lock(&g->mu);
    while (g->go == 0)
        pthread_cond_wait(&g->cv, &g->mu);
    go = g->go;
    pthread_mutex_unlock(&g->mu);

    while (go > 0 && !atomic_load(&g->stopping)) {
        st = pev_loop_run_once(w->loop, -1);
        if (st != APR_SUCCESS) {
            w->err = st;
            break;
        }
    }
    if (w->inited && g->exit)
        (void) g->exit(w, g->user_data);
    worker_close(w);
    return NULL;
}

static apr_status_t group_cleanup(void *data)
{
    pev_workers_t *g = data;

    if (self && self->group == g) {
        fprintf(stderr, "poolev: a worker group's pool was destroyed on one of its "
                "workers\n");
        abort();
    }
    pev_workers_stop(g);
    pev_workers_join(g);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    return APR_SUCCESS;
}

apr_status_t pev_workers_create(pev_workers_t **group, int n, pev_worker_fn *init,
                                pev_worker_fn *exit, void *user_data, apr_pool_t *pool)
{
    pev_workers_t *g;
    int i;

    if (!group || !pool || n < 1 || n > PEV_WORKERS_MAX)
        return APR_EINVAL;
    g = apr_pcalloc(pool, sizeof *g);
    g->w = apr_pcalloc(pool, sizeof *g->w * (apr_size_t) n);
    if (!g || !g->w)
        return APR_ENOMEM;
    if (pthread_mutex_init(&g->mu, NULL) != 0)
        return APR_ENOMEM;
    if (pthread_cond_init(&g->cv, NULL) != 0) {
        pthread_mutex_destroy(&g->mu);
        return APR_ENOMEM;
    }
    g->pool = pool;
    g->n = n;
    g->init = init;
    g->exit = exit;
    g->user_data = user_data;
    atomic_init(&g->stopping, 0);
    atomic_init(&g->limit, PEV_WORKERS_QUEUE_DEFAULT);
    for (i = 0; i < n; i++) {
        g->w[i].group = g;
        g->w[i].index = i;
        atomic_init(&g->w[i].open, 0);
        atomic_init(&g->w[i].sending, 0);
        atomic_init(&g->w[i].queued, 0);
        atomic_init(&g->w[i].peak, 0);
        atomic_init(&g->w[i].refused, 0);
        atomic_init(&g->w[i].delivered, 0);
        atomic_init(&g->w[i].released, 0);
    }
    /* a pre-cleanup: the workers stop before the pool's subpools (where
     * the hooks' data may live) go */
    apr_pool_pre_cleanup_register(pool, g, group_cleanup);
    *group = g;
    return APR_SUCCESS;
}

apr_status_t pev_workers_start(pev_workers_t *g)
{
    sigset_t all, old;
    apr_status_t st = APR_SUCCESS;
    int i;

    if (!g)
        return APR_EINVAL;
    if (g->started || (self && self->group == g))
        return PEV_EBUSY;
    g->started = 1;
    /* the workers start with every asynchronous signal blocked: signals
     * are taken on the threads that did not block them (poolev/signal.h
     * handlers wake their own loop from whichever thread the kernel
     * picks) */
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (i = 0; i < g->n; i++) {
        pev_worker_t *w = &g->w[i];
        int rc = pthread_create(&w->thread, NULL, worker_main, w);

        if (rc == 0) {
            w->thread_made = 1;
            continue;
        }
        /* arrive at both meeting points for it */
        pthread_mutex_lock(&g->mu);
        w->err = APR_FROM_OS_ERROR(rc);
        g->failed = g->made_failed = g->init_failed = 1;
        g->made++;
        g->inited++;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    pthread_mutex_lock(&g->mu);
    while (g->inited < g->n)
        pthread_cond_wait(&g->cv, &g->mu);
    g->go = g->failed ? -1 : 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    if (g->go > 0)
        return APR_SUCCESS;
    for (i = 0; i < g->n && st == APR_SUCCESS; i++)
        st = g->w[i].err;
    pev_workers_join(g);
    return st != APR_SUCCESS ? st : APR_EGENERAL;
}

apr_status_t pev_workers_stop(pev_workers_t *g)
{
    int i;

    if (!g)
        return APR_EINVAL;
    atomic_store(&g->stopping, 1);
    for (i = 0; i < g->n; i++) {
        pev_worker_t *w = &g->w[i];

        atomic_fetch_add(&w->sending, 1);
        if (atomic_load(&w->open))
            pev_loop_wakeup(w->loop);
        atomic_fetch_sub(&w->sending, 1);
    }
    return APR_SUCCESS;
}

apr_status_t pev_workers_join(pev_workers_t *g)
{
    int i;

    if (!g)
        return APR_EINVAL;
    if (self && self->group == g)
        return PEV_EBUSY;
    if (!g->started || g->joined)
        return APR_SUCCESS;
    for (i = 0; i < g->n; i++)
        if (g->w[i].thread_made)
            pthread_join(g->w[i].thread, NULL);
    g->joined = 1;
    return APR_SUCCESS;
}

int pev_workers_count(const pev_workers_t *g)
{
    return g ? g->n : 0;
}

pev_worker_t *pev_workers_worker(pev_workers_t *g, int i)
{
    return (g && i >= 0 && i < g->n) ? &g->w[i] : NULL;
}

pev_worker_t *pev_worker_self(void)
{
    return self;
}

int pev_worker_index(const pev_worker_t *w)
{
    return w ? w->index : -1;
}

pev_workers_t *pev_worker_group(const pev_worker_t *w)
{
    return w ? w->group : NULL;
}

apr_pool_t *pev_worker_pool(const pev_worker_t *w)
{
    return w ? w->pool : NULL;
}

pev_loop_t *pev_worker_loop(const pev_worker_t *w)
{
    return w ? w->loop : NULL;
}

pev_bus_t *pev_worker_bus(const pev_worker_t *w)
{
    return w ? w->bus : NULL;
}
