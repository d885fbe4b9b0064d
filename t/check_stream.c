/*
 * check_stream.c - streams and wait events (include/poolev/stream.h,
 * doc/streams.md).
 *
 * Every test is named after the rule it proves. Streams run over loopback TCP
 * pairs or pipes; the test drives the peer end directly, non-blocking, with
 * bounded waits. Idle, timer and wait event tests run on a fake clock and
 * never sleep. Where real I/O has to travel, the loop is pumped with polls of
 * at most 1 ms until a condition holds (bounded: a failure, never a hang).
 * Tests that block in pev_stream_getline_wait() start a watchdog thread that
 * sends a "guard" line after a few seconds, so a wait that never ends fails
 * instead of hanging (also under valgrind, where CK_FORK=no disables check's
 * timeouts).
 *
 * Use-after-free checks: callbacks that destroy a pool then reuse the freed
 * memory at once (scribble()), so a stale pointer reads garbage; ASan and
 * valgrind in CI report it precisely.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <apr_portable.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include <poolev.h>
#include "harness.h"

/* ======================================================================== */
/* Fixture, fake clock                                                       */

static pt_log_t LOG;
static pev_loop_t *LOOP;
static apr_time_t FAKE;
static apr_time_t FAKE_STEP;    /* added at every reading: a clock that moves */

static apr_time_t fake_clock(void *baton)
{
    (void) baton;
    FAKE += FAKE_STEP;
    return FAKE;
}

static apr_uint64_t iterations(void)
{
    pev_loop_stats_t st;

    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    return st.iterations;
}

static apr_size_t timers_armed(void)
{
    pev_loop_stats_t st;

    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    return st.timers_armed;
}

/* One iteration at fake time @a to, without waiting. */
static void tick(apr_time_t to)
{
    FAKE = to;
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
}

/* Run the loop (polls of at most 1 ms, about 3 s in all) until @a cond. */
#define PUMP_MAX 3000
#define PUMP_UNTIL(cond) do {                                                \
        int pump_i_;                                                         \
        for (pump_i_ = 0; pump_i_ < PUMP_MAX && !(cond); pump_i_++)          \
            ck_assert_int_eq(pev_loop_run_once(LOOP, 1000), APR_SUCCESS);    \
        ck_assert_msg((cond), "gave up waiting for: %s", #cond);             \
    } while (0)

static void pump(int n)
{
    int i;

    for (i = 0; i < n; i++)
        ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
}

static void guard_stop(void);

static void setup(void)
{
    pt_setup();
    pt_log_reset(&LOG);
    FAKE = 1000;
    FAKE_STEP = 0;
    ck_assert_int_eq(pev_loop_create(&LOOP, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_set_clock(LOOP, fake_clock, NULL), APR_SUCCESS);
}

static void teardown(void)
{
    guard_stop();
    FAKE_STEP = 0;
    pt_teardown();
    LOOP = NULL;
}

/* ======================================================================== */
/* Descriptors: loopback TCP pairs, pipes, the peer end                      */

#define SMALL_BUFS 1    /* shrink the kernel's socket buffers */
#define FILL       2    /* and fill them before the stream is created */
#define NO_IDLE_CB 4    /* no on_idle callback */

#define IO_DEADLINE (5 * APR_USEC_PER_SEC)

static int sock_fd(apr_socket_t *s)
{
    apr_os_sock_t fd;

    ck_assert_int_eq(apr_os_sock_get(&fd, s), APR_SUCCESS);
    return fd;
}

static int file_fd(apr_file_t *f)
{
    apr_os_file_t fd;

    ck_assert_int_eq(apr_os_file_get(&fd, f), APR_SUCCESS);
    return fd;
}

/*
 * A connected loopback pair: *srv (to wrap in a stream) from @a spool, *cli
 * (the peer end, driven by the test; made non-blocking) from @a cpool.
 */
static void tcp_pair(apr_pool_t *spool, apr_pool_t *cpool, int flags,
                     apr_socket_t **srv, apr_socket_t **cli)
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
    if (flags & (SMALL_BUFS | FILL))
        ck_assert_int_eq(apr_socket_opt_set(*cli, APR_SO_RCVBUF, 4096), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_connect(*cli, sa), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_accept(srv, lsn, spool), APR_SUCCESS);
    if (flags & (SMALL_BUFS | FILL))
        ck_assert_int_eq(apr_socket_opt_set(*srv, APR_SO_SNDBUF, 4096), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_close(lsn), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_timeout_set(*cli, 0), APR_SUCCESS);
}

/*
 * A pipe from @a pool. @a stream_reads: the read end (*rd) is for a stream
 * and non-blocking, the write end blocks; else the other way round. The
 * test's end is used through raw descriptor calls.
 */
static void pipe_pair(apr_pool_t *pool, int stream_reads, apr_file_t **rd, apr_file_t **wr)
{
    ck_assert_int_eq(apr_file_pipe_create_ex(rd, wr, stream_reads ? APR_WRITE_BLOCK
                                                                   : APR_READ_BLOCK, pool),
                     APR_SUCCESS);
    if (!stream_reads) {                                /* the test polls its end */
        int fd = file_fd(*rd);
        ck_assert_int_ne(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), -1);
    }
}

/* Send from @a fd (not yet a stream's) until the kernel takes no more: the
 * peer does not read, so what a stream writes afterwards stays unsent. */
static apr_size_t fill_kernel(int fd)
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

static void wait_readable(int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };

    ck_assert_msg(poll(&p, 1, 2000) == 1, "descriptor %d never became readable", fd);
}

/* Wait up to 1 ms for the peer end: run the loop if asked (and there is
 * one), else poll the descriptor. */
static void pump_or_poll(int fd, short events, int do_pump)
{
    if (do_pump && LOOP) {
        ck_assert_int_eq(pev_loop_run_once(LOOP, 1000), APR_SUCCESS);
    }
    else {
        struct pollfd p = { fd, events, 0 };
        (void) poll(&p, 1, 1);
    }
}

/* Send all of @a data from the peer end @a fd (socket or pipe), running the
 * loop while it is full if @a do_pump. APR_SUCCESS or the error that stopped
 * it (the stream's end went away). */
static apr_status_t peer_send(int fd, const void *data, apr_size_t n, int do_pump)
{
    apr_time_t end = pev_clock_monotonic() + IO_DEADLINE;
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
        pump_or_poll(fd, POLLOUT, do_pump);
    }
    return APR_SUCCESS;
}

#define peer_puts(fd, str) \
    ck_assert_int_eq(peer_send((fd), (str), strlen(str), 1), APR_SUCCESS)

/* Read at the peer end until @a want bytes came, input ended (*eof: also a
 * reset), or the deadline passed. Returns the bytes read. */
static apr_size_t peer_read(int fd, char *buf, apr_size_t want, int *eof, int do_pump)
{
    apr_time_t end = pev_clock_monotonic() + IO_DEADLINE;
    apr_size_t got = 0;

    *eof = 0;
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r > 0) {
            got += (apr_size_t) r;
            continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            *eof = 1;
            break;
        }
        if (pev_clock_monotonic() >= end)
            break;
        pump_or_poll(fd, POLLIN, do_pump);
    }
    return got;
}

static void peer_expect(int fd, const char *text)
{
    apr_size_t n = strlen(text), got;
    char *buf = apr_palloc(pt_pool, n + 1);
    int eof;

    got = peer_read(fd, buf, n, &eof, 1);
    buf[got] = 0;
    ck_assert_msg(got == n && memcmp(buf, text, n) == 0,
                  "peer read \"%s\" (%lu bytes), expected \"%s\"", buf,
                  (unsigned long) got, text);
}

/* Read until input ends; returns the bytes that came before the end. */
static apr_size_t peer_expect_eof(int fd, int do_pump)
{
    static char scratch[65536];
    apr_time_t end = pev_clock_monotonic() + IO_DEADLINE;
    apr_size_t total = 0;
    int eof = 0;

    while (!eof && pev_clock_monotonic() < end)
        total += peer_read(fd, scratch, sizeof scratch, &eof, do_pump);
    ck_assert_msg(eof, "the peer never saw end of input");
    return total;
}

/* Nothing arrives at the peer end right now (and it is not at EOF). */
static int peer_idle(int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };

    return poll(&p, 1, 0) == 0;
}

static void pattern(char *buf, apr_size_t n, apr_size_t off)
{
    apr_size_t i;

    for (i = 0; i < n; i++)
        buf[i] = (char) ('a' + (off + i) % 23);
}

/* Reuse freed memory at once, so that a use-after-free of a destroyed pool's
 * memory (or of malloc'ed buffers) reads garbage. */
static void scribble(void)
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
/* Watchdog: unblocks a stuck pev_stream_getline_wait()                      */

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

/* After a few seconds, send "guard\n" from the peer end @a fd. */
static void guard_start(int fd)
{
    ck_assert(!GUARD.running);
    GUARD.stop = 0;
    GUARD.fired = 0;
    GUARD.fd = fd;
    GUARD.ms = pt_env_long("POOLEV_GUARD_MS", 5000);
    ck_assert_int_eq(pthread_create(&GUARD.th, NULL, guard_main, NULL), 0);
    GUARD.running = 1;
}

static void guard_stop(void)
{
    if (!GUARD.running)
        return;
    pthread_mutex_lock(&GUARD.mu);
    GUARD.stop = 1;
    pthread_cond_signal(&GUARD.cv);
    pthread_mutex_unlock(&GUARD.mu);
    pthread_join(GUARD.th, NULL);
    GUARD.running = 0;
}

/* ======================================================================== */
/* A stream's baton and callbacks                                            */

#define MAXLINES 64

typedef struct sctx sctx_t;
typedef void sctx_fn(sctx_t *c);

struct sctx {
    int id;
    pev_stream_t *s;
    apr_pool_t *pool;           /* the stream's pool */
    apr_socket_t *cli;          /* the peer end (sockets) */
    int fd;                     /* the peer end's descriptor */
    int srv_fd;                 /* the stream's descriptor */
    apr_size_t filled;          /* bytes fill_kernel() queued before the stream */
    int destroyed;              /* the test destroyed the stream's pool */

    int reads, drains, closes, idles;
    apr_status_t reason;        /* given to on_close */

    int take_lines;             /* on_read takes every complete line */
    int nlines;
    char *line[MAXLINES];       /* copies, in pt_pool */
    apr_size_t len[MAXLINES];
    int line_eof[MAXLINES];     /* pev_stream_eof() when it was taken */
    int first_read_lines;       /* lines taken in the first on_read */
    apr_status_t last_get;      /* getline's status that ended the last take */
    apr_size_t max_pending;     /* most input seen buffered */

    int idle_keep;              /* on_idle's answer */
    apr_size_t drain_seen;      /* output pending when on_drain ran */

    sctx_fn *read_action, *close_action, *drain_action;
    int (*idle_action)(sctx_t *c);
    void *p1;
    apr_status_t st;            /* a status an action recorded */
};

static void note_pending(sctx_t *c)
{
    apr_size_t n = pev_stream_input_pending(c->s);

    if (n > c->max_pending)
        c->max_pending = n;
}

static void take_lines(sctx_t *c)
{
    char *l;
    apr_size_t n;
    apr_status_t rv;

    while ((rv = pev_stream_getline(c->s, &l, &n)) == APR_SUCCESS) {
        ck_assert_msg(l[n] == '\0', "line not NUL-terminated");
        ck_assert_int_lt(c->nlines, MAXLINES);
        c->line[c->nlines] = apr_pstrmemdup(pt_pool, l, n);
        c->len[c->nlines] = n;
        c->line_eof[c->nlines] = pev_stream_eof(c->s);
        c->nlines++;
    }
    c->last_get = rv;
}

static void check_alive(sctx_t *c, const char *what)
{
    ck_assert_msg(!c->destroyed, "stream %d: %s callback after its pool was destroyed",
                  c->id, what);
    ck_assert_msg(!c->closes, "stream %d: %s callback after the close callback", c->id, what);
}

static void on_read(pev_stream_t *s, void *baton)
{
    sctx_t *c = baton;

    check_alive(c, "read");
    ck_assert_ptr_eq(s, c->s);
    c->reads++;
    note_pending(c);
    if (c->take_lines)
        take_lines(c);
    if (c->reads == 1)
        c->first_read_lines = c->nlines;
    if (c->read_action)
        c->read_action(c);
}

static void on_drain(pev_stream_t *s, void *baton)
{
    sctx_t *c = baton;

    check_alive(c, "drain");
    ck_assert_ptr_eq(s, c->s);
    c->drains++;
    c->drain_seen = pev_stream_output_pending(s);
    if (c->drain_action)
        c->drain_action(c);
}

static void on_close(pev_stream_t *s, apr_status_t reason, void *baton)
{
    sctx_t *c = baton;

    ck_assert_msg(!c->destroyed, "stream %d: close callback after its pool was destroyed",
                  c->id);
    ck_assert_msg(!c->closes, "stream %d: close callback ran twice", c->id);
    ck_assert_ptr_eq(s, c->s);
    c->closes++;
    c->reason = reason;
    note_pending(c);
    ck_assert(!pev_stream_is_open(s));
    ck_assert_int_eq(pev_stream_close_reason(s), reason);
    ck_assert_uint_eq(pev_waitevent_count(s), 0);        /* closing cancels them */
    ck_assert_uint_eq(pev_stream_output_pending(s), 0);  /* and frees the output */
    if (c->close_action)
        c->close_action(c);
}

static int on_idle(pev_stream_t *s, void *baton)
{
    sctx_t *c = baton;

    check_alive(c, "idle");
    ck_assert_ptr_eq(s, c->s);
    c->idles++;
    if (c->idle_action)
        return c->idle_action(c);
    return c->idle_keep;
}

static const pev_stream_callbacks_t CB_ALL = { on_read, on_drain, on_close, on_idle };
static const pev_stream_callbacks_t CB_NO_IDLE = { on_read, on_drain, on_close, NULL };

static sctx_t *ctx_new(int id)
{
    sctx_t *c = apr_pcalloc(pt_pool, sizeof *c);

    c->id = id;
    c->take_lines = 1;
    c->fd = c->srv_fd = -1;
    c->last_get = -1;
    return c;
}

/* A stream over a new loopback pair, owned by @a pool (NULL: a new subpool of
 * pt_pool), whose server socket comes from that pool too. */
static sctx_t *sock_stream(int id, apr_pool_t *pool, int flags)
{
    sctx_t *c = ctx_new(id);
    apr_socket_t *srv;

    c->pool = pool ? pool : pt_subpool(pt_pool);
    tcp_pair(c->pool, pt_pool, flags, &srv, &c->cli);
    c->fd = sock_fd(c->cli);
    c->srv_fd = sock_fd(srv);
    if (flags & FILL)
        c->filled = fill_kernel(c->srv_fd);
    ck_assert_int_eq(pev_stream_create_socket(&c->s, LOOP, srv,
                                              flags & NO_IDLE_CB ? &CB_NO_IDLE : &CB_ALL,
                                              c, c->pool), APR_SUCCESS);
    return c;
}

/* Destroy the stream's pool (from a callback or not), then reuse its memory. */
static void destroy_own_pool(sctx_t *c)
{
    apr_pool_t *p = c->pool;

    c->destroyed = 1;
    c->pool = NULL;
    apr_pool_destroy(p);
    scribble();
}

/* Read the kernel filler at the peer end, checking it. */
static void peer_skip_filler(sctx_t *c)
{
    char *buf = apr_palloc(pt_pool, c->filled + 1);
    apr_size_t i;
    int eof;

    ck_assert_uint_eq(peer_read(c->fd, buf, c->filled, &eof, 1), c->filled);
    for (i = 0; i < c->filled; i++)
        ck_assert_int_eq(buf[i], 'F');
}

/* ======================================================================== */
/* Wait events: a baton that logs and acts                                   */

typedef struct wact wact_t;
typedef pev_waitevent_t *wact_fn(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev);

struct wact {
    int id;
    sctx_t *c;                  /* the stream's baton */
    pev_waitevent_t *ev;
    int calls;
    apr_time_t seen_now;
    apr_uint64_t seen_iter;
    wact_fn *action;
    void *p1, *p2;
    apr_status_t st;
};

static pev_waitevent_t *on_wait(pev_stream_t *s, pev_waitevent_t *ev, void *rock)
{
    wact_t *a = rock;

    ck_assert_ptr_eq(ev, a->ev);
    ck_assert_ptr_eq(s, a->c->s);
    ck_assert_msg(!a->c->destroyed, "wait event %d fired after its stream's pool went",
                  a->id);
    ck_assert_msg(!a->c->closes, "wait event %d fired after the close callback", a->id);
    a->calls++;
    a->seen_now = pev_loop_now(LOOP);
    a->seen_iter = iterations();
    ck_assert_msg(a->seen_now >= pev_waitevent_mark(ev), "wait event %d fired early "
                  "(now %lld, mark %lld)", a->id, (long long) a->seen_now,
                  (long long) pev_waitevent_mark(ev));
    pt_log_add(&LOG, a->id);
    return a->action ? a->action(a, s, ev) : NULL;
}

