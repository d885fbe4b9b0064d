/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * pubsub_client.h - what the pub/sub benchmarks (bench_pubsub.c,
 * bench_cluster.c, bench_bridge_allocs.c) share: servers as child processes
 * on free loopback ports (pubsubd, redis-server), their CPU time, and the
 * load client's connections, which speak both protocols (pubsubd's lines,
 * Redis's RESP) on one epoll set.
 *
 * Each message is PAYLOAD bytes: its sequence number and the time it was
 * sent (16 hex digits each, bench_now_ns()), then 'x's. A connection's
 * input is parsed by conn_read(), which hands every delivery and every
 * reply to the publisher to the benchmark's callbacks (conn_ops_t): what a
 * benchmark counts and how it paces its publisher stay its own.
 *
 * Everything fails the benchmark (FAIL, SYSCHECK: benchutil.h) on an
 * unexpected error. Single-threaded.
 */
#ifndef POOLEV_BENCH_PUBSUB_CLIENT_H
#define POOLEV_BENCH_PUBSUB_CLIENT_H

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
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"

#define TOPIC "bench"
#define PAYLOAD 64              /* bytes of each message's text */
#define HIST_US 100000          /* latency histogram: 1 µs buckets to 100 ms */

enum proto { P_PUBSUBD, P_REDIS };

/* ------------------------------------------------------------------------ */
/* Processes                                                                 */

/* A free loopback TCP port (bound, read, closed). */
static inline int free_port(void)
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

/* A TCP connection to 127.0.0.1:@a port (TCP_NODELAY; non-blocking if
 * @a nonblock, once connected), or -1 if refused. */
static inline int connect_to(int port, int nonblock)
{
    return bench_connect_loopback(port, nonblock);
}

/* The running children (spawn() to proc_stop()), killed by kill_children()
 * when a benchmark installs it as its SIGABRT handler (FAIL aborts), so
 * that no server outlives it. */
#define MAX_CHILDREN 8
static pid_t children[MAX_CHILDREN];

static inline void kill_children(int sig)
{
    int i;

    for (i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Run @a argv (argv[0]: the path) with stdout and stderr to @a log. */
static inline pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    int i;

    SYSCHECK(pid >= 0, "fork");
    for (i = 0; pid > 0 && i < MAX_CHILDREN; i++)
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

/* pubsubd @a pid logs "... listening on port P" to @a log once it is
 * ready: P. Fails if it exits first, or after 10 s. */
static inline int pubsubd_port(const char *log, pid_t pid)
{
    uint64_t end = bench_now_ns() + 10ull * 1000000000;

    for (;;) {
        char buf[8192];
        FILE *f = fopen(log, "r");
        const char *p;
        int status;

        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);

            fclose(f);
            buf[n] = '\0';
            if ((p = strstr(buf, "listening on port ")) != NULL)
                return atoi(p + strlen("listening on port "));
        }
        if (waitpid(pid, &status, WNOHANG) == pid)
            FAIL("pubsubd exited before it listened (log: %s)", log);
        if (bench_now_ns() > end)
            FAIL("pubsubd did not say its port within 10 s (log: %s)", log);
        bench_sleep_ns(5 * 1000000);
    }
}

/* Wait until redis-server listens on @a port (its log: @a log); fails
 * after 10 s. */
static inline void redis_wait(int port, const char *log)
{
    uint64_t end = bench_now_ns() + 10ull * 1000000000;
    int fd;

    while ((fd = connect_to(port, 0)) < 0) {
        if (bench_now_ns() > end)
            FAIL("redis-server did not listen on %d within 10 s (log: %s)", port, log);
        bench_sleep_ns(10 * 1000000);
    }
    close(fd);
}

/* A new directory /tmp/bench-@a tag-XXXXXX into @a dir (@a size bytes). */
static inline void temp_dir(char *dir, size_t size, const char *tag)
{
    snprintf(dir, size, "/tmp/bench-%s-XXXXXX", tag);
    SYSCHECK(mkdtemp(dir) != NULL, "mkdtemp");
}

