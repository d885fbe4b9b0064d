/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_compat_prot.c - the Cyrus prot layer (include/poolev/compat/prot.h,
 * doc/porting-cyrus.md).
 *
 * Streams run over socketpairs (and temporary files); the test drives the
 * peer ends directly. Marks are wall-clock seconds, so the few tests that
 * need time to pass use marks one or two seconds ahead; everything else
 * uses marks that are due at once. Streams are created in the test's pool
 * (prot_new_pool) or freed by the test, so nothing outlives a test in
 * check's no-fork mode. An alarm ends a test that would wait forever
 * (check's own timeout does not work without fork). Callbacks and other hot
 * paths call into check only on failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <poolev/compat/prot.h>
#include "harness.h"

static pt_log_t LOG;

static struct protstream *rstream(int fd)
{
    struct protstream *s = prot_new_pool(fd, 0, pt_pool);

    ck_assert_ptr_nonnull(s);
    return s;
}

static struct protstream *wstream(int fd)
{
    struct protstream *s = prot_new_pool(fd, 1, pt_pool);

    ck_assert_ptr_nonnull(s);
    return s;
}

static int select_wait(struct protgroup *g, long usec, struct protgroup **out)
{
    struct timeval tv = { usec / 1000000, usec % 1000000 };

    return prot_select(g, PROT_NO_FD, out, NULL, &tv);
}

/* Run the loop (and so the wait events) for about @a usec. */
static void run_events(struct protstream *s, long usec)
{
    struct protgroup *g = protgroup_new(1), *out = NULL;

    protgroup_insert(g, s);
    ck_assert_int_eq(select_wait(g, usec, &out), 0);
    ck_assert_ptr_null(out);
    protgroup_free(g);
}

static void setup(void)
{
    pt_setup();
    pt_log_reset(&LOG);
    alarm(30);
}

static void teardown(void)
{
    alarm(0);
    pt_teardown();              /* frees the streams, then closes the descriptors */
}

/* ======================================================================== */
/* A wait event's rock: counts, logs, acts                                   */

typedef struct wact wact_t;
typedef struct prot_waitevent *wact_fn(wact_t *a, struct protstream *s,
                                       struct prot_waitevent *ev);
struct wact {
    int id;
    int calls;
    struct protstream *s;
    struct prot_waitevent *ev;
    time_t fired_at[8];
    time_t mark_at[8];
    wact_fn *action;
    int peer;                   /* a peer descriptor to write to */
    void *p;
    int n;
};

static struct prot_waitevent *on_wait(struct protstream *s, struct prot_waitevent *ev,
                                      void *rock)
{
    wact_t *a = rock;

    if (s != a->s || ev != a->ev)
        ck_abort_msg("wait event %d: wrong stream or event", a->id);
    if (a->calls < 8) {
        a->fired_at[a->calls] = time(NULL);
        a->mark_at[a->calls] = ev->mark;
    }
    a->calls++;
    if (time(NULL) < ev->mark)
        ck_abort_msg("wait event %d ran before its mark", a->id);
    pt_log_add(&LOG, a->id);
    return a->action ? a->action(a, s, ev) : NULL;
}

static wact_t *wadd(struct protstream *s, time_t mark, int id, wact_fn *action)
{
    wact_t *a = apr_pcalloc(pt_pool, sizeof *a);

    a->id = id;
    a->s = s;
    a->action = action;
    a->peer = -1;
    a->ev = prot_addwaitevent(s, mark, on_wait, a);
    ck_assert_ptr_nonnull(a->ev);
    ck_assert_int_eq(a->ev->mark, mark);
    ck_assert_ptr_eq(a->ev->rock, a);
    return a;
}

static struct prot_waitevent *w_keep(wact_t *a, struct protstream *s,
                                     struct prot_waitevent *ev)
{
    (void) a;
    (void) s;
    return ev;
}

static struct prot_waitevent *w_remove_self(wact_t *a, struct protstream *s,
                                            struct prot_waitevent *ev)
{
    (void) a;
    prot_removewaitevent(s, ev);
    return NULL;
}

/* ======================================================================== */
/* Line I/O                                                                  */

/* Cyrus style: a read stream and a write stream over one descriptor. */
START_TEST(line_io_over_socketpair)
{
    int sv[2];
    struct protstream *in, *out;
    char buf[64];

    pt_socketpair(sv);
    out = wstream(sv[0]);               /* first: it must not read */
    in = rstream(sv[0]);
    pt_peer_puts(NULL, sv[1], "A001 LOGIN\r\nA002 NOOP\nrest");
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, in), buf);
    ck_assert_str_eq(buf, "A001 LOGIN\r\n");
    ck_assert_int_eq(prot_getc(in), 'A');
    ck_assert_int_eq(prot_ungetc('A', in), 'A');
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, in), buf);
    ck_assert_str_eq(buf, "A002 NOOP\n");
    ck_assert_int_eq(prot_read(in, buf, 2), 2);
    ck_assert_int_eq(memcmp(buf, "re", 2), 0);
    /* a small buffer splits a long line: never more than size - 1 bytes */
    ck_assert_ptr_eq(prot_fgets(buf, 2, in), buf);
    ck_assert_str_eq(buf, "s");
    ck_assert_ptr_null(prot_fgets(buf, 1, in));

    ck_assert_int_eq(prot_printf(out, "* OK %s %d\r\n", "ready", 42), 0);
    ck_assert_int_eq(prot_puts(out, "+ go"), 0);
    ck_assert_int_eq(prot_putc('\n', out), 0);
    ck_assert_int_eq(prot_write(out, "x\n", 2), 0);
    ck_assert_int_eq(prot_flush(out), 0);
    pt_peer_expect(NULL, sv[1], "* OK ready 42\r\n+ go\nx\n");

    /* end of input: the rest, then EOF; the write side goes on */
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, in), buf);
    ck_assert_str_eq(buf, "t");
    ck_assert_ptr_null(prot_fgets(buf, sizeof buf, in));
    ck_assert_int_eq(prot_getc(in), EOF);
    ck_assert_str_eq(prot_error(in), PROT_EOF_STRING);
    ck_assert_int_eq(prot_printf(out, "* BYE\r\n"), 0);
    ck_assert_int_eq(prot_flush(out), 0);
    pt_peer_expect(NULL, sv[1], "* BYE\r\n");

    /* the caller's descriptor stays the caller's */
    ck_assert_int_eq(prot_free(in), 0);
    ck_assert_int_eq(prot_free(out), 0);
    ck_assert_int_ne(fcntl(sv[0], F_GETFD), -1);
    ck_assert_int_eq(prot_free(NULL), 0);
}
END_TEST