static wact_t *wadd(sctx_t *c, apr_time_t mark, int id, wact_fn *action)
{
    wact_t *a = apr_pcalloc(pt_pool, sizeof *a);

    a->id = id;
    a->c = c;
    a->action = action;
    ck_assert_int_eq(pev_waitevent_add(&a->ev, c->s, mark, on_wait, a), APR_SUCCESS);
    ck_assert_ptr_nonnull(a->ev);
    ck_assert_int_eq(pev_waitevent_mark(a->ev), mark);
    return a;
}

static int log_count(int id)
{
    int i, n = 0;

    for (i = 0; i < LOG.n; i++)
        n += LOG.v[i] == id;
    return n;
}

/* A timer's baton: logs its id, then an optional action. */
typedef struct tjob tjob_t;
struct tjob {
    int id;
    int calls;
    void (*fn)(tjob_t *j);
    sctx_t *c;
    void *p;
    apr_status_t st;
};

static void on_timer(pev_timer_t *t, void *baton)
{
    tjob_t *j = baton;

    (void) t;
    j->calls++;
    if (j->id)
        pt_log_add(&LOG, j->id);
    if (j->fn)
        j->fn(j);
}

static tjob_t *timer_at(apr_time_t mark, int id, void (*fn)(tjob_t *), sctx_t *c)
{
    tjob_t *j = apr_pcalloc(pt_pool, sizeof *j);

    j->id = id;
    j->fn = fn;
    j->c = c;
    ck_assert_int_eq(pev_timer_add(NULL, LOOP, mark, on_timer, j, pt_pool), APR_SUCCESS);
    return j;
}

__attribute__((format(printf, 2, 3)))
static apr_status_t vp(pev_stream_t *s, const char *fmt, ...)
{
    va_list ap;
    apr_status_t rv;

    va_start(ap, fmt);
    rv = pev_stream_vprintf(s, fmt, ap);
    va_end(ap);
    return rv;
}

/* ======================================================================== */
/* Creating streams                                                          */

START_TEST(stream_create_on_socket)
{
    apr_pool_t *sp = pt_subpool(pt_pool), *sockpool = pt_subpool(pt_pool), *sp2;
    apr_socket_t *srv, *cli;
    pev_stream_t *s = NULL;
    sctx_t *c = ctx_new(1);
    pev_loop_stats_t st;

    tcp_pair(sp, pt_pool, 0, &srv, &cli);
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, &CB_ALL, c, sp), APR_SUCCESS);
    c->s = s;
    c->pool = sp;
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_eq(pev_stream_loop(s), LOOP);
    ck_assert_ptr_eq(pev_stream_pool(s), sp);
    ck_assert_ptr_eq(pev_stream_socket(s), srv);
    ck_assert_ptr_null(pev_stream_file(s));
    ck_assert(pev_stream_is_open(s));
    ck_assert_int_eq(pev_stream_close_reason(s), APR_SUCCESS);
    ck_assert(!pev_stream_eof(s));
    ck_assert_uint_eq(pev_stream_input_pending(s), 0);
    ck_assert_uint_eq(pev_stream_output_pending(s), 0);
    ck_assert_uint_eq(pev_waitevent_count(s), 0);
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.streams, 1);
    /* polled for input at once */
    c->fd = sock_fd(cli);
    peer_puts(c->fd, "hi\n");
    PUMP_UNTIL(c->nlines == 1);
    ck_assert_str_eq(c->line[0], "hi");

    /* a socket from an ancestor of the stream's pool is accepted */
    sp2 = pt_subpool(sockpool);
    c = ctx_new(2);
    tcp_pair(sockpool, pt_pool, 0, &srv, &cli);
    ck_assert_int_eq(pev_stream_create_socket(&c->s, LOOP, srv, NULL, NULL, sp2), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.streams, 2);
    peer_puts(sock_fd(cli), "x\n");
    PUMP_UNTIL(pev_stream_input_pending(c->s) == 2);        /* no callbacks: fine */
}
END_TEST

START_TEST(stream_create_on_pipe)
{
    apr_file_t *rd, *wr;
    sctx_t *c = ctx_new(1);

    c->pool = pt_subpool(pt_pool);
    pipe_pair(pt_pool, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(&c->s, LOOP, rd, &CB_ALL, c, c->pool),
                     APR_SUCCESS);
    ck_assert_ptr_eq(pev_stream_file(c->s), rd);
    ck_assert_ptr_null(pev_stream_socket(c->s));
    ck_assert_ptr_eq(pev_stream_pool(c->s), c->pool);
    ck_assert(pev_stream_is_open(c->s));
    ck_assert_int_eq(peer_send(file_fd(wr), "pipe\n", 5, 1), APR_SUCCESS);
    PUMP_UNTIL(c->nlines == 1);
    ck_assert_str_eq(c->line[0], "pipe");
}
END_TEST

START_TEST(stream_create_null_arguments_einval)
{
    apr_pool_t *sp = pt_subpool(pt_pool);
    apr_socket_t *srv, *cli;
    apr_file_t *rd, *wr;
    pev_stream_t *s;
    int eof;
    char buf[4];

    tcp_pair(sp, pt_pool, 0, &srv, &cli);
    ck_assert_int_eq(pev_stream_create_socket(NULL, LOOP, srv, &CB_ALL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_socket(&s, NULL, srv, &CB_ALL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, NULL, &CB_ALL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, &CB_ALL, NULL, NULL), APR_EINVAL);
    pipe_pair(sp, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(NULL, LOOP, rd, NULL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_file(&s, NULL, rd, NULL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_file(&s, LOOP, NULL, NULL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_file(&s, LOOP, rd, NULL, NULL, NULL), APR_EINVAL);
    /* the refused socket is still the caller's and still works */
    ck_assert_int_eq(peer_send(sock_fd(srv), "ok", 2, 0), APR_SUCCESS);
    ck_assert_uint_eq(peer_read(sock_fd(cli), buf, 2, &eof, 0), 2);
    ck_assert_int_eq(memcmp(buf, "ok", 2), 0);
    /* NULL callbacks: none */
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, NULL, NULL, sp), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_create_file(&s, LOOP, rd, NULL, NULL, sp), APR_SUCCESS);
}
END_TEST

/* The descriptor must come from the stream's pool or an ancestor: APR would
 * close it under the stream otherwise. */
START_TEST(stream_create_unrelated_pool_einval)
{
    apr_pool_t *sockpool = pt_subpool(pt_pool), *sp = pt_subpool(pt_pool);
    apr_pool_t *child = pt_subpool(sp);
    apr_socket_t *srv, *cli, *srv2, *cli2;
    apr_file_t *rd, *wr;
    pev_stream_t *s = NULL;
    char buf[4];
    int eof;

    tcp_pair(sockpool, pt_pool, 0, &srv, &cli);        /* a sibling's socket */
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, &CB_ALL, NULL, sp), APR_EINVAL);
    tcp_pair(child, pt_pool, 0, &srv2, &cli2);         /* a child's socket */
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv2, &CB_ALL, NULL, sp), APR_EINVAL);
    pipe_pair(sockpool, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(&s, LOOP, rd, NULL, NULL, sp), APR_EINVAL);
    /* refused: the stream's pool going does not close the caller's socket */
    apr_pool_destroy(sp);
    ck_assert_int_eq(peer_send(sock_fd(srv), "ok", 2, 0), APR_SUCCESS);
    ck_assert_uint_eq(peer_read(sock_fd(cli), buf, 2, &eof, 0), 2);
    ck_assert(!eof);
    ck_assert_int_eq(memcmp(buf, "ok", 2), 0);
}
END_TEST

START_TEST(stream_calls_null_arguments_einval)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    pev_stream_t *s = c->s;
    wact_t *a = wadd(c, 5000, 1, NULL);
    char *l, buf[8];
    apr_size_t n = sizeof buf;

    ck_assert_int_eq(pev_stream_set_callbacks(NULL, &CB_ALL, c), APR_EINVAL);
    ck_assert_int_eq(pev_stream_set_max_line(NULL, 10), APR_EINVAL);
    ck_assert_int_eq(pev_stream_set_max_line(s, 0), APR_EINVAL);
    ck_assert_int_eq(pev_stream_set_output_limit(NULL, 10), APR_EINVAL);
    ck_assert_int_eq(pev_stream_set_output_limit(s, 0), APR_EINVAL);
    ck_assert_int_eq(pev_stream_set_output_limit(s, (apr_size_t) -1), APR_EINVAL);
    ck_assert_int_eq(pev_stream_set_idle_timeout(NULL, 10), APR_EINVAL);
    ck_assert_int_eq(pev_stream_set_idle_timeout(s, -1), APR_EINVAL);
    ck_assert_int_eq(pev_stream_touch(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_stream_getline(NULL, &l, &n), APR_EINVAL);
    ck_assert_int_eq(pev_stream_getline(s, NULL, &n), APR_EINVAL);
    ck_assert_int_eq(pev_stream_getline(s, &l, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_stream_getline_wait(NULL, &l, &n, 0), APR_EINVAL);
    ck_assert_int_eq(pev_stream_read(NULL, buf, &n), APR_EINVAL);
    ck_assert_int_eq(pev_stream_write(NULL, "x", 1), APR_EINVAL);
    ck_assert_int_eq(pev_stream_printf(NULL, "%s", "x"), APR_EINVAL);
    ck_assert_int_eq(pev_stream_flush(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_stream_close(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_stream_abort(NULL), APR_EINVAL);
    ck_assert_uint_eq(pev_stream_input_pending(NULL), 0);
    ck_assert_uint_eq(pev_stream_output_pending(NULL), 0);
    ck_assert(!pev_stream_is_open(NULL));
    ck_assert(!pev_stream_eof(NULL));
    ck_assert_int_eq(pev_waitevent_remove(NULL, a->ev), APR_EINVAL);
    ck_assert_int_eq(pev_waitevent_remove(s, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_waitevent_set_mark(NULL, 5), APR_EINVAL);
    ck_assert_int_eq(pev_waitevent_mark(NULL), 0);
    ck_assert_uint_eq(pev_waitevent_count(NULL), 0);
    /* nothing was harmed */
    ck_assert(pev_stream_is_open(s));
    ck_assert_uint_eq(pev_waitevent_count(s), 1);
    ck_assert_int_eq(pev_waitevent_mark(a->ev), 5000);
    tick(5000);
    ck_assert_log(&LOG, 1);
}
END_TEST

/* ======================================================================== */
/* Input                                                                     */

START_TEST(read_callback_on_new_data)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    char *l, buf[16];
    apr_size_t n;

    c->take_lines = 0;
    pump(3);
    ck_assert_int_eq(c->reads, 0);                      /* no input, no call */
    peer_puts(c->fd, "abc");
    PUMP_UNTIL(c->reads >= 1);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 3);
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_EAGAIN);
    n = sizeof buf;
    ck_assert_int_eq(pev_stream_read(c->s, buf, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 0);
    ck_assert(pev_stream_is_open(c->s));
}
END_TEST

/* on_read is for new input: input left in the buffer does not call it again
 * and again. */
START_TEST(read_callback_not_repeated_without_new_input)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    c->take_lines = 0;
    peer_puts(c->fd, "left\n");
    PUMP_UNTIL(c->reads == 1);
    pump(5);
    ck_assert_int_eq(c->reads, 1);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 5);
    peer_puts(c->fd, "more\n");
    PUMP_UNTIL(c->reads == 2);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 10);
    c->take_lines = 1;
    peer_puts(c->fd, "x\n");
    PUMP_UNTIL(c->reads == 3);
    ck_assert_int_eq(c->nlines, 3);
    ck_assert_str_eq(c->line[0], "left");
    ck_assert_str_eq(c->line[1], "more");
    ck_assert_str_eq(c->line[2], "x");
}
END_TEST

START_TEST(getline_strips_lf_and_crlf_nul_terminated)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    static const char in[] = "one\ntwo\r\n\n\r\nthr\ree\r\nnul\0x\n";

    ck_assert_int_eq(peer_send(c->fd, in, sizeof in - 1, 1), APR_SUCCESS);
    PUMP_UNTIL(c->nlines == 6);
    ck_assert_uint_eq(c->len[0], 3);
    ck_assert_str_eq(c->line[0], "one");
    ck_assert_uint_eq(c->len[1], 3);
    ck_assert_str_eq(c->line[1], "two");                /* CRLF stripped */
    ck_assert_uint_eq(c->len[2], 0);
    ck_assert_uint_eq(c->len[3], 0);                    /* a bare CRLF */
    ck_assert_uint_eq(c->len[4], 6);
    ck_assert_str_eq(c->line[4], "thr\ree");            /* a lone CR is content */
    ck_assert_uint_eq(c->len[5], 5);                    /* NUL inside: len tells */
    ck_assert_int_eq(memcmp(c->line[5], "nul\0x", 5), 0);
    ck_assert_int_eq(c->last_get, APR_EAGAIN);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 0);
}
END_TEST

START_TEST(getline_several_lines_in_one_read)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    peer_puts(c->fd, "l1\nl2\r\nl3\n");
    PUMP_UNTIL(c->nlines == 3);
    ck_assert_int_eq(c->first_read_lines, 3);
    ck_assert_str_eq(c->line[0], "l1");
    ck_assert_str_eq(c->line[1], "l2");
    ck_assert_str_eq(c->line[2], "l3");
}
END_TEST

START_TEST(getline_line_split_over_reads)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    peer_puts(c->fd, "hel");
    PUMP_UNTIL(c->reads == 1);
    ck_assert_int_eq(c->nlines, 0);
    ck_assert_int_eq(c->last_get, APR_EAGAIN);
    peer_puts(c->fd, "lo wo");
    PUMP_UNTIL(c->reads == 2);
    ck_assert_int_eq(c->nlines, 0);
    peer_puts(c->fd, "rld\r");                          /* the CR may start a CRLF */
    PUMP_UNTIL(c->reads == 3);
    ck_assert_int_eq(c->nlines, 0);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 12);
    peer_puts(c->fd, "\nnext");
    PUMP_UNTIL(c->reads == 4);
    ck_assert_int_eq(c->nlines, 1);
    ck_assert_str_eq(c->line[0], "hello world");
    ck_assert_uint_eq(c->len[0], 11);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 4);
}
END_TEST

START_TEST(getline_incomplete_is_eagain)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    char *l = NULL;
    apr_size_t n = 99;

    c->take_lines = 0;
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_EAGAIN);     /* empty */
    peer_puts(c->fd, "partial");
    PUMP_UNTIL(c->reads == 1);
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_EAGAIN);
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_EAGAIN);     /* no side effect */
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 7);
    ck_assert(pev_stream_is_open(c->s));
    peer_puts(c->fd, "\n");
    PUMP_UNTIL(c->reads == 2);
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, 7);
    ck_assert_str_eq(l, "partial");
}
END_TEST

START_TEST(read_raw_bytes)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    static const char in[] = "a\0b\nc\r\n";
    char buf[100], *l;
    apr_size_t n;

    c->take_lines = 0;
    ck_assert_int_eq(peer_send(c->fd, in, sizeof in - 1, 1), APR_SUCCESS);
    PUMP_UNTIL(pev_stream_input_pending(c->s) == 7);
    n = 2;
    ck_assert_int_eq(pev_stream_read(c->s, buf, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(memcmp(buf, "a\0", 2), 0);
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_SUCCESS);   /* mixed with lines */
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(l, "b");
    n = sizeof buf;
    ck_assert_int_eq(pev_stream_read(c->s, buf, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(buf, "c\r\n", 3), 0);
    n = sizeof buf;
    ck_assert_int_eq(pev_stream_read(c->s, buf, &n), APR_EAGAIN);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 0);
}
END_TEST

/* ======================================================================== */
/* Maximum line                                                              */

START_TEST(max_line_exact_accepted_longer_closes_eline)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_set_max_line(c->s, 10), APR_SUCCESS);
    peer_puts(c->fd, "0123456789\r\n0123456789\n");
    PUMP_UNTIL(c->nlines == 2);
    ck_assert_uint_eq(c->len[0], 10);
    ck_assert_uint_eq(c->len[1], 10);
    /* max content plus a CR still waiting for its LF: max + 1 bytes, fine */
    peer_puts(c->fd, "0123456789\r");
    PUMP_UNTIL(pev_stream_input_pending(c->s) == 11);
    ck_assert(pev_stream_is_open(c->s));
    peer_puts(c->fd, "\n");
    PUMP_UNTIL(c->nlines == 3);
    ck_assert_str_eq(c->line[2], "0123456789");
    /* one more byte of content: the stream closes */
    peer_puts(c->fd, "01234567890\n");
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ELINE);
    ck_assert_int_eq(pev_stream_close_reason(c->s), PEV_ELINE);
    ck_assert_int_eq(c->nlines, 3);                     /* never delivered */
    ck_assert_uint_le(c->max_pending, 12);
    peer_expect_eof(c->fd, 1);
}
END_TEST

