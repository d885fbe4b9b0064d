/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bridge.c - the Redis bridge (poolev/bridge.h).
 */
#include "config.h"

#include "poolev/bridge.h"

#ifndef HAVE_HIREDIS

/* Built --without-hiredis: the API exists, every call says APR_ENOTIMPL. */

int pev_bridge_available(void)
{
    return 0;
}

void pev_bridge_options_init(pev_bridge_options_t *opts)
{
    (void) opts;
}

apr_status_t pev_bridge_parse_url(pev_bridge_options_t *opts, const char *url,
                                  apr_pool_t *pool)
{
    (void) opts, (void) url, (void) pool;
    return APR_ENOTIMPL;
}

apr_status_t pev_bridge_origins_create(pev_bridge_origins_t **origins, apr_size_t max,
                                       apr_pool_t *pool)
{
    (void) max, (void) pool;
    if (origins)
        *origins = NULL;
    return APR_ENOTIMPL;
}

apr_status_t pev_bridge_create(pev_bridge_t **bridge, pev_loop_t *loop, pev_bus_t *bus,
                               const pev_bridge_options_t *opts, apr_pool_t *pool)
{
    (void) loop, (void) bus, (void) opts, (void) pool;
    if (bridge)
        *bridge = NULL;
    return APR_ENOTIMPL;
}

apr_status_t pev_bridge_export(pev_bridge_t *bridge, const char *name, int flags,
                               pev_bridge_encode_fn *encode, void *user_data)
{
    (void) bridge, (void) name, (void) flags, (void) encode, (void) user_data;
    return APR_ENOTIMPL;
}

apr_status_t pev_bridge_import(pev_bridge_t *bridge, const char *name, int flags,
                               pev_bridge_decode_fn *decode, void *user_data)
{
    (void) bridge, (void) name, (void) flags, (void) decode, (void) user_data;
    return APR_ENOTIMPL;
}

const pev_bridge_msg_t *pev_bridge_current(const pev_bridge_t *bridge)
{
    (void) bridge;
    return NULL;
}

const char *pev_bridge_origin(const pev_bridge_t *bridge)
{
    (void) bridge;
    return NULL;
}

const char *pev_bridge_node_id(const pev_bridge_t *bridge)
{
    (void) bridge;
    return NULL;
}

apr_status_t pev_bridge_stats(const pev_bridge_t *bridge, pev_bridge_stats_t *stats)
{
    (void) bridge, (void) stats;
    return APR_ENOTIMPL;
}

apr_status_t pev_bridge_flush(pev_bridge_t *bridge)
{
    (void) bridge;
    return APR_ENOTIMPL;
}

#else /* HAVE_HIREDIS */

/*
 * How it works (doc/cluster.md has the user's side):
 *  - The bridge's record is malloc'd and counted: one reference for its pool
 *    (dropped by the pool's pre-cleanup), one for each hiredis context alive
 *    (dropped when hiredis frees it, which it defers while the context is
 *    inside one of its callbacks), one for each running dispatch or log
 *    flush. So the reply callbacks, which carry the record as privdata, can
 *    always look at it: after the pool went they only see `dead` and return.
 *  - Two connections (conn_t): PUB publishes, SUB subscribes. Each goes
 *    IDLE (a retry timer armed) -> RESOLVING (a name: a pev_connect() probe)
 *    -> CONNECTING (hiredis context; AUTH, PING and the SUBSCRIBEs sent at
 *    once; the connect timeout armed) -> READY (PING answered, every
 *    subscription confirmed) and back to IDLE on any failure, with bounded
 *    exponential backoff. Everything a connection allocates lives in its
 *    attempt pool, a subpool made anew for each attempt.
 *  - User code (decoders, listeners, the log callback) runs only from reply
 *    callbacks (inside which hiredis defers freeing the context) and from
 *    the bridge's own timers: never from hiredis's cleanup or connect
 *    callbacks, which may not free the context. Log lines are queued and
 *    written from a timer.
 *  - Inbound order: the origins table (pev_bridge_origins_t), malloc'd and
 *    counted (its pool's reference, one per bridge using it), maps (origin,
 *    epoch) to the last sequence number delivered; bridges that replace
 *    one another share it. Bounded: an array of entries linked by index in
 *    hash chains and in a most-recently-seen list, the least recently seen
 *    evicted for a new pair when full.
 *  - The outbound queue is a ring of entries, oldest first; the first
 *    `handed` of them are in hiredis (sent or in its output buffer) and wait
 *    for PUBLISH's reply; the rest wait for the connection, holding a copy
 *    of channel and envelope. The limits count both.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <apr_allocator.h>
#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "poolev/connect.h"
#include "poolev/stream.h"
#include "poolev/watch.h"
#include "bridge_int.h"
#include "bus_int.h"
#include "loop_int.h"

#define ROLE_PUB 0
#define ROLE_SUB 1

#define DEFAULT_HOST "127.0.0.1"
#define DEFAULT_PORT 6379
#define DEFAULT_PREFIX "pev:"
#define DEFAULT_QUEUE_LIMIT 10000
#define DEFAULT_QUEUE_BYTES (16u * 1024u * 1024u)
#define DEFAULT_BACKOFF_MIN (100 * 1000)
#define DEFAULT_BACKOFF_MAX (5 * 1000 * 1000)
#define DEFAULT_CONNECT_TIMEOUT (5 * 1000 * 1000)
#define DEFAULT_COMMAND_TIMEOUT (10 * 1000 * 1000)
#define LOG_INTERVAL (1000 * 1000)  /* counts (drops, gaps) at most this often */
#define NIL 0xffffffffu            /* no entry (the origins table) */
#define SCRATCH_KEEP (64 * 1024)    /* free bytes a scratch pool keeps */
#define EBUF_KEEP (64 * 1024)       /* the envelope buffer kept after a message */
#define RELOG_INTERVAL (30 * 1000 * 1000)   /* a changed failure, at most this often */

/* envelope: "PEV", version, origin length, origin, epoch, seq, event length
 * (16 bits), event, payload length (32 bits), payload; big-endian */
#define ENV_MAGIC "PEV"
#define ENV_FIXED (4 + 1 + 8 + 8 + 2 + 4)
/* the PUBLISH command around channel and envelope: "*3\r\n$7\r\nPUBLISH\r\n",
 * two "$<n>\r\n" and two "\r\n" */
#define CMD_FIXED (17 + 2 * (3 + 20) + 2 * 2)

enum { ST_IDLE, ST_RESOLVING, ST_CONNECTING, ST_READY };

typedef struct match {
    struct match *next;
    const char *name;
    apr_size_t len;
    int prefix;
    pev_bridge_encode_fn *encode;
    pev_bridge_decode_fn *decode;
    void *user_data;
} match_t;

typedef struct qent {
    char *buf;                  /* the PUBLISH command; NULL once handed */
    apr_size_t cmdlen, len;     /* its length, the envelope's */
    apr_time_t t;               /* handed at */
} qent_t;

typedef struct logline {
    struct logline *next;
    int prio;
    char text[];
} logline_t;

typedef struct conn {
    pev_bridge_t *b;
    int role, state;
    redisAsyncContext *ac;
    apr_pool_t *attempt;        /* this attempt's watcher, probe */
    pev_connect_t *probe;
    pev_timer_t *timer;         /* retry; connect or command deadline */
    apr_interval_time_t backoff;
    int ever_ready, failing, ping_ok;
    unsigned pending_subs;
    char logged[256];           /* the failure logged last in this streak */
    apr_time_t logged_at;
} conn_t;

