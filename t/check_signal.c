/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_signal.c - signal handlers in loop context (poolev/signal.h).
 *
 * Signals are raised with raise(3) in the test process; the handlers must run
 * only inside a loop iteration, once per iteration however many deliveries,
 * in the order added; dispositions are restored when the last handler goes.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include <poolev.h>
#include "harness.h"

static pt_log_t LOG;
static pev_loop_t *LOOP;
static volatile sig_atomic_t PREVIOUS_HITS;

typedef struct sact sact_t;
struct sact {
    int id;
    int calls;
    int last_signo;
    void (*action)(sact_t *self);
    void *p1;
};

static void on_sig(int signo, void *user_data)
{
    sact_t *a = user_data;

    a->calls++;
    a->last_signo = signo;
    pt_log_add(&LOG, a->id);
    if (a->action)
        a->action(a);
}

static sact_t *sact(apr_pool_t *p, int id)
{
    sact_t *a = apr_pcalloc(p, sizeof *a);

    a->id = id;
    return a;
}

static pev_signal_t *add(int signo, sact_t *a, apr_pool_t *lifetime)
{
    pev_signal_t *h = NULL;

    ck_assert_int_eq(pev_signal_add(&h, LOOP, signo, on_sig, a, lifetime), APR_SUCCESS);
    return h;
}

static void previous_handler(int signo)
{
    (void) signo;
    PREVIOUS_HITS++;
}

/* Install a plain C handler as "the previous disposition". */
static void install_previous(int signo)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = previous_handler;
    sigemptyset(&sa.sa_mask);
    ck_assert_int_eq(sigaction(signo, &sa, NULL), 0);
    PREVIOUS_HITS = 0;
}

static int disposition_is_previous(int signo)
{
    struct sigaction sa;

    ck_assert_int_eq(sigaction(signo, NULL, &sa), 0);
    return sa.sa_handler == previous_handler;
}

static void setup(void)
{
    pt_setup();
    pt_log_reset(&LOG);
    install_previous(SIGUSR1);
    install_previous(SIGUSR2);
    ck_assert_int_eq(pev_loop_create(&LOOP, pt_pool), APR_SUCCESS);
}

static void teardown(void)
{
    pt_teardown();
    LOOP = NULL;
    signal(SIGUSR1, SIG_DFL);
    signal(SIGUSR2, SIG_DFL);
}

static void iterate(void)
{
    ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
}