START_TEST(max_line_default_64k)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    apr_size_t max = PEV_STREAM_MAX_LINE_DEFAULT;
    char *buf = apr_palloc(pt_pool, max + 3);

    ck_assert_uint_eq(max, 65536);
    memset(buf, 'a', max);
    memcpy(buf + max, "\r\n", 2);
    ck_assert_int_eq(peer_send(c->fd, buf, max + 2, 1), APR_SUCCESS);
    PUMP_UNTIL(c->nlines == 1);
    ck_assert_uint_eq(c->len[0], max);
    ck_assert(pev_stream_is_open(c->s));
    memset(buf, 'b', max + 1);
    buf[max + 1] = '\n';
    (void) peer_send(c->fd, buf, max + 2, 1);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ELINE);
    ck_assert_int_eq(c->nlines, 1);
    ck_assert_uint_le(c->max_pending, max + 2);
}
END_TEST

/* An overlong line found by pev_stream_getline() called outside a callback:
 * the close callback runs from the loop, not from inside the call. */
START_TEST(getline_too_long_close_callback_from_loop)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    char *l;
    apr_size_t n;

    c->take_lines = 0;
    ck_assert_int_eq(pev_stream_set_max_line(c->s, 5), APR_SUCCESS);
    peer_puts(c->fd, "123456\n");                       /* max + 2 bytes, content 6 */
    PUMP_UNTIL(c->reads >= 1 || c->closes >= 1);
    if (c->closes == 0) {
        ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), PEV_ELINE);
        ck_assert_int_eq(c->closes, 0);
        pump(1);
        ck_assert_int_eq(c->closes, 1);
    }
    ck_assert_int_eq(c->reason, PEV_ELINE);
    ck_assert_int_eq(pev_stream_close_reason(c->s), PEV_ELINE);
    pump(3);
    ck_assert_int_eq(c->closes, 1);
}
END_TEST

START_TEST(set_max_line_rejects_below_buffered)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    c->take_lines = 0;
    peer_puts(c->fd, "abcdefgh");
    PUMP_UNTIL(pev_stream_input_pending(c->s) == 8);
    ck_assert_msg(pev_stream_set_max_line(c->s, 5) == APR_EINVAL,
                  "set_max_line(5) with 8 bytes buffered: more than max + 2 bytes "
                  "buffered must be APR_EINVAL");
    ck_assert_int_eq(pev_stream_set_max_line(c->s, 8), APR_SUCCESS);
    c->take_lines = 1;
    peer_puts(c->fd, "\n");
    PUMP_UNTIL(c->nlines == 1);
    ck_assert_str_eq(c->line[0], "abcdefgh");
    ck_assert(pev_stream_is_open(c->s));
}
END_TEST

static apr_size_t flood_bytes(void)
{
    return (apr_size_t) pt_env_long("POOLEV_FLOOD_BYTES", 4L << 20);
}

/* Megabytes without a LF: the input buffer stays within max + 2 and the
 * stream closes with PEV_ELINE (no unbounded buffering). */
START_TEST(input_buffer_bounded_flood_closes_eline)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    apr_size_t n = flood_bytes();
    char *buf = malloc(n);

    ck_assert_ptr_nonnull(buf);
    memset(buf, 'x', n);
    ck_assert_int_eq(pev_stream_set_max_line(c->s, 1000), APR_SUCCESS);
    (void) peer_send(c->fd, buf, n, 1);                 /* stops when the stream goes */
    free(buf);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ELINE);
    ck_assert_int_eq(c->nlines, 0);
    ck_assert_msg(c->max_pending <= 1002, "buffered %lu bytes, max line 1000",
                  (unsigned long) c->max_pending);
}
END_TEST

/* The same bound with nobody taking input, at the default maximum. */
START_TEST(input_buffer_bounded_without_consumer)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    apr_size_t n = flood_bytes();
    char *buf = malloc(n);

    ck_assert_ptr_nonnull(buf);
    memset(buf, 'y', n);
    c->take_lines = 0;
    (void) peer_send(c->fd, buf, n, 1);
    free(buf);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ELINE);
    ck_assert_msg(c->max_pending <= PEV_STREAM_MAX_LINE_DEFAULT + 2,
                  "buffered %lu bytes", (unsigned long) c->max_pending);
}
END_TEST

/* A paused stream reads nothing, notices no end of input and keeps what it
 * had buffered; output still goes out. Resuming reads what waited in the
 * kernel. */
START_TEST(pause_input_stops_reading_until_resumed)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    peer_puts(c->fd, "one\n");
    PUMP_UNTIL(c->nlines == 1);
    c->take_lines = 0;
    peer_puts(c->fd, "kept");
    PUMP_UNTIL(pev_stream_input_pending(c->s) == 4);
    ck_assert_int_eq(pev_stream_pause_input(c->s, 1), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_pause_input(c->s, 1), APR_SUCCESS);    /* idempotent */
    peer_puts(c->fd, "\ntwo\n");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    ck_assert_int_eq(vp(c->s, "out\n"), APR_SUCCESS);
    pump(5);
    peer_expect(c->fd, "out\n");
    ck_assert_int_eq(c->reads, 2);                      /* nothing new read */
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 4);
    ck_assert(!pev_stream_eof(c->s));
    ck_assert(pev_stream_is_open(c->s));
    c->take_lines = 1;
    ck_assert_int_eq(pev_stream_pause_input(c->s, 0), APR_SUCCESS);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_eq(c->nlines, 3);
    ck_assert_str_eq(c->line[1], "kept");
    ck_assert_str_eq(c->line[2], "two");
    ck_assert_int_eq(pev_stream_pause_input(c->s, 1), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_pause_input(NULL, 1), APR_EINVAL);
}
END_TEST

/* ======================================================================== */
/* End of input                                                              */

START_TEST(eof_closes_with_last_line_delivered)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    char *l;
    apr_size_t n;
    apr_status_t rv;

    peer_puts(c->fd, "a\nlast");
    PUMP_UNTIL(c->nlines == 1 && pev_stream_input_pending(c->s) == 4);
    ck_assert(!pev_stream_eof(c->s));
    ck_assert_int_eq(c->line_eof[0], 0);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_eq(pev_stream_close_reason(c->s), APR_EOF);
    ck_assert(pev_stream_eof(c->s));
    /* the unterminated line came as a line, in on_read, with eof true,
     * before the close callback */
    ck_assert_int_eq(c->nlines, 2);
    ck_assert_str_eq(c->line[1], "last");
    ck_assert_uint_eq(c->len[1], 4);
    ck_assert_int_eq(c->line_eof[1], 1);
    ck_assert_msg(c->last_get == APR_EOF || c->last_get == PEV_ECLOSED,
                  "getline after the last line: %d", c->last_get);
    rv = pev_stream_getline(c->s, &l, &n);
    ck_assert_msg(rv == APR_EOF || rv == PEV_ECLOSED, "getline after close: %d", rv);
    ck_assert_int_eq(pev_stream_write(c->s, "x", 1), PEV_ECLOSED);
    peer_expect_eof(c->fd, 1);
}
END_TEST

/* The peer half-closes after its request: the reply written in on_read is
 * still sent before the stream closes with APR_EOF. */
static void reply_ok(sctx_t *c)
{
    if (c->nlines && !c->st) {
        c->st = 1;
        ck_assert_int_eq(pev_stream_printf(c->s, "OK %s\n", c->line[c->nlines - 1]),
                         APR_SUCCESS);
    }
}

START_TEST(eof_sends_output_written_so_far)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    c->read_action = reply_ok;
    peer_puts(c->fd, "req\n");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    peer_expect(c->fd, "OK req\n");
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_uint_eq(peer_expect_eof(c->fd, 1), 0);
}
END_TEST

/* A server that answers each line with an answer_size-byte reply (100 by
 * default); a refused reply is kept (in p1) and sent from on_drain, before
 * the next line is taken. */
static apr_size_t answer_size = 100;

static void answer_lines(sctx_t *c)
{
    char *l;
    apr_size_t n;

    for (;;) {
        if (c->p1) {
            if (pev_stream_write(c->s, c->p1, answer_size) != APR_SUCCESS)
                return;
            c->p1 = NULL;
            c->nlines++;
        }
        if (pev_stream_getline(c->s, &l, &n) != APR_SUCCESS)
            return;
        c->p1 = apr_psprintf(pt_pool, "%-*s\n", (int) answer_size - 1, l);
    }
}

/* A pipelining peer half-closes with more requests buffered than the output
 * limit lets the server answer at once: the stream stays open for output
 * until every line was answered, then closes with APR_EOF. */
START_TEST(eof_waits_for_lines_left_behind_a_full_output)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    char req[64 * 8], want[64 * 100 + 1], got[64 * 100 + 1];
    apr_size_t off = 0, n;
    int i, eof;

    c->take_lines = 0;
    c->read_action = answer_lines;
    c->drain_action = answer_lines;
    ck_assert_int_eq(pev_stream_set_output_limit(c->s, 256), APR_SUCCESS);
    for (i = 0; i < 64; i++) {
        off += (apr_size_t) snprintf(req + off, sizeof req - off, "r%02d\n", i);
        snprintf(want + i * 100, sizeof want - (apr_size_t) i * 100, "%-99s\n",
                 apr_psprintf(pt_pool, "r%02d", i));
    }
    ck_assert_int_eq(peer_send(c->fd, req, off, 1), APR_SUCCESS);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    n = peer_read(c->fd, got, sizeof got - 1, &eof, 1);
    got[n] = '\0';
    ck_assert_msg(n == 6400 && memcmp(got, want, 6400) == 0,
                  "peer read %lu of 6400 bytes of replies", (unsigned long) n);
    ck_assert_uint_eq(peer_expect_eof(c->fd, 1), 0);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_eq(c->nlines, 64);
    ck_assert_int_ge(c->drains, 10);
}
END_TEST

/* The same when the refused reply answers the last line: no line is left,
 * but the reply still waits for room, and the end of input does not drop it. */
START_TEST(eof_waits_for_the_last_reply)
{
    sctx_t *c = sock_stream(1, NULL, FILL);  /* the peer reads nothing yet */
    static char got[3 * 65536 + 1];
    apr_size_t n;
    int eof;

    answer_size = 65536;
    c->take_lines = 0;
    c->read_action = answer_lines;
    c->drain_action = answer_lines;
    ck_assert_int_eq(pev_stream_set_output_limit(c->s, 160 * 1024), APR_SUCCESS);
    peer_puts(c->fd, "a\nb\nc\n");
    PUMP_UNTIL(c->p1 != NULL);              /* c's reply waits for room */
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 0);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    pump(5);                                /* the end of input is read */
    ck_assert_int_eq(c->closes, 0);
    peer_skip_filler(c);
    n = peer_read(c->fd, got, 3 * 65536, &eof, 1);
    answer_size = 100;
    ck_assert_uint_eq(n, 3 * 65536);
    ck_assert_int_eq(got[2 * 65536], 'c');
    ck_assert_uint_eq(peer_expect_eof(c->fd, 1), 0);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
}
END_TEST

/* Held open after the end of input, a stream whose owner leaves its lines
 * without waiting for room again closes at the next drain. */
static void answer_one_then_stop(sctx_t *c)
{
    if (c->drains == 0)
        answer_lines(c);
    else if (c->p1 && pev_stream_write(c->s, c->p1, 100) == APR_SUCCESS) {
        c->p1 = NULL;
        c->nlines++;
    }
}

START_TEST(eof_hold_ends_when_owner_stops_waiting)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    char req[64 * 8];
    apr_size_t off = 0;
    int i;

    c->take_lines = 0;
    c->read_action = answer_one_then_stop;
    c->drain_action = answer_one_then_stop;
    ck_assert_int_eq(pev_stream_set_output_limit(c->s, 256), APR_SUCCESS);
    for (i = 0; i < 64; i++)
        off += (apr_size_t) snprintf(req + off, sizeof req - off, "r%02d\n", i);
    ck_assert_int_eq(peer_send(c->fd, req, off, 1), APR_SUCCESS);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    ck_assert_uint_eq(peer_expect_eof(c->fd, 1), 300);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_eq(c->nlines, 3);
}
END_TEST

/* ======================================================================== */
/* Output                                                                    */

START_TEST(write_and_printf_reach_peer)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_write(c->s, "hello ", 6), APR_SUCCESS);
    ck_assert_uint_eq(pev_stream_output_pending(c->s), 6);
    ck_assert_int_eq(pev_stream_printf(c->s, "%d-%s\n", 42, "x"), APR_SUCCESS);
    ck_assert_uint_eq(pev_stream_output_pending(c->s), 11);
    ck_assert_int_eq(vp(c->s, "v%c", '!'), APR_SUCCESS);
    ck_assert_uint_eq(pev_stream_output_pending(c->s), 13);
    peer_expect(c->fd, "hello 42-x\nv!");
    PUMP_UNTIL(pev_stream_output_pending(c->s) == 0);
    ck_assert_int_eq(c->drains, 0);                     /* nothing was refused */
    ck_assert(pev_stream_is_open(c->s));
}
END_TEST

START_TEST(flush_sends_without_loop)
{
    sctx_t *c = sock_stream(1, NULL, 0), *full = sock_stream(2, NULL, FILL);

    ck_assert_int_eq(pev_stream_write(c->s, "abc", 3), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_flush(c->s), APR_SUCCESS);
    ck_assert_uint_eq(pev_stream_output_pending(c->s), 0);
    peer_expect(c->fd, "abc");
    ck_assert_int_eq(pev_stream_flush(c->s), APR_SUCCESS);       /* nothing to send */

    ck_assert_int_eq(pev_stream_write(full->s, "abc", 3), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_flush(full->s), APR_EAGAIN);
    ck_assert_uint_eq(pev_stream_output_pending(full->s), 3);
    peer_skip_filler(full);
    peer_expect(full->fd, "abc");
}
END_TEST

/* The peer does not read and the kernel is full: writes beyond the limit are
 * refused whole; a chunk larger than the limit is APR_ENOSPC. */
START_TEST(output_limit_all_or_nothing)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    pev_stream_t *s = c->s;
    char buf[2000], big[402];

    memset(buf, 'o', sizeof buf);
    memset(big, 'p', sizeof big);
    big[401] = 0;
    ck_assert_int_eq(pev_stream_set_output_limit(s, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(s, buf, 1001), APR_ENOSPC);
    ck_assert_uint_eq(pev_stream_output_pending(s), 0);
    ck_assert_int_eq(pev_stream_write(s, buf, 600), APR_SUCCESS);
    pump(3);
    ck_assert_uint_eq(pev_stream_output_pending(s), 600);        /* the kernel is full */
    ck_assert_int_eq(pev_stream_write(s, buf, 401), PEV_EFULL);
    ck_assert_uint_eq(pev_stream_output_pending(s), 600);        /* nothing appended */
    ck_assert_int_eq(pev_stream_printf(s, "%s", big), PEV_EFULL);
    ck_assert_uint_eq(pev_stream_output_pending(s), 600);
    ck_assert_int_eq(pev_stream_write(s, buf, 400), APR_SUCCESS);   /* exactly the limit */
    ck_assert_uint_eq(pev_stream_output_pending(s), 1000);
    ck_assert_int_eq(pev_stream_write(s, buf, 1), PEV_EFULL);
    ck_assert_int_eq(pev_stream_write(s, buf, 1001), APR_ENOSPC);
    ck_assert_uint_eq(pev_stream_output_pending(s), 1000);
    ck_assert(pev_stream_is_open(s));
    /* the peer gets exactly what was accepted */
    peer_skip_filler(c);
    {
        char got[1001];
        int eof;
        ck_assert_uint_eq(peer_read(c->fd, got, 1000, &eof, 1), 1000);
        ck_assert_int_eq(memcmp(got, buf, 1000), 0);
        pump(3);
        ck_assert(peer_idle(c->fd));
    }
}
END_TEST

/* A limit lowered below the output already pending: every write is refused
 * until the output drains (never appended beyond the limit). */
