/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_clock.c - a step of the wall clock moves no deadline.
 *
 * This program interposes clock_gettime() and gettimeofday(): the wall clock
 * (CLOCK_REALTIME, and apr_time_now() through gettimeofday) can be stepped
 * by the test, the monotonic clock runs as it does. Loops on their default
 * clock must keep every deadline on the monotonic clock.
 */
#define _GNU_SOURCE 1
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <poolev.h>
#include "harness.h"

static atomic_llong STEP_US;        /* added to the wall clock */

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int r = (int) syscall(SYS_clock_gettime, id, ts);

    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) {
        long long ns = (long long) ts->tv_sec * 1000000000LL + ts->tv_nsec
                       + atomic_load(&STEP_US) * 1000LL;

        ts->tv_sec = (time_t) (ns / 1000000000LL);
        ts->tv_nsec = (long) (ns % 1000000000LL);
    }
    return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    int r = clock_gettime(CLOCK_REALTIME, &ts);

    (void) tz;
    if (r == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return r;
}

static apr_time_t mono_us(void)
{
    struct timespec ts;

    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (apr_time_t) ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

typedef struct {
    long long step;             /* for the stepping timer */
    apr_time_t fired_at;        /* monotonic, for the deadline timer */
} ctx_t;

static void step_wall(pev_timer_t *t, void *user_data)
{
    ctx_t *c = user_data;

    (void) t;
    atomic_fetch_add(&STEP_US, c->step);
}

static void deadline(pev_timer_t *t, void *user_data)
{
    (void) t;
    ((ctx_t *) user_data)->fired_at = mono_us();
}

/* The interposition works: apr_time_now() sees the step. */
START_TEST(interposed_wall_clock_steps)
{
    apr_time_t a = apr_time_now(), b;

    atomic_fetch_add(&STEP_US, 3600LL * APR_USEC_PER_SEC);
    b = apr_time_now();
    atomic_store(&STEP_US, 0);
    ck_assert_int_ge(b - a, 3599LL * APR_USEC_PER_SEC);
}
END_TEST

/* A timer 150 ms ahead; 20 ms in, the wall clock jumps by _i hours (forward:
 * a wall-clock loop would fire at once; backward: an hour late). It fires
 * after 150 ms of monotonic time, not earlier, and not an hour late (the
 * test case's timeout catches that). */
START_TEST(wall_clock_step_moves_no_deadline)
{
    static const long long hours[] = { 1, -1 };
    pev_loop_t *loop;
    ctx_t c = { 0, 0 };
    apr_time_t t0;

    atomic_store(&STEP_US, 0);
    /* before the loop reads its clock: the timers count from that reading */
    t0 = mono_us();
    ck_assert_int_eq(pev_loop_create(&loop, pt_pool), APR_SUCCESS);
    c.step = hours[_i] * 3600LL * APR_USEC_PER_SEC;
    ck_assert_int_eq(pev_timer_add_in(NULL, loop, 20 * 1000, step_wall, &c, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_timer_add_in(NULL, loop, 150 * 1000, deadline, &c, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_loop_run(loop), APR_SUCCESS);
    ck_assert_int_ne(atomic_load(&STEP_US), 0);
    ck_assert_msg(c.fired_at - t0 >= 150 * 1000, "fired after %lld us",
                  (long long) (c.fired_at - t0));
    ck_assert_msg(c.fired_at - t0 < 5 * APR_USEC_PER_SEC, "fired after %lld us",
                  (long long) (c.fired_at - t0));
    atomic_store(&STEP_US, 0);
}
END_TEST

static Suite *clock_suite(void)
{
    Suite *s = suite_create("clock");
    TCase *tc = tcase_create("clock");

    tcase_add_checked_fixture(tc, pt_setup, pt_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, interposed_wall_clock_steps);
    tcase_add_loop_test(tc, wall_clock_step_moves_no_deadline, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(clock_suite());
}
