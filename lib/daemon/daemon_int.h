/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * daemon_int.h - internal: what the parts of the daemon share (see
 * poolev/daemon.h for the API).
 *
 * The parts, and which way they depend (an arrow: "calls into"):
 *
 *   cycle.c    creation, generations, start/restart/stop, run, accessors
 *     -> conf.c     the directive table; reading and parsing the configuration
 *     -> listen.c   the listening sockets
 *          -> conn.c    accepted connections
 *     -> conn.c
 *   log.c      pev_daemon_log() and the error text: used by every part
 *
 * Nothing calls up into cycle.c, and conn.c calls no other part but log.c.
 * Each part includes this header and public headers (listen.c polls its
 * sockets through descriptor watchers, poolev/watch.h); cycle.c also
 * includes io_int.h, the loop's narrow interface, to ask whether the loop
 * is running. This header includes
 * list.h for the intrusive list (the connections). A record only one part
 * uses (a listening socket, a connection, a directive entry) is defined in
 * that part.
 *
 * Pools (all subpools of the daemon's pool d->pool, which is a subpool of
 * the caller's process pool):
 *   gen->conf_pool   the generation record, module configurations, parsed
 *                    values; destroyed when the generation has ended and its
 *                    last connection closed (refs == 0)
 *     gen->pool      a subpool of conf_pool: registrations and module state,
 *                    destroyed when the generation ends
 *   lsock->pool      one per listening socket, kept across generations
 *   c->pool          one per connection
 *   d->sig_pool      the signal handlers, from the start to the stop
 *   d->path_pool     the configuration file's name
 *
 * Per-restart work allocates only from pools it destroys again, so a
 * daemon's memory does not grow with the number of restarts.
 */
#ifndef POOLEV_DAEMON_INT_H
#define POOLEV_DAEMON_INT_H

#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "poolev/daemon.h"
#include "poolev/tls.h"
#include "../list.h"

enum pevi_dstate { D_NEW, D_RUNNING, D_STOPPING, D_STOPPED };

struct pevi_lsock;

struct pev_gen {
    pev_daemon_t *d;
    apr_pool_t *conf_pool;          /* holds this record */
    apr_pool_t *pool;               /* NULL once ended (or for a scratch parse) */
    unsigned number;
    void **mconf;                   /* per module, in load order */
    apr_array_header_t *listen;     /* const char * keys, configuration order:
                                     * "HOST:PORT", or "HOST:PORT tls" */
    const char *tls_cert;           /* TLSCertificateFile, or NULL */
    const char *tls_key;            /* TLSCertificateKeyFile, or NULL */
    const char *tls_ca;             /* TLSCACertificateFile, or NULL */
    int tls_listens;                /* Listen lines with "tls" */
    pev_tls_ctx_t *tls;             /* the server context; NULL without
                                     * TLSCertificateFile, or once ended */
    apr_pool_t *tls_pool;           /* the context's pool (a subpool of
                                     * d->pool), destroyed with gen->pool */
    apr_size_t refs;                /* connections accepted under it */
    int ended;
    const char *fail;               /* pev_gen_fail() message */
};

struct pev_daemon {
    apr_pool_t *pool;
    pev_bus_t *bus;
    pev_loop_t *loop;
    const char *name;
    const pev_module_def_t *const *defs;
    int nmods;
    pev_module_t **mods;
    apr_hash_t *directives;         /* lower-case name -> directive entry */
    apr_pool_t *path_pool;
    const char *config_file;
    const char *default_config;
    apr_interval_time_t grace;
    int flags;

    enum pevi_dstate state;
    int restart_req, stop_req;
    int busy;                       /* inside start/restart/stop */
    pev_conn_t *opening;            /* during its core.conn-open */
    apr_size_t ndeferred;           /* TLS connections waiting to be offered */
    int in_log;
    int dying;                      /* d->pool is being destroyed */
    apr_status_t exit_status;

    pev_gen_t *gen;
    unsigned gen_count;
    struct pevi_lsock *lsocks;
    pevi_link_t conns;
    apr_size_t nconns;
    apr_uint64_t conn_ids;
    apr_pool_t *sig_pool;

    char error[1024];
};

/* The @a i-th Listen key (apr_array_header_t keeps elements in a char *). */
static inline const char *pevi_gen_listen_key(const pev_gen_t *gen, int i)
{
    return ((const char *const *) (const void *) gen->listen->elts)[i];
}

/* ------------------------------------------------------------------------ */
/* log.c                                                                     */

/* Set the text pev_daemon_error() returns. */
void pevi_daemon_set_error(pev_daemon_t *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* conf.c                                                                    */

/* Make the directive table, with the core directives in it. */
apr_status_t pevi_conf_init(pev_daemon_t *d);

/* Add a module's directives (@a module: its index in load order; -1:
 * core). APR_EINVAL for a malformed one, APR_EEXIST for a name taken. */
apr_status_t pevi_conf_add_directives(pev_daemon_t *d, const pev_directive_t *dirs,
                                      int module);

/* The configuration text: the file, or the default. In @a tmp. */
apr_status_t pevi_conf_load(pev_daemon_t *d, apr_pool_t *tmp, const char **name,
                            const char **text, apr_size_t *len);

/* Parse @a text into @a gen. On error d->error is "NAME:LINE: ..." and the
 * result is PEV_ECONFIG. */
apr_status_t pevi_conf_parse(pev_daemon_t *d, pev_gen_t *gen, const char *name,
                             const char *text, apr_size_t len);

/* Check @a gen's TLS directives (read from @a name) and build its server
 * context in a new subpool of d->pool: *tls_pool and *ctx, both NULL when
 * the generation has no TLSCertificateFile. PEV_ECONFIG for directives
 * that do not go together, PEV_ETLS (or APR_ENOTIMPL) when the context
 * cannot be built; d->error says why (the file and OpenSSL's reason). */
apr_status_t pevi_conf_tls(pev_daemon_t *d, const pev_gen_t *gen, const char *name,
                           apr_pool_t **tls_pool, pev_tls_ctx_t **ctx);

/* ------------------------------------------------------------------------ */
/* listen.c                                                                  */

/* Open the sockets @a gen lists that are not open yet (marked fresh). On
 * failure the fresh ones are closed again and d->error names the address. */
apr_status_t pevi_listen_open(pev_daemon_t *d, const pev_gen_t *gen);

/* Keep exactly the sockets @a gen lists (NULL: none), in its order; log the
 * closes unless @a quiet (a failed start says one thing only). */
void pevi_listen_commit(pev_daemon_t *d, const pev_gen_t *gen, int quiet);

/* Poll again the sockets that were paused because no generation could
 * take a connection (during a start, restart or stop whose callbacks ran
 * the loop). Called when a generation runs again. */
void pevi_listen_resume(pev_daemon_t *d);

/* Log each open socket's address and port. */
void pevi_listen_log(pev_daemon_t *d);

/* ------------------------------------------------------------------------ */
/* conn.c                                                                    */

/* A socket accepted into its own pool @a cp (a subpool of d->pool), under
 * the current generation: make it a connection and offer it to the
 * modules (core.conn-open). With @a tls (a TLS listener: the generation's
 * context), the server handshake runs first and the connection is offered
 * once it succeeded. */
void pevi_conn_accept(pev_daemon_t *d, apr_pool_t *cp, apr_socket_t *ns, pev_tls_ctx_t *tls);

/* Drop a hold on @a gen's configuration (a connection's, or the one
 * gen_end() takes while the generation pool goes): the configuration pool
 * goes with the last hold of a generation that has ended. */
void pevi_gen_unref(pev_gen_t *gen);

/* Offer the TLS connections whose handshake ended while no generation
 * could take them (a start, restart or stop ran the loop): each from a
 * timer of the next iteration. Cheap when there are none. */
void pevi_conn_offer_deferred(pev_daemon_t *d);

/* The stop: close every connection, wait up to d->grace for them to go,
 * then abort the rest. */
void pevi_conn_close_all(pev_daemon_t *d);

#endif /* POOLEV_DAEMON_INT_H */