START_TEST(misuse_is_an_error_not_a_crash)
{
    int sv[2], pfd[2];
    struct protstream *in, *out;
    char buf[8];
    int dev;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    out = wstream(sv[0]);
    errno = 0;
    ck_assert_ptr_null(prot_new(-1, 0));
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(pipe(pfd), 0);
    close(pfd[0]);
    close(pfd[1]);
    errno = 0;
    ck_assert_ptr_null(prot_new(pfd[0], 0));
    ck_assert_int_eq(errno, EBADF);
    dev = open("/dev/null", O_RDWR);        /* neither pollable nor a regular file */
    ck_assert_int_ge(dev, 0);
    pt_keep_fd(dev);
    errno = 0;
    ck_assert_ptr_null(prot_new_pool(dev, 0, pt_pool));
    ck_assert_int_eq(errno, EPERM);

    ck_assert_int_eq(prot_getc(out), EOF);                  /* not a read stream */
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(prot_write(in, "x", 1), EOF);          /* not a write stream */
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(prot_settimeout(out, 1), -1);
    ck_assert_int_eq(prot_settimeout(in, -1), -1);
    ck_assert_int_eq(prot_setflushonread(in, in), -1);
    ck_assert_int_eq(prot_setflushonread(in, out), 0);
    ck_assert_int_eq(prot_setflushonread(in, NULL), 0);
    /* push back only the byte just read */
    ck_assert_int_eq(prot_ungetc('x', in), EOF);
    pt_peer_puts(NULL, sv[1], "ab");
    ck_assert_int_eq(prot_getc(in), 'a');
    ck_assert_int_eq(prot_ungetc('z', in), EOF);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(prot_ungetc('a', in), 'a');
    ck_assert_int_eq(prot_ungetc('a', in), EOF);
    ck_assert_int_eq(prot_ungetc(EOF, in), EOF);
    ck_assert_int_eq(prot_read(in, buf, 8), 2);
    ck_assert_str_eq(prot_error(NULL), "bad protstream passed to prot_error");
    ck_assert_int_eq(prot_getc(NULL), EOF);
    ck_assert_int_eq(prot_read(NULL, buf, 1), 0);
    ck_assert_ptr_null(prot_fgets(buf, sizeof buf, NULL));
    ck_assert_int_eq(prot_flush(NULL), EOF);
    ck_assert_int_eq(prot_BLOCK(NULL), -1);
    prot_removewaitevent(NULL, NULL);
    prot_removewaitevent(in, NULL);
}
END_TEST

/* A temporary file (read and write) holding @a n bytes of @a data, at
 * offset 0; its name is gone at once; pt_teardown() closes it. */
