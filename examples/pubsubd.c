/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * pubsubd.c - a line-protocol publish/subscribe server built on poolev.
 *
 * Three modules, in load order (the log is the daemon's own: the core
 * directives LogLevel, LogTarget and LogFile, SIGUSR1 reopens a log file):
 *   stats   counts connections (core.conn-open / core.conn-close) and
 *           messages (pubsub.published) for the daemon's whole life, and
 *           reports them every StatsInterval with a timer bound to the
 *           generation;
 *   pubsub  the protocol: SUB, UNSUB, PUB, PING, STATS, STARTTLS, QUIT; and
 *           the answer to a connection over MaxConnections or
 *           MaxConnectionsPerHost (core.conn-refused);
 *   cluster with "Cluster redis://HOST:PORT", the node's PUBs go to the
 *           other nodes through Redis and theirs come to its subscribers
 *           (a bridge, poolev/bridge.h, bound to the generation, worker
 *           0's under Workers N; see the module's section and
 *           doc/cluster.md). Without it, nothing.
 *
 * What poolev does for it:
 *   - a subscription is a bus listener on "topic.NAME" bound to the
 *     connection's pool: a client that disconnects, times out, is killed or
 *     is dropped for being slow is unsubscribed when its pool goes, and
 *     there is no code for that here;
 *   - the idle timeout and the keepalive are wait events on the
 *     connection's stream;
 *   - SIGHUP starts a new configuration generation: new connections get the
 *     new settings, existing ones keep the settings they were accepted
 *     under, and their subscriptions keep delivering;
 *   - output to each client is limited (OutputLimit); a subscriber that
 *     cannot keep up loses messages or its connection (SlowPolicy), never
 *     the daemon's memory or the other clients' service;
 *   - TLS: the daemon core's TLS directives give each generation a server
 *     context and "Listen HOST:PORT tls" ports whose clients are handed
 *     over after the handshake; STARTTLS upgrades a plaintext connection
 *     in place, and the plaintext a client sent after the command is
 *     discarded (and logged), never read as a command.
 *
 * doc/pubsubd.md describes the protocol, the directives and the policy.
 *
 * Run: ./examples/pubsubd [-f FILE] [-t] [-p]   (make demo drives it)
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <poolev.h>

#define NAME "pubsubd"

/* The configuration used without -f; `pubsubd -p` prints it. */
static const char default_config[] =
    "# pubsubd: the embedded default configuration (pubsubd -p prints it)\n"
    "\n"
    "# core: addresses to listen on, [HOST:]PORT [tls], repeatable; port 0\n"
    "# takes a free port (the log names it); \"tls\" ports need a certificate\n"
    "Listen 127.0.0.1:7450\n"
    "# core: TLS for \"tls\" ports and STARTTLS (PEM files); a client\n"
    "# certificate is asked for and verified with TLSCACertificateFile\n"
    "#TLSCertificateFile server.crt\n"
    "#TLSCertificateKeyFile server.key\n"
    "#TLSCACertificateFile ca.crt\n"
    "#Listen 127.0.0.1:7451 tls\n"
    "\n"
    "# core: the process. Started as root, pubsubd binds, writes the PidFile,\n"
    "# then runs as User and Group; all three take effect at the start only\n"
    "#User nobody\n"
    "#Group nogroup\n"
    "#PidFile /run/pubsubd.pid\n"
    "\n"
    "# core: connections held at once, in all and from one address (0: no\n"
    "# limit); a connection over a limit gets -ERR too many connections\n"
    "MaxConnections 1000\n"
    "MaxConnectionsPerHost 100\n"
    "\n"
    "# core: the log; LogLevel error, warn, info or debug; LogTarget stderr\n"
    "# (the default; under systemd the journal), syslog [FACILITY] or\n"
    "# file PATH (reopened on SIGUSR1)\n"
    "LogLevel info\n"
    "LogTarget stderr\n"
    "\n"
    "# stats module: report the counters this often (0: never)\n"
    "StatsInterval 60s\n"
    "\n"
    "# pubsub module\n"
    "Greeting pubsubd ready\n"
    "IdleTimeout 300s\n"
    "Keepalive off\n"
    "MaxLine 1024\n"
    "MaxTopic 64\n"
    "MaxSubscriptions 100\n"
    "OutputLimit 256k\n"
    "SlowPolicy drop\n"
    "\n"
    "# cluster module: other pubsubd nodes on one Redis get this node's PUBs,\n"
    "# and this node theirs (doc/cluster.md); off: one node, no Redis\n"
    "#Cluster redis://127.0.0.1:6379\n"
    "#ClusterChannel pubsubd:\n"
    "#ClusterPassword secret\n";

/* Hard limits of the directives. */
#define TOPIC_LIMIT     200                 /* MaxTopic */
#define LINE_MIN        64                  /* MaxLine */
#define LINE_LIMIT      (1024 * 1024)
#define SUBS_LIMIT      100000              /* MaxSubscriptions */
#define OUTPUT_MIN      4096                /* OutputLimit */
#define OUTPUT_LIMIT    (256 * 1024 * 1024)
#define GREETING_LIMIT  400
#define REPLY_MAX       512                 /* longest reply line */
#define CLOSE_LINGER    (5 * APR_USEC_PER_SEC) /* to send the last words */

/* Events of this daemon (besides the core ones and "topic.NAME"). */
#define EV_PUBLISHED    "pubsub.published"  /* event_data: publication_t */
#define EV_STATS_QUERY  "stats.query"       /* event_data: pubsub_stats_t */
#define EV_REMOTE_PUB   "pubsub.remote-pub" /* Workers N: a PUB of another
                                             * worker (pev_worker_event_t) */
#define EV_EXPORTS_OUT  "pubsub.exports-out" /* Cluster: send the PUBs'
                                              * exports now (no event_data) */
#define TOPIC_PREFIX    "topic."

/* ======================================================================== */
/* Module declarations                                                       */

typedef struct stats_conf {
    apr_interval_time_t interval;       /* 0: no periodic report */
} stats_conf_t;

typedef enum { SLOW_DROP, SLOW_DISCONNECT } slow_policy_t;

typedef struct pubsub_conf {
    const char *greeting;
    apr_interval_time_t idle_timeout;   /* 0: none */
    apr_interval_time_t keepalive;      /* 0: off */
    apr_size_t max_line;
    apr_size_t max_topic;
    long max_subs;
    apr_size_t output_limit;
    slow_policy_t slow_policy;
} pubsub_conf_t;

static const char *stats_defaults(pev_gen_t *gen, void *mconf);
static const char *set_stats_interval(pev_gen_t *gen, void *mconf, int argc, char *argv[]);
static apr_status_t stats_process_init(pev_gen_t *first, pev_module_t *mod, apr_pool_t *pool,
                                       void **state);
static apr_status_t stats_init(pev_gen_t *gen, pev_module_t *mod, void *mconf);
static const char *pubsub_defaults(pev_gen_t *gen, void *mconf);
static const char *set_greeting(pev_gen_t *gen, void *mconf, int argc, char *argv[]);
static const char *set_interval(pev_gen_t *gen, void *mconf, int argc, char *argv[]);
static const char *set_size(pev_gen_t *gen, void *mconf, int argc, char *argv[]);
static const char *set_slow_policy(pev_gen_t *gen, void *mconf, int argc, char *argv[]);
static const char *pubsub_check(pev_gen_t *gen, void *mconf);
static apr_status_t pubsub_process_init(pev_gen_t *first, pev_module_t *mod, apr_pool_t *pool,
                                        void **state);
static apr_status_t pubsub_init(pev_gen_t *gen, pev_module_t *mod, void *mconf);

static const pev_directive_t stats_directives[] = {
    { "StatsInterval", 1, 1, set_stats_interval, "DURATION" },
    { NULL, 0, 0, NULL, NULL }
};

static const pev_directive_t pubsub_directives[] = {
    { "Greeting", 1, PEV_ARGS_ANY, set_greeting, "TEXT" },
    { "IdleTimeout", 1, 1, set_interval, "DURATION|off" },
    { "Keepalive", 1, 1, set_interval, "DURATION|off" },
    { "MaxLine", 1, 1, set_size, "BYTES" },
    { "MaxTopic", 1, 1, set_size, "BYTES" },
    { "MaxSubscriptions", 1, 1, set_size, "COUNT" },
    { "OutputLimit", 1, 1, set_size, "BYTES" },
    { "SlowPolicy", 1, 1, set_slow_policy, "drop|disconnect" },
    { NULL, 0, 0, NULL, NULL }
};

static const pev_module_def_t stats_module = {
    .name = "stats", .conf_size = sizeof(stats_conf_t), .defaults = stats_defaults,
    .directives = stats_directives, .init = stats_init, .process_init = stats_process_init
};
static const pev_module_def_t pubsub_module = {
    .name = "pubsub", .conf_size = sizeof(pubsub_conf_t), .defaults = pubsub_defaults,
    .directives = pubsub_directives, .init = pubsub_init, .check = pubsub_check,
    .process_init = pubsub_process_init
};

/* The cluster module (its own section below) */
static const pev_module_def_t cluster_module;

static const pev_module_def_t *const modules[] = {
    &stats_module, &pubsub_module, &cluster_module, NULL
};

/* What pubsub.published carries: one PUB, after its delivery (a PUB on
 * this node, or one the cluster module received from another node). */
typedef struct publication {
    const char *topic;
    const char *line;           /* "MSG topic message\r\n" */
    apr_size_t len;
    const char *origin;         /* NULL: a PUB on this node; else the id of
                                 * the node it came from (cluster) */
    apr_uint64_t delivered;     /* queued for a subscriber */
    apr_uint64_t dropped;       /* refused by a full subscriber (drop) */
    apr_uint64_t disconnected;  /* full subscribers disconnected */
    apr_uint64_t xdropped;      /* Workers N: copies for other workers
                                 * refused by their full queues */
    int remote;                 /* published on another worker: counted
                                 * there as a message, here as deliveries */
} publication_t;

/* What stats.query fills in for the STATS command. */
typedef struct pubsub_stats {
    apr_uint64_t connections, accepted, messages, deliveries, dropped, disconnected;
    apr_uint64_t xdropped;      /* copies to other workers refused */
    char cluster[320];          /* the cluster module's fields, " key=value..." */
} pubsub_stats_t;

/* ======================================================================== */
/* Directive helpers: they store values and nothing else                     */

