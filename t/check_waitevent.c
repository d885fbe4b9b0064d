/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_waitevent.c - wait events on streams (include/poolev/stream.h,
 * doc/streams.md), and a randomized test of them across streams against a
 * sorted-list model.
 *
 * The randomized test prints its seed; POOLEV_SEED reproduces a run,
 * POOLEV_WAIT_OPS sets its length.
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
    pt_tick(LOOP, 5000);
    ck_assert_log(&LOG, 1);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
}
END_TEST

START_TEST(waitevent_fires_at_mark_never_earlier)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    wact_t *a = wadd(c, 2000, 1, NULL);

    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    pt_tick(LOOP, 1500);
    pt_tick(LOOP, 1999);
    ck_assert_int_eq(LOG.n, 0);
    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 1);
    ck_assert_int_eq(a->seen_now, 2000);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);   /* returned NULL: dropped */
    pt_tick(LOOP, 3000);
    ck_assert_log(&LOG, 1);
}
END_TEST

START_TEST(waitevent_fires_in_mark_order)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    wadd(c, 3000, 3, NULL);
    wadd(c, 1500, 1, NULL);
    wadd(c, 2000, 2, NULL);
    pt_expect_mark_order(LOOP, &LOG, 5000);
    /* all due in one iteration: still in mark order */
    pt_log_reset(&LOG);
    wadd(c, 7000, 7, NULL);
    wadd(c, 6000, 6, NULL);
    wadd(c, 6500, 65, NULL);
    pt_tick(LOOP, 8000);
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
    pt_tick(LOOP, 5000);
    ck_assert_log(&LOG, 1, 2, 3, 4);
    pt_log_reset(&LOG);
    wadd(a, 6000, 5, NULL);
    wadd(b, 6000, 6, NULL);
    wadd(a, 6000, 7, NULL);
    pt_tick(LOOP, 6000);
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
    pt_tick(LOOP, 2000);
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

    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 1);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    ck_assert_int_eq(pev_waitevent_mark(a->ev), 3000);
    pt_tick(LOOP, 2999);
    ck_assert_log(&LOG, 1);
    pt_tick(LOOP, 3000);
    ck_assert_log(&LOG, 1, 1);
    ck_assert_int_eq(a->seen_now, 3000);
    pt_tick(LOOP, 4000);
    ck_assert_log(&LOG, 1, 1, 1);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);   /* the third returned NULL */
    pt_tick(LOOP, 10000);
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

    pt_tick(LOOP, 2000);
    it = a->seen_iter;
    ck_assert_int_eq(a->calls, 1);
    ck_assert_int_eq(b->calls, 1);
    ck_assert_int_eq(pev_waitevent_mark(a->ev), 2000);  /* kept at its mark */
    for (i = 2; i <= 4; i++) {
        pt_pump(LOOP, 1);                               /* time stands still */
        ck_assert_int_eq(a->calls, i);
        ck_assert_int_eq(b->calls, i);
        ck_assert_uint_eq(a->seen_iter, it + (apr_uint64_t) i - 1);
    }
    pt_pump(LOOP, 2);
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
    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 1, 2);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    /* set_mark in the callback, then NULL: dropped all the same */
    z->id = 3;
    z->c = c;
    z->action = w_move_then_drop;
    ck_assert_int_eq(pev_waitevent_add(&e3, c->s, 2500, on_wait, z), APR_SUCCESS);
    z->ev = e3;
    pt_tick(LOOP, 2500);
    ck_assert_log(&LOG, 1, 2, 3);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 1);
    pt_tick(LOOP, 20000);
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
    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 1, 2, 3);
    ck_assert_int_eq(a->st, APR_SUCCESS);
    ck_assert_int_eq(b->st, APR_SUCCESS);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    pt_pump(LOOP, 2);
    pt_tick(LOOP, 5000);
    ck_assert_log(&LOG, 1, 2, 3);
    /* the memory is reused cleanly */
    d = wadd(c, 6000, 4, NULL);
    wadd(c, 6000, 5, NULL);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 2);
    pt_tick(LOOP, 6000);
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
    pt_tick(LOOP, 2000);
    ck_assert_int_eq(a->st, APR_SUCCESS);
    ck_assert_log(&LOG, 1, 3);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    /* the next one due belongs to another stream */
    e = wadd(c, 3000, 4, w_remove_p1);
    f = wadd(d, 3000, 5, NULL);
    wadd(d, 3000, 6, NULL);
    e->p1 = f;
    pt_tick(LOOP, 3000);
    ck_assert_int_eq(e->st, APR_SUCCESS);
    ck_assert_log(&LOG, 1, 3, 4, 6);
    ck_assert_uint_eq(pev_waitevent_count(d->s), 0);
    pt_tick(LOOP, 10000);
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
    pt_tick(LOOP, 2000);
    pt_pump(LOOP, 2);
    ck_assert_int_eq(a->st, APR_SUCCESS);
    ck_assert_int_eq(b->calls, 0);
    ck_assert_int_eq(fresh->calls, 1);
    ck_assert_int_eq(pt_log_count(&LOG, 1), 1);
    ck_assert_int_eq(pt_log_count(&LOG, 3), 1);
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
    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 1);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    ck_assert_uint_eq(pev_waitevent_count(d->s), 0);
    pt_tick(LOOP, 10000);
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
    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 1);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 3);
    ck_assert_uint_eq(pev_waitevent_count(d->s), 1);
    pt_pump(LOOP, 1);
    ck_assert_log(&LOG, 1, 11, 12);
    pt_tick(LOOP, 2099);
    ck_assert_log(&LOG, 1, 11, 12);
    pt_tick(LOOP, 2100);
    ck_assert_log(&LOG, 1, 11, 12, 13);
    pt_tick(LOOP, 2499);
    pt_tick(LOOP, 2500);
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
    pt_tick(LOOP, 2000);
    ck_assert_int_eq(a->st, APR_SUCCESS);
    ck_assert_log(&LOG, 1, 4);
    ck_assert_int_eq(c->closes, 1);
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    pt_tick(LOOP, 3000);
    pt_tick(LOOP, 10000);
    ck_assert_log(&LOG, 1, 4);
    ck_assert_int_eq(c->closes, 1);
    pt_peer_expect_eof(LOOP, c->fd);
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
    pt_tick(LOOP, 2000);
    ck_assert_int_eq(a->st, APR_SUCCESS);
    ck_assert_int_eq(pt_log_count(&LOG, 1), 1);
    ck_assert_int_eq(pt_log_count(&LOG, 4), 1);
    ck_assert_int_eq(c->closes, 1);                     /* at the end of the iteration */
    ck_assert_int_eq(c->reason, PEV_ECLOSED);
    ck_assert_uint_eq(pev_waitevent_count(c->s), 0);
    pt_tick(LOOP, 3000);
    pt_tick(LOOP, 10000);
    ck_assert_int_eq(pt_log_count(&LOG, 1), 1);
    ck_assert_int_eq(pt_log_count(&LOG, 5), 0);
    ck_assert_int_eq(c->closes, 1);
    pt_peer_expect_eof(LOOP, c->fd);
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
    apr_size_t base = pt_loop_timers(LOOP);
    sctx_t *a = sock_stream(1, NULL, 0), *b = sock_stream(2, NULL, 0);
    sctx_t *v = sock_stream(3, NULL, 0);
    wact_t *k;

    wadd(b, 2000, 5, NULL);
    wadd(a, 2000, 1, w_destroy_own_pool);
    wadd(a, 2000, 2, NULL);
    wadd(a, 2000, 3, NULL);
    wadd(b, 2000, 4, NULL);
    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 5, 1, 4);
    ck_assert(a->destroyed);
    ck_assert_int_eq(a->closes, 0);
    pt_peer_expect_eof(LOOP, a->fd);

    pt_log_reset(&LOG);
    k = wadd(b, 3000, 6, w_destroy_other_pool);
    k->p1 = v;
    wadd(v, 3000, 7, NULL);
    wadd(v, 3000, 8, NULL);
    wadd(b, 3000, 9, NULL);
    pt_tick(LOOP, 3000);
    ck_assert_log(&LOG, 6, 9);
    ck_assert(v->destroyed);
    ck_assert_int_eq(v->closes, 0);
    pt_peer_expect_eof(LOOP, v->fd);
    pt_tick(LOOP, 10000);
    ck_assert_log(&LOG, 6, 9);
    ck_assert_uint_eq(pev_waitevent_count(b->s), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), base);
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
    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 2);
    /* fired and dropped: dead too */
    ck_assert_int_eq(pev_waitevent_remove(c->s, b->ev), PEV_ENOTARMED);
    ck_assert_int_eq(pev_waitevent_set_mark(b->ev, 3000), PEV_ENOTARMED);
    pt_tick(LOOP, 5000);
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
    pt_tick(LOOP, 2000);
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
    pt_tick(LOOP, 2999);
    ck_assert_int_eq(LOG.n, 0);
    pt_tick(LOOP, 3000);
    ck_assert_log(&LOG, 1);
    pt_tick(LOOP, 5999);
    ck_assert_log(&LOG, 1);
    pt_tick(LOOP, 6000);
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
    pt_tick(LOOP, 7000);
    ck_assert_int_eq(g->st, APR_SUCCESS);
    ck_assert_int_eq(i->st, APR_SUCCESS);
    ck_assert_log(&LOG, 10, 12);
    pt_tick(LOOP, 8999);
    ck_assert_log(&LOG, 10, 12);
    pt_tick(LOOP, 9000);
    ck_assert_log(&LOG, 10, 12, 11);
    pt_tick(LOOP, 9500);
    ck_assert_log(&LOG, 10, 12, 11, 13);
}
END_TEST

