/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_tls.c - a TLS echo server with poolev (pev_stream + pev_stream_start_tls)
 * against the same server with libevent's bufferevent_openssl: round trips
 * per second and server CPU per round trip, server-side handshakes per
 * second and CPU per handshake, and the memory an idle TLS connection costs.
 *
 * Both servers use one SSL_CTX, built here: TLS 1.3 only, the cipher suite
 * TLS_AES_128_GCM_SHA256, key exchange X25519, a self-signed EC P-256
 * certificate made at start-up with the OpenSSL API, no session tickets and
 * no session cache (every handshake is a full one). poolev wraps it with
 * pev_tls_ctx_wrap(); libevent makes each SSL from it.
 *
 * The server runs in its own thread and accepts from a shared non-blocking
 * listening socket:
 *
 *   poolev    a loop; a descriptor watcher on the listener accepts each
 *             connection into a pool of its own, wraps it in a stream
 *             (pev_stream_create_socket) and calls pev_stream_start_tls()
 *             with the server context; on_ready counts the handshake;
 *             on_read echoes every line (pev_stream_getline, two
 *             pev_stream_write calls); on_close destroys the pool.
 *   libevent  an event_base (EVENT_BASE_FLAG_NOLOCK) with an evconnlistener;
 *             each connection gets bufferevent_openssl_socket_new(...,
 *             BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE); the event
 *             callback counts BEV_EVENT_CONNECTED and frees the bufferevent
 *             at EOF or error; the read callback echoes every line
 *             (evbuffer_readln, two bufferevent_write calls).
 *
 * A round of one server (rounds alternate poolev and libevent, which goes
 * first alternating too, POOLEV_BENCH_RUNS of each, default 5):
 *   1. echo: NCONN (100) TLS connections from the main thread (non-blocking
 *      OpenSSL clients on one epoll set), each with one 64-byte line in
 *      flight (closed loop); every echo is checked byte for byte; 0.2 s of
 *      warm-up, then BENCH_TLS_SECONDS (default 2) timed. The server
 *      thread's CPU clock is read at both ends of the window.
 *   2. handshakes: HS_INFLIGHT (32) connections at a time from the main
 *      thread, each closed by the client as soon as its handshake is done
 *      and replaced by a new one, for BENCH_TLS_HS_SECONDS (default 1); the
 *      server's count of completed handshakes and its CPU clock are read at
 *      both ends.
 * Then, once per server, idle memory: a child process (forked before the
 * server thread starts, so it has no other thread) opens IDLE_CONNS TLS
 * connections and leaves them idle; the server process's heap in use
 * (mallinfo2: arena and mmap'ed blocks) and RSS are read before and after,
 * per connection. Nothing of the client is in the server's process then.
 *
 * The client is the same code for both servers and shares the machine with
 * them: with 2 CPUs each side gets one, so the CPU time of the server thread
 * per round trip or per handshake compares the servers even when the client
 * limits the rate. Nothing is enforced: the exit status is 0 unless a check
 * fails (which aborts).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <apr_general.h>
#include <apr_network_io.h>
#include <apr_pools.h>
#include <apr_portable.h>

#include "poolev.h"
#include "poolev/tls.h"
#include "benchutil.h"

#if defined(HAVE_LIBEVENT) && defined(HAVE_LIBEVENT_OPENSSL)
#define WITH_LEV 1
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#else
#define WITH_LEV 0
#endif

#define NCONN 100               /* echo: connections, one line in flight each */
#define LINE_LEN 64             /* request = response: 63 characters + LF */
#define HS_INFLIGHT 32          /* handshakes: connections at a time */
#define IDLE_CONNS 1000         /* idle memory: connections (fewer if the
                                 * descriptor limit says so) */
#define DEFAULT_RUNS 5
#define DEFAULT_SECONDS 2.0
#define DEFAULT_HS_SECONDS 1.0
#define WARMUP_NS (UINT64_C(200) * 1000000)
#define STALL_NS (UINT64_C(5) * 1000000000)
#define WAIT_NS (UINT64_C(10) * 1000000000)
#define JOIN_TIMEOUT_S 10
#define CIPHER "TLS_AES_128_GCM_SHA256"

#define OCHECK(ok, what)                                                    \
    do {                                                                    \
        if (!(ok)) {                                                        \
            ERR_print_errors_fp(stderr);                                    \
            FAIL("OpenSSL: %s failed (line %d)", what, __LINE__);           \
        }                                                                   \
    } while (0)

/* ------------------------------------------------------------------------ */
/* The TLS contexts                                                          */

static SSL_CTX *server_ctx, *client_ctx;