static const char *parse_size(const char *arg, apr_size_t min, apr_size_t max,
                              apr_size_t *out, apr_pool_t *pool)
{
    char *end;
    unsigned long long v;
    apr_size_t unit = 1;

    if (*arg < '0' || *arg > '9')
        return "expects a number (with an optional k or m)";
    v = strtoull(arg, &end, 10);
    if (*end == 'k' || *end == 'K')
        unit = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        unit = 1024 * 1024, end++;
    if (*end)
        return "expects a number (with an optional k or m)";
    if (v > max / unit || v * unit < min || v * unit > max)
        return apr_psprintf(pool, "out of range (%" APR_SIZE_T_FMT " to %" APR_SIZE_T_FMT ")",
                            min, max);
    *out = (apr_size_t) v * unit;
    return NULL;
}

static const char *stats_defaults(pev_gen_t *gen, void *mconf)
{
    stats_conf_t *sc = mconf;

    (void) gen;
    sc->interval = 60 * APR_USEC_PER_SEC;
    return NULL;
}

static const char *set_stats_interval(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    stats_conf_t *sc = mconf;

    (void) gen;
    (void) argc;
    if (strcasecmp(argv[1], "off") == 0) {
        sc->interval = 0;
        return NULL;
    }
    return pev_parse_interval(argv[1], &sc->interval);
}

static const char *pubsub_defaults(pev_gen_t *gen, void *mconf)
{
    pubsub_conf_t *pc = mconf;

    (void) gen;
    pc->greeting = NAME " ready";
    pc->idle_timeout = 300 * APR_USEC_PER_SEC;
    pc->keepalive = 0;
    pc->max_line = 1024;
    pc->max_topic = 64;
    pc->max_subs = 100;
    pc->output_limit = 256 * 1024;
    pc->slow_policy = SLOW_DROP;
    return NULL;
}

static const char *set_greeting(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    pubsub_conf_t *pc = mconf;
    apr_pool_t *p = pev_gen_shared_pool(gen);
    const char *g = argv[1], *c;
    int i;

    for (i = 2; i < argc; i++)
        g = apr_pstrcat(p, g, " ", argv[i], NULL);
    if (strlen(g) > GREETING_LIMIT)
        return "is too long (400 bytes at most)";
    for (c = g; *c; c++)
        if ((unsigned char) *c < ' ' || *c == 0x7f)
            return "must not contain control characters";
    pc->greeting = g;
    return NULL;
}

static const char *set_interval(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    pubsub_conf_t *pc = mconf;
    apr_interval_time_t *out = strcasecmp(argv[0], "Keepalive") == 0 ? &pc->keepalive
                                                                      : &pc->idle_timeout;
    const char *err;

    (void) gen;
    (void) argc;
    if (strcasecmp(argv[1], "off") == 0) {
        *out = 0;
        return NULL;
    }
    if ((err = pev_parse_interval(argv[1], out)) != NULL)
        return err;
    if (*out > 0 && *out < 10000)
        return "must be at least 10ms (or 0 or off)";
    return NULL;
}

static const char *set_size(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    pubsub_conf_t *pc = mconf;
    apr_pool_t *p = pev_gen_shared_pool(gen);
    apr_size_t v;
    const char *err;

    (void) argc;
    if (strcasecmp(argv[0], "MaxLine") == 0) {
        if ((err = parse_size(argv[1], LINE_MIN, LINE_LIMIT, &v, p)) == NULL)
            pc->max_line = v;
    } else if (strcasecmp(argv[0], "MaxTopic") == 0) {
        if ((err = parse_size(argv[1], 1, TOPIC_LIMIT, &v, p)) == NULL)
            pc->max_topic = v;
    } else if (strcasecmp(argv[0], "MaxSubscriptions") == 0) {
        if ((err = parse_size(argv[1], 1, SUBS_LIMIT, &v, p)) == NULL)
            pc->max_subs = (long) v;
    } else {
        if ((err = parse_size(argv[1], OUTPUT_MIN, OUTPUT_LIMIT, &v, p)) == NULL)
            pc->output_limit = v;
    }
    return err;
}

static const char *set_slow_policy(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    pubsub_conf_t *pc = mconf;

    (void) gen;
    (void) argc;
    if (strcasecmp(argv[1], "drop") == 0)
        pc->slow_policy = SLOW_DROP;
    else if (strcasecmp(argv[1], "disconnect") == 0)
        pc->slow_policy = SLOW_DISCONNECT;
    else
        return "expects drop or disconnect";
    return NULL;
}

/* ======================================================================== */
/* stats: counters for the daemon's life, a report per generation            */

/* One record for the daemon's life, shared by every worker under Workers
 * N: the counters are atomics (relaxed: each is a sum, read as a whole by
 * STATS and the report, and no other memory depends on them). */
typedef struct stats_state {
    pev_daemon_t *d;
    atomic_uint_least64_t accepted, closed;
    atomic_uint_least64_t messages, deliveries, dropped, disconnected, xdropped;
} stats_state_t;

#define COUNT_ADD(var, n) atomic_fetch_add_explicit(&(var), (n), memory_order_relaxed)
#define COUNT_GET(var) ((apr_uint64_t) atomic_load_explicit(&(var), memory_order_relaxed))

typedef struct stats_tick {
    stats_state_t *st;
    apr_interval_time_t interval;
} stats_tick_t;

static void stats_conn_open(const void *event_data, void *user_data)
{
    stats_state_t *st = user_data;

    (void) event_data;
    COUNT_ADD(st->accepted, 1);
}

static void stats_conn_close(const void *event_data, void *user_data)
{
    stats_state_t *st = user_data;

    (void) event_data;
    COUNT_ADD(st->closed, 1);
}

static void stats_published(const void *event_data, void *user_data)
{
    const publication_t *p = event_data;
    stats_state_t *st = user_data;

    /* messages= counts the PUBs of this node, once (on the publisher's
     * worker): not a PUB's copies on other workers, nor other nodes' PUBs */
    if (!p->remote && !p->origin)
        COUNT_ADD(st->messages, 1);
    COUNT_ADD(st->deliveries, p->delivered);
    COUNT_ADD(st->dropped, p->dropped);
    COUNT_ADD(st->disconnected, p->disconnected);
    COUNT_ADD(st->xdropped, p->xdropped);
}

static void stats_query(const void *event_data, void *user_data)
{
    pubsub_stats_t *q = (pubsub_stats_t *) event_data;
    stats_state_t *st = user_data;

    /* closed first: a connection counted as closed is counted as accepted */
    q->connections = COUNT_GET(st->closed);
    q->accepted = COUNT_GET(st->accepted);
    q->connections = q->accepted - q->connections;
    q->messages = COUNT_GET(st->messages);
    q->deliveries = COUNT_GET(st->deliveries);
    q->dropped = COUNT_GET(st->dropped);
    q->disconnected = COUNT_GET(st->disconnected);
    q->xdropped = COUNT_GET(st->xdropped);
}

static void stats_report(pev_timer_t *timer, void *user_data)
{
    stats_tick_t *t = user_data;
    pubsub_stats_t q;

    memset(&q, 0, sizeof q);
    stats_query(&q, t->st);
    pev_daemon_log(t->st->d, PEV_LOG_INFO,
                   "stats: %" APR_UINT64_T_FMT " connections (%" APR_UINT64_T_FMT
                   " accepted), %" APR_UINT64_T_FMT " messages, %" APR_UINT64_T_FMT
                   " deliveries, %" APR_UINT64_T_FMT " dropped, %" APR_UINT64_T_FMT
                   " slow subscribers disconnected, %" APR_UINT64_T_FMT
                   " copies to other workers dropped",
                   q.connections, q.accepted, q.messages, q.deliveries, q.dropped,
                   q.disconnected, q.xdropped);
    pev_timer_rearm_in(timer, t->interval);
}

/* The counting listeners on @a bus, bound to @a pool. */
static apr_status_t stats_register(pev_gen_t *gen, pev_bus_t *bus, pev_module_t *mod,
                                   stats_state_t *st, apr_pool_t *pool)
{
    apr_status_t rv;

    if ((rv = pev_event_register(NULL, bus, mod, PEV_EVENT_CONN_OPEN, stats_conn_open,
                                 st, pool)) != APR_SUCCESS
        || (rv = pev_event_register(NULL, bus, mod, PEV_EVENT_CONN_CLOSE,
                                    stats_conn_close, st, pool)) != APR_SUCCESS
        || (rv = pev_event_register(NULL, bus, mod, EV_PUBLISHED, stats_published,
                                    st, pool)) != APR_SUCCESS
        || (rv = pev_event_register(NULL, bus, mod, EV_STATS_QUERY, stats_query,
                                    st, pool)) != APR_SUCCESS)
        return pev_gen_fail(gen, rv, "stats: cannot register its listeners");
    return APR_SUCCESS;
}

/*
 * The counters and their listeners live as long as the daemon: they are
 * registered once, at the first start, bound to the daemon's pool, and a
 * connection accepted under one generation that closes under the next is
 * counted right.
 */
static apr_status_t stats_process_init(pev_gen_t *first, pev_module_t *mod, apr_pool_t *pool,
                                       void **state)
{
    pev_daemon_t *d = pev_gen_daemon(first);
    pev_bus_t *bus = pev_daemon_bus(d);
    stats_state_t *st = apr_pcalloc(pool, sizeof *st);
    apr_status_t rv;

    st->d = d;
    if ((rv = stats_register(first, bus, mod, st, pool)) != APR_SUCCESS)
        return rv;
    *state = st;
    return APR_SUCCESS;
}

/*
 * Workers N: the events the counters follow are generated on the workers'
 * buses, not on the main thread's, where stats_process_init registered.
 * Each worker registers the same listeners on its own bus, for each
 * generation (bound to its generation pool: a worker's switch to the next
 * generation destroys them and this runs again in the same call, so no
 * event falls between). They add to the one shared record (atomics).
 */
static apr_status_t stats_worker_init(pev_gen_t *gen, pev_module_t *mod, stats_state_t *st)
{
    return stats_register(gen, pev_daemon_bus(pev_gen_daemon(gen)), mod, st,
                          pev_gen_pool(gen));
}

/* The report timer is bound to the generation: its interval is the
 * generation's, and the restart cancels it. */