START_TEST(output_limit_lowered_below_pending_refuses)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    char buf[1000];

    memset(buf, 'l', sizeof buf);
    ck_assert_int_eq(pev_stream_write(c->s, buf, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_set_output_limit(c->s, 500), APR_SUCCESS);
    ck_assert_msg(pev_stream_write(c->s, buf, 1) == PEV_EFULL,
                  "a write with 1000 bytes pending and a limit of 500 was not refused");
    ck_assert_int_eq(pev_stream_write(c->s, buf, 500), PEV_EFULL);
    ck_assert_int_eq(pev_stream_printf(c->s, "%s", "x"), PEV_EFULL);
    ck_assert_uint_eq(pev_stream_output_pending(c->s), 1000);
    peer_skip_filler(c);
    PUMP_UNTIL(c->drains == 1);
    ck_assert_uint_le(c->drain_seen, 250);
}
END_TEST

/* After a refusal, on_drain runs once, when the unsent output has fallen to
 * half the limit; never without a refusal. */
START_TEST(drain_runs_once_at_half_limit)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    pev_stream_t *s = c->s;
    char buf[1000], got[1000];
    int eof;

    pattern(buf, sizeof buf, 0);
    ck_assert_int_eq(pev_stream_set_output_limit(s, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(s, buf, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(s, buf, 1), PEV_EFULL);
    ck_assert_int_eq(pev_stream_write(s, buf, 1), PEV_EFULL);    /* twice: still one drain */
    pump(3);
    ck_assert_int_eq(c->drains, 0);                     /* nothing drained yet */
    peer_skip_filler(c);
    ck_assert_uint_eq(peer_read(c->fd, got, 1000, &eof, 1), 1000);
    ck_assert_int_eq(memcmp(got, buf, 1000), 0);
    PUMP_UNTIL(c->drains == 1);
    ck_assert_uint_le(c->drain_seen, 500);
    pump(5);
    ck_assert_int_eq(c->drains, 1);
    /* writes that fit: no drain */
    ck_assert_int_eq(pev_stream_write(s, buf, 700), APR_SUCCESS);
    ck_assert_uint_eq(peer_read(c->fd, got, 700, &eof, 1), 700);
    PUMP_UNTIL(pev_stream_output_pending(s) == 0);
    pump(3);
    ck_assert_int_eq(c->drains, 1);
    ck_assert(pev_stream_is_open(s));
}
END_TEST

/* ======================================================================== */
/* Closing                                                                   */

START_TEST(close_flushes_output_then_eof)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    apr_size_t n = 100000;
    char *out = apr_palloc(pt_pool, n), *got = apr_palloc(pt_pool, n);
    int eof;

    pattern(out, n, 0);
    ck_assert_int_eq(pev_stream_write(c->s, out, n), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    ck_assert_int_eq(c->closes, 0);                     /* never from inside a call */
    ck_assert(!pev_stream_is_open(c->s));
    ck_assert_int_eq(pev_stream_write(c->s, "x", 1), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_printf(c->s, "%s", "x"), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_close(c->s), PEV_ECLOSED);
    pump(3);
    ck_assert_int_eq(c->closes, 0);                     /* output still pending */
    ck_assert_uint_gt(pev_stream_output_pending(c->s), 0);
    peer_skip_filler(c);
    ck_assert_uint_eq(peer_read(c->fd, got, n, &eof, 1), n);
    ck_assert_int_eq(memcmp(got, out, n), 0);
    peer_expect_eof(c->fd, 1);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_int_eq(c->reads, 0);
}
END_TEST

/* Input stops at once at pev_stream_close(); the peer's input that nobody
 * will read must not cost it the output: the peer still receives all of it,
 * then the end. (close(2) on a socket with unread input sends a RST, which
 * discards what the kernel has not sent yet: the stream has to drain or
 * shut down first, as a "lingering close" does.) */
START_TEST(close_delivers_output_despite_unread_input)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    apr_size_t n = 100000, got = 0;
    char *out = apr_palloc(pt_pool, n), *in = apr_palloc(pt_pool, n);
    int eof = 0;

    pattern(out, n, 0);
    ck_assert_int_eq(pev_stream_write(c->s, out, n), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    peer_puts(c->fd, "late\n");                         /* e.g. pipelined after QUIT */
    pump(3);
    ck_assert_int_eq(c->reads, 0);                      /* input stopped */
    /* read until the stream has handed its last byte to the kernel, then let
     * it close before reading the rest */
    peer_skip_filler(c);
    while (pev_stream_output_pending(c->s) > 0 && !eof)
        got += peer_read(c->fd, in + got, n - got < 512 ? n - got : 512, &eof, 1);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    if (!eof)
        got += peer_read(c->fd, in + got, n - got, &eof, 0);
    ck_assert_msg(got == n, "the peer received %lu of %lu bytes written before "
                  "pev_stream_close()", (unsigned long) got, (unsigned long) n);
    ck_assert_int_eq(memcmp(in, out, n), 0);
    peer_expect_eof(c->fd, 0);
}
END_TEST

/* A closing stream whose peer never reads gives up at the idle timeout. */
START_TEST(close_pending_output_ends_at_idle_timeout)
{
    sctx_t *c = sock_stream(1, NULL, FILL | NO_IDLE_CB);
    char buf[5000];

    memset(buf, 'z', sizeof buf);
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(c->s, buf, sizeof buf), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    tick(1500);
    tick(1999);
    ck_assert_int_eq(c->closes, 0);
    tick(2000);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_msg(c->reason == PEV_ECLOSED || c->reason == APR_TIMEUP,
                  "close reason %d", c->reason);
    peer_expect_eof(c->fd, 0);
}
END_TEST

START_TEST(abort_discards_output_closes_at_once)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    apr_size_t n = 100000, got;
    char *out = apr_palloc(pt_pool, n);

    pattern(out, n, 0);
    ck_assert_int_eq(pev_stream_write(c->s, out, n), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_abort(c->s), APR_SUCCESS);
    ck_assert_int_eq(c->closes, 0);                     /* from the loop, later */
    ck_assert(!pev_stream_is_open(c->s));
    ck_assert_uint_eq(pev_stream_output_pending(c->s), 0);
    /* the descriptor is closed at once: the peer sees the end without the
     * loop running, and not the discarded output */
    got = peer_expect_eof(c->fd, 0);
    ck_assert_uint_lt(got, c->filled + n);
    pump(1);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_abort(c->s), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_close(c->s), PEV_ECLOSED);
    pump(3);
    ck_assert_int_eq(c->closes, 1);
}
END_TEST

START_TEST(abort_finishes_pending_close)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    char buf[50000];

    memset(buf, 'q', sizeof buf);
    ck_assert_int_eq(pev_stream_write(c->s, buf, sizeof buf), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    pump(2);
    ck_assert_int_eq(c->closes, 0);
    ck_assert_int_eq(pev_stream_abort(c->s), APR_SUCCESS);       /* closing: succeeds */
    ck_assert_uint_lt(peer_expect_eof(c->fd, 0), c->filled + sizeof buf);
    pump(1);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
}
END_TEST

/* After the close callback, nothing: no read, drain, idle or wait event. */
START_TEST(close_callback_once_then_no_callback)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    pev_stream_t *s = c->s;
    char buf[100];
    pev_loop_stats_t st;

    memset(buf, 'd', sizeof buf);
    ck_assert_int_eq(pev_stream_set_idle_timeout(s, 1000), APR_SUCCESS);
    wadd(c, 1500, 1, NULL);
    wadd(c, 2500, 2, NULL);
    ck_assert_int_eq(pev_stream_set_output_limit(s, 100), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(s, buf, 100), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(s, buf, 1), PEV_EFULL);    /* a drain is owed */
    ck_assert_int_eq(pev_stream_abort(s), APR_SUCCESS);
    ck_assert_uint_eq(pev_waitevent_count(s), 0);       /* cancelled at once */
    pump(1);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.streams, 0);
    (void) peer_send(c->fd, "data\n", 5, 0);
    peer_expect_eof(c->fd, 1);
    tick(1500);
    tick(2000);
    tick(2500);
    tick(100000);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reads + c->drains + c->idles, 0);
    ck_assert_int_eq(LOG.n, 0);
}
END_TEST

/* Input end, idle deadline and wait events all due in one iteration: whatever
 * runs first, nothing of the stream runs after its close callback. */
START_TEST(no_callback_after_close_in_same_iteration)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    wadd(c, 2000, 1, NULL);
    wadd(c, 2000, 2, NULL);
    peer_puts(c->fd, "x\n");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    wait_readable(c->srv_fd);
    tick(2000);
    PUMP_UNTIL(c->closes == 1);
    tick(3000);
    tick(10000);
    ck_assert_int_eq(c->closes, 1);
}
END_TEST

START_TEST(closed_stream_calls_return_eclosed)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    pev_stream_t *s = c->s;
    pev_waitevent_t *ev = NULL;
    char *l, buf[16];
    apr_size_t n;

    ck_assert_int_eq(pev_stream_close(s), APR_SUCCESS);
    /* closing */
    ck_assert_int_eq(pev_stream_write(s, "x", 1), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_close(s), PEV_ECLOSED);
    pump(1);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    /* closed */
    ck_assert(!pev_stream_is_open(s));
    ck_assert_int_eq(pev_stream_close_reason(s), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_write(s, "x", 1), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_printf(s, "%d", 1), PEV_ECLOSED);
    ck_assert_int_eq(vp(s, "%d", 1), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_flush(s), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_close(s), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_abort(s), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_set_max_line(s, 100), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_set_output_limit(s, 100), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_set_idle_timeout(s, 100), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_touch(s), PEV_ECLOSED);
    ck_assert_int_eq(pev_waitevent_add(&ev, s, 5000, on_wait, NULL), PEV_ECLOSED);
    ck_assert_uint_eq(pev_waitevent_count(s), 0);
    ck_assert_uint_eq(pev_stream_output_pending(s), 0);
    ck_assert_int_eq(pev_stream_getline(s, &l, &n), PEV_ECLOSED);
    n = sizeof buf;
    ck_assert_int_eq(pev_stream_read(s, buf, &n), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_getline_wait(s, &l, &n, 0), PEV_ECLOSED);
    pump(2);
    ck_assert_int_eq(c->closes, 1);
}
END_TEST

/* After the peer's EOF, input nobody took stays: it can be taken after the
 * close, from the close callback or later. */
static void take_in_close(sctx_t *c)
{
    take_lines(c);
}

START_TEST(closed_stream_input_after_eof_can_be_taken)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    char *l, buf[16];
    apr_size_t n;

    c->take_lines = 0;
    c->close_action = take_in_close;
    peer_puts(c->fd, "one\ntwo\nrest");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_eq(c->nlines, 3);                     /* taken in on_close */
    ck_assert_str_eq(c->line[0], "one");
    ck_assert_str_eq(c->line[2], "rest");
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_EOF);

    c = sock_stream(2, NULL, 0);
    c->take_lines = 0;
    peer_puts(c->fd, "kept\nrest");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_SUCCESS);   /* after it */
    ck_assert_str_eq(l, "kept");
    n = 2;
    ck_assert_int_eq(pev_stream_read(c->s, buf, &n), APR_SUCCESS);
    ck_assert_int_eq(memcmp(buf, "re", 2), 0);
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_SUCCESS);   /* the tail */
    ck_assert_str_eq(l, "st");
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_EOF);
}
END_TEST

/* "The line stays valid until the next input call on the stream or until
 * the callback returns to the loop": closing the stream is neither. */
static void take_abort_use(sctx_t *c)
{
    char *l;
    apr_size_t n;

    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_abort(c->s), APR_SUCCESS);
    scribble();
    ck_assert_msg(n == 5 && memcmp(l, "hello", 6) == 0,
                  "the line changed under the callback after pev_stream_abort()");
    c->st = APR_SUCCESS;
}

START_TEST(line_valid_after_abort_in_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    c->take_lines = 0;
    c->st = -1;
    c->read_action = take_abort_use;
    peer_puts(c->fd, "hello\nworld\n");
    PUMP_UNTIL(c->reads == 1);
    ck_assert_int_eq(c->st, APR_SUCCESS);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
}
END_TEST

/* Lowering the maximum from a callback does not move the buffer under a
 * line the callback holds (the next fill shrinks it). */
static void take_shrink_use(sctx_t *c)
{
    char *l, *l2;
    apr_size_t n, n2;

    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_set_max_line(c->s, 25), APR_SUCCESS);
    scribble();
    ck_assert_msg(n == 11 && memcmp(l, "LOGIN alice", 12) == 0,
                  "the line changed under the callback after pev_stream_set_max_line()");
    ck_assert_int_eq(pev_stream_getline(c->s, &l2, &n2), APR_SUCCESS);
    ck_assert_msg(n2 == 20 && memcmp(l2, "NEXT COMMAND IS HERE", 21) == 0,
                  "the next line changed after pev_stream_set_max_line()");
    c->st = APR_SUCCESS;
}

START_TEST(line_valid_after_set_max_line_in_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    c->take_lines = 0;
    c->st = -1;
    c->read_action = take_shrink_use;
    peer_puts(c->fd, "LOGIN alice\nNEXT COMMAND IS HERE\n");
    PUMP_UNTIL(c->reads == 1);
    ck_assert_int_eq(c->st, APR_SUCCESS);
    /* the lowered maximum holds from the next read on */
    c->read_action = NULL;
    c->take_lines = 1;
    peer_puts(c->fd, "0123456789012345678901234567890\n");
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ELINE);
}
END_TEST

/* A stream whose pool outlives the loop: a callback that destroys the loop
 * still holds a valid line (the buffer goes with the stream's pool). */
static apr_pool_t *ORPHAN_LOOP_POOL;
static int ORPHAN_OK;

static void orphan_read(pev_stream_t *s, void *baton)
{
    char *l;
    apr_size_t n;

    (void) baton;
    ck_assert_int_eq(pev_stream_getline(s, &l, &n), APR_SUCCESS);
    apr_pool_destroy(ORPHAN_LOOP_POOL);
    scribble();
    ck_assert_msg(n == 8 && memcmp(l, "SHUTDOWN", 9) == 0,
                  "the line changed after the loop was destroyed");
    ck_assert_int_eq(pev_stream_getline(s, &l, &n), PEV_EDESTROYED);
    ORPHAN_OK = 1;
}

START_TEST(line_valid_after_loop_destroyed_in_callback)
{
    static const pev_stream_callbacks_t cb = { orphan_read, NULL, NULL, NULL };
    apr_pool_t *sp = pt_subpool(pt_pool);
    apr_socket_t *srv, *cli;
    pev_loop_t *loop;
    pev_stream_t *s;
    int i;

    ORPHAN_LOOP_POOL = pt_subpool(pt_pool);
    ORPHAN_OK = 0;
    ck_assert_int_eq(pev_loop_create(&loop, ORPHAN_LOOP_POOL), APR_SUCCESS);
    tcp_pair(sp, pt_pool, 0, &srv, &cli);
    ck_assert_int_eq(pev_stream_create_socket(&s, loop, srv, &cb, NULL, sp), APR_SUCCESS);
    peer_puts(sock_fd(cli), "SHUTDOWN\nmore\n");
    for (i = 0; i < PUMP_MAX && !ORPHAN_OK; i++) {
        apr_status_t st = pev_loop_run_once(loop, 1000);

        if (st == PEV_EDESTROYED)
            break;
        ck_assert_int_eq(st, APR_SUCCESS);
    }
    ck_assert(ORPHAN_OK);
    ck_assert(!pev_stream_is_open(s));
    apr_pool_destroy(sp);       /* frees the buffer */
}
END_TEST

/* on_idle writes a goodbye and closes: the closing stream still ends at the
 * idle timeout if the peer never reads. */
