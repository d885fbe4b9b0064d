/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_stream_close.c - streams: end of input, closing and aborting, what
 * is valid after a close, and pools destroyed at any point (the stream's,
 * the loop's, from any callback) (include/poolev/stream.h, doc/streams.md).
 *
 * Use-after-free checks: callbacks that destroy a pool then reuse the freed
 * memory at once (pt_scribble()), so a stale pointer reads garbage; ASan and
 * valgrind in CI report it precisely.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <apr_strings.h>

#include "stream_fixture.h"

/* ======================================================================== */
/* End of input                                                              */

START_TEST(eof_closes_with_last_line_delivered)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    char *l;
    apr_size_t n;
    apr_status_t rv;

    pt_peer_puts(LOOP, c->fd, "a\nlast");
    PT_PUMP_UNTIL(LOOP, c->nlines == 1 && pev_stream_input_pending(c->s) == 4);
    ck_assert(!pev_stream_eof(c->s));
    ck_assert_int_eq(c->line_eof[0], 0);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
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
    pt_peer_expect_eof(LOOP, c->fd);
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
    pt_peer_puts(LOOP, c->fd, "req\n");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    pt_peer_expect(LOOP, c->fd, "OK req\n");
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_uint_eq(pt_peer_expect_eof(LOOP, c->fd), 0);
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
    ck_assert_int_eq(pt_peer_send(LOOP, c->fd, req, off), APR_SUCCESS);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    n = pt_peer_read(LOOP, c->fd, got, sizeof got - 1, &eof);
    got[n] = '\0';
    ck_assert_msg(n == 6400 && memcmp(got, want, 6400) == 0,
                  "peer read %lu of 6400 bytes of replies", (unsigned long) n);
    ck_assert_uint_eq(pt_peer_expect_eof(LOOP, c->fd), 0);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
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
    pt_peer_puts(LOOP, c->fd, "a\nb\nc\n");
    PT_PUMP_UNTIL(LOOP, c->p1 != NULL);     /* c's reply waits for room */
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 0);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    pt_pump(LOOP, 5);                       /* the end of input is read */
    ck_assert_int_eq(c->closes, 0);
    peer_skip_filler(c);
    n = pt_peer_read(LOOP, c->fd, got, 3 * 65536, &eof);
    answer_size = 100;
    ck_assert_uint_eq(n, 3 * 65536);
    ck_assert_int_eq(got[2 * 65536], 'c');
    ck_assert_uint_eq(pt_peer_expect_eof(LOOP, c->fd), 0);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
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
    ck_assert_int_eq(pt_peer_send(LOOP, c->fd, req, off), APR_SUCCESS);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    ck_assert_uint_eq(pt_peer_expect_eof(LOOP, c->fd), 300);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_eq(c->nlines, 3);
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

    pt_pattern(out, n, 0);
    ck_assert_int_eq(pev_stream_write(c->s, out, n), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    ck_assert_int_eq(c->closes, 0);                     /* never from inside a call */
    ck_assert(!pev_stream_is_open(c->s));
    ck_assert_int_eq(pev_stream_write(c->s, "x", 1), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_printf(c->s, "%s", "x"), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_close(c->s), PEV_ECLOSED);
    pt_pump(LOOP, 3);
    ck_assert_int_eq(c->closes, 0);                     /* output still pending */
    ck_assert_uint_gt(pev_stream_output_pending(c->s), 0);
    peer_skip_filler(c);
    ck_assert_uint_eq(pt_peer_read(LOOP, c->fd, got, n, &eof), n);
    ck_assert_int_eq(memcmp(got, out, n), 0);
    pt_peer_expect_eof(LOOP, c->fd);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
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

    pt_pattern(out, n, 0);
    ck_assert_int_eq(pev_stream_write(c->s, out, n), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    pt_peer_puts(LOOP, c->fd, "late\n");                /* e.g. pipelined after QUIT */
    pt_pump(LOOP, 3);
    ck_assert_int_eq(c->reads, 0);                      /* input stopped */
    /* read until the stream has handed its last byte to the kernel, then let
     * it close before reading the rest */
    peer_skip_filler(c);
    while (pev_stream_output_pending(c->s) > 0 && !eof)
        got += pt_peer_read(LOOP, c->fd, in + got, n - got < 512 ? n - got : 512, &eof);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    if (!eof)
        got += pt_peer_read(NULL, c->fd, in + got, n - got, &eof);
    ck_assert_msg(got == n, "the peer received %lu of %lu bytes written before "
                  "pev_stream_close()", (unsigned long) got, (unsigned long) n);
    ck_assert_int_eq(memcmp(in, out, n), 0);
    pt_peer_expect_eof(NULL, c->fd);
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
    pt_tick(LOOP, 1500);
    pt_tick(LOOP, 1999);
    ck_assert_int_eq(c->closes, 0);
    pt_tick(LOOP, 2000);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_msg(c->reason == PEV_ECLOSED || c->reason == APR_TIMEUP,
                  "close reason %d", c->reason);
    pt_peer_expect_eof(NULL, c->fd);
}
END_TEST

START_TEST(abort_discards_output_closes_at_once)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    apr_size_t n = 100000, got;
    char *out = apr_palloc(pt_pool, n);

    pt_pattern(out, n, 0);
    ck_assert_int_eq(pev_stream_write(c->s, out, n), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_abort(c->s), APR_SUCCESS);
    ck_assert_int_eq(c->closes, 0);                     /* from the loop, later */
    ck_assert(!pev_stream_is_open(c->s));
    ck_assert_uint_eq(pev_stream_output_pending(c->s), 0);
    /* the descriptor is closed at once: the peer sees the end without the
     * loop running, and not the discarded output */
    got = pt_peer_expect_eof(NULL, c->fd);
    ck_assert_uint_lt(got, c->filled + n);
    pt_pump(LOOP, 1);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_abort(c->s), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_close(c->s), PEV_ECLOSED);
    pt_pump(LOOP, 3);
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
    pt_pump(LOOP, 2);
    ck_assert_int_eq(c->closes, 0);
    ck_assert_int_eq(pev_stream_abort(c->s), APR_SUCCESS);       /* closing: succeeds */
    ck_assert_uint_lt(pt_peer_expect_eof(NULL, c->fd), c->filled + sizeof buf);
    pt_pump(LOOP, 1);
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
    pt_pump(LOOP, 1);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.streams, 0);
    (void) pt_peer_send(NULL, c->fd, "data\n", 5);
    pt_peer_expect_eof(LOOP, c->fd);
    pt_tick(LOOP, 1500);
    pt_tick(LOOP, 2000);
    pt_tick(LOOP, 2500);
    pt_tick(LOOP, 100000);
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
    pt_peer_puts(LOOP, c->fd, "x\n");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    pt_wait_readable(c->srv_fd);
    pt_tick(LOOP, 2000);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    pt_tick(LOOP, 3000);
    pt_tick(LOOP, 10000);
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
    pt_pump(LOOP, 1);
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
    pt_pump(LOOP, 2);
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
    pt_peer_puts(LOOP, c->fd, "one\ntwo\nrest");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_eq(c->nlines, 3);                     /* taken in on_close */
    ck_assert_str_eq(c->line[0], "one");
    ck_assert_str_eq(c->line[2], "rest");
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_EOF);

    c = sock_stream(2, NULL, 0);
    c->take_lines = 0;
    pt_peer_puts(LOOP, c->fd, "kept\nrest");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
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
    pt_scribble();
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
    pt_peer_puts(LOOP, c->fd, "hello\nworld\n");
    PT_PUMP_UNTIL(LOOP, c->reads == 1);
    ck_assert_int_eq(c->st, APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
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
    pt_scribble();
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
    pt_peer_puts(LOOP, c->fd, "LOGIN alice\nNEXT COMMAND IS HERE\n");
    PT_PUMP_UNTIL(LOOP, c->reads == 1);
    ck_assert_int_eq(c->st, APR_SUCCESS);
    /* the lowered maximum holds from the next read on */
    c->read_action = NULL;
    c->take_lines = 1;
    pt_peer_puts(LOOP, c->fd, "0123456789012345678901234567890\n");
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ELINE);
}
END_TEST