struct pev_bridge {
    unsigned refs;
    int dead;                   /* the pool's cleanup ran */
    int loop_dead;
    apr_pool_t *pool;
    pev_loop_t *loop;
    pev_bus_t *bus;
    pevi_bus_tap_t tap;

    /* settings */
    const char *host, *user, *password, *node_id, *prefix;
    apr_size_t node_len, prefix_len;
    apr_port_t port;
    int numeric;
    apr_size_t qlimit, qbytes_limit;
    apr_interval_time_t backoff_min, backoff_max, connect_timeout, command_timeout;
    pev_bridge_log_fn *log;
    void *log_data;

    match_t *exports, *imports;
    conn_t conn[2];
    int quiet;                  /* PUBLISH replies read with the echoes */

    /* outbound */
    apr_uint64_t epoch, seq;
    qent_t *q;
    apr_size_t qcap, qhead, qcount, handed, qbytes;
    char *ebuf;                 /* PUBLISH command being built */
    apr_size_t ecap;
    apr_pool_t *enc_scratch, *dec_scratch;

    apr_uint64_t rnd;           /* backoff jitter */

    /* inbound */
    pev_bridge_origins_t *origins;  /* (origin, epoch) -> last seq; shared */
    const pev_bridge_msg_t *current;

    /* log */
    logline_t *logs, **logs_tail;
    pev_timer_t *log_timer;
    apr_time_t counts_logged;
    apr_uint64_t drops_unlogged, lost_unlogged, invalid_unlogged;

    pev_bridge_stats_t st;
};

static void conn_start(conn_t *c);
static void origins_unref(pev_bridge_origins_t *o);
static void conn_fail(conn_t *c, const char *fmt, ...) PEV_PRINTF(2, 3);
static void on_conn_timer(pev_timer_t *t, void *user_data);
static void set_quiet(pev_bridge_t *b, int may_start);

/* ------------------------------------------------------------------------ */
/* References and the log                                                    */

static void release(pev_bridge_t *b)
{
    logline_t *l;

    if (--b->refs)
        return;
    while ((l = b->logs) != NULL) {
        b->logs = l->next;
        free(l);
    }
    origins_unref(b->origins);
    free(b->q);
    free(b->ebuf);
    free(b);
}

/* Is the loop still there? (Once it is gone, every timer's loop is NULL;
 * the loop itself is freed memory and may not be asked.) */
static int alive(pev_bridge_t *b)
{
    if (!b->loop_dead && (!b->log_timer || !b->log_timer->loop))
        b->loop_dead = 1;
    return !b->loop_dead;
}

static void timer_at(pev_bridge_t *b, pev_timer_t *t, apr_time_t mark)
{
    if (b->loop_dead || !t)
        return;
    if (pev_timer_rearm(t, mark) == PEV_EDESTROYED)
        b->loop_dead = 1;
}

static void log_kick(pev_bridge_t *b, apr_time_t mark)
{
    if (!pev_timer_armed(b->log_timer) || pev_timer_mark(b->log_timer) > mark)
        timer_at(b, b->log_timer, mark);
}

/* Queue a line; the log timer writes it (never from inside hiredis). */
static void blog(pev_bridge_t *b, int prio, const char *fmt, ...) PEV_PRINTF(3, 4);
static void blog(pev_bridge_t *b, int prio, const char *fmt, ...)
{
    char text[512];
    logline_t *l;
    va_list ap;
    size_t n;

    if (!b->log || b->dead || !alive(b))
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    n = strlen(text);
    l = malloc(sizeof *l + n + 1);
    if (!l)
        return;
    l->next = NULL;
    l->prio = prio;
    memcpy(l->text, text, n + 1);
    *b->logs_tail = l;
    b->logs_tail = &l->next;
    log_kick(b, pev_loop_now(b->loop));
}

/* A count to report (at most once a LOG_INTERVAL). */
static void count_later(pev_bridge_t *b, apr_uint64_t *unlogged, apr_uint64_t n)
{
    *unlogged += n;
    if (b->log && !b->dead && alive(b))
        log_kick(b, b->counts_logged ? b->counts_logged + LOG_INTERVAL : pev_loop_now(b->loop));
}

static void on_log_timer(pev_timer_t *t, void *user_data)
{
    pev_bridge_t *b = user_data;
    logline_t *lines = b->logs, *l;
    char text[512];

    (void) t;
    b->logs = NULL;
    b->logs_tail = &b->logs;
    b->refs++;                  /* the log callback may destroy the pool */
    while ((l = lines) != NULL) {
        lines = l->next;
        if (!b->dead)
            b->log(l->prio, l->text, b->log_data);
        free(l);
    }
    /* a log callback may have destroyed the loop's pool */
    if (!b->dead && alive(b) && (b->drops_unlogged || b->lost_unlogged || b->invalid_unlogged)) {
        apr_time_t now = pev_loop_now(b->loop);

        if (b->counts_logged && now < b->counts_logged + LOG_INTERVAL) {
            log_kick(b, b->counts_logged + LOG_INTERVAL);
        }
        else {
            b->counts_logged = now;
            if (b->drops_unlogged) {
                snprintf(text, sizeof text, "redis bridge: %" APR_UINT64_T_FMT " exported "
                         "messages dropped (queue full or connection lost; %"
                         APR_UINT64_T_FMT " in all)", b->drops_unlogged, b->st.dropped);
                b->drops_unlogged = 0;
                b->log(PEV_BRIDGE_LOG_WARNING, text, b->log_data);
            }
            if (!b->dead && b->lost_unlogged) {
                snprintf(text, sizeof text, "redis bridge: %" APR_UINT64_T_FMT " messages "
                         "of other nodes lost (gaps in their sequence numbers; %"
                         APR_UINT64_T_FMT " in all)", b->lost_unlogged, b->st.lost);
                b->lost_unlogged = 0;
                b->log(PEV_BRIDGE_LOG_WARNING, text, b->log_data);
            }
            if (!b->dead && b->invalid_unlogged) {
                snprintf(text, sizeof text, "redis bridge: %" APR_UINT64_T_FMT " invalid "
                         "messages dropped (%" APR_UINT64_T_FMT " in all)",
                         b->invalid_unlogged, b->st.invalid);
                b->invalid_unlogged = 0;
                b->log(PEV_BRIDGE_LOG_WARNING, text, b->log_data);
            }
        }
    }
    release(b);
}

/* ------------------------------------------------------------------------ */
/* The origins: (origin, epoch) -> the last sequence number delivered        */

/* One (origin, epoch) pair. Entries live in one array and are linked by
 * index: a hash chain, and a list from the most recently seen to the least
 * (the one evicted when the table is full). */
typedef struct oent {
    char *origin;               /* malloc'd, olen bytes */
    apr_size_t olen;
    apr_uint64_t epoch, last;
    apr_uint32_t hash, chain, newer, older;
} oent_t;

struct pev_bridge_origins {
    unsigned refs;              /* the pool's (if any), one per bridge */
    apr_uint32_t max, n, cap;   /* most entries, entries, room */
    oent_t *e;
    apr_uint32_t *bucket;       /* heads of the chains; nb a power of 2 */
    apr_uint32_t nb;
    apr_uint32_t newest, oldest;
};