/* A self-signed EC P-256 certificate for localhost, in @a ctx. */
static void use_new_certificate(SSL_CTX *ctx)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;

    OCHECK(key && x, "EVP_EC_gen / X509_new");
    OCHECK(X509_set_version(x, 2), "X509_set_version");
    OCHECK(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), "serial");
    OCHECK(X509_gmtime_adj(X509_getm_notBefore(x), -3600), "notBefore");
    OCHECK(X509_gmtime_adj(X509_getm_notAfter(x), 86400), "notAfter");
    OCHECK(X509_set_pubkey(x, key), "X509_set_pubkey");
    name = X509_get_subject_name(x);
    OCHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                      (const unsigned char *) "localhost", -1, -1, 0),
           "subject");
    OCHECK(X509_set_issuer_name(x, name), "issuer");
    OCHECK(X509_sign(x, key, EVP_sha256()), "X509_sign");
    OCHECK(SSL_CTX_use_certificate(ctx, x) == 1, "SSL_CTX_use_certificate");
    OCHECK(SSL_CTX_use_PrivateKey(ctx, key) == 1, "SSL_CTX_use_PrivateKey");
    OCHECK(SSL_CTX_check_private_key(ctx) == 1, "SSL_CTX_check_private_key");
    X509_free(x);
    EVP_PKEY_free(key);
}

/* TLS 1.3, one cipher suite, one group: both sides, every connection. */
static SSL_CTX *new_ctx(const SSL_METHOD *method)
{
    SSL_CTX *ctx = SSL_CTX_new(method);

    OCHECK(ctx != NULL, "SSL_CTX_new");
    OCHECK(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION), "min version");
    OCHECK(SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION), "max version");
    OCHECK(SSL_CTX_set_ciphersuites(ctx, CIPHER), "SSL_CTX_set_ciphersuites");
    OCHECK(SSL_CTX_set1_groups_list(ctx, "X25519"), "SSL_CTX_set1_groups_list");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

static void make_contexts(void)
{
    server_ctx = new_ctx(TLS_server_method());
    OCHECK(SSL_CTX_set_num_tickets(server_ctx, 0), "SSL_CTX_set_num_tickets");
    use_new_certificate(server_ctx);
    client_ctx = new_ctx(TLS_client_method());
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
}

/* ------------------------------------------------------------------------ */
/* Servers                                                                   */

typedef enum server_kind { SRV_POOLEV, SRV_LIBEVENT } server_kind_t;

static const char *const kind_name[] = { "poolev", "libevent" };

typedef struct server {
    server_kind_t kind;
    apr_socket_t *listener;     /* shared, non-blocking */
    int lfd;
    atomic_int ready;           /* the server thread polls the listener */
    atomic_int stop;            /* set before the driver's wake-up connection */
    atomic_uint_fast64_t handshakes;    /* completed, server side */
    atomic_int open;            /* connections open in the server */
    atomic_uint_fast64_t lines; /* lines echoed */
    int finished;               /* server thread only */
#if WITH_LEV
    struct event_base *base;
#endif
} server_t;

/* ---- poolev */

typedef struct pev_srv {
    server_t *srv;
    pev_loop_t *loop;
    apr_pool_t *root;
    pev_tls_ctx_t *tls;
} pev_srv_t;

static void pev_on_ready(pev_stream_t *s, void *user_data)
{
    (void) s;
    atomic_fetch_add_explicit(&((server_t *) user_data)->handshakes, 1,
                              memory_order_relaxed);
}

static void pev_on_read(pev_stream_t *s, void *user_data)
{
    server_t *srv = user_data;
    char *line;
    apr_size_t len;
    apr_status_t st;

    while ((st = pev_stream_getline(s, &line, &len)) == APR_SUCCESS) {
        CHECK(pev_stream_write(s, line, len));
        CHECK(pev_stream_write(s, "\n", 1));
        atomic_fetch_add_explicit(&srv->lines, 1, memory_order_relaxed);
    }
}

/* Any end will do (the clients close without close_notify). */
static void pev_on_close(pev_stream_t *s, apr_status_t reason, void *user_data)
{
    (void) reason;
    atomic_fetch_sub(&((server_t *) user_data)->open, 1);
    apr_pool_destroy(pev_stream_pool(s));
}

static void pev_on_accept(pev_watch_t *w, apr_int16_t events, void *user_data)
{
    static const pev_stream_callbacks_t cb = { pev_on_read, NULL, pev_on_close, NULL };
    pev_srv_t *ps = user_data;
    server_t *srv = ps->srv;

    (void) w;
    (void) events;
    for (;;) {
        apr_pool_t *cp = new_pool(ps->root);
        apr_socket_t *sock;
        pev_stream_t *s;
        apr_status_t st = apr_socket_accept(&sock, srv->listener, cp);

        if (APR_STATUS_IS_EAGAIN(st)) {
            apr_pool_destroy(cp);
            return;
        }
        CHECK(st);
        if (atomic_load(&srv->stop)) {
            apr_pool_destroy(cp);
            srv->finished = 1;
            return;
        }
        CHECK(pev_stream_create_socket(&s, ps->loop, sock, &cb, srv, cp));
        atomic_fetch_add(&srv->open, 1);
        CHECK(pev_stream_start_tls(s, ps->tls, NULL, pev_on_ready, srv, NULL));
    }
}

