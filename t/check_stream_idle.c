/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_stream_idle.c - streams: the idle timeout on the fake clock, and the
 * blocking pev_stream_getline_wait() (include/poolev/stream.h,
 * doc/streams.md).
 *
 * Tests that block in pev_stream_getline_wait() start a watchdog thread
 * (pt_guard_start()) that sends a "guard" line after a few seconds, so a
 * wait that never ends fails instead of hanging (also under valgrind,
 * where CK_FORK=no disables check's timeouts).
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
/* Idle timeout (fake clock)                                                 */

START_TEST(idle_timeout_closes_at_deadline_not_earlier)
{
    sctx_t *c = sock_stream(1, NULL, NO_IDLE_CB);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, -1), APR_EINVAL);
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    pt_tick(LOOP, 1500);
    pt_tick(LOOP, 1999);
    ck_assert_int_eq(c->closes, 0);
    ck_assert(pev_stream_is_open(c->s));
    pt_tick(LOOP, 2000);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
    ck_assert_int_eq(pev_stream_close_reason(c->s), APR_TIMEUP);
    pt_peer_expect_eof(LOOP, c->fd);
}
END_TEST

START_TEST(idle_input_restarts_clock)
{
    sctx_t *c = sock_stream(1, NULL, NO_IDLE_CB);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    pt_tick(LOOP, 1500);
    pt_peer_puts(LOOP, c->fd, "x");
    PT_PUMP_UNTIL(LOOP, c->reads == 1);                 /* input at 1500 */
    pt_tick(LOOP, 2000);
    pt_tick(LOOP, 2499);
    ck_assert_int_eq(c->closes, 0);
    pt_tick(LOOP, 2500);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
}
END_TEST

START_TEST(idle_touch_extends)
{
    sctx_t *c = sock_stream(1, NULL, NO_IDLE_CB);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    pt_tick(LOOP, 1500);
    ck_assert_int_eq(pev_stream_touch(c->s), APR_SUCCESS);   /* as if input at 1500 */
    pt_tick(LOOP, 2000);
    pt_tick(LOOP, 2499);
    ck_assert_int_eq(c->closes, 0);
    pt_tick(LOOP, 2500);
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
    pt_tick(LOOP, 2000);                                /* both due: the timer first */
    ck_assert_int_eq(j1->calls, 1);
    ck_assert_int_eq(j1->st, APR_SUCCESS);
    ck_assert_int_eq(c->closes, 0);
    ck_assert(pev_stream_is_open(c->s));
    pt_tick(LOOP, 6999);                                /* deadline 2000 + 5000 */
    ck_assert_int_eq(c->closes, 0);
    j2 = timer_at(6999, 0, touch_idle, c);
    pt_tick(LOOP, 7000);                                /* touch at 7000: due 12000 */
    ck_assert_int_eq(j2->calls, 1);
    ck_assert_int_eq(j2->st, APR_SUCCESS);
    ck_assert_int_eq(c->closes, 0);
    pt_tick(LOOP, 11999);
    ck_assert_int_eq(c->closes, 0);
    pt_tick(LOOP, 12000);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
}
END_TEST

START_TEST(idle_callback_nonzero_keeps_open)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    c->idle_keep = 1;
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    pt_tick(LOOP, 1999);
    ck_assert_int_eq(c->idles, 0);
    pt_tick(LOOP, 2000);
    ck_assert_int_eq(c->idles, 1);
    ck_assert_int_eq(c->closes, 0);
    ck_assert(pev_stream_is_open(c->s));
    pt_tick(LOOP, 2999);                                /* restarted from 2000 */
    ck_assert_int_eq(c->idles, 1);
    pt_tick(LOOP, 3000);
    ck_assert_int_eq(c->idles, 2);
    c->idle_keep = 0;
    pt_tick(LOOP, 3999);
    ck_assert_int_eq(c->closes, 0);
    pt_tick(LOOP, 4000);
    ck_assert_int_eq(c->idles, 3);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
}
END_TEST