/* A stream whose pool outlives the loop: a callback that destroys the loop
 * still holds a valid line (the buffer goes with the stream's pool). */
static apr_pool_t *ORPHAN_LOOP_POOL;
static int ORPHAN_OK;

static void orphan_read(pev_stream_t *s, void *user_data)
{
    char *l;
    apr_size_t n;

    (void) user_data;
    ck_assert_int_eq(pev_stream_getline(s, &l, &n), APR_SUCCESS);
    apr_pool_destroy(ORPHAN_LOOP_POOL);
    pt_scribble();
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
    apr_time_t end = pev_clock_monotonic() + (apr_time_t) PT_WAIT_MS * 1000;

    ORPHAN_LOOP_POOL = pt_subpool(pt_pool);
    ORPHAN_OK = 0;
    ck_assert_int_eq(pev_loop_create(&loop, ORPHAN_LOOP_POOL), APR_SUCCESS);
    pt_tcp_pair(sp, pt_pool, 0, &srv, &cli);
    ck_assert_int_eq(pev_stream_create_socket(&s, loop, srv, &cb, NULL, sp), APR_SUCCESS);
    pt_peer_puts(LOOP, pt_sock_fd(cli), "SHUTDOWN\nmore\n");
    while (!ORPHAN_OK && pev_clock_monotonic() < end) {
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
    pt_tick(LOOP, 2000);
    ck_assert_int_eq(c->idles, 1);
    ck_assert_int_eq(c->closes, 0);
    ck_assert_uint_gt(pev_stream_output_pending(c->s), 0);
    pt_tick(LOOP, 2999);
    ck_assert_int_eq(c->closes, 0);
    pt_tick(LOOP, 3000);
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
    pt_peer_puts(LOOP, c1->fd, "x\n");
    PT_PUMP_UNTIL(LOOP, c2->nlines == 1);
    ck_assert_int_eq(c1->reads, 0);
    ck_assert_int_eq(pev_stream_set_callbacks(c1->s, NULL, NULL), APR_SUCCESS);   /* none */
    pt_peer_puts(LOOP, c1->fd, "y\n");
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(c1->s) == 2);
    ck_assert_int_eq(c2->reads, 1);
    ck_assert_int_eq(pev_stream_abort(c1->s), APR_SUCCESS);
    pt_pump(LOOP, 2);
    ck_assert_int_eq(c1->closes + c2->closes, 0);
}
END_TEST

