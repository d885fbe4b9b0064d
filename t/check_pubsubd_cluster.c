/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_pubsubd_cluster.c - pubsubd as a cluster (doc/cluster.md): two and
 * three pubsubd processes and a redis-server of the test's own, real TCP
 * clients over loopback, end to end.
 *
 * Each test starts its redis-server(s) on free loopback ports
 * (t/harness_redis.h) and its nodes with "Listen 127.0.0.1:0" and
 * "Cluster redis://127.0.0.1:PORT", learns each node's port from its log,
 * and stops everything (one test, on the order of a PUB's writes, puts a
 * fake Redis of its own in their place). Before a test counts anything it waits until every
 * node hears every other one (join(): probes on a topic of their own, until
 * each node's probe subscriber got a probe of each other node), and until
 * the counters stand still (settle()): the counts it checks are the
 * differences over what it did. Every wait has a deadline.
 *
 * Without redis-server the suite reports SKIP (exit 77) on stderr; in a
 * build without the Redis bridge it only checks that pubsubd refuses
 * Cluster and says why.
 *
 * POOLEV_CLUSTER_MSGS sets the messages per publisher of the floods
 * (default 2000; CI's valgrind pass makes it smaller). POOLEV_CLUSTER_KEEP
 * keeps each test's directory (the nodes' configurations and logs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config.h"
#include "harness.h"
#include "harness_redis.h"
#include "pubsubd_fixture.h"

/* START_MS (pubsubd_fixture.h): a node starts, reloads or stops */
#define JOIN_MS    10000    /* every node hears every other one */
#define NODES      3
#define PUBS       8        /* publishers in one flood */
#define SUBS       8        /* subscribers followed in one flood */
#define WINDOW     50       /* PUBs a publisher has in flight */

static long msgs(void)
{
    return pt_env_long("POOLEV_CLUSTER_MSGS", 2000);
}

/* ======================================================================== */
/* Nodes: pubsubd processes                                                  */

typedef struct node {
    pid_t pid;
    char conf[128];
    char log[128];
    unsigned port;
    unsigned gen;               /* the generation it runs */
} node_t;

static char dir[64];
static node_t N[NODES];
static pid_t RC[NODES];                 /* Redis Cluster nodes of a test */
static const int BOTH[] = { 0, 1 };   /* nodes 0 and 1, for join() */

static void setup(void)
{
    pt_setup();
    memset(N, 0, sizeof N);
    memset(RC, 0, sizeof RC);
    strcpy(dir, "/tmp/pubsubd-cluster.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Remove @a path's files, and its directories @a depth levels down. */
static void remove_tree(const char *path, int depth)
{
    DIR *d;
    struct dirent *e;
    char sub[512];

    if ((d = opendir(path)) != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            if (unlink(sub) != 0 && depth > 0)
                remove_tree(sub, depth - 1);
        }
        closedir(d);
    }
    rmdir(path);
}

static void teardown(void)
{
    int i;

    for (i = 0; i < NODES; i++)
        if (RC[i] > 0) {                /* a Redis Cluster node */
            kill(RC[i], SIGKILL);
            waitpid(RC[i], NULL, 0);
            RC[i] = 0;
        }
    for (i = 0; i < NODES; i++)
        if (N[i].pid > 0) {             /* a failed test left it running */
            kill(N[i].pid, SIGKILL);
            waitpid(N[i].pid, NULL, 0);
            N[i].pid = 0;
        }
    if (getenv("POOLEV_CLUSTER_KEEP")) {    /* the nodes' logs, to read */
        fprintf(stderr, "check_pubsubd_cluster: kept %s\n", dir);
        pt_teardown();
        return;
    }
    remove_tree(dir, 1);
    pt_teardown();
}

/* Run pubsubd with @a a1.. (NULL-terminated), stderr to @a log. */
static pid_t node_spawn(const char *log, const char *a1, const char *a2, const char *a3)
{
    pid_t pid;
    int fd;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if ((fd = open("/dev/null", O_WRONLY)) >= 0)
            dup2(fd, 1);
        if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0)
            dup2(fd, 2);
        execl(pubsubd_path(), pubsubd_path(), a1, a2, a3, (char *) NULL);
        _exit(127);
    }
    return pid;
}

/* Wait until node @a i's log holds @a needle; the text after it
 * (malloc'd). */
static char *node_log_wait(int i, const char *needle, long ms)
{
    long deadline = lc_now_ms() + ms;
    char *text, *at;
    int status;

    for (;;) {
        text = pt_slurp(N[i].log);
        if ((at = strstr(text, needle)) != NULL) {
            at = strdup(at + strlen(needle));
            free(text);
            return at;
        }
        if (N[i].pid > 0 && waitpid(N[i].pid, &status, WNOHANG) == N[i].pid) {
            N[i].pid = 0;
            ck_abort_msg("node %d exited (status %d) before logging '%s'; log:\n%s", i,
                         status, needle, text);
        }
        if (lc_now_ms() > deadline)
            ck_abort_msg("no '%s' in node %d's log after %ld ms; log:\n%s", needle, i, ms,
                         text);
        free(text);
        lc_sleep_ms(2);
    }
}

static int node_log_count(int i, const char *needle)
{
    char *text = pt_slurp(N[i].log);
    int n = pt_count(text, needle);

    free(text);
    return n;
}

static void node_write_conf(int i, const char *settings)
{
    char conf[4096];

    snprintf(conf, sizeof conf,
             "# check_pubsubd_cluster, node %d\n"
             "Listen 127.0.0.1:%u\n"
             "LogLevel debug\n"
             "StatsInterval off\n"
             "IdleTimeout off\n"
             "%s", i, N[i].port, settings);
    pt_write_file(N[i].conf, conf);
}

/* "Cluster redis://127.0.0.1:PORT\n" for @a r, then @a more. */
static const char *cluster_with(pt_redis_t *r, const char *more)
{
    static char line[4][128];
    static int k;

    k = (k + 1) % 4;
    snprintf(line[k], sizeof line[k], "Cluster redis://127.0.0.1:%u\n%s", pt_redis_port(r),
             more);
    return line[k];
}

#define cluster_of(r) cluster_with((r), "")

/* Start node @a i with @a settings (after the test's common lines). */
static void node_start(int i, const char *settings)
{
    char *rest;

    snprintf(N[i].conf, sizeof N[i].conf, "%s/node%d.conf", dir, i);
    snprintf(N[i].log, sizeof N[i].log, "%s/node%d.log", dir, i);
    N[i].port = 0;
    node_write_conf(i, settings);
    unlink(N[i].log);                       /* not the last run's lines */
    N[i].pid = node_spawn(N[i].log, "-f", N[i].conf, NULL);
    rest = node_log_wait(i, "generation 1 ready: listening on port ", START_MS);
    N[i].port = (unsigned) strtoul(rest, NULL, 10);
    free(rest);
    ck_assert_uint_gt(N[i].port, 0);
    N[i].gen = 1;
}

/* Reload node @a i with @a settings (its port stays); wait for the next
 * generation. */
static void node_reload(int i, const char *settings)
{
    char want[64];

    node_write_conf(i, settings);
    ck_assert_int_eq(kill(N[i].pid, SIGHUP), 0);
    snprintf(want, sizeof want, "generation %u ready", ++N[i].gen);
    free(node_log_wait(i, want, START_MS));
}

/* SIGTERM: node @a i stops in order and exits 0. */
static void node_stop(int i)
{
    long deadline = lc_now_ms() + START_MS;
    int status;
    pid_t r;

    ck_assert_int_gt(N[i].pid, 0);
    ck_assert_int_eq(kill(N[i].pid, SIGTERM), 0);
    while ((r = waitpid(N[i].pid, &status, WNOHANG)) == 0) {
        ck_assert_msg(lc_now_ms() < deadline, "node %d did not stop after SIGTERM", i);
        lc_sleep_ms(2);
    }
    ck_assert_int_eq(r, N[i].pid);
    N[i].pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *text = pt_slurp(N[i].log);

        ck_abort_msg("node %d stopped with status %d; log:\n%s", i, status, text);
    }
}

/* ======================================================================== */
/* Clients                                                                   */

static lc_client_t *node_client(int i)
{
    lc_client_t *c = pt_client(N[i].port, 0);

    PT_EXPECT(c, "+OK pubsubd ready");
    return c;
}

/* STATS on @a c: the value of @a key, or -1 when the line has none. */
static long stat_of(lc_client_t *c, const char *key)
{
    const char *line, *at;
    char k[64];

    pt_client_send(c, "STATS");
    line = pt_client_line(c, PT_IO_MS);
    ck_assert_msg(line && strncmp(line, "+OK ", 4) == 0, "STATS: got '%s'",
                  line ? line : "(nothing)");
    snprintf(k, sizeof k, " %s=", key);
    if ((at = strstr(line, k)) == NULL)
        return -1;
    return strtol(at + strlen(k), NULL, 10);
}

/* The cluster counters of one node. */
typedef struct counts {
    long connected, queued, sent, received, lost, dropped, invalid, reconnects, failures;
} counts_t;

static counts_t counts_of(lc_client_t *c)
{
    counts_t k;

    k.connected = stat_of(c, "cluster_connected");
    k.queued = stat_of(c, "cluster_queued");
    k.sent = stat_of(c, "cluster_sent");
    k.received = stat_of(c, "cluster_received");
    k.lost = stat_of(c, "cluster_lost");
    k.dropped = stat_of(c, "cluster_dropped");
    k.invalid = stat_of(c, "cluster_invalid");
    k.reconnects = stat_of(c, "cluster_reconnects");
    k.failures = stat_of(c, "cluster_failures");
    ck_assert_msg(k.connected >= 0 && k.sent >= 0 && k.failures >= 0,
                  "STATS lacks cluster fields");
    return k;
}

/*
 * Wait until every node in @a nodes (n of them) hears every other one:
 * each has a subscriber of topic "join", and each publishes "join FROM K"
 * every few milliseconds until the subscribers of all the others got one
 * of its probes. Fails after JOIN_MS.
 */
