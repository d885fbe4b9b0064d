/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_echo.c - requests per second of a poolev line echo server, against
 * the same server written with libevent.
 *
 * Workload: NCONN (100) loopback TCP connections, each with one request in
 * flight (closed loop): the client sends a 64-byte line (63 characters and
 * LF), waits for the echoed line, checks that it equals the request byte for
 * byte, and sends the next one. Every request is distinct (connection number,
 * sequence number, a filler derived from both), so a misrouted, stale,
 * truncated or merged response fails the check. After each round the client
 * also checks that no byte beyond the last response arrived, and that the
 * server echoed exactly as many lines as the client got back.
 *
 * The server runs in its own thread:
 *
 *   poolev    a loop in a pool of the thread; the NCONN connections are
 *             accepted up front with a blocking apr_socket_accept() (poolev
 *             has no acceptor yet), each into a pool of its own, TCP_NODELAY,
 *             wrapped in a stream of that pool. on_read takes every complete
 *             line with pev_stream_getline() and writes it back with
 *             pev_stream_write() of the line and of "\n". on_close destroys
 *             the connection's pool. The thread runs pev_loop_run_once(loop,
 *             -1) until every connection has closed.
 *   libevent  an event_base (EVENT_BASE_FLAG_NOLOCK: one thread) with one
 *             bufferevent per accepted connection (TCP_NODELAY,
 *             BEV_OPT_CLOSE_ON_FREE); the read callback takes every line
 *             with evbuffer_readln(EVBUFFER_EOL_LF) and writes it back with
 *             bufferevent_write() of the line and of "\n"; the event callback
 *             frees the bufferevent at EOF; event_base_dispatch() returns
 *             when the last one is gone (event_base_loopbreak()).
 *
 * Both servers stop the same way: the client closes its sockets once every
 * response is in, each server sees EOF on all connections, and its thread
 * ends. No cross-thread call is needed (libevent would need
 * evthread_use_pthreads() for one).
 *
 * The client driver, identical for both servers, is the main thread: one
 * epoll set over the NCONN non-blocking sockets, read(2) and write(2). With
 * 2 CPUs, client and server each get one; the client may be the bottleneck,
 * so the server thread's CPU time per request (its CPU clock, read from the
 * driver at both ends of the timed window) is reported too: it compares the
 * servers' efficiency even when the request rates are equal.
 *
 * A round: start the server, connect, wait until it has accepted everything,
 * run the closed loop for WARMUP_NS untimed, then BENCH_ECHO_SECONDS (default
 * 2) timed, then stop sending, collect the responses in flight, validate,
 * close and join. Rounds alternate poolev and libevent (poolev first on even
 * rounds, libevent first on odd ones), POOLEV_BENCH_RUNS (default 5) of
 * each; the table shows the median of each side and the ratio. The target,
 * poolev / libevent >= 0.9 in requests per second, is reported, never
 * enforced: the exit status is 0 either way (and non-zero only when a check
 * fails, which aborts).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <apr_general.h>
#include <apr_network_io.h>
#include <apr_poll.h>
#include <apr_pools.h>
#include <apr_portable.h>

#include "poolev.h"
#include "benchutil.h"

#ifdef HAVE_LIBEVENT
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#endif

#define NCONN 100               /* connections, one request in flight each */
#define LINE_LEN 64             /* request = response: 63 characters + LF */
#define DEFAULT_RUNS 5          /* rounds of each server */
#define DEFAULT_SECONDS 2.0     /* timed seconds per round */
#define WARMUP_NS (UINT64_C(200) * 1000000)     /* untimed, per round */
#define STALL_NS (UINT64_C(5) * 1000000000)     /* no response this long: fail */
#define JOIN_TIMEOUT_S 10       /* server thread must end this soon after EOF */
#define READY_TIMEOUT_NS (UINT64_C(10) * 1000000000)


/* ------------------------------------------------------------------------ */
/* Servers                                                                   */

typedef enum server_kind { SRV_POOLEV, SRV_LIBEVENT } server_kind_t;

static const char *const kind_name[] = { "poolev", "libevent" };