/* ======================================================================== */
/* Pools                                                                     */

/* Destroying the stream's pool closes the descriptor, cancels the idle timer
 * and the wait events, and runs no callback. */
START_TEST(pool_destroy_closes_descriptor_silently)
{
    apr_size_t base = pt_loop_timers(LOOP);
    pev_loop_stats_t st;
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    wadd(c, 1500, 1, NULL);
    wadd(c, 1500, 2, NULL);
    ck_assert_int_eq(pev_stream_write(c->s, "pending", 7), APR_SUCCESS);
    destroy_own_pool(c);
    ck_assert_uint_eq(pt_loop_timers(LOOP), base);
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.streams, 0);
    pt_peer_expect_eof(NULL, c->fd);                    /* without the loop */
    (void) pt_peer_send(NULL, c->fd, "x\n", 2);
    pt_tick(LOOP, 1500);
    pt_tick(LOOP, 2000);
    pt_tick(LOOP, 100000);
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
    pt_tcp_pair(sockpool, pt_pool, 0, &srv, &cli);
    fd = pt_sock_fd(srv);
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, NULL, NULL, sp), APR_SUCCESS);
    apr_pool_destroy(sp);
    pt_peer_expect_eof(NULL, pt_sock_fd(cli));
    check_not_closed_twice(sockpool, fd);

    /* closed by abort */
    sockpool = pt_subpool(pt_pool);
    sp = pt_subpool(sockpool);
    pt_tcp_pair(sockpool, pt_pool, 0, &srv, &cli);
    fd = pt_sock_fd(srv);
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, NULL, NULL, sp), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_abort(s), APR_SUCCESS);
    pt_pump(LOOP, 1);
    pt_peer_expect_eof(NULL, pt_sock_fd(cli));
    check_not_closed_twice(sockpool, fd);
}
END_TEST

START_TEST(pool_destroy_in_read_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    wadd(c, 1000, 1, NULL);                             /* due: must not fire after */
    c->read_action = destroy_own_pool;   /* after taking the lines */
    pt_peer_puts(LOOP, c->fd, "x\nmore\n");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PT_PUMP_UNTIL(LOOP, c->destroyed);
    ck_assert_int_eq(c->reads, 1);
    ck_assert_int_ge(c->nlines, 1);
    pt_peer_expect_eof(LOOP, c->fd);
    pt_tick(LOOP, 5000);
    ck_assert_int_eq(c->reads, 1);
    ck_assert_int_eq(c->closes, 0);
    ck_assert_int_le(LOG.n, 1);
}
END_TEST

START_TEST(pool_destroy_in_close_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0), *c2 = sock_stream(2, NULL, 0);

    c->close_action = destroy_own_pool;
    pt_peer_puts(LOOP, c->fd, "tail");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PT_PUMP_UNTIL(LOOP, c->destroyed);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    /* the same after pev_stream_close() with output pending */
    c2->close_action = destroy_own_pool;
    ck_assert_int_eq(pev_stream_write(c2->s, "bye\n", 4), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c2->s), APR_SUCCESS);
    pt_peer_expect(LOOP, c2->fd, "bye\n");
    PT_PUMP_UNTIL(LOOP, c2->destroyed);
    ck_assert_int_eq(c2->reason, PEV_ECLOSED);
    pt_peer_expect_eof(LOOP, c2->fd);
    pt_pump(LOOP, 3);
}
END_TEST