static void join(const int *nodes, int n)
{
    lc_client_t *sub[NODES], *pub[NODES];
    int heard[NODES][NODES], i, j, done;
    long deadline = lc_now_ms() + JOIN_MS, k = 0;
    const char *line;

    memset(heard, 0, sizeof heard);
    for (i = 0; i < n; i++) {
        sub[i] = node_client(nodes[i]);
        PT_ASK(sub[i], "SUB join", "+OK subscribed to join");
        pub[i] = node_client(nodes[i]);
    }
    for (;;) {
        done = 1;
        for (i = 0; i < n; i++)
            for (j = 0; j < n; j++)
                if (i != j && !heard[j][i])
                    done = 0;
        if (done)
            break;
        ck_assert_msg(lc_now_ms() < deadline, "the nodes did not all hear each other"
                      " within %d ms", JOIN_MS);
        for (i = 0; i < n; i++) {
            pt_client_send(pub[i], "PUB join %d %ld", i, k);
            /* under Workers N: 0 when the subscriber is on another worker */
            PT_EXPECT_PREFIX(pub[i], "+OK delivered=");
        }
        k++;
        for (j = 0; j < n; j++)
            while ((line = lc_line(sub[j], j == 0 ? 5 : 0)) != NULL) {
                int from;

                ck_assert_msg(sscanf(line, "MSG join %d", &from) == 1 && from >= 0
                              && from < n, "join: '%s'", line);
                heard[j][from] = 1;
            }
    }
    for (i = 0; i < n; i++) {
        pt_client_free(sub[i]);
        pt_client_free(pub[i]);
    }
}

/* Wait until the counters seen by the clients in @a c (n, at most
 * 2 * NODES: under Workers N a client of each worker) stand still: nothing
 * queued, and two STATS 20 ms apart equal. */
static void settle(lc_client_t **c, int n)
{
    long deadline = lc_now_ms() + JOIN_MS;
    counts_t a[2 * NODES], b;
    int i, still;

    for (i = 0; i < n; i++)
        a[i] = counts_of(c[i]);
    for (;;) {
        lc_sleep_ms(20);
        still = 1;
        for (i = 0; i < n; i++) {
            b = counts_of(c[i]);
            if (b.queued || b.sent != a[i].sent || b.received != a[i].received
                || b.lost != a[i].lost)
                still = 0;
            a[i] = b;
        }
        if (still)
            return;
        ck_assert_msg(lc_now_ms() < deadline, "the cluster counters did not settle");
    }
}

/* Nodes 0 and 1 started with @a settings0 and @a settings1, hearing each
 * other. */
static void pair_start(const char *settings0, const char *settings1)
{
    node_start(0, settings0);
    node_start(1, settings1);
    join(BOTH, 2);
}

/* pair_start(), then a client of each node in @a st and their counters
 * settled. */
static void pair_settled(lc_client_t **st, const char *settings0, const char *settings1)
{
    pair_start(settings0, settings1);
    st[0] = node_client(0);
    st[1] = node_client(1);
    settle(st, 2);
}

/* Nodes 0 and 1 stopped in order (exit status 0), then @a r freed. */
static void pair_stop(pt_redis_t *r)
{
    node_stop(0);
    node_stop(1);
    pt_redis_free(r);
}

/* ======================================================================== */
/* Floods                                                                    */

/* A publisher: "PUB TOPIC m ID SEQ", WINDOW at a time. */
typedef struct pubr {
    lc_client_t *c;
    int id;
    const char *topic;
    long next;                  /* next SEQ to send */
    long local;                 /* its node's subscribers: delivered= (-1: any) */
    const char *pad;            /* after SEQ (NULL: nothing) */
} pubr_t;

/* A subscriber: per publisher, the next SEQ expected. */
typedef struct subr {
    lc_client_t *c;
    long next[PUBS];            /* exact: the next SEQ; else the last + 1 */
    long got, gaps, dropped_notes;
    int exact;                  /* the normal path: no gap allowed */
} subr_t;

/* Take what @a s received (waiting at most @a ms for the first line). */
static void sub_take(subr_t *s, long ms)
{
    const char *line;
    char topic[64];
    long seq, dropped;
    int id;

    while ((line = lc_line(s->c, ms)) != NULL) {
        ms = 0;
        if (sscanf(line, "DROPPED %ld", &dropped) == 1) {
            s->dropped_notes += dropped;
            continue;
        }
        ck_assert_msg(sscanf(line, "MSG %63s m %d %ld", topic, &id, &seq) == 3 && id >= 0
                      && id < PUBS, "subscriber: unexpected '%s'", line);
        if (s->exact)
            ck_assert_msg(seq == s->next[id], "publisher %d: got %ld, expected %ld", id, seq,
                          s->next[id]);
        else {
            ck_assert_msg(seq >= s->next[id], "publisher %d: got %ld after %ld (duplicate or"
                          " reordered)", id, seq, s->next[id] - 1);
            s->gaps += seq - s->next[id];
        }
        s->next[id] = seq + 1;
        s->got++;
    }
}

/* One window of @a p: WINDOW PUBs at once, then their replies. */
static void pub_window(pubr_t *p, long upto)
{
    size_t cap = WINDOW * (64 + (p->pad ? strlen(p->pad) : 0)), off = 0;
    char *buf = malloc(cap);
    long k, n = 0;
    const char *line;

    ck_assert_ptr_nonnull(buf);
    for (k = p->next; k < upto && n < WINDOW; k++, n++)
        off += (size_t) snprintf(buf + off, cap - off, "PUB %s m %d %ld%s%s\r\n", p->topic,
                                 p->id, k, p->pad ? " " : "", p->pad ? p->pad : "");
    pt_client_write(p->c, buf, off);
    free(buf);
    for (k = 0; k < n; k++) {
        line = pt_client_line(p->c, PT_IO_MS);
        ck_assert_msg(line && strncmp(line, "+OK delivered=", 14) == 0,
                      "PUB: got '%s'", line ? line : "(nothing)");
        if (p->local >= 0)
            ck_assert_msg(strtol(line + 14, NULL, 10) == p->local,
                          "PUB: '%s', expected delivered=%ld (the node's own subscribers)",
                          line, p->local);
    }
    p->next += n;
}

/* Every publisher sends @a count messages, a window each in turn, the
 * subscribers taking what came between windows; @a at runs once a third
 * of the messages went (its @a third 1), and again at two thirds (2). */
static void flood(pubr_t *p, int np, subr_t *s, int ns, long count,
                  void (*at)(void *, int), void *arg)
{
    int i, busy = 1, fired = at == NULL ? 2 : 0;
    long sent = 0;

    while (busy) {
        busy = 0;
        for (i = 0; i < np; i++)
            if (p[i].next < count) {
                sent -= p[i].next;
                pub_window(&p[i], count);
                sent += p[i].next;
                busy = 1;
            }
        for (i = 0; i < ns; i++)
            sub_take(&s[i], 0);
        if (fired < 2 && sent >= count * np * (fired + 1) / 3) {
            fired++;
            at(arg, fired);
        }
    }
}

/* Wait until subscriber @a s got @a want messages in all. */
static void sub_wait(subr_t *s, long want)
{
    long deadline = lc_now_ms() + PT_WAIT_MS;

    while (s->got < want) {
        ck_assert_msg(lc_now_ms() < deadline, "subscriber: %ld of %ld messages came", s->got,
                      want);
        sub_take(s, 10);
    }
    ck_assert_int_eq(s->got, want);
}

static void sub_init(subr_t *s, int node, const char *topic, int exact)
{
    char cmd[80], want[80];

    memset(s, 0, sizeof *s);
    s->c = node_client(node);
    s->exact = exact;
    snprintf(cmd, sizeof cmd, "SUB %s", topic);
    snprintf(want, sizeof want, "+OK subscribed to %s", topic);
    PT_ASK(s->c, cmd, want);
}

static void pub_init(pubr_t *p, int node, int id, const char *topic, long local)
{
    p->c = node_client(node);
    p->id = id;
    p->topic = topic;
    p->next = 0;
    p->local = local;
    p->pad = NULL;
}

/* ======================================================================== */
/* The normal path                                                           */

START_TEST(two_nodes_every_message_once_in_order)
{
    pt_redis_t *r = pt_redis_start(NULL);
    const long n = msgs();
    lc_client_t *st[2];
    counts_t a0, a1, b0, b1;
    long m[2], d[2];
    pubr_t p[2];
    subr_t s[3];
    int i;

    pair_settled(st, cluster_of(r), cluster_of(r));
    a0 = counts_of(st[0]);
    b0 = counts_of(st[1]);
    ck_assert_int_eq(a0.connected, 1);
    ck_assert_int_eq(b0.connected, 1);
    m[0] = stat_of(st[0], "messages");
    m[1] = stat_of(st[1], "messages");
    d[0] = stat_of(st[0], "deliveries");
    d[1] = stat_of(st[1], "deliveries");

    /* one subscriber on node 0, two on node 1; a publisher on each node:
     * delivered= counts the subscribers of the publisher's own node */
    sub_init(&s[0], 0, "t", 1);
    sub_init(&s[1], 1, "t", 1);
    sub_init(&s[2], 1, "t", 1);
    pub_init(&p[0], 0, 0, "t", 1);
    pub_init(&p[1], 1, 1, "t", 2);
    flood(p, 2, s, 3, n, NULL, NULL);
    for (i = 0; i < 3; i++) {
        sub_wait(&s[i], 2 * n);
        ck_assert_int_eq(s[i].next[0], n);
        ck_assert_int_eq(s[i].next[1], n);
    }
    settle(st, 2);
    a1 = counts_of(st[0]);
    b1 = counts_of(st[1]);
    /* each node sent its publisher's messages and received the other's,
     * none lost, dropped or refused */
    ck_assert_int_eq(a1.sent - a0.sent, n);
    ck_assert_int_eq(b1.sent - b0.sent, n);
    ck_assert_int_eq(a1.received - a0.received, n);
    ck_assert_int_eq(b1.received - b0.received, n);
    ck_assert_int_eq(a1.lost + b1.lost + a1.dropped + b1.dropped, 0);
    ck_assert_int_eq(a1.invalid + b1.invalid, 0);
    ck_assert_int_eq(a1.reconnects + b1.reconnects, 0);
    /* nothing more comes */
    for (i = 0; i < 3; i++) {
        sub_take(&s[i], 50);
        ck_assert_int_eq(s[i].got, 2 * n);
    }
    /* messages= counts this node's PUBs, deliveries= every delivery on the
     * node, of local and remote messages */
    ck_assert_int_eq(stat_of(st[0], "messages") - m[0], n);
    ck_assert_int_eq(stat_of(st[1], "messages") - m[1], n);
    ck_assert_int_eq(stat_of(st[0], "deliveries") - d[0], 2 * n);
    ck_assert_int_eq(stat_of(st[1], "deliveries") - d[1], 4 * n);
    pair_stop(r);
}
END_TEST

