/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * connect.c - outbound connections (poolev/connect.h): resolve with c-ares
 * on the loop's watchers and timers, connect each address in turn without
 * blocking, hand back a stream.
 *
 * A request is owned through its pool (owner.h), in the loop's owners of
 * requests (pevi_loop_owners(), loop_int.h): the pool's teardown releases
 * it, the loop's orphans it; both stop it without a callback. A request is
 * PENDING (resolving, then connecting) until it finishes, is cancelled or
 * is stopped by its pool or its loop going; then it is off its owner and
 * nothing of it runs again.
 *
 * Everything a request uses is a public poolev object in the request's
 * pool: a watcher per c-ares socket and one on the socket being connected,
 * a timer for c-ares's timeouts, one for the request's deadline, and the
 * "step", a deferred call that moves the request on from the loop (the
 * first connect, the end of a lookup, a failure known at once). Stopping a
 * request removes and cancels them; when its pool is the one going, some
 * of them may be released already, and when the loop is going some may be
 * inert: the calls then return a status and do nothing.
 *
 * Re-entrancy:
 *  - c-ares calls back (the lookup's end, its sockets' states) from inside
 *    ares_getaddrinfo(), ares_process_fd() and ares_destroy(). Those
 *    callbacks only record what happened and arm the step: no user code
 *    runs inside c-ares, so nothing can destroy the channel or the request
 *    under it. The channel is destroyed from the step, or when the request
 *    stops (then the lookup's callback, told ARES_EDESTRUCTION, finds the
 *    request no longer pending and does nothing).
 *  - The user's callback is the last thing any path does (finish()):
 *    everything is stopped and unlinked first, and nothing of the request
 *    is touched after it returns, so the callback may destroy the request's
 *    pool or the loop without a guard.
 *
 * One c-ares channel per request: a lookup in flight is the request's alone
 * (c-ares cannot cancel one query of a shared channel), and stopping the
 * request is ares_destroy(). c-ares needs no library initialization on the
 * systems poolev runs on (ares_library_init() matters on Windows only).
 *
 * Without c-ares (configure --without-cares), a lookup is getaddrinfo(3) on
 * a thread of its own, its result posted to the loop (see "Resolving
 * (getaddrinfo on a thread)" below); the rest is the same.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <apr_portable.h>
#include <apr_strings.h>

#ifdef HAVE_CARES
#include <ares.h>
#else
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#endif

#include "poolev/connect.h"
#include "poolev/watch.h"
#include "loop_int.h"
#include "owner.h"

enum conn_stage { STAGE_RESOLVING, STAGE_CONNECTING };

#ifdef HAVE_CARES
/* A socket of the request's channel and its watcher. */
typedef struct ares_sock {
    struct ares_sock *next;         /* the request's list */
    pev_connect_t *req;
    ares_socket_t fd;               /* ARES_SOCKET_BAD: the slot is free */
    pev_watch_t *w;
} ares_sock_t;
#else
typedef struct gai_job gai_job_t;
#endif

struct pev_connect {
    pevi_link_t owned;              /* on its pool's owner list while pending */
    pev_loop_t *loop;               /* NULL once the loop went while pending */
    apr_pool_t *pool;
    const char *target;             /* "host:port", for messages */
    apr_port_t port;
    pev_connect_fn *fn;
    void *user_data;
    apr_interval_time_t timeout;
    enum conn_stage stage;
    int pending;
    apr_sockaddr_t *next;           /* the next address to try */
    apr_sockaddr_t *tried;          /* the address tried last */
    int ntried;
    apr_status_t last;              /* why the last address failed */
    apr_socket_t *sock;             /* being connected */
    pev_watch_t *sock_w;            /* its watcher */
    pev_timer_t *deadline;          /* NULL: no timeout */
    pev_timer_t *step;
    const char *why;
    const char *name;               /* the name to resolve */
    int resolved;                   /* the lookup ended */
#ifdef HAVE_CARES
    ares_channel channel;           /* NULL: none */
    pev_timer_t *ares_timer;
    ares_sock_t *socks;             /* slots, from the request's pool */
    int ares_status;                /* how the lookup ended */
#else
    gai_job_t *job;                 /* the lookup's thread's, while it runs */
    const char *gai_why;            /* NULL: resolved */
#endif
};

#ifndef HAVE_CARES
/* What a loop shares with its lookup threads (malloc, counted): a thread
 * whose loop went posts nothing. */
typedef struct gai_hub {
    pthread_mutex_t lock;
    int gone;                       /* the loop's pool is going */
    int refs;                       /* the loop's, and one per thread */
} gai_hub_t;
#endif

/* The loop's settings for its requests, in the loop's pool. */
typedef struct loop_conf {
#ifdef HAVE_CARES
    const char *dns_servers;        /* NULL: the system's */
#else
    gai_hub_t *hub;
#endif
} loop_conf_t;

static void on_step(pev_timer_t *t, void *user_data);
static void try_next(pev_connect_t *req);
static void resolver_stop(pev_connect_t *req);

/* ------------------------------------------------------------------------ */
/* Addresses                                                                 */

/* A new address of @a family (APR_INET or APR_INET6), bytes @a addr, at
 * @a port, built without any resolver. */
static apr_status_t make_addr(apr_sockaddr_t **out, int family, const void *addr,
                              apr_uint32_t scope, apr_port_t port, apr_pool_t *pool)
{
    apr_sockaddr_t *sa;
    apr_status_t st;

    /* no host name: the wildcard address, not a lookup */
    st = apr_sockaddr_info_get(&sa, NULL, family, port, 0, pool);
    if (st != APR_SUCCESS)
        return st;
    sa->next = NULL;
    memcpy(sa->ipaddr_ptr, addr, (size_t) sa->ipaddr_len);
#if APR_HAVE_IPV6
    if (family == APR_INET6)
        sa->sa.sin6.sin6_scope_id = scope;
#else
    (void) scope;
#endif
    *out = sa;
    return APR_SUCCESS;
}

/* If @a host is a numeric address (IPv6 also in brackets), its one address
 * at @a port in *@a out and APR_SUCCESS; APR_EINVAL for a name. */
static apr_status_t numeric_addr(apr_sockaddr_t **out, const char *host, apr_port_t port,
                                 apr_pool_t *pool)
{
    unsigned char buf[16];
    size_t len = strlen(host);

    if (inet_pton(AF_INET, host, buf) == 1)
        return make_addr(out, APR_INET, buf, 0, port, pool);
#if APR_HAVE_IPV6
    if (len > 2 && host[0] == '[' && host[len - 1] == ']')
        host = apr_pstrmemdup(pool, host + 1, len - 2);
    if (inet_pton(AF_INET6, host, buf) == 1)
        return make_addr(out, APR_INET6, buf, 0, port, pool);
#else
    (void) len;
#endif
    return APR_EINVAL;
}

/* The address @a a (IPv4 or IPv6) at @a port, appended at *@a tail;
 * other families are skipped. */
static void add_sockaddr(apr_sockaddr_t ***tail, const struct sockaddr *a, size_t len,
                         apr_port_t port, apr_pool_t *pool)
{
    apr_sockaddr_t *sa = NULL;

    if (a->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
        (void) make_addr(&sa, APR_INET, &((const struct sockaddr_in *) (const void *) a)->sin_addr,
                         0, port, pool);
#if APR_HAVE_IPV6
    else if (a->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *) (const void *) a;

        (void) make_addr(&sa, APR_INET6, &s6->sin6_addr, s6->sin6_scope_id, port, pool);
    }
#endif
    if (sa) {
        **tail = sa;
        *tail = &sa->next;
    }
}

/* "host:port", "[v6]:port". */
static const char *target_of(const char *host, apr_port_t port, apr_pool_t *pool)
{
    if (strchr(host, ':') && host[0] != '[')
        return apr_psprintf(pool, "[%s]:%u", host, (unsigned) port);
    return apr_psprintf(pool, "%s:%u", host, (unsigned) port);
}

static const char *addr_text(apr_sockaddr_t *sa, apr_pool_t *pool)
{
    char *ip = NULL;

    if (apr_sockaddr_ip_get(&ip, sa) != APR_SUCCESS || !ip)
        return "?";
    return apr_pstrdup(pool, ip);
}

/* ------------------------------------------------------------------------ */
/* The loop's settings                                                       */

static apr_status_t loop_conf_cleanup(void *data);

/* The settings of @a loop (made when @a make and missing); NULL if none.
 * Kept as user data of the loop's pool, under a key naming the loop: they
 * go with the loop. */
static loop_conf_t *loop_conf(pev_loop_t *loop, int make)
{
    apr_pool_t *pool = pevi_loop_pool(loop);
    char key[64];
    void *data = NULL;

    snprintf(key, sizeof key, "poolev.connect.%p", (void *) loop);
    (void) apr_pool_userdata_get(&data, key, pool);
    if (!data && make) {
        data = apr_pcalloc(pool, sizeof(loop_conf_t));
        if (data && apr_pool_userdata_set(data, key, loop_conf_cleanup, pool)
                    != APR_SUCCESS)
            data = NULL;
    }
    return data;
}

/* ------------------------------------------------------------------------ */
/* Stopping                                                                  */

static void timer_stop(pev_timer_t *t)
{
    if (t)
        (void) pev_timer_cancel(t);
}

/* Give up the address being tried: its watcher, its socket. */
static void close_attempt(pev_connect_t *req)
{
    if (req->sock_w) {
        (void) pev_watch_remove(req->sock_w);
        req->sock_w = NULL;
    }
    if (req->sock) {
        (void) apr_socket_close(req->sock);
        req->sock = NULL;
    }
}

#ifdef HAVE_CARES
/* Destroy the channel (its sockets' watchers go in its socket callback) and
 * its timer. Never from inside a c-ares callback. */
static void resolver_stop(pev_connect_t *req)
{
    ares_channel ch = req->channel;
    ares_sock_t *as;

    timer_stop(req->ares_timer);
    if (ch) {
        req->channel = NULL;
        ares_destroy(ch);
    }
    /* the socket callback removed them; a watcher c-ares never closed
     * (none should be left) goes too */
    for (as = req->socks; as; as = as->next) {
        if (as->fd != ARES_SOCKET_BAD) {
            (void) pev_watch_remove(as->w);
            as->fd = ARES_SOCKET_BAD;
        }
    }
}
#endif

/* Stop everything, without a callback. The request stays linked: the
 * caller unlinks it, or the owner it is being released from did. */
static void conn_stop(pev_connect_t *req)
{
    req->pending = 0;
    timer_stop(req->deadline);
    timer_stop(req->step);
    close_attempt(req);
    resolver_stop(req);
}

/* The end: stop, then call back, last. */
static void finish(pev_connect_t *req, apr_status_t status, pev_stream_t *stream)
{
    pev_connect_fn *fn = req->fn;
    void *user_data = req->user_data;

    conn_stop(req);
    pevi_link_remove(&req->owned);
    fn(req, status, stream, user_data);     /* may free req and the loop */
}

static void fail(pev_connect_t *req, apr_status_t status, const char *fmt, ...)
    PEV_PRINTF(3, 4);

static void fail(pev_connect_t *req, apr_status_t status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    req->why = apr_pvsprintf(req->pool, fmt, ap);
    va_end(ap);
    finish(req, status, NULL);
}

/* Every address failed; the last one's error is the request's. */
static void fail_connect(pev_connect_t *req)
{
    char buf[256];

    pev_strerror(req->last, buf, sizeof buf);
    if (!req->tried)
        fail(req, req->last, "connect to %s: %s", req->target, buf);
    else if (req->ntried == 1)
        fail(req, req->last, "connect to %s: %s (address %s)", req->target, buf,
             addr_text(req->tried, req->pool));
    else
        fail(req, req->last, "connect to %s: %s (address %s, the last of %d tried)",
             req->target, buf, addr_text(req->tried, req->pool), req->ntried);
}

/* ------------------------------------------------------------------------ */
/* Owners                                                                    */

/* The request's pool is going (owner.h). */
static void conn_release(void *loop, pevi_link_t *item)
{
    (void) loop;
    conn_stop(PEVI_CONTAINER(item, pev_connect_t, owned));
}

/* The loop is going while the request's pool lives on: the timers and
 * watchers are still whole, or inert already; either way stopping them is
 * safe. The item stays linked (the loop is walking the list). */
static void conn_orphan(void *loop, pevi_link_t *item)
{
    pev_connect_t *req = PEVI_CONTAINER(item, pev_connect_t, owned);

    (void) loop;
    conn_stop(req);
    req->loop = NULL;
}

static const char connects_key;     /* the loop's owners of requests */

static pevi_owners_t *loop_connects(pev_loop_t *loop)
{
    return pevi_loop_owners(loop, &connects_key, conn_release, conn_orphan);
}

/* ------------------------------------------------------------------------ */
/* The step, the deadline                                                    */

/* Run the step in the next iteration. */
static apr_status_t kick(pev_connect_t *req)
{
    if (req->step)
        return pev_timer_rearm(req->step, pev_loop_now(req->loop));
    return pev_loop_defer(&req->step, req->loop, on_step, req, req->pool);
}

static void on_deadline(pev_timer_t *t, void *user_data)
{
    pev_connect_t *req = user_data;
    long ms = (long) (req->timeout / 1000);

    (void) t;
    if (!req->pending)
        return;
    if (req->stage == STAGE_RESOLVING)
        fail(req, APR_TIMEUP, "connect to %s: timed out after %ld ms resolving the name",
             req->target, ms);
    else if (req->tried && req->ntried > 1)
        fail(req, APR_TIMEUP,
             "connect to %s: timed out after %ld ms (address %s, the last of %d tried)",
             req->target, ms, addr_text(req->tried, req->pool), req->ntried);
    else if (req->tried)
        fail(req, APR_TIMEUP, "connect to %s: timed out after %ld ms (address %s)",
             req->target, ms, addr_text(req->tried, req->pool));
    else
        fail(req, APR_TIMEUP, "connect to %s: timed out after %ld ms", req->target, ms);
}

/* ------------------------------------------------------------------------ */
/* Connecting                                                                */

/* The socket connected: hand it to a stream. */
static void connected(pev_connect_t *req)
{
    pev_stream_t *s = NULL;
    apr_status_t st;

    if (req->sock_w) {              /* the stream polls the descriptor now */
        (void) pev_watch_remove(req->sock_w);
        req->sock_w = NULL;
    }
    st = pev_stream_create_socket(&s, req->loop, req->sock, NULL, NULL, req->pool);
    if (st != APR_SUCCESS) {
        req->last = st;
        fail_connect(req);          /* closes the socket */
        return;
    }
    req->sock = NULL;               /* the stream's */
    finish(req, APR_SUCCESS, s);
}

static void on_writable(pev_watch_t *w, apr_int16_t events, void *user_data)
{
    pev_connect_t *req = user_data;
    apr_os_sock_t fd = -1;
    int err = 0;
    socklen_t len = sizeof err;

    (void) w;
    (void) events;
    if (apr_os_sock_get(&fd, req->sock) != APR_SUCCESS)
        err = EBADF;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno ? errno : EINVAL;
    if (err == 0) {
        connected(req);
        return;
    }
    req->last = APR_FROM_OS_ERROR(err);
    close_attempt(req);
    try_next(req);
}

/* Start connecting to @a sa: APR_SUCCESS (connected at once),
 * APR_EINPROGRESS (the watcher waits for it), or why it failed (nothing is
 * left open). */
static apr_status_t attempt(pev_connect_t *req, apr_sockaddr_t *sa)
{
    apr_status_t st;

    st = apr_socket_create(&req->sock, sa->family, SOCK_STREAM, APR_PROTO_TCP, req->pool);
    if (st != APR_SUCCESS) {
        req->sock = NULL;
        return st;
    }
    st = apr_socket_timeout_set(req->sock, 0);      /* non-blocking */
    if (st == APR_SUCCESS)
        st = apr_socket_connect(req->sock, sa);
    if (APR_STATUS_IS_EINPROGRESS(st)) {
        apr_status_t ws = pev_watch_add_socket(&req->sock_w, req->loop, req->sock,
                                               PEV_WATCH_WRITE, on_writable, req,
                                               req->pool);
        if (ws != APR_SUCCESS)
            st = ws;
    }
    if (st != APR_SUCCESS && !APR_STATUS_IS_EINPROGRESS(st))
        close_attempt(req);
    return st;
}

/* Try the addresses left until one is under way or connected; report when
 * none is left. Runs from the loop only. */
static void try_next(pev_connect_t *req)
{
    apr_sockaddr_t *sa;

    while ((sa = req->next) != NULL) {
        apr_status_t st;

        req->next = sa->next;
        req->tried = sa;
        req->ntried++;
        st = attempt(req, sa);
        if (st == APR_SUCCESS) {
            connected(req);
            return;
        }
        if (APR_STATUS_IS_EINPROGRESS(st))
            return;
        req->last = st;
    }
    fail_connect(req);
}

/* ------------------------------------------------------------------------ */
/* Resolving (c-ares)                                                        */

#ifdef HAVE_CARES

static void ares_schedule(pev_connect_t *req);

static void on_ares_ready(pev_watch_t *w, apr_int16_t events, void *user_data)
{
    ares_sock_t *as = user_data;
    pev_connect_t *req = as->req;
    ares_socket_t fd = as->fd;      /* the slot may be reused inside */

    (void) w;
    if (!req->channel || fd == ARES_SOCKET_BAD)
        return;
    ares_process_fd(req->channel, (events & PEV_WATCH_READ) ? fd : ARES_SOCKET_BAD,
                    (events & PEV_WATCH_WRITE) ? fd : ARES_SOCKET_BAD);
    ares_schedule(req);
}

static void on_ares_timer(pev_timer_t *t, void *user_data)
{
    pev_connect_t *req = user_data;

    (void) t;
    if (!req->channel)
        return;
    ares_process_fd(req->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    ares_schedule(req);
}

/* Arm the timer for c-ares's next timeout (none: cancel it). */
static void ares_schedule(pev_connect_t *req)
{
    struct timeval tv, *tp;
    apr_interval_time_t delay;
    apr_time_t mark;

    if (!req->channel || !req->pending)
        return;
    tp = ares_timeout(req->channel, NULL, &tv);
    if (!tp) {
        timer_stop(req->ares_timer);
        return;
    }
    delay = (apr_interval_time_t) tp->tv_sec * APR_USEC_PER_SEC + tp->tv_usec;
    mark = pevi_loop_clock(req->loop) + delay;
    if (req->ares_timer)
        (void) pev_timer_rearm(req->ares_timer, mark);
    else
        (void) pev_timer_add(&req->ares_timer, req->loop, mark, on_ares_timer, req,
                             req->pool);
}

static ares_sock_t *find_sock(pev_connect_t *req, ares_socket_t fd)
{
    ares_sock_t *as;

    for (as = req->socks; as; as = as->next)
        if (as->fd == fd)
            return as;
    return NULL;
}

/* c-ares: what to poll @a fd for (nothing: it is about to be closed). A
 * watcher that cannot be added leaves the socket unpolled: the query then
 * times out in c-ares, and the lookup fails. */
static void on_ares_sock(void *data, ares_socket_t fd, int readable, int writable)
{
    pev_connect_t *req = data;
    apr_int16_t events = (apr_int16_t) ((readable ? PEV_WATCH_READ : 0)
                                        | (writable ? PEV_WATCH_WRITE : 0));
    ares_sock_t *as = find_sock(req, fd);

    if (!events) {
        if (as) {
            (void) pev_watch_remove(as->w);
            as->fd = ARES_SOCKET_BAD;
            as->w = NULL;
        }
        return;
    }
    if (!req->pending || !req->loop)
        return;
    if (as) {
        (void) pev_watch_set(as->w, events);
        return;
    }
    as = find_sock(req, ARES_SOCKET_BAD);
    if (!as) {
        as = apr_pcalloc(req->pool, sizeof *as);
        if (!as)
            return;
        as->next = req->socks;
        req->socks = as;
    }
    as->req = req;
    as->fd = fd;
    if (pev_watch_add_fd(&as->w, req->loop, (int) fd, events, on_ares_ready, as, req->pool)
        != APR_SUCCESS)
        as->fd = ARES_SOCKET_BAD;
}

/* c-ares: the lookup ended (also ARES_EDESTRUCTION, ARES_ECANCELLED when
 * the channel goes: the request is no longer pending then). Record it, and
 * let the step take it from there, outside c-ares. */
static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    pev_connect_t *req = arg;

    (void) timeouts;
    if (req->pending && req->stage == STAGE_RESOLVING && !req->resolved) {
        apr_sockaddr_t **tail = &req->next;
        struct ares_addrinfo_node *n;
        apr_port_t port = req->port;

        req->resolved = 1;
        req->ares_status = status;
        for (n = res ? res->nodes : NULL; status == ARES_SUCCESS && n; n = n->ai_next)
            add_sockaddr(&tail, n->ai_addr, n->ai_addrlen, port, req->pool);
        if (status == ARES_SUCCESS && !req->next)
            req->ares_status = ARES_ENODATA;
        (void) kick(req);
    }
    if (res)
        ares_freeaddrinfo(res);
}

/* Start resolving req->name. APR_ENOMEM, or APR_SUCCESS (a failure to set
 * up the channel is the lookup's, reported by the step). */
static apr_status_t resolve_start(pev_connect_t *req)
{
    struct ares_options o;
    struct ares_addrinfo_hints hints;
    loop_conf_t *conf = loop_conf(req->loop, 0);
    ares_channel ch;
    int rc;

    memset(&o, 0, sizeof o);
    o.sock_state_cb = on_ares_sock;
    o.sock_state_cb_data = req;
    rc = ares_init_options(&ch, &o, ARES_OPT_SOCK_STATE_CB);
    if (rc == ARES_ENOMEM)
        return APR_ENOMEM;
    if (rc != ARES_SUCCESS) {
        req->resolved = 1;
        req->ares_status = rc;
        return kick(req);
    }
    req->channel = ch;
    if (conf && conf->dns_servers
        && (rc = ares_set_servers_ports_csv(ch, conf->dns_servers)) != ARES_SUCCESS) {
        req->resolved = 1;
        req->ares_status = rc;
        return kick(req);
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    ares_getaddrinfo(ch, req->name, NULL, &hints, on_addrinfo, req);
    ares_schedule(req);
    return APR_SUCCESS;
}

/* The step of a request that resolves: the lookup ended. */
static int resolve_step(pev_connect_t *req)
{
    if (!req->resolved)
        return 0;
    resolver_stop(req);
    if (req->ares_status != ARES_SUCCESS) {
        fail(req, PEV_ERESOLVE, "resolve %s: %s", req->name,
             ares_strerror(req->ares_status));
        return 0;
    }
    req->stage = STAGE_CONNECTING;
    return 1;
}

static apr_status_t loop_conf_cleanup(void *data)
{
    (void) data;
    return APR_SUCCESS;
}

#else /* !HAVE_CARES */

/* ------------------------------------------------------------------------ */
/* Resolving (getaddrinfo on a thread)                                       */

/*
 * Without c-ares a name is resolved by getaddrinfo(3) on a thread of its
 * own (detached), which hands the result to the loop with pev_loop_post().
 * A thread cannot be stopped: a request that stops first detaches itself
 * from the job (job->req = NULL, on the loop's thread), and the result is
 * dropped when it arrives. The loop's hub tells a thread whose loop went
 * not to post at all: its cleanup (a cleanup of the loop's pool, which runs
 * before the loop's own) sets gone under the lock the thread posts under.
 *
 * A job has two references: the request's (dropped when the request lets
 * go of it or the result reaches it) and the thread's (passed to the posted
 * call, or dropped when the thread cannot post). Only the loop's thread
 * touches job->req, and only while the request's reference is held; the
 * last reference frees the job.
 */
struct gai_job {
    atomic_int refs;
    gai_hub_t *hub;
    pev_loop_t *loop;
    pev_connect_t *req;             /* loop's thread only; NULL: detached */
    char *name;
    struct addrinfo *res;
    int err, sys_errno;             /* getaddrinfo's, errno for EAI_SYSTEM */
};

static void hub_unref(gai_hub_t *hub)
{
    int last;

    pthread_mutex_lock(&hub->lock);
    last = --hub->refs == 0;
    pthread_mutex_unlock(&hub->lock);
    if (last) {
        pthread_mutex_destroy(&hub->lock);
        free(hub);
    }
}

static void job_free(gai_job_t *job)
{
    if (job->res)
        freeaddrinfo(job->res);
    hub_unref(job->hub);
    free(job->name);
    free(job);
}

static void job_unref(gai_job_t *job)
{
    if (atomic_fetch_sub_explicit(&job->refs, 1, memory_order_acq_rel) == 1)
        job_free(job);
}

/* The loop's thread: the request lets go of its job. */
static void job_detach(pev_connect_t *req)
{
    gai_job_t *job = req->job;

    if (job) {
        req->job = NULL;
        job->req = NULL;
        job_unref(job);
    }
}

/* The loop's pool is going: its threads post nothing from now on. */
static apr_status_t loop_conf_cleanup(void *data)
{
    loop_conf_t *conf = data;

    if (conf->hub) {
        pthread_mutex_lock(&conf->hub->lock);
        conf->hub->gone = 1;
        pthread_mutex_unlock(&conf->hub->lock);
        hub_unref(conf->hub);
        conf->hub = NULL;
    }
    return APR_SUCCESS;
}

/* The loop's thread: the lookup ended (or the loop went, @a cancelled). */
static void gai_done(void *user_data, int cancelled)
{
    gai_job_t *job = user_data;
    pev_connect_t *req = job->req;
    apr_sockaddr_t **tail;
    struct addrinfo *ai;

    if (req)
        job_detach(req);            /* the request's reference; ours is left */
    if (cancelled || !req || !req->pending) {
        job_unref(job);
        return;
    }
    req->resolved = 1;
    tail = &req->next;
    for (ai = job->err ? NULL : job->res; ai; ai = ai->ai_next)
        if (ai->ai_addr)
            add_sockaddr(&tail, ai->ai_addr, ai->ai_addrlen, req->port, req->pool);
    if (job->err == EAI_SYSTEM)
        req->gai_why = apr_pstrdup(req->pool, strerror(job->sys_errno));
    else if (job->err)
        req->gai_why = apr_pstrdup(req->pool, gai_strerror(job->err));
    else if (!req->next)
        req->gai_why = "no address of a usable family";
    job_unref(job);
    (void) kick(req);
}

static void *gai_main(void *arg)
{
    gai_job_t *job = arg;
    struct addrinfo hints;
    int posted;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* no AI_ADDRCONFIG, as with c-ares: it drops "localhost" on a host with
     * loopback alone, and an address of a family the host cannot reach
     * fails at once and the next is tried */
    job->err = getaddrinfo(job->name, NULL, &hints, &job->res);
    job->sys_errno = errno;
    if (job->err)
        job->res = NULL;
    pthread_mutex_lock(&job->hub->lock);
    posted = !job->hub->gone && pev_loop_post(job->loop, gai_done, job) == APR_SUCCESS;
    pthread_mutex_unlock(&job->hub->lock);
    if (!posted)
        job_unref(job);
    return NULL;
}

/* Start the lookup's thread. APR_ENOMEM, or APR_SUCCESS (a thread that
 * cannot start is the lookup's failure, reported by the step). */
static apr_status_t resolve_start(pev_connect_t *req)
{
    loop_conf_t *conf = loop_conf(req->loop, 1);
    pthread_attr_t attr;
    pthread_t thread;
    gai_job_t *job;
    int rc;

    if (!conf)
        return APR_ENOMEM;
    if (!conf->hub) {
        conf->hub = calloc(1, sizeof *conf->hub);
        if (!conf->hub)
            return APR_ENOMEM;
        if (pthread_mutex_init(&conf->hub->lock, NULL) != 0) {
            free(conf->hub);
            conf->hub = NULL;
            return APR_ENOMEM;
        }
        conf->hub->refs = 1;
    }
    job = calloc(1, sizeof *job);
    if (!job || !(job->name = strdup(req->name))) {
        free(job);
        return APR_ENOMEM;
    }
    atomic_init(&job->refs, 2);     /* the request's, the thread's */
    job->hub = conf->hub;
    job->loop = req->loop;
    job->req = req;
    pthread_mutex_lock(&conf->hub->lock);
    conf->hub->refs++;
    pthread_mutex_unlock(&conf->hub->lock);
    rc = pthread_attr_init(&attr);
    if (rc == 0) {
        rc = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (rc == 0)
            rc = pthread_create(&thread, &attr, gai_main, job);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        job_free(job);              /* no thread: nobody else has it */
        req->resolved = 1;
        req->gai_why = apr_psprintf(req->pool, "cannot start a resolver thread: %s",
                                    strerror(rc));
        return kick(req);
    }
    req->job = job;
    return APR_SUCCESS;
}

/* Let go of the lookup: its result is dropped when it comes. */
static void resolver_stop(pev_connect_t *req)
{
    job_detach(req);
}

/* The step of a request that resolves: the lookup ended. */
static int resolve_step(pev_connect_t *req)
{
    if (!req->resolved)
        return 0;
    if (req->gai_why) {
        fail(req, PEV_ERESOLVE, "resolve %s: %s", req->name, req->gai_why);
        return 0;
    }
    req->stage = STAGE_CONNECTING;
    return 1;
}

#endif /* HAVE_CARES */

static void on_step(pev_timer_t *t, void *user_data)
{
    pev_connect_t *req = user_data;

    (void) t;
    if (!req->pending)
        return;
    if (req->stage == STAGE_RESOLVING && !resolve_step(req))
        return;
    try_next(req);
}

/* ------------------------------------------------------------------------ */
/* The API                                                                   */

/* A new pending request, linked to its owner, its deadline armed. */
static apr_status_t conn_new(pev_connect_t **out, pev_loop_t *loop,
                             apr_interval_time_t timeout, pev_connect_fn *fn,
                             void *user_data, apr_pool_t *pool)
{
    pevi_owners_t *owners = loop_connects(loop);
    pev_connect_t *req;
    apr_status_t st;

    if (!owners)
        return APR_ENOMEM;
    req = apr_pcalloc(pool, sizeof *req);
    if (!req)
        return APR_ENOMEM;
    req->loop = loop;
    req->pool = pool;
    req->fn = fn;
    req->user_data = user_data;
    req->timeout = timeout;
    req->pending = 1;
    req->last = APR_EINVAL;
    if ((st = pevi_owner_add(owners, pool, &req->owned)) != APR_SUCCESS)
        return st;
    /* from the clock, not the iteration's time: a request made outside the
     * loop's callbacks may come long after the last iteration */
    if (timeout > 0
        && (st = pev_timer_add(&req->deadline, loop, pevi_loop_clock(loop) + timeout,
                               on_deadline, req, pool)) != APR_SUCCESS) {
        conn_stop(req);
        pevi_link_remove(&req->owned);
        return st;
    }
    *out = req;
    return APR_SUCCESS;
}

/* Set the request going: a step now (connect), or the lookup. */
static apr_status_t conn_start(pev_connect_t **out, pev_connect_t *req)
{
    apr_status_t st;

    if (req->stage == STAGE_RESOLVING)
        st = resolve_start(req);
    else
        st = kick(req);
    if (st != APR_SUCCESS) {
        conn_stop(req);
        pevi_link_remove(&req->owned);
        return st;
    }
    if (out)
        *out = req;
    return APR_SUCCESS;
}

apr_status_t pev_connect(pev_connect_t **out, pev_loop_t *loop, const char *host,
                         apr_port_t port, apr_interval_time_t timeout, pev_connect_fn *fn,
                         void *user_data, apr_pool_t *pool)
{
    apr_sockaddr_t *sa = NULL;
    pev_connect_t *req;
    apr_status_t st, num;

    if (out)
        *out = NULL;
    if (!loop || !host || !*host || !port || !fn || !pool)
        return APR_EINVAL;
    num = numeric_addr(&sa, host, port, pool);
    if (num != APR_SUCCESS && num != APR_EINVAL)
        return num;
    if ((st = conn_new(&req, loop, timeout, fn, user_data, pool)) != APR_SUCCESS)
        return st;
    req->target = target_of(host, port, pool);
    if (num == APR_SUCCESS) {
        req->stage = STAGE_CONNECTING;
        req->next = sa;
    } else {
        req->stage = STAGE_RESOLVING;
        req->name = apr_pstrdup(pool, host);
        req->port = port;
    }
    return conn_start(out, req);
}

apr_status_t pev_connect_addr(pev_connect_t **out, pev_loop_t *loop, const apr_sockaddr_t *sa,
                              apr_interval_time_t timeout, pev_connect_fn *fn,
                              void *user_data, apr_pool_t *pool)
{
    apr_sockaddr_t **tail, *copy;
    pev_connect_t *req;
    apr_status_t st;

    if (out)
        *out = NULL;
    if (!loop || !sa || !fn || !pool)
        return APR_EINVAL;
    if ((st = conn_new(&req, loop, timeout, fn, user_data, pool)) != APR_SUCCESS)
        return st;
    req->stage = STAGE_CONNECTING;
    for (tail = &req->next; sa; sa = sa->next) {
        apr_uint32_t scope = 0;

#if APR_HAVE_IPV6
        if (sa->family == APR_INET6)
            scope = sa->sa.sin6.sin6_scope_id;
#endif
        if (sa->family != APR_INET
#if APR_HAVE_IPV6
            && sa->family != APR_INET6
#endif
            )
            st = APR_EINVAL;
        else
            st = make_addr(&copy, sa->family, sa->ipaddr_ptr, scope, sa->port, pool);
        if (st != APR_SUCCESS) {
            conn_stop(req);
            pevi_link_remove(&req->owned);
            return st;
        }
        *tail = copy;
        tail = &copy->next;
    }
    req->target = target_of(addr_text(req->next, pool), req->next->port, pool);
    return conn_start(out, req);
}

apr_status_t pev_connect_cancel(pev_connect_t *req)
{
    if (!req)
        return APR_EINVAL;
    if (!req->loop)
        return PEV_EDESTROYED;
    if (!req->pending)
        return PEV_ECLOSED;
    conn_stop(req);
    pevi_link_remove(&req->owned);
    return APR_SUCCESS;
}

const char *pev_connect_error(const pev_connect_t *req)
{
    return req ? req->why : NULL;
}

int pev_connect_pending(const pev_connect_t *req)
{
    return req && req->pending;
}

apr_status_t pev_connect_set_dns_servers(pev_loop_t *loop, const char *servers)
{
#ifdef HAVE_CARES
    loop_conf_t *conf;

    if (!loop)
        return APR_EINVAL;
    if (servers) {
        ares_channel ch;
        int rc = ares_init_options(&ch, NULL, 0);

        if (rc == ARES_SUCCESS) {
            rc = ares_set_servers_ports_csv(ch, servers);
            ares_destroy(ch);
        }
        if (rc == ARES_ENOMEM)
            return APR_ENOMEM;
        if (rc != ARES_SUCCESS)
            return APR_EINVAL;
    }
    if (!(conf = loop_conf(loop, 1)))
        return APR_ENOMEM;
    conf->dns_servers = servers ? apr_pstrdup(pevi_loop_pool(loop), servers) : NULL;
    return APR_SUCCESS;
#else
    (void) servers;
    return loop ? APR_ENOTIMPL : APR_EINVAL;
#endif
}