/* Wait events run whether or not anybody reads the stream. */
START_TEST(waitevent_fires_while_nobody_reads)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_set_callbacks(c->s, NULL, NULL), APR_SUCCESS);
    wadd(c, 2000, 1, NULL);
    pt_peer_puts(LOOP, c->fd, "unread\n");
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(c->s) == 7);
    pt_tick(LOOP, 2000);
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
    apr_time_t mark = pt_fake_now + 5000;               /* not due yet */
    wact_t *a;
    char *l;
    apr_size_t n;

    c->take_lines = 0;
    a = wadd(c, mark, 1, w_send_to_p1);
    a->p1 = c;
    a->p2 = "tick\n";
    pt_fake_step = 1000;                                /* the loop's time moves */
    pt_guard_start(c->fd);
    ck_assert_int_eq(pev_stream_getline_wait(c->s, &l, &n, -1), APR_SUCCESS);
    pt_guard_stop();
    pt_fake_step = 0;
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
    apr_size_t base = pt_loop_timers(LOOP);
    sctx_t *c = sock_stream(1, NULL, 0), *d = sock_stream(2, NULL, 0);

    for (i = 0; i < n; i++) {
        wadd(c, 2000 + i % 50, 1, NULL);
        wadd(d, 2000 + i % 50, 2, NULL);
    }
    ck_assert_uint_eq(pev_waitevent_count(c->s), (apr_size_t) n);
    destroy_own_pool(c);
    ck_assert_int_eq(pev_stream_abort(d->s), APR_SUCCESS);
    ck_assert_uint_eq(pev_waitevent_count(d->s), 0);
    ck_assert_uint_eq(pt_loop_timers(LOOP), base);
    pt_tick(LOOP, 2000);
    pt_tick(LOOP, 10000);
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
                batch[i] = wadd(c, pt_fake_now, 1, NULL);
            pt_pump(LOOP, 1);                           /* fire and drop */
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
    pt_tick(LOOP, 2000);                                /* 2 kept */
    ck_assert_uint_eq(pev_waitevent_count(c->s), 2);
    pt_tick(LOOP, 3000);                                /* 3 dropped */
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