static apr_uint32_t o_hash(const unsigned char *origin, apr_size_t olen, apr_uint64_t epoch)
{
    apr_uint32_t h = 2166136261u;
    apr_size_t i;

    for (i = 0; i < olen; i++)
        h = (h ^ origin[i]) * 16777619u;
    for (i = 0; i < 8; i++, epoch >>= 8)
        h = (h ^ (unsigned char) epoch) * 16777619u;
    return h;
}

static void origins_unref(pev_bridge_origins_t *o)
{
    apr_uint32_t i;

    if (--o->refs)
        return;
    for (i = 0; i < o->n; i++)
        free(o->e[i].origin);
    free(o->e);
    free(o->bucket);
    free(o);
}

static apr_status_t origins_cleanup(void *data)
{
    origins_unref(data);
    return APR_SUCCESS;
}

static pev_bridge_origins_t *origins_new(apr_size_t max)
{
    pev_bridge_origins_t *o = calloc(1, sizeof *o);

    if (!o)
        return NULL;
    o->refs = 1;
    o->max = (apr_uint32_t) (max ? max : PEV_BRIDGE_ORIGINS_DEFAULT);
    o->newest = o->oldest = NIL;
    return o;
}

static void o_unlink_lru(pev_bridge_origins_t *o, apr_uint32_t i)
{
    oent_t *x = &o->e[i];

    if (x->newer != NIL)
        o->e[x->newer].older = x->older;
    else
        o->newest = x->older;
    if (x->older != NIL)
        o->e[x->older].newer = x->newer;
    else
        o->oldest = x->newer;
}

static void o_push_newest(pev_bridge_origins_t *o, apr_uint32_t i)
{
    oent_t *x = &o->e[i];

    x->newer = NIL;
    x->older = o->newest;
    if (o->newest != NIL)
        o->e[o->newest].newer = i;
    o->newest = i;
    if (o->oldest == NIL)
        o->oldest = i;
}

/* Room for one more entry: the array and the buckets grow by doubling up
 * to max. 0 when out of memory. */
static int o_grow(pev_bridge_origins_t *o)
{
    apr_uint32_t cap = o->cap ? o->cap * 2 : 16, nb, i;
    apr_uint32_t *bucket;
    oent_t *e;

    if (cap > o->max)
        cap = o->max;
    e = realloc(o->e, (size_t) cap * sizeof *e);
    if (!e)
        return 0;
    o->e = e;
    o->cap = cap;
    for (nb = 16; nb < 2 * cap; nb *= 2)
        ;
    if (nb == o->nb)
        return 1;
    bucket = malloc((size_t) nb * sizeof *bucket);
    if (!bucket)
        return o->nb > 0;       /* the old buckets still work */
    memset(bucket, 0xff, (size_t) nb * sizeof *bucket);
    for (i = 0; i < o->n; i++) {
        o->e[i].chain = bucket[o->e[i].hash & (nb - 1)];
        bucket[o->e[i].hash & (nb - 1)] = i;
    }
    free(o->bucket);
    o->bucket = bucket;
    o->nb = nb;
    return 1;
}

/* The last sequence number of (origin, epoch), its entry made the most
 * recently seen; a new entry (*last 0) when the pair is not known, the
 * least recently seen pair evicted (*evicted 1) when the table is full.
 * NULL when out of memory. */
static apr_uint64_t *o_find(pev_bridge_origins_t *o, const unsigned char *origin,
                            apr_size_t olen, apr_uint64_t epoch, int *evicted)
{
    apr_uint32_t h = o_hash(origin, olen, epoch), i, *pp;
    oent_t *x;
    char *copy;

    *evicted = 0;
    if (o->nb)
        for (i = o->bucket[h & (o->nb - 1)]; i != NIL; i = o->e[i].chain) {
            x = &o->e[i];
            if (x->hash == h && x->epoch == epoch && x->olen == olen
                && memcmp(x->origin, origin, olen) == 0) {
                if (o->newest != i) {
                    o_unlink_lru(o, i);
                    o_push_newest(o, i);
                }
                return &x->last;
            }
        }
    copy = malloc(olen ? olen : 1);
    if (!copy)
        return NULL;
    memcpy(copy, origin, olen);
    if (o->n < o->max && (o->n < o->cap || o_grow(o))) {
        i = o->n++;
    }
    else if (o->n == 0) {
        free(copy);
        return NULL;
    }
    else {
        /* full: the least recently seen pair goes */
        i = o->oldest;
        x = &o->e[i];
        for (pp = &o->bucket[x->hash & (o->nb - 1)]; *pp != i; pp = &o->e[*pp].chain)
            ;
        *pp = x->chain;
        o_unlink_lru(o, i);
        free(x->origin);
        *evicted = 1;
    }
    x = &o->e[i];
    x->origin = copy;
    x->olen = olen;
    x->epoch = epoch;
    x->last = 0;
    x->hash = h;
    x->chain = o->bucket[h & (o->nb - 1)];
    o->bucket[h & (o->nb - 1)] = i;
    o_push_newest(o, i);
    return &x->last;
}

/* ------------------------------------------------------------------------ */
/* The outbound queue                                                        */

static qent_t *q_at(pev_bridge_t *b, apr_size_t i)
{
    return &b->q[(b->qhead + i) % b->qcap];
}

static int q_grow(pev_bridge_t *b)
{
    apr_size_t cap = b->qcap ? b->qcap * 2 : 64, i;
    qent_t *q;

    if (cap > b->qlimit)
        cap = b->qlimit;
    q = malloc(cap * sizeof *q);
    if (!q)
        return 0;
    for (i = 0; i < b->qcount; i++)
        q[i] = *q_at(b, i);
    free(b->q);
    b->q = q;
    b->qcap = cap;
    b->qhead = 0;
    return 1;
}

static void q_pop(pev_bridge_t *b)
{
    qent_t *e = q_at(b, 0);

    free(e->buf);
    b->qbytes -= e->len;
    b->qhead = (b->qhead + 1) % b->qcap;
    b->qcount--;
}

static void on_published(redisAsyncContext *ac, void *reply, void *privdata)
{
    pev_bridge_t *b = privdata;
    redisReply *r = reply;

    (void) ac;
    if (b->dead || !b->handed)
        return;
    q_pop(b);
    b->handed--;
    if (r && r->type != REDIS_REPLY_ERROR) {
        b->st.sent++;
        return;
    }
    b->st.dropped++;
    if (r)
        snprintf(b->st.last_error, sizeof b->st.last_error, "PUBLISH: %s", r->str);
    count_later(b, &b->drops_unlogged, 1);
}

/* Give hiredis one PUBLISH, formatted already (RESP); 0 if it refuses (the
 * context is closing). */
static int hand(pev_bridge_t *b, const char *cmd, apr_size_t len)
{
    return redisAsyncFormattedCommand(b->conn[ROLE_PUB].ac, on_published, b, cmd, len)
        == REDIS_OK;
}

static void arm_command_deadline(pev_bridge_t *b)
{
    conn_t *c = &b->conn[ROLE_PUB];

    if (c->state == ST_READY && b->handed && !pev_timer_armed(c->timer))
        timer_at(b, c->timer, q_at(b, 0)->t + b->command_timeout);
}

/* The publishing connection is ready: hand it what waits. */
static void flush(pev_bridge_t *b)
{
    apr_time_t now = pev_loop_now(b->loop);

    while (b->handed < b->qcount) {
        qent_t *e = q_at(b, b->handed);

        if (!hand(b, e->buf, e->cmdlen))
            break;
        free(e->buf);
        e->buf = NULL;
        e->t = now;
        b->handed++;
    }
    arm_command_deadline(b);
}

