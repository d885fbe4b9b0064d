/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_idle.c - what an idle connection costs a poolev daemon: memory per
 * connection, and the cost of a loop iteration with many idle streams.
 *
 * Workload: N (10,000; BENCH_IDLE_CONNS) connected AF_UNIX stream
 * socketpairs (cheaper to create than loopback TCP; the stream code is the
 * same). The server end of each is wrapped with apr_os_sock_put() and made a
 * stream with an idle timeout of 60 s and one wait event an hour ahead, the
 * state of an idle IMAP-style connection. Nothing is ever sent.
 *
 *   memory    growth of the process's resident set (/proc/self/statm) from
 *             just before the N server sides are created to just after (and
 *             one loop iteration), divided by N. It counts what the server
 *             allocates per connection: the apr_socket_t wrapper (accept()
 *             would allocate the same), the stream, its idle timer and wait
 *             event, the pollset's entry, the timer heap's growth, and - in
 *             the "pool per connection" variant, a realistic daemon's - the
 *             connection's own APR pool (apr_pool_create(); APR's smallest
 *             pool block is 8 KiB, but only the pages touched are resident).
 *             The "one shared pool" variant allocates every stream from one
 *             pool. A third variant creates the N pools alone (no socket, no
 *             stream): the baseline a pool per connection costs by itself.
 *             Kernel socket buffers are not in the RSS.
 *             The client ends are kernel objects too, but they would still
 *             cost descriptors: they live in a helper process (passed over
 *             SCM_RIGHTS), so the measuring process needs N descriptors plus
 *             a few, not 2N.
 *   create    ns per connection of that creation loop (information).
 *   iteration ns per pev_loop_run_once(loop, 0) with the N idle streams (no
 *             descriptor ready, no timer due): the median of ITER_RUNS timed
 *             loops of >= ITER_MIN_NS each; the same for an empty loop before
 *             the streams exist, for comparison. An idle iteration should not
 *             cost more with more idle streams.
 *   teardown  ns per connection of destroying the connection pools, in a
 *             random order (connections end in any order; creation order
 *             would be the best case of a pollset that searches its
 *             descriptors), or the shared pool. Each stream must leave the
 *             loop, cancel its timer and wait event and close its descriptor,
 *             with no callback (information).
 *
 * Each measurement runs in a fresh process (fork), so neither variant reuses
 * memory the other freed; POOLEV_BENCH_RUNS (default 3) processes per
 * variant, alternating, and the table shows medians. Checks: no callback of
 * any stream or wait event runs, every stream is open with one wait event
 * while idle, every server descriptor is closed after the teardown, and the
 * loop's armed timers are back to what they were before.
 *
 * RLIMIT_NOFILE's soft limit is raised to the hard limit; with fewer than
 * N + FD_MARGIN descriptors the benchmark prints why it is skipped and exits
 * with status 0. The memory target (<= 4096 bytes per connection) is
 * reported, never enforced.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <apr_general.h>
#include <apr_network_io.h>
#include <apr_pools.h>
#include <apr_portable.h>

#include "poolev.h"
#include "benchutil.h"

#define DEFAULT_CONNS 10000
#define DEFAULT_RUNS 3          /* measuring processes per variant */
#define FD_MARGIN 100           /* descriptors needed besides the N server ends */
#define BATCH 250               /* client ends per SCM_RIGHTS message (max 253) */
#define IDLE_TIMEOUT ((apr_interval_time_t) 60 * APR_USEC_PER_SEC)
#define WAIT_AHEAD ((apr_interval_time_t) 3600 * APR_USEC_PER_SEC)
#define ITER_RUNS 7             /* timed loops per idle-iteration median */
#define ITER_MIN_NS (UINT64_C(20) * 1000000)    /* ... each at least this long */
#define MEMORY_TARGET 4096.0    /* bytes per connection */
#define ORDER_SEED 0x9e3779b9u  /* the teardown order */


/** One measuring process's figures. */
typedef struct idle_result {
    double bytes;               /* RSS growth per connection */
    double create_ns;           /* creation, per connection */
    double iter0_ns;            /* idle iteration, empty loop */
    double iter_ns;             /* idle iteration, N idle streams */
    double teardown_ns;         /* pool destruction, per connection */
} idle_result_t;

/** Callback counters: every one must stay 0. */
typedef struct counters {
    unsigned long reads, drains, closes, idles, waits;
} counters_t;

