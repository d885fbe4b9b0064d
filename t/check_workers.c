/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_workers.c - worker groups and events across workers
 * (poolev/workers.h).
 *
 * Code on the workers' threads never calls check's asserts: it counts its
 * failures in ERRS (keeping the first message), and the test's thread
 * asserts ERRS == 0 after the group was joined. Waits for the workers are
 * on a condition variable with a deadline (WAIT_MS), never sleeps.
 * POOLEV_WORKERS_ITERS scales the stress test (valgrind runs fewer).
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apr_allocator.h>
#include <poolev.h>
#include "harness.h"

#define WAIT_MS 20000

/* ------------------------------------------------------------------------ */
/* Failures on workers, and waiting for them                                 */

static atomic_int ERRS;
static char ERRMSG[256];
static pthread_mutex_t MU = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t CV = PTHREAD_COND_INITIALIZER;

#define W_CHECK(cond) do {                                                   \
        if (!(cond))                                                         \
            w_fail(__LINE__, #cond);                                         \
    } while (0)

static void w_fail(int line, const char *what)
{
    if (atomic_fetch_add(&ERRS, 1) == 0)
        snprintf(ERRMSG, sizeof ERRMSG, "line %d: %s", line, what);
}

/* Tell the waiting test something changed. */
static void poke(void)
{
    pthread_mutex_lock(&MU);
    pthread_cond_broadcast(&CV);
    pthread_mutex_unlock(&MU);
}

/* Wait until *@a v >= @a want, at most WAIT_MS; the value reached. */
static int wait_atleast(atomic_int *v, int want)
{
    struct timespec dl;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&MU);
    while (atomic_load(v) < want)
        if (pthread_cond_timedwait(&CV, &MU, &dl) != 0)
            break;
    pthread_mutex_unlock(&MU);
    return atomic_load(v);
}

static void bump(atomic_int *v)
{
    atomic_fetch_add(v, 1);
    poke();
}

#define ck_assert_no_worker_errors()                                         \
    ck_assert_msg(atomic_load(&ERRS) == 0, "%d failures on workers, first: %s", \
                  atomic_load(&ERRS), ERRMSG)

/* A pool whose memory goes back to the system when it is destroyed: a use
 * after free faults or is reported (ASan, valgrind). Callable on any
 * thread, for a parent of that thread. */
static apr_pool_t *unkept(apr_pool_t *parent)
{
    apr_allocator_t *a;
    apr_pool_t *p = NULL;

    if (apr_allocator_create(&a) != APR_SUCCESS)
        return NULL;
    apr_allocator_max_free_set(a, 1);
    if (apr_pool_create_ex(&p, parent, NULL, a) != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return NULL;
    }
    apr_allocator_owner_set(a, p);
    return p;
}

static void setup(void)
{
    pt_setup();
    atomic_store(&ERRS, 0);
    ERRMSG[0] = 0;
}

static void teardown(void)
{
    pt_teardown();
}

/* ------------------------------------------------------------------------ */
/* Per-worker state of the tests                                             */

#define MAXW 8

/* What a worker received, from each sender (index + 1; 0: outside). */
typedef struct wstate {
    int index;
    long last[MAXW + 1];            /* last sequence number per sender */
    long got[MAXW + 1];             /* events per sender */
    long total;
    pthread_t thread;
    pev_worker_t *w;
    pt_rng_t rng;
    apr_pool_t *lpool;              /* a listener pool the test destroys */
    long steps;
} wstate_t;

static wstate_t WS[MAXW];
static pev_workers_t *GROUP;

/* An event's payload in the order tests. */
typedef struct seqmsg {
    int sender;
    long seq;
    char fill[40];
} seqmsg_t;

static void ws_reset(int n, uint64_t seed)
{
    int i;

    memset(WS, 0, sizeof WS);
    for (i = 0; i < n; i++) {
        WS[i].index = i;
        WS[i].rng.s = seed + (uint64_t) i * 7919;
    }
}

static wstate_t *my_state(void)
{
    return &WS[pev_worker_index(pev_worker_self())];
}

/* ------------------------------------------------------------------------ */
/* The group itself                                                          */

static atomic_int INITS, EXITS;

static apr_status_t init_record(pev_worker_t *w, void *ud)
{
    wstate_t *s = &WS[pev_worker_index(w)];

    (void) ud;
    W_CHECK(pev_worker_self() == w);
    W_CHECK(pev_worker_loop(w) && pev_worker_bus(w) && pev_worker_pool(w));
    s->thread = pthread_self();
    s->w = w;
    atomic_fetch_add(&INITS, 1);
    return APR_SUCCESS;
}

static apr_status_t exit_record(pev_worker_t *w, void *ud)
{
    (void) ud;
    W_CHECK(pev_worker_self() == w);
    W_CHECK(pthread_equal(WS[pev_worker_index(w)].thread, pthread_self()));
    atomic_fetch_add(&EXITS, 1);
    return APR_SUCCESS;
}