static void put64(unsigned char *p, apr_uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char) v;
}

static apr_uint64_t get64(const unsigned char *p)
{
    apr_uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static const match_t *find_match(const match_t *m, const char *event, apr_size_t len)
{
    for (; m; m = m->next)
        if (m->prefix ? len >= m->len && memcmp(event, m->name, m->len) == 0
                      : len == m->len && memcmp(event, m->name, len) == 0)
            return m;
    return NULL;
}

/* "$<n>\r\n" at @a p; its length. */
static apr_size_t put_bulk_len(unsigned char *p, apr_size_t n)
{
    char digits[24];
    apr_size_t k = 0, i;

    do
        digits[k++] = (char) ('0' + n % 10);
    while ((n /= 10) != 0);
    p[0] = '$';
    for (i = 0; i < k; i++)
        p[1 + i] = (unsigned char) digits[k - 1 - i];
    p[1 + k] = '\r';
    p[2 + k] = '\n';
    return 3 + k;
}

/* After a message that needed more than EBUF_KEEP: the buffer goes (the
 * next message makes one of its own size). */
static void ebuf_trim(pev_bridge_t *b)
{
    if (b->ecap > EBUF_KEEP) {
        free(b->ebuf);
        b->ebuf = NULL;
        b->ecap = 0;
    }
}

static void drop(pev_bridge_t *b)
{
    b->st.dropped++;
    count_later(b, &b->drops_unlogged, 1);
}

/* The bus tap: every generate on the bus. */
static void on_generate(void *user_data, const char *event, const void *event_data)
{
    pev_bridge_t *b = user_data;
    apr_size_t evlen, len, envlen, need, chlen, cmdlen;
    const match_t *m;
    const void *data;
    unsigned char *p;
    conn_t *pub = &b->conn[ROLE_PUB];

    if (!b->exports || b->dead)
        return;
    evlen = strlen(event);
    m = find_match(b->exports, event, evlen);
    if (!m || evlen > 0xffff)
        return;
    if (!alive(b)) {            /* nothing will ever send it */
        b->st.dropped++;
        return;
    }
    if (m->encode) {
        apr_status_t st;

        b->refs++;              /* the encoder may destroy the pool */
        st = m->encode(&data, &len, event, event_data, b->enc_scratch, m->user_data);
        if (b->dead) {          /* the scratch pool went, and the data in it */
            release(b);
            return;
        }
        b->refs--;              /* not the last: the pool's is there */
        if (st != APR_SUCCESS) {
            apr_pool_clear(b->enc_scratch);
            return;
        }
        if (!alive(b)) {        /* it destroyed the loop's pool */
            apr_pool_clear(b->enc_scratch);
            b->st.dropped++;
            return;
        }
    }
    else {
        const pev_bridge_msg_t *msg = event_data;

        if (!msg) {
            return;
        }
        data = msg->data;
        len = msg->len;
    }
    envlen = ENV_FIXED + b->node_len + evlen + len;
    /* quiet, and no echo came to read the replies: the queue holds
     * messages Redis may have answered already */
    if (b->quiet && b->handed && pub->ac
        && (b->qcount >= b->qlimit || b->qbytes + envlen > b->qbytes_limit))
        pevi_redis_read_now(pub->ac);   /* no callback of the caller's */
    b->seq++;                   /* a message given up leaves its gap */
    if (len > PEV_BRIDGE_MAX_PAYLOAD || b->qcount >= b->qlimit
        || b->qbytes + envlen > b->qbytes_limit) {
        apr_pool_clear(b->enc_scratch);
        drop(b);
        return;
    }
    /* the PUBLISH command in RESP, built here (no formatting by hiredis):
     * "*3\r\n$7\r\nPUBLISH\r\n$<n>\r\n<channel>\r\n$<n>\r\n<envelope>\r\n" */
    chlen = b->prefix_len + evlen;
    need = CMD_FIXED + chlen + envlen;
    if (need > b->ecap) {
        char *nb = realloc(b->ebuf, need);

        if (!nb) {
            apr_pool_clear(b->enc_scratch);
            drop(b);
            return;
        }
        b->ebuf = nb;
        b->ecap = need;
    }
    p = (unsigned char *) b->ebuf;
    memcpy(p, "*3\r\n$7\r\nPUBLISH\r\n", 17);
    p += 17;
    p += put_bulk_len(p, chlen);
    memcpy(p, b->prefix, b->prefix_len);
    memcpy(p + b->prefix_len, event, evlen);
    p += chlen;
    memcpy(p, "\r\n", 2);
    p += 2;
    p += put_bulk_len(p, envlen);
    /* the envelope */
    memcpy(p, ENV_MAGIC, 3);
    p[3] = PEV_BRIDGE_ENVELOPE_VERSION;
    p[4] = (unsigned char) b->node_len;
    memcpy(p + 5, b->node_id, b->node_len);
    p += 5 + b->node_len;
    put64(p, b->epoch);
    put64(p + 8, b->seq);
    p[16] = (unsigned char) (evlen >> 8);
    p[17] = (unsigned char) evlen;
    memcpy(p + 18, event, evlen);
    p += 18 + evlen;
    p[0] = (unsigned char) (len >> 24);
    p[1] = (unsigned char) (len >> 16);
    p[2] = (unsigned char) (len >> 8);
    p[3] = (unsigned char) len;
    if (len)
        memcpy(p + 4, data, len);
    p += 4 + len;
    memcpy(p, "\r\n", 2);
    cmdlen = (apr_size_t) (p + 2 - (unsigned char *) b->ebuf);
    apr_pool_clear(b->enc_scratch);
    if (b->qcount == b->qcap && !q_grow(b)) {
        ebuf_trim(b);
        drop(b);
        return;
    }
    {
        qent_t *e = q_at(b, b->qcount);

        e->cmdlen = cmdlen;
        e->len = envlen;
        e->t = pev_loop_now(b->loop);
        e->buf = NULL;
        if (pub->state == ST_READY && b->handed == b->qcount && hand(b, b->ebuf, cmdlen)) {
            b->qcount++;
            b->handed++;
            b->qbytes += envlen;
            ebuf_trim(b);
            arm_command_deadline(b);
            return;
        }
        /* the connection is not ready: a copy waits */
        if (b->ecap > EBUF_KEEP) {
            e->buf = b->ebuf;   /* the large buffer itself */
            b->ebuf = NULL;
            b->ecap = 0;
        }
        else if ((e->buf = malloc(cmdlen)) == NULL) {
            drop(b);
            return;
        }
        else {
            memcpy(e->buf, b->ebuf, cmdlen);
        }
        b->qcount++;
        b->qbytes += envlen;
    }
}

/* ------------------------------------------------------------------------ */
/* Inbound                                                                   */

static void invalid(pev_bridge_t *b)
{
    b->st.invalid++;
    count_later(b, &b->invalid_unlogged, 1);
}

static void on_message(pev_bridge_t *b, const char *ch, apr_size_t chlen,
                       const unsigned char *p, apr_size_t n)
{
    pev_bridge_msg_t msg;
    const unsigned char *origin, *event, *payload;
    apr_size_t olen, evlen, plen;
    const match_t *m;
    const pev_bridge_msg_t *outer;
    const void *data;
    apr_uint64_t *last;
    int evicted;
    apr_status_t st;

    /* the envelope */
    if (n < ENV_FIXED || memcmp(p, ENV_MAGIC, 3) != 0 || p[3] != PEV_BRIDGE_ENVELOPE_VERSION)
        goto bad;
    olen = p[4];
    if (olen == 0 || n < ENV_FIXED + olen)
        goto bad;
    origin = p + 5;
    msg.epoch = get64(origin + olen);
    msg.seq = get64(origin + olen + 8);
    evlen = (apr_size_t) origin[olen + 16] << 8 | origin[olen + 17];
    event = origin + olen + 18;
    if (evlen == 0 || n < ENV_FIXED + olen + evlen || msg.seq == 0)
        goto bad;
    plen = (apr_size_t) event[evlen] << 24 | (apr_size_t) event[evlen + 1] << 16
        | (apr_size_t) event[evlen + 2] << 8 | event[evlen + 3];
    payload = event + evlen + 4;
    if (n != ENV_FIXED + olen + evlen + plen || memchr(event, 0, evlen)
        || memchr(origin, 0, olen))
        goto bad;
    /* its channel is the event's */
    if (chlen != b->prefix_len + evlen || memcmp(ch, b->prefix, b->prefix_len) != 0
        || memcmp(ch + b->prefix_len, event, evlen) != 0)
        goto bad;
    if (olen == b->node_len && memcmp(origin, b->node_id, olen) == 0) {
        b->st.own++;
        return;
    }
    m = find_match(b->imports, (const char *) event, evlen);
    if (!m)
        goto bad;

    /* per (origin, epoch): in order, once; gaps are losses */
    last = o_find(b->origins, origin, olen, msg.epoch, &evicted);
    if (!last)
        goto bad;               /* out of memory: not deliverable in order */
    if (evicted)
        b->st.forgotten++;
    if (msg.seq <= *last) {
        b->st.repeated++;
        return;
    }
    if (*last && msg.seq > *last + 1) {
        b->st.lost += msg.seq - *last - 1;
        count_later(b, &b->lost_unlogged, msg.seq - *last - 1);
    }
    *last = msg.seq;
    b->st.received++;

    msg.event = apr_pstrmemdup(b->dec_scratch, (const char *) event, evlen);
    msg.origin = apr_pstrmemdup(b->dec_scratch, (const char *) origin, olen);
    msg.data = payload;
    msg.len = plen;
    outer = b->current;
    b->current = &msg;
    b->refs++;                  /* a decoder or listener may destroy the pool */
    data = &msg;
    st = APR_SUCCESS;
    if (m->decode)
        st = m->decode(&data, &msg, b->dec_scratch, m->user_data);
    if (!b->dead) {
        if (st != APR_SUCCESS)
            invalid(b);
        else if (!b->tap.bus)
            ;                   /* the bus is gone */
        else if (pevi_bus_generate_untapped(b->bus, msg.event, data) == PEV_EDESTROYED)
            b->bus = NULL;
    }
    b->current = outer;
    if (!b->dead)
        apr_pool_clear(b->dec_scratch);
    release(b);
    return;

bad:
    invalid(b);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

static const char *role_name(const conn_t *c)
{
    return c->role == ROLE_PUB ? "publishing" : "subscribing";
}

static void maybe_ready(conn_t *c)
{
    pev_bridge_t *b = c->b;

    if (c->state != ST_CONNECTING || !c->ping_ok || c->pending_subs)
        return;
    c->state = ST_READY;
    if (pev_timer_armed(c->timer))
        pev_timer_cancel(c->timer);
    c->backoff = b->backoff_min;
    if (c->ever_ready)
        b->st.reconnects++;
    if (c->failing || !c->ever_ready)
        blog(b, PEV_BRIDGE_LOG_NOTICE, "redis bridge: %s connection to %s:%u up%s",
             role_name(c), b->host, (unsigned) b->port, c->ever_ready ? " again" : "");
    c->ever_ready = 1;
    c->failing = 0;
    c->logged[0] = 0;
    set_quiet(b, 1);
    if (c->role == ROLE_PUB)
        flush(b);
}

/* Does every export come back on the subscribing connection (an import
 * matches all it matches)? */
static int echoed(const pev_bridge_t *b)
{
    const match_t *e, *i;

    for (e = b->exports; e; e = e->next) {
        for (i = b->imports; i; i = i->next)
            if (i->prefix ? e->len >= i->len && memcmp(e->name, i->name, i->len) == 0
                          : !e->prefix && e->len == i->len && memcmp(e->name, i->name, i->len) == 0)
                break;
        if (!i)
            return 0;
    }
    return 1;
}

/*
 * PUBLISH replies without a wakeup of their own: Redis writes a PUBLISH's
 * reply before the message to the subscribers, so on a machine short of
 * cores the publishing node, woken for its reply, takes the core the
 * receiving node needs. While both connections are ready and every export
 * comes back as an echo on the subscribing connection (which Redis writes
 * after the reply, and which wakes the node), the publishing connection is
 * quiet (pevi_redis_quiet()): its replies are read after each message the
 * subscribing connection brings, at the end of that iteration; if none
 * comes, the command deadline reads them before it gives up. End of file
 * and errors wake the loop as before. @a may_start: may turn quiet on
 * (else only off).
 */
static void set_quiet(pev_bridge_t *b, int may_start)
{
    redisAsyncContext *ac = b->conn[ROLE_PUB].ac;
    int on = b->conn[ROLE_PUB].state == ST_READY && b->conn[ROLE_SUB].state == ST_READY
             && ac && echoed(b);

    if (on == b->quiet || (on && !may_start))
        return;
    b->quiet = on;
    if (ac)
        pevi_redis_quiet(ac, on);
}

/* The subscribing connection has something to read (pevi_redis_on_readable()):
 * in quiet mode, the replies Redis wrote before it wait on the publishing
 * connection. */
static void on_sub_readable(void *arg)
{
    pev_bridge_t *b = arg;

    if (!b->dead && b->quiet && b->handed && b->conn[ROLE_PUB].ac)
        pevi_redis_read_soon(b->conn[ROLE_PUB].ac);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata, const char *what)
{
    conn_t *c = privdata;
    redisReply *r = reply;

    if (c->b->dead || !r || ac != c->ac)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        conn_fail(c, "%s: %s", what, r->str);
        return;
    }
    if (strcmp(what, "PING") == 0) {
        c->ping_ok = 1;
        maybe_ready(c);
    }
}

static void on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    on_reply(ac, reply, privdata, "AUTH");
}