START_TEST(three_nodes_every_message_once_in_order)
{
    static const int all[] = { 0, 1, 2 };
    pt_redis_t *r = pt_redis_start(NULL);
    const long n = msgs() / 2;
    lc_client_t *st[3];
    counts_t c0[3], c1[3];
    pubr_t p[4];
    subr_t s[5];
    int i;

    for (i = 0; i < 3; i++)
        node_start(i, cluster_of(r));
    join(all, 3);
    for (i = 0; i < 3; i++)
        st[i] = node_client(i);
    settle(st, 3);
    for (i = 0; i < 3; i++)
        c0[i] = counts_of(st[i]);

    /* topic t: a subscriber on each node and a second one on node 2; topic
     * u: one subscriber, on node 2, and its publisher on node 0 */
    for (i = 0; i < 3; i++)
        sub_init(&s[i], i, "t", 1);
    sub_init(&s[3], 2, "t", 1);
    sub_init(&s[4], 2, "u", 1);
    pub_init(&p[0], 0, 0, "t", 1);
    pub_init(&p[1], 1, 1, "t", 1);
    pub_init(&p[2], 2, 2, "t", 2);
    pub_init(&p[3], 0, 3, "u", 0);
    flood(p, 4, s, 5, n, NULL, NULL);
    for (i = 0; i < 4; i++) {
        sub_wait(&s[i], 3 * n);
        ck_assert_int_eq(s[i].next[3], 0);          /* never a u on t */
    }
    sub_wait(&s[4], n);
    ck_assert_int_eq(s[4].next[3], n);
    settle(st, 3);
    for (i = 0; i < 3; i++)
        c1[i] = counts_of(st[i]);
    /* node 0 published 2n (t and u), nodes 1 and 2 n each; every node
     * receives what the two others sent */
    ck_assert_int_eq(c1[0].sent - c0[0].sent, 2 * n);
    ck_assert_int_eq(c1[1].sent - c0[1].sent, n);
    ck_assert_int_eq(c1[2].sent - c0[2].sent, n);
    ck_assert_int_eq(c1[0].received - c0[0].received, 2 * n);
    ck_assert_int_eq(c1[1].received - c0[1].received, 3 * n);
    ck_assert_int_eq(c1[2].received - c0[2].received, 3 * n);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(c1[i].lost + c1[i].dropped + c1[i].invalid, 0);
    for (i = 0; i < 3; i++)
        node_stop(i);
    pt_redis_free(r);
}
END_TEST

/* A remote message meets a slow subscriber as a local one does: the same
 * OutputLimit and SlowPolicy (here drop, and its DROPPED notice). */
START_TEST(remote_messages_meet_the_slow_subscriber_policy)
{
    pt_redis_t *r = pt_redis_start(NULL);
    char settings[256], pad[1001];
    lc_client_t *slow, *st[2];
    counts_t b0, b1;
    pubr_t p;
    subr_t s;
    const long n = 5000;
    long dropped, dropped0, deliveries;

    memset(pad, 'x', 1000);
    pad[1000] = '\0';
    snprintf(settings, sizeof settings, "%sMaxLine 2048\n", cluster_of(r));
    node_start(0, settings);
    snprintf(settings, sizeof settings, "%sMaxLine 2048\nOutputLimit 8k\nSlowPolicy drop\n",
             cluster_of(r));
    node_start(1, settings);
    join(BOTH, 2);
    st[0] = node_client(0);
    st[1] = node_client(1);
    settle(st, 2);
    b0 = counts_of(st[1]);
    deliveries = stat_of(st[1], "deliveries");
    dropped0 = stat_of(st[1], "dropped");
    slow = pt_client(N[1].port, 4096);
    PT_EXPECT(slow, "+OK pubsubd ready");
    PT_ASK(slow, "SUB t", "+OK subscribed to t");
    pub_init(&p, 0, 0, "t", 0);
    p.pad = pad;
    /* the slow subscriber reads nothing while node 0's publisher sends */
    flood(&p, 1, NULL, 0, n, NULL, NULL);
    settle(st, 2);
    b1 = counts_of(st[1]);
    ck_assert_int_eq(b1.received - b0.received, n);
    dropped = stat_of(st[1], "dropped") - dropped0;
    ck_assert_int_gt(dropped, 0);
    ck_assert_int_eq(stat_of(st[1], "deliveries") - deliveries + dropped, n);
    /* then it reads: what it got is in order, and the drops were told */
    memset(&s, 0, sizeof s);
    s.c = slow;
    while (s.got + s.dropped_notes < n) {
        long before = s.got + s.dropped_notes;

        sub_take(&s, PT_IO_MS);
        ck_assert_msg(s.got + s.dropped_notes > before, "slow subscriber: %ld messages and"
                      " %ld dropped, of %ld", s.got, s.dropped_notes, n);
    }
    ck_assert_int_eq(s.dropped_notes, dropped);
    ck_assert_int_eq(s.got + s.dropped_notes, n);
    pair_stop(r);
}
END_TEST

/* Publish on Redis, as node @a origin would (the bridge's envelope,
 * version 1: "PEV", version, origin, epoch, sequence number, event,
 * payload; big-endian). */
static void envelope_publish(pt_redis_t *r, const char *origin, unsigned long seq,
                             const char *event, const char *payload, size_t plen)
{
    char channel[256];
    char *env = malloc(64 + strlen(origin) + strlen(event) + plen), *p = env;
    const char *argv[3];
    size_t lens[3], olen = strlen(origin), elen = strlen(event);
    int i;

    ck_assert_ptr_nonnull(env);
    memcpy(p, "PEV\1", 4);
    p[4] = (char) olen;
    memcpy(p + 5, origin, olen);
    p += 5 + olen;
    for (i = 0; i < 8; i++)
        *p++ = (char) (i == 7);                             /* epoch 1 */
    for (i = 7; i >= 0; i--)
        *p++ = (char) (seq >> (8 * i));
    *p++ = (char) (elen >> 8);
    *p++ = (char) elen;
    memcpy(p, event, elen);
    p += elen;
    for (i = 3; i >= 0; i--)
        *p++ = (char) (plen >> (8 * i));
    memcpy(p, payload, plen);
    p += plen;
    snprintf(channel, sizeof channel, "pubsubd:%s", event);
    argv[0] = "PUBLISH";
    argv[1] = channel;
    argv[2] = env;
    lens[0] = 7;
    lens[1] = strlen(channel);
    lens[2] = (size_t) (p - env);
    ck_assert_str_eq(pt_redis_cmdv(r, 3, argv, lens), ":1");  /* the node heard it */
    free(env);
}

/*
 * A remote message that this node's own PUB could not have carried is
 * refused and counted, never written to a subscriber: a line feed in the
 * message (it would end the MSG line and start another), a MSG line longer
 * than MaxLine, a topic that is not a topic.
 */
START_TEST(remote_message_pubsubd_could_not_carry_refused)
{
    pt_redis_t *r = pt_redis_start(NULL);
    char settings[128], big[200];
    lc_client_t *sub, *st;
    long deadline = lc_now_ms() + JOIN_MS;

    snprintf(settings, sizeof settings, "%sMaxLine 128\n", cluster_of(r));
    node_start(0, settings);
    st = node_client(0);
    while (stat_of(st, "cluster_connected") != 1) {     /* subscribed */
        ck_assert_msg(lc_now_ms() < deadline, "node 0 did not connect");
        lc_sleep_ms(5);
    }
    sub = node_client(0);
    PT_ASK(sub, "SUB t", "+OK subscribed to t");
    memset(big, 'x', sizeof big);
    envelope_publish(r, "intruder", 1, "topic.t", "a\r\nMSG t injected", 17);
    envelope_publish(r, "intruder", 2, "topic.t", big, 128 - 6 + 1);   /* 129 bytes */
    envelope_publish(r, "intruder", 3, "topic.t\x01", "x", 1);
    envelope_publish(r, "intruder", 4, "topic.t", big, 128 - 6);       /* 128: fits */
    envelope_publish(r, "intruder", 5, "topic.t", "fine", 4);
    PT_EXPECT_PREFIX(sub, "MSG t xxxxxxxx");
    PT_EXPECT(sub, "MSG t fine");
    ck_assert_int_eq(stat_of(st, "cluster_invalid"), 3);
    ck_assert_int_eq(stat_of(st, "cluster_received"), 5);
    ck_assert_int_eq(stat_of(st, "cluster_lost"), 0);
    node_stop(0);
    pt_redis_free(r);
}
END_TEST

/* ======================================================================== */
/* Faults                                                                    */

/* Redis crashes at a third of the flood, and starts again at two thirds:
 * a third of the messages are published while it is away. */
static void crash_then_restart(void *arg, int third)
{
    pt_redis_t *r = arg;

    if (third == 1)
        pt_redis_kill(r);
    else
        pt_redis_restart(r);
}

/* Redis drops every subscriber connection (both nodes') at a third. */
static void kill_subscribers(void *arg, int third)
{
    if (third == 1)
        ck_assert_str_eq(pt_redis_cmd(arg, "CLIENT", "KILL", "TYPE", "pubsub", NULL), ":2");
}

/*
 * After a disturbance: node 0's publisher @a p publishes on until node 1's
 * subscriber s[1] hears a message after @a last (failing after JOIN_MS: it
 * heard nothing after @a what); then node 0's own subscriber s[0] has every
 * message, the counters of @a st (both nodes) stand still and s[1] took
 * what came. The number of messages published.
 */
static long publish_until_heard(pubr_t *p, subr_t *s, lc_client_t **st, long last,
                                const char *what)
{
    long deadline = lc_now_ms() + JOIN_MS;

    while (s[1].next[0] <= last) {
        ck_assert_msg(lc_now_ms() < deadline, "node 1 heard nothing after %s", what);
        pub_window(p, p->next + 1);
        sub_take(&s[1], 10);
    }
    sub_wait(&s[0], p->next);
    settle(st, 2);
    sub_take(&s[1], 50);
    return p->next;
}

