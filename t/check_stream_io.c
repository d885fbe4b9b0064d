/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_stream_io.c - streams: creating them, input, lines and the maximum
 * line, output and its limit, pipes, regular files (include/poolev/stream.h,
 * doc/streams.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_portable.h>
#include <apr_strings.h>

#include "stream_fixture.h"

/* ======================================================================== */
/* Creating streams                                                          */

START_TEST(stream_create_on_socket)
{
    apr_pool_t *sp = pt_subpool(pt_pool), *sockpool = pt_subpool(pt_pool), *sp2;
    apr_socket_t *srv, *cli;
    pev_stream_t *s = NULL;
    sctx_t *c = ctx_new(1);
    pev_loop_stats_t st;

    pt_tcp_pair(sp, pt_pool, 0, &srv, &cli);
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
    c->fd = pt_sock_fd(cli);
    pt_peer_puts(LOOP, c->fd, "hi\n");
    PT_PUMP_UNTIL(LOOP, c->nlines == 1);
    ck_assert_str_eq(c->line[0], "hi");

    /* a socket from an ancestor of the stream's pool is accepted */
    sp2 = pt_subpool(sockpool);
    c = ctx_new(2);
    pt_tcp_pair(sockpool, pt_pool, 0, &srv, &cli);
    ck_assert_int_eq(pev_stream_create_socket(&c->s, LOOP, srv, NULL, NULL, sp2), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.streams, 2);
    pt_peer_puts(LOOP, pt_sock_fd(cli), "x\n");
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(c->s) == 2);  /* no callbacks: fine */
}
END_TEST

START_TEST(stream_create_on_pipe)
{
    apr_file_t *rd, *wr;
    sctx_t *c = ctx_new(1);

    c->pool = pt_subpool(pt_pool);
    pt_pipe_pair(pt_pool, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(&c->s, LOOP, rd, &CB_ALL, c, c->pool),
                     APR_SUCCESS);
    ck_assert_ptr_eq(pev_stream_file(c->s), rd);
    ck_assert_ptr_null(pev_stream_socket(c->s));
    ck_assert_ptr_eq(pev_stream_pool(c->s), c->pool);
    ck_assert(pev_stream_is_open(c->s));
    ck_assert_int_eq(pt_peer_send(LOOP, pt_file_fd(wr), "pipe\n", 5), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->nlines == 1);
    ck_assert_str_eq(c->line[0], "pipe");
}
END_TEST

static int nodelay_of(int fd)
{
    int on = -1;
    socklen_t len = sizeof on;

    ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    return on;
}

/* A TCP stream sends without Nagle's delay unless told otherwise; streams
 * that are not over TCP have no such setting. */
START_TEST(stream_tcp_nodelay)
{
    apr_pool_t *sp = pt_subpool(pt_pool);
    apr_socket_t *srv, *cli, *us;
    apr_file_t *rd, *wr;
    pev_stream_t *s, *p, *u;
    apr_os_sock_t sv[2];
    int fds[2];

    pt_tcp_pair(sp, pt_pool, 0, &srv, &cli);
    ck_assert_int_eq(nodelay_of(pt_sock_fd(srv)), 0);     /* the kernel's default */
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, NULL, NULL, sp), APR_SUCCESS);
    ck_assert_int_ne(nodelay_of(pt_sock_fd(srv)), 0);
    ck_assert_int_eq(pev_stream_set_nodelay(s, 0), APR_SUCCESS);
    ck_assert_int_eq(nodelay_of(pt_sock_fd(srv)), 0);
    ck_assert_int_eq(pev_stream_set_nodelay(s, 1), APR_SUCCESS);
    ck_assert_int_ne(nodelay_of(pt_sock_fd(srv)), 0);
    ck_assert_int_eq(pev_stream_set_nodelay(NULL, 1), APR_EINVAL);

    pt_pipe_pair(sp, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(&p, LOOP, rd, NULL, NULL, sp), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_set_nodelay(p, 1), APR_ENOTIMPL);

    /* an AF_UNIX stream socket: created as any other, no TCP option */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    sv[0] = fds[0];
    sv[1] = fds[1];
    us = NULL;
    ck_assert_int_eq(apr_os_sock_put(&us, &sv[0], sp), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_create_socket(&u, LOOP, us, NULL, NULL, sp), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_set_nodelay(u, 1), APR_ENOTIMPL);
    pt_peer_puts(LOOP, fds[1], "unix\n");
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(u) == 5);
    close(fds[1]);

    ck_assert_int_eq(pev_stream_abort(s), APR_SUCCESS);        /* closed at once */
    ck_assert_int_eq(pev_stream_set_nodelay(s, 1), PEV_ECLOSED);
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

    pt_tcp_pair(sp, pt_pool, 0, &srv, &cli);
    ck_assert_int_eq(pev_stream_create_socket(NULL, LOOP, srv, &CB_ALL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_socket(&s, NULL, srv, &CB_ALL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, NULL, &CB_ALL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, &CB_ALL, NULL, NULL), APR_EINVAL);
    pt_pipe_pair(sp, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(NULL, LOOP, rd, NULL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_file(&s, NULL, rd, NULL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_file(&s, LOOP, NULL, NULL, NULL, sp), APR_EINVAL);
    ck_assert_int_eq(pev_stream_create_file(&s, LOOP, rd, NULL, NULL, NULL), APR_EINVAL);
    /* the refused socket is still the caller's and still works */
    ck_assert_int_eq(pt_peer_send(NULL, pt_sock_fd(srv), "ok", 2), APR_SUCCESS);
    ck_assert_uint_eq(pt_peer_read(NULL, pt_sock_fd(cli), buf, 2, &eof), 2);
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

    pt_tcp_pair(sockpool, pt_pool, 0, &srv, &cli);     /* a sibling's socket */
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv, &CB_ALL, NULL, sp), APR_EINVAL);
    pt_tcp_pair(child, pt_pool, 0, &srv2, &cli2);      /* a child's socket */
    ck_assert_int_eq(pev_stream_create_socket(&s, LOOP, srv2, &CB_ALL, NULL, sp), APR_EINVAL);
    pt_pipe_pair(sockpool, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(&s, LOOP, rd, NULL, NULL, sp), APR_EINVAL);
    /* refused: the stream's pool going does not close the caller's socket */
    apr_pool_destroy(sp);
    ck_assert_int_eq(pt_peer_send(NULL, pt_sock_fd(srv), "ok", 2), APR_SUCCESS);
    ck_assert_uint_eq(pt_peer_read(NULL, pt_sock_fd(cli), buf, 2, &eof), 2);
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
    pt_tick(LOOP, 5000);
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
    pt_pump(LOOP, 3);
    ck_assert_int_eq(c->reads, 0);                      /* no input, no call */
    pt_peer_puts(LOOP, c->fd, "abc");
    PT_PUMP_UNTIL(LOOP, c->reads >= 1);
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
    pt_peer_puts(LOOP, c->fd, "left\n");
    PT_PUMP_UNTIL(LOOP, c->reads == 1);
    pt_pump(LOOP, 5);
    ck_assert_int_eq(c->reads, 1);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 5);
    pt_peer_puts(LOOP, c->fd, "more\n");
    PT_PUMP_UNTIL(LOOP, c->reads == 2);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 10);
    c->take_lines = 1;
    pt_peer_puts(LOOP, c->fd, "x\n");
    PT_PUMP_UNTIL(LOOP, c->reads == 3);
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

    ck_assert_int_eq(pt_peer_send(LOOP, c->fd, in, sizeof in - 1), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->nlines == 6);
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

    pt_peer_puts(LOOP, c->fd, "l1\nl2\r\nl3\n");
    PT_PUMP_UNTIL(LOOP, c->nlines == 3);
    ck_assert_int_eq(c->first_read_lines, 3);
    ck_assert_str_eq(c->line[0], "l1");
    ck_assert_str_eq(c->line[1], "l2");
    ck_assert_str_eq(c->line[2], "l3");
}
END_TEST