static void on_ping(redisAsyncContext *ac, void *reply, void *privdata)
{
    on_reply(ac, reply, privdata, "PING");
}

static void on_sub(redisAsyncContext *ac, void *reply, void *privdata)
{
    conn_t *c = privdata;
    pev_bridge_t *b = c->b;
    redisReply *r = reply, **e;
    const char *kind;

    if (b->dead || !r || ac != c->ac)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        conn_fail(c, "SUBSCRIBE: %s", r->str);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3
        || r->element[0]->type != REDIS_REPLY_STRING)
        return;
    e = r->element;
    kind = e[0]->str;
    if (strcmp(kind, "message") == 0 && e[1]->type == REDIS_REPLY_STRING
        && e[2]->type == REDIS_REPLY_STRING) {
        on_message(b, e[1]->str, e[1]->len, (const unsigned char *) e[2]->str, e[2]->len);
    }
    else if (strcmp(kind, "pmessage") == 0 && r->elements >= 4
             && e[2]->type == REDIS_REPLY_STRING && e[3]->type == REDIS_REPLY_STRING) {
        on_message(b, e[2]->str, e[2]->len, (const unsigned char *) e[3]->str, e[3]->len);
    }
    else if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "psubscribe") == 0) {
        if (c->pending_subs) {
            c->pending_subs--;
            maybe_ready(c);
        }
    }
}

