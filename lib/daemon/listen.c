/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * listen.c - the listening sockets: opened for the generation that lists
 * them first, kept across restarts while the next generation lists the same
 * address (compared resolved, not as spelled), polled through descriptor
 * watchers (poolev/watch.h); each accepted socket goes to conn.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <apr_portable.h>
#include <apr_strings.h>

#include <sys/socket.h>

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
    const char *name;               /* the bound address, "127.0.0.1:41234" */
    apr_sockaddr_t *local;          /* the bound address */
    int tls;                        /* a TLS listener */
    apr_port_t port;                /* the bound port */
    pev_timer_t *pause;             /* re-enables accepting after EMFILE */
    apr_time_t paused_since;        /* an EMFILE episode began (0: none) */
    unsigned pauses;                /* pauses in the episode */
    int fresh;                      /* opened for a restart not yet done */
    int any_port;                   /* configured with port 0 */
    int claim;                      /* 1 + the index of the Listen line the
                                     * last pevi_listen_open() matched it
                                     * with; 0: none */
    int logged;                     /* "listening on" was logged */
    int declined;                   /* paused: no generation to accept for */
    lsock_t *next;
};

static void lsock_resume(pev_timer_t *t, void *user_data)
{
    lsock_t *l = user_data;

    (void) t;
    if (pev_watch_set(l->watch, PEV_WATCH_READ) != APR_SUCCESS)
        pev_daemon_log(l->d, PEV_LOG_ERROR, "cannot poll %s again", l->name);
}

