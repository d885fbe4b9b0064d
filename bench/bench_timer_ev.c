/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_timer_ev.c - the libev side of bench_timer (see bench_timer.c for
 * what is measured).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* libevent's header defines what <ev.h> defines too: benchutil.h must not
 * include it here */
#undef HAVE_LIBEVENT
#include "benchutil.h"
#include "bench_timer.h"

/* ------------------------------------------------------------------------ */
/* libev                                                                     */

#ifdef HAVE_LIBEV               /* else this file is empty */

#include <ev.h>

/* The watchers, owned by the benchmark (one array per size, reused). */
static ev_timer *ev_w;
static uint64_t ev_fired;

void bench_ev_watchers(uint32_t n)
{
    (void) new_pool;            /* benchutil.h's, unused on this side */
    free(ev_w);
    ev_w = NULL;
    if (n) {
        ev_w = calloc(n, sizeof *ev_w);
        expect(ev_w != NULL, "libev: watcher array allocated");
    }
}

/* Timer callback: count one firing. */
static void ev_count(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void) loop;
    (void) w;
    (void) revents;
    ev_fired++;
}

/* Mix callback: count, and re-arm to the idle timeout. */
static void ev_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void) revents;
    ev_fired++;
    ev_timer_set(w, IDLE_US / 1e6, 0.);
    ev_timer_start(loop, w);
}

/* Print libev's version and the backend a loop uses. */
void bench_ev_describe(void)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    unsigned b;

    expect(loop != NULL, "libev: ev_loop_new");
    b = ev_backend(loop);
    printf("libev: %d.%d, backend %s\n", ev_version_major(), ev_version_minor(),
           b == EVBACKEND_EPOLL ? "epoll" : b == EVBACKEND_POLL ? "poll"
           : b == EVBACKEND_SELECT ? "select" : "other");
    ev_loop_destroy(loop);
}

/* Pending (active) watchers of the first @a n. */
static uint32_t ev_active_count(uint32_t n)
{
    uint32_t i, c = 0;

    for (i = 0; i < n; i++)
        c += ev_is_active(&ev_w[i]) ? 1 : 0;
    return c;
}

typedef struct ev_side {
    const workload_t *w;
    struct ev_loop *loop;
} ev_side_t;

static void *ev_open(const workload_t *w)
{
    ev_side_t *s = malloc(sizeof *s);

    expect(s != NULL, "libev: side allocated");
    s->w = w;
    s->loop = ev_loop_new(EVFLAG_AUTO);
    expect(s->loop != NULL, "libev: ev_loop_new");
    return s;
}

/* One round: n adds, then the n cancels in random order. */
static void ev_add_cancel(void *side, uint64_t *add_ns, uint64_t *cancel_ns)
{
    ev_side_t *s = side;
    const workload_t *w = s->w;
    uint64_t t0, t1;
    uint32_t i;

    ev_run(s->loop, EVRUN_NOWAIT);      /* the loop's time: now */
    bench_barrier();
    t0 = bt_now_ns();
    for (i = 0; i < w->n; i++) {
        ev_timer_init(&ev_w[i], ev_count, w->offset[i] / 1e6, 0.);
        ev_timer_start(s->loop, &ev_w[i]);
    }
    t1 = bt_now_ns();
    bench_barrier();
    *add_ns += t1 - t0;
    expect(ev_active_count(w->n) == w->n, "libev: n timers armed");

    bench_barrier();
    t0 = bt_now_ns();
    for (i = 0; i < w->n; i++)
        ev_timer_stop(s->loop, &ev_w[w->order[i]]);
    t1 = bt_now_ns();
    bench_barrier();
    *cancel_ns += t1 - t0;
    expect(ev_active_count(w->n) == 0, "libev: every timer cancelled");
}

/* One non-blocking iteration (bt_fire_iterations()). */
static void ev_iterate(void *side)
{
    ev_run(((ev_side_t *) side)->loop, EVRUN_NOWAIT);
}

/* One round: arm within the window, sleep past it, time the iterations. */
static uint64_t ev_fire(void *side)
{
    ev_side_t *s = side;
    const workload_t *w = s->w;
    uint64_t ns;
    uint32_t i;

    ev_run(s->loop, EVRUN_NOWAIT);
    for (i = 0; i < w->n; i++) {
        ev_timer_init(&ev_w[i], ev_count, fire_offset(w, i) / 1e6, 0.);
        ev_timer_start(s->loop, &ev_w[i]);
    }
    ev_fired = 0;
    bench_sleep_ns((uint64_t) w->fire_window_us * 1000 + FIRE_SLACK_NS);
    ns = bt_fire_iterations(ev_iterate, s, &ev_fired, w->n, "libev");
    expect(ev_active_count(w->n) == 0, "libev: nothing armed after firing");
    return ns;
}

/* The mix's n idle timers. */
static void ev_mix_begin(void *side)
{
    ev_side_t *s = side;
    const workload_t *w = s->w;
    uint32_t i;

    ev_run(s->loop, EVRUN_NOWAIT);
    for (i = 0; i < w->n; i++) {
        ev_timer_init(&ev_w[i], ev_idle_cb, w->offset[i] / 1e6, 0.);
        ev_timer_start(s->loop, &ev_w[i]);
    }
    ev_fired = 0;
}

/* The mix's operations [from, to). */
static uint64_t ev_mix(void *side, uint32_t from, uint32_t to)
{
    ev_side_t *s = side;
    const workload_t *w = s->w;
    uint64_t t0, t1;
    uint32_t i;

    bench_barrier();
    t0 = bt_now_ns();
    for (i = from; i < to; i++) {
        ev_timer *x = &ev_w[w->mix_k[i]];

        switch (w->mix_kind[i]) {
        case MIX_REARM:         /* libev's idle-timeout idiom */
            x->repeat = IDLE_US / 1e6;
            ev_timer_again(s->loop, x);
            x->repeat = 0.;
            break;
        case MIX_READD:
            ev_timer_stop(s->loop, x);
            ev_timer_set(x, IDLE_US / 1e6, 0.);
            ev_timer_start(s->loop, x);
            break;
        default:
            ev_timer_stop(s->loop, x);
            ev_timer_set(x, 0., 0.);
            ev_timer_start(s->loop, x);
            break;
        }
        if ((i + 1) % MIX_BATCH == 0)
            ev_run(s->loop, EVRUN_NOWAIT);
    }
    if (to == MIX_OPS)
        ev_run(s->loop, EVRUN_NOWAIT);
    t1 = bt_now_ns();
    bench_barrier();
    return t1 - t0;
}

static void ev_close(void *side)
{
    ev_side_t *s = side;
    uint32_t i;

    expect(ev_active_count(s->w->n) == s->w->n && ev_fired >= MIX_OPS / 20,
           "libev: the mix keeps n armed and fires the due ones");
    for (i = 0; i < s->w->n; i++)
        ev_timer_stop(s->loop, &ev_w[i]);
    ev_loop_destroy(s->loop);
    free(s);
}

const side_ops_t bench_ev_side = {
    ev_open, ev_add_cancel, ev_fire, ev_mix_begin, ev_mix, ev_close
};

/* libev's version, "major.minor", in a static buffer (for the TSV rows). */
const char *bench_ev_version(void)
{
    static char v[32];

    snprintf(v, sizeof v, "%d.%d", ev_version_major(), ev_version_minor());
    return v;
}

#else

/* ISO C wants something in a translation unit */
typedef int bench_timer_ev_unused;

#endif /* HAVE_LIBEV */
