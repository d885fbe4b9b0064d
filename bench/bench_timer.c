/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_timer.c - how fast are poolev's timers, and how do they compare with
 * libev's and libevent's?
 *
 * For n = 1,000 / 10,000 / 100,000 / 1,000,000 timers, four rows, every
 * side on the real monotonic clock:
 *
 *   add     ns per timer added, filling an empty loop with n timers whose
 *           marks are the loop's time plus offsets uniform over SPAN_US
 *           (10 s). poolev: pev_timer_add() from a dedicated lifetime pool,
 *           cleared between rounds outside the timed section (the record's
 *           allocation is timed). libev: ev_timer_init() + ev_timer_start()
 *           on watchers of an array the benchmark owns (libev allocates no
 *           watcher). libevent: event_new() + evtimer_add() inside a loop
 *           callback (its cached time). Each heap array grows inside the
 *           timed section from what it kept after the previous round:
 *           libev's and libevent's never shrink, poolev's keeps up to 4,096
 *           entries and gives larger arrays back as they empty.
 *   cancel  ns per cancel of those n armed timers in a random order (one
 *           permutation for every side): pev_timer_cancel(), ev_timer_stop(),
 *           event_del(). poolev's cancel is lazy: the heap entries it
 *           leaves are dropped by its sweeps, which run inside the timed
 *           cancels (the last cancel of a round sweeps what is left), so
 *           the row counts all of poolev's removal work, as it does
 *           libev's and libevent's; nothing is left to the untimed clear of
 *           the lifetime pool.
 *   fire    ns per timer fired: the n timers are armed (untimed) over a
 *           window of max(2 ms, n us), the benchmark sleeps past it
 *           (untimed), then only the non-blocking loop iterations that fire
 *           them all are timed (normally one). The callback counts.
 *   mix     the idle-timeout pattern, ns per operation: with n timers armed,
 *           MIX_OPS operations on random timers in batches of MIX_BATCH, one
 *           non-blocking loop iteration after each batch (timed too). Per
 *           operation: 60% re-armed to now + 10 s (pev_timer_rearm_in,
 *           ev_timer_again, evtimer_add of the pending event); 30% cancelled
 *           and added again at now + 10 s (poolev: pev_timer_cancel,
 *           pev_timer_release of the handle and pev_timer_add, which takes
 *           the released record instead of allocating one; libev and
 *           libevent: stop or del, then start or add of the same watcher);
 *           10% made due
 *           (re-armed to now), fired by the next iteration, whose callback
 *           re-arms the timer to now + 10 s. The same operation sequence on
 *           every side. libevent runs each batch inside a loop callback (its
 *           cached time) and fires its due timers in one more iteration
 *           after it; poolev and libev run one iteration after each batch
 *           and one more at the end.
 *
 * Small n repeats add+cancel (fire) until a run has timed at least AC_OPS
 * (FIRE_OPS) operations. A run gives the sides turns (side_ops_t): one
 * add+cancel round, one fire round or MIX_TURN operations of the mix per
 * side, in six orders in turn (turn_order[]: each side comes after each
 * other side equally often, never after itself). At 1,000 timers a side's
 * turn on the add lasts about 10 us, so the three sides' figures for a row
 * are taken within the same milliseconds, and a change of the machine's
 * speed (on 2 shared cores it changes by half within a second) hits them
 * alike.
 * Each figure is the median of R runs (POOLEV_BENCH_RUNS, default 7) after
 * one warm-up run; each ratio is the median of the R runs' own ratios, each
 * taken between figures of one run. POOLEV_BENCH_SIZES (a comma-separated
 * list of timer counts) limits the sizes measured, POOLEV_BENCH_SIDES (a
 * comma-separated list of poolev, libev, libevent) the sides, and
 * POOLEV_BENCH_CLOCK=cpu times with the thread's CPU time instead of
 * CLOCK_MONOTONIC (on a shared machine it leaves out the waits for a core;
 * the loops' own clocks stay the real monotonic clock).
 *
 * glibc's heap trimming is turned off so that freed memory stays mapped
 * between runs, as APR's allocator keeps its blocks: no side pays first-touch
 * page faults after the warm-up.
 *
 * Targets (from the issue): poolev / libev <= 1.0 and poolev / libevent
 * <= 0.5 on every row. They are reported, never enforced: the exit status is
 * 0 either way.
 */
#include "config.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <apr_general.h>
#include <apr_pools.h>

#include "poolev.h"
#include "benchutil.h"
#include "bench_timer.h"

#ifdef HAVE_LIBEVENT
#include <event2/event.h>
#endif

#define DEFAULT_RUNS 7

int bt_cpu_clock;

static const char *const side_name[SIDES] = { "poolev", "libev", "libevent" };

/* Rounds needed for at least @a ops operations of @a n each. */
static unsigned rounds_for(uint32_t ops, uint32_t n)
{
    return (unsigned) ((ops + n - 1) / n);
}

/* Build the workload for @a n timers in @a pool. */
static void workload_init(workload_t *w, apr_pool_t *pool, uint32_t n, const char *label)
{
    uint32_t rng = MARK_SEED, i;

    w->n = n;
    w->label = label;
    w->offset = apr_palloc(pool, n * sizeof *w->offset);
    w->order = apr_palloc(pool, n * sizeof *w->order);
    w->mix_k = apr_palloc(pool, MIX_OPS * sizeof *w->mix_k);
    w->mix_kind = apr_palloc(pool, MIX_OPS);
    expect(w->offset && w->order && w->mix_k && w->mix_kind, "workload arrays allocated");
    for (i = 0; i < n; i++)
        w->offset[i] = bench_rand_below(&rng, SPAN_US);
    bench_shuffle_u32(w->order, n, ORDER_SEED);
    rng = MIX_SEED;
    for (i = 0; i < MIX_OPS; i++) {
        uint32_t r = bench_rand_below(&rng, 10);

        w->mix_k[i] = bench_rand_below(&rng, n);
        w->mix_kind[i] = r < 6 ? MIX_REARM : r < 9 ? MIX_READD : MIX_FIRE;
    }
    w->fire_window_us = n > FIRE_MIN_WINDOW_US ? n : FIRE_MIN_WINDOW_US;
    w->reps_ac = rounds_for(AC_OPS, n);
    w->reps_fire = rounds_for(FIRE_OPS, n);
}

/* ------------------------------------------------------------------------ */
/* poolev                                                                    */

typedef struct pev_side {
    const workload_t *w;
    apr_pool_t *lpool;          /* the loop's pool, the side's memory */
    pev_loop_t *loop;
    apr_pool_t *life;           /* lifetime pool of every timer (a subpool) */
    uint64_t fired;
    pev_timer_t **h;            /* the n handles */
} pev_side_t;

/* The pool the poolev side's pools hang from (set by main()). */
static apr_pool_t *pev_root;

/* Timer callback: count one firing. */
static void pev_count(pev_timer_t *timer, void *user_data)
{
    (void) timer;
    ((pev_side_t *) user_data)->fired++;
}

/* Mix callback: count, and re-arm to the idle timeout. */
static void pev_idle(pev_timer_t *timer, void *user_data)
{
    ((pev_side_t *) user_data)->fired++;
    CHECK(pev_timer_rearm_in(timer, IDLE_US));
}

/* Number of armed timers of @a loop. */
static apr_size_t pev_armed(const pev_loop_t *loop)
{
    pev_loop_stats_t s;

    CHECK(pev_loop_stats(loop, &s));
    return s.timers_armed;
}

static void *pev_open(const workload_t *w)
{
    apr_pool_t *lpool = new_pool(pev_root);
    pev_side_t *s = apr_pcalloc(lpool, sizeof *s);

    expect(s != NULL, "poolev: side allocated");
    s->w = w;
    s->lpool = lpool;
    s->life = new_pool(lpool);
    s->h = apr_palloc(lpool, w->n * sizeof *s->h);
    expect(s->h != NULL, "handle array allocated");
    CHECK(pev_loop_create(&s->loop, lpool));
    return s;
}

/* One round: n adds, then the n cancels in random order; the lifetime pool
 * is cleared after them (untimed). */
static void pev_add_cancel(void *side, uint64_t *add_ns, uint64_t *cancel_ns)
{
    pev_side_t *s = side;
    const workload_t *w = s->w;
    apr_time_t now;
    uint64_t t0, t1;
    uint32_t i;

    CHECK(pev_loop_run_once(s->loop, 0));       /* the loop's time: now */
    now = pev_loop_now(s->loop);
    bench_barrier();
    t0 = bt_now_ns();
    for (i = 0; i < w->n; i++)
        CHECK(pev_timer_add(&s->h[i], s->loop, now + w->offset[i], pev_count, s,
                            s->life));
    t1 = bt_now_ns();
    bench_barrier();
    *add_ns += t1 - t0;
    expect(pev_armed(s->loop) == w->n, "poolev: n timers armed");

    bench_barrier();
    t0 = bt_now_ns();
    for (i = 0; i < w->n; i++)
        CHECK(pev_timer_cancel(s->h[w->order[i]]));
    t1 = bt_now_ns();
    bench_barrier();
    *cancel_ns += t1 - t0;
    expect(pev_armed(s->loop) == 0, "poolev: every timer cancelled");
    apr_pool_clear(s->life);
}

/* One non-blocking iteration (bt_fire_iterations()). */
static void pev_iterate(void *side)
{
    CHECK(pev_loop_run_once(((pev_side_t *) side)->loop, 0));
}

/* One round: arm within the window, sleep past it, time the iterations. */
static uint64_t pev_fire(void *side)
{
    pev_side_t *s = side;
    const workload_t *w = s->w;
    apr_time_t now;
    uint64_t ns;
    uint32_t i;

    CHECK(pev_loop_run_once(s->loop, 0));
    now = pev_loop_now(s->loop);
    for (i = 0; i < w->n; i++)
        CHECK(pev_timer_add(&s->h[i], s->loop, now + fire_offset(w, i), pev_count, s,
                            s->life));
    s->fired = 0;
    bench_sleep_ns((uint64_t) w->fire_window_us * 1000 + FIRE_SLACK_NS);
    ns = bt_fire_iterations(pev_iterate, s, &s->fired, w->n, "poolev");
    expect(pev_armed(s->loop) == 0, "poolev: nothing armed after firing");
    apr_pool_clear(s->life);
    return ns;
}

/* The mix's n idle timers. */
static void pev_mix_begin(void *side)
{
    pev_side_t *s = side;
    const workload_t *w = s->w;
    uint32_t i;

    CHECK(pev_loop_run_once(s->loop, 0));
    for (i = 0; i < w->n; i++)
        CHECK(pev_timer_add(&s->h[i], s->loop, pev_loop_now(s->loop) + w->offset[i],
                            pev_idle, s, s->life));
    s->fired = 0;
}

/* The mix's operations [from, to). */
static uint64_t pev_mix(void *side, uint32_t from, uint32_t to)
{
    pev_side_t *s = side;
    const workload_t *w = s->w;
    uint64_t t0, t1;
    uint32_t i;

    bench_barrier();
    t0 = bt_now_ns();
    for (i = from; i < to; i++) {
        pev_timer_t **h = &s->h[w->mix_k[i]];

        switch (w->mix_kind[i]) {
        case MIX_REARM:
            CHECK(pev_timer_rearm_in(*h, IDLE_US));
            break;
        case MIX_READD:         /* the old record goes back to the pool's
                                 * timers and the add takes it */
            CHECK(pev_timer_cancel(*h));
            CHECK(pev_timer_release(*h));
            CHECK(pev_timer_add_in(h, s->loop, IDLE_US, pev_idle, s, s->life));
            break;
        default:
            CHECK(pev_timer_rearm_in(*h, 0));
            break;
        }
        if ((i + 1) % MIX_BATCH == 0)
            CHECK(pev_loop_run_once(s->loop, 0));
    }
    if (to == MIX_OPS)
        CHECK(pev_loop_run_once(s->loop, 0));
    t1 = bt_now_ns();
    bench_barrier();
    return t1 - t0;
}

static void pev_close(void *side)
{
    pev_side_t *s = side;

    expect(pev_armed(s->loop) == s->w->n && s->fired >= MIX_OPS / 20,
           "poolev: the mix keeps n armed and fires the due ones");
    apr_pool_destroy(s->lpool); /* the lifetime pool (a subpool) goes first */
}

static const side_ops_t pev_side = {
    pev_open, pev_add_cancel, pev_fire, pev_mix_begin, pev_mix, pev_close
};

/* ------------------------------------------------------------------------ */
/* libevent                                                                  */

#ifdef HAVE_LIBEVENT

typedef struct lev_side lev_side_t;

/* A piece of work run inside the base's loop (see lev_in_loop()). */
typedef void lev_job_fn(lev_side_t *s);

struct lev_side {
    struct event_base *base;
    const workload_t *w;
    int base_events;            /* events the base counts when it is idle */
    uint64_t fired;
    uint64_t timed_ns;          /* what the last job timed */
    uint32_t mix_pos;           /* the mix's next operation */
    struct event **ev;          /* the n handles */
    lev_job_fn *job;            /* the job lev_in_loop() runs */
    int job_ran;
};

static const struct timeval lev_idle_tv = { IDLE_US / 1000000u, IDLE_US % 1000000u };
static const struct timeval lev_zero_tv = { 0, 0 };

/* Timer callback: count one firing. */
static void lev_count(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    ((lev_side_t *) arg)->fired++;
}

/* Mix callback: count, and re-arm to the idle timeout. */
static void lev_idle(evutil_socket_t fd, short what, void *arg);

/* A new timer event calling @a fn, armed @a off_us microseconds from the
 * base's time. */
static inline struct event *lev_arm(lev_side_t *s, uint32_t off_us,
                                    event_callback_fn fn)
{
    struct timeval tv;
    struct event *ev = evtimer_new(s->base, fn, s);

    LCHECK(ev != NULL, "evtimer_new");
    tv.tv_sec = (time_t) (off_us / 1000000u);
    tv.tv_usec = (suseconds_t) (off_us % 1000000u);
    LCHECK(evtimer_add(ev, &tv) == 0, "evtimer_add");
    return ev;
}

/* Events the base counts as added (pending). */
static int lev_added(const lev_side_t *s)
{
    return event_base_get_num_events(s->base, EVENT_BASE_COUNT_ADDED);
}

/* Free the first @a count events of @a v (event_free deletes pending ones). */
static void lev_free_all(struct event **v, uint32_t count)
{
    uint32_t i;

    for (i = 0; i < count; i++)
        event_free(v[i]);
}

/* Callback of the job event: run the side's job. */
static void lev_job_trampoline(evutil_socket_t fd, short what, void *arg)
{
    lev_side_t *s = arg;

    (void) fd;
    (void) what;
    s->job(s);
    s->job_ran = 1;
}

/* Run @a job inside one iteration of the base's loop, as an active event:
 * there libevent adds timeouts to its cached time, reading no clock. */
static void lev_in_loop(lev_side_t *s, lev_job_fn *job)
{
    struct event *ev = event_new(s->base, -1, 0, lev_job_trampoline, s);

    LCHECK(ev != NULL, "event_new");
    s->job = job;
    s->job_ran = 0;
    event_active(ev, EV_TIMEOUT, 0);
    LCHECK(event_base_loop(s->base, EVLOOP_ONCE | EVLOOP_NONBLOCK) == 0,
           "event_base_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK)");
    expect(s->job_ran, "libevent: the job ran");
    event_free(ev);
}

static void lev_idle(evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    ((lev_side_t *) arg)->fired++;
    /* the event is the one whose callback this is: find it through the
     * base's current event */
    LCHECK(evtimer_add(event_base_get_running_event(((lev_side_t *) arg)->base),
                       &lev_idle_tv) == 0, "evtimer_add");
}

/* Job: time arming the n timers (event_new + evtimer_add). */
static void job_add(lev_side_t *s)
{
    const workload_t *w = s->w;
    uint64_t t0, t1;
    uint32_t i;

    bench_barrier();
    t0 = bt_now_ns();
    for (i = 0; i < w->n; i++)
        s->ev[i] = lev_arm(s, w->offset[i], lev_count);
    t1 = bt_now_ns();
    bench_barrier();
    s->timed_ns = t1 - t0;
}

/* Job: arm the n timers within the firing window (untimed). */
static void job_arm_fire(lev_side_t *s)
{
    const workload_t *w = s->w;
    uint32_t i;

    for (i = 0; i < w->n; i++)
        s->ev[i] = lev_arm(s, fire_offset(w, i), lev_count);
}

/* Job: arm the n idle timers (untimed). */
static void job_arm_idle(lev_side_t *s)
{
    const workload_t *w = s->w;
    uint32_t i;

    for (i = 0; i < w->n; i++)
        s->ev[i] = lev_arm(s, w->offset[i], lev_idle);
}

/* Job: one batch of the mix. */
static void job_mix_batch(lev_side_t *s)
{
    const workload_t *w = s->w;
    uint32_t i, end = s->mix_pos + MIX_BATCH;

    for (i = s->mix_pos; i < end; i++) {
        struct event *ev = s->ev[w->mix_k[i]];

        switch (w->mix_kind[i]) {
        case MIX_REARM:
            LCHECK(evtimer_add(ev, &lev_idle_tv) == 0, "evtimer_add");
            break;
        case MIX_READD:
            LCHECK(event_del(ev) == 0, "event_del");
            LCHECK(evtimer_add(ev, &lev_idle_tv) == 0, "evtimer_add");
            break;
        default:
            LCHECK(evtimer_add(ev, &lev_zero_tv) == 0, "evtimer_add");
            break;
        }
    }
    s->mix_pos = end;
}

/* Print libevent's version and the backend a base uses. */
static void lev_describe(void)
{
    struct event_base *base = lev_new_base();

    printf("libevent: %s, backend %s, EVENT_BASE_FLAG_NOLOCK\n", event_get_version(),
           event_base_get_method(base));
    bench_tsv_info("libevent", "version", event_get_version());
    event_base_free(base);
}

static void *lev_open(const workload_t *w)
{
    lev_side_t *s = calloc(1, sizeof *s);

    expect(s != NULL, "libevent: side allocated");
    s->base = lev_new_base();
    s->w = w;
    s->base_events = lev_added(s);
    s->ev = malloc(w->n * sizeof *s->ev);
    expect(s->ev != NULL, "libevent: handle array allocated");
    return s;
}

/* One round: n adds (in the loop), then the n cancels in random order; the
 * events are freed after them (untimed). */
static void lev_add_cancel(void *side, uint64_t *add_ns, uint64_t *cancel_ns)
{
    lev_side_t *s = side;
    const workload_t *w = s->w;
    uint64_t t0, t1;
    uint32_t i;

    lev_in_loop(s, job_add);
    *add_ns += s->timed_ns;
    expect(lev_added(s) == s->base_events + (int) w->n, "libevent: n timers added");

    bench_barrier();
    t0 = bt_now_ns();
    for (i = 0; i < w->n; i++)
        LCHECK(event_del(s->ev[w->order[i]]) == 0, "event_del");
    t1 = bt_now_ns();
    bench_barrier();
    *cancel_ns += t1 - t0;
    expect(lev_added(s) == s->base_events, "libevent: every timer cancelled");
    lev_free_all(s->ev, w->n);
}

/* One non-blocking dispatch (bt_fire_iterations()). */
static void lev_iterate(void *side)
{
    LCHECK(event_base_loop(((lev_side_t *) side)->base, EVLOOP_NONBLOCK) >= 0,
           "event_base_loop(EVLOOP_NONBLOCK)");
}

/* One round: arm within the window, sleep past it, time the dispatch. */
static uint64_t lev_fire(void *side)
{
    lev_side_t *s = side;
    const workload_t *w = s->w;
    uint64_t ns;

    lev_in_loop(s, job_arm_fire);
    s->fired = 0;
    bench_sleep_ns((uint64_t) w->fire_window_us * 1000 + FIRE_SLACK_NS);
    ns = bt_fire_iterations(lev_iterate, s, &s->fired, w->n, "libevent");
    expect(lev_added(s) == s->base_events, "libevent: nothing pending after firing");
    lev_free_all(s->ev, w->n);
    return ns;
}

/* The mix's n idle timers. */
static void lev_mix_begin(void *side)
{
    lev_side_t *s = side;

    lev_in_loop(s, job_arm_idle);
    s->fired = 0;
    s->mix_pos = 0;
}

/* The mix's operations [from, to): one batch per iteration, in a callback
 * (cached time). */
static uint64_t lev_mix(void *side, uint32_t from, uint32_t to)
{
    lev_side_t *s = side;
    uint64_t t0, t1;

    expect(s->mix_pos == from, "libevent: the mix goes on where it stopped");
    bench_barrier();
    t0 = bt_now_ns();
    while (s->mix_pos < to) {
        lev_in_loop(s, job_mix_batch);
        /* fire the due ones here: in the next batch's iteration the job,
         * activated first, would run before them (and could cancel them) */
        LCHECK(event_base_loop(s->base, EVLOOP_NONBLOCK) >= 0, "event_base_loop");
    }
    t1 = bt_now_ns();
    bench_barrier();
    return t1 - t0;
}

static void lev_close(void *side)
{
    lev_side_t *s = side;

    expect(lev_added(s) == s->base_events + (int) s->w->n && s->fired >= MIX_OPS / 20,
           "libevent: the mix keeps n pending and fires the due ones");
    lev_free_all(s->ev, s->w->n);
    free(s->ev);
    event_base_free(s->base);
    free(s);
}

static const side_ops_t lev_side = {
    lev_open, lev_add_cancel, lev_fire, lev_mix_begin, lev_mix, lev_close
};

#endif /* HAVE_LIBEVENT */

/* ------------------------------------------------------------------------ */
/* Runs, medians and the table                                               */

/* Whether side @a side was built in (and POOLEV_BENCH_SIDES, a list of side
 * names, names it, when set). */
static int side_present(int side)
{
    const char *want = getenv("POOLEV_BENCH_SIDES");

    if (want && *want) {
        const char *p = strstr(want, side_name[side]);
        size_t len = strlen(side_name[side]);

        /* "libev" must not match inside "libevent" */
        while (p && ((p != want && p[-1] != ',') || (p[len] && p[len] != ',')))
            p = strstr(p + 1, side_name[side]);
        if (!p)
            return 0;
    }
    switch (side) {
    case SIDE_POOLEV:
        return 1;
    case SIDE_LIBEV:
#ifdef HAVE_LIBEV
        return 1;
#else
        return 0;
#endif
    default:
#ifdef HAVE_LIBEVENT
        return 1;
#else
        return 0;
#endif
    }
}

/* The steps of side @a side, or NULL when it is not measured. */
static const side_ops_t *side_ops(int side)
{
    if (!side_present(side))
        return NULL;
    switch (side) {
    case SIDE_POOLEV:
        return &pev_side;
#ifdef HAVE_LIBEV
    case SIDE_LIBEV:
        return &bench_ev_side;
#endif
#ifdef HAVE_LIBEVENT
    case SIDE_LIBEVENT:
        return &lev_side;
#endif
    default:
        return NULL;
    }
}

/* The sides' orders, turn after turn: all six, in a cycle where each side
 * follows each other side three times and never itself, so that over the
 * cycle every side finds the cache as each other side left it equally
 * often (at 100,000 timers the sides' records and arrays fill much of the
 * shared last-level cache, and a side that always came after the same one
 * would be measured on its leftovers). */
static const unsigned char turn_order[6][SIDES] = {
    { 0, 1, 2 }, { 0, 2, 1 }, { 2, 1, 0 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }
};

/* Run @a run of workload @a w: every side measured, turn by turn (see
 * side_ops_t), each phase's turns walking turn_order[] from run to run;
 * each side's figures into @a r[side]. */
static void run_sides(const workload_t *w, unsigned run, result_t *r)
{
    const side_ops_t *ops[SIDES];
    void *st[SIDES];
    uint64_t add[SIDES] = { 0 }, cancel[SIDES] = { 0 }, fire[SIDES] = { 0 },
        mix[SIDES] = { 0 };
    const unsigned mix_turns = MIX_OPS / MIX_TURN;
    unsigned rep;
    uint32_t from;
    int side, j;

    for (side = 0; side < SIDES; side++) {
        ops[side] = side_ops(side);
        st[side] = ops[side] ? ops[side]->open(w) : NULL;
    }
    /* one turn of every side, in the order for the phase's turn @a k */
#define TURN(k, step)                                           \
    do {                                                        \
        const unsigned char *order_ = turn_order[(k) % 6];      \
        for (j = 0; j < SIDES; j++) {                           \
            side = order_[j];                                   \
            if (ops[side])                                      \
                step;                                           \
        }                                                       \
    } while (0)
    for (rep = 0; rep < w->reps_ac; rep++)
        TURN(run * w->reps_ac + rep,
             ops[side]->add_cancel(st[side], &add[side], &cancel[side]));
    for (rep = 0; rep < w->reps_fire; rep++)
        TURN(run * w->reps_fire + rep, fire[side] += ops[side]->fire(st[side]));
    TURN(0, ops[side]->mix_begin(st[side]));
    for (rep = 0, from = 0; from < MIX_OPS; rep++, from += MIX_TURN)
        TURN(run * mix_turns + rep,
             mix[side] += ops[side]->mix(st[side], from, from + MIX_TURN));
#undef TURN
    for (side = 0; side < SIDES; side++) {
        if (!ops[side])
            continue;
        ops[side]->close(st[side]);
        r[side].add = (double) add[side] / ((double) w->reps_ac * w->n);
        r[side].cancel = (double) cancel[side] / ((double) w->reps_ac * w->n);
        r[side].fire = (double) fire[side] / ((double) w->reps_fire * w->n);
        r[side].mix = (double) mix[side] / MIX_OPS;
    }
}

/* The field at byte offset @a off of a result. */
static double field_of(const result_t *r, size_t off)
{
    double x;

    memcpy(&x, (const char *) r + off, sizeof x);
    return x;
}

/* The median over @a runs runs of the field at @a off of side @a side. */
static double median_field(result_t v[][SIDES], int runs, int side, size_t off)
{
    double x[BENCH_MAX_RUNS];
    int i;

    for (i = 0; i < runs; i++)
        x[i] = field_of(&v[i][side], off);
    return bench_median_of(x, runs);
}

/* The median over @a runs runs of each run's ratio poolev / @a peer of the
 * field at @a off: the sides of a ratio measured in the same run, turn by
 * turn, so a change in the machine's speed between runs cancels out. */
static double median_ratio(result_t v[][SIDES], int runs, int peer, size_t off)
{
    double x[BENCH_MAX_RUNS];
    int i;

    for (i = 0; i < runs; i++)
        x[i] = field_of(&v[i][SIDE_POOLEV], off) / field_of(&v[i][peer], off);
    return bench_median_of(x, runs);
}

/* One table block: measurement @a what (at byte offset @a off of a result)
 * of every side present, then the ratios poolev / libev (target <= 1.0) and
 * poolev / libevent (<= 0.5). */
static void print_rows(bench_table_t *t, const workload_t *w, const char *what,
                       size_t off, result_t v[][SIDES], int runs)
{
    static const double goal[SIDES] = { 0, 1.0, 0.5 };
    char name[BENCH_NAME_WIDTH + 1];
    int side;

    for (side = 0; side < SIDES; side++) {
        double m;

        if (!side_present(side))
            continue;
        m = median_field(v, runs, side, off);
        if (side == SIDE_POOLEV)
            snprintf(name, sizeof name, "%s, %s timers: poolev", what, w->label);
        else
            snprintf(name, sizeof name, "  %s: %s", what, side_name[side]);
        bench_table_row(t, name, m, "ns", BENCH_INFO, 0);
        bench_tsv_row_n(what, w->n, side_name[side], "time", m, "ns/op");
    }
    for (side = SIDE_LIBEV; side < SIDES; side++) {
        double q;

        if (!side_present(side))
            continue;
        q = median_ratio(v, runs, side, off);
        snprintf(name, sizeof name, "  %s: ratio poolev / %s", what, side_name[side]);
        bench_table_row(t, name, q, "x", BENCH_AT_MOST, goal[side]);
        bench_tsv_row_n(what, w->n, side_name[side], "ratio", q, "x");
    }
}

/* Measure workload @a w (@a runs runs after a warm-up) and print its rows. */
static void bench_size(const workload_t *w, int runs, bench_table_t *t)
{
    static result_t v[BENCH_MAX_RUNS][SIDES];
    char title[80];
    int r;

    run_sides(w, 0, v[0]);      /* warm-up */
    for (r = 0; r < runs; r++)
        run_sides(w, (unsigned) r, v[r]);

    snprintf(title, sizeof title, "%s timers, marks uniform over %u s", w->label,
             SPAN_US / 1000000u);
    bench_table_section(title);
    print_rows(t, w, "add", offsetof(result_t, add), v, runs);
    print_rows(t, w, "cancel", offsetof(result_t, cancel), v, runs);
    print_rows(t, w, "fire", offsetof(result_t, fire), v, runs);
    print_rows(t, w, "mix", offsetof(result_t, mix), v, runs);
}

/* Whether @a n is among the sizes POOLEV_BENCH_SIZES lists (all if unset). */
static int size_wanted(uint32_t n)
{
    const char *s = getenv("POOLEV_BENCH_SIZES");

    if (!s || !*s)
        return 1;
    while (*s) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);

        if (end == s) {
            fprintf(stderr, "bench_timer: POOLEV_BENCH_SIZES=%s: not a list of numbers\n",
                    getenv("POOLEV_BENCH_SIZES"));
            exit(2);
        }
        if (v == n)
            return 1;
        s = *end == ',' ? end + 1 : end;
    }
    return 0;
}

