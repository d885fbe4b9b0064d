/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_pubsub.c - pubsubd against Redis pub/sub, measured side by side.
 *
 * Both servers run as child processes on free loopback ports: pubsubd (the
 * example daemon, examples/pubsubd) and redis-server when it is installed.
 * One load client, single-threaded on epoll, speaks both protocols: one
 * publisher keeps W publishes in flight (a new one for each reply), S
 * subscribers receive every message. Each message carries its sequence
 * number and the time it was sent, so every delivery is checked (in order,
 * none lost) and its latency measured (publish written to delivery read).
 *
 * For each shape (S, W) and each server: deliveries per second, the p99
 * latency, and the server's CPU time per delivery (utime + stime from
 * /proc/PID/stat). Rounds alternate the servers (pubsubd first in odd
 * rounds, Redis first in even ones); the figures are medians over rounds,
 * and the ratios pubsubd/Redis are of medians from the same run. Then the
 * memory each server holds per idle connection, at 5,000 connections.
 *
 *   bench_pubsub [--smoke] [--workers N] [PUBSUBD [REDIS-SERVER]]
 *
 * --workers N: the peer is not Redis but a second pubsubd with "Workers N"
 * (doc/pubsubd.md, "Workers"), against pubsubd with Workers 1, measured
 * the same way in the same run; the ratios are Workers N / Workers 1. The
 * load client's own CPU share (its CPU time over the wall time of the
 * measurement) is printed beside, since one client thread may be the
 * limit rather than the server.
 *
 * --smoke: one short round of one shape and 200 idle connections, for CI
 * (it checks that everything runs and every delivery arrives; it judges no
 * speed). BENCH_RUNS sets the rounds (default 5), BENCH_SECONDS the length
 * of a measurement (default 2), BENCH_SHAPES the shapes to run (by default
 * the four: "10,32 100,32 10,1 100,1"; any S,W pairs, S up to 1,000 and W
 * up to 1,024, separated by spaces).
 *
 * BENCH_PUBSUBD_CONF adds directives to every pubsubd's configuration,
 * separated by ';' ("FlushSlice off" measures without the flush slice); the
 * header line says what was added.
 *
 * BENCH_PROFILE=1 adds a line per shape with where each server's time goes
 * (medians over the rounds): its user and system CPU time per delivery, its
 * main thread's sleeps per publish (voluntary context switches: each is an
 * epoll_wait that found nothing ready, and a wakeup later), and the load
 * client's sleeps per publish (each one a wakeup the server's sends pay
 * for).
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"
#include "pubsub_client.h"

typedef struct server {
    const char *name;
    enum proto proto;
    pid_t pid;
    int port;
    char dir[64];               /* its temporary directory */
    int workers;                /* pubsubd: Workers (0: not set) */
} server_t;

/* ------------------------------------------------------------------------ */
/* Servers                                                                   */

/* BENCH_PUBSUBD_CONF, or NULL */
static const char *pubsubd_extra;

static void server_start(server_t *sv, const char *path)
{
    char log[128], conf[128];

    temp_dir(sv->dir, sizeof sv->dir, "pubsub");
    snprintf(log, sizeof log, "%s/log", sv->dir);
    if (sv->proto == P_PUBSUBD) {
        FILE *f;
        char *argv[] = { (char *) path, "-f", conf, NULL };

        snprintf(conf, sizeof conf, "%s/pubsubd.conf", sv->dir);
        f = fopen(conf, "w");
        SYSCHECK(f != NULL, "fopen");
        /* as Redis: no idle timeout, no stats, a large output limit (Redis's
         * pubsub clients are unlimited below) */
        fprintf(f, "Listen 127.0.0.1:0\nIdleTimeout off\nStatsInterval off\n"
                   "OutputLimit 64m\nMaxLine 4k\n");
        if (sv->workers > 0)
            fprintf(f, "Workers %d\n", sv->workers);
        if (pubsubd_extra) {
            const char *p;

            for (p = pubsubd_extra; *p; p++)
                fputc(*p == ';' ? '\n' : *p, f);
            fputc('\n', f);
        }
        fclose(f);
        sv->pid = spawn(argv, log);
        sv->port = pubsubd_port(log, sv->pid);
    } else
        sv->pid = redis_spawn(path, sv->dir, log, 20000, &sv->port);
}

