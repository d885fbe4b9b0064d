/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * dworkers.c - the core directive Workers, and the daemon's worker threads
 * (poolev/workers.h) under Workers N > 1.
 *
 * What runs where:
 *  - the main thread (the one that runs pev_daemon_run()): the signals,
 *    reading and checking the configuration, the listening sockets and the
 *    accepts, the pid file, the privileges, the modules' process_init, the
 *    daemon's bus (pev_daemon_bus() there) and the log's sinks;
 *  - worker i: its own context (pevi_wctx_t): its bus, loop and pools, the
 *    modules' init for the generation (registrations bound to its own
 *    pev_gen_pool()), and the connections handed to it.
 * An accepted socket travels as a descriptor (with its addresses and
 * whether its listener is a TLS one) in a
 * shared block sent to the next worker round-robin, and becomes an
 * apr_socket_t in a connection pool made on that worker from its own pool:
 * no pool of the main thread is touched by a worker, nor the other way
 * round. A block released undelivered (the worker stopping) closes the
 * descriptor.
 *
 * Generations: the main thread reads, parses and checks a reload's
 * configuration once, ends its own generation and makes the next one
 * (immutable from then on: the record, the module configurations, the TLS
 * context), then sends it to every worker, each with a hold on it. Each
 * worker switches at its next iteration: core.restart on its bus, its old
 * generation pool destroyed, the modules' inits for the new one in a new
 * pool of its own, core.postparse. A connection holds its generation until
 * it closes; a worker holds the one it serves. The last hold on a
 * generation (gen->refs, atomic) destroys its shared pool on the main
 * thread, which owns it: a worker's last hold posts the destruction
 * there. A reload that fails its checks changes nothing on any thread; a
 * worker whose init fails stops the daemon, as a failed restart init does
 * under Workers 1.
 *
 * WorkerQueueLimit bounds the events queued for each worker (the group's
 * queue limit, set at the start and at each reload): a connection handed
 * to a full worker goes to the next one with room; the generation switch
 * is forced past the limit.
 *
 * limits.c's table (MaxConnections, MaxConnectionsPerHost) is shared by the
 * workers behind one mutex; a worker's log lines are copied and posted to
 * the main thread's loop.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sys/socket.h>

#include <apr_portable.h>
#include <apr_strings.h>

#include "daemon_int.h"

#define HANDOFF_EVENT "core.worker-handoff"
#define SWITCH_EVENT "core.worker-switch"

struct pevi_dworkers {
    pev_daemon_t *d;
    apr_pool_t *pool;               /* the group's (a subpool of d->pool) */
    pev_workers_t *group;
    int n;
    pevi_wctx_t *ctx;               /* n contexts, each its worker's */
    char (*err)[512];               /* per worker: why its init failed */
    pev_gen_t *gen;
    unsigned rr;                    /* the next worker to hand a socket to */
    pthread_mutex_t mu;             /* limits.c's table */
};

/* ------------------------------------------------------------------------ */
/* The directive                                                             */

static const char *core_workers(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    long v;
    const char *err;

    (void) mconf;
    (void) argc;
    if (gen->workers)
        return "given twice";
    if (strcasecmp(argv[1], "auto") == 0) {
        v = sysconf(_SC_NPROCESSORS_ONLN);
        if (v < 1)
            v = 1;
        if (v > PEV_WORKERS_MAX)
            v = PEV_WORKERS_MAX;
    }
    else if ((err = pev_parse_long(argv[1], 1, PEV_WORKERS_MAX, &v)) != NULL)
        return apr_psprintf(gen->conf_pool, "%s (or auto)", err);
    gen->workers = (int) v;
    return NULL;
}

/* A directive's argument MICROSECONDS|off (0 to @a max; off: 0) into *out,
 * once (*given counts). NULL, or the message. */
static const char *usec_or_off(pev_gen_t *gen, const char *arg, long max, int *given,
                               int *out)
{
    long v;
    const char *err;

    if ((*given)++)
        return "given twice";
    if (strcasecmp(arg, "off") == 0)
        v = 0;
    else if ((err = pev_parse_long(arg, 0, max, &v)) != NULL)
        return apr_psprintf(gen->conf_pool, "%s microseconds (or off)", err);
    *out = (int) v;
    return NULL;
}

static const char *core_loop_spin(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    (void) mconf;
    (void) argc;
    return usec_or_off(gen, argv[1], 10000, &gen->spin_given, &gen->spin);
}

