/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_timer.h - what bench_timer.c shares with bench_timer_ev.c, the libev
 * side (a file of its own: <ev.h> and libevent's <event2/event.h> both
 * define EV_READ, EV_TIMEOUT, ...).
 */
#ifndef POOLEV_BENCH_TIMER_H
#define POOLEV_BENCH_TIMER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SPAN_US 10000000u       /* marks are uniform over 10 s */
#define AC_OPS 200000u          /* at least this many adds (cancels) per run */
#define FIRE_OPS 20000u         /* at least this many fires per run */
#define FIRE_MIN_WINDOW_US 2000u    /* shortest firing window */
#define FIRE_SLACK_NS (UINT64_C(2) * 1000000)   /* sleep past the window */
#define MIX_OPS 200000u         /* mix operations per run */
#define MIX_BATCH 1000u         /* mix operations per loop iteration */
#define IDLE_US 10000000u       /* the mix's idle timeout: 10 s */

#define MARK_SEED 0x2545f491u
#define ORDER_SEED 0x9e3779b9u
#define MIX_SEED 0x6a09e667u

enum { SIDE_POOLEV, SIDE_LIBEV, SIDE_LIBEVENT, SIDES };

/* mix operation kinds */
enum { MIX_REARM, MIX_READD, MIX_FIRE };

/* ------------------------------------------------------------------------ */
/* The workload, shared by every side                                        */

typedef struct workload {
    uint32_t n;                 /* timers */
    const char *label;          /* n with thousands separators */
    uint32_t *offset;           /* n mark offsets in us, uniform in [0, SPAN_US) */
    uint32_t *order;            /* a permutation of 0..n-1: the cancel order */
    uint32_t *mix_k;            /* MIX_OPS timer indexes */
    unsigned char *mix_kind;    /* MIX_OPS operation kinds */
    uint32_t fire_window_us;    /* firing marks lie in [0, this) from now */
    unsigned reps_ac;           /* add+cancel rounds per run */
    unsigned reps_fire;         /* fire rounds per run */
} workload_t;

_Static_assert(MIX_OPS % MIX_BATCH == 0, "the mix ends with a whole batch");

/* Mix operations a side runs in one turn (of MIX_OPS). */
#define MIX_TURN (20u * MIX_BATCH)
_Static_assert(MIX_OPS % MIX_TURN == 0 && MIX_TURN % MIX_BATCH == 0,
               "the mix's turns are whole batches");

/* One run's figures for one side, ns per operation. */
typedef struct result {
    double add, cancel, fire, mix;
} result_t;

/* One side of the benchmark, in steps. A run opens every side, then gives
 * them turns: each add+cancel round, each fire round and each MIX_TURN
 * operations of the mix is one turn per side, the sides' order changing
 * from turn to turn (bench_timer.c, turn_order[]); then it closes every
 * side. The sides' turns on one round lie microseconds to milliseconds
 * apart, so a change in the machine's speed (2 shared cores) hits every
 * side alike. */
typedef struct side_ops {
    /* a loop for workload @a w, nothing armed */
    void *(*open)(const workload_t *w);
    /* one round: the n adds, then the n cancels in w->order; the ns of
     * each added to the sums */
    void (*add_cancel)(void *s, uint64_t *add_ns, uint64_t *cancel_ns);
    /* one round: arm the n within the window (untimed), sleep past it;
     * the ns of the iterations that fire them */
    uint64_t (*fire)(void *s);
    /* arm the mix's n idle timers (untimed) */
    void (*mix_begin)(void *s);
    /* the mix's operations [from, to), an iteration after every MIX_BATCH
     * and, when @a to is MIX_OPS, one more: their ns */
    uint64_t (*mix)(void *s, uint32_t from, uint32_t to);
    /* check what the mix left, and free the side */
    void (*close)(void *s);
} side_ops_t;

/* The firing offset of timer @a i: its offset scaled into the window. */
static inline uint32_t fire_offset(const workload_t *w, uint32_t i)
{
    return (uint32_t) ((uint64_t) w->offset[i] * w->fire_window_us / SPAN_US);
}

/* The clock of the timed sections: CLOCK_MONOTONIC, or with
 * POOLEV_BENCH_CLOCK=cpu the thread's CPU time (CLOCK_THREAD_CPUTIME_ID,
 * user and system), which leaves out the time the thread waits for a core
 * on a shared machine. Set once by main() (bench_timer.c). */
extern int bt_cpu_clock;

static inline uint64_t bt_now_ns(void)
{
    struct timespec ts;

    if (clock_gettime(bt_cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts) != 0)
        abort();
    return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* The timed part of a fire round, once the side has armed its n timers and
 * slept past their window: @a iterate (one non-blocking iteration of the
 * side's loop, @a s its argument) until @a *fired reaches @a n, a sleep of a
 * millisecond between iterations (untimed); the ns of the iterations.
 * @a side names the side in the message of a round that never completes.
 * (benchutil.h first: expect(), bench_barrier(), bench_sleep_ns().) */
static inline uint64_t bt_fire_iterations(void (*iterate)(void *), void *s,
                                          const uint64_t *fired, uint32_t n,
                                          const char *side)
{
    uint64_t t0, t1, ns = 0;
    int calls = 0;

    for (;;) {
        bench_barrier();
        t0 = bt_now_ns();
        iterate(s);
        t1 = bt_now_ns();
        bench_barrier();
        ns += t1 - t0;
        if (*fired == n)
            return ns;
        if (++calls >= 1000) {
            fprintf(stderr, "bench_timer: %s: not every timer fired within a second\n",
                    side);
            exit(1);
        }
        bench_sleep_ns(1000000);
    }
}

/* libev (bench_timer_ev.c, when HAVE_LIBEV) */
void bench_ev_describe(void);
/* libev's version, "major.minor" (a static buffer). */
const char *bench_ev_version(void);
/* Allocate (or, with 0, free) the n watchers the libev side uses. */
void bench_ev_watchers(uint32_t n);
extern const side_ops_t bench_ev_side;

#endif