static void *pev_server_main(void *arg)
{
    pev_srv_t ps;

    ps.srv = arg;
    ps.root = new_pool(NULL);
    CHECK(pev_loop_create(&ps.loop, ps.root));
    CHECK(pev_tls_ctx_wrap(&ps.tls, PEV_TLS_SERVER, server_ctx, ps.root));
    CHECK(pev_watch_add_fd(NULL, ps.loop, ps.srv->lfd, PEV_WATCH_READ,
                               pev_on_accept, &ps, ps.root));
    atomic_store(&ps.srv->ready, 1);
    while (!ps.srv->finished)
        CHECK(pev_loop_run_once(ps.loop, -1));
    apr_pool_destroy(ps.root);
    return NULL;
}

/* ---- libevent */

#if WITH_LEV
static void lev_on_read(struct bufferevent *bev, void *arg)
{
    server_t *srv = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len;
    char *line;

    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
        LCHECK(bufferevent_write(bev, line, len) == 0, "bufferevent_write");
        LCHECK(bufferevent_write(bev, "\n", 1) == 0, "bufferevent_write");
        free(line);
        atomic_fetch_add_explicit(&srv->lines, 1, memory_order_relaxed);
    }
}

static void lev_on_event(struct bufferevent *bev, short events, void *arg)
{
    server_t *srv = arg;

    if (events & BEV_EVENT_CONNECTED) {
        atomic_fetch_add_explicit(&srv->handshakes, 1, memory_order_relaxed);
        return;
    }
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_free(bev);          /* and its SSL (BEV_OPT_CLOSE_ON_FREE) */
        atomic_fetch_sub(&srv->open, 1);
    }
}

static void lev_on_accept(struct evconnlistener *l, evutil_socket_t fd,
                          struct sockaddr *sa, int salen, void *arg)
{
    server_t *srv = arg;
    struct bufferevent *bev;
    SSL *ssl;
    int one = 1;

    (void) l;
    (void) sa;
    (void) salen;
    if (atomic_load(&srv->stop)) {
        evutil_closesocket(fd);
        srv->finished = 1;
        event_base_loopbreak(srv->base);
        return;
    }
    SYSCHECK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0,
             "setsockopt(TCP_NODELAY)");
    ssl = SSL_new(server_ctx);
    OCHECK(ssl != NULL, "SSL_new");
    bev = bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                         BEV_OPT_CLOSE_ON_FREE);
    LCHECK(bev != NULL, "bufferevent_openssl_socket_new");
    atomic_fetch_add(&srv->open, 1);
    bufferevent_setcb(bev, lev_on_read, NULL, lev_on_event, srv);
    LCHECK(bufferevent_enable(bev, EV_READ) == 0, "bufferevent_enable");
}

static void *lev_server_main(void *arg)
{
    server_t *srv = arg;
    struct evconnlistener *l;

    srv->base = lev_new_base();
    l = evconnlistener_new(srv->base, lev_on_accept, srv, 0, -1, srv->lfd);
    LCHECK(l != NULL, "evconnlistener_new");
    atomic_store(&srv->ready, 1);
    LCHECK(event_base_dispatch(srv->base) >= 0, "event_base_dispatch");
    if (!srv->finished)
        FAIL("libevent: event_base_dispatch returned before the stop");
    evconnlistener_free(l);
    event_base_free(srv->base);
    return NULL;
}
#endif /* WITH_LEV */

/* ------------------------------------------------------------------------ */
/* Starting and stopping a server thread                                     */

typedef struct running {
    server_t srv;
    pthread_t th;
    clockid_t cid;
} running_t;

static apr_port_t listen_port;

static void server_start(running_t *r, server_kind_t kind, apr_socket_t *listener)
{
    apr_os_sock_t lfd;
    uint64_t t0 = bench_now_ns();
    int err;

    memset(&r->srv, 0, sizeof r->srv);
    r->srv.kind = kind;
    r->srv.listener = listener;
    CHECK(apr_os_sock_get(&lfd, listener));
    r->srv.lfd = lfd;
    err = pthread_create(&r->th, NULL,
#if WITH_LEV
                         kind == SRV_LIBEVENT ? lev_server_main :
#endif
                         pev_server_main, &r->srv);
    if (err)
        FAIL("pthread_create: %s", strerror(err));
    err = pthread_getcpuclockid(r->th, &r->cid);
    if (err)
        FAIL("pthread_getcpuclockid: %s", strerror(err));
    while (!atomic_load(&r->srv.ready)) {
        if (bench_now_ns() - t0 > WAIT_NS)
            FAIL("%s server did not start", kind_name[kind]);
        bench_sleep_ns(1000000);
    }
}

