/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_connect.c - outbound connections (include/poolev/connect.h,
 * doc/streams.md "Outbound connections"): numeric addresses and names, the
 * addresses tried in turn, refused, timed out (a listener whose backlog is
 * full drops SYNs), no route, unresolvable names, the loop serving other
 * streams while a name resolves, pools and loops destroyed and requests
 * cancelled at every stage, and no descriptor left behind.
 *
 * Nothing here depends on the machine's network or resolver: every address
 * is on loopback, and names are answered by a DNS responder of the suite's
 * own (a thread on a UDP socket of 127.0.0.1) that the loop is pointed at
 * with pev_connect_set_dns_servers(). A build without c-ares resolves with
 * getaddrinfo(3) on a thread: there the suite's own getaddrinfo() answers
 * the same names the same way (the program's definition is the one the
 * library's call binds to), and passes every other name on.
 *
 * Use-after-free checks: callbacks that destroy a pool reuse the freed
 * memory at once (pt_scribble()).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <apr_strings.h>

#include "config.h"
#ifndef HAVE_CARES
#include <dlfcn.h>
#include <netdb.h>
#endif

#include <poolev.h>
#include "harness.h"

static pev_loop_t *LOOP;

/* ======================================================================== */
/* A DNS responder                                                           */

/*
 * Answers A queries for the names below with their addresses, AAAA queries
 * for them with no address (NOERROR), everything else with NXDOMAIN. The
 * A answer for SLOW_NAME waits dns.delay_ms first.
 */
#define ONE_NAME  "one.poolev.test"     /* 127.0.0.1 */
#define TWO_NAME  "two.poolev.test"     /* 127.0.0.1, then 127.0.0.2 */
#define SLOW_NAME "slow.poolev.test"    /* 127.0.0.1, late */
#define NO_NAME   "nosuch.poolev.test"  /* NXDOMAIN */
#define DROP_NAME "drop.poolev.test"    /* 127.0.0.1; the first A query unanswered */

typedef struct dns {
    int fd;                         /* UDP, 127.0.0.1 */
    int stop[2];                    /* a byte in it ends the thread */
    unsigned port;
    pthread_t thread;
    int running;
    atomic_int delay_ms;
    atomic_int queries;             /* received */
    atomic_int answered;            /* sent */
    atomic_int dropped;             /* queries left unanswered */
    atomic_int epoch;               /* one per dns_start() */
} dns_t;

static dns_t DNS;

/* The addresses of @a name (NULL: unknown), at most 2. */
static int dns_lookup(const char *name, const char *addrs[2])
{
    if (strcmp(name, ONE_NAME) == 0 || strcmp(name, SLOW_NAME) == 0
        || strcmp(name, DROP_NAME) == 0) {
        addrs[0] = "127.0.0.1";
        return 1;
    }
    if (strcmp(name, TWO_NAME) == 0) {
        addrs[0] = "127.0.0.1";
        addrs[1] = "127.0.0.2";
        return 2;
    }
    return -1;
}

/* The reply to query @a q in @a out; 0 to ignore it. *@a slow is set when
 * the reply is the late one. */
static size_t dns_reply(const unsigned char *q, size_t qlen, unsigned char *out, int *slow)
{
    char name[256];
    size_t n;
    const char *addrs[2];
    int qtype, count, i;

    *slow = 0;
    if ((n = pt_dns_question(q, qlen, name, &qtype)) == 0)
        return 0;
    count = dns_lookup(name, addrs);
    pt_dns_reply_start(q, n, out, count >= 0);
    if (count > 0 && qtype == 1) {
        out[7] = (unsigned char) count;
        for (i = 0; i < count; i++) {
            static const unsigned char rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4 };

            memcpy(out + n, rr, sizeof rr);
            n += sizeof rr;
            if (inet_pton(AF_INET, addrs[i], out + n) != 1)
                return 0;
            n += 4;
        }
        *slow = strcmp(name, SLOW_NAME) == 0;
        if (strcmp(name, DROP_NAME) == 0 && atomic_fetch_add(&DNS.dropped, 1) == 0)
            return 0;
    }
    return n;
}

/* Milliseconds on the monotonic clock. */
static long now_ms(void)
{
    return (long) (pev_clock_monotonic() / 1000);
}

/* Replies waiting for their time (the slow ones): queries keep being read
 * and answered meanwhile. */
#define DNS_LATE 16
typedef struct late {
    long due;                       /* 0: free */
    size_t n;
    unsigned char r[512];
    struct sockaddr_storage to;
    socklen_t tl;
} late_t;

static void *dns_main(void *arg)
{
    dns_t *d = arg;
    static late_t late[DNS_LATE];
    int i;

    memset(late, 0, sizeof late);
    for (;;) {
        struct pollfd p[2] = { { d->fd, POLLIN, 0 }, { d->stop[0], POLLIN, 0 } };
        unsigned char q[512], r[512];
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        long wait = -1, now = now_ms();
        ssize_t got;
        size_t n;
        int slow;

        for (i = 0; i < DNS_LATE; i++) {
            if (late[i].due && late[i].due <= now) {
                (void) sendto(d->fd, late[i].r, late[i].n, 0,
                              (struct sockaddr *) &late[i].to, late[i].tl);
                late[i].due = 0;
                atomic_fetch_add(&d->answered, 1);
            } else if (late[i].due && (wait < 0 || late[i].due - now < wait))
                wait = late[i].due - now;
        }
        if (poll(p, 2, (int) wait) < 0)
            continue;
        if (p[1].revents)
            return NULL;
        if (!p[0].revents)
            continue;
        got = recvfrom(d->fd, q, sizeof q, 0, (struct sockaddr *) &from, &fl);
        if (got <= 0)
            continue;
        atomic_fetch_add(&d->queries, 1);
        n = dns_reply(q, (size_t) got, r, &slow);
        if (!n)
            continue;
        if (slow) {
            for (i = 0; i < DNS_LATE && late[i].due; i++)
                ;
            if (i < DNS_LATE) {
                late[i].due = now_ms() + atomic_load(&d->delay_ms);
                late[i].n = n;
                memcpy(late[i].r, r, n);
                late[i].to = from;
                late[i].tl = fl;
            }
            continue;
        }
        (void) sendto(d->fd, r, n, 0, (struct sockaddr *) &from, fl);
        atomic_fetch_add(&d->answered, 1);
    }
}

/* Point @a loop at the responder. */
static int dns_point(pev_loop_t *loop)
{
    char servers[64];

    snprintf(servers, sizeof servers, "127.0.0.1:%u", DNS.port);
#ifdef HAVE_CARES
    ck_assert_int_eq(pev_connect_set_dns_servers(loop, servers), APR_SUCCESS);
#else
    ck_assert_int_eq(pev_connect_set_dns_servers(loop, servers), APR_ENOTIMPL);
#endif
    return 1;
}