/* redis-server @a path on a free loopback port (*@a port) with @a dir its
 * directory and @a log its output: no persistence, no limit on the pub/sub
 * clients' output, at most @a maxclients clients (0: Redis's default).
 * Returns its pid once it listens. */
static inline pid_t redis_spawn(const char *path, const char *dir, const char *log,
                                int maxclients, int *port)
{
    char pbuf[16], mbuf[16];
    char *argv[] = { (char *) path, "--port", pbuf, "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no",
                     "--loglevel", "warning", "--dir", (char *) dir,
                     "--client-output-buffer-limit", "pubsub 0 0 0",
                     maxclients > 0 ? "--maxclients" : NULL, mbuf, NULL };
    pid_t pid;

    *port = free_port();
    snprintf(pbuf, sizeof pbuf, "%d", *port);
    snprintf(mbuf, sizeof mbuf, "%d", maxclients);
    pid = spawn(argv, log);
    redis_wait(*port, log);
    return pid;
}

/* A server process of a benchmark: its pid (0: not running), port and
 * temporary directory. */
typedef struct proc {
    pid_t pid;
    int port;
    char dir[64];
} proc_t;

/* redis_spawn() @a path into @a r, in a new temp_dir() of @a tag (its log:
 * DIR/log), with Redis's default client limit. */
static inline void redis_start(proc_t *r, const char *path, const char *tag)
{
    char log[128];

    temp_dir(r->dir, sizeof r->dir, tag);
    snprintf(log, sizeof log, "%s/log", r->dir);
    r->pid = redis_spawn(path, r->dir, log, 0, &r->port);
}

/* SIGTERM to *@a pid, wait for it, remove its directory @a dir; *@a pid
 * becomes 0. Nothing if *@a pid is not running. */
static inline void proc_stop(pid_t *pid, const char *dir)
{
    char cmd[128];
    int status, i;

    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    waitpid(*pid, &status, 0);
    for (i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == *pid)
            children[i] = 0;
    *pid = 0;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

/* A process's CPU time so far, in seconds (utime + stime). */
static inline double proc_cpu(pid_t pid)
{
    return bench_proc_cpu(pid);
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
    char *out;                  /* pending output */
    size_t olen, ocap;
    uint64_t next_seq;          /* a subscriber's next expected message */
} conn_t;

/* What a benchmark does with what its connections receive. */
typedef struct conn_ops {
    /* a subscriber @a c got a message: @a msg, PAYLOAD bytes */
    void (*delivered)(void *ctx, conn_t *c, const char *msg);
    /* the publisher got the reply to a publish */
    void (*replied)(void *ctx);
} conn_ops_t;

/* A connection to @a port on the epoll set @a epfd (EPOLLIN, data.ptr:
 * the connection), speaking @a proto; @a sub: a subscriber. */
static inline conn_t *conn_new(int epfd, int port, enum proto proto, int sub)
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
    SYSCHECK(epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) == 0, "epoll_ctl");
    return c;
}

static inline void conn_free(conn_t *c)
{
    close(c->fd);
    free(c->out);
    free(c);
}

/* Queue @a len bytes of output. */
static inline void conn_queue(conn_t *c, const char *data, size_t len)
{
    if (c->olen + len > c->ocap) {
        c->ocap = (c->olen + len) * 2;
        c->out = realloc(c->out, c->ocap);
        SYSCHECK(c->out != NULL, "realloc");
    }
    memcpy(c->out + c->olen, data, len);
    c->olen += len;
}

/* Write what the socket takes; watch for EPOLLOUT while output is left. */
static inline void conn_flush(int epfd, conn_t *c)
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
    SYSCHECK(epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0, "epoll_ctl");
}

/* Queue the subscription to TOPIC in @a c's protocol. */
static inline void conn_subscribe(conn_t *c)
{
    const char *cmd = c->proto == P_PUBSUBD ? "SUB " TOPIC "\r\n"
                      : "*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\n" TOPIC "\r\n";

    conn_queue(c, cmd, strlen(cmd));
}

