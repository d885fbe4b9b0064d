/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * harness_io.c - descriptors, the scripted peer end, the watchdog, line
 * clients (harness.h).
 */
#include "harness.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <apr_portable.h>

/* ======================================================================== */
/* Descriptors                                                               */

int pt_sock_fd(apr_socket_t *s)
{
    apr_os_sock_t fd;

    ck_assert_int_eq(apr_os_sock_get(&fd, s), APR_SUCCESS);
    return fd;
}

int pt_file_fd(apr_file_t *f)
{
    apr_os_file_t fd;

    ck_assert_int_eq(apr_os_file_get(&fd, f), APR_SUCCESS);
    return fd;
}

void pt_tcp_pair(apr_pool_t *spool, apr_pool_t *cpool, int flags, apr_socket_t **srv,
                 apr_socket_t **cli)
{
    apr_sockaddr_t *sa;
    apr_socket_t *lsn;

    ck_assert_int_eq(apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, cpool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_socket_create(&lsn, APR_INET, SOCK_STREAM, APR_PROTO_TCP, cpool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_socket_bind(lsn, sa), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_listen(lsn, 4), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_addr_get(&sa, APR_LOCAL, lsn), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_create(cli, APR_INET, SOCK_STREAM, APR_PROTO_TCP, cpool),
                     APR_SUCCESS);
    if (flags & PT_SMALL_BUFS)
        ck_assert_int_eq(apr_socket_opt_set(*cli, APR_SO_RCVBUF, 4096), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_connect(*cli, sa), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_accept(srv, lsn, spool), APR_SUCCESS);
    if (flags & PT_SMALL_BUFS)
        ck_assert_int_eq(apr_socket_opt_set(*srv, APR_SO_SNDBUF, 4096), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_close(lsn), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_timeout_set(*cli, 0), APR_SUCCESS);
}

void pt_pipe_pair(apr_pool_t *pool, int stream_reads, apr_file_t **rd, apr_file_t **wr)
{
    ck_assert_int_eq(apr_file_pipe_create_ex(rd, wr, stream_reads ? APR_WRITE_BLOCK
                                                                   : APR_READ_BLOCK, pool),
                     APR_SUCCESS);
    if (!stream_reads) {                                /* the test polls its end */
        int fd = pt_file_fd(*rd);
        ck_assert_int_ne(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), -1);
    }
}

/* Descriptors closed after pt_pool is destroyed (after the streams on
 * them are freed). */
#define MAX_KEPT 64
static int KEPT[MAX_KEPT];
static int NKEPT;

void pt_keep_fd(int fd)
{
    ck_assert_int_ge(fd, 0);
    ck_assert_int_lt(NKEPT, MAX_KEPT);
    KEPT[NKEPT++] = fd;
}

void pt_close_fd(int fd)
{
    int i;

    for (i = 0; i < NKEPT; i++)
        if (KEPT[i] == fd) {
            KEPT[i] = KEPT[--NKEPT];
            close(fd);
            return;
        }
    ck_abort_msg("descriptor %d is not kept", fd);
}

void pt_close_kept(void)
{
    while (NKEPT > 0)
        close(KEPT[--NKEPT]);
}

void pt_socketpair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pt_keep_fd(sv[0]);
    pt_keep_fd(sv[1]);
}

apr_size_t pt_fill_kernel(int fd)
{
    static char junk[4096];
    apr_size_t total = 0;
    int quiet = 0;

    memset(junk, 'F', sizeof junk);
    while (quiet < 3) {
        ssize_t r = send(fd, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0) {
            total += (apr_size_t) r;
            quiet = 0;
            continue;
        }
        ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "fill: %s", strerror(errno));
        {
            struct pollfd p = { fd, POLLOUT, 0 };
            if (poll(&p, 1, 2) == 0)
                quiet++;
        }
    }
    ck_assert_uint_gt(total, 0);
    return total;
}

void pt_pattern(char *buf, apr_size_t n, apr_size_t off)
{
    apr_size_t i;

    for (i = 0; i < n; i++)
        buf[i] = (char) ('a' + (off + i) % 23);
}