/*
 * A fault while node 0's publisher floods: the node's own subscriber gets
 * every message; node 1's subscriber gets its messages in order without a
 * duplicate, and what it misses is reported (cluster_lost on node 1,
 * cluster_dropped on node 0), never more than it missed; the cluster
 * carries messages again afterwards. Returns what node 1 lost.
 */
static long flood_through_fault(void (*fault)(void *, int), const char *what)
{
    pt_redis_t *r = pt_redis_start(NULL);
    long n = msgs();
    lc_client_t *st[2];
    counts_t a0, b0, a1, b1;
    pubr_t p;
    subr_t s[2];
    long missed;

    pair_settled(st, cluster_of(r), cluster_of(r));
    a0 = counts_of(st[0]);
    b0 = counts_of(st[1]);
    sub_init(&s[0], 0, "t", 1);                 /* local: exact */
    sub_init(&s[1], 1, "t", 0);                 /* remote: gaps allowed */
    pub_init(&p, 0, 0, "t", 1);
    flood(&p, 1, s, 2, n, fault, r);
    /* the cluster recovers: node 0 publishes on until node 1 hears a
     * message sent after the flood */
    n = publish_until_heard(&p, s, st, n, "the restart");
    a1 = counts_of(st[0]);
    b1 = counts_of(st[1]);
    ck_assert_int_ge(a1.reconnects - a0.reconnects, 1);
    ck_assert_int_ge(b1.reconnects - b0.reconnects, 1);
    ck_assert_int_eq(a1.queued, 0);
    /* every message was acknowledged by Redis or given up */
    ck_assert_int_eq((a1.sent - a0.sent) + (a1.dropped - a0.dropped), n);
    /* what node 1 got, it counted; what it missed is reported, no more */
    ck_assert_int_eq(b1.received - b0.received, s[1].got);
    /* node 1 heard node 0 after the fault: every message it missed is a gap
     * it counted, those node 0 dropped included (they used their sequence
     * numbers), no more */
    missed = n - s[1].got;
    ck_assert_msg(b1.lost - b0.lost == missed, "missed %ld, reported %ld lost", missed,
                  b1.lost - b0.lost);
    ck_assert_int_eq(s[1].gaps, missed);
    ck_assert_int_le(a1.dropped - a0.dropped, missed);
    fprintf(stderr, "check_pubsubd_cluster: %s mid-flood: node 1 got %ld of %ld, lost %ld,"
            " node 0 dropped %ld\n", what, s[1].got, n, b1.lost - b0.lost,
            a1.dropped - a0.dropped);
    pair_stop(r);
    return b1.lost - b0.lost;
}

/* Redis crashes (SIGKILL) and starts again on its port mid-flood. */
START_TEST(redis_restarted_mid_flood)
{
    flood_through_fault(crash_then_restart, "Redis killed and restarted");
}
END_TEST

/* Redis drops the subscribing connections (CLIENT KILL TYPE pubsub): node
 * 1 misses what node 0 publishes until it has subscribed again, and says
 * so. */
START_TEST(subscribers_killed_mid_flood)
{
    ck_assert_int_gt(flood_through_fault(kill_subscribers, "CLIENT KILL TYPE pubsub"), 0);
}
END_TEST

/* Redis absent at the start: the nodes start and serve their own clients,
 * log the failure once, and join when Redis comes. */
START_TEST(redis_absent_at_start_then_joined)
{
    pt_redis_t *r = pt_redis_start(NULL);
    lc_client_t *a, *b, *st;
    long deadline;

    pt_redis_stop(r);                       /* its port, nobody on it */
    node_start(0, cluster_of(r));
    node_start(1, cluster_of(r));
    a = node_client(0);
    b = node_client(0);
    PT_ASK(a, "SUB t", "+OK subscribed to t");
    PT_ASK(b, "PUB t local", "+OK delivered=1");
    PT_EXPECT(a, "MSG t local");
    /* it retries: wait for a few failed attempts */
    st = node_client(1);
    deadline = lc_now_ms() + PT_WAIT_MS;
    while (stat_of(st, "cluster_failures") < 3)
        ck_assert_msg(lc_now_ms() < deadline, "node 1 did not retry");
    ck_assert_int_eq(stat_of(st, "cluster_connected"), 0);
    /* logged once per connection (publishing, subscribing), not per retry */
    ck_assert_int_eq(node_log_count(1, "error: cluster: "), 2);
    ck_assert_int_eq(node_log_count(1, "connection to 127.0.0.1"), 2);
    pt_redis_restart(r);
    join(BOTH, 2);
    ck_assert_int_eq(stat_of(st, "cluster_connected"), 1);
    PT_ASK(b, "PUB t again", "+OK delivered=1");
    PT_EXPECT(a, "MSG t again");
    pair_stop(r);
}
END_TEST

/*
 * Redis stalls (SIGSTOP): the node's PUBs still answer and reach its own
 * subscribers at once; ClusterQueueLimit bounds what waits for Redis, the
 * rest is dropped and counted; when Redis resumes the cluster carries
 * messages again.
 */
START_TEST(redis_stalled_queue_bounded_local_delivery_goes_on)
{
    pt_redis_t *r = pt_redis_start(NULL);
    char settings[128];
    lc_client_t *st[2];
    counts_t a0, a1;
    const long n = 1000;
    pubr_t p;
    subr_t s;

    snprintf(settings, sizeof settings, "%sClusterQueueLimit 100\n", cluster_of(r));
    pair_settled(st, settings, cluster_of(r));
    a0 = counts_of(st[0]);
    sub_init(&s, 0, "t", 1);
    pub_init(&p, 0, 0, "t", 1);
    pt_redis_pause(r);
    flood(&p, 1, &s, 1, n, NULL, NULL);         /* every PUB answered */
    sub_wait(&s, n);                             /* and delivered here */
    a1 = counts_of(st[0]);
    ck_assert_int_le(a1.queued, 100);
    ck_assert_int_ge(a1.dropped - a0.dropped, n - 100);
    ck_assert_int_eq(a1.queued + (a1.dropped - a0.dropped) + (a1.sent - a0.sent), n);
    pt_redis_resume(r);
    join(BOTH, 2);
    pair_stop(r);
}
END_TEST

/*
 * SIGTERM while node 0's publishers flood (@a pubs of them, on its
 * workers in turn, the nodes started with @a settings): node 0 stops in
 * order, its one bridge logging its close; node 1 still serves: a PUB of
 * its own reaches its @a subs subscribers (one per worker) after whatever
 * came from node 0, each publisher's in order, and its reply counts the
 * @a delivered of its own worker.
 */
static void sigterm_mid_traffic(const char *settings, int pubs, int subs, int delivered)
{
    lc_client_t *pub0[2], *sub1[2], *pub1;
    char buf[WINDOW * 64], want[32];
    size_t off[2] = { 0, 0 };
    long next[2 * 2];
    int i, k, id;

    node_start(0, settings);
    node_start(1, settings);
    join(BOTH, 2);
    for (i = 0; i < subs; i++) {
        sub1[i] = node_client(1);
        PT_ASK(sub1[i], "SUB t", "+OK subscribed to t");
    }
    for (i = 0; i < pubs; i++)
        pub0[i] = node_client(0);
    pub1 = node_client(1);
    for (k = 0; k < 20; k++)
        for (i = 0; i < pubs; i++) {
            for (off[i] = 0, id = 0; id < WINDOW; id++)
                off[i] += (size_t) snprintf(buf + off[i], sizeof buf - off[i],
                                            "PUB t m %d %d\r\n", 2 * i, k * WINDOW + id);
            pt_client_write(pub0[i], buf, off[i]);
        }
    node_stop(0);                           /* asserts exit status 0 */
    for (i = 0; i < pubs; i++)
        ck_assert_int_eq(lc_wait_eof(pub0[i], PT_IO_MS), 1);
    /* one bridge for the node, whatever its workers */
    ck_assert_int_eq(node_log_count(0, "cluster: generation 1's bridge to"), 1);
    pt_client_send(pub1, "PUB t m 1 0");
    snprintf(want, sizeof want, "+OK delivered=%d", delivered);
    PT_EXPECT(pub1, want);
    for (i = 0; i < subs; i++) {
        next[0] = next[2] = 0;
        for (;;) {
            const char *line = pt_client_line(sub1[i], PT_IO_MS);
            long seq;

            ck_assert_ptr_nonnull(line);
            if (strcmp(line, "MSG t m 1 0") == 0)
                break;
            ck_assert_msg(sscanf(line, "MSG t m %d %ld", &id, &seq) == 2
                          && (id == 0 || id == 2) && seq >= next[id],
                          "node 1's subscriber %d got '%s'", i, line);
            next[id] = seq + 1;
        }
    }
    node_stop(1);
}

START_TEST(sigterm_during_cluster_traffic)
{
    pt_redis_t *r = pt_redis_start(NULL);

    sigterm_mid_traffic(cluster_of(r), 1, 1, 1);
    pt_redis_free(r);
}
END_TEST

/* The same with Workers 2: a publisher on each of node 0's workers, a
 * subscriber on each of node 1's (its PUB's worker has one). */
START_TEST(workers2_sigterm_during_cluster_traffic)
{
    pt_redis_t *r = pt_redis_start(NULL);

    sigterm_mid_traffic(cluster_with(r, "Workers 2\n"), 2, 2, 1);
    pt_redis_free(r);
}
END_TEST

/*
 * Authentication: two nodes as the ACL user doc/cluster.md describes (it
 * may publish and PSUBSCRIBE on the cluster's channels, nothing else); a
 * third with a wrong password starts, serves its own clients, says why it
 * cannot join (once), retries without exiting, and joins after a reload
 * with the right password. The password is never logged.
 */