START_TEST(getline_line_split_over_reads)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    pt_peer_puts(LOOP, c->fd, "hel");
    PT_PUMP_UNTIL(LOOP, c->reads == 1);
    ck_assert_int_eq(c->nlines, 0);
    ck_assert_int_eq(c->last_get, APR_EAGAIN);
    pt_peer_puts(LOOP, c->fd, "lo wo");
    PT_PUMP_UNTIL(LOOP, c->reads == 2);
    ck_assert_int_eq(c->nlines, 0);
    pt_peer_puts(LOOP, c->fd, "rld\r");                 /* the CR may start a CRLF */
    PT_PUMP_UNTIL(LOOP, c->reads == 3);
    ck_assert_int_eq(c->nlines, 0);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 12);
    pt_peer_puts(LOOP, c->fd, "\nnext");
    PT_PUMP_UNTIL(LOOP, c->reads == 4);
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
    pt_peer_puts(LOOP, c->fd, "partial");
    PT_PUMP_UNTIL(LOOP, c->reads == 1);
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_EAGAIN);
    ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), APR_EAGAIN);     /* no side effect */
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 7);
    ck_assert(pev_stream_is_open(c->s));
    pt_peer_puts(LOOP, c->fd, "\n");
    PT_PUMP_UNTIL(LOOP, c->reads == 2);
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
    ck_assert_int_eq(pt_peer_send(LOOP, c->fd, in, sizeof in - 1), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(c->s) == 7);
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
    pt_peer_puts(LOOP, c->fd, "0123456789\r\n0123456789\n");
    PT_PUMP_UNTIL(LOOP, c->nlines == 2);
    ck_assert_uint_eq(c->len[0], 10);
    ck_assert_uint_eq(c->len[1], 10);
    /* max content plus a CR still waiting for its LF: max + 1 bytes, fine */
    pt_peer_puts(LOOP, c->fd, "0123456789\r");
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(c->s) == 11);
    ck_assert(pev_stream_is_open(c->s));
    pt_peer_puts(LOOP, c->fd, "\n");
    PT_PUMP_UNTIL(LOOP, c->nlines == 3);
    ck_assert_str_eq(c->line[2], "0123456789");
    /* one more byte of content: the stream closes */
    pt_peer_puts(LOOP, c->fd, "01234567890\n");
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ELINE);
    ck_assert_int_eq(pev_stream_close_reason(c->s), PEV_ELINE);
    ck_assert_int_eq(c->nlines, 3);                     /* never delivered */
    ck_assert_uint_le(c->max_pending, 12);
    pt_peer_expect_eof(LOOP, c->fd);
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
    ck_assert_int_eq(pt_peer_send(LOOP, c->fd, buf, max + 2), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->nlines == 1);
    ck_assert_uint_eq(c->len[0], max);
    ck_assert(pev_stream_is_open(c->s));
    memset(buf, 'b', max + 1);
    buf[max + 1] = '\n';
    (void) pt_peer_send(LOOP, c->fd, buf, max + 2);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
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
    pt_peer_puts(LOOP, c->fd, "123456\n");              /* max + 2 bytes, content 6 */
    PT_PUMP_UNTIL(LOOP, c->reads >= 1 || c->closes >= 1);
    if (c->closes == 0) {
        ck_assert_int_eq(pev_stream_getline(c->s, &l, &n), PEV_ELINE);
        ck_assert_int_eq(c->closes, 0);
        pt_pump(LOOP, 1);
        ck_assert_int_eq(c->closes, 1);
    }
    ck_assert_int_eq(c->reason, PEV_ELINE);
    ck_assert_int_eq(pev_stream_close_reason(c->s), PEV_ELINE);
    pt_pump(LOOP, 3);
    ck_assert_int_eq(c->closes, 1);
}
END_TEST

