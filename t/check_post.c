/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_post.c - calls posted to a loop from any thread (pev_loop_post,
 * doc/loop.md "Calls from other threads").
 *
 * Each loop here has its own subpool, so that a test can destroy it with
 * calls still queued. POOLEV_POST_ITERS sets the posts per thread of the
 * many-threads test (valgrind runs fewer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdatomic.h>

#include <poolev.h>
#include "harness.h"

static pt_log_t LOG;
static apr_pool_t *LPOOL;       /* the loop's pool */
static pev_loop_t *LOOP;

static void setup(void)
{
    pt_setup();
    pt_log_reset(&LOG);
    LPOOL = pt_unkept_subpool(pt_pool);    /* a use after free faults */
    ck_assert_int_eq(pev_loop_create(&LOOP, LPOOL), APR_SUCCESS);
}

static void teardown(void)
{
    pt_teardown();              /* destroys LPOOL too, if a test did not */
}

/* A posted call's record: what happened to it. */
typedef struct pcall pcall_t;
struct pcall {
    int id;
    int ran, cancelled;         /* how often each */
    pthread_t thread;           /* where it ran */
    apr_uint64_t iter;          /* the loop's iterations when it ran */
    void (*action)(pcall_t *self);
    void *p1;
};

static void on_post(void *user_data, int cancelled)
{
    pcall_t *c = user_data;

    if (cancelled) {
        c->cancelled++;
        pt_log_add(&LOG, -c->id);
        return;
    }
    c->ran++;
    c->thread = pthread_self();
    c->iter = pt_loop_iterations(LOOP);
    pt_log_add(&LOG, c->id);
    if (c->action)
        c->action(c);
}

static pcall_t *pcall(int id)
{
    pcall_t *c = apr_pcalloc(pt_pool, sizeof *c);

    c->id = id;
    return c;
}

static void post(pcall_t *c)
{
    ck_assert_int_eq(pev_loop_post(LOOP, on_post, c), APR_SUCCESS);
}

static apr_uint64_t wakeup_writes(void)
{
    pev_loop_stats_t st;

    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    return st.wakeup_writes;
}

START_TEST(post_arguments)
{
    ck_assert_int_eq(pev_loop_post(NULL, on_post, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_loop_post(LOOP, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(LOG.n, 0);
}
END_TEST

/* ======================================================================== */
/* Where and when a call runs                                                */

/* Not inside pev_loop_post(): in the next iteration, on the loop's thread. */
START_TEST(post_runs_next_iteration)
{
    pcall_t *a = pcall(1);
    apr_uint64_t it = pt_loop_iterations(LOOP);

    post(a);
    ck_assert_int_eq(a->ran, 0);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(a->ran, 1);
    ck_assert_int_eq(a->cancelled, 0);
    ck_assert_uint_eq(a->iter, it + 1);
    ck_assert(pthread_equal(a->thread, pthread_self()));
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(a->ran, 1);                        /* once */
}
END_TEST

static void *post_one(void *arg)
{
    return (void *) (intptr_t) pev_loop_post(LOOP, on_post, arg);
}

/* Posted from another thread: it runs on the loop's thread, and the post
 * wakes a loop that waits without limit. */
START_TEST(post_from_thread_runs_on_loop_thread)
{
    pcall_t *a = pcall(1);
    pthread_t th;
    void *st;
    apr_time_t t0 = pev_clock_monotonic();

    ck_assert_int_eq(pthread_create(&th, NULL, post_one, a), 0);
    while (a->ran == 0) {
        ck_assert_msg(pev_clock_monotonic() - t0 < PT_WAIT_MS * 1000, "never ran");
        ck_assert_int_eq(pev_loop_run_once(LOOP, APR_USEC_PER_SEC), APR_SUCCESS);
    }
    ck_assert_msg(pev_clock_monotonic() - t0 < APR_USEC_PER_SEC, "the post did not wake the loop");
    pthread_join(th, &st);
    ck_assert_int_eq((intptr_t) st, APR_SUCCESS);
    ck_assert(pthread_equal(a->thread, pthread_self()));
    ck_assert_int_eq(a->cancelled, 0);
}
END_TEST

/* pev_loop_run() with nothing else registered runs a waiting call before
 * it returns. */
START_TEST(post_keeps_run_running)
{
    pcall_t *a = pcall(1);

    post(a);
    ck_assert_int_eq(pev_loop_run(LOOP), APR_SUCCESS);
    ck_assert_int_eq(a->ran, 1);
}
END_TEST

/* ======================================================================== */
/* Order and batches                                                         */

START_TEST(post_order_kept)
{
    int i;

    for (i = 1; i <= 100; i++)
        post(pcall(i));
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(LOG.n, 100);
    for (i = 0; i < 100; i++)
        ck_assert_int_eq(LOG.v[i], i + 1);
}
END_TEST

static void post_p1(pcall_t *self)
{
    post(self->p1);
}

/* A call posted by a posted call runs in the next iteration, after a poll,
 * not in the batch that is running: posting from a call never spins. */
START_TEST(post_from_posted_call_next_iteration)
{
    pcall_t *a = pcall(1), *b = pcall(2), *c = pcall(3);
    apr_uint64_t it = pt_loop_iterations(LOOP);

    a->action = post_p1;
    a->p1 = c;
    post(a);
    post(b);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_log(&LOG, 1, 2);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_log(&LOG, 1, 2, 3);
    ck_assert_uint_eq(c->iter, it + 2);
}
END_TEST

/* A burst of posts while the loop does not run writes to the wakeup pipe
 * once, and the loop runs it as one batch in one iteration. */
START_TEST(post_wakeups_coalesce)
{
    apr_uint64_t w0 = wakeup_writes(), it;
    int i, round;

    for (round = 1; round <= 3; round++) {
        pt_log_reset(&LOG);
        for (i = 0; i < 1000; i++)
            post(pcall(i));
        ck_assert_uint_eq(wakeup_writes() - w0, round);    /* one per burst */
        it = pt_loop_iterations(LOOP);
        ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
        ck_assert_uint_eq(pt_loop_iterations(LOOP), it + 1);
        ck_assert_int_eq(LOG.n, 1000);
    }
}
END_TEST

/* ======================================================================== */
/* Many threads                                                              */

#define THREADS 4

static atomic_int STARTED;
static long POSTS;              /* per thread */
static long SEEN[THREADS];      /* next sequence number expected per thread */
static long OUT_OF_ORDER, RAN, CANCELLED;

/* user_data carries (thread, sequence): no allocation in the test */
static void on_counted(void *user_data, int cancelled)
{
    uintptr_t v = (uintptr_t) user_data;
    int th = (int) (v % THREADS);
    long seq = (long) (v / THREADS);

    if (cancelled) {
        CANCELLED++;
        return;
    }
    RAN++;
    if (seq != SEEN[th])
        OUT_OF_ORDER++;
    SEEN[th] = seq + 1;
}

static void *poster(void *arg)
{
    uintptr_t th = (uintptr_t) arg;
    long i, failed = 0;

    atomic_fetch_add(&STARTED, 1);
    while (atomic_load(&STARTED) < THREADS)
        ;                       /* start together: the posts interleave */
    for (i = 0; i < POSTS; i++)
        failed += pev_loop_post(LOOP, on_counted, (void *) ((uintptr_t) i * THREADS + th))
                  != APR_SUCCESS;
    return (void *) (intptr_t) failed;
}

/* THREADS threads post concurrently while the loop runs: every call runs
 * exactly once, each thread's calls in the order that thread posted them,
 * and there are far fewer wakeup writes than posts. */
START_TEST(post_many_threads)
{
    pthread_t th[THREADS];
    uintptr_t i;
    long total;
    apr_uint64_t w0 = wakeup_writes(), batches0 = pt_loop_iterations(LOOP);

    POSTS = pt_env_long("POOLEV_POST_ITERS", 10000);
    total = POSTS * THREADS;
    atomic_store(&STARTED, 0);
    RAN = CANCELLED = OUT_OF_ORDER = 0;
    for (i = 0; i < THREADS; i++)
        SEEN[i] = 0;
    for (i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, poster, (void *) i), 0);
    PT_PUMP_UNTIL(LOOP, RAN == total);
    for (i = 0; i < THREADS; i++) {
        void *failed;

        pthread_join(th[i], &failed);
        ck_assert_ptr_null(failed);
    }
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
    ck_assert_int_eq(RAN, total);                       /* none twice */
    ck_assert_int_eq(CANCELLED, 0);
    ck_assert_int_eq(OUT_OF_ORDER, 0);
    for (i = 0; i < THREADS; i++)
        ck_assert_int_eq(SEEN[i], POSTS);
    /* a write starts a batch, and a batch is taken once per iteration */
    ck_assert_uint_le(wakeup_writes() - w0, pt_loop_iterations(LOOP) - batches0);
}
END_TEST

/* ======================================================================== */
/* The loop goes with calls queued                                           */

/* What a poster gives away: freed by the call, cancelled or not. */
typedef struct {
    atomic_int *ran, *cancelled;
} owned_t;

static void on_owned(void *user_data, int cancelled)
{
    owned_t *o = user_data;

    atomic_fetch_add(cancelled ? o->cancelled : o->ran, 1);
    free(o);
}

static atomic_int COUNT_RAN, COUNT_CANCELLED;

static void *post_owned(void *arg)
{
    long i, n = (long) (intptr_t) arg;

    for (i = 0; i < n; i++) {
        owned_t *o = malloc(sizeof *o);

        o->ran = &COUNT_RAN;
        o->cancelled = &COUNT_CANCELLED;
        if (pev_loop_post(LOOP, on_owned, o) != APR_SUCCESS)
            free(o);
    }
    return NULL;
}

/* Destroying the loop's pool delivers each queued call once, cancelled, on
 * the destroying thread, in order; the user_data they free does not leak
 * (valgrind). */
START_TEST(post_queued_cancelled_on_destroy)
{
    pcall_t *a = pcall(1), *b = pcall(2), *c = pcall(3);
    pthread_t th;

    atomic_store(&COUNT_RAN, 0);
    atomic_store(&COUNT_CANCELLED, 0);
    post(a);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);     /* a runs */
    post(b);
    post(c);
    ck_assert_int_eq(pthread_create(&th, NULL, post_owned, (void *) (intptr_t) 500), 0);
    pthread_join(th, NULL);             /* the posters stop before the destroy */
    apr_pool_destroy(LPOOL);
    ck_assert_log(&LOG, 1, -2, -3);
    ck_assert_int_eq(a->ran + a->cancelled, 1);
    ck_assert_int_eq(b->cancelled, 1);
    ck_assert_int_eq(b->ran, 0);
    ck_assert_int_eq(c->cancelled, 1);
    ck_assert_int_eq(atomic_load(&COUNT_CANCELLED), 500);
    ck_assert_int_eq(atomic_load(&COUNT_RAN), 0);
}
END_TEST

/* pev_loop_post() from a cancelled call: the loop is going, PEV_EDESTROYED,
 * and the call is not kept. Clearing the pool is enough. */
static apr_status_t REPOST;

static void on_cancel_repost(void *user_data, int cancelled)
{
    ck_assert_int_eq(cancelled, 1);
    REPOST = pev_loop_post(LOOP, on_post, user_data);
}

START_TEST(post_from_cancelled_call_refused)
{
    pcall_t *a = pcall(1);

    REPOST = APR_SUCCESS;
    ck_assert_int_eq(pev_loop_post(LOOP, on_cancel_repost, a), APR_SUCCESS);
    apr_pool_clear(LPOOL);
    ck_assert_int_eq(REPOST, PEV_EDESTROYED);
    ck_assert_int_eq(a->ran + a->cancelled, 0);
}
END_TEST

static void destroy_loop(pcall_t *self)
{
    (void) self;
    apr_pool_destroy(LPOOL);
}

/* A posted call destroys the loop's pool: the iteration stops with
 * PEV_EDESTROYED, the rest of the batch is delivered cancelled, once, in
 * order, then a call posted during the batch (newer); the rest of the batch
 * is delivered while the loop is still whole, so a post from it is refused
 * instead of touching freed memory. */
START_TEST(post_call_destroys_loop)
{
    pcall_t *a = pcall(1), *b = pcall(2), *c = pcall(3), *d = pcall(4);

    b->action = post_p1;        /* queued: the cleanup delivers it */
    b->p1 = d;
    c->action = destroy_loop;
    post(a);
    post(b);
    post(c);
    post(pcall(5));
    post(pcall(6));
    REPOST = APR_SUCCESS;
    ck_assert_int_eq(pev_loop_post(LOOP, on_cancel_repost, pcall(7)), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), PEV_EDESTROYED);
    ck_assert_log(&LOG, 1, 2, 3, -5, -6, -4);
    ck_assert_int_eq(REPOST, PEV_EDESTROYED);
    ck_assert_int_eq(d->cancelled, 1);
    ck_assert_int_eq(d->ran, 0);
}
END_TEST

static Suite *post_suite(void)
{
    Suite *s = suite_create("post");
    TCase *tc = tcase_create("post");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, post_arguments);
    tcase_add_test(tc, post_runs_next_iteration);
    tcase_add_test(tc, post_from_thread_runs_on_loop_thread);
    tcase_add_test(tc, post_keeps_run_running);
    tcase_add_test(tc, post_order_kept);
    tcase_add_test(tc, post_from_posted_call_next_iteration);
    tcase_add_test(tc, post_wakeups_coalesce);
    tcase_add_test(tc, post_many_threads);
    tcase_add_test(tc, post_queued_cancelled_on_destroy);
    tcase_add_test(tc, post_from_cancelled_call_refused);
    tcase_add_test(tc, post_call_destroys_loop);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, post_suite, NULL);
}