static apr_status_t stats_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    const stats_conf_t *sc = mconf;
    pev_daemon_t *d = pev_gen_daemon(gen);
    pev_worker_t *w = pev_worker_self();
    stats_tick_t *t;
    apr_status_t rv;

    if (w && (rv = stats_worker_init(gen, mod, pev_daemon_module_state(d, &stats_module)))
             != APR_SUCCESS)
        return rv;
    /* one report for the daemon: on worker 0 under Workers N (the
     * counters are every worker's) */
    if (sc->interval > 0 && (!w || pev_worker_index(w) == 0)) {
        t = apr_palloc(pev_gen_pool(gen), sizeof *t);
        t->st = pev_daemon_module_state(d, &stats_module);
        t->interval = sc->interval;
        rv = pev_timer_add_in(NULL, pev_daemon_loop(d), sc->interval, stats_report, t,
                              pev_gen_pool(gen));
        if (rv != APR_SUCCESS)
            return pev_gen_fail(gen, rv, "stats: cannot add the report timer");
    }
    return APR_SUCCESS;
}

/* ======================================================================== */
/* pubsub: the protocol                                                      */

typedef struct sub {
    struct sub *next;
    pev_listener_t *listener;   /* the subscription: a listener on topic.NAME */
    char topic[TOPIC_LIMIT + 1];
} sub_t;

/* Counts kept for the daemon's life (in its pool). */
typedef struct pubsub_totals {
    atomic_uint_least64_t subscriptions;    /* every worker's (atomic) */
} pubsub_totals_t;

typedef struct pubsub_gen {
    pev_daemon_t *d;
    pev_module_t *mod;
    pubsub_totals_t *totals;
} pubsub_gen_t;

/* A connection's state: allocated from its pool, gone with it. */
typedef struct conn_state {
    pev_conn_t *c;
    pev_stream_t *s;
    pev_daemon_t *d;
    pev_bus_t *bus;
    pev_module_t *mod;
    const pubsub_conf_t *conf;  /* of the generation it was accepted under */
    pubsub_totals_t *totals;
    apr_uint64_t id;
    pev_waitevent_t *idle_ev;
    sub_t *subs, *spare;        /* current subscriptions; recycled records */
    long nsubs;
    apr_uint64_t dropped;       /* messages dropped and not yet reported */
    char *msg;                  /* room for one MSG line (first PUB) */
    int stalled;                /* reply[] waits for room in the output */
    int published;              /* a PUB in the current batch of input */
    apr_size_t reply_len;
    char reply[REPLY_MAX];
} conn_state_t;

static void process_input(conn_state_t *cs);

/*
 * The stream's own line limit is only a backstop: twice MaxLine and a read
 * buffer more, so that the daemon sees an overlong line first (complete, or
 * as more than MaxLine pending bytes without an end) and can answer it.
 */
static apr_size_t stream_line_limit(const pubsub_conf_t *pc)
{
    return 2 * pc->max_line + 4096;
}

/* Write the last words before a close (or a stop): they always fit, the
 * limit grows by their few bytes if it must. */
static void last_words(conn_state_t *cs, const char *text, apr_size_t len)
{
    apr_size_t pending = pev_stream_output_pending(cs->s);

    if (pev_stream_write(cs->s, text, len) == PEV_EFULL
        && pev_stream_set_output_limit(cs->s, pending + len) == APR_SUCCESS)
        pev_stream_write(cs->s, text, len);
}

/* Close after the output is sent (a reply still waiting for room goes
 * first); a peer that does not read gets CLOSE_LINGER, then the stream's
 * idle timeout aborts the close. */
static void conn_close(conn_state_t *cs)
{
    if (cs->stalled) {
        cs->stalled = 0;
        last_words(cs, cs->reply, cs->reply_len);
    }
    pev_stream_set_idle_timeout(cs->s, CLOSE_LINGER);
    pev_stream_close(cs->s);
}

/* Queue a reply line (CRLF added). A reply refused for lack of room waits
 * in cs->reply and input stops until on_drain sends it. */
static void reply(conn_state_t *cs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reply(conn_state_t *cs, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(cs->reply, sizeof cs->reply - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((apr_size_t) n > sizeof cs->reply - 3)
        n = (int) sizeof cs->reply - 3;
    memcpy(cs->reply + n, "\r\n", 3);
    cs->reply_len = (apr_size_t) n + 2;
    if (pev_stream_write(cs->s, cs->reply, cs->reply_len) == PEV_EFULL)
        cs->stalled = 1;
}

/* A subscription's listener: queue the message, or apply SlowPolicy. */
static void deliver(const void *event_data, void *user_data)
{
    publication_t *p = (publication_t *) event_data;
    conn_state_t *cs = user_data;
    apr_status_t st = pev_stream_write(cs->s, p->line, p->len);

    if (st == APR_SUCCESS) {
        p->delivered++;
        return;
    }
    if (st != PEV_EFULL && st != APR_ENOSPC)
        return;                         /* closing: it is going away */
    if (cs->conf->slow_policy == SLOW_DROP) {
        p->dropped++;
        cs->dropped++;
        return;
    }
    p->disconnected++;
    pev_daemon_log(cs->d, PEV_LOG_INFO,
                   "connection %" APR_UINT64_T_FMT " (%s): %" APR_SIZE_T_FMT
                   " bytes unread, disconnected (SlowPolicy disconnect)",
                   cs->id, pev_conn_peer(cs->c), pev_stream_output_pending(cs->s));
    pev_stream_abort(cs->s);            /* its pool's cleanup unsubscribes it */
}

static int valid_topic(const char *t, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char) t[i] <= ' ' || (unsigned char) t[i] >= 0x7f)
            return 0;
    return len > 0;
}

/* Checks a topic argument; replies and returns 0 when it is not usable. */
static int topic_ok(conn_state_t *cs, const char *t, apr_size_t len)
{
    if (len > cs->conf->max_topic) {
        reply(cs, "-ERR topic too long (max %" APR_SIZE_T_FMT " bytes)", cs->conf->max_topic);
        return 0;
    }
    if (!valid_topic(t, len)) {
        reply(cs, "-ERR invalid topic (visible ASCII characters only)");
        return 0;
    }
    return 1;
}

static sub_t *find_sub(conn_state_t *cs, const char *topic, sub_t ***link)
{
    sub_t **pp;

    for (pp = &cs->subs; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->topic, topic) == 0) {
            if (link)
                *link = pp;
            return *pp;
        }
    return NULL;
}

static void cmd_sub(conn_state_t *cs, char *topic)
{
    char event[sizeof TOPIC_PREFIX + TOPIC_LIMIT];
    sub_t *sub;
    apr_status_t st;

    if (cs->nsubs >= cs->conf->max_subs) {
        if (find_sub(cs, topic, NULL))
            reply(cs, "-ERR already subscribed to %s", topic);
        else
            reply(cs, "-ERR too many subscriptions (max %ld)", cs->conf->max_subs);
        return;
    }
    if ((sub = cs->spare) != NULL)
        cs->spare = sub->next;
    else
        sub = apr_palloc(pev_conn_pool(cs->c), sizeof *sub);
    strcpy(sub->topic, topic);
    snprintf(event, sizeof event, TOPIC_PREFIX "%s", topic);
    /* bound to the connection's pool: nothing to undo when it goes */
    st = pev_event_register(&sub->listener, cs->bus, cs->mod, event, deliver, cs,
                            pev_conn_pool(cs->c));
    if (st != APR_SUCCESS) {
        sub->next = cs->spare;
        cs->spare = sub;
        if (st == APR_EEXIST)
            reply(cs, "-ERR already subscribed to %s", topic);
        else
            reply(cs, "-ERR cannot subscribe: %s", pev_strerror(st, event, sizeof event));
        return;
    }
    sub->next = cs->subs;
    cs->subs = sub;
    cs->nsubs++;
    COUNT_ADD(cs->totals->subscriptions, 1);
    reply(cs, "+OK subscribed to %s", topic);
}

static void cmd_unsub(conn_state_t *cs, char *topic)
{
    sub_t **link, *sub = find_sub(cs, topic, &link);

    if (!sub) {
        reply(cs, "-ERR not subscribed to %s", topic);
        return;
    }
    pev_listener_unregister(sub->listener);
    *link = sub->next;
    sub->next = cs->spare;
    cs->spare = sub;
    cs->nsubs--;
    atomic_fetch_sub_explicit(&cs->totals->subscriptions, 1, memory_order_relaxed);
    reply(cs, "+OK unsubscribed from %s", topic);
}

/* ------------------------------------------------------------------------ */
/* Workers N: a PUB reaches the subscribers of every worker                  */

/*
 * Under Workers N each worker's subscriptions are listeners on its own bus.
 * A PUB is delivered on the publishing worker's bus at once (cmd_pub), and
 * sent to every other worker as a copy of its MSG line (pev_workers_send():
 * the bytes are copied before the call returns, never a pointer into the
 * connection's pool). Each of them generates the topic event on its own
 * bus (remote_pub), so deliver() and SlowPolicy run there unchanged, on
 * the subscriber's own thread. The events one worker sends arrive at every
 * worker in the order sent: a publisher's messages keep their order at
 * every subscriber. Under Workers 1 (no worker thread) nothing is sent.
 *
 * A worker whose queue is full (WorkerQueueLimit: it is stuck, or slower
 * than the others' PUBs) refuses its copy: its subscribers lose that PUB,
 * the others get it, and the loss is counted in xdropped (STATS). The
 * publisher's reply is the same either way: it counts its own worker's
 * subscribers. Returns the copies refused.
 */
static apr_uint64_t publish_to_workers(const char *line, apr_size_t len)
{
    pev_worker_t *w = pev_worker_self();
    pev_workers_t *g = pev_worker_group(w);
    pev_workers_sent_t sent;

    if (!w || pev_workers_count(g) < 2)
        return 0;
    /* one copy for all the others. PEV_ECLOSED while the workers stop:
     * their clients are being closed anyway */
    if (pev_workers_send_ex(&sent, g, PEV_WORKERS_OTHERS, EV_REMOTE_PUB, line, len, NULL, 0)
        == APR_EINVAL)
        return 0;
    return (apr_uint64_t) sent.full;
}