static int temp_fd(const void *data, size_t n)
{
    const char *dir = getenv("TMPDIR");
    char path[PATH_MAX];
    int fd;

    snprintf(path, sizeof path, "%s/poolev-prot-XXXXXX", dir && *dir ? dir : "/tmp");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(unlink(path), 0);
    pt_keep_fd(fd);
    ck_assert_int_eq(write(fd, data, n), (ssize_t) n);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* The file behind @a fd from its start, NUL-terminated (Cyrus's prot.testc
 * END); its length in *@a n. */
static char *read_back(int fd, size_t *n)
{
    off_t size = lseek(fd, 0, SEEK_END);
    char *buf;

    ck_assert_int_ge(size, 0);
    buf = apr_palloc(pt_pool, (size_t) size + 1);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(read(fd, buf, (size_t) size), (ssize_t) size);
    buf[size] = '\0';
    *n = (size_t) size;
    return buf;
}

/* prot_new(fd, 0) on a regular file (Cyrus reads spool and temporary files
 * so): lines with prot_fgets(), bytes with prot_getc() and prot_read(),
 * past the read-ahead bound, then EOF. */
START_TEST(read_stream_on_a_regular_file)
{
    const size_t bulk = 200 * 1024;
    char *data = malloc(bulk), *buf = malloc(bulk);
    struct protstream *in;
    size_t got = 0;
    int fd, n;

    ck_assert_ptr_nonnull(data);
    ck_assert_ptr_nonnull(buf);
    memcpy(data, "line one\r\nline two\n", 19);
    for (got = 19; got < bulk; got++)
        data[got] = (char) ('a' + got % 26);
    fd = temp_fd(data, bulk);
    in = rstream(fd);
    ck_assert_ptr_eq(prot_fgets(buf, 100, in), buf);
    ck_assert_str_eq(buf, "line one\r\n");
    ck_assert_int_eq(prot_getc(in), 'l');
    ck_assert_int_eq(prot_ungetc('l', in), 'l');
    ck_assert_ptr_eq(prot_fgets(buf, 100, in), buf);
    ck_assert_str_eq(buf, "line two\n");
    for (got = 19; (n = prot_read(in, buf + got, (unsigned) (bulk - got))) > 0;)
        got += (size_t) n;
    ck_assert_uint_eq(got, bulk);
    ck_assert(memcmp(buf + 19, data + 19, bulk - 19) == 0);
    ck_assert_int_eq(prot_getc(in), EOF);
    ck_assert_str_eq(prot_error(in), PROT_EOF_STRING);
    ck_assert_int_eq(prot_free(in), 0);
    ck_assert_int_ne(fcntl(fd, F_GETFD), -1);          /* the caller's descriptor */
    free(data);
    free(buf);
}
END_TEST

/* prot_new(fd, 1) on a regular file, as Cyrus's prot.testc does: between
 * flushes the caller truncates and rewinds the descriptor and reads back
 * what was written. Then bulk output, through the 1 MiB bound, read back
 * by a read stream on the same file. */
START_TEST(write_stream_on_a_regular_file)
{
    const size_t bulk = 3 * 1024 * 1024 + 5;
    struct protstream *out, *in;
    char *big = malloc(bulk), *got;
    size_t n, off;
    int fd = temp_fd("", 0), r;

    ck_assert_ptr_nonnull(big);
    out = wstream(fd);
    ck_assert_int_eq(prot_printf(out, "\"%s\"", "Hello"), 0);
    ck_assert_int_eq(prot_flush(out), 0);
    ck_assert_str_eq(read_back(fd, &n), "\"Hello\"");
    ck_assert_uint_eq(n, 7);

    ck_assert_int_eq(ftruncate(fd, 0), 0);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(prot_puts(out, "{2}\r\nhi"), 0);
    ck_assert_int_eq(prot_flush(out), 0);
    ck_assert_str_eq(read_back(fd, &n), "{2}\r\nhi");

    ck_assert_int_eq(ftruncate(fd, 0), 0);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    for (off = 0; off < bulk; off++)
        big[off] = (char) ('A' + off % 23);
    for (off = 0; off < bulk; off += 10000) {
        unsigned len = (unsigned) (bulk - off < 10000 ? bulk - off : 10000);
        ck_assert_int_eq(prot_write(out, big + off, len), 0);
    }
    ck_assert_int_eq(prot_flush(out), 0);
    ck_assert_int_eq(prot_free(out), 0);
    got = read_back(fd, &n);
    ck_assert_uint_eq(n, bulk);
    ck_assert(memcmp(got, big, bulk) == 0);

    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    in = rstream(fd);
    for (off = 0; (r = prot_read(in, got + off, (unsigned) (bulk - off))) > 0;)
        off += (size_t) r;
    ck_assert_uint_eq(off, bulk);
    ck_assert(memcmp(got, big, bulk) == 0);
    ck_assert_int_eq(prot_getc(in), EOF);
    free(big);
}
END_TEST

/* A writer to a peer that went away gets an error, and keeps getting it. */
START_TEST(write_error_is_reported_and_sticks)
{
    int sv[2];
    struct protstream *out;

    pt_socketpair(sv);
    out = wstream(sv[0]);
    pt_close_fd(sv[1]);
    sv[1] = -1;
    ck_assert_int_eq(prot_printf(out, "hello\r\n"), 0);     /* buffered */
    ck_assert_int_eq(prot_flush(out), EOF);
    ck_assert_ptr_nonnull(prot_error(out));
    ck_assert_int_eq(prot_write(out, "x", 1), EOF);
    ck_assert_int_eq(prot_flush(out), EOF);
}
END_TEST

/* ======================================================================== */
/* Bounded buffers with more data than any of them                           */

typedef struct {
    int fd;
    size_t n;
    size_t got;
    int bad;
} bulk_t;

static unsigned char byte_at(size_t i)
{
    unsigned char c = (unsigned char) ((i * 7 + i / 251) & 0xff);

    return c == '\n' ? 'N' : c;        /* never a line end */
}

static void *bulk_send(void *arg)
{
    bulk_t *b = arg;
    unsigned char chunk[8192];
    size_t off = 0;

    while (off < b->n) {
        size_t k, n = b->n - off < sizeof chunk ? b->n - off : sizeof chunk;
        ssize_t w;

        for (k = 0; k < n; k++)
            chunk[k] = byte_at(off + k);
        w = write(b->fd, chunk, n);
        if (w <= 0) {
            b->bad = 1;
            break;
        }
        off += (size_t) w;
    }
    shutdown(b->fd, SHUT_WR);
    return NULL;
}

static void *bulk_recv(void *arg)
{
    bulk_t *b = arg;
    unsigned char chunk[8192];

    for (;;) {
        ssize_t r = read(b->fd, chunk, sizeof chunk), k;

        if (r <= 0)
            break;
        for (k = 0; k < r; k++)
            if (chunk[k] != byte_at(b->got + (size_t) k))
                b->bad = 1;
        b->got += (size_t) r;
    }
    return NULL;
}

/* 1 MiB without a newline comes through a read stream (no line limit), also
 * when it piles up while the program waits for another stream (reading
 * pauses instead of buffering it), and 3 MiB go out through a write stream
 * that holds at most 1 MiB. */
START_TEST(bulk_data_through_bounded_buffers)
{
    int sv[2], tv[2], ov[2];
    struct protstream *in, *out, *other;
    bulk_t snd = { 0, 1024 * 1024, 0, 0 }, rcv = { 0, 3 * 1024 * 1024, 0, 0 };
    pthread_t th;
    unsigned char *buf = malloc(10000);
    size_t got = 0, i;
    int n, bad = 0;

    ck_assert_ptr_nonnull(buf);
    pt_socketpair(sv);
    pt_socketpair(ov);
    in = rstream(sv[0]);
    other = rstream(ov[0]);
    snd.fd = sv[1];
    ck_assert_int_eq(pthread_create(&th, NULL, bulk_send, &snd), 0);
    run_events(other, 300000);          /* input piles up meanwhile */
    while ((n = prot_read(in, (char *) buf, 10000)) > 0) {
        for (i = 0; i < (size_t) n; i++)
            bad |= buf[i] != byte_at(got + i);
        got += (size_t) n;
    }
    shutdown(sv[0], SHUT_RD);           /* a sender cut short stops too */
    pthread_join(th, NULL);
    ck_assert_int_eq(snd.bad, 0);
    ck_assert_int_eq(bad, 0);
    ck_assert_uint_eq(got, snd.n);
    ck_assert_str_eq(prot_error(in), PROT_EOF_STRING);

    pt_socketpair(tv);
    out = wstream(tv[0]);
    prot_NONBLOCK(out);         /* bounded all the same: waits for room */
    rcv.fd = tv[1];
    ck_assert_int_eq(pthread_create(&th, NULL, bulk_recv, &rcv), 0);
    for (got = 0; got < rcv.n; got += 10000) {
        size_t k, len = rcv.n - got < 10000 ? rcv.n - got : 10000;
        for (k = 0; k < len; k++)
            buf[k] = byte_at(got + k);
        if (prot_write(out, (char *) buf, (unsigned) len) != 0)
            ck_abort_msg("prot_write failed at %lu", (unsigned long) got);
    }
    ck_assert_int_eq(prot_flush(out), 0);
    ck_assert_int_eq(shutdown(tv[0], SHUT_WR), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(rcv.bad, 0);
    ck_assert_uint_eq(rcv.got, rcv.n);
    free(buf);
}
END_TEST

/* ======================================================================== */
/* Modes and the read timeout                                                */

START_TEST(nonblocking_read_says_eagain)
{
    int sv[2];
    struct protstream *in;
    wact_t *a;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    ck_assert_int_eq(prot_NONBLOCK(in), 0);
    a = wadd(in, time(NULL), 1, NULL);      /* due: runs once, as in Cyrus */
    errno = 0;
    ck_assert_int_eq(prot_getc(in), EOF);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_ptr_null(prot_error(in));
    ck_assert_int_eq(a->calls, 1);
    pt_peer_puts(NULL, sv[1], "z");
    ck_assert_int_eq(prot_getc(in), 'z');
    ck_assert_int_eq(prot_BLOCK(in), 0);
}
END_TEST

START_TEST(read_timeout_gives_eof_idle)
{
    int sv[2];
    struct protstream *in;
    time_t t0;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    ck_assert_int_eq(prot_settimeout(in, 1), 0);
    t0 = time(NULL);
    ck_assert_int_eq(prot_getc(in), EOF);
    ck_assert_str_eq(prot_error(in), PROT_IDLE_STRING);
    ck_assert_int_eq(strcmp(PROT_IDLE_STRING, "idle for too long"), 0);
    ck_assert_int_le(time(NULL) - t0, 2);
    ck_assert_int_ge(time(NULL), t0 + 1);
    /* it sticks, as in Cyrus */
    pt_peer_puts(NULL, sv[1], "late\n");
    ck_assert_int_eq(prot_getc(in), EOF);
}
END_TEST

/* A callback that resets the read timeout extends the wait that is running
 * (Cyrus keeps the deadline it computed before the wait). The timeout is
 * 2 s; events at +1 s and +2 s reset it; the second one, due when the
 * original deadline passes, sends the line the read waits for. */
static struct prot_waitevent *w_reset_timeout(wact_t *a, struct protstream *s,
                                              struct prot_waitevent *ev)
{
    prot_resettimeout(s);
    if (a->calls == 1) {
        ev->mark = time(NULL) + 1;
        return ev;
    }
    pt_peer_puts(NULL, a->peer, "done\n");
    return NULL;
}

START_TEST(reset_timeout_in_callback_extends_the_wait)
{
    int sv[2];
    struct protstream *in;
    wact_t *a;
    char buf[16];
    time_t t;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    /* the timeout mark and the event's from one reading of the clock */
    for (;;) {
        t = time(NULL);
        ck_assert_int_eq(prot_settimeout(in, 2), 0);
        a = wadd(in, t + 1, 1, w_reset_timeout);
        if (time(NULL) == t)
            break;
        prot_removewaitevent(in, a->ev);
    }
    a->peer = sv[1];
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, in), buf);
    ck_assert_str_eq(buf, "done\n");
    ck_assert_int_eq(a->calls, 2);
    ck_assert_ptr_null(prot_error(in));
}
END_TEST