START_TEST(password_and_acl_user)
{
    static const int all[] = { 0, 1, 2 };
    pt_redis_t *r = pt_redis_start("requirepass-secret");
    char settings[256], *log;
    lc_client_t *c;
    long deadline;
    int i;

    ck_assert_str_eq(pt_redis_cmd(r, "ACL", "SETUSER", "pubsubd", "on", ">acl-secret",
                                  "resetchannels", "&pubsubd:topic.*", "-@all", "+publish",
                                  "+psubscribe", "+ping", NULL), "+OK");
    snprintf(settings, sizeof settings,
             "%sClusterUser pubsubd\nClusterPassword acl-secret\n", cluster_of(r));
    node_start(0, settings);
    node_start(1, settings);
    join(BOTH, 2);

    snprintf(settings, sizeof settings, "%sClusterPassword wrong-secret\n", cluster_of(r));
    node_start(2, settings);
    c = node_client(2);
    deadline = lc_now_ms() + PT_WAIT_MS;
    while (stat_of(c, "cluster_failures") < 3)
        ck_assert_msg(lc_now_ms() < deadline, "node 2 did not retry");
    ck_assert_int_eq(stat_of(c, "cluster_connected"), 0);
    ck_assert_int_ge(node_log_count(2, "WRONGPASS"), 1);
    ck_assert_int_le(node_log_count(2, "WRONGPASS"), 2);     /* once per connection */
    PT_ASK(c, "PING", "+PONG");                                 /* it serves */
    snprintf(settings, sizeof settings, "%sClusterPassword requirepass-secret\n",
             cluster_of(r));
    node_reload(2, settings);
    join(all, 3);
    for (i = 0; i < 3; i++) {
        log = pt_slurp(N[i].log);
        ck_assert_msg(!strstr(log, "acl-secret") && !strstr(log, "requirepass-secret")
                      && !strstr(log, "wrong-secret"), "node %d logged a password", i);
        free(log);
    }
    for (i = 0; i < 3; i++)
        node_stop(i);
    pt_redis_free(r);
}
END_TEST

/* ======================================================================== */
/* Reloads                                                                   */

/* The number of clients Redis has, besides the one asking. */
static long redis_clients(pt_redis_t *r)
{
    const char *info = pt_redis_cmd(r, "INFO", "clients", NULL);
    const char *at = strstr(info, "connected_clients:");

    ck_assert_msg(at != NULL, "INFO clients: '%s'", info);
    return strtol(at + 18, NULL, 10) - 1;
}

/* The ids of Redis's clients but the one asking ("id=5 id=7 "; static). */
static const char *redis_client_ids(pt_redis_t *r)
{
    static char out[4096];
    const char *list = pt_redis_cmd(r, "CLIENT", "LIST", NULL), *l, *e;
    size_t off = 0;
    long id;

    out[0] = '\0';
    for (l = list; l && *l; l = e ? e + 1 : NULL) {
        e = strchr(l, '\n');
        if (*l == '$')
            l++;
        if (strncmp(l, "id=", 3) != 0 || sscanf(l, "id=%ld", &id) != 1)
            continue;
        if (strstr(l, "cmd=client|list") && (!e || strstr(l, "cmd=client|list") < e))
            continue;
        off += (size_t) snprintf(out + off, sizeof out - off, "id=%ld ", id);
    }
    return out;
}

static void redis_clients_wait(pt_redis_t *r, long want)
{
    long deadline = lc_now_ms() + PT_WAIT_MS, n;

    while ((n = redis_clients(r)) != want) {
        ck_assert_msg(lc_now_ms() < deadline, "Redis on %u has %ld clients, expected %ld",
                      pt_redis_port(r), n, want);
        lc_sleep_ms(5);
    }
}

/*
 * A reload that moves both nodes to another Redis: the clients accepted
 * before it stay (same connections, generation 1) and are served through
 * the new Redis; the old Redis loses the nodes' connections.
 */
START_TEST(reload_to_another_redis_keeps_the_clients)
{
    pt_redis_t *r1 = pt_redis_start(NULL), *r2 = pt_redis_start(NULL);
    const long n = 200;
    pubr_t p;
    subr_t s;

    pair_start(cluster_of(r1), cluster_of(r1));
    redis_clients_wait(r1, 4);              /* two connections per node */
    sub_init(&s, 1, "t", 1);
    pub_init(&p, 0, 0, "t", 0);
    flood(&p, 1, &s, 1, n / 2, NULL, NULL);
    sub_wait(&s, n / 2);

    node_reload(0, cluster_of(r2));
    node_reload(1, cluster_of(r2));
    redis_clients_wait(r1, 0);
    redis_clients_wait(r2, 4);
    join(BOTH, 2);
    /* the publisher and the subscriber of generation 1 go on */
    flood(&p, 1, &s, 1, n, NULL, NULL);
    sub_wait(&s, n);
    ck_assert_int_eq(stat_of(s.c, "conn_generation"), 1);
    ck_assert_int_eq(stat_of(s.c, "generation"), 2);
    ck_assert_int_ge(node_log_count(0, "cluster: generation 1's bridge to"), 1);
    node_stop(0);
    node_stop(1);
    pt_redis_free(r1);
    pt_redis_free(r2);
}
END_TEST


/* The sum of "N lost" of node @a i's "bridge to ... closes:" log lines:
 * the lost counts of the generations that ended. */
static long closed_lost(int i)
{
    char *text = pt_slurp(N[i].log), *at = text;
    long sum = 0, sent, received, lost;

    while ((at = strstr(at, "'s bridge to ")) != NULL) {
        at = strstr(at, " closes: ");
        ck_assert_ptr_nonnull(at);
        ck_assert_int_eq(sscanf(at, " closes: %ld sent, %ld received, %ld lost", &sent,
                                &received, &lost), 3);
        sum += lost;
    }
    free(text);
    return sum;
}

/*
 * Node 1 reloads RELOADS times with the same Cluster address while node 0
 * floods, the SIGHUP sent between two windows of the flood: node 1's
 * subscriber gets node 0's messages in order without a duplicate, and
 * every message it missed (published while neither of its bridges was
 * subscribed) is counted as lost by one of its generations, exactly.
 */
START_TEST(reloads_with_the_same_address_mid_flood)
{
    const int RELOADS = 6;
    pt_redis_t *r = pt_redis_start(NULL);
    long n = msgs(), per = n / (RELOADS + 1), lost;
    lc_client_t *st[2];
    counts_t b0, b1;
    pubr_t p;
    subr_t s[2];
    char want[64];
    int k;

    pair_settled(st, cluster_of(r), cluster_of(r));
    b0 = counts_of(st[1]);
    sub_init(&s[0], 0, "t", 1);                 /* local: exact */
    sub_init(&s[1], 1, "t", 0);                 /* remote: gaps allowed */
    pub_init(&p, 0, 0, "t", 1);
    for (k = 0; k < RELOADS; k++) {
        long deadline = lc_now_ms() + START_MS;

        flood(&p, 1, s, 2, p.next + per, NULL, NULL);
        node_write_conf(1, cluster_of(r));
        ck_assert_int_eq(kill(N[1].pid, SIGHUP), 0);
        snprintf(want, sizeof want, "generation %u ready", ++N[1].gen);
        /* the flood goes on through the reload */
        while (node_log_count(1, want) == 0) {
            ck_assert_msg(lc_now_ms() < deadline, "node 1: no '%s'", want);
            flood(&p, 1, s, 2, p.next + 5, NULL, NULL);
        }
    }
    flood(&p, 1, s, 2, p.next + per, NULL, NULL);
    /* until node 1 hears a message sent after the last reload */
    n = publish_until_heard(&p, s, st, p.next, "its reloads");
    b1 = counts_of(st[1]);
    lost = closed_lost(1) + b1.lost - b0.lost;
    ck_assert_int_eq(stat_of(st[1], "generation"), RELOADS + 1);
    ck_assert_msg(lost == n - s[1].got, "node 1 missed %ld of %ld, its generations counted"
                  " %ld lost", n - s[1].got, n, lost);
    ck_assert_int_eq(s[1].gaps, lost);
    ck_assert_int_eq(b1.invalid, 0);
    fprintf(stderr, "check_pubsubd_cluster: %d reloads of node 1 mid-flood: it got %ld of"
            " %ld, lost %ld (counted)\n", RELOADS, s[1].got, n, lost);
    pair_stop(r);
}
END_TEST
/*
 * A failed reload changes nothing (the same Redis connections, by client
 * id); a reload without Cluster ends the node's bridge: its PUBs stay
 * local, STATS has no cluster fields; a reload that brings it back joins
 * again.
 */
START_TEST(reload_without_cluster_and_failed_reload)
{
    pt_redis_t *r = pt_redis_start(NULL);
    lc_client_t *st0, *sub1, *pub0;
    char ids[4096];
    long received;

    pair_start(cluster_of(r), cluster_of(r));
    redis_clients_wait(r, 4);
    snprintf(ids, sizeof ids, "%s", redis_client_ids(r));

    /* a bad Cluster line: the reload fails, the bridge stays */
    node_write_conf(0, "Cluster redis://127.0.0.1:99999\n");
    ck_assert_int_eq(kill(N[0].pid, SIGHUP), 0);
    free(node_log_wait(0, "expects redis://HOST:PORT with a port from 1 to 65535",
                       START_MS));
    st0 = node_client(0);
    ck_assert_int_eq(stat_of(st0, "generation"), 1);
    ck_assert_int_eq(stat_of(st0, "cluster_connected"), 1);
    ck_assert_int_eq(stat_of(st0, "cluster_reconnects"), 0);
    join(BOTH, 2);
    ck_assert_str_eq(redis_client_ids(r), ids);  /* nobody reconnected */

    /* no Cluster: node 0 leaves Redis, serves locally */
    node_reload(0, "");
    redis_clients_wait(r, 2);
    ck_assert_int_eq(stat_of(st0, "cluster_connected"), -1);
    sub1 = node_client(1);
    PT_ASK(sub1, "SUB t", "+OK subscribed to t");
    {
        lc_client_t *sub0 = node_client(0);

        pub0 = node_client(0);
        PT_ASK(sub0, "SUB t", "+OK subscribed to t");
        PT_ASK(pub0, "PUB t m 0 0", "+OK delivered=1");
        PT_EXPECT(sub0, "MSG t m 0 0");
    }
    received = stat_of(sub1, "cluster_received");
    /* node 1 hears nothing of node 0 (bounded: what would come comes
     * within a few milliseconds on loopback) */
    ck_assert_ptr_null(lc_line(sub1, 200));
    ck_assert_int_eq(stat_of(sub1, "cluster_received"), received);

    /* Cluster again: node 0 joins */
    node_reload(0, cluster_of(r));
    redis_clients_wait(r, 4);
    join(BOTH, 2);
    pair_stop(r);
}
END_TEST