START_TEST(idle_timeout_zero_disables)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 1000), APR_SUCCESS);
    pt_tick(LOOP, 1500);
    ck_assert_int_eq(pev_stream_set_idle_timeout(c->s, 0), APR_SUCCESS);
    pt_tick(LOOP, 2000);
    pt_tick(LOOP, 1000000000);
    ck_assert_int_eq(c->idles + c->closes, 0);
    ck_assert(pev_stream_is_open(c->s));
}
END_TEST

/* ======================================================================== */
/* pev_stream_getline_wait                                                   */

static void peer_sends_later(tjob_t *j)
{
    ck_assert_int_eq(pt_peer_send(NULL, j->c->fd, j->p, strlen(j->p)), APR_SUCCESS);
}

START_TEST(getline_wait_returns_line_arriving_later)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    tjob_t *j = timer_at(pt_fake_now, 0, peer_sends_later, c);  /* runs in the wait's loop */
    char *l;
    apr_size_t n;

    j->p = "later\r\n";
    c->take_lines = 0;
    pt_guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), APR_SUCCESS);
    pt_guard_stop();
    ck_assert_str_eq(l, "later");
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(c->reads, 0);                      /* the waiter took the input */
    /* a line already buffered comes back at once */
    pt_peer_puts(LOOP, c->fd, "now\n");
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(c->s) == 4);
    pt_guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), APR_SUCCESS);
    pt_guard_stop();
    ck_assert_str_eq(l, "now");
}
END_TEST

START_TEST(getline_wait_times_out)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    apr_time_t start = pev_loop_now(LOOP);
    char *l;
    apr_size_t n;

    pt_fake_step = 1000;                                /* the loop's time moves */
    pt_guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, 5000), APR_TIMEUP);
    pt_guard_stop();
    pt_fake_step = 0;
    ck_assert_msg(pev_loop_now(LOOP) >= start + 5000, "timed out early: %lld us",
                  (long long) (pev_loop_now(LOOP) - start));
    ck_assert(pev_stream_is_open(c->s));
    ck_assert_int_eq(c->closes, 0);
    /* still usable */
    ck_assert_int_eq(pt_peer_send(NULL, c->fd, "after\n", 6), APR_SUCCESS);
    pt_guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), APR_SUCCESS);
    pt_guard_stop();
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
    pt_peer_puts(LOOP, c->fd, "line\n");
    PT_PUMP_UNTIL(LOOP, c->reads == 1);
    ck_assert_int_eq(c->st, PEV_EBUSY);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 5);       /* not taken */
    a = wadd(c, 2000, 1, w_try_wait);
    a->st = -1;
    j = timer_at(2000, 0, timer_try_wait, c);
    j->st = -1;
    pt_tick(LOOP, 2000);
    ck_assert_int_eq(a->st, PEV_EBUSY);
    ck_assert_int_eq(j->st, PEV_EBUSY);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 5);
}
END_TEST

/* While one stream waits for a line, other streams' wait events and the
 * loop's timers keep firing: here the line is sent by one of them. */
START_TEST(getline_wait_runs_other_events_and_timers)
{
    sctx_t *a = sock_stream(1, NULL, 0), *b = sock_stream(2, NULL, 0);
    wact_t *w;
    char *l;
    apr_size_t n;

    a->take_lines = 0;
    w = wadd(b, pt_fake_now, 1, w_send_to_p1);
    w->p1 = a;
    w->p2 = "from-b\n";
    wadd(b, pt_fake_now, 2, NULL);
    timer_at(pt_fake_now, 50, NULL, NULL);
    pt_guard_start(a->fd);
    ck_assert_int_eq(pev_stream_getline_wait(a->s, &l, &n, -1), APR_SUCCESS);
    pt_guard_stop();
    ck_assert_str_eq(l, "from-b");
    ck_assert_int_eq(pt_log_count(&LOG, 1), 1);
    ck_assert_int_eq(pt_log_count(&LOG, 2), 1);
    ck_assert_int_eq(pt_log_count(&LOG, 50), 1);
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
    ck_assert_int_eq(pt_peer_send(NULL, j->c->fd, "tail", 4), APR_SUCCESS);
    ck_assert_int_eq(shutdown(j->c->fd, SHUT_WR), 0);
}

