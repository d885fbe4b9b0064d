/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * conn.c - accepted connections: each with its own pool and stream, handed
 * to the modules through core.conn-open, holding its generation's
 * configuration until it closes; the server handshake of a connection
 * accepted on a TLS listener, before it is offered; and the stop's closing
 * of them all. A connection over a limit (limits.c) is refused instead:
 * core.conn-refused, its last words sent (none on a TLS listener: it is
 * reset), closed; it is never counted as open.
 */
#include "config.h"

#include <string.h>

#include <apr_strings.h>

#include "daemon_int.h"

#define REFUSE_LINGER APR_TIME_C(1000000)  /* to send a refusal */

struct pev_conn {
    pevi_link_t link;               /* on w->conns while open */
    pev_daemon_t *d;
    pevi_wctx_t *w;                 /* its thread's context */
    apr_pool_t *pool;
    pev_gen_t *gen;
    pev_stream_t *stream;
    apr_uint64_t id;
    const char *peer;
    pev_stream_callbacks_t cb;      /* the handler's callbacks */
    void *user_data;
    int handled;
    int tls_wait;                   /* its TLS handshake runs, not offered yet */
    int deferred;                   /* handshake done while no generation could
                                     * take it: offered when one runs again
                                     * (2: its timer is armed) */
    int closed;                     /* on_close delivered */
    int refused;                    /* PEV_CONN_REFUSED_*; 0: held */
    struct pevi_host *host;         /* counted for its address (limits.c) */
    int wcounted;                   /* counted in the workers' total */
};

static void conn_undefer(pev_conn_t *c)
{
    if (c->deferred) {
        c->deferred = 0;
        c->w->ndeferred--;
    }
}

void pevi_gen_unref(pev_gen_t *gen)
{
    pev_daemon_t *d = gen->d;

    if (atomic_fetch_sub(&gen->refs, 1) != 1)
        return;
    /* the last hold: the generation has ended (it holds itself while
     * current) */
    if (pevi_wctx(d)->index >= 0)
        pevi_workers_gen_gone(gen);
    else if (!d->dying)
        apr_pool_destroy(gen->conf_pool);
}

static void conn_on_read(pev_stream_t *s, void *user_data)
{
    pev_conn_t *c = user_data;

    if (c->cb.on_read)
        c->cb.on_read(s, c->user_data);
}

static void conn_on_drain(pev_stream_t *s, void *user_data)
{
    pev_conn_t *c = user_data;

    if (c->cb.on_drain)
        c->cb.on_drain(s, c->user_data);
}

static int conn_on_idle(pev_stream_t *s, void *user_data)
{
    pev_conn_t *c = user_data;

    return c->cb.on_idle ? c->cb.on_idle(s, c->user_data) : 0;
}

static void conn_on_close(pev_stream_t *s, apr_status_t reason, void *user_data)
{
    pev_conn_t *c = user_data;

    c->closed = 1;
    if (c->tls_wait) {
        /* a TLS handshake that failed (or a stop during it): the modules
         * never saw the connection, so they hear nothing of its end */
        char eb[256];
        const char *why = pev_stream_tls_error(s);

        pev_daemon_log(c->d, PEV_LOG_DEBUG, "connection %" APR_UINT64_T_FMT " from %s: %s:"
                       " %s%s%s", c->id, c->peer, c->deferred ? "closed before it was offered"
                       : "TLS handshake failed", pev_strerror(reason, eb, sizeof eb),
                       why ? ": " : "", why ? why : "");
        apr_pool_destroy(c->pool);
        return;
    }
    if (c->cb.on_close)
        c->cb.on_close(s, reason, c->user_data);
    if (!c->refused)
        pev_event_generate(c->w->bus, PEV_EVENT_CONN_CLOSE, c);
    apr_pool_destroy(c->pool);
}

static const pev_stream_callbacks_t conn_thunks = {
    conn_on_read, conn_on_drain, conn_on_close, conn_on_idle
};

static apr_status_t conn_cleanup(void *data)
{
    pev_conn_t *c = data;

    if (c->w->opening == c)
        c->w->opening = NULL;
    conn_undefer(c);
    if (pevi_link_linked(&c->link)) {
        pevi_link_remove(&c->link);
        if (!c->refused)
            c->w->nconns--;
    }
    pevi_limits_release(c->d, c->host, c->wcounted);
    pevi_gen_unref(c->gen);
    return APR_SUCCESS;
}

/* Offer @a c to the modules: core.conn-open; closed if nobody takes it.
 * Returns 1 when a module took it and it is open, else 0 (and then @a c
 * may be gone). */
static int conn_offer(pev_conn_t *c)
{
    pevi_wctx_t *w = c->w;
    pev_daemon_t *d = c->d;

    c->tls_wait = 0;
    w->opening = c;
    pev_event_generate(w->bus, PEV_EVENT_CONN_OPEN, c);
    if (w->opening != c)
        return 0;                   /* a listener destroyed its pool */
    w->opening = NULL;
    if (c->closed || !pev_stream_is_open(c->stream))
        return 0;
    if (!c->handled) {
        pev_daemon_log(d, PEV_LOG_DEBUG, "connection %" APR_UINT64_T_FMT
                       " from %s: no module took it", c->id, c->peer);
        pev_stream_close(c->stream);
        return 0;
    }
    return 1;
}