typedef struct server {
    server_kind_t kind;
    apr_socket_t *listener;     /* the listening socket (shared, blocking) */
    int lfd;                    /* its descriptor, for libevent's accept(2) */
    atomic_int ready;           /* set once every connection is accepted */
    /* Owned by the server thread; read by the driver after the join. */
    unsigned closed;            /* connections closed (at EOF) */
    uint64_t lines;             /* lines echoed */
    int finished;               /* every connection closed */
#ifdef HAVE_LIBEVENT
    struct event_base *base;
#endif
} server_t;

/* poolev on_read: echo every complete line. */
static void pev_echo_read(pev_stream_t *s, void *user_data)
{
    server_t *srv = user_data;
    char *line;
    apr_size_t len;
    apr_status_t st;

    while ((st = pev_stream_getline(s, &line, &len)) == APR_SUCCESS) {
        CHECK(pev_stream_write(s, line, len));
        CHECK(pev_stream_write(s, "\n", 1));
        srv->lines++;
    }
    if (st != APR_EAGAIN && st != APR_EOF && !(st == PEV_ECLOSED && pev_stream_eof(s)))
        bench_fail(st, "pev_stream_getline", __FILE__, __LINE__);
}

/* poolev on_close: expect EOF; the connection's pool goes with it. */
static void pev_echo_close(pev_stream_t *s, apr_status_t reason, void *user_data)
{
    server_t *srv = user_data;

    if (reason != APR_EOF)
        bench_fail(reason, "poolev echo stream closed, not at EOF", __FILE__, __LINE__);
    apr_pool_destroy(pev_stream_pool(s));
    if (++srv->closed == NCONN)
        srv->finished = 1;
}

/* The poolev server thread. */
static void *pev_server_main(void *arg)
{
    static const pev_stream_callbacks_t cb = { pev_echo_read, NULL, pev_echo_close, NULL };
    server_t *srv = arg;
    apr_pool_t *root = new_pool(NULL);
    pev_loop_t *loop;
    unsigned i;

    CHECK(pev_loop_create(&loop, root));
    for (i = 0; i < NCONN; i++) {
        apr_pool_t *cp = new_pool(root);
        apr_socket_t *sock;
        pev_stream_t *s;

        CHECK(apr_socket_accept(&sock, srv->listener, cp));
        CHECK(apr_socket_opt_set(sock, APR_TCP_NODELAY, 1));
        CHECK(pev_stream_create_socket(&s, loop, sock, &cb, srv, cp));
    }
    atomic_store(&srv->ready, 1);
    while (!srv->finished)
        CHECK(pev_loop_run_once(loop, -1));
    apr_pool_destroy(root);
    return NULL;
}

#ifdef HAVE_LIBEVENT


/* libevent read callback: echo every complete line. */
static void lev_echo_read(struct bufferevent *bev, void *arg)
{
    server_t *srv = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;
    char *line;

    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
        LCHECK(bufferevent_write(bev, line, len) == 0, "bufferevent_write");
        LCHECK(bufferevent_write(bev, "\n", 1) == 0, "bufferevent_write");
        free(line);
        srv->lines++;
    }
}

/* libevent event callback: expect EOF; free the connection. */
static void lev_echo_event(struct bufferevent *bev, short events, void *arg)
{
    server_t *srv = arg;

    if (!(events & BEV_EVENT_EOF) || (events & BEV_EVENT_ERROR))
        FAIL("libevent echo connection: event 0x%x, expected EOF", (unsigned) events);
    bufferevent_free(bev);
    if (++srv->closed == NCONN) {
        srv->finished = 1;
        event_base_loopbreak(srv->base);
    }
}


