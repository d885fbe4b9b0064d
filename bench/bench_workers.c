/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_workers.c - what does crossing workers cost (poolev/workers.h)?
 *
 * Two workers of one group:
 *  1. post round trip: a pev_loop_post() from worker 0 to worker 1's loop,
 *     whose call posts back; one in flight; median and p99 of the round
 *     trip (goal: median <= 2 us);
 *  2. event round trip: the same with pev_workers_send() (a copied 16-byte
 *     payload, generated on the receiving bus);
 *  3. one-way event latency: the sender's monotonic time in the payload,
 *     read by the receiver (one in flight);
 *  4. events per second: worker 0 sends a stream of events to worker 1
 *     (BATCH per iteration of its loop) as fast as it can; also a shared
 *     block sent to both workers; with the CPU per event (the process's
 *     CPU time over the stream: sender and receivers together);
 *  5. CPU-bound requests: REQS events, each costing its listener about
 *     20 us of arithmetic, sent round-robin from the main thread to a group
 *     of 1 worker and then of 2 (alternately, 3 times): requests per second
 *     and the ratio, with the process's CPU time (a ratio near 2 needs two
 *     idle cores).
 * Rows 1-4 run twice: with the workers' loops sleeping in the poll when idle
 * (the default), then with a spin before sleeping (pev_loop_set_spin(),
 * POOLEV_BENCH_SPIN microseconds, default 50; 0 skips the second pass).
 * Each latency row is RT round trips (POOLEV_BENCH_RT, default 20000) after
 * a warm-up; the machine's other load shows in the p99. Figures are
 * reported, never enforced.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <apr_general.h>
#include <apr_pools.h>

#include "poolev.h"
#include "benchutil.h"

#define WARM 1000
#define BATCH 256

static pev_workers_t *G;
static long RT = 20000;
static uint64_t *SAMPLES;
static long NSAMP;
static uint64_t T0;

static pthread_mutex_t MU = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t CV = PTHREAD_COND_INITIALIZER;
static int FINISHED;

static void finish(void)
{
    pthread_mutex_lock(&MU);
    FINISHED = 1;
    pthread_cond_broadcast(&CV);
    pthread_mutex_unlock(&MU);
}