/* ======================================================================== */
/* A Redis Cluster (doc/cluster.md, "Scaling past one Redis")                */

/* A loopback port that is free, and whose cluster bus port (+10000) is
 * free too. */
static unsigned cluster_port(void)
{
    int tries;

    for (tries = 0; tries < 100; tries++) {
        struct sockaddr_in sa;
        socklen_t len = sizeof sa;
        int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0), ok;
        unsigned port;

        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ck_assert(a >= 0 && b >= 0);
        ck_assert_int_eq(bind(a, (struct sockaddr *) &sa, sizeof sa), 0);
        ck_assert_int_eq(getsockname(a, (struct sockaddr *) &sa, &len), 0);
        port = ntohs(sa.sin_port);
        sa.sin_port = htons((uint16_t) (port + 10000));
        ok = port + 10000 <= 65535 && bind(b, (struct sockaddr *) &sa, sizeof sa) == 0;
        close(a);
        close(b);
        if (ok)
            return port;
    }
    ck_abort_msg("no free port pair for a Redis Cluster node");
    return 0;
}

/* Run @a argv (NULL-terminated) with its output to @a log; its exit
 * status, or -1 when it did not end within START_MS. */
static int run_tool(char *const argv[], const char *log)
{
    long deadline = lc_now_ms() + START_MS;
    pid_t pid, r;
    int status, fd;

    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
        if (lc_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return -1;
        }
        lc_sleep_ms(5);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Send an inline command to 127.0.0.1:@a port and wait until a line of the
 * reply holds @a want; 1 when it came within @a ms. */
static int redis_line(unsigned port, const char *cmd, const char *want, long ms)
{
    long deadline = lc_now_ms() + ms;

    do {
        lc_client_t *c = lc_connect(port, 0);
        const char *l;
        int found = 0;

        if (c && lc_send(c, cmd, strlen(cmd), 1000) == 0)
            while ((l = lc_line(c, 100)) != NULL)
                if (strstr(l, want)) {
                    found = 1;
                    break;
                }
        if (c)
            lc_free(c);
        if (found)
            return 1;
        lc_sleep_ms(20);
    } while (lc_now_ms() < deadline);
    return 0;
}

/*
 * Three pubsubd nodes on the three masters of a Redis Cluster, each on
 * another one: Redis Cluster carries classic pub/sub to every node (the
 * cluster bus broadcasts PUBLISH), so the nodes may spread their
 * connections over a cluster's servers today, with the same exact counts
 * and order. (It does not spread the traffic: sharded pub/sub would.)
 */
START_TEST(three_nodes_on_three_redis_cluster_masters)
{
    static const int all[] = { 0, 1, 2 };
    const long n = msgs() / 4;
    unsigned port[NODES];
    char *argv[32], ports[NODES][8], rdir[NODES][128], log[160], addr[NODES][32];
    char settings[128];
    pubr_t p[3];
    subr_t s[3];
    int i, rc;

    if (run_tool((char *[]) { "redis-cli", "--version", NULL }, "/dev/null") != 0) {
        fprintf(stderr, "check_pubsubd_cluster: three_nodes_on_three_redis_cluster_masters:"
                " SKIP: no redis-cli to create the cluster\n");
        return;
    }
    for (i = 0; i < NODES; i++) {
        int k = 0;

        port[i] = cluster_port();
        snprintf(ports[i], sizeof ports[i], "%u", port[i]);
        snprintf(rdir[i], sizeof rdir[i], "%s/redis%d", dir, i);
        ck_assert_int_eq(mkdir(rdir[i], 0700), 0);
        argv[k++] = "redis-server";
        argv[k++] = "--port";
        argv[k++] = ports[i];
        argv[k++] = "--bind";
        argv[k++] = "127.0.0.1";
        argv[k++] = "--cluster-enabled";
        argv[k++] = "yes";
        argv[k++] = "--cluster-config-file";
        argv[k++] = "nodes.conf";
        argv[k++] = "--dir";
        argv[k++] = rdir[i];
        argv[k++] = "--save";
        argv[k++] = "";
        argv[k++] = "--appendonly";
        argv[k++] = "no";
        argv[k] = NULL;
        snprintf(log, sizeof log, "%s/redis%d.log", dir, i);
        fflush(stdout);
        fflush(stderr);
        RC[i] = fork();
        ck_assert_int_ne(RC[i], -1);
        if (RC[i] == 0) {
            int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execvp(argv[0], argv);
            _exit(127);
        }
        ck_assert_msg(redis_line(port[i], "PING\r\n", "+PONG", START_MS),
                      "Redis Cluster node %d did not answer", i);
        snprintf(addr[i], sizeof addr[i], "127.0.0.1:%u", port[i]);
    }
    snprintf(log, sizeof log, "%s/create.log", dir);
    rc = run_tool((char *[]) { "redis-cli", "--cluster", "create", addr[0], addr[1], addr[2],
                               "--cluster-replicas", "0", "--cluster-yes", NULL }, log);
    ck_assert_msg(rc == 0, "redis-cli --cluster create: status %d", rc);
    for (i = 0; i < NODES; i++)
        ck_assert_msg(redis_line(port[i], "CLUSTER INFO\r\n", "cluster_state:ok", START_MS),
                      "Redis Cluster node %d: the cluster is not ok", i);

    for (i = 0; i < NODES; i++) {
        snprintf(settings, sizeof settings, "Cluster redis://127.0.0.1:%u\n", port[i]);
        node_start(i, settings);
    }
    join(all, 3);
    for (i = 0; i < NODES; i++) {
        sub_init(&s[i], i, "t", 1);
        pub_init(&p[i], i, i, "t", 1);
    }
    flood(p, 3, s, 3, n, NULL, NULL);
    for (i = 0; i < NODES; i++) {
        sub_wait(&s[i], 3 * n);
        sub_take(&s[i], 50);
        ck_assert_int_eq(s[i].got, 3 * n);
    }
    for (i = 0; i < NODES; i++)
        node_stop(i);
    for (i = 0; i < NODES; i++) {
        kill(RC[i], SIGTERM);
        waitpid(RC[i], NULL, 0);
        RC[i] = 0;
    }
}
END_TEST

/* ======================================================================== */
/* Configuration                                                             */

/* Run "pubsubd -t -f FILE" on @a text: its exit status; its stderr in
 * @a err (static). */
static int check_conf(const char *text, const char **err)
{
    static char *last;
    char conf[160], log[160];
    int status;
    pid_t pid;

    snprintf(conf, sizeof conf, "%s/t.conf", dir);
    snprintf(log, sizeof log, "%s/t.log", dir);
    pt_write_file(conf, text);
    pid = node_spawn(log, "-t", "-f", conf);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    free(last);
    last = pt_slurp(log);
    *err = last;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(cluster_directives_checked)
{
    static const struct { const char *conf, *want; } bad[] = {
        { "Cluster 127.0.0.1:6379\n", "Cluster: expects redis://HOST[:PORT] or off" },
        { "Cluster http://x\n", "Cluster: expects redis://HOST[:PORT] or off" },
        { "Cluster rediss://x:1\n", "not supported" },
        { "Cluster redis://\n", "the host is missing" },
        { "Cluster redis://h:0\n", "a port from 1 to 65535" },
        { "Cluster redis://h:65536\n", "a port from 1 to 65535" },
        { "Cluster redis://h:x\n", "no path, database or options" },
        { "Cluster redis://h:1/0\n", "no path, database or options" },
        { "Cluster redis://:pw@h:1\n", "use ClusterUser and ClusterPassword" },
        { "Cluster redis://[::1\n", "IPV6-ADDRESS" },
        { "Cluster redis://h:1 extra\n", "Cluster" },
        { "Cluster redis://h\nClusterChannel a*\n", "pattern characters" },
        { ("Cluster redis://h\nClusterChannel "
           "12345678901234567890123456789012345678901234567890123456789012345\n"),
          "too long (64 bytes at most)" },
        { "Cluster redis://h\nClusterNode \"a b\"\n", "visible ASCII" },
        { "Cluster redis://h\nClusterQueueLimit 0\n", "out of range" },
        { "Cluster redis://h\nClusterQueueLimit 10 1k\n", "BYTES out of range" },
        { "Cluster redis://h\nClusterUser u\n", "ClusterUser needs ClusterPassword" },
        { "ClusterPassword secret\n", "need a Cluster line" },
    };
    static const char *const good[] = {
        "Cluster off\n",
        "Cluster off\nClusterPassword x\n",
        "Cluster off\nWorkers 2\n",
        "Cluster redis://127.0.0.1\nWorkers 1\n",
        "Cluster redis://h\nWorkers 2\n",
        "Workers 4\nCluster redis://h\n",
        "Cluster redis://127.0.0.1\n",
        "Cluster redis://localhost:6380/\n",
        ("Cluster redis://[::1]:6380\nClusterChannel app:\nClusterNode n-1\n"
         "ClusterUser u\nClusterPassword \"p w\"\nClusterQueueLimit 100k 64m\n"),
    };
    char text[512];
    const char *err;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "Listen 127.0.0.1:0\n%s", bad[i].conf);
        ck_assert_msg(check_conf(text, &err) == 1, "accepted: %s", bad[i].conf);
        ck_assert_msg(strstr(err, bad[i].want) != NULL, "%s: '%s' has no '%s'", bad[i].conf,
                      err, bad[i].want);
        ck_assert_msg(!strstr(err, "p w") && !strstr(err, "secret"), "a password in '%s'",
                      err);
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(text, sizeof text, "Listen 127.0.0.1:0\n%s", good[i]);
        ck_assert_msg(check_conf(text, &err) == 0, "refused: %s: %s", good[i], err);
    }
}
END_TEST

/* Without Cluster nothing changes: no cluster fields, no Redis needed.
 * With it, STATS has them all. */