START_TEST(hooks_run_on_each_worker_thread)
{
    pev_workers_t *g;
    int i, j;

    ws_reset(4, 1);
    atomic_store(&INITS, 0);
    atomic_store(&EXITS, 0);
    ck_assert_int_eq(pev_workers_create(&g, 4, init_record, exit_record, NULL, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_workers_count(g), 4);
    ck_assert_int_eq(pev_workers_start(g), APR_SUCCESS);
    ck_assert_int_eq(atomic_load(&INITS), 4);      /* start waited for every init */
    for (i = 0; i < 4; i++) {
        ck_assert_ptr_eq(pev_worker_group(pev_workers_worker(g, i)), g);
        ck_assert_int_eq(pev_worker_index(pev_workers_worker(g, i)), i);
        ck_assert(!pthread_equal(WS[i].thread, pthread_self()));
        for (j = 0; j < i; j++)
            ck_assert(!pthread_equal(WS[i].thread, WS[j].thread));
    }
    ck_assert_ptr_null(pev_worker_self());
    ck_assert_int_eq(pev_workers_start(g), PEV_EBUSY);
    ck_assert_int_eq(pev_workers_stop(g), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_join(g), APR_SUCCESS);
    ck_assert_int_eq(atomic_load(&EXITS), 4);
    ck_assert_no_worker_errors();
    ck_assert_int_eq(pev_workers_join(g), APR_SUCCESS);     /* again: harmless */
    ck_assert_int_eq(pev_workers_stop(g), APR_SUCCESS);
}
END_TEST

START_TEST(argument_errors)
{
    pev_workers_t *g;
    pev_shared_t *sh;

    ck_assert_int_eq(pev_workers_create(NULL, 1, NULL, NULL, NULL, pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_workers_create(&g, 0, NULL, NULL, NULL, pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_workers_create(&g, PEV_WORKERS_MAX + 1, NULL, NULL, NULL, pt_pool),
                     APR_EINVAL);
    ck_assert_int_eq(pev_workers_create(&g, 1, NULL, NULL, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_workers_create(&g, 2, NULL, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_send(g, 2, "x", NULL, 0), APR_EINVAL);
    ck_assert_int_eq(pev_workers_send(g, -3, "x", NULL, 0), APR_EINVAL);
    ck_assert_int_eq(pev_workers_send_ex(NULL, g, 0, "x", "a", 1, NULL, 2), APR_EINVAL);
    ck_assert_int_eq(pev_shared_create(&sh, "a", 1), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_send_ex(NULL, g, 0, "x", "a", 1, sh, 0), APR_EINVAL);
    pev_shared_release(sh);
    ck_assert_int_eq(pev_workers_set_queue_limit(NULL, 1), APR_EINVAL);
    ck_assert_int_eq(pev_workers_queue_limit(NULL), 0);
    ck_assert_int_eq(pev_workers_queue_limit(g), PEV_WORKERS_QUEUE_DEFAULT);
    {
        pev_worker_queue_stats_t qs;

        ck_assert_int_eq(pev_workers_queue_stats(NULL, g, 0), APR_EINVAL);
        ck_assert_int_eq(pev_workers_queue_stats(&qs, NULL, 0), APR_EINVAL);
        ck_assert_int_eq(pev_workers_queue_stats(&qs, g, 2), APR_EINVAL);
        ck_assert_int_eq(pev_workers_queue_stats(&qs, g, -1), APR_EINVAL);
    }
    ck_assert_int_eq(pev_workers_send(g, 0, "", NULL, 0), APR_EINVAL);
    ck_assert_int_eq(pev_workers_send(g, 0, NULL, NULL, 0), APR_EINVAL);
    ck_assert_int_eq(pev_workers_send(g, 0, "x", NULL, 3), APR_EINVAL);
    ck_assert_int_eq(pev_workers_send_shared(g, 0, "x", NULL), APR_EINVAL);
    ck_assert_int_eq(pev_shared_wrap(&sh, "a", 1, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_shared_create(&sh, NULL, 1), APR_EINVAL);
    /* not started: nobody takes events */
    ck_assert_int_eq(pev_workers_send(g, 0, "x", "a", 1), PEV_ECLOSED);
    ck_assert_int_eq(pev_workers_send(g, PEV_WORKERS_ALL, "x", "a", 1), PEV_ECLOSED);
    ck_assert_ptr_null(pev_workers_worker(g, 2));
    ck_assert_ptr_null(pev_worker_loop(pev_workers_worker(g, 0)));
    ck_assert_int_eq(pev_workers_join(g), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_workers_count(NULL), 0);
    ck_assert_int_eq(pev_worker_index(NULL), -1);
}
END_TEST

/* Worker 2's init fails: start returns its error, the others' exit hooks
 * ran, no loop ran, every pool went (valgrind: no leak). */
static apr_status_t init_fail_2(pev_worker_t *w, void *ud)
{
    (void) ud;
    init_record(w, NULL);
    return pev_worker_index(w) == 2 ? APR_EBADF : APR_SUCCESS;
}

START_TEST(failed_init_fails_start)
{
    pev_workers_t *g;

    ws_reset(4, 1);
    atomic_store(&INITS, 0);
    atomic_store(&EXITS, 0);
    ck_assert_int_eq(pev_workers_create(&g, 4, init_fail_2, exit_record, NULL, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(g), APR_EBADF);
    ck_assert_int_eq(atomic_load(&INITS), 4);
    ck_assert_int_eq(atomic_load(&EXITS), 3);      /* not the one that failed */
    ck_assert_int_eq(pev_workers_send(g, 0, "x", "a", 1), PEV_ECLOSED);
    ck_assert_no_worker_errors();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Order and counts, every worker to every other                             */

static atomic_int DONE;             /* workers that finished sending */
static atomic_int RECEIVED;
static long SENT_TO[MAXW][MAXW];    /* [sender][receiver], by the sender */
static int NW;
static long PER_SENDER;

static void on_seq(const void *event_data, void *user_data)
{
    const pev_worker_event_t *ev = event_data;
    const seqmsg_t *m = ev->data;
    wstate_t *s = my_state();
    int k;

    (void) user_data;
    W_CHECK(ev->len == sizeof *m);
    W_CHECK(ev->shared == NULL);
    W_CHECK(m->sender == ev->sender);
    k = ev->sender + 1;
    W_CHECK(m->seq > s->last[k]);   /* per sender, in the order sent */
    s->last[k] = m->seq;
    s->got[k]++;
    s->total++;
    bump(&RECEIVED);
}

/* "t.go": send PER_SENDER events, each to a random other worker (or to
 * all, one in eight), numbered in the order sent. */
static void on_go(const void *event_data, void *user_data)
{
    wstate_t *s = my_state();
    int me = s->index;
    long i;

    (void) event_data;
    (void) user_data;
    for (i = 1; i <= PER_SENDER; i++) {
        seqmsg_t m;
        int to;

        memset(&m, 0, sizeof m);
        m.sender = me;
        m.seq = i;
        if (pt_below(&s->rng, 8) == 0) {
            to = PEV_WORKERS_ALL;
        } else {
            to = (int) pt_below(&s->rng, (unsigned) NW - 1);
            if (to >= me)
                to++;               /* another worker */
        }
        W_CHECK(pev_workers_send(GROUP, to, "t.seq", &m, sizeof m) == APR_SUCCESS);
        if (to == PEV_WORKERS_ALL) {
            int j;

            for (j = 0; j < NW; j++)
                SENT_TO[me][j]++;
        } else {
            SENT_TO[me][to]++;
        }
    }
    bump(&DONE);
}

static apr_status_t init_seq(pev_worker_t *w, void *ud)
{
    pev_bus_t *bus = pev_worker_bus(w);

    (void) ud;
    if (pev_event_register(NULL, bus, NULL, "t.seq", on_seq, NULL, NULL) != APR_SUCCESS
        || pev_event_register(NULL, bus, NULL, "t.go", on_go, NULL, NULL) != APR_SUCCESS)
        return APR_EGENERAL;
    return APR_SUCCESS;
}

static void run_order(int n, long per_sender)
{
    uint64_t seed = pt_seed("check_workers order");
    long want = 0;
    int i, j;

    NW = n;
    PER_SENDER = per_sender;
    ws_reset(n, seed);
    memset(SENT_TO, 0, sizeof SENT_TO);
    atomic_store(&DONE, 0);
    atomic_store(&RECEIVED, 0);
    ck_assert_int_eq(pev_workers_create(&GROUP, n, init_seq, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(GROUP), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_send(GROUP, PEV_WORKERS_ALL, "t.go", NULL, 0), APR_SUCCESS);
    ck_assert_int_eq(wait_atleast(&DONE, n), n);
    for (i = 0; i < n; i++)
        for (j = 0; j < n; j++)
            want += SENT_TO[i][j];
    ck_assert_int_eq(wait_atleast(&RECEIVED, (int) want), (int) want);
    ck_assert_int_eq(pev_workers_stop(GROUP), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_join(GROUP), APR_SUCCESS);
    ck_assert_no_worker_errors();
    ck_assert_int_eq(atomic_load(&RECEIVED), (int) want);  /* none more */
    for (i = 0; i < n; i++)         /* exact counts, per pair */
        for (j = 0; j < n; j++)
            ck_assert_msg(WS[j].got[i + 1] == SENT_TO[i][j],
                          "worker %d got %ld from %d, sent %ld", j, WS[j].got[i + 1], i,
                          SENT_TO[i][j]);
}

START_TEST(order_every_worker_to_every_other)
{
    run_order(4, pt_env_long("POOLEV_WORKERS_ITERS", 20000));
}
END_TEST

START_TEST(order_two_workers)
{
    run_order(2, pt_env_long("POOLEV_WORKERS_ITERS", 20000));
}
END_TEST

/* From outside the group: sender -1, in order. */
START_TEST(order_from_outside)
{
    long i, n = 5000;

    NW = 3;
    ws_reset(3, 1);
    atomic_store(&RECEIVED, 0);
    ck_assert_int_eq(pev_workers_create(&GROUP, 3, init_seq, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(GROUP), APR_SUCCESS);
    for (i = 1; i <= n; i++) {
        seqmsg_t m;

        memset(&m, 0, sizeof m);
        m.sender = -1;
        m.seq = i;
        ck_assert_int_eq(pev_workers_send(GROUP, (int) (i % 4) - 1, "t.seq", &m, sizeof m),
                         APR_SUCCESS);
    }
    /* i % 4 == 0: to all (3), else to one: n/4 * 3 + 3n/4 */
    ck_assert_int_eq(wait_atleast(&RECEIVED, (int) (n / 4 * 3 + n * 3 / 4)),
                     (int) (n / 4 * 3 + n * 3 / 4));
    pev_workers_stop(GROUP);
    pev_workers_join(GROUP);
    ck_assert_no_worker_errors();
    ck_assert_int_eq(WS[0].got[0], n / 2);
    ck_assert_int_eq(WS[1].got[0], n / 2);
    ck_assert_int_eq(WS[2].got[0], n / 2);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Listeners: their load order and the bus's rules on the receiving worker   */

static atomic_int ORDER_LOG[8];
static atomic_int ORDER_N;

static void on_ord(const void *event_data, void *user_data)
{
    int n = atomic_fetch_add(&ORDER_N, 1);

    (void) event_data;
    if (n < 8)
        atomic_store(&ORDER_LOG[n], (int) (intptr_t) user_data);
    if (n == 2)
        poke();
}

/* Registered from here: a listener registered during the dispatch is not
 * called by it (the bus's rule, unchanged). */
static void on_ord_adder(const void *event_data, void *user_data)
{
    pev_bus_t *bus = pev_worker_bus(pev_worker_self());

    on_ord(event_data, user_data);
    W_CHECK(pev_event_register(NULL, bus, NULL, "t.ord", on_ord, (void *) 99, NULL)
            == APR_SUCCESS);
}

static apr_status_t init_ord(pev_worker_t *w, void *ud)
{
    pev_bus_t *bus = pev_worker_bus(w);
    pev_module_t *a, *b;

    (void) ud;
    if (pev_module_add(&a, bus, "a") || pev_module_add(&b, bus, "b"))
        return APR_EGENERAL;
    /* core first, then b, then a: dispatch is a, b, core */
    pev_event_register(NULL, bus, NULL, "t.ord", on_ord, (void *) 3, NULL);
    pev_event_register(NULL, bus, b, "t.ord", on_ord_adder, (void *) 2, NULL);
    pev_event_register(NULL, bus, a, "t.ord", on_ord, (void *) 1, NULL);
    return APR_SUCCESS;
}

START_TEST(listeners_in_load_order)
{
    pev_workers_t *g;

    atomic_store(&ORDER_N, 0);
    ck_assert_int_eq(pev_workers_create(&g, 2, init_ord, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(g), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_send(g, 1, "t.ord", NULL, 0), APR_SUCCESS);
    {
        struct timespec dl;

        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += WAIT_MS / 1000;
        pthread_mutex_lock(&MU);
        while (atomic_load(&ORDER_N) < 3)
            if (pthread_cond_timedwait(&CV, &MU, &dl) != 0)
                break;
        pthread_mutex_unlock(&MU);
    }
    pev_workers_stop(g);
    pev_workers_join(g);
    ck_assert_no_worker_errors();
    ck_assert_int_eq(atomic_load(&ORDER_N), 3);    /* 99 not called by that dispatch */
    ck_assert_int_eq(atomic_load(&ORDER_LOG[0]), 1);
    ck_assert_int_eq(atomic_load(&ORDER_LOG[1]), 2);
    ck_assert_int_eq(atomic_load(&ORDER_LOG[2]), 3);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Payloads: copies, and shared blocks                                       */

#define PAYLOAD 3000

static atomic_int PAYLOAD_OK;

static void on_payload(const void *event_data, void *user_data)
{
    const pev_worker_event_t *ev = event_data;
    char want[PAYLOAD];

    (void) user_data;
    pt_pattern(want, PAYLOAD, (apr_size_t) ev->sender + 1);
    W_CHECK(ev->len == PAYLOAD);
    W_CHECK(ev->len == PAYLOAD && memcmp(ev->data, want, PAYLOAD) == 0);
    bump(&PAYLOAD_OK);
}

/* "t.copy" on a worker: make the payload in a pool of its own, send it to
 * every worker, destroy the pool at once. */
static void on_copy_go(const void *event_data, void *user_data)
{
    pev_worker_t *w = pev_worker_self();
    apr_pool_t *p = unkept(pev_worker_pool(w));
    char *buf;

    (void) event_data;
    (void) user_data;
    W_CHECK(p != NULL);
    buf = apr_palloc(p, PAYLOAD);
    pt_pattern(buf, PAYLOAD, (apr_size_t) pev_worker_index(w) + 1);
    W_CHECK(pev_workers_send(pev_worker_group(w), PEV_WORKERS_ALL, "t.payload", buf,
                             PAYLOAD) == APR_SUCCESS);
    apr_pool_destroy(p);            /* the bytes are gone; the events are not */
}

static apr_status_t init_payload(pev_worker_t *w, void *ud)
{
    pev_bus_t *bus = pev_worker_bus(w);

    (void) ud;
    pev_event_register(NULL, bus, NULL, "t.payload", on_payload, NULL, NULL);
    pev_event_register(NULL, bus, NULL, "t.copy", on_copy_go, NULL, NULL);
    return APR_SUCCESS;
}

START_TEST(payload_is_copied)
{
    pev_workers_t *g;
    int rounds = 50, i;

    atomic_store(&PAYLOAD_OK, 0);
    ck_assert_int_eq(pev_workers_create(&g, 3, init_payload, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(g), APR_SUCCESS);
    for (i = 0; i < rounds; i++)
        ck_assert_int_eq(pev_workers_send(g, PEV_WORKERS_ALL, "t.copy", NULL, 0), APR_SUCCESS);
    /* from outside too: the test's pool, destroyed at once */
    for (i = 0; i < rounds; i++) {
        apr_pool_t *p = pt_unkept_subpool(pt_pool);
        char *buf = apr_palloc(p, PAYLOAD);

        pt_pattern(buf, PAYLOAD, 0);
        ck_assert_int_eq(pev_workers_send(g, i % 3, "t.payload", buf, PAYLOAD), APR_SUCCESS);
        apr_pool_destroy(p);
    }
    /* 3 senders x 3 receivers x rounds, plus rounds from outside */
    ck_assert_int_eq(wait_atleast(&PAYLOAD_OK, 10 * rounds), 10 * rounds);
    pev_workers_stop(g);
    pev_workers_join(g);
    ck_assert_no_worker_errors();
}
END_TEST

static atomic_int FREES, HELD, RELEASED_BY_LISTENERS;
static int SHARED_NW;

static void count_free(void *data, apr_size_t len, void *ctx)
{
    (void) len;
    (void) ctx;
    /* freed after the last worker let go of it */
    W_CHECK(atomic_load(&RELEASED_BY_LISTENERS) == SHARED_NW);
    free(data);
    bump(&FREES);
}

static void drop_later(pev_timer_t *t, void *ud)
{
    (void) t;
    atomic_fetch_add(&RELEASED_BY_LISTENERS, 1);
    pev_shared_release(ud);
}

static void on_shared(const void *event_data, void *user_data)
{
    const pev_worker_event_t *ev = event_data;
    pev_worker_t *w = pev_worker_self();

    (void) user_data;
    W_CHECK(ev->shared != NULL);
    W_CHECK(ev->data == pev_shared_data(ev->shared));      /* not copied */
    W_CHECK(ev->len == 5 && memcmp(ev->data, "hello", 5) == 0);
    /* keep it past the listener: a reference, dropped in a later
     * iteration, at a different moment on each worker */
    W_CHECK(pev_timer_add_in(NULL, pev_worker_loop(w),
                             1000 * (apr_interval_time_t) pev_worker_index(w),
                             drop_later, pev_shared_ref(ev->shared), NULL) == APR_SUCCESS);
    bump(&HELD);
}

static apr_status_t init_shared(pev_worker_t *w, void *ud)
{
    (void) ud;
    pev_event_register(NULL, pev_worker_bus(w), NULL, "t.shared", on_shared, NULL, NULL);
    return APR_SUCCESS;
}

START_TEST(shared_freed_once_after_last_worker)
{
    pev_workers_t *g;
    pev_shared_t *sh;
    char *bytes = malloc(5);

    SHARED_NW = 4;
    memcpy(bytes, "hello", 5);
    atomic_store(&FREES, 0);
    atomic_store(&HELD, 0);
    atomic_store(&RELEASED_BY_LISTENERS, 0);
    ck_assert_int_eq(pev_workers_create(&g, 4, init_shared, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(g), APR_SUCCESS);
    ck_assert_int_eq(pev_shared_wrap(&sh, bytes, 5, count_free, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_send_shared(g, PEV_WORKERS_ALL, "t.shared", sh), APR_SUCCESS);
    pev_shared_release(sh);         /* the sender's: the events hold theirs */
    ck_assert_int_eq(wait_atleast(&FREES, 1), 1);
    ck_assert_int_eq(atomic_load(&HELD), 4);
    pev_workers_stop(g);
    pev_workers_join(g);
    ck_assert_no_worker_errors();
    ck_assert_int_eq(atomic_load(&FREES), 1);
    ck_assert_int_eq(atomic_load(&RELEASED_BY_LISTENERS), 4);
}
END_TEST

/* A shared block from pev_shared_create() copies; created and released
 * without a send, it goes at once (valgrind: no leak). */
START_TEST(shared_create_copies)
{
    char buf[3] = { 'a', 'b', 'c' };
    pev_shared_t *sh;

    ck_assert_int_eq(pev_shared_create(&sh, buf, 3), APR_SUCCESS);
    buf[0] = 'x';
    ck_assert_int_eq(pev_shared_len(sh), 3);
    ck_assert(memcmp(pev_shared_data(sh), "abc", 3) == 0);
    ck_assert_ptr_eq(pev_shared_ref(sh), sh);
    pev_shared_release(sh);
    pev_shared_release(sh);
    pev_shared_release(NULL);
    ck_assert_int_eq(pev_shared_create(&sh, NULL, 0), APR_SUCCESS);
    ck_assert_ptr_null(pev_shared_data(sh));
    pev_shared_release(sh);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Stop, and the group's pool, with events queued                            */

static atomic_int HOLDING, GOT_QUEUED;
static int RELEASE_HOLD;

static void on_hold(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    bump(&HOLDING);
    pthread_mutex_lock(&MU);
    while (!RELEASE_HOLD)
        pthread_cond_wait(&CV, &MU);
    pthread_mutex_unlock(&MU);
}

static void on_queued(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    atomic_fetch_add(&GOT_QUEUED, 1);
}

static void free_count(void *data, apr_size_t len, void *ctx)
{
    (void) data;
    (void) len;
    (void) ctx;
    bump(&FREES);
}

static apr_status_t init_hold(pev_worker_t *w, void *ud)
{
    (void) ud;
    pev_event_register(NULL, pev_worker_bus(w), NULL, "t.hold", on_hold, NULL, NULL);
    pev_event_register(NULL, pev_worker_bus(w), NULL, "t.queued", on_queued, NULL, NULL);
    return APR_SUCCESS;
}

/* Release the worker held in on_hold() or hold_call(). */
static void unhold(void)
{
    pthread_mutex_lock(&MU);
    RELEASE_HOLD = 1;
    pthread_cond_broadcast(&CV);
    pthread_mutex_unlock(&MU);
}

/* A started group of two workers (init_hold) in pt_pool, worker 0 held
 * inside its "t.hold" listener; HOLDING, GOT_QUEUED and FREES counted from
 * 0. */
static pev_workers_t *group_held(void)
{
    pev_workers_t *g;

    atomic_store(&HOLDING, 0);
    atomic_store(&GOT_QUEUED, 0);
    atomic_store(&FREES, 0);
    RELEASE_HOLD = 0;
    ck_assert_int_eq(pev_workers_create(&g, 2, init_hold, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(g), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_send(g, 0, "t.hold", NULL, 0), APR_SUCCESS);
    ck_assert_int_eq(wait_atleast(&HOLDING, 1), 1);
    return g;
}

/* Worker 0 is held inside a listener while events queue for it; stop;
 * the queued events are not delivered and each one's data is released
 * once. */
START_TEST(stop_with_events_queued)
{
    pev_workers_t *g;
    int i, m = 100;
    static int tags[100];

    g = group_held();
    for (i = 0; i < m; i++) {
        pev_shared_t *sh;

        ck_assert_int_eq(pev_shared_wrap(&sh, &tags[i], sizeof tags[i], free_count, NULL),
                         APR_SUCCESS);
        ck_assert_int_eq(pev_workers_send_shared(g, 0, "t.queued", sh), APR_SUCCESS);
        pev_shared_release(sh);
        ck_assert_int_eq(pev_workers_send(g, 0, "t.queued", "copy", 4), APR_SUCCESS);
    }
    ck_assert_int_eq(atomic_load(&FREES), 0);      /* in flight */
    pev_workers_stop(g);
    unhold();
    ck_assert_int_eq(pev_workers_join(g), APR_SUCCESS);
    ck_assert_int_eq(atomic_load(&GOT_QUEUED), 0);
    ck_assert_int_eq(atomic_load(&FREES), m);      /* each once */
    /* stopped: sends fail, and take nothing */
    {
        pev_shared_t *sh;

        ck_assert_int_eq(pev_shared_wrap(&sh, tags, 1, free_count, NULL), APR_SUCCESS);
        ck_assert_int_eq(pev_workers_send_shared(g, PEV_WORKERS_ALL, "t.queued", sh),
                         PEV_ECLOSED);
        pev_shared_release(sh);
        ck_assert_int_eq(atomic_load(&FREES), m + 1);
    }
}
END_TEST

/* "From the moment a worker begins to stop, sends to it fail with
 * PEV_ECLOSED": also while it still finishes its iteration (worker 0 is
 * held in a listener here), so that no send says success for an event that
 * is then released undelivered. */
START_TEST(send_after_stop_fails)
{
    pev_workers_t *g;
    pev_shared_t *sh;
    static int tag;

    g = group_held();
    ck_assert_int_eq(pev_workers_stop(g), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_send(g, 0, "t.queued", "copy", 4), PEV_ECLOSED);
    ck_assert_int_eq(pev_workers_send(g, PEV_WORKERS_ALL, "t.queued", "copy", 4),
                     PEV_ECLOSED);
    ck_assert_int_eq(pev_shared_wrap(&sh, &tag, sizeof tag, free_count, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_send_shared(g, 0, "t.queued", sh), PEV_ECLOSED);
    pev_shared_release(sh);
    ck_assert_int_eq(atomic_load(&FREES), 1);       /* not held by the group */
    unhold();
    ck_assert_int_eq(pev_workers_join(g), APR_SUCCESS);
    ck_assert_int_eq(atomic_load(&GOT_QUEUED), 0);
}
END_TEST

/* Threads outside the group send while it stops: a send that began after
 * pev_workers_stop() returned fails; every block a send took is released
 * once (by the receiver, or by the stopping worker's cancellation); nothing
 * is delivered after a worker's exit hook. Run under TSan in CI. */
static atomic_int RACE_STOPPED, RACE_OK, RACE_LATE_OK, RACE_AFTER_EXIT, RACE_MADE;
static atomic_int RACE_EXITED[2];   /* by worker */
static pev_workers_t *RACE_G;

static void on_race(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    if (atomic_load(&RACE_EXITED[pev_worker_index(pev_worker_self())]))
        atomic_fetch_add(&RACE_AFTER_EXIT, 1);
}

static apr_status_t init_race(pev_worker_t *w, void *ud)
{
    (void) ud;
    return pev_event_register(NULL, pev_worker_bus(w), NULL, "t.race", on_race, NULL, NULL);
}

static apr_status_t exit_race(pev_worker_t *w, void *ud)
{
    (void) ud;
    atomic_store(&RACE_EXITED[pev_worker_index(w)], 1);
    return APR_SUCCESS;
}

static void *race_sender(void *arg)
{
    long k = (long) (intptr_t) arg;
    static int tag;

    for (;;) {
        int stopped = atomic_load(&RACE_STOPPED);
        pev_shared_t *sh;
        apr_status_t st;

        /* at most 1000 in flight: the senders must not outrun the workers
         * without bound (valgrind runs one thread at a time) */
        while (!stopped && atomic_load(&RACE_MADE) - atomic_load(&FREES) > 1000
               && !(stopped = atomic_load(&RACE_STOPPED)))
            sched_yield();
        if (pev_shared_wrap(&sh, &tag, sizeof tag, free_count, NULL) != APR_SUCCESS)
            break;
        atomic_fetch_add(&RACE_MADE, 1);
        st = pev_workers_send_shared(RACE_G, (k++ % 3) - 1, "t.race", sh);
        pev_shared_release(sh);
        if (st == APR_SUCCESS) {
            atomic_fetch_add(&RACE_OK, 1);
            if (stopped)
                atomic_fetch_add(&RACE_LATE_OK, 1);
        }
        else if (st != PEV_ECLOSED) {
            w_fail(__LINE__, "send: neither success nor PEV_ECLOSED");
            break;
        }
        if (stopped && st == PEV_ECLOSED)
            break;
    }
    return NULL;
}

START_TEST(sends_race_stop)
{
    pthread_t th[2];
    int i;

    atomic_store(&RACE_STOPPED, 0);
    atomic_store(&RACE_OK, 0);
    atomic_store(&RACE_LATE_OK, 0);
    atomic_store(&RACE_AFTER_EXIT, 0);
    atomic_store(&RACE_EXITED[0], 0);
    atomic_store(&RACE_EXITED[1], 0);
    atomic_store(&FREES, 0);
    atomic_store(&RACE_MADE, 0);
    ck_assert_int_eq(pev_workers_create(&RACE_G, 2, init_race, exit_race, NULL, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(RACE_G), APR_SUCCESS);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, race_sender, (void *) (intptr_t) i), 0);
    ck_assert_int_ge(wait_atleast(&FREES, 2000), 2000);    /* deliveries under way */
    ck_assert_int_eq(pev_workers_stop(RACE_G), APR_SUCCESS);
    atomic_store(&RACE_STOPPED, 1);
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_int_eq(pev_workers_join(RACE_G), APR_SUCCESS);
    ck_assert_no_worker_errors();
    ck_assert_int_eq(atomic_load(&RACE_LATE_OK), 0);
    ck_assert_int_eq(atomic_load(&RACE_AFTER_EXIT), 0);
    ck_assert_int_eq(atomic_load(&FREES), atomic_load(&RACE_MADE));
    printf("sends race stop: %d sends taken\n", atomic_load(&RACE_OK));
}
END_TEST

/* The group's pool destroyed while events fly from every worker to every
 * other and from outside: every event's data is released once. */
static atomic_int FLOOD_SENT;

static void on_flood(const void *event_data, void *user_data)
{
    const pev_worker_event_t *ev = event_data;
    pev_worker_t *w = pev_worker_self();
    pev_shared_t *sh;

    (void) user_data;
    /* each delivery on a worker sends two more, one copied, one shared */
    if (ev->len > 200)
        return;
    if (pev_shared_wrap(&sh, w, ev->len + 1, free_count, NULL) != APR_SUCCESS)
        return;
    if (pev_workers_send_shared(pev_worker_group(w), PEV_WORKERS_ALL, "t.flood", sh)
        == APR_SUCCESS)
        atomic_fetch_add(&FLOOD_SENT, 1);
    pev_shared_release(sh);
    if (pev_workers_send(pev_worker_group(w), (pev_worker_index(w) + 1) % 3, "t.flood",
                         ev->data, ev->len) == APR_SUCCESS)
        atomic_fetch_add(&FLOOD_SENT, 1);
    atomic_fetch_add(&GOT_QUEUED, 1);
    poke();
}

static apr_status_t init_flood(pev_worker_t *w, void *ud)
{
    (void) ud;
    pev_event_register(NULL, pev_worker_bus(w), NULL, "t.flood", on_flood, NULL, NULL);
    return APR_SUCCESS;
}

START_TEST(group_pool_destroyed_in_flight)
{
    apr_pool_t *gp = pt_unkept_subpool(pt_pool);
    pev_workers_t *g;
    int made = 0, i;

    atomic_store(&FREES, 0);
    atomic_store(&GOT_QUEUED, 0);
    atomic_store(&FLOOD_SENT, 0);
    ck_assert_int_eq(pev_workers_create(&g, 3, init_flood, NULL, NULL, gp), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(g), APR_SUCCESS);
    for (i = 0; i < 30; i++) {
        pev_shared_t *sh;

        ck_assert_int_eq(pev_shared_wrap(&sh, NULL, 0, free_count, NULL), APR_SUCCESS);
        made++;
        ck_assert_int_eq(pev_workers_send_shared(g, PEV_WORKERS_ALL, "t.flood", sh),
                         APR_SUCCESS);
        pev_shared_release(sh);
    }
    ck_assert_int_ge(wait_atleast(&GOT_QUEUED, 500), 500);     /* a flood under way */
    apr_pool_destroy(gp);           /* stops and joins the workers */
    /* every block made was released once: those of the test, and those the
     * workers made (one per delivery, counted in GOT_QUEUED) */
    ck_assert_no_worker_errors();
    ck_assert_int_eq(atomic_load(&FREES), made + atomic_load(&GOT_QUEUED));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Listener pools destroyed while events for them are in flight              */

#define MAGIC 0x5eed1e55u

typedef struct lrec {
    unsigned magic;
    int worker;
} lrec_t;

static atomic_int CORE_GOT[MAXW];
static atomic_int STRESS_SENT[MAXW];    /* by receiver */
static atomic_int STRESS_DONE;
static long STRESS_STEPS;

static void on_pooled(const void *event_data, void *user_data)
{
    lrec_t *r = user_data;

    (void) event_data;
    W_CHECK(r->magic == MAGIC);     /* its pool is alive (else: freed memory) */
    W_CHECK(r->worker == pev_worker_index(pev_worker_self()));
}

static void on_core(const void *event_data, void *user_data)
{
    const pev_worker_event_t *ev = event_data;
    wstate_t *s = my_state();

    (void) user_data;
    W_CHECK(ev->sender >= -1 && ev->sender < NW);
    W_CHECK(ev->len == 0 || ((const char *) ev->data)[ev->len - 1] == (char) ev->len);
    atomic_fetch_add(&CORE_GOT[s->index], 1);
    bump(&RECEIVED);
}

/* A fresh listener pool (unkept) with a few listeners on "t.x". */
static void new_lpool(wstate_t *s)
{
    pev_worker_t *w = pev_worker_self();
    unsigned i, k = 1 + pt_below(&s->rng, 3);

    s->lpool = unkept(pev_worker_pool(w));
    for (i = 0; i < k; i++) {
        lrec_t *r = apr_palloc(s->lpool, sizeof *r);

        r->magic = MAGIC;
        r->worker = s->index;
        pev_event_register(NULL, pev_worker_bus(w), NULL, "t.x", on_pooled, r, s->lpool);
    }
}

static void destroy_lpool(wstate_t *s)
{
    if (s->lpool) {
        apr_pool_destroy(s->lpool);
        s->lpool = NULL;
    }
}

static atomic_int PLAIN_FREES, PLAIN_MADE;

static void count_free_plain(void *data, apr_size_t len, void *ctx)
{
    (void) len;
    (void) ctx;
    free(data);
    atomic_fetch_add(&PLAIN_FREES, 1);
}

/* A listener that destroys its own pool, sometimes, from its dispatch. */
static void on_pooled_destroyer(const void *event_data, void *user_data)
{
    wstate_t *s = my_state();

    on_pooled(event_data, user_data);
    if (pt_below(&s->rng, 4) == 0) {
        destroy_lpool(s);
        new_lpool(s);
    }
}

/* One step of a worker: send a few events to random workers (copies from
 * a pool destroyed at once, or shared), and now and then destroy the
 * listener pool and make a new one. Re-armed until STRESS_STEPS. */
static void stress_step(pev_timer_t *t, void *ud)
{
    wstate_t *s = ud;
    pev_worker_t *w = pev_worker_self();
    unsigned k, i;

    for (k = 0, i = pt_below(&s->rng, 8); k < i; k++) {
        int to = (int) pt_below(&s->rng, (unsigned) NW + 1) - 1;
        apr_size_t len = pt_below(&s->rng, 64);
        apr_status_t st;

        if (pt_below(&s->rng, 2)) {
            apr_pool_t *p = unkept(pev_worker_pool(w));
            char *buf = apr_palloc(p, len + 1);

            memset(buf, (char) len, len + 1);
            st = pev_workers_send(GROUP, to, "t.x", len ? buf : NULL, len);
            apr_pool_destroy(p);
        } else {
            char *buf = malloc(len + 1);
            pev_shared_t *sh;

            memset(buf, (char) len, len + 1);
            W_CHECK(pev_shared_wrap(&sh, buf, len, count_free_plain, NULL) == APR_SUCCESS);
            atomic_fetch_add(&PLAIN_MADE, 1);
            st = pev_workers_send_shared(GROUP, to, "t.x", sh);
            pev_shared_release(sh);
        }
        W_CHECK(st == APR_SUCCESS);
        if (to == PEV_WORKERS_ALL) {
            int j;

            for (j = 0; j < NW; j++)
                atomic_fetch_add(&STRESS_SENT[j], 1);
        } else {
            atomic_fetch_add(&STRESS_SENT[to], 1);
        }
    }
    if (pt_below(&s->rng, 3) == 0) {
        destroy_lpool(s);
        new_lpool(s);
        if (pt_below(&s->rng, 2)) {
            lrec_t *r = apr_palloc(s->lpool, sizeof *r);

            r->magic = MAGIC;
            r->worker = s->index;
            pev_event_register(NULL, pev_worker_bus(w), NULL, "t.x", on_pooled_destroyer, r,
                               s->lpool);
        }
    }
    if (++s->steps < STRESS_STEPS)
        pev_timer_rearm_in(t, 0);
    else
        bump(&STRESS_DONE);
}

static apr_status_t init_stress(pev_worker_t *w, void *ud)
{
    wstate_t *s = &WS[pev_worker_index(w)];

    (void) ud;
    pev_event_register(NULL, pev_worker_bus(w), NULL, "t.x", on_core, NULL, NULL);
    new_lpool(s);
    return pev_timer_add_in(NULL, pev_worker_loop(w), 0, stress_step, s, NULL);
}

START_TEST(stress_pools_destroyed_on_both_sides)
{
    uint64_t seed = pt_seed("check_workers stress");
    int n = 4, i, want = 0;

    NW = n;
    STRESS_STEPS = pt_env_long("POOLEV_WORKERS_ITERS", 20000) / 4;
    ws_reset(n, seed);
    atomic_store(&RECEIVED, 0);
    atomic_store(&STRESS_DONE, 0);
    atomic_store(&FREES, 0);
    atomic_store(&PLAIN_FREES, 0);
    atomic_store(&PLAIN_MADE, 0);
    for (i = 0; i < MAXW; i++) {
        atomic_store(&CORE_GOT[i], 0);
        atomic_store(&STRESS_SENT[i], 0);
    }
    ck_assert_int_eq(pev_workers_create(&GROUP, n, init_stress, NULL, NULL, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(GROUP), APR_SUCCESS);
    ck_assert_int_eq(wait_atleast(&STRESS_DONE, n), n);
    for (i = 0; i < n; i++)
        want += atomic_load(&STRESS_SENT[i]);
    ck_assert_int_eq(wait_atleast(&RECEIVED, want), want);
    pev_workers_stop(GROUP);
    pev_workers_join(GROUP);
    ck_assert_no_worker_errors();
    for (i = 0; i < n; i++)
        ck_assert_int_eq(atomic_load(&CORE_GOT[i]), atomic_load(&STRESS_SENT[i]));
    ck_assert_int_eq(atomic_load(&PLAIN_FREES), atomic_load(&PLAIN_MADE));
}
END_TEST

/* Worker 1 is held while M events queue for it; its listener pool is
 * destroyed, by a later listener of the k-th event (k seeded), with the
 * rest in flight: the pool's listener is called for exactly the first k,
 * and never once its pool is gone (its record is in unkept memory). */
static atomic_int POOLED_CALLS, CORE_CALLS;
static int DESTROY_AT;
static apr_pool_t *LPOOL1;

static void on_p(const void *event_data, void *user_data)
{
    lrec_t *r = user_data;

    (void) event_data;
    W_CHECK(r->magic == MAGIC);
    W_CHECK(LPOOL1 != NULL);
    atomic_fetch_add(&POOLED_CALLS, 1);
}

static void on_c(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    if (atomic_fetch_add(&CORE_CALLS, 1) + 1 == DESTROY_AT) {
        apr_pool_destroy(LPOOL1);
        LPOOL1 = NULL;
    }
    poke();
}

static apr_status_t init_inflight(pev_worker_t *w, void *ud)
{
    pev_bus_t *bus = pev_worker_bus(w);

    (void) ud;
    pev_event_register(NULL, bus, NULL, "t.hold", on_hold, NULL, NULL);
    if (pev_worker_index(w) == 1) {
        lrec_t *r;

        LPOOL1 = unkept(pev_worker_pool(w));
        r = apr_palloc(LPOOL1, sizeof *r);
        r->magic = MAGIC;
        r->worker = 1;
        /* the pool's listener first, then the one that destroys it */
        pev_event_register(NULL, bus, NULL, "t.e", on_p, r, LPOOL1);
        pev_event_register(NULL, bus, NULL, "t.e", on_c, NULL, NULL);
    }
    return APR_SUCCESS;
}

START_TEST(listener_pool_destroyed_in_flight)
{
    pt_rng_t rng = { pt_seed("check_workers in-flight") };
    pev_workers_t *g;
    int m = 500, round;

    for (round = 0; round < 5; round++) {
        apr_pool_t *gp = pt_subpool(pt_pool);
        int i;

        DESTROY_AT = 1 + (int) pt_below(&rng, (unsigned) m);
        atomic_store(&POOLED_CALLS, 0);
        atomic_store(&CORE_CALLS, 0);
        atomic_store(&HOLDING, 0);
        RELEASE_HOLD = 0;
        ck_assert_int_eq(pev_workers_create(&g, 2, init_inflight, NULL, NULL, gp), APR_SUCCESS);
        ck_assert_int_eq(pev_workers_start(g), APR_SUCCESS);
        ck_assert_int_eq(pev_workers_send(g, 1, "t.hold", NULL, 0), APR_SUCCESS);
        ck_assert_int_eq(wait_atleast(&HOLDING, 1), 1);
        for (i = 0; i < m; i++)
            ck_assert_int_eq(pev_workers_send(g, 1, "t.e", &i, sizeof i), APR_SUCCESS);
        unhold();
        ck_assert_int_eq(wait_atleast(&CORE_CALLS, m), m);
        apr_pool_destroy(gp);
        ck_assert_no_worker_errors();
        ck_assert_int_eq(atomic_load(&POOLED_CALLS), DESTROY_AT);
    }
}
END_TEST

/* The workers run with every asynchronous signal blocked: signals are
 * taken on the other threads. The test's thread keeps its mask. */
static atomic_int MASK_OK;

static apr_status_t init_mask(pev_worker_t *w, void *ud)
{
    sigset_t cur;

    (void) w;
    (void) ud;
    pthread_sigmask(SIG_SETMASK, NULL, &cur);
    if (sigismember(&cur, SIGTERM) == 1 && sigismember(&cur, SIGHUP) == 1
        && sigismember(&cur, SIGINT) == 1 && sigismember(&cur, SIGUSR1) == 1
        && sigismember(&cur, SIGCHLD) == 1 && sigismember(&cur, SIGSEGV) == 0)
        atomic_fetch_add(&MASK_OK, 1);
    return APR_SUCCESS;
}

START_TEST(signals_blocked_in_workers)
{
    pev_workers_t *g;
    sigset_t before, after;

    atomic_store(&MASK_OK, 0);
    pthread_sigmask(SIG_SETMASK, NULL, &before);
    ck_assert_int_eq(pev_workers_create(&g, 3, init_mask, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(g), APR_SUCCESS);
    pthread_sigmask(SIG_SETMASK, NULL, &after);
    ck_assert_int_eq(sigismember(&after, SIGTERM), sigismember(&before, SIGTERM));
    ck_assert_int_eq(sigismember(&after, SIGHUP), sigismember(&before, SIGHUP));
    pev_workers_stop(g);
    pev_workers_join(g);
    ck_assert_int_eq(atomic_load(&MASK_OK), 3);
}
END_TEST

/* Mode --destroy-on-worker: a worker's listener destroys its own group's
 * pool, which cannot join its own thread: the process aborts (a clear
 * message rather than a deadlock or a use after free). */
static apr_pool_t *DOOMED;

static void on_doom(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    apr_pool_destroy(DOOMED);
}

static apr_status_t init_doom(pev_worker_t *w, void *ud)
{
    (void) ud;
    return pev_event_register(NULL, pev_worker_bus(w), NULL, "t.doom", on_doom, NULL, NULL);
}

static int destroy_on_worker_main(void)
{
    pev_workers_t *g;

    PT_MODE_CHECK(apr_initialize() == APR_SUCCESS);
    PT_MODE_CHECK(apr_pool_create(&DOOMED, NULL) == APR_SUCCESS);
    PT_MODE_CHECK(pev_workers_create(&g, 2, init_doom, NULL, NULL, DOOMED) == APR_SUCCESS);
    PT_MODE_CHECK(pev_workers_start(g) == APR_SUCCESS);
    PT_MODE_CHECK(pev_workers_send(g, 1, "t.doom", NULL, 0) == APR_SUCCESS);
    PT_MODE_CHECK(pev_workers_join(g) == APR_SUCCESS);     /* never returns */
    return 0;
}

START_TEST(group_pool_destroyed_on_its_worker_aborts)
{
    ck_assert_int_eq(pt_run_self("--destroy-on-worker"), 128 + SIGABRT);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The queue limit                                                           */

/* A worker held inside a call the test posts to its loop (not a worker
 * event: nothing of the queue's), until the test releases it; bounded:
 * after WAIT_MS it lets go and counts a failure. */
static void hold_call(void *user_data, int cancelled)
{
    struct timespec dl;

    (void) user_data;
    if (cancelled)
        return;
    bump(&HOLDING);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&MU);
    while (!RELEASE_HOLD)
        if (pthread_cond_timedwait(&CV, &MU, &dl) != 0) {
            w_fail(__LINE__, "held worker never released");
            break;
        }
    pthread_mutex_unlock(&MU);
}

/* Hold worker @a i of @a g: returns once it is inside hold_call(). */
static void hold(pev_workers_t *g, int i)
{
    atomic_store(&HOLDING, 0);
    pthread_mutex_lock(&MU);
    RELEASE_HOLD = 0;
    pthread_mutex_unlock(&MU);
    ck_assert_int_eq(pev_loop_post(pev_worker_loop(pev_workers_worker(g, i)), hold_call, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(wait_atleast(&HOLDING, 1), 1);
}

static pev_worker_queue_stats_t qstats(pev_workers_t *g, int i)
{
    pev_worker_queue_stats_t qs;

    ck_assert_int_eq(pev_workers_queue_stats(&qs, g, i), APR_SUCCESS);
    return qs;
}

/* Shared blocks with a count of frees each. */
#define QBLOCKS 200
static atomic_int BLOCK_FREES[QBLOCKS];
static atomic_int GOT_SH[MAXW];

static void count_block_free(void *data, apr_size_t len, void *ctx)
{
    (void) data;
    (void) len;
    atomic_fetch_add((atomic_int *) ctx, 1);
    bump(&FREES);
}

static void on_sh(const void *event_data, void *user_data)
{
    const pev_worker_event_t *ev = event_data;

    (void) user_data;
    W_CHECK(ev->shared != NULL);
    bump(&GOT_SH[pev_worker_index(pev_worker_self())]);
}

/* "t.fanout" on a worker: a copy to PEV_WORKERS_OTHERS, its account kept. */
static pev_workers_sent_t FAN_SENT;
static atomic_int FAN_ST, FAN_DONE;

static void on_fanout(const void *event_data, void *user_data)
{
    seqmsg_t m;
    pev_workers_sent_t sent;

    (void) event_data;
    (void) user_data;
    memset(&m, 0, sizeof m);
    m.sender = pev_worker_index(pev_worker_self());
    m.seq = 1000000;
    atomic_store(&FAN_ST, pev_workers_send_ex(&sent, GROUP, PEV_WORKERS_OTHERS, "t.seq", &m,
                                              sizeof m, NULL, 0));
    FAN_SENT = sent;
    bump(&FAN_DONE);
}

static apr_status_t init_q(pev_worker_t *w, void *ud)
{
    pev_bus_t *bus = pev_worker_bus(w);

    (void) ud;
    if (pev_event_register(NULL, bus, NULL, "t.seq", on_seq, NULL, NULL) != APR_SUCCESS
        || pev_event_register(NULL, bus, NULL, "t.sh", on_sh, NULL, NULL) != APR_SUCCESS
        || pev_event_register(NULL, bus, NULL, "t.fanout", on_fanout, NULL, NULL)
           != APR_SUCCESS
        || pev_event_register(NULL, bus, NULL, "t.hold", on_hold, NULL, NULL) != APR_SUCCESS)
        return APR_EGENERAL;
    return APR_SUCCESS;
}

static void q_reset(int n)
{
    int i;

    ws_reset(n, 1);
    atomic_store(&RECEIVED, 0);
    atomic_store(&FREES, 0);
    atomic_store(&FAN_DONE, 0);
    for (i = 0; i < QBLOCKS; i++)
        atomic_store(&BLOCK_FREES[i], 0);
    for (i = 0; i < MAXW; i++)
        atomic_store(&GOT_SH[i], 0);
}

static apr_status_t send_seq(pev_workers_t *g, int to, long seq)
{
    seqmsg_t m;

    memset(&m, 0, sizeof m);
    m.sender = -1;
    m.seq = seq;
    return pev_workers_send(g, to, "t.seq", &m, sizeof m);
}

#define QLIMIT 64
#define QEXTRA 10

/* Worker 1 held in a call while the test sends QLIMIT + QEXTRA events to
 * it: exactly QLIMIT are taken, QEXTRA refused with PEV_EFULL (counted);
 * once released, exactly the QLIMIT run, in the order sent; then the
 * worker takes events again. Nothing leaks (valgrind). */
START_TEST(queue_limit_refuses_beyond_it)
{
    pev_worker_queue_stats_t qs;
    long i;
    int ok = 0, full = 0;

    q_reset(2);
    ck_assert_int_eq(pev_workers_create(&GROUP, 2, init_q, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_set_queue_limit(GROUP, QLIMIT), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_queue_limit(GROUP), QLIMIT);
    ck_assert_int_eq(pev_workers_start(GROUP), APR_SUCCESS);
    hold(GROUP, 1);
    for (i = 1; i <= QLIMIT + QEXTRA; i++) {
        apr_status_t st = send_seq(GROUP, 1, i);

        if (st == APR_SUCCESS) {
            ck_assert_int_le(i, QLIMIT);            /* the first QLIMIT, no other */
            ok++;
        } else {
            ck_assert_int_eq(st, PEV_EFULL);
            full++;
        }
    }
    ck_assert_int_eq(ok, QLIMIT);
    ck_assert_int_eq(full, QEXTRA);
    qs = qstats(GROUP, 1);
    ck_assert_uint_eq(qs.queued, QLIMIT);
    ck_assert_uint_eq(qs.peak, QLIMIT);
    ck_assert_uint_eq(qs.refused, QEXTRA);
    ck_assert_uint_eq(qs.delivered, 0);
    qs = qstats(GROUP, 0);                          /* the other worker: untouched */
    ck_assert_uint_eq(qs.queued + qs.refused + qs.peak, 0);
    ck_assert_int_eq(send_seq(GROUP, 0, 1), APR_SUCCESS);   /* room there */
    unhold();
    ck_assert_int_eq(wait_atleast(&RECEIVED, QLIMIT + 1), QLIMIT + 1);
    /* on_seq checked the order (each seq above the last); all of them */
    ck_assert_int_eq(WS[1].got[0], QLIMIT);
    ck_assert_int_eq(WS[1].last[0], QLIMIT);
    /* the places came back: it takes events again */
    ck_assert_int_eq(send_seq(GROUP, 1, QLIMIT + QEXTRA + 1), APR_SUCCESS);
    ck_assert_int_eq(wait_atleast(&RECEIVED, QLIMIT + 2), QLIMIT + 2);
    ck_assert_int_eq(pev_workers_stop(GROUP), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_join(GROUP), APR_SUCCESS);
    ck_assert_no_worker_errors();
    ck_assert_int_eq(atomic_load(&RECEIVED), QLIMIT + 2);  /* none more */
    ck_assert_int_eq(WS[1].got[0], QLIMIT + 1);
    qs = qstats(GROUP, 1);
    ck_assert_uint_eq(qs.queued, 0);
    ck_assert_uint_eq(qs.delivered, QLIMIT + 1);
    ck_assert_uint_eq(qs.released, 0);
    ck_assert_uint_eq(qs.refused, QEXTRA);
}
END_TEST

/* The event that runs holds its place until its listeners return: a
 * worker held inside a worker event takes QLIMIT - 1 more. */
START_TEST(queue_limit_counts_the_running_event)
{
    long i;
    int ok = 0;

    q_reset(2);
    atomic_store(&HOLDING, 0);
    RELEASE_HOLD = 0;
    ck_assert_int_eq(pev_workers_create(&GROUP, 2, init_q, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(GROUP), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_set_queue_limit(GROUP, QLIMIT), APR_SUCCESS);  /* started */
    ck_assert_int_eq(pev_workers_send(GROUP, 1, "t.hold", NULL, 0), APR_SUCCESS);
    ck_assert_int_eq(wait_atleast(&HOLDING, 1), 1);
    for (i = 1; i <= QLIMIT + QEXTRA; i++)
        if (send_seq(GROUP, 1, i) == APR_SUCCESS)
            ok++;
    ck_assert_int_eq(ok, QLIMIT - 1);
    ck_assert_uint_eq(qstats(GROUP, 1).queued, QLIMIT);
    unhold();
    ck_assert_int_eq(wait_atleast(&RECEIVED, QLIMIT - 1), QLIMIT - 1);
    pev_workers_stop(GROUP);
    pev_workers_join(GROUP);
    ck_assert_no_worker_errors();
    ck_assert_uint_eq(qstats(GROUP, 1).delivered, QLIMIT);
    ck_assert_uint_eq(qstats(GROUP, 1).queued, 0);
}
END_TEST

/* PEV_WORKERS_ALL with worker 1 full: workers 0 and 2 get the event, 1
 * refuses it; the call says PEV_EFULL and pev_workers_send_ex() how many
 * took it. PEV_WORKERS_OTHERS from worker 0: worker 2 only (1 is full, 0
 * is the sender). A shared block sent to all: held by the two that took
 * it, freed once. */
START_TEST(queue_limit_all_with_one_full)
{
    pev_workers_sent_t sent;
    pev_shared_t *sh;
    long i;

    q_reset(3);
    ck_assert_int_eq(pev_workers_create(&GROUP, 3, init_q, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_set_queue_limit(GROUP, QLIMIT), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(GROUP), APR_SUCCESS);
    hold(GROUP, 1);
    for (i = 1; i <= QLIMIT; i++)
        ck_assert_int_eq(send_seq(GROUP, 1, i), APR_SUCCESS);
    /* to all: two take it */
    ck_assert_int_eq(send_seq(GROUP, PEV_WORKERS_ALL, QLIMIT + 1), PEV_EFULL);
    {
        seqmsg_t m;

        memset(&m, 0, sizeof m);
        m.sender = -1;
        m.seq = QLIMIT + 2;
        ck_assert_int_eq(pev_workers_send_ex(&sent, GROUP, PEV_WORKERS_ALL, "t.seq", &m,
                                             sizeof m, NULL, 0), PEV_EFULL);
        ck_assert_int_eq(sent.queued, 2);
        ck_assert_int_eq(sent.full, 1);
        ck_assert_int_eq(sent.closed, 0);
        /* from outside the group, OTHERS is everyone */
        m.seq = QLIMIT + 3;
        ck_assert_int_eq(pev_workers_send_ex(&sent, GROUP, PEV_WORKERS_OTHERS, "t.seq", &m,
                                             sizeof m, NULL, 0), PEV_EFULL);
        ck_assert_int_eq(sent.queued, 2);
        ck_assert_int_eq(sent.full, 1);
    }
    ck_assert_int_eq(pev_shared_wrap(&sh, "s", 1, count_block_free, &BLOCK_FREES[0]),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_workers_send_shared(GROUP, PEV_WORKERS_ALL, "t.sh", sh), PEV_EFULL);
    pev_shared_release(sh);
    /* worker 0 fans out to the others: 2 takes it, 1 refuses */
    ck_assert_int_eq(pev_workers_send(GROUP, 0, "t.fanout", NULL, 0), APR_SUCCESS);
    ck_assert_int_eq(wait_atleast(&FAN_DONE, 1), 1);
    ck_assert_int_eq(atomic_load(&FAN_ST), PEV_EFULL);
    ck_assert_int_eq(FAN_SENT.queued, 1);
    ck_assert_int_eq(FAN_SENT.full, 1);
    ck_assert_int_eq(FAN_SENT.closed, 0);
    ck_assert_uint_eq(qstats(GROUP, 1).refused, 5);
    ck_assert_uint_eq(qstats(GROUP, 1).queued, QLIMIT);
    unhold();
    /* 1: its QLIMIT; 0: three from outside; 2: three and the fan-out */
    ck_assert_int_eq(wait_atleast(&RECEIVED, QLIMIT + 3 + 4), QLIMIT + 3 + 4);
    ck_assert_int_eq(wait_atleast(&GOT_SH[0], 1), 1);
    ck_assert_int_eq(wait_atleast(&GOT_SH[2], 1), 1);
    ck_assert_int_eq(wait_atleast(&FREES, 1), 1);
    pev_workers_stop(GROUP);
    pev_workers_join(GROUP);
    ck_assert_no_worker_errors();
    ck_assert_int_eq(atomic_load(&RECEIVED), QLIMIT + 3 + 4);
    ck_assert_int_eq(WS[1].got[0], QLIMIT);
    ck_assert_int_eq(WS[1].last[0], QLIMIT);
    ck_assert_int_eq(WS[1].got[1], 0);
    ck_assert_int_eq(atomic_load(&GOT_SH[1]), 0);
    ck_assert_int_eq(WS[0].got[0], 3);
    ck_assert_int_eq(WS[0].got[1], 0);          /* OTHERS skipped the sender */
    ck_assert_int_eq(WS[2].got[0], 3);
    ck_assert_int_eq(WS[2].got[1], 1);
    ck_assert_int_eq(atomic_load(&BLOCK_FREES[0]), 1);
}
END_TEST

/* Shared blocks with a full worker: each taken one is held until its
 * event ran, each refused one is not held at all (the caller's release
 * frees it at once), every block is freed exactly once. */
START_TEST(queue_limit_shared_blocks)
{
    int i, ok = 0;

    q_reset(2);
    ck_assert_int_eq(pev_workers_create(&GROUP, 2, init_q, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_set_queue_limit(GROUP, QLIMIT), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(GROUP), APR_SUCCESS);
    hold(GROUP, 1);
    for (i = 0; i < QLIMIT + QEXTRA; i++) {
        pev_shared_t *sh;
        apr_status_t st;

        ck_assert_int_eq(pev_shared_wrap(&sh, &BLOCK_FREES[i], 1, count_block_free,
                                         &BLOCK_FREES[i]), APR_SUCCESS);
        st = pev_workers_send_shared(GROUP, 1, "t.sh", sh);
        pev_shared_release(sh);
        if (i < QLIMIT) {
            ck_assert_int_eq(st, APR_SUCCESS);
            ok++;
            ck_assert_int_eq(atomic_load(&BLOCK_FREES[i]), 0);  /* the event holds it */
        } else {
            ck_assert_int_eq(st, PEV_EFULL);
            ck_assert_int_eq(atomic_load(&BLOCK_FREES[i]), 1);  /* nobody held it */
        }
    }
    ck_assert_int_eq(atomic_load(&FREES), QEXTRA);
    unhold();
    ck_assert_int_eq(wait_atleast(&GOT_SH[1], ok), ok);
    ck_assert_int_eq(wait_atleast(&FREES, QLIMIT + QEXTRA), QLIMIT + QEXTRA);
    pev_workers_stop(GROUP);
    pev_workers_join(GROUP);
    ck_assert_no_worker_errors();
    for (i = 0; i < QLIMIT + QEXTRA; i++)
        ck_assert_int_eq(atomic_load(&BLOCK_FREES[i]), 1);
    ck_assert_int_eq(atomic_load(&FREES), QLIMIT + QEXTRA);
    ck_assert_uint_eq(qstats(GROUP, 1).delivered, QLIMIT);
}
END_TEST

/* A worker stopped with a full queue: its events are released, not run;
 * their places come back (queued 0, released QLIMIT); each shared block
 * freed once. */
START_TEST(queue_count_back_after_stop)
{
    pev_worker_queue_stats_t qs;
    int i;

    q_reset(2);
    ck_assert_int_eq(pev_workers_create(&GROUP, 2, init_q, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_set_queue_limit(GROUP, QLIMIT), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(GROUP), APR_SUCCESS);
    hold(GROUP, 1);
    for (i = 0; i < QLIMIT; i++) {
        if (i % 2) {
            pev_shared_t *sh;

            ck_assert_int_eq(pev_shared_wrap(&sh, "s", 1, count_block_free, &BLOCK_FREES[i]),
                             APR_SUCCESS);
            ck_assert_int_eq(pev_workers_send_shared(GROUP, 1, "t.sh", sh), APR_SUCCESS);
            pev_shared_release(sh);
        } else {
            ck_assert_int_eq(send_seq(GROUP, 1, i + 1), APR_SUCCESS);
        }
    }
    ck_assert_int_eq(send_seq(GROUP, 1, QLIMIT + 1), PEV_EFULL);
    ck_assert_uint_eq(qstats(GROUP, 1).queued, QLIMIT);
    pev_workers_stop(GROUP);
    unhold();
    ck_assert_int_eq(pev_workers_join(GROUP), APR_SUCCESS);
    ck_assert_no_worker_errors();
    qs = qstats(GROUP, 1);
    ck_assert_uint_eq(qs.queued, 0);
    ck_assert_uint_eq(qs.released, QLIMIT);
    ck_assert_uint_eq(qs.delivered, 0);
    ck_assert_uint_eq(qs.refused, 1);
    ck_assert_int_eq(atomic_load(&RECEIVED), 0);
    ck_assert_int_eq(atomic_load(&GOT_SH[1]), 0);
    for (i = 1; i < QLIMIT; i += 2)
        ck_assert_int_eq(atomic_load(&BLOCK_FREES[i]), 1);
    ck_assert_int_eq(atomic_load(&FREES), QLIMIT / 2);
}
END_TEST

/* The limit changes while the group runs; PEV_WORKERS_FORCE goes beyond
 * it (and counts); 0 takes the bound away. */
START_TEST(queue_limit_changes_and_force)
{
    pev_workers_sent_t sent;
    seqmsg_t m;
    long seq = 0;
    int i;

    q_reset(2);
    memset(&m, 0, sizeof m);
    m.sender = -1;
    ck_assert_int_eq(pev_workers_create(&GROUP, 2, init_q, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(GROUP), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_set_queue_limit(GROUP, 4), APR_SUCCESS);
    hold(GROUP, 1);
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(send_seq(GROUP, 1, ++seq), APR_SUCCESS);
    ck_assert_int_eq(send_seq(GROUP, 1, seq + 1), PEV_EFULL);
    m.seq = ++seq;
    ck_assert_int_eq(pev_workers_send_ex(&sent, GROUP, 1, "t.seq", &m, sizeof m, NULL,
                                         PEV_WORKERS_FORCE), APR_SUCCESS);
    ck_assert_int_eq(sent.queued, 1);
    ck_assert_uint_eq(qstats(GROUP, 1).queued, 5);
    ck_assert_uint_eq(qstats(GROUP, 1).peak, 5);
    ck_assert_int_eq(send_seq(GROUP, 1, seq + 1), PEV_EFULL);     /* 5 > 4 */
    ck_assert_int_eq(pev_workers_set_queue_limit(GROUP, 0), APR_SUCCESS);
    for (i = 0; i < 100; i++)
        ck_assert_int_eq(send_seq(GROUP, 1, ++seq), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_set_queue_limit(GROUP, 50), APR_SUCCESS);  /* below */
    ck_assert_int_eq(send_seq(GROUP, 1, seq + 1), PEV_EFULL);
    ck_assert_uint_eq(qstats(GROUP, 1).queued, 105);
    ck_assert_uint_eq(qstats(GROUP, 1).refused, 3);
    unhold();
    ck_assert_int_eq(wait_atleast(&RECEIVED, (int) seq), (int) seq);
    ck_assert_int_eq(send_seq(GROUP, 1, ++seq), APR_SUCCESS);     /* under 50 again */
    ck_assert_int_eq(wait_atleast(&RECEIVED, (int) seq), (int) seq);
    pev_workers_stop(GROUP);
    pev_workers_join(GROUP);
    ck_assert_no_worker_errors();
    ck_assert_int_eq(WS[1].got[0], seq);
    ck_assert_int_eq(WS[1].last[0], seq);
    ck_assert_uint_eq(qstats(GROUP, 1).delivered, (apr_uint64_t) seq);
}
END_TEST

/* A thread outside the group and worker 0 flood worker 1, whose limit
 * is small, while it runs: each sender's taken events arrive in the order
 * sent, all of them and nothing else; a worker never holds more than the
 * limit; refusals are counted exactly. Run under TSan in CI. */
#define CQ_LIMIT 16
static atomic_long CQ_OK[3], CQ_FULL[3];     /* [0]: the thread, [2]: worker 0 */
static long CQ_N;

static void cq_send(int who, int sender_index)
{
    long i;

    for (i = 1; i <= CQ_N; i++) {
        seqmsg_t m;
        apr_status_t st;

        memset(&m, 0, sizeof m);
        m.sender = sender_index;
        m.seq = i;
        st = pev_workers_send(GROUP, 1, "t.seq", &m, sizeof m);
        if (st == APR_SUCCESS)
            atomic_fetch_add(&CQ_OK[who], 1);
        else if (st == PEV_EFULL)
            atomic_fetch_add(&CQ_FULL[who], 1);
        else
            w_fail(__LINE__, "send: neither success nor PEV_EFULL");
        if (i % 64 == 0)
            sched_yield();
    }
    bump(&DONE);
}

static void *cq_thread(void *arg)
{
    cq_send((int) (intptr_t) arg, -1);
    return NULL;
}

static void on_cq_go(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    cq_send(2, 0);
}

static apr_status_t init_cq(pev_worker_t *w, void *ud)
{
    (void) ud;
    if (init_q(w, NULL) != APR_SUCCESS
        || pev_event_register(NULL, pev_worker_bus(w), NULL, "t.go", on_cq_go, NULL, NULL)
           != APR_SUCCESS)
        return APR_EGENERAL;
    return APR_SUCCESS;
}

START_TEST(queue_limit_concurrent_senders_order)
{
    pev_worker_queue_stats_t qs;
    pthread_t th;
    long ok, full;
    int i;

    CQ_N = pt_env_long("POOLEV_WORKERS_ITERS", 20000);
    q_reset(2);
    atomic_store(&DONE, 0);
    for (i = 0; i < 3; i++) {
        atomic_store(&CQ_OK[i], 0);
        atomic_store(&CQ_FULL[i], 0);
    }
    ck_assert_int_eq(pev_workers_create(&GROUP, 2, init_cq, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_set_queue_limit(GROUP, CQ_LIMIT), APR_SUCCESS);
    ck_assert_int_eq(pev_workers_start(GROUP), APR_SUCCESS);
    ck_assert_int_eq(pthread_create(&th, NULL, cq_thread, (void *) (intptr_t) 0), 0);
    ck_assert_int_eq(pev_workers_send(GROUP, 0, "t.go", NULL, 0), APR_SUCCESS);
    ck_assert_int_eq(wait_atleast(&DONE, 2), 2);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ok = atomic_load(&CQ_OK[0]) + atomic_load(&CQ_OK[2]);
    full = atomic_load(&CQ_FULL[0]) + atomic_load(&CQ_FULL[2]);
    ck_assert_int_eq(ok + full, 2 * CQ_N);
    ck_assert_int_eq(wait_atleast(&RECEIVED, (int) ok), (int) ok);
    pev_workers_stop(GROUP);
    pev_workers_join(GROUP);
    ck_assert_no_worker_errors();       /* on_seq: per sender, in order */
    ck_assert_int_eq(atomic_load(&RECEIVED), ok);
    ck_assert_int_eq(WS[1].got[0], atomic_load(&CQ_OK[0]));
    ck_assert_int_eq(WS[1].got[1], atomic_load(&CQ_OK[2]));
    qs = qstats(GROUP, 1);
    ck_assert_uint_le(qs.peak, CQ_LIMIT);
    ck_assert_uint_eq(qs.refused, (apr_uint64_t) full);
    ck_assert_uint_eq(qs.delivered, (apr_uint64_t) ok);
    ck_assert_uint_eq(qs.queued, 0);
    printf("concurrent senders, limit %d: %ld taken, %ld refused, peak %zu\n", CQ_LIMIT, ok,
           full, (size_t) qs.peak);
}
END_TEST

static Suite *workers_suite(void)
{
    Suite *s = suite_create("workers");
    TCase *tc = tcase_create("group");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hooks_run_on_each_worker_thread);
    tcase_add_test(tc, argument_errors);
    tcase_add_test(tc, failed_init_fails_start);
    tcase_add_test(tc, listeners_in_load_order);
    tcase_add_test(tc, order_two_workers);
    tcase_add_test(tc, order_every_worker_to_every_other);
    tcase_add_test(tc, order_from_outside);
    tcase_add_test(tc, payload_is_copied);
    tcase_add_test(tc, shared_create_copies);
    tcase_add_test(tc, shared_freed_once_after_last_worker);
    tcase_add_test(tc, stop_with_events_queued);
    tcase_add_test(tc, send_after_stop_fails);
    tcase_add_test(tc, sends_race_stop);
    tcase_add_test(tc, group_pool_destroyed_in_flight);
    tcase_add_test(tc, listener_pool_destroyed_in_flight);
    tcase_add_test(tc, signals_blocked_in_workers);
    tcase_add_test(tc, group_pool_destroyed_on_its_worker_aborts);
    tcase_add_test(tc, stress_pools_destroyed_on_both_sides);
    tcase_add_test(tc, queue_limit_refuses_beyond_it);
    tcase_add_test(tc, queue_limit_counts_the_running_event);
    tcase_add_test(tc, queue_limit_all_with_one_full);
    tcase_add_test(tc, queue_limit_shared_blocks);
    tcase_add_test(tc, queue_count_back_after_stop);
    tcase_add_test(tc, queue_limit_changes_and_force);
    tcase_add_test(tc, queue_limit_concurrent_senders_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    static const pt_mode_t modes[] = {
        { "--destroy-on-worker", destroy_on_worker_main },
        { NULL, NULL }
    };

    return pt_main(argc, argv, workers_suite, modes);
}