/* Queue one publish on @a c, stamped with @a seq and @a now. */
static inline void conn_publish(conn_t *c, uint64_t seq, uint64_t now)
{
    char msg[PAYLOAD + 1], cmd[256];
    int n;

    snprintf(msg, sizeof msg, "%016" PRIx64 " %016" PRIx64 " ", seq, now);
    memset(msg + 34, 'x', PAYLOAD - 34);
    msg[PAYLOAD] = '\0';
    if (c->proto == P_PUBSUBD)
        n = snprintf(cmd, sizeof cmd, "PUB " TOPIC " %s\r\n", msg);
    else
        n = snprintf(cmd, sizeof cmd, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n" TOPIC "\r\n$%d\r\n%s\r\n",
                     strlen(TOPIC), PAYLOAD, msg);
    conn_queue(c, cmd, (size_t) n);
}

/* A message's sequence number and send time (conn_publish()). */
static inline uint64_t msg_seq(const char *msg)
{
    return strtoull(msg, NULL, 16);
}

static inline uint64_t msg_sent_ns(const char *msg)
{
    return strtoull(msg + 17, NULL, 16);
}

/* Take what @a c's input holds; return the bytes used. */
static inline size_t conn_parse(conn_t *c, const conn_ops_t *ops, void *ctx)
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
            ops->delivered(ctx, c, p + sizeof redis_msg - 1);
            pos += sizeof redis_msg - 1 + PAYLOAD + 2;
            continue;
        }
        if ((e = memchr(p, '\n', left)) == NULL)
            break;
        if (c->proto == P_REDIS) {          /* the publisher: integer replies */
            if (*p != ':')
                FAIL("redis: unexpected reply to PUBLISH");
            ops->replied(ctx);
        } else if (c->sub && c->ready && left > sizeof pubsubd_msg - 1
                   && memcmp(p, pubsubd_msg, sizeof pubsubd_msg - 1) == 0) {
            ops->delivered(ctx, c, p + sizeof pubsubd_msg - 1);
        } else if (c->sub && strncmp(p, "+OK subscribed", 14) == 0) {
            c->ready = 1;
        } else if (!c->sub && c->ready && strncmp(p, "+OK delivered", 13) == 0) {
            ops->replied(ctx);
        } else if (!c->sub && strncmp(p, "+OK", 3) == 0) {
            c->ready = 1;               /* the greeting */
        } else if (strncmp(p, "+OK", 3) != 0) {
            FAIL("pubsubd: unexpected line %.*s", (int) (e - p), p);
        }
        pos += (size_t) (e + 1 - p);
    }
    return pos;
}

/* Read all @a c's socket holds and parse it (conn_parse()); fails if the
 * server closed it. */
static inline void conn_read(conn_t *c, const conn_ops_t *ops, void *ctx)
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
        used = conn_parse(c, ops, ctx);
        memmove(c->in, c->in + used, c->ilen - used);
        c->ilen -= used;
    }
}

/* Wait at most 100 ms for the connections on @a epfd, then write and read
 * what they are ready for. */
static inline void conns_poll(int epfd, const conn_ops_t *ops, void *ctx)
{
    struct epoll_event evs[256];
    int i, n = epoll_wait(epfd, evs, 256, 100);

    for (i = 0; i < n; i++) {
        conn_t *c = evs[i].data.ptr;

        if (evs[i].events & EPOLLOUT)
            conn_flush(epfd, c);
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            conn_read(c, ops, ctx);
    }
}

/* Whether the publisher @a pub is greeted and the @a n subscribers
 * @a subs all subscribed. */
static inline int conns_ready(const conn_t *pub, conn_t *const *subs, int n)
{
    int i;

    if (!pub->ready)
        return 0;
    for (i = 0; i < n; i++)
        if (!subs[i]->ready)
            return 0;
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Figures                                                                   */

/* The @a q quantile (0..1) of a latency histogram of @a total samples, in
 * µs. */
static inline double hist_quantile(const uint64_t *h, uint64_t total, double q)
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

#endif