START_TEST(set_max_line_rejects_below_buffered)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    c->take_lines = 0;
    pt_peer_puts(LOOP, c->fd, "abcdefgh");
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(c->s) == 8);
    ck_assert_msg(pev_stream_set_max_line(c->s, 5) == APR_EINVAL,
                  "set_max_line(5) with 8 bytes buffered: more than max + 2 bytes "
                  "buffered must be APR_EINVAL");
    ck_assert_int_eq(pev_stream_set_max_line(c->s, 8), APR_SUCCESS);
    c->take_lines = 1;
    pt_peer_puts(LOOP, c->fd, "\n");
    PT_PUMP_UNTIL(LOOP, c->nlines == 1);
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
    (void) pt_peer_send(LOOP, c->fd, buf, n);           /* stops when the stream goes */
    free(buf);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
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
    (void) pt_peer_send(LOOP, c->fd, buf, n);
    free(buf);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
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

    pt_peer_puts(LOOP, c->fd, "one\n");
    PT_PUMP_UNTIL(LOOP, c->nlines == 1);
    c->take_lines = 0;
    pt_peer_puts(LOOP, c->fd, "kept");
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(c->s) == 4);
    ck_assert_int_eq(pev_stream_pause_input(c->s, 1), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_pause_input(c->s, 1), APR_SUCCESS);    /* idempotent */
    pt_peer_puts(LOOP, c->fd, "\ntwo\n");
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    ck_assert_int_eq(vp(c->s, "out\n"), APR_SUCCESS);
    pt_pump(LOOP, 5);
    pt_peer_expect(LOOP, c->fd, "out\n");
    ck_assert_int_eq(c->reads, 2);                      /* nothing new read */
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 4);
    ck_assert(!pev_stream_eof(c->s));
    ck_assert(pev_stream_is_open(c->s));
    c->take_lines = 1;
    ck_assert_int_eq(pev_stream_pause_input(c->s, 0), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_eq(c->nlines, 3);
    ck_assert_str_eq(c->line[1], "kept");
    ck_assert_str_eq(c->line[2], "two");
    ck_assert_int_eq(pev_stream_pause_input(c->s, 1), PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_pause_input(NULL, 1), APR_EINVAL);
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
    pt_peer_expect(LOOP, c->fd, "hello 42-x\nv!");
    PT_PUMP_UNTIL(LOOP, pev_stream_output_pending(c->s) == 0);
    ck_assert_int_eq(c->drains, 0);                     /* nothing was refused */
    ck_assert(pev_stream_is_open(c->s));
}
END_TEST

