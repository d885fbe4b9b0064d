/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * listen.c - the listening sockets: opened for the generation that lists
 * them first, kept across restarts while the next generation lists them
 * too, polled through descriptor watchers (poolev/watch.h); each
 * accepted socket goes to conn.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "poolev/watch.h"
#include "daemon_int.h"

#define ACCEPT_BATCH 16                 /* accepts per readiness report */
#define ACCEPT_PAUSE APR_TIME_C(100000) /* out of descriptors: retry in 100 ms */

typedef struct pevi_lsock lsock_t;

struct pevi_lsock {
    pev_watch_t *watch;             /* in pool: removed before the socket closes */
    pev_daemon_t *d;
    apr_pool_t *pool;
    apr_socket_t *sock;
    const char *key;                /* "HOST:PORT" or "HOST:PORT tls" */
    int tls;                        /* a TLS listener */
    apr_port_t port;                /* the bound port */
    pev_timer_t *pause;             /* re-enables accepting after EMFILE */
    apr_time_t paused_since;        /* an EMFILE episode began (0: none) */
    unsigned pauses;                /* pauses in the episode */
    int fresh;                      /* opened for a restart not yet done */
    int declined;                   /* paused: no generation to accept for */
    lsock_t *next;
};

static void lsock_resume(pev_timer_t *t, void *user_data)
{
    lsock_t *l = user_data;

    (void) t;
    if (pev_watch_set(l->watch, PEV_WATCH_READ) != APR_SUCCESS)
        pev_daemon_log(l->d, PEV_LOG_ERROR, "cannot poll %s again", l->key);
}

/* Accepting works again after an EMFILE episode: say so, once. */
static void lsock_episode_end(lsock_t *l)
{
    pev_daemon_log(l->d, PEV_LOG_INFO, "accept on %s: accepting again after %ld ms "
                   "(%u pause%s)", l->key,
                   (long) ((pev_loop_now(l->d->loop) - l->paused_since) / 1000), l->pauses,
                   l->pauses == 1 ? "" : "s");
    l->paused_since = 0;
    l->pauses = 0;
}

static void lsock_ready(pev_watch_t *w, apr_int16_t events, void *user_data)
{
    lsock_t *l = user_data;
    pev_daemon_t *d = l->d;
    int i;

    (void) w;
    (void) events;
    /* nobody to accept for (a start, restart or stop is under way, and one
     * of its callbacks runs the loop): readiness is level-triggered, so a
     * waiting connection would be reported again in every iteration and
     * spin the loop. Stop polling until a generation runs again
     * (pevi_listen_resume()); the connection waits in the backlog. */
    if (d->state != D_RUNNING || !d->gen || d->busy || d->stop_req) {
        if (pev_watch_set(l->watch, 0) == APR_SUCCESS)
            l->declined = 1;
        return;
    }
    for (i = 0; i < ACCEPT_BATCH && d->state == D_RUNNING && d->gen && !d->busy
                && !d->stop_req; i++) {
        apr_pool_t *cp;
        apr_socket_t *ns;
        apr_status_t st;
        char eb[256];

        st = apr_pool_create(&cp, d->pool);
        if (st == APR_SUCCESS) {
            apr_pool_tag(cp, "pev_conn");
            st = apr_socket_accept(&ns, l->sock, cp);
            if (st == APR_SUCCESS) {
                if (l->paused_since)
                    lsock_episode_end(l);
                /* a TLS listener only exists in a generation with a context
                 * (pevi_conf_tls() checked it) */
                pevi_conn_accept(d, cp, ns, l->tls ? d->gen->tls : NULL);
                continue;
            }
            apr_pool_destroy(cp);
        }
        if (APR_STATUS_IS_EAGAIN(st) || APR_STATUS_IS_EINTR(st)) {
            if (l->paused_since && APR_STATUS_IS_EAGAIN(st))
                lsock_episode_end(l);
            return;
        }
        if (APR_STATUS_IS_ECONNABORTED(st) || st == APR_FROM_OS_ERROR(EPROTO))
            continue;
        /* out of descriptors or memory: the socket stays readable, so stop
         * polling it for a moment rather than spin; said once per episode */
        if (!l->paused_since) {
            pev_daemon_log(d, PEV_LOG_WARN, "accept on %s: %s; pausing, retrying every %d ms",
                           l->key, pev_strerror(st, eb, sizeof eb),
                           (int) (ACCEPT_PAUSE / 1000));
            l->paused_since = pev_loop_now(d->loop);
            if (!l->paused_since)
                l->paused_since = 1;
        }
        l->pauses++;
        if ((l->pause ? pev_timer_rearm_in(l->pause, ACCEPT_PAUSE)
             : pev_timer_add_in(&l->pause, d->loop, ACCEPT_PAUSE, lsock_resume, l, l->pool))
            == APR_SUCCESS)
            (void) pev_watch_set(l->watch, 0);
        return;
    }
}