/* The libevent server thread. */
static void *lev_server_main(void *arg)
{
    server_t *srv = arg;
    unsigned i;
    int one = 1;

    srv->base = lev_new_base();
    for (i = 0; i < NCONN; i++) {
        struct bufferevent *bev;
        int fd = accept(srv->lfd, NULL, NULL);

        SYSCHECK(fd >= 0, "accept");
        SYSCHECK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0,
                 "setsockopt(TCP_NODELAY)");
        LCHECK(evutil_make_socket_nonblocking(fd) == 0, "evutil_make_socket_nonblocking");
        bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
        LCHECK(bev != NULL, "bufferevent_socket_new");
        bufferevent_setcb(bev, lev_echo_read, NULL, lev_echo_event, srv);
        LCHECK(bufferevent_enable(bev, EV_READ) == 0, "bufferevent_enable");
    }
    atomic_store(&srv->ready, 1);
    LCHECK(event_base_dispatch(srv->base) >= 0, "event_base_dispatch");
    if (!srv->finished)
        FAIL("libevent: event_base_dispatch returned with %u of %d connections closed",
             srv->closed, NCONN);
    event_base_free(srv->base);
    return NULL;
}

/* Print libevent's version and the backend a base uses. */
static void lev_describe(void)
{
    struct event_base *base = lev_new_base();

    printf("libevent: %s, backend %s, EVENT_BASE_FLAG_NOLOCK, bufferevents\n",
           event_get_version(), event_base_get_method(base));
    bench_tsv_info("libevent", "version", event_get_version());
    event_base_free(base);
}

#endif /* HAVE_LIBEVENT */

/* ------------------------------------------------------------------------ */
/* The client driver                                                         */

typedef struct conn {
    int fd;
    unsigned got;               /* bytes of the current response received */
    uint32_t seq;               /* the current request's sequence number */
    char req[LINE_LEN];
    char resp[LINE_LEN];
} conn_t;

typedef struct driver {
    conn_t c[NCONN];
    int ep;                     /* epoll set of the NCONN sockets */
    unsigned outstanding;       /* requests sent and not yet answered */
    uint64_t answered;          /* validated responses, whole round */
} driver_t;

/* Send connection @a idx's request number c->seq: a distinct 63-character
 * line and LF. */
static void send_request(conn_t *c, unsigned idx)
{
    ssize_t n;
    int k = snprintf(c->req, sizeof c->req, "conn %03u req %010" PRIu32 " ", idx, c->seq);
    unsigned i;

    for (i = (unsigned) k; i < LINE_LEN - 1; i++)
        c->req[i] = (char) ('a' + (idx * 7u + c->seq * 13u + i) % 26u);
    c->req[LINE_LEN - 1] = '\n';
    n = write(c->fd, c->req, LINE_LEN);
    SYSCHECK(n >= 0, "write");
    if (n != LINE_LEN)      /* one line in flight: the socket buffer is empty */
        FAIL("short write to connection %u: %zd of %d bytes", idx, n, LINE_LEN);
}

/* Run the closed loop: read responses, validate each, and while @a more send
 * the next request on its connection. Returns (round trips completed) when
 * the time is past @a deadline (more) or nothing is outstanding (!more); the
 * time of the last check in *@a end_ns. */
static uint64_t drive(driver_t *d, uint64_t deadline, int more, uint64_t *end_ns)
{
    struct epoll_event ev[NCONN];
    uint64_t done = 0, now = bench_now_ns(), last = now;

    while (more ? now < deadline : d->outstanding > 0) {
        int n = epoll_wait(d->ep, ev, NCONN, 1000), i;

        if (n < 0 && errno == EINTR)
            continue;
        SYSCHECK(n >= 0, "epoll_wait");
        now = bench_now_ns();
        if (n == 0) {
            if (now - last > STALL_NS)
                FAIL("no response for %.0f s with %u requests outstanding: the server "
                     "stalled", (double) STALL_NS / 1e9, d->outstanding);
            continue;
        }
        last = now;
        for (i = 0; i < n; i++) {
            unsigned idx = ev[i].data.u32;
            conn_t *c = &d->c[idx];
            ssize_t r = read(c->fd, c->resp + c->got, LINE_LEN - c->got);

            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            SYSCHECK(r >= 0, "read");
            if (r == 0)
                FAIL("the server closed connection %u", idx);
            c->got += (unsigned) r;
            if (c->got < LINE_LEN)
                continue;
            if (memcmp(c->resp, c->req, LINE_LEN) != 0)
                FAIL("connection %u: wrong echo\n  sent: %.*s\n  got:  %.*s", idx,
                     LINE_LEN - 1, c->req, LINE_LEN - 1, c->resp);
            c->got = 0;
            done++;
            d->outstanding--;
            if (more) {
                c->seq++;
                send_request(c, idx);
                d->outstanding++;
            }
        }
    }
    d->answered += done;
    if (end_ns)
        *end_ns = now;
    return done;
}