/* Another worker's PUB: "MSG topic message\r\n", delivered here. */
static void remote_pub(const void *event_data, void *user_data)
{
    const pev_worker_event_t *ev = event_data;
    pubsub_gen_t *pg = user_data;
    char event[sizeof TOPIC_PREFIX + TOPIC_LIMIT];
    const char *line = ev->data, *sp;
    publication_t p;
    pev_bus_t *bus = pev_daemon_bus(pg->d);

    if (ev->sender == pev_worker_index(pev_worker_self()) || ev->len < 7)
        return;                         /* our own (never: sent to the others
                                         * only): delivered in cmd_pub */
    sp = memchr(line + 4, ' ', ev->len - 4);
    if (!sp || sp - (line + 4) > TOPIC_LIMIT)
        return;
    memset(&p, 0, sizeof p);
    p.line = line;
    p.len = ev->len;
    p.remote = 1;
    snprintf(event, sizeof event, TOPIC_PREFIX "%.*s", (int) (sp - (line + 4)), line + 4);
    p.topic = event + sizeof TOPIC_PREFIX - 1;
    pev_event_generate(bus, event, &p);             /* this worker's subscribers */
    pev_event_generate(bus, EV_PUBLISHED, &p);      /* their deliveries, counted */
}

static void cmd_pub(conn_state_t *cs, const char *topic, apr_size_t tlen,
                    const char *msg, apr_size_t mlen)
{
    char event[sizeof TOPIC_PREFIX + TOPIC_LIMIT];
    publication_t p;
    char *m;

    /* "MSG topic message\r\n" is no longer than the PUB line plus CRLF */
    if (!cs->msg)
        cs->msg = apr_palloc(pev_conn_pool(cs->c), cs->conf->max_line + 3);
    m = cs->msg;
    memcpy(m, "MSG ", 4);
    memcpy(m + 4, topic, tlen);
    m[4 + tlen] = ' ';
    memcpy(m + 5 + tlen, msg, mlen);
    memcpy(m + 5 + tlen + mlen, "\r\n", 2);
    memset(&p, 0, sizeof p);
    p.topic = topic;
    p.line = m;
    p.len = 7 + tlen + mlen;
    snprintf(event, sizeof event, TOPIC_PREFIX "%.*s", (int) tlen, topic);
    pev_event_generate(cs->bus, event, &p);         /* the subscribers */
    cs->published = 1;                              /* exported (Cluster) */
    p.xdropped = publish_to_workers(m, p.len);      /* Workers N: the others */
    pev_event_generate(cs->bus, EV_PUBLISHED, &p);  /* the stats module */
    if (p.dropped || p.disconnected)
        reply(cs, "+OK delivered=%" APR_UINT64_T_FMT " dropped=%" APR_UINT64_T_FMT
              " disconnected=%" APR_UINT64_T_FMT, p.delivered, p.dropped, p.disconnected);
    else
        reply(cs, "+OK delivered=%" APR_UINT64_T_FMT, p.delivered);
}

static void cmd_stats(conn_state_t *cs, const char *topic)
{
    char event[sizeof TOPIC_PREFIX + TOPIC_LIMIT];
    pubsub_stats_t q;
    pev_gen_t *gen = pev_daemon_gen(cs->d);
    char extra[sizeof event + 32] = "";

    memset(&q, 0, sizeof q);
    pev_event_generate(cs->bus, EV_STATS_QUERY, &q);
    if (topic) {
        snprintf(event, sizeof event, TOPIC_PREFIX "%s", topic);
        snprintf(extra, sizeof extra, " topic=%s subscribers=%d", topic,
                 pev_event_listening(cs->bus, event));
    }
    reply(cs, "+OK connections=%" APR_UINT64_T_FMT " accepted=%" APR_UINT64_T_FMT
          " subscriptions=%" APR_UINT64_T_FMT
          " messages=%" APR_UINT64_T_FMT " deliveries=%" APR_UINT64_T_FMT
          " dropped=%" APR_UINT64_T_FMT " disconnected=%" APR_UINT64_T_FMT
          " generation=%u conn_generation=%u refused=%" APR_UINT64_T_FMT " tls=%d"
          " xdropped=%" APR_UINT64_T_FMT "%s%s",
          q.connections, q.accepted, COUNT_GET(cs->totals->subscriptions), q.messages,
          q.deliveries, q.dropped, q.disconnected, gen ? pev_gen_number(gen) : 0,
          pev_gen_number(pev_conn_gen(cs->c)), pev_daemon_refused(cs->d),
          pev_conn_is_tls(cs->c), q.xdropped, extra, q.cluster);
}

static void tls_ready(pev_stream_t *s, void *user_data)
{
    conn_state_t *cs = user_data;

    (void) s;
    pev_daemon_log(cs->d, PEV_LOG_DEBUG, "connection %" APR_UINT64_T_FMT
                   " (%s): STARTTLS: TLS established", cs->id, pev_conn_peer(cs->c));
}

/* STARTTLS: "+OK", sent in plaintext, then the handshake. The stream
 * discards whatever the client sent after the command: bytes that came in
 * plaintext must never run as commands of the TLS session (CVE-2011-0411). */
static void cmd_starttls(conn_state_t *cs)
{
    static const char go[] = "+OK begin TLS\r\n";
    pev_tls_ctx_t *ctx = pev_daemon_tls(cs->d);
    apr_size_t discarded = 0;
    apr_status_t st;
    char err[128];

    if (pev_conn_is_tls(cs->c)) {
        reply(cs, "-ERR TLS is on already");
        return;
    }
    if (!ctx) {
        reply(cs, "-ERR TLS is not configured");
        return;
    }
    /* it always fits: the handshake must not start before it is queued */
    last_words(cs, go, sizeof go - 1);
    st = pev_stream_start_tls(cs->s, ctx, NULL, tls_ready, cs, &discarded);
    if (st != APR_SUCCESS) {
        /* the client was told to go ahead: all it can get now is the end */
        pev_daemon_log(cs->d, PEV_LOG_ERROR, "connection %" APR_UINT64_T_FMT
                       ": STARTTLS: %s", cs->id, pev_strerror(st, err, sizeof err));
        pev_stream_abort(cs->s);
        return;
    }
    if (discarded)
        pev_daemon_log(cs->d, PEV_LOG_WARN, "connection %" APR_UINT64_T_FMT " (%s):"
                       " STARTTLS: discarded %" APR_SIZE_T_FMT " byte(s) sent in plaintext"
                       " after the command", cs->id, pev_conn_peer(cs->c), discarded);
}

/* Split off the next space-separated word: *w, *wlen; returns the rest
 * (after the separating spaces). */
static char *next_word(char *p, char *end, char **w, apr_size_t *wlen)
{
    while (p < end && *p == ' ')
        p++;
    *w = p;
    while (p < end && *p != ' ')
        p++;
    *wlen = (apr_size_t) (p - *w);
    return p;
}

static int is_cmd(const char *w, apr_size_t len, const char *name)
{
    return len == strlen(name) && strncasecmp(w, name, len) == 0;
}

static void command(conn_state_t *cs, char *line, apr_size_t len)
{
    char *end = line + len, *cmd, *arg, *rest, *p;
    apr_size_t clen, alen, i;

    if (cs->idle_ev)        /* the idle mark moves with every command */
        pev_waitevent_set_mark(cs->idle_ev, pev_loop_now(pev_stream_loop(cs->s))
                                            + cs->conf->idle_timeout);
    rest = next_word(line, end, &cmd, &clen);
    if (clen == 0)
        return;                         /* an empty line is no command */
    if (is_cmd(cmd, clen, "PUB")) {
        p = next_word(rest, end, &arg, &alen);
        if (alen == 0 || p == end) {
            reply(cs, "-ERR usage: PUB topic message");
            return;
        }
        if (topic_ok(cs, arg, alen)) {
            arg[alen] = '\0';           /* was the space before the message */
            cmd_pub(cs, arg, alen, p + 1, (apr_size_t) (end - p - 1));
        }
        return;
    }
    p = next_word(rest, end, &arg, &alen);
    if (is_cmd(cmd, clen, "PING")) {
        if (alen)
            reply(cs, "+PONG %.*s", (int) (end - arg), arg);
        else
            reply(cs, "+PONG");
        return;
    }
    if (alen) {
        arg[alen] = '\0';               /* topics are words; the line is ours */
        while (p < end && *p == ' ')
            p++;
    }
    if (is_cmd(cmd, clen, "SUB") || is_cmd(cmd, clen, "UNSUB")) {
        int sub = clen == 3;

        if (alen == 0 || p != end)
            reply(cs, "-ERR usage: %s topic", sub ? "SUB" : "UNSUB");
        else if (topic_ok(cs, arg, alen))
            (sub ? cmd_sub : cmd_unsub)(cs, arg);
    } else if (is_cmd(cmd, clen, "STATS")) {
        if (p != end)
            reply(cs, "-ERR usage: STATS [topic]");
        else if (alen == 0)
            cmd_stats(cs, NULL);
        else if (topic_ok(cs, arg, alen))
            cmd_stats(cs, arg);
    } else if (is_cmd(cmd, clen, "STARTTLS")) {
        if (alen)
            reply(cs, "-ERR usage: STARTTLS");
        else
            cmd_starttls(cs);
    } else if (is_cmd(cmd, clen, "QUIT")) {
        if (alen)
            reply(cs, "-ERR usage: QUIT");
        else {
            reply(cs, "+OK bye");
            conn_close(cs);
        }
    } else {
        /* name the command, made printable and short */
        if (clen > 32)
            clen = 32;
        for (i = 0; i < clen; i++)
            if ((unsigned char) cmd[i] < ' ' || (unsigned char) cmd[i] >= 0x7f
                || cmd[i] == '\'')
                cmd[i] = '?';
        reply(cs, "-ERR unknown command '%.*s'"
              " (SUB, UNSUB, PUB, PING, STATS, STARTTLS, QUIT)",
              (int) clen, cmd);
    }
}

static void line_too_long(conn_state_t *cs)
{
    pev_daemon_log(cs->d, PEV_LOG_DEBUG, "connection %" APR_UINT64_T_FMT
                   ": line longer than %" APR_SIZE_T_FMT " bytes, closing", cs->id,
                   cs->conf->max_line);
    reply(cs, "-ERR line too long (max %" APR_SIZE_T_FMT " bytes)", cs->conf->max_line);
    conn_close(cs);
}

/* Take and run the commands buffered, until a reply has to wait for room. */
static void process_input(conn_state_t *cs)
{
    char *line;
    apr_size_t len;
    apr_status_t st;

    /* at the end of input the stream stays open while a reply waits for
     * room, so a client that half-closes still gets every reply */
    while (!cs->stalled && pev_stream_is_open(cs->s)) {
        st = pev_stream_getline(cs->s, &line, &len);
        if (st == APR_EAGAIN) {
            /* more than MaxLine and its CR, and no LF yet */
            if (pev_stream_input_pending(cs->s) > cs->conf->max_line + 1)
                line_too_long(cs);
            return;
        }
        if (st != APR_SUCCESS)
            return;
        if (len > cs->conf->max_line) {
            line_too_long(cs);
            return;
        }
        command(cs, line, len);
    }
}