static int idle_bye_close(sctx_t *c)
{
    ck_assert_int_eq(pev_stream_write(c->s, "bye\n", 4), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    return 0;
}

START_TEST(close_from_on_idle_ends_at_timeout)
{
    sctx_t *c = sock_stream(1, NULL, FILL);

    c->idle_action = idle_bye_close;
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    tick(2000);
    ck_assert_int_eq(c->idles, 1);
    ck_assert_int_eq(c->closes, 0);
    ck_assert_uint_gt(pev_stream_output_pending(c->s), 0);
    tick(2999);
    ck_assert_int_eq(c->closes, 0);
    tick(3000);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
    ck_assert_int_eq(c->idles, 1);
}
END_TEST

START_TEST(set_callbacks_replaces_for_next_callback)
{
    sctx_t *c1 = sock_stream(1, NULL, 0), *c2 = ctx_new(2);

    c2->s = c1->s;
    ck_assert_int_eq(pev_stream_set_callbacks(c1->s, &CB_ALL, c2), APR_SUCCESS);
    peer_puts(c1->fd, "x\n");
    PUMP_UNTIL(c2->nlines == 1);
    ck_assert_int_eq(c1->reads, 0);
    ck_assert_int_eq(pev_stream_set_callbacks(c1->s, NULL, NULL), APR_SUCCESS);   /* none */
    peer_puts(c1->fd, "y\n");
    PUMP_UNTIL(pev_stream_input_pending(c1->s) == 2);
    ck_assert_int_eq(c2->reads, 1);
    ck_assert_int_eq(pev_stream_abort(c1->s), APR_SUCCESS);
    pump(2);
    ck_assert_int_eq(c1->closes + c2->closes, 0);
}
END_TEST

/* ======================================================================== */
/* Pools                                                                     */

/* Destroying the stream's pool closes the descriptor, cancels the idle timer
 * and the wait events, and runs no callback. */
START_TEST(pool_destroy_closes_descriptor_silently)
{
    apr_size_t base = timers_armed();
    pev_loop_stats_t st;
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    wadd(c, 1500, 1, NULL);
    wadd(c, 1500, 2, NULL);
    ck_assert_int_eq(pev_stream_write(c->s, "pending", 7), APR_SUCCESS);
    destroy_own_pool(c);
    ck_assert_uint_eq(timers_armed(), base);
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.streams, 0);
    peer_expect_eof(c->fd, 0);                          /* without the loop */
    (void) peer_send(c->fd, "x\n", 2, 0);
    tick(1500);
    tick(2000);
    tick(100000);
    ck_assert_int_eq(c->reads + c->closes + c->idles + c->drains, 0);
    ck_assert_int_eq(LOG.n, 0);
}
END_TEST

/* The stream closed the socket's descriptor. Put a pipe on that number:
 * APR's own cleanup of the socket's (ancestor) pool must not close it a
 * second time (the stream has to close through APR, not close(2)). */
static void check_not_closed_twice(apr_pool_t *sockpool, int oldfd)
{
    int p[2];
    char b = 0;

    ck_assert_msg(fcntl(oldfd, F_GETFD) == -1, "the stream did not close fd %d", oldfd);
    ck_assert_int_eq(pipe(p), 0);
    if (p[1] == oldfd) {                                /* keep the number for the reader */
        p[1] = fcntl(p[1], F_DUPFD, oldfd + 1);
        ck_assert_int_ne(p[1], -1);
    }
    if (p[0] != oldfd) {
        ck_assert_int_eq(dup2(p[0], oldfd), oldfd);
        close(p[0]);
    }
    apr_pool_destroy(sockpool);
    ck_assert_msg(fcntl(oldfd, F_GETFD) != -1, "fd %d was closed twice", oldfd);
    ck_assert_int_eq(write(p[1], "k", 1), 1);
    ck_assert_int_eq(read(oldfd, &b, 1), 1);
    ck_assert_int_eq(b, 'k');
    close(oldfd);
    close(p[1]);
}

START_TEST(stream_closes_descriptor_once)
{
    apr_pool_t *sockpool = pt_subpool(pt_pool), *sp = pt_subpool(sockpool);
    apr_socket_t *srv, *cli;
    pev_stream_t *s;
    int fd;

    /* closed by the pool going */
    tcp_pair(sockpool, pt_pool, 0, &srv, &cli);
    fd = sock_fd(srv);
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, NULL, NULL, sp), APR_SUCCESS);
    apr_pool_destroy(sp);
    peer_expect_eof(sock_fd(cli), 0);
    check_not_closed_twice(sockpool, fd);

    /* closed by abort */
    sockpool = pt_subpool(pt_pool);
    sp = pt_subpool(sockpool);
    tcp_pair(sockpool, pt_pool, 0, &srv, &cli);
    fd = sock_fd(srv);
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, NULL, NULL, sp), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_abort(s), APR_SUCCESS);
    pump(1);
    peer_expect_eof(sock_fd(cli), 0);
    check_not_closed_twice(sockpool, fd);
}
END_TEST

START_TEST(pool_destroy_in_read_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    wadd(c, 1000, 1, NULL);                             /* due: must not fire after */
    c->read_action = destroy_own_pool;   /* after taking the lines */
    peer_puts(c->fd, "x\nmore\n");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PUMP_UNTIL(c->destroyed);
    ck_assert_int_eq(c->reads, 1);
    ck_assert_int_ge(c->nlines, 1);
    peer_expect_eof(c->fd, 1);
    tick(5000);
    ck_assert_int_eq(c->reads, 1);
    ck_assert_int_eq(c->closes, 0);
    ck_assert_int_le(LOG.n, 1);
}
END_TEST

START_TEST(pool_destroy_in_close_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0), *c2 = sock_stream(2, NULL, 0);

    c->close_action = destroy_own_pool;
    peer_puts(c->fd, "tail");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PUMP_UNTIL(c->destroyed);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    /* the same after pev_stream_close() with output pending */
    c2->close_action = destroy_own_pool;
    ck_assert_int_eq(pev_stream_write(c2->s, "bye\n", 4), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c2->s), APR_SUCCESS);
    peer_expect(c2->fd, "bye\n");
    PUMP_UNTIL(c2->destroyed);
    ck_assert_int_eq(c2->reason, PEV_ECLOSED);
    peer_expect_eof(c2->fd, 1);
    pump(3);
}
END_TEST

static pev_waitevent_t *w_destroy_own_pool(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    (void) s;
    destroy_own_pool(a->c);
    return ev;                                          /* ignored now */
}

START_TEST(pool_destroy_in_wait_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    wadd(c, 1500, 1, w_destroy_own_pool);
    wadd(c, 1500, 2, NULL);
    wadd(c, 1600, 3, NULL);
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 600), APR_SUCCESS);   /* due too */
    ck_assert_int_eq(pev_stream_write(c->s, "out", 3), APR_SUCCESS);
    tick(1600);
    ck_assert_log(&LOG, 1);
    ck_assert(c->destroyed);
    peer_expect_eof(c->fd, 1);
    tick(5000);
    ck_assert_log(&LOG, 1);
    ck_assert_int_eq(c->closes + c->idles, 0);
}
END_TEST

static int idle_destroy(sctx_t *c)
{
    destroy_own_pool(c);
    return 1;                                           /* ignored: it is gone */
}

START_TEST(pool_destroy_in_idle_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    c->idle_action = idle_destroy;
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    wadd(c, 2000, 1, NULL);
    tick(2000);
    ck_assert_int_eq(c->idles, 1);
    ck_assert(c->destroyed);
    peer_expect_eof(c->fd, 1);
    tick(3000);
    tick(10000);
    ck_assert_int_eq(c->idles, 1);
    ck_assert_int_eq(c->closes, 0);
    ck_assert_int_le(LOG.n, 1);                         /* 1 may have fired first */
}
END_TEST

START_TEST(pool_destroy_in_drain_callback)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    char buf[1000];

    memset(buf, 'd', sizeof buf);
    c->drain_action = destroy_own_pool;
    ck_assert_int_eq(pev_stream_set_output_limit(c->s, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(c->s, buf, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(c->s, buf, 1), PEV_EFULL);
    wadd(c, 5000, 1, NULL);
    peer_skip_filler(c);
    PUMP_UNTIL(c->destroyed);
    ck_assert_int_eq(c->drains, 1);
    peer_expect_eof(c->fd, 1);
    tick(5000);
    ck_assert_int_eq(c->closes, 0);
    ck_assert_int_eq(LOG.n, 0);
}
END_TEST

static void destroy_other(sctx_t *c)
{
    sctx_t *other = c->p1;

    if (!other->destroyed)
        destroy_own_pool(other);
}

/* A callback destroys another stream whose readiness the same poll reported:
 * the victim is struck from the poll's results. */
START_TEST(callback_destroys_other_stream_ready_in_same_poll)
{
    sctx_t *a = sock_stream(1, NULL, 0), *b = sock_stream(2, NULL, 0), *alive, *dead;
    int i;

    a->p1 = b;
    b->p1 = a;
    a->read_action = b->read_action = destroy_other;
    for (i = 0; i < 2; i++) {
        peer_puts(a->fd, "a\n");
        peer_puts(b->fd, "b\n");
    }
    wait_readable(a->srv_fd);
    wait_readable(b->srv_fd);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(a->reads + b->reads, 1);
    alive = a->reads ? a : b;
    dead = a->reads ? b : a;
    ck_assert(dead->destroyed);
    ck_assert(!alive->destroyed);
    pump(3);
    ck_assert_int_eq(dead->reads + dead->closes, 0);
    peer_expect_eof(dead->fd, 1);
    peer_puts(alive->fd, "again\n");
    PUMP_UNTIL(alive->nlines == 3);
    ck_assert_str_eq(alive->line[2], "again");
}
END_TEST

/* The loop's pool goes first: streams in pools that outlive it are closed
 * (descriptor released, no callback) and their calls return PEV_EDESTROYED. */
START_TEST(loop_destroyed_streams_outlive)
{
    pev_loop_t *keep = LOOP, *loop2;
    apr_pool_t *lp = pt_subpool(pt_pool), *sp = pt_subpool(pt_pool);
    sctx_t *c, *inner;
    pev_waitevent_t *ev = NULL;
    char *l, buf[8];
    apr_size_t n = sizeof buf;

    ck_assert_int_eq(pev_loop_create(&loop2, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_set_clock(loop2, fake_clock, NULL), APR_SUCCESS);
    LOOP = loop2;
    c = sock_stream(1, sp, 0);
    inner = sock_stream(2, pt_subpool(lp), 0);          /* goes with the loop */
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    wadd(c, 5000, 1, NULL);
    ck_assert_int_eq(pev_stream_write(c->s, "abc", 3), APR_SUCCESS);
    apr_pool_destroy(lp);
    LOOP = keep;
    peer_expect_eof(c->fd, 0);
    peer_expect_eof(inner->fd, 0);
    ck_assert_int_eq(c->closes + inner->closes, 0);
    ck_assert(!pev_stream_is_open(c->s));
    {
        struct { const char *call; apr_status_t st; } r[] = {
            { "write", pev_stream_write(c->s, "x", 1) },
            { "printf", pev_stream_printf(c->s, "%s", "x") },
            { "flush", pev_stream_flush(c->s) },
            { "getline", pev_stream_getline(c->s, &l, &n) },
            { "read", pev_stream_read(c->s, buf, &n) },
            { "getline_wait", pev_stream_getline_wait(c->s, &l, &n, -1) },
            { "set_idle_timeout", pev_stream_set_idle_timeout(c->s, 10) },
            { "touch", pev_stream_touch(c->s) },
            { "set_max_line", pev_stream_set_max_line(c->s, 10) },
            { "set_output_limit", pev_stream_set_output_limit(c->s, 10) },
            { "waitevent_add", pev_waitevent_add(&ev, c->s, 10, on_wait, NULL) },
            { "close", pev_stream_close(c->s) },
            { "abort", pev_stream_abort(c->s) },
        };
        char msg[1024] = "";
        size_t i, off = 0;

        for (i = 0; i < sizeof r / sizeof r[0]; i++)
            if (r[i].st != PEV_EDESTROYED)
                off += (size_t) snprintf(msg + off, sizeof msg - off, " %s=%d", r[i].call,
                                         r[i].st);
        ck_assert_msg(off == 0, "calls not PEV_EDESTROYED after the loop went:%s", msg);
    }
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    apr_pool_destroy(sp);                               /* after its loop: no crash */
    ck_assert_int_eq(c->closes, 0);
}
END_TEST

static void destroy_pool_p1(sctx_t *c)
{
    apr_pool_destroy(c->p1);
    scribble();
}

START_TEST(loop_destroyed_from_stream_callback)
{
    pev_loop_t *keep = LOOP, *loop2;
    apr_pool_t *lp = pt_subpool(pt_pool);
    sctx_t *c, *d;

    ck_assert_int_eq(pev_loop_create(&loop2, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_set_clock(loop2, fake_clock, NULL), APR_SUCCESS);
    LOOP = loop2;
    c = sock_stream(1, NULL, 0);
    d = sock_stream(2, NULL, 0);                        /* also ready, after the kill */
    c->read_action = d->read_action = destroy_pool_p1;
    c->p1 = d->p1 = lp;
    wadd(c, 1000, 1, NULL);
    wadd(d, 1000, 2, NULL);
    peer_puts(c->fd, "x\n");
    peer_puts(d->fd, "y\n");
    LOOP = keep;
    wait_readable(c->srv_fd);
    wait_readable(d->srv_fd);
    ck_assert_int_eq(pev_loop_run_once(loop2, 0), PEV_EDESTROYED);
    ck_assert_int_eq(c->reads + d->reads, 1);
    ck_assert_int_eq(LOG.n, 0);
    ck_assert_int_eq(c->closes + d->closes, 0);
    ck_assert_int_eq(pev_stream_write(c->s, "x", 1), PEV_EDESTROYED);
    ck_assert_int_eq(pev_stream_write(d->s, "x", 1), PEV_EDESTROYED);
    peer_expect_eof(c->fd, 0);
    peer_expect_eof(d->fd, 0);
}
END_TEST

/* ======================================================================== */
/* Idle timeout (fake clock)                                                 */

START_TEST(idle_timeout_closes_at_deadline_not_earlier)
{
    sctx_t *c = sock_stream(1, NULL, NO_IDLE_CB);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, -1), APR_EINVAL);
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    tick(1500);
    tick(1999);
    ck_assert_int_eq(c->closes, 0);
    ck_assert(pev_stream_is_open(c->s));
    tick(2000);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
    ck_assert_int_eq(pev_stream_close_reason(c->s), APR_TIMEUP);
    peer_expect_eof(c->fd, 1);
}
END_TEST

START_TEST(idle_input_restarts_clock)
{
    sctx_t *c = sock_stream(1, NULL, NO_IDLE_CB);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    tick(1500);
    peer_puts(c->fd, "x");
    PUMP_UNTIL(c->reads == 1);                          /* input at 1500 */
    tick(2000);
    tick(2499);
    ck_assert_int_eq(c->closes, 0);
    tick(2500);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
}
END_TEST

START_TEST(idle_touch_extends)
{
    sctx_t *c = sock_stream(1, NULL, NO_IDLE_CB);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    tick(1500);
    ck_assert_int_eq(pev_stream_touch(c->s), APR_SUCCESS);   /* as if input at 1500 */
    tick(2000);
    tick(2499);
    ck_assert_int_eq(c->closes, 0);
    tick(2500);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
}
END_TEST

static void extend_idle(tjob_t *j)
{
    j->st = pev_stream_set_idle_timeout(j->c->s, 5000);
}

static void touch_idle(tjob_t *j)
{
    j->st = pev_stream_touch(j->c->s);
}

/* The Cyrus bug "timeout extension ignored": a callback of the iteration in
 * which the old deadline is due moves it, and the stream stays open. */
START_TEST(idle_deadline_moved_by_callback_in_due_iteration)
{
    sctx_t *c = sock_stream(1, NULL, NO_IDLE_CB);
    tjob_t *j1, *j2;

    j1 = timer_at(1999, 0, extend_idle, c);
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);  /* due 2000 */
    tick(2000);                                         /* both due: the timer first */
    ck_assert_int_eq(j1->calls, 1);
    ck_assert_int_eq(j1->st, APR_SUCCESS);
    ck_assert_int_eq(c->closes, 0);
    ck_assert(pev_stream_is_open(c->s));
    tick(6999);                                         /* deadline 2000 + 5000 */
    ck_assert_int_eq(c->closes, 0);
    j2 = timer_at(6999, 0, touch_idle, c);
    tick(7000);                                         /* touch at 7000: due 12000 */
    ck_assert_int_eq(j2->calls, 1);
    ck_assert_int_eq(j2->st, APR_SUCCESS);
    ck_assert_int_eq(c->closes, 0);
    tick(11999);
    ck_assert_int_eq(c->closes, 0);
    tick(12000);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
}
END_TEST

START_TEST(idle_callback_nonzero_keeps_open)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    c->idle_keep = 1;
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    tick(1999);
    ck_assert_int_eq(c->idles, 0);
    tick(2000);
    ck_assert_int_eq(c->idles, 1);
    ck_assert_int_eq(c->closes, 0);
    ck_assert(pev_stream_is_open(c->s));
    tick(2999);                                         /* restarted from 2000 */
    ck_assert_int_eq(c->idles, 1);
    tick(3000);
    ck_assert_int_eq(c->idles, 2);
    c->idle_keep = 0;
    tick(3999);
    ck_assert_int_eq(c->closes, 0);
    tick(4000);
    ck_assert_int_eq(c->idles, 3);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
}
END_TEST

START_TEST(idle_timeout_zero_disables)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    tick(1500);
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 0), APR_SUCCESS);
    tick(2000);
    tick(1000000000);
    ck_assert_int_eq(c->idles + c->closes, 0);
    ck_assert(pev_stream_is_open(c->s));
}
END_TEST

/* ======================================================================== */
/* pev_stream_getline_wait                                                   */