START_TEST(flush_sends_without_loop)
{
    sctx_t *c = sock_stream(1, NULL, 0), *full;

    ck_assert_int_eq(pev_stream_write(c->s, "abc", 3), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_flush(c->s), APR_SUCCESS);
    ck_assert_uint_eq(pev_stream_output_pending(c->s), 0);
    pt_peer_expect(LOOP, c->fd, "abc");
    ck_assert_int_eq(pev_stream_flush(c->s), APR_SUCCESS);       /* nothing to send */

    /* filled just before the flush: a TCP receiver that holds its data
     * unread may reopen its window later (its queue collapsed, a window
     * probe answered), and the pumping above can take that long on a
     * loaded machine */
    full = sock_stream(2, NULL, FILL);
    ck_assert_int_eq(pev_stream_write(full->s, "abc", 3), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_flush(full->s), APR_EAGAIN);
    ck_assert_uint_eq(pev_stream_output_pending(full->s), 3);
    peer_skip_filler(full);
    pt_peer_expect(LOOP, full->fd, "abc");
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
    pt_pump(LOOP, 3);
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
        ck_assert_uint_eq(pt_peer_read(LOOP, c->fd, got, 1000, &eof), 1000);
        ck_assert_int_eq(memcmp(got, buf, 1000), 0);
        pt_pump(LOOP, 3);
        ck_assert(pt_peer_idle(c->fd));
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
    PT_PUMP_UNTIL(LOOP, c->drains == 1);
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

    pt_pattern(buf, sizeof buf, 0);
    ck_assert_int_eq(pev_stream_set_output_limit(s, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(s, buf, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(s, buf, 1), PEV_EFULL);
    ck_assert_int_eq(pev_stream_write(s, buf, 1), PEV_EFULL);    /* twice: still one drain */
    pt_pump(LOOP, 3);
    ck_assert_int_eq(c->drains, 0);                     /* nothing drained yet */
    peer_skip_filler(c);
    ck_assert_uint_eq(pt_peer_read(LOOP, c->fd, got, 1000, &eof), 1000);
    ck_assert_int_eq(memcmp(got, buf, 1000), 0);
    PT_PUMP_UNTIL(LOOP, c->drains == 1);
    ck_assert_uint_le(c->drain_seen, 500);
    pt_pump(LOOP, 5);
    ck_assert_int_eq(c->drains, 1);
    /* writes that fit: no drain */
    ck_assert_int_eq(pev_stream_write(s, buf, 700), APR_SUCCESS);
    ck_assert_uint_eq(pt_peer_read(LOOP, c->fd, got, 700, &eof), 700);
    PT_PUMP_UNTIL(LOOP, pev_stream_output_pending(s) == 0);
    pt_pump(LOOP, 3);
    ck_assert_int_eq(c->drains, 1);
    ck_assert(pev_stream_is_open(s));
}
END_TEST

/* A flush that sends the output of a refused writer leads to its on_drain,
 * from the loop (never inside the flush): nothing else would, since the
 * emptied stream polls for no room. */
START_TEST(flush_that_empties_output_leads_to_drain)
{
    sctx_t *c = sock_stream(1, NULL, FILL);
    pev_stream_t *s = c->s;
    char buf[1000], got[1000];
    apr_size_t skipped = 0;
    int eof;

    pt_pattern(buf, sizeof buf, 0);
    ck_assert_int_eq(pev_stream_set_output_limit(s, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(s, buf, 1000), APR_SUCCESS);
    pt_pump(LOOP, 3);                                   /* the kernel is full */
    ck_assert_uint_eq(pev_stream_output_pending(s), 1000);
    ck_assert_int_eq(pev_stream_write(s, buf, 1), PEV_EFULL);
    /* the peer makes room without the loop running, so no poll sees it */
    while (skipped < c->filled) {
        char chunk[4096];
        ssize_t n = recv(c->fd, chunk, sizeof chunk < c->filled - skipped
                                           ? sizeof chunk : c->filled - skipped, 0);
        ck_assert_int_gt(n, 0);
        skipped += (apr_size_t) n;
    }
    ck_assert_int_eq(pev_stream_flush(s), APR_SUCCESS);
    ck_assert_uint_eq(pev_stream_output_pending(s), 0);
    ck_assert_int_eq(c->drains, 0);                     /* not inside the flush */
    PT_PUMP_UNTIL(LOOP, c->drains == 1);
    pt_pump(LOOP, 3);
    ck_assert_int_eq(c->drains, 1);
    ck_assert_uint_eq(pt_peer_read(LOOP, c->fd, got, 1000, &eof), 1000);
    ck_assert_int_eq(memcmp(got, buf, 1000), 0);
}
END_TEST

/* ======================================================================== */
/* Pipes                                                                     */

START_TEST(pipe_stream_reads)
{
    apr_file_t *rd, *wr;
    sctx_t *c = ctx_new(1);

    c->pool = pt_subpool(pt_pool);
    pt_pipe_pair(pt_pool, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(&c->s, LOOP, rd, &CB_ALL, c, c->pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pt_peer_send(LOOP, pt_file_fd(wr), "p1\np2\r\nlast", 11), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->nlines == 2);
    ck_assert_str_eq(c->line[0], "p1");
    ck_assert_str_eq(c->line[1], "p2");
    ck_assert_int_eq(apr_file_close(wr), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
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
    pt_pipe_pair(pt_pool, 0, &rd, &wr);
    fd = pt_file_fd(rd);
    ck_assert_int_eq(pev_stream_create_file(&c->s, LOOP, wr, &CB_ALL, c, c->pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_stream_printf(c->s, "hello %s\n", "pipe"), APR_SUCCESS);
    pt_peer_expect(LOOP, fd, "hello pipe\n");
    ck_assert_int_eq(pev_stream_write(c->s, "bye", 3), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    pt_peer_expect(LOOP, fd, "bye");
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_uint_eq(pt_peer_expect_eof(LOOP, fd), 0);
}
END_TEST

/* ======================================================================== */
/* Regular files                                                             */

/* A temporary file holding @a n bytes of @a data, opened with @a flags
 * (APR_FOPEN_*) from @a pool at offset @a off; its name is gone at once.
 * *@a other (if asked): a second descriptor of the file (read and write),
 * with its own offset. */
static apr_file_t *temp_file(apr_pool_t *pool, const char *data, apr_size_t n,
                             apr_int32_t flags, off_t off, int *other)
{
    const char *dir = getenv("TMPDIR");
    char *path = apr_psprintf(pt_pool, "%s/poolev-file-XXXXXX", dir && *dir ? dir : "/tmp");
    apr_file_t *f;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, n), (ssize_t) n);
    close(fd);
    ck_assert_int_eq(apr_file_open(&f, path, flags, APR_OS_DEFAULT, pool), APR_SUCCESS);
    if (other) {
        *other = open(path, O_RDWR);
        ck_assert_int_ge(*other, 0);
        pt_keep_fd(*other);
    }
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(lseek(pt_file_fd(f), off, SEEK_SET), off);
    return f;
}

/* A stream (CB_ALL, on @a loop) over a temporary file holding @a data. */
static sctx_t *file_stream(pev_loop_t *loop, int id, const char *data, apr_int32_t flags,
                           int *other)
{
    sctx_t *c = ctx_new(id);
    apr_file_t *f;

    c->pool = pt_unkept_subpool(pt_pool);       /* a use after free faults */
    f = temp_file(c->pool, data, strlen(data), flags, 0, other);
    ck_assert_int_eq(pev_stream_create_file(&c->s, loop, f, &CB_ALL, c, c->pool),
                     APR_SUCCESS);
    return c;
}

/* Everything in the file of descriptor @a fd, NUL-terminated; its size in
 * *@a n. */
static char *file_contents(int fd, apr_size_t *n)
{
    struct stat sb;
    char *buf;

    ck_assert_int_eq(fstat(fd, &sb), 0);
    buf = apr_palloc(pt_pool, (apr_size_t) sb.st_size + 1);
    ck_assert_int_eq(pread(fd, buf, (size_t) sb.st_size, 0), (ssize_t) sb.st_size);
    buf[sb.st_size] = '\0';
    *n = (apr_size_t) sb.st_size;
    return buf;
}

/* A regular file is read without polling, from the descriptor's offset, to
 * its end: then the stream closes with APR_EOF, as for a pipe, once. What is
 * appended later is not read (no tailing). */
START_TEST(file_stream_reads_lines_then_eof)
{
    sctx_t *c = ctx_new(1);
    apr_file_t *f;
    pev_loop_stats_t st;
    int other;

    c->pool = pt_subpool(pt_pool);
    f = temp_file(c->pool, "skip\nf1\nf2\r\nlast", 16, APR_FOPEN_READ, 5, &other);
    ck_assert_int_eq(pev_stream_create_file(&c->s, LOOP, f, &CB_ALL, c, c->pool),
                     APR_SUCCESS);
    ck_assert_ptr_eq(pev_stream_file(c->s), f);
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.streams, 1);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_eq(c->nlines, 3);
    ck_assert_str_eq(c->line[0], "f1");
    ck_assert_str_eq(c->line[1], "f2");
    ck_assert_str_eq(c->line[2], "last");
    ck_assert(c->line_eof[2]);
    ck_assert(pev_stream_eof(c->s));
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.streams, 0);

    /* the file grows: its end was reported once, and the stream is closed */
    ck_assert_int_eq(pwrite(other, "\nmore\n", 6, 16), 6);
    pt_pump(LOOP, 5);
    ck_assert_int_eq(c->nlines, 3);
    ck_assert_int_eq(c->closes, 1);

    /* APR's own buffer would hide bytes from the stream: refused */
    c = ctx_new(2);
    c->pool = pt_subpool(pt_pool);
    f = temp_file(c->pool, "b\n", 2, APR_FOPEN_READ | APR_FOPEN_BUFFERED, 0, NULL);
    ck_assert_int_eq(pev_stream_create_file(&c->s, LOOP, f, &CB_ALL, c, c->pool),
                     APR_EINVAL);
    ck_assert_int_eq(apr_file_close(f), APR_SUCCESS);  /* still the caller's */
}
END_TEST

/* The loop runs a file stream to its end by itself: it does not wait in its
 * poll while the file has unread data (pev_loop_run() on the real clock; a
 * guard timer would stop it after 5 s). */
typedef struct {
    pev_loop_t *loop;
    int fired;
} guard_t;

static void guard_fired(pev_timer_t *t, void *user_data)
{
    guard_t *g = user_data;

    (void) t;
    g->fired = 1;
    pev_loop_stop(g->loop);
}

static void discard_lines(sctx_t *c)
{
    char *l;
    apr_size_t n;

    while (pev_stream_getline(c->s, &l, &n) == APR_SUCCESS)
        ck_assert_uint_eq(n, 63);
}

static void cancel_p1_timer(sctx_t *c)
{
    ck_assert_int_eq(pev_timer_cancel(c->p1), APR_SUCCESS);
}

START_TEST(file_stream_loop_does_not_wait_while_unread)
{
    guard_t g = { NULL, 0 };
    pev_timer_t *t;
    sctx_t *c;
    char *data = apr_palloc(pt_pool, 300 * 1024 + 1);
    apr_time_t start;
    int i;

    for (i = 0; i < 300 * 1024; i++)
        data[i] = i % 64 == 63 ? '\n' : 'a';
    data[300 * 1024] = '\0';
    ck_assert_int_eq(pev_loop_create(&g.loop, pt_pool), APR_SUCCESS);
    c = file_stream(g.loop, 1, data, APR_FOPEN_READ, NULL);
    c->take_lines = 0;
    c->read_action = discard_lines;
    ck_assert_int_eq(pev_timer_add_in(&t, g.loop, 5 * APR_USEC_PER_SEC, guard_fired, &g,
                                      pt_pool), APR_SUCCESS);
    c->p1 = t;
    c->close_action = cancel_p1_timer;
    start = pev_clock_monotonic();
    ck_assert_int_eq(pev_loop_run(g.loop), APR_SUCCESS);
    ck_assert_msg(!g.fired, "the loop waited in its poll with a file to read");
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_int_ge(c->reads, 2);                      /* more than one chunk */
    ck_assert_int_lt(pev_clock_monotonic() - start, 4 * APR_USEC_PER_SEC);
}
END_TEST

/* A file of several MiB is read a chunk per iteration: a pipe served by the
 * same loop gets its line long before the file is finished. */
#define BIG_LINES (512 * 1024)                          /* 8 bytes each: 4 MiB */

static unsigned big_next, big_bad, big_at_ping;

static void take_numbered_lines(sctx_t *c)
{
    char *l;
    apr_size_t n;

    while (pev_stream_getline(c->s, &l, &n) == APR_SUCCESS) {
        if (n != 7 || strtoul(l, NULL, 10) != big_next)
            big_bad++;
        big_next++;
    }
}

static void note_ping(sctx_t *c)
{
    (void) c;
    big_at_ping = big_next;
}

START_TEST(file_stream_large_file_does_not_starve_others)
{
    char *data = malloc((size_t) BIG_LINES * 8 + 1), *p = data;
    sctx_t *c, *pc = ctx_new(2);
    apr_file_t *rd, *wr;
    unsigned i;

    ck_assert_ptr_nonnull(data);
    for (i = 0; i < BIG_LINES; i++, p += 8)
        snprintf(p, 9, "%07u\n", i);
    big_next = big_bad = 0;
    big_at_ping = (unsigned) -1;
    c = file_stream(LOOP, 1, data, APR_FOPEN_READ, NULL);
    free(data);
    c->take_lines = 0;
    c->read_action = take_numbered_lines;
    pc->pool = pt_subpool(pt_pool);
    pt_pipe_pair(pt_pool, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(&pc->s, LOOP, rd, &CB_ALL, pc, pc->pool),
                     APR_SUCCESS);
    pc->read_action = note_ping;
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_gt(big_next, 0);                      /* the file has begun */
    ck_assert_int_eq(pt_peer_send(NULL, pt_file_fd(wr), "ping\n", 5), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, pc->nlines == 1);
    ck_assert_str_eq(pc->line[0], "ping");
    ck_assert_msg(big_at_ping < BIG_LINES / 4, "the pipe waited for %u of %u lines",
                  big_at_ping, BIG_LINES);
    ck_assert_int_eq(c->closes, 0);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
    ck_assert_uint_eq(big_next, BIG_LINES);
    ck_assert_uint_eq(big_bad, 0);
    ck_assert(pev_stream_is_open(pc->s));
}
END_TEST

/* Pausing a file stream stops its reading (and the loop waits in its poll
 * again: nothing to do); wait events and the idle timeout go on, as on any
 * stream. Resuming reads on to the end. */
static void pause_now(sctx_t *c)
{
    ck_assert_int_eq(pev_stream_pause_input(c->s, 1), APR_SUCCESS);
}

START_TEST(file_stream_pause_input_stops_reading)
{
    sctx_t *c = file_stream(LOOP, 1, "a\nb\n", APR_FOPEN_READ | APR_FOPEN_WRITE, NULL);
    apr_time_t start;

    c->read_action = pause_now;
    PT_PUMP_UNTIL(LOOP, c->reads == 1);
    c->read_action = NULL;
    pt_pump(LOOP, 5);
    ck_assert_int_eq(c->reads, 1);
    ck_assert_int_eq(vp(c->s, "out\n"), APR_SUCCESS);  /* output goes on */
    pt_pump(LOOP, 5);
    ck_assert_uint_eq(pev_stream_output_pending(c->s), 0);
    ck_assert_int_eq(c->reads, 1);
    ck_assert(!pev_stream_eof(c->s));
    ck_assert(pev_stream_is_open(c->s));
    start = pev_clock_monotonic();
    ck_assert_int_eq(pev_loop_run_once(LOOP, 20000), APR_SUCCESS);
    ck_assert_int_ge(pev_clock_monotonic() - start, 15000);    /* it waited */
    wadd(c, 1500, 7, NULL);
    pt_tick(LOOP, 1500);
    ck_assert_log(&LOG, 7);
    ck_assert_int_eq(pev_stream_pause_input(c->s, 0), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, pev_stream_eof(c->s));
    pt_pump(LOOP, 2);
    ck_assert(pev_stream_is_open(c->s));    /* written too: the end closes nothing */
    ck_assert_int_eq(c->nlines, 2);
    ck_assert_int_eq(c->reads, 1);          /* nothing new: the end came alone */
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);

    c = file_stream(LOOP, 2, "x\n", APR_FOPEN_READ, NULL);
    ck_assert_int_eq(pev_stream_pause_input(c->s, 1), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 100), APR_SUCCESS);
    c->idle_keep = 0;
    pt_tick(LOOP, 1600);
    ck_assert_int_eq(c->idles, 1);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
    ck_assert_int_eq(c->reads, 0);
}
END_TEST

/* A file stream whose buffer is full of lines nobody takes stops reading,
 * and the loop waits in its poll instead of spinning; taking them reads on
 * to the end. */
START_TEST(file_stream_full_buffer_pauses_without_spinning)
{
    sctx_t *c;
    char data[40 * 8 + 1], *l;
    apr_size_t n;
    apr_time_t start;
    int i, got = 0;

    for (i = 0; i < 40; i++)
        snprintf(data + i * 8, 9, "line%03d\n", i);
    c = file_stream(LOOP, 1, data, APR_FOPEN_READ, NULL);
    c->take_lines = 0;
    ck_assert_int_eq(pev_stream_set_max_line(c->s, 30), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->reads >= 1);
    pt_pump(LOOP, 5);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 32);     /* max_line + 2 */
    ck_assert(!pev_stream_eof(c->s));
    start = pev_clock_monotonic();
    ck_assert_int_eq(pev_loop_run_once(LOOP, 20000), APR_SUCCESS);
    ck_assert_int_ge(pev_clock_monotonic() - start, 15000);    /* it waited */
    while (got < 40) {
        while (pev_stream_getline(c->s, &l, &n) == APR_SUCCESS) {
            ck_assert_int_eq(atoi(l + 4), got);
            got++;
        }
        ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    }
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, APR_EOF);
}
END_TEST

