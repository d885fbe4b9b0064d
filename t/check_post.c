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
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

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


/* ======================================================================== */
/* Spinning before sleeping (pev_loop_set_spin)                              */

static pev_loop_stats_t loop_stats(void)
{
    pev_loop_stats_t st;

    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    return st;
}

START_TEST(spin_arguments)
{
    ck_assert_int_eq(pev_loop_set_spin(NULL, 10), APR_EINVAL);
    ck_assert_int_eq(pev_loop_set_spin(LOOP, -1), APR_EINVAL);
    ck_assert_int_eq(pev_loop_set_spin(LOOP, 10001), APR_EINVAL);
    ck_assert_int_eq(pev_loop_set_spin(LOOP, 10000), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_set_spin(LOOP, 0), APR_SUCCESS);
}
END_TEST

/* A thread that posts one call to LOOP shortly after spin_poster_go(). */
typedef struct spin_poster {
    pthread_t th;
    atomic_int ready, go;
    pev_post_fn *fn;
    void *arg;
} spin_poster_t;

static void *spin_poster_run(void *arg)
{
    spin_poster_t *sp = arg;
    struct timespec ms = { 0, 1000000 };

    atomic_store(&sp->ready, 1);
    while (!atomic_load(&sp->go))
        ;
    /* the loop is inside its 10 ms spin by then, also when a slow
     * scheduler (valgrind runs one thread at a time) started it late */
    nanosleep(&ms, NULL);
    return (void *) (intptr_t) pev_loop_post(LOOP, sp->fn, sp->arg);
}

/* Start the poster and return once it runs: a thread that has not started
 * yet when the spin begins could miss the spin on a loaded machine. */
static void spin_poster_start(spin_poster_t *sp, pev_post_fn *fn, void *arg)
{
    atomic_store(&sp->ready, 0);
    atomic_store(&sp->go, 0);
    sp->fn = fn;
    sp->arg = arg;
    ck_assert_int_eq(pthread_create(&sp->th, NULL, spin_poster_run, sp), 0);
    while (!atomic_load(&sp->ready))
        sched_yield();
    atomic_store(&sp->go, 1);
}

/* Join the poster; its pev_loop_post() succeeded. */
static void spin_poster_join(spin_poster_t *sp)
{
    void *st;

    pthread_join(sp->th, &st);
    ck_assert_int_eq((intptr_t) st, APR_SUCCESS);
}

/* A post to a spinning loop writes no wakeup byte: the spin sees the call
 * and runs it in that iteration (a post at the spin's very start may write
 * one: tried again). The poster thread is running before the
 * iteration begins and posts 1 ms after it is told to, just before the
 * iteration; the spin is 10 ms long (set again on every try: a miss
 * shortens it), so the post lands inside it. */
START_TEST(spin_post_needs_no_wakeup_write)
{
    pcall_t *a = pcall(1);
    spin_poster_t sp;
    pev_loop_stats_t s0, s1;
    apr_uint64_t it;
    int i;

    for (i = 0; i < 20 && a->ran == 0; i++) {
        ck_assert_int_eq(pev_loop_set_spin(LOOP, 10000), APR_SUCCESS);
        s0 = loop_stats();
        it = s0.iterations;
        spin_poster_start(&sp, on_post, a);
        ck_assert_int_eq(pev_loop_run_once(LOOP, 2 * APR_USEC_PER_SEC), APR_SUCCESS);
        spin_poster_join(&sp);
        if (a->ran == 0)        /* posted after the iteration: next one */
            ck_assert_int_eq(pev_loop_run_once(LOOP, 2 * APR_USEC_PER_SEC), APR_SUCCESS);
        s1 = loop_stats();
        ck_assert_int_eq(a->ran, 1);
        /* the post landed inside the spin and wrote nothing. A post that
         * read the flag just before the spin began writes its byte and is
         * still seen by the spin (counted caught): a boundary, not the
         * rule broken; again. With the rule broken every try writes. */
        if (s1.iterations == it + 1 && s1.spins_caught == s0.spins_caught + 1
            && s1.wakeup_writes == s0.wakeup_writes)
            break;
        a->ran = 0;             /* the thread was slow to start: again */
    }
    ck_assert_msg(i < 20, "no post ever landed inside a 10 ms spin without a wakeup write");
    ck_assert(pthread_equal(a->thread, pthread_self()));
}
END_TEST