static void on_read(pev_stream_t *s, void *user_data)
{
    conn_state_t *cs = user_data;

    process_input(cs);
    /* Cluster: the batch's PUBs go to Redis first, on their way to the
     * other nodes' subscribers (the replies are not on that path: Redis
     * woken first takes the idle core, not the publisher) */
    if (cs->published) {
        cs->published = 0;
        pev_event_generate(cs->bus, EV_EXPORTS_OUT, NULL);
    }
    /* the replies to this batch of commands go out now, before the
     * messages a PUB queued for the subscribers (sent at the end of the
     * iteration): a publisher waiting for its +OK gets it first, as from
     * Redis. One send per batch, as at the end of the iteration. */
    if (pev_stream_output_pending(s) > 0)
        (void) pev_stream_flush(s);
}

/* The output fell to half the limit after a refused write. */
static void on_drain(pev_stream_t *s, void *user_data)
{
    conn_state_t *cs = user_data;
    char note[64];
    int n;

    if (cs->dropped) {
        n = snprintf(note, sizeof note, "DROPPED %" APR_UINT64_T_FMT "\r\n", cs->dropped);
        if (pev_stream_write(s, note, (apr_size_t) n) == APR_SUCCESS)
            cs->dropped = 0;
    }
    if (cs->stalled) {
        if (pev_stream_write(s, cs->reply, cs->reply_len) != APR_SUCCESS)
            return;                     /* still full: wait for the next drain */
        cs->stalled = 0;
        process_input(cs);
    }
}

static void on_close(pev_stream_t *s, apr_status_t reason, void *user_data)
{
    conn_state_t *cs = user_data;
    char err[128];

    /* nothing to undo: the daemon destroys the connection's pool next, and
     * with it the subscriptions, the wait events and this state */
    pev_daemon_log(cs->d, reason == PEV_ELINE ? PEV_LOG_INFO : PEV_LOG_DEBUG,
                   "connection %" APR_UINT64_T_FMT " (%s) closed (%s); %ld subscription(s)"
                   " end with it", cs->id, pev_conn_peer(cs->c),
                   reason == APR_EOF ? "by the client"
                   : reason == PEV_ECLOSED ? "by the server"
                   : (reason == PEV_ETLS || reason == PEV_ETLSVERIFY) && pev_stream_tls_error(s)
                   ? pev_stream_tls_error(s)
                   : reason == APR_TIMEUP ? "the client did not read its last output"
                   : reason == PEV_ELINE ? "line too long"
                   : pev_strerror(reason, err, sizeof err),
                   cs->nsubs);
}

static pev_waitevent_t *idle_due(pev_stream_t *s, pev_waitevent_t *ev, void *user_data)
{
    conn_state_t *cs = user_data;

    (void) ev;
    pev_daemon_log(cs->d, PEV_LOG_DEBUG, "connection %" APR_UINT64_T_FMT
                   " (%s): idle, closing", cs->id, pev_conn_peer(cs->c));
    (void) s;
    last_words(cs, "BYE idle timeout\r\n", 18);
    cs->idle_ev = NULL;
    conn_close(cs);                     /* also removes the wait events */
    return NULL;
}

static pev_waitevent_t *keepalive_due(pev_stream_t *s, pev_waitevent_t *ev, void *user_data)
{
    conn_state_t *cs = user_data;

    if (pev_stream_output_pending(s) == 0)  /* output pending says enough */
        pev_stream_write(s, "KEEPALIVE\r\n", 11);
    pev_waitevent_set_mark(ev, pev_loop_now(pev_stream_loop(s)) + cs->conf->keepalive);
    return ev;
}

/* Every connection hears the stop, bound to its own pool. */
static void conn_shutdown(const void *event_data, void *user_data)
{
    conn_state_t *cs = user_data;

    (void) event_data;
    last_words(cs, "BYE server shutting down\r\n", 26);
}


/* The connection's pool goes, and its subscriptions with it (the bus
 * unregisters them); only the count is left to settle. */
static apr_status_t subscriptions_gone(void *data)
{
    conn_state_t *cs = data;

    atomic_fetch_sub_explicit(&cs->totals->subscriptions, (apr_uint64_t) cs->nsubs,
                              memory_order_relaxed);
    return APR_SUCCESS;
}

static void conn_open(const void *event_data, void *user_data)
{
    static const pev_stream_callbacks_t cbs = { on_read, on_drain, on_close, NULL };
    pev_conn_t *c = (pev_conn_t *) event_data;
    pubsub_gen_t *pg = user_data;
    apr_pool_t *cp = pev_conn_pool(c);
    pev_loop_t *loop = pev_daemon_loop(pg->d);
    conn_state_t *cs = apr_pcalloc(cp, sizeof *cs);
    const pubsub_conf_t *pc;
    pev_stream_t *s;

    /* the settings of the generation the connection was accepted under,
     * for its whole life, whatever restarts come */
    pc = pev_gen_module_conf(pev_conn_gen(c), &pubsub_module);
    cs->c = c;
    cs->d = pg->d;
    cs->bus = pev_daemon_bus(pg->d);
    cs->mod = pg->mod;
    cs->conf = pc;
    cs->totals = pg->totals;
    cs->id = pev_conn_id(c);
    apr_pool_cleanup_register(cp, cs, subscriptions_gone, apr_pool_cleanup_null);
    if (pev_conn_set_handler(c, &cbs, cs) != APR_SUCCESS)
        return;
    cs->s = s = pev_conn_stream(c);
    if (pev_stream_set_max_line(s, stream_line_limit(pc)) != APR_SUCCESS
        || pev_stream_set_output_limit(s, pc->output_limit) != APR_SUCCESS
        || (pc->idle_timeout
            && pev_waitevent_add(&cs->idle_ev, s, pev_loop_now(loop) + pc->idle_timeout,
                                 idle_due, cs) != APR_SUCCESS)
        || (pc->keepalive
            && pev_waitevent_add(NULL, s, pev_loop_now(loop) + pc->keepalive,
                                 keepalive_due, cs) != APR_SUCCESS)
        || pev_event_register(NULL, cs->bus, pg->mod, PEV_EVENT_SHUTDOWN, conn_shutdown, cs,
                              cp) != APR_SUCCESS) {
        pev_daemon_log(pg->d, PEV_LOG_ERROR, "connection %" APR_UINT64_T_FMT
                       ": cannot set it up", cs->id);
        pev_stream_abort(s);
        return;
    }
    pev_daemon_log(pg->d, PEV_LOG_DEBUG, "connection %" APR_UINT64_T_FMT " from %s",
                   cs->id, pev_conn_peer(c));
    pev_stream_printf(s, "+OK %s\r\n", pc->greeting);
}

/* A connection over MaxConnections or MaxConnectionsPerHost: one line,
 * then the daemon closes it (and counts it: STATS refused=). */
static void conn_refused(const void *event_data, void *user_data)
{
    static const char total[] = "-ERR too many connections\r\n";
    static const char host[] = "-ERR too many connections from your address\r\n";
    pev_conn_t *c = (pev_conn_t *) event_data;
    int per_host = pev_conn_refused(c) == PEV_CONN_REFUSED_HOST;

    (void) user_data;
    pev_stream_write(pev_conn_stream(c), per_host ? host : total,
                     per_host ? sizeof host - 1 : sizeof total - 1);
}

/* The generation is current: say where it listens (the real ports, also
 * for Listen HOST:0). */
static void announce(const void *event_data, void *user_data)
{
    pev_gen_t *gen = (pev_gen_t *) event_data;
    pubsub_gen_t *pg = user_data;
    char ports[256] = "";
    apr_size_t off = 0;
    apr_port_t port;
    int i;

    for (i = 0; (port = pev_daemon_port(pg->d, i)) != 0 && off < sizeof ports - 16; i++)
        off += (apr_size_t) snprintf(ports + off, sizeof ports - off, "%s%u",
                                     i ? ", " : "", (unsigned) port);
    pev_daemon_log(pg->d, PEV_LOG_INFO, "generation %u ready: listening on port%s %s",
                   pev_gen_number(gen), i > 1 ? "s" : "", ports);
}

/* The rules between the directives, checked before a configuration is
 * taken (pubsubd -t, the start, every reload). */
static const char *pubsub_check(pev_gen_t *gen, void *mconf)
{
    const pubsub_conf_t *pc = mconf;

    /* a whole MSG line must fit in a subscriber's output, or every message
     * of that size would count as a slow subscriber */
    if (pc->output_limit < pc->max_line + 16)
        return apr_psprintf(pev_gen_shared_pool(gen), "OutputLimit (%" APR_SIZE_T_FMT
                            ") must be at least MaxLine + 16 (%" APR_SIZE_T_FMT ")",
                            pc->output_limit, pc->max_line + 16);
    return NULL;
}

/* The counts kept for the daemon's life, and the announcement of each
 * generation: on the main thread's bus, which generates core.postparse for
 * every generation under Workers 1 and N alike (the listening sockets are
 * the main thread's). */
static apr_status_t pubsub_process_init(pev_gen_t *first, pev_module_t *mod, apr_pool_t *pool,
                                        void **state)
{
    pev_daemon_t *d = pev_gen_daemon(first);
    pubsub_gen_t *pg = apr_pcalloc(pool, sizeof *pg);
    apr_status_t rv;

    pg->d = d;
    pg->mod = mod;
    *state = pg->totals = apr_pcalloc(pool, sizeof(pubsub_totals_t));
    if ((rv = pev_event_register(NULL, pev_daemon_bus(d), mod, PEV_EVENT_POSTPARSE, announce,
                                 pg, pool)) != APR_SUCCESS)
        return pev_gen_fail(first, rv, "pubsub: cannot register its listeners");
    return APR_SUCCESS;
}