static int tcp_connect(int nonblocking)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0),
                    0), one = 1;

    SYSCHECK(fd >= 0, "socket");
    SYSCHECK(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0,
             "setsockopt(TCP_NODELAY)");
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(listen_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0)
        SYSCHECK(nonblocking && errno == EINPROGRESS, "connect");
    return fd;
}

/* Wait until the server has no connection open, then stop it: the flag,
 * and a connection that wakes its accept. */
static void server_stop(running_t *r)
{
    struct timespec deadline;
    uint64_t t0 = bench_now_ns();
    int fd, err;

    while (atomic_load(&r->srv.open) > 0) {
        if (bench_now_ns() - t0 > WAIT_NS)
            FAIL("%s server: %d connection(s) still open after the clients closed",
                 kind_name[r->srv.kind], atomic_load(&r->srv.open));
        bench_sleep_ns(1000000);
    }
    atomic_store(&r->srv.stop, 1);
    fd = tcp_connect(0);
    SYSCHECK(clock_gettime(CLOCK_REALTIME, &deadline) == 0, "clock_gettime");
    deadline.tv_sec += JOIN_TIMEOUT_S;
    err = pthread_timedjoin_np(r->th, NULL, &deadline);
    if (err)
        FAIL("%s server: thread did not end (%s)", kind_name[r->srv.kind], strerror(err));
    close(fd);
}

static uint64_t cpu_ns(clockid_t cid)
{
    struct timespec ts;

    SYSCHECK(clock_gettime(cid, &ts) == 0, "clock_gettime(thread CPU clock)");
    return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* Clients                                                                   */

typedef struct conn {
    int fd;
    SSL *ssl;
    int connected;              /* handshake done */
    unsigned got;
    uint32_t seq;
    char req[LINE_LEN];
    char resp[LINE_LEN];
} conn_t;

static SSL *client_ssl(int fd)
{
    SSL *ssl = SSL_new(client_ctx);

    OCHECK(ssl != NULL, "SSL_new");
    OCHECK(SSL_set_fd(ssl, fd) == 1, "SSL_set_fd");
    OCHECK(SSL_set_tlsext_host_name(ssl, "localhost") == 1, "SNI");
    SSL_set_connect_state(ssl);
    return ssl;
}

/* One step of @a c's handshake: 1 done, 0 wants more (*@a want: EPOLLIN or
 * EPOLLOUT), aborts on failure. */
static int handshake_step(conn_t *c, uint32_t *want)
{
    int r = SSL_do_handshake(c->ssl), e;

    if (r == 1)
        return 1;
    e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ)
        *want = EPOLLIN;
    else if (e == SSL_ERROR_WANT_WRITE)
        *want = EPOLLOUT;
    else {
        ERR_print_errors_fp(stderr);
        FAIL("client handshake failed (SSL error %d, errno %s)", e, strerror(errno));
    }
    return 0;
}

static void conn_free(conn_t *c)
{
    SSL_free(c->ssl);
    SYSCHECK(close(c->fd) == 0, "close");
    c->ssl = NULL;
    c->fd = -1;
}

/* Connect @a n TLS clients into @a c (non-blocking, in epoll set @a ep with
 * data.u32 = index) and complete every handshake. */
static void connect_all(conn_t *c, unsigned n, int ep)
{
    struct epoll_event evs[64];
    unsigned i, done = 0;
    uint64_t t0 = bench_now_ns();

    for (i = 0; i < n; i++) {
        struct epoll_event ev;

        memset(&c[i], 0, sizeof c[i]);
        c[i].fd = tcp_connect(1);
        c[i].ssl = client_ssl(c[i].fd);
        ev.events = EPOLLOUT;
        ev.data.u32 = i;
        SYSCHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) == 0, "epoll_ctl");
    }
    while (done < n) {
        int k = epoll_wait(ep, evs, 64, 1000), j;

        SYSCHECK(k >= 0 || errno == EINTR, "epoll_wait");
        if (bench_now_ns() - t0 > WAIT_NS)
            FAIL("%u of %u handshakes done after %.0f s", done, n, (double) WAIT_NS / 1e9);
        for (j = 0; j < k; j++) {
            conn_t *cc = &c[evs[j].data.u32];
            struct epoll_event ev;
            uint32_t want = 0;

            if (cc->connected)
                continue;
            ev.data.u32 = evs[j].data.u32;
            if (handshake_step(cc, &want)) {
                cc->connected = 1;
                done++;
                want = EPOLLIN;
            }
            ev.events = want;
            SYSCHECK(epoll_ctl(ep, EPOLL_CTL_MOD, cc->fd, &ev) == 0, "epoll_ctl");
        }
    }
}