/* Whether a connection can be offered now: a generation runs, and no
 * start, restart or stop is under way (one of their callbacks may run the
 * loop, and the next generation's listeners may not be there yet). */
static int can_offer(const pevi_wctx_t *w)
{
    const pev_daemon_t *d = w->d;

    if (w->index >= 0)
        return w->gen != NULL;      /* a worker serves its generation */
    return d->state == D_RUNNING && d->gen && !d->busy && !d->stop_req;
}

static void conn_tls_ready(pev_stream_t *s, void *user_data)
{
    pev_conn_t *c = user_data;

    if (!can_offer(c->w)) {
        /* hold its input until it is offered (pevi_conn_offer_deferred()) */
        c->deferred = 1;
        c->w->ndeferred++;
        (void) pev_stream_pause_input(s, 1);
        return;
    }
    conn_offer(c);
}

static void conn_offer_later(pev_timer_t *t, void *user_data)
{
    pev_conn_t *c = user_data;
    pev_stream_t *s = c->stream;

    (void) t;
    if (c->closed || !pev_stream_is_open(s) || !c->deferred)
        return;
    if (!can_offer(c->w)) {
        c->deferred = 1;            /* busy again: the next resume offers it */
        return;
    }
    conn_undefer(c);
    /* reading resumes in a later iteration; a module may pause it again
     * from its core.conn-open */
    (void) pev_stream_pause_input(s, 0);
    /* input that came with the end of the handshake is in the buffer
     * already: no read reports it */
    if (conn_offer(c) && pev_stream_input_pending(s) > 0 && c->cb.on_read)
        c->cb.on_read(s, c->user_data);
}

void pevi_conn_offer_deferred(pevi_wctx_t *w)
{
    pevi_link_t *l;

    if (w->ndeferred == 0)
        return;
    /* from a loop iteration (a timer in the connection's pool), as every
     * core.conn-open is */
    for (l = w->conns.next; l != &w->conns; l = l->next) {
        pev_conn_t *c = PEVI_CONTAINER(l, pev_conn_t, link);

        if (c->deferred != 1)
            continue;
        if (pev_timer_add_in(NULL, w->loop, 0, conn_offer_later, c, c->pool) == APR_SUCCESS)
            c->deferred = 2;
        else
            pev_daemon_log(w->d, PEV_LOG_ERROR, "connection %" APR_UINT64_T_FMT
                           ": cannot offer it", c->id);
    }
}

/* Over a limit: core.conn-refused, then the close (the listeners' last
 * words are sent, for at most REFUSE_LINGER). On w->refusing until its
 * pool goes, so that a stop does not wait for it. */
static void conn_refuse(pev_daemon_t *d, pev_conn_t *c, int tls)
{
    pevi_wctx_t *w = c->w;

    pevi_list_append(&w->refusing, &c->link);
    pev_daemon_log(d, PEV_LOG_DEBUG, "connection %" APR_UINT64_T_FMT " from %s refused: %s",
                   c->id, c->peer, c->refused == PEV_CONN_REFUSED_MAX
                   ? "MaxConnections reached" : "MaxConnectionsPerHost reached");
    w->opening = c;
    pev_event_generate(w->bus, PEV_EVENT_CONN_REFUSED, c);
    if (w->opening != c)
        return;                     /* a listener destroyed its pool */
    w->opening = NULL;
    if (tls && pev_stream_is_open(c->stream))
        pev_stream_abort(c->stream);    /* no plaintext to a TLS client */
    else if (pev_stream_is_open(c->stream)) {
        pev_stream_set_idle_timeout(c->stream, REFUSE_LINGER);
        pev_stream_close(c->stream);
    }
}

void pevi_conn_drop_refused(pevi_wctx_t *w)
{
    while (!pevi_list_empty(&w->refusing))
        apr_pool_destroy(PEVI_CONTAINER(w->refusing.next, pev_conn_t, link)->pool);
}