static apr_status_t pubsub_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    pev_daemon_t *d = pev_gen_daemon(gen);
    pev_bus_t *bus = pev_daemon_bus(d);
    apr_pool_t *gp = pev_gen_pool(gen);
    pubsub_gen_t *pg = apr_palloc(gp, sizeof *pg);
    apr_status_t rv;

    (void) mconf;
    pg->d = d;
    pg->mod = mod;
    pg->totals = pev_daemon_module_state(d, &pubsub_module);
    /* this generation takes the connections accepted while it is current */
    if ((rv = pev_event_register(NULL, bus, mod, PEV_EVENT_CONN_OPEN, conn_open, pg,
                                 gp)) != APR_SUCCESS
        || (rv = pev_event_register(NULL, bus, mod, PEV_EVENT_CONN_REFUSED, conn_refused,
                                    pg, gp)) != APR_SUCCESS
        /* Workers N: the PUBs of the other workers (bound to this
         * generation's pool; the next generation's init registers again in
         * the same call as the switch) */
        || (pev_worker_self()
            && (rv = pev_event_register(NULL, bus, mod, EV_REMOTE_PUB, remote_pub, pg,
                                        gp)) != APR_SUCCESS))
        return pev_gen_fail(gen, rv, "pubsub: cannot register its listeners");
    return APR_SUCCESS;
}

/* ======================================================================== */
/* cluster: the PUBs of every node reach the subscribers of every node,     */
/* through Redis pub/sub (doc/cluster.md)                                    */

#define CLUSTER_DEFAULT_PORT    6379
#define CLUSTER_CHANNEL_LIMIT   64          /* ClusterChannel */
#define CLUSTER_NODE_LIMIT      64          /* ClusterNode */
#define CLUSTER_QUEUE_MAX       10000000    /* ClusterQueueLimit: messages */
#define CLUSTER_QUEUE_BYTES_MIN 4096        /* and bytes */
#define CLUSTER_QUEUE_BYTES_MAX (1024 * 1024 * 1024)

typedef struct cluster_conf {
    int given;                  /* a Cluster line was read (an address or off) */
    const char *url;            /* as written; NULL: no cluster */
    const char *host;           /* without the brackets of an IPv6 address */
    apr_port_t port;
    const char *channel;        /* ClusterChannel: the Redis channels' prefix */
    const char *password;       /* ClusterPassword; NULL: none */
    const char *user;           /* ClusterUser (an ACL user); NULL: "default" */
    apr_size_t queue_limit;     /* ClusterQueueLimit: messages (0: the bridge's
                                 * default, 10000) */
    apr_size_t queue_bytes;     /* and bytes (0: the bridge's default, 16m) */
    const char *node;           /* ClusterNode; NULL: made up at the start */
} cluster_conf_t;

static const char *cluster_defaults(pev_gen_t *gen, void *mconf)
{
    cluster_conf_t *cc = mconf;

    (void) gen;
    cc->channel = NAME ":";
    return NULL;
}

/* A word of visible ASCII, 1 to @a max bytes; NULL or a message. */
static const char *cluster_word(const char *w, apr_size_t max)
{
    const char *c;

    if (!*w)
        return "must not be empty";
    if (strlen(w) > max)
        return max == 64 ? "is too long (64 bytes at most)" : "is too long (128 bytes at most)";
    for (c = w; *c; c++)
        if ((unsigned char) *c <= ' ' || (unsigned char) *c >= 0x7f)
            return "must be visible ASCII characters";
    return NULL;
}

/* Cluster redis://HOST[:PORT] | off */
static const char *set_cluster(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    cluster_conf_t *cc = mconf;
    apr_pool_t *p = pev_gen_shared_pool(gen);
    const char *u = argv[1], *h, *e, *port = NULL;
    char *end;
    long n;

    (void) argc;
    cc->given = 1;
    if (strcasecmp(u, "off") == 0) {
        cc->url = cc->host = NULL;
        return NULL;
    }
    if (!pev_bridge_available())
        return "this pubsubd was built without the Redis bridge (libpoolev configured"
               " --without-hiredis, or without libhiredis-dev)";
    if (strncasecmp(u, "rediss://", 9) == 0)
        return "rediss:// (Redis over TLS) is not supported: use redis://HOST:PORT";
    if (strncasecmp(u, "redis://", 8) != 0)
        return "expects redis://HOST[:PORT] or off";
    h = u + 8;
    if (strchr(h, '@'))
        return "takes no user or password in the address: use ClusterUser and "
               "ClusterPassword";
    if (*h == '[') {                    /* [IPv6]:PORT */
        if ((e = strchr(h, ']')) == NULL || e == h + 1)
            return "expects redis://[IPV6-ADDRESS]:PORT for an IPv6 address";
        cc->host = apr_pstrndup(p, h + 1, (apr_size_t) (e - h - 1));
        e++;
    } else {
        for (e = h; *e && *e != ':' && *e != '/'; e++)
            ;
        if (e == h)
            return "expects redis://HOST[:PORT]: the host is missing";
        cc->host = apr_pstrndup(p, h, (apr_size_t) (e - h));
    }
    if (*e == ':')
        port = ++e;
    while (*e >= '0' && *e <= '9')
        e++;
    if (*e == '/' && e[1] == '\0')      /* a trailing slash, no database */
        e++;
    if (*e)
        return "expects redis://HOST[:PORT] (no path, database or options)";
    cc->port = CLUSTER_DEFAULT_PORT;
    if (port) {
        n = strtol(port, &end, 10);
        if (end == port || n < 1 || n > 65535)
            return "expects redis://HOST:PORT with a port from 1 to 65535";
        cc->port = (apr_port_t) n;
    }
    for (h = cc->host; *h; h++)
        if ((unsigned char) *h <= ' ' || (unsigned char) *h >= 0x7f)
            return "expects redis://HOST[:PORT]: the host must be visible ASCII";
    cc->url = u;
    return NULL;
}

/* ClusterChannel, ClusterPassword, ClusterUser, ClusterNode, ClusterQueueLimit */
static const char *set_cluster_value(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    cluster_conf_t *cc = mconf;
    apr_pool_t *p = pev_gen_shared_pool(gen);
    const char *err;
    apr_size_t v;

    (void) argc;
    if (strcasecmp(argv[0], "ClusterChannel") == 0) {
        /* the nodes subscribe to PREFIX*: no glob characters */
        if ((err = cluster_word(argv[1], CLUSTER_CHANNEL_LIMIT)) != NULL)
            return err;
        if (strpbrk(argv[1], "*?[]\\"))
            return "must not contain the pattern characters * ? [ ] \\";
        cc->channel = argv[1];
    } else if (strcasecmp(argv[0], "ClusterNode") == 0) {
        if ((err = cluster_word(argv[1], CLUSTER_NODE_LIMIT)) != NULL)
            return err;
        cc->node = argv[1];
    } else if (strcasecmp(argv[0], "ClusterUser") == 0) {
        if ((err = cluster_word(argv[1], 128)) != NULL)
            return err;
        cc->user = argv[1];
    } else if (strcasecmp(argv[0], "ClusterPassword") == 0) {
        if (!*argv[1])
            return "must not be empty";
        cc->password = argv[1];
    } else {
        if ((err = parse_size(argv[1], 1, CLUSTER_QUEUE_MAX, &v, p)) != NULL)
            return err;
        cc->queue_limit = v;
        if (argc > 2) {
            if ((err = parse_size(argv[2], CLUSTER_QUEUE_BYTES_MIN, CLUSTER_QUEUE_BYTES_MAX,
                                  &v, p)) != NULL)
                return apr_pstrcat(p, "BYTES ", err, NULL);
            cc->queue_bytes = v;
        }
    }
    return NULL;
}

/* The rules between the cluster directives. */
static const char *cluster_check(pev_gen_t *gen, void *mconf)
{
    const cluster_conf_t *cc = mconf;

    if (!cc->given && (cc->password || cc->user || cc->node
                       || strcmp(cc->channel, NAME ":") != 0
                       || cc->queue_limit || cc->queue_bytes))
        return "ClusterChannel, ClusterPassword, ClusterUser, ClusterNode and "
               "ClusterQueueLimit need a Cluster line (redis://HOST:PORT, or off)";
    if (cc->user && !cc->password)
        return "ClusterUser needs ClusterPassword";
    (void) gen;
    return NULL;
}

/*
 * The cluster at run time. A generation with a Cluster line creates a
 * bridge (poolev/bridge.h) bound to its pool: the reload or the stop that
 * ends the generation unsubscribes, disconnects and frees it, and the next
 * generation makes its own (a new address, or none), with the node's
 * origins table (cluster_process_init()): it goes on from the last
 * sequence number the old bridge delivered of every other node, so the
 * messages published while neither was subscribed are counted as lost and
 * none is delivered twice. The connections
 * accepted under an earlier generation are not the bridge's: they stay,
 * and their PUBs and subscriptions are served by the current bridge, as
 * everything goes through the bus.
 *
 *   out: every "topic.NAME" event (a PUB on this node) is exported by the
 *        bridge: the encoder gives the message's text, published on the
 *        Redis channel ClusterChannel + "topic.NAME";
 *   in:  the nodes subscribe to ClusterChannel + "topic.*"; a message of
 *        another node is decoded into a publication_t and generated as
 *        "topic.NAME" on this node's bus, where the subscriptions'
 *        listeners deliver it as they deliver a local PUB (deliver(), the
 *        same OutputLimit and SlowPolicy); its counts go to the stats
 *        module (pubsub.published, with its origin) once its dispatch is
 *        over. The bridge never exports again what it imported, and drops
 *        the node's own messages coming back from Redis.
 *
 * Workers N: the bridge is worker 0's (one per generation, made by the
 * init on worker 0 and destroyed with worker 0's generation pool, on its
 * thread). It exports what worker 0's bus carries: the PUBs of worker 0,
 * and those of the other workers, which reach worker 0 as EV_REMOTE_PUB
 * copies (remote_pub()), in the order each worker sent them: each
 * message once, a publisher's in order. A message it imports is delivered
 * to worker 0's subscribers and sent to the other workers as an
 * EV_REMOTE_PUB copy (cluster_decode()), delivered there as another
 * worker's PUB: no bridge is on their buses, so nothing goes back to
 * Redis. The other workers' STATS show the bridge's counters as worker 0
 * last stored them in the node's state: every CLUSTER_SNAPSHOT_MS while
 * they change, and at each STATS on worker 0. While they stand still the
 * interval doubles up to CLUSTER_SNAPSHOT_IDLE_MS (an idle node is not
 * woken 100 times a second); the next export, import or bridge log line
 * (a connection made or lost) brings it back to CLUSTER_SNAPSHOT_MS.
 */