/* SUBSCRIBE or PSUBSCRIBE for one import on @a c's context. */
static void subscribe(conn_t *c, const match_t *m)
{
    pev_bridge_t *b = c->b;
    apr_size_t n = b->prefix_len + m->len, i, k = 0;
    char *ch = malloc(2 * n + 2);
    const char *argv[2];
    size_t lens[2];

    if (!ch)
        return;
    if (m->prefix) {
        /* glob characters of the channel's prefix and the name escaped */
        const char *parts[2] = { b->prefix, m->name };
        apr_size_t plen[2] = { b->prefix_len, m->len };
        int j;

        for (j = 0; j < 2; j++)
            for (i = 0; i < plen[j]; i++) {
                char x = parts[j][i];

                if (x == '*' || x == '?' || x == '[' || x == ']' || x == '\\')
                    ch[k++] = '\\';
                ch[k++] = x;
            }
        ch[k++] = '*';
        argv[0] = "PSUBSCRIBE";
    }
    else {
        memcpy(ch, b->prefix, b->prefix_len);
        memcpy(ch + b->prefix_len, m->name, m->len);
        k = n;
        argv[0] = "SUBSCRIBE";
    }
    argv[1] = ch;
    lens[0] = strlen(argv[0]);
    lens[1] = k;
    if (redisAsyncCommandArgv(c->ac, on_sub, c, 2, argv, lens) == REDIS_OK
        && c->state != ST_READY)
        c->pending_subs++;
    free(ch);
}

/* hiredis frees a context (its cleanup callback, bridge_int.h). */
static void on_gone(void *arg, redisAsyncContext *ac)
{
    conn_t *c = arg;
    pev_bridge_t *b = c->b;

    if (c->ac == ac) {          /* an error or EOF, not the bridge's doing */
        const char *why = ac->errstr[0] ? ac->errstr : "connection closed";

        c->ac = NULL;
        if (b->dead)
            ;
        else if (c->state == ST_READY)  /* the log line names the host */
            conn_fail(c, "%s", why);
        else
            conn_fail(c, "connect %s:%u: %s", b->host, (unsigned) b->port, why);
    }
    release(b);
}

static void connect_ac(conn_t *c, const char *ip)
{
    pev_bridge_t *b = c->b;
    redisAsyncContext *ac = redisAsyncConnect(ip, (int) b->port);
    apr_status_t st;
    match_t *m;

    if (!ac) {
        conn_fail(c, "connect %s:%u: out of memory", ip, (unsigned) b->port);
        return;
    }
    if (ac->err) {
        char text[160];

        snprintf(text, sizeof text, "%s", ac->errstr);
        redisAsyncFree(ac);     /* no adapter yet: freed at once */
        conn_fail(c, "connect %s:%u: %s", ip, (unsigned) b->port, text);
        return;
    }
    st = pevi_redis_attach(ac, b->loop, c->attempt, on_gone, c);
    if (st != APR_SUCCESS) {
        redisAsyncFree(ac);
        if (st == PEV_EDESTROYED)
            b->loop_dead = 1;
        else
            conn_fail(c, "connect %s:%u: cannot watch the socket (%d)", ip,
                      (unsigned) b->port, st);
        return;
    }
    ac->data = c;
    c->ac = ac;
    b->refs++;                  /* until on_gone */
    if (c->role == ROLE_SUB)
        pevi_redis_on_readable(ac, on_sub_readable, b);
    c->state = ST_CONNECTING;
    c->ping_ok = 0;
    c->pending_subs = 0;
    /* pipelined: hiredis sends them once connected, Redis answers in order */
    if (b->password) {
        const char *argv[3] = { "AUTH", b->user ? b->user : b->password, b->password };
        int argc = b->user ? 3 : 2;

        redisAsyncCommandArgv(ac, on_auth, c, argc, argv, NULL);
    }
    redisAsyncCommand(ac, on_ping, c, "PING");
    if (c->role == ROLE_SUB)
        for (m = b->imports; m; m = m->next)
            subscribe(c, m);
}

static void on_probe(pev_connect_t *req, apr_status_t status, pev_stream_t *stream,
                     void *user_data)
{
    conn_t *c = user_data;
    apr_sockaddr_t *sa;
    char *ip, buf[64];

    c->probe = NULL;
    if (status != APR_SUCCESS) {
        conn_fail(c, "%s", pev_connect_error(req));
        return;
    }
    if (apr_socket_addr_get(&sa, APR_REMOTE, pev_stream_socket(stream)) != APR_SUCCESS
        || apr_sockaddr_ip_get(&ip, sa) != APR_SUCCESS) {
        pev_stream_abort(stream);
        conn_fail(c, "connect %s:%u: no address", c->b->host, (unsigned) c->b->port);
        return;
    }
    apr_cpystrn(buf, ip, sizeof buf);
    pev_stream_abort(stream);
    connect_ac(c, buf);
}

static void conn_start(conn_t *c)
{
    pev_bridge_t *b = c->b;
    apr_status_t st;

    if (c->attempt)
        apr_pool_destroy(c->attempt);
    c->attempt = NULL;
    c->probe = NULL;
    if (apr_pool_create(&c->attempt, b->pool) != APR_SUCCESS) {
        conn_fail(c, "out of memory");
        return;
    }
    timer_at(b, c->timer, pev_loop_now(b->loop) + b->connect_timeout);
    if (b->numeric) {
        c->state = ST_CONNECTING;
        connect_ac(c, b->host);
        return;
    }
    c->state = ST_RESOLVING;
    st = pev_connect(&c->probe, b->loop, b->host, b->port, b->connect_timeout, on_probe, c,
                     c->attempt);
    if (st == PEV_EDESTROYED)
        b->loop_dead = 1;
    else if (st != APR_SUCCESS)
        conn_fail(c, "connect %s:%u: cannot start (%d)", b->host, (unsigned) b->port, st);
}