/* Queries a lookup asks: A and AAAA from c-ares; one getaddrinfo() call. */
#ifdef HAVE_CARES
#define PER_LOOKUP 2
#else
#define PER_LOOKUP 1
#endif

/* Start the responder and point LOOP at it (without c-ares, the suite's
 * getaddrinfo() answers instead). Returns 1. */
static int dns_start(void)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;

    /* field by field: without c-ares, a lookup thread of an earlier test
     * (CK_FORK=no) may still be in the suite's getaddrinfo() */
    DNS.running = 0;
    atomic_store(&DNS.queries, 0);
    atomic_store(&DNS.answered, 0);
    atomic_store(&DNS.dropped, 0);
    atomic_fetch_add(&DNS.epoch, 1);
    DNS.fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(DNS.fd, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(DNS.fd, (struct sockaddr *) &sin, sizeof sin), 0);
    ck_assert_int_eq(getsockname(DNS.fd, (struct sockaddr *) &sin, &sl), 0);
    DNS.port = ntohs(sin.sin_port);
    ck_assert_int_eq(pipe(DNS.stop), 0);
    atomic_store(&DNS.delay_ms, 300);
    ck_assert_int_eq(pthread_create(&DNS.thread, NULL, dns_main, &DNS), 0);
    DNS.running = 1;
    return dns_point(LOOP);
}

static void dns_stop(void)
{
    if (!DNS.running)
        return;
    ck_assert_int_eq(write(DNS.stop[1], "x", 1), 1);
    ck_assert_int_eq(pthread_join(DNS.thread, NULL), 0);
    close(DNS.fd);
    close(DNS.stop[0]);
    close(DNS.stop[1]);
    DNS.running = 0;
}

#define NEED_RESOLVER() ((void) dns_start())

#ifndef HAVE_CARES
static pthread_t MAIN_THREAD;
static int (*REAL_GETADDRINFO)(const char *, const char *, const struct addrinfo *,
                               struct addrinfo **);
static pthread_once_t REAL_ONCE = PTHREAD_ONCE_INIT;

static void find_real_getaddrinfo(void)
{
    *(void **) &REAL_GETADDRINFO = dlsym(RTLD_NEXT, "getaddrinfo");
}

/* The suite's getaddrinfo(): the test names as the responder answers them
 * (the A records; a slow one late), other names passed on. A call from
 * another thread than the test's is the library's: it counts as a query,
 * whatever the name. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    struct addrinfo h, **tail = res;
    const char *addrs[2];
    char name[256];
    size_t i;
    int count, rc = 0, library = !pthread_equal(pthread_self(), MAIN_THREAD),
        epoch = atomic_load(&DNS.epoch);

    pthread_once(&REAL_ONCE, find_real_getaddrinfo);
    if (library)
        atomic_fetch_add(&DNS.queries, 1);
    for (i = 0; node && node[i] && i < sizeof name - 1; i++)
        name[i] = (char) tolower((unsigned char) node[i]);
    name[i] = '\0';
    if (!node || !strstr(name, ".poolev.test"))
        return REAL_GETADDRINFO(node, service, hints, res);
    count = dns_lookup(name, addrs);
    if (strcmp(name, SLOW_NAME) == 0)
        usleep((useconds_t) atomic_load(&DNS.delay_ms) * 1000);
    if (library && epoch == atomic_load(&DNS.epoch))  /* not an earlier test's */
        atomic_fetch_add(&DNS.answered, 1);
    if (count < 0)
        return EAI_NONAME;
    memset(&h, 0, sizeof h);
    h.ai_family = AF_INET;
    h.ai_socktype = SOCK_STREAM;
    h.ai_flags = AI_NUMERICHOST;
    *res = NULL;
    for (i = 0; i < (size_t) count && rc == 0; i++)
        if ((rc = REAL_GETADDRINFO(addrs[i], service, &h, tail)) == 0)
            while (*tail)
                tail = &(*tail)->ai_next;
    if (rc != 0 && *res) {
        freeaddrinfo(*res);
        *res = NULL;
    }
    return rc;
}
#endif

/* ======================================================================== */
/* Fixture and helpers                                                       */

static void setup(void)
{
    pt_setup();
    ck_assert_int_eq(pev_loop_create(&LOOP, pt_pool), APR_SUCCESS);
}

static void teardown(void)
{
    dns_stop();
    pt_teardown();
    LOOP = NULL;
}

/* Open descriptors of this process. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* What a request's callback saw, and what it does. */
typedef struct res {
    int calls;
    apr_status_t status;
    pev_stream_t *stream;
    char why[512];
    apr_pool_t *destroy;            /* destroyed by the callback */
    apr_time_t at;                  /* when it was called */
} res_t;

static res_t *res_new(apr_pool_t *destroy)
{
    res_t *r = apr_pcalloc(pt_pool, sizeof *r);

    r->destroy = destroy;
    return r;
}

static void on_connect(pev_connect_t *req, apr_status_t status, pev_stream_t *stream,
                       void *user_data)
{
    res_t *r = user_data;
    const char *why = pev_connect_error(req);

    r->calls++;
    r->status = status;
    r->stream = stream;
    r->at = pev_clock_monotonic();
    ck_assert(!pev_connect_pending(req));
    snprintf(r->why, sizeof r->why, "%s", why ? why : "");
    if (r->destroy) {
        apr_pool_destroy(r->destroy);
        pt_scribble();
    }
}

/* A listening TCP socket on @a ip (port 0: any), closed by pt_teardown();
 * its port in *@a port. */
static int listener(const char *ip, unsigned *port, int backlog)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) *port);
    ck_assert_int_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *) &sin, sizeof sin), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sin, &sl), 0);
    *port = ntohs(sin.sin_port);
    pt_keep_fd(fd);
    return fd;
}

/* Accept one connection (within PT_IO_MS); the new descriptor is closed by
 * pt_teardown(). */
static int accept_one(int lfd)
{
    struct pollfd p = { lfd, POLLIN, 0 };
    int fd;

    ck_assert_int_eq(poll(&p, 1, PT_IO_MS), 1);
    fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    pt_keep_fd(fd);
    return fd;
}

/* A port of 127.0.0.1 where nothing listens: connects are refused. */
static unsigned closed_port(void)
{
    unsigned port = 0;
    int fd = listener("127.0.0.1", &port, 1);

    pt_close_fd(fd);
    return port;
}

/* A non-blocking connect to 127.0.0.1:@a port, kept open until teardown. */
static int raw_connect(unsigned port)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert(connect(fd, (struct sockaddr *) &sin, sizeof sin) == 0 || errno == EINPROGRESS);
    pt_keep_fd(fd);
    return fd;
}