static const char *core_flush_slice(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    (void) mconf;
    (void) argc;
    return usec_or_off(gen, argv[1], 100000, &gen->flush_slice_given, &gen->flush_slice);
}

void pevi_gen_apply_loop(const pev_gen_t *gen, pev_loop_t *loop)
{
    (void) pev_loop_set_spin(loop, gen ? gen->spin : 0);
    (void) pev_loop_set_flush_slice(loop, !gen ? 0
                                    : gen->flush_slice_given ? gen->flush_slice
                                    : PEVI_FLUSH_SLICE_DEFAULT);
}

static const char *core_worker_queue_limit(pev_gen_t *gen, void *mconf, int argc,
                                           char *argv[])
{
    long v;
    const char *err;

    (void) mconf;
    (void) argc;
    if (gen->queue_limit_set)
        return "given twice";
    if ((err = pev_parse_long(argv[1], 0, PEVI_WORKER_QUEUE_MAX, &v)) != NULL)
        return apr_psprintf(gen->conf_pool, "%s (0: no limit)", err);
    gen->queue_limit = (apr_size_t) v;
    gen->queue_limit_set = 1;
    return NULL;
}

const pev_directive_t pevi_workers_directives[] = {
    { "Workers", 1, 1, core_workers, "COUNT|auto" },
    { "LoopSpin", 1, 1, core_loop_spin, "MICROSECONDS|off" },
    { "FlushSlice", 1, 1, core_flush_slice, "MICROSECONDS|off" },
    { "WorkerQueueLimit", 1, 1, core_worker_queue_limit, "COUNT" },
    { NULL, 0, 0, NULL, NULL }
};

/* The queue limit @a gen asks for. */
static apr_size_t gen_queue_limit(const pev_gen_t *gen)
{
    return gen->queue_limit_set ? gen->queue_limit : PEVI_WORKER_QUEUE_DEFAULT;
}

int pevi_gen_workers(const pev_gen_t *gen)
{
    return gen && gen->workers > 1 ? gen->workers : 1;
}

int pev_gen_workers(const pev_gen_t *gen)
{
    return pevi_gen_workers(gen);
}