/* A connection failed or was lost: close it, retry after the backoff. */
static void conn_fail(conn_t *c, const char *fmt, ...)
{
    pev_bridge_t *b = c->b;
    redisAsyncContext *ac = c->ac;
    char text[256];
    va_list ap;
    int was_ready = c->state == ST_READY;
    apr_interval_time_t delay;
    apr_time_t now;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(b->st.last_error, sizeof b->st.last_error, "%s", text);
    if (c->state == ST_IDLE)
        return;
    c->state = ST_IDLE;
    c->ping_ok = 0;
    c->pending_subs = 0;
    now = alive(b) ? pev_loop_now(b->loop) : 0;
    if (was_ready) {
        blog(b, PEV_BRIDGE_LOG_INFO, "redis bridge: %s connection to %s:%u lost: %s; "
             "reconnecting", role_name(c), b->host, (unsigned) b->port, text);
        c->failing = 1;
        apr_cpystrn(c->logged, text, sizeof c->logged);
        c->logged_at = now;
    }
    else {
        b->st.failures++;
        /* once per streak of failures; a changed error at most every
         * RELOG_INTERVAL (refused, timed out, refused... is not news) */
        if (!c->failing
            || (strcmp(c->logged, text) != 0 && now - c->logged_at >= RELOG_INTERVAL)) {
            blog(b, PEV_BRIDGE_LOG_ERR, "redis bridge: %s connection to %s:%u failed: %s; "
                 "retrying (backoff up to %" APR_TIME_T_FMT " ms, not logged again)",
                 role_name(c), b->host, (unsigned) b->port, text,
                 (apr_time_t) (b->backoff_max / 1000));
            apr_cpystrn(c->logged, text, sizeof c->logged);
            c->logged_at = now;
        }
        c->failing = 1;
    }
    if (c->probe) {
        pev_connect_cancel(c->probe);
        c->probe = NULL;
    }
    if (ac) {
        c->ac = NULL;
        /* deferred by hiredis inside its callbacks; its pending callbacks
         * run with NULL replies (in-flight PUBLISHes: dropped) */
        redisAsyncFree(ac);
    }
    /* the delay, with +-25% jitter so that a fleet does not retry in step */
    delay = was_ready ? b->backoff_min : c->backoff;
    b->rnd = b->rnd * 6364136223846793005ull + 1442695040888963407ull;
    delay += (apr_interval_time_t) ((double) delay * (((double) (b->rnd >> 11)
                                                       / 9007199254740992.0) - 0.5) / 2);
    set_quiet(b, 0);
    timer_at(b, c->timer, now + delay);
    if (!was_ready) {
        c->backoff *= 2;
        if (c->backoff > b->backoff_max)
            c->backoff = b->backoff_max;
    }
}