static void wait_finished(void)
{
    pthread_mutex_lock(&MU);
    while (!FINISHED)
        pthread_cond_wait(&CV, &MU);
    FINISHED = 0;
    pthread_mutex_unlock(&MU);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

static void report(const char *what, const char *goal)
{
    qsort(SAMPLES, (size_t) NSAMP, sizeof *SAMPLES, cmp_u64);
    printf("  %-34s median %7.2f us   p99 %7.2f us   (%ld samples)%s\n", what,
           SAMPLES[NSAMP / 2] / 1e3, SAMPLES[NSAMP * 99 / 100] / 1e3, NSAMP, goal);
}

/* ---- 1. post round trip ----------------------------------------------- */

static void post_back(void *ud, int cancelled);

static void post_there(void *ud, int cancelled)
{
    (void) ud;
    if (!cancelled)
        CHECK(pev_loop_post(pev_worker_loop(pev_workers_worker(G, 0)), post_back, NULL));
}

static long ROUND;

static void post_start(void)
{
    T0 = bench_now_ns();
    CHECK(pev_loop_post(pev_worker_loop(pev_workers_worker(G, 1)), post_there, NULL));
}

static void post_back(void *ud, int cancelled)
{
    uint64_t now = bench_now_ns();

    (void) ud;
    if (cancelled)
        return;
    if (ROUND >= WARM)
        SAMPLES[NSAMP++] = now - T0;
    if (++ROUND == WARM + RT) {
        finish();
        return;
    }
    post_start();
}

static void post_kick(void *ud, int cancelled)
{
    (void) ud;
    if (!cancelled)
        post_start();
}

/* ---- 2, 3. events ----------------------------------------------------- */

typedef struct { uint64_t t; uint64_t n; } stamp_t;

static void ev_send(int to, const char *name)
{
    stamp_t s = { bench_now_ns(), 0 };

    CHECK(pev_workers_send(G, to, name, &s, sizeof s));
}

static void on_ping(const void *event_data, void *ud)
{
    (void) event_data;
    (void) ud;
    ev_send(0, "b.pong");
}

static void on_pong(const void *event_data, void *ud)
{
    uint64_t now = bench_now_ns();

    (void) event_data;
    (void) ud;
    if (ROUND >= WARM)
        SAMPLES[NSAMP++] = now - T0;
    if (++ROUND == WARM + RT) {
        finish();
        return;
    }
    T0 = bench_now_ns();
    ev_send(1, "b.ping");
}

static void on_oneway(const void *event_data, void *ud)
{
    const pev_worker_event_t *ev = event_data;
    stamp_t s;
    uint64_t now = bench_now_ns();

    (void) ud;
    memcpy(&s, ev->data, sizeof s);
    if (ROUND >= WARM)
        SAMPLES[NSAMP++] = now - s.t;
    if (++ROUND == WARM + RT) {
        finish();
        return;
    }
    ev_send(0, "b.oneway_ack");
}

static void on_oneway_ack(const void *event_data, void *ud)
{
    (void) event_data;
    (void) ud;
    ev_send(1, "b.oneway");
}

/* ---- 4. throughput ---------------------------------------------------- */

static long FLOOD_N = 1000000;
static atomic_long FLOOD_GOT;
static long FLOOD_SENT;
static int FLOOD_TARGETS;
static pev_shared_t *FLOOD_SH;

static void on_flood(const void *event_data, void *ud)
{
    (void) event_data;
    (void) ud;
    if (atomic_fetch_add_explicit(&FLOOD_GOT, 1, memory_order_relaxed) + 1
        == FLOOD_N * FLOOD_TARGETS)
        finish();
}

static void flood_step(pev_timer_t *t, void *ud)
{
    long i;

    (void) ud;
    for (i = 0; i < BATCH && FLOOD_SENT < FLOOD_N; i++, FLOOD_SENT++) {
        if (FLOOD_SH)
            CHECK(pev_workers_send_shared(G, PEV_WORKERS_ALL, "b.flood", FLOOD_SH));
        else
            CHECK(pev_workers_send(G, 1, "b.flood", &FLOOD_SENT, sizeof FLOOD_SENT));
    }
    if (FLOOD_SENT < FLOOD_N)
        pev_timer_rearm_in(t, 0);
}

static void flood_kick(void *ud, int cancelled)
{
    (void) ud;
    if (!cancelled)
        CHECK(pev_loop_defer(NULL, pev_worker_loop(pev_worker_self()), flood_step, NULL,
                             NULL));
}

static long SPIN_US = 50;       /* the second pass's spin */
static long SPIN_NOW;           /* the current pass's */

static apr_status_t init(pev_worker_t *w, void *ud)
{
    pev_bus_t *bus = pev_worker_bus(w);

    (void) ud;
    CHECK(pev_loop_set_spin(pev_worker_loop(w), SPIN_NOW));
    CHECK(pev_event_register(NULL, bus, NULL, "b.ping", on_ping, NULL, NULL));
    CHECK(pev_event_register(NULL, bus, NULL, "b.pong", on_pong, NULL, NULL));
    CHECK(pev_event_register(NULL, bus, NULL, "b.oneway", on_oneway, NULL, NULL));
    CHECK(pev_event_register(NULL, bus, NULL, "b.oneway_ack", on_oneway_ack, NULL, NULL));
    CHECK(pev_event_register(NULL, bus, NULL, "b.flood", on_flood, NULL, NULL));
    return APR_SUCCESS;
}

static void reset(void)
{
    ROUND = 0;
    NSAMP = 0;
}

static void ping_kick(void *ud, int cancelled)
{
    (void) ud;
    if (!cancelled) {
        T0 = bench_now_ns();
        ev_send(1, "b.ping");
    }
}

static void oneway_kick(void *ud, int cancelled)
{
    (void) ud;
    if (!cancelled)
        ev_send(1, "b.oneway");
}

static void on_worker0(pev_post_fn *fn)
{
    CHECK(pev_loop_post(pev_worker_loop(pev_workers_worker(G, 0)), fn, NULL));
}

/* The flood's rate, and its CPU per event: the process's CPU time over the
 * flood (the sender's and the receivers' threads; the main thread waits
 * without CPU), divided by the events delivered. */
static void flood(const char *what, int shared)
{
    uint64_t t0, ns;
    double c0, cpu;

    FLOOD_SENT = 0;
    atomic_store(&FLOOD_GOT, 0);
    FLOOD_TARGETS = shared ? 2 : 1;
    FLOOD_SH = NULL;
    if (shared)
        CHECK(pev_shared_create(&FLOOD_SH, "0123456789abcdef", 16));
    c0 = bench_self_cpu();
    t0 = bench_now_ns();
    on_worker0(flood_kick);
    wait_finished();
    ns = bench_now_ns() - t0;
    cpu = bench_self_cpu() - c0;
    pev_shared_release(FLOOD_SH);
    FLOOD_SH = NULL;
    printf("  %-34s %7.2f M events/s  (%ld events in %.1f ms, %.0f ns each, %.0f ns of CPU "
           "each)\n", what, FLOOD_N * FLOOD_TARGETS / (ns / 1e3), FLOOD_N * FLOOD_TARGETS,
           ns / 1e6, (double) ns / (double) (FLOOD_N * FLOOD_TARGETS),
           cpu * 1e9 / (double) (FLOOD_N * FLOOD_TARGETS));
}

static void run(apr_pool_t *pool, long spin_us);
static void cpu_bound(apr_pool_t *pool);

int main(void)
{
    apr_pool_t *pool;
    const char *e;

    CHECK(apr_initialize());
    CHECK(apr_pool_create(&pool, NULL));
    if ((e = getenv("POOLEV_BENCH_RT")) && atol(e) > 0)
        RT = atol(e);
    if ((e = getenv("POOLEV_BENCH_SPIN")) && atol(e) >= 0)
        SPIN_US = atol(e);
    SAMPLES = malloc(sizeof *SAMPLES * (size_t) RT);
    printf("poolev %s worker group benchmark: two workers (threads), %ld round trips\n",
           POOLEV_VERSION_STRING, RT);
    bench_print_machine();
    run(pool, 0);
    if (SPIN_US > 0)
        run(pool, SPIN_US);
    cpu_bound(pool);
    apr_pool_destroy(pool);
    free(SAMPLES);
    apr_terminate();
    return 0;
}

static void run(apr_pool_t *pool, long spin_us)
{
    SPIN_NOW = spin_us;
    if (spin_us)
        printf("with a %ld us spin before sleeping (pev_loop_set_spin)\n", spin_us);
    else
        printf("loops sleeping in the poll when idle (no spin)\n");
    CHECK(pev_workers_create(&G, 2, init, NULL, NULL, pool));
    CHECK(pev_workers_start(G));

    reset();
    on_worker0(post_kick);
    wait_finished();
    report("pev_loop_post round trip", "   goal <= 2 us median");
    reset();
    on_worker0(ping_kick);
    wait_finished();
    report("pev_workers_send round trip", "");
    reset();
    on_worker0(oneway_kick);
    wait_finished();
    report("pev_workers_send one way", "");
    flood("send 0 -> 1 (16-byte copy)", 0);
    flood("send_shared 0 -> all (2 workers)", 1);

    CHECK(pev_workers_stop(G));
    CHECK(pev_workers_join(G));
}

/* ---- 5. CPU-bound requests ------------------------------------------- */

#define REQS 20000
static uint64_t SPIN_ITERS;
static atomic_long REQ_DONE;
static volatile uint64_t SPIN_SINK;

static void on_req(const void *event_data, void *ud)
{
    (void) event_data;
    (void) ud;
    SPIN_SINK = bench_spin(0, SPIN_ITERS);
    if (atomic_fetch_add(&REQ_DONE, 1) + 1 == REQS)
        finish();
}

static apr_status_t init_req(pev_worker_t *w, void *ud)
{
    (void) ud;
    return pev_event_register(NULL, pev_worker_bus(w), NULL, "b.req", on_req, NULL, NULL);
}

/* Requests per second with @a n workers; *cpu: the process's CPU seconds
 * per wall second. */
static double cpu_run(apr_pool_t *parent, int n, double *cpu)
{
    apr_pool_t *p = new_pool(parent);
    pev_workers_t *g;
    uint64_t t0, ns;
    double c0;
    int i;

    CHECK(pev_workers_create(&g, n, init_req, NULL, NULL, p));
    CHECK(pev_workers_start(g));
    atomic_store(&REQ_DONE, 0);
    c0 = bench_self_cpu();
    t0 = bench_now_ns();
    for (i = 0; i < REQS; i++)
        CHECK(pev_workers_send(g, i % n, "b.req", &i, sizeof i));
    wait_finished();
    ns = bench_now_ns() - t0;
    *cpu = (bench_self_cpu() - c0) / (ns / 1e9);
    apr_pool_destroy(p);            /* stops and joins */
    return REQS / (ns / 1e9);
}

static void cpu_bound(apr_pool_t *pool)
{
    uint64_t t0;
    int r;

    SPIN_ITERS = bench_spin_calibrate(20000);     /* about 20 us per request */
    t0 = bench_now_ns();
    SPIN_SINK = bench_spin(0, SPIN_ITERS);
    printf("\nCPU-bound requests: %d events of %.1f us of work each, round-robin from "
           "the main thread\n", REQS, (bench_now_ns() - t0) / 1e3);
    for (r = 0; r < 3; r++) {
        double c1, c2, one = cpu_run(pool, 1, &c1), two = cpu_run(pool, 2, &c2);

        printf("  run %d: 1 worker %6.0f req/s (CPU %.2f, %6.0f per CPU-s)   2 workers %6.0f "
               "req/s (CPU %.2f, %6.0f per CPU-s)   ratio %.2f x (goal >= 1.7 x)\n", r + 1,
               one, c1, one / c1, two, c2, two / c2, two / one);
    }
}