static void peer_sends_later(tjob_t *j)
{
    ck_assert_int_eq(peer_send(j->c->fd, j->p, strlen(j->p), 0), APR_SUCCESS);
}

START_TEST(getline_wait_returns_line_arriving_later)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    tjob_t *j = timer_at(FAKE, 0, peer_sends_later, c);   /* runs in the wait's loop */
    char *l;
    apr_size_t n;

    j->p = "later\r\n";
    c->take_lines = 0;
    guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), APR_SUCCESS);
    guard_stop();
    ck_assert_str_eq(l, "later");
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(c->reads, 0);                      /* the waiter took the input */
    /* a line already buffered comes back at once */
    peer_puts(c->fd, "now\n");
    PUMP_UNTIL(pev_stream_input_pending(c->s) == 4);
    guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), APR_SUCCESS);
    guard_stop();
    ck_assert_str_eq(l, "now");
}
END_TEST

START_TEST(getline_wait_times_out)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    apr_time_t start = pev_loop_now(LOOP);
    char *l;
    apr_size_t n;

    FAKE_STEP = 1000;                                   /* the loop's time moves */
    guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, 5000), APR_TIMEUP);
    guard_stop();
    FAKE_STEP = 0;
    ck_assert_msg(pev_loop_now(LOOP) >= start + 5000, "timed out early: %lld us",
                  (long long) (pev_loop_now(LOOP) - start));
    ck_assert(pev_stream_is_open(c->s));
    ck_assert_int_eq(c->closes, 0);
    /* still usable */
    ck_assert_int_eq(peer_send(c->fd, "after\n", 6, 0), APR_SUCCESS);
    guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), APR_SUCCESS);
    guard_stop();
    ck_assert_str_eq(l, "after");
}
END_TEST

static void read_try_wait(sctx_t *c)
{
    char *l;
    apr_size_t n;

    c->st = pev_stream_getline_wait(c->s, &l, &n, 0);
}

static pev_waitevent_t *w_try_wait(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    char *l;
    apr_size_t n;

    (void) ev;
    a->st = pev_stream_getline_wait(s, &l, &n, 0);
    return NULL;
}

static void timer_try_wait(tjob_t *j)
{
    char *l;
    apr_size_t n;

    j->st = pev_stream_getline_wait(j->c->s, &l, &n, 0);
}

START_TEST(getline_wait_busy_inside_callbacks)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *a;
    tjob_t *j;

    c->take_lines = 0;
    c->read_action = read_try_wait;
    c->st = -1;
    peer_puts(c->fd, "line\n");
    PUMP_UNTIL(c->reads == 1);
    ck_assert_int_eq(c->st, PEV_EBUSY);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 5);       /* not taken */
    a = wadd(c, 2000, 1, w_try_wait);
    a->st = -1;
    j = timer_at(2000, 0, timer_try_wait, c);
    j->st = -1;
    tick(2000);
    ck_assert_int_eq(a->st, PEV_EBUSY);
    ck_assert_int_eq(j->st, PEV_EBUSY);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 5);
}
END_TEST

static pev_waitevent_t *w_send_to_p1(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    sctx_t *target = a->p1;

    (void) s;
    (void) ev;
    ck_assert_int_eq(peer_send(target->fd, a->p2, strlen(a->p2), 0), APR_SUCCESS);
    return NULL;
}

/* While one stream waits for a line, other streams' wait events and the
 * loop's timers keep firing: here the line is sent by one of them. */
START_TEST(getline_wait_runs_other_events_and_timers)
{
    sctx_t *a = sock_stream(1, NULL, 0), *b = sock_stream(2, NULL, 0);
    wact_t *w;
    char *l;
    apr_size_t n;

    a->take_lines = 0;
    w = wadd(b, FAKE, 1, w_send_to_p1);
    w->p1 = a;
    w->p2 = "from-b\n";
    wadd(b, FAKE, 2, NULL);
    timer_at(FAKE, 50, NULL, NULL);
    guard_start(a->fd);
    ck_assert_int_eq(pev_stream_getline_wait(a->s, &l, &n, -1), APR_SUCCESS);
    guard_stop();
    ck_assert_str_eq(l, "from-b");
    ck_assert_int_eq(log_count(1), 1);
    ck_assert_int_eq(log_count(2), 1);
    ck_assert_int_eq(log_count(50), 1);
    ck_assert_uint_eq(pev_waitevent_count(b->s), 0);
    ck_assert_int_eq(a->reads, 0);
}
END_TEST

static void abort_stream(tjob_t *j)
{
    ck_assert_int_eq(pev_stream_abort(j->c->s), APR_SUCCESS);
}

static void peer_tail_then_eof(tjob_t *j)
{
    ck_assert_int_eq(peer_send(j->c->fd, "tail", 4, 0), APR_SUCCESS);
    ck_assert_int_eq(shutdown(j->c->fd, SHUT_WR), 0);
}

START_TEST(getline_wait_returns_close_reason)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);
    char *l;
    apr_size_t n;
    apr_status_t rv;

    timer_at(FAKE, 0, abort_stream, c);
    guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), PEV_ECLOSED);
    guard_stop();
    ck_assert_int_eq(c->closes, 1);                     /* its close callback has run */
    ck_assert_int_eq(c->reason, PEV_ECLOSED);

    /* end of input: the last unterminated line, then the end */
    timer_at(FAKE, 0, peer_tail_then_eof, d);
    guard_start(d->fd);
    ck_assert_int_eq(pev_stream_getline_wait(d->s, &l, &n, -1), APR_SUCCESS);
    ck_assert_str_eq(l, "tail");
    rv = pev_stream_getline_wait(d->s, &l, &n, -1);
    guard_stop();
    ck_assert_msg(rv == APR_EOF || rv == PEV_ECLOSED, "after the last line: %d", rv);
    PUMP_UNTIL(d->closes == 1);
    ck_assert_int_eq(d->reason, APR_EOF);
}
END_TEST

static void destroy_stream_pool_timer(tjob_t *j)
{
    destroy_own_pool(j->c);
}

static void destroy_pool_timer(tjob_t *j)
{
    apr_pool_destroy(j->p);
    scribble();
}

START_TEST(getline_wait_stream_or_loop_destroyed)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d;
    pev_loop_t *keep = LOOP, *loop2;
    apr_pool_t *lp = pt_subpool(pt_pool);
    tjob_t *j;
    char *l;
    apr_size_t n;

    timer_at(FAKE, 0, destroy_stream_pool_timer, c);
    guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), PEV_EDESTROYED);
    guard_stop();
    ck_assert_int_eq(c->closes, 0);
    peer_expect_eof(c->fd, 0);

    /* the loop goes while a stream in an outliving pool waits */
    ck_assert_int_eq(pev_loop_create(&loop2, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_set_clock(loop2, fake_clock, NULL), APR_SUCCESS);
    LOOP = loop2;
    d = sock_stream(2, NULL, 0);
    j = timer_at(FAKE, 0, destroy_pool_timer, NULL);
    j->p = lp;
    LOOP = keep;
    guard_start(d->fd);
    ck_assert_int_eq(pev_stream_getline_wait(d->s, &l, &n, -1), PEV_EDESTROYED);
    guard_stop();
    ck_assert_int_eq(d->closes, 0);
    peer_expect_eof(d->fd, 0);
}
END_TEST

/* ======================================================================== */
/* Pipes                                                                     */

START_TEST(pipe_stream_reads)
{
    apr_file_t *rd, *wr;
    sctx_t *c = ctx_new(1);

    c->pool = pt_subpool(pt_pool);
    pipe_pair(pt_pool, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(&c->s, LOOP, rd, &CB_ALL, c, c->pool),
                     APR_SUCCESS);
    ck_assert_int_eq(peer_send(file_fd(wr), "p1\np2\r\nlast", 11, 1), APR_SUCCESS);
    PUMP_UNTIL(c->nlines == 2);
    ck_assert_str_eq(c->line[0], "p1");
    ck_assert_str_eq(c->line[1], "p2");
    ck_assert_int_eq(apr_file_close(wr), APR_SUCCESS);
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_eq(c->nlines, 3);
    ck_assert_str_eq(c->line[2], "last");
}
END_TEST

START_TEST(pipe_stream_writes)
{
    apr_file_t *rd, *wr;
    sctx_t *c = ctx_new(1);
    int fd;

    c->pool = pt_subpool(pt_pool);
    pipe_pair(pt_pool, 0, &rd, &wr);
    fd = file_fd(rd);
    ck_assert_int_eq(pev_stream_create_file(&c->s, LOOP, wr, &CB_ALL, c, c->pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_stream_printf(c->s, "hello %s\n", "pipe"), APR_SUCCESS);
    peer_expect(fd, "hello pipe\n");
    ck_assert_int_eq(pev_stream_write(c->s, "bye", 3), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    peer_expect(fd, "bye");
    PUMP_UNTIL(c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_uint_eq(peer_expect_eof(fd, 1), 0);
}
END_TEST

/* ======================================================================== */
/* Wait events                                                               */

START_TEST(waitevent_add_null_callback_einval)
{
    static long sentinel;
    sctx_t *c = sock_stream(1, NULL, 0);
    pev_waitevent_t *ev = (pev_waitevent_t *) (void *) &sentinel, *e2 = NULL;

    ck_assert_int_eq(pev_waitevent_add(&ev, c->s, 2000, NULL, NULL), APR_EINVAL);
    ck_assert_msg(ev == (pev_waitevent_t *) (void *) &sentinel || ev == NULL,
                  "an event was returned");
    ck_assert_int_eq(pev_waitevent_add(&e2, NULL, 2000, on_wait, NULL), APR_EINVAL);
    ck_assert_ptr_null(e2);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    /* a real one next to it works, and is the only one */
    wadd(c, 2000, 1, NULL);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    tick(5000);
    ck_assert_log(&LOG, 1);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
}
END_TEST

START_TEST(waitevent_fires_at_mark_never_earlier)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, NULL);

    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    tick(1500);
    tick(1999);
    ck_assert_int_eq(LOG.n, 0);
    tick(2000);
    ck_assert_log(&LOG, 1);
    ck_assert_int_eq(a->seen_now, 2000);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);   /* returned NULL: dropped */
    tick(3000);
    ck_assert_log(&LOG, 1);
}
END_TEST

START_TEST(waitevent_fires_in_mark_order)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    wadd(c, 3000, 3, NULL);
    wadd(c, 1500, 1, NULL);
    wadd(c, 2000, 2, NULL);
    tick(1499);
    ck_assert_int_eq(LOG.n, 0);
    tick(2000);
    ck_assert_log(&LOG, 1, 2);
    tick(2999);
    ck_assert_log(&LOG, 1, 2);
    tick(5000);
    ck_assert_log(&LOG, 1, 2, 3);
    /* all due in one iteration: still in mark order */
    pt_log_reset(&LOG);
    wadd(c, 7000, 7, NULL);
    wadd(c, 6000, 6, NULL);
    wadd(c, 6500, 65, NULL);
    tick(8000);
    ck_assert_log(&LOG, 6, 65, 7);
}
END_TEST

/* Wait events share the loop's heap: the order is global across streams. */
START_TEST(waitevent_mark_order_across_streams)
{
    sctx_t *a = sock_stream(1, NULL, 0), *b = sock_stream(2, NULL, 0);

    wadd(a, 1500, 1, NULL);
    wadd(a, 3000, 4, NULL);
    wadd(b, 2000, 2, NULL);
    wadd(b, 2500, 3, NULL);
    tick(5000);
    ck_assert_log(&LOG, 1, 2, 3, 4);
    pt_log_reset(&LOG);
    wadd(a, 6000, 5, NULL);
    wadd(b, 6000, 6, NULL);
    wadd(a, 6000, 7, NULL);
    tick(6000);
    ck_assert_log(&LOG, 5, 6, 7);
}
END_TEST

START_TEST(waitevent_equal_marks_fifo)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    int i;

    for (i = 0; i < 300; i++)
        wadd(c, 2000, i, NULL);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 300);
    tick(2000);
    ck_assert_int_eq(LOG.n, 300);
    for (i = 0; i < 300; i++)
        ck_assert_int_eq(LOG.v[i], i);
}
END_TEST

static pev_waitevent_t *w_keep_moved(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    (void) s;
    ck_assert_int_eq(pev_waitevent_set_mark(ev, pev_waitevent_mark(ev) + 1000), APR_SUCCESS);
    return a->calls < 3 ? ev : NULL;
}

START_TEST(waitevent_keep_with_moved_mark_fires_again)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, w_keep_moved);

    tick(2000);
    ck_assert_log(&LOG, 1);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    ck_assert_int_eq(pev_waitevent_mark(a->ev), 3000);
    tick(2999);
    ck_assert_log(&LOG, 1);
    tick(3000);
    ck_assert_log(&LOG, 1, 1);
    ck_assert_int_eq(a->seen_now, 3000);
    tick(4000);
    ck_assert_log(&LOG, 1, 1, 1);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);   /* the third returned NULL */
    tick(10000);
    ck_assert_int_eq(a->calls, 3);
}
END_TEST

static pev_waitevent_t *w_keep_same(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    (void) s;
    if (a->calls > 1000)                                /* a busy loop: stop it */
        return NULL;
    return a->calls < 4 ? ev : NULL;
}

static pev_waitevent_t *w_keep_past(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    (void) s;
    if (a->calls > 1000)
        return NULL;
    ck_assert_int_eq(pev_waitevent_set_mark(ev, 0), APR_SUCCESS);   /* long past */
    return a->calls < 4 ? ev : NULL;
}

/* Kept without moving the mark forward: fires again in the next iteration,
 * never twice in one (no busy loop). */
START_TEST(waitevent_keep_unmoved_fires_next_iteration)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, w_keep_same), *b = wadd(c, 2000, 2, w_keep_past);
    apr_uint64_t it;
    int i;

    tick(2000);
    it = a->seen_iter;
    ck_assert_int_eq(a->calls, 1);
    ck_assert_int_eq(b->calls, 1);
    ck_assert_int_eq(pev_waitevent_mark(a->ev), 2000);  /* kept at its mark */
    for (i = 2; i <= 4; i++) {
        pump(1);                                        /* time stands still */
        ck_assert_int_eq(a->calls, i);
        ck_assert_int_eq(b->calls, i);
        ck_assert_uint_eq(a->seen_iter, it + (apr_uint64_t) i - 1);
    }
    pump(2);
    ck_assert_int_eq(a->calls, 4);
    ck_assert_int_eq(b->calls, 4);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
}
END_TEST

static pev_waitevent_t *w_keep_far(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    (void) a;
    (void) s;
    ck_assert_int_eq(pev_waitevent_set_mark(ev, 9000), APR_SUCCESS);
    return ev;
}

static pev_waitevent_t *w_move_then_drop(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    (void) a;
    (void) s;
    ck_assert_int_eq(pev_waitevent_set_mark(ev, 4000), APR_SUCCESS);
    return NULL;
}

START_TEST(waitevent_return_null_drops)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *x = wadd(c, 2000, 1, NULL), *y = wadd(c, 2000, 2, w_keep_far);
    pev_waitevent_t *e3 = NULL;
    wact_t *z = apr_pcalloc(pt_pool, sizeof *z);

    ck_assert_uint_eq(pev_waitevent_count(c->s), 2);
    tick(2000);
    ck_assert_log(&LOG, 1, 2);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    /* set_mark in the callback, then NULL: dropped all the same */
    z->id = 3;
    z->c = c;
    z->action = w_move_then_drop;
    ck_assert_int_eq(pev_waitevent_add(&e3, c->s, 2500, on_wait, z), APR_SUCCESS);
    z->ev = e3;
    tick(2500);
    ck_assert_log(&LOG, 1, 2, 3);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    tick(20000);
    ck_assert_log(&LOG, 1, 2, 3, 2);
    ck_assert_int_eq(x->calls, 1);
    ck_assert_int_eq(y->calls, 2);
    ck_assert_int_eq(z->calls, 1);
}
END_TEST

static pev_waitevent_t *w_remove_self_null(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    a->st = pev_waitevent_remove(s, ev);
    return NULL;
}

static pev_waitevent_t *w_remove_self_keep(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    a->st = pev_waitevent_remove(s, ev);
    return ev;                                          /* ignored: removed */
}

START_TEST(waitevent_remove_self_then_return)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, w_remove_self_null);
    wact_t *b = wadd(c, 2000, 2, w_remove_self_keep);
    wact_t *d;

    wadd(c, 2000, 3, NULL);
    tick(2000);
    ck_assert_log(&LOG, 1, 2, 3);
    ck_assert_int_eq(a->st, APR_SUCCESS);
    ck_assert_int_eq(b->st, APR_SUCCESS);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    pump(2);
    tick(5000);
    ck_assert_log(&LOG, 1, 2, 3);
    /* the memory is reused cleanly */
    d = wadd(c, 6000, 4, NULL);
    wadd(c, 6000, 5, NULL);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 2);
    tick(6000);
    ck_assert_log(&LOG, 1, 2, 3, 4, 5);
    ck_assert_int_eq(d->calls, 1);
}
END_TEST

