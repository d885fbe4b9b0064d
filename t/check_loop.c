/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_loop.c - the event loop and its timers (doc/loop.md).
 *
 * Timer tests run on a fake clock: exact and sleepless. A few tests use the
 * real clock or a second thread (wakeup, stop, run until idle).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <poolev.h>
#include "harness.h"

static pt_log_t LOG;
static pev_loop_t *LOOP;
/* A timer's user_data: logs its id, then an optional action. */
typedef struct tact tact_t;
struct tact {
    int id;
    int calls;
    void (*action)(tact_t *self, pev_timer_t *t);
    void *p1, *p2;
    apr_time_t seen_now;
    apr_uint64_t seen_iter;
};

static void on_timer(pev_timer_t *t, void *user_data)
{
    tact_t *a = user_data;

    ck_assert(!pev_timer_armed(t));
    a->calls++;
    a->seen_now = pev_loop_now(LOOP);
    a->seen_iter = pt_loop_iterations(LOOP);
    ck_assert_int_ge(a->seen_now, pev_timer_mark(t));      /* never early */
    pt_log_add(&LOG, a->id);
    if (a->action)
        a->action(a, t);
}

static tact_t *tact(apr_pool_t *p, int id)
{
    tact_t *a = apr_pcalloc(p, sizeof *a);

    a->id = id;
    return a;
}

static pev_timer_t *at(apr_time_t mark, tact_t *a, apr_pool_t *lifetime)
{
    pev_timer_t *t = NULL;

    ck_assert_int_eq(pev_timer_add(&t, LOOP, mark, on_timer, a, lifetime), APR_SUCCESS);
    ck_assert(pev_timer_armed(t));
    return t;
}

static void setup(void)
{
    pt_setup();
    pt_log_reset(&LOG);
    LOOP = pt_fake_loop(pt_pool);
}

static void teardown(void)
{
    pt_teardown();
    LOOP = NULL;
}

/* ======================================================================== */
/* Loop basics                                                               */