void pevi_conn_accept(pevi_wctx_t *w, apr_pool_t *cp, apr_socket_t *ns, pev_tls_ctx_t *tls)
{
    pev_daemon_t *d = w->d;
    pev_conn_t *c = apr_pcalloc(cp, sizeof *c);
    apr_sockaddr_t *sa;
    char *ip = NULL;
    apr_status_t st;
    char eb[256];

    c->d = d;
    c->w = w;
    c->pool = cp;
    if (w->index < 0) {
        c->gen = d->gen;
        c->id = ++d->conn_ids;
    }
    else {
        /* ids stay unique across workers: worker i of N gives i + 1,
         * i + 1 + N, ... */
        c->gen = w->gen;
        c->id = (apr_uint64_t) w->index + 1 + (apr_uint64_t) pevi_gen_workers(w->gen)
                                              * w->ngiven++;
    }
    atomic_fetch_add(&c->gen->refs, 1);
    apr_pool_cleanup_register(cp, c, conn_cleanup, apr_pool_cleanup_null);
    c->peer = "?";
    if (apr_socket_addr_get(&sa, APR_REMOTE, ns) == APR_SUCCESS) {
        if (apr_sockaddr_ip_get(&ip, sa) == APR_SUCCESS)
            c->peer = apr_psprintf(cp, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip,
                                   (unsigned) sa->port);
        else
            ip = NULL;
    }
    st = pev_stream_create_socket(&c->stream, w->loop, ns, &conn_thunks, c, cp);
    if (st != APR_SUCCESS) {
        pev_daemon_log(d, PEV_LOG_ERROR, "connection from %s: %s", c->peer,
                       pev_strerror(st, eb, sizeof eb));
        apr_pool_destroy(cp);
        return;
    }
    c->refused = pevi_limits_admit(d, c->gen, ip, &c->host, w->index >= 0);
    if (c->refused) {
        conn_refuse(d, c, tls != NULL);
        return;
    }
    c->wcounted = w->index >= 0;    /* admitted: pevi_limits_admit() counted it */
    pevi_list_append(&w->conns, &c->link);
    w->nconns++;
    if (tls) {
        /* the modules see the connection once its handshake succeeded */
        c->tls_wait = 1;
        st = pev_stream_start_tls(c->stream, tls, NULL, conn_tls_ready, c, NULL);
        if (st != APR_SUCCESS) {
            pev_daemon_log(d, PEV_LOG_ERROR, "connection from %s: cannot start TLS: %s",
                           c->peer, pev_strerror(st, eb, sizeof eb));
            apr_pool_destroy(cp);
        }
        return;
    }
    conn_offer(c);
}

apr_status_t pev_conn_set_handler(pev_conn_t *c, const pev_stream_callbacks_t *cb,
                                  void *user_data)
{
    if (!c)
        return APR_EINVAL;
    if (c->closed || c->refused || !pev_stream_is_open(c->stream))
        return PEV_ECLOSED;
    if (cb)
        c->cb = *cb;
    else
        memset(&c->cb, 0, sizeof c->cb);
    c->user_data = user_data;
    c->handled = 1;
    return APR_SUCCESS;
}

pev_stream_t *pev_conn_stream(const pev_conn_t *c) { return c ? c->stream : NULL; }
apr_pool_t *pev_conn_pool(const pev_conn_t *c) { return c ? c->pool : NULL; }
pev_gen_t *pev_conn_gen(const pev_conn_t *c) { return c ? c->gen : NULL; }
pev_daemon_t *pev_conn_daemon(const pev_conn_t *c) { return c ? c->d : NULL; }
apr_uint64_t pev_conn_id(const pev_conn_t *c) { return c ? c->id : 0; }
const char *pev_conn_peer(const pev_conn_t *c) { return c ? c->peer : NULL; }
int pev_conn_refused(const pev_conn_t *c) { return c ? c->refused : 0; }

int pev_conn_is_tls(const pev_conn_t *c)
{
    return c && pev_stream_tls_state(c->stream) != PEV_STREAM_TLS_NONE;
}

apr_status_t pev_conn_close(pev_conn_t *c)
{
    if (!c)
        return APR_EINVAL;
    return pev_stream_close(c->stream);
}

void pevi_conn_close_all(pevi_wctx_t *w)
{
    pev_daemon_t *d = w->d;
    apr_time_t deadline;
    pevi_link_t *l, *next;
    int spins;

    for (l = w->conns.next; l != &w->conns; l = next) {
        next = l->next;
        pev_stream_close(PEVI_CONTAINER(l, pev_conn_t, link)->stream);
    }
    /* the real clock: a test's frozen loop clock must not stall a stop */
    deadline = pev_clock_monotonic() + d->grace;
    while (w->nconns > 0) {
        apr_time_t now = pev_clock_monotonic();

        if (now >= deadline)
            break;
        if (pev_loop_run_once(w->loop, deadline - now < 100000 ? deadline - now : 100000)
            != APR_SUCCESS)
            break;
    }
    if (w->nconns > 0) {
        pev_daemon_log(d, PEV_LOG_WARN, "%lu connection(s) did not close in time: aborted",
                       (unsigned long) w->nconns);
        for (l = w->conns.next; l != &w->conns; l = next) {
            next = l->next;
            pev_stream_abort(PEVI_CONTAINER(l, pev_conn_t, link)->stream);
        }
        for (spins = 0; w->nconns > 0 && spins < 8; spins++)
            if (pev_loop_run_once(w->loop, 0) != APR_SUCCESS)
                break;
        /* whatever is left (a loop error): go without callbacks */
        while (!pevi_list_empty(&w->conns))
            apr_pool_destroy(PEVI_CONTAINER(w->conns.next, pev_conn_t, link)->pool);
    }
}