static int writable_within(int fd, int ms)
{
    struct pollfd p = { fd, POLLOUT, 0 };

    return poll(&p, 1, ms) == 1;
}

/*
 * A port that never answers: a listener with backlog 0 that nobody accepts
 * from, its queue filled. Linux queues backlog + 1 connections, then drops
 * the SYNs of later ones, which stay "in progress". The premise is checked:
 * a connect after the filling is still not writable after 200 ms.
 */
static unsigned blackhole_port(void)
{
    unsigned port = 0;
    int i, probe;

    (void) listener("127.0.0.1", &port, 0);
    ck_assert(writable_within(raw_connect(port), PT_IO_MS));   /* queued */
    for (i = 0; i < 2; i++)
        (void) raw_connect(port);
    probe = raw_connect(port);
    ck_assert_msg(!writable_within(probe, 200), "the full listener answered a SYN");
    return port;
}

/* Is ::1 usable here (a listener can be bound to it)? */
static int have_ipv6_loopback(void)
{
    struct sockaddr_in6 s6;
    int fd = socket(AF_INET6, SOCK_STREAM, 0), ok;

    if (fd < 0)
        return 0;
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_addr = in6addr_loopback;
    ok = bind(fd, (struct sockaddr *) &s6, sizeof s6) == 0;
    close(fd);
    return ok;
}

static apr_size_t loop_streams(pev_loop_t *loop)
{
    pev_loop_stats_t st;

    ck_assert_int_eq(pev_loop_stats(loop, &st), APR_SUCCESS);
    return st.streams;
}

/* Run @a n iterations, each waiting at most 1 ms. */
static void spin(pev_loop_t *loop, int n)
{
    while (n-- > 0)
        ck_assert_int_eq(pev_loop_run_once(loop, 1000), APR_SUCCESS);
}

/* Run until the responder has answered @a n queries, then a little more. */
static void until_answered(pev_loop_t *loop, int n)
{
    PT_PUMP_UNTIL(loop, atomic_load(&DNS.answered) >= n);
    spin(loop, 20);
}

#define ck_assert_why(r, part) \
    ck_assert_msg(strstr((r)->why, (part)) != NULL, "message '%s' lacks '%s'", (r)->why, (part))

/* ======================================================================== */
/* Arguments                                                                 */