static lsock_t *lsock_find(pev_daemon_t *d, const char *key)
{
    lsock_t *l;

    for (l = d->lsocks; l; l = l->next)
        if (strcmp(l->key, key) == 0)
            return l;
    return NULL;
}

static apr_status_t lsock_open(pev_daemon_t *d, const char *key)
{
    apr_pool_t *lp;
    lsock_t *l;
    apr_sockaddr_t *sa, *local;
    char *host;
    apr_port_t port;
    apr_status_t st;
    const char *what;
    char eb[256];
    int adopted = 0;

    st = apr_pool_create(&lp, d->pool);
    if (st != APR_SUCCESS)
        return st;
    apr_pool_tag(lp, "pev_listen");
    l = apr_pcalloc(lp, sizeof *l);
    l->d = d;
    l->pool = lp;
    l->key = apr_pstrdup(lp, key);
    what = "resolve";
    /* the key was checked by core_listen() (conf.c): [HOST:]PORT, HOST "*" for
     * any */
    {
        char *copy = apr_pstrdup(lp, key);
        char *colon, *blank = strchr(copy, ' ');

        if (blank) {                /* "HOST:PORT tls" */
            *blank = '\0';
            l->tls = 1;
        }
        colon = strrchr(copy, ':');

        *colon = '\0';
        host = strcmp(copy, "*") == 0 ? NULL : copy;
        if (host && host[0] == '[') {
            host++;
            host[strlen(host) - 1] = '\0';
        }
        port = (apr_port_t) atoi(colon + 1);
        st = APR_SUCCESS;
    }
    if (st == APR_SUCCESS)
        st = apr_sockaddr_info_get(&sa, host, host ? APR_UNSPEC : APR_INET, port, 0, lp);
    /* a socket the service manager passed for this address (activate.c) */
    if (st == APR_SUCCESS)
        adopted = pevi_activate_take(d, &l->sock, sa, key, lp) == APR_SUCCESS;
    if (st == APR_SUCCESS && !adopted) {
        what = "create a socket for";
        st = apr_socket_create(&l->sock, sa->family, SOCK_STREAM, APR_PROTO_TCP, lp);
    }
    if (st == APR_SUCCESS && !adopted)
        st = apr_socket_opt_set(l->sock, APR_SO_REUSEADDR, 1);
    if (st == APR_SUCCESS && !adopted) {
        what = "bind";
        st = apr_socket_bind(l->sock, sa);
    }
    if (st == APR_SUCCESS && !adopted) {
        what = "listen on";
        st = apr_socket_listen(l->sock, SOMAXCONN);
    }
    if (st == APR_SUCCESS)
        st = apr_socket_opt_set(l->sock, APR_SO_NONBLOCK, 1);
    if (st == APR_SUCCESS)
        st = apr_socket_addr_get(&local, APR_LOCAL, l->sock);
    if (st == APR_SUCCESS) {
        l->port = local->port;
        /* the watcher goes in the pool's pre-cleanup, before the socket
         * closes */
        what = "poll";
        st = pev_watch_add_socket(&l->watch, d->loop, l->sock, PEV_WATCH_READ,
                                  lsock_ready, l, lp);
    }
    if (st != APR_SUCCESS) {
        pevi_daemon_set_error(d, "cannot %s %s: %s", what, key,
                              pev_strerror(st, eb, sizeof eb));
        apr_pool_destroy(lp);
        return st;
    }
    l->fresh = 1;
    l->next = d->lsocks;
    d->lsocks = l;
    return APR_SUCCESS;
}