static void server_stop(server_t *sv)
{
    proc_stop(&sv->pid, sv->dir);
}

/* The number after @a field (e.g. "VmRSS:") in /proc/@a pid/status, 0 if
 * the field is absent. */
static double status_field(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t len = strlen(field);
    double v = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    f = fopen(path, "r");
    SYSCHECK(f != NULL, "fopen /proc/PID/status");
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && sscanf(line + len, "%lf", &v) == 1)
            break;
    fclose(f);
    return v;
}

/* The server's resident set, in bytes (VmRSS, in kB there). */
static double server_rss(const server_t *sv)
{
    return status_field(sv->pid, "VmRSS:") * 1024;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

typedef struct run {
    enum proto proto;
    int epfd;
    conn_t *pub;
    conn_t **subs;
    int nsubs;
    int window;
    uint64_t sent, replies, deliveries, in_flight;
    uint64_t hist[HIST_US + 1];
    int publishing;
} run_t;

/* Queue one publish, stamped with its sequence number and the time. */
static void publish(run_t *r)
{
    conn_publish(r->pub, r->sent, bench_now_ns());
    r->sent++;
    r->in_flight++;
}

/* A delivery's text: check its sequence, record its latency. */
static void delivered(void *ctx, conn_t *c, const char *msg)
{
    run_t *r = ctx;
    uint64_t seq = msg_seq(msg), ts = msg_sent_ns(msg);
    uint64_t us = (bench_now_ns() - ts) / 1000;

    if (seq != c->next_seq)
        FAIL("subscriber got message %" PRIu64 ", expected %" PRIu64, seq, c->next_seq);
    c->next_seq++;
    r->deliveries++;
    r->hist[us < HIST_US ? us : HIST_US]++;
}

/* A reply to a publish. */
static void replied(void *ctx)
{
    run_t *r = ctx;

    r->replies++;
    r->in_flight--;
}

static const conn_ops_t ops = { delivered, replied };

/* Run the loop until @a done(r), at most @a max_ns. */
static int pump(run_t *r, int (*done)(run_t *), uint64_t max_ns)
{
    uint64_t end = bench_now_ns() + max_ns;

    while (!done(r)) {
        if (bench_now_ns() > end)
            return 0;
        if (r->publishing)
            while (r->in_flight < (uint64_t) r->window)
                publish(r);
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
    int i;

    if (r->in_flight)
        return 0;
    for (i = 0; i < r->nsubs; i++)
        if (r->subs[i]->next_seq != r->sent)
            return 0;
    return 1;
}

static int never(run_t *r)
{
    (void) r;
    return 0;
}

typedef struct result {
    double per_sec;             /* deliveries per second */
    double p99_us;
    double cpu_ns;              /* server CPU per delivery */
    double client_share;        /* the load client's CPU time / wall time */
    double user_ns, sys_ns;     /* the server's user and system CPU per delivery */
    double srv_sleeps;          /* the server's sleeps per publish */
    double cli_sleeps;          /* the load client's sleeps per publish */
} result_t;

/* Where a process's time goes, so far: user and system CPU (seconds, at the
 * clock tick's resolution) and its main thread's voluntary context
 * switches. */
typedef struct proc_use {
    double user, sys, sleeps;
} proc_use_t;

static proc_use_t server_use(pid_t pid)
{
    char path[64];
    proc_use_t u = { 0, 0, 0 };

    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    SYSCHECK(bench_stat_times(path, &u.user, &u.sys) == 0, "open /proc/PID/stat");
    u.sleeps = status_field(pid, "voluntary_ctxt_switches:");
    return u;
}

/* The load client's (this thread's) voluntary context switches so far. */
static double client_sleeps(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return 0;
    return (double) ru.ru_nvcsw;
}

/* This process's CPU time so far, in seconds. */
static double client_cpu(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
           + (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* One measurement of @a sv with @a nsubs subscribers and @a window
 * publishes in flight, for @a ns nanoseconds. */
static result_t measure(const server_t *sv, int nsubs, int window, uint64_t ns)
{
    run_t *r = calloc(1, sizeof *r);
    result_t res;
    uint64_t t0, t1;
    double c0, c1;
    int i;

    SYSCHECK(r != NULL, "calloc");
    r->proto = sv->proto;
    r->window = window;
    r->epfd = epoll_create1(0);
    SYSCHECK(r->epfd >= 0, "epoll_create1");
    r->pub = conn_new(r->epfd, sv->port, r->proto, 0);
    r->nsubs = nsubs;
    r->subs = calloc((size_t) nsubs, sizeof *r->subs);
    SYSCHECK(r->subs != NULL, "calloc");
    for (i = 0; i < nsubs; i++) {
        r->subs[i] = conn_new(r->epfd, sv->port, r->proto, 1);
        conn_subscribe(r->subs[i]);
        conn_flush(r->epfd, r->subs[i]);
    }
    if (!pump(r, all_ready, 10ull * 1000000000))
        FAIL("%s: the subscribers were not all subscribed within 10 s", sv->name);
    /* warm up, then measure */
    r->publishing = 1;
    (void) pump(r, never, ns / 4);
    memset(r->hist, 0, sizeof r->hist);
    {
        uint64_t d0 = r->deliveries, p0 = r->replies;
        double u0 = client_cpu(), s0 = client_sleeps(), dd, dp;
        proc_use_t pu0 = server_use(sv->pid), pu1;

        c0 = proc_cpu(sv->pid);
        t0 = bench_now_ns();
        (void) pump(r, never, ns);
        t1 = bench_now_ns();
        c1 = proc_cpu(sv->pid);
        pu1 = server_use(sv->pid);
        dd = (double) (r->deliveries - d0);
        dp = (double) (r->replies - p0);
        res.user_ns = (pu1.user - pu0.user) * 1e9 / dd;
        res.sys_ns = (pu1.sys - pu0.sys) * 1e9 / dd;
        res.srv_sleeps = (pu1.sleeps - pu0.sleeps) / dp;
        res.cli_sleeps = (client_sleeps() - s0) / dp;
        res.client_share = (client_cpu() - u0) * 1e9 / (double) (t1 - t0);
        res.per_sec = (double) (r->deliveries - d0) * 1e9 / (double) (t1 - t0);
        res.cpu_ns = (c1 - c0) * 1e9 / (double) (r->deliveries - d0);
        res.p99_us = hist_quantile(r->hist, r->deliveries - d0, 0.99);
    }
    r->publishing = 0;
    if (!pump(r, all_delivered, 10ull * 1000000000))
        FAIL("%s: deliveries missing 10 s after the last publish", sv->name);
    for (i = 0; i < nsubs; i++)
        conn_free(r->subs[i]);
    conn_free(r->pub);
    close(r->epfd);
    free(r->subs);
    free(r);
    return res;
}

/* Bytes of server memory per idle connection, at @a n connections. */
static double idle_memory(const server_t *sv, int n)
{
    int *fds = calloc((size_t) n, sizeof *fds), i;
    double before, after;

    SYSCHECK(fds != NULL, "calloc");
    bench_sleep_ns(200 * 1000000);
    before = server_rss(sv);
    for (i = 0; i < n; i++) {
        fds[i] = connect_to(sv->port, 0);
        if (fds[i] < 0)
            FAIL("%s: connection %d refused", sv->name, i);
        if (sv->proto == P_REDIS && write(fds[i], "PING\r\n", 6) != 6)
            FAIL("write");
    }
    /* every connection accepted and answered: read one reply from each */
    for (i = 0; i < n; i++) {
        char buf[512];
        ssize_t got = read(fds[i], buf, sizeof buf);

        if (got <= 0)
            FAIL("%s: no greeting on connection %d", sv->name, i);
    }
    bench_sleep_ns(500 * 1000000);
    after = server_rss(sv);
    for (i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    return (after - before) / n;
}

static void raise_nofile(int want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t) want) {
        rl.rlim_cur = rl.rlim_max < (rlim_t) want ? rl.rlim_max : (rlim_t) want;
        (void) setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    int shapes[16][2] = { { 10, 32 }, { 100, 32 }, { 10, 1 }, { 100, 1 } };
    const char *shape_env = getenv("BENCH_SHAPES");
    const char *profile_env = getenv("BENCH_PROFILE");
    const char *pubsubd = "examples/pubsubd", *redis = "/usr/bin/redis-server";
    int smoke = 0, argi = 1, rounds, nshapes, idle_n, have_redis, s, i, workers = 0;
    int profile = profile_env && strcmp(profile_env, "0") != 0 && *profile_env;
    double seconds;
    server_t sv[2] = { { "pubsubd", P_PUBSUBD, 0, 0, "", 0 },
                       { "redis", P_REDIS, 0, 0, "", 0 } };
    char wname[32];

    if (argi < argc && strcmp(argv[argi], "--smoke") == 0) {
        smoke = 1;
        argi++;
    }
    if (argi + 1 < argc && strcmp(argv[argi], "--workers") == 0) {
        workers = atoi(argv[argi + 1]);
        if (workers < 1 || workers > 1024)
            FAIL("--workers expects 1 to 1024, not %s", argv[argi + 1]);
        argi += 2;
    }
    if (argi < argc)
        pubsubd = argv[argi++];
    if (argi < argc)
        redis = argv[argi++];
    rounds = smoke ? 1 : bench_runs_from_env("BENCH_RUNS", 5);
    seconds = smoke ? 0.3 : bench_env_double("BENCH_SECONDS", 2, 0.1, 60);
    nshapes = smoke ? 1 : 4;
    if (!smoke && shape_env && *shape_env) {
        const char *p = shape_env;
        int sub, win, used;

        nshapes = 0;
        while (sscanf(p, " %d,%d%n", &sub, &win, &used) == 2) {
            if (nshapes == (int) (sizeof shapes / sizeof shapes[0]) || sub < 1 || sub > 1000
                || win < 1 || win > 1024)
                FAIL("BENCH_SHAPES: up to 16 pairs S,W (S 1 to 1000, W 1 to 1024): %s",
                     shape_env);
            shapes[nshapes][0] = sub;
            shapes[nshapes][1] = win;
            nshapes++;
            p += used;
        }
        if (!nshapes || strspn(p, " ") != strlen(p))
            FAIL("BENCH_SHAPES: pairs S,W separated by spaces, not \"%s\"", shape_env);
    }
    idle_n = smoke ? 200 : 5000;
    have_redis = access(redis, X_OK) == 0;
    if (workers) {
        /* the peer: pubsubd with Workers N, against Workers 1 */
        snprintf(wname, sizeof wname, "pubsubd-w%d", workers);
        sv[0].name = "pubsubd-w1";
        sv[0].workers = 1;
        sv[1].name = wname;
        sv[1].proto = P_PUBSUBD;
        sv[1].workers = workers;
        have_redis = 1;
        redis = pubsubd;
    }
    pubsubd_extra = getenv("BENCH_PUBSUBD_CONF");
    if (pubsubd_extra && !*pubsubd_extra)
        pubsubd_extra = NULL;
    signal(SIGPIPE, SIG_IGN);
    raise_nofile(idle_n + 1000);

    if (workers)
        printf("poolev %s pub/sub benchmark: pubsubd Workers 1 against pubsubd Workers %d\n",
               POOLEV_VERSION_STRING, workers);
    else
        printf("poolev %s pub/sub benchmark: pubsubd against %s\n", POOLEV_VERSION_STRING,
               have_redis ? "Redis" : "nothing (redis-server not installed)");
    if (pubsubd_extra)
        printf("pubsubd's configuration adds: %s\n", pubsubd_extra);
    bench_tsv_begin("pubsub", rounds);
    bench_print_machine();
    printf("one load client; %d-byte messages; %d round(s) of %.1f s per shape, servers"
           " alternating; medians\n\n", PAYLOAD, rounds, seconds);
    server_start(&sv[0], pubsubd);
    if (have_redis)
        server_start(&sv[1], redis);

    printf("%-10s %-4s | %-32s | %-28s | %-28s\n", "subs, W", "", "deliveries/s",
           "p99 latency (us)", "server CPU per delivery (ns)");
    for (s = 0; s < nshapes; s++) {
        double rate[2][BENCH_MAX_RUNS], p99[2][BENCH_MAX_RUNS], cpu[2][BENCH_MAX_RUNS];
        double share[2][BENCH_MAX_RUNS], mr[2], mp[2], mc[2], ms[2] = { 0, 0 };
        double prof[2][4][BENCH_MAX_RUNS], mprof[2][4] = { { 0 } };
        int k, j;

        for (i = 0; i < rounds; i++)
            for (k = 0; k < 2; k++) {
                int which = (i % 2) ? 1 - k : k;
                result_t res;

                if (which == 1 && !have_redis)
                    continue;
                res = measure(&sv[which], shapes[s][0], shapes[s][1],
                              (uint64_t) (seconds * 1e9));
                rate[which][i] = res.per_sec;
                p99[which][i] = res.p99_us;
                cpu[which][i] = res.cpu_ns;
                share[which][i] = res.client_share;
                prof[which][0][i] = res.user_ns;
                prof[which][1][i] = res.sys_ns;
                prof[which][2][i] = res.srv_sleeps;
                prof[which][3][i] = res.cli_sleeps;
            }
        for (k = 0; k < (have_redis ? 2 : 1); k++) {
            mr[k] = bench_median_of(rate[k], rounds);
            mp[k] = bench_median_of(p99[k], rounds);
            mc[k] = bench_median_of(cpu[k], rounds);
            ms[k] = bench_median_of(share[k], rounds);
            for (j = 0; j < 4; j++)
                mprof[k][j] = bench_median_of(prof[k][j], rounds);
        }
        for (k = 0; k < (have_redis ? 2 : 1); k++) {
            char size[32];

            snprintf(size, sizeof size, "%d,%d", shapes[s][0], shapes[s][1]);
            bench_tsv_row("deliver", size, sv[k].name, "deliveries", mr[k], "/s");
            bench_tsv_row("deliver", size, sv[k].name, "p99", mp[k], "us");
            bench_tsv_row("deliver", size, sv[k].name, "server-cpu", mc[k], "ns/delivery");
        }
        if (workers)
            /* Workers N / Workers 1, and the client's CPU share in each */
            printf("%4d, %-4d      | %9.0f vs %9.0f (%5.2fx) | %7.0f vs %7.0f (%5.2fx) |"
                   " %7.0f vs %7.0f (%5.2fx) | client CPU %3.0f%% vs %3.0f%%\n",
                   shapes[s][0], shapes[s][1], mr[1], mr[0], mr[1] / mr[0], mp[1], mp[0],
                   mp[1] / mp[0], mc[1], mc[0], mc[1] / mc[0], ms[1] * 100, ms[0] * 100);
        else if (have_redis)
            printf("%4d, %-4d      | %9.0f vs %9.0f (%5.2fx) | %7.0f vs %7.0f (%5.2fx) |"
                   " %7.0f vs %7.0f (%5.2fx)\n",
                   shapes[s][0], shapes[s][1], mr[0], mr[1], mr[0] / mr[1], mp[0], mp[1],
                   mp[0] / mp[1], mc[0], mc[1], mc[0] / mc[1]);
        else
            printf("%4d, %-4d      | %9.0f | %7.0f | %7.0f\n", shapes[s][0], shapes[s][1],
                   mr[0], mp[0], mc[0]);
        if (profile)
            for (k = 0; k < (have_redis ? 2 : 1); k++)
                printf("  %-10s  user %5.0f ns, system %5.0f ns per delivery; sleeps per"
                       " publish: server %.2f, client %.2f\n", sv[k].name, mprof[k][0],
                       mprof[k][1], mprof[k][2], mprof[k][3]);
    }
    if (workers)
        printf("(Workers %d vs Workers 1, in that order; CPU is the server's per delivery,"
               " over all its threads)\n\n", workers);
    else
        printf("(pubsubd vs Redis; goals: deliveries/s >= 1.0x, p99 <= 1.0x,"
               " CPU <= 1.0x)\n\n");
    {
        double m0 = idle_memory(&sv[0], idle_n);

        bench_tsv_row_n("idle", (unsigned long) idle_n, sv[0].name, "memory", m0, "B/conn");
        if (workers) {
            double m1 = idle_memory(&sv[1], idle_n);

            printf("memory per idle connection at %d: Workers %d %.0f bytes, Workers 1 %.0f"
                   " bytes\n", idle_n, workers, m1, m0);
        } else if (have_redis) {
            double m1 = idle_memory(&sv[1], idle_n);

            bench_tsv_row_n("idle", (unsigned long) idle_n, "redis", "memory", m1, "B/conn");
            printf("memory per idle connection at %d: pubsubd %.0f bytes, Redis %.0f bytes"
                   " (%.2fx; goal <= 0.5x)\n", idle_n, m0, m1, m0 / m1);
        } else {
            printf("memory per idle connection at %d: pubsubd %.0f bytes\n", idle_n, m0);
        }
    }
    server_stop(&sv[0]);
    server_stop(&sv[1]);
    return 0;
}