#define CLUSTER_SNAPSHOT_MS     10
#define CLUSTER_SNAPSHOT_IDLE_MS 1000

/* The node's state, for the daemon's life: the import state every
 * generation's bridge takes over (the origins table: worker 0's thread's,
 * or the only thread's), and the bridge's counters for the STATS of the
 * other workers (atomics: written on worker 0, read on any worker). */
struct cluster_proc {
    pev_bridge_origins_t *origins;
    atomic_uint live;           /* the snapshot's generation; 0: none yet */
    atomic_int connected;
    atomic_uint_least64_t queued, sent, received, lost, dropped, invalid, reconnects,
                          failures;
};
typedef struct cluster_proc cluster_proc_t;
typedef struct cluster_gen {
    pev_daemon_t *d;
    pev_bus_t *bus;
    pev_bridge_t *br;           /* NULL on the workers other than worker 0 */
    cluster_proc_t *proc;       /* the node's state (cluster_process_init()) */
    const cluster_conf_t *conf;
    const pubsub_conf_t *pc;    /* MaxLine of this generation, for remote lines */
    unsigned number;            /* the generation's */
    /* Workers N, worker 0: the snapshot's timer, its interval (ms) and the
     * counters it last stored */
    pev_timer_t *snap_timer;
    unsigned snap_ms;
    pev_bridge_stats_t snap_last;
} cluster_gen_t;

/* Workers N, worker 0: the bridge is busy, the snapshot is due within
 * CLUSTER_SNAPSHOT_MS again (after the idle backoff). */
static inline void cluster_snapshot_wake(cluster_gen_t *cg)
{
    if (cg->snap_ms > CLUSTER_SNAPSHOT_MS) {
        cg->snap_ms = CLUSTER_SNAPSHOT_MS;
        (void) pev_timer_rearm_in(cg->snap_timer, apr_time_from_msec(CLUSTER_SNAPSHOT_MS));
    }
}

/* The bridge's log lines, in the daemon's log. */
static void cluster_log(int priority, const char *text, void *user_data)
{
    cluster_gen_t *cg = user_data;
    pev_log_level_t level = priority <= PEV_BRIDGE_LOG_ERR ? PEV_LOG_ERROR
                            : priority == PEV_BRIDGE_LOG_WARNING ? PEV_LOG_WARN
                            : PEV_LOG_INFO;

    cluster_snapshot_wake(cg);
    pev_daemon_log(cg->d, level, "cluster: %s", text);
}

/* out: a PUB's message, as it was given (the MSG line without "MSG topic "
 * and CRLF). */
static apr_status_t cluster_encode(const void **data, apr_size_t *len, const char *event,
                                   const void *event_data, apr_pool_t *scratch,
                                   void *user_data)
{
    const publication_t *p = event_data;
    apr_size_t tlen = strlen(p->topic);

    (void) event;
    (void) scratch;
    cluster_snapshot_wake(user_data);
    *data = p->line + 5 + tlen;
    *len = p->len - 7 - tlen;
    return APR_SUCCESS;
}

/* After the dispatch of a remote message (the bridge clears the decoder's
 * scratch pool then): its counts to the stats module. */
static apr_status_t cluster_counted(void *data)
{
    publication_t *p = data;
    pev_bus_t *bus = *(pev_bus_t **) (p + 1);

    pev_event_generate(bus, EV_PUBLISHED, p);
    return APR_SUCCESS;
}

/* in: a message of another node, made into what a local PUB generates. A
 * message that this node's PUB could not have carried is refused (the
 * bridge counts it as invalid): a topic that is not a topic, a line
 * feed, which would end the MSG line early, or a MSG line longer than
 * MaxLine. */
static apr_status_t cluster_decode(const void **event_data, const pev_bridge_msg_t *msg,
                                   apr_pool_t *scratch, void *user_data)
{
    cluster_gen_t *cg = user_data;
    const char *topic;
    apr_size_t tlen, mlen = msg->len;
    publication_t *p;
    char *m;

    cluster_snapshot_wake(cg);
    if (strncmp(msg->event, TOPIC_PREFIX, sizeof TOPIC_PREFIX - 1) != 0)
        return APR_EINVAL;              /* the import's prefix: never */
    topic = msg->event + sizeof TOPIC_PREFIX - 1;
    tlen = strlen(topic);
    if (tlen > TOPIC_LIMIT || !valid_topic(topic, tlen)
        || 5 + tlen + mlen > cg->pc->max_line || memchr(msg->data, '\n', mlen))
        return APR_EINVAL;
    /* the publication, and the bus for cluster_counted() behind it */
    p = apr_pcalloc(scratch, sizeof *p + sizeof(pev_bus_t *));
    *(pev_bus_t **) (p + 1) = cg->bus;
    m = apr_palloc(scratch, tlen + 1 + 7 + tlen + mlen);
    memcpy(m, topic, tlen + 1);
    p->topic = m;
    m += tlen + 1;
    memcpy(m, "MSG ", 4);
    memcpy(m + 4, topic, tlen);
    m[4 + tlen] = ' ';
    memcpy(m + 5 + tlen, msg->data, mlen);
    memcpy(m + 5 + tlen + mlen, "\r\n", 2);
    p->line = m;
    p->len = 7 + tlen + mlen;
    p->origin = apr_pstrdup(scratch, msg->origin);
    /* Workers N: the other workers' subscribers get it as a PUB of this
     * worker (never exported: they have no bridge) */
    p->xdropped = publish_to_workers(p->line, p->len);
    apr_pool_cleanup_register(scratch, p, cluster_counted, apr_pool_cleanup_null);
    *event_data = p;
    return APR_SUCCESS;
}

/* The exports of the PUBs a connection just read, to Redis before their
 * replies (on_read()). */
static void cluster_exports_out(const void *event_data, void *user_data)
{
    cluster_gen_t *cg = user_data;

    (void) event_data;
    (void) pev_bridge_flush(cg->br);
}

/* Store the bridge's counters for the other workers' STATS. */
static void cluster_snapshot(cluster_gen_t *cg, const pev_bridge_stats_t *bs)
{
    cluster_proc_t *cp = cg->proc;

    atomic_store_explicit(&cp->connected, bs->connected, memory_order_relaxed);
    atomic_store_explicit(&cp->queued, bs->queued, memory_order_relaxed);
    atomic_store_explicit(&cp->sent, bs->sent, memory_order_relaxed);
    atomic_store_explicit(&cp->received, bs->received, memory_order_relaxed);
    atomic_store_explicit(&cp->lost, bs->lost, memory_order_relaxed);
    atomic_store_explicit(&cp->dropped, bs->dropped, memory_order_relaxed);
    atomic_store_explicit(&cp->invalid, bs->invalid + bs->repeated, memory_order_relaxed);
    atomic_store_explicit(&cp->reconnects, bs->reconnects, memory_order_relaxed);
    atomic_store_explicit(&cp->failures, bs->failures, memory_order_relaxed);
    atomic_store_explicit(&cp->live, cg->number, memory_order_release);
}

/* Whether the counters the snapshot stores differ. */
static int cluster_stats_differ(const pev_bridge_stats_t *a, const pev_bridge_stats_t *b)
{
    return a->connected != b->connected || a->queued != b->queued || a->sent != b->sent
           || a->received != b->received || a->lost != b->lost || a->dropped != b->dropped
           || a->invalid != b->invalid || a->repeated != b->repeated
           || a->reconnects != b->reconnects || a->failures != b->failures;
}

/* Workers N, on worker 0: the snapshot, every CLUSTER_SNAPSHOT_MS while
 * the counters change, backing off to CLUSTER_SNAPSHOT_IDLE_MS while they
 * do not. */
static void cluster_snapshot_due(pev_timer_t *timer, void *user_data)
{
    cluster_gen_t *cg = user_data;
    pev_bridge_stats_t bs;

    if (pev_bridge_stats(cg->br, &bs) == APR_SUCCESS) {
        if (cluster_stats_differ(&bs, &cg->snap_last))
            cg->snap_ms = CLUSTER_SNAPSHOT_MS;
        else if (cg->snap_ms < CLUSTER_SNAPSHOT_IDLE_MS)
            cg->snap_ms = cg->snap_ms * 2 < CLUSTER_SNAPSHOT_IDLE_MS ? cg->snap_ms * 2
                          : CLUSTER_SNAPSHOT_IDLE_MS;
        cg->snap_last = bs;
        cluster_snapshot(cg, &bs);
    }
    pev_timer_rearm_in(timer, apr_time_from_msec(cg->snap_ms));
}

/* STATS: the cluster's fields (the bridge's own on its worker, its
 * snapshot on the others). */
static void cluster_stats(const void *event_data, void *user_data)
{
    pubsub_stats_t *q = (pubsub_stats_t *) event_data;
    cluster_gen_t *cg = user_data;
    cluster_proc_t *cp = cg->proc;
    pev_bridge_stats_t bs;
    apr_uint64_t invalid;

    if (cg->br) {
        if (pev_bridge_stats(cg->br, &bs) != APR_SUCCESS)
            return;
        invalid = bs.invalid + bs.repeated;
        if (pev_worker_self())
            cluster_snapshot(cg, &bs);
    } else {
        if (atomic_load_explicit(&cp->live, memory_order_acquire) == 0)
            return;                     /* worker 0 made no bridge yet */
        memset(&bs, 0, sizeof bs);
        bs.connected = atomic_load_explicit(&cp->connected, memory_order_relaxed);
        bs.queued = (apr_size_t) COUNT_GET(cp->queued);
        bs.sent = COUNT_GET(cp->sent);
        bs.received = COUNT_GET(cp->received);
        bs.lost = COUNT_GET(cp->lost);
        bs.dropped = COUNT_GET(cp->dropped);
        invalid = COUNT_GET(cp->invalid);
        bs.reconnects = COUNT_GET(cp->reconnects);
        bs.failures = COUNT_GET(cp->failures);
    }
    snprintf(q->cluster, sizeof q->cluster,
             " cluster_connected=%d cluster_queued=%" APR_SIZE_T_FMT
             " cluster_sent=%" APR_UINT64_T_FMT " cluster_received=%" APR_UINT64_T_FMT
             " cluster_lost=%" APR_UINT64_T_FMT " cluster_dropped=%" APR_UINT64_T_FMT
             " cluster_invalid=%" APR_UINT64_T_FMT " cluster_reconnects=%" APR_UINT64_T_FMT
             " cluster_failures=%" APR_UINT64_T_FMT,
             bs.connected, bs.queued, bs.sent, bs.received, bs.lost, bs.dropped,
             invalid, bs.reconnects, bs.failures);
}