/* ======================================================================== */
/* Wait events                                                               */

START_TEST(addwaitevent_null_proc_returns_null)
{
    int sv[2];
    struct protstream *in;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    (void) wadd(in, time(NULL) + 100, 1, NULL);
    errno = 0;
    ck_assert_ptr_null(prot_addwaitevent(in, time(NULL), NULL, NULL));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(prot_addwaitevent(NULL, time(NULL), on_wait, NULL));
}
END_TEST

static struct prot_waitevent *w_wake_reader(wact_t *a, struct protstream *s,
                                            struct prot_waitevent *ev)
{
    pt_peer_puts(NULL, a->peer, "wake\n");
    prot_removewaitevent(s, ev);
    return NULL;
}

/* Cyrus runs events only inside a read with a timeout; here they run in any
 * wait: this read has no timeout, and the event is on another stream. */
START_TEST(events_run_in_a_read_without_timeout)
{
    int sv[2], bv[2];
    struct protstream *in, *other;
    wact_t *a, *b;
    char buf[16];

    pt_socketpair(sv);
    pt_socketpair(bv);
    in = rstream(sv[0]);
    other = rstream(bv[0]);
    a = wadd(other, time(NULL), 1, NULL);
    b = wadd(in, time(NULL) - 5, 2, w_wake_reader);
    b->peer = sv[1];
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, in), buf);
    ck_assert_str_eq(buf, "wake\n");
    ck_assert_int_eq(a->calls, 1);
    ck_assert_int_eq(b->calls, 1);
    ck_assert_log(&LOG, 2, 1);          /* mark order */
}
END_TEST

/* Equal marks run in the order the events were added, as Cyrus's list does. */
START_TEST(equal_marks_run_in_order_added)
{
    int sv[2], i;
    struct protstream *in;
    time_t mark = time(NULL);

    pt_socketpair(sv);
    in = rstream(sv[0]);
    for (i = 1; i <= 5; i++)
        (void) wadd(in, mark, i, NULL);
    run_events(in, 100000);
    ck_assert_log(&LOG, 1, 2, 3, 4, 5);
}
END_TEST

static struct prot_waitevent *w_periodic(wact_t *a, struct protstream *s,
                                         struct prot_waitevent *ev)
{
    if (a->calls == 2) {
        pt_peer_puts(NULL, a->peer, "done\n");
        prot_removewaitevent(s, ev);
        return NULL;
    }
    ev->mark = time(NULL) + 1;
    return ev;
}

/* A periodic event: the callback moves the mark one second on each call. */
START_TEST(periodic_event_advances_its_mark)
{
    int sv[2];
    struct protstream *in;
    wact_t *a;
    char buf[16];

    pt_socketpair(sv);
    in = rstream(sv[0]);
    a = wadd(in, time(NULL), 1, w_periodic);
    a->peer = sv[1];
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, in), buf);
    ck_assert_str_eq(buf, "done\n");
    ck_assert_int_eq(a->calls, 2);
    /* the mark it set (time(NULL) + 1, read a moment after fired_at[0]) */
    ck_assert_int_ge(a->mark_at[1], a->fired_at[0] + 1);
    ck_assert_int_le(a->mark_at[1], a->fired_at[0] + 2);
    ck_assert_int_ge(a->fired_at[1], a->mark_at[1]);
}
END_TEST

/* Kept without moving its mark: once per second, not a busy loop, and
 * prot_select does not fail over a mark in the past. */
START_TEST(unmoved_mark_does_not_busy_loop)
{
    int sv[2];
    struct protstream *in;
    wact_t *a, *b;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    a = wadd(in, time(NULL), 1, w_keep);
    b = wadd(in, time(NULL) - 10, 2, w_keep);
    run_events(in, 1200000);
    ck_assert_msg(a->calls >= 2 && a->calls <= 3, "fired %d times in 1.2 s", a->calls);
    ck_assert_msg(b->calls >= 2 && b->calls <= 3, "fired %d times in 1.2 s", b->calls);
}
END_TEST

START_TEST(self_removal_and_null_return)
{
    int sv[2];
    struct protstream *in;
    wact_t *a, *b, *c;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    a = wadd(in, time(NULL), 1, w_remove_self);
    b = wadd(in, time(NULL), 2, NULL);     /* NULL without removing: removed */
    c = wadd(in, time(NULL) + 100, 3, NULL);
    run_events(in, 100000);
    run_events(in, 100000);
    ck_assert_int_eq(a->calls, 1);
    ck_assert_int_eq(b->calls, 1);
    ck_assert_int_eq(c->calls, 0);
    /* removing them again is ignored: they are not events of in any more */
    prot_removewaitevent(in, a->ev);
    prot_removewaitevent(in, b->ev);
    /* a removed event is gone, whatever its record says afterwards */
    prot_removewaitevent(in, c->ev);
    prot_removewaitevent(in, c->ev);
    c->ev->mark = time(NULL);
    run_events(in, 100000);
    ck_assert_int_eq(c->calls, 0);
}
END_TEST

static struct prot_waitevent *w_remove_next(wact_t *a, struct protstream *s,
                                            struct prot_waitevent *ev)
{
    prot_removewaitevent(s, ((wact_t *) a->p)->ev);
    /* and reuse the memory at once: a stale pointer would read garbage */
    ((wact_t *) a->p)->n = prot_addwaitevent(s, time(NULL) + 100, on_wait, a->p) != NULL;
    prot_removewaitevent(s, ev);
    return NULL;
}

/* Cyrus: removing the next event from a callback is a use after free. */
START_TEST(removing_the_next_event_is_safe)
{
    int sv[2];
    struct protstream *in;
    wact_t *a, *b, *c;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    a = wadd(in, time(NULL) - 2, 1, w_remove_next);
    b = wadd(in, time(NULL) - 1, 2, NULL);
    c = wadd(in, time(NULL), 3, NULL);
    a->p = b;
    run_events(in, 100000);
    ck_assert_int_eq(b->n, 1);
    ck_assert_log(&LOG, 1, 3);
    ck_assert_int_eq(b->calls, 0);
    ck_assert_int_eq(c->calls, 1);
}
END_TEST

/* ev->mark written from outside a callback is honoured at the next wait,
 * earlier and later. */