static void on_conn_timer(pev_timer_t *t, void *user_data)
{
    conn_t *c = user_data;
    pev_bridge_t *b = c->b;

    (void) t;
    switch (c->state) {
    case ST_IDLE:
        conn_start(c);
        break;
    case ST_RESOLVING:
    case ST_CONNECTING:
        conn_fail(c, "connect %s:%u: timed out", b->host, (unsigned) b->port);
        break;
    case ST_READY:
        /* the publishing connection's oldest PUBLISH waits for its reply */
        if (c->role == ROLE_PUB && b->handed) {
            apr_time_t due = q_at(b, 0)->t + b->command_timeout;

            if (due <= pev_loop_now(b->loop) && b->quiet && c->ac) {
                pevi_redis_read_now(c->ac);     /* replies not read yet? */
                if (c->state != ST_READY || !b->handed)
                    break;                      /* lost meanwhile, or all read */
                due = q_at(b, 0)->t + b->command_timeout;
            }
            if (due <= pev_loop_now(b->loop))
                conn_fail(c, "PUBLISH: no reply within %" APR_TIME_T_FMT " ms",
                          (apr_time_t) (b->command_timeout / 1000));
            else
                timer_at(b, c->timer, due);
        }
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* The pool                                                                  */

static apr_status_t bridge_cleanup(void *data)
{
    pev_bridge_t *b = data;
    int i;

    b->dead = 1;
    pevi_bus_tap_remove(&b->tap);
    for (i = 0; i < 2; i++) {
        conn_t *c = &b->conn[i];
        redisAsyncContext *ac = c->ac;

        if (ac) {
            c->ac = NULL;
            pevi_redis_detach(ac);
            redisAsyncFree(ac); /* deferred inside one of its callbacks */
        }
    }
    while (b->qcount)
        q_pop(b);
    b->handed = 0;
    release(b);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* API                                                                       */

int pev_bridge_available(void)
{
    return 1;
}

void pev_bridge_options_init(pev_bridge_options_t *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->host = DEFAULT_HOST;
    o->port = DEFAULT_PORT;
    o->channel_prefix = DEFAULT_PREFIX;
    o->queue_limit = DEFAULT_QUEUE_LIMIT;
    o->queue_bytes = DEFAULT_QUEUE_BYTES;
    o->backoff_min = DEFAULT_BACKOFF_MIN;
    o->backoff_max = DEFAULT_BACKOFF_MAX;
    o->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
    o->command_timeout = DEFAULT_COMMAND_TIMEOUT;
}

apr_status_t pev_bridge_parse_url(pev_bridge_options_t *opts, const char *url,
                                  apr_pool_t *pool)
{
    const char *p, *at, *hend, *colon;
    char *host;
    long port = DEFAULT_PORT;

    if (!opts || !url || !pool || strncmp(url, "redis://", 8) != 0)
        return APR_EINVAL;
    p = url + 8;
    at = strrchr(p, '@');
    if (at) {
        const char *c = memchr(p, ':', (size_t) (at - p));

        if (!c)
            return APR_EINVAL;
        opts->user = c > p ? apr_pstrmemdup(pool, p, (apr_size_t) (c - p)) : NULL;
        opts->password = apr_pstrmemdup(pool, c + 1, (apr_size_t) (at - c - 1));
        p = at + 1;
    }
    if (*p == '[') {
        hend = strchr(p, ']');
        if (!hend || hend == p + 1)
            return APR_EINVAL;
        host = apr_pstrmemdup(pool, p + 1, (apr_size_t) (hend - p - 1));
        colon = hend[1] == ':' ? hend + 1 : NULL;
        if (!colon && hend[1] && strcmp(hend + 1, "/") != 0)
            return APR_EINVAL;
    }
    else {
        colon = strchr(p, ':');
        hend = colon ? colon : p + strcspn(p, "/");
        if (hend == p)
            return APR_EINVAL;
        host = apr_pstrmemdup(pool, p, (apr_size_t) (hend - p));
        if (!colon && *hend && strcmp(hend, "/") != 0)
            return APR_EINVAL;
    }
    if (colon) {
        char *end;

        port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || (*end && strcmp(end, "/") != 0) || port < 1 || port > 65535)
            return APR_EINVAL;
    }
    opts->host = host;
    opts->port = (apr_port_t) port;
    return APR_SUCCESS;
}

/* A scratch pool of its own allocator, which keeps at most SCRATCH_KEEP
 * bytes of free blocks after a clear: a large encoding or decoding does not
 * stay behind. */
static apr_status_t scratch_create(apr_pool_t **out, apr_pool_t *parent)
{
    apr_allocator_t *a;
    apr_status_t st;

    if ((st = apr_allocator_create(&a)) != APR_SUCCESS)
        return st;
    apr_allocator_max_free_set(a, SCRATCH_KEEP);
    if ((st = apr_pool_create_ex(out, parent, NULL, a)) != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return st;
    }
    apr_allocator_owner_set(a, *out);
    return APR_SUCCESS;
}

apr_status_t pev_bridge_origins_create(pev_bridge_origins_t **out, apr_size_t max,
                                       apr_pool_t *pool)
{
    pev_bridge_origins_t *o;

    if (out)
        *out = NULL;
    if (!out || !pool || max > PEV_BRIDGE_ORIGINS_MAX)
        return APR_EINVAL;
    if ((o = origins_new(max)) == NULL)
        return APR_ENOMEM;
    apr_pool_cleanup_register(pool, o, origins_cleanup, apr_pool_cleanup_null);
    *out = o;
    return APR_SUCCESS;
}

apr_status_t pev_bridge_create(pev_bridge_t **out, pev_loop_t *loop, pev_bus_t *bus,
                               const pev_bridge_options_t *opts, apr_pool_t *pool)
{
    pev_bridge_options_t dflt;
    pev_bridge_t *b;
    unsigned char rnd[16];
    struct in6_addr a6;
    apr_status_t st;
    int i;

    if (out)
        *out = NULL;
    if (!out || !loop || !bus || !pool)
        return APR_EINVAL;
    if (!opts) {
        pev_bridge_options_init(&dflt);
        opts = &dflt;
    }
    if (!opts->host || !*opts->host || opts->port == 0 || opts->backoff_min <= 0
        || opts->backoff_max < opts->backoff_min
        || (opts->node_id && (!*opts->node_id
                              || strlen(opts->node_id) > PEV_BRIDGE_MAX_NODE_ID)))
        return APR_EINVAL;
    b = calloc(1, sizeof *b);
    if (!b)
        return APR_ENOMEM;
    b->refs = 1;
    b->pool = pool;
    b->loop = loop;
    b->bus = bus;
    b->host = apr_pstrdup(pool, opts->host);
    b->numeric = inet_pton(AF_INET, b->host, &a6) == 1 || inet_pton(AF_INET6, b->host, &a6) == 1;
    b->port = opts->port;
    b->user = opts->user ? apr_pstrdup(pool, opts->user) : NULL;
    b->password = opts->password ? apr_pstrdup(pool, opts->password) : NULL;
    b->prefix = apr_pstrdup(pool, opts->channel_prefix ? opts->channel_prefix : DEFAULT_PREFIX);
    b->prefix_len = strlen(b->prefix);
    b->qlimit = opts->queue_limit ? opts->queue_limit : DEFAULT_QUEUE_LIMIT;
    b->qbytes_limit = opts->queue_bytes ? opts->queue_bytes : DEFAULT_QUEUE_BYTES;
    b->backoff_min = opts->backoff_min;
    b->backoff_max = opts->backoff_max;
    b->connect_timeout = opts->connect_timeout > 0 ? opts->connect_timeout
                                                   : DEFAULT_CONNECT_TIMEOUT;
    b->command_timeout = opts->command_timeout > 0 ? opts->command_timeout
                                                   : DEFAULT_COMMAND_TIMEOUT;
    b->log = opts->log;
    b->log_data = opts->log_data;
    b->logs_tail = &b->logs;

    if (apr_generate_random_bytes(rnd, sizeof rnd) != APR_SUCCESS) {
        apr_uint64_t x = (apr_uint64_t) apr_time_now() ^ ((apr_uint64_t) (uintptr_t) b << 16);

        put64(rnd, x);
        put64(rnd + 8, x * 0x9E3779B97F4A7C15ull);
    }
    b->epoch = get64(rnd + 8);
    b->rnd = b->epoch ^ get64(rnd);
    if (opts->node_id) {
        b->node_id = apr_pstrdup(pool, opts->node_id);
    }
    else {
        char *id = apr_palloc(pool, 17);

        for (i = 0; i < 8; i++)
            snprintf(id + 2 * i, 3, "%02x", rnd[i]);
        b->node_id = id;
    }
    b->node_len = strlen(b->node_id);

    if ((st = scratch_create(&b->enc_scratch, pool)) != APR_SUCCESS
        || (st = scratch_create(&b->dec_scratch, pool)) != APR_SUCCESS) {
        free(b);
        return st;
    }
    b->origins = opts->origins ? opts->origins : origins_new(0);
    if (!b->origins) {
        free(b);
        return APR_ENOMEM;
    }
    if (opts->origins)
        b->origins->refs++;
    st = pev_timer_add(&b->log_timer, loop, 0, on_log_timer, b, pool);
    if (st == APR_SUCCESS)
        st = pev_timer_cancel(b->log_timer);
    for (i = 0; i < 2 && st == APR_SUCCESS; i++) {
        conn_t *c = &b->conn[i];

        c->b = b;
        c->role = i;
        c->backoff = b->backoff_min;
        /* the first attempt in the loop's next iteration */
        st = pev_loop_defer(&c->timer, loop, on_conn_timer, c, pool);
    }
    if (st != APR_SUCCESS) {
        for (i = 0; i < 2; i++)
            if (b->conn[i].timer)
                pev_timer_cancel(b->conn[i].timer);
        origins_unref(b->origins);
        free(b);
        return st;
    }
    b->tap.fn = on_generate;
    b->tap.user_data = b;
    pevi_bus_tap_add(bus, &b->tap);
    apr_pool_pre_cleanup_register(pool, b, bridge_cleanup);
    *out = b;
    return APR_SUCCESS;
}

static apr_status_t add_match(pev_bridge_t *b, match_t **list, const char *name, int flags,
                              match_t **made)
{
    match_t *m, **tail;

    if (!b || !name || !*name || (flags != PEV_BRIDGE_EXACT && flags != PEV_BRIDGE_PREFIX)
        || strlen(name) > 0xffff)
        return APR_EINVAL;
    if (b->dead || !alive(b) || !b->tap.bus)
        return PEV_EDESTROYED;
    for (tail = list; *tail; tail = &(*tail)->next)
        if ((*tail)->prefix == flags && strcmp((*tail)->name, name) == 0)
            return APR_EEXIST;
    m = apr_pcalloc(b->pool, sizeof *m);
    m->name = apr_pstrdup(b->pool, name);
    m->len = strlen(name);
    m->prefix = flags;
    *tail = m;
    *made = m;
    return APR_SUCCESS;
}

apr_status_t pev_bridge_export(pev_bridge_t *b, const char *name, int flags,
                               pev_bridge_encode_fn *encode, void *user_data)
{
    match_t *m;
    apr_status_t st = add_match(b, b ? &b->exports : NULL, name, flags, &m);

    if (st != APR_SUCCESS)
        return st;
    m->encode = encode;
    m->user_data = user_data;
    set_quiet(b, 0);            /* it may not come back */
    return APR_SUCCESS;
}

apr_status_t pev_bridge_import(pev_bridge_t *b, const char *name, int flags,
                               pev_bridge_decode_fn *decode, void *user_data)
{
    match_t *m;
    apr_status_t st = add_match(b, b ? &b->imports : NULL, name, flags, &m);

    if (st != APR_SUCCESS)
        return st;
    m->decode = decode;
    m->user_data = user_data;
    if (b->conn[ROLE_SUB].ac)
        subscribe(&b->conn[ROLE_SUB], m);
    return APR_SUCCESS;
}

const pev_bridge_msg_t *pev_bridge_current(const pev_bridge_t *b)
{
    return b ? b->current : NULL;
}

const char *pev_bridge_origin(const pev_bridge_t *b)
{
    return b && b->current ? b->current->origin : NULL;
}

const char *pev_bridge_node_id(const pev_bridge_t *b)
{
    return b ? b->node_id : NULL;
}

apr_status_t pev_bridge_stats(const pev_bridge_t *b, pev_bridge_stats_t *stats)
{
    if (!b || !stats)
        return APR_EINVAL;
    *stats = b->st;
    stats->pub_connected = b->conn[ROLE_PUB].state == ST_READY;
    stats->sub_connected = b->conn[ROLE_SUB].state == ST_READY;
    stats->connected = stats->pub_connected && stats->sub_connected;
    stats->queued = b->qcount;
    stats->queued_bytes = b->qbytes;
    return APR_SUCCESS;
}

apr_status_t pev_bridge_flush(pev_bridge_t *b)
{
    conn_t *c;

    if (!b)
        return APR_EINVAL;
    if (b->dead || !alive(b))
        return PEV_EDESTROYED;
    c = &b->conn[ROLE_PUB];
    if (c->state == ST_READY && c->ac && b->handed)
        pevi_redis_write_now(c->ac);    /* a failure: on_gone(), from inside */
    return APR_SUCCESS;
}

#endif /* HAVE_HIREDIS */