/* A spin ends at the first timer's mark: with a 10 ms spin and a timer due
 * in 1 ms, the timer fires, never early, and not after the whole spin (it
 * would be 9 ms late). A try that is late anyway (the thread not run for a
 * while: seen under valgrind, which runs one thread at a time) is made
 * again; the test fails when five tries all are. */
static apr_time_t FIRED_AT;

static void on_spin_timer(pev_timer_t *t, void *ud)
{
    (void) t;
    (void) ud;
    FIRED_AT = pev_clock_monotonic();
}

START_TEST(spin_ends_at_a_timer)
{
    pev_timer_t *t;
    apr_time_t mark, late = 0;
    int i;

    for (i = 0; i < 5; i++) {
        /* set again every try: a late one shortened it */
        ck_assert_int_eq(pev_loop_set_spin(LOOP, 10000), APR_SUCCESS);
        ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);     /* the clock */
        mark = pev_loop_now(LOOP) + 1000;
        ck_assert_int_eq(pev_timer_add(&t, LOOP, mark, on_spin_timer, NULL, pt_pool),
                         APR_SUCCESS);
        FIRED_AT = 0;
        PT_RUN_UNTIL(pev_loop_run_once(LOOP, -1), FIRED_AT != 0);
        ck_assert_int_ge(FIRED_AT, mark);
        ck_assert_int_ge(pev_loop_now(LOOP), mark);
        (void) pev_timer_release(t);
        late = FIRED_AT - mark;
        /* not after the whole spin (6 ms of slack for a busy machine) */
        if (late < 7000)
            break;
    }
    ck_assert_msg(i < 5, "five timers fired after the whole spin (last %" APR_TIME_T_FMT
                  " us late)", late);
}
END_TEST

/* A spin shorter than the wait to a timer does not make the timer later
 * than a loop without a spin would fire it: the sleep after the spin is
 * the rest of the wait to the timer's mark, rounded up to the poll's
 * millisecond once (rounding the wait already rounded up, less the spin,
 * adds the spin's part of a millisecond: here a 950 us spin before a
 * timer 5.02 ms away slept 6 ms more, 1.93 ms after the mark, where a loop
 * without a spin sleeps 6 ms, 0.98 ms after it). The earliest of several
 * rounds is taken: a busy machine only makes a wakeup later. */
START_TEST(spin_does_not_delay_a_timer)
{
    apr_time_t least = APR_INT64_MAX;
    int i;

    for (i = 0; i < 10; i++) {
        pev_timer_t *t;
        apr_time_t mark;

        ck_assert_int_eq(pev_loop_set_spin(LOOP, 950), APR_SUCCESS);   /* its full length */
        ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);     /* the clock */
        mark = pev_loop_now(LOOP) + 5020;
        ck_assert_int_eq(pev_timer_add(&t, LOOP, mark, on_spin_timer, NULL, pt_pool),
                         APR_SUCCESS);
        FIRED_AT = 0;
        PT_RUN_UNTIL(pev_loop_run_once(LOOP, -1), FIRED_AT != 0);
        ck_assert_int_ge(FIRED_AT, mark);
        if (FIRED_AT - mark < least)
            least = FIRED_AT - mark;
    }
    /* the millisecond rounding leaves it below 1 ms after the mark, the
     * spin's part of a millisecond added would put it above 1.9 ms */
    ck_assert_msg(least < 1400, "the timer fired %" APR_TIME_T_FMT " us after its mark at "
                  "the earliest", least);
}
END_TEST

/* A descriptor that becomes ready while the loop spins is seen by the spin
 * (it looks at the descriptors: the spin counts as caught, not missed; a
 * thread slow to start is given another try), and a stop from another
 * thread ends the run. */