START_TEST(loop_arguments)
{
    pev_timer_t *t;

    ck_assert_int_eq(pev_loop_create(NULL, pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_loop_create(&LOOP, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_loop_run(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_loop_run_once(NULL, 0), APR_EINVAL);
    ck_assert_int_eq(pev_loop_stop(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_loop_wakeup(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_loop_set_clock(LOOP, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_timer_add(&t, NULL, 1, on_timer, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_timer_add(&t, LOOP, 1, NULL, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_timer_cancel(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_timer_rearm(NULL, 1), APR_EINVAL);
    ck_assert(!pev_timer_armed(NULL));
    ck_assert_int_eq(pev_loop_now(NULL), 0);
}
END_TEST

/* The loop's time is the clock read once per iteration, after the poll. */
START_TEST(loop_time_cached_per_iteration)
{
    ck_assert_int_eq(pev_loop_now(LOOP), 1000);
    pt_fake_now = 5000;
    ck_assert_int_eq(pev_loop_now(LOOP), 1000);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_now(LOOP), 5000);
}
END_TEST

START_TEST(loop_monotonic_clock)
{
    apr_time_t a = pev_clock_monotonic(), b;
    pev_loop_t *real;

    lc_sleep_ms(2);
    b = pev_clock_monotonic();
    ck_assert_int_ge(b - a, 2000);
    ck_assert_int_eq(pev_loop_create(&real, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_run_once(real, 0), APR_SUCCESS);
    /* the default clock is the monotonic one, not the wall clock */
    ck_assert_int_ge(pev_loop_now(real), b);
    ck_assert_int_le(pev_loop_now(real), pev_clock_monotonic());
    ck_assert_int_lt(pev_loop_now(real), apr_time_now() / 2);
}
END_TEST

/* ======================================================================== */
/* Timers                                                                    */

START_TEST(timer_never_early_in_mark_order)
{
    at(3000, tact(pt_pool, 3), NULL);
    at(1500, tact(pt_pool, 1), NULL);
    at(2000, tact(pt_pool, 2), NULL);
    pt_expect_mark_order(LOOP, &LOG, 1000000);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

START_TEST(timer_equal_marks_fifo)
{
    int i;

    for (i = 0; i < 500; i++)
        at(5000, tact(pt_pool, i), NULL);
    pt_tick(LOOP, 5000);
    ck_assert_int_eq(LOG.n, 500);
    for (i = 0; i < 500; i++)
        ck_assert_int_eq(LOG.v[i], i);
}
END_TEST

START_TEST(timer_relative_and_cancel)
{
    pev_timer_t *t1, *t2;
    tact_t *a = tact(pt_pool, 1);

    ck_assert_int_eq(pev_timer_add_in(&t1, LOOP, 500, on_timer, a, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_mark(t1), 1500);
    t2 = at(1200, tact(pt_pool, 2), NULL);
    ck_assert_int_eq(pev_timer_cancel(t2), APR_SUCCESS);
    ck_assert(!pev_timer_armed(t2));
    ck_assert_int_eq(pev_timer_cancel(t2), PEV_ENOTARMED);     /* cancelled */
    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 1);
    ck_assert_int_eq(pev_timer_cancel(t1), PEV_ENOTARMED);     /* fired */
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* A re-arm for a later mark leaves the heap entry under the old mark (lazy
 * re-arm): the timer must not fire when the old mark comes, only at the new
 * one, and pev_timer_mark() says the new one. */
START_TEST(timer_lazy_rearm_never_early)
{
    pev_timer_t *a = at(1500, tact(pt_pool, 1), NULL);
    pev_timer_t *b = at(1600, tact(pt_pool, 2), NULL);

    ck_assert_int_eq(pev_timer_rearm(a, 3000), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_rearm(a, 3000), APR_SUCCESS);   /* the same mark */
    ck_assert_int_eq(pev_timer_mark(a), 3000);
    pt_tick(LOOP, 1500);
    ck_assert_int_eq(LOG.n, 0);
    ck_assert(pev_timer_armed(a));
    pt_tick(LOOP, 1600);
    ck_assert_log(&LOG, 2);
    ck_assert(pev_timer_armed(b) == 0);
    pt_tick(LOOP, 2999);
    ck_assert_log(&LOG, 2);
    pt_tick(LOOP, 3000);
    ck_assert_log(&LOG, 2, 1);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    /* re-armed later, then earlier than its old mark: the earlier mark holds */
    a = at(5000, tact(pt_pool, 3), NULL);
    ck_assert_int_eq(pev_timer_rearm(a, 9000), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_rearm(a, 4000), APR_SUCCESS);
    pt_tick(LOOP, 3999);
    ck_assert_log(&LOG, 2, 1);
    pt_tick(LOOP, 4000);
    ck_assert_log(&LOG, 2, 1, 3);
    /* re-armed later twice, cancelled: nothing fires at either mark */
    a = at(5000, tact(pt_pool, 4), NULL);
    ck_assert_int_eq(pev_timer_rearm(a, 6000), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_rearm(a, 7000), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_cancel(a), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_cancel(a), PEV_ENOTARMED);
    pt_tick(LOOP, 8000);
    ck_assert_log(&LOG, 2, 1, 3);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* FIFO among equal marks counts a lazy re-arm at the moment of the re-arm:
 * a (re-armed to 3000 after b was armed for 3000, before c was) fires after
 * b and before c, although its entry moves to 3000 only when its old mark
 * has come, after c was armed. */
START_TEST(timer_lazy_rearm_fifo)
{
    pev_timer_t *a = at(1500, tact(pt_pool, 1), NULL);
    int i;

    at(3000, tact(pt_pool, 2), NULL);
    ck_assert_int_eq(pev_timer_rearm(a, 3000), APR_SUCCESS);
    at(3000, tact(pt_pool, 3), NULL);
    pt_tick(LOOP, 1500);                /* a's old mark: its entry moves */
    ck_assert_int_eq(LOG.n, 0);
    at(3000, tact(pt_pool, 4), NULL);
    pt_tick(LOOP, 3000);
    ck_assert_log(&LOG, 2, 1, 3, 4);
    /* many re-arms in turn to one mark: they fire in the order of the last
     * re-arm of each */
    pt_log_reset(&LOG);
    {
        pev_timer_t *h[8];

        for (i = 0; i < 8; i++)
            h[i] = at(4000 + i, tact(pt_pool, i), NULL);
        for (i = 7; i >= 0; i--)
            ck_assert_int_eq(pev_timer_rearm(h[i], 9000), APR_SUCCESS);
        ck_assert_int_eq(pev_timer_rearm(h[3], 9000), APR_SUCCESS);
        pt_tick(LOOP, 9000);
        ck_assert_log(&LOG, 7, 6, 5, 4, 2, 1, 0, 3);
    }
}
END_TEST

/* A lazy re-arm records its sequence number as a distance of at most
 * PEVI_TLAG_MAX (2^22 - 1) from the entry's: one further apart moves the
 * entry at once. Here a's distance is 2^22 + 2; kept in 22 bits it would
 * read 2 and put a before c, which was armed after a's entry and before its
 * re-arm. */
START_TEST(timer_lazy_rearm_far_apart)
{
    pev_timer_t *a = at(1500, tact(pt_pool, 1), NULL);
    pev_timer_t *b = at(8000, tact(pt_pool, 2), NULL);
    long i;

    for (i = 0; i < (1L << 22); i++)    /* each re-arm takes a seq */
        if (pev_timer_rearm(b, 8000) != APR_SUCCESS)
            ck_abort_msg("re-arm %ld failed", i);
    at(3000, tact(pt_pool, 3), NULL);
    ck_assert_int_eq(pev_timer_rearm(a, 3000), APR_SUCCESS);
    pt_tick(LOOP, 1500);
    ck_assert_int_eq(LOG.n, 0);
    pt_tick(LOOP, 3000);
    ck_assert_log(&LOG, 3, 1);
    pt_tick(LOOP, 8000);
    ck_assert_log(&LOG, 3, 1, 2);
}
END_TEST

/* A cancelled timer (its entry still marked in the heap) re-armed for a
 * later mark takes its entry back where it is: it must fire at the new mark,
 * not the old one, after the timers armed for that mark before, and a sweep
 * of the cancelled entries must not drop it (its entry is unmarked). */
START_TEST(timer_rearm_cancelled_later)
{
    pev_timer_t *a = at(1000, tact(pt_pool, 1), NULL);
    pev_timer_t **h = calloc(1100, sizeof *h);
    int i;

    ck_assert_ptr_nonnull(h);
    at(5000, tact(pt_pool, 2), NULL);
    ck_assert_int_eq(pev_timer_cancel(a), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_rearm(a, 5000), APR_SUCCESS);
    ck_assert(pev_timer_armed(a));
    /* enough cancelled entries for a sweep */
    for (i = 0; i < 1100; i++)
        h[i] = at(2000, tact(pt_pool, 100), NULL);
    for (i = 0; i < 1100; i++)
        ck_assert_int_eq(pev_timer_cancel(h[i]), APR_SUCCESS);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 2);
    pt_tick(LOOP, 1000);
    pt_tick(LOOP, 4999);
    ck_assert_int_eq(LOG.n, 0);
    pt_tick(LOOP, 5000);
    ck_assert_log(&LOG, 2, 1);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    free(h);
}
END_TEST

/* pev_timer_release(): the record goes back to its own pool's timers on the
 * loop, and the next add for that pool takes it (never an add for another
 * pool); a released armed timer never fires; the reused record is a new
 * timer: its own mark (never the old one's), its place among equal marks. */
START_TEST(timer_release_reuses_within_its_pool)
{
    apr_pool_t *p = pt_subpool(pt_pool), *q = pt_subpool(pt_pool);
    pev_timer_t *a = at(1000, tact(pt_pool, 1), p), *b, *c, *d;

    ck_assert_int_eq(pev_timer_release(NULL), APR_EINVAL);
    at(3000, tact(pt_pool, 2), p);
    ck_assert_int_eq(pev_timer_release(a), APR_SUCCESS);  /* armed: cancelled */
    ck_assert_uint_eq(pt_loop_timers(LOOP), 1);
    b = at(3000, tact(pt_pool, 3), q);                     /* another pool */
    ck_assert_ptr_ne(b, a);
    c = at(3000, tact(pt_pool, 4), p);                     /* after q's add */
    ck_assert_ptr_eq(c, a);                                /* reused */
    ck_assert_int_eq(pev_timer_mark(c), 3000);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 3);
    d = at(3000, tact(pt_pool, 5), p);                     /* none left */
    ck_assert_ptr_ne(d, a);
    pt_tick(LOOP, 1000);                                   /* a's old mark */
    ck_assert_int_eq(LOG.n, 0);
    pt_tick(LOOP, 3000);
    ck_assert_log(&LOG, 2, 3, 4, 5);
    /* fired, then released: the record serves the next add of p */
    ck_assert_int_eq(pev_timer_release(c), APR_SUCCESS);
    ck_assert_ptr_eq(at(4000, tact(pt_pool, 6), p), a);
    /* a released record of p never serves another pool */
    ck_assert_int_eq(pev_timer_release(d), APR_SUCCESS);
    ck_assert_ptr_ne(at(4000, tact(pt_pool, 7), q), d);
    ck_assert_ptr_eq(at(4000, tact(pt_pool, 8), p), d);
    pt_tick(LOOP, 4000);
    ck_assert_log(&LOG, 2, 3, 4, 5, 6, 7, 8);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

static void release_self_and_add(tact_t *self, pev_timer_t *t)
{
    pev_timer_t *n = NULL;

    ck_assert_int_eq(pev_timer_release(t), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_add(&n, LOOP, pev_loop_now(LOOP) + 100, on_timer,
                                   self->p1, self->p2), APR_SUCCESS);
    ck_assert_ptr_eq(n, t);
}

static void release_other(tact_t *self, pev_timer_t *t)
{
    (void) t;
    ck_assert_int_eq(pev_timer_release(self->p1), APR_SUCCESS);
}

/* From callbacks: a timer releases itself and its record becomes the next
 * timer; a due timer released by an earlier callback of the iteration does
 * not fire. */
START_TEST(timer_release_from_callbacks)
{
    apr_pool_t *p = pt_subpool(pt_pool);
    tact_t *a = tact(pt_pool, 1), *x = tact(pt_pool, 2);
    pev_timer_t *victim;

    a->action = release_self_and_add;
    a->p1 = tact(pt_pool, 9);
    a->p2 = p;
    at(1000, a, p);
    x->action = release_other;
    at(2000, x, NULL);
    victim = at(2000, tact(pt_pool, 3), p);
    x->p1 = victim;
    pt_tick(LOOP, 1000);
    ck_assert_log(&LOG, 1);
    pt_tick(LOOP, 1100);
    ck_assert_log(&LOG, 1, 9);
    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 1, 9, 2);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* Released records stay bound to their pool: clearing it takes them with
 * their cancelled heap entries, and the memory the pool hands out next
 * (scribbled over here) is never read by the loop. */
START_TEST(timer_release_then_pool_clear)
{
    enum { N = 200 };
    apr_pool_t *p = pt_subpool(pt_pool);
    pev_timer_t *h[N];
    int i;

    for (i = 0; i < N; i++)
        h[i] = at(1000 + i, tact(pt_pool, 1000 + i), p);
    for (i = 0; i < N; i += 2)
        ck_assert_int_eq(pev_timer_cancel(h[i]), APR_SUCCESS);
    for (i = 0; i < N / 2; i++)           /* cancelled ones and armed ones */
        ck_assert_int_eq(pev_timer_release(h[i]), APR_SUCCESS);
    at(1500, tact(pt_pool, 1), NULL);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 1 + N / 4);
    apr_pool_clear(p);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 1);
    for (i = 0; i < 4 * N; i++)           /* the pool's memory again */
        memset(apr_palloc(p, 64), 0xa5, 64);
    pt_tick(LOOP, 2000);
    ck_assert_log(&LOG, 1);
    /* a new life of the pool starts with nothing released */
    ck_assert_ptr_nonnull(at(2100, tact(pt_pool, 2), p));
    pt_tick(LOOP, 2100);
    ck_assert_log(&LOG, 1, 2);
}
END_TEST

static void rearm_past(tact_t *self, pev_timer_t *t)
{
    if (self->calls < 3)
        ck_assert_int_eq(pev_timer_rearm(t, 0), APR_SUCCESS);   /* long past */
}

/* Re-armed from its own callback for a mark already passed: fires again in the
 * next iteration (after a poll), not in a loop inside this one. */
START_TEST(timer_rearm_past_from_callback_next_iteration)
{
    tact_t *a = tact(pt_pool, 1);
    apr_uint64_t first;

    a->action = rearm_past;
    at(1000, a, NULL);
    pt_tick(LOOP, 1000);
    ck_assert_int_eq(a->calls, 1);
    first = a->seen_iter;
    pt_tick(LOOP, 1000);
    ck_assert_int_eq(a->calls, 2);
    ck_assert_uint_eq(a->seen_iter, first + 1);
    pt_tick(LOOP, 1000);
    ck_assert_int_eq(a->calls, 3);
    pt_tick(LOOP, 1000);
    ck_assert_int_eq(a->calls, 3);
}
END_TEST

static void rearm_later(tact_t *self, pev_timer_t *t)
{
    (void) self;
    ck_assert_int_eq(pev_timer_rearm_in(t, 100), APR_SUCCESS);
}

START_TEST(timer_rearm_states)
{
    tact_t *a = tact(pt_pool, 1), *b = tact(pt_pool, 2);
    pev_timer_t *ta, *tb;

    a->action = rearm_later;                     /* periodic, every 100 us */
    ta = at(1100, a, NULL);
    tb = at(5000, b, NULL);
    ck_assert_int_eq(pev_timer_rearm(tb, 1150), APR_SUCCESS); /* armed: moved */
    pt_tick(LOOP, 1100);
    pt_tick(LOOP, 1199);
    pt_tick(LOOP, 1200);
    ck_assert_log(&LOG, 1, 2, 1);
    ck_assert_int_eq(pev_timer_mark(ta), 1300);
    ck_assert_int_eq(pev_timer_rearm(tb, 1250), APR_SUCCESS); /* fired: again */
    ck_assert_int_eq(pev_timer_cancel(ta), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_rearm(ta, 1260), APR_SUCCESS); /* cancelled: again */
    pt_tick(LOOP, 1300);
    ck_assert_log(&LOG, 1, 2, 1, 2, 1);
    ck_assert_int_eq(pev_timer_cancel(ta), APR_SUCCESS);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

static void destroy_pool_action(tact_t *self, pev_timer_t *t)
{
    (void) t;
    apr_pool_destroy(self->p1);
}

/* Destroying the lifetime pool cancels its timers: from outside, from another
 * timer's callback (the victim is due in the same iteration), and from the
 * timer's own callback (ASan/valgrind watch the freed record). */
START_TEST(timer_pool_destroy_cancels)
{
    apr_pool_t *p1 = pt_subpool(pt_pool), *p2 = pt_subpool(pt_pool), *own = pt_subpool(pt_pool);
    apr_pool_t *p1child = pt_subpool(p1);
    tact_t *killer = tact(pt_pool, 1), *self = tact(own, 3);

    at(2000, tact(p1, 9), p1);
    at(2000, tact(p1child, 8), p1child);         /* goes with its parent */
    ck_assert_uint_eq(pt_loop_timers(LOOP), 2);
    apr_pool_destroy(p1);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);

    killer->action = destroy_pool_action;
    killer->p1 = p2;
    at(3000, killer, NULL);
    at(3000, tact(p2, 2), p2);                   /* due with the killer, after it */
    self->action = destroy_pool_action;
    self->p1 = own;
    at(3000, self, own);
    at(3000, tact(own, 4), own);
    at(3000, tact(pt_pool, 5), NULL);
    pt_tick(LOOP, 3000);
    ck_assert_log(&LOG, 1, 3, 5);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

static void destroy_loop_action(tact_t *self, pev_timer_t *t)
{
    (void) t;
    apr_pool_destroy(self->p1);
}

/* The loop destroyed from a timer callback: the iteration stops at once and
 * reports it; timers in pools that outlive the loop become inert. */
START_TEST(timer_loop_destroyed_in_callback)
{
    apr_pool_t *lp = pt_subpool(pt_pool);
    pev_loop_t *loop;
    pev_timer_t *survivor;
    tact_t *killer = tact(pt_pool, 1);

    ck_assert_int_eq(pev_loop_create(&loop, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_set_clock(loop, pt_fake_clock, NULL), APR_SUCCESS);
    killer->action = destroy_loop_action;
    killer->p1 = lp;
    ck_assert_int_eq(pev_timer_add(NULL, loop, 2000, on_timer, killer, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_add(&survivor, loop, 2000, on_timer, tact(pt_pool, 2),
                                   pt_pool), APR_SUCCESS);
    pt_fake_now = 2000;
    LOOP = loop;
    ck_assert_int_eq(pev_loop_run_once(loop, 0), PEV_EDESTROYED);
    LOOP = NULL;
    ck_assert_log(&LOG, 1);
    ck_assert_int_eq(pev_timer_cancel(survivor), PEV_EDESTROYED);
    ck_assert_int_eq(pev_timer_rearm(survivor, 5), PEV_EDESTROYED);
    ck_assert(!pev_timer_armed(survivor));
}
END_TEST

static void run_inside(tact_t *self, pev_timer_t *t)
{
    (void) t;
    self->p1 = (void *) (long) pev_loop_run_once(LOOP, 0);
    self->p2 = (void *) (long) pev_loop_run(LOOP);
}

START_TEST(loop_does_not_nest)
{
    tact_t *a = tact(pt_pool, 1);

    a->action = run_inside;
    at(1000, a, NULL);
    pt_tick(LOOP, 1000);
    ck_assert_int_eq((long) a->p1, PEV_EBUSY);
    ck_assert_int_eq((long) a->p2, PEV_EBUSY);
}
END_TEST

/* ======================================================================== */
/* Deferred calls                                                            */

static void defer_two(tact_t *self, pev_timer_t *t)
{
    (void) t;
    ck_assert_int_eq(pev_loop_defer(NULL, LOOP, on_timer, self->p1, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_defer(NULL, LOOP, on_timer, self->p2, NULL), APR_SUCCESS);
}

START_TEST(defer_runs_next_iteration_fifo)
{
    tact_t *a = tact(pt_pool, 1), *d1 = tact(pt_pool, 2), *d2 = tact(pt_pool, 3);
    pev_timer_t *cancelled;

    a->action = defer_two;
    a->p1 = d1;
    a->p2 = d2;
    at(1000, a, NULL);
    ck_assert_int_eq(pev_loop_defer(&cancelled, LOOP, on_timer, tact(pt_pool, 9), NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_timer_cancel(cancelled), APR_SUCCESS);
    pt_tick(LOOP, 1000);
    ck_assert_log(&LOG, 1);                      /* not inside the callback's iteration */
    pt_tick(LOOP, 1000);                                  /* time stands still: still runs */
    ck_assert_log(&LOG, 1, 2, 3);
    ck_assert_uint_eq(d1->seen_iter, a->seen_iter + 1);
}
END_TEST

/* ======================================================================== */
/* Wakeup, stop, run                                                         */

/* APR's pollset wakeup blocks after 65,536 unconsumed calls; ours coalesces. */
START_TEST(wakeup_never_blocks)
{
    pev_loop_stats_t st;
    long i, failed = 0;

    /* one assertion after the loop: check records every assertion's
     * location, a million of them cost minutes under valgrind */
    for (i = 0; i < 1000000; i++)
        failed += pev_loop_wakeup(LOOP) != APR_SUCCESS;
    ck_assert_int_eq(failed, 0);
    pev_loop_stats(LOOP, &st);
    ck_assert_uint_eq(st.wakeup_writes, 1);
    ck_assert_int_eq(pev_loop_run_once(LOOP, -1), APR_SUCCESS);   /* returns at once */
    ck_assert_int_eq(pev_loop_wakeup(LOOP), APR_SUCCESS);
    pev_loop_stats(LOOP, &st);
    ck_assert_uint_eq(st.wakeup_writes, 2);
}
END_TEST

static atomic_int HAMMER_STOP;

static void *hammer_wakeups(void *arg)
{
    while (!atomic_load(&HAMMER_STOP))
        pev_loop_wakeup(arg);
    return NULL;
}

/* Regression: a wakeup racing with the loop's consumption of the previous
 * one used to be swallowed while the flag stayed set; no wakeup ever woke
 * the loop again. After a storm of concurrent wakeups, one more must still
 * wake a loop that waits. */
START_TEST(wakeup_survives_concurrent_storm)
{
    long iters = pt_env_long("POOLEV_STORM_ITERS", 20000), i;
    pev_loop_t *real;
    pthread_t th;
    apr_time_t t0;

    ck_assert_int_eq(pev_loop_create(&real, pt_pool), APR_SUCCESS);
    atomic_store(&HAMMER_STOP, 0);
    ck_assert_int_eq(pthread_create(&th, NULL, hammer_wakeups, real), 0);
    for (i = 0; i < iters; i++)
        ck_assert(pev_loop_run_once(real, 1000) == APR_SUCCESS);
    atomic_store(&HAMMER_STOP, 1);
    pthread_join(th, NULL);
    for (i = 0; i < 3; i++)                        /* consume what is left */
        ck_assert_int_eq(pev_loop_run_once(real, 0), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_wakeup(real), APR_SUCCESS);
    t0 = pev_clock_monotonic();
    ck_assert_int_eq(pev_loop_run_once(real, 3 * APR_USEC_PER_SEC), APR_SUCCESS);
    ck_assert_msg(pev_clock_monotonic() - t0 < APR_USEC_PER_SEC,
                  "a wakeup did not wake the loop");
}
END_TEST

/* Marks and delays at the ends of the clock saturate instead of overflowing
 * (UBSan in CI checks the arithmetic), and such a timer simply waits. */
START_TEST(timer_extreme_marks)
{
    pev_timer_t *t;
    tact_t *a = tact(pt_pool, 1);

    ck_assert_int_eq(pev_timer_add_in(&t, LOOP, APR_INT64_MAX, on_timer, a, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_timer_mark(t), APR_INT64_MAX);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_rearm_in(t, APR_INT64_MAX - 1), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_mark(t), APR_INT64_MAX);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 1000), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_rearm(t, APR_INT64_MAX - 500), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_rearm_in(t, APR_INT64_MIN), APR_SUCCESS);   /* long past */
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_log(&LOG, 1);
}
END_TEST

static void *wake_later(void *arg)
{
    lc_sleep_ms(20);
    pev_loop_wakeup(arg);
    return NULL;
}

static void *stop_later(void *arg)
{
    lc_sleep_ms(20);
    pev_loop_stop(arg);
    return NULL;
}

START_TEST(wakeup_and_stop_from_another_thread)
{
    pev_loop_t *real;
    pthread_t th;
    apr_time_t t0;

    ck_assert_int_eq(pev_loop_create(&real, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pthread_create(&th, NULL, wake_later, real), 0);
    t0 = pev_clock_monotonic();
    ck_assert_int_eq(pev_loop_run_once(real, -1), APR_SUCCESS);   /* blocks until woken */
    ck_assert_int_ge(pev_clock_monotonic() - t0, 10000);
    pthread_join(th, NULL);

    /* a timer far away keeps run() busy until stopped */
    ck_assert_int_eq(pev_timer_add_in(NULL, real, 3600 * APR_USEC_PER_SEC, on_timer,
                                      tact(pt_pool, 1), NULL), APR_SUCCESS);
    ck_assert_int_eq(pthread_create(&th, NULL, stop_later, real), 0);
    ck_assert_int_eq(pev_loop_run(real), APR_SUCCESS);
    pthread_join(th, NULL);
    ck_assert_int_eq(LOG.n, 0);
}
END_TEST

static void stop_loop_action(tact_t *self, pev_timer_t *t)
{
    (void) t;
    pev_loop_stop(self->p1);
}

START_TEST(run_until_idle_on_real_clock)
{
    pev_loop_t *real;
    tact_t *a = tact(pt_pool, 1), *b = tact(pt_pool, 2), *s = tact(pt_pool, 3);
    pev_timer_t *ta;
    apr_time_t mark;

    ck_assert_int_eq(pev_loop_create(&real, pt_pool), APR_SUCCESS);
    LOOP = real;
    ck_assert_int_eq(pev_timer_add_in(&ta, real, 15000, on_timer, a, NULL), APR_SUCCESS);
    mark = pev_timer_mark(ta);
    ck_assert_int_eq(pev_timer_add_in(NULL, real, 5000, on_timer, b, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_run(real), APR_SUCCESS);      /* returns when idle */
    ck_assert_log(&LOG, 2, 1);
    ck_assert_int_ge(a->seen_now, mark);                    /* never early */
    ck_assert_int_ge(pev_clock_monotonic(), mark);

    /* stop from a callback ends run() after that iteration */
    s->action = stop_loop_action;
    s->p1 = real;
    ck_assert_int_eq(pev_timer_add_in(NULL, real, 1000, on_timer, s, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_add_in(NULL, real, 3600 * APR_USEC_PER_SEC, on_timer,
                                      tact(pt_pool, 4), NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_run(real), APR_SUCCESS);
    ck_assert_log(&LOG, 2, 1, 3);
}
END_TEST

/* ======================================================================== */
/* Randomized: timers against a sorted-list model                            */

#define MT 512

typedef struct {
    pev_timer_t *h;
    int pool;               /* index into pools, -1: loop lifetime */
    int armed;
    apr_time_t mark;
    apr_uint64_t order;     /* arming order: ties fire FIFO */
    int id;
} mtimer_t;

static mtimer_t MTS[MT];
static apr_uint64_t ORDER;
static pt_log_t FIRED;

static void model_fire(pev_timer_t *t, void *user_data)
{
    mtimer_t *m = user_data;

    (void) t;
    if (!m->armed)
        ck_abort_msg("timer %d fired while not armed", m->id);
    if (pev_loop_now(LOOP) < m->mark)
        ck_abort_msg("timer %d fired early", m->id);
    m->armed = 0;
    pt_log_add(&FIRED, m->id);
}

static int cmp_due(const void *x, const void *y)
{
    const mtimer_t *a = *(mtimer_t *const *) x, *b = *(mtimer_t *const *) y;

    if (a->mark != b->mark)
        return a->mark < b->mark ? -1 : 1;
    return a->order < b->order ? -1 : 1;
}

/* Assertions of the model test: check records the location of every
 * ck_assert (a write per call), which a loop of 100,000 operations pays
 * dearly for under valgrind; these only call into check on failure. */
#define MODEL_CHECK(cond, ...) do {                                           \
        if (!(cond))                                                         \
            ck_abort_msg(__VA_ARGS__);                                       \
    } while (0)
#define MODEL_EQ(a, b) do {                                                   \
        long long a_ = (long long) (a), b_ = (long long) (b);                \
        MODEL_CHECK(a_ == b_, "seed %llu op %ld: %s is %lld, expected %lld", \
                    (unsigned long long) seed, op, #a, a_, b_);              \
    } while (0)

START_TEST(timer_model_random)
{
    long ops = pt_env_long("POOLEV_TIMER_OPS", 100000), op;
    uint64_t seed = pt_seed("check_loop");
    pt_rng_t rng = { seed };
    apr_pool_t *pools[8];
    long fired = 0;
    int i;

    for (i = 0; i < 8; i++)
        pools[i] = pt_subpool(pt_pool);
    memset(MTS, 0, sizeof MTS);
    ORDER = 0;
    for (op = 0; op < ops; op++) {
        unsigned r = pt_below(&rng, 100);
        mtimer_t *m = &MTS[pt_below(&rng, MT)];

        if (r < 40) {                                   /* add or re-arm */
            apr_time_t mark = pt_fake_now + (apr_time_t) pt_below(&rng, 2000) - 200;
            if (!m->h) {
                m->id = (int) (m - MTS);
                m->pool = (int) pt_below(&rng, 9) - 1;
                MODEL_EQ(pev_timer_add(&m->h, LOOP, mark, model_fire, m,
                                               m->pool < 0 ? NULL : pools[m->pool]),
                                 APR_SUCCESS);
            }
            else if (pt_below(&rng, 4) == 0) {
                /* released and added anew for its pool: the record may come
                 * back, as a new timer */
                MODEL_EQ(pev_timer_release(m->h), APR_SUCCESS);
                MODEL_EQ(pev_timer_add(&m->h, LOOP, mark, model_fire, m,
                                       m->pool < 0 ? NULL : pools[m->pool]),
                         APR_SUCCESS);
            }
            else {
                MODEL_EQ(pev_timer_rearm(m->h, mark), APR_SUCCESS);
            }
            /* a mark already passed fires in the next iteration, which reads
             * the clock again: as if armed for that next reading */
            m->mark = mark;
            m->armed = 1;
            m->order = ++ORDER;
        }
        else if (r < 55) {                              /* cancel */
            if (m->h)
                MODEL_EQ(pev_timer_cancel(m->h),
                                 m->armed ? APR_SUCCESS : PEV_ENOTARMED);
            m->armed = 0;
        }
        else if (r < 57) {                              /* destroy a pool */
            int p = (int) pt_below(&rng, 8);
            apr_pool_clear(pools[p]);
            for (i = 0; i < MT; i++)
                if (MTS[i].h && MTS[i].pool == p) {
                    MTS[i].h = NULL;                    /* record is gone */
                    MTS[i].armed = 0;
                }
        }
        else {                                          /* advance and fire */
            mtimer_t *due[MT];
            int n = 0;

            pt_fake_now += pt_below(&rng, 400);
            for (i = 0; i < MT; i++)
                if (MTS[i].armed && MTS[i].mark <= pt_fake_now)
                    due[n++] = &MTS[i];
            qsort(due, (size_t) n, sizeof *due, cmp_due);
            pt_log_reset(&FIRED);
            MODEL_EQ(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
            /* timers armed for a passed mark fire one iteration later: they
             * were armed before this iteration, so they fire in it */
            MODEL_CHECK(FIRED.n == n, "seed %llu op %ld: %d fired, model %d",
                          (unsigned long long) seed, op, FIRED.n, n);
            for (i = 0; i < n; i++)
                MODEL_CHECK(FIRED.v[i] == due[i]->id,
                              "seed %llu op %ld: position %d fired %d, model %d",
                              (unsigned long long) seed, op, i, FIRED.v[i], due[i]->id);
            fired += n;
        }
        {
            apr_size_t model_armed = 0;
            for (i = 0; i < MT; i++)
                model_armed += MTS[i].armed;
            MODEL_EQ(pt_loop_timers(LOOP), model_armed);
        }
    }
    printf("check_loop: %ld timer operations, %ld timers fired\n", ops, fired);
}
END_TEST

/* Cancelling the last armed timer of a heap too small for the usual sweep
 * (here 200 timers, some cancelled twice over by re-arm and cancel) drops
 * every cancelled entry at once: each timer is idle then, re-arms as a new
 * entry (its new mark, after the timers armed for that mark before it),
 * fires once, and its pool goes cleanly, whether or not it was re-armed. */
START_TEST(timer_cancel_all_sweeps)
{
    enum { N = 200 };
    apr_pool_t *p = pt_subpool(pt_pool);
    pev_timer_t **h = calloc(N, sizeof *h);
    int *expect = calloc(N + 1, sizeof *expect);
    int i, n = 0;

    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(expect);
    for (i = 0; i < N; i++)
        h[i] = at(pt_fake_now + 100 + i % 10, tact(pt_pool, i), i % 2 ? p : NULL);
    for (i = 0; i < N; i += 3) {                /* dead, revived, dead again */
        ck_assert_int_eq(pev_timer_cancel(h[i]), APR_SUCCESS);
        ck_assert_int_eq(pev_timer_rearm(h[i], pt_fake_now + 50), APR_SUCCESS);
    }
    for (i = N - 1; i >= 0; i--)                /* the last one sweeps */
        ck_assert_int_eq(pev_timer_cancel(h[i]), APR_SUCCESS);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    for (i = 0; i < N; i++)
        ck_assert(!pev_timer_armed(h[i]));
    (void) at(pt_fake_now + 30, tact(pt_pool, 1000), NULL);
    for (i = 0; i < N; i += 2) {                /* re-armed, in the loop's pool */
        ck_assert_int_eq(pev_timer_cancel(h[i]), PEV_ENOTARMED);
        ck_assert_int_eq(pev_timer_rearm(h[i], pt_fake_now + 30), APR_SUCCESS);
    }
    ck_assert_int_eq(pev_timer_rearm(h[1], pt_fake_now + 30), APR_SUCCESS);
    apr_pool_destroy(p);                        /* h[1] and the idle odd ones */
    expect[n++] = 1000;
    for (i = 0; i < N; i += 2)
        expect[n++] = i;
    expect[n] = -1;
    pt_tick(LOOP, pt_fake_now + 200);
    ck_assert_msg(pt_log_eq(&LOG, expect), "fired %d timers, expected %d", LOG.n, n);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    free(h);
    free(expect);
}
END_TEST

/* pev_timer_cancel() leaves a dead entry in the heap. Dead entries of a pool
 * destroyed before any sweep must leave the heap with it (ASan/valgrind see
 * a use-after-free otherwise); a sweep (once the cancelled entries are more
 * than three times the armed ones) drops them without disturbing the order
 * of the live ones; a swept timer re-arms. */
START_TEST(timer_lazy_cancel_sweep)
{
    enum { N = 5000 };
    apr_pool_t *a = pt_subpool(pt_pool), *b = pt_subpool(pt_pool);
    pev_timer_t **h = calloc(N, sizeof *h);
    int *expect = calloc(N + 1, sizeof *expect);
    int i, n = 0, m;

    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(expect);
    for (i = 0; i < N; i++)
        h[i] = at(pt_fake_now + 1 + (i * 7) % 100, tact(pt_pool, i), i % 2 ? b : a);
    for (i = 1; i < N; i += 4)                  /* 1250 dead, all in b */
        ck_assert_int_eq(pev_timer_cancel(h[i]), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_cancel(h[1]), PEV_ENOTARMED);
    ck_assert_uint_eq(pt_loop_timers(LOOP), N - N / 4);
    apr_pool_destroy(b);                        /* dead and live entries go */
    ck_assert_uint_eq(pt_loop_timers(LOOP), N / 2);
    for (i = 2; i < N; i += 4)
        ck_assert_int_eq(pev_timer_cancel(h[i]), APR_SUCCESS);
    for (i = 0; i < N; i += 8)          /* 1875 dead, 625 armed: no sweep */
        ck_assert_int_eq(pev_timer_cancel(h[i]), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_cancel(h[4]), APR_SUCCESS);     /* sweeps */
    ck_assert_uint_eq(pt_loop_timers(LOOP), N / 8 - 1);
    for (i = 2; i < N; i += 8) {
        ck_assert(!pev_timer_armed(h[i]));
        ck_assert_int_eq(pev_timer_rearm(h[i], pt_fake_now + 150), APR_SUCCESS);
    }
    /* expected: the live originals by (mark, id), then the re-armed by id */
    for (m = 1; m <= 100; m++)
        for (i = 12; i < N; i += 8)
            if (1 + (i * 7) % 100 == m)
                expect[n++] = i;
    for (i = 2; i < N; i += 8)
        expect[n++] = i;
    expect[n] = -1;
    ck_assert_int_lt(n, PT_LOG_MAX);
    pt_tick(LOOP, pt_fake_now + 300);
    ck_assert_msg(pt_log_eq(&LOG, expect), "fired %d timers, expected %d", LOG.n, n);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    free(h);
    free(expect);
}
END_TEST

/* ======================================================================== */
/* The due set under churn                                                   */

#define CT 1500

typedef struct {
    pev_timer_t *h;
    int pool;               /* 0..3 */
    int armed;              /* model: armed (in the heap or due) */
    int due;                /* model: in the current iteration's due set */
    apr_time_t mark;
    apr_uint64_t order;     /* arming order: ties fire FIFO */
    int id;
} ctimer_t;

static ctimer_t CTS[CT];
static apr_pool_t *CPOOLS[4];
static ctimer_t *CDUE[CT];  /* the model's due set of the iteration, in order */
static int CNDUE, CPOS;     /* its size; the next position expected to fire */
static pt_rng_t CRNG;
static uint64_t CSEED;
static long CFIRED;

static void churn_fire(pev_timer_t *t, void *user_data);

static int cmp_cdue(const void *x, const void *y)
{
    const ctimer_t *a = *(ctimer_t *const *) x, *b = *(ctimer_t *const *) y;

    if (a->mark != b->mark)
        return a->mark < b->mark ? -1 : 1;
    return a->order < b->order ? -1 : 1;
}

/* Arm @a m (adding a record if it has none) for @a mark; model too. */
static void churn_arm(ctimer_t *m, apr_time_t mark)
{
    if (!m->h) {
        m->pool = (int) pt_below(&CRNG, 4);
        MODEL_CHECK(pev_timer_add(&m->h, LOOP, mark, churn_fire, m, CPOOLS[m->pool])
                    == APR_SUCCESS, "seed %llu: add", (unsigned long long) CSEED);
    } else {
        MODEL_CHECK(pev_timer_rearm(m->h, mark) == APR_SUCCESS, "seed %llu: rearm",
                    (unsigned long long) CSEED);
    }
    m->armed = 1;
    m->due = 0;             /* re-armed: never in this iteration */
    m->mark = mark;
    m->order = ++ORDER;
}

/* One random action on another timer, from a callback or between
 * iterations: re-arm (often for a mark already passed, or the same mark as
 * others), cancel and re-arm the same record, cancel, or clear a pool. */
static void churn_act(void)
{
    ctimer_t *m = &CTS[pt_below(&CRNG, CT)];
    unsigned r = pt_below(&CRNG, 100);
    int i;

    if (r < 45) {
        /* few distinct marks: many ties */
        churn_arm(m, pt_fake_now + (apr_time_t) pt_below(&CRNG, 8) * 50 - 100);
    } else if (r < 65) {
        if (m->h) {
            MODEL_CHECK(pev_timer_cancel(m->h) == (m->armed ? APR_SUCCESS : PEV_ENOTARMED),
                        "seed %llu: cancel", (unsigned long long) CSEED);
            m->armed = m->due = 0;
            if (r < 55)     /* and add the same record again */
                churn_arm(m, pt_fake_now + (apr_time_t) pt_below(&CRNG, 4) * 50 - 50);
        }
    } else if (r < 66) {
        int p = (int) pt_below(&CRNG, 4);

        apr_pool_clear(CPOOLS[p]);
        for (i = 0; i < CT; i++)
            if (CTS[i].h && CTS[i].pool == p) {
                CTS[i].h = NULL;
                CTS[i].armed = CTS[i].due = 0;
            }
    }
}

static void churn_fire(pev_timer_t *t, void *user_data)
{
    ctimer_t *m = user_data;
    int k;

    /* the next one of the fixed due set that is still due */
    while (CPOS < CNDUE && !CDUE[CPOS]->due)
        CPOS++;
    MODEL_CHECK(CPOS < CNDUE, "seed %llu: timer %d fired beyond the due set",
                (unsigned long long) CSEED, m->id);
    MODEL_CHECK(CDUE[CPOS] == m, "seed %llu: timer %d fired, model expects %d",
                (unsigned long long) CSEED, m->id, CDUE[CPOS]->id);
    MODEL_CHECK(m->h == t && pev_loop_now(LOOP) >= m->mark && !pev_timer_armed(t),
                "seed %llu: timer %d state", (unsigned long long) CSEED, m->id);
    CPOS++;
    m->armed = m->due = 0;
    CFIRED++;
    for (k = (int) pt_below(&CRNG, 3); k > 0; k--)
        churn_act();
}

/* Timers cancelled, re-armed (the same record, often for a mark already due,
 * with many equal marks) and pools cleared from inside the callbacks of an
 * iteration: the due set stays the one fixed before the first callback, in
 * (mark, arming order), minus what was cancelled or re-armed before its
 * turn; nothing fires early; seeded. */
START_TEST(timer_due_set_under_churn)
{
    long iters = pt_env_long("POOLEV_CHURN_ITERS", 400), it;
    int i, k;

    CSEED = pt_seed("check_loop");
    CRNG.s = CSEED;
    CFIRED = 0;
    memset(CTS, 0, sizeof CTS);
    ORDER = 0;
    for (i = 0; i < 4; i++)
        CPOOLS[i] = pt_subpool(pt_pool);
    for (i = 0; i < CT; i++)
        CTS[i].id = i;
    for (it = 0; it < iters; it++) {
        apr_size_t model_armed = 0;

        for (k = (int) pt_below(&CRNG, 200); k > 0; k--)
            churn_act();
        pt_fake_now += pt_below(&CRNG, 120);
        CNDUE = CPOS = 0;
        for (i = 0; i < CT; i++)
            if (CTS[i].armed && CTS[i].mark <= pt_fake_now) {
                CTS[i].due = 1;
                CDUE[CNDUE++] = &CTS[i];
            }
        qsort(CDUE, (size_t) CNDUE, sizeof *CDUE, cmp_cdue);
        MODEL_CHECK(pev_loop_run_once(LOOP, 0) == APR_SUCCESS, "seed %llu: run",
                    (unsigned long long) CSEED);
        while (CPOS < CNDUE && !CDUE[CPOS]->due)
            CPOS++;
        MODEL_CHECK(CPOS == CNDUE, "seed %llu iteration %ld: timer %d did not fire",
                    (unsigned long long) CSEED, it, CPOS < CNDUE ? CDUE[CPOS]->id : -1);
        for (i = 0; i < CT; i++)
            model_armed += CTS[i].armed;
        MODEL_CHECK(pt_loop_timers(LOOP) == model_armed,
                    "seed %llu iteration %ld: %lu armed, model %lu",
                    (unsigned long long) CSEED, it, (unsigned long) pt_loop_timers(LOOP),
                    (unsigned long) model_armed);
    }
    printf("check_loop: %ld churned iterations, %ld timers fired\n", iters, CFIRED);
}
END_TEST

/* Cancel and re-arm of the same record, many times over (lazy cancels and
 * their sweeps in between), fires it once, at its last mark; a due timer
 * cancelled and re-armed by an earlier callback of the iteration fires in
 * the next one. */
static void cancel_rearm_other(tact_t *self, pev_timer_t *t)
{
    (void) t;
    ck_assert_int_eq(pev_timer_cancel(self->p1), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_rearm(self->p1, pt_fake_now), APR_SUCCESS);
}

START_TEST(timer_cancel_then_readd_same_record)
{
    enum { N = 3000 };
    pev_timer_t **h = calloc(N, sizeof *h);
    tact_t *first;
    pev_timer_t *victim;
    int i, round;

    ck_assert_ptr_nonnull(h);
    for (i = 0; i < N; i++)
        h[i] = at(pt_fake_now + 1000 + i, tact(pt_pool, i), NULL);
    for (round = 0; round < 5; round++)
        for (i = 0; i < N; i++) {
            ck_assert_int_eq(pev_timer_cancel(h[i]), APR_SUCCESS);
            ck_assert_int_eq(pev_timer_cancel(h[i]), PEV_ENOTARMED);
            ck_assert_int_eq(pev_timer_rearm(h[i], pt_fake_now + 10 + (N - i) % 7),
                             APR_SUCCESS);
        }
    ck_assert_uint_eq(pt_loop_timers(LOOP), N);
    pt_tick(LOOP, pt_fake_now + 20);
    ck_assert_int_eq(LOG.n, N);
    for (i = 0; i < N; i++)
        ck_assert_int_eq(pt_log_count(&LOG, i), 1);
    /* by mark, then arming order: marks 10 + (N - i) % 7 */
    for (i = 1; i < N; i++) {
        int a = LOG.v[i - 1], b = LOG.v[i];
        int ma = (N - a) % 7, mb = (N - b) % 7;

        ck_assert(ma < mb || (ma == mb && a < b));
    }
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);

    pt_log_reset(&LOG);
    first = tact(pt_pool, 1);
    victim = at(pt_fake_now + 5, tact(pt_pool, 2), NULL);
    first->action = cancel_rearm_other;
    first->p1 = victim;
    (void) at(pt_fake_now + 5, first, NULL);
    ck_assert_int_eq(pev_timer_rearm(victim, pt_fake_now + 5), APR_SUCCESS);  /* after first */
    pt_fake_now += 5;
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_log(&LOG, 1);
    ck_assert(pev_timer_armed(victim));
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_log(&LOG, 1, 2);
    free(h);
}
END_TEST

/* A pool holding thousands of armed timers (some cancelled, some due) is
 * destroyed: from outside, and by the first callback of an iteration in
 * which they are due (none of them fires; valgrind sees no access to a
 * freed record). */
START_TEST(timer_pool_destroyed_with_thousands)
{
    enum { N = 6000 };
    apr_pool_t *p = pt_subpool(pt_pool);
    tact_t *killer;
    int i;

    for (i = 0; i < N; i++) {
        pev_timer_t *t = at(pt_fake_now + 1 + i % 50, tact(pt_pool, 100 + i), p);

        if (i % 5 == 0)
            ck_assert_int_eq(pev_timer_cancel(t), APR_SUCCESS);
    }
    ck_assert_uint_eq(pt_loop_timers(LOOP), N - N / 5);
    apr_pool_destroy(p);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    pt_tick(LOOP, pt_fake_now + 100);
    ck_assert_int_eq(LOG.n, 0);

    p = pt_subpool(pt_pool);
    killer = tact(pt_pool, 1);
    killer->action = destroy_pool_action;
    killer->p1 = p;
    (void) at(pt_fake_now + 1, killer, NULL);
    for (i = 0; i < N; i++) {
        pev_timer_t *t = at(pt_fake_now + 1 + i % 3, tact(pt_pool, 100 + i), p);

        if (i % 7 == 0)
            ck_assert_int_eq(pev_timer_cancel(t), APR_SUCCESS);
    }
    (void) at(pt_fake_now + 3, tact(pt_pool, 2), NULL);
    pt_fake_now += 10;
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_log(&LOG, 1, 2);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
}
END_TEST

/* pev_timer_add() hands out records from runs allocated in the lifetime
 * pool. A run never outlives its pool's clear: after a clear, memory the
 * pool hands out again is never also a timer record (a stale run would
 * overwrite the pattern); interleaved pools each get their own records;
 * every timer fires once. */
START_TEST(timer_record_runs_follow_pool_lifetime)
{
    enum { N = 300, BUF = 64 * 1024 };
    apr_pool_t *p = pt_subpool(pt_pool), *q = pt_subpool(pt_pool);
    unsigned char *buf;
    int i, round;

    for (round = 0; round < 3; round++) {
        pt_log_reset(&LOG);
        for (i = 0; i < 5; i++)         /* a run for p, partly used */
            (void) at(pt_fake_now + 1, tact(pt_pool, i), p);
        apr_pool_clear(p);
        ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
        buf = apr_palloc(p, BUF);       /* the memory the run was in */
        memset(buf, 0xa5, BUF);
        for (i = 0; i < N; i++)
            (void) at(pt_fake_now + 1 + i % 3, tact(pt_pool, i), i % 3 ? p : q);
        pt_tick(LOOP, pt_fake_now + 5);
        ck_assert_int_eq(LOG.n, N);
        for (i = 0; i < N; i++)
            ck_assert_int_eq(pt_log_count(&LOG, i), 1);
        for (i = 0; i < BUF; i++)
            if (buf[i] != 0xa5)
                ck_abort_msg("round %d: byte %d of memory the pool handed out "
                             "after its clear was overwritten", round, i);
        apr_pool_clear(q);
    }
    apr_pool_destroy(p);
    apr_pool_destroy(q);
}
END_TEST

/* A pool's owner holds its runs of records, each with the records handed
 * out from it: the pool's teardown releases every one, whether its run is
 * the loop's current one, one another pool took over, or the current one
 * when another pool's teardown made the loop forget it; the loop's
 * destruction makes every record of every run inert. */
START_TEST(timer_pool_teardown_releases_every_run)
{
    apr_pool_t *a = pt_subpool(pt_pool), *b = pt_subpool(pt_pool), *lp;
    pev_timer_t *h[8];
    pev_loop_t *loop;
    int i, n = 0;

    for (i = 0; i < 4; i++)             /* runs of 1 and 2, then 1 of 4 */
        at(pt_fake_now + 10, tact(pt_pool, 100 + i), a);
    at(pt_fake_now + 10, tact(pt_pool, 200), b);        /* b takes over */
    for (i = 0; i < 2; i++)             /* a again: a run of 1, 1 of 2 */
        at(pt_fake_now + 10, tact(pt_pool, 110 + i), a);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 7);
    apr_pool_destroy(b);                /* the loop forgets a's run */
    ck_assert_uint_eq(pt_loop_timers(LOOP), 6);
    at(pt_fake_now + 10, tact(pt_pool, 120), a);        /* a's, current */
    ck_assert_uint_eq(pt_loop_timers(LOOP), 7);
    apr_pool_clear(a);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    pt_tick(LOOP, pt_fake_now + 10);
    ck_assert_int_eq(LOG.n, 0);

    /* the same runs in a loop destroyed before the pool */
    lp = pt_subpool(pt_pool);
    ck_assert_int_eq(pev_loop_create(&loop, lp), APR_SUCCESS);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(pev_timer_add(&h[n++], loop, 10, on_timer, tact(pt_pool, i), a),
                         APR_SUCCESS);
    b = pt_subpool(pt_pool);
    ck_assert_int_eq(pev_timer_add(&h[n++], loop, 10, on_timer, tact(pt_pool, 4), b),
                     APR_SUCCESS);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(pev_timer_add(&h[n++], loop, 10, on_timer, tact(pt_pool, 5 + i), a),
                         APR_SUCCESS);
    apr_pool_destroy(lp);
    for (i = 0; i < n; i++) {
        ck_assert(!pev_timer_armed(h[i]));
        ck_assert_int_eq(pev_timer_cancel(h[i]), PEV_EDESTROYED);
        ck_assert_int_eq(pev_timer_release(h[i]), PEV_EDESTROYED);
    }
    apr_pool_destroy(a);
    apr_pool_destroy(b);
}
END_TEST

/* Runs of records are up to 253 long, and a released record finds its
 * run's owner through its place in the run: a pool with 600 timers (runs of
 * 1, 2, ... 128, 253, and 92 of a last run of 253) gets every one of them
 * back, newest released first, for its own adds only, and each fires once. */
START_TEST(timer_release_reuses_in_long_runs)
{
    enum { N = 600 };
    apr_pool_t *p = pt_subpool(pt_pool), *q = pt_subpool(pt_pool);
    pev_timer_t **h = calloc(N, sizeof *h), *x;
    int i;

    ck_assert_ptr_nonnull(h);
    for (i = 0; i < N; i++)
        h[i] = at(pt_fake_now + 100, tact(pt_pool, i), p);
    for (i = 0; i < N; i++)
        ck_assert_int_eq(pev_timer_release(h[i]), APR_SUCCESS);
    x = at(pt_fake_now + 100, tact(pt_pool, N), q);      /* another pool's */
    for (i = 0; i < N; i++)
        ck_assert_ptr_ne(x, h[i]);
    for (i = 0; i < N; i++)
        ck_assert_ptr_eq(at(pt_fake_now + 100, tact(pt_pool, N + 1 + i), p), h[N - 1 - i]);
    x = at(pt_fake_now + 100, tact(pt_pool, 2 * N + 1), p);  /* none left */
    for (i = 0; i < N; i++)
        ck_assert_ptr_ne(x, h[i]);
    pt_tick(LOOP, pt_fake_now + 100);
    ck_assert_int_eq(LOG.n, N + 2);
    for (i = N; i <= 2 * N + 1; i++)
        ck_assert_int_eq(pt_log_count(&LOG, i), 1);
    ck_assert_uint_eq(pt_loop_timers(LOOP), 0);
    apr_pool_destroy(p);
    apr_pool_destroy(q);
    free(h);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("loop");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, loop_arguments);
    tcase_add_test(tc, loop_time_cached_per_iteration);
    tcase_add_test(tc, loop_monotonic_clock);
    tcase_add_test(tc, timer_never_early_in_mark_order);
    tcase_add_test(tc, timer_equal_marks_fifo);
    tcase_add_test(tc, timer_relative_and_cancel);
    tcase_add_test(tc, timer_rearm_past_from_callback_next_iteration);
    tcase_add_test(tc, timer_lazy_rearm_never_early);
    tcase_add_test(tc, timer_lazy_rearm_fifo);
    tcase_add_test(tc, timer_lazy_rearm_far_apart);
    tcase_add_test(tc, timer_rearm_cancelled_later);
    tcase_add_test(tc, timer_release_reuses_within_its_pool);
    tcase_add_test(tc, timer_release_reuses_in_long_runs);
    tcase_add_test(tc, timer_pool_teardown_releases_every_run);
    tcase_add_test(tc, timer_release_from_callbacks);
    tcase_add_test(tc, timer_release_then_pool_clear);
    tcase_add_test(tc, timer_rearm_states);
    tcase_add_test(tc, timer_pool_destroy_cancels);
    tcase_add_test(tc, timer_loop_destroyed_in_callback);
    tcase_add_test(tc, loop_does_not_nest);
    tcase_add_test(tc, defer_runs_next_iteration_fifo);
    tcase_add_test(tc, wakeup_never_blocks);
    tcase_add_test(tc, wakeup_survives_concurrent_storm);
    tcase_add_test(tc, timer_extreme_marks);
    tcase_add_test(tc, wakeup_and_stop_from_another_thread);
    tcase_add_test(tc, run_until_idle_on_real_clock);
    tcase_add_test(tc, timer_cancel_then_readd_same_record);
    tcase_add_test(tc, timer_pool_destroyed_with_thousands);
    tcase_add_test(tc, timer_due_set_under_churn);
    tcase_add_test(tc, timer_record_runs_follow_pool_lifetime);
    tcase_add_test(tc, timer_model_random);
    tcase_add_test(tc, timer_lazy_cancel_sweep);
    tcase_add_test(tc, timer_cancel_all_sweeps);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, loop_suite, NULL);
}
