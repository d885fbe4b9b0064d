/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_cluster.c - pubsubd as a cluster (doc/cluster.md), measured against
 * Redis pub/sub through the same redis-server, in the same run.
 *
 * Child processes on free loopback ports: one redis-server (no
 * persistence), pubsubd nodes A and B with "Cluster redis://..." on it, and
 * pubsubd node L without Cluster. One load client, single-threaded on
 * epoll, speaks both protocols. Each message carries its sequence number
 * and the time it was sent; every delivery is checked (in order, none lost)
 * and its latency measured (publish written to delivery read).
 *
 *  1. Cross-node delivery: a publisher on node A, S subscribers on node B
 *     (A -> Redis -> B), against a Redis publisher and S Redis subscribers
 *     on the same redis-server (the direct path the cluster adds a hop to).
 *     W messages in flight, end to end: a new message when the slowest
 *     subscriber has received one more (a pubsubd PUB is answered by node A
 *     before the message reaches Redis, so its reply cannot pace the
 *     publisher; the same pacing is used for Redis). Per shape (S, W):
 *     deliveries per second, p50 and p99 latency. Goals: p50 and p99 at
 *     most 1.5x the direct path, deliveries per second at least 0.8x.
 *  2. What the bridge costs a local PUB when no node subscribes: PUB and
 *     its reply on node A (Cluster, connected, the message exported to
 *     Redis) against node L (no Cluster). W PUBs in flight, paced by the
 *     replies: PUBs per second, p50 and p99 of the round trip.
 *
 * Rounds alternate the two sides (cluster first in odd rounds); figures are
 * medians over rounds, ratios are of medians of the same run.
 *
 *   bench_cluster [--smoke] [PUBSUBD [REDIS-SERVER]]
 *
 * --smoke: one short round of one shape of each, for CI (everything runs
 * and every message arrives; no speed is judged). BENCH_RUNS sets the
 * rounds (default 5), BENCH_SECONDS the length of a measurement (default
 * 2), BENCH_PART=1 or 2 runs that part only, POOLEV_BENCH_NODE_SPIN=US
 * gives the pubsubd nodes "LoopSpin US" (a spin before sleeping: it trades
 * their CPU for latency; Redis does not spin). Without redis-server it says
 * so and exits 0.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"
#include "pubsub_client.h"

#define MAX_SUBS 100

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */

/* A pubsubd node; @a redis_port 0: without Cluster. Waits until its log
 * says where it listens. */