START_TEST(mark_written_outside_is_honoured)
{
    int sv[2];
    struct protstream *in;
    wact_t *early, *late;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    early = wadd(in, time(NULL) + 100, 1, NULL);
    late = wadd(in, time(NULL), 2, NULL);
    early->ev->mark = time(NULL) - 1;
    late->ev->mark = time(NULL) + 100;
    run_events(in, 300000);
    ck_assert_int_eq(early->calls, 1);
    ck_assert_int_eq(late->calls, 0);
}
END_TEST

/* The idle timeout of a backend connection: every use of the backend pushes
 * the mark; once idle, the event logs out (writing and reading the backend
 * from inside the callback), removes itself, frees the backend's streams and
 * returns NULL. */
typedef struct {
    struct protstream *in, *out;
    int closed;
    char reply[32];
} backend_t;

static struct prot_waitevent *w_backend_idle(wact_t *a, struct protstream *s,
                                             struct prot_waitevent *ev)
{
    backend_t *be = a->p;

    if (prot_printf(be->out, "LOGOUT\r\n") != 0 || prot_flush(be->out) != 0)
        ck_abort_msg("logout not sent");
    if (!prot_fgets(be->reply, sizeof be->reply, be->in))
        ck_abort_msg("no logout reply: %s", prot_error(be->in));
    prot_removewaitevent(s, ev);
    prot_free(be->in);
    prot_free(be->out);
    be->closed = 1;
    pt_peer_puts(NULL, a->peer, "* BYE backend gone\r\n");
    return NULL;
}

START_TEST(idle_timeout_pattern)
{
    int cv[2], bv[2], i;
    struct protstream *client;
    backend_t be = { NULL, NULL, 0, "" };
    wact_t *a;
    char buf[64];

    pt_socketpair(cv);
    pt_socketpair(bv);
    client = rstream(cv[0]);
    be.in = prot_new(bv[0], 0);
    be.out = prot_new(bv[0], 1);
    ck_assert_ptr_nonnull(be.in);
    ck_assert_ptr_nonnull(be.out);
    a = wadd(be.in, time(NULL) + 2, 1, w_backend_idle);
    a->p = &be;
    a->peer = cv[1];
    for (i = 0; i < 3; i++) {           /* uses of the backend */
        ck_assert_int_eq(prot_printf(be.out, "A%d NOOP\r\n", i), 0);
        ck_assert_int_eq(prot_flush(be.out), 0);
        snprintf(buf, sizeof buf, "A%d NOOP\r\n", i);
        pt_peer_expect(NULL, bv[1], buf);
        pt_peer_puts(NULL, bv[1], "OK\r\n");
        ck_assert_ptr_nonnull(prot_fgets(buf, sizeof buf, be.in));
        a->ev->mark = time(NULL) + 2;   /* push the idle deadline */
        run_events(client, 300000);
        ck_assert_int_eq(a->calls, 0);
    }
    pt_peer_puts(NULL, bv[1], "* BYE logging out\r\n");   /* the reply the callback reads */
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, client), buf);
    ck_assert_str_eq(buf, "* BYE backend gone\r\n");
    ck_assert_int_eq(a->calls, 1);
    ck_assert(be.closed);
    ck_assert_str_eq(be.reply, "* BYE logging out\r\n");
    pt_peer_expect(NULL, bv[1], "LOGOUT\r\n");
    run_events(client, 100000);
    ck_assert_int_eq(a->calls, 1);
}
END_TEST

/* A peer that answers every line with "OK " and the line, until input ends. */
static void *echo_peer(void *arg)
{
    int fd = *(int *) arg;
    char line[256];
    size_t n = 0;

    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);

        if (r <= 0)
            break;
        if (n < sizeof line - 1)
            line[n++] = c;
        if (c == '\n') {
            if (write(fd, "OK ", 3) != 3 || write(fd, line, n) != (ssize_t) n)
                break;
            n = 0;
        }
    }
    return NULL;
}

typedef struct {
    struct protstream *in, *out;
    char reply1[64], reply2[64];
    int selected, timed_out;
} talk_t;

/* Inside a callback the loop is running: reads, flushes and prot_select
 * wait for their own descriptors, and the answers come after the requests
 * (nothing was read ahead for them). */
static struct prot_waitevent *w_talk(wact_t *a, struct protstream *s,
                                     struct prot_waitevent *ev)
{
    talk_t *t = a->p;
    struct protgroup *g = protgroup_new(1), *out = NULL;
    struct timeval tv = { 5, 0 }, zero = { 0, 100000 };

    if (prot_printf(t->out, "one\n") != 0 || prot_flush(t->out) != 0
        || !prot_fgets(t->reply1, sizeof t->reply1, t->in))
        ck_abort_msg("first exchange failed: %s", prot_error(t->in));
    protgroup_insert(g, t->in);
    t->timed_out = prot_select(g, PROT_NO_FD, &out, NULL, &zero) == 0;
    if (prot_printf(t->out, "two\n") != 0 || prot_flush(t->out) != 0)
        ck_abort_msg("second request failed");
    t->selected = prot_select(g, PROT_NO_FD, &out, NULL, &tv);
    protgroup_free(out);
    protgroup_free(g);
    if (!prot_fgets(t->reply2, sizeof t->reply2, t->in))
        ck_abort_msg("second reply missing: %s", prot_error(t->in));
    pt_peer_puts(NULL, a->peer, "done\n");
    prot_removewaitevent(s, ev);
    return NULL;
}

START_TEST(blocking_calls_inside_a_callback)
{
    int cv[2], bv[2];
    struct protstream *client;
    talk_t t;
    wact_t *a;
    pthread_t th;
    char buf[16];

    memset(&t, 0, sizeof t);
    pt_socketpair(cv);
    pt_socketpair(bv);
    client = rstream(cv[0]);
    t.in = rstream(bv[0]);
    t.out = wstream(bv[0]);
    ck_assert_int_eq(pthread_create(&th, NULL, echo_peer, &bv[1]), 0);
    a = wadd(client, time(NULL), 1, w_talk);
    a->p = &t;
    a->peer = cv[1];
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, client), buf);
    ck_assert_str_eq(buf, "done\n");
    ck_assert_str_eq(t.reply1, "OK one\n");
    ck_assert_int_eq(t.timed_out, 1);
    ck_assert_int_eq(t.selected, 1);
    ck_assert_str_eq(t.reply2, "OK two\n");
    ck_assert_int_eq(shutdown(bv[0], SHUT_WR), 0);
    pthread_join(th, NULL);
}
END_TEST

static struct prot_waitevent *w_free_stream(wact_t *a, struct protstream *s,
                                            struct prot_waitevent *ev)
{
    (void) a;
    (void) ev;
    prot_free(s);
    return ev;                  /* ignored: its stream is gone */
}

/* A callback frees the stream a read is waiting on: the read returns EOF
 * and touches nothing. */
