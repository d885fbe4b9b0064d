/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * cluster_demo.c - two pubsubd nodes and one Redis, step by step (make
 * demo-cluster runs it; doc/cluster.md explains what it shows):
 *
 *   1. redis-server starts on a free loopback port (no persistence);
 *   2. pubsubd nodes A and B start with "Cluster redis://127.0.0.1:PORT",
 *      each on a free port of its own;
 *   3. a subscriber on node B, a publisher on node A: A's PUBs reach B
 *      (A's reply says delivered=0: A has no subscriber of its own); STATS
 *      shows the cluster counters of both nodes;
 *   4. Redis stops: both nodes go on serving their own clients (A's PUBs
 *      still answer at once), and say so in their logs;
 *   5. Redis starts again on the same port: the nodes reconnect and
 *      re-subscribe by themselves, B receives again, and STATS shows the
 *      reconnects and what the outage cost (lost, dropped);
 *   6. SIGTERM to both nodes (exit status 0), then Redis stops.
 *
 * Every step is checked; the demo exits non-zero when something does not
 * behave, and every wait has a deadline, so it never hangs.
 *
 * It pauses DEMO_PAUSE_MS (default 600) between steps, for a person
 * reading along; DEMO_PAUSE_MS=0 runs it straight through.
 *
 * Run: ./examples/cluster_demo [PATH-TO-PUBSUBD [PATH-TO-REDIS-SERVER]]
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L     /* plain POSIX: no APR, no poolev */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "demo.h"
#include "lineclient.h"

#define WAIT_MS  5000           /* anything that should happen soon */

static const char *pubsubd = "./examples/pubsubd", *redis = "redis-server";
static char dir[64];
static long pause_ms = 600;     /* between steps; DEMO_PAUSE_MS */

typedef struct proc {
    const char *name;
    pid_t pid;
    unsigned port;
    char conf[128], log[128];
    long log_off;               /* log bytes shown so far */
} proc_t;

static proc_t R = { "redis", 0, 0, "", "", 0 };
static proc_t A = { "A", 0, 0, "", "", 0 }, B = { "B", 0, 0, "", "", 0 };

/* ======================================================================== */
/* Output, failure                                                           */

/* Print @a p's log lines written since the last call (pubsubd's without
 * the date), those about the cluster only when @a cluster_only. */
static void show_log(proc_t *p, int cluster_only)
{
    FILE *f = fopen(p->log, "r");
    char line[2048];

    if (!f)
        return;
    if (fseek(f, p->log_off, SEEK_SET) == 0) {
        while (fgets(line, sizeof line, f)) {
            const char *l = line;
            size_t n = strlen(line);

            if (n == 0 || line[n - 1] != '\n')
                break;                  /* a line still being written */
            p->log_off += (long) n;
            if (n > 11 && line[4] == '-' && line[7] == '-' && line[10] == ' ')
                l += 11;                /* the date */
            if (!cluster_only || strstr(l, "cluster"))
                printf("  %-5s | %s", p->name, l);
        }
    }
    fclose(f);
}

static void kill_wait(proc_t *p, int sig)
{
    if (p->pid > 0) {
        kill(p->pid, sig);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
}

static void cleanup(void)
{
    char path[160];

    kill_wait(&A, SIGKILL);
    kill_wait(&B, SIGKILL);
    kill_wait(&R, SIGKILL);
    unlink(A.conf);
    unlink(A.log);
    unlink(B.conf);
    unlink(B.log);
    unlink(R.log);
    snprintf(path, sizeof path, "%s/dump.rdb", dir);
    unlink(path);
    rmdir(dir);
}

void demo_failed(void)
{
    show_log(&A, 0);
    show_log(&B, 0);
    cleanup();
}

static void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void step(const char *fmt, ...)
{
    va_list ap;

    show_log(&A, 1);
    show_log(&B, 1);
    if (checks)
        lc_sleep_ms(pause_ms);          /* for a person reading along */
    printf("\n== ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* ======================================================================== */
/* Processes                                                                 */

static unsigned free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned port = 0;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof sa) == 0
        && getsockname(fd, (struct sockaddr *) &sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    if (!port)
        fail("no free port: %s", strerror(errno));
    return port;
}

static pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid;
    int fd;

    fflush(stdout);
    pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* Redis on R.port, waited for with PING. */
static void redis_start(void)
{
    char port[16];
    char *argv[] = { (char *) redis, "--port", port, "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no",
                     "--loglevel", "warning", "--dir", dir, NULL };
    long deadline = lc_now_ms() + WAIT_MS;
    lc_client_t *c;
    const char *l;
    int status;

    snprintf(port, sizeof port, "%u", R.port);
    R.pid = spawn(argv, R.log);
    for (;;) {
        if ((c = lc_connect(R.port, 0)) != NULL) {
            l = lc_send(c, "PING\r\n", 6, WAIT_MS) == 0 ? lc_line(c, WAIT_MS) : NULL;
            if (l && strcmp(l, "+PONG") == 0) {
                lc_free(c);
                break;
            }
            lc_free(c);
        }
        if (waitpid(R.pid, &status, WNOHANG) == R.pid) {
            R.pid = 0;
            fail("%s did not start (exit status %d; is redis-server installed? "
                 "apt-get install redis-server)", redis, WEXITSTATUS(status));
        }
        if (lc_now_ms() > deadline)
            fail("redis-server did not answer PING on port %u", R.port);
        lc_sleep_ms(10);
    }
    printf("  redis-server (pid %ld) answers on 127.0.0.1:%u\n", (long) R.pid, R.port);
}

static void redis_stop(void)
{
    int status;

    kill(R.pid, SIGTERM);
    waitpid(R.pid, &status, 0);
    printf("  redis-server (pid %ld) stopped\n", (long) R.pid);
    R.pid = 0;
}

/* A pubsubd node, its port read from its log. */
static void node_start(proc_t *n, const char *id)
{
    char *argv[] = { (char *) pubsubd, "-f", n->conf, NULL };
    long deadline = lc_now_ms() + WAIT_MS;
    FILE *f;
    int status;

    snprintf(n->conf, sizeof n->conf, "%s/%s.conf", dir, id);
    snprintf(n->log, sizeof n->log, "%s/%s.log", dir, id);
    f = fopen(n->conf, "w");
    if (!f)
        fail("%s: %s", n->conf, strerror(errno));
    fprintf(f, "Listen 127.0.0.1:0\nLogLevel info\nStatsInterval off\n"
               "Cluster redis://127.0.0.1:%u\nClusterNode %s\n", R.port, id);
    fclose(f);
    printf("  node %s: %s -f %s\n", n->name, pubsubd, n->conf);
    printf("          (Listen 127.0.0.1:0, Cluster redis://127.0.0.1:%u, ClusterNode %s)\n",
           R.port, id);
    n->pid = spawn(argv, n->log);
    while (!n->port) {
        char buf[8192];
        const char *p;
        size_t len;

        if ((f = fopen(n->log, "r")) != NULL) {
            len = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[len] = '\0';
            if ((p = strstr(buf, "listening on port ")) != NULL)
                n->port = (unsigned) strtoul(p + 18, NULL, 10);
        }
        if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
            n->pid = 0;
            fail("node %s exited (status %d)", n->name, WEXITSTATUS(status));
        }
        if (!n->port && lc_now_ms() > deadline)
            fail("node %s did not say its port", n->name);
        lc_sleep_ms(5);
    }
}

static void node_stop(proc_t *n)
{
    long deadline = lc_now_ms() + WAIT_MS;
    int status;
    pid_t r;

    kill(n->pid, SIGTERM);
    while ((r = waitpid(n->pid, &status, WNOHANG)) == 0) {
        if (lc_now_ms() > deadline)
            fail("node %s did not stop after SIGTERM", n->name);
        lc_sleep_ms(5);
    }
    n->pid = 0;
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "node %s exited with status %d",
          n->name, status);
    printf("  node %s: SIGTERM, exit status 0\n", n->name);
}

/* ======================================================================== */
/* Clients                                                                   */

typedef struct client {
    const char *name;
    lc_client_t *lc;
} client_t;

static void client_connect(client_t *c, const char *name, proc_t *n)
{
    const char *l;

    c->name = name;
    if ((c->lc = lc_connect(n->port, 0)) == NULL)
        fail("%s: connect to node %s: %s", name, n->name, strerror(errno));
    l = lc_line(c->lc, WAIT_MS);
    check(l && strncmp(l, "+OK", 3) == 0, "%s: no greeting", name);
}

static void say(client_t *c, const char *cmd, int quiet)
{
    char buf[1024];
    size_t n = (size_t) snprintf(buf, sizeof buf, "%s\r\n", cmd);
    int err;

    if (!quiet)
        printf("  %-9s > %s\n", c->name, cmd);
    if ((err = lc_send(c->lc, buf, n, WAIT_MS)) != 0)
        fail("%s: send: %s", c->name, strerror(err));
}

static const char *expect(client_t *c, const char *prefix, int quiet)
{
    const char *got = lc_line(c->lc, WAIT_MS);

    if (!got)
        fail("%s expected \"%s...\", got nothing", c->name, prefix);
    if (!quiet)
        printf("  %-9s < %s\n", c->name, got);
    check(strncmp(got, prefix, strlen(prefix)) == 0, "%s expected \"%s...\", got \"%s\"",
          c->name, prefix, got);
    return got;
}

/* STATS on @a c, its cluster fields shown; the value of @a key. */
static long cluster_stats(client_t *c, const char *key)
{
    static char line[1024];
    const char *l, *at;

    lc_sleep_ms(20);                    /* the nodes' log lines of what just happened */
    show_log(&A, 1);
    show_log(&B, 1);
    say(c, "STATS", 1);
    l = expect(c, "+OK", 1);
    snprintf(line, sizeof line, "%s", l);
    at = strstr(line, " cluster_");
    printf("  %-9s < STATS: ...%s\n", c->name, at ? at : " (no cluster fields)");
    return key ? stat_of(line, key) : 0;
}

/* Publish "hello #K" on @a pub until @a sub receives one; returns K of the
 * first received, and how long it took in *ms. */
static long publish_until_heard(client_t *pub, client_t *sub, long *k, long *ms)
{
    long start = lc_now_ms(), first = -1;
    char cmd[64];
    const char *l;

    while (first < 0) {
        if (lc_now_ms() - start > 2 * WAIT_MS)
            fail("%s never heard %s within %d ms", sub->name, pub->name, 2 * WAIT_MS);
        snprintf(cmd, sizeof cmd, "PUB news hello #%ld", ++*k);
        say(pub, cmd, 1);
        expect(pub, "+OK delivered=0", 1);
        while ((l = lc_line(sub->lc, 20)) != NULL) {
            if (sscanf(l, "MSG news hello #%ld", &first) == 1)
                break;
            printf("  %-9s < %s\n", sub->name, l);   /* sent by A from its queue */
        }
    }
    *ms = lc_now_ms() - start;
    return first;
}

/* ======================================================================== */

int main(int argc, char **argv)
{
    client_t pub, sub, statA, statB;
    long k = 0, first, ms, i, got, lost;
    const char *l;
    char cmd[64];

    if (getenv("DEMO_PAUSE_MS"))
        pause_ms = strtol(getenv("DEMO_PAUSE_MS"), NULL, 10);
    if (argc > 1)
        pubsubd = argv[1];
    if (argc > 2)
        redis = argv[2];
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    strcpy(dir, "/tmp/cluster-demo.XXXXXX");
    if (!mkdtemp(dir))
        fail("mkdtemp: %s", strerror(errno));
    snprintf(R.log, sizeof R.log, "%s/redis.log", dir);

    step("1. Redis: redis-server on a free loopback port, without persistence");
    R.port = free_port();
    redis_start();

    step("2. Two pubsubd nodes, A and B, on the same Redis");
    node_start(&A, "node-a");
    node_start(&B, "node-b");
    printf("  node A listens on %u, node B on %u\n", A.port, B.port);

    step("3. A subscriber on node B, a publisher on node A");
    client_connect(&sub, "B:sub", &B);
    client_connect(&pub, "A:pub", &A);
    client_connect(&statA, "A:admin", &A);
    client_connect(&statB, "B:admin", &B);
    say(&sub, "SUB news", 0);
    expect(&sub, "+OK subscribed to news", 0);
    printf("  (A publishes until B hears it: the nodes subscribe to Redis in the"
           " background)\n");
    first = publish_until_heard(&pub, &sub, &k, &ms);
    printf("  B:sub     < MSG news hello #%ld   (after %ld ms)\n", first, ms);
    printf("  now five more; A's reply counts A's own subscribers (none):"
           " delivered=0\n");
    for (i = 0; i < 5; i++) {
        snprintf(cmd, sizeof cmd, "PUB news hello #%ld", ++k);
        say(&pub, cmd, 0);
        expect(&pub, "+OK delivered=0", 0);
    }
    for (got = 0; got < 5;) {
        l = lc_line(sub.lc, WAIT_MS);
        check(l != NULL, "B:sub got %ld of the 5 messages", got);
        if (strncmp(l, "MSG news hello #", 16) == 0 && strtol(l + 16, NULL, 10) > k - 5) {
            printf("  B:sub     < %s\n", l);
            check(strtol(l + 16, NULL, 10) == k - 4 + got, "out of order: %s", l);
            got++;
        }
    }
    cluster_stats(&statA, NULL);
    check(cluster_stats(&statB, "cluster_connected") == 1, "B is not connected");

    step("4. Redis stops: each node goes on serving its own clients");
    redis_stop();
    {
        long deadline = lc_now_ms() + WAIT_MS;

        while (cluster_stats(&statA, "cluster_connected") != 0) {
            check(lc_now_ms() < deadline, "A did not see Redis go");
            lc_sleep_ms(50);
        }
    }
    printf("  A's PUBs still answer at once (local delivery needs no Redis);"
           " they wait in A's queue or are dropped:\n");
    for (i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "PUB news during the outage #%ld", i + 1);
        say(&pub, cmd, 0);
        expect(&pub, "+OK delivered=0", 0);
    }
    cluster_stats(&statA, NULL);
    cluster_stats(&statB, NULL);

    step("5. Redis starts again on the same port: the nodes reconnect by themselves");
    redis_start();
    first = publish_until_heard(&pub, &sub, &k, &ms);
    printf("  B:sub     < MSG news hello #%ld   (%ld ms after Redis came back)\n", first, ms);
    cluster_stats(&statA, "cluster_reconnects");
    check(cluster_stats(&statB, "cluster_reconnects") >= 1, "B did not reconnect");
    lost = cluster_stats(&statB, "cluster_lost");
    if (lost)
        printf("  B lost %ld message(s): A sent them (its queue first, when it was back)\n"
               "  before B had subscribed again. At most once: they are not sent again;\n"
               "  B counts them from the gap in A's sequence numbers.\n", lost);
    else
        printf("  B lost nothing this time: it had subscribed again before A sent its\n"
               "  queue. Had A sent first, B would count the gap in cluster_lost.\n");

    step("6. Stop: SIGTERM to both nodes, then Redis");
    lc_free(pub.lc);
    lc_free(sub.lc);
    lc_free(statA.lc);
    lc_free(statB.lc);
    node_stop(&A);
    node_stop(&B);
    show_log(&A, 1);
    show_log(&B, 1);
    redis_stop();
    cleanup();
    printf("\ndemo-cluster: all %d checks passed\n", checks);
    return 0;
}