/* on_read of a file stream may destroy the stream's pool. */
START_TEST(file_stream_destroy_pool_in_read)
{
    sctx_t *c = file_stream(LOOP, 1, "one\ntwo\n", APR_FOPEN_READ, NULL);
    pev_loop_stats_t st;

    c->read_action = destroy_own_pool;
    PT_PUMP_UNTIL(LOOP, c->destroyed);
    pt_pump(LOOP, 5);
    ck_assert_int_eq(c->reads, 1);
    ck_assert_int_eq(c->closes, 0);
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.streams, 0);
}
END_TEST

/* A write-only file stream writes everything, through the output limit,
 * then closes. */
START_TEST(file_stream_write_only_writes_everything)
{
    const apr_size_t total = 3 * 1024 * 1024 + 77, piece = 256 * 1024;
    char *data = apr_palloc(pt_pool, total), *got;
    apr_size_t off, n;
    apr_status_t rv;
    sctx_t *c;
    int other;

    pt_pattern(data, total, 0);
    c = file_stream(LOOP, 1, "", APR_FOPEN_WRITE, &other);
    ck_assert_int_eq(pev_stream_getline(c->s, &got, &n), APR_EBADF);
    for (off = 0; off < total; off += n) {
        n = total - off < piece ? total - off : piece;
        while ((rv = pev_stream_write(c->s, data + off, n)) == PEV_EFULL)
            ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
        ck_assert_int_eq(rv, APR_SUCCESS);
    }
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_int_ge(c->drains, 1);
    got = file_contents(other, &n);
    ck_assert_uint_eq(n, total);
    ck_assert(memcmp(got, data, total) == 0);
}
END_TEST