static void on_read(pev_stream_t *s, void *user_data)
{
    (void) s;
    ((counters_t *) user_data)->reads++;
}

static void on_drain(pev_stream_t *s, void *user_data)
{
    (void) s;
    ((counters_t *) user_data)->drains++;
}

static void on_close(pev_stream_t *s, apr_status_t reason, void *user_data)
{
    (void) s;
    (void) reason;
    ((counters_t *) user_data)->closes++;
}

static int on_idle(pev_stream_t *s, void *user_data)
{
    (void) s;
    ((counters_t *) user_data)->idles++;
    return 1;
}

static pev_waitevent_t *on_wait(pev_stream_t *s, pev_waitevent_t *ev, void *user_data)
{
    (void) s;
    ((counters_t *) user_data)->waits++;
    return ev;
}

static const pev_stream_callbacks_t callbacks = { on_read, on_drain, on_close, on_idle };

/* ------------------------------------------------------------------------ */
/* The helper process that holds the client ends                             */

/* Receive client ends on @a ctl and keep them open. A 'D' message is answered
 * with the number of descriptors received (uint32_t; UINT32_MAX if any was
 * lost); end of file on @a ctl ends the process, closing them all. */
_Noreturn static void helper_main(int ctl)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * BATCH)];
    } cbuf;
    uint32_t count = 0;
    int lost = 0;

    for (;;) {
        struct msghdr msg;
        struct iovec iov;
        struct cmsghdr *cm;
        char tag;
        ssize_t r;

        memset(&msg, 0, sizeof msg);
        iov.iov_base = &tag;
        iov.iov_len = 1;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.buf;
        msg.msg_controllen = sizeof cbuf.buf;
        r = recvmsg(ctl, &msg, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            _exit(r == 0 ? 0 : 1);
        if (msg.msg_flags & MSG_CTRUNC)
            lost = 1;
        for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                count += (uint32_t) ((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        if (tag == 'D') {
            uint32_t reply = lost ? UINT32_MAX : count;

            if (send(ctl, &reply, sizeof reply, 0) != (ssize_t) sizeof reply)
                _exit(1);
        }
    }
}

/* Send @a n (<= BATCH) descriptors over @a ctl. */
static void send_fds(int ctl, const int *fds, unsigned n)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * BATCH)];
    } cbuf;
    struct msghdr msg;
    struct iovec iov;
    struct cmsghdr *cm;
    char tag = 'F';
    ssize_t r;

    memset(&cbuf, 0, sizeof cbuf);
    memset(&msg, 0, sizeof msg);
    iov.iov_base = &tag;
    iov.iov_len = 1;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    do
        r = sendmsg(ctl, &msg, 0);
    while (r < 0 && errno == EINTR);
    SYSCHECK(r == 1, "sendmsg(SCM_RIGHTS)");
}

/* Create @a n socketpairs: the server ends into @a fds, the client ends to
 * the helper on @a ctl (closed here once sent). Returns when the helper has
 * confirmed it holds all of them. */
static void make_pairs(int ctl, int *fds, unsigned n)
{
    int cl[BATCH];
    unsigned i, j, b;
    uint32_t held;
    char tag = 'D';

    for (i = 0; i < n; i += b) {
        b = n - i < BATCH ? n - i : BATCH;
        for (j = 0; j < b; j++) {
            int sv[2];

            SYSCHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
            fds[i + j] = sv[0];
            cl[j] = sv[1];
        }
        send_fds(ctl, cl, b);
        for (j = 0; j < b; j++)
            SYSCHECK(close(cl[j]) == 0, "close");
    }
    SYSCHECK(send(ctl, &tag, 1, 0) == 1, "send");
    SYSCHECK(recv(ctl, &held, sizeof held, MSG_WAITALL) == (ssize_t) sizeof held, "recv");
    if (held != n)
        FAIL("the helper holds %" PRIu32 " client ends of %u", held, n);
}

/* ------------------------------------------------------------------------ */
/* One measuring process                                                     */

/* Loop body: @a iters idle iterations of the loop @a ctx. */
static void idle_iterations(void *ctx, uint64_t iters)
{
    pev_loop_t *loop = ctx;
    uint64_t i;

    for (i = 0; i < iters; i++)
        CHECK(pev_loop_run_once(loop, 0));
}