static int PIPE_READ;

static void on_pipe(pev_watch_t *w, apr_int16_t events, void *ud)
{
    char b[16];

    (void) w;
    (void) events;
    PIPE_READ += (int) read(*(int *) ud, b, sizeof b);
}

static void *write_later(void *arg)
{
    struct timespec d = { 0, 1000 * 1000 };

    nanosleep(&d, NULL);
    return (void *) (intptr_t) write(*(int *) arg, "x", 1);
}

static void *stop_later(void *arg)
{
    struct timespec d = { 0, 3 * 1000 * 1000 };

    (void) arg;
    nanosleep(&d, NULL);
    return (void *) (intptr_t) pev_loop_stop(LOOP);
}

START_TEST(spin_sees_descriptors_and_stop)
{
    int fds[2];
    pev_watch_t *w;
    pthread_t th;
    void *st;
    int i;

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(pev_loop_set_spin(LOOP, 10000), APR_SUCCESS);
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, fds[0], APR_POLLIN, on_pipe, &fds[0], pt_pool),
                     APR_SUCCESS);
    PIPE_READ = 0;
    for (i = 0; i < 20; i++) {
        pev_loop_stats_t s0 = loop_stats(), s1;

        ck_assert_int_eq(pthread_create(&th, NULL, write_later, &fds[1]), 0);
        PT_RUN_UNTIL(pev_loop_run_once(LOOP, -1), PIPE_READ == i + 1);
        pthread_join(th, &st);
        ck_assert_int_eq((intptr_t) st, 1);
        s1 = loop_stats();
        if (s1.spins_caught > s0.spins_caught)
            break;              /* seen by the spin, not after it */
        ck_assert_int_eq(pev_loop_set_spin(LOOP, 10000), APR_SUCCESS);
    }
    ck_assert_msg(i < 20, "no spin ever saw the descriptor");
    ck_assert_int_eq(pthread_create(&th, NULL, stop_later, NULL), 0);
    ck_assert_int_eq(pev_loop_run(LOOP), APR_SUCCESS);     /* the watcher keeps it */
    pthread_join(th, &st);
    ck_assert_int_eq((intptr_t) st, APR_SUCCESS);
    ck_assert_int_eq(pev_watch_remove(w), APR_SUCCESS);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

/* An idle spin is counted missed and the loop sleeps after it. */
START_TEST(spin_missed_when_idle)
{
    pev_loop_stats_t s0 = loop_stats(), s1;

    ck_assert_int_eq(pev_loop_set_spin(LOOP, 200), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_run_once(LOOP, 5000), APR_SUCCESS);
    s1 = loop_stats();
    ck_assert_uint_eq(s1.spins_missed, s0.spins_missed + 1);
    ck_assert_uint_eq(s1.spins_caught, s0.spins_caught);
}
END_TEST

/* The handshake between a post and a spin that is ending: one call in
 * flight at a time, posted after a seeded random delay of 0-12 us, so that
 * posts land before, inside and just after the loop's (adapting, at most
 * 4 us) spins. The loop waits without limit: a post that wrote no byte
 * while the spinner had already looked for the last time would stay
 * unseen, and only the watchdog timer would end the wait. */
static atomic_long PP_RAN;
static long PP_N;
static int WATCHDOG;

static void on_pp(void *ud, int cancelled)
{
    (void) ud;
    if (!cancelled)
        atomic_fetch_add(&PP_RAN, 1);
}

static void on_watchdog(pev_timer_t *t, void *ud)
{
    (void) t;
    (void) ud;
    WATCHDOG = 1;
}