START_TEST(stream_freed_by_its_event_during_a_read)
{
    int sv[2];
    struct protstream *in;
    wact_t *a;

    pt_socketpair(sv);
    in = prot_new(sv[0], 0);
    ck_assert_ptr_nonnull(in);
    a = wadd(in, time(NULL), 1, w_free_stream);
    wadd(in, time(NULL), 2, NULL);
    ck_assert_int_eq(prot_getc(in), EOF);
    ck_assert_int_eq(a->calls, 1);
    ck_assert_log(&LOG, 1);
}
END_TEST

static struct prot_waitevent *w_getc(wact_t *a, struct protstream *s,
                                     struct prot_waitevent *ev)
{
    a->n = prot_getc(s);
    prot_removewaitevent(s, ev);
    return NULL;
}

/* An event reads the stream whose read is waiting (the read that runs the
 * loop): the bytes the inner read buffered are the outer read's next ones,
 * in a blocking and in a non-blocking read. The read timeout only bounds
 * the wait when they are lost. */
START_TEST(read_in_an_event_of_a_waiting_read_keeps_the_rest)
{
    int sv[2];
    struct protstream *in;
    wact_t *a;
    char buf[16];

    pt_socketpair(sv);
    in = rstream(sv[0]);
    ck_assert_int_eq(prot_settimeout(in, 2), 0);
    a = wadd(in, time(NULL), 1, w_getc);
    pt_peer_puts(NULL, sv[1], "hello\n");
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, in), buf);
    ck_assert_int_eq(a->n, 'h');
    ck_assert_str_eq(buf, "ello\n");

    ck_assert_int_eq(prot_NONBLOCK(in), 0);
    a = wadd(in, time(NULL), 2, w_getc);
    pt_peer_puts(NULL, sv[1], "xy");
    ck_assert_int_eq(prot_getc(in), 'y');
    ck_assert_int_eq(a->n, 'x');

    /* the inner read meets the end: so does the outer one, at once */
    ck_assert_int_eq(prot_BLOCK(in), 0);
    a = wadd(in, time(NULL), 3, w_getc);
    ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
    ck_assert_int_eq(prot_getc(in), EOF);
    ck_assert_int_eq(a->n, EOF);
    ck_assert_str_eq(prot_error(in), PROT_EOF_STRING);
    ck_assert_log(&LOG, 1, 2, 3);
}
END_TEST

/* Cyrus leaks a freed stream's events; here they go with it, and never
 * fire. Under valgrind this also shows that nothing leaks. */
START_TEST(free_with_pending_events)
{
    int sv[2], ov[2], i;
    struct protstream *s, *other;
    wact_t *a[4];

    pt_socketpair(sv);
    pt_socketpair(ov);
    other = rstream(ov[0]);
    s = prot_new(sv[0], 0);
    ck_assert_ptr_nonnull(s);
    for (i = 0; i < 4; i++)
        a[i] = wadd(s, i ? time(NULL) + 100 * i : time(NULL), i + 1, NULL);
    ck_assert_int_eq(prot_free(s), 0);
    /* a new stream takes the freed memory: stale records would be garbage */
    s = prot_new(sv[0], 0);
    ck_assert_ptr_nonnull(s);
    (void) wadd(s, time(NULL), 5, NULL);
    run_events(other, 200000);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(a[i]->calls, 0);
    ck_assert_log(&LOG, 5);
    ck_assert_int_eq(prot_free(s), 0);
}
END_TEST

/* Destroying the pool that owns streams frees them and their events. */
START_TEST(pool_destroy_frees_streams_and_events)
{
    int sv[2], ov[2];
    apr_pool_t *p = pt_subpool(pt_pool);
    struct protstream *s, *w, *other;
    wact_t *a;

    pt_socketpair(sv);
    pt_socketpair(ov);
    other = rstream(ov[0]);
    s = prot_new_pool(sv[0], 0, p);
    w = prot_new_pool(sv[0], 1, p);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(w);
    a = wadd(s, time(NULL), 1, NULL);
    wadd(w, time(NULL), 2, NULL);
    apr_pool_destroy(p);
    run_events(other, 200000);
    ck_assert_int_eq(a->calls, 0);
    ck_assert_int_eq(LOG.n, 0);
    ck_assert_int_ne(fcntl(sv[0], F_GETFD), -1);
}
END_TEST

/* ======================================================================== */
/* prot_select                                                               */

START_TEST(select_over_several_streams)
{
    int av[2], bv[2], cv[2], xv[2], extra = -1;
    struct protstream *a, *b, *c, *w;
    struct protgroup *g = protgroup_new(0), *out = NULL;
    struct timeval tv = { 1, 0 };
    char buf[16];

    pt_socketpair(av);
    pt_socketpair(bv);
    pt_socketpair(cv);
    ck_assert_int_eq(pipe(xv), 0);
    pt_keep_fd(xv[0]);
    pt_keep_fd(xv[1]);
    a = rstream(av[0]);
    b = rstream(bv[0]);
    c = rstream(cv[0]);
    w = wstream(av[0]);
    protgroup_insert(g, a);
    protgroup_insert(g, b);
    protgroup_insert(g, c);
    protgroup_insert(g, w);             /* write streams are skipped */

    pt_peer_puts(NULL, cv[1], "c\n");
    pt_peer_puts(NULL, bv[1], "b\n");
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, &out, NULL, &tv), 2);
    ck_assert_int_eq(tv.tv_sec, 1);     /* not modified */
    ck_assert_uint_eq(protgroup_size(out), 2);
    ck_assert_ptr_eq(protgroup_getelement(out, 0), b);  /* the group's order */
    ck_assert_ptr_eq(protgroup_getelement(out, 1), c);
    protgroup_free(out);
    ck_assert_ptr_nonnull(prot_fgets(buf, sizeof buf, b));
    ck_assert_ptr_nonnull(prot_fgets(buf, sizeof buf, c));

    /* nothing: timeout, no group */
    ck_assert_int_eq(select_wait(g, 100000, &out), 0);
    ck_assert_ptr_null(out);

    /* buffered input counts, and so does the extra descriptor */
    pt_peer_puts(NULL, av[1], "xy");
    ck_assert_int_eq(prot_getc(a), 'x');
    ck_assert_int_eq(write(xv[1], "!", 1), 1);
    ck_assert_int_eq(prot_select(g, xv[0], &out, &extra, NULL), 2);
    ck_assert_int_eq(extra, 1);
    ck_assert_uint_eq(protgroup_size(out), 1);
    ck_assert_ptr_eq(protgroup_getelement(out, 0), a);
    protgroup_free(out);
    ck_assert_int_eq(prot_getc(a), 'y');
    ck_assert_int_eq(read(xv[0], buf, 1), 1);

    /* the extra descriptor alone */
    ck_assert_int_eq(write(xv[1], "!", 1), 1);
    ck_assert_int_eq(prot_select(NULL, xv[0], &out, &extra, NULL), 1);
    ck_assert_int_eq(extra, 1);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(read(xv[0], buf, 1), 1);
    tv.tv_sec = 0;
    tv.tv_usec = 100000;
    ck_assert_int_eq(prot_select(g, xv[0], &out, &extra, &tv), 0);
    ck_assert_int_eq(extra, 0);

    /* end of input is ready too: the read returns at once */
    ck_assert_int_eq(shutdown(cv[1], SHUT_WR), 0);
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, &out, NULL, NULL), 1);
    ck_assert_ptr_eq(protgroup_getelement(out, 0), c);
    protgroup_free(out);
    ck_assert_int_eq(prot_getc(c), EOF);

    errno = 0;
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, NULL, NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(prot_select(NULL, PROT_NO_FD, &out, NULL, NULL), -1);
    ck_assert_int_eq(prot_select(g, xv[0], &out, NULL, NULL), -1);
    protgroup_free(g);
}
END_TEST