static void send_request(conn_t *c, unsigned idx)
{
    int k = snprintf(c->req, sizeof c->req, "conn %03u req %010" PRIu32 " ", idx, c->seq);
    unsigned i;
    int w;

    for (i = (unsigned) k; i < LINE_LEN - 1; i++)
        c->req[i] = (char) ('a' + (idx * 7u + c->seq * 13u + i) % 26u);
    c->req[LINE_LEN - 1] = '\n';
    w = SSL_write(c->ssl, c->req, LINE_LEN);
    if (w != LINE_LEN)      /* one record; the socket buffer is empty */
        FAIL("SSL_write to connection %u: %d (SSL error %d)", idx, w,
             SSL_get_error(c->ssl, w));
}

/* The closed loop of the echo phase (as bench_echo's drive()). */
static uint64_t drive(conn_t *c, int ep, unsigned *outstanding, uint64_t deadline, int more,
                      uint64_t *end_ns)
{
    struct epoll_event ev[NCONN];
    uint64_t done = 0, now = bench_now_ns(), last = now;

    while (more ? now < deadline : *outstanding > 0) {
        int n = epoll_wait(ep, ev, NCONN, 1000), i;

        if (n < 0 && errno == EINTR)
            continue;
        SYSCHECK(n >= 0, "epoll_wait");
        now = bench_now_ns();
        if (n == 0) {
            if (now - last > STALL_NS)
                FAIL("no response for %.0f s with %u outstanding", (double) STALL_NS / 1e9,
                     *outstanding);
            continue;
        }
        last = now;
        for (i = 0; i < n; i++) {
            unsigned idx = ev[i].data.u32;
            conn_t *cc = &c[idx];

            for (;;) {
                int r = SSL_read(cc->ssl, cc->resp + cc->got, (int) (LINE_LEN - cc->got));

                if (r <= 0) {
                    int e = SSL_get_error(cc->ssl, r);

                    if (e == SSL_ERROR_WANT_READ)
                        break;
                    FAIL("connection %u: SSL_read: SSL error %d", idx, e);
                }
                cc->got += (unsigned) r;
                if (cc->got < LINE_LEN)
                    continue;
                if (memcmp(cc->resp, cc->req, LINE_LEN) != 0)
                    FAIL("connection %u: wrong echo\n  sent: %.*s\n  got:  %.*s", idx,
                         LINE_LEN - 1, cc->req, LINE_LEN - 1, cc->resp);
                cc->got = 0;
                done++;
                (*outstanding)--;
                if (more) {
                    cc->seq++;
                    send_request(cc, idx);
                    (*outstanding)++;
                }
                break;
            }
        }
    }
    if (end_ns)
        *end_ns = now;
    return done;
}

/* ------------------------------------------------------------------------ */
/* A round                                                                   */

typedef struct round_result {
    double rps;                 /* echo round trips per second */
    double cpu_ns;              /* server CPU ns per round trip */
    double hps;                 /* server handshakes per second */
    double hs_cpu_us;           /* server CPU us per handshake */
} round_result_t;

static void echo_phase(running_t *r, double seconds, round_result_t *out)
{
    static conn_t c[NCONN];
    unsigned outstanding = 0, i;
    uint64_t t0, t1, cpu0, cpu1, count, answered = 0, lines0;
    int ep = epoll_create1(EPOLL_CLOEXEC);

    SYSCHECK(ep >= 0, "epoll_create1");
    connect_all(c, NCONN, ep);
    lines0 = atomic_load(&r->srv.lines);
    for (i = 0; i < NCONN; i++)
        send_request(&c[i], i);
    outstanding = NCONN;
    answered += drive(c, ep, &outstanding, bench_now_ns() + WARMUP_NS, 1, NULL);
    cpu0 = cpu_ns(r->cid);
    t0 = bench_now_ns();
    count = drive(c, ep, &outstanding, t0 + (uint64_t) (seconds * 1e9), 1, &t1);
    cpu1 = cpu_ns(r->cid);
    answered += count;
    answered += drive(c, ep, &outstanding, 0, 0, NULL);
    for (i = 0; i < NCONN; i++) {
        char extra;
        int n = SSL_read(c[i].ssl, &extra, 1);

        if (n > 0 || SSL_get_error(c[i].ssl, n) != SSL_ERROR_WANT_READ)
            FAIL("%s server: connection %u has more after its last response",
                 kind_name[r->srv.kind], i);
        conn_free(&c[i]);
    }
    SYSCHECK(close(ep) == 0, "close(epoll)");
    if (atomic_load(&r->srv.lines) - lines0 != answered)
        FAIL("%s server: %" PRIu64 " lines echoed for %" PRIu64 " responses",
             kind_name[r->srv.kind], (uint64_t) atomic_load(&r->srv.lines) - lines0,
             answered);
    expect(count > 0, "some round trips completed in the timed window");
    out->rps = (double) count * 1e9 / (double) (t1 - t0);
    out->cpu_ns = (double) (cpu1 - cpu0) / (double) count;
}