static void *pp_poster(void *arg)
{
    pt_rng_t *rng = arg;
    long i;

    for (i = 0; i < PP_N; i++) {
        uint64_t d = pt_below(rng, 12000), t0;
        struct timespec ts;

        while (atomic_load(&PP_RAN) < i)
            ;                   /* the previous call has run */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t0 = (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
        do
            clock_gettime(CLOCK_MONOTONIC, &ts);
        while ((uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec < t0 + d);
        if (pev_loop_post(LOOP, on_pp, NULL) != APR_SUCCESS)
            return (void *) 1;
    }
    return NULL;
}

START_TEST(spin_post_handshake_stress)
{
    pt_rng_t rng = { pt_seed("post spin") };
    pev_timer_t *dog;
    pthread_t th;
    void *st;

    PP_N = pt_env_long("POOLEV_POST_ITERS", 10000) * 2;
    atomic_store(&PP_RAN, 0);
    WATCHDOG = 0;
    ck_assert_int_eq(pev_loop_set_spin(LOOP, 4), APR_SUCCESS);
    ck_assert_int_eq(pev_timer_add_in(&dog, LOOP, 60 * APR_USEC_PER_SEC, on_watchdog, NULL,
                                      pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pthread_create(&th, NULL, pp_poster, &rng), 0);
    while (atomic_load(&PP_RAN) < PP_N && !WATCHDOG) {
        long before = atomic_load(&PP_RAN);

        ck_assert_int_eq(pev_loop_run_once(LOOP, -1), APR_SUCCESS);
        if (atomic_load(&PP_RAN) == before && !WATCHDOG) {
            /* woke with nothing run: only a wakeup byte left from a post
             * already run by a spin may do that */
            continue;
        }
    }
    ck_assert_msg(!WATCHDOG, "a post stayed unseen (%ld of %ld ran)",
                  atomic_load(&PP_RAN), PP_N);
    pthread_join(th, &st);
    ck_assert_ptr_null(st);
    ck_assert_int_eq(atomic_load(&PP_RAN), PP_N);
    ck_assert_int_eq(pev_timer_cancel(dog), APR_SUCCESS);
}
END_TEST

/* A call that a spin saw (no wakeup byte) destroys the loop's pool: the
 * iteration ends with PEV_EDESTROYED and touches nothing of the loop after
 * the call (the loop's pool is unkept: a use after free faults). The call
 * tells whether it came through the spin (no byte was ever written to this
 * loop); a post that landed before the spin is given another try, on a new
 * loop. */
static int SPIN_DESTROY_VIA_SPIN;

static void on_spin_destroy(void *ud, int cancelled)
{
    pev_loop_stats_t st;

    (void) ud;
    if (cancelled)
        return;
    ck_assert_int_eq(pev_loop_stats(LOOP, &st), APR_SUCCESS);
    SPIN_DESTROY_VIA_SPIN = st.wakeup_writes == 0 && st.spins_caught == 1;
    apr_pool_destroy(LPOOL);
}

START_TEST(spin_call_destroys_loop)
{
    spin_poster_t sp;
    int i;

    for (i = 0; i < 20; i++) {
        if (i > 0) {            /* the previous loop is gone */
            LPOOL = pt_unkept_subpool(pt_pool);
            ck_assert_int_eq(pev_loop_create(&LOOP, LPOOL), APR_SUCCESS);
        }
        ck_assert_int_eq(pev_loop_set_spin(LOOP, 10000), APR_SUCCESS);
        SPIN_DESTROY_VIA_SPIN = 0;
        spin_poster_start(&sp, on_spin_destroy, NULL);
        ck_assert_int_eq(pev_loop_run_once(LOOP, 2 * APR_USEC_PER_SEC), PEV_EDESTROYED);
        spin_poster_join(&sp);
        if (SPIN_DESTROY_VIA_SPIN)
            break;
    }
    ck_assert_msg(i < 20, "no post ever landed inside a 10 ms spin");
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
    tcase_add_test(tc, spin_arguments);
    tcase_add_test(tc, spin_post_needs_no_wakeup_write);
    tcase_add_test(tc, spin_ends_at_a_timer);
    tcase_add_test(tc, spin_does_not_delay_a_timer);
    tcase_add_test(tc, spin_sees_descriptors_and_stop);
    tcase_add_test(tc, spin_missed_when_idle);
    tcase_add_test(tc, spin_post_handshake_stress);
    tcase_add_test(tc, spin_call_destroys_loop);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, post_suite, NULL);
}