/* Cyrus wakes for a due event and reports a stream with no data; here the
 * event runs and the wait goes on. */
START_TEST(select_runs_events_instead_of_reporting)
{
    int sv[2];
    struct protstream *in;
    wact_t *a;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    a = wadd(in, time(NULL), 1, NULL);
    run_events(in, 300000);             /* asserts 0 and no group */
    ck_assert_int_eq(a->calls, 1);
}
END_TEST

/* A stream whose read timeout passes is reported: its read returns EOF at
 * once, saying why. */
START_TEST(select_reports_read_timeout)
{
    int sv[2], ov[2];
    struct protstream *in, *other;
    struct protgroup *g = protgroup_new(2), *out = NULL;

    pt_socketpair(sv);
    pt_socketpair(ov);
    in = rstream(sv[0]);
    other = rstream(ov[0]);
    ck_assert_int_eq(prot_settimeout(in, 1), 0);
    protgroup_insert(g, other);
    protgroup_insert(g, in);
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, &out, NULL, NULL), 1);
    ck_assert_ptr_eq(protgroup_getelement(out, 0), in);
    ck_assert_int_eq(prot_getc(in), EOF);
    ck_assert_str_eq(prot_error(in), PROT_IDLE_STRING);
    protgroup_free(out);
    protgroup_free(g);
}
END_TEST

static struct prot_waitevent *w_free_p(wact_t *a, struct protstream *s,
                                       struct prot_waitevent *ev)
{
    (void) s;
    (void) ev;
    prot_free(a->p);
    return NULL;
}

/* An event frees a stream of the group being waited on: not reported. */
START_TEST(select_skips_a_stream_freed_meanwhile)
{
    int sv[2], ov[2];
    struct protstream *in, *gone;
    struct protgroup *g = protgroup_new(2), *out = NULL;
    wact_t *a;

    pt_socketpair(sv);
    pt_socketpair(ov);
    in = rstream(sv[0]);
    gone = prot_new(ov[0], 0);
    ck_assert_ptr_nonnull(gone);
    protgroup_insert(g, gone);
    protgroup_insert(g, in);
    pt_peer_puts(NULL, ov[1], "data\n");
    a = wadd(in, time(NULL) - 1, 1, w_free_p);
    a->p = gone;
    pt_peer_puts(NULL, sv[1], "x");
    /* the event runs in the first wait; then only in is left to report */
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, &out, NULL, NULL), 1);
    ck_assert_ptr_eq(protgroup_getelement(out, 0), in);
    ck_assert_int_eq(a->calls, 1);
    protgroup_free(out);
    protgroup_free(g);
}
END_TEST

/* A zero timeout is a poll: input that has arrived is reported, with and
 * without an extra descriptor. */
START_TEST(select_with_zero_timeout_sees_arrived_input)
{
    int sv[2], xv[2], extra = -1;
    struct protstream *in;
    struct protgroup *g = protgroup_new(1), *out = NULL;
    struct timeval zero = { 0, 0 };
    char buf[8];

    pt_socketpair(sv);
    ck_assert_int_eq(pipe(xv), 0);
    pt_keep_fd(xv[0]);
    pt_keep_fd(xv[1]);
    in = rstream(sv[0]);
    protgroup_insert(g, in);
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, &out, NULL, &zero), 0);
    ck_assert_ptr_null(out);

    pt_peer_puts(NULL, sv[1], "x\n");
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, &out, NULL, &zero), 1);
    ck_assert_ptr_eq(protgroup_getelement(out, 0), in);
    protgroup_free(out);
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, in), buf);

    pt_peer_puts(NULL, sv[1], "y\n");
    ck_assert_int_eq(prot_select(g, xv[0], &out, &extra, &zero), 1);
    ck_assert_int_eq(extra, 0);
    ck_assert_ptr_eq(protgroup_getelement(out, 0), in);
    protgroup_free(out);
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, in), buf);
    ck_assert_str_eq(buf, "y\n");
    protgroup_free(g);
}
END_TEST

/* Nothing to wait for and no timeout: -1 with EINVAL at once, not a wait
 * without end; also when an event frees the last stream of the group. With
 * a timeout an empty group waits it out (events run meanwhile). */
START_TEST(select_with_nothing_to_wait_for)
{
    int sv[2], ov[2];
    struct protstream *w, *other, *gone;
    struct protgroup *g = protgroup_new(1), *out = NULL;
    wact_t *a;

    alarm(5);                           /* the bug waited forever */
    pt_socketpair(sv);
    pt_socketpair(ov);
    errno = 0;
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, &out, NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(out);
    w = wstream(sv[0]);
    protgroup_insert(g, w);
    errno = 0;
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, &out, NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);

    other = rstream(sv[0]);
    a = wadd(other, time(NULL), 1, NULL);
    ck_assert_int_eq(select_wait(g, 100000, &out), 0);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(a->calls, 1);

    gone = prot_new(ov[0], 0);
    ck_assert_ptr_nonnull(gone);
    protgroup_insert(g, gone);
    a = wadd(other, time(NULL), 2, w_free_p);
    a->p = gone;
    errno = 0;
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, &out, NULL, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(a->calls, 1);
    protgroup_free(g);
}
END_TEST

static void *write_later(void *arg)
{
    usleep(100000);
    if (write(*(int *) arg, "x", 1) != 1)
        abort();
    return NULL;
}

/* A timeout too long for the microsecond clock is as good as none: the
 * select waits for the input (it overflowed into a timeout of 0). */
START_TEST(select_with_huge_timeout)
{
    int sv[2];
    struct protstream *in;
    struct protgroup *g = protgroup_new(1), *out = NULL;
    struct timeval tv;
    pthread_t th;

    pt_socketpair(sv);
    in = rstream(sv[0]);
    protgroup_insert(g, in);
    tv.tv_sec = sizeof tv.tv_sec >= 8 ? (time_t) ((long long) 1 << 62) : (time_t) INT_MAX;
    tv.tv_usec = 0;
    ck_assert_int_eq(pthread_create(&th, NULL, write_later, &sv[1]), 0);
    ck_assert_int_eq(prot_select(g, PROT_NO_FD, &out, NULL, &tv), 1);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_ptr_eq(protgroup_getelement(out, 0), in);
    protgroup_free(out);
    ck_assert_int_eq(prot_getc(in), 'x');
    protgroup_free(g);
}
END_TEST