/* HS_INFLIGHT connections at a time, each closed once its handshake is done
 * and replaced. */
static void handshake_phase(running_t *r, double seconds, round_result_t *out)
{
    static conn_t c[HS_INFLIGHT];
    struct epoll_event evs[HS_INFLIGHT];
    uint64_t t0, t1, cpu0, cpu1, hs0, hs1, client_done = 0, warm_end, end;
    int ep = epoll_create1(EPOLL_CLOEXEC), timing = 0;
    unsigned i;

    SYSCHECK(ep >= 0, "epoll_create1");
    for (i = 0; i < HS_INFLIGHT; i++) {
        struct epoll_event ev = { EPOLLOUT, { .u32 = i } };

        memset(&c[i], 0, sizeof c[i]);
        c[i].fd = tcp_connect(1);
        c[i].ssl = client_ssl(c[i].fd);
        SYSCHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev) == 0, "epoll_ctl");
    }
    warm_end = bench_now_ns() + WARMUP_NS;
    end = warm_end + (uint64_t) (seconds * 1e9);
    t0 = cpu0 = hs0 = 0;
    for (;;) {
        uint64_t now = bench_now_ns();
        int k, j;

        if (!timing && now >= warm_end) {
            timing = 1;
            hs0 = atomic_load(&r->srv.handshakes);
            cpu0 = cpu_ns(r->cid);
            t0 = now;
        }
        if (now >= end)
            break;
        k = epoll_wait(ep, evs, HS_INFLIGHT, 1000);
        SYSCHECK(k >= 0 || errno == EINTR, "epoll_wait");
        for (j = 0; j < k; j++) {
            unsigned idx = evs[j].data.u32;
            struct epoll_event ev = { 0, { .u32 = idx } };
            uint32_t want = 0;
            int done = handshake_step(&c[idx], &want);

            ev.events = want;
            if (done) {
                client_done++;
                conn_free(&c[idx]);
                c[idx].fd = tcp_connect(1);
                c[idx].ssl = client_ssl(c[idx].fd);
                ev.events = EPOLLOUT;
                SYSCHECK(epoll_ctl(ep, EPOLL_CTL_ADD, c[idx].fd, &ev) == 0, "epoll_ctl");
            }
            else
                SYSCHECK(epoll_ctl(ep, EPOLL_CTL_MOD, c[idx].fd, &ev) == 0, "epoll_ctl");
        }
    }
    hs1 = atomic_load(&r->srv.handshakes);
    cpu1 = cpu_ns(r->cid);
    t1 = bench_now_ns();
    for (i = 0; i < HS_INFLIGHT; i++)
        conn_free(&c[i]);
    SYSCHECK(close(ep) == 0, "close(epoll)");
    expect(hs1 > hs0 && client_done > 0, "some handshakes completed in the timed window");
    out->hps = (double) (hs1 - hs0) * 1e9 / (double) (t1 - t0);
    out->hs_cpu_us = (double) (cpu1 - cpu0) / 1e3 / (double) (hs1 - hs0);
}

static void run_round(server_kind_t kind, apr_socket_t *listener, double seconds,
                      double hs_seconds, round_result_t *out)
{
    running_t r;

    server_start(&r, kind, listener);
    echo_phase(&r, seconds, out);
    handshake_phase(&r, hs_seconds, out);
    server_stop(&r);
    printf("  %-8s %9.0f round trips/s  %6.0f ns CPU each   %7.0f handshakes/s  %6.1f us"
           " CPU each\n", kind_name[kind], out->rps, out->cpu_ns, out->hps, out->hs_cpu_us);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Idle memory                                                               */

static uint64_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return (uint64_t) mi.uordblks + (uint64_t) mi.hblkhd;
}

/* The child: wait for "g", open @a n TLS connections (blocking), say "d",
 * wait for "x", close them, exit. */
static _Noreturn void idle_client(int in, int out, unsigned n)
{
    static conn_t c[IDLE_CONNS];
    unsigned i;
    char b;

    if (read(in, &b, 1) != 1)
        _exit(2);
    for (i = 0; i < n; i++) {
        c[i].fd = tcp_connect(0);
        c[i].ssl = client_ssl(c[i].fd);
        if (SSL_connect(c[i].ssl) != 1) {
            ERR_print_errors_fp(stderr);
            _exit(3);
        }
    }
    if (write(out, "d", 1) != 1)
        _exit(2);
    if (read(in, &b, 1) != 1)
        _exit(2);
    for (i = 0; i < n; i++)
        conn_free(&c[i]);
    _exit(0);
}