/* Accepting works again after an EMFILE episode: say so, once. */
static void lsock_episode_end(lsock_t *l)
{
    pev_daemon_log(l->d, PEV_LOG_INFO, "accept on %s: accepting again after %ld ms "
                   "(%u pause%s)", l->name,
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

        if (d->wk) {
            /* Workers N > 1: the descriptor goes to a worker, which makes
             * it a socket in a pool of its own (dworkers.c) */
            apr_os_sock_t lfd;
            int fd;

            st = apr_os_sock_get(&lfd, l->sock);
            if (st == APR_SUCCESS) {
                fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0) {
                    if (l->paused_since)
                        lsock_episode_end(l);
                    pevi_workers_handoff(d, fd, l->tls);
                    continue;
                }
                st = APR_FROM_OS_ERROR(errno);
            }
        }
        else
            st = apr_pool_create(&cp, d->pool);
        if (!d->wk && st == APR_SUCCESS) {
            apr_pool_tag(cp, "pev_conn");
            st = apr_socket_accept(&ns, l->sock, cp);
            if (st == APR_SUCCESS) {
                if (l->paused_since)
                    lsock_episode_end(l);
                /* a TLS listener only exists in a generation with a context
                 * (pevi_conf_tls() checked it) */
                pevi_conn_accept(&d->main, cp, ns, l->tls ? d->gen->tls : NULL);
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
                           l->name, pev_strerror(st, eb, sizeof eb),
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

/* Split a key checked by core_listen() (conf.c), "HOST:PORT" with HOST "*"
 * for any and "[...]" around IPv6 addresses, and " tls" after it for a TLS
 * listener, into @a pool. Non-zero for a TLS listener. */
static int key_split(const char *key, apr_pool_t *pool, char **host, apr_port_t *port)
{
    char *copy = apr_pstrdup(pool, key);
    char *colon, *blank = strchr(copy, ' ');
    int tls = 0;

    if (blank) {                    /* "HOST:PORT tls" */
        *blank = '\0';
        tls = 1;
    }
    colon = strrchr(copy, ':');
    *colon = '\0';
    *host = strcmp(copy, "*") == 0 ? NULL : copy;
    if (*host && (*host)[0] == '[') {
        (*host)++;
        (*host)[strlen(*host) - 1] = '\0';
    }
    *port = (apr_port_t) atoi(colon + 1);
    return tls;
}

static apr_status_t key_resolve(apr_sockaddr_t **sa, const char *key, apr_pool_t *pool)
{
    char *host;
    apr_port_t port;

    key_split(key, pool, &host, &port);
    return apr_sockaddr_info_get(sa, host, host ? APR_UNSPEC : APR_INET, port, 0, pool);
}

/* The same address: family, address bytes and port. */
static int addr_same(const apr_sockaddr_t *a, const apr_sockaddr_t *b)
{
    return a->family == b->family && a->port == b->port && a->ipaddr_len == b->ipaddr_len
           && memcmp(a->ipaddr_ptr, b->ipaddr_ptr, (apr_size_t) a->ipaddr_len) == 0;
}

/* "IP:PORT" ("[IP]:PORT" for IPv6) of @a sa, in @a pool. */
static const char *addr_name(const apr_sockaddr_t *sa, apr_pool_t *pool)
{
    char *ip;

    if (apr_sockaddr_ip_get(&ip, (apr_sockaddr_t *) sa) != APR_SUCCESS)
        return "?";
    return apr_psprintf(pool, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, (unsigned) sa->port);
}

static apr_status_t lsock_open(pev_daemon_t *d, const char *key, int claim)
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
    l->tls = key_split(key, lp, &host, &port);
    l->any_port = port == 0;
    /* the address stays in lp: the socket keeps a pointer to it */
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
        l->local = local;
        l->port = local->port;
        l->name = addr_name(local, lp);
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
    l->claim = claim;
    l->next = d->lsocks;
    d->lsocks = l;
    return APR_SUCCESS;
}

/* Match the @a i-th address of @a gen (resolved in @a sas[i], NULL for a
 * port 0 line) with an open socket no other line took, or open one. */
static apr_status_t listen_one(pev_daemon_t *d, const pev_gen_t *gen, int i,
                               apr_sockaddr_t *const *sas)
{
    const char *key = pevi_gen_listen_key(gen, i);
    int tls = strchr(key, ' ') != NULL;     /* "HOST:PORT tls" */
    lsock_t *l;

    /* a socket is kept for a line of its kind only: a plaintext listener
     * does not become a TLS one (that address must be closed first) */
    if (sas[i]) {
        for (l = d->lsocks; l; l = l->next)
            if (!l->claim && l->tls == tls && addr_same(l->local, sas[i]))
                break;
    }
    else
        /* port 0: the socket opened for this spelling, whatever it took */
        for (l = d->lsocks; l; l = l->next)
            if (!l->claim && l->any_port && strcmp(l->key, key) == 0)
                break;
    if (l) {
        l->claim = i + 1;
        return APR_SUCCESS;
    }
    return lsock_open(d, key, i + 1);
}

/* Resolve the addresses @a gen lists with a port into *@a out (in @a tmp;
 * NULL for port 0 lines), refusing one address listed twice under two
 * spellings (PEV_ECONFIG). On failure d->error says why. */
static apr_status_t resolve_all(pev_daemon_t *d, const pev_gen_t *gen, apr_pool_t *tmp,
                                apr_sockaddr_t ***out)
{
    int n = gen->listen->nelts, i, j;
    apr_sockaddr_t **sas = apr_pcalloc(tmp, sizeof *sas * (apr_size_t) (n + 1));
    apr_status_t st = APR_SUCCESS;
    char eb[256];

    for (i = 0; st == APR_SUCCESS && i < n; i++) {
        const char *key = pevi_gen_listen_key(gen, i);
        char *host;
        apr_port_t port;

        key_split(key, tmp, &host, &port);
        if (port == 0)
            continue;
        st = key_resolve(&sas[i], key, tmp);
        if (st != APR_SUCCESS) {
            pevi_daemon_set_error(d, "cannot resolve %s: %s", key,
                                  pev_strerror(st, eb, sizeof eb));
            break;
        }
        for (j = 0; j < i; j++)
            if (sas[j] && addr_same(sas[j], sas[i])) {
                pevi_daemon_set_error(d, "Listen %s: the same address as Listen %s",
                                      key, pevi_gen_listen_key(gen, j));
                st = PEV_ECONFIG;
                break;
            }
    }
    *out = sas;
    return st;
}

apr_status_t pevi_listen_check(pev_daemon_t *d, const pev_gen_t *gen)
{
    apr_sockaddr_t **sas;
    apr_pool_t *tmp;
    apr_status_t st;

    st = apr_pool_create(&tmp, d->pool);
    if (st != APR_SUCCESS)
        return st;
    st = resolve_all(d, gen, tmp, &sas);
    apr_pool_destroy(tmp);
    return st;
}

/* Match each address @a gen lists with an open socket, by resolved address
 * (a port 0 line: by spelling), and open the sockets for those that match
 * none (marked fresh). On failure the fresh ones are closed again, nothing
 * stays matched, and d->error names the address. */
apr_status_t pevi_listen_open(pev_daemon_t *d, const pev_gen_t *gen)
{
    int n = gen->listen->nelts, i, pass;
    apr_sockaddr_t **sas;
    apr_pool_t *tmp;
    apr_status_t st;
    lsock_t **pp, *l;

    st = apr_pool_create(&tmp, d->pool);
    if (st != APR_SUCCESS)
        return st;
    for (l = d->lsocks; l; l = l->next)
        l->claim = 0;
    st = resolve_all(d, gen, tmp, &sas);
    /* lines with a port first: a port 0 line takes its old socket only if
     * no line names the port that socket has */
    for (pass = 0; pass < 2; pass++)
        for (i = 0; st == APR_SUCCESS && i < n; i++)
            if ((sas[i] != NULL) == (pass == 0)
                && (st = listen_one(d, gen, i, sas)) != APR_SUCCESS)
                /* after a privilege drop: say so */
                pevi_privs_bind_error(d, pevi_gen_listen_key(gen, i), st);
    apr_pool_destroy(tmp);
    if (st == APR_SUCCESS)
        return APR_SUCCESS;
    for (pp = &d->lsocks; *pp;) {
        l = *pp;
        l->claim = 0;
        if (l->fresh) {
            *pp = l->next;
            apr_pool_destroy(l->pool);
        }
        else
            pp = &l->next;
    }
    return st;
}

/* Keep exactly the sockets the last pevi_listen_open() matched (@a gen
 * NULL: none), in configuration order; log the closes unless @a quiet (a
 * failed start says one thing only). */
void pevi_listen_commit(pev_daemon_t *d, const pev_gen_t *gen, int quiet)
{
    lsock_t *keep = NULL, **tail = &keep, *l;
    int i;

    if (gen)
        for (i = 0; i < gen->listen->nelts; i++) {
            lsock_t **pp;

            for (pp = &d->lsocks; *pp; pp = &(*pp)->next)
                if ((*pp)->claim == i + 1)
                    break;
            if (!*pp)
                continue;
            l = *pp;
            *pp = l->next;
            l->next = NULL;
            l->fresh = 0;
            l->claim = 0;
            /* the socket now belongs to this line: a port 0 line matches
             * it from now on only if this one has port 0 */
            if (strcmp(l->key, pevi_gen_listen_key(gen, i)) != 0) {
                char *host;
                apr_port_t port;

                l->key = apr_pstrdup(l->pool, pevi_gen_listen_key(gen, i));
                key_split(l->key, l->pool, &host, &port);
                l->any_port = port == 0;
            }
            *tail = l;
            tail = &l->next;
        }
    while ((l = d->lsocks) != NULL) {
        d->lsocks = l->next;
        if (!quiet)
            pev_daemon_log(d, PEV_LOG_INFO, "closed %s", l->name);
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
    lsock_t *l;

    for (l = d->lsocks; l; l = l->next)
        if (!l->logged) {
            pev_daemon_log(d, PEV_LOG_INFO, "listening on %s (%s)", l->name,
                           l->tls ? "TLS" : "plaintext");
            l->logged = 1;
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
