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
 *   log.c      pev_daemon_log(), where messages go (stderr, the journal,
 *              syslog, a file) and the error text: used by every part
 *   notify.c   the service manager's notifications (READY=1, RELOADING=1,
 *              STOPPING=1, WATCHDOG=1, STATUS=): called by cycle.c
 *   activate.c listening sockets passed by the service manager: called by
 *              cycle.c and listen.c
 *   privs.c    the core directives User and Group, the privilege drop
 *   pidfile.c  the core directive PidFile: the pid file and its lock
 *   limits.c   the core directives MaxConnections and MaxConnectionsPerHost:
 *              connections counted per host, refusals counted
 *
 * Nothing calls up into cycle.c, and conn.c calls no other part but log.c
 * and limits.c.
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
 *   gen->conf_pool   the shared pool (pev_gen_shared_pool()): the generation
 *                    record, module configurations, parsed values; destroyed
 *                    when the generation has ended and its last connection
 *                    closed (refs == 0), on the main thread (a worker's
 *                    last hold posts the destruction there)
 *     gen->pool      a subpool of conf_pool (pev_gen_pool()): registrations
 *                    and module state, destroyed when the generation ends
 *   lsock->pool      one per listening socket, kept across generations
 *   c->pool          one per connection
 *   d->sig_pool      the signal handlers, from the start to the stop
 *   d->path_pool     the configuration file's name
 *   sink pool        one per log target in use or prepared (log.c): the
 *                    path, the file's descriptor
 *   notify pool      the notification socket, the watchdog and status
 *                    timers, their listeners (notify.c)
 * The sockets the service manager passed are closed by a cleanup of
 * d->pool (activate.c); a listening socket adopting one holds a duplicate.
 *
 * Per-restart work allocates only from pools it destroys again, so a
 * daemon's memory does not grow with the number of restarts.
 */
#ifndef POOLEV_DAEMON_INT_H
#define POOLEV_DAEMON_INT_H

#include <stdatomic.h>

#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include <sys/types.h>

#include "poolev/daemon.h"
#include "poolev/tls.h"
#include "poolev/workers.h"
#include "../list.h"

enum pevi_dstate { D_NEW, D_RUNNING, D_STOPPING, D_STOPPED };

struct pevi_lsock;
struct pevi_host;

/* What the process-wide core directives (User, Group, PidFile,
 * MaxConnections, MaxConnectionsPerHost) stored for a generation; in its
 * configuration pool, made by the first of them (pevi_gen_core()). */
typedef struct pevi_core_conf {
    const char *user;               /* as written; NULL: not set */
    uid_t uid;
    gid_t user_gid;                 /* the user's primary group */
    const char *login;              /* the passwd entry's name; NULL: none */
    const char *group;              /* as written; NULL: not set */
    gid_t gid;
    const char *pidfile;            /* NULL: none */
    long max_conns;                 /* 0: no limit */
    long max_conns_host;            /* 0: no limit */
} pevi_core_conf_t;

/* The process state of privs.c, pidfile.c and limits.c; in the daemon's
 * pool, made once (pevi_daemon_proc()). */
typedef struct pevi_proc {
    /* privs.c: what the start set up, for the reloads to compare */
    int started;                    /* the start got past the drop */
    int dropped;                    /* privileges were dropped */
    const char *user, *group;       /* as the start's configuration wrote them */
    uid_t uid;
    gid_t gid;
    int has_user, has_group;
    /* pidfile.c */
    apr_pool_t *pid_pool;           /* holds the pid file; NULL: none */
    const char *pidfile;            /* its path (in pid_pool) */
    /* limits.c */
    apr_pool_t *hosts_pool;         /* holds hosts and their records */
    apr_hash_t *hosts;              /* IP -> struct pevi_host, counted */
    apr_size_t wconns;              /* connections held on the workers
                                     * (under the lock of dworkers.c) */
    struct pevi_host *spare;        /* records for reuse */
    apr_uint64_t refused, refused_host;
} pevi_proc_t;