void pt_scribble(void)
{
    static const apr_size_t sizes[] = { 64, 200, 1000, 3000, 4097, 7000, 12000, 30000,
                                         70000 };
    apr_pool_t *p = pt_subpool(pt_pool);
    void *m[sizeof sizes / sizeof sizes[0]];
    size_t i;

    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        memset(apr_palloc(p, sizes[i]), 0xA5, sizes[i]);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        m[i] = malloc(sizes[i]);
        ck_assert_ptr_nonnull(m[i]);
        memset(m[i], 0xA5, sizes[i]);
    }
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        free(m[i]);
    apr_pool_destroy(p);
}

/* ======================================================================== */
/* The peer end                                                              */

/* Wait up to 1 ms for the peer end: run the loop if there is one, else
 * poll the descriptor. */
static void pump_or_poll(pev_loop_t *loop, int fd, short events)
{
    if (loop) {
        ck_assert_int_eq(pev_loop_run_once(loop, 1000), APR_SUCCESS);
    }
    else {
        struct pollfd p = { fd, events, 0 };
        (void) poll(&p, 1, 1);
    }
}

static apr_time_t io_deadline(void)
{
    return pev_clock_monotonic() + (apr_time_t) PT_IO_MS * 1000;
}

apr_status_t pt_peer_send(pev_loop_t *loop, int fd, const void *data, apr_size_t n)
{
    apr_time_t end = io_deadline();
    const char *p = data;

    while (n) {
        ssize_t r = write(fd, p, n);
        if (r > 0) {
            p += r;
            n -= (apr_size_t) r;
            continue;
        }
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return APR_FROM_OS_ERROR(errno);
        ck_assert_msg(pev_clock_monotonic() < end, "peer send stalled");
        pump_or_poll(loop, fd, POLLOUT);
    }
    return APR_SUCCESS;
}

apr_size_t pt_peer_read(pev_loop_t *loop, int fd, char *buf, apr_size_t want, int *eof)
{
    apr_time_t end = io_deadline();
    apr_size_t got = 0;

    *eof = 0;
    while (got < want) {
        struct pollfd p = { fd, POLLIN, 0 };

        /* read only what has come: the descriptor may block */
        if (poll(&p, 1, 0) == 1) {
            ssize_t r = read(fd, buf + got, want - got);
            if (r > 0) {
                got += (apr_size_t) r;
                continue;
            }
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                *eof = 1;
                break;
            }
        }
        if (pev_clock_monotonic() >= end)
            break;
        pump_or_poll(loop, fd, POLLIN);
    }
    return got;
}

void pt_peer_expect(pev_loop_t *loop, int fd, const char *text)
{
    apr_size_t n = strlen(text), got;
    char *buf = apr_palloc(pt_pool, n + 1);
    int eof;

    got = pt_peer_read(loop, fd, buf, n, &eof);
    buf[got] = 0;
    ck_assert_msg(got == n && memcmp(buf, text, n) == 0,
                  "peer read \"%s\" (%lu bytes), expected \"%s\"", buf,
                  (unsigned long) got, text);
}

apr_size_t pt_peer_expect_eof(pev_loop_t *loop, int fd)
{
    static char scratch[65536];
    apr_time_t end = io_deadline();
    apr_size_t total = 0;
    int eof = 0;

    while (!eof && pev_clock_monotonic() < end)
        total += pt_peer_read(loop, fd, scratch, sizeof scratch, &eof);
    ck_assert_msg(eof, "the peer never saw end of input");
    return total;
}

int pt_peer_idle(int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };

    return poll(&p, 1, 0) == 0;
}

void pt_wait_readable(int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };

    ck_assert_msg(poll(&p, 1, 2000) == 1, "descriptor %d never became readable", fd);
}

/* ======================================================================== */
/* Watchdog                                                                  */