static pev_waitevent_t *w_remove_p1(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    wact_t *victim = a->p1;

    (void) s;
    (void) ev;
    a->st = pev_waitevent_remove(victim->c->s, victim->ev);
    return NULL;
}

/* Cyrus's use-after-free: a callback removes the next event due. */
START_TEST(waitevent_remove_next_due_from_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, w_remove_p1);
    wact_t *b = wadd(c, 2000, 2, NULL);
    wact_t *e, *f;

    wadd(c, 2000, 3, NULL);
    a->p1 = b;
    tick(2000);
    ck_assert_int_eq(a->st, APR_SUCCESS);
    ck_assert_log(&LOG, 1, 3);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    /* the next one due belongs to another stream */
    e = wadd(c, 3000, 4, w_remove_p1);
    f = wadd(d, 3000, 5, NULL);
    wadd(d, 3000, 6, NULL);
    e->p1 = f;
    tick(3000);
    ck_assert_int_eq(e->st, APR_SUCCESS);
    ck_assert_log(&LOG, 1, 3, 4, 6);
    ck_assert_uint_eq(pev_waitevent_count(d->s), 0);
    tick(10000);
    ck_assert_int_eq(b->calls + f->calls, 0);
}
END_TEST

static pev_waitevent_t *w_remove_p1_add_p2(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    wact_t *victim = a->p1, *fresh = a->p2;

    a->st = pev_waitevent_remove(victim->c->s, victim->ev);
    /* likely to get the victim's memory back */
    ck_assert_int_eq(pev_waitevent_add(&fresh->ev, s, pev_loop_now(LOOP), on_wait, fresh),
                     APR_SUCCESS);
    (void) ev;
    return NULL;
}

/* The removed event's memory is reused by an add in the same callback: the
 * new event must not take the removed one's place in this iteration's due
 * list and fire twice, and the removed one never fires. */
START_TEST(waitevent_remove_next_due_then_add_reusing_memory)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, w_remove_p1_add_p2);
    wact_t *b = wadd(c, 2000, 2, NULL);
    wact_t *fresh = apr_pcalloc(pt_pool, sizeof *fresh);

    wadd(c, 2000, 3, NULL);
    fresh->id = 4;
    fresh->c = c;
    a->p1 = b;
    a->p2 = fresh;
    tick(2000);
    pump(2);
    ck_assert_int_eq(a->st, APR_SUCCESS);
    ck_assert_int_eq(b->calls, 0);
    ck_assert_int_eq(fresh->calls, 1);
    ck_assert_int_eq(log_count(1), 1);
    ck_assert_int_eq(log_count(3), 1);
    ck_assert_int_eq(LOG.n, 3);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
}
END_TEST

static pev_waitevent_t *w_remove_all(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    wact_t **all = a->p1;
    int i;

    (void) s;
    (void) ev;
    for (i = 0; all[i]; i++)
        ck_assert_int_eq(pev_waitevent_remove(all[i]->c->s, all[i]->ev), APR_SUCCESS);
    return NULL;                                        /* itself among them */
}

START_TEST(waitevent_remove_all_from_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);
    wact_t *all[10];
    int i, n = 0;

    for (i = 1; i <= 5; i++)
        all[n++] = wadd(c, 2000, i, i == 1 ? w_remove_all : NULL);
    for (i = 6; i <= 8; i++)
        all[n++] = wadd(d, i == 8 ? 2500 : 2000, i, NULL);
    all[n] = NULL;
    all[0]->p1 = all;
    tick(2000);
    ck_assert_log(&LOG, 1);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    ck_assert_uint_eq(pev_waitevent_count(d->s), 0);
    tick(10000);
    ck_assert_log(&LOG, 1);
}
END_TEST

static pev_waitevent_t *w_add_some(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    sctx_t *other = a->p1;
    apr_time_t now = pev_loop_now(LOOP);

    (void) s;
    (void) ev;
    wadd(a->c, now + 500, 10, NULL);
    wadd(a->c, now - 500, 11, NULL);                    /* already passed */
    wadd(a->c, now, 12, NULL);
    wadd(other, now + 100, 13, NULL);
    return NULL;
}

/* Events added from a callback: those already due fire in the next
 * iteration (never inside this one), the others at their marks. */
START_TEST(waitevent_add_from_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, w_add_some);

    a->p1 = d;
    tick(2000);
    ck_assert_log(&LOG, 1);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 3);
    ck_assert_uint_eq(pev_waitevent_count(d->s), 1);
    pump(1);
    ck_assert_log(&LOG, 1, 11, 12);
    tick(2099);
    ck_assert_log(&LOG, 1, 11, 12);
    tick(2100);
    ck_assert_log(&LOG, 1, 11, 12, 13);
    tick(2499);
    tick(2500);
    ck_assert_log(&LOG, 1, 11, 12, 13, 10);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
}
END_TEST

static pev_waitevent_t *w_abort_stream(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    a->st = pev_stream_abort(s);
    ck_assert_uint_eq(pev_waitevent_count(s), 0);      /* cancelled at once */
    return ev;                                          /* ignored: it is gone */
}

/* A wait event aborts its stream: none of the stream's other events fires,
 * due in this iteration or not; other streams' events do; the close callback
 * runs once, at the end of the iteration. */
START_TEST(waitevent_abort_stream_from_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, w_abort_stream);

    wadd(c, 2000, 2, NULL);
    wadd(c, 2000, 3, NULL);
    wadd(c, 2500, 5, NULL);
    wadd(d, 2000, 4, NULL);
    tick(2000);
    ck_assert_int_eq(a->st, APR_SUCCESS);
    ck_assert_log(&LOG, 1, 4);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    tick(3000);
    tick(10000);
    ck_assert_log(&LOG, 1, 4);
    ck_assert_int_eq(c->closes, 1);
    peer_expect_eof(c->fd, 1);
}
END_TEST

static pev_waitevent_t *w_close_stream(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    a->st = pev_stream_close(s);
    return ev;
}

/* pev_stream_close() from a wait event: the stream closes once its (empty)
 * output is sent, at the end of the iteration; its close callback runs once
 * and no wait event of it fires afterwards. (Whether events due later in
 * the same iteration still fire while it is closing is left open by the
 * header: they are cancelled when the stream closes.) */
START_TEST(waitevent_close_stream_from_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, w_close_stream);

    wadd(c, 2000, 2, NULL);
    wadd(c, 2500, 5, NULL);
    wadd(d, 2000, 4, NULL);
    tick(2000);
    ck_assert_int_eq(a->st, APR_SUCCESS);
    ck_assert_int_eq(log_count(1), 1);
    ck_assert_int_eq(log_count(4), 1);
    ck_assert_int_eq(c->closes, 1);                     /* at the end of the iteration */
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    tick(3000);
    tick(10000);
    ck_assert_int_eq(log_count(1), 1);
    ck_assert_int_eq(log_count(5), 0);
    ck_assert_int_eq(c->closes, 1);
    peer_expect_eof(c->fd, 1);
}
END_TEST

static pev_waitevent_t *w_destroy_other_pool(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    (void) s;
    (void) ev;
    destroy_own_pool(a->p1);
    return NULL;
}

/* A wait event destroys its own stream's pool while more of that stream's
 * events are due in the same iteration; and another stream's pool likewise. */
START_TEST(waitevent_destroy_pool_from_callback_with_others_due)
{
    apr_size_t base = timers_armed();
    sctx_t *a = sock_stream(1, NULL, 0), *b = sock_stream(2, NULL, 0);
    sctx_t *v = sock_stream(3, NULL, 0);
    wact_t *k;

    wadd(b, 2000, 5, NULL);
    wadd(a, 2000, 1, w_destroy_own_pool);
    wadd(a, 2000, 2, NULL);
    wadd(a, 2000, 3, NULL);
    wadd(b, 2000, 4, NULL);
    tick(2000);
    ck_assert_log(&LOG, 5, 1, 4);
    ck_assert(a->destroyed);
    ck_assert_int_eq(a->closes, 0);
    peer_expect_eof(a->fd, 1);

    pt_log_reset(&LOG);
    k = wadd(b, 3000, 6, w_destroy_other_pool);
    k->p1 = v;
    wadd(v, 3000, 7, NULL);
    wadd(v, 3000, 8, NULL);
    wadd(b, 3000, 9, NULL);
    tick(3000);
    ck_assert_log(&LOG, 6, 9);
    ck_assert(v->destroyed);
    ck_assert_int_eq(v->closes, 0);
    peer_expect_eof(v->fd, 1);
    tick(10000);
    ck_assert_log(&LOG, 6, 9);
    ck_assert_uint_eq(pev_waitevent_count(b->s), 0);
    ck_assert_uint_eq(timers_armed(), base);
}
END_TEST

START_TEST(waitevent_remove_twice_enotarmed)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, NULL), *b = wadd(c, 2000, 2, NULL);

    ck_assert_int_eq(pev_waitevent_remove(c->s, a->ev), APR_SUCCESS);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    ck_assert_int_eq(pev_waitevent_remove(c->s, a->ev), PEV_ENOTARMED);
    ck_assert_int_eq(pev_waitevent_set_mark(a->ev, 3000), PEV_ENOTARMED);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    tick(2000);
    ck_assert_log(&LOG, 2);
    /* fired and dropped: dead too */
    ck_assert_int_eq(pev_waitevent_remove(c->s, b->ev), PEV_ENOTARMED);
    ck_assert_int_eq(pev_waitevent_set_mark(b->ev, 3000), PEV_ENOTARMED);
    tick(5000);
    ck_assert_log(&LOG, 2);
}
END_TEST

START_TEST(waitevent_remove_other_streams_handle_enotarmed)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, NULL);

    wadd(d, 2000, 2, NULL);
    ck_assert_int_eq(pev_waitevent_remove(d->s, a->ev), PEV_ENOTARMED);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    ck_assert_uint_eq(pev_waitevent_count(d->s), 1);
    tick(2000);
    ck_assert_log(&LOG, 1, 2);
}
END_TEST

static pev_waitevent_t *w_set_mark_p1(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    wact_t *o = a->p1;

    (void) s;
    (void) ev;
    a->st = pev_waitevent_set_mark(o->ev, (apr_time_t) (intptr_t) a->p2);
    return NULL;
}

/* set_mark from outside an event's own callback takes effect at once: earlier
 * fires earlier; later postpones, even an event due in the current iteration
 * that has not fired yet. */
START_TEST(waitevent_set_mark_outside_takes_effect_at_once)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);
    wact_t *e = wadd(c, 9000, 1, NULL), *f = wadd(c, 4000, 2, NULL);
    wact_t *g, *h, *i, *j;

    ck_assert_int_eq(pev_waitevent_set_mark(e->ev, 3000), APR_SUCCESS);     /* earlier */
    ck_assert_int_eq(pev_waitevent_mark(e->ev), 3000);
    ck_assert_int_eq(pev_waitevent_set_mark(f->ev, 6000), APR_SUCCESS);     /* later */
    tick(2999);
    ck_assert_int_eq(LOG.n, 0);
    tick(3000);
    ck_assert_log(&LOG, 1);
    tick(5999);
    ck_assert_log(&LOG, 1);
    tick(6000);
    ck_assert_log(&LOG, 1, 2);

    /* from another event's callback, the target due in this same iteration */
    g = wadd(c, 7000, 10, w_set_mark_p1);
    h = wadd(c, 7000, 11, NULL);
    i = wadd(d, 7000, 12, w_set_mark_p1);
    j = wadd(c, 7000, 13, NULL);
    g->p1 = h;
    g->p2 = (void *) (intptr_t) 9000;
    i->p1 = j;
    i->p2 = (void *) (intptr_t) 9500;
    pt_log_reset(&LOG);
    tick(7000);
    ck_assert_int_eq(g->st, APR_SUCCESS);
    ck_assert_int_eq(i->st, APR_SUCCESS);
    ck_assert_log(&LOG, 10, 12);
    tick(8999);
    ck_assert_log(&LOG, 10, 12);
    tick(9000);
    ck_assert_log(&LOG, 10, 12, 11);
    tick(9500);
    ck_assert_log(&LOG, 10, 12, 11, 13);
}
END_TEST

/* Wait events run whether or not anybody reads the stream. */
START_TEST(waitevent_fires_while_nobody_reads)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_set_callbacks(c->s, NULL, NULL), APR_SUCCESS);
    wadd(c, 2000, 1, NULL);
    peer_puts(c->fd, "unread\n");
    PUMP_UNTIL(pev_stream_input_pending(c->s) == 7);
    tick(2000);
    ck_assert_log(&LOG, 1);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 7);
}
END_TEST

/* Cyrus: events ran only inside a blocking read with a timeout. Here a wait
 * event of the stream that blocks with no time limit fires while it waits, and
 * its callback is what makes the line arrive. */
START_TEST(waitevent_fires_during_blocking_getline_wait)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    apr_time_t mark = FAKE + 5000;                      /* not due yet */
    wact_t *a;
    char *l;
    apr_size_t n;

    c->take_lines = 0;
    a = wadd(c, mark, 1, w_send_to_p1);
    a->p1 = c;
    a->p2 = "tick\n";
    FAKE_STEP = 1000;                                   /* the loop's time moves */
    guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), APR_SUCCESS);
    guard_stop();
    FAKE_STEP = 0;
    ck_assert_str_eq(l, "tick");
    ck_assert_int_eq(a->calls, 1);
    ck_assert_int_ge(a->seen_now, mark);
    ck_assert_int_eq(c->reads, 0);
}
END_TEST

/* Destroying the stream's pool cancels and frees all its events (valgrind
 * in CI checks the freeing); none fires. Closing cancels them too. */
START_TEST(waitevent_pool_destroy_frees_all)
{
    long n = pt_env_long("POOLEV_WAIT_EVENTS", 1000), i;
    apr_size_t base = timers_armed();
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);

    for (i = 0; i < n; i++) {
        wadd(c, 2000 + i % 50, 1, NULL);
        wadd(d, 2000 + i % 50, 2, NULL);
    }
    ck_assert_uint_eq(pev_waitevent_count(c->s), (apr_size_t) n);
    destroy_own_pool(c);
    ck_assert_int_eq(pev_stream_abort(d->s), APR_SUCCESS);
    ck_assert_uint_eq(pev_waitevent_count(d->s), 0);
    ck_assert_uint_eq(timers_armed(), base);
    tick(2000);
    tick(10000);
    ck_assert_int_eq(LOG.n, 0);
    ck_assert_int_eq(d->closes, 1);
}
END_TEST

/* Removed and dropped events' memory is reused: adding and removing many
 * times does not grow the stream's pool. */
START_TEST(waitevent_memory_reused_after_removal)
{
    long cycles = pt_env_long("POOLEV_WAIT_CYCLES", 5000), k;
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *batch[64];
    char *p, *q, *r;
    int i, tries;

    for (i = 0; i < 64; i++)                            /* warm up */
        batch[i] = wadd(c, 100000, i, NULL);
    for (i = 0; i < 64; i++)
        ck_assert_int_eq(pev_waitevent_remove(c->s, batch[i]->ev), APR_SUCCESS);
    for (tries = 0;; tries++) {                         /* two adjacent allocations */
        p = apr_palloc(c->pool, 8);
        q = apr_palloc(c->pool, 8);
        if (q == p + 8)
            break;
        ck_assert_int_lt(tries, 10);
    }
    for (k = 0; k < cycles; k++) {
        pev_waitevent_t *ev;
        if (k % 2) {
            for (i = 0; i < 8; i++) {
                ck_assert_int_eq(pev_waitevent_add(&ev, c->s, 100000, on_wait, NULL),
                                 APR_SUCCESS);
                ck_assert_int_eq(pev_waitevent_remove(c->s, ev), APR_SUCCESS);
            }
        }
        else {
            for (i = 0; i < 8; i++)
                batch[i] = wadd(c, FAKE, 1, NULL);
            pump(1);                                    /* fire and drop */
            ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
            pt_log_reset(&LOG);
        }
    }
    r = apr_palloc(c->pool, 8);
    ck_assert_msg(r > q && r - q <= 4096,
                  "the stream's pool grew while events were added and removed "
                  "(%ld cycles)", cycles);
}
END_TEST