apr_status_t pevi_workers_check(pev_daemon_t *d, const pev_gen_t *gen, const char *name)
{
    int n = pevi_gen_workers(gen);

    if (d->gen && d->state == D_RUNNING && n != pevi_gen_workers(d->gen)) {
        pevi_daemon_set_error(d, "%s: Workers cannot change on a reload (%d running, %d "
                              "asked): restart the process", name, pevi_gen_workers(d->gen),
                              n);
        return PEV_ECONFIG;
    }
    if (n > 1 && !(d->flags & PEV_DAEMON_WORKERS_OK)) {
        pevi_daemon_set_error(d, "%s: Workers %d: this program runs one worker (its "
                              "modules are not written for several threads)", name, n);
        return PEV_ECONFIG;
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Contexts                                                                  */

pevi_wctx_t *pevi_wctx(const pev_daemon_t *d)
{
    const struct pevi_dworkers *wk = d->wk;

    if (wk) {
        pev_worker_t *self = pev_worker_self();

        if (self && pev_worker_group(self) == wk->group)
            return &wk->ctx[pev_worker_index(self)];
    }
    return (pevi_wctx_t *) &d->main;
}

pev_gen_t *pevi_daemon_gen(const pev_daemon_t *d)
{
    const pevi_wctx_t *w = pevi_wctx(d);

    return w->index >= 0 ? w->gen : d->gen;
}

/* ------------------------------------------------------------------------ */
/* Generations across threads                                                */

static void gen_gone_run(void *user_data, int cancelled)
{
    pev_gen_t *gen = user_data;

    /* cancelled: the daemon's pool goes, and its subpools with it */
    if (!cancelled && !gen->d->dying)
        apr_pool_destroy(gen->conf_pool);
}

void pevi_workers_gen_gone(pev_gen_t *gen)
{
    /* the main loop lives as long as the daemon, longer than its workers;
     * should the post fail, the daemon's pool takes the shared pool */
    (void) pev_loop_post(gen->d->loop, gen_gone_run, gen);
}

void pevi_workers_lock(pev_daemon_t *d)
{
    if (d->wk)
        pthread_mutex_lock(&d->wk->mu);
}

void pevi_workers_unlock(pev_daemon_t *d)
{
    if (d->wk)
        pthread_mutex_unlock(&d->wk->mu);
}

apr_size_t pevi_workers_conns(const pev_daemon_t *d)
{
    apr_size_t n;

    if (!d->wk || !d->proc)
        return 0;
    pthread_mutex_lock(&d->wk->mu);
    n = d->proc->wconns;
    pthread_mutex_unlock(&d->wk->mu);
    return n;
}

/* ------------------------------------------------------------------------ */
/* Log lines from the workers                                                */

typedef struct wlog {
    pev_daemon_t *d;
    pev_log_level_t level;
    char msg[];
} wlog_t;

static void wlog_run(void *user_data, int cancelled)
{
    wlog_t *m = user_data;

    if (!cancelled)
        pev_daemon_log(m->d, m->level, "%s", m->msg);
    free(m);
}

void pevi_workers_log(pev_daemon_t *d, pev_log_level_t level, const char *msg)
{
    size_t len = strlen(msg);
    wlog_t *m = malloc(sizeof *m + len + 1);

    if (!m)
        return;
    m->d = d;
    m->level = level;
    memcpy(m->msg, msg, len + 1);
    /* the main loop lives as long as the daemon, longer than its workers */
    if (pev_loop_post(d->loop, wlog_run, m) != APR_SUCCESS)
        free(m);
}

/* ------------------------------------------------------------------------ */
/* Accepted sockets                                                          */

typedef struct handoff {
    int fd;                         /* -1 once a worker took it */
    int tls;                        /* accepted on a TLS listener */
    int family;
    struct sockaddr_storage local, remote;
} handoff_t;

static void handoff_free(void *data, apr_size_t len, void *ctx)
{
    handoff_t *h = (handoff_t *) data;

    (void) len;
    (void) ctx;
    if (h->fd >= 0)
        close(h->fd);
    free(h);
}

void pevi_workers_handoff(pev_daemon_t *d, int fd, int tls)
{
    struct pevi_dworkers *wk = d->wk;
    handoff_t *h = calloc(1, sizeof *h);
    socklen_t sl;
    pev_shared_t *sh;
    apr_status_t st;
    char eb[256];
    int to, i;

    if (!h) {
        close(fd);
        return;
    }
    h->fd = fd;
    h->tls = tls;
    sl = sizeof h->remote;
    if (getpeername(fd, (struct sockaddr *) &h->remote, &sl) != 0)
        h->remote.ss_family = AF_UNSPEC;
    sl = sizeof h->local;
    if (getsockname(fd, (struct sockaddr *) &h->local, &sl) != 0)
        h->local.ss_family = AF_UNSPEC;
    h->family = h->local.ss_family != AF_UNSPEC ? h->local.ss_family : AF_INET;
    if (pev_shared_wrap(&sh, h, sizeof *h, handoff_free, NULL) != APR_SUCCESS) {
        handoff_free(h, sizeof *h, NULL);
        return;
    }
    to = (int) (wk->rr++ % (unsigned) wk->n);
    st = pev_workers_send_shared(wk->group, to, HANDOFF_EVENT, sh);
    /* a worker whose queue is full (WorkerQueueLimit): the next ones with
     * room, in turn; the round-robin goes on from the first choice */
    for (i = 1; st == PEV_EFULL && i < wk->n; i++)
        st = pev_workers_send_shared(wk->group, (to + i) % wk->n, HANDOFF_EVENT, sh);
    if (st != APR_SUCCESS)
        pev_daemon_log(d, PEV_LOG_ERROR, "cannot hand a connection to worker %d%s: %s", to,
                       st == PEV_EFULL ? " or any other" : "",
                       pev_strerror(st, eb, sizeof eb));
    pev_shared_release(sh);         /* the last one closes it when not taken */
}

/* On the worker: the socket becomes an apr_socket_t in a connection pool
 * made from the worker's own pool. */
static void on_handoff(const void *event_data, void *user_data)
{
    const pev_worker_event_t *ev = event_data;
    pevi_wctx_t *w = user_data;
    handoff_t *h = (handoff_t *) pev_shared_data(ev->shared);
    apr_os_sock_t fd = h->fd;
    apr_os_sock_info_t info;
    apr_socket_t *ns;
    apr_pool_t *cp;
    apr_status_t st;
    char eb[256];

    if (fd < 0 || !w->gen || w->closing)
        return;                     /* released: closed by handoff_free() */
    if (h->tls && !w->gen->tls)
        return;                     /* a TLS listener of a generation this
                                     * worker has not switched to yet */
    st = apr_pool_create(&cp, w->pool);
    if (st != APR_SUCCESS)
        return;
    apr_pool_tag(cp, "pev_conn");
    memset(&info, 0, sizeof info);
    info.os_sock = &fd;
    info.local = h->local.ss_family != AF_UNSPEC ? (struct sockaddr *) &h->local : NULL;
    info.remote = h->remote.ss_family != AF_UNSPEC ? (struct sockaddr *) &h->remote : NULL;
    info.family = h->family;
    info.type = SOCK_STREAM;
    info.protocol = APR_PROTO_TCP;
    st = apr_os_sock_make(&ns, &info, cp);
    if (st != APR_SUCCESS) {
        pev_daemon_log(w->d, PEV_LOG_ERROR, "worker %d: cannot take a connection: %s",
                       w->index, pev_strerror(st, eb, sizeof eb));
        apr_pool_destroy(cp);
        return;                     /* handoff_free() closes it */
    }
    h->fd = -1;                     /* the socket's pool closes it now */
    /* the generation's TLS context is immutable while the workers run (it
     * goes with the generation, after they were joined); each connection
     * makes its own SSL from it (SSL_new() is thread-safe) */
    pevi_conn_accept(w, cp, ns, h->tls ? w->gen->tls : NULL);
}

/* ------------------------------------------------------------------------ */
/* The workers' hooks                                                        */

static void on_switch(const void *event_data, void *user_data);

/* Every module's init for @a gen on worker @a w, in a new generation pool
 * of the worker's (w->gen_pool), the worker holding @a gen from now on
 * (the caller's hold passes to it). On failure @a err says why. */
static apr_status_t worker_inits(pevi_wctx_t *w, pev_gen_t *gen, char *err, size_t errlen)
{
    pev_daemon_t *d = w->d;
    apr_status_t st;
    char eb[256];
    int m;

    w->gen = gen;                   /* pev_gen_pool() is w->gen_pool from now on */
    pevi_gen_apply_loop(gen, w->loop);
    st = apr_pool_create(&w->gen_pool, w->pool);
    if (st != APR_SUCCESS) {
        w->gen_pool = NULL;
        snprintf(err, errlen, "worker %d: %s", w->index, pev_strerror(st, eb, sizeof eb));
        return st;
    }
    apr_pool_tag(w->gen_pool, "pev_gen_worker");
    for (m = 0; m < d->nmods; m++) {
        const pev_module_def_t *def = d->defs[m];

        if (!def->init)
            continue;
        w->fail = NULL;
        st = def->init(gen, w->mods[m], gen->mconf[m]);
        if (st != APR_SUCCESS) {
            snprintf(err, errlen, "module %s: %s", def->name,
                     w->fail ? w->fail : pev_strerror(st, eb, sizeof eb));
            return st;
        }
        if (!w->gen_pool) {
            snprintf(err, errlen, "module %s: the generation ended during its init",
                     def->name);
            return APR_EGENERAL;
        }
    }
    return APR_SUCCESS;
}

/* The worker lets its generation go: its pool (its registrations), then
 * its hold. */
static void worker_release_gen(pevi_wctx_t *w)
{
    pev_gen_t *gen = w->gen;

    if (w->gen_pool)
        apr_pool_destroy(w->gen_pool);
    w->gen_pool = NULL;
    w->gen = NULL;
    if (gen)
        pevi_gen_unref(gen);
}

static apr_status_t wk_init(pev_worker_t *worker, void *user_data)
{
    struct pevi_dworkers *wk = user_data;
    pev_daemon_t *d = wk->d;
    int i = pev_worker_index(worker), m;
    pevi_wctx_t *w = &wk->ctx[i];
    pev_gen_t *gen = wk->gen;
    char *err = wk->err[i];
    apr_status_t st;
    char eb[256];

    w->d = d;
    w->index = i;
    w->worker = worker;
    w->pool = pev_worker_pool(worker);
    w->bus = pev_worker_bus(worker);
    w->loop = pev_worker_loop(worker);
    pevi_list_init(&w->conns);
    pevi_list_init(&w->refusing);
    w->mods = apr_pcalloc(w->pool, sizeof(pev_module_t *) * (apr_size_t) (d->nmods + 1));
    atomic_fetch_add(&gen->refs, 1);    /* the worker's hold */
    for (m = 0, st = APR_SUCCESS; st == APR_SUCCESS && m < d->nmods; m++) {
        st = pev_module_add(&w->mods[m], w->bus, d->defs[m]->name);
        if (st != APR_SUCCESS)
            snprintf(err, sizeof wk->err[i], "worker %d: module %s: %s", i,
                     d->defs[m]->name, pev_strerror(st, eb, sizeof eb));
    }
    if (st == APR_SUCCESS) {
        st = pev_event_register(NULL, w->bus, NULL, HANDOFF_EVENT, on_handoff, w, w->pool);
        if (st == APR_SUCCESS)
            st = pev_event_register(NULL, w->bus, NULL, SWITCH_EVENT, on_switch, w, w->pool);
        if (st != APR_SUCCESS)
            snprintf(err, sizeof wk->err[i], "worker %d: %s", i,
                     pev_strerror(st, eb, sizeof eb));
    }
    if (st == APR_SUCCESS)
        st = worker_inits(w, gen, err, sizeof wk->err[i]);
    else
        w->gen = gen;
    if (st != APR_SUCCESS) {
        /* no exit hook for this worker: let go here */
        worker_release_gen(w);
        return st;
    }
    pev_event_generate(w->bus, PEV_EVENT_POSTPARSE, gen);
    pev_event_generate(w->bus, PEV_EVENT_STARTUP, gen);
    return APR_SUCCESS;
}

/* The stop (or a start that failed on another worker): this worker's
 * connections close, on its thread, before its pools go. */
static apr_status_t wk_exit(pev_worker_t *worker, void *user_data)
{
    struct pevi_dworkers *wk = user_data;
    pevi_wctx_t *w = &wk->ctx[pev_worker_index(worker)];
    pev_gen_t *gen = w->gen;

    w->closing = 1;                 /* sockets still in flight are closed */
    if (gen) {
        pev_event_generate(w->bus, PEV_EVENT_SHUTDOWN, gen);
        pevi_conn_close_all(w);
        pevi_conn_drop_refused(w);
        pev_event_generate(w->bus, PEV_EVENT_EXIT, gen);
    }
    worker_release_gen(w);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Reloads                                                                   */

typedef struct switch_msg {
    pev_gen_t *gen;                 /* with a hold for the receiver */
    int taken;                      /* the receiver took the hold */
} switch_msg_t;

static void switch_free(void *data, apr_size_t len, void *ctx)
{
    switch_msg_t *m = (switch_msg_t *) data;

    (void) len;
    (void) ctx;
    if (!m->taken)
        pevi_gen_unref(m->gen);     /* a worker that stopped: never delivered */
    free(m);
}

/* On the worker: its next iteration after the main thread's switch. */
static void on_switch(const void *event_data, void *user_data)
{
    const pev_worker_event_t *ev = event_data;
    pevi_wctx_t *w = user_data;
    switch_msg_t *m = (switch_msg_t *) pev_shared_data(ev->shared);
    pev_gen_t *gen = m->gen, *old = w->gen;
    char err[512];

    if (w->closing)
        return;                     /* switch_free() drops the hold */
    m->taken = 1;
    if (old)
        pev_event_generate(w->bus, PEV_EVENT_RESTART, old);
    /* old's registrations go; its connections keep old until they close */
    worker_release_gen(w);
    err[0] = '\0';
    if (worker_inits(w, gen, err, sizeof err) != APR_SUCCESS) {
        pev_daemon_log(w->d, PEV_LOG_ERROR, "worker %d: restart failed, stopping: %s",
                       w->index, err);
        (void) pevi_workers_post_stop(w->d, APR_EGENERAL);
        return;
    }
    pev_event_generate(w->bus, PEV_EVENT_POSTPARSE, gen);
}

void pevi_workers_switch(pev_daemon_t *d, pev_gen_t *gen)
{
    struct pevi_dworkers *wk = d->wk;
    apr_status_t st;
    char eb[256];
    int i;

    /* the next generation's limit, for the sends from now on */
    (void) pev_workers_set_queue_limit(wk->group, gen_queue_limit(gen));
    for (i = 0; i < wk->n; i++) {
        switch_msg_t *m = malloc(sizeof *m);
        pev_shared_t *sh;

        if (!m) {
            pev_daemon_log(d, PEV_LOG_ERROR, "worker %d: cannot switch: out of memory", i);
            continue;
        }
        m->gen = gen;
        m->taken = 0;
        atomic_fetch_add(&gen->refs, 1);
        if (pev_shared_wrap(&sh, m, sizeof *m, switch_free, NULL) != APR_SUCCESS) {
            switch_free(m, sizeof *m, NULL);
            continue;
        }
        /* sent after every connection handed to it so far, before every
         * later one: a connection accepted from now on gets @a gen. Forced
         * past the queue limit: one per reload, and never lost to a flood
         * of other events */
        st = pev_workers_send_ex(NULL, wk->group, i, SWITCH_EVENT, NULL, 0, sh,
                                 PEV_WORKERS_FORCE);
        if (st != APR_SUCCESS)
            pev_daemon_log(d, PEV_LOG_ERROR, "worker %d: cannot switch: %s", i,
                           pev_strerror(st, eb, sizeof eb));
        pev_shared_release(sh);
    }
}

/* ------------------------------------------------------------------------ */
/* Start and stop                                                            */

static void workers_end(pev_daemon_t *d)
{
    struct pevi_dworkers *wk = d->wk;

    if (!wk)
        return;
    /* joins every worker: each closed its connections in its exit hook */
    pev_workers_stop(wk->group);
    pev_workers_join(wk->group);
    d->wk = NULL;
    pthread_mutex_destroy(&wk->mu);
    apr_pool_destroy(wk->pool);
}

/* The daemon's pool goes while the workers run: they stop first, while
 * what they use (the generation, the limits' table, the main loop) is
 * still there. After a stop it finds none. */
static apr_status_t workers_pre_cleanup(void *data)
{
    workers_end(data);
    return APR_SUCCESS;
}

apr_status_t pevi_workers_start(pev_daemon_t *d, pev_gen_t *gen)
{
    struct pevi_dworkers *wk;
    apr_pool_t *p;
    apr_status_t st;
    int n = pevi_gen_workers(gen), i;
    char eb[256];

    st = apr_pool_create(&p, d->pool);
    if (st != APR_SUCCESS)
        return st;
    apr_pool_tag(p, "pev_daemon_workers");
    wk = apr_pcalloc(p, sizeof *wk);
    wk->d = d;
    wk->pool = p;
    wk->n = n;
    wk->gen = gen;
    wk->ctx = apr_pcalloc(p, sizeof *wk->ctx * (apr_size_t) n);
    wk->err = apr_pcalloc(p, sizeof *wk->err * (apr_size_t) n);
    for (i = 0; i < n; i++)
        wk->ctx[i].index = i;
    pthread_mutex_init(&wk->mu, NULL);
    st = pev_workers_create(&wk->group, n, wk_init, wk_exit, wk, p);
    if (st != APR_SUCCESS) {
        pthread_mutex_destroy(&wk->mu);
        apr_pool_destroy(p);
        pevi_daemon_set_error(d, "cannot make %d workers: %s", n,
                              pev_strerror(st, eb, sizeof eb));
        return st;
    }
    (void) pev_workers_set_queue_limit(wk->group, gen_queue_limit(gen));
    d->wk = wk;                     /* before the threads: they read it */
    st = pev_workers_start(wk->group);
    if (st != APR_SUCCESS) {
        const char *why = NULL;

        /* every worker was joined: their messages can be read */
        for (i = 0; i < n && !why; i++)
            if (wk->err[i][0])
                why = wk->err[i];
        pevi_daemon_set_error(d, "%s", why ? why : pev_strerror(st, eb, sizeof eb));
        d->wk = NULL;
        pthread_mutex_destroy(&wk->mu);
        apr_pool_destroy(p);
        return st;
    }
    apr_pool_pre_cleanup_register(d->pool, d, workers_pre_cleanup);
    pev_daemon_log(d, PEV_LOG_INFO, "%d workers running", n);
    return APR_SUCCESS;
}

typedef struct stop_msg {
    pev_daemon_t *d;
    apr_status_t status;
} stop_msg_t;

static void stop_posted(void *user_data, int cancelled)
{
    stop_msg_t *m = user_data;

    if (!cancelled) {
        if (m->status != APR_SUCCESS)
            m->d->exit_status = m->status;
        (void) pev_daemon_stop(m->d);
    }
    free(m);
}

apr_status_t pevi_workers_post_stop(pev_daemon_t *d, apr_status_t status)
{
    stop_msg_t *m = malloc(sizeof *m);
    apr_status_t st;

    if (!m)
        return APR_ENOMEM;
    m->d = d;
    m->status = status;
    st = pev_loop_post(d->loop, stop_posted, m);
    if (st != APR_SUCCESS)
        free(m);
    return st;
}

void pevi_workers_stop(pev_daemon_t *d)
{
    if (!d->wk)
        return;
    workers_end(d);
    /* the lines the workers logged while they stopped */
    (void) pev_loop_run_once(d->loop, 0);
}
