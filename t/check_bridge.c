/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_bridge.c - the Redis bridge (poolev/bridge.h) against redis-server
 * processes of its own (t/harness_redis.h): the normal path with exact
 * counts, the pool rules, and each fault of issue 14 (Redis absent, killed
 * connections, a killed and restarted Redis, a stalled Redis, passwords and
 * ACL users, invalid input, host names), then a seeded randomized teardown.
 * Built without hiredis: every call says APR_ENOTIMPL.
 */
#include "harness.h"
#include "harness_redis.h"

#include <ctype.h>
#include <dirent.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <apr_strings.h>

/* ------------------------------------------------------------------------ */
/* A node: a bus, a bridge, and what its listener of "topic.t" saw           */

/* pubsubd's publication_t, more or less: what PUB generates */
typedef struct pub {
    const char *topic;
    const char *msg;
    apr_size_t len;
} pub_t;

#define MAX_SEEN 20000

typedef struct node {
    apr_pool_t *pool;           /* the bridge's */
    pev_bus_t *bus;
    pev_bridge_t *br;
    unsigned local, remote;     /* listener calls */
    unsigned bad_payload;
    apr_uint64_t seqs[MAX_SEEN];  /* remote sequence numbers, in order */
    unsigned nseq;
    char origin[64];            /* of the last remote message */
    int log_lines[8];           /* by priority */
    char last_log[512];
    int destroy_in;             /* 1 decoder, 2 listener, 3 log, 4 encoder:
                                 * destroy pool;
                                 * 5 listener, 6 log: destroy victim */
    apr_pool_t *victim;
    int destroyed;
    const char *track;          /* record the sequence numbers of this origin
                                 * only (NULL: of all) */
} node_t;

#define MAX_NODES 64
static node_t *nodes[MAX_NODES];
static int nnodes;

static pev_loop_t *loop;
static pev_loop_t *make_loop;   /* the loop node_make() uses (NULL: loop) */
static pt_redis_t *redis;
static unsigned nerr_logs;

static void destroy_node_pool(node_t *n);

static apr_status_t enc_pub(const void **data, apr_size_t *len, const char *event,
                            const void *event_data, apr_pool_t *scratch, void *user_data)
{
    const pub_t *p = event_data;
    node_t *n = user_data;

    (void) event, (void) scratch;
    *data = p->msg;
    *len = p->len;
    if (n && n->destroy_in == 4)
        destroy_node_pool(n);
    return APR_SUCCESS;
}

static void destroy_node_pool(node_t *n)
{
    if (!n->destroyed) {
        n->destroyed = 1;
        apr_pool_destroy(n->pool);
    }
}

static apr_status_t dec_pub(const void **event_data, const pev_bridge_msg_t *m,
                            apr_pool_t *scratch, void *user_data)
{
    node_t *n = user_data;
    pub_t *p = apr_palloc(scratch, sizeof *p);

    p->topic = m->event + 6;
    p->msg = m->data;
    p->len = m->len;
    *event_data = p;
    if (n->destroy_in == 1)
        destroy_node_pool(n);
    return APR_SUCCESS;
}

/* payload i: "m<i>", NUL, CR LF, "end" (binary-safe) */
static apr_size_t make_payload(char *buf, unsigned i)
{
    int k = sprintf(buf, "m%u", i);

    memcpy(buf + k, "\0\r\nend", 6);
    return (apr_size_t) k + 6;
}

static void on_topic(const void *event_data, void *user_data)
{
    node_t *n = user_data;
    const pub_t *p = event_data;
    const char *origin = n->destroyed ? NULL : pev_bridge_origin(n->br);
    char want[64];
    unsigned i;

    if (!p || p->len < 7 || sscanf(p->msg, "m%u", &i) != 1
        || make_payload(want, i) != p->len || memcmp(want, p->msg, p->len) != 0)
        n->bad_payload++;
    if (!origin) {
        n->local++;
        return;
    }
    n->remote++;
    apr_cpystrn(n->origin, origin, sizeof n->origin);
    if (n->nseq < MAX_SEEN && (!n->track || strcmp(origin, n->track) == 0))
        n->seqs[n->nseq++] = pev_bridge_current(n->br)->seq;
    if (n->destroy_in == 2)
        destroy_node_pool(n);
    if (n->destroy_in == 5 && n->victim) {
        apr_pool_t *v = n->victim;

        n->victim = NULL;
        apr_pool_destroy(v);
    }
}

static void on_log(int prio, const char *text, void *user_data)
{
    node_t *n = user_data;

    if (prio >= 0 && prio < 8)
        n->log_lines[prio]++;
    if (prio == PEV_BRIDGE_LOG_ERR)
        nerr_logs++;
    apr_cpystrn(n->last_log, text, sizeof n->last_log);
    if (getenv("PT_BRIDGE_LOG"))
        fprintf(stderr, "[%d] %s\n", prio, text);
    if (n->destroy_in == 3)
        destroy_node_pool(n);
    if (n->destroy_in == 6 && n->victim) {
        apr_pool_t *v = n->victim;

        n->victim = NULL;
        apr_pool_destroy(v);
    }
}

static void fast_opts(pev_bridge_options_t *o, unsigned port)
{
    pev_bridge_options_init(o);
    o->host = "127.0.0.1";
    o->port = (apr_port_t) port;
    o->backoff_min = 10 * 1000;
    o->backoff_max = 100 * 1000;
    /* long enough for a loaded machine under valgrind: a spurious timeout
     * would reconnect and break the exact counts */
    o->connect_timeout = 3000 * 1000;
    o->command_timeout = 5000 * 1000;
}

/* A node on @a bus (NULL: a bus of its own in @a parent) with a bridge in
 * an unkept subpool of @a parent that exports and imports "topic.". */
static node_t *node_make(apr_pool_t *parent, pev_bus_t *bus, pev_bridge_options_t *o)
{
    node_t *n = calloc(1, sizeof *n);

    ck_assert_ptr_nonnull(n);
    ck_assert_int_lt(nnodes, MAX_NODES);
    nodes[nnodes++] = n;
    if (!bus)
        ck_assert_int_eq(pev_bus_create(&bus, parent), APR_SUCCESS);
    n->bus = bus;
    n->pool = pt_unkept_subpool(parent);
    o->log = on_log;
    o->log_data = n;
    ck_assert_int_eq(pev_bridge_create(&n->br, make_loop ? make_loop : loop, bus, o, n->pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_export(n->br, "topic.", PEV_BRIDGE_PREFIX, enc_pub, n),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_import(n->br, "topic.", PEV_BRIDGE_PREFIX, dec_pub, n),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "topic.t", on_topic, n, n->pool),
                     APR_SUCCESS);
    return n;
}

static pev_bridge_stats_t stats_of(const node_t *n)
{
    pev_bridge_stats_t s;

    ck_assert_int_eq(pev_bridge_stats(n->br, &s), APR_SUCCESS);
    return s;
}

static pev_bridge_stats_t stats_of_br(const pev_bridge_t *br)
{
    pev_bridge_stats_t s;

    ck_assert_int_eq(pev_bridge_stats(br, &s), APR_SUCCESS);
    return s;
}

static int connected(const node_t *n)
{
    return stats_of(n).connected;
}

/* A Redis of its own for the test, and @a o set up for it. */
static void redis_opts(pev_bridge_options_t *o)
{
    redis = pt_redis_start(NULL);
    fast_opts(o, pt_redis_port(redis));
}

/* Nodes @a ida and @a idb with @a o on buses of their own, both connected. */
static void node_pair(node_t **a, node_t **b, pev_bridge_options_t *o, const char *ida,
                      const char *idb)
{
    o->node_id = ida;
    *a = node_make(pt_pool, NULL, o);
    o->node_id = idb;
    *b = node_make(pt_pool, NULL, o);
    PT_PUMP_UNTIL(loop, connected(*a) && connected(*b));
}

static void publish(node_t *n, unsigned i)
{
    char buf[64];
    pub_t p;

    p.topic = "t";
    p.len = make_payload(buf, i);
    p.msg = buf;
    ck_assert_int_eq(pev_event_generate(n->bus, "topic.t", &p), APR_SUCCESS);
}

/* The @a n sequence numbers @a seqs a receiver saw are in order, without a
 * repeat; the sum of their gaps. */
static apr_uint64_t seq_gaps(const apr_uint64_t *seqs, unsigned n)
{
    apr_uint64_t g = 0;
    unsigned i;

    for (i = 1; i < n; i++) {
        ck_assert_msg(seqs[i] > seqs[i - 1], "sequence %" APR_UINT64_T_FMT " after %"
                      APR_UINT64_T_FMT ": repeated or reordered", seqs[i], seqs[i - 1]);
        g += seqs[i] - seqs[i - 1] - 1;
    }
    return g;
}

/* What node @a n saw is in order, without a repeat, and its gaps add up to
 * its `lost` (when it saw the sender's whole run from @a first). */
static apr_uint64_t gaps(const node_t *n)
{
    return seq_gaps(n->seqs, n->nseq);
}

static void pump_ms(long ms)
{
    apr_time_t end = pev_clock_monotonic() + (apr_time_t) ms * 1000;

    while (pev_clock_monotonic() < end)
        ck_assert_int_eq(pev_loop_run_once(loop, 1000), APR_SUCCESS);
}

static void setup(void)
{
    pt_setup();
    ck_assert_int_eq(pev_loop_create(&loop, pt_pool), APR_SUCCESS);
    redis = NULL;
    make_loop = NULL;
    nerr_logs = 0;
}

static void teardown(void)
{
    pt_redis_free(redis);
    redis = NULL;
    pt_teardown();
    while (nnodes)
        free(nodes[--nnodes]);
}

/* ------------------------------------------------------------------------ */
/* The fixture itself                                                        */