/* Open the sockets @a gen lists that are not open yet (marked fresh). On
 * failure the fresh ones are closed again and d->error names the address. */
apr_status_t pevi_listen_open(pev_daemon_t *d, const pev_gen_t *gen)
{
    int i;

    for (i = 0; i < gen->listen->nelts; i++) {
        const char *key = pevi_gen_listen_key(gen, i);
        apr_status_t st;
        lsock_t **pp;

        if (lsock_find(d, key))
            continue;
        st = lsock_open(d, key);
        if (st == APR_SUCCESS)
            continue;
        pevi_privs_bind_error(d, key, st);     /* after a privilege drop */
        for (pp = &d->lsocks; *pp;) {
            lsock_t *l = *pp;

            if (l->fresh) {
                *pp = l->next;
                apr_pool_destroy(l->pool);
            }
            else
                pp = &l->next;
        }
        return st;
    }
    return APR_SUCCESS;
}

/* Keep exactly the sockets @a gen lists (NULL: none), in its order; log the
 * closes unless @a quiet (a failed start says one thing only). */
void pevi_listen_commit(pev_daemon_t *d, const pev_gen_t *gen, int quiet)
{
    lsock_t *keep = NULL, **tail = &keep, *l;
    int i;

    if (gen)
        for (i = 0; i < gen->listen->nelts; i++) {
            const char *key = pevi_gen_listen_key(gen, i);
            lsock_t **pp;

            for (pp = &d->lsocks; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->key, key) == 0)
                    break;
            if (!*pp)
                continue;
            l = *pp;
            *pp = l->next;
            l->next = NULL;
            l->fresh = 0;
            *tail = l;
            tail = &l->next;
        }
    while ((l = d->lsocks) != NULL) {
        d->lsocks = l->next;
        if (!quiet)
            pev_daemon_log(d, PEV_LOG_INFO, "closed %s (port %u)", l->key, (unsigned) l->port);
        apr_pool_destroy(l->pool);
    }
    d->lsocks = keep;
}

/* Poll again the sockets lsock_ready() paused for want of a generation. */
void pevi_listen_resume(pev_daemon_t *d)
{
    lsock_t *l;

    for (l = d->lsocks; l; l = l->next) {
        if (!l->declined)
            continue;
        l->declined = 0;
        if (pev_watch_set(l->watch, PEV_WATCH_READ) != APR_SUCCESS)
            pev_daemon_log(d, PEV_LOG_ERROR, "cannot poll %s again", l->key);
    }
}

void pevi_listen_log(pev_daemon_t *d)
{
    const lsock_t *l;

    for (l = d->lsocks; l; l = l->next) {
        const char *blank = strchr(l->key, ' ');
        int n = blank ? (int) (blank - l->key) : (int) strlen(l->key);

        while (n > 0 && l->key[n - 1] != ':')
            n--;
        pev_daemon_log(d, PEV_LOG_INFO, "listening on %.*s%u (%s)", n, l->key,
                       (unsigned) l->port, l->tls ? "TLS" : "plaintext");
    }
}

apr_port_t pev_daemon_port(const pev_daemon_t *d, int index)
{
    const lsock_t *l;

    if (!d || index < 0)
        return 0;
    for (l = d->lsocks; l && index > 0; l = l->next)
        index--;
    return l ? l->port : 0;
}

int pev_daemon_port_is_tls(const pev_daemon_t *d, int index)
{
    const lsock_t *l;

    if (!d || index < 0)
        return 0;
    for (l = d->lsocks; l && index > 0; l = l->next)
        index--;
    return l ? l->tls : 0;
}