/* Connect NCONN non-blocking client sockets to 127.0.0.1:@a port, in the
 * epoll set d->ep. */
static void connect_clients(driver_t *d, apr_port_t port)
{
    struct sockaddr_in sa;
    unsigned i;
    int one = 1;

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (i = 0; i < NCONN; i++) {
        struct epoll_event ev;
        conn_t *c = &d->c[i];

        memset(c, 0, sizeof *c);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        SYSCHECK(c->fd >= 0, "socket");
        SYSCHECK(setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0,
                 "setsockopt(TCP_NODELAY)");
        SYSCHECK(connect(c->fd, (struct sockaddr *) &sa, sizeof sa) == 0, "connect");
        SYSCHECK(fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) == 0,
                 "fcntl(O_NONBLOCK)");
        ev.events = EPOLLIN;
        ev.data.u32 = i;
        SYSCHECK(epoll_ctl(d->ep, EPOLL_CTL_ADD, c->fd, &ev) == 0, "epoll_ctl");
    }
}

/* CPU time consumed so far by the thread of clock @a cid, in ns. */
static uint64_t cpu_ns(clockid_t cid)
{
    struct timespec ts;

    SYSCHECK(clock_gettime(cid, &ts) == 0, "clock_gettime(thread CPU clock)");
    return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/** One round's figures. */
typedef struct round_result {
    double rps;                 /* round trips per second */
    double cpu_ns;              /* server thread CPU ns per round trip */
    double rss_kib;             /* process RSS growth over the timed window */
} round_result_t;

/* One round against a fresh server of @a kind on @a listener; figures into
 * @a out. */
static void run_round(server_kind_t kind, apr_socket_t *listener, apr_port_t port,
                      double seconds, round_result_t *out)
{
    static driver_t d;
    server_t srv;
    pthread_t th;
    clockid_t cid;
    struct timespec deadline;
    uint64_t t0, t1, cpu0, cpu1, rss0, rss1, count, wait_start;
    apr_os_sock_t lfd;
    unsigned i;
    int err;

    memset(&srv, 0, sizeof srv);
    srv.kind = kind;
    srv.listener = listener;
    CHECK(apr_os_sock_get(&lfd, listener));
    srv.lfd = lfd;
    atomic_init(&srv.ready, 0);
    err = pthread_create(&th, NULL,
#ifdef HAVE_LIBEVENT
                         kind == SRV_LIBEVENT ? lev_server_main :
#endif
                         pev_server_main, &srv);
    if (err)
        FAIL("pthread_create: %s", strerror(err));
    err = pthread_getcpuclockid(th, &cid);
    if (err)
        FAIL("pthread_getcpuclockid: %s", strerror(err));

    memset(&d, 0, sizeof d);
    d.ep = epoll_create1(EPOLL_CLOEXEC);
    SYSCHECK(d.ep >= 0, "epoll_create1");
    connect_clients(&d, port);
    wait_start = bench_now_ns();
    while (!atomic_load(&srv.ready)) {
        if (bench_now_ns() - wait_start > READY_TIMEOUT_NS)
            FAIL("%s server: connections not accepted within %.0f s", kind_name[kind],
                 (double) READY_TIMEOUT_NS / 1e9);
        bench_sleep_ns(1000000);
    }

    /* warm up (untimed), then the timed window, then collect what is in flight */
    for (i = 0; i < NCONN; i++)
        send_request(&d.c[i], i);
    d.outstanding = NCONN;
    (void) drive(&d, bench_now_ns() + WARMUP_NS, 1, NULL);
    rss0 = bench_rss_bytes();
    cpu0 = cpu_ns(cid);
    t0 = bench_now_ns();
    count = drive(&d, t0 + (uint64_t) (seconds * 1e9), 1, &t1);
    cpu1 = cpu_ns(cid);
    rss1 = bench_rss_bytes();
    (void) drive(&d, 0, 0, NULL);

    /* nothing beyond the last response may have arrived */
    for (i = 0; i < NCONN; i++) {
        char extra;
        ssize_t r = read(d.c[i].fd, &extra, 1);

        if (r >= 0 || errno != EAGAIN)
            FAIL("%s server: connection %u has %s after its last response",
                 kind_name[kind], i, r > 0 ? "extra bytes" : r == 0 ? "EOF" : "an error");
    }

    /* close: the server sees EOF everywhere and its thread ends */
    for (i = 0; i < NCONN; i++)
        SYSCHECK(close(d.c[i].fd) == 0, "close");
    SYSCHECK(close(d.ep) == 0, "close(epoll)");
    SYSCHECK(clock_gettime(CLOCK_REALTIME, &deadline) == 0, "clock_gettime");
    deadline.tv_sec += JOIN_TIMEOUT_S;
    err = pthread_timedjoin_np(th, NULL, &deadline);
    if (err)
        FAIL("%s server: thread did not end within %d s of EOF on every connection "
             "(%s)", kind_name[kind], JOIN_TIMEOUT_S, strerror(err));
    if (srv.closed != NCONN || srv.lines != d.answered)
        FAIL("%s server: %u of %d connections closed, %" PRIu64 " lines echoed for %"
             PRIu64 " responses", kind_name[kind], srv.closed, NCONN, srv.lines,
             d.answered);
    expect(count > 0, "some round trips completed in the timed window");

    out->rps = (double) count * 1e9 / (double) (t1 - t0);
    out->cpu_ns = (double) (cpu1 - cpu0) / (double) count;
    out->rss_kib = ((double) rss1 - (double) rss0) / 1024.0;
    printf("  %-8s %10.0f req/s  server CPU %6.0f ns/req  RSS %+6.0f KiB  (%" PRIu64
           " validated)\n", kind_name[kind], out->rps, out->cpu_ns, out->rss_kib,
           d.answered);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */

/* Median of field @a off (a double) of @a n results. */
static double median_field(const round_result_t *v, int n, size_t off)
{
    return bench_median_field(v, sizeof *v, n, off);
}

/* Print the method of APR's default pollset (what poolev's loop polls with). */
static void print_pollset_method(apr_pool_t *pool)
{
    apr_pool_t *p = new_pool(pool);
    apr_pollset_t *ps;

    CHECK(apr_pollset_create(&ps, 1, p, 0));
    printf("poolev:   %s, APR pollset %s\n", POOLEV_VERSION_STRING,
           apr_pollset_method_name(ps));
    apr_pool_destroy(p);
}

int main(void)
{
    round_result_t pv[BENCH_MAX_RUNS], lv[BENCH_MAX_RUNS];
    apr_pool_t *root;
    apr_socket_t *listener;
    apr_sockaddr_t *sa;
    bench_table_t t;
    double seconds, pev_rps, pev_cpu;
    uint64_t start = bench_now_ns();
    char title[160];
    int runs, r, have_lev = 0;

    CHECK(apr_initialize());
    atexit(apr_terminate);
    root = new_pool(NULL);
    runs = bench_runs_from_env("POOLEV_BENCH_RUNS", DEFAULT_RUNS);
    seconds = bench_env_double("BENCH_ECHO_SECONDS", DEFAULT_SECONDS, 0.01, 3600);
    signal(SIGPIPE, SIG_IGN);
#ifdef HAVE_LIBEVENT
    have_lev = 1;
#endif

    /* one listener for every round; each server accepts its NCONN */
    CHECK(apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, root));
    CHECK(apr_socket_create(&listener, APR_INET, SOCK_STREAM, APR_PROTO_TCP, root));
    CHECK(apr_socket_bind(listener, sa));
    CHECK(apr_socket_listen(listener, 2 * NCONN));
    CHECK(apr_socket_addr_get(&sa, APR_LOCAL, listener));

    printf("poolev %s echo benchmark\n", POOLEV_VERSION_STRING);
    bench_tsv_begin("echo", runs);
    bench_print_machine();
    print_pollset_method(root);
#ifdef HAVE_LIBEVENT
    lev_describe();
#else
    printf("libevent: comparison skipped (built without libevent >= 2.1)\n");
#endif
    printf("%d loopback TCP connections, one %d-byte line in flight each (closed\n"
           "loop), server in its own thread, one client thread (epoll); %g s timed\n"
           "per round after %.1f s of warm-up, %d round%s per server%s\n\n",
           NCONN, LINE_LEN, seconds, (double) WARMUP_NS / 1e9, runs, runs > 1 ? "s" : "",
           have_lev ? ", alternating" : "");
    fflush(stdout);

    for (r = 0; r < runs; r++) {
        printf("round %d\n", r + 1);
#ifdef HAVE_LIBEVENT
        if (r % 2) {            /* odd rounds: libevent first */
            run_round(SRV_LIBEVENT, listener, sa->port, seconds, &lv[r]);
            run_round(SRV_POOLEV, listener, sa->port, seconds, &pv[r]);
            continue;
        }
#endif
        run_round(SRV_POOLEV, listener, sa->port, seconds, &pv[r]);
#ifdef HAVE_LIBEVENT
        run_round(SRV_LIBEVENT, listener, sa->port, seconds, &lv[r]);
#endif
    }
    printf("\n");

    snprintf(title, sizeof title, "%d connections, %d-byte lines, closed loop; medians of "
             "%d rounds of %g s", NCONN, LINE_LEN, runs, seconds);
    bench_table_header(&t);
    bench_table_section(title);
    pev_rps = median_field(pv, runs, offsetof(round_result_t, rps));
    pev_cpu = median_field(pv, runs, offsetof(round_result_t, cpu_ns));
    bench_table_row(&t, "echo round trips per second: poolev", pev_rps, "/s",
                    BENCH_INFO, 0);
    bench_tsv_row_n("echo", NCONN, "poolev", "round-trips", pev_rps, "/s");
    bench_tsv_row_n("echo", NCONN, "poolev", "server-cpu", pev_cpu, "ns/round-trip");
    if (have_lev) {
        double lev_rps = median_field(lv, runs, offsetof(round_result_t, rps));
        double lev_cpu = median_field(lv, runs, offsetof(round_result_t, cpu_ns));

        bench_table_row(&t, "  echo round trips per second: libevent", lev_rps, "/s",
                        BENCH_INFO, 0);
        bench_tsv_row_n("echo", NCONN, "libevent", "round-trips", lev_rps, "/s");
        bench_tsv_row_n("echo", NCONN, "libevent", "server-cpu", lev_cpu, "ns/round-trip");
        bench_table_row(&t, "  ratio poolev / libevent", pev_rps / lev_rps, "x",
                        BENCH_AT_LEAST, 0.9);
        bench_table_row(&t, "server thread CPU per round trip: poolev", pev_cpu, "ns",
                        BENCH_INFO, 0);
        bench_table_row(&t, "  server thread CPU per round trip: libevent", lev_cpu, "ns",
                        BENCH_INFO, 0);
        bench_table_row(&t, "  ratio poolev / libevent", pev_cpu / lev_cpu, "x",
                        BENCH_INFO, 0);
    } else {
        bench_table_row(&t, "server thread CPU per round trip: poolev", pev_cpu, "ns",
                        BENCH_INFO, 0);
    }

    printf("\nEvery response was checked byte for byte against its request. A round\n"
           "trip is one request written by the client and its echo read back; the\n"
           "client thread is shared by both servers, so the CPU time of the server\n"
           "thread per round trip compares the servers even when the client limits\n"
           "the rate.\n");
#ifndef HAVE_LIBEVENT
    printf("libevent comparison skipped: configure found no libevent >= 2.1, so the\n"
           "ratio target was not evaluated.\n");
#endif
    printf("total time: %.1f s\n", (double) (bench_now_ns() - start) / 1e9);
    bench_table_footer(&t);
    apr_pool_destroy(root);
    return 0;
}