/* Run every size and print the table; exit status 0 whatever the verdicts. */
int main(void)
{
    static const struct {
        uint32_t n;
        const char *label;
    } sizes[] = { { 1000, "1,000" }, { 10000, "10,000" }, { 100000, "100,000" },
                  { 1000000, "1,000,000" } };
    apr_pool_t *root;
    bench_table_t t;
    uint64_t start = bench_now_ns();
    size_t i;
    int runs;

    CHECK(apr_initialize());
    atexit(apr_terminate);
    CHECK(apr_pool_create(&root, NULL));
    pev_root = root;
    runs = bench_runs_from_env("POOLEV_BENCH_RUNS", DEFAULT_RUNS);
    {
        const char *c = getenv("POOLEV_BENCH_CLOCK");

        bt_cpu_clock = c && strcmp(c, "cpu") == 0;
    }
#ifdef __GLIBC__
    /* keep freed memory mapped (APR's allocator keeps its blocks too) */
    if (!mallopt(M_TRIM_THRESHOLD, 1 << 30) || !mallopt(M_MMAP_THRESHOLD, 32 << 20))
        fprintf(stderr, "bench_timer: mallopt failed; page faults may add noise\n");
#endif

    printf("poolev %s timer benchmark\n", POOLEV_VERSION_STRING);
    bench_tsv_begin("timer", runs);
    bench_tsv_info("-", "clock", bt_cpu_clock ? "thread CPU time" : "CLOCK_MONOTONIC");
    bench_print_machine();
#ifdef HAVE_LIBEV
    bench_ev_describe();
    bench_tsv_info("libev", "version", bench_ev_version());
#else
    printf("libev: comparison skipped (built without libev)\n");
#endif
#ifdef HAVE_LIBEVENT
    lev_describe();
#else
    printf("libevent: comparison skipped (built without libevent >= 2.1)\n");
#endif
    printf("figures are medians of %d runs (POOLEV_BENCH_RUNS), after a warm-up run,\n"
           "the sides taking turns round by round in six orders; ratios are\n"
           "medians of each run's ratio; ns per operation; real monotonic clock\n"
           "on every side; timed with %s\n\n", runs,
           bt_cpu_clock ? "the thread's CPU time (POOLEV_BENCH_CLOCK=cpu)"
                        : "CLOCK_MONOTONIC (POOLEV_BENCH_CLOCK=cpu: the thread's CPU time)");

    bench_table_header(&t);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        apr_pool_t *wpool;
        workload_t w;

        if (!size_wanted(sizes[i].n))
            continue;
        wpool = new_pool(root);
        workload_init(&w, wpool, sizes[i].n, sizes[i].label);
#ifdef HAVE_LIBEV
        bench_ev_watchers(w.n);
#endif
        bench_size(&w, runs, &t);
#ifdef HAVE_LIBEV
        bench_ev_watchers(0);
#endif
        apr_pool_destroy(wpool);
    }

    printf("\nadd: n adds into an empty loop (the heap grows from 0 to n); cancel: the n\n"
           "in random order; fire: n due timers, ns per timer fired (only the\n"
           "iterations that fire them are timed); mix: %u%% re-armed to now + 10 s,\n"
           "30%% cancelled and added again, 10%% made due, fired and re-armed by\n"
           "their callback, one iteration per %u operations. poolev allocates a\n"
           "record per add (from the lifetime pool); libev's watchers are the\n"
           "benchmark's; libevent's event_new() mallocs (freeing is untimed).\n",
           60u, MIX_BATCH);
    printf("total time: %.1f s\n", (double) (bench_now_ns() - start) / 1e9);
    bench_table_footer(&t);
    apr_pool_destroy(root);
    return 0;
}