/* Bytes of heap and of RSS per idle TLS connection, server @a kind. */
static void idle_memory(server_kind_t kind, apr_socket_t *listener, unsigned n,
                        double *heap_per, double *rss_per)
{
    int to_child[2], from_child[2], status;
    uint64_t h0, h1, r0, r1, hs0, t0;
    running_t r;
    pid_t pid;
    char b;

    SYSCHECK(pipe(to_child) == 0 && pipe(from_child) == 0, "pipe");
    fflush(stdout);
    pid = fork();
    SYSCHECK(pid >= 0, "fork");
    if (pid == 0) {
        close(to_child[1]);
        close(from_child[0]);
        idle_client(to_child[0], from_child[1], n);
    }
    close(to_child[0]);
    close(from_child[1]);
    server_start(&r, kind, listener);
    /* one connection first, so that what every connection shares (the
     * loop's pollset growth, OpenSSL's per-thread state) is counted before */
    {
        conn_t one;
        int ep = epoll_create1(EPOLL_CLOEXEC);

        connect_all(&one, 1, ep);
        conn_free(&one);
        close(ep);
        t0 = bench_now_ns();
        while (atomic_load(&r.srv.open) > 0 && bench_now_ns() - t0 < WAIT_NS)
            bench_sleep_ns(1000000);
    }
    malloc_trim(0);
    h0 = heap_in_use();
    r0 = bench_rss_bytes();
    hs0 = atomic_load(&r.srv.handshakes);
    SYSCHECK(write(to_child[1], "g", 1) == 1, "write");
    SYSCHECK(read(from_child[0], &b, 1) == 1, "read (the client process failed)");
    t0 = bench_now_ns();
    while (atomic_load(&r.srv.handshakes) - hs0 < n) {
        if (bench_now_ns() - t0 > WAIT_NS)
            FAIL("%s server: %" PRIu64 " of %u idle handshakes", kind_name[kind],
                 (uint64_t) (atomic_load(&r.srv.handshakes) - hs0), n);
        bench_sleep_ns(1000000);
    }
    bench_sleep_ns(50000000);       /* let the server settle after the last one */
    h1 = heap_in_use();
    r1 = bench_rss_bytes();
    SYSCHECK(write(to_child[1], "x", 1) == 1, "write");
    SYSCHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        FAIL("the idle client process failed (status %d)", status);
    close(to_child[1]);
    close(from_child[0]);
    server_stop(&r);
    *heap_per = ((double) h1 - (double) h0) / n;
    *rss_per = ((double) r1 - (double) r0) / n;
    printf("  %-8s %u idle TLS connections: heap %+.0f KiB, RSS %+.0f KiB\n",
           kind_name[kind], n, ((double) h1 - (double) h0) / 1024.0,
           ((double) r1 - (double) r0) / 1024.0);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Main                                                                      */

static double median_field(const round_result_t *v, int n, size_t off)
{
    return bench_median_field(v, sizeof *v, n, off);
}

/* Raise the descriptor limit to what IDLE_CONNS needs (and the hard limit
 * allows); the number of idle connections that fit. */
static unsigned idle_conns_possible(void)
{
    struct rlimit rl;
    rlim_t want = 2 * IDLE_CONNS + 64;

    SYSCHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        SYSCHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit");
    }
    if (rl.rlim_cur >= want)
        return IDLE_CONNS;
    return rl.rlim_cur > 128 ? (unsigned) (rl.rlim_cur - 64) / 2 : 32;
}

int main(void)
{
    round_result_t pv[BENCH_MAX_RUNS], lv[BENCH_MAX_RUNS];
    apr_pool_t *root;
    apr_socket_t *listener;
    apr_sockaddr_t *sa;
    bench_table_t t;
    double seconds, hs_seconds, ph, pr, lh = 0, lr = 0;
    uint64_t start = bench_now_ns();
    char title[200];
    unsigned idle_n;
    int runs, r;

    CHECK(apr_initialize());
    atexit(apr_terminate);
    root = new_pool(NULL);
    runs = bench_runs_from_env("POOLEV_BENCH_RUNS", DEFAULT_RUNS);
    seconds = bench_env_double("BENCH_TLS_SECONDS", DEFAULT_SECONDS, 0.01, 3600);
    hs_seconds = bench_env_double("BENCH_TLS_HS_SECONDS", DEFAULT_HS_SECONDS, 0.01, 3600);
    signal(SIGPIPE, SIG_IGN);
    idle_n = idle_conns_possible();
    make_contexts();

    CHECK(apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, root));
    CHECK(apr_socket_create(&listener, APR_INET, SOCK_STREAM, APR_PROTO_TCP, root));
    CHECK(apr_socket_bind(listener, sa));
    CHECK(apr_socket_listen(listener, 4 * NCONN));
    CHECK(apr_socket_opt_set(listener, APR_SO_NONBLOCK, 1));
    CHECK(apr_socket_addr_get(&sa, APR_LOCAL, listener));
    listen_port = sa->port;

    printf("poolev %s TLS echo benchmark\n", POOLEV_VERSION_STRING);
    bench_print_machine();
    printf("openssl:  %s; TLS 1.3, %s, X25519, EC P-256 certificate, no tickets\n",
           OpenSSL_version(OPENSSL_VERSION), CIPHER);