/* Armed timers of @a loop. */
static apr_size_t armed(const pev_loop_t *loop)
{
    pev_loop_stats_t st;

    CHECK(pev_loop_stats(loop, &st));
    return st.timers_armed;
}

/** What a measuring process creates per connection. */
typedef enum variant {
    V_POOL_PER_CONN,            /* a pool, a socket, a stream */
    V_SHARED_POOL,              /* a socket and a stream, in one shared pool */
    V_BARE_POOLS                /* a pool alone: the baseline */
} variant_t;

/* Baseline: the RSS growth per apr_pool_create() of @a n pools (children of
 * one pool), into r->bytes. Runs in a child process of its own. */
static void measure_bare(unsigned n, idle_result_t *r)
{
    apr_pool_t *root = new_pool(NULL), *conns = new_pool(root);
    uint64_t rss0, rss1;
    unsigned i;

    memset(r, 0, sizeof *r);
    rss0 = bench_rss_bytes();
    for (i = 0; i < n; i++)
        (void) new_pool(conns);
    rss1 = bench_rss_bytes();
    expect(rss0 > 0 && rss1 > 0, "/proc/self/statm readable");
    r->bytes = ((double) rss1 - (double) rss0) / n;
    apr_pool_destroy(root);
}

/* Measure @a n idle connections, with a pool per connection or one shared
 * pool; the figures into @a r. Runs in a child process of its own. */
static void measure(unsigned n, int per_conn_pool, idle_result_t *r)
{
    counters_t cnt;
    apr_pool_t *root, *lpool, *conns, **pools;
    pev_loop_t *loop;
    pev_stream_t **ss;
    uint32_t *order;
    apr_size_t armed0;
    uint64_t rss0, rss1, t0, t1;
    unsigned i;
    int *fds, ctl[2], status;
    pid_t helper;

    /* the helper first: it inherits nothing of poolev's */
    SYSCHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ctl) == 0, "socketpair(control)");
    helper = fork();
    SYSCHECK(helper >= 0, "fork(helper)");
    if (helper == 0) {
        close(ctl[0]);
        helper_main(ctl[1]);
    }
    SYSCHECK(close(ctl[1]) == 0, "close");

    /* everything that is not per-connection server state exists before the
     * first sample: pools, the loop, the bookkeeping arrays (touched), the
     * socketpairs */
    memset(&cnt, 0, sizeof cnt);
    root = new_pool(NULL);
    lpool = new_pool(root);
    conns = new_pool(root);
    CHECK(pev_loop_create(&loop, lpool));
    fds = calloc(n, sizeof *fds);
    ss = calloc(n, sizeof *ss);
    pools = calloc(n, sizeof *pools);
    order = calloc(n, sizeof *order);
    expect(fds && ss && pools && order, "bookkeeping arrays allocated");
    bench_shuffle_u32(order, n, ORDER_SEED);
    r->iter0_ns = bench_median_loop(idle_iterations, loop, ITER_RUNS, ITER_MIN_NS);
    armed0 = armed(loop);
    make_pairs(ctl[0], fds, n);

    rss0 = bench_rss_bytes();
    t0 = bench_now_ns();
    for (i = 0; i < n; i++) {
        apr_pool_t *cp = per_conn_pool ? (pools[i] = new_pool(conns)) : conns;
        apr_socket_t *sock = NULL;
        pev_waitevent_t *ev;

        CHECK(apr_os_sock_put(&sock, &fds[i], cp));
        CHECK(pev_stream_create_socket(&ss[i], loop, sock, &callbacks, &cnt, cp));
        CHECK(pev_stream_set_idle_timeout(ss[i], IDLE_TIMEOUT));
        CHECK(pev_waitevent_add(&ev, ss[i], pev_loop_now(loop) + WAIT_AHEAD, on_wait,
                                &cnt));
    }
    t1 = bench_now_ns();
    CHECK(pev_loop_run_once(loop, 0));
    rss1 = bench_rss_bytes();
    expect(rss0 > 0 && rss1 > 0, "/proc/self/statm readable");
    r->bytes = ((double) rss1 - (double) rss0) / n;
    r->create_ns = (double) (t1 - t0) / n;

    r->iter_ns = bench_median_loop(idle_iterations, loop, ITER_RUNS, ITER_MIN_NS);
    for (i = 0; i < n; i++)
        expect(pev_stream_is_open(ss[i]) && pev_waitevent_count(ss[i]) == 1,
               "every idle stream open, with its wait event");
    expect(cnt.reads + cnt.drains + cnt.closes + cnt.idles + cnt.waits == 0,
           "no callback ran while idle");

    t0 = bench_now_ns();
    if (per_conn_pool)
        for (i = 0; i < n; i++)
            apr_pool_destroy(pools[order[i]]);
    else
        apr_pool_destroy(conns);
    t1 = bench_now_ns();
    r->teardown_ns = (double) (t1 - t0) / n;
    expect(cnt.reads + cnt.drains + cnt.closes + cnt.idles + cnt.waits == 0,
           "no callback ran during the pool teardown");
    for (i = 0; i < n; i++)
        expect(fcntl(fds[i], F_GETFD) == -1 && errno == EBADF,
               "every server descriptor closed by the pool teardown");
    expect(armed(loop) == armed0, "no timer left armed after the pool teardown");
    CHECK(pev_loop_run_once(loop, 0));
    expect(cnt.reads + cnt.drains + cnt.closes + cnt.idles + cnt.waits == 0,
           "no callback ran after the pool teardown");

    apr_pool_destroy(root);
    free(fds);
    free(ss);
    free(pools);
    free(order);
    SYSCHECK(close(ctl[0]) == 0, "close(control)");     /* the helper exits */
    SYSCHECK(waitpid(helper, &status, 0) == helper, "waitpid(helper)");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("the helper process failed (status 0x%x)", (unsigned) status);
}

