/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_connect.c - outbound connections per second on loopback
 * (poolev/connect.h): pev_connect() to a numeric address, the stream
 * delivered, the server's close seen, the connection's pool destroyed.
 *
 * Workload: one loop runs both ends. The server is a watcher on a
 * listening socket of 127.0.0.1 that accepts every pending connection and
 * closes it at once (the server closes first, so the client's ephemeral
 * ports are not held in TIME_WAIT). Each client connection has its own
 * pool: pev_connect() in it, and on the stream's close (the server's EOF)
 * the pool is destroyed and the next connect starts, so that C (1 and 16)
 * are always in flight, until N (BENCH_CONNECTS, default 5,000) have
 * completed. The rate is N over the run's wall time; the table shows the
 * median of POOLEV_BENCH_RUNS (default 3) runs.
 *
 * Checks: every connect succeeds, the server accepts exactly N, and after
 * each run the loop has no stream or timer left and the process no more
 * descriptors than before it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "benchutil.h"

#define DEFAULT_RUNS 3
#define DEFAULT_CONNECTS 5000

typedef struct run {
    pev_loop_t *loop;
    apr_pool_t *pool;
    apr_port_t port;
    long target;                    /* connects to complete */
    long started, completed, accepted;
    int lfd;
} run_t;

static void start_one(run_t *r);

static void on_close(pev_stream_t *s, apr_status_t reason, void *user_data)
{
    run_t *r = user_data;

    (void) reason;
    r->completed++;
    apr_pool_destroy(pev_stream_pool(s));
    if (r->started < r->target)
        start_one(r);
}

static void on_connected(pev_connect_t *req, apr_status_t status, pev_stream_t *s,
                         void *user_data)
{
    static const pev_stream_callbacks_t cb = { NULL, NULL, on_close, NULL };
    run_t *r = user_data;

    if (status != APR_SUCCESS)
        FAIL("connect failed: %s", pev_connect_error(req));
    CHECK(pev_stream_set_callbacks(s, &cb, r));
}

static void start_one(run_t *r)
{
    r->started++;
    CHECK(pev_connect(NULL, r->loop, "127.0.0.1", r->port, 5 * APR_USEC_PER_SEC,
                      on_connected, r, new_pool(r->pool)));
}

/* The server: accept what is pending, close it. */
static void on_accept(pev_watch_t *w, apr_int16_t events, void *user_data)
{
    run_t *r = user_data;
    int fd;

    (void) w;
    (void) events;
    while ((fd = accept(r->lfd, NULL, NULL)) >= 0) {
        r->accepted++;
        close(fd);
    }
    SYSCHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, "accept");
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* One run: @a conc in flight, @a n in all; connects per second. */
static double one_run(apr_pool_t *root, int lfd, apr_port_t port, int conc, long n)
{
    run_t r;
    pev_loop_stats_t st;
    uint64_t t0, t1;
    int i, fds = count_fds();

    memset(&r, 0, sizeof r);
    r.pool = new_pool(root);
    r.lfd = lfd;
    r.port = port;
    r.target = n;
    CHECK(pev_loop_create(&r.loop, r.pool));
    CHECK(pev_watch_add_fd(NULL, r.loop, lfd, PEV_WATCH_READ, on_accept, &r, r.pool));
    t0 = bench_now_ns();
    for (i = 0; i < conc && r.started < n; i++)
        start_one(&r);
    while (r.completed < n)
        CHECK(pev_loop_run_once(r.loop, 1000 * 1000));
    t1 = bench_now_ns();
    while (r.accepted < n)          /* the last ones may still be queued */
        CHECK(pev_loop_run_once(r.loop, 1000));
    expect(r.accepted == n, "the server accepted every connection, once");
    CHECK(pev_loop_stats(r.loop, &st));
    expect(st.streams == 1 && st.timers_armed == 0,
           "no stream or timer is left but the server's watcher");
    apr_pool_destroy(r.pool);
    expect(count_fds() == fds, "no descriptor is left");
    return (double) n / ((double) (t1 - t0) / 1e9);
}

int main(void)
{
    static const int concs[] = { 1, 16 };
    double v[BENCH_MAX_RUNS];
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    apr_pool_t *root;
    bench_table_t t;
    int runs, lfd, c, i;
    long n;

    CHECK(apr_initialize());
    atexit(apr_terminate);
    root = new_pool(NULL);
    runs = bench_runs_from_env("POOLEV_BENCH_RUNS", DEFAULT_RUNS);
    n = (long) bench_env_double("BENCH_CONNECTS", DEFAULT_CONNECTS, 1, 1e7);
    signal(SIGPIPE, SIG_IGN);

    lfd = socket(AF_INET, SOCK_STREAM, 0);
    SYSCHECK(lfd >= 0, "socket");
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    SYSCHECK(bind(lfd, (struct sockaddr *) &sin, sizeof sin) == 0, "bind");
    SYSCHECK(listen(lfd, 1024) == 0, "listen");
    SYSCHECK(getsockname(lfd, (struct sockaddr *) &sin, &sl) == 0, "getsockname");
    SYSCHECK(fcntl(lfd, F_SETFL, O_NONBLOCK) == 0, "fcntl");

    printf("poolev %s outbound connect benchmark (%ld connects per run, %d runs)\n",
           POOLEV_VERSION_STRING, n, runs);
    bench_print_machine();
    bench_table_header(&t);
    bench_table_section("pev_connect to 127.0.0.1, stream delivered, server's close seen");
    for (c = 0; c < (int) (sizeof concs / sizeof concs[0]); c++) {
        char name[80];

        for (i = 0; i < runs; i++)
            v[i] = one_run(root, lfd, ntohs(sin.sin_port), concs[c], n);
        snprintf(name, sizeof name, "connect + close per second, %d in flight", concs[c]);
        bench_table_row(&t, name, bench_median_of(v, runs), "/s", BENCH_INFO, 0);
    }
    bench_table_footer(&t);
    close(lfd);
    apr_pool_destroy(root);
    return 0;
}
