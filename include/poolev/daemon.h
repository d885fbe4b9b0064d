/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/daemon.h - the daemon lifecycle: modules in load order, one
 * configuration generation per start or restart, SIGHUP restart and
 * SIGTERM/SIGINT shutdown, listening sockets kept across restarts, and
 * connections with their own pool and stream.
 *
 * Objects and their pools (doc/daemon.md has the picture), named by how
 * long they live:
 *
 *   daemon       a subpool of the pool given to pev_daemon_create() (the
 *                "process pool"); owns the bus, the loop, the listening
 *                sockets, the connections and the generations. Lives until
 *                the process pool goes: state that survives restarts
 *                (pev_module_def_t.process_init).
 *   generation   two pools, both subpools of the daemon's pool:
 *                - the generation pool (pev_gen_pool()): lives while the
 *                  generation is current. Module state and registrations
 *                  (listeners, timers) of one generation go here: the
 *                  restart or the stop destroys it, and everything bound to
 *                  it unregisters itself at that moment. The common case.
 *                - the shared pool (pev_gen_shared_pool(), formerly
 *                  pev_gen_conf_pool()): the generation record and the values
 *                  the directives stored. Shared with the connections
 *                  accepted under the generation, so it lives until the
 *                  generation has ended AND its last connection has closed:
 *                  longer than the generation, for as long as any client
 *                  stays. Nothing that runs on events belongs here.
 *   connection   its own pool (a subpool of the daemon's pool) with the
 *                accepted socket, the stream and whatever the modules
 *                allocate for it; destroyed after the stream's close.
 *
 * Threads. Under "Workers 1" (the default) everything here is
 * single-threaded: call it from the thread that runs the daemon, outside or
 * inside the daemon's callbacks as each function says. Under "Workers N"
 * (N > 1, or "auto": one per online CPU; only for an application that sets
 * PEV_DAEMON_WORKERS_OK) the daemon runs N worker threads
 * (poolev/workers.h), and what runs where is:
 *   - the main thread (the one that calls pev_daemon_start() and
 *     pev_daemon_run()): the signals, reading and checking the
 *     configuration (once), the listening sockets and their accepts (so
 *     sockets passed by systemd keep working), the pid file, the
 *     privileges, the modules' process_init, the log's targets and the
 *     core.log listeners, and core.preparse, core.postparse,
 *     core.startup, core.shutdown and core.exit on the main thread's bus;
 *   - each worker, on its own thread: its own bus, loop and pools (an APR
 *     allocator of its own); every module's init, once per worker, with
 *     pev_daemon_bus(), pev_daemon_loop() and pev_gen_pool() giving that
 *     worker's (the accessors answer for the calling thread);
 *     core.postparse and core.startup after its inits (at a reload:
 *     core.restart, its inits again, core.postparse), core.conn-open,
 *     core.conn-close and core.conn-refused for its connections, and at
 *     the stop core.shutdown, the closing of its own connections, then
 *     core.exit, before its thread ends.
 * The main thread hands each accepted connection to the next worker,
 * round-robin; the connection lives on that worker for its whole life: its
 * pool (made from the worker's pool), its stream and everything bound to
 * them run on that worker's thread only.
 *
 * The rules for module authors under Workers N: nothing touches another
 * worker's pools, bus, loop, listeners or connections, not even to read;
 * to make something happen on another worker, send it an event
 * (pev_workers_send(), with pev_worker_group(pev_worker_self())) or post
 * to its loop. The generation record, the module configurations
 * (pev_gen_module_conf(), the mconf of init) and the process state of
 * process_init are shared by every worker: read-only from the workers,
 * or guarded by the module's own atomics or locks. An init must not
 * allocate from pev_gen_shared_pool() or pev_daemon_pool() (another
 * thread's pools): use pev_gen_pool(), the worker's own. pev_daemon_log(),
 * pev_daemon_stop(), pev_daemon_connections(), pev_daemon_refused(),
 * pev_daemon_gen(), pev_daemon_name() and the pev_gen_* and pev_conn_*
 * accessors may be called on a worker; every other function of the
 * daemon is the main thread's.
 *
 * TLS listeners work under Workers N: the handshake runs on the worker
 * the connection was handed to, with the generation's context
 * (pev_gen_tls(), shared and immutable once made).
 *
 * A reload under Workers N: the main thread reads, parses and checks the
 * next configuration once (a failure changes nothing on any thread: the
 * running generation stays everywhere), generates core.restart on its bus,
 * ends its part of the generation, makes the next one and sends it to
 * every worker. Each worker switches at its next iteration: core.restart
 * on its bus, its generation pool destroyed (the old registrations go),
 * every module's init for the next generation in a new pool of its own,
 * core.postparse. Connections open on a worker keep their generation
 * (pev_conn_gen()) until they close; connections handed to it after the
 * switch get the next one. A generation's shared pool is destroyed on
 * the main thread once every worker and every connection let it go (an
 * atomic count). A worker whose init fails stops the daemon, as a failed
 * restart init does under Workers 1. Workers itself takes effect at the
 * start only: a reload that changes it is refused.
 */
#ifndef POOLEV_DAEMON_H
#define POOLEV_DAEMON_H

#include <stdarg.h>

#include <apr_network_io.h>
#include <apr_pools.h>

#include "poolev/bus.h"
#include "poolev/export.h"
#include "poolev/loop.h"
#include "poolev/status.h"
#include "poolev/stream.h"
#include "poolev/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A daemon (opaque). */
typedef struct pev_daemon pev_daemon_t;
/** A configuration generation (opaque). */
typedef struct pev_gen pev_gen_t;
/** An accepted connection (opaque). */
typedef struct pev_conn pev_conn_t;

/* ------------------------------------------------------------------------ */
/* Events the daemon generates (on pev_daemon_bus())                         */

/** Before a generation's configuration is parsed. event_data: the new
 *  pev_gen_t (its module configurations hold their defaults). */
#define PEV_EVENT_PREPARSE "core.preparse"
/** After every module's init ran for a generation. event_data: the new
 *  pev_gen_t, current from now on. */
#define PEV_EVENT_POSTPARSE "core.postparse"
/** Once, after the first generation's core.postparse. event_data: the
 *  generation. */
#define PEV_EVENT_STARTUP "core.startup"
/** A restart is under way: the next configuration was read and checked, the
 *  current generation is about to end. event_data: the ending generation. */
#define PEV_EVENT_RESTART "core.restart"
/** A stop is under way: nothing is accepted any more; connections are
 *  closed after this event. event_data: the current generation (NULL when a
 *  failed restart left none). */
#define PEV_EVENT_SHUTDOWN "core.shutdown"
/** Last event: connections are closed, the generation is about to end.
 *  event_data: the current generation (NULL as for core.shutdown). */
#define PEV_EVENT_EXIT "core.exit"
/** A connection was accepted. event_data: the pev_conn_t. A listener takes
 *  it with pev_conn_set_handler(); a connection nobody takes is closed.
 *  A connection accepted on a TLS listener ("Listen HOST:PORT tls") is
 *  offered once its TLS handshake succeeded (pev_conn_is_tls() says so,
 *  and pev_stream_tls_ssl() gives the peer's certificate); one whose
 *  handshake fails is closed without core.conn-open or core.conn-close
 *  (a PEV_LOG_DEBUG message says why). core.conn-open is never generated
 *  while a start, restart or stop runs (one of its callbacks may run the
 *  loop): a handshake that ends then is offered, its input held, in the
 *  first iteration after the generation runs. */
#define PEV_EVENT_CONN_OPEN "core.conn-open"
/** A connection closed (after its handler's on_close), just before its
 *  pool is destroyed. event_data: the pev_conn_t. */
#define PEV_EVENT_CONN_CLOSE "core.conn-close"
/** A connection was accepted over MaxConnections or MaxConnectionsPerHost
 *  and is refused. event_data: the pev_conn_t, never offered through
 *  core.conn-open; pev_conn_refused() says which limit. A listener may
 *  write a last line on pev_conn_stream() (a protocol's "too many
 *  connections" reply); then, or at once when nobody listens, the daemon
 *  closes it (the output is sent, for at most a second). On a TLS
 *  listener the refusal comes before any handshake, so nothing is sent:
 *  the connection is reset, whatever a listener wrote. Its pool goes
 *  after the close, without core.conn-close. Counted in
 *  pev_daemon_refused(), never in pev_daemon_connections(). */
#define PEV_EVENT_CONN_REFUSED "core.conn-refused"
/** A log message. event_data: a const pev_log_record_t *. When nobody
 *  listens, the daemon writes messages up to its LogLevel (default
 *  PEV_LOG_INFO) to its LogTarget (default stderr); see pev_daemon_log(). */
#define PEV_EVENT_LOG "core.log"

/** Log levels, most severe first. */
typedef enum pev_log_level {
    PEV_LOG_ERROR = 0,
    PEV_LOG_WARN = 1,
    PEV_LOG_INFO = 2,
    PEV_LOG_DEBUG = 3
} pev_log_level_t;

/** event_data of PEV_EVENT_LOG; valid during the dispatch only. */
typedef struct pev_log_record {
    pev_daemon_t *daemon;
    pev_log_level_t level;
    const char *msg;        /* one line, no trailing newline */
} pev_log_record_t;

/* ------------------------------------------------------------------------ */
/* Modules and directives                                                    */

/**
 * A directive handler: store the arguments in @a mconf (the module's
 * configuration for @a gen). @a argv[0] is the directive's name as written,
 * @a argv[1..argc-1] its arguments (their count was checked against the
 * declaration); all strings live in the generation's shared pool.
 *
 * Handlers store values and nothing else: a restart parses the new file
 * twice (once to check it while the running generation goes on, once for
 * real), so a handler must not register listeners or open resources; that
 * is the module init's job. During the check parse pev_gen_pool(@a gen) is
 * NULL (the scratch generation has no registrations).
 *
 * @return NULL when the value is accepted, else a message (static, or from
 *         pev_gen_shared_pool()); the daemon reports "FILE:LINE: NAME: message".
 */
typedef const char *pev_directive_fn(pev_gen_t *gen, void *mconf, int argc,
                                     char *argv[]);

/** No maximum of arguments (pev_directive_t.max_args); a line holds at most
 *  64 words, so 63 arguments, and a file at most 1 MiB. */
#define PEV_ARGS_ANY (-1)

/** A directive a module accepts. Arrays of these end with a {NULL} entry. */
typedef struct pev_directive {
    const char *name;       /* matched case-insensitively; unique per daemon */
    int min_args;           /* arguments after the name */
    int max_args;           /* PEV_ARGS_ANY: no limit */
    pev_directive_fn *fn;
    const char *usage;      /* the arguments, e.g. "SECONDS", for messages */
} pev_directive_t;

/**
 * A module's per-generation defaults: called with a zeroed @a mconf of
 * conf_size bytes before the configuration is parsed. Like directive
 * handlers it runs twice per restart and stores values only; during the
 * check parse pev_gen_pool(@a gen) is NULL.
 * @return NULL or an error message (the generation fails).
 */
typedef const char *pev_module_defaults_fn(pev_gen_t *gen, void *mconf);

/**
 * A module's check: the rules between its directives (a limit that must be
 * larger than another, a directive that needs another), run after the parse
 * and before anything is switched: by pev_daemon_check_config(), at the
 * start, and by every restart while the running generation goes on (its
 * check parse, where pev_gen_pool(@a gen) is NULL). Like directive handlers
 * it looks at @a mconf and changes nothing else. A restart runs it on the
 * check parse only (not again on the real parse of the same text, where a
 * failure could only stop the daemon), so it must depend on the
 * configuration alone.
 * @return NULL, or a message (static, or from pev_gen_shared_pool()); the
 *         daemon reports "FILE: module NAME: message" and the configuration
 *         is refused: PEV_ECONFIG at the start and from
 *         pev_daemon_check_config(), and a restart keeps the running
 *         generation.
 */
typedef const char *pev_module_check_fn(pev_gen_t *gen, void *mconf);

/**
 * A module's init, run for each generation in load order after the parse.
 * Under Workers N > 1 it runs on each worker instead (as httpd's
 * child_init), on that worker's thread, with @a mod a module of that
 * worker's bus, and not on the main thread; @a gen and @a mconf are shared
 * by every worker: read them, never write them. A failure on any worker
 * fails the start (no worker serves; the message names the module).
 * Register listeners and timers bound to pev_gen_pool(@a gen): they end with
 * the generation. State and listeners that must survive restarts belong to
 * the module's process_init, once, not here: a listener bound to the
 * daemon's pool from an init is registered again by every restart, and one
 * bound to pev_gen_shared_pool() outlives its generation (the daemon logs a
 * warning for both, and for timers bound to those pools).
 * @return APR_SUCCESS, or an error: the generation fails (the message given
 *         with pev_gen_fail(), else the status's text, is reported).
 */
typedef apr_status_t pev_module_init_fn(pev_gen_t *gen, pev_module_t *mod, void *mconf);

/**
 * A module's process init: runs once in the daemon's life, at the first
 * start, in load order, before the first generation's inits (after its
 * parse, checks and listening sockets). @a pool is the daemon's pool
 * (pev_daemon_pool()): what is allocated or registered there lives until
 * the daemon goes, across every restart. Store the module's process state
 * in *@a state (NULL on entry); pev_daemon_module_state() returns it later,
 * for instance from the module's init. Use pev_gen_fail(@a first, ...) for
 * a message.
 * @return APR_SUCCESS, or an error: the start fails as for a failed init.
 */
typedef apr_status_t pev_module_process_init_fn(pev_gen_t *first, pev_module_t *mod,
                                                apr_pool_t *pool, void **state);

/** A module, declared statically by the application. Members may be added
 *  at the end in later releases: declare it with designated initializers,
 *  or list every member. */
typedef struct pev_module_def {
    const char *name;                   /* unique; also the bus module's name */
    apr_size_t conf_size;               /* per-generation configuration; 0: none */
    pev_module_defaults_fn *defaults;   /* NULL: the zeroed struct is the default */
    const pev_directive_t *directives;  /* NULL: none */
    pev_module_init_fn *init;           /* NULL: none */
    pev_module_check_fn *check;         /* NULL: none */
    pev_module_process_init_fn *process_init; /* NULL: none */
} pev_module_def_t;

/* ------------------------------------------------------------------------ */
/* The daemon                                                                */

/** Do not install SIGHUP/SIGTERM/SIGINT/SIGUSR1 handlers (embedding, tests). */
#define PEV_DAEMON_NO_SIGNALS 0x1
/** Ignore the service manager: no notifications ($NOTIFY_SOCKET), no
 *  watchdog, no socket activation ($LISTEN_FDS); the variables stay in the
 *  environment. */
#define PEV_DAEMON_NO_SYSTEMD 0x2
/** Accept a configuration without a Listen line: the daemon then runs with
 *  no listening socket, on purpose (a program that only uses the loop, the
 *  bus and the restarts). Without this flag such a configuration is refused
 *  ("no listening sockets available") at the start, by
 *  pev_daemon_check_config() and on a restart (which keeps the running
 *  generation). */
#define PEV_DAEMON_NO_LISTEN_OK 0x4
/** Accept "Workers N" with N > 1: the application's modules follow the
 *  rules for module authors under Workers N (see the top of this file).
 *  Without this flag such a configuration is refused ("Workers N: this
 *  program runs one worker"), so that modules written for one thread never
 *  run on several. */
#define PEV_DAEMON_WORKERS_OK 0x8

/** pev_daemon_create() options. */
typedef struct pev_daemon_options {
    const char *name;                   /* for messages; NULL: "poolev" */
    const pev_module_def_t *const *modules; /* in load order; NULL-terminated */
    const char *config_file;            /* read at each start and restart */
    const char *default_config;         /* used when config_file is NULL */
    apr_interval_time_t shutdown_grace; /* time for connections to close at a
                                         * stop before they are aborted;
                                         * 0: 2 seconds */
    int flags;                          /* PEV_DAEMON_* */
    const char **error;                 /* out, optional: when
                                         * pev_daemon_create() fails, a
                                         * message naming the module,
                                         * directive or field at fault
                                         * (static, or in the pool given to
                                         * it); NULL: not wanted */
} pev_daemon_options_t;

/**
 * Create a daemon: its pool (a subpool of @a pool), bus, loop, and one bus
 * module per module definition, in order. Nothing is parsed or opened yet.
 * The daemon also declares the core directives (doc/daemon.md):
 *   Listen [HOST:]PORT [tls] repeatable; PORT 0 takes an ephemeral port,
 *                            see pev_daemon_port(); "tls": implicit TLS,
 *                            every connection starts with the handshake;
 *   TLSCertificateFile FILE  the server certificate chain (PEM); makes the
 *                            generation's TLS server context
 *                            (pev_daemon_tls()), needed by "tls" listeners
 *                            and by a module's STARTTLS;
 *   TLSCertificateKeyFile FILE  its private key (PEM); default: in the
 *                            certificate's file;
 *   TLSCACertificateFile FILE  CAs whose client certificates are verified:
 *                            clients are asked for one, and one that is
 *                            sent must verify (PEV_TLS_VERIFY_OPTIONAL);
 *   LogLevel error|warn|info|debug, LogTarget stderr|syslog [FACILITY]|file
 *   PATH, LogFile PATH       where messages go (see pev_daemon_log());
 *   User NAME|UID            change to this user after binding (the start
 *   Group NAME|GID           only; Group needs User);
 *   PidFile PATH             write the process id there, locked while the
 *                            daemon runs (the start only);
 *   MaxConnections N         refuse connections over N open ones (0: no
 *   MaxConnectionsPerHost N  limit), or over N from one address (counted
 *                            across every worker);
 *   Workers N|auto           serve connections on N worker threads (1 to
 *                            PEV_WORKERS_MAX; auto: the online CPUs;
 *                            default 1; the start only; N > 1 needs
 *                            PEV_DAEMON_WORKERS_OK, see "Threads" above);
 *   LoopSpin MICROSECONDS|off  spin up to this long before sleeping (0 to
 *                            10000; default off): pev_loop_set_spin() on
 *                            the daemon's loop under Workers 1, on every
 *                            worker's under Workers N (the main thread,
 *                            which only accepts, never spins). For
 *                            machines with a core per worker to spare;
 *                            applied as each loop takes the generation.
 *   FlushSlice MICROSECONDS|off  pev_loop_set_flush_slice() on the same
 *                            loops (0 to 100000; default 20; 0 or off: none):
 *                            a loaded loop that has sent output for that
 *                            long in an iteration leaves at most 64 sends
 *                            for the next one, after its input; applied as
 *                            each loop takes the generation.
 *   A restart keeps a listening socket whose address the next configuration
 *   lists again, compared as resolved addresses (family, address, port),
 *   not as spelled: "Listen 7450" and "Listen 0.0.0.0:7450" are the same
 *   socket, and so are "Listen 127.0.0.1:0" and the port it took. A line
 *   with port 0 matches the socket opened for the same spelling only.
 *
 * @param d    out: the daemon
 * @param opts options (copied; the module definitions and strings must stay
 *             valid as long as the daemon: usually static)
 * @param pool the process pool. Destroying it destroys the daemon: the
 *             generations, connections and listening sockets go first (their
 *             registrations unregister from a live bus), then the bus and
 *             the loop. Do not destroy it from a daemon callback.
 * @return APR_SUCCESS; APR_EINVAL for NULL arguments, a module without a
 *         name, neither config_file nor default_config, a directive without
 *         a handler, with min_args < 0 or max_args < min_args (other than
 *         PEV_ARGS_ANY), or a name of 128 characters or more; APR_EEXIST for
 *         two modules or directives with the same name (directive names
 *         compare case-insensitively; the core directives' names are
 *         taken); APR errors from the loop. On every failure but NULL
 *         arguments *opts->error (when opts->error is set) says which
 *         module, directive or field, e.g. "module 1 (dup): directive
 *         'listen' is taken by the core".
 */
PEV_API apr_status_t pev_daemon_create(pev_daemon_t **d, const pev_daemon_options_t *opts,
                                       apr_pool_t *pool);

/**
 * Start the first generation: install the signal handlers (unless
 * PEV_DAEMON_NO_SIGNALS: SIGHUP, SIGTERM, SIGINT and SIGUSR1, which reopens
 * the log file), read the service manager's variables (unless
 * PEV_DAEMON_NO_SYSTEMD: $NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID,
 * $LISTEN_FDS, $LISTEN_PID, $LISTEN_FDNAMES; each is unset once read, so
 * child processes do not inherit them), core.preparse, parse the
 * configuration, the modules' checks, take the pid file (PidFile), open the
 * log target and the listening sockets (at least one is needed, unless
 * PEV_DAEMON_NO_LISTEN_OK; passed sockets bound to a Listen address are
 * adopted), drop the privileges (User, Group: initgroups, setgid, setuid,
 * then verified), the modules' process_init then init in load order,
 * core.postparse, core.startup, and READY=1 to the service manager. A stop
 * asked for during the start (from one of these listeners or an init) runs
 * right after it, at the next pev_daemon_run_once() or pev_daemon_run().
 *
 * @return APR_SUCCESS; on failure nothing stays open and
 *         pev_daemon_error() has one line naming the file and line, or the
 *         address, and the cause: PEV_ECONFIG for a configuration error, the
 *         APR error for a socket that cannot be opened or a failed
 *         process_init or init;
 *         PEV_ETLS when the TLS certificate, key or CA file cannot be
 *         loaded, or the key does not match the certificate (the message
 *         names the file and gives OpenSSL's reason); APR_ENOTIMPL for TLS
 *         directives in a build without OpenSSL;
 *         APR_EEXIST for a pid file a running process holds ("already
 *         running as pid N (PidFile PATH)"); the errno of a pid file that
 *         cannot be written, or of a privilege change that failed or did
 *         not verify (EPERM when not running as root), after which the
 *         process must exit; APR_EINVAL for NULL; PEV_EBUSY if already
 *         started or called from a callback, or if another loop holds
 *         handlers for SIGHUP, SIGTERM, SIGINT or SIGUSR1
 *         (pev_daemon_error() names the signal); PEV_ECLOSED if the daemon
 *         was stopped (or its start failed) before.
 * @note PEV_EBUSY changes nothing: the signals are taken first, before any
 *       of the start runs, so a daemon whose signals were held elsewhere can
 *       be started once they are free. Every other failure is final.
 * @note The signal handlers only run from the loop's iterations, never
 *       while the start runs.
 */
PEV_API apr_status_t pev_daemon_start(pev_daemon_t *d);

/**
 * Run the daemon until it stops: start it if needed, then run the loop;
 * restarts and the stop run here, between loop iterations, never inside a
 * callback. A stop: core.shutdown, the listening sockets close, every
 * connection is closed (output sent, at most shutdown_grace, then aborted),
 * core.exit, the generation ends, the pid file is removed (or, when the
 * dropped privileges cannot remove it, emptied) and its lock released.
 *
 * @return APR_SUCCESS after an orderly stop; the pev_daemon_start() error;
 *         a loop error; a failed restart init (the daemon then stopped, see
 *         pev_daemon_restart()). Not callable from a callback (PEV_EBUSY).
 */
PEV_API apr_status_t pev_daemon_run(pev_daemon_t *d);

/**
 * Check the configuration without starting: read it and parse it into a
 * scratch generation (module defaults, directive handlers and module checks
 * run, as in a restart's check parse; pev_gen_pool() is NULL there), and
 * refuse it without a Listen line (unless PEV_DAEMON_NO_LISTEN_OK), then
 * drop it. It accepts exactly what a start or a restart would parse and
 * check. No event is generated, no socket is opened, no init runs:
 * addresses are resolved and compared (one address listed under two
 * spellings is refused), not bound, so an address in use is only found by
 * the start or restart; the users and groups of User and Group must exist;
 * the TLS certificate, key and CA files are loaded and checked (then
 * dropped). While the daemon runs, a changed User, Group or PidFile is an error, as
 * at a reload. For "configtest" command-line options.
 * @return APR_SUCCESS; PEV_ECONFIG or a file error, with pev_daemon_error()
 *         naming the file and line; APR_EINVAL for NULL; PEV_EBUSY from
 *         inside a start, restart or stop. Callable in any state.
 */
PEV_API apr_status_t pev_daemon_check_config(pev_daemon_t *d);

/**
 * One step of pev_daemon_run(): one loop iteration (waiting at most
 * @a timeout, see pev_loop_run_once()), then a pending restart or stop.
 * @return as pev_daemon_run(); PEV_ECLOSED once the daemon has stopped.
 */
PEV_API apr_status_t pev_daemon_run_once(pev_daemon_t *d, apr_interval_time_t timeout);

/**
 * Ask for a restart (what SIGHUP does). It runs after the current loop
 * iteration, outside every callback:
 *   1. the configuration is read and parsed into a scratch generation, the
 *      modules' checks run, it must list an address (unless
 *      PEV_DAEMON_NO_LISTEN_OK), its TLS server context is built
 *      (certificate and key loaded and checked: this context becomes the
 *      next generation's; after User and Group the files are read as that
 *      user), and new listening addresses are opened. On any error the
 *      running generation stays, and the error is logged (PEV_LOG_ERROR). A
 *      changed User, Group or PidFile is such an error (they take effect at
 *      the start only), and so is a new address that cannot be bound
 *      because the privileges were dropped;
 *   2. core.restart (event_data: the ending generation);
 *   3. the generation ends: its pool is destroyed, everything bound to it
 *      unregisters; its configuration stays while its connections live;
 *   4. the next generation: core.preparse, parse, listening sockets
 *      no longer configured are closed (those that stay are kept open, so
 *      no connection is refused), init in load order, the new addresses are
 *      logged ("listening on 127.0.0.1:41234"), core.postparse.
 * If an init fails in step 4 there is no generation to go back to: the
 * daemon logs it and stops, and pev_daemon_run() returns the error.
 *
 * Under Workers N > 1 step 4's inits run on each worker, which switches
 * at its next iteration (see "Threads" at the top of this file).
 *
 * @return APR_SUCCESS; APR_EINVAL for NULL; PEV_ECLOSED if stopping or
 *         stopped; PEV_EBUSY if not started. Callable from callbacks (the
 *         main thread's).
 */
PEV_API apr_status_t pev_daemon_restart(pev_daemon_t *d);

/**
 * Ask for a stop (what SIGTERM and SIGINT do); it runs after the current
 * loop iteration, see pev_daemon_run(). A stop wins over a pending restart.
 * On a worker (Workers N > 1) the request is posted to the main thread,
 * which stops in one of its next iterations.
 * @return APR_SUCCESS (also when already stopping); APR_EINVAL for NULL;
 *         from a worker, what pev_loop_post() returns.
 *         Callable from callbacks, the workers' included.
 */
PEV_API apr_status_t pev_daemon_stop(pev_daemon_t *d);

/** The daemon's bus: on one of its workers, that worker's bus; else the
 *  main thread's. */
PEV_API pev_bus_t *pev_daemon_bus(const pev_daemon_t *d);
/** The daemon's loop: on one of its workers, that worker's loop. */
PEV_API pev_loop_t *pev_daemon_loop(const pev_daemon_t *d);
/** The daemon's pool: lives as long as the daemon (process lifetime). */
PEV_API apr_pool_t *pev_daemon_pool(const pev_daemon_t *d);
/** What module @a def's process_init stored in its *state (NULL before the
 *  first start, for a module without process_init, or one that is not the
 *  daemon's). Valid as long as the daemon. Callable from callbacks. */
PEV_API void *pev_daemon_module_state(const pev_daemon_t *d, const pev_module_def_t *def);
/** The daemon's name (from its options). */
PEV_API const char *pev_daemon_name(const pev_daemon_t *d);
/** The current generation, NULL before the start and after the stop. On a
 *  worker: the generation that worker serves (after a reload, the next one
 *  from its switch on). */
PEV_API pev_gen_t *pev_daemon_gen(const pev_daemon_t *d);
/** The message of the last start, restart or reload failure ("" if none;
 *  a later successful restart does not clear it). */
PEV_API const char *pev_daemon_error(const pev_daemon_t *d);
/** Number of open connections: those offered through core.conn-open
 *  and not closed yet, of every generation and every worker (what
 *  MaxConnections bounds); refused connections are not counted. Any
 *  thread of the daemon. */
PEV_API apr_size_t pev_daemon_connections(const pev_daemon_t *d);

/** Connections refused over MaxConnections or MaxConnectionsPerHost since
 *  the daemon was created (core.conn-refused). 0 for NULL. */
PEV_API apr_uint64_t pev_daemon_refused(const pev_daemon_t *d);

/**
 * The port the @a index-th listening socket (in configuration order) is
 * bound to: the actual port, also for "Listen HOST:0". 0 when there is no
 * such socket.
 */
PEV_API apr_port_t pev_daemon_port(const pev_daemon_t *d, int index);

/** Non-zero when the @a index-th listening socket (as pev_daemon_port())
 *  is a TLS listener ("Listen HOST:PORT tls"). */
PEV_API int pev_daemon_port_is_tls(const pev_daemon_t *d, int index);

/**
 * The current generation's TLS server context (TLSCertificateFile and
 * friends), or NULL when the generation has none (or there is no current
 * generation). For a protocol module's STARTTLS: call
 * pev_stream_start_tls(pev_conn_stream(c), pev_daemon_tls(d), NULL, ...)
 * from the connection's read callback, after writing the reply that says
 * "go ahead". The context belongs to the generation pool: do not keep it
 * beyond the callback (a restart replaces it; connections that started TLS
 * with it keep what they need).
 */
PEV_API pev_tls_ctx_t *pev_daemon_tls(const pev_daemon_t *d);

/**
 * Read the configuration from @a path from the next restart on (copied;
 * NULL: the default configuration). Callable from callbacks.
 * @return APR_SUCCESS; APR_EINVAL for a NULL daemon, or a NULL path without
 *         a default configuration.
 */
PEV_API apr_status_t pev_daemon_set_config_file(pev_daemon_t *d, const char *path);

/**
 * Log a message: generate PEV_EVENT_LOG, or, when nobody listens, write it
 * to the daemon's log target if its level is at most the configured
 * LogLevel (default PEV_LOG_INFO). Targets (core directives LogTarget and
 * LogFile, doc/daemon.md): stderr, one line with time, name, pid and level;
 * stderr with an sd-daemon(3) "<N>" prefix instead of the time when it is
 * the journal's stream ($JOURNAL_STREAM); syslog; a file. The message is
 * formatted into a bounded buffer (longer messages are cut) and newlines
 * become spaces. Callable from callbacks; a message logged from a core.log
 * listener goes to the target (no recursion).
 */
PEV_API void pev_daemon_log(pev_daemon_t *d, pev_log_level_t level, const char *fmt, ...)
    PEV_PRINTF(3, 4);

/**
 * Reopen the log file (what SIGUSR1 does; after a rotation the file's name
 * names a new file): the new file is opened, and only then the old one is
 * closed. Nothing happens for the other targets.
 * @return APR_SUCCESS; APR_EINVAL for NULL; the open's error (the old file
 *         stays in use and the error is logged there). Callable from
 *         callbacks.
 */
PEV_API apr_status_t pev_daemon_reopen_logs(pev_daemon_t *d);

/** pev_daemon_log() with a va_list. */
PEV_API void pev_daemon_vlog(pev_daemon_t *d, pev_log_level_t level, const char *fmt,
                             va_list ap) PEV_PRINTF(3, 0);

/* ------------------------------------------------------------------------ */
/* Generations                                                               */

/** The generation's number: 1 for the start, +1 per restart. */
PEV_API unsigned pev_gen_number(const pev_gen_t *gen);

/** The generation pool: lives while the generation is current. Bind the
 *  generation's registrations and module state here (the usual choice).
 *  Destroyed when the generation ends (restart or stop); NULL after that,
 *  and during a check parse. On a worker (Workers N > 1): that worker's own
 *  pool for the generation (made from the worker's pool, destroyed on the
 *  worker at the stop, after its connections closed); the main thread's
 *  is another. */
PEV_API apr_pool_t *pev_gen_pool(const pev_gen_t *gen);

/** The generation's shared pool: the generation record and the values the
 *  directives stored, shared with the connections accepted under the
 *  generation. Lives until the generation has ended AND its last connection
 *  has closed, so longer than the generation: for values a connection reads,
 *  never for listeners or timers (they would outlive the generation). */
PEV_API apr_pool_t *pev_gen_shared_pool(const pev_gen_t *gen);

/** Deprecated name of pev_gen_shared_pool() (same pool; kept for 0.2). */
PEV_API apr_pool_t *pev_gen_conf_pool(const pev_gen_t *gen);

/** The configuration of module @a def in @a gen (NULL if the module has
 *  none, or is not one of the daemon's). Valid as long as
 *  pev_gen_shared_pool(). */
PEV_API void *pev_gen_module_conf(const pev_gen_t *gen, const pev_module_def_t *def);

/** The daemon. */
PEV_API pev_daemon_t *pev_gen_daemon(const pev_gen_t *gen);

/** Non-zero while @a gen is the daemon's current generation. */
PEV_API int pev_gen_is_current(const pev_gen_t *gen);

/** @a gen's TLS server context (see pev_daemon_tls()): NULL without
 *  TLSCertificateFile, and once the generation has ended (its pool is gone).
 *  During a module's init it is the context of the generation being
 *  started. */
PEV_API pev_tls_ctx_t *pev_gen_tls(const pev_gen_t *gen);

/** The number of worker threads @a gen's configuration asks for (its
 *  Workers directive, "auto" resolved; 1 when it has none). A module's
 *  check may refuse a configuration its module cannot serve on several
 *  workers. Callable from any thread while @a gen exists. */
PEV_API int pev_gen_workers(const pev_gen_t *gen);

/**
 * From a module's init: set the message reported for its failure (copied).
 * Returns @a status, so an init can say: return pev_gen_fail(gen, st, "...");
 */
PEV_API apr_status_t pev_gen_fail(pev_gen_t *gen, apr_status_t status, const char *fmt, ...)
    PEV_PRINTF(3, 4);

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

/**
 * Handle connection @a c: its stream's callbacks (copied; NULL members
 * allowed). on_close runs once when the stream closes; afterwards the daemon
 * generates core.conn-close and destroys the connection's pool. Call it from
 * a core.conn-open listener (or later, to hand the connection over).
 * @return APR_SUCCESS; APR_EINVAL for NULL @a c; PEV_ECLOSED if it closed
 *         or is refused (pev_conn_refused()).
 */
PEV_API apr_status_t pev_conn_set_handler(pev_conn_t *c, const pev_stream_callbacks_t *cb,
                                          void *user_data);

/** The connection's stream (owned by the connection's pool). Use it for
 *  I/O, limits and wait events, but set its callbacks with
 *  pev_conn_set_handler(), never pev_stream_set_callbacks(): the daemon's
 *  own close callback releases the connection. */
PEV_API pev_stream_t *pev_conn_stream(const pev_conn_t *c);

/** The connection's pool: destroyed by the daemon after the close. Bind
 *  per-connection registrations and state here (a subscription, a timer,
 *  the handler's user_data). Never destroy or clear it yourself: close the
 *  connection instead. */
PEV_API apr_pool_t *pev_conn_pool(const pev_conn_t *c);

/** The generation the connection was accepted under: its configuration
 *  (pev_gen_shared_pool()) stays valid for the connection's life; its
 *  generation pool may be gone. */
PEV_API pev_gen_t *pev_conn_gen(const pev_conn_t *c);

/** The daemon. */
PEV_API pev_daemon_t *pev_conn_daemon(const pev_conn_t *c);

/** A number unique among the daemon's connections (1, 2, ...). */
PEV_API apr_uint64_t pev_conn_id(const pev_conn_t *c);

/** The peer's address as "IP:PORT" (in the connection's pool). */
PEV_API const char *pev_conn_peer(const pev_conn_t *c);

/** Non-zero when the connection's stream is under TLS or its handshake
 *  runs: accepted on a TLS listener, or upgraded with
 *  pev_stream_start_tls() (STARTTLS). Stays what it was after the close. */
PEV_API int pev_conn_is_tls(const pev_conn_t *c);

/** Why the connection is refused: 0 for a connection being served,
 *  PEV_CONN_REFUSED_MAX (MaxConnections) or PEV_CONN_REFUSED_HOST
 *  (MaxConnectionsPerHost) during core.conn-refused. */
PEV_API int pev_conn_refused(const pev_conn_t *c);

/** pev_conn_refused(): over MaxConnections. */
#define PEV_CONN_REFUSED_MAX 1
/** pev_conn_refused(): over MaxConnectionsPerHost. */
#define PEV_CONN_REFUSED_HOST 2

/** Close the connection gracefully (pev_stream_close()). */
PEV_API apr_status_t pev_conn_close(pev_conn_t *c);

/* ------------------------------------------------------------------------ */
/* Helpers for directive handlers                                            */

/**
 * Parse a whole decimal number in [@a min, @a max].
 * @return NULL, or a message: "expects a whole number", or "number out of
 *         range (MIN-MAX)" with the range. The message is static or in a
 *         buffer of the calling thread, valid until its next call.
 */
PEV_API const char *pev_parse_long(const char *arg, long min, long max, long *out);

/**
 * Parse a duration: a number with an optional unit, "ms", "s" (default),
 * "m" or "h": "30", "1500ms", "5m". Negative values are refused; the result
 * is at most a year.
 * @return NULL, or a static message.
 */
PEV_API const char *pev_parse_interval(const char *arg, apr_interval_time_t *out);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_DAEMON_H */