/* The generation ends (a reload or the stop), and its bridge with it: what
 * it had not sent yet is dropped; say how much. A pre-cleanup of the
 * generation pool registered after the bridge's creation: it runs before
 * anything of the bridge goes (its subpools and its own cleanups). */
static apr_status_t cluster_gen_end(void *data)
{
    cluster_gen_t *cg = data;
    pev_bridge_stats_t bs;

    /* the other workers' STATS show its last counters until the next
     * bridge's first (no gap without cluster fields) */
    if (pev_bridge_stats(cg->br, &bs) == APR_SUCCESS)
        pev_daemon_log(cg->d, bs.queued ? PEV_LOG_WARN : PEV_LOG_INFO,
                       "cluster: generation %u's bridge to %s closes: %" APR_UINT64_T_FMT
                       " sent, %" APR_UINT64_T_FMT " received, %" APR_UINT64_T_FMT
                       " lost, %" APR_UINT64_T_FMT " dropped, %" APR_SIZE_T_FMT
                       " unsent dropped now", cg->number, cg->conf->url, bs.sent,
                       bs.received, bs.lost, bs.dropped, bs.queued);
    return APR_SUCCESS;
}

/* The node's state, for the daemon's life: each generation's bridge takes
 * over the import state from the last one's (the last sequence number
 * delivered of every other node), so a reload delivers nothing twice and
 * counts what it missed as lost. */
static apr_status_t cluster_process_init(pev_gen_t *first, pev_module_t *mod,
                                         apr_pool_t *pool, void **state)
{
    cluster_proc_t *cp = apr_pcalloc(pool, sizeof *cp);
    apr_status_t rv;

    (void) mod;
    atomic_init(&cp->live, 0);
    if (pev_bridge_available()
        && (rv = pev_bridge_origins_create(&cp->origins, 0, pool)) != APR_SUCCESS)
        return pev_gen_fail(first, rv, "cluster: cannot make its origins table");
    *state = cp;
    return APR_SUCCESS;
}

static apr_status_t cluster_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    const cluster_conf_t *cc = mconf;
    pev_daemon_t *d = pev_gen_daemon(gen);
    apr_pool_t *gp = pev_gen_pool(gen);
    pev_worker_t *w = pev_worker_self();
    pev_bridge_options_t opts;
    pev_bridge_stats_t bs;
    cluster_gen_t *cg;
    apr_status_t rv;

    if (!cc->url)
        return APR_SUCCESS;             /* a single node: nothing at all */
    cg = apr_pcalloc(gp, sizeof *cg);
    cg->d = d;
    cg->bus = pev_daemon_bus(d);
    cg->proc = pev_daemon_module_state(d, &cluster_module);
    cg->conf = cc;
    cg->pc = pev_gen_module_conf(gen, &pubsub_module);
    cg->number = pev_gen_number(gen);
    /* Workers N: the bridge is worker 0's; the others show its counters */
    if (w && pev_worker_index(w) != 0) {
        if ((rv = pev_event_register(NULL, cg->bus, mod, EV_STATS_QUERY, cluster_stats, cg,
                                     gp)) != APR_SUCCESS)
            return pev_gen_fail(gen, rv, "cluster: cannot register its listeners");
        return APR_SUCCESS;
    }
    pev_bridge_options_init(&opts);
    opts.host = cc->host;
    opts.port = cc->port;
    opts.user = cc->user;
    opts.password = cc->password;
    opts.node_id = cc->node;
    opts.channel_prefix = cc->channel;
    opts.queue_limit = cc->queue_limit;
    opts.queue_bytes = cc->queue_bytes;
    opts.log = cluster_log;
    opts.log_data = cg;
    opts.origins = cg->proc->origins;
    /* the bridge connects from the loop: an absent Redis is no failure, the
     * node serves its own clients and joins when Redis answers */
    if ((rv = pev_bridge_create(&cg->br, pev_daemon_loop(d), cg->bus, &opts, gp))
            != APR_SUCCESS
        || (rv = pev_bridge_export(cg->br, TOPIC_PREFIX, PEV_BRIDGE_PREFIX, cluster_encode,
                                   cg)) != APR_SUCCESS
        || (rv = pev_bridge_import(cg->br, TOPIC_PREFIX, PEV_BRIDGE_PREFIX, cluster_decode,
                                   cg)) != APR_SUCCESS
        || (rv = pev_event_register(NULL, cg->bus, mod, EV_STATS_QUERY, cluster_stats, cg,
                                    gp)) != APR_SUCCESS
        || (rv = pev_event_register(NULL, cg->bus, mod, EV_EXPORTS_OUT, cluster_exports_out,
                                    cg, gp)) != APR_SUCCESS
        || (w && (rv = pev_timer_add_in(&cg->snap_timer, pev_daemon_loop(d),
                                        apr_time_from_msec(CLUSTER_SNAPSHOT_MS),
                                        cluster_snapshot_due, cg, gp)) != APR_SUCCESS))
        return pev_gen_fail(gen, rv, "cluster: cannot set up the bridge to %s", cc->url);
    apr_pool_pre_cleanup_register(gp, cg, cluster_gen_end);
    cg->snap_ms = CLUSTER_SNAPSHOT_MS;
    if (w && pev_bridge_stats(cg->br, &bs) == APR_SUCCESS) {
        cg->snap_last = bs;
        cluster_snapshot(cg, &bs);      /* the other workers' STATS: now */
    }
    pev_daemon_log(d, PEV_LOG_INFO, "cluster: node %s, Redis %s, channels %s" TOPIC_PREFIX
                   "*%s", pev_bridge_node_id(cg->br), cc->url, cc->channel,
                   cc->password ? " (with a password)" : "");
    return APR_SUCCESS;
}

static const pev_directive_t cluster_directives[] = {
    { "Cluster", 1, 1, set_cluster, "redis://HOST[:PORT]|off" },
    { "ClusterChannel", 1, 1, set_cluster_value, "PREFIX" },
    { "ClusterPassword", 1, 1, set_cluster_value, "PASSWORD" },
    { "ClusterUser", 1, 1, set_cluster_value, "USER" },
    { "ClusterNode", 1, 1, set_cluster_value, "ID" },
    { "ClusterQueueLimit", 1, 2, set_cluster_value, "MESSAGES [BYTES]" },
    { NULL, 0, 0, NULL, NULL }
};

static const pev_module_def_t cluster_module = {
    .name = "cluster", .conf_size = sizeof(cluster_conf_t), .defaults = cluster_defaults,
    .directives = cluster_directives, .init = cluster_init, .check = cluster_check,
    .process_init = cluster_process_init
};

/* ======================================================================== */
/* Command line                                                              */

static void usage(FILE *to)
{
    fprintf(to,
            "usage: " NAME " [-f FILE] [-t] [-p] [-h]\n"
            "  -f FILE  read the configuration from FILE (again on every SIGHUP);\n"
            "           without it, the embedded default configuration\n"
            "  -t       check the configuration and exit (nothing is started or\n"
            "           bound: a running pubsubd's addresses are fine)\n"
            "  -p       print the embedded default configuration and exit\n"
            "  -h       this help\n"
            "Signals: SIGHUP re-reads the configuration, SIGTERM and SIGINT stop,\n"
            "SIGUSR1 reopens the log file.\n"
            "Exit status: 0 after a stop, 1 when the daemon cannot start or run,\n"
            "2 for a usage error. pubsubd(8), pubsubd.conf(5) and doc/pubsubd.md\n"
            "describe the protocol and the directives.\n");
}

int main(int argc, char *argv[])
{
    pev_daemon_options_t opts;
    pev_daemon_t *d;
    apr_pool_t *pool;
    apr_status_t st;
    const char *file = NULL, *create_err = NULL;
    char err[256];
    int i, print = 0, check_only = 0;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-f") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(argv[i], "-t") == 0)
            check_only = 1;
        else if (strcmp(argv[i], "-p") == 0)
            print = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, NAME ": %s '%s'\n", strcmp(argv[i], "-f") == 0
                    ? "missing file after" : "unknown argument", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (print) {
        fputs(default_config, stdout);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (apr_initialize() != APR_SUCCESS) {
        fprintf(stderr, NAME ": cannot initialize APR\n");
        return 1;
    }
    atexit(apr_terminate);
    /* clients and a log reader may go away; their writes get EPIPE */
    signal(SIGPIPE, SIG_IGN);
    if (apr_pool_create(&pool, NULL) != APR_SUCCESS) {
        fprintf(stderr, NAME ": out of memory\n");
        return 1;
    }

    memset(&opts, 0, sizeof opts);
    opts.name = NAME;
    opts.modules = modules;
    opts.config_file = file;
    opts.default_config = default_config;
    /* Workers N: the modules share nothing without atomics, and a PUB
     * reaches the other workers as a copy (doc/pubsubd.md, "Workers") */
    opts.flags = PEV_DAEMON_WORKERS_OK;
    opts.error = &create_err;
    if ((st = pev_daemon_create(&d, &opts, pool)) != APR_SUCCESS) {
        fprintf(stderr, NAME ": %s\n", create_err ? create_err : pev_strerror(st, err, sizeof err));
        return 1;
    }
    if (check_only) {
        st = pev_daemon_check_config(d);
        if (st == APR_SUCCESS)
            printf(NAME ": configuration %s is valid\n", file ? file : "(embedded default)");
        else
            fprintf(stderr, NAME ": %s\n", *pev_daemon_error(d) ? pev_daemon_error(d)
                                                                : pev_strerror(st, err, sizeof err));
        apr_pool_destroy(pool);
        return st == APR_SUCCESS ? 0 : 1;
    }
    st = pev_daemon_start(d);
    if (st != APR_SUCCESS) {
        fprintf(stderr, NAME ": %s\n", *pev_daemon_error(d) ? pev_daemon_error(d)
                                                            : pev_strerror(st, err, sizeof err));
        apr_pool_destroy(pool);
        return 1;
    }
    st = pev_daemon_run(d);
    if (st != APR_SUCCESS) {
        fprintf(stderr, NAME ": stopped: %s\n", *pev_daemon_error(d) ? pev_daemon_error(d)
                                                   : pev_strerror(st, err, sizeof err));
        apr_pool_destroy(pool);
        return 1;
    }
    apr_pool_destroy(pool);
    return 0;
}