/* A file opened for reading and writing: reading and writing share the
 * descriptor's offset (read(2), write(2)). Replies written while reading a
 * small file land after what was read; the end of what the file holds does
 * not close the stream, whose output goes on until it is closed. */
static int replied;

static void reply_to_lines(sctx_t *c)
{
    for (; replied < c->nlines; replied++)
        ck_assert_int_eq(pev_stream_printf(c->s, "ok %s\n", c->line[replied]), APR_SUCCESS);
}

START_TEST(file_stream_read_write)
{
    sctx_t *c;
    apr_size_t n;
    int other;

    replied = 0;
    c = file_stream(LOOP, 1, "one\ntwo\n", APR_FOPEN_READ | APR_FOPEN_WRITE, &other);
    c->read_action = reply_to_lines;
    PT_PUMP_UNTIL(LOOP, pev_stream_eof(c->s) && pev_stream_output_pending(c->s) == 0);
    ck_assert_int_eq(c->nlines, 2);
    /* the end of what the file holds does not close it: output goes on */
    pt_pump(LOOP, 5);
    ck_assert(pev_stream_is_open(c->s));
    ck_assert_int_eq(c->closes, 0);
    ck_assert_int_eq(pev_stream_write(c->s, "after\n", 6), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->closes == 1);
    ck_assert_str_eq(file_contents(other, &n), "one\ntwo\nok one\nok two\nafter\n");
}
END_TEST