START_TEST(protgroup_operations)
{
    struct protgroup *g = protgroup_new(2), *c;
    struct protstream *s[40];
    int sv[2], i;

    pt_socketpair(sv);
    for (i = 0; i < 40; i++)
        s[i] = rstream(sv[0]);
    ck_assert_uint_eq(protgroup_size(g), 0);
    ck_assert_ptr_null(protgroup_getelement(g, 0));
    for (i = 0; i < 40; i++)
        protgroup_insert(g, s[i]);
    protgroup_insert(g, s[3]);              /* once only */
    protgroup_insert(g, NULL);
    ck_assert_uint_eq(protgroup_size(g), 40);
    protgroup_delete(g, s[0]);
    protgroup_delete(g, s[0]);              /* not there: ignored */
    ck_assert_uint_eq(protgroup_size(g), 39);
    ck_assert_ptr_eq(protgroup_getelement(g, 0), s[1]);
    ck_assert_ptr_eq(protgroup_getelement(g, 38), s[39]);
    ck_assert_ptr_null(protgroup_getelement(g, 39));
    c = protgroup_copy(g);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(protgroup_size(c), 39);
    ck_assert_ptr_eq(protgroup_getelement(c, 5), s[6]);
    protgroup_reset(g);
    ck_assert_uint_eq(protgroup_size(g), 0);
    ck_assert_uint_eq(protgroup_size(NULL), 0);
    ck_assert_ptr_null(protgroup_copy(NULL));
    protgroup_free(c);
    protgroup_free(g);
    protgroup_free(NULL);
}
END_TEST

/* ======================================================================== */
/* A process that never called APR                                           */

START_TEST(works_in_a_process_that_never_called_apr)
{
    ck_assert_int_eq(pt_run_self("--bare"), 0);
}
END_TEST

/* LeakSanitizer asks this at exit: not in a forked child, which drops the
 * parent's state without freeing it (LeakSanitizer does not scan APR's
 * pool memory, so it would call part of that state leaked). */
static volatile int forked_child;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return forked_child;
}

/* A forked child that calls exit() (its exit handlers run) leaves the
 * parent's loop alone: the parent's streams are still polled. The read
 * timeout bounds the wait when they are not. */
START_TEST(child_exit_leaves_the_parents_streams)
{
    int sv[2], ov[2], status;
    struct protstream *in, *own;
    char buf[16];
    pid_t pid;

    pt_socketpair(sv);
    pt_socketpair(ov);
    in = prot_new(sv[0], 0);            /* in the compat default pool */
    ck_assert_ptr_nonnull(in);
    own = rstream(ov[0]);
    ck_assert_int_eq(prot_settimeout(in, 2), 0);
    ck_assert_int_eq(prot_settimeout(own, 2), 0);
    fflush(NULL);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        forked_child = 1;
        exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    pt_peer_puts(NULL, sv[1], "hello\n");
    pt_peer_puts(NULL, ov[1], "world\n");
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, in), buf);
    ck_assert_str_eq(buf, "hello\n");
    ck_assert_ptr_eq(prot_fgets(buf, sizeof buf, own), buf);
    ck_assert_str_eq(buf, "world\n");
    ck_assert_int_eq(prot_free(in), 0);
}
END_TEST

static int bare_fired;

static struct prot_waitevent *bare_event(struct protstream *s, struct prot_waitevent *ev,
                                         void *rock)
{
    bare_fired++;
    (void) write(*(int *) rock, "ping\n", 5);
    prot_removewaitevent(s, ev);
    return NULL;
}

static int bare_main(void)
{
    int sv[2];
    struct protstream *in, *out;
    char buf[32];

    PT_MODE_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    alarm(10);
    in = prot_new(sv[0], 0);
    out = prot_new(sv[1], 1);
    PT_MODE_CHECK(in && out);
    PT_MODE_CHECK(prot_printf(out, "hello %d\n", 1) == 0 && prot_flush(out) == 0);
    PT_MODE_CHECK(prot_fgets(buf, sizeof buf, in) && strcmp(buf, "hello 1\n") == 0);
    PT_MODE_CHECK(prot_addwaitevent(in, time(NULL), bare_event, &sv[1]) != NULL);
    PT_MODE_CHECK(prot_fgets(buf, sizeof buf, in) && strcmp(buf, "ping\n") == 0);
    PT_MODE_CHECK(bare_fired == 1);
    prot_free(in);
    prot_free(out);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* ======================================================================== */

static Suite *compat_prot_suite(void)
{
    Suite *s = suite_create("compat_prot");
    TCase *tc = tcase_create("rules");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, line_io_over_socketpair);
    tcase_add_test(tc, misuse_is_an_error_not_a_crash);
    tcase_add_test(tc, write_error_is_reported_and_sticks);
    tcase_add_test(tc, read_stream_on_a_regular_file);
    tcase_add_test(tc, write_stream_on_a_regular_file);
    tcase_add_test(tc, bulk_data_through_bounded_buffers);
    tcase_add_test(tc, nonblocking_read_says_eagain);
    tcase_add_test(tc, read_timeout_gives_eof_idle);
    tcase_add_test(tc, reset_timeout_in_callback_extends_the_wait);
    tcase_add_test(tc, addwaitevent_null_proc_returns_null);
    tcase_add_test(tc, events_run_in_a_read_without_timeout);
    tcase_add_test(tc, equal_marks_run_in_order_added);
    tcase_add_test(tc, periodic_event_advances_its_mark);
    tcase_add_test(tc, unmoved_mark_does_not_busy_loop);
    tcase_add_test(tc, self_removal_and_null_return);
    tcase_add_test(tc, removing_the_next_event_is_safe);
    tcase_add_test(tc, mark_written_outside_is_honoured);
    tcase_add_test(tc, idle_timeout_pattern);
    tcase_add_test(tc, blocking_calls_inside_a_callback);
    tcase_add_test(tc, stream_freed_by_its_event_during_a_read);
    tcase_add_test(tc, read_in_an_event_of_a_waiting_read_keeps_the_rest);
    tcase_add_test(tc, free_with_pending_events);
    tcase_add_test(tc, pool_destroy_frees_streams_and_events);
    tcase_add_test(tc, select_over_several_streams);
    tcase_add_test(tc, select_runs_events_instead_of_reporting);
    tcase_add_test(tc, select_reports_read_timeout);
    tcase_add_test(tc, select_skips_a_stream_freed_meanwhile);
    tcase_add_test(tc, select_with_zero_timeout_sees_arrived_input);
    tcase_add_test(tc, select_with_nothing_to_wait_for);
    tcase_add_test(tc, select_with_huge_timeout);
    tcase_add_test(tc, protgroup_operations);
    tcase_add_test(tc, works_in_a_process_that_never_called_apr);
    tcase_add_test(tc, child_exit_leaves_the_parents_streams);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    static const pt_mode_t modes[] = { { "--bare", bare_main }, { NULL, NULL } };

    /* pt_main() ignores SIGPIPE, as Cyrus services do */
    return pt_main(argc, argv, compat_prot_suite, modes);
}