START_TEST(waitevent_count_tracks_live_events)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *a;

    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    a = wadd(c, 2000, 1, NULL);
    wadd(c, 2000, 2, w_keep_far);
    wadd(c, 3000, 3, NULL);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 3);
    ck_assert_int_eq(pev_waitevent_remove(c->s, a->ev), APR_SUCCESS);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 2);
    tick(2000);                                         /* 2 kept */
    ck_assert_uint_eq(pev_waitevent_count(c->s), 2);
    tick(3000);                                         /* 3 dropped */
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    ck_assert_int_eq(pev_stream_abort(c->s), APR_SUCCESS);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
}
END_TEST

/* ======================================================================== */
/* Randomized: wait events across streams against a sorted-list model        */

#define MW 96
#define MSTREAMS 3

typedef struct {
    int id;
    int live;
    int stream;
    apr_time_t mark;
    apr_uint64_t seq;           /* arming order: ties fire FIFO */
    pev_waitevent_t *h;
} mwev_t;

static mwev_t MWS[MW];
static sctx_t *MST[MSTREAMS];
static apr_uint64_t MSEQ;
static pt_rng_t MRNG;
static uint64_t MSEED;
static long MOP;
static mwev_t *MDUE[MW];        /* this iteration's due list, as the model sees it */
static int MDUE_N, MDUE_POS;
static long MFIRED;

static int mcmp(const void *x, const void *y)
{
    const mwev_t *a = *(mwev_t *const *) x, *b = *(mwev_t *const *) y;

    if (a->mark != b->mark)
        return a->mark < b->mark ? -1 : 1;
    return a->seq < b->seq ? -1 : 1;
}

/* It left this iteration's due list (removed or moved past now). */
static void mdue_drop(mwev_t *m)
{
    int i;

    for (i = MDUE_POS; i < MDUE_N; i++)
        if (MDUE[i] == m) {
            memmove(&MDUE[i], &MDUE[i + 1], (size_t) (MDUE_N - i - 1) * sizeof MDUE[0]);
            MDUE_N--;
            return;
        }
}

static void mkill(mwev_t *m)
{
    m->live = 0;
    m->h = NULL;
    mdue_drop(m);
}

static mwev_t *mrandom_live(mwev_t *except)
{
    int tries;

    for (tries = 0; tries < 8; tries++) {
        mwev_t *m = &MWS[pt_below(&MRNG, MW)];
        if (m->live && m != except)
            return m;
    }
    return NULL;
}

static pev_waitevent_t *model_wait(pev_stream_t *s, pev_waitevent_t *ev, void *rock);

static void madd(apr_time_t mark)
{
    int tries;

    for (tries = 0; tries < 8; tries++) {
        mwev_t *m = &MWS[pt_below(&MRNG, MW)];
        if (m->live)
            continue;
        m->stream = (int) pt_below(&MRNG, MSTREAMS);
        ck_assert_int_eq(pev_waitevent_add(&m->h, MST[m->stream]->s, mark, model_wait, m),
                         APR_SUCCESS);
        m->live = 1;
        m->mark = mark;
        m->seq = ++MSEQ;
        return;
    }
}

static void mset_mark(mwev_t *m, apr_time_t mark)
{
    ck_assert_int_eq(pev_waitevent_set_mark(m->h, mark), APR_SUCCESS);
    m->mark = mark;
    m->seq = ++MSEQ;
    mdue_drop(m);                       /* callers move due events past now only */
}

static pev_waitevent_t *model_wait(pev_stream_t *s, pev_waitevent_t *ev, void *rock)
{
    mwev_t *m = rock, *o;
    apr_time_t now = pev_loop_now(LOOP);
    unsigned k, nact, r;

    ck_assert_msg(m->live && m->h == ev, "seed %llu op %ld: event %d fired while dead",
                  (unsigned long long) MSEED, MOP, m->id);
    ck_assert_ptr_eq(s, MST[m->stream]->s);
    ck_assert_msg(MDUE_POS < MDUE_N && MDUE[MDUE_POS] == m,
                  "seed %llu op %ld: event %d (mark %lld) fired, model expects %d",
                  (unsigned long long) MSEED, MOP, m->id, (long long) m->mark,
                  MDUE_POS < MDUE_N ? MDUE[MDUE_POS]->id : -1);
    ck_assert_int_ge(now, m->mark);
    MDUE_POS++;
    MFIRED++;

    nact = pt_below(&MRNG, 3);
    for (k = 0; k < nact; k++) {
        r = pt_below(&MRNG, 100);
        if (r < 35) {                                   /* remove another */
            if ((o = mrandom_live(m))) {
                ck_assert_int_eq(pev_waitevent_remove(MST[o->stream]->s, o->h), APR_SUCCESS);
                mkill(o);
            }
        }
        else if (r < 60) {                              /* move another past now */
            if ((o = mrandom_live(m)))
                mset_mark(o, now + 50 * (1 + (apr_time_t) pt_below(&MRNG, 30)));
        }
        else {                                          /* add one, not yet due */
            madd(now + 50 * (1 + (apr_time_t) pt_below(&MRNG, 30)));
        }
    }

    r = pt_below(&MRNG, 100);
    if (r < 30) {                                       /* keep, moved forward */
        apr_time_t mark = now + 50 * (1 + (apr_time_t) pt_below(&MRNG, 40));
        ck_assert_int_eq(pev_waitevent_set_mark(ev, mark), APR_SUCCESS);
        m->mark = mark;
        m->seq = ++MSEQ;
        return ev;
    }
    if (r < 42) {                                       /* keep as is: next iteration */
        m->seq = ++MSEQ;
        return ev;
    }
    if (r < 50) {                                       /* keep, moved back */
        apr_time_t mark = m->mark - 50 * (apr_time_t) pt_below(&MRNG, 10);
        ck_assert_int_eq(pev_waitevent_set_mark(ev, mark), APR_SUCCESS);
        m->mark = mark;
        m->seq = ++MSEQ;
        return ev;
    }
    if (r < 65) {                                       /* remove itself */
        ck_assert_int_eq(pev_waitevent_remove(s, ev), APR_SUCCESS);
        mkill(m);
        return pt_below(&MRNG, 2) ? ev : NULL;          /* ignored either way */
    }
    mkill(m);                                           /* drop */
    return NULL;
}

static void mcheck_counts(void)
{
    apr_size_t want[MSTREAMS] = { 0 };
    int i;

    for (i = 0; i < MW; i++)
        if (MWS[i].live)
            want[MWS[i].stream]++;
    for (i = 0; i < MSTREAMS; i++)
        ck_assert_msg(pev_waitevent_count(MST[i]->s) == want[i],
                      "seed %llu op %ld: stream %d has %lu events, model %lu",
                      (unsigned long long) MSEED, MOP, i,
                      (unsigned long) pev_waitevent_count(MST[i]->s),
                      (unsigned long) want[i]);
}

START_TEST(waitevent_model_random)
{
    long ops = pt_env_long("POOLEV_WAIT_OPS", 20000);
    int i;

    MSEED = pt_seed("check_stream");
    MRNG.s = MSEED;
    memset(MWS, 0, sizeof MWS);
    for (i = 0; i < MW; i++)
        MWS[i].id = i;
    for (i = 0; i < MSTREAMS; i++)
        MST[i] = sock_stream(i + 1, NULL, 0);
    MSEQ = 0;
    MFIRED = 0;
    MDUE_N = MDUE_POS = 0;
    for (MOP = 0; MOP < ops; MOP++) {
        unsigned r = pt_below(&MRNG, 100);
        mwev_t *m;

        if (r < 30) {
            madd(FAKE + 50 * (apr_time_t) pt_below(&MRNG, 40) - 500);
        }
        else if (r < 42) {
            if ((m = mrandom_live(NULL))) {
                pev_waitevent_t *h = m->h;
                ck_assert_int_eq(pev_waitevent_remove(MST[m->stream]->s, h), APR_SUCCESS);
                mkill(m);
                if (pt_below(&MRNG, 2))                 /* dead now; nothing added since */
                    ck_assert_int_eq(pev_waitevent_remove(MST[m->stream]->s, h),
                                     PEV_ENOTARMED);
            }
        }
        else if (r < 46) {
            if ((m = mrandom_live(NULL))) {
                int other = (m->stream + 1 + (int) pt_below(&MRNG, MSTREAMS - 1)) % MSTREAMS;
                ck_assert_int_eq(pev_waitevent_remove(MST[other]->s, m->h), PEV_ENOTARMED);
            }
        }
        else if (r < 58) {
            if ((m = mrandom_live(NULL)))
                mset_mark(m, FAKE + 50 * (apr_time_t) pt_below(&MRNG, 40) - 500);
        }
        else if (r < 60) {
            for (i = 0; i < MW; i++)
                if (MWS[i].live)
                    ck_assert_int_eq(pev_waitevent_mark(MWS[i].h), MWS[i].mark);
        }
        else {                                          /* advance and run */
            FAKE += 50 * (apr_time_t) pt_below(&MRNG, 8);
            MDUE_N = MDUE_POS = 0;
            for (i = 0; i < MW; i++)
                if (MWS[i].live && MWS[i].mark <= FAKE)
                    MDUE[MDUE_N++] = &MWS[i];
            qsort(MDUE, (size_t) MDUE_N, sizeof MDUE[0], mcmp);
            ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
            ck_assert_msg(MDUE_POS == MDUE_N,
                          "seed %llu op %ld: %d of %d due events fired; next expected %d",
                          (unsigned long long) MSEED, MOP, MDUE_POS, MDUE_N,
                          MDUE_POS < MDUE_N ? MDUE[MDUE_POS]->id : -1);
            MDUE_N = MDUE_POS = 0;
        }
        mcheck_counts();
    }
    printf("check_stream: %ld wait event operations, %ld events fired\n", ops, MFIRED);
}
END_TEST

/* ======================================================================== */

static Suite *stream_suite(void)
{
    Suite *s = suite_create("stream");
    TCase *tc = tcase_create("stream");
    TCase *tw = tcase_create("waitevent");
    TCase *tm = tcase_create("model");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, stream_create_on_socket);
    tcase_add_test(tc, stream_create_on_pipe);
    tcase_add_test(tc, stream_create_null_arguments_einval);
    tcase_add_test(tc, stream_create_unrelated_pool_einval);
    tcase_add_test(tc, stream_calls_null_arguments_einval);
    tcase_add_test(tc, read_callback_on_new_data);
    tcase_add_test(tc, read_callback_not_repeated_without_new_input);
    tcase_add_test(tc, getline_strips_lf_and_crlf_nul_terminated);
    tcase_add_test(tc, getline_several_lines_in_one_read);
    tcase_add_test(tc, getline_line_split_over_reads);
    tcase_add_test(tc, getline_incomplete_is_eagain);
    tcase_add_test(tc, read_raw_bytes);
    tcase_add_test(tc, max_line_exact_accepted_longer_closes_eline);
    tcase_add_test(tc, max_line_default_64k);
    tcase_add_test(tc, getline_too_long_close_callback_from_loop);
    tcase_add_test(tc, set_max_line_rejects_below_buffered);
    tcase_add_test(tc, input_buffer_bounded_flood_closes_eline);
    tcase_add_test(tc, input_buffer_bounded_without_consumer);
    tcase_add_test(tc, pause_input_stops_reading_until_resumed);
    tcase_add_test(tc, eof_closes_with_last_line_delivered);
    tcase_add_test(tc, eof_sends_output_written_so_far);
    tcase_add_test(tc, write_and_printf_reach_peer);
    tcase_add_test(tc, flush_sends_without_loop);
    tcase_add_test(tc, output_limit_all_or_nothing);
    tcase_add_test(tc, output_limit_lowered_below_pending_refuses);
    tcase_add_test(tc, drain_runs_once_at_half_limit);
    tcase_add_test(tc, eof_waits_for_lines_left_behind_a_full_output);
    tcase_add_test(tc, eof_hold_ends_when_owner_stops_waiting);
    tcase_add_test(tc, eof_waits_for_the_last_reply);
    tcase_add_test(tc, close_flushes_output_then_eof);
    tcase_add_test(tc, close_delivers_output_despite_unread_input);
    tcase_add_test(tc, close_pending_output_ends_at_idle_timeout);
    tcase_add_test(tc, abort_discards_output_closes_at_once);
    tcase_add_test(tc, abort_finishes_pending_close);
    tcase_add_test(tc, close_callback_once_then_no_callback);
    tcase_add_test(tc, no_callback_after_close_in_same_iteration);
    tcase_add_test(tc, closed_stream_calls_return_eclosed);
    tcase_add_test(tc, closed_stream_input_after_eof_can_be_taken);
    tcase_add_test(tc, line_valid_after_abort_in_callback);
    tcase_add_test(tc, line_valid_after_set_max_line_in_callback);
    tcase_add_test(tc, line_valid_after_loop_destroyed_in_callback);
    tcase_add_test(tc, close_from_on_idle_ends_at_timeout);
    tcase_add_test(tc, set_callbacks_replaces_for_next_callback);
    tcase_add_test(tc, pool_destroy_closes_descriptor_silently);
    tcase_add_test(tc, stream_closes_descriptor_once);
    tcase_add_test(tc, pool_destroy_in_read_callback);
    tcase_add_test(tc, pool_destroy_in_close_callback);
    tcase_add_test(tc, pool_destroy_in_wait_callback);
    tcase_add_test(tc, pool_destroy_in_idle_callback);
    tcase_add_test(tc, pool_destroy_in_drain_callback);
    tcase_add_test(tc, callback_destroys_other_stream_ready_in_same_poll);
    tcase_add_test(tc, loop_destroyed_streams_outlive);
    tcase_add_test(tc, loop_destroyed_from_stream_callback);
    tcase_add_test(tc, idle_timeout_closes_at_deadline_not_earlier);
    tcase_add_test(tc, idle_input_restarts_clock);
    tcase_add_test(tc, idle_touch_extends);
    tcase_add_test(tc, idle_deadline_moved_by_callback_in_due_iteration);
    tcase_add_test(tc, idle_callback_nonzero_keeps_open);
    tcase_add_test(tc, idle_timeout_zero_disables);
    tcase_add_test(tc, getline_wait_returns_line_arriving_later);
    tcase_add_test(tc, getline_wait_times_out);
    tcase_add_test(tc, getline_wait_busy_inside_callbacks);
    tcase_add_test(tc, getline_wait_runs_other_events_and_timers);
    tcase_add_test(tc, getline_wait_returns_close_reason);
    tcase_add_test(tc, getline_wait_stream_or_loop_destroyed);
    tcase_add_test(tc, pipe_stream_reads);
    tcase_add_test(tc, pipe_stream_writes);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(tw, setup, teardown);
    tcase_set_timeout(tw, 120);
    tcase_add_test(tw, waitevent_add_null_callback_einval);
    tcase_add_test(tw, waitevent_fires_at_mark_never_earlier);
    tcase_add_test(tw, waitevent_fires_in_mark_order);
    tcase_add_test(tw, waitevent_mark_order_across_streams);
    tcase_add_test(tw, waitevent_equal_marks_fifo);
    tcase_add_test(tw, waitevent_keep_with_moved_mark_fires_again);
    tcase_add_test(tw, waitevent_keep_unmoved_fires_next_iteration);
    tcase_add_test(tw, waitevent_return_null_drops);
    tcase_add_test(tw, waitevent_remove_self_then_return);
    tcase_add_test(tw, waitevent_remove_next_due_from_callback);
    tcase_add_test(tw, waitevent_remove_next_due_then_add_reusing_memory);
    tcase_add_test(tw, waitevent_remove_all_from_callback);
    tcase_add_test(tw, waitevent_add_from_callback);
    tcase_add_test(tw, waitevent_abort_stream_from_callback);
    tcase_add_test(tw, waitevent_close_stream_from_callback);
    tcase_add_test(tw, waitevent_destroy_pool_from_callback_with_others_due);
    tcase_add_test(tw, waitevent_remove_twice_enotarmed);
    tcase_add_test(tw, waitevent_remove_other_streams_handle_enotarmed);
    tcase_add_test(tw, waitevent_set_mark_outside_takes_effect_at_once);
    tcase_add_test(tw, waitevent_fires_while_nobody_reads);
    tcase_add_test(tw, waitevent_fires_during_blocking_getline_wait);
    tcase_add_test(tw, waitevent_pool_destroy_frees_all);
    tcase_add_test(tw, waitevent_memory_reused_after_removal);
    tcase_add_test(tw, waitevent_count_tracks_live_events);
    suite_add_tcase(s, tw);

    tcase_add_checked_fixture(tm, setup, teardown);
    tcase_set_timeout(tm, 300);
    tcase_add_test(tm, waitevent_model_random);
    suite_add_tcase(s, tm);
    return s;
}

int main(void)
{
    /* a stream writing to a pipe whose reader is gone, or the peer end
     * writing to a closed stream, gets EPIPE instead of dying */
    signal(SIGPIPE, SIG_IGN);
    return pt_run(stream_suite());
}