/* Where connections live: the main thread's context (d->main, the only one
 * under Workers 1) or one worker's (d->wctx[i], Workers N > 1). Everything
 * in a worker's context is touched on that worker's thread only
 * (dworkers.c); pevi_wctx() finds the calling thread's. */
typedef struct pevi_wctx {
    pev_daemon_t *d;
    int index;                      /* the worker's index; -1: the main thread */
    pev_worker_t *worker;           /* NULL: the main thread */
    apr_pool_t *pool;               /* connection pools are made in it */
    pev_bus_t *bus;
    pev_loop_t *loop;
    pev_module_t **mods;            /* per module, on this bus */
    pev_gen_t *gen;                 /* a worker: the generation it serves */
    apr_pool_t *gen_pool;           /* a worker: its pev_gen_pool() */
    const char *fail;               /* a worker: pev_gen_fail() of its init */
    pevi_link_t conns;              /* open connections */
    apr_size_t nconns;
    pev_conn_t *opening;            /* during its core.conn-open */
    apr_size_t ndeferred;           /* TLS connections waiting to be offered */
    pevi_link_t refusing;           /* refused connections still closing */
    apr_uint64_t ngiven;            /* a worker: connections it accepted */
    int closing;                    /* a worker: its stop began */
} pevi_wctx_t;

struct pevi_dworkers;

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
    int workers;                    /* Workers: 1.. (0: not given, 1) */
    int spin;                       /* LoopSpin, microseconds (0: off) */
    int spin_given;
    int flush_slice;                /* FlushSlice, microseconds (0: off) */
    int flush_slice_given;
    int queue_limit_set;            /* WorkerQueueLimit given */
    apr_size_t queue_limit;         /* WorkerQueueLimit (0: no limit) */
    pev_tls_ctx_t *tls;             /* the server context; NULL without
                                     * TLSCertificateFile, or once ended */
    apr_pool_t *tls_pool;           /* the context's pool (a subpool of
                                     * d->pool), destroyed with gen->pool */
    atomic_size_t refs;             /* holds: 1 while current (gen_end()
                                     * drops it), 1 per connection of the
                                     * main thread, 1 per worker serving it
                                     * and per connection of a worker (any
                                     * thread: atomic); the last one goes
                                     * destroys conf_pool on the main thread */
    int ended;
    const char *fail;               /* pev_gen_fail() message */
    struct pevi_log_conf *log;      /* LogLevel, LogTarget, LogFile (log.c);
                                     * NULL: the defaults */
    pevi_core_conf_t *core;         /* NULL: no process directive given */
};

struct pev_daemon {
    apr_pool_t *pool;
    pev_bus_t *bus;
    pev_loop_t *loop;
    const char *name;
    const pev_module_def_t *const *defs;
    int nmods;
    pev_module_t **mods;
    void **mstate;                  /* per module: its process_init's state */
    apr_hash_t *directives;         /* lower-case name -> directive entry */
    apr_pool_t *path_pool;
    const char *config_file;
    const char *default_config;
    apr_interval_time_t grace;
    int flags;

    enum pevi_dstate state;
    int restart_req, stop_req;
    int busy;                       /* inside start/restart/stop */
    int in_log;
    int dying;                      /* d->pool is being destroyed */
    apr_status_t exit_status;

    pev_gen_t *gen;
    unsigned gen_count;
    int process_inited;             /* the modules' process_init ran */
    struct pevi_lsock *lsocks;
    pevi_wctx_t main;               /* the main thread's connections */
    struct pevi_dworkers *wk;       /* Workers N > 1 while they run, else NULL */
    apr_uint64_t conn_ids;          /* main thread only (a worker: its own) */
    apr_pool_t *sig_pool;
    pevi_proc_t *proc;              /* privs.c, pidfile.c, limits.c */

    char error[1024];