START_TEST(test_harness_redis)
{
    pt_redis_t *r = pt_redis_start(NULL);
    unsigned port = pt_redis_port(r);

    ck_assert_str_eq(pt_redis_cmd(r, "PING", NULL), "+PONG");
    ck_assert_str_eq(pt_redis_cmd(r, "SET", "k", "v", NULL), "+OK");
    ck_assert_str_eq(pt_redis_cmd(r, "GET", "k", NULL), "$v");
    ck_assert_str_eq(pt_redis_cmd(r, "CONFIG", "GET", "save", NULL), "*2\n$save\n$");
    pt_redis_restart(r);
    ck_assert_uint_eq(pt_redis_port(r), port);
    ck_assert_str_eq(pt_redis_cmd(r, "GET", "k", NULL), "$");     /* no persistence */
    pt_redis_pause(r);
    pt_redis_resume(r);
    ck_assert_str_eq(pt_redis_cmd(r, "PING", NULL), "+PONG");
    pt_redis_free(r);

    r = pt_redis_start("s3cret");
    ck_assert_str_eq(pt_redis_cmd(r, "PING", NULL), "+PONG");     /* AUTH first */
    ck_assert_str_eq(pt_redis_cmd(r, "ACL", "SETUSER", "bob", "on", ">pw", "+@all", "~*",
                                  "&*", NULL), "+OK");
    pt_redis_free(r);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* Arguments                                                                 */

START_TEST(test_args)
{
    pev_bridge_options_t o;
    pev_bus_t *bus;
    pev_bridge_t *b;

    ck_assert_int_eq(pev_bus_create(&bus, pt_pool), APR_SUCCESS);
    pev_bridge_options_init(&o);
    ck_assert_str_eq(o.host, "127.0.0.1");
    ck_assert_uint_eq(o.port, 6379);
    ck_assert_int_eq(pev_bridge_create(&b, NULL, bus, &o, pt_pool), APR_EINVAL);
    ck_assert_ptr_null(b);
    o.port = 0;
    ck_assert_int_eq(pev_bridge_create(&b, loop, bus, &o, pt_pool), APR_EINVAL);
    o.port = 1;
    o.node_id = "";
    ck_assert_int_eq(pev_bridge_create(&b, loop, bus, &o, pt_pool), APR_EINVAL);
    o.node_id = NULL;
    o.backoff_max = o.backoff_min - 1;
    ck_assert_int_eq(pev_bridge_create(&b, loop, bus, &o, pt_pool), APR_EINVAL);
    o.backoff_max = o.backoff_min;
    ck_assert_int_eq(pev_bridge_create(&b, loop, bus, &o, pt_pool), APR_SUCCESS);
    ck_assert_uint_eq(strlen(pev_bridge_node_id(b)), 16);
    ck_assert_int_eq(pev_bridge_export(b, "", PEV_BRIDGE_EXACT, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_bridge_export(b, "x", 7, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_bridge_export(b, "x", PEV_BRIDGE_EXACT, NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_export(b, "x", PEV_BRIDGE_EXACT, NULL, NULL), APR_EEXIST);
    ck_assert_int_eq(pev_bridge_export(b, "x", PEV_BRIDGE_PREFIX, NULL, NULL), APR_SUCCESS);
    ck_assert_ptr_null(pev_bridge_current(b));
    ck_assert_ptr_null(pev_bridge_origin(b));

    ck_assert_int_eq(pev_bridge_parse_url(&o, "redis://h:7000", pt_pool), APR_SUCCESS);
    ck_assert_str_eq(o.host, "h");
    ck_assert_uint_eq(o.port, 7000);
    ck_assert_int_eq(pev_bridge_parse_url(&o, "redis://u:p@[::1]", pt_pool), APR_SUCCESS);
    ck_assert_str_eq(o.host, "::1");
    ck_assert_uint_eq(o.port, 6379);
    ck_assert_str_eq(o.user, "u");
    ck_assert_str_eq(o.password, "p");
    ck_assert_int_eq(pev_bridge_parse_url(&o, "redis://:secret@10.0.0.1:1/", pt_pool),
                     APR_SUCCESS);
    ck_assert_ptr_null(o.user);
    ck_assert_str_eq(o.password, "secret");
    ck_assert_int_eq(pev_bridge_parse_url(&o, "http://h", pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_bridge_parse_url(&o, "redis://", pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_bridge_parse_url(&o, "redis://h:0", pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_bridge_parse_url(&o, "redis://h:70000", pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_bridge_parse_url(&o, "redis://h:1x", pt_pool), APR_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The normal path: exact counts, binary payloads, origin, no echo           */

#define N_FLOOD 2000

/* The default without encoder or decoder: pev_bridge_msg_t both ways. */
static unsigned raw_seen;
static char raw_origin[64];
static char raw_payload[64];
static apr_size_t raw_len;

static void on_raw(const void *event_data, void *user_data)
{
    const pev_bridge_msg_t *m = event_data;

    (void) user_data;
    if (!m->origin)             /* the local generate */
        return;
    raw_seen++;
    apr_cpystrn(raw_origin, m->origin, sizeof raw_origin);
    raw_len = m->len < sizeof raw_payload ? m->len : sizeof raw_payload;
    memcpy(raw_payload, m->data, raw_len);
    ck_assert_str_eq(m->event, "raw.one");
}

START_TEST(test_roundtrip)
{
    pev_bridge_options_t o;
    node_t *a, *b;
    pev_bridge_stats_t sa, sb;
    pev_bridge_msg_t raw;
    unsigned i;

    redis_opts(&o);
    node_pair(&a, &b, &o, "node-a", "node-b");
    ck_assert_str_eq(pev_bridge_node_id(a->br), "node-a");

    for (i = 0; i < N_FLOOD; i++) {
        publish(a, i);
        if (i % 100 == 99)
            pev_loop_run_once(loop, 0);
    }
    for (i = 0; i < N_FLOOD / 2; i++)
        publish(b, i);
    PT_PUMP_UNTIL(loop, b->remote == N_FLOOD && a->remote == N_FLOOD / 2
                  && stats_of(a).own == N_FLOOD && stats_of(b).own == N_FLOOD / 2);
    pump_ms(50);                /* nothing more comes: no echo */

    /* every local generate served the local listener once; every remote
     * message reached the other node once, in order, unchanged */
    ck_assert_uint_eq(a->local, N_FLOOD);
    ck_assert_uint_eq(b->local, N_FLOOD / 2);
    ck_assert_uint_eq(b->remote, N_FLOOD);
    ck_assert_uint_eq(a->remote, N_FLOOD / 2);
    ck_assert_uint_eq(a->bad_payload + b->bad_payload, 0);
    ck_assert_str_eq(b->origin, "node-a");
    ck_assert_str_eq(a->origin, "node-b");
    ck_assert_uint_eq(gaps(b), 0);
    ck_assert_uint_eq(b->seqs[0], 1);
    ck_assert_uint_eq(b->seqs[N_FLOOD - 1], N_FLOOD);
    sa = stats_of(a);
    sb = stats_of(b);
    ck_assert_uint_eq(sa.sent, N_FLOOD);        /* imports are not exported */
    ck_assert_uint_eq(sb.sent, N_FLOOD / 2);
    ck_assert_uint_eq(sa.received, N_FLOOD / 2);
    ck_assert_uint_eq(sb.received, N_FLOOD);
    ck_assert_uint_eq(sa.queued + sb.queued + sa.queued_bytes + sb.queued_bytes, 0);
    ck_assert_uint_eq(sa.lost + sb.lost + sa.dropped + sb.dropped, 0);
    ck_assert_uint_eq(sa.invalid + sb.invalid, 0);
    ck_assert_uint_eq(sa.reconnects + sb.reconnects + sa.failures + sb.failures, 0);
    ck_assert_str_eq(sa.last_error, "");
    PT_PUMP_UNTIL(loop, a->log_lines[PEV_BRIDGE_LOG_NOTICE] == 2);  /* both up */

    /* without encoder and decoder: pev_bridge_msg_t */
    ck_assert_int_eq(pev_bridge_export(a->br, "raw.one", PEV_BRIDGE_EXACT, NULL, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_import(b->br, "raw.one", PEV_BRIDGE_EXACT, NULL, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, b->bus, NULL, "raw.one", on_raw, NULL, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, a->bus, NULL, "raw.one", on_raw, NULL, NULL),
                     APR_SUCCESS);
    pump_ms(30);                /* the new subscription is confirmed */
    memset(&raw, 0, sizeof raw);
    raw.data = "a\0b\r\n";
    raw.len = 5;
    ck_assert_int_eq(pev_event_generate(a->bus, "raw.one", &raw), APR_SUCCESS);
    PT_PUMP_UNTIL(loop, raw_seen == 1);
    ck_assert_str_eq(raw_origin, "node-a");
    ck_assert_uint_eq(raw_len, 5);
    ck_assert_int_eq(memcmp(raw_payload, "a\0b\r\n", 5), 0);
}
END_TEST

/* Two nodes on two loops (as in two processes), both importing and
 * exporting "topic.": each message is delivered once per node, never sent
 * back. */
/* A Redis, node "a" on the test's loop and node "b" on a loop of its own
 * (as in two processes). */
static void nodes_on_two_loops(node_t **a, node_t **b, pev_loop_t **loop2)
{
    pev_bridge_options_t o;

    ck_assert_int_eq(pev_loop_create(loop2, pt_pool), APR_SUCCESS);
    redis_opts(&o);
    o.node_id = "a";
    *a = node_make(pt_pool, NULL, &o);
    make_loop = *loop2;
    o.node_id = "b";
    *b = node_make(pt_pool, NULL, &o);
}

START_TEST(test_two_loops)
{
    pev_loop_t *loop2;
    node_t *a, *b;
    unsigned i;

    nodes_on_two_loops(&a, &b, &loop2);
#define PUMP2(cond) PT_RUN_UNTIL(pev_loop_run_once(loop, 500) | pev_loop_run_once(loop2, 500), cond)
    PUMP2(connected(a) && connected(b));
    for (i = 0; i < 300; i++) {
        publish(a, i);
        publish(b, i);
    }
    PUMP2(a->remote == 300 && b->remote == 300 && stats_of(a).own == 300
          && stats_of(b).own == 300);
    for (i = 0; i < 20; i++) {      /* nothing more comes */
        ck_assert_int_eq(pev_loop_run_once(loop, 1000), APR_SUCCESS);
        ck_assert_int_eq(pev_loop_run_once(loop2, 1000), APR_SUCCESS);
    }
    ck_assert_uint_eq(a->local + a->remote + b->local + b->remote, 1200);
    ck_assert_uint_eq(stats_of(a).sent + stats_of(b).sent, 600);
    ck_assert_uint_eq(gaps(a) + gaps(b), 0);
#undef PUMP2
}
END_TEST

/* An export made inside an iteration (a posted call here, a client's PUB
 * in pubsubd) is written to Redis at the end of that iteration: the
 * connected socket is not polled for room first. Node A's loop runs that
 * one iteration and no other; node B, on its own loop, receives. */
static node_t *soon_node;

static void publish_posted(void *user_data, int cancelled)
{
    (void) user_data;
    if (!cancelled)
        publish(soon_node, 7);
}

/* nodes_on_two_loops(), both connected, their subscriptions settled. */
static void two_loops_settled(node_t **a, node_t **b, pev_loop_t **loop2)
{
    int k;

    nodes_on_two_loops(a, b, loop2);
    PT_RUN_UNTIL(pev_loop_run_once(loop, 500) | pev_loop_run_once(*loop2, 500),
                 connected(*a) && connected(*b));
    for (k = 0; k < 20; k++) {
        ck_assert_int_eq(pev_loop_run_once(loop, 1000), APR_SUCCESS);
        ck_assert_int_eq(pev_loop_run_once(*loop2, 1000), APR_SUCCESS);
    }
}

START_TEST(test_export_written_in_its_iteration)
{
    pev_loop_t *loop2;
    node_t *a, *b;
    int k;

    two_loops_settled(&a, &b, &loop2);
    soon_node = a;
    for (k = 1; k <= 3; k++) {
        ck_assert_int_eq(pev_loop_post(loop, publish_posted, NULL), APR_SUCCESS);
        ck_assert_int_eq(pev_loop_run_once(loop, 0), APR_SUCCESS);
        ck_assert_uint_eq(a->local, (unsigned) k);
        /* only node B's loop runs from here */
        PT_PUMP_UNTIL(loop2, b->remote == (unsigned) k);
    }
    PT_PUMP_UNTIL(loop, stats_of(a).sent == 3);     /* Redis's replies */
}
END_TEST

/* pev_bridge_flush() from inside a callback: the export is written then,
 * not at the end of the iteration. While the posted call still runs, node
 * B (on a loop of its own, pumped from inside the call) receives it; and
 * the end of the iteration does not send it again. */
static node_t *flush_b;
static pev_loop_t *flush_loop2;
static unsigned flush_seen;         /* B's count while the call ran */

static void publish_flushed(void *user_data, int cancelled)
{
    unsigned want = flush_b->remote + 1;
    apr_time_t end = apr_time_now() + 2 * APR_USEC_PER_SEC;

    (void) user_data;
    if (cancelled)
        return;
    publish(soon_node, 7);
    ck_assert_int_eq(pev_bridge_flush(soon_node->br), APR_SUCCESS);
    while (flush_b->remote < want && apr_time_now() < end)
        ck_assert_int_eq(pev_loop_run_once(flush_loop2, 20 * 1000), APR_SUCCESS);
    flush_seen = flush_b->remote;
}

START_TEST(test_flush_in_callback)
{
    node_t *a, *b;
    int k;

    two_loops_settled(&a, &b, &flush_loop2);
    ck_assert_int_eq(pev_bridge_flush(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_bridge_flush(a->br), APR_SUCCESS);    /* nothing to send */
    soon_node = a;
    flush_b = b;
    for (k = 1; k <= 3; k++) {
        ck_assert_int_eq(pev_loop_post(loop, publish_flushed, NULL), APR_SUCCESS);
        ck_assert_int_eq(pev_loop_run_once(loop, 0), APR_SUCCESS);
        ck_assert_uint_eq(a->local, (unsigned) k);
        ck_assert_uint_eq(flush_seen, (unsigned) k);       /* before the end */
    }
    PT_PUMP_UNTIL(loop, stats_of(a).sent == 3);
    pump_ms(30);
    for (k = 0; k < 5; k++)
        ck_assert_int_eq(pev_loop_run_once(flush_loop2, 10 * 1000), APR_SUCCESS);
    ck_assert_uint_eq(b->remote, 3);                        /* once each */
    ck_assert_uint_eq(stats_of(b).repeated, 0);
    ck_assert_uint_eq(stats_of(a).sent, 3);
}
END_TEST

/* This process's sockets connected to Redis's @a port: how many, and how
 * many of them are quiet (a read low-water mark above 1 byte). */
static void redis_sockets(unsigned port, int *total, int *quiet)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;

    ck_assert_ptr_nonnull(d);
    *total = *quiet = 0;
    while ((e = readdir(d)) != NULL) {
        struct sockaddr_in sa;
        socklen_t len = sizeof sa;
        int fd = atoi(e->d_name), lowat = 0;
        socklen_t olen = sizeof lowat;

        if (fd <= 2 || fd == dirfd(d)
            || getpeername(fd, (struct sockaddr *) &sa, &len) != 0
            || sa.sin_family != AF_INET || ntohs(sa.sin_port) != port)
            continue;
        ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, &olen), 0);
        (*total)++;
        if (lowat > 1)
            (*quiet)++;
    }
    closedir(d);
}

/* The PUBLISH replies of a node whose exports all come back to it (its
 * imports match them) do not wake its loop: its publishing connection is
 * quiet, and the replies are read with the echoes. A bridge that exports
 * what it does not import is polled for them as before. Either way every
 * reply is read: nothing is dropped, also when the subscribing connection
 * is lost (the publishing one is polled again). */
START_TEST(test_quiet_replies)
{
    pev_bridge_options_t o;
    pev_bridge_t *x;
    pev_bus_t *xbus;
    node_t *a;
    int total, quiet;
    unsigned i;

    redis = pt_redis_start(NULL);
    fast_opts(&o, pt_redis_port(redis));
    o.node_id = "a";
    a = node_make(pt_pool, NULL, &o);
    ck_assert_int_eq(pev_bus_create(&xbus, pt_pool), APR_SUCCESS);
    fast_opts(&o, pt_redis_port(redis));
    o.node_id = "x";
    ck_assert_int_eq(pev_bridge_create(&x, loop, xbus, &o, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_export(x, "topic.", PEV_BRIDGE_PREFIX, enc_pub, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_import(x, "other.", PEV_BRIDGE_PREFIX, dec_pub, NULL),
                     APR_SUCCESS);
    PT_PUMP_UNTIL(loop, connected(a) && stats_of_br(x).connected);
    redis_sockets(pt_redis_port(redis), &total, &quiet);
    ck_assert_int_eq(total, 4);
    ck_assert_int_eq(quiet, 1);         /* a's publishing connection only */

    for (i = 0; i < 100; i++) {
        char buf[64];
        pub_t p = { "t", buf, make_payload(buf, i) };

        publish(a, i);
        ck_assert_int_eq(pev_event_generate(xbus, "topic.t", &p), APR_SUCCESS);
    }
    PT_PUMP_UNTIL(loop, stats_of(a).sent == 100 && stats_of(a).own == 100
                  && stats_of_br(x).sent == 100);
    ck_assert_uint_eq(stats_of(a).queued, 0);

    /* the subscribing connections go: a's replies come without echoes */
    pt_redis_cmd(redis, "CLIENT", "KILL", "TYPE", "pubsub", NULL);
    for (i = 100; i < 150; i++)
        publish(a, i);
    PT_PUMP_UNTIL(loop, stats_of(a).sent == 150);
    ck_assert_uint_eq(stats_of(a).dropped, 0);
    PT_PUMP_UNTIL(loop, connected(a) && stats_of_br(x).connected);
    redis_sockets(pt_redis_port(redis), &total, &quiet);
    ck_assert_int_eq(total, 4);
    ck_assert_int_eq(quiet, 1);         /* quiet again once both are back */
    for (i = 150; i < 200; i++)
        publish(a, i);
    PT_PUMP_UNTIL(loop, stats_of(a).sent == 200 && stats_of(a).queued == 0);
    ck_assert_uint_eq(stats_of(a).dropped, 0);
    ck_assert_uint_eq(stats_of_br(x).dropped, 0);
}
END_TEST

/* A fake Redis for the bridge on the test's own thread (fake_pump()): it
 * answers PING, SUBSCRIBE, PSUBSCRIBE and PUBLISH (":0"), and never sends a
 * PUBLISH's message to the subscribers. */
#define FAKE_BUF (1024 * 1024)
typedef struct fake_redis {
    int lfd, nconn;
    int fd[4];
    char *buf[4];
    size_t len[4];
    unsigned published;
} fake_redis_t;

static unsigned fake_start(fake_redis_t *f)
{
    struct sockaddr_in sa;
    socklen_t slen = sizeof sa;

    memset(f, 0, sizeof *f);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(f->lfd, 0);
    ck_assert_int_eq(bind(f->lfd, (struct sockaddr *) &sa, sizeof sa), 0);
    ck_assert_int_eq(listen(f->lfd, 8), 0);
    ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *) &sa, &slen), 0);
    return ntohs(sa.sin_port);
}

static void fake_reply(int fd, const char *r, size_t n)
{
    while (n) {
        ssize_t w = write(fd, r, n);

        ck_assert_int_gt(w, 0);
        r += w;
        n -= (size_t) w;
    }
}

/* The commands of connection @a k read so far. */
static void fake_parse(fake_redis_t *f, int k)
{
    const char *arg[4];
    char out[256];
    size_t alen[4], used;
    int argc, r;

    while ((argc = pt_resp_command(f->buf[k], f->len[k], arg, alen, 4, &used)) > 0) {
        if (alen[0] == 4 && memcmp(arg[0], "PING", 4) == 0)
            fake_reply(f->fd[k], "+PONG\r\n", 7);
        else if ((alen[0] == 10 || alen[0] == 9) && argc == 2) {  /* (P)SUBSCRIBE */
            r = snprintf(out, sizeof out, "*3\r\n$%zu\r\n%s\r\n$%zu\r\n%.*s\r\n:1\r\n",
                         alen[0], alen[0] == 10 ? "psubscribe" : "subscribe", alen[1],
                         (int) alen[1], arg[1]);
            fake_reply(f->fd[k], out, (size_t) r);
        }
        else {
            ck_assert_msg(alen[0] == 7 && memcmp(arg[0], "PUBLISH", 7) == 0,
                          "the fake Redis got %.*s", (int) alen[0], arg[0]);
            f->published++;
            fake_reply(f->fd[k], ":0\r\n", 4);
        }
        memmove(f->buf[k], f->buf[k] + used, f->len[k] - used);
        f->len[k] -= used;
    }
}

/* Run the loop and the fake Redis for @a ms. */
static void fake_pump(fake_redis_t *f, long ms)
{
    apr_time_t end = apr_time_now() + ms * 1000;
    int k;

    do {
        int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK);

        if (fd >= 0) {
            ck_assert_int_lt(f->nconn, 4);
            f->fd[f->nconn] = fd;
            f->buf[f->nconn] = malloc(FAKE_BUF);
            ck_assert_ptr_nonnull(f->buf[f->nconn]);
            f->nconn++;
        }
        for (k = 0; k < f->nconn; k++) {
            ssize_t n;

            while (f->fd[k] >= 0
                   && (n = read(f->fd[k], f->buf[k] + f->len[k], FAKE_BUF - f->len[k])) > 0) {
                f->len[k] += (size_t) n;
                fake_parse(f, k);
            }
        }
        ck_assert_int_eq(pev_loop_run_once(loop, 1000), APR_SUCCESS);
    } while (apr_time_now() < end);
}

static void fake_stop(fake_redis_t *f)
{
    int k;

    for (k = 0; k < f->nconn; k++) {
        close(f->fd[k]);
        free(f->buf[k]);
    }
    close(f->lfd);
}

/* Quiet, and no echo comes (a Redis that does not send the subscribers
 * their copy): the command deadline reads every reply there is, also more
 * than one read of hiredis's takes, instead of giving the connection up
 * for a reply that is there. */
START_TEST(test_quiet_replies_without_echoes)
{
    fake_redis_t f;
    pev_bridge_options_t o;
    node_t *a;
    int total, quiet;
    unsigned i, port = fake_start(&f);

    fast_opts(&o, port);
    o.command_timeout = 2000 * 1000;         /* more than 6000 publish() take */
    o.node_id = "a";
    a = node_make(pt_pool, NULL, &o);
    for (i = 0; i < 200 && !connected(a); i++)
        fake_pump(&f, 10);
    ck_assert(connected(a));
    redis_sockets(port, &total, &quiet);
    ck_assert_int_eq(total, 2);
    ck_assert_int_eq(quiet, 1);
    for (i = 0; i < 6000; i++)                  /* one write, 24000 bytes of replies */
        publish(a, i);
    for (i = 0; i < 1000 && f.published < 6000; i++)
        fake_pump(&f, 10);
    ck_assert_msg(f.published == 6000, "published %u, queued %zu, dropped %" APR_UINT64_T_FMT
                  ", connected %d (%s), conns %d", f.published, stats_of(a).queued,
                  stats_of(a).dropped, connected(a), stats_of(a).last_error, f.nconn);
    fake_pump(&f, 2500);                        /* past the command deadline */
    ck_assert_msg(stats_of(a).sent == 6000, "sent %" APR_UINT64_T_FMT " (%s)",
                  stats_of(a).sent, stats_of(a).last_error);
    ck_assert_int_eq(f.nconn, 2);               /* not reconnected */
    ck_assert_uint_eq(stats_of(a).dropped, 0);
    fake_stop(&f);
}
END_TEST

/* Quiet, no echo, and more messages within the command deadline than the
 * queue holds: the replies that are there are read before the queue is
 * found full, nothing is dropped. */
START_TEST(test_quiet_queue_without_echoes)
{
    fake_redis_t f;
    pev_bridge_options_t o;
    node_t *a;
    unsigned i, k, port = fake_start(&f);

    fast_opts(&o, port);
    o.queue_limit = 1000;
    o.node_id = "a";
    a = node_make(pt_pool, NULL, &o);
    for (i = 0; i < 200 && !connected(a); i++)
        fake_pump(&f, 10);
    ck_assert(connected(a));
    for (i = 0; i < 3000; i += 100) {
        for (k = 0; k < 100; k++)
            publish(a, i + k);
        fake_pump(&f, 5);
    }
    for (i = 0; i < 1000 && f.published < 3000; i++)
        fake_pump(&f, 10);
    ck_assert_uint_eq(f.published, 3000);
    ck_assert_uint_eq(stats_of(a).dropped, 0);
    ck_assert_int_eq(f.nconn, 2);
    fake_stop(&f);
}
END_TEST

/* Two bridges on one loop and one bus, side by side (a daemon's old and new
 * generations), each on its own channels; the old one goes. */
START_TEST(test_two_generations)
{
    pev_bridge_options_t o;
    node_t *old, *young, *peer, *peer2;
    unsigned i;

    redis_opts(&o);
    o.node_id = "x";
    o.channel_prefix = "g1:";
    old = node_make(pt_pool, NULL, &o);
    o.channel_prefix = "g2:";
    young = node_make(pt_pool, old->bus, &o);
    o.node_id = "y";
    o.channel_prefix = "g1:";
    peer = node_make(pt_pool, NULL, &o);
    o.channel_prefix = "g2:";
    peer2 = node_make(pt_pool, peer->bus, &o);
    PT_PUMP_UNTIL(loop, connected(old) && connected(young) && connected(peer)
                  && connected(peer2));

    for (i = 0; i < 100; i++)
        publish(old, i);        /* old and young share the bus */
    /* each generation carried them once, on its own channels */
    PT_PUMP_UNTIL(loop, stats_of(peer).received == 100 && stats_of(peer2).received == 100);
    /* their replies are read with their echoes (test_quiet_replies) */
    PT_PUMP_UNTIL(loop, stats_of(old).sent == 100 && stats_of(young).sent == 100);
    /* the peer's imports were not exported again by the peer's other bridge */
    pump_ms(30);
    ck_assert_uint_eq(stats_of(peer).sent + stats_of(peer2).sent, 0);
    ck_assert_uint_eq(stats_of(old).received + stats_of(young).received, 0);

    destroy_node_pool(old);
    for (i = 100; i < 150; i++)
        publish(young, i);
    PT_PUMP_UNTIL(loop, stats_of(peer2).received == 150);
    pump_ms(30);
    ck_assert_uint_eq(stats_of(peer).received, 100);
    ck_assert_uint_eq(stats_of(young).sent, 150);
    ck_assert_uint_eq(stats_of(young).dropped, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Bound to a pool                                                           */

/* Destroyed from inside the decoder, an imported event's listener, the log
 * callback: the other node goes on, nothing leaks or is touched after. */
START_TEST(test_destroy_in_callback)
{
    static const int where[] = { 1, 2, 3 };
    pev_bridge_options_t o;
    node_t *a, *b;
    unsigned i;
    int k;

    redis_opts(&o);
    o.node_id = "sender";
    a = node_make(pt_pool, NULL, &o);
    for (k = 0; k < 3; k++) {
        o.node_id = "victim";
        b = node_make(pt_pool, NULL, &o);
        PT_PUMP_UNTIL(loop, connected(a) && connected(b));
        b->destroy_in = where[k];
        for (i = 0; i < 50; i++)
            publish(a, i);
        if (where[k] == 3) {
            /* a log line: the connection to Redis lost */
            pt_redis_cmd(redis, "CLIENT", "KILL", "TYPE", "pubsub", NULL);
        }
        PT_PUMP_UNTIL(loop, b->destroyed);
        pump_ms(20);
        if (where[k] == 1)
            ck_assert_uint_eq(b->remote, 0);    /* the decoder destroyed it */
        if (where[k] == 2)
            ck_assert_uint_eq(b->remote, 1);    /* its first listener call did */
    }
    /* the sender is unharmed */
    PT_PUMP_UNTIL(loop, connected(a));
    ck_assert_uint_eq(stats_of(a).sent, 150);
}
END_TEST

/* An encoder destroys a pool (doc: "at any moment, also from inside an
 * encoder"): its own bridge's, with a second bridge's tap behind it on the
 * same bus, which still exports the event; or the bus's pool, which the
 * generate then reports (PEV_EDESTROYED) without touching it again. */
typedef struct enc_victim {
    apr_pool_t *pool;           /* destroyed by the first encoding */
    int calls;
} enc_victim_t;

static apr_status_t enc_destroy(const void **data, apr_size_t *len, const char *event,
                                const void *event_data, apr_pool_t *scratch, void *user_data)
{
    enc_victim_t *v = user_data;

    (void) event, (void) event_data;
    *data = apr_pstrdup(scratch, "payload");    /* in the scratch pool that goes */
    *len = 7;
    if (v->calls++ == 0)
        apr_pool_destroy(v->pool);
    return APR_SUCCESS;
}

START_TEST(test_destroy_in_encoder)
{
    pev_bridge_options_t o;
    enc_victim_t v = { NULL, 0 };
    apr_pool_t *p1, *busp, *p3, *lp;
    pev_bridge_t *b1, *b2, *b3;
    pev_loop_t *l3;
    pev_bus_t *bus, *bus2;
    pev_bridge_stats_t s;

    redis_opts(&o);
    ck_assert_int_eq(pev_bus_create(&bus, pt_pool), APR_SUCCESS);
    /* its own bridge's pool, a second bridge behind it */
    p1 = pt_unkept_subpool(pt_pool);
    ck_assert_int_eq(pev_bridge_create(&b1, loop, bus, &o, p1), APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_export(b1, "ev", PEV_BRIDGE_EXACT, enc_destroy, &v),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_create(&b2, loop, bus, &o, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_export(b2, "ev", PEV_BRIDGE_EXACT, enc_destroy, &v),
                     APR_SUCCESS);
    v.pool = p1;
    ck_assert_int_eq(pev_event_generate(bus, "ev", NULL), APR_SUCCESS);
    ck_assert_int_eq(v.calls, 2);           /* b2's tap ran too */
    ck_assert_int_eq(pev_bridge_stats(b2, &s), APR_SUCCESS);
    ck_assert_uint_eq(s.queued + s.sent + s.dropped, 1);
    PT_PUMP_UNTIL(loop, pev_bridge_stats(b2, &s) == APR_SUCCESS && s.sent == 1);

    /* the bus's pool */
    busp = pt_unkept_subpool(pt_pool);
    p3 = pt_unkept_subpool(pt_pool);
    ck_assert_int_eq(pev_bus_create(&bus2, busp), APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_create(&b3, loop, bus2, &o, p3), APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_export(b3, "ev", PEV_BRIDGE_EXACT, enc_destroy, &v),
                     APR_SUCCESS);
    v.calls = 0;
    v.pool = busp;
    ck_assert_int_eq(pev_event_generate(bus2, "ev", NULL), PEV_EDESTROYED);
    ck_assert_int_eq(v.calls, 1);
    pump_ms(20);
    apr_pool_destroy(p3);

    /* the loop's pool: the export is dropped, nothing of the loop read */
    lp = pt_unkept_subpool(pt_pool);
    p3 = pt_unkept_subpool(pt_pool);
    ck_assert_int_eq(pev_loop_create(&l3, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_create(&b3, l3, bus, &o, p3), APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_export(b3, "ev3", PEV_BRIDGE_EXACT, enc_destroy, &v),
                     APR_SUCCESS);
    v.calls = 0;
    v.pool = lp;
    ck_assert_int_eq(pev_event_generate(bus, "ev3", NULL), APR_SUCCESS);
    ck_assert_int_eq(v.calls, 1);
    ck_assert_int_eq(pev_bridge_stats(b3, &s), APR_SUCCESS);
    ck_assert_uint_eq(s.queued, 0);
    ck_assert_uint_eq(s.dropped, 1);
    apr_pool_destroy(p3);
}
END_TEST

/* The loop's pool, or the bus's, goes first: the bridge stops, its calls
 * say PEV_EDESTROYED or report, its own pool goes later without harm. */
START_TEST(test_loop_or_bus_first)
{
    pev_bridge_options_t o;
    apr_pool_t *lp, *bp, *busp;
    pev_loop_t *l2;
    pev_bus_t *bus;
    pev_bridge_t *br;
    pev_bridge_stats_t s;
    char buf[32];
    pub_t p = { "t", buf, 0 };
    int round;

    redis_opts(&o);
    for (round = 0; round < 2; round++) {
        lp = pt_unkept_subpool(pt_pool);
        busp = pt_unkept_subpool(pt_pool);
        bp = pt_unkept_subpool(pt_pool);
        ck_assert_int_eq(pev_loop_create(&l2, lp), APR_SUCCESS);
        ck_assert_int_eq(pev_bus_create(&bus, busp), APR_SUCCESS);
        ck_assert_int_eq(pev_bridge_create(&br, l2, bus, &o, bp), APR_SUCCESS);
        ck_assert_int_eq(pev_bridge_export(br, "topic.", PEV_BRIDGE_PREFIX, enc_pub, NULL),
                         APR_SUCCESS);
        ck_assert_int_eq(pev_bridge_import(br, "topic.", PEV_BRIDGE_PREFIX, dec_pub, NULL),
                         APR_SUCCESS);
        PT_PUMP_UNTIL(l2, (pev_bridge_stats(br, &s), s.connected));
        p.len = make_payload(buf, 1);
        ck_assert_int_eq(pev_event_generate(bus, "topic.t", &p), APR_SUCCESS);
        if (round == 0) {
            apr_pool_destroy(lp);   /* the loop first */
            ck_assert_int_eq(pev_event_generate(bus, "topic.t", &p), APR_SUCCESS);
            ck_assert_int_eq(pev_bridge_stats(br, &s), APR_SUCCESS);
            ck_assert_int_eq(pev_bridge_import(br, "other", PEV_BRIDGE_EXACT, NULL, NULL),
                             PEV_EDESTROYED);
            apr_pool_destroy(bp);
            apr_pool_destroy(busp);
        }
        else {
            apr_pool_destroy(busp); /* the bus first */
            ck_assert_int_eq(pev_bridge_export(br, "other", PEV_BRIDGE_EXACT, NULL, NULL),
                             PEV_EDESTROYED);
            ck_assert_int_eq(pev_loop_run_once(l2, 1000), APR_SUCCESS);
            ck_assert_int_eq(pev_bridge_stats(br, &s), APR_SUCCESS);
            apr_pool_destroy(bp);
            ck_assert_int_eq(pev_loop_run_once(l2, 1000), APR_SUCCESS);
            apr_pool_destroy(lp);
        }
    }
}
END_TEST

/* One iteration of each loop; the second may be destroyed by its callback
 * when @a loop_is_victim. */
static apr_status_t run_both(pev_loop_t *l2, node_t *b, int loop_is_victim)
{
    apr_status_t st = pev_loop_run_once(loop, 200);

    if (st == APR_SUCCESS && b->victim) {
        st = pev_loop_run_once(l2, 200);
        if (st == PEV_EDESTROYED && loop_is_victim && !b->victim)
            st = APR_SUCCESS;   /* its listener destroyed it */
    }
    return st;
}

/* The loop's pool, the bus's, or the parent of the loop's and the bridge's,
 * destroyed from inside a listener of an imported event (inside hiredis's
 * read callback, more messages behind it in its buffer): the bridge stops,
 * its own pool goes later without harm. */
START_TEST(test_loop_or_bus_in_listener)
{
    pev_bridge_options_t o;
    apr_pool_t *lp, *busp;
    pev_loop_t *l2;
    pev_bus_t *bus;
    node_t *a, *b;
    unsigned i;
    int k;

    redis_opts(&o);
    o.node_id = "sender";
    a = node_make(pt_pool, NULL, &o);
    for (k = 0; k < 3; k++) {     /* the loop's pool, the bus's, both the
                                     * loop's and the bridge's (their parent) */
        lp = pt_unkept_subpool(pt_pool);
        busp = pt_unkept_subpool(pt_pool);
        ck_assert_int_eq(pev_loop_create(&l2, lp), APR_SUCCESS);
        ck_assert_int_eq(pev_bus_create(&bus, busp), APR_SUCCESS);
        make_loop = l2;
        o.node_id = "victim";
        b = node_make(k == 2 ? lp : pt_pool, bus, &o);
        make_loop = NULL;
        PT_RUN_UNTIL(pev_loop_run_once(loop, 200) | pev_loop_run_once(l2, 200),
                     connected(a) && connected(b));
        b->victim = k == 1 ? busp : lp;
        b->destroy_in = 5;
        for (i = 0; i < 50; i++)
            publish(a, i);
        PT_RUN_UNTIL(run_both(l2, b, k != 1), b->victim == NULL);
        pump_ms(20);
        if (k == 2) {
            apr_pool_destroy(busp);
        }
        else if (k == 0) {
            /* the loop is gone: nothing will send, an export is dropped */
            ck_assert_int_eq(pev_bridge_import(b->br, "other", PEV_BRIDGE_EXACT, NULL, NULL),
                             PEV_EDESTROYED);
            publish(b, 1);
            ck_assert_uint_ge(stats_of(b).dropped, 1);
            apr_pool_destroy(b->pool);
            apr_pool_destroy(busp);
        }
        else {
            ck_assert_int_eq(pev_bridge_import(b->br, "other", PEV_BRIDGE_EXACT, NULL, NULL),
                             PEV_EDESTROYED);
            for (i = 0; i < 5; i++)
                ck_assert_int_eq(pev_loop_run_once(l2, 10), APR_SUCCESS);
            apr_pool_destroy(b->pool);
            apr_pool_destroy(lp);
        }
        b->destroyed = 1;
    }
    PT_PUMP_UNTIL(loop, connected(a));
    ck_assert_uint_eq(stats_of(a).sent, 150);
}
END_TEST

/* The log callback destroys the loop's pool ("may clear or destroy any
 * pool") while a log line and counts to report are both pending: the rest
 * of that log run touches nothing of the loop. */
/* One iteration of @a l, which a callback may destroy. */
static apr_status_t run_gone_ok(pev_loop_t *l)
{
    apr_status_t st = pev_loop_run_once(l, 1000);

    return st == PEV_EDESTROYED ? APR_SUCCESS : st;
}

START_TEST(test_log_destroys_loop)
{
    pev_bridge_options_t o;
    apr_pool_t *lp;
    pev_loop_t *l2;
    node_t *b;
    unsigned port;

    redis = pt_redis_start(NULL);
    port = pt_redis_port(redis);
    pt_redis_stop(redis);           /* absent: a connect fails, a line is queued */
    fast_opts(&o, port);
    o.queue_limit = 1;
    lp = pt_unkept_subpool(pt_pool);
    ck_assert_int_eq(pev_loop_create(&l2, lp), APR_SUCCESS);
    make_loop = l2;
    b = node_make(pt_pool, NULL, &o);
    make_loop = NULL;
    PT_RUN_UNTIL(pev_loop_run_once(l2, 0), stats_of(b).failures >= 1);
    ck_assert_int_eq(b->log_lines[PEV_BRIDGE_LOG_ERR], 0);     /* queued, not written */
    publish(b, 1);
    publish(b, 2);                  /* dropped: a count to report */
    ck_assert_uint_eq(stats_of(b).dropped, 1);
    b->victim = lp;
    b->destroy_in = 6;
    PT_RUN_UNTIL(run_gone_ok(l2), b->victim == NULL);
    ck_assert_int_ge(b->log_lines[PEV_BRIDGE_LOG_ERR], 1);
    publish(b, 3);                  /* the loop is gone: dropped */
    apr_pool_destroy(b->pool);
    b->destroyed = 1;
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Faults                                                                    */

/* Redis absent at start: the bridge exists, local work goes on, exported
 * events are queued to the limit then dropped and counted, one log line
 * per connection (not one per attempt), bounded backoff; Redis appears:
 * connected, the queue goes out. */
START_TEST(test_absent_at_start)
{
    pev_bridge_options_t o;
    node_t *a, *b;
    pev_bridge_stats_t s;
    unsigned i, port;

    redis = pt_redis_start(NULL);
    port = pt_redis_port(redis);
    pt_redis_stop(redis);
    fast_opts(&o, port);
    o.queue_limit = 100;
    o.node_id = "a";
    a = node_make(pt_pool, NULL, &o);
    for (i = 0; i < 250; i++)
        publish(a, i);
    ck_assert_uint_eq(a->local, 250);           /* the local bus is served */
    s = stats_of(a);
    ck_assert_uint_eq(s.queued, 100);
    ck_assert_uint_eq(s.dropped, 150);
    pump_ms(700);                               /* attempts with backoff */
    s = stats_of(a);
    ck_assert(!s.connected);
    /* 10, 20, 40, 80, 100, 100, ... ms (+-25%): about 8 attempts each in
     * 700 ms; without the doubling 70 each */
    ck_assert_uint_ge(s.failures, 3);
    ck_assert_uint_le(s.failures, 40);
    ck_assert_msg(strstr(s.last_error, "refused") != NULL, "%s", s.last_error);
    ck_assert_int_eq(a->log_lines[PEV_BRIDGE_LOG_ERR], 2);      /* once per connection */
    ck_assert_msg(strstr(a->last_log, "dropped") || strstr(a->last_log, "failed"), "%s",
                  a->last_log);

    pt_redis_restart(redis);
    o.node_id = "b";
    b = node_make(pt_pool, NULL, &o);
    PT_PUMP_UNTIL(loop, connected(a) && connected(b) && stats_of(a).queued == 0);
    s = stats_of(a);
    ck_assert_uint_eq(s.sent, 100);
    ck_assert_uint_eq(s.dropped, 150);
    ck_assert_uint_eq(s.reconnects, 0);         /* the first connection of each */
    PT_PUMP_UNTIL(loop, a->log_lines[PEV_BRIDGE_LOG_NOTICE] == 2);    /* up, twice */
    ck_assert_int_eq(a->log_lines[PEV_BRIDGE_LOG_ERR], 2);
    for (i = 0; i < 10; i++)
        publish(a, 1000 + i);
    PT_PUMP_UNTIL(loop, b->remote >= 10 && stats_of(a).sent == 110);
    pump_ms(20);
    /* b may have seen some of the 100 flushed ones, all of the 10 */
    ck_assert_uint_eq(b->seqs[b->nseq - 1], 260);
    ck_assert_uint_eq(gaps(b), stats_of(b).lost);
}
END_TEST

/* Flood from a to b while connections are killed (CLIENT KILL of either
 * kind), and Redis is killed and restarted: both reconnect, resubscribe,
 * go on; what was lost is counted (gaps in b's sequence numbers equal its
 * `lost`), nothing is repeated or reordered, a's counts add up. */
static unsigned flood(node_t *a, unsigned from, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        publish(a, from + i);
        if (i % 20 == 19)
            ck_assert_int_eq(pev_loop_run_once(loop, 0), APR_SUCCESS);
    }
    return from + n;
}

START_TEST(test_lost_connections)
{
    pev_bridge_options_t o;
    node_t *a, *b;
    pev_bridge_stats_t sa, sb;
    unsigned next = 0;
    int round;

    redis_opts(&o);
    node_pair(&a, &b, &o, "a", "b");
    next = flood(a, next, 500);

    for (round = 0; round < 3; round++) {
        apr_uint64_t rb = stats_of(b).reconnects, ra = stats_of(a).reconnects;

        if (round == 0)         /* the subscribers' connections */
            ck_assert_str_ne(pt_redis_cmd(redis, "CLIENT", "KILL", "TYPE", "pubsub", NULL),
                             ":0");
        else if (round == 1)    /* the publishers' */
            ck_assert_str_ne(pt_redis_cmd(redis, "CLIENT", "KILL", "TYPE", "normal", NULL),
                             ":0");
        else {
            pt_redis_kill(redis);
            next = flood(a, next, 300);         /* while Redis is down */
            pt_redis_restart(redis);
        }
        next = flood(a, next, 500);
        if (round == 0)
            PT_PUMP_UNTIL(loop, stats_of(b).reconnects > rb && stats_of(a).reconnects > ra);
        else if (round == 1)
            PT_PUMP_UNTIL(loop, stats_of(a).reconnects > ra && stats_of(b).reconnects > rb);
        else
            PT_PUMP_UNTIL(loop, stats_of(b).reconnects > rb && stats_of(a).reconnects > ra);
        PT_PUMP_UNTIL(loop, connected(a) && connected(b));
        next = flood(a, next, 500);
        PT_PUMP_UNTIL(loop, stats_of(a).queued == 0);
        /* b has what a sent after b's subscription came back */
        PT_PUMP_UNTIL(loop, b->nseq && b->seqs[b->nseq - 1] == next);
    }
    pump_ms(30);
    sa = stats_of(a);
    sb = stats_of(b);
    ck_assert_uint_eq(sa.sent + sa.dropped, next);      /* every export accounted */
    ck_assert_uint_eq(sb.received, b->remote);
    ck_assert_uint_eq(b->nseq, b->remote);
    ck_assert_uint_eq(gaps(b), sb.lost);                /* in order, no repeat */
    ck_assert_uint_eq(b->seqs[0], 1);
    ck_assert_uint_eq(sb.received + sb.lost, next);
    ck_assert_uint_gt(sb.lost, 0);                      /* the outage was seen */
    ck_assert_uint_le(sb.lost, next - 2000);            /* at most the outages */
    ck_assert_uint_eq(sb.invalid, 0);
    ck_assert_uint_eq(b->bad_payload, 0);
    ck_assert_uint_ge(sa.reconnects, 4);
    ck_assert_uint_ge(sb.reconnects, 2);
    ck_assert_int_ge(b->log_lines[PEV_BRIDGE_LOG_INFO], 2);    /* each loss once */
}
END_TEST

/* Redis stalled (SIGSTOP): the outbound queue (hiredis's unsent and
 * unanswered commands included) stays within its limits, the rest is
 * dropped and counted, a local listener fed by a timer keeps running; after
 * SIGCONT it all adds up. */
typedef struct ticker {
    node_t *n;
    unsigned next, max_queued;
    apr_size_t max_bytes;
    pev_timer_t *t;
} ticker_t;

static void on_tick(pev_timer_t *t, void *user_data)
{
    ticker_t *k = user_data;
    pev_bridge_stats_t s;
    int i;

    for (i = 0; i < 20; i++)
        publish(k->n, k->next++);
    s = stats_of(k->n);
    if (s.queued > k->max_queued)
        k->max_queued = (unsigned) s.queued;
    if (s.queued_bytes > k->max_bytes)
        k->max_bytes = s.queued_bytes;
    pev_timer_rearm_in(t, 2000);
}

START_TEST(test_stalled)
{
    pev_bridge_options_t o;
    node_t *a, *b;
    ticker_t k;
    pev_bridge_stats_t s;
    unsigned local0;

    redis_opts(&o);
    o.queue_limit = 300;
    o.queue_bytes = 300 * 60;
    o.command_timeout = 300 * 1000;
    o.connect_timeout = 200 * 1000;
    node_pair(&a, &b, &o, "a", "b");
    memset(&k, 0, sizeof k);
    k.n = a;
    flood(a, 0, 100);
    k.next = 100;
    PT_PUMP_UNTIL(loop, b->remote == 100);

    pt_redis_pause(redis);
    local0 = a->local;
    ck_assert_int_eq(pev_timer_add_in(&k.t, loop, 0, on_tick, &k, pt_pool), APR_SUCCESS);
    pump_ms(800);               /* about 400 ticks, 8,000 messages */
    ck_assert_uint_ge(a->local - local0, 1000);     /* the local bus went on */
    ck_assert_uint_eq(a->local, k.next);
    s = stats_of(a);
    ck_assert_uint_le(k.max_queued, 300);
    ck_assert_uint_le(k.max_bytes, 300 * 60);
    ck_assert_uint_ge(s.dropped, k.next - 100 - 300 - 300);
    pev_timer_cancel(k.t);

    pt_redis_resume(redis);
    PT_PUMP_UNTIL(loop, connected(a) && connected(b) && stats_of(a).queued == 0);
    flood(a, k.next, 50);
    k.next += 50;
    PT_PUMP_UNTIL(loop, b->nseq && b->seqs[b->nseq - 1] == k.next);
    pump_ms(20);
    s = stats_of(a);
    ck_assert_uint_eq(s.sent + s.dropped, k.next);
    ck_assert_uint_le(s.sent, 100 + 300 + 300 + 50 + 300);  /* what the queue held */
    ck_assert_uint_eq(gaps(b), stats_of(b).lost);
    ck_assert_uint_eq(stats_of(b).received + stats_of(b).lost, k.next);
}
END_TEST

/* AUTH: requirepass, an ACL user; a wrong password is a clear error in the
 * stats and one log line per connection, retried with backoff, not a crash
 * loop. */
START_TEST(test_auth)
{
    pev_bridge_options_t o;
    node_t *a, *b, *bad;
    pev_bridge_stats_t s;

    redis = pt_redis_start("topsecret");
    ck_assert_str_eq(pt_redis_cmd(redis, "ACL", "SETUSER", "alice", "on", ">alicepw",
                                  "+@all", "~*", "&*", NULL), "+OK");
    fast_opts(&o, pt_redis_port(redis));
    o.password = "topsecret";
    o.node_id = "a";
    a = node_make(pt_pool, NULL, &o);
    o.user = "alice";
    o.password = "alicepw";
    o.node_id = "b";
    b = node_make(pt_pool, NULL, &o);
    o.user = NULL;
    o.password = "wrong";
    o.node_id = "bad";
    bad = node_make(pt_pool, NULL, &o);
    PT_PUMP_UNTIL(loop, connected(a) && connected(b));
    flood(a, 0, 20);
    flood(b, 0, 30);
    PT_PUMP_UNTIL(loop, b->remote == 20 && a->remote == 30);
    PT_PUMP_UNTIL(loop, stats_of(bad).failures >= 4);
    pump_ms(300);
    s = stats_of(bad);
    ck_assert(!s.connected && !s.pub_connected && !s.sub_connected);
    ck_assert_msg(strstr(s.last_error, "AUTH") && strstr(s.last_error, "WRONGPASS"), "%s",
                  s.last_error);
    ck_assert_uint_ge(s.failures, 4);
    ck_assert_uint_le(s.failures, 40);
    ck_assert_int_eq(bad->log_lines[PEV_BRIDGE_LOG_ERR], 2);
    ck_assert_msg(strstr(bad->last_log, "WRONGPASS") != NULL, "%s", bad->last_log);
    ck_assert_uint_eq(bad->remote, 0);
    ck_assert_uint_eq(stats_of(a).received, 30);

    /* no password where one is needed: NOAUTH */
    o.password = NULL;
    o.node_id = "none";
    bad = node_make(pt_pool, NULL, &o);
    PT_PUMP_UNTIL(loop, stats_of(bad).failures >= 2);
    ck_assert_msg(strstr(stats_of(bad).last_error, "NOAUTH") != NULL, "%s",
                  stats_of(bad).last_error);
}
END_TEST

/* Bad input from Redis: what is not a valid envelope is counted as invalid
 * and dropped, a repeated sequence number as repeated; a hand-made valid
 * envelope is delivered, its gap counted. */
static apr_size_t make_env(char *out, const char *origin, apr_uint64_t epoch,
                           apr_uint64_t seq, const char *event, const char *payload,
                           apr_size_t plen)
{
    apr_size_t olen = strlen(origin), elen = strlen(event), k = 0;
    int i;

    memcpy(out, "PEV\001", 4);
    k = 4;
    out[k++] = (char) olen;
    memcpy(out + k, origin, olen);
    k += olen;
    for (i = 7; i >= 0; i--)
        out[k++] = (char) (epoch >> (8 * i));
    for (i = 7; i >= 0; i--)
        out[k++] = (char) (seq >> (8 * i));
    out[k++] = (char) (elen >> 8);
    out[k++] = (char) elen;
    memcpy(out + k, event, elen);
    k += elen;
    out[k++] = (char) (plen >> 24);
    out[k++] = (char) (plen >> 16);
    out[k++] = (char) (plen >> 8);
    out[k++] = (char) plen;
    memcpy(out + k, payload, plen);
    return k + plen;
}

static void raw_publish(const char *channel, const char *data, apr_size_t len)
{
    const char *argv[3] = { "PUBLISH", channel, data };
    size_t lens[3] = { 7, strlen(channel), len };

    ck_assert_str_eq(pt_redis_cmdv(redis, 3, argv, lens), ":1");
}

START_TEST(test_invalid_input)
{
    pev_bridge_options_t o;
    node_t *b;
    char env[256], pl[64];
    apr_size_t n, plen;
    pev_bridge_stats_t s;

    redis_opts(&o);
    o.node_id = "b";
    b = node_make(pt_pool, NULL, &o);
    PT_PUMP_UNTIL(loop, connected(b));
    plen = make_payload(pl, 7);

    raw_publish("pev:topic.t", "garbage", 7);
    raw_publish("pev:topic.t", "", 0);
    n = make_env(env, "zz", 1, 1, "topic.t", pl, plen);
    raw_publish("pev:topic.t", env, n - 1);                 /* truncated */
    env[3] = 2;
    raw_publish("pev:topic.t", env, n);                     /* another version */
    n = make_env(env, "zz", 1, 1, "topic.u", pl, plen);
    raw_publish("pev:topic.t", env, n);                     /* another event's */
    n = make_env(env, "zz", 1, 0, "topic.t", pl, plen);
    raw_publish("pev:topic.t", env, n);                     /* sequence 0 */
    PT_PUMP_UNTIL(loop, stats_of(b).invalid == 6);
    ck_assert_uint_eq(b->remote + stats_of(b).received, 0);

    n = make_env(env, "zz", 1, 1, "topic.t", pl, plen);
    raw_publish("pev:topic.t", env, n);                     /* valid */
    raw_publish("pev:topic.t", env, n);                     /* repeated */
    n = make_env(env, "zz", 1, 5, "topic.t", pl, plen);
    raw_publish("pev:topic.t", env, n);                     /* 2, 3, 4 lost */
    n = make_env(env, "zz", 2, 1, "topic.t", pl, plen);
    raw_publish("pev:topic.t", env, n);                     /* a new epoch: no gap */
    n = make_env(env, "b", 1, 1, "topic.t", pl, plen);
    raw_publish("pev:topic.t", env, n);                     /* its own id */
    PT_PUMP_UNTIL(loop, stats_of(b).received == 3 && stats_of(b).own == 1);
    s = stats_of(b);
    ck_assert_uint_eq(b->remote, 3);
    ck_assert_uint_eq(b->bad_payload, 0);
    ck_assert_str_eq(b->origin, "zz");
    ck_assert_uint_eq(s.invalid, 6);
    ck_assert_uint_eq(s.repeated, 1);
    ck_assert_uint_eq(s.lost, 3);
    PT_PUMP_UNTIL(loop, b->log_lines[PEV_BRIDGE_LOG_WARNING] >= 2);   /* invalid, lost */
}
END_TEST



/* ------------------------------------------------------------------------ */
/* Memory after a large message                                              */

#define BIG (4u * 1024 * 1024)      /* a large message */
#define KEEP_MAX (1024u * 1024)     /* what may stay of it */

/* Bytes in use in glibc's heap (and its mmapped chunks). */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

/* The process's resident bytes: APR's allocator (mmap on Debian) is not in
 * glibc's heap. Not measurable under valgrind or a sanitizer, whose
 * allocators keep what is freed: 0 there. */
static size_t resident(void)
{
    unsigned long size = 0, rss = 0;
    const char *pre = getenv("LD_PRELOAD");
    FILE *f;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return 0;
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return 0;
#endif
#endif
    if (pre && strstr(pre, "vgpreload"))
        return 0;
    f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &rss), 2);
    fclose(f);
    return (size_t) rss * (size_t) sysconf(_SC_PAGESIZE);
}

static apr_status_t dec_copy(const void **event_data, const pev_bridge_msg_t *m,
                             apr_pool_t *scratch, void *user_data)
{
    pub_t *p = apr_palloc(scratch, sizeof *p);
    char *copy = apr_palloc(scratch, m->len);

    (void) user_data;
    memcpy(copy, m->data, m->len);      /* as pubsubd's decoder does */
    p->topic = m->event + 6;
    p->msg = copy;
    p->len = m->len;
    *event_data = p;
    return APR_SUCCESS;
}

static unsigned big_seen;

static void on_big(const void *event_data, void *user_data)
{
    const pub_t *p = event_data;

    (void) user_data;
    if (p && p->len >= BIG)
        big_seen++;
}

/*
 * After a message of BIG bytes went out through one bridge and came in
 * through another (same process), and small ones after it, the heap and
 * the resident memory are back within KEEP_MAX of what they were before:
 * neither the envelope buffer, nor the scratch pools (the decoder copies
 * the payload into its scratch pool), nor hiredis's reader buffers keep
 * the large message's size.
 */
START_TEST(test_large_message_memory)
{
    pev_bridge_options_t o;
    node_t *a;
    apr_pool_t *bp = pt_unkept_subpool(pt_pool);
    pev_bus_t *bbus;
    pev_bridge_t *b;
    pev_bridge_stats_t s;
    char *big = malloc(BIG);
    size_t before, after, rss_before, rss_after;
    pub_t p;
    unsigned i, round;

    /* glibc gives large chunks back at once (no dynamic threshold), so
     * that what stays resident is what the program keeps */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 128 * 1024);
    ck_assert_ptr_nonnull(big);
    redis_opts(&o);
    o.node_id = "a";
    a = node_make(pt_pool, NULL, &o);
    ck_assert_int_eq(pev_bus_create(&bbus, bp), APR_SUCCESS);
    o.node_id = "b";
    o.log = NULL;
    ck_assert_int_eq(pev_bridge_create(&b, loop, bbus, &o, bp), APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_import(b, "topic.", PEV_BRIDGE_PREFIX, dec_copy, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bbus, NULL, "topic.big", on_big, NULL, bp),
                     APR_SUCCESS);
    PT_PUMP_UNTIL(loop, connected(a) && pev_bridge_stats(b, &s) == APR_SUCCESS
                  && s.connected);
    memset(big, 'x', BIG);
    for (round = 0; round < 3; round++) {
        /* small messages: every buffer at its usual size */
        for (i = 0; i < 50; i++)
            publish(a, i);
        PT_PUMP_UNTIL(loop, pev_bridge_stats(b, &s) == APR_SUCCESS
                      && s.received == round * 101 + 50);
        before = heap_in_use();
        rss_before = resident();
        p.topic = "t";
        p.msg = big;
        p.len = BIG;
        /* topic.big: not node a's own listener's (topic.t) */
        ck_assert_int_eq(pev_event_generate(a->bus, "topic.big", &p), APR_SUCCESS);
        PT_PUMP_UNTIL(loop, big_seen == round + 1);
        for (i = 0; i < 50; i++)
            publish(a, i);
        PT_PUMP_UNTIL(loop, pev_bridge_stats(b, &s) == APR_SUCCESS
                      && s.received == round * 101 + 101 && stats_of(a).queued == 0
                      && stats_of(a).own == round * 101 + 101);   /* its own copies read */
        after = heap_in_use();
        rss_after = resident();
        fprintf(stderr, "check_bridge: a %u KiB message through two bridges: heap %zu KiB"
                " before, %zu KiB after; resident %zu KiB, %zu KiB\n", BIG / 1024,
                before / 1024, after / 1024, rss_before / 1024, rss_after / 1024);
        ck_assert_msg(after < before + KEEP_MAX, "the heap kept %zu KiB after a %u KiB "
                      "message", (after - before) / 1024, BIG / 1024);
        ck_assert_msg(rss_after < rss_before + KEEP_MAX, "%zu KiB more resident after a %u"
                      " KiB message", (rss_after - rss_before) / 1024, BIG / 1024);
    }
    free(big);
}
END_TEST


/*
 * A bridge destroyed while hiredis is in the middle of a large reply (a
 * message of 8 MiB read 16 KiB at a time): the half-made reply lives in
 * the adapter's arena, which goes with it; nothing is freed twice or left
 * behind (valgrind, ASan), and the other bridge goes on.
 */
START_TEST(test_destroy_mid_large_reply)
{
    const apr_size_t n = 8u * 1024 * 1024;
    pev_bridge_options_t o;
    node_t *a, *b;
    char *big = malloc(n);
    pub_t p;
    int i;

    ck_assert_ptr_nonnull(big);
    memset(big, 'y', n);
    redis_opts(&o);
    node_pair(&a, &b, &o, "a", "b");
    p.topic = "t";
    p.msg = big;
    p.len = n;
    ck_assert_int_eq(pev_event_generate(a->bus, "topic.big", &p), APR_SUCCESS);
    /* Redis took it: on its way to b, which reads it a piece at a time */
    PT_PUMP_UNTIL(loop, stats_of(a).sent == 1);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(pev_loop_run_once(loop, 1000), APR_SUCCESS);
    ck_assert_uint_eq(stats_of(b).received, 0);
    destroy_node_pool(b);
    free(big);
    /* a goes on */
    publish(a, 1);
    PT_PUMP_UNTIL(loop, stats_of(a).sent == 2 && stats_of(a).own == 2);
}
END_TEST
/* ------------------------------------------------------------------------ */
/* A bridge replaced by another (a daemon's reload) with the same origins    */

#define GENS 16

/* The receiving node's bridges, one after the other (or two at once), on
 * one bus, sharing one origins table; its listener outlives them. */
typedef struct recv {
    pev_bus_t *bus;
    pev_bridge_origins_t *origins;
    apr_pool_t *pool[GENS];
    pev_bridge_t *br[GENS];
    int live[GENS];
    int n;
    apr_uint64_t lost, repeated, received;    /* of the bridges gone */
    apr_uint64_t seqs[MAX_SEEN];
    unsigned nseq, bad;
    int kill;                   /* >= 0: the listener ends this bridge (from
                                 * inside a dispatch, its own or the
                                 * other's) */
} recv_t;

static void recv_end(recv_t *r, int i);

static apr_status_t dec_plain(const void **event_data, const pev_bridge_msg_t *m,
                              apr_pool_t *scratch, void *user_data)
{
    pub_t *p = apr_palloc(scratch, sizeof *p);

    (void) user_data;
    p->topic = m->event + 6;
    p->msg = m->data;
    p->len = m->len;
    *event_data = p;
    return APR_SUCCESS;
}

static void on_recv_topic(const void *event_data, void *user_data)
{
    recv_t *r = user_data;
    const pev_bridge_msg_t *m = NULL;
    int i;

    (void) event_data;
    for (i = 0; i < r->n && !m; i++)
        if (r->live[i])
            m = pev_bridge_current(r->br[i]);
    if (!m) {
        r->bad++;               /* a local event: none is generated here */
        return;
    }
    ck_assert_uint_lt(r->nseq, MAX_SEEN);
    r->seqs[r->nseq++] = m->seq;
    if (r->kill >= 0) {
        int k = r->kill;

        r->kill = -1;
        recv_end(r, k);         /* m goes with it if it is this one's */
    }
}

/* The next generation's bridge: the same address, the same origins. */
static int recv_gen(recv_t *r, pev_bridge_origins_t *origins)
{
    pev_bridge_options_t o;
    int i = r->n++;

    ck_assert_int_lt(i, GENS);
    fast_opts(&o, pt_redis_port(redis));
    o.node_id = "b";
    o.origins = origins;
    r->pool[i] = pt_unkept_subpool(pt_pool);
    ck_assert_int_eq(pev_bridge_create(&r->br[i], loop, r->bus, &o, r->pool[i]),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_import(r->br[i], "topic.", PEV_BRIDGE_PREFIX, dec_plain,
                                       NULL), APR_SUCCESS);
    r->live[i] = 1;
    return i;
}

static void recv_end(recv_t *r, int i)
{
    pev_bridge_stats_t s;

    ck_assert_int_eq(pev_bridge_stats(r->br[i], &s), APR_SUCCESS);
    r->lost += s.lost;
    r->repeated += s.repeated;
    r->received += s.received;
    r->live[i] = 0;
    apr_pool_destroy(r->pool[i]);
}

static int recv_connected(const recv_t *r, int i)
{
    pev_bridge_stats_t s;

    ck_assert_int_eq(pev_bridge_stats(r->br[i], &s), APR_SUCCESS);
    return s.connected;
}

static apr_uint64_t recv_count(const recv_t *r, int i)
{
    pev_bridge_stats_t s;

    ck_assert_int_eq(pev_bridge_stats(r->br[i], &s), APR_SUCCESS);
    return s.received + s.repeated;
}

/* What the receiver delivered: in order, no repeat; the sum of its gaps. */
static apr_uint64_t recv_gaps(const recv_t *r)
{
    return seq_gaps(r->seqs, r->nseq);
}

/* A receiver for the reload tests (freed by the caller): a Redis, the
 * receiver's bus listening to "topic.t", its origins and its first
 * generation (*cur), and a sender node "a" (*a), both connected. */
static recv_t *recv_setup(node_t **a, int *cur)
{
    pev_bridge_options_t o;
    recv_t *r = calloc(1, sizeof *r);

    ck_assert_ptr_nonnull(r);
    r->kill = -1;
    redis_opts(&o);
    ck_assert_int_eq(pev_bus_create(&r->bus, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_bridge_origins_create(&r->origins, 0, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, r->bus, NULL, "topic.t", on_recv_topic, r,
                                        pt_pool), APR_SUCCESS);
    o.node_id = "a";
    *a = node_make(pt_pool, NULL, &o);
    *cur = recv_gen(r, r->origins);
    PT_PUMP_UNTIL(loop, connected(*a) && recv_connected(r, *cur));
    return r;
}

/* @a a floods from message @a next (bounded) until the receiver's
 * generation @a i is connected; the next message's number. */
static unsigned flood_until_connected(node_t *a, unsigned next, const recv_t *r, int i)
{
    while (!recv_connected(r, i)) {
        ck_assert_uint_lt(next, MAX_SEEN / 2);
        next = flood(a, next, 20);
        ck_assert_int_eq(pev_loop_run_once(loop, 1000), APR_SUCCESS);
    }
    return next;
}

/*
 * A node whose bridge is replaced by one with the same address and the
 * same origins, while another node floods: first with both subscribed and
 * nothing in flight at the switch (nothing could be lost: every message
 * once, lost exactly 0, the second copies counted as repeated); then
 * RELOADS times mid-flood, alternately the old bridge going before the new
 * one exists (a daemon's reload: the messages in between are lost, and
 * counted) and the new one connected before the old goes (both subscribed:
 * no duplicate; the old one ended from the top level, or from inside a
 * listener's dispatch of either bridge). In the end every message of the
 * sender was delivered once in order or counted lost, exactly.
 */
START_TEST(test_reload_same_address)
{
    const unsigned RELOADS = 10;
    recv_t *r;
    node_t *a;
    unsigned next = 0, k;
    int cur, nw;

    r = recv_setup(&a, &cur);

    /* quiet overlap: both bridges read every message; each delivered once */
    next = flood(a, next, 100);
    PT_PUMP_UNTIL(loop, recv_count(r, cur) == 100);
    nw = recv_gen(r, r->origins);
    PT_PUMP_UNTIL(loop, recv_connected(r, nw));
    next = flood(a, next, 100);
    PT_PUMP_UNTIL(loop, recv_count(r, cur) == 200 && recv_count(r, nw) == 100);
    recv_end(r, cur);
    cur = nw;
    ck_assert_uint_eq(r->nseq, 200);
    ck_assert_uint_eq(recv_gaps(r), 0);
    ck_assert_uint_eq(r->lost, 0);
    {
        pev_bridge_stats_t sn;

        ck_assert_int_eq(pev_bridge_stats(r->br[cur], &sn), APR_SUCCESS);
        ck_assert_uint_eq(r->repeated + sn.repeated, 100);  /* the second copies */
    }

    /* mid-flood */
    for (k = 0; k < RELOADS; k++) {
        next = flood(a, next, 300);
        if (k % 2 == 0) {       /* the old first, then the new */
            recv_end(r, cur);
            cur = recv_gen(r, r->origins);
            next = flood_until_connected(a, next, r, cur);
        }
        else {                  /* the new connected, then the old goes */
            nw = recv_gen(r, r->origins);
            next = flood_until_connected(a, next, r, nw);
            next = flood(a, next, 100);
            if (k % 4 == 1) {
                recv_end(r, cur);
            }
            else {              /* from inside a listener of either */
                r->kill = cur;
                while (r->live[cur]) {
                    ck_assert_uint_lt(next, MAX_SEEN / 2);
                    next = flood(a, next, 5);
                    ck_assert_int_eq(pev_loop_run_once(loop, 1000), APR_SUCCESS);
                }
            }
            cur = nw;
        }
    }
    next = flood(a, next, 100);
    PT_PUMP_UNTIL(loop, stats_of(a).queued == 0);
    PT_PUMP_UNTIL(loop, r->nseq && r->seqs[r->nseq - 1] == next);
    recv_end(r, cur);
    ck_assert_uint_eq(stats_of(a).sent, next);
    ck_assert_uint_eq(stats_of(a).dropped, 0);
    ck_assert_uint_eq(r->bad, 0);
    ck_assert_uint_eq(r->received, r->nseq);
    ck_assert_uint_eq(r->seqs[0], 1);
    /* no duplicate, in order; every message delivered or counted lost */
    ck_assert_uint_eq(recv_gaps(r), r->lost);
    ck_assert_uint_eq(r->nseq + r->lost, next);
    fprintf(stderr, "check_bridge: %u reloads mid-flood: %u of %u delivered, %" APR_UINT64_T_FMT
            " lost (counted), %" APR_UINT64_T_FMT " second copies dropped\n", RELOADS,
            r->nseq, next, r->lost, r->repeated);
    free(r);
}
END_TEST

/*
 * A reload that changes the address: the node's bridge moves to another
 * Redis (the sender stays on the first), then back; with the same origins,
 * what the sender published while the node was away is one gap, counted
 * exactly; nothing repeated or reordered.
 */
START_TEST(test_reload_other_address)
{
    pt_redis_t *r2 = pt_redis_start(NULL);
    recv_t *r;
    node_t *a;
    unsigned next = 0, away;
    int cur;

    r = recv_setup(&a, &cur);
    next = flood(a, next, 200);
    PT_PUMP_UNTIL(loop, r->nseq == 200);

    /* to the other Redis: nothing of a's comes there */
    recv_end(r, cur);
    {
        pt_redis_t *first = redis;

        redis = r2;
        cur = recv_gen(r, r->origins);
        redis = first;
    }
    PT_PUMP_UNTIL(loop, recv_connected(r, cur));
    next = flood(a, next, 300);
    PT_PUMP_UNTIL(loop, stats_of(a).queued == 0);
    pump_ms(20);
    ck_assert_uint_eq(r->nseq, 200);
    away = next - 200;

    /* and back */
    recv_end(r, cur);
    cur = recv_gen(r, r->origins);
    PT_PUMP_UNTIL(loop, recv_connected(r, cur));
    next = flood(a, next, 100);
    PT_PUMP_UNTIL(loop, r->nseq && r->seqs[r->nseq - 1] == next);
    recv_end(r, cur);
    ck_assert_uint_eq(recv_gaps(r), r->lost);
    ck_assert_uint_eq(r->nseq + r->lost, next);
    ck_assert_uint_eq(r->nseq, 300);            /* before and after */
    ck_assert_uint_eq(r->lost, away);           /* the gap, counted */
    pt_redis_free(r2);
    free(r);
}
END_TEST

/*
 * The origins table is bounded: it forgets the least recently seen pair
 * (counted), never one seen among the last `max`, so a replay of a message
 * of a recent origin stays refused however many new origins came. Its pool
 * may go while a bridge uses it.
 */
START_TEST(test_origins_bounded)
{
    pev_bridge_options_t o;
    pev_bridge_origins_t *org;
    apr_pool_t *opool = pt_unkept_subpool(pt_pool);
    node_t *b;
    char env[256], pl[64], id[8];
    apr_size_t n, plen;
    pev_bridge_stats_t s;
    int i;

    ck_assert_int_eq(pev_bridge_origins_create(NULL, 4, pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_bridge_origins_create(&org, 4, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_bridge_origins_create(&org, PEV_BRIDGE_ORIGINS_MAX + 1, pt_pool),
                     APR_EINVAL);
    ck_assert_ptr_null(org);
    ck_assert_int_eq(pev_bridge_origins_create(&org, 4, opool), APR_SUCCESS);
    redis_opts(&o);
    o.node_id = "b";
    o.origins = org;
    b = node_make(pt_pool, NULL, &o);
    apr_pool_destroy(opool);                    /* the bridge keeps it */
    PT_PUMP_UNTIL(loop, connected(b));
    plen = make_payload(pl, 7);

#define ENV(origin, seq)                                                      \
    do {                                                                      \
        n = make_env(env, (origin), 9, (seq), "topic.t", pl, plen);           \
        raw_publish("pev:topic.t", env, n);                                   \
    } while (0)
    ENV("o1", 5);
    for (i = 2; i <= 4; i++) {
        snprintf(id, sizeof id, "o%d", i);
        ENV(id, 1);
    }
    ENV("o1", 6);                               /* o1 seen again */
    ENV("o5", 1);                               /* full: o2 forgotten */
    PT_PUMP_UNTIL(loop, stats_of(b).received == 6);
    ck_assert_uint_eq(stats_of(b).forgotten, 1);
    ENV("o1", 3);                               /* replays of recent pairs */
    ENV("o1", 6);
    ENV("o3", 1);
    PT_PUMP_UNTIL(loop, stats_of(b).repeated == 3);
    ENV("o2", 1);                               /* forgotten: taken as new */
    ENV("o1", 7);
    PT_PUMP_UNTIL(loop, stats_of(b).received == 8);
    s = stats_of(b);
    ck_assert_uint_eq(s.forgotten, 2);          /* o4, the least recent */
    ck_assert_uint_eq(s.repeated, 3);
    ck_assert_uint_eq(s.lost, 0);
    ck_assert_uint_eq(s.invalid, 0);
    ck_assert_uint_eq(b->remote, 8);

    /* many origins through a table of 4: bounded, the recent one kept */
    for (i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "n%d", i);
        ENV(id, 1);
        ENV("o1", 8 + (apr_uint64_t) i);
    }
    ENV("o1", 100);                             /* a replay after all that */
    PT_PUMP_UNTIL(loop, stats_of(b).received == 8 + 400 && stats_of(b).repeated == 4);
    ck_assert_uint_eq(stats_of(b).lost, 0);
#undef ENV
}
END_TEST

/* A host name: resolved without blocking the loop (pev_connect), then
 * connected by address; a name that does not resolve is a failure. */
START_TEST(test_host_name)
{
    pev_bridge_options_t o;
    node_t *a, *b;

    redis_opts(&o);
    o.host = "localhost";
    o.node_id = "a";
    a = node_make(pt_pool, NULL, &o);
    o.host = "127.0.0.1";
    o.node_id = "b";
    b = node_make(pt_pool, NULL, &o);
    PT_PUMP_UNTIL(loop, connected(a) && connected(b));
    flood(a, 0, 10);
    PT_PUMP_UNTIL(loop, b->remote == 10);

    o.host = "no-such-host.invalid";
    o.node_id = "c";
    a = node_make(pt_pool, NULL, &o);
    PT_PUMP_UNTIL(loop, stats_of(a).failures >= 2);
    ck_assert_msg(strstr(stats_of(a).last_error, "no-such-host.invalid") != NULL, "%s",
                  stats_of(a).last_error);
}
END_TEST

/* A name resolved without blocking the loop: a DNS responder of the test's
 * own, on the loop, answers "redis.bridge.test" only after 300 ms; the loop
 * runs a ticker all along, and the bridge connects once the answer came.
 * (The system's resolver does not know the name: hiredis resolving it
 * itself could not connect.) */
#define DNS_NAME "redis.bridge.test"
#define DNS_DELAY_MS 300

typedef struct dnsq {
    int fd;
    unsigned queries;
    unsigned char reply[8][512];
    size_t rlen[8];
    struct sockaddr_in from[8];
    int pending;
    pev_timer_t *t;
} dnsq_t;

static size_t dns_answer(const unsigned char *q, size_t qlen, unsigned char *out)
{
    char name[256];
    size_t n;
    int qtype, known;

    if ((n = pt_dns_question(q, qlen, name, &qtype)) == 0)
        return 0;
    known = strcmp(name, DNS_NAME) == 0;
    pt_dns_reply_start(q, n, out, known);
    if (known && qtype == 1) {
        static const unsigned char rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4,
                                            127, 0, 0, 1 };

        out[7] = 1;
        memcpy(out + n, rr, sizeof rr);
        n += sizeof rr;
    }
    return n;
}

static void on_dns_due(pev_timer_t *t, void *user_data)
{
    dnsq_t *d = user_data;
    int i;

    (void) t;
    for (i = 0; i < d->pending; i++)
        sendto(d->fd, d->reply[i], d->rlen[i], 0, (struct sockaddr *) &d->from[i],
               sizeof d->from[i]);
    d->pending = 0;
}

static void on_dns_query(pev_watch_t *w, apr_int16_t events, void *user_data)
{
    dnsq_t *d = user_data;
    unsigned char q[512];
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    ssize_t got = recvfrom(d->fd, q, sizeof q, 0, (struct sockaddr *) &from, &flen);

    (void) w, (void) events;
    if (got <= 0 || d->pending == 8)
        return;
    d->queries++;
    d->rlen[d->pending] = dns_answer(q, (size_t) got, d->reply[d->pending]);
    d->from[d->pending] = from;
    if (d->rlen[d->pending])
        d->pending++;
    if (!pev_timer_armed(d->t))
        pev_timer_rearm_in(d->t, DNS_DELAY_MS * 1000);
}

static unsigned ticks;

static void on_ticker(pev_timer_t *t, void *user_data)
{
    (void) user_data;
    ticks++;
    pev_timer_rearm_in(t, 5000);
}

START_TEST(test_resolve_without_blocking)
{
    pev_bridge_options_t o;
    node_t *a, *b;
    dnsq_t *d = apr_pcalloc(pt_pool, sizeof *d);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    char servers[64];
    pev_timer_t *ticker;
    apr_time_t t0;
    unsigned ticks0;

    d->fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(d->fd, 0);
    pt_keep_fd(d->fd);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(d->fd, (struct sockaddr *) &sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(d->fd, (struct sockaddr *) &sa, &len), 0);
    snprintf(servers, sizeof servers, "127.0.0.1:%u", ntohs(sa.sin_port));
    if (pev_connect_set_dns_servers(loop, servers) == APR_ENOTIMPL)
        return;                 /* built without c-ares: no servers of our own */
    ck_assert_int_eq(pev_watch_add_fd(NULL, loop, d->fd, PEV_WATCH_READ, on_dns_query, d,
                                      pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_add(&d->t, loop, 0, on_dns_due, d, pt_pool), APR_SUCCESS);
    pev_timer_cancel(d->t);

    redis_opts(&o);
    o.node_id = "b";
    b = node_make(pt_pool, NULL, &o);
    PT_PUMP_UNTIL(loop, connected(b));
    ck_assert_int_eq(pev_timer_add_in(&ticker, loop, 0, on_ticker, NULL, pt_pool),
                     APR_SUCCESS);
    o.host = DNS_NAME;
    o.node_id = "a";
    t0 = pev_clock_monotonic();
    ticks0 = ticks;
    a = node_make(pt_pool, NULL, &o);
    PT_PUMP_UNTIL(loop, connected(a));
    ck_assert_uint_ge(d->queries, 1);
    ck_assert_uint_ge(pev_clock_monotonic() - t0, DNS_DELAY_MS * 1000);
    ck_assert_uint_ge(ticks - ticks0, 10);      /* the loop ran while it resolved */
    flood(a, 0, 10);
    PT_PUMP_UNTIL(loop, b->remote == 10);
    pev_timer_cancel(ticker);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Seeded randomized teardown                                                */

/* Bridges' pools destroyed at random points (from the top, a timer, a
 * decoder, a listener, the log callback, an encoder) during a flood with killed
 * connections; under valgrind and ASan nothing is touched after it went,
 * nothing leaks; the sender sees a consistent world throughout. */
#define VICTIMS 4

static void on_destroy_timer(pev_timer_t *t, void *user_data)
{
    (void) t;
    destroy_node_pool(user_data);
}

START_TEST(test_random_teardown)
{
    pt_rng_t rng = { pt_seed("check_bridge random teardown") };
    pev_bridge_options_t o;
    node_t *sender, *v[VICTIMS] = { NULL };
    pev_bridge_stats_t s;
    unsigned next = 0, made = 0, destroyed = 0;
    int round, i;
    char id[32];

    redis_opts(&o);
    o.node_id = "sender";
    sender = node_make(pt_pool, NULL, &o);
    PT_PUMP_UNTIL(loop, connected(sender));
    for (round = 0; round < 60; round++) {
        unsigned k = pt_below(&rng, VICTIMS);

        if (v[k] && v[k]->destroyed) {
            destroyed++;
            v[k] = NULL;
        }
        switch (pt_below(&rng, 7)) {
        case 0:                 /* a new victim */
            if (!v[k]) {
                snprintf(id, sizeof id, "v%u", made++);
                o.node_id = id;
                o.queue_limit = 1 + pt_below(&rng, 200);
                v[k] = node_make(pt_pool, NULL, &o);
                v[k]->track = "sender";
            }
            break;
        case 1:                 /* destroyed by its next decoder, listener, log
                                 * line, encoding */
            if (v[k])
                v[k]->destroy_in = 1 + (int) pt_below(&rng, 4);
            break;
        case 2:
            pt_redis_cmd(redis, "CLIENT", "KILL", "TYPE",
                         pt_below(&rng, 2) ? "pubsub" : "normal", NULL);
            break;
        case 3:
            next = flood(sender, next, 20 + pt_below(&rng, 200));
            break;
        case 4:                 /* from the top */
            if (v[k])
                destroy_node_pool(v[k]);
            break;
        case 5:                 /* from a timer */
            if (v[k])
                ck_assert_int_eq(pev_timer_add_in(NULL, loop, pt_below(&rng, 20) * 1000,
                                                  on_destroy_timer, v[k], v[k]->pool),
                                 APR_SUCCESS);
            break;
        case 6:
            if (v[k] && !v[k]->destroyed)
                flood(v[k], 0, 1 + pt_below(&rng, 50));
            pump_ms((long) pt_below(&rng, 20));
            break;
        }
        ck_assert_int_eq(pev_loop_run_once(loop, 0), APR_SUCCESS);
    }
    /* what survived is consistent; the sender still works */
    PT_PUMP_UNTIL(loop, connected(sender) && stats_of(sender).queued == 0);
    next = flood(sender, next, 10);
    PT_PUMP_UNTIL(loop, stats_of(sender).queued == 0);
    for (i = 0; i < VICTIMS; i++)
        if (v[i] && !v[i]->destroyed && v[i]->nseq) {
            pump_ms(5);
            (void) gaps(v[i]);  /* in order, never repeated */
            ck_assert_uint_eq(v[i]->bad_payload, 0);
        }
    s = stats_of(sender);
    ck_assert_uint_eq(s.sent + s.dropped, next);
    ck_assert_uint_eq(sender->bad_payload, 0);
    printf("random teardown: %u victims made, %u destroyed, %u messages\n", made, destroyed,
           next);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Built without hiredis                                                     */

START_TEST(test_notimpl)
{
    pev_bridge_options_t o;
    pev_bridge_stats_t s;
    pev_bus_t *bus;
    pev_bridge_t *b = (pev_bridge_t *) &o;

    ck_assert_int_eq(pev_bridge_available(), 0);
    ck_assert_int_eq(pev_bus_create(&bus, pt_pool), APR_SUCCESS);
    pev_bridge_options_init(&o);
    ck_assert_int_eq(pev_bridge_create(&b, loop, bus, &o, pt_pool), APR_ENOTIMPL);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(pev_bridge_parse_url(&o, "redis://h", pt_pool), APR_ENOTIMPL);
    ck_assert_int_eq(pev_bridge_export(NULL, "x", 0, NULL, NULL), APR_ENOTIMPL);
    ck_assert_int_eq(pev_bridge_import(NULL, "x", 0, NULL, NULL), APR_ENOTIMPL);
    ck_assert_int_eq(pev_bridge_stats(NULL, &s), APR_ENOTIMPL);
    ck_assert_int_eq(pev_bridge_flush(NULL), APR_ENOTIMPL);
    {
        pev_bridge_origins_t *org = (pev_bridge_origins_t *) &o;

        ck_assert_int_eq(pev_bridge_origins_create(&org, 0, pt_pool), APR_ENOTIMPL);
        ck_assert_ptr_null(org);
    }
    ck_assert_ptr_null(pev_bridge_current(NULL));
    ck_assert_ptr_null(pev_bridge_origin(NULL));
    ck_assert_ptr_null(pev_bridge_node_id(NULL));
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *bridge_suite(void)
{
    Suite *s = suite_create("bridge");
    TCase *tc;

    if (!pev_bridge_available()) {
        tc = tcase_create("without hiredis");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_notimpl);
        suite_add_tcase(s, tc);
        return s;
    }
    tc = tcase_create("harness");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_harness_redis);
    tcase_add_test(tc, test_args);
    suite_add_tcase(s, tc);

    tc = tcase_create("normal");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_two_generations);
    tcase_add_test(tc, test_reload_same_address);
    tcase_add_test(tc, test_reload_other_address);
    tcase_add_test(tc, test_large_message_memory);
    tcase_add_test(tc, test_destroy_mid_large_reply);
    tcase_add_test(tc, test_two_loops);
    tcase_add_test(tc, test_export_written_in_its_iteration);
    tcase_add_test(tc, test_flush_in_callback);
    tcase_add_test(tc, test_quiet_replies);
    suite_add_tcase(s, tc);

    tc = tcase_create("pools");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_destroy_in_callback);
    tcase_add_test(tc, test_destroy_in_encoder);
    tcase_add_test(tc, test_loop_or_bus_first);
    tcase_add_test(tc, test_loop_or_bus_in_listener);
    tcase_add_test(tc, test_log_destroys_loop);
    tcase_add_test(tc, test_random_teardown);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_absent_at_start);
    tcase_add_test(tc, test_lost_connections);
    tcase_add_test(tc, test_stalled);
    tcase_add_test(tc, test_auth);
    tcase_add_test(tc, test_quiet_replies_without_echoes);
    tcase_add_test(tc, test_quiet_queue_without_echoes);
    tcase_add_test(tc, test_invalid_input);
    tcase_add_test(tc, test_origins_bounded);
    tcase_add_test(tc, test_host_name);
    tcase_add_test(tc, test_resolve_without_blocking);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (pev_bridge_available())
        pt_redis_require("check_bridge");
    return pt_run(bridge_suite());
}