static struct {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, stop, fd, fired;
    long ms;
} GUARD = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *guard_main(void *arg)
{
    struct timespec ts;

    (void) arg;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += GUARD.ms / 1000;
    ts.tv_nsec += (GUARD.ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&GUARD.mu);
    while (!GUARD.stop)
        if (pthread_cond_timedwait(&GUARD.cv, &GUARD.mu, &ts) == ETIMEDOUT)
            break;
    if (!GUARD.stop) {
        GUARD.fired = 1;
        if (write(GUARD.fd, "guard\n", 6) < 0) {
            /* the stream may be gone: nothing to unblock */
        }
    }
    pthread_mutex_unlock(&GUARD.mu);
    return NULL;
}

void pt_guard_start(int fd)
{
    ck_assert(!GUARD.running);
    GUARD.stop = 0;
    GUARD.fired = 0;
    GUARD.fd = fd;
    GUARD.ms = pt_env_long("POOLEV_GUARD_MS", 5000);
    ck_assert_int_eq(pthread_create(&GUARD.th, NULL, guard_main, NULL), 0);
    GUARD.running = 1;
}

int pt_guard_stop(void)
{
    if (!GUARD.running)
        return 0;
    pthread_mutex_lock(&GUARD.mu);
    GUARD.stop = 1;
    pthread_cond_signal(&GUARD.cv);
    pthread_mutex_unlock(&GUARD.mu);
    pthread_join(GUARD.th, NULL);
    GUARD.running = 0;
    return GUARD.fired;
}

/* ======================================================================== */
/* Line clients                                                              */

static apr_status_t free_client(void *data)
{
    lc_free(data);
    return APR_SUCCESS;
}

lc_client_t *pt_client(unsigned port, int rcvbuf)
{
    lc_client_t *c = lc_connect(port, rcvbuf);

    ck_assert_msg(c != NULL, "connect to port %u: %s", port, strerror(errno));
    apr_pool_cleanup_register(pt_pool, c, free_client, apr_pool_cleanup_null);
    return c;
}

void pt_client_free(lc_client_t *c)
{
    apr_pool_cleanup_run(pt_pool, c, free_client);
}

void pt_client_write(lc_client_t *c, const void *data, size_t len)
{
    int err = lc_send(c, data, len, PT_IO_MS);

    ck_assert_msg(err == 0, "send: %s",
                  err == ETIMEDOUT ? "the other end does not read" : strerror(err));
}

void pt_client_send(lc_client_t *c, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof buf - 2, fmt, ap);
    va_end(ap);
    ck_assert(n >= 0 && (size_t) n < sizeof buf - 2);
    memcpy(buf + n, "\r\n", 2);
    pt_client_write(c, buf, (size_t) n + 2);
}

int pt_client_fill(lc_client_t *c, long ms)
{
    ck_assert_msg(c->len < sizeof c->buf, "client buffer full (a line without end?)");
    return lc_fill(c, ms);
}

const char *pt_client_line(lc_client_t *c, long ms)
{
    const char *l = lc_line(c, ms);

    ck_assert_msg(l || c->len < sizeof c->buf, "client buffer full (a line without end?)");
    return l;
}

/* ======================================================================== */
/* DNS responders                                                            */

size_t pt_dns_question(const unsigned char *q, size_t qlen, char *name, int *qtype)
{
    size_t off = 12, nl = 0;
    int i;

    if (qlen < 12 || (q[2] & 0x80))
        return 0;
    while (off < qlen && q[off]) {
        size_t l = q[off++];

        if (l > 63 || off + l > qlen || nl + l + 2 > 256)
            return 0;
        if (nl)
            name[nl++] = '.';
        for (i = 0; i < (int) l; i++)
            name[nl++] = (char) tolower(q[off++]);
    }
    if (off + 5 > qlen)
        return 0;
    name[nl] = '\0';
    off++;
    *qtype = q[off] << 8 | q[off + 1];
    return off + 4;                 /* type, class */
}

void pt_dns_reply_start(const unsigned char *q, size_t n, unsigned char *out, int found)
{
    memcpy(out, q, n);              /* the header and the question */
    out[2] = (unsigned char) (0x84 | (q[2] & 0x01));   /* QR, AA, RD */
    out[3] = found ? 0x80 : 0x83;                       /* RA, NXDOMAIN */
    out[4] = 0;
    out[5] = 1;
    memset(out + 6, 0, 6);
}