START_TEST(stats_fields_with_and_without_cluster)
{
    static const char *const keys[] = {
        "cluster_connected", "cluster_queued", "cluster_sent", "cluster_received",
        "cluster_lost", "cluster_dropped", "cluster_invalid", "cluster_reconnects",
        "cluster_failures"
    };
    pt_redis_t *r = pt_redis_start(NULL);
    lc_client_t *c;
    size_t i;

    node_start(0, "");
    c = node_client(0);
    pt_client_send(c, "STATS");
    {
        const char *line = pt_client_line(c, PT_IO_MS);

        ck_assert_ptr_nonnull(line);
        ck_assert_msg(strstr(line, "cluster") == NULL, "STATS: '%s'", line);
    }
    ck_assert_int_eq(node_log_count(0, "cluster"), 0);
    node_stop(0);

    node_start(0, cluster_of(r));
    c = node_client(0);
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(stat_of(c, keys[i]) >= 0, "STATS has no %s", keys[i]);
    /* and with a topic, its fields too */
    pt_client_send(c, "STATS t");
    {
        const char *line = pt_client_line(c, PT_IO_MS);

        ck_assert_ptr_nonnull(line);
        ck_assert_msg(strstr(line, " topic=t subscribers=0") && strstr(line, "cluster_failures="),
                      "STATS t: '%s'", line);
    }
    node_stop(0);
    pt_redis_free(r);
}
END_TEST

/* ======================================================================== */
/* The order of a PUB's writes                                               */

/* A connection to the fake Redis below: what it has read, not yet parsed. */
typedef struct fake_conn {
    int fd;
    char buf[4096];
    size_t len;
    int published;              /* a PUBLISH came */
    struct timespec at;         /* its kernel receive time */
} fake_conn_t;

/* The kernel's receive time of what recvmsg() read (SO_TIMESTAMPNS). */
static ssize_t recv_stamped(int fd, char *buf, size_t len, struct timespec *at)
{
    char ctl[CMSG_SPACE(sizeof(struct timespec))];
    struct iovec iov = { buf, len };
    struct msghdr mh;
    struct cmsghdr *cm;
    ssize_t n;

    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl;
    mh.msg_controllen = sizeof ctl;
    n = recvmsg(fd, &mh, MSG_DONTWAIT);
    for (cm = CMSG_FIRSTHDR(&mh); n > 0 && cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS)
            memcpy(at, CMSG_DATA(cm), sizeof *at);
    return n;
}

/* Answer what @a c sent, as Redis would: PING, PSUBSCRIBE, PUBLISH (the
 * one a node sends: RESP arrays of bulk strings). */
static void fake_serve(fake_conn_t *c)
{
    struct timespec at = { 0, 0 };
    ssize_t n = recv_stamped(c->fd, c->buf + c->len, sizeof c->buf - c->len, &at);
    const char *arg[4];
    size_t alen[4], used;
    int argc;

    if (n <= 0)
        return;
    c->len += (size_t) n;
    while ((argc = pt_resp_command(c->buf, c->len, arg, alen, 4, &used)) > 0) {
        if (alen[0] == 4 && memcmp(arg[0], "PING", 4) == 0) {
            ck_assert_int_eq(write(c->fd, "+PONG\r\n", 7), 7);
        } else if (alen[0] == 10 && memcmp(arg[0], "PSUBSCRIBE", 10) == 0 && argc == 2) {
            char reply[256];
            int r = snprintf(reply, sizeof reply, "*3\r\n$10\r\npsubscribe\r\n$%zu\r\n%.*s"
                             "\r\n:1\r\n", alen[1], (int) alen[1], arg[1]);

            ck_assert_int_eq(write(c->fd, reply, (size_t) r), r);
        } else if (alen[0] == 7 && memcmp(arg[0], "PUBLISH", 7) == 0) {
            if (!c->published)
                c->at = at;
            c->published = 1;
            ck_assert_int_eq(write(c->fd, ":0\r\n", 4), 4);
        } else {
            ck_abort_msg("the fake Redis got %.*s", (int) alen[0], arg[0]);
        }
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
}

/* A PUB's export is written to Redis before the PUB's +OK to the
 * publisher (the remote subscribers' path does not wait for the reply):
 * node 0 on a fake Redis of the test's own, both of whose receive times
 * the kernel stamps. */
START_TEST(pub_export_written_before_its_reply)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0), cfd, on = 1, k, nfake = 0;
    struct sockaddr_in sa;
    socklen_t slen = sizeof sa;
    fake_conn_t fake[2];
    char settings[128], buf[512];
    struct timespec ok_at = { 0, 0 };
    long deadline;
    ssize_t n;
    fake_conn_t *pub = NULL;

    memset(fake, 0, sizeof fake);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(lfd, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *) &sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *) &sa, &slen), 0);
    snprintf(settings, sizeof settings, "Cluster redis://127.0.0.1:%u\n",
             (unsigned) ntohs(sa.sin_port));
    node_start(0, settings);

    /* the node's two connections, served until both are up */
    deadline = lc_now_ms() + START_MS;
    while (node_log_count(0, "publishing connection to 127.0.0.1") < 1
           || node_log_count(0, "subscribing connection to 127.0.0.1") < 1) {
        struct pollfd pf[3];
        int np = 0;

        ck_assert_msg(lc_now_ms() < deadline, "the node did not connect to the fake Redis");
        pf[np].fd = lfd;
        pf[np++].events = POLLIN;
        for (k = 0; k < nfake; k++) {
            pf[np].fd = fake[k].fd;
            pf[np++].events = POLLIN;
        }
        if (poll(pf, (nfds_t) np, 20) <= 0)
            continue;
        if ((pf[0].revents & POLLIN) && nfake < 2) {
            fake[nfake].fd = accept(lfd, NULL, NULL);
            ck_assert_int_ge(fake[nfake].fd, 0);
            ck_assert_int_eq(setsockopt(fake[nfake].fd, SOL_SOCKET, SO_TIMESTAMPNS, &on,
                                        sizeof on), 0);
            nfake++;
        }
        for (k = 0; k < np - 1; k++)      /* those polled (not one just accepted) */
            if (pf[1 + k].revents & POLLIN)
                fake_serve(&fake[k]);
    }
    ck_assert_int_eq(nfake, 2);

    /* a publisher: its greeting, then one PUB */
    cfd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_port = htons((unsigned short) N[0].port);
    ck_assert_int_eq(connect(cfd, (struct sockaddr *) &sa, sizeof sa), 0);
    pt_wait_readable(cfd);
    ck_assert_int_gt(read(cfd, buf, sizeof buf), 0);
    ck_assert_int_eq(setsockopt(cfd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on), 0);
    ck_assert_int_eq(write(cfd, "PUB t hello\r\n", 13), 13);
    pt_wait_readable(cfd);
    n = recv_stamped(cfd, buf, sizeof buf - 1, &ok_at);
    ck_assert_int_gt(n, 0);
    buf[n] = 0;
    ck_assert_msg(strncmp(buf, "+OK delivered=0", 15) == 0, "PUB: '%s'", buf);
    deadline = lc_now_ms() + PT_IO_MS;
    while (!pub) {
        ck_assert_msg(lc_now_ms() < deadline, "no PUBLISH reached the fake Redis");
        for (k = 0; k < 2; k++) {
            fake_serve(&fake[k]);
            if (fake[k].published)
                pub = &fake[k];
        }
        lc_sleep_ms(1);
    }
    ck_assert_msg(ok_at.tv_sec && pub->at.tv_sec, "no receive times");
    ck_assert_msg(pub->at.tv_sec < ok_at.tv_sec
                  || (pub->at.tv_sec == ok_at.tv_sec && pub->at.tv_nsec <= ok_at.tv_nsec),
                  "the +OK was written %ld ns before the PUBLISH",
                  (long) ((pub->at.tv_sec - ok_at.tv_sec) * 1000000000L
                          + (pub->at.tv_nsec - ok_at.tv_nsec)));
    close(cfd);
    node_stop(0);
    close(fake[0].fd);
    close(fake[1].fd);
    close(lfd);
}
END_TEST


/* ======================================================================== */
/* Workers N: the bridge is worker 0's                                       */

/* A node with Workers 2 in the cluster of @a r. */
#define workers2_of(r) cluster_with((r), "Workers 2\n")

/* Nodes 0 and 1 with Workers 2 in the cluster of @a r, hearing each
 * other; a client of each worker of each in @a st (node 0's st[0] and
 * st[1], node 1's st[2] and st[3]), their counters settled. The daemon
 * hands its connections round robin, the first to worker 0: after
 * join()'s two per node, st[2i] is worker 0's (the bridge's) and
 * st[2i + 1] worker 1's, and the tests' later connections alternate the
 * same way. */
static void workers2_pair_settled(pt_redis_t *r, lc_client_t **st)
{
    int i;

    pair_start(workers2_of(r), workers2_of(r));
    for (i = 0; i < 4; i++)
        st[i] = node_client(i / 2);
    settle(st, 4);
}

/* The cluster fields of the two clients of one node agree (the bridge's
 * worker, and the other worker's view of it). */
static void counts_agree(lc_client_t **c, int node)
{
    counts_t a = counts_of(c[0]), b = counts_of(c[1]);

    ck_assert_msg(a.connected == b.connected && a.sent == b.sent && a.received == b.received
                  && a.lost == b.lost && a.dropped == b.dropped && a.invalid == b.invalid
                  && a.reconnects == b.reconnects,
                  "node %d: the workers' STATS disagree: sent %ld/%ld, received %ld/%ld",
                  node, a.sent, b.sent, a.received, b.received);
}

/*
 * Two nodes with Workers 2, four subscribers and two publishers on each
 * (two subscribers and one publisher per worker): every subscriber gets
 * every publisher's messages once, in order; delivered= counts the
 * publisher's own worker's subscribers (2); each node exports its
 * workers' PUBs once (cluster_sent) and imports the other node's once
 * (cluster_received), and a STATS on either worker shows the same.
 */