static pev_waitevent_t *model_wait(pev_stream_t *s, pev_waitevent_t *ev, void *user_data);

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

static pev_waitevent_t *model_wait(pev_stream_t *s, pev_waitevent_t *ev, void *user_data)
{
    mwev_t *m = user_data, *o;
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

    MSEED = pt_seed("check_waitevent");
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
            madd(pt_fake_now + 50 * (apr_time_t) pt_below(&MRNG, 40) - 500);
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
                mset_mark(m, pt_fake_now + 50 * (apr_time_t) pt_below(&MRNG, 40) - 500);
        }
        else if (r < 60) {
            for (i = 0; i < MW; i++)
                if (MWS[i].live)
                    ck_assert_int_eq(pev_waitevent_mark(MWS[i].h), MWS[i].mark);
        }
        else {                                          /* advance and run */
            pt_fake_now += 50 * (apr_time_t) pt_below(&MRNG, 8);
            MDUE_N = MDUE_POS = 0;
            for (i = 0; i < MW; i++)
                if (MWS[i].live && MWS[i].mark <= pt_fake_now)
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
    printf("check_waitevent: %ld wait event operations, %ld events fired\n", ops, MFIRED);
}
END_TEST

/* ======================================================================== */

static Suite *waitevent_suite(void)
{
    Suite *s = suite_create("waitevent");
    TCase *tw = tcase_create("waitevent");
    TCase *tm = tcase_create("model");

    tcase_add_checked_fixture(tw, stream_setup, stream_teardown);
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

    tcase_add_checked_fixture(tm, stream_setup, stream_teardown);
    tcase_set_timeout(tm, 300);
    tcase_add_test(tm, waitevent_model_random);
    suite_add_tcase(s, tm);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, waitevent_suite, NULL);
}