START_TEST(getline_wait_returns_close_reason)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);
    char *l;
    apr_size_t n;
    apr_status_t rv;

    timer_at(pt_fake_now, 0, abort_stream, c);
    pt_guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), PEV_ECLOSED);
    pt_guard_stop();
    ck_assert_int_eq(c->closes, 1);                     /* its close callback has run */
    ck_assert_int_eq(c->reason, PEV_ECLOSED);

    /* end of input: the last unterminated line, then the end */
    timer_at(pt_fake_now, 0, peer_tail_then_eof, d);
    pt_guard_start(d->fd);
    ck_assert_int_eq(pev_stream_getline_wait(d->s, &l, &n, -1), APR_SUCCESS);
    ck_assert_str_eq(l, "tail");
    rv = pev_stream_getline_wait(d->s, &l, &n, -1);
    pt_guard_stop();
    ck_assert_msg(rv == APR_EOF || rv == PEV_ECLOSED, "after the last line: %d", rv);
    PT_PUMP_UNTIL(LOOP, d->closes == 1);
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
    pt_scribble();
}

START_TEST(getline_wait_stream_or_loop_destroyed)
{
    sctx_t *c = sock_stream(1, NULL, 0), *d;
    pev_loop_t *keep = LOOP, *loop2;
    apr_pool_t *lp = pt_subpool(pt_pool);
    tjob_t *j;
    char *l;
    apr_size_t n;

    timer_at(pt_fake_now, 0, destroy_stream_pool_timer, c);
    pt_guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), PEV_EDESTROYED);
    pt_guard_stop();
    ck_assert_int_eq(c->closes, 0);
    pt_peer_expect_eof(NULL, c->fd);

    /* the loop goes while a stream in an outliving pool waits */
    ck_assert_int_eq(pev_loop_create(&loop2, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_set_clock(loop2, pt_fake_clock, NULL), APR_SUCCESS);
    LOOP = loop2;
    d = sock_stream(2, NULL, 0);
    j = timer_at(pt_fake_now, 0, destroy_pool_timer, NULL);
    j->p = lp;
    LOOP = keep;
    pt_guard_start(d->fd);
    ck_assert_int_eq(pev_stream_getline_wait(d->s, &l, &n, -1), PEV_EDESTROYED);
    pt_guard_stop();
    ck_assert_int_eq(d->closes, 0);
    pt_peer_expect_eof(NULL, d->fd);
}
END_TEST

/* ======================================================================== */

static Suite *stream_idle_suite(void)
{
    Suite *s = suite_create("stream_idle");
    TCase *ti = tcase_create("idle");

    tcase_add_checked_fixture(ti, stream_setup, stream_teardown);
    tcase_set_timeout(ti, 120);
    tcase_add_test(ti, idle_timeout_closes_at_deadline_not_earlier);
    tcase_add_test(ti, idle_input_restarts_clock);
    tcase_add_test(ti, idle_touch_extends);
    tcase_add_test(ti, idle_deadline_moved_by_callback_in_due_iteration);
    tcase_add_test(ti, idle_callback_nonzero_keeps_open);
    tcase_add_test(ti, idle_timeout_zero_disables);
    tcase_add_test(ti, getline_wait_returns_line_arriving_later);
    tcase_add_test(ti, getline_wait_times_out);
    tcase_add_test(ti, getline_wait_busy_inside_callbacks);
    tcase_add_test(ti, getline_wait_runs_other_events_and_timers);
    tcase_add_test(ti, getline_wait_returns_close_reason);
    tcase_add_test(ti, getline_wait_stream_or_loop_destroyed);
    suite_add_tcase(s, ti);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, stream_idle_suite, NULL);
}