START_TEST(pool_destroy_in_wait_callback)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    wadd(c, 1500, 1, w_destroy_own_pool);
    wadd(c, 1500, 2, NULL);
    wadd(c, 1600, 3, NULL);
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 600), APR_SUCCESS);   /* due too */
    ck_assert_int_eq(pev_stream_write(c->s, "out", 3), APR_SUCCESS);
    pt_tick(LOOP, 1600);
    ck_assert_log(&LOG, 1);
    ck_assert(c->destroyed);
    pt_peer_expect_eof(LOOP, c->fd);
    pt_tick(LOOP, 5000);
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
    pt_tick(LOOP, 2000);
    ck_assert_int_eq(c->idles, 1);
    ck_assert(c->destroyed);
    pt_peer_expect_eof(LOOP, c->fd);
    pt_tick(LOOP, 3000);
    pt_tick(LOOP, 10000);
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
    PT_PUMP_UNTIL(LOOP, c->destroyed);
    ck_assert_int_eq(c->drains, 1);
    pt_peer_expect_eof(LOOP, c->fd);
    pt_tick(LOOP, 5000);
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
        pt_peer_puts(LOOP, a->fd, "a\n");
        pt_peer_puts(LOOP, b->fd, "b\n");
    }
    pt_wait_readable(a->srv_fd);
    pt_wait_readable(b->srv_fd);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(a->reads + b->reads, 1);
    alive = a->reads ? a : b;
    dead = a->reads ? b : a;
    ck_assert(dead->destroyed);
    ck_assert(!alive->destroyed);
    pt_pump(LOOP, 3);
    ck_assert_int_eq(dead->reads + dead->closes, 0);
    pt_peer_expect_eof(LOOP, dead->fd);
    pt_peer_puts(LOOP, alive->fd, "again\n");
    PT_PUMP_UNTIL(LOOP, alive->nlines == 3);
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
    ck_assert_int_eq(pev_loop_set_clock(loop2, pt_fake_clock, NULL), APR_SUCCESS);
    LOOP = loop2;
    c = sock_stream(1, sp, 0);
    inner = sock_stream(2, pt_subpool(lp), 0);          /* goes with the loop */
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    wadd(c, 5000, 1, NULL);
    ck_assert_int_eq(pev_stream_write(c->s, "abc", 3), APR_SUCCESS);
    apr_pool_destroy(lp);
    LOOP = keep;
    pt_peer_expect_eof(NULL, c->fd);
    pt_peer_expect_eof(NULL, inner->fd);
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
    pt_scribble();
}

START_TEST(loop_destroyed_from_stream_callback)
{
    pev_loop_t *keep = LOOP, *loop2;
    apr_pool_t *lp = pt_subpool(pt_pool);
    sctx_t *c, *d;

    ck_assert_int_eq(pev_loop_create(&loop2, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_set_clock(loop2, pt_fake_clock, NULL), APR_SUCCESS);
    LOOP = loop2;
    c = sock_stream(1, NULL, 0);
    d = sock_stream(2, NULL, 0);                        /* also ready, after the kill */
    c->read_action = d->read_action = destroy_pool_p1;
    c->p1 = d->p1 = lp;
    wadd(c, 1000, 1, NULL);
    wadd(d, 1000, 2, NULL);
    pt_peer_puts(LOOP, c->fd, "x\n");
    pt_peer_puts(LOOP, d->fd, "y\n");
    LOOP = keep;
    pt_wait_readable(c->srv_fd);
    pt_wait_readable(d->srv_fd);
    ck_assert_int_eq(pev_loop_run_once(loop2, 0), PEV_EDESTROYED);
    ck_assert_int_eq(c->reads + d->reads, 1);
    ck_assert_int_eq(LOG.n, 0);
    ck_assert_int_eq(c->closes + d->closes, 0);
    ck_assert_int_eq(pev_stream_write(c->s, "x", 1), PEV_EDESTROYED);
    ck_assert_int_eq(pev_stream_write(d->s, "x", 1), PEV_EDESTROYED);
    pt_peer_expect_eof(NULL, c->fd);
    pt_peer_expect_eof(NULL, d->fd);
}
END_TEST

/* ======================================================================== */

static Suite *stream_close_suite(void)
{
    Suite *s = suite_create("stream_close");
    TCase *tc = tcase_create("close");

    tcase_add_checked_fixture(tc, stream_setup, stream_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, eof_closes_with_last_line_delivered);
    tcase_add_test(tc, eof_sends_output_written_so_far);
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
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, stream_close_suite, NULL);
}