START_TEST(connect_arguments)
{
    res_t *r = res_new(NULL);
    pev_connect_t *req = (pev_connect_t *) 1;
    apr_sockaddr_t *sa;

    ck_assert_int_eq(pev_connect(&req, NULL, "127.0.0.1", 1, 0, on_connect, r, pt_pool),
                     APR_EINVAL);
    ck_assert_ptr_null(req);
    ck_assert_int_eq(pev_connect(&req, LOOP, NULL, 1, 0, on_connect, r, pt_pool),
                     APR_EINVAL);
    ck_assert_int_eq(pev_connect(&req, LOOP, "", 1, 0, on_connect, r, pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_connect(&req, LOOP, "127.0.0.1", 0, 0, on_connect, r, pt_pool),
                     APR_EINVAL);
    ck_assert_int_eq(pev_connect(&req, LOOP, "127.0.0.1", 1, 0, NULL, r, pt_pool),
                     APR_EINVAL);
    ck_assert_int_eq(pev_connect(&req, LOOP, "127.0.0.1", 1, 0, on_connect, r, NULL),
                     APR_EINVAL);
    ck_assert_int_eq(pev_connect_addr(&req, LOOP, NULL, 0, on_connect, r, pt_pool),
                     APR_EINVAL);
    ck_assert_int_eq(apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 1, 0, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_connect_addr(&req, NULL, sa, 0, on_connect, r, pt_pool),
                     APR_EINVAL);
    ck_assert_int_eq(pev_connect_cancel(NULL), APR_EINVAL);
    ck_assert_ptr_null(pev_connect_error(NULL));
    ck_assert(!pev_connect_pending(NULL));
    ck_assert_int_eq(pev_connect_set_dns_servers(NULL, "127.0.0.1"), APR_EINVAL);
    if (pev_connect_set_dns_servers(LOOP, NULL) != APR_ENOTIMPL) {
        ck_assert_int_eq(pev_connect_set_dns_servers(LOOP, "not an address"), APR_EINVAL);
        ck_assert_int_eq(pev_connect_set_dns_servers(LOOP, "127.0.0.1:5353,[::1]:53"),
                         APR_SUCCESS);
        ck_assert_int_eq(pev_connect_set_dns_servers(LOOP, NULL), APR_SUCCESS);
    }
    ck_assert_int_eq(r->calls, 0);
    ck_assert_uint_eq(loop_streams(LOOP), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* ======================================================================== */
/* Numeric addresses                                                         */

/* The stream a connect delivers: in the request's pool, open, and it
 * carries data both ways. The callback comes from the loop, not from
 * pev_connect(), even though a loopback connect may complete at once. */
START_TEST(connect_ipv4_delivers_stream)
{
    apr_pool_t *rp = pt_subpool(pt_pool);
    unsigned port = 0;
    int lfd = listener("127.0.0.1", &port, 4), peer;
    res_t *r = res_new(NULL);
    pev_connect_t *req;
    char *line;
    apr_size_t len;

    ck_assert_int_eq(pev_connect(&req, LOOP, "127.0.0.1", (apr_port_t) port,
                                 5 * APR_USEC_PER_SEC, on_connect, r, rp), APR_SUCCESS);
    ck_assert_ptr_nonnull(req);
    ck_assert_int_eq(r->calls, 0);
    ck_assert(pev_connect_pending(req));
    PT_PUMP_UNTIL(LOOP, r->calls == 1);
    ck_assert_int_eq(r->status, APR_SUCCESS);
    ck_assert_ptr_null(pev_connect_error(req));
    ck_assert(!pev_connect_pending(req));
    ck_assert_int_eq(pev_connect_cancel(req), PEV_ECLOSED);
    ck_assert_ptr_nonnull(r->stream);
    ck_assert_ptr_eq(pev_stream_pool(r->stream), rp);
    ck_assert_ptr_eq(pev_stream_loop(r->stream), LOOP);
    ck_assert(pev_stream_is_open(r->stream));
    ck_assert_uint_eq(loop_streams(LOOP), 1);         /* the stream alone */
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);

    peer = accept_one(lfd);
    ck_assert_int_eq(pev_stream_printf(r->stream, "hello\r\n"), APR_SUCCESS);
    pt_peer_expect(LOOP, peer, "hello\r\n");
    pt_peer_puts(LOOP, peer, "back\n");
    PT_PUMP_UNTIL(LOOP, pev_stream_getline(r->stream, &line, &len) == APR_SUCCESS);
    ck_assert_str_eq(line, "back");

    /* the stream goes with the request's pool */
    apr_pool_destroy(rp);
    ck_assert_uint_eq(pt_peer_expect_eof(LOOP, peer), 0);
    ck_assert_uint_eq(loop_streams(LOOP), 0);
}
END_TEST

START_TEST(connect_ipv6_numeric)
{
    static const char *const hosts[] = { "::1", "[::1]" };
    struct sockaddr_in6 s6;
    socklen_t sl = sizeof s6;
    int lfd, i;

    if (!have_ipv6_loopback()) {
        printf("connect_ipv6_numeric: no IPv6 loopback here, skipped\n");
        return;
    }
    lfd = socket(AF_INET6, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    pt_keep_fd(lfd);
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_addr = in6addr_loopback;
    ck_assert_int_eq(bind(lfd, (struct sockaddr *) &s6, sizeof s6), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *) &s6, &sl), 0);
    for (i = 0; i < 2; i++) {
        res_t *r = res_new(NULL);

        ck_assert_int_eq(pev_connect(NULL, LOOP, hosts[i], ntohs(s6.sin6_port),
                                     5 * APR_USEC_PER_SEC, on_connect, r,
                                     pt_subpool(pt_pool)), APR_SUCCESS);
        PT_PUMP_UNTIL(LOOP, r->calls == 1);
        ck_assert_int_eq(r->status, APR_SUCCESS);
        (void) accept_one(lfd);
    }
}
END_TEST

/* A closed port: APR_ECONNREFUSED, and the message names host and port. */
START_TEST(connect_refused)
{
    unsigned port = closed_port();
    res_t *r = res_new(NULL);
    pev_connect_t *req;
    char want[64];

    ck_assert_int_eq(pev_connect(&req, LOOP, "127.0.0.1", (apr_port_t) port,
                                 5 * APR_USEC_PER_SEC, on_connect, r, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(r->calls, 0);
    PT_PUMP_UNTIL(LOOP, r->calls == 1);
    ck_assert_int_eq(r->status, APR_ECONNREFUSED);
    ck_assert_ptr_null(r->stream);
    snprintf(want, sizeof want, "127.0.0.1:%u", port);
    ck_assert_why(r, want);
    ck_assert_why(r, "refused");
    ck_assert_str_eq(pev_connect_error(req), r->why);
    ck_assert_uint_eq(loop_streams(LOOP), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* A port that never answers: APR_TIMEUP when the timeout passes, not
 * before. */
START_TEST(connect_times_out)
{
    unsigned port = blackhole_port();
    res_t *r = res_new(NULL);
    apr_time_t t0 = pev_clock_monotonic();
    char want[64];

    ck_assert_int_eq(pev_connect(NULL, LOOP, "127.0.0.1", (apr_port_t) port,
                                 300 * 1000, on_connect, r, pt_pool), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, r->calls == 1);
    ck_assert_int_eq(r->status, APR_TIMEUP);
    ck_assert_int_ge(r->at - t0, 300 * 1000);
    snprintf(want, sizeof want, "127.0.0.1:%u", port);
    ck_assert_why(r, want);
    ck_assert_why(r, "timed out");
    ck_assert_uint_eq(loop_streams(LOOP), 0);
}
END_TEST

#ifdef __linux__
/* No route: Linux refuses a TCP connect to the broadcast address with
 * ENETUNREACH at once, whatever the network. The callback still comes from
 * the loop. */
START_TEST(connect_no_route)
{
    res_t *r = res_new(NULL);

    ck_assert_int_eq(pev_connect(NULL, LOOP, "255.255.255.255", 9, 5 * APR_USEC_PER_SEC,
                                 on_connect, r, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(r->calls, 0);
    PT_PUMP_UNTIL(LOOP, r->calls == 1);
    ck_assert_int_eq(r->status, APR_ENETUNREACH);
    ck_assert_why(r, "255.255.255.255:9");
}
END_TEST
#endif

/* pev_connect_addr(): the chain is tried in order; the first refuses, the
 * second accepts. Both refusing reports the last, and says how many. */
START_TEST(connect_addr_tries_each_in_turn)
{
    unsigned good = 0, bad = closed_port();
    int lfd = listener("127.0.0.1", &good, 4);
    apr_sockaddr_t *a, *b;
    res_t *r = res_new(NULL), *r2 = res_new(NULL);

    ck_assert_int_eq(apr_sockaddr_info_get(&a, "127.0.0.1", APR_INET, (apr_port_t) bad, 0,
                                           pt_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_sockaddr_info_get(&b, "127.0.0.1", APR_INET, (apr_port_t) good, 0,
                                           pt_pool), APR_SUCCESS);
    a->next = b;
    ck_assert_int_eq(pev_connect_addr(NULL, LOOP, a, 5 * APR_USEC_PER_SEC, on_connect, r,
                                      pt_subpool(pt_pool)), APR_SUCCESS);
    a->next = NULL;                 /* copied: the caller's list may change */
    PT_PUMP_UNTIL(LOOP, r->calls == 1);
    ck_assert_int_eq(r->status, APR_SUCCESS);
    (void) accept_one(lfd);

    ck_assert_int_eq(apr_sockaddr_info_get(&b, "127.0.0.1", APR_INET, (apr_port_t) bad, 0,
                                           pt_pool), APR_SUCCESS);
    a->next = b;
    ck_assert_int_eq(pev_connect_addr(NULL, LOOP, a, 5 * APR_USEC_PER_SEC, on_connect, r2,
                                      pt_subpool(pt_pool)), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, r2->calls == 1);
    ck_assert_int_eq(r2->status, APR_ECONNREFUSED);
    ck_assert_why(r2, "the last of 2 tried");
}
END_TEST

/* ======================================================================== */
/* Names                                                                     */

START_TEST(resolve_name_and_connect)
{
    unsigned port = 0;
    int lfd = listener("127.0.0.1", &port, 4);
    res_t *r = res_new(NULL);

    NEED_RESOLVER();
    ck_assert_int_eq(pev_connect(NULL, LOOP, ONE_NAME, (apr_port_t) port,
                                 5 * APR_USEC_PER_SEC, on_connect, r, pt_subpool(pt_pool)),
                     APR_SUCCESS);
    ck_assert_int_eq(r->calls, 0);
    PT_PUMP_UNTIL(LOOP, r->calls == 1);
    ck_assert_msg(r->status == APR_SUCCESS, "%s", r->why);
    ck_assert_int_ge(atomic_load(&DNS.queries), 1);
    (void) accept_one(lfd);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* An unknown name: PEV_ERESOLVE, the name in the message. */
START_TEST(resolve_unknown_name)
{
    res_t *r = res_new(NULL);

    NEED_RESOLVER();
    ck_assert_int_eq(pev_connect(NULL, LOOP, NO_NAME, 80, 5 * APR_USEC_PER_SEC, on_connect,
                                 r, pt_pool), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, r->calls == 1);
    ck_assert_int_eq(r->status, PEV_ERESOLVE);
    ck_assert_ptr_null(r->stream);
    ck_assert_why(r, NO_NAME);
    ck_assert_uint_eq(loop_streams(LOOP), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* A name with two addresses: the first refuses, the second accepts. */
START_TEST(resolve_two_addresses_first_refuses)
{
    unsigned port = 0;
    int lfd = listener("127.0.0.2", &port, 4), peer;
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    res_t *r = res_new(NULL);

    NEED_RESOLVER();
    ck_assert_int_eq(pev_connect(NULL, LOOP, TWO_NAME, (apr_port_t) port,
                                 5 * APR_USEC_PER_SEC, on_connect, r, pt_subpool(pt_pool)),
                     APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, r->calls == 1);
    ck_assert_msg(r->status == APR_SUCCESS, "%s", r->why);
    peer = accept_one(lfd);
    ck_assert_int_eq(getsockname(peer, (struct sockaddr *) &sin, &sl), 0);
    ck_assert_uint_eq(ntohl(sin.sin_addr.s_addr), 0x7f000002);
}
END_TEST

/* A numeric address never goes to DNS, nor does a failing one. */
START_TEST(numeric_never_asks_dns)
{
    unsigned port = 0;
    int lfd = listener("127.0.0.1", &port, 4);
    res_t *r = res_new(NULL), *r2 = res_new(NULL), *r3 = res_new(NULL);

    NEED_RESOLVER();
    ck_assert_int_eq(pev_connect(NULL, LOOP, "127.0.0.1", (apr_port_t) port,
                                 5 * APR_USEC_PER_SEC, on_connect, r, pt_subpool(pt_pool)),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_connect(NULL, LOOP, "127.0.0.1", (apr_port_t) closed_port(),
                                 5 * APR_USEC_PER_SEC, on_connect, r2, pt_subpool(pt_pool)),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_connect(NULL, LOOP, "::1", (apr_port_t) port, 5 * APR_USEC_PER_SEC,
                                 on_connect, r3, pt_subpool(pt_pool)), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, r->calls && r2->calls && r3->calls);
    ck_assert_int_eq(r->status, APR_SUCCESS);
    ck_assert_int_eq(r2->status, APR_ECONNREFUSED);
    ck_assert_int_ne(r3->status, PEV_ERESOLVE);
    (void) accept_one(lfd);
    spin(LOOP, 10);
    ck_assert_int_eq(atomic_load(&DNS.queries), 0);
}
END_TEST

/* Echo each line back. */
static void on_echo(pev_stream_t *s, void *user_data)
{
    char *line;
    apr_size_t len;

    (void) user_data;
    while (pev_stream_getline(s, &line, &len) == APR_SUCCESS)
        ck_assert_int_eq(pev_stream_printf(s, "%s\n", line), APR_SUCCESS);
}

/* While a slow answer is awaited, the loop serves another stream: round
 * trips over an echo stream complete before the name resolves. A resolver
 * that blocked the loop would let none through. */
START_TEST(resolve_slow_loop_keeps_serving)
{
    static const pev_stream_callbacks_t echo = { on_echo, NULL, NULL, NULL };
    unsigned port = 0;
    int lfd = listener("127.0.0.1", &port, 4), trips = 0;
    apr_socket_t *srv, *cli;
    pev_stream_t *es;
    res_t *r = res_new(NULL);
    apr_time_t t0;

    NEED_RESOLVER();
    atomic_store(&DNS.delay_ms, 500);
    pt_tcp_pair(pt_pool, pt_pool, 0, &srv, &cli);
    ck_assert_int_eq(pev_stream_create_socket(&es, LOOP, srv, &echo, NULL, pt_pool),
                     APR_SUCCESS);
    t0 = pev_clock_monotonic();
    ck_assert_int_eq(pev_connect(NULL, LOOP, SLOW_NAME, (apr_port_t) port,
                                 10 * APR_USEC_PER_SEC, on_connect, r, pt_subpool(pt_pool)),
                     APR_SUCCESS);
    while (r->calls == 0) {
        char line[32];

        ck_assert_int_lt(trips, 100000);
        snprintf(line, sizeof line, "ping %d\n", trips);
        pt_peer_puts(LOOP, pt_sock_fd(cli), line);
        pt_peer_expect(LOOP, pt_sock_fd(cli), line);
        if (r->calls == 0)
            trips++;
    }
    printf("resolve_slow_loop_keeps_serving: %d round trips while resolving\n", trips);
    ck_assert_msg(r->status == APR_SUCCESS, "%s", r->why);
    ck_assert_int_ge(r->at - t0, 500 * 1000);
    ck_assert_int_ge(trips, 3);
    (void) accept_one(lfd);
}
END_TEST

/* c-ares's own timeouts run on a loop timer: the first query goes
 * unanswered, and only the retry that c-ares sends when its timeout (1 s,
 * from RES_OPTIONS) passes gets the answer. Without the timer nothing would
 * wake c-ares, and the request would end at its own timeout instead. */
START_TEST(resolver_retries_on_its_timer)
{
    unsigned port = 0;
    int lfd = listener("127.0.0.1", &port, 4);
    res_t *r = res_new(NULL);
    apr_time_t t0;

    NEED_RESOLVER();
#ifndef HAVE_CARES
    printf("resolver_retries_on_its_timer: c-ares only, skipped\n");
    return;
#endif
    ck_assert_int_eq(setenv("RES_OPTIONS", "timeout:1 attempts:3", 1), 0);
    t0 = pev_clock_monotonic();
    ck_assert_int_eq(pev_connect(NULL, LOOP, DROP_NAME, (apr_port_t) port,
                                 8 * APR_USEC_PER_SEC, on_connect, r, pt_subpool(pt_pool)),
                     APR_SUCCESS);
    ck_assert_int_eq(unsetenv("RES_OPTIONS"), 0);  /* read when the channel was made */
    PT_PUMP_UNTIL(LOOP, r->calls == 1);
    ck_assert_msg(r->status == APR_SUCCESS, "%s", r->why);
    ck_assert_int_ge(atomic_load(&DNS.dropped), 2);
    ck_assert_int_ge(r->at - t0, 900 * 1000);
    (void) accept_one(lfd);
}
END_TEST

/* The timeout covers the resolution. */
START_TEST(resolve_times_out)
{
    res_t *r = res_new(NULL);
    apr_time_t t0;

    NEED_RESOLVER();
    atomic_store(&DNS.delay_ms, 3000);
    t0 = pev_clock_monotonic();
    ck_assert_int_eq(pev_connect(NULL, LOOP, SLOW_NAME, 80, 200 * 1000, on_connect, r,
                                 pt_pool), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, r->calls == 1);
    ck_assert_int_eq(r->status, APR_TIMEUP);
    ck_assert_int_ge(r->at - t0, 200 * 1000);
    ck_assert_why(r, SLOW_NAME);
    ck_assert_why(r, "resolving");
    ck_assert_uint_eq(loop_streams(LOOP), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* ======================================================================== */
/* Pools destroyed, loops destroyed, cancel                                  */

/* Mid-resolution: no callback, ever, even when the answer comes. */
START_TEST(pool_destroyed_mid_resolution)
{
    apr_pool_t *rp;
    res_t *r = res_new(NULL);
    int before;

    NEED_RESOLVER();
    before = count_fds();
    rp = pt_unkept_subpool(pt_pool);
    ck_assert_int_eq(pev_connect(NULL, LOOP, SLOW_NAME, 80, 5 * APR_USEC_PER_SEC, on_connect,
                                 r, rp), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, atomic_load(&DNS.queries) >= PER_LOOKUP);
    spin(LOOP, 5);
    ck_assert_msg(r->calls == 0, "%s", r->why);
#ifdef HAVE_CARES
    ck_assert_int_gt(count_fds(), before);                 /* the resolver's socket */
#endif
    apr_pool_destroy(rp);
    pt_scribble();
    ck_assert_int_eq(count_fds(), before);
    ck_assert_uint_eq(loop_streams(LOOP), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    until_answered(LOOP, PER_LOOKUP);
    ck_assert_int_eq(r->calls, 0);
}
END_TEST

/* Mid-connect: the socket is closed, no callback. */
START_TEST(pool_destroyed_mid_connect)
{
    unsigned port = blackhole_port();
    apr_pool_t *rp;
    res_t *r = res_new(NULL);
    int before = count_fds();

    rp = pt_unkept_subpool(pt_pool);
    ck_assert_int_eq(pev_connect(NULL, LOOP, "127.0.0.1", (apr_port_t) port,
                                 5 * APR_USEC_PER_SEC, on_connect, r, rp), APR_SUCCESS);
    spin(LOOP, 5);
    ck_assert_int_eq(count_fds(), before + 1);
    ck_assert_uint_eq(loop_streams(LOOP), 1);          /* the connect's watcher */
    apr_pool_destroy(rp);
    pt_scribble();
    ck_assert_int_eq(count_fds(), before);
    ck_assert_uint_eq(loop_streams(LOOP), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    spin(LOOP, 5);
    ck_assert_int_eq(r->calls, 0);
}
END_TEST

/* The callback destroys the request's pool (and the stream with it): on
 * success, on a refusal, on a name that does not resolve. */
START_TEST(pool_destroyed_in_callback)
{
    unsigned port = 0;
    int lfd = listener("127.0.0.1", &port, 4), resolver = dns_start(), before, i;
    res_t *r[3] = { NULL, NULL, NULL };

    before = count_fds();
    for (i = 0; i < 3; i++) {
        apr_pool_t *rp = pt_unkept_subpool(pt_pool);
        const char *host = i == 2 ? NO_NAME : "127.0.0.1";

        if (i == 2 && !resolver)
            break;
        r[i] = res_new(rp);
        ck_assert_int_eq(pev_connect(NULL, LOOP, host,
                                     (apr_port_t) (i == 1 ? closed_port() : port),
                                     5 * APR_USEC_PER_SEC, on_connect, r[i], rp),
                         APR_SUCCESS);
        PT_PUMP_UNTIL(LOOP, r[i]->calls == 1);
        spin(LOOP, 5);
        ck_assert_int_eq(r[i]->calls, 1);
    }
    ck_assert_int_eq(r[0]->status, APR_SUCCESS);
    ck_assert_int_eq(r[1]->status, APR_ECONNREFUSED);
    if (resolver)
        ck_assert_int_eq(r[2]->status, PEV_ERESOLVE);
    (void) accept_one(lfd);
    ck_assert_int_eq(count_fds(), before + 1);     /* the accepted end alone */
    ck_assert_uint_eq(loop_streams(LOOP), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* The loop goes with requests pending (one resolving, one connecting) in
 * pools that live on: no callback, descriptors closed, calls say
 * PEV_EDESTROYED. */
START_TEST(loop_destroyed_with_requests_pending)
{
    apr_pool_t *lp = pt_subpool(pt_pool), *rp = pt_unkept_subpool(pt_pool);
    unsigned port = blackhole_port();
    pev_connect_t *a, *b = NULL;
    res_t *r = res_new(NULL);
    pev_loop_t *main_loop = LOOP;
    int resolver, before;

    resolver = dns_start();
    before = count_fds();
    ck_assert_int_eq(pev_loop_create(&LOOP, lp), APR_SUCCESS);
    if (resolver)
        (void) dns_point(LOOP);
    ck_assert_int_eq(pev_connect(&a, LOOP, "127.0.0.1", (apr_port_t) port,
                                 5 * APR_USEC_PER_SEC, on_connect, r, rp), APR_SUCCESS);
    if (resolver) {
        ck_assert_int_eq(pev_connect(&b, LOOP, SLOW_NAME, 80, 5 * APR_USEC_PER_SEC,
                                     on_connect, r, rp), APR_SUCCESS);
        PT_PUMP_UNTIL(LOOP, atomic_load(&DNS.queries) >= PER_LOOKUP);
    }
    spin(LOOP, 5);
    ck_assert(pev_connect_pending(a));
    ck_assert_int_gt(count_fds(), before);
    apr_pool_destroy(lp);
    pt_scribble();
    LOOP = main_loop;
    ck_assert_int_eq(count_fds(), before);
    ck_assert(!pev_connect_pending(a));
    ck_assert_int_eq(pev_connect_cancel(a), PEV_EDESTROYED);
    if (b)
        ck_assert_int_eq(pev_connect_cancel(b), PEV_EDESTROYED);
    ck_assert_ptr_null(pev_connect_error(a));
    apr_pool_destroy(rp);
    ck_assert_int_eq(r->calls, 0);
}
END_TEST

/* Requests in the loop's own pool go with it, before the loop: no
 * callback, nothing left open. */
START_TEST(requests_in_loop_pool)
{
    apr_pool_t *lp = pt_unkept_subpool(pt_pool);
    unsigned hole = blackhole_port();
    res_t *r = res_new(NULL);
    pev_loop_t *loop;
    int resolver = dns_start(), before = count_fds();

    ck_assert_int_eq(pev_loop_create(&loop, lp), APR_SUCCESS);
    if (resolver)
        (void) dns_point(loop);
    ck_assert_int_eq(pev_connect(NULL, loop, "127.0.0.1", (apr_port_t) hole,
                                 5 * APR_USEC_PER_SEC, on_connect, r, lp), APR_SUCCESS);
    if (resolver) {
        ck_assert_int_eq(pev_connect(NULL, loop, SLOW_NAME, 80, 5 * APR_USEC_PER_SEC,
                                     on_connect, r, lp), APR_SUCCESS);
        PT_PUMP_UNTIL(loop, atomic_load(&DNS.queries) >= PER_LOOKUP);
    }
    spin(loop, 5);
    ck_assert_int_gt(count_fds(), before);
    apr_pool_destroy(lp);
    pt_scribble();
    ck_assert_int_eq(count_fds(), before);
    ck_assert_int_eq(r->calls, 0);
}
END_TEST

/* The callback destroys the loop, with another request pending. */
START_TEST(loop_destroyed_in_callback)
{
    apr_pool_t *lp = pt_unkept_subpool(pt_pool), *rp = pt_subpool(pt_pool);
    unsigned good = 0, hole = blackhole_port();
    int lfd = listener("127.0.0.1", &good, 4), before = count_fds();
    res_t *r = res_new(lp), *other = res_new(NULL);
    pev_connect_t *pending;
    pev_loop_t *loop;

    ck_assert_int_eq(pev_loop_create(&loop, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_connect(&pending, loop, "127.0.0.1", (apr_port_t) hole,
                                 5 * APR_USEC_PER_SEC, on_connect, other, rp), APR_SUCCESS);
    ck_assert_int_eq(pev_connect(NULL, loop, "127.0.0.1", (apr_port_t) good,
                                 5 * APR_USEC_PER_SEC, on_connect, r, rp), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_run(loop), PEV_EDESTROYED);
    ck_assert_int_eq(r->calls, 1);
    ck_assert_int_eq(r->status, APR_SUCCESS);
    ck_assert_int_eq(other->calls, 0);
    ck_assert_int_eq(pev_connect_cancel(pending), PEV_EDESTROYED);
    /* the stream in rp was closed with its loop; the pending socket too */
    ck_assert_int_eq(count_fds(), before);
    (void) accept_one(lfd);
    apr_pool_destroy(rp);
}
END_TEST

/* Cancel, mid-resolution and mid-connect: no callback, descriptors closed,
 * and a second cancel says PEV_ECLOSED. */
START_TEST(cancel_pending_requests)
{
    unsigned port = blackhole_port();
    pev_connect_t *a, *b = NULL;
    res_t *r = res_new(NULL);
    int resolver = dns_start(), before = count_fds();

    ck_assert_int_eq(pev_connect(&a, LOOP, "127.0.0.1", (apr_port_t) port,
                                 5 * APR_USEC_PER_SEC, on_connect, r, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_connect_cancel(a), APR_SUCCESS);     /* before it started */
    ck_assert_int_eq(pev_connect(&a, LOOP, "127.0.0.1", (apr_port_t) port,
                                 5 * APR_USEC_PER_SEC, on_connect, r, pt_pool), APR_SUCCESS);
    if (resolver) {
        ck_assert_int_eq(pev_connect(&b, LOOP, SLOW_NAME, 80, 5 * APR_USEC_PER_SEC,
                                     on_connect, r, pt_pool), APR_SUCCESS);
        PT_PUMP_UNTIL(LOOP, atomic_load(&DNS.queries) >= PER_LOOKUP);
    }
    spin(LOOP, 5);
    ck_assert_int_gt(count_fds(), before);
    ck_assert_int_eq(pev_connect_cancel(a), APR_SUCCESS);
    ck_assert_int_eq(pev_connect_cancel(a), PEV_ECLOSED);
    if (b) {
        ck_assert_int_eq(pev_connect_cancel(b), APR_SUCCESS);
        ck_assert_int_eq(pev_connect_cancel(b), PEV_ECLOSED);
        ck_assert(!pev_connect_pending(b));
    }
    ck_assert_int_eq(count_fds(), before);
    ck_assert_uint_eq(loop_streams(LOOP), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    if (resolver)
        until_answered(LOOP, PER_LOOKUP);
    spin(LOOP, 5);
    ck_assert_int_eq(r->calls, 0);
    ck_assert_ptr_null(pev_connect_error(a));
}
END_TEST

/* A callback cancels another pending request, and destroys the pool of a
 * third. */
typedef struct cross {
    pev_connect_t *victim;
    apr_pool_t *victim_pool;
    int calls;
} cross_t;

static void on_connect_cross(pev_connect_t *req, apr_status_t status, pev_stream_t *stream,
                             void *user_data)
{
    cross_t *x = user_data;

    (void) req;
    (void) status;
    (void) stream;
    x->calls++;
    ck_assert_int_eq(pev_connect_cancel(x->victim), APR_SUCCESS);
    apr_pool_destroy(x->victim_pool);
    pt_scribble();
}

START_TEST(callback_cancels_others)
{
    unsigned hole = blackhole_port();
    apr_pool_t *vp = pt_unkept_subpool(pt_pool);
    cross_t *x = apr_pcalloc(pt_pool, sizeof *x);
    res_t *r = res_new(NULL);
    int before = count_fds();

    x->victim_pool = vp;
    ck_assert_int_eq(pev_connect(&x->victim, LOOP, "127.0.0.1", (apr_port_t) hole,
                                 5 * APR_USEC_PER_SEC, on_connect, r, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_connect(NULL, LOOP, "127.0.0.1", (apr_port_t) hole,
                                 5 * APR_USEC_PER_SEC, on_connect, r, vp), APR_SUCCESS);
    ck_assert_int_eq(pev_connect(NULL, LOOP, "127.0.0.1", (apr_port_t) closed_port(),
                                 5 * APR_USEC_PER_SEC, on_connect_cross, x, pt_pool),
                     APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, x->calls == 1);
    spin(LOOP, 5);
    ck_assert_int_eq(r->calls, 0);
    ck_assert_int_eq(count_fds(), before);
}
END_TEST

/* A callback makes a new request in the same pool (a retry to another
 * port); the stream of the retry gets its callbacks from the retry's
 * callback, and reads. */
typedef struct retry {
    apr_port_t good;
    int calls, lines;
    apr_status_t first;
    pev_stream_t *s;
} retry_t;

static void on_retry_read(pev_stream_t *s, void *user_data)
{
    retry_t *x = user_data;
    char *line;
    apr_size_t len;

    while (pev_stream_getline(s, &line, &len) == APR_SUCCESS) {
        ck_assert_str_eq(line, "welcome");
        x->lines++;
    }
}

static void on_connect_retry(pev_connect_t *req, apr_status_t status, pev_stream_t *stream,
                             void *user_data)
{
    static const pev_stream_callbacks_t cb = { on_retry_read, NULL, NULL, NULL };
    retry_t *x = user_data;

    if (x->calls++ == 0) {
        x->first = status;
        ck_assert_int_eq(pev_connect(NULL, LOOP, "127.0.0.1", x->good, 5 * APR_USEC_PER_SEC,
                                     on_connect_retry, x, pt_pool), APR_SUCCESS);
        ck_assert_int_eq(x->calls, 1);
        return;
    }
    (void) req;
    ck_assert_int_eq(status, APR_SUCCESS);
    x->s = stream;
    ck_assert_int_eq(pev_stream_set_callbacks(stream, &cb, x), APR_SUCCESS);
}

START_TEST(callback_retries)
{
    unsigned good = 0;
    int lfd = listener("127.0.0.1", &good, 4), peer;
    retry_t *x = apr_pcalloc(pt_pool, sizeof *x);

    x->good = (apr_port_t) good;
    ck_assert_int_eq(pev_connect(NULL, LOOP, "127.0.0.1", (apr_port_t) closed_port(),
                                 5 * APR_USEC_PER_SEC, on_connect_retry, x, pt_pool),
                     APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, x->calls == 2);
    ck_assert_int_eq(x->first, APR_ECONNREFUSED);
    peer = accept_one(lfd);
    pt_peer_puts(LOOP, peer, "welcome\n");
    PT_PUMP_UNTIL(LOOP, x->lines == 1);
}
END_TEST

/* ======================================================================== */
/* Many requests, every outcome, seeded                                      */

static int calls_of(res_t *const *rs, int n)
{
    int i, calls = 0;

    for (i = 0; i < n; i++)
        calls += rs[i]->calls;
    return calls;
}

START_TEST(random_requests_leave_nothing)
{
    enum { N = 60 };
    uint64_t seed = pt_seed("check_connect");
    pt_rng_t rng = { seed };
    unsigned good = 0, hole = blackhole_port(), bad = closed_port();
    int lfd = listener("127.0.0.1", &good, N + 4), resolver = dns_start(), before, i,
        done = 0, expect = 0, accepted = 0;
    apr_pool_t *pools[N];
    pev_connect_t *reqs[N];
    res_t *rs[N];
    int kind[N];

    atomic_store(&DNS.delay_ms, 50);
    before = count_fds();
    for (i = 0; i < N; i++) {
        static const char *const names[] = { ONE_NAME, NO_NAME, SLOW_NAME, TWO_NAME };
        const char *host = "127.0.0.1";
        apr_port_t port = (apr_port_t) good;

        pools[i] = pt_subpool(pt_pool);
        rs[i] = res_new(NULL);
        kind[i] = (int) pt_below(&rng, 8);
        switch (kind[i]) {
        case 0:                             /* accepted */
            break;
        case 1:                             /* refused */
            port = (apr_port_t) bad;
            break;
        case 2:                             /* times out */
            port = (apr_port_t) hole;
            break;
        default:                            /* a name; or cancelled, destroyed */
            if (resolver)
                host = names[pt_below(&rng, 4)];
            if (kind[i] == 6 && strcmp(host, NO_NAME) != 0 && strcmp(host, TWO_NAME) != 0)
                port = (apr_port_t) hole;
            break;
        }
        ck_assert_int_eq(pev_connect(&reqs[i], LOOP, host, port,
                                     kind[i] == 2 || kind[i] == 6 ? 100 * 1000
                                                                  : 5 * APR_USEC_PER_SEC,
                                     on_connect, rs[i], pools[i]), APR_SUCCESS);
    }
    for (i = 0; i < N; i++) {
        if (pt_below(&rng, 2))
            spin(LOOP, 1);
        if (kind[i] == 4)
            ck_assert_int_eq(pev_connect_cancel(reqs[i]), rs[i]->calls ? PEV_ECLOSED
                                                                       : APR_SUCCESS);
        else if (kind[i] == 5) {
            apr_pool_destroy(pools[i]);
            pools[i] = NULL;
        }
    }
    for (i = 0; i < N; i++)
        if (rs[i]->calls || (kind[i] != 4 && kind[i] != 5))
            expect++;
    PT_RUN_UNTIL(pev_loop_run_once(LOOP, 1000), (done = calls_of(rs, N)) >= expect);
    spin(LOOP, 5);
    ck_assert_int_eq(calls_of(rs, N), expect);
    for (i = 0; i < N; i++) {
        ck_assert_int_le(rs[i]->calls, 1);
        if (rs[i]->status == APR_SUCCESS && rs[i]->calls)
            accepted++;
        if (kind[i] == 1)
            ck_assert_int_eq(rs[i]->status, APR_ECONNREFUSED);
        if (kind[i] == 2)
            ck_assert_int_eq(rs[i]->status, APR_TIMEUP);
        if (pools[i])
            apr_pool_destroy(pools[i]);
    }
    printf("random_requests_leave_nothing: %d requests, %d connected\n", N, accepted);
    while (accepted-- > 0)
        pt_close_fd(accept_one(lfd));
    ck_assert_int_eq(count_fds(), before);
    ck_assert_uint_eq(loop_streams(LOOP), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* ======================================================================== */

static Suite *connect_suite(void)
{
    Suite *s = suite_create("connect");
    TCase *tc = tcase_create("connect");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, connect_arguments);
    tcase_add_test(tc, connect_ipv4_delivers_stream);
    tcase_add_test(tc, connect_ipv6_numeric);
    tcase_add_test(tc, connect_refused);
    tcase_add_test(tc, connect_times_out);
#ifdef __linux__
    tcase_add_test(tc, connect_no_route);
#endif
    tcase_add_test(tc, connect_addr_tries_each_in_turn);
    tcase_add_test(tc, resolve_name_and_connect);
    tcase_add_test(tc, resolve_unknown_name);
    tcase_add_test(tc, resolve_two_addresses_first_refuses);
    tcase_add_test(tc, numeric_never_asks_dns);
    tcase_add_test(tc, resolve_slow_loop_keeps_serving);
    tcase_add_test(tc, resolver_retries_on_its_timer);
    tcase_add_test(tc, resolve_times_out);
    tcase_add_test(tc, pool_destroyed_mid_resolution);
    tcase_add_test(tc, pool_destroyed_mid_connect);
    tcase_add_test(tc, pool_destroyed_in_callback);
    tcase_add_test(tc, loop_destroyed_with_requests_pending);
    tcase_add_test(tc, requests_in_loop_pool);
    tcase_add_test(tc, loop_destroyed_in_callback);
    tcase_add_test(tc, cancel_pending_requests);
    tcase_add_test(tc, callback_cancels_others);
    tcase_add_test(tc, callback_retries);
    tcase_add_test(tc, random_requests_leave_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
#ifndef HAVE_CARES
    MAIN_THREAD = pthread_self();
#endif
    return pt_main(argc, argv, connect_suite, NULL);
}