START_TEST(signal_arguments)
{
    pev_signal_t *h;

    ck_assert_int_eq(pev_signal_add(&h, NULL, SIGUSR1, on_sig, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_signal_add(&h, LOOP, SIGUSR1, NULL, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_signal_add(&h, LOOP, 0, on_sig, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_signal_add(&h, LOOP, 65, on_sig, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_signal_add(&h, LOOP, SIGKILL, on_sig, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_signal_add(&h, LOOP, SIGSTOP, on_sig, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_signal_remove(NULL), APR_EINVAL);
    ck_assert(disposition_is_previous(SIGUSR1));
}
END_TEST

/* Handlers run in loop context, not in the C handler, in the order added;
 * deliveries between iterations coalesce. */
START_TEST(signal_runs_in_loop_context_coalesced)
{
    sact_t *a = sact(pt_pool, 1), *b = sact(pt_pool, 2);

    add(SIGUSR1, a, NULL);
    add(SIGUSR1, b, NULL);
    raise(SIGUSR1);
    raise(SIGUSR1);
    raise(SIGUSR1);
    ck_assert_int_eq(LOG.n, 0);             /* nothing ran inside the C handler */
    ck_assert_int_eq(PREVIOUS_HITS, 0);     /* ours replaced the previous one */
    iterate();
    ck_assert_log(&LOG, 1, 2);
    ck_assert_int_eq(a->last_signo, SIGUSR1);
    iterate();
    ck_assert_log(&LOG, 1, 2);              /* no more deliveries */
    raise(SIGUSR1);
    iterate();
    ck_assert_log(&LOG, 1, 2, 1, 2);
}
END_TEST

static void *raise_later(void *arg)
{
    usleep(20000);
    kill(getpid(), (int) (long) arg);
    return NULL;
}

/* A signal wakes a loop that waits without limit. */
START_TEST(signal_wakes_waiting_loop)
{
    sact_t *a = sact(pt_pool, 1);
    pthread_t th;

    add(SIGUSR2, a, NULL);
    ck_assert_int_eq(pthread_create(&th, NULL, raise_later, (void *) (long) SIGUSR2), 0);
    while (a->calls == 0)
        ck_assert_int_eq(pev_loop_run_once(LOOP, -1), APR_SUCCESS);
    pthread_join(th, NULL);
    ck_assert_int_eq(a->calls, 1);
}
END_TEST

/* Removing the last handler, by handle or with its pool, restores the
 * previous disposition; removal is final. */
START_TEST(signal_last_removal_restores)
{
    apr_pool_t *p = pt_subpool(pt_pool);
    pev_signal_t *h1, *h2;

    h1 = add(SIGUSR1, sact(pt_pool, 1), NULL);
    h2 = add(SIGUSR1, sact(p, 2), p);
    ck_assert(!disposition_is_previous(SIGUSR1));
    ck_assert_int_eq(pev_signal_remove(h1), APR_SUCCESS);
    ck_assert_int_eq(pev_signal_remove(h1), APR_ENOENT);
    ck_assert(!disposition_is_previous(SIGUSR1));  /* one handler left */
    (void) h2;
    apr_pool_destroy(p);                           /* the last one */
    ck_assert(disposition_is_previous(SIGUSR1));
    raise(SIGUSR1);
    ck_assert_int_eq(PREVIOUS_HITS, 1);
    iterate();
    ck_assert_int_eq(LOG.n, 0);

    /* adding again installs ours again */
    add(SIGUSR1, sact(pt_pool, 3), NULL);
    raise(SIGUSR1);
    iterate();
    ck_assert_int_eq(PREVIOUS_HITS, 1);
    ck_assert_log(&LOG, 3);
}
END_TEST

/* The loop's destruction restores every disposition; handles in pools that
 * outlive the loop report it. */
START_TEST(signal_loop_destroyed_restores)
{
    apr_pool_t *lp = pt_subpool(pt_pool);
    pev_loop_t *loop;
    pev_signal_t *h;

    ck_assert_int_eq(pev_loop_create(&loop, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_signal_add(&h, loop, SIGUSR2, on_sig, sact(pt_pool, 1), pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_signal_add(NULL, loop, SIGUSR1, on_sig, sact(lp, 2), NULL),
                     APR_SUCCESS);
    ck_assert(!disposition_is_previous(SIGUSR1));
    ck_assert(!disposition_is_previous(SIGUSR2));
    apr_pool_destroy(lp);
    ck_assert(disposition_is_previous(SIGUSR1));
    ck_assert(disposition_is_previous(SIGUSR2));
    ck_assert_int_eq(pev_signal_remove(h), PEV_EDESTROYED);
}
END_TEST

/* Dispositions are process-wide: one loop per signal at a time. */
START_TEST(signal_one_loop_per_signal)
{
    pev_loop_t *other;
    pev_signal_t *h;

    ck_assert_int_eq(pev_loop_create(&other, pt_pool), APR_SUCCESS);
    h = add(SIGUSR1, sact(pt_pool, 1), NULL);
    ck_assert_int_eq(pev_signal_add(NULL, other, SIGUSR1, on_sig, NULL, NULL), PEV_EBUSY);
    ck_assert_int_eq(pev_signal_add(NULL, other, SIGUSR2, on_sig, sact(pt_pool, 2), NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_signal_remove(h), APR_SUCCESS);
    ck_assert_int_eq(pev_signal_add(NULL, other, SIGUSR1, on_sig, sact(pt_pool, 3), NULL),
                     APR_SUCCESS);
}
END_TEST

static void remove_handle(sact_t *self)
{
    ck_assert_int_eq(pev_signal_remove(self->p1), APR_SUCCESS);
}

static void destroy_pool(sact_t *self)
{
    apr_pool_destroy(self->p1);
}

static void add_another(sact_t *self)
{
    if (self->calls == 1)
        add(SIGUSR1, self->p1, NULL);
}

/* A handler may remove the next handler, destroy its own pool (ASan/valgrind
 * watch), or add a handler, which does not hear the delivery being handled. */
START_TEST(signal_safe_against_handlers)
{
    apr_pool_t *own = pt_subpool(pt_pool), *nextp = pt_subpool(pt_pool);
    sact_t *a = sact(pt_pool, 1), *self = sact(own, 3), *adder = sact(pt_pool, 5);

    adder->action = add_another;                         /* first: the walk */
    adder->p1 = sact(pt_pool, 6);                        /* would reach 6 */
    add(SIGUSR1, adder, NULL);
    a->action = remove_handle;
    add(SIGUSR1, a, NULL);
    a->p1 = add(SIGUSR1, sact(pt_pool, 2), NULL);        /* the next one */
    self->action = destroy_pool;
    self->p1 = own;
    add(SIGUSR1, self, own);
    add(SIGUSR1, sact(own, 4), own);                     /* goes with own */
    (void) nextp;
    raise(SIGUSR1);
    iterate();
    ck_assert_log(&LOG, 5, 1, 3);
    a->action = NULL;
    raise(SIGUSR1);
    iterate();
    ck_assert_log(&LOG, 5, 1, 3, 5, 1, 6);
}
END_TEST

static void add_for_usr2(sact_t *self)
{
    add(SIGUSR2, self->p1, NULL);
}

/* A handler added during a dispatch does not hear deliveries made before it
 * was added, for any signal: here SIGUSR2 was pending while a SIGUSR1 handler
 * added the first SIGUSR2 handler. */
START_TEST(signal_added_handler_misses_earlier_delivery)
{
    sact_t *a = sact(pt_pool, 1);

    a->action = add_for_usr2;
    a->p1 = sact(pt_pool, 2);
    add(SIGUSR1, a, NULL);
    ck_assert_int_eq(pev_signal_add(NULL, LOOP, SIGUSR2, on_sig, sact(pt_pool, 3), NULL),
                     APR_SUCCESS);
    raise(SIGUSR1);
    raise(SIGUSR2);
    iterate();
    ck_assert_log(&LOG, 1, 3);
}
END_TEST

/* A delivery not yet handled goes with the last handler of its signal. */
START_TEST(signal_pending_dropped_with_last_handler)
{
    pev_signal_t *h = add(SIGUSR1, sact(pt_pool, 1), NULL);
    pev_loop_stats_t st;

    raise(SIGUSR1);
    ck_assert_int_eq(pev_signal_remove(h), APR_SUCCESS);
    add(SIGUSR1, sact(pt_pool, 2), NULL);
    iterate();
    ck_assert_int_eq(LOG.n, 0);
    /* owners of handlers count among the loop's owners */
    pev_loop_stats(LOOP, &st);
    ck_assert_uint_eq(st.owners, 1);
    ck_assert_uint_eq(st.signal_handlers, 1);
}
END_TEST

static void destroy_loop(sact_t *self)
{
    apr_pool_destroy(self->p1);
}

START_TEST(signal_handler_destroys_loop)
{
    apr_pool_t *lp = pt_subpool(pt_pool);
    pev_loop_t *loop;
    sact_t *killer = sact(pt_pool, 1);

    ck_assert_int_eq(pev_loop_create(&loop, lp), APR_SUCCESS);
    killer->action = destroy_loop;
    killer->p1 = lp;
    ck_assert_int_eq(pev_signal_add(NULL, loop, SIGUSR1, on_sig, killer, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_signal_add(NULL, loop, SIGUSR1, on_sig, sact(pt_pool, 2), pt_pool),
                     APR_SUCCESS);
    raise(SIGUSR1);
    ck_assert_int_eq(pev_loop_run_once(loop, 0), PEV_EDESTROYED);
    ck_assert_log(&LOG, 1);
    ck_assert(disposition_is_previous(SIGUSR1));
}
END_TEST

static void stop_on_signal(int signo, void *user_data)
{
    (void) signo;
    pev_loop_stop(user_data);
}

/* run() keeps going while a handler is registered, until stopped. */
START_TEST(signal_keeps_run_going)
{
    pthread_t th;
    pev_loop_stats_t st;

    ck_assert_int_eq(pev_signal_add(NULL, LOOP, SIGUSR2, stop_on_signal, LOOP, NULL),
                     APR_SUCCESS);
    pev_loop_stats(LOOP, &st);
    ck_assert_uint_eq(st.signal_handlers, 1);
    ck_assert_int_eq(pthread_create(&th, NULL, raise_later, (void *) (long) SIGUSR2), 0);
    ck_assert_int_eq(pev_loop_run(LOOP), APR_SUCCESS);
    pthread_join(th, NULL);
}
END_TEST

static Suite *signal_suite(void)
{
    Suite *s = suite_create("signal");
    TCase *tc = tcase_create("signal");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, signal_arguments);
    tcase_add_test(tc, signal_runs_in_loop_context_coalesced);
    tcase_add_test(tc, signal_wakes_waiting_loop);
    tcase_add_test(tc, signal_last_removal_restores);
    tcase_add_test(tc, signal_loop_destroyed_restores);
    tcase_add_test(tc, signal_one_loop_per_signal);
    tcase_add_test(tc, signal_safe_against_handlers);
    tcase_add_test(tc, signal_handler_destroys_loop);
    tcase_add_test(tc, signal_added_handler_misses_earlier_delivery);
    tcase_add_test(tc, signal_pending_dropped_with_last_handler);
    tcase_add_test(tc, signal_keeps_run_going);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(signal_suite());
}