/* pev_stream_getline_wait() on a file: the lines, then APR_EOF, at once. */
START_TEST(file_stream_getline_wait)
{
    pev_loop_t *loop;
    pev_stream_t *s;
    apr_pool_t *sp = pt_subpool(pt_pool);
    apr_file_t *f = temp_file(sp, "w1\nw2\nend", 9, APR_FOPEN_READ, 0, NULL);
    apr_time_t start = pev_clock_monotonic();
    char *l;
    apr_size_t n;

    ck_assert_int_eq(pev_loop_create(&loop, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_create_file(&s, loop, f, NULL, NULL, sp), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_getline_wait(s, &l, &n, 3 * APR_USEC_PER_SEC), APR_SUCCESS);
    ck_assert_str_eq(l, "w1");
    ck_assert_int_eq(pev_stream_getline_wait(s, &l, &n, 3 * APR_USEC_PER_SEC), APR_SUCCESS);
    ck_assert_str_eq(l, "w2");
    ck_assert_int_eq(pev_stream_getline_wait(s, &l, &n, -1), APR_SUCCESS);
    ck_assert_str_eq(l, "end");
    ck_assert_int_eq(pev_stream_getline_wait(s, &l, &n, 3 * APR_USEC_PER_SEC), APR_EOF);
    ck_assert_int_lt(pev_clock_monotonic() - start, 2 * APR_USEC_PER_SEC);
}
END_TEST

/* ======================================================================== */
/* The flush slice (pev_loop_set_flush_slice)                                */

/* Streams whose flushes the slice tests count: each has "line I\n" written
 * (from outside the loop: its flush waits for the loop's next iteration). */
#define SLICE_STREAMS 100
#define SLICE_CARRY 64          /* what the header promises at most */

static sctx_t *slice_c[SLICE_STREAMS];

static void slice_streams(int n)
{
    int i;

    for (i = 0; i < n; i++) {
        slice_c[i] = sock_stream(i, NULL, 0);
        ck_assert_int_eq(pev_stream_printf(slice_c[i]->s, "line %d\n", i), APR_SUCCESS);
    }
}

/* Stream @a i's line was sent: read it at the peer. */
static void slice_expect_sent(int i, const char *text)
{
    pt_peer_expect(NULL, slice_c[i]->fd, text);
}

static void slice_expect_line(int i)
{
    char want[32];

    snprintf(want, sizeof want, "line %d\n", i);
    slice_expect_sent(i, want);
}

/* Nothing was sent on stream @a i: no write reached its peer. */
static void slice_expect_waiting(int i)
{
    ck_assert_msg(pt_peer_idle(slice_c[i]->fd), "stream %d was flushed", i);
    ck_assert_uint_gt(pev_stream_output_pending(slice_c[i]->s), 0);
}

static apr_uint64_t slice_carried(void)
{
    pev_loop_stats_t st;

    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    return st.tasks_carried;
}

START_TEST(flush_slice_argument_range)
{
    ck_assert_int_eq(pev_loop_set_flush_slice(NULL, 10), APR_EINVAL);
    ck_assert_int_eq(pev_loop_set_flush_slice(LOOP, -1), APR_EINVAL);
    ck_assert_int_eq(pev_loop_set_flush_slice(LOOP, 100001), APR_EINVAL);
    ck_assert_int_eq(pev_loop_flush_slice(LOOP), 0);          /* the default */
    ck_assert_int_eq(pev_loop_flush_slice(NULL), 0);
    ck_assert_int_eq(pev_loop_set_flush_slice(LOOP, 100000), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_flush_slice(LOOP), 100000);
    ck_assert_int_eq(pev_loop_set_flush_slice(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_flush_slice(LOOP), 0);
}
END_TEST

/* No slice (the default): one iteration sends every stream's output, however
 * long its flushes take (the clock moves 1 ms at each look). */
START_TEST(flush_slice_off_sends_every_stream_in_one_iteration)
{
    int i;

    slice_streams(SLICE_STREAMS);
    pt_fake_step = 1000;
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    pt_fake_step = 0;
    for (i = 0; i < SLICE_STREAMS; i++)
        slice_expect_line(i);
    ck_assert_uint_eq(slice_carried(), 0);
}
END_TEST

/* Flushes that fit in the slice all run in the iteration that wrote them. */
START_TEST(flush_slice_not_run_out_carries_nothing)
{
    int i;

    slice_streams(50);
    ck_assert_int_eq(pev_loop_set_flush_slice(LOOP, 100000), APR_SUCCESS);
    pt_fake_step = 1000;                /* 50 flushes: half the slice */
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    pt_fake_step = 0;
    for (i = 0; i < 50; i++)
        slice_expect_line(i);
    ck_assert_uint_eq(slice_carried(), 0);
}
END_TEST

/* A close callback's action: write to the stream of c->p1. */
static void write_to_p1(sctx_t *c)
{
    sctx_t *t = c->p1;

    ck_assert_int_eq(pev_stream_write(t->s, "posted since\n", 13), APR_SUCCESS);
}

/* A slice that runs out (the clock moves 1 ms at each look, the slice is
 * 1 us: it has run out after the first flush) sends on until 64 flushes are
 * left, and those wait. They run first in the next iterations, in their
 * order, before a flush posted since (by the first stream's close
 * callback, in the iteration that carried them); each such iteration runs
 * at least one, and none waits in its poll. */
START_TEST(flush_slice_carries_the_last_64_in_order)
{
    const int sent = SLICE_STREAMS - SLICE_CARRY;
    sctx_t *later;
    int i;

    slice_streams(SLICE_STREAMS);
    later = sock_stream(SLICE_STREAMS, NULL, 0);
    slice_c[0]->p1 = later;
    slice_c[0]->close_action = write_to_p1;
    ck_assert_int_eq(pev_stream_close(slice_c[0]->s), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_set_flush_slice(LOOP, 1), APR_SUCCESS);
    pt_fake_step = 1000;
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(slice_c[0]->closes, 1);
    for (i = 0; i < sent; i++)
        slice_expect_line(i);
    for (i = sent; i < SLICE_STREAMS; i++)
        slice_expect_waiting(i);
    ck_assert_msg(pt_peer_idle(later->fd), "the flush posted since went first");
    ck_assert_uint_eq(slice_carried(), SLICE_CARRY);

    for (i = sent; i < SLICE_STREAMS; i++) {
        int j;

        /* -1: an iteration with a flush waiting must not wait in its poll
         * (the suite's timeout fails it if it did) */
        ck_assert_int_eq(pev_loop_run_once(LOOP, -1), APR_SUCCESS);
        slice_expect_line(i);
        for (j = i + 1; j < SLICE_STREAMS; j++)
            slice_expect_waiting(j);
        ck_assert_msg(pt_peer_idle(later->fd), "the flush posted since overtook %d", i);
    }
    ck_assert_int_eq(pev_loop_run_once(LOOP, -1), APR_SUCCESS);
    pt_fake_step = 0;
    pt_peer_expect(NULL, later->fd, "posted since\n");
    ck_assert_uint_eq(pev_stream_output_pending(later->s), 0);
}
END_TEST

/* Streams closed, or whose pools are destroyed, while their flushes wait:
 * a closed one still sends what was written, then closes (its close
 * callback runs once); a destroyed one is gone without a trace (ASan and
 * valgrind see every access); the others are sent in order. */
START_TEST(flush_slice_streams_closed_or_destroyed_while_waiting)
{
    const int first = SLICE_STREAMS - SLICE_CARRY;
    int i;

    slice_streams(SLICE_STREAMS);
    ck_assert_int_eq(pev_loop_set_flush_slice(LOOP, 1), APR_SUCCESS);
    pt_fake_step = 1000;
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    for (i = 0; i < first; i++)
        slice_expect_line(i);
    for (i = first; i < SLICE_STREAMS; i += 3)
        destroy_own_pool(slice_c[i]);
    for (i = first + 1; i < SLICE_STREAMS; i += 3)
        ck_assert_int_eq(pev_stream_close(slice_c[i]->s), APR_SUCCESS);
    pt_pump(LOOP, SLICE_CARRY + 1);
    pt_fake_step = 0;
    for (i = first; i < SLICE_STREAMS; i++) {
        sctx_t *c = slice_c[i];

        if (c->destroyed) {
            pt_peer_expect_eof(NULL, c->fd);
            continue;
        }
        slice_expect_line(i);
        if ((i - first) % 3 == 1) {
            pt_peer_expect_eof(NULL, c->fd);
            ck_assert_int_eq(c->closes, 1);
        }
        else {
            ck_assert_int_eq(c->closes, 0);
            ck_assert_uint_eq(pev_stream_output_pending(c->s), 0);
        }
    }
}
END_TEST

/* The loop's pool destroyed while flushes wait: the streams in its
 * subpools go with it, those whose pools outlive it are orphaned, and
 * nothing is left behind (ASan, valgrind); the orphans' pools go later. */
START_TEST(flush_slice_loop_destroyed_while_flushes_wait)
{
    apr_pool_t *lp = pt_subpool(pt_pool);
    pev_loop_t *saved = LOOP;
    pev_loop_stats_t st;
    int i;

    LOOP = pt_fake_loop(lp);
    for (i = 0; i < SLICE_STREAMS; i++) {
        /* odd ones: pools that outlive the loop */
        slice_c[i] = sock_stream(i, pt_subpool(i % 2 ? pt_pool : lp), 0);
        ck_assert_int_eq(pev_stream_printf(slice_c[i]->s, "line %d\n", i), APR_SUCCESS);
    }
    ck_assert_int_eq(pev_loop_set_flush_slice(LOOP, 1), APR_SUCCESS);
    pt_fake_step = 1000;
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    pt_fake_step = 0;
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    ck_assert_uint_eq(st.tasks_carried, SLICE_CARRY);
    apr_pool_destroy(lp);
    pt_scribble();
    LOOP = saved;
    for (i = 1; i < SLICE_STREAMS; i += 2) {
        ck_assert(!pev_stream_is_open(slice_c[i]->s));
        destroy_own_pool(slice_c[i]);
    }
    for (i = SLICE_STREAMS - SLICE_CARRY; i < SLICE_STREAMS; i++)
        pt_peer_expect_eof(NULL, slice_c[i]->fd);
    ck_assert_int_eq(slice_c[SLICE_STREAMS - 2]->closes, 0);
}
END_TEST

static void stop_loop(pev_timer_t *t, void *user_data)
{
    (void) t;
    ck_assert_int_eq(pev_loop_stop(user_data), APR_SUCCESS);
}

/* An iteration during which a stop was asked for carries nothing: the run
 * returns with every flush done, as without a slice. */
START_TEST(flush_slice_stop_runs_every_task)
{
    int i;

    slice_streams(SLICE_STREAMS);
    ck_assert_int_eq(pev_loop_set_flush_slice(LOOP, 1), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_defer(NULL, LOOP, stop_loop, LOOP, pt_pool), APR_SUCCESS);
    pt_fake_step = 1000;
    ck_assert_int_eq(pev_loop_run(LOOP), APR_SUCCESS);
    pt_fake_step = 0;
    for (i = 0; i < SLICE_STREAMS; i++)
        ck_assert_msg(pev_stream_output_pending(slice_c[i]->s) == 0,
                      "stream %d unsent when the run returned", i);
    for (i = 0; i < SLICE_STREAMS; i++)
        slice_expect_line(i);
    ck_assert_uint_eq(slice_carried(), 0);
}
END_TEST

/* ======================================================================== */

static Suite *stream_io_suite(void)
{
    Suite *s = suite_create("stream_io");
    TCase *ti = tcase_create("io");

    tcase_add_checked_fixture(ti, stream_setup, stream_teardown);
    tcase_set_timeout(ti, 120);
    tcase_add_test(ti, stream_create_on_socket);
    tcase_add_test(ti, stream_create_on_pipe);
    tcase_add_test(ti, stream_tcp_nodelay);
    tcase_add_test(ti, stream_create_null_arguments_einval);
    tcase_add_test(ti, stream_create_unrelated_pool_einval);
    tcase_add_test(ti, stream_calls_null_arguments_einval);
    tcase_add_test(ti, read_callback_on_new_data);
    tcase_add_test(ti, read_callback_not_repeated_without_new_input);
    tcase_add_test(ti, getline_strips_lf_and_crlf_nul_terminated);
    tcase_add_test(ti, getline_several_lines_in_one_read);
    tcase_add_test(ti, getline_line_split_over_reads);
    tcase_add_test(ti, getline_incomplete_is_eagain);
    tcase_add_test(ti, read_raw_bytes);
    tcase_add_test(ti, max_line_exact_accepted_longer_closes_eline);
    tcase_add_test(ti, max_line_default_64k);
    tcase_add_test(ti, getline_too_long_close_callback_from_loop);
    tcase_add_test(ti, set_max_line_rejects_below_buffered);
    tcase_add_test(ti, input_buffer_bounded_flood_closes_eline);
    tcase_add_test(ti, input_buffer_bounded_without_consumer);
    tcase_add_test(ti, pause_input_stops_reading_until_resumed);
    tcase_add_test(ti, write_and_printf_reach_peer);
    tcase_add_test(ti, flush_sends_without_loop);
    tcase_add_test(ti, output_limit_all_or_nothing);
    tcase_add_test(ti, output_limit_lowered_below_pending_refuses);
    tcase_add_test(ti, drain_runs_once_at_half_limit);
    tcase_add_test(ti, flush_that_empties_output_leads_to_drain);
    tcase_add_test(ti, pipe_stream_reads);
    tcase_add_test(ti, pipe_stream_writes);
    tcase_add_test(ti, file_stream_reads_lines_then_eof);
    tcase_add_test(ti, file_stream_loop_does_not_wait_while_unread);
    tcase_add_test(ti, file_stream_large_file_does_not_starve_others);
    tcase_add_test(ti, file_stream_pause_input_stops_reading);
    tcase_add_test(ti, file_stream_full_buffer_pauses_without_spinning);
    tcase_add_test(ti, file_stream_destroy_pool_in_read);
    tcase_add_test(ti, file_stream_write_only_writes_everything);
    tcase_add_test(ti, file_stream_read_write);
    tcase_add_test(ti, file_stream_getline_wait);
    tcase_add_test(ti, flush_slice_argument_range);
    tcase_add_test(ti, flush_slice_off_sends_every_stream_in_one_iteration);
    tcase_add_test(ti, flush_slice_not_run_out_carries_nothing);
    tcase_add_test(ti, flush_slice_carries_the_last_64_in_order);
    tcase_add_test(ti, flush_slice_streams_closed_or_destroyed_while_waiting);
    tcase_add_test(ti, flush_slice_loop_destroyed_while_flushes_wait);
    tcase_add_test(ti, flush_slice_stop_runs_every_task);
    suite_add_tcase(s, ti);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, stream_io_suite, NULL);
}