/* Measure variant @a v in a child process; its figures into @a r. */
static void measure_in_child(unsigned n, variant_t v, idle_result_t *r)
{
    int p[2], status;
    size_t got = 0;
    pid_t pid;

    fflush(NULL);
    SYSCHECK(pipe(p) == 0, "pipe");
    pid = fork();
    SYSCHECK(pid >= 0, "fork");
    if (pid == 0) {
        idle_result_t mine;
        size_t put = 0;

        close(p[0]);
        if (v == V_BARE_POOLS)
            measure_bare(n, &mine);
        else
            measure(n, v == V_POOL_PER_CONN, &mine);
        while (put < sizeof mine) {
            ssize_t w = write(p[1], (const char *) &mine + put, sizeof mine - put);

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                _exit(1);
            put += (size_t) w;
        }
        _exit(0);
    }
    close(p[1]);
    while (got < sizeof *r) {
        ssize_t rd = read(p[0], (char *) r + got, sizeof *r - got);

        if (rd < 0 && errno == EINTR)
            continue;
        if (rd <= 0)
            break;
        got += (size_t) rd;
    }
    close(p[0]);
    SYSCHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    if (got != sizeof *r || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("the measuring process failed (status 0x%x)", (unsigned) status);
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */

/* Raise RLIMIT_NOFILE's soft limit to the hard limit; return the soft limit. */
static rlim_t raise_nofile(void)
{
    struct rlimit rl;

    SYSCHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit(RLIMIT_NOFILE)");
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            SYSCHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit(RLIMIT_NOFILE)");
    }
    return rl.rlim_cur;
}

/* Median of field @a off (a double) of @a n results. */
static double median_field(const idle_result_t *v, int n, size_t off)
{
    return bench_median_field(v, sizeof *v, n, off);
}

/* Thousands separators: 10000 -> "10,000". */
static const char *with_commas(unsigned v, char *buf, size_t size)
{
    char digits[16];
    size_t len, i, o = 0;

    snprintf(digits, sizeof digits, "%u", v);
    len = strlen(digits);
    for (i = 0; i < len && o + 2 < size; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

int main(void)
{
    idle_result_t pc[BENCH_MAX_RUNS], sh[BENCH_MAX_RUNS], bare[BENCH_MAX_RUNS],
        all[2 * BENCH_MAX_RUNS];
    bench_table_t t;
    uint64_t start = bench_now_ns();
    unsigned n;
    rlim_t fds;
    double conns;
    char label[32], name[BENCH_NAME_WIDTH + 1], title[160];
    int runs, r;

    conns = bench_env_double("BENCH_IDLE_CONNS", DEFAULT_CONNS, 1, 1e7);
    if (conns != (double) (unsigned) conns) {
        fprintf(stderr, "BENCH_IDLE_CONNS: expected a whole number\n");
        return 2;
    }
    n = (unsigned) conns;
    with_commas(n, label, sizeof label);
    runs = bench_runs_from_env("POOLEV_BENCH_RUNS", DEFAULT_RUNS);

    printf("poolev %s idle-connection benchmark\n", POOLEV_VERSION_STRING);
    bench_print_machine();
    fds = raise_nofile();
    if (fds != RLIM_INFINITY && fds < (rlim_t) n + FD_MARGIN) {
        printf("\nbench_idle: SKIPPED: %s connections need %u descriptors, and\n"
               "RLIMIT_NOFILE allows %llu (hard limit). Raise it (ulimit -Hn) or set\n"
               "BENCH_IDLE_CONNS lower.\n", label, n + FD_MARGIN,
               (unsigned long long) fds);
        return 0;
    }
    CHECK(apr_initialize());
    atexit(apr_terminate);
    printf("RLIMIT_NOFILE: %llu; client ends held by a helper process\n\n",
           (unsigned long long) fds);
    fflush(stdout);

    for (r = 0; r < runs; r++) {
        if (r % 2) {
            measure_in_child(n, V_SHARED_POOL, &sh[r]);
            measure_in_child(n, V_POOL_PER_CONN, &pc[r]);
        } else {
            measure_in_child(n, V_POOL_PER_CONN, &pc[r]);
            measure_in_child(n, V_SHARED_POOL, &sh[r]);
        }
        measure_in_child(n, V_BARE_POOLS, &bare[r]);
        all[2 * r] = pc[r];
        all[2 * r + 1] = sh[r];
    }

    snprintf(title, sizeof title, "%s idle streams (AF_UNIX socketpairs), idle timeout "
             "60 s, one wait event each; medians of %d processes per variant", label,
             runs);
    bench_table_header(&t);
    bench_table_section(title);
    bench_table_row(&t, "memory per connection, pool per connection",
                    median_field(pc, runs, offsetof(idle_result_t, bytes)), "B",
                    BENCH_AT_MOST, MEMORY_TARGET);
    bench_table_row(&t, "memory per connection, one shared pool",
                    median_field(sh, runs, offsetof(idle_result_t, bytes)), "B",
                    BENCH_AT_MOST, MEMORY_TARGET);
    bench_table_row(&t, "  baseline: apr_pool_create() alone, per pool",
                    median_field(bare, runs, offsetof(idle_result_t, bytes)), "B",
                    BENCH_INFO, 0);
    bench_table_row(&t, "create per connection, pool per connection",
                    median_field(pc, runs, offsetof(idle_result_t, create_ns)), "ns",
                    BENCH_INFO, 0);
    bench_table_row(&t, "create per connection, one shared pool",
                    median_field(sh, runs, offsetof(idle_result_t, create_ns)), "ns",
                    BENCH_INFO, 0);
    bench_table_row(&t, "idle iteration, empty loop",
                    median_field(all, 2 * runs, offsetof(idle_result_t, iter0_ns)), "ns",
                    BENCH_INFO, 0);
    snprintf(name, sizeof name, "idle iteration, %s idle streams", label);
    bench_table_row(&t, name, median_field(all, 2 * runs, offsetof(idle_result_t, iter_ns)),
                    "ns", BENCH_INFO, 0);
    bench_table_row(&t, "teardown per connection, pools in random order",
                    median_field(pc, runs, offsetof(idle_result_t, teardown_ns)), "ns",
                    BENCH_INFO, 0);
    bench_table_row(&t, "teardown per connection, one shared pool",
                    median_field(sh, runs, offsetof(idle_result_t, teardown_ns)), "ns",
                    BENCH_INFO, 0);

    printf("\nmemory: resident-set growth while the server sides are created (the\n"
           "apr_socket_t wrapper, the stream, its idle timer and wait event, the\n"
           "pollset entry, heap growth and, per connection, the pool), / %s.\n"
           "An APR pool's first block is 8 KiB; the page it starts on is touched.\n"
           "idle iteration: pev_loop_run_once(loop, 0) with nothing ready or due.\n"
           "teardown: apr_pool_destroy() of each connection's pool in a random order,\n"
           "or of the one shared pool; per connection.\n"
           "Each variant is measured in a fresh process, client ends in a helper.\n",
           label);
    printf("total time: %.1f s\n", (double) (bench_now_ns() - start) / 1e9);
    bench_table_footer(&t);
    return 0;
}