    struct pevi_log *log;           /* where messages go (log.c) */
    struct pevi_notify *notify;     /* the service manager (notify.c) */
    struct pevi_passed *passed;     /* sockets passed at the start (activate.c) */
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

/* The log's state, in d->pool (pevi_conf_init() calls it). */
apr_status_t pevi_log_init(pev_daemon_t *d);

/* The core logging directives: LogLevel, LogTarget, LogFile. */
extern const pev_directive_t pevi_log_directives[];

/* Make @a gen's log settings the pending ones: open what they name (a log
 * file, syslog) without using it yet. On failure d->error says why and the
 * current settings stay. */
apr_status_t pevi_log_prepare(pev_daemon_t *d, const pev_gen_t *gen);

/* Use the pending settings from now on (none pending: nothing happens). */
void pevi_log_commit(pev_daemon_t *d);

/* Drop the pending settings (a failed reload). */
void pevi_log_abort(pev_daemon_t *d);

/* Back to the defaults (stderr, info), closing a log file or syslog: after
 * a failed start and at the stop. */
void pevi_log_close(pev_daemon_t *d);

/* Take SIGUSR1 (reopen the log file) into d->sig_pool. */
apr_status_t pevi_log_take_signal(pev_daemon_t *d);

/* ------------------------------------------------------------------------ */
/* notify.c: the service manager's notification socket (sd_notify(3))        */

/* At the start: read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, and
 * unset them. Nothing is done without NOTIFY_SOCKET. */
void pevi_notify_init(pev_daemon_t *d);

/* The first generation runs: READY=1, the watchdog timer. */
void pevi_notify_ready(pev_daemon_t *d);

/* A restart begins: RELOADING=1 with MONOTONIC_USEC. */
void pevi_notify_reloading(pev_daemon_t *d);

/* A restart ended: READY=1; @a failed: the reload failed, the running
 * generation goes on (STATUS says so). */
void pevi_notify_reloaded(pev_daemon_t *d, int failed);

/* The stop begins: STOPPING=1. */
void pevi_notify_stopping(pev_daemon_t *d);

/* The start failed: STATUS= says why; the socket closes. */
void pevi_notify_start_failed(pev_daemon_t *d);

/* ------------------------------------------------------------------------ */
/* activate.c: sockets passed by the service manager (sd_listen_fds(3))      */

/* At the start: take the sockets of LISTEN_FDS / LISTEN_PID (and their
 * LISTEN_FDNAMES), set FD_CLOEXEC on them, unset the variables. */
void pevi_activate_init(pev_daemon_t *d);

/* A passed listening socket bound to one of @a sa's addresses, not in use:
 * a duplicate of it made an apr_socket_t in @a pool (which closes the
 * duplicate; the passed socket is free again then). APR_NOTFOUND when none
 * matches. */
apr_status_t pevi_activate_take(pev_daemon_t *d, apr_socket_t **sock,
                                const apr_sockaddr_t *sa, const char *key,
                                apr_pool_t *pool);

/* After the first generation opened its sockets: log the passed sockets
 * no Listen address took (they stay open, for a reload that lists them). */
void pevi_activate_report(pev_daemon_t *d);

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

/* Match each address @a gen lists with an open socket, by resolved address
 * (a port 0 line: by spelling), and open the sockets for those that match
 * none (marked fresh). On failure the fresh ones are closed again, nothing
 * stays matched, and d->error names the address. */
apr_status_t pevi_listen_open(pev_daemon_t *d, const pev_gen_t *gen);

/* What pevi_listen_open() checks before it opens anything: the addresses
 * resolve, and no address is listed twice under two spellings. Opens
 * nothing (pev_daemon_check_config()). */
apr_status_t pevi_listen_check(pev_daemon_t *d, const pev_gen_t *gen);

/* Keep exactly the sockets the last pevi_listen_open() matched (@a gen
 * NULL: none), in configuration order; log the closes unless @a quiet (a
 * failed start says one thing only). */
void pevi_listen_commit(pev_daemon_t *d, const pev_gen_t *gen, int quiet);

/* Poll again the sockets that were paused because no generation could
 * take a connection (during a start, restart or stop whose callbacks ran
 * the loop). Called when a generation runs again. */
void pevi_listen_resume(pev_daemon_t *d);

/* Log "listening on ADDRESS:PORT (plaintext|TLS)" for each open socket not
 * logged yet. */
void pevi_listen_log(pev_daemon_t *d);

/* ------------------------------------------------------------------------ */
/* conn.c                                                                    */

/* A socket accepted into its own pool @a cp (a subpool of w->pool), under
 * the current generation (a worker's: w->gen): make it a connection on
 * context @a w's thread, loop and bus and offer it to the modules
 * (core.conn-open). With @a tls (a TLS listener: the generation's
 * context), the server handshake runs first and the connection is offered
 * once it succeeded. */
void pevi_conn_accept(pevi_wctx_t *w, apr_pool_t *cp, apr_socket_t *ns, pev_tls_ctx_t *tls);

/* Drop a hold on @a gen's configuration (a connection's, a worker's, or
 * the one it has while current, which gen_end() drops): the shared pool
 * (conf_pool) goes with the last hold, on the main thread; a worker's last
 * hold posts it there. Any thread. */
void pevi_gen_unref(pev_gen_t *gen);

/* Offer the TLS connections whose handshake ended while no generation
 * could take them (a start, restart or stop ran the loop): each from a
 * timer of the next iteration. Cheap when there are none. */
void pevi_conn_offer_deferred(pevi_wctx_t *w);

/* The stop: close every connection, wait up to d->grace for them to go,
 * then abort the rest. */
void pevi_conn_close_all(pevi_wctx_t *w);

/* The stop's last step for connections refused over a limit that are still
 * sending their refusal: their pools go now, without callbacks. */
void pevi_conn_drop_refused(pevi_wctx_t *w);

/* ------------------------------------------------------------------------ */
/* privs.c, pidfile.c, limits.c                                              */

/* The core directives of each part (conf.c adds them). */
extern const pev_directive_t pevi_privs_directives[];
extern const pev_directive_t pevi_pidfile_directives[];
extern const pev_directive_t pevi_limits_directives[];

/* The generation's process settings, made on first use (a directive
 * handler); NULL from a generation no process directive touched when
 * @a make is 0. */
pevi_core_conf_t *pevi_gen_core(pev_gen_t *gen, int make);

/* The daemon's process state, made on first use (in d->pool). */
pevi_proc_t *pevi_daemon_proc(pev_daemon_t *d);

/* After a parse (the start, a reload's check, a configuration check):
 * settings that go together, and, while a generation runs, the settings a
 * reload cannot change (User, Group, PidFile). d->error on failure. */
apr_status_t pevi_privs_check(pev_daemon_t *d, const pev_gen_t *gen);

/* The start, after the sockets are bound: change to User and Group, and
 * verify. On failure d->error says why; the process must not go on. */
apr_status_t pevi_privs_drop(pev_daemon_t *d, const pev_gen_t *gen);

/* A bind that failed with @a st after the privileges were dropped: say so
 * in d->error (listen.c calls it for a reload's new address). */
void pevi_privs_bind_error(pev_daemon_t *d, const char *key, apr_status_t st);

/* The start, before the sockets: take the pid file (lock it, write it
 * atomically). A live one refuses the start. d->error on failure. */
apr_status_t pevi_pidfile_acquire(pev_daemon_t *d, const pev_gen_t *gen);

/* Remove the pid file and release its lock (the stop, a failed start). */
void pevi_pidfile_release(pev_daemon_t *d);

/* May a connection from @a ip (NULL: unknown) be held under the limits of
 * @a gen (the connection's generation)? 0 and *host (counted; release it with
 * pevi_limits_release()), or the PEV_CONN_REFUSED_* reason, counted.
 * @a worker: asked on a worker (under the lock of dworkers.c; a held one
 * is counted in the workers' total here, at once). */
int pevi_limits_admit(pev_daemon_t *d, const pev_gen_t *gen, const char *ip,
                      struct pevi_host **host, int worker);

/* A held connection from @a host (NULL: none) went; @a worker: a worker's
 * held connection (its count in the workers' total goes too). */
void pevi_limits_release(pev_daemon_t *d, struct pevi_host *host, int worker);

/* ------------------------------------------------------------------------ */
/* dworkers.c: Workers N (the core directive, the worker threads)           */

extern const pev_directive_t pevi_workers_directives[];
/* FlushSlice when not given, microseconds. */
#define PEVI_FLUSH_SLICE_DEFAULT 20

/* LoopSpin (0 when not given) and FlushSlice (PEVI_FLUSH_SLICE_DEFAULT when
 * not given) of @a gen on @a loop (pev_loop_set_spin(),
 * pev_loop_set_flush_slice()), on the loop's thread; both 0 when @a gen is
 * NULL. Under Workers N the main thread only accepts: its loop gets NULL. */
void pevi_gen_apply_loop(const pev_gen_t *gen, pev_loop_t *loop);

/* The calling thread's context: its worker's when it is one of d's
 * workers, else d->main. */
pevi_wctx_t *pevi_wctx(const pev_daemon_t *d);

/* The number of workers @a gen asks for (1 when not given). */
int pevi_gen_workers(const pev_gen_t *gen);

/* WorkerQueueLimit default: events queued per worker. */
#define PEVI_WORKER_QUEUE_DEFAULT 65536
/* WorkerQueueLimit maximum. */
#define PEVI_WORKER_QUEUE_MAX (1L << 30)

/* After a parse: Workers N > 1 without PEV_DAEMON_WORKERS_OK, and a
 * reload that changes Workers. d->error on failure (PEV_ECONFIG). */
apr_status_t pevi_workers_check(pev_daemon_t *d, const pev_gen_t *gen, const char *name);

/* The start, after the main thread's part of it succeeded, with Workers
 * N > 1: make and start the workers, each running every module's init for
 * @a gen on its own thread, bus and generation pool. On failure nothing
 * stays (every worker stopped and joined) and d->error says why. */
apr_status_t pevi_workers_start(pev_daemon_t *d, pev_gen_t *gen);

/* The stop: each worker closes its own connections (core.shutdown on its
 * bus, then the closes, within d->grace, then core.exit) and ends; joined.
 * Nothing without workers. */
void pevi_workers_stop(pev_daemon_t *d);

/* An accepted socket @a fd (the main thread's accept; @a tls: on a TLS
 * listener) handed to the next worker, round-robin. Closes @a fd when it
 * cannot be handed over. */
void pevi_workers_handoff(pev_daemon_t *d, int fd, int tls);

/* pev_daemon_stop() called on a worker: posted to the main thread (with
 * @a status the status pev_daemon_run() returns; APR_SUCCESS: unchanged). */
apr_status_t pevi_workers_post_stop(pev_daemon_t *d, apr_status_t status);

/* A reload under Workers N > 1, after the main thread switched to @a gen:
 * each worker switches at its next iteration (core.restart on its bus, its
 * old generation pool destroyed, the inits for @a gen, core.postparse);
 * connections open there keep their generation until they close. A worker
 * whose init fails stops the daemon (as a failed restart init does under
 * Workers 1). */
void pevi_workers_switch(pev_daemon_t *d, pev_gen_t *gen);

/* The generation a worker serves (its context's), or d->gen on the main
 * thread. */
pev_gen_t *pevi_daemon_gen(const pev_daemon_t *d);

/* A worker's last hold on @a gen went: its conf_pool is destroyed on the
 * main thread. */
void pevi_workers_gen_gone(pev_gen_t *gen);

/* Connections open on the workers (any thread). */
apr_size_t pevi_workers_conns(const pev_daemon_t *d);

/* A worker's log line, handed to the main thread (the log's sinks and the
 * core.log listeners are the main thread's). */
void pevi_workers_log(pev_daemon_t *d, pev_log_level_t level, const char *msg);

/* The lock around limits.c's table while workers run (no-ops without). */
void pevi_workers_lock(pev_daemon_t *d);
void pevi_workers_unlock(pev_daemon_t *d);

#endif /* POOLEV_DAEMON_INT_H */
