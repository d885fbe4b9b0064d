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
 * 2), BENCH_PART=1 or 2 runs that part only. Without redis-server it says
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

#define TOPIC "bench"
#define PAYLOAD 64              /* bytes of each message's text */
#define HIST_US 100000          /* latency histogram: 1 µs buckets to 100 ms */
#define MAX_SUBS 100

enum proto { P_PUBSUBD, P_REDIS };

typedef struct proc {
    pid_t pid;
    int port;
    char dir[64];
} proc_t;

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */

static int free_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    SYSCHECK(fd >= 0, "socket");
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    SYSCHECK(bind(fd, (struct sockaddr *) &sa, sizeof sa) == 0, "bind");
    SYSCHECK(getsockname(fd, (struct sockaddr *) &sa, &len) == 0, "getsockname");
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int connect_to(int port, int nonblock)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    SYSCHECK(fd >= 0, "socket");
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t) port);
    if (connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (nonblock)
        SYSCHECK(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0, "fcntl");
    return fd;
}

/* The children, killed if the benchmark aborts (FAIL) so that no server
 * outlives it. */
static pid_t children[8];

static void kill_children(int sig)
{
    int i;

    for (i = 0; i < 8; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    int i;

    SYSCHECK(pid >= 0, "fork");
    for (i = 0; pid > 0 && i < 8; i++)
        if (children[i] <= 0) {
            children[i] = pid;
            break;
        }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void redis_start(proc_t *r, const char *path)
{
    char log[128], port[16];
    char *argv[] = { (char *) path, "--port", port, "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no",
                     "--loglevel", "warning", "--dir", r->dir,
                     "--client-output-buffer-limit", "pubsub 0 0 0", NULL };
    uint64_t end = bench_now_ns() + 10ull * 1000000000;
    int fd;

    snprintf(r->dir, sizeof r->dir, "/tmp/bench-cluster-XXXXXX");
    SYSCHECK(mkdtemp(r->dir) != NULL, "mkdtemp");
    snprintf(log, sizeof log, "%s/log", r->dir);
    r->port = free_port();
    snprintf(port, sizeof port, "%d", r->port);
    r->pid = spawn(argv, log);
    while ((fd = connect_to(r->port, 0)) < 0) {
        if (bench_now_ns() > end)
            FAIL("redis-server did not listen on %d within 10 s (log: %s)", r->port, log);
        bench_sleep_ns(10 * 1000000);
    }
    close(fd);
}

/* A pubsubd node; @a redis_port 0: without Cluster. Waits until its log
 * says where it listens. */
static void node_start(proc_t *n, const char *path, int redis_port)
{
    char log[128], conf[128];
    char *argv[] = { (char *) path, "-f", conf, NULL };
    uint64_t end = bench_now_ns() + 10ull * 1000000000;
    FILE *f;

    snprintf(n->dir, sizeof n->dir, "/tmp/bench-cluster-XXXXXX");
    SYSCHECK(mkdtemp(n->dir) != NULL, "mkdtemp");
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
    fclose(f);
    n->pid = spawn(argv, log);
    /* it logs "... listening on port P" once it is ready */
    for (n->port = 0; !n->port;) {
        char buf[8192];
        const char *p;
        int status;
        size_t len;

        if ((f = fopen(log, "r")) != NULL) {
            len = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[len] = '\0';
            if ((p = strstr(buf, "listening on port ")) != NULL)
                n->port = atoi(p + strlen("listening on port "));
        }
        if (waitpid(n->pid, &status, WNOHANG) == n->pid)
            FAIL("pubsubd exited before it listened (log: %s)", log);
        if (!n->port && bench_now_ns() > end)
            FAIL("pubsubd did not say its port within 10 s (log: %s)", log);
        if (!n->port)
            bench_sleep_ns(5 * 1000000);
    }
}

/* A process's CPU time so far, in seconds (utime + stime). */
static double proc_cpu(pid_t pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    f = fopen(path, "r");
    SYSCHECK(f != NULL, "fopen /proc/PID/stat");
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');      /* the command name may hold spaces */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st)
                   != 2)
        FAIL("cannot parse %s", path);
    return (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

static void proc_stop(proc_t *p)
{
    char cmd[128];
    int status, i;

    if (p->pid <= 0)
        return;
    kill(p->pid, SIGTERM);
    waitpid(p->pid, &status, 0);
    for (i = 0; i < 8; i++)
        if (children[i] == p->pid)
            children[i] = 0;
    p->pid = 0;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", p->dir);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

typedef struct conn {
    int fd;
    enum proto proto;
    int sub;                    /* a subscriber (else the publisher) */
    int ready;                  /* subscribed (or greeted: the publisher) */
    char in[256 * 1024];
    size_t ilen;
    char *out;
    size_t olen, ocap;
    uint64_t next_seq;          /* a subscriber's next expected message */
} conn_t;

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

static void conn_queue(conn_t *c, const char *data, size_t len)
{
    if (c->olen + len > c->ocap) {
        c->ocap = (c->olen + len) * 2;
        c->out = realloc(c->out, c->ocap);
        SYSCHECK(c->out != NULL, "realloc");
    }
    memcpy(c->out + c->olen, data, len);
    c->olen += len;
}

static void conn_flush(run_t *r, conn_t *c)
{
    size_t off = 0;
    struct epoll_event ev = { .data.ptr = c };

    while (off < c->olen) {
        ssize_t n = send(c->fd, c->out + off, c->olen - off, MSG_NOSIGNAL);

        if (n > 0) {
            off += (size_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        SYSCHECK(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "send");
        break;
    }
    memmove(c->out, c->out + off, c->olen - off);
    c->olen -= off;
    ev.events = EPOLLIN | (c->olen ? EPOLLOUT : 0);
    SYSCHECK(epoll_ctl(r->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0, "epoll_ctl");
}

static void publish(run_t *r)
{
    char msg[PAYLOAD + 1], cmd[256];
    uint64_t now = bench_now_ns();
    int n;

    snprintf(msg, sizeof msg, "%016" PRIx64 " %016" PRIx64 " ", r->sent, now);
    memset(msg + 34, 'x', PAYLOAD - 34);
    msg[PAYLOAD] = '\0';
    if (r->pub->proto == P_PUBSUBD)
        n = snprintf(cmd, sizeof cmd, "PUB " TOPIC " %s\r\n", msg);
    else
        n = snprintf(cmd, sizeof cmd, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n" TOPIC "\r\n$%d\r\n%s\r\n",
                     strlen(TOPIC), PAYLOAD, msg);
    conn_queue(r->pub, cmd, (size_t) n);
    r->sent_at[r->sent % 4096] = now;
    r->sent++;
}

static void delivered(run_t *r, conn_t *c, const char *msg)
{
    uint64_t seq = strtoull(msg, NULL, 16), ts = strtoull(msg + 17, NULL, 16);
    uint64_t us = (bench_now_ns() - ts) / 1000;

    if (seq != c->next_seq)
        FAIL("a subscriber got message %" PRIu64 ", expected %" PRIu64
             " (lost or reordered)", seq, c->next_seq);
    c->next_seq++;
    r->deliveries++;
    r->hist[us < HIST_US ? us : HIST_US]++;
}

static void replied(run_t *r)
{
    uint64_t us = (bench_now_ns() - r->sent_at[r->replies % 4096]) / 1000;

    r->rtt_hist[us < HIST_US ? us : HIST_US]++;
    r->replies++;
}

static size_t parse(run_t *r, conn_t *c)
{
    static const char redis_msg[] = "*3\r\n$7\r\nmessage\r\n$5\r\n" TOPIC "\r\n$64\r\n";
    static const char redis_sub[] = "*3\r\n$9\r\nsubscribe\r\n$5\r\n" TOPIC "\r\n:1\r\n";
    static const char pubsubd_msg[] = "MSG " TOPIC " ";
    size_t pos = 0;

    for (;;) {
        const char *p = c->in + pos, *e;
        size_t left = c->ilen - pos;

        if (c->proto == P_REDIS && c->sub) {
            if (!c->ready) {
                if (left < sizeof redis_sub - 1)
                    break;
                if (memcmp(p, redis_sub, sizeof redis_sub - 1) != 0)
                    FAIL("redis: unexpected subscribe reply");
                c->ready = 1;
                pos += sizeof redis_sub - 1;
                continue;
            }
            if (left < sizeof redis_msg - 1 + PAYLOAD + 2)
                break;
            if (memcmp(p, redis_msg, sizeof redis_msg - 1) != 0)
                FAIL("redis: unexpected push");
            delivered(r, c, p + sizeof redis_msg - 1);
            pos += sizeof redis_msg - 1 + PAYLOAD + 2;
            continue;
        }
        if ((e = memchr(p, '\n', left)) == NULL)
            break;
        if (c->proto == P_REDIS) {          /* the publisher: integer replies */
            if (*p != ':')
                FAIL("redis: unexpected reply to PUBLISH");
            replied(r);
        } else if (c->sub && c->ready && left > sizeof pubsubd_msg - 1
                   && memcmp(p, pubsubd_msg, sizeof pubsubd_msg - 1) == 0) {
            delivered(r, c, p + sizeof pubsubd_msg - 1);
        } else if (c->sub && strncmp(p, "+OK subscribed", 14) == 0) {
            c->ready = 1;
        } else if (!c->sub && c->ready && strncmp(p, "+OK delivered", 13) == 0) {
            replied(r);
        } else if (!c->sub && strncmp(p, "+OK", 3) == 0) {
            c->ready = 1;               /* the greeting */
        } else if (strncmp(p, "+OK", 3) != 0) {
            FAIL("pubsubd: unexpected line %.*s", (int) (e - p), p);
        }
        pos += (size_t) (e + 1 - p);
    }
    return pos;
}

static void conn_read(run_t *r, conn_t *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->ilen, sizeof c->in - c->ilen, 0);
        size_t used;

        if (n == 0)
            FAIL("the server closed a connection");
        if (n < 0) {
            if (errno == EINTR)
                continue;
            SYSCHECK(errno == EAGAIN || errno == EWOULDBLOCK, "recv");
            return;
        }
        c->ilen += (size_t) n;
        used = parse(r, c);
        memmove(c->in, c->in + used, c->ilen - used);
        c->ilen -= used;
    }
}

static conn_t *conn_new(run_t *r, int port, enum proto proto, int sub)
{
    conn_t *c = calloc(1, sizeof *c);
    struct epoll_event ev = { .events = EPOLLIN };

    SYSCHECK(c != NULL, "calloc");
    c->fd = connect_to(port, 1);
    if (c->fd < 0)
        FAIL("cannot connect to port %d", port);
    c->proto = proto;
    c->sub = sub;
    c->ready = proto == P_REDIS && !sub;        /* Redis sends no greeting */
    ev.data.ptr = c;
    SYSCHECK(epoll_ctl(r->epfd, EPOLL_CTL_ADD, c->fd, &ev) == 0, "epoll_ctl");
    return c;
}

static void conn_free(conn_t *c)
{
    close(c->fd);
    free(c->out);
    free(c);
}

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
    struct epoll_event evs[256];

    while (!done(r)) {
        int i, n;

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
            conn_flush(r, r->pub);
        n = epoll_wait(r->epfd, evs, 256, 100);
        for (i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;

            if (evs[i].events & EPOLLOUT)
                conn_flush(r, c);
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_read(r, c);
        }
    }
    return 1;
}

static int all_ready(run_t *r)
{
    int i;

    if (!r->pub->ready)
        return 0;
    for (i = 0; i < r->nsubs; i++)
        if (!r->subs[i]->ready)
            return 0;
    return 1;
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

static double hist_quantile(const uint64_t *h, uint64_t total, double q)
{
    uint64_t want = (uint64_t) ((double) total * q), seen = 0;
    int i;

    for (i = 0; i <= HIST_US; i++) {
        seen += h[i];
        if (seen > want)
            return i;
    }
    return HIST_US;
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
    r->pub = conn_new(r, pub_port, proto, 0);
    r->nsubs = nsubs;
    for (i = 0; i < nsubs; i++) {
        r->subs[i] = conn_new(r, sub_port, proto, 1);
        const char *cmd = proto == P_PUBSUBD ? "SUB " TOPIC "\r\n"
                          : "*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\n" TOPIC "\r\n";

        conn_queue(r->subs[i], cmd, strlen(cmd));
        conn_flush(r, r->subs[i]);
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

static double median(double *v, int n)
{
    return bench_median_of(v, n);
}

/* The machine's load average over the last minute. */
static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");

    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
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
    load0 = loadavg();
    printf("one load client; %d-byte messages; %d round(s) of %.1f s per shape, sides"
           " alternating; medians; load average %.2f at the start\n\n", PAYLOAD, rounds,
           seconds, load0);
    redis_start(&rs, redis);
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
                m[k][i] = median(v[k][i], rounds);
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
                m[k][i] = median(v[k][i], rounds);
        printf("%-8d | %7.0f vs %7.0f (%5.2fx) | %5.0f vs %5.0f (%5.2fx) |"
               " %5.0f vs %5.0f (%5.2fx) | %5.1f vs %5.1f (%5.2fx) | %5.1f\n", windows[s],
               m[0][0], m[1][0], m[0][0] / m[1][0], m[0][1], m[1][1], m[0][1] / m[1][1],
               m[0][2], m[1][2], m[0][2] / m[1][2], m[0][3], m[1][3], m[0][3] / m[1][3],
               m[0][4]);
    }
    printf("(with Cluster vs without: what exporting each PUB costs the publisher's node;\n"
           " Redis also sends each message back to A, which drops its own)\n");
    printf("load average %.2f at the start, %.2f at the end (the machine may be shared:"
           " compare ratios, not absolute figures)\n", load0, loadavg());
    proc_stop(&a);
    proc_stop(&b);
    proc_stop(&l);
    proc_stop(&rs);
    return 0;
}