#if WITH_LEV
    printf("libevent: %s, bufferevent_openssl, EVENT_BASE_FLAG_NOLOCK\n",
           event_get_version());
#else
    printf("libevent: comparison skipped (built without libevent_openssl >= 2.1)\n");
#endif
    printf("echo: %d TLS connections, one %d-byte line in flight each, %g s timed per"
           " round;\nhandshakes: %d at a time, full handshakes, %g s timed per round;"
           " %d round%s per server%s\n\n", NCONN, LINE_LEN, seconds, HS_INFLIGHT,
           hs_seconds, runs, runs > 1 ? "s" : "", WITH_LEV ? ", alternating" : "");
    fflush(stdout);

    for (r = 0; r < runs; r++) {
        printf("round %d\n", r + 1);
#if WITH_LEV
        if (r % 2) {
            run_round(SRV_LIBEVENT, listener, seconds, hs_seconds, &lv[r]);
            run_round(SRV_POOLEV, listener, seconds, hs_seconds, &pv[r]);
            continue;
        }
#endif
        run_round(SRV_POOLEV, listener, seconds, hs_seconds, &pv[r]);
#if WITH_LEV
        run_round(SRV_LIBEVENT, listener, seconds, hs_seconds, &lv[r]);
#endif
    }
    printf("\nidle connections\n");
    idle_memory(SRV_POOLEV, listener, idle_n, &ph, &pr);
#if WITH_LEV
    idle_memory(SRV_LIBEVENT, listener, idle_n, &lh, &lr);
#endif
    printf("\n");

    snprintf(title, sizeof title, "TLS 1.3 echo, %d connections, %d-byte lines; medians of"
             " %d rounds", NCONN, LINE_LEN, runs);
    bench_table_header(&t);
    bench_table_section(title);
    {
        static const struct { const char *name; size_t off; const char *unit; } rows[] = {
            { "echo round trips per second", offsetof(round_result_t, rps), "/s" },
            { "server CPU per round trip", offsetof(round_result_t, cpu_ns), "ns" },
            { "server handshakes per second", offsetof(round_result_t, hps), "/s" },
            { "server CPU per handshake", offsetof(round_result_t, hs_cpu_us), "us" },
        };
        unsigned i;

        for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            char name[128];
            double p = median_field(pv, runs, rows[i].off);

            snprintf(name, sizeof name, "%s: poolev", rows[i].name);
            bench_table_row(&t, name, p, rows[i].unit, BENCH_INFO, 0);
#if WITH_LEV
            {
                double l = median_field(lv, runs, rows[i].off);

                snprintf(name, sizeof name, "  %s: libevent", rows[i].name);
                bench_table_row(&t, name, l, rows[i].unit, BENCH_INFO, 0);
                bench_table_row(&t, "  ratio poolev / libevent", p / l, "x", BENCH_INFO, 0);
            }
#endif
        }
    }
    snprintf(title, sizeof title, "%u idle TLS connections (client in another process)",
             idle_n);
    bench_table_section(title);
    bench_table_row(&t, "heap per idle TLS connection: poolev", ph, "B", BENCH_INFO, 0);
    bench_table_row(&t, "RSS per idle TLS connection: poolev", pr, "B", BENCH_INFO, 0);
#if WITH_LEV
    bench_table_row(&t, "  heap per idle TLS connection: libevent", lh, "B", BENCH_INFO, 0);
    bench_table_row(&t, "  RSS per idle TLS connection: libevent", lr, "B", BENCH_INFO, 0);
#else
    (void) lh;
    (void) lr;
#endif
    printf("\nEvery echo was checked byte for byte. The client (same code for both\n"
           "servers) shares the machine; the server thread's CPU per round trip and per\n"
           "handshake compares the servers even when the client limits the rate.\n");
    printf("total time: %.1f s\n", (double) (bench_now_ns() - start) / 1e9);
    bench_table_footer(&t);
    SSL_CTX_free(client_ctx);
    SSL_CTX_free(server_ctx);
    apr_pool_destroy(root);
    return 0;
}