static void node_start(proc_t *n, const char *path, int redis_port)
{
    char log[128], conf[128];
    char *argv[] = { (char *) path, "-f", conf, NULL };
    FILE *f;

    temp_dir(n->dir, sizeof n->dir, "cluster");
    snprintf(log, sizeof log, "%s/log", n->dir);
    snprintf(conf, sizeof conf, "%s/pubsubd.conf", n->dir);
    f = fopen(conf, "w");
    SYSCHECK(f != NULL, "fopen");
    /* as bench_pubsub: no idle timeout, no stats, a large output limit
     * (Redis's pubsub clients are unlimited here too) */
    fprintf(f, "Listen 127.0.0.1:0\nIdleTimeout off\nStatsInterval off\n"
               "OutputLimit 64m\nMaxLine 4k\nLogLevel info\n");
    if (redis_port)
        fprintf(f, "Cluster redis://127.0.0.1:%d\nClusterQueueLimit 1m 256m\n", redis_port);
    if (getenv("POOLEV_BENCH_NODE_SPIN"))
        fprintf(f, "LoopSpin %s\n", getenv("POOLEV_BENCH_NODE_SPIN"));
    fclose(f);
    n->pid = spawn(argv, log);
    n->port = pubsubd_port(log, n->pid);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

typedef struct run {
    int epfd;
    conn_t *pub;
    conn_t *subs[MAX_SUBS];
    int nsubs;
    int window;
    int by_reply;               /* paced by the replies (else by deliveries) */
    uint64_t sent, replies, probe_seen;
    uint64_t deliveries;
    uint64_t hist[HIST_US + 1];
    uint64_t rtt_hist[HIST_US + 1];
    uint64_t sent_at[4096];     /* by seq % 4096: when it was written (RTT) */
    int publishing;
} run_t;

static void publish(run_t *r)
{
    uint64_t now = bench_now_ns();

    conn_publish(r->pub, r->sent, now);
    r->sent_at[r->sent % 4096] = now;
    r->sent++;
}

static void delivered(void *ctx, conn_t *c, const char *msg)
{
    run_t *r = ctx;
    uint64_t seq = msg_seq(msg), ts = msg_sent_ns(msg);
    uint64_t us = (bench_now_ns() - ts) / 1000;

    if (seq != c->next_seq)
        FAIL("a subscriber got message %" PRIu64 ", expected %" PRIu64
             " (lost or reordered)", seq, c->next_seq);
    c->next_seq++;
    r->deliveries++;
    r->hist[us < HIST_US ? us : HIST_US]++;
}

static void replied(void *ctx)
{
    run_t *r = ctx;
    uint64_t us = (bench_now_ns() - r->sent_at[r->replies % 4096]) / 1000;

    r->rtt_hist[us < HIST_US ? us : HIST_US]++;
    r->replies++;
}

static const conn_ops_t ops = { delivered, replied };

/* The fewest messages any subscriber has received. */
static uint64_t slowest(run_t *r)
{
    uint64_t m = UINT64_MAX;
    int i;

    for (i = 0; i < r->nsubs; i++)
        if (r->subs[i]->next_seq < m)
            m = r->subs[i]->next_seq;
    return r->nsubs ? m : r->sent;
}

static int pump(run_t *r, int (*done)(run_t *), uint64_t max_ns)
{
    uint64_t end = bench_now_ns() + max_ns;

    while (!done(r)) {
        if (bench_now_ns() > end)
            return 0;
        if (r->publishing) {
            if (r->by_reply)
                while (r->sent - r->replies < (uint64_t) r->window)
                    publish(r);
            else
                while (r->sent - slowest(r) < (uint64_t) r->window)
                    publish(r);
        }
        if (r->pub->olen)
            conn_flush(r->epfd, r->pub);
        conns_poll(r->epfd, &ops, r);
    }
    return 1;
}

static int all_ready(run_t *r)
{
    return conns_ready(r->pub, r->subs, r->nsubs);
}

static int all_delivered(run_t *r)
{
    return r->replies == r->sent && slowest(r) == r->sent;
}

/* Every subscriber got at least one message (the path is up). */
static int all_heard(run_t *r)
{
    return slowest(r) > 0 || r->nsubs == 0;
}

static int never(run_t *r)
{
    (void) r;
    return 0;
}

typedef struct result {
    double per_sec;             /* deliveries (or replies) per second */
    double p50_us, p99_us;
    double cpu_ns;              /* the servers' CPU per message (see measure()) */
} result_t;

/* The servers whose CPU a measurement counts (0-terminated). */
static pid_t cpu_pids[4];

static double servers_cpu(void)
{
    double t = 0;
    int i;

    for (i = 0; cpu_pids[i]; i++)
        t += proc_cpu(cpu_pids[i]);
    return t;
}

/*
 * One measurement: a publisher on @a pub_port, @a nsubs subscribers on
 * @a sub_port (both speaking @a proto), @a window in flight, for @a ns.
 * @a by_reply: pace by replies and measure the round trip (no subscriber).
 */
static result_t measure(enum proto proto, int pub_port, int sub_port, int nsubs, int window,
                        int by_reply, uint64_t ns)
{
    run_t *r = calloc(1, sizeof *r);
    result_t res;
    uint64_t t0, t1, d0, m0;
    double c0, c1;
    int i;

    SYSCHECK(r != NULL, "calloc");
    r->window = window;
    r->by_reply = by_reply;
    r->epfd = epoll_create1(0);
    SYSCHECK(r->epfd >= 0, "epoll_create1");
    r->pub = conn_new(r->epfd, pub_port, proto, 0);
    r->nsubs = nsubs;
    for (i = 0; i < nsubs; i++) {
        r->subs[i] = conn_new(r->epfd, sub_port, proto, 1);
        conn_subscribe(r->subs[i]);
        conn_flush(r->epfd, r->subs[i]);
    }
    if (!pump(r, all_ready, 10ull * 1000000000))
        FAIL("the subscribers were not all subscribed within 10 s");
    /* the path is up (node B heard node A through Redis), then warm up */
    r->publishing = 1;
    r->window = 1;
    if (!pump(r, all_heard, 10ull * 1000000000))
        FAIL("no message went through within 10 s");
    r->window = window;
    (void) pump(r, never, ns / 4);
    memset(r->hist, 0, sizeof r->hist);
    memset(r->rtt_hist, 0, sizeof r->rtt_hist);
    d0 = by_reply ? r->replies : r->deliveries;
    m0 = r->sent;
    c0 = servers_cpu();
    t0 = bench_now_ns();
    (void) pump(r, never, ns);
    t1 = bench_now_ns();
    c1 = servers_cpu();
    d0 = (by_reply ? r->replies : r->deliveries) - d0;
    m0 = r->sent - m0;
    res.cpu_ns = (c1 - c0) * 1e9 / (double) (m0 ? m0 : 1);
    res.per_sec = (double) d0 * 1e9 / (double) (t1 - t0);
    res.p50_us = hist_quantile(by_reply ? r->rtt_hist : r->hist, d0, 0.50);
    res.p99_us = hist_quantile(by_reply ? r->rtt_hist : r->hist, d0, 0.99);
    r->publishing = 0;
    if (!pump(r, all_delivered, 10ull * 1000000000))
        FAIL("messages missing 10 s after the last publish");
    for (i = 0; i < nsubs; i++)
        conn_free(r->subs[i]);
    conn_free(r->pub);
    close(r->epfd);
    free(r);
    return res;
}

int main(int argc, char **argv)
{
    static const int shapes[][2] = { { 1, 1 }, { 10, 1 }, { 10, 32 } };
    static const int windows[] = { 1, 32 };
    const char *pubsubd = "examples/pubsubd", *redis = "/usr/bin/redis-server";
    int smoke = 0, argi = 1, rounds, nshapes, nwin, s, i, k;
    double seconds, load0;
    proc_t rs, a, b, l;

    if (argi < argc && strcmp(argv[argi], "--smoke") == 0) {
        smoke = 1;
        argi++;
    }
    if (argi < argc)
        pubsubd = argv[argi++];
    if (argi < argc)
        redis = argv[argi++];
    rounds = smoke ? 1 : bench_runs_from_env("BENCH_RUNS", 5);
    seconds = smoke ? 0.3 : bench_env_double("BENCH_SECONDS", 2, 0.1, 60);
    nshapes = smoke ? 1 : (int) (sizeof shapes / sizeof shapes[0]);
    nwin = smoke ? 1 : (int) (sizeof windows / sizeof windows[0]);
    signal(SIGPIPE, SIG_IGN);

    printf("poolev %s cluster benchmark: pubsubd nodes through Redis against Redis alone\n",
           POOLEV_VERSION_STRING);
    if (access(redis, X_OK) != 0) {
        printf("redis-server is not installed (%s): nothing to measure\n", redis);
        return 0;
    }
    if (!pev_bridge_available()) {
        printf("libpoolev was built without the Redis bridge (no hiredis): pubsubd has no"
               " Cluster, nothing to measure\n");
        return 0;
    }
    signal(SIGABRT, kill_children);
    bench_print_machine();
    load0 = bench_loadavg();
    printf("one load client; %d-byte messages; %d round(s) of %.1f s per shape, sides"
           " alternating; medians; load average %.2f at the start\n\n", PAYLOAD, rounds,
           seconds, load0);
    redis_start(&rs, redis, "cluster");
    node_start(&a, pubsubd, rs.port);
    node_start(&b, pubsubd, rs.port);
    node_start(&l, pubsubd, 0);

    if (getenv("BENCH_PART") && strcmp(getenv("BENCH_PART"), "2") == 0)
        nshapes = 0;
    if (getenv("BENCH_PART") && strcmp(getenv("BENCH_PART"), "1") == 0)
        nwin = 0;
    printf("1. cross-node delivery: PUB on node A -> Redis -> subscribers on node B, against"
           " PUBLISH -> Redis -> SUBSCRIBE\n");
    printf("%-8s | %-28s | %-24s | %-24s | %-24s\n", "subs, W", "deliveries/s",
           "p50 latency (us)", "p99 latency (us)", "server CPU/message (us)");
    for (s = 0; s < nshapes; s++) {
        double v[2][4][BENCH_MAX_RUNS], m[2][4];

        for (i = 0; i < rounds; i++)
            for (k = 0; k < 2; k++) {
                int which = (i % 2) ? 1 - k : k;
                result_t res;

                /* the CPU of every server on the path: A, Redis, B; or Redis */
                cpu_pids[0] = rs.pid;
                cpu_pids[1] = which == 0 ? a.pid : 0;
                cpu_pids[2] = which == 0 ? b.pid : 0;
                cpu_pids[3] = 0;
                res = which == 0
                    ? measure(P_PUBSUBD, a.port, b.port, shapes[s][0], shapes[s][1], 0,
                              (uint64_t) (seconds * 1e9))
                    : measure(P_REDIS, rs.port, rs.port, shapes[s][0], shapes[s][1], 0,
                              (uint64_t) (seconds * 1e9));
                v[which][0][i] = res.per_sec;
                v[which][1][i] = res.p50_us;
                v[which][2][i] = res.p99_us;
                v[which][3][i] = res.cpu_ns / 1000;
            }
        for (k = 0; k < 2; k++)
            for (i = 0; i < 4; i++)
                m[k][i] = bench_median_of(v[k][i], rounds);
        printf("%3d, %-3d | %7.0f vs %7.0f (%5.2fx) | %5.0f vs %5.0f (%5.2fx) |"
               " %5.0f vs %5.0f (%5.2fx) | %5.1f vs %5.1f (%5.2fx)\n", shapes[s][0],
               shapes[s][1], m[0][0], m[1][0], m[0][0] / m[1][0], m[0][1], m[1][1],
               m[0][1] / m[1][1], m[0][2], m[1][2], m[0][2] / m[1][2], m[0][3], m[1][3],
               m[0][3] / m[1][3]);
    }
    printf("(cluster vs Redis alone; goals: deliveries/s >= 0.8x, p50 and p99 <= 1.5x;\n"
           " CPU: A + Redis + B against Redis, per message published)\n\n");

    printf("2. a local PUB when no node subscribes: node A (Cluster, exported to Redis)"
           " against node L (no Cluster)\n");
    printf("%-8s | %-28s | %-24s | %-24s | %-24s | %s\n", "W", "PUBs/s",
           "p50 round trip (us)", "p99 round trip (us)", "node CPU/PUB (us)",
           "Redis CPU/PUB (us)");
    for (s = 0; s < nwin; s++) {
        double v[2][5][BENCH_MAX_RUNS], m[2][5];

        for (i = 0; i < rounds; i++)
            for (k = 0; k < 2; k++) {
                int which = (i % 2) ? 1 - k : k;
                result_t res;
                double r0 = proc_cpu(rs.pid);

                cpu_pids[0] = which == 0 ? a.pid : l.pid;
                cpu_pids[1] = 0;
                res = measure(P_PUBSUBD, which == 0 ? a.port : l.port, 0, 0, windows[s], 1,
                              (uint64_t) (seconds * 1e9));
                v[which][0][i] = res.per_sec;
                v[which][1][i] = res.p50_us;
                v[which][2][i] = res.p99_us;
                v[which][3][i] = res.cpu_ns / 1000;
                /* Redis, over the whole measure() (warm-up included): a rough
                 * figure, per PUB of the timed part */
                v[which][4][i] = (proc_cpu(rs.pid) - r0) * 1e6 / (res.per_sec * seconds);
            }
        for (k = 0; k < 2; k++)
            for (i = 0; i < 5; i++)
                m[k][i] = bench_median_of(v[k][i], rounds);
        printf("%-8d | %7.0f vs %7.0f (%5.2fx) | %5.0f vs %5.0f (%5.2fx) |"
               " %5.0f vs %5.0f (%5.2fx) | %5.1f vs %5.1f (%5.2fx) | %5.1f\n", windows[s],
               m[0][0], m[1][0], m[0][0] / m[1][0], m[0][1], m[1][1], m[0][1] / m[1][1],
               m[0][2], m[1][2], m[0][2] / m[1][2], m[0][3], m[1][3], m[0][3] / m[1][3],
               m[0][4]);
    }
    printf("(with Cluster vs without: what exporting each PUB costs the publisher's node;\n"
           " Redis also sends each message back to A, which drops its own)\n");
    printf("load average %.2f at the start, %.2f at the end (the machine may be shared:"
           " compare ratios, not absolute figures)\n", load0, bench_loadavg());
    proc_stop(&a.pid, a.dir);
    proc_stop(&b.pid, b.dir);
    proc_stop(&l.pid, l.dir);
    proc_stop(&rs.pid, rs.dir);
    return 0;
}