START_TEST(workers2_nodes_every_message_once_in_order)
{
    pt_redis_t *r = pt_redis_start(NULL);
    const long n = msgs() / 2;
    lc_client_t *st[4], *w1[2];
    counts_t a0[2], a1[2];
    long m[2], d[2];
    pubr_t p[4];
    subr_t s[8];
    int i, k;

    workers2_pair_settled(r, st);
    for (k = 0; k < 2; k++) {
        counts_agree(st + 2 * k, k);
        a0[k] = counts_of(st[2 * k + 1]);       /* the other worker's view */
        ck_assert_int_eq(a0[k].connected, 1);
        m[k] = stat_of(st[2 * k], "messages");
        d[k] = stat_of(st[2 * k], "deliveries");
    }
    for (i = 0; i < 8; i++)
        sub_init(&s[i], i / 4, "t", 1);
    for (i = 0; i < 4; i++)
        pub_init(&p[i], i / 2, i, "t", 2);
    flood(p, 4, s, 8, n, NULL, NULL);
    for (i = 0; i < 8; i++) {
        sub_wait(&s[i], 4 * n);
        for (k = 0; k < 4; k++)
            ck_assert_int_eq(s[i].next[k], n);
    }
    /* worker 1's view alone first: the bridge's counters reach it without
     * a STATS on worker 0 */
    w1[0] = st[1];
    w1[1] = st[3];
    settle(w1, 2);
    for (k = 0; k < 2; k++) {
        a1[k] = counts_of(st[2 * k + 1]);
        ck_assert_int_eq(a1[k].sent - a0[k].sent, 2 * n);
        ck_assert_int_eq(a1[k].received - a0[k].received, 2 * n);
        ck_assert_int_eq(a1[k].lost + a1[k].dropped + a1[k].invalid, 0);
        /* messages= counts the node's PUBs once; deliveries= all of its
         * workers' deliveries, of local and remote messages */
        ck_assert_int_eq(stat_of(st[2 * k], "messages") - m[k], 2 * n);
        ck_assert_int_eq(stat_of(st[2 * k + 1], "deliveries") - d[k], 16 * n);
        ck_assert_int_eq(stat_of(st[2 * k], "xdropped"), 0);
        counts_agree(st + 2 * k, k);
    }
    for (i = 0; i < 8; i++) {
        sub_take(&s[i], i == 0 ? 50 : 0);
        ck_assert_int_eq(s[i].got, 4 * n);
    }
    pair_stop(r);
}
END_TEST

/* The context switches of every thread of process @a pid so far (each
 * wakeup from a wait is one). */
static long wakeups_of(pid_t pid)
{
    char path[320], line[128];
    long total = 0, v;
    struct dirent *de;
    DIR *d;

    snprintf(path, sizeof path, "/proc/%ld/task", (long) pid);
    d = opendir(path);
    ck_assert_msg(d != NULL, "%s: %s", path, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        FILE *f;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/%ld/task/%s/status", (long) pid, de->d_name);
        if (!(f = fopen(path, "r")))
            continue;                   /* the thread ended */
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1
                || sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
                total += v;
        fclose(f);
    }
    closedir(d);
    return total;
}

/*
 * An idle Workers 2 node is not woken a hundred times a second to store
 * the bridge's counters for worker 1: after its counters stood still for
 * two seconds, its threads wake fewer than 30 times in the next second
 * (every 10 ms would be 100); and the next message brings the 10 ms
 * back: worker 1's STATS shows it sent without a STATS on worker 0.
 */
START_TEST(workers2_idle_node_backs_off)
{
    pt_redis_t *r = pt_redis_start(NULL);
    lc_client_t *st[4], *w1[1];
    counts_t a, b;
    long before, woken;
    pubr_t p;
    subr_t s;

    workers2_pair_settled(r, st);
    lc_sleep_ms(2000);
    a = counts_of(st[1]);
    before = wakeups_of(N[0].pid);
    lc_sleep_ms(1000);
    woken = wakeups_of(N[0].pid) - before;
    fprintf(stderr, "idle Workers 2 node: %ld wakeups in 1 s\n", woken);
    ck_assert_msg(woken < 30, "an idle node woke %ld times in a second", woken);
    /* a message: worker 1 sees it exported */
    sub_init(&s, 1, "t", 1);
    pub_init(&p, 0, 0, "t", 0);
    flood(&p, 1, &s, 1, 1, NULL, NULL);
    sub_wait(&s, 1);
    w1[0] = st[1];
    settle(w1, 1);
    b = counts_of(st[1]);
    ck_assert_int_eq(b.sent - a.sent, 1);
    sub_take(&s, 0);
    pair_stop(r);
}
END_TEST

/*
 * Node 1 (Workers 2) reloads mid-flood with the same address while both
 * of node 0's workers publish (Workers 2): the subscribers on both of
 * node 1's workers get the messages in order without a duplicate, each
 * missing exactly what its generations' bridges counted as lost; node 0's
 * subscribers get all; both stop in order.
 */
START_TEST(workers2_reloads_mid_flood)
{
    const int RELOADS = 4;
    pt_redis_t *r = pt_redis_start(NULL);
    long n = msgs() / 2, per = n / (RELOADS + 1), lost, deadline;
    lc_client_t *st[4];
    counts_t b0, b1;
    pubr_t p[2];
    subr_t s[4];
    char want[64];
    int i, k;

    workers2_pair_settled(r, st);
    b0 = counts_of(st[2]);
    sub_init(&s[0], 0, "t", 1);                 /* local: exact */
    sub_init(&s[1], 0, "t", 1);
    sub_init(&s[2], 1, "t", 0);                 /* remote: gaps allowed */
    sub_init(&s[3], 1, "t", 0);
    pub_init(&p[0], 0, 0, "t", 1);
    pub_init(&p[1], 0, 1, "t", 1);
    for (k = 0; k < RELOADS; k++) {
        deadline = lc_now_ms() + START_MS;
        flood(p, 2, s, 4, p[0].next + per, NULL, NULL);
        node_write_conf(1, workers2_of(r));
        ck_assert_int_eq(kill(N[1].pid, SIGHUP), 0);
        snprintf(want, sizeof want, "generation %u ready", ++N[1].gen);
        while (node_log_count(1, want) == 0) {
            ck_assert_msg(lc_now_ms() < deadline, "node 1: no '%s'", want);
            flood(p, 2, s, 4, p[0].next + 5, NULL, NULL);
        }
    }
    /* until both of node 1's subscribers hear a message of each publisher
     * sent after the last reload */
    n = p[0].next;
    deadline = lc_now_ms() + JOIN_MS;
    while (s[2].next[0] <= n || s[2].next[1] <= n || s[3].next[0] <= n
           || s[3].next[1] <= n) {
        ck_assert_msg(lc_now_ms() < deadline, "node 1 heard nothing after its reloads");
        flood(p, 2, s, 4, p[0].next + 1, NULL, NULL);
        sub_take(&s[2], 10);
        sub_take(&s[3], 0);
    }
    n = p[0].next;
    for (i = 0; i < 2; i++)
        sub_wait(&s[i], 2 * n);
    settle(st, 4);
    for (i = 2; i < 4; i++)
        sub_take(&s[i], 50);
    b1 = counts_of(st[3]);
    lost = closed_lost(1) + b1.lost - b0.lost;
    ck_assert_int_eq(stat_of(st[3], "generation"), RELOADS + 1);
    for (i = 2; i < 4; i++) {
        ck_assert_msg(lost == 2 * n - s[i].got, "node 1's subscriber %d missed %ld of %ld,"
                      " its generations counted %ld lost", i, 2 * n - s[i].got, 2 * n, lost);
        ck_assert_int_eq(s[i].gaps, lost);
    }
    ck_assert_int_eq(b1.invalid, 0);
    ck_assert_int_eq(stat_of(st[2], "xdropped") + stat_of(st[0], "xdropped"), 0);
    fprintf(stderr, "check_pubsubd_cluster: %d reloads of node 1 (Workers 2) mid-flood: its"
            " subscribers got %ld and %ld of %ld, lost %ld (counted)\n", RELOADS, s[2].got,
            s[3].got, 2 * n, lost);
    pair_stop(r);
}
END_TEST

/* ======================================================================== */

/* One case per test: CK_RUN_CASE=NAME runs one of them. */
#define ADD(s, test) do {                                                    \
        TCase *tc_ = tcase_create(#test);                                    \
        tcase_add_checked_fixture(tc_, setup, teardown);                     \
        tcase_set_timeout(tc_, 120);                                         \
        tcase_add_test(tc_, test);                                           \
        suite_add_tcase((s), tc_);                                           \
    } while (0)

static Suite *cluster_suite(void)
{
    Suite *s = suite_create("pubsubd_cluster");

    ADD(s, cluster_directives_checked);
    ADD(s, stats_fields_with_and_without_cluster);
    ADD(s, two_nodes_every_message_once_in_order);
    ADD(s, three_nodes_every_message_once_in_order);
    ADD(s, remote_messages_meet_the_slow_subscriber_policy);
    ADD(s, remote_message_pubsubd_could_not_carry_refused);
    ADD(s, redis_restarted_mid_flood);
    ADD(s, subscribers_killed_mid_flood);
    ADD(s, redis_absent_at_start_then_joined);
    ADD(s, redis_stalled_queue_bounded_local_delivery_goes_on);
    ADD(s, sigterm_during_cluster_traffic);
    ADD(s, password_and_acl_user);
    ADD(s, reload_to_another_redis_keeps_the_clients);
    ADD(s, reloads_with_the_same_address_mid_flood);
    ADD(s, reload_without_cluster_and_failed_reload);
    ADD(s, three_nodes_on_three_redis_cluster_masters);
    ADD(s, pub_export_written_before_its_reply);
    ADD(s, workers2_nodes_every_message_once_in_order);
    ADD(s, workers2_reloads_mid_flood);
    ADD(s, workers2_idle_node_backs_off);
    ADD(s, workers2_sigterm_during_cluster_traffic);
    return s;
}

/* A build without the bridge: pubsubd says why it refuses Cluster (and
 * takes "Cluster off"). */
START_TEST(cluster_refused_without_the_bridge)
{
    const char *err;

    ck_assert_int_eq(check_conf("Listen 127.0.0.1:0\nCluster redis://127.0.0.1:6379\n", &err),
                     1);
    ck_assert_msg(strstr(err, "built without the Redis bridge") != NULL, "'%s'", err);
    ck_assert_int_eq(check_conf("Listen 127.0.0.1:0\nCluster off\n", &err), 0);
}
END_TEST

static Suite *bare_suite(void)
{
    Suite *s = suite_create("pubsubd_cluster");

    ADD(s, cluster_refused_without_the_bridge);
    return s;
}

int main(int argc, char **argv)
{
    if (!pev_bridge_available()) {
        fprintf(stderr, "check_pubsubd_cluster: libpoolev was built without the Redis"
                " bridge: only its refusal of Cluster is tested\n");
        return pt_main(argc, argv, bare_suite, NULL);
    }
    pt_redis_require("check_pubsubd_cluster");
    return pt_main(argc, argv, cluster_suite, NULL);
}
