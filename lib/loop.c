/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * loop.c - the event loop: pollset, clock, timers, deferred calls, wakeups.
 *
 * One iteration (pev_loop_run_once):
 *   1. poll, at most until the heap's first mark (without waiting when
 *      end-of-iteration tasks are posted); with a spin set
 *      (pev_loop_set_spin), look without waiting first, then spin for a
 *      while watching the posted list before sleeping;
 *   2. read the clock: that is the loop's time for the whole iteration;
 *   3. every timer whose mark <= now leaves the heap for the due array, in
 *      (mark, sequence) order;
 *   4. handle readiness (descriptors' callbacks, the wakeup pipe: when it is
 *      consumed, the calls posted so far run as one batch, in order) and run
 *      the handlers of signals delivered since the last iteration (signal.c);
 *   5. run the due array;
 *   6. run the end-of-iteration tasks (output flushes, closes); with a
 *      flush slice set (pev_loop_set_flush_slice), once the tasks have run
 *      that long, the last TASK_CARRY_MAX of them (or fewer) wait for the
 *      next iteration, in front of the tasks posted since.
 * The due set is fixed in step 3, before any callback of the iteration runs:
 * a timer armed by a callback for a mark already passed waits in the heap for
 * the next iteration, after a poll. Re-arming for a past mark never spins
 * inside one iteration and never starves I/O; a deferred call (a timer at the
 * current time) never runs in the iteration that deferred it.
 *
 * Timer records live in their lifetime pools and are released through
 * owner.h before those pools go. A timer is in exactly one of: the heap, the
 * due array, or nowhere (idle).
 *
 * Posted calls (pev_loop_post, any thread) are malloc'd nodes pushed on an
 * atomic LIFO list (a CAS on its head, no lock). The loop's thread takes the
 * whole list with one exchange and reverses it into posting order; a post
 * that finds the list empty wakes the loop, so a batch costs one write(2).
 * While the loop spins it says so (`spinning`), and a post that finds the
 * list empty then writes nothing: the spinner sees the list. The flag is
 * cleared before the spinner's last look at the list, and a post pushes
 * before it reads the flag (both sequentially consistent): either the post
 * sees the flag clear and writes, or the spinner's last look sees the post.
 * The spin adapts as Linux's haltpoll governor does: a spin that ends
 * empty halves the next one (down to an eighth of the longest); a sleep
 * woken sooner than the longest spin doubles it.
 * The batch lives on the iteration's stack: a call that destroys the loop
 * leaves the rest of it to be delivered as cancelled without touching the
 * loop. The loop's cleanup delivers what is still queued as cancelled.
 *
 * Other components (streams, watchers) keep the owners of their items on
 * the loop through pevi_loop_owners() (loop_int.h), without the loop knowing
 * the items; the loop's cleanup detaches them, newest component first,
 * before its own timers and signal handlers.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apr_poll.h>
#include <apr_file_io.h>
#include <apr_portable.h>

#include "poolev/loop.h"
#include "heap.h"
#include "loop_int.h"
#include "owner.h"
#include "sentry.h"
#include "signal_int.h"

/* The longest single wait: a longer one comes back and waits again (APR's
 * epoll backend converts the wait to milliseconds in an int). */
#define MAX_WAIT (3600 * APR_USEC_PER_SEC)

/* Descriptors reported by one poll, at most. */
#define POLL_BATCH 256

/* The longest spin pev_loop_set_spin() accepts, and how often a spin looks
 * at the descriptors (a poll without waiting), in nanoseconds. */
#define MAX_SPIN (10 * 1000)
#define SPIN_POLL_NS 2000

/* The longest flush slice (us), and the most end-of-iteration tasks a slice
 * that has run out carries to the next iteration: a carried flush keeps
 * its stream's output buffer, and the bound keeps that memory near what an
 * iteration without a slice holds. */
#define MAX_FLUSH_SLICE 100000
#define TASK_CARRY_MAX 64

/* pev_loop_wakeup() runs in signal handlers: what it touches must be
 * lock-free atomics. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic_int must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "atomic_ullong must be lock-free");
/* pev_loop_post() promises never to take a lock. */
_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "atomic pointers must be lock-free");

/* A call posted with pev_loop_post(). */
typedef struct post_node {
    struct post_node *next;
    pev_post_fn *fn;
    void *user_data;
} post_node_t;

/* One descriptor reported ready by the current poll. */
typedef struct ready_entry {
    void *tag;                      /* a pevi_io_t, the loop's wake_pfd, or
                                     * NULL: taken out of the loop since */
    apr_int16_t events;
} ready_entry_t;

struct pev_loop {
    apr_pool_t *pool;
    apr_pollset_t *pollset;
    apr_file_t *wake_r, *wake_w;
    apr_pollfd_t wake_pfd;          /* the pollset refers to it (NOCOPY) */
    int wake_fd;                    /* write end, for write(2) */
    atomic_int wake_pending;        /* a byte is in the pipe, or about to be */
    atomic_int stop;
    atomic_ullong wakeup_writes;
    _Atomic(post_node_t *) posted;  /* newest first; NULL: none */
    atomic_int closed;              /* the cleanup has begun: no more posts */
    atomic_int posting;             /* pev_loop_post() calls under way */
    atomic_int spinning;            /* spinning: posts need not write */
    post_node_t *batch;             /* the rest of the batch being run */
    apr_int64_t spin_max, spin_cur; /* ns; 0: no spin */
    apr_int64_t last_look;          /* spin_clock() of the last poll */
    apr_uint64_t spins_caught, spins_missed;
    apr_interval_time_t flush_slice;    /* us, on the loop's clock; 0: none */
    apr_uint64_t tasks_carried;

    pev_clock_fn *clock;
    void *clock_user_data;
    apr_time_t now;

    pevi_heap_t heap;
    pev_timer_t **due;              /* the iteration's due timers, in order
                                     * (NULL: cancelled or re-armed since) */
    apr_size_t ndue, due_cap;
    apr_size_t armed;               /* T_HEAP and T_DUE timers */
    apr_size_t dead;                /* T_DEAD entries in the heap */
    apr_time_t last_take;           /* the time of the last take_due() */

    pevi_owners_t owners;           /* lifetime pools of timers */
    /* records handed out by pev_timer_add(): a run of them allocated at
     * once from rec_pool, which is cleared or destroyed only after the
     * owner of (rec_pool, loop) let go of them (timer_settle) */
    apr_pool_t *rec_pool;
    char *rec_base, *rec_next, *rec_end;    /* the run's first record, the
                                             * next one, its end */
    apr_size_t rec_run;             /* records in the next run */
    pevi_link_t parts;              /* components' owners (sentinel) */
    apr_size_t ios;                 /* open items of components */
    pevi_link_t tasks;              /* end-of-iteration work (sentinel) */
    ready_entry_t ready[POLL_BATCH];/* what the current poll reported */
    apr_int32_t nready, ready_pos;
    pevi_signals_t signals;
    pevi_sentry_t *frame;           /* the running iteration's, if any; the
                                     * loop's cleanup marks it gone */
    void *bufs;                     /* cached stream buffers: each holds the
                                     * next one's address (pevi_loop_buf_*) */
    unsigned nbufs;
    apr_uint64_t iterations;
};

/* ------------------------------------------------------------------------ */
/* Clock                                                                     */

apr_time_t pev_clock_monotonic(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_time_t) ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static apr_time_t monotonic_clock(void *user_data)
{
    (void) user_data;
    return pev_clock_monotonic();
}

static apr_time_t read_clock(const pev_loop_t *loop)
{
    return loop->clock(loop->clock_user_data);
}

/* a + b, saturating at the ends of apr_time_t */
static apr_time_t time_add(apr_time_t a, apr_interval_time_t b)
{
    if (b > 0 && a > APR_INT64_MAX - b)
        return APR_INT64_MAX;
    if (b < 0 && a < APR_INT64_MIN - b)
        return APR_INT64_MIN;
    return a + b;
}

#if defined(__GNUC__)
#define PEVI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PEVI_NOINLINE __attribute__((noinline))
#else
#define PEVI_UNLIKELY(x) (x)
#define PEVI_NOINLINE
#endif

/* The heap array a loop keeps once it has grown that far (64 KB): a loop
 * whose timers come and go by the thousand does not reallocate it on every
 * round. */
#define HEAP_KEEP 4096

/* After this long since the last iteration, take_due() expects the due
 * records to be out of the cache (other work ran meanwhile). */
#define COLD_AFTER 1000

/* The smallest due array; it grows by doubling, never shrinks. */
#define DUE_MIN 64

/* Ask for the cache line of @a p (no effect without GCC's builtins). */
static inline void prefetch_w(const void *p)
{
#if defined(__GNUC__)
    __builtin_prefetch(p, 1);
#else
    (void) p;
#endif
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */

void pevi_timer_init(pev_timer_t *t, pev_loop_t *loop, pev_timer_fn *fn, void *user_data)
{
    pevi_heap_node_init(&t->node);
    t->loop = loop;
    t->fn = fn;
    t->user_data = user_data;
    PEVI_TSTATE(t) = T_IDLE;
    PEVI_TLAG(t) = 0;
}

/* Cancelled entries left in the heap (T_DEAD) are dropped all at once when
 * there are DEAD_SWEEP_MIN and DEAD_SWEEP_RATIO times more than live ones
 * (so the heap holds at most 4 times the entries it needs), or at least
 * DEAD_SWEEP_ALL and no live one: O(1) amortized per cancel (a sweep, which
 * reads every entry's record, costs what the entries it drops cost to
 * cancel; the larger the ratio, the fewer sweeps a run of cancels takes). The second rule takes what a heap of
 * fewer than 2 * DEAD_SWEEP_MIN entries, whose cancels never sweep
 * otherwise, leaves when its last timer is cancelled, which would else be
 * popped one by one as they surface, or removed one by one when their pool
 * goes, O(log n) each. */
#define DEAD_SWEEP_MIN 1024
#define DEAD_SWEEP_RATIO 3
#define DEAD_SWEEP_ALL 64

/* Take @a t out of wherever it is armed (a cancelled entry too). */
void pevi_timer_disarm(pev_timer_t *t)
{
    switch (PEVI_TSTATE(t)) {
    case T_HEAP:
        pevi_heap_remove(&t->loop->heap, &t->node);
        t->loop->armed--;
        break;
    case T_DUE:
        t->loop->due[t->node.index] = NULL;
        t->node.index = PEVI_HEAP_NONE;
        t->loop->armed--;
        break;
    case T_DEAD:
        /* its entry is in the heap still (a sweep makes a record idle) */
        pevi_heap_remove(&t->loop->heap, &t->node);
        t->loop->dead--;
        break;
    case T_IDLE:
        return;
    }
    PEVI_TSTATE(t) = T_IDLE;
}

/* pevi_timer_arm() but for the lazy re-arm of an armed timer, which
 * timer_arm() does inline. */
static PEVI_NOINLINE apr_status_t timer_arm_slow(pev_timer_t *t, apr_time_t mark)
{
    pev_loop_t *loop = t->loop;
    apr_status_t st;

    switch (PEVI_TSTATE(t)) {
    case T_HEAP:
        /* earlier, or too far apart (timer_arm() took the lazy case):
         * move the entry */
        pevi_heap_update(&loop->heap, &t->node, mark);
        PEVI_TLAG(t) = 0;
        return APR_SUCCESS;
    case T_DEAD:
        /* its entry is in the heap still: take it back, without reading
         * or writing the heap when the new mark is not earlier */
        loop->dead--;
        if (mark >= t->node.mark) {
            apr_uint64_t lag = loop->heap.next_seq - t->node.seq;

            if (lag <= PEVI_TLAG_MAX) {
                /* the entry is a lower bound: a lazy re-arm of an armed
                 * timer */
                (void) pevi_heap_take_seq(&loop->heap);
                t->node.mark = mark;
                PEVI_TSTATE(t) = T_HEAP;
                PEVI_TLAG(t) = (unsigned int) lag;
                loop->armed++;
                return APR_SUCCESS;
            }
        }
        pevi_heap_update(&loop->heap, &t->node, mark);
        break;
    case T_IDLE:
        st = pevi_heap_push(&loop->heap, &t->node, mark);
        if (st != APR_SUCCESS) {
            t->node.mark = mark;
            PEVI_TSTATE(t) = T_IDLE;
            return st;
        }
        break;
    case T_DUE:
        loop->due[t->node.index] = NULL;
        t->node.index = PEVI_HEAP_NONE;
        loop->armed--;
        st = pevi_heap_push(&loop->heap, &t->node, mark);
        if (st != APR_SUCCESS) {
            t->node.mark = mark;
            PEVI_TSTATE(t) = T_IDLE;
            return st;
        }
        break;
    }
    PEVI_TSTATE(t) = T_HEAP;
    PEVI_TLAG(t) = 0;
    loop->armed++;
    return APR_SUCCESS;
}

/* Arm @a t for @a mark. The common case, an armed timer re-armed for a later
 * mark (the idle timeout), inline and without a call: lazily, without
 * touching the heap; the entry's mark stays a lower bound (see
 * loop_int.h). The rest in timer_arm_slow(). */
static inline apr_status_t timer_arm(pev_timer_t *t, apr_time_t mark)
{
    if (PEVI_TSTATE(t) == T_HEAP && mark >= t->node.mark) {
        pev_loop_t *loop = t->loop;
        apr_uint64_t lag = loop->heap.next_seq - t->node.seq;

        if (PEVI_UNLIKELY(lag > PEVI_TLAG_MAX))
            return timer_arm_slow(t, mark);
        (void) pevi_heap_take_seq(&loop->heap);
        t->node.mark = mark;
        PEVI_TLAG(t) = (unsigned int) lag;
        return APR_SUCCESS;
    }
    return timer_arm_slow(t, mark);
}

apr_status_t pevi_timer_arm(pev_timer_t *t, apr_time_t mark)
{
    return timer_arm(t, mark);
}

/* A sweep's verdict on one entry: a cancelled timer's entry goes (the timer
 * becomes idle), every other stays. */
static int sweep_keep(pevi_heap_node_t *n, void *user_data)
{
    pev_timer_t *t = PEVI_CONTAINER(n, pev_timer_t, node);

    unsigned int state = PEVI_TSTATE(t), dead = state == T_DEAD;

    (void) user_data;
    /* stored either way, without a branch (pevi_heap_filter()): T_IDLE is
     * 0, so a dead one's state becomes T_IDLE and any other's stays */
    PEVI_TSTATE(t) = state & (dead - 1u);
    return (int) !dead;
}

/* The verdict of a sweep that finds only cancelled entries: every one goes,
 * without reading its state. */
static int sweep_drop(pevi_heap_node_t *n, void *user_data)
{
    (void) user_data;
    PEVI_TSTATE(PEVI_CONTAINER(n, pev_timer_t, node)) = T_IDLE;
    return 0;
}

/* The sweeps, out of line (a cancel calls one in the rare case only, and
 * its common case saves no registers); each with its verdict inlined. */
static PEVI_NOINLINE void sweep_all(pev_loop_t *loop)
{
    pevi_heap_filter(&loop->heap, sweep_drop, NULL);
    loop->dead = 0;
}

static PEVI_NOINLINE void sweep_dead(pev_loop_t *loop)
{
    pevi_heap_filter(&loop->heap, sweep_keep, NULL);
    loop->dead = 0;
}

/* Cancel without touching the heap: the record alone says T_DEAD, and its
 * entry stays until it surfaces, the timer is re-armed or released, or a
 * sweep drops it (the sweep reads every entry's record, ahead of its
 * place, and makes the dropped ones idle). A cancel reads and writes the
 * record's line only. */
static inline void timer_cancel_lazy(pev_timer_t *t)
{
    pev_loop_t *loop = t->loop;
    apr_size_t dead;

    if (PEVI_TSTATE(t) != T_HEAP) {
        pevi_timer_disarm(t);
        return;
    }
    PEVI_TSTATE(t) = T_DEAD;
    loop->armed--;
    dead = ++loop->dead;
    if (PEVI_UNLIKELY(dead >= DEAD_SWEEP_ALL)) {
        if (dead == pevi_heap_size(&loop->heap))
            sweep_all(loop);                /* nothing armed is left in the heap */
        else if (dead >= DEAD_SWEEP_MIN && dead > DEAD_SWEEP_RATIO * loop->armed)
            sweep_dead(loop);
    }
}

/* Records in the runs pev_timer_add() allocates: 1 for a pool's first timer,
 * doubling while timers keep coming for the same pool, up to this (a run of
 * 253, its head and the alignment fit one of APR's 16 KB blocks; the place
 * in a run is 8 bits). A pool with a single timer gets exactly one record;
 * at most half of what a pool got for its timers is unused when another
 * pool takes the run over. Long runs make the slow path of pev_timer_add()
 * rare (once per 253 adds) and the owners' lists short: a pool's owner
 * lists its runs, not its records, so an add links nothing. */
#define REC_RUN_MAX 253
_Static_assert(REC_RUN_MAX <= 255, "a record's place in its run is 8 bits (PEVI_TSLOT)");

/* Records start on cache lines (each is one line). */
#define REC_ALIGN 64
_Static_assert(sizeof(pev_timer_t) == REC_ALIGN, "a timer record is one cache line");

/* The head of a run of records, just before its first record: the records
 * handed out from a run belong to the run's lifetime pool, and its owner
 * releases them all, newest first, when the pool goes (timer_release). */
typedef struct rec_run {
    pevi_owner_t *owner;            /* the lifetime pool's owner */
    pevi_link_t owned;              /* on the owner's list, newest first */
    apr_uint32_t used;              /* records handed out, once the run is
                                     * not the loop's current one (while it
                                     * is: loop->rec_next says) */
} rec_run_t;

/* The run of record @a t (one of pev_timer_add()'s). */
static inline rec_run_t *run_of(pev_timer_t *t)
{
    return (rec_run_t *) (void *) (t - PEVI_TSLOT(t)) - 1;
}

static inline pev_timer_t *run_first(rec_run_t *r)
{
    return (pev_timer_t *) (void *) (r + 1);
}

/* Records handed out from run @a r. */
static apr_size_t run_used(const pev_loop_t *loop, rec_run_t *r)
{
    if ((char *) run_first(r) == loop->rec_base)
        return (apr_size_t) (loop->rec_next - loop->rec_base) / sizeof(pev_timer_t);
    return r->used;
}

/* The loop's current run stops being current: its count of records handed
 * out goes into its head. */
static void run_close(pev_loop_t *loop)
{
    if (loop->rec_base) {
        rec_run_t *r = (rec_run_t *) (void *) loop->rec_base - 1;

        r->used = (apr_uint32_t) ((apr_size_t) (loop->rec_next - loop->rec_base)
                                  / sizeof(pev_timer_t));
    }
    loop->rec_pool = NULL;
    loop->rec_base = loop->rec_next = loop->rec_end = NULL;
}

/* @a fn on every record handed out from the run on @a item (an owner's
 * list of @a loop), newest first. */
static inline void run_each(const pev_loop_t *loop, pevi_link_t *item,
                            void (*fn)(pev_timer_t *))
{
    rec_run_t *r = PEVI_CONTAINER(item, rec_run_t, owned);
    pev_timer_t *first = run_first(r);
    apr_size_t i = run_used(loop, r);

    while (i-- > 0)
        fn(first + i);
}

/* The timers' lifetime pool is going: every record of one of its runs. */
static void timer_release(void *container, pevi_link_t *item)
{
    run_each(container, item, pevi_timer_disarm);
}

void pevi_timer_orphan(pev_timer_t *t)
{
    PEVI_TSTATE(t) = T_IDLE;
    t->loop = NULL;
}

/* A lifetime pool's owner released its timers (the pool is being cleared
 * or destroyed): forget the current run of records, which may be that
 * pool's (its memory is there still: the owner runs among the pool's
 * cleanups). */
static void timer_settle(void *container)
{
    run_close(container);
}

/* A record for a timer of @a lifetime: from the current run when the run is
 * that pool's, else from a new run (in records of the lifetime pool, as
 * ever: they live exactly as long as the pool). A run is its head
 * (rec_run_t, filled by pev_timer_add()), then its records, each with its
 * place in the run (PEVI_TSLOT), the first on a cache line. */
static pev_timer_t *record_alloc(pev_loop_t *loop, apr_pool_t *lifetime,
                                 unsigned int *slot)
{
    pev_timer_t *t;
    apr_size_t run;
    char *p;

    /* the record's place in the run is returned, for pev_timer_add() to
     * store with the rest of the record */
    if (loop->rec_pool == lifetime && loop->rec_next != loop->rec_end) {
        t = (pev_timer_t *) (void *) loop->rec_next;
        loop->rec_next += sizeof *t;
        *slot = (unsigned int) (t - (pev_timer_t *) (void *) loop->rec_base);
        return t;
    }
    run = loop->rec_pool == lifetime ? loop->rec_run : 1;
    /* APR aligns to 8 bytes: room for the head, then the next line */
    p = apr_palloc(lifetime, run * sizeof *t + sizeof(rec_run_t) + REC_ALIGN - 8);
    if (!p)
        return NULL;
    run_close(loop);
    t = (pev_timer_t *) (void *) (((apr_uintptr_t) p + sizeof(rec_run_t) + REC_ALIGN - 1)
                                  & ~(apr_uintptr_t) (REC_ALIGN - 1));
    loop->rec_pool = lifetime;
    loop->rec_base = (char *) t;
    loop->rec_next = (char *) (t + 1);
    loop->rec_end = (char *) (t + run);
    loop->rec_run = run * 2 < REC_RUN_MAX ? run * 2 : REC_RUN_MAX;
    *slot = 0;
    return t;
}

/* The loop is going while the timers' pool lives on: every record of one
 * of its runs. */
static void timer_orphan(void *container, pevi_link_t *item)
{
    run_each(container, item, pevi_timer_orphan);
}

/* pev_timer_add() with a record released for the pool of owner @a ow
 * (pev_timer_release()), in its run still. */
static apr_status_t timer_add_spare(pev_timer_t **out, pevi_owner_t *ow, apr_time_t mark,
                                    pev_timer_fn *fn, void *user_data)
{
    pev_timer_t *t = ow->spare;
    apr_status_t st;

    ow->spare = t->user_data;
    t->fn = fn;
    t->user_data = user_data;
    st = pevi_timer_arm(t, mark);
    if (st != APR_SUCCESS) {
        t->fn = NULL;               /* released still */
        t->user_data = ow->spare;
        ow->spare = t;
        return st;
    }
    if (out)
        *out = t;
    return APR_SUCCESS;
}

/* pev_timer_add() for the cases its fast path leaves: the pool's owner is
 * not the last one used (or has none yet), a record released for the pool
 * waits, a new run of records is needed, or the heap array is full. */
static PEVI_NOINLINE apr_status_t timer_add_slow(pev_timer_t **out, pev_loop_t *loop,
                                                 apr_time_t mark, pev_timer_fn *fn,
                                                 void *user_data, apr_pool_t *lifetime)
{
    pevi_owner_t *ow;
    pev_timer_t *t;
    apr_status_t st;
    unsigned int slot;

    /* the pool's owner, if it has one yet (pevi_owner_add()'s lookup, done
     * once here) */
    ow = loop->owners.last;
    if (PEVI_UNLIKELY(!ow || ow->pool != lifetime)) {
        ow = apr_hash_get(loop->owners.by_pool, &lifetime, sizeof lifetime);
        if (ow)
            loop->owners.last = ow;
    }
    if (ow && ow->spare)
        return timer_add_spare(out, ow, mark, fn, user_data);
    t = record_alloc(loop, lifetime, &slot);
    if (!t)
        return APR_ENOMEM;
    /* pevi_timer_init() and pevi_timer_arm() of an idle timer, folded: the
     * push sets the node's mark, seq and index */
    t->fn = fn;
    t->user_data = user_data;
    t->loop = loop;
    PEVI_TSTATE(t) = T_IDLE;
    PEVI_TSLOT(t) = slot;
    PEVI_TLAG(t) = 0;
    if (slot == 0) {
        /* a new run, on its pool's owner's list, newest first (a run
         * continued is the pool's already: the pool's owner made it) */
        rec_run_t *r = run_of(t);

        if (ow)
            pevi_list_prepend(&ow->head, &r->owned);
        else {
            st = pevi_owner_add_slow(&loop->owners, lifetime, &r->owned);
            if (st != APR_SUCCESS) {
                /* no owner for the pool: nothing would tell the loop when
                 * the pool's memory goes, so the run must not be kept */
                run_close(loop);
                return st;
            }
            ow = loop->owners.last;
        }
        r->owner = ow;
        r->used = 0;                /* while current, rec_next counts */
    }
    st = pevi_heap_push(&loop->heap, &t->node, mark);
    if (st != APR_SUCCESS) {
        /* the record is the pool's: released, for its next add */
        t->fn = NULL;
        t->user_data = ow->spare;
        ow->spare = t;
        return st;
    }
    PEVI_TSTATE(t) = T_HEAP;
    loop->armed++;
    if (out)
        *out = t;
    return APR_SUCCESS;
}

apr_status_t pev_timer_add(pev_timer_t **out, pev_loop_t *loop, apr_time_t mark,
                           pev_timer_fn *fn, void *user_data, apr_pool_t *lifetime)
{
    pevi_owner_t *ow;
    pev_timer_t *t;

    if (PEVI_UNLIKELY(!loop || !fn))
        return APR_EINVAL;
    if (!lifetime)
        lifetime = loop->pool;
    ow = loop->owners.last;
    if (ow && ow->pool == lifetime && ow->spare)
        return timer_add_spare(out, ow, mark, fn, user_data);
    /* the common case, without a call: the pool is the one of the last add
     * and of the current run, which has a record left (never its first:
     * that one comes with a new run, below), none was released for the
     * pool, and the heap has room. The record is the run's, which is on
     * the pool's owner's list: nothing to link. */
    if (PEVI_UNLIKELY(!ow || ow->pool != lifetime || ow->spare || loop->rec_pool != lifetime
                      || loop->rec_next == loop->rec_end
                      || loop->heap.size == loop->heap.cap))
        return timer_add_slow(out, loop, mark, fn, user_data, lifetime);
    t = (pev_timer_t *) (void *) loop->rec_next;
    loop->rec_next += sizeof *t;
    /* the records that the next adds take: lines not written since the
     * pool was cleared, most likely out of the cache (a prefetch past the
     * run's end is harmless) */
    prefetch_w((const char *) t + 4 * sizeof *t);
    t->fn = fn;
    t->user_data = user_data;
    t->loop = loop;
    PEVI_TSTATE(t) = T_HEAP;
    PEVI_TSLOT(t) = (unsigned int) (t - (pev_timer_t *) (void *) loop->rec_base);
    PEVI_TLAG(t) = 0;
    pevi_heap_push_in_room(&loop->heap, &t->node, mark);
    loop->armed++;
    if (out)
        *out = t;
    return APR_SUCCESS;
}

apr_status_t pev_timer_add_in(pev_timer_t **out, pev_loop_t *loop,
                              apr_interval_time_t delay, pev_timer_fn *fn,
                              void *user_data, apr_pool_t *lifetime)
{
    if (!loop)
        return APR_EINVAL;
    return pev_timer_add(out, loop, time_add(loop->now, delay), fn, user_data, lifetime);
}

apr_status_t pev_loop_defer(pev_timer_t **out, pev_loop_t *loop, pev_timer_fn *fn,
                            void *user_data, apr_pool_t *lifetime)
{
    if (!loop)
        return APR_EINVAL;
    return pev_timer_add(out, loop, loop->now, fn, user_data, lifetime);
}

apr_status_t pev_timer_rearm(pev_timer_t *t, apr_time_t mark)
{
    if (!t || !t->fn)
        return APR_EINVAL;
    if (!t->loop)
        return PEV_EDESTROYED;
    return timer_arm(t, mark);
}

apr_status_t pev_timer_rearm_in(pev_timer_t *t, apr_interval_time_t delay)
{
    if (!t || !t->fn)
        return APR_EINVAL;
    if (!t->loop)
        return PEV_EDESTROYED;
    return timer_arm(t, time_add(t->loop->now, delay));
}

apr_status_t pev_timer_cancel(pev_timer_t *t)
{
    if (!t || !t->fn)
        return APR_EINVAL;
    if (!t->loop)
        return PEV_EDESTROYED;
    if (PEVI_TSTATE(t) == T_IDLE || PEVI_TSTATE(t) == T_DEAD)
        return PEV_ENOTARMED;
    timer_cancel_lazy(t);
    return APR_SUCCESS;
}

apr_status_t pev_timer_release(pev_timer_t *t)
{
    pevi_owner_t *ow;

    if (!t || !t->fn)
        return APR_EINVAL;
    if (!t->loop)
        return PEV_EDESTROYED;
    if (PEVI_TSTATE(t) == T_HEAP || PEVI_TSTATE(t) == T_DUE)
        timer_cancel_lazy(t);
    /* in its run still (the pool's teardown disarms it as any other), and
     * first on the owner's free list, through user_data */
    ow = run_of(t)->owner;
    t->fn = NULL;
    t->user_data = ow->spare;
    ow->spare = t;
    return APR_SUCCESS;
}

int pev_timer_armed(const pev_timer_t *t)
{
    return t && (PEVI_TSTATE(t) == T_HEAP || PEVI_TSTATE(t) == T_DUE);
}

apr_time_t pev_timer_mark(const pev_timer_t *t)
{
    return t ? t->node.mark : 0;
}

/* ------------------------------------------------------------------------ */
/* Descriptors                                                               */

void pevi_io_init(pevi_io_t *io, apr_pool_t *pool, apr_socket_t *sock,
                  apr_file_t *file, pevi_io_fn *ready)
{
    io->pfd.p = pool;
    io->pfd.desc_type = sock ? APR_POLL_SOCKET : APR_POLL_FILE;
    if (sock)
        io->pfd.desc.s = sock;
    else
        io->pfd.desc.f = file;
    io->pfd.reqevents = 0;
    io->pfd.rtnevents = 0;
    io->pfd.client_data = io;
    io->ready = ready;
    io->events = 0;
}

/* @a io is out of the pollset: drop what the current poll said about it. */
static void io_forget(pev_loop_t *loop, const pevi_io_t *io)
{
    apr_int32_t i;

    for (i = loop->ready_pos; i < loop->nready; i++)
        if (loop->ready[i].tag == io)
            loop->ready[i].tag = NULL;
}

apr_status_t pevi_io_set(pev_loop_t *loop, pevi_io_t *io, apr_int16_t events)
{
    apr_status_t st;

    if (events == io->events)
        return APR_SUCCESS;
    /* apr_pollset has no "modify": remove, then add with the new interest */
    if (io->events) {
        st = apr_pollset_remove(loop->pollset, &io->pfd);
        io->events = 0;
        io_forget(loop, io);
        if (st != APR_SUCCESS && !APR_STATUS_IS_NOTFOUND(st))
            return st;
    }
    if (events) {
        io->pfd.reqevents = events;
        st = apr_pollset_add(loop->pollset, &io->pfd);
        if (st != APR_SUCCESS)
            return st;
        io->events = events;
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* End-of-iteration tasks                                                    */

void pevi_task_init(pevi_task_t *task, pevi_task_fn *run)
{
    pevi_link_init(&task->link);
    task->run = run;
}

void pevi_task_post(pev_loop_t *loop, pevi_task_t *task)
{
    if (!pevi_link_linked(&task->link))
        pevi_list_append(&loop->tasks, &task->link);
}

void pevi_task_cancel(pevi_task_t *task)
{
    if (pevi_link_linked(&task->link))
        pevi_link_remove(&task->link);
}

static apr_size_t list_length(const pevi_link_t *head)
{
    const pevi_link_t *l;
    apr_size_t n = 0;

    for (l = head->next; l != head; l = l->next)
        n++;
    return n;
}

/* Put what is left of @a batch in front of the loop's tasks: it runs first
 * in the next iteration, before the tasks posted since. */
static void tasks_carry(pev_loop_t *loop, pevi_link_t *batch)
{
    pevi_link_t *first = batch->next, *last = batch->prev, *head = &loop->tasks;

    if (first == batch)
        return;
    loop->tasks_carried += list_length(batch);
    last->next = head->next;
    head->next->prev = last;
    head->next = first;
    first->prev = head;
    pevi_list_init(batch);
}

/* Run the tasks posted so far; tasks they post wait for the next iteration.
 * With a flush slice, once it has run out (and no stop is asked for), the
 * tasks beyond the last TASK_CARRY_MAX run and those wait too, in order
 * (the batch only shrinks meanwhile: a task posted again while in it stays
 * where it is). At least
 * one task runs per iteration, so every carried task runs within
 * TASK_CARRY_MAX iterations. Returns non-zero when the loop was destroyed
 * by one of them. */
static int run_tasks(pev_loop_t *loop, const pevi_sentry_t *frame)
{
    pevi_link_t batch, *l;
    apr_time_t end = 0;
    apr_size_t before_carry = 0;    /* once the slice has run out: tasks to
                                     * run before the rest is carried */
    int timed, over = 0;

    if (pevi_list_empty(&loop->tasks))
        return 0;
    /* move the list to a local head: a task cancelled meanwhile unlinks
     * itself from wherever it is */
    batch.next = loop->tasks.next;
    batch.prev = loop->tasks.prev;
    batch.next->prev = &batch;
    batch.prev->next = &batch;
    pevi_list_init(&loop->tasks);
    timed = loop->flush_slice > 0;
    if (timed)
        end = time_add(read_clock(loop), loop->flush_slice);
    while ((l = pevi_list_shift(&batch)) != NULL) {
        pevi_task_t *task = PEVI_CONTAINER(l, pevi_task_t, link);

        task->run(task);        /* may free the task, others, or the loop */
        if (pevi_sentry_gone(frame))
            return 1;
        if (!timed)
            continue;
        if (!over) {
            apr_size_t left;

            /* a stop asked for: pev_loop_run() returns after this
             * iteration, with every task run, as without a slice */
            if (read_clock(loop) < end || atomic_load_explicit(&loop->stop,
                                                               memory_order_relaxed))
                continue;
            over = 1;
            left = list_length(&batch);
            before_carry = left > TASK_CARRY_MAX ? left - TASK_CARRY_MAX : 0;
        }
        else
            before_carry--;
        if (before_carry == 0) {
            tasks_carry(loop, &batch);
            break;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Posted calls                                                              */

apr_status_t pev_loop_post(pev_loop_t *loop, pev_post_fn *fn, void *user_data)
{
    post_node_t *node, *head;
    apr_status_t st = APR_SUCCESS;

    if (!loop || !fn)
        return APR_EINVAL;
    /* counted while under way: the loop's cleanup waits for the count to
     * fall to 0, so a call this post makes run (another wakeup may run it
     * before this returns) can destroy the loop without this touching freed
     * memory */
    atomic_fetch_add(&loop->posting, 1);
    if (atomic_load(&loop->closed)) {
        st = PEV_EDESTROYED;
        goto out;
    }
    node = malloc(sizeof *node);    /* not from a pool: any thread */
    if (!node) {
        st = APR_ENOMEM;
        goto out;
    }
    node->fn = fn;
    node->user_data = user_data;
    head = atomic_load_explicit(&loop->posted, memory_order_relaxed);
    do
        node->next = head;
    while (!atomic_compare_exchange_weak_explicit(&loop->posted, &head, node,
                                                  memory_order_seq_cst,
                                                  memory_order_relaxed));
    /* the first of a batch wakes the loop. The loop clears the wakeup flag,
     * then takes the list; this pushes, then sets the flag (all sequentially
     * consistent): either the loop's take sees this node, or this sees the
     * flag cleared and writes a byte. A spinning loop needs no byte (see the
     * top of the file). */
    if (head == NULL && !atomic_load(&loop->spinning))
        pev_loop_wakeup(loop);
out:
    atomic_fetch_sub(&loop->posting, 1);
    return st;
}

/* Take every call posted so far, oldest first. */
static post_node_t *posted_take(pev_loop_t *loop)
{
    post_node_t *l = atomic_exchange(&loop->posted, NULL);
    post_node_t *fifo = NULL;

    while (l) {                     /* reverse: newest first -> oldest first */
        post_node_t *next = l->next;

        l->next = fifo;
        fifo = l;
        l = next;
    }
    return fifo;
}

/* Deliver @a batch as cancelled, in order. Touches no loop memory: the loop
 * may be gone already. */
static void posted_cancel(post_node_t *batch)
{
    while (batch) {
        post_node_t *n = batch;

        batch = n->next;
        n->fn(n->user_data, 1);
        free(n);
    }
}

/* Run the calls posted before the wakeup was consumed. Calls they post wait
 * for the next iteration. The rest of the batch is kept in the loop: a call
 * that destroys the loop leaves it to the loop's cleanup, which delivers it
 * as cancelled before what was posted since. Returns non-zero when a call
 * destroyed the loop (nothing of it may be touched then). */
static int posted_run(pev_loop_t *loop, const pevi_sentry_t *frame)
{
    post_node_t *n;

    loop->batch = posted_take(loop);
    while ((n = loop->batch) != NULL) {
        loop->batch = n->next;
        n->fn(n->user_data, 0);     /* may post, or destroy the loop */
        free(n);
        if (pevi_sentry_gone(frame))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Loop                                                                      */

/* A component's owners on the loop (pevi_loop_owners()). */
typedef struct loop_part {
    pevi_link_t link;               /* on the loop's parts */
    const void *key;                /* the component's */
    pevi_owners_t owners;
} loop_part_t;

static apr_status_t loop_cleanup(void *data)
{
    pev_loop_t *loop = data;
    pevi_link_t *l;

    pevi_sentry_kill_all(&loop->frame);
    /* queued calls first, while the loop is still whole; a post from one of
     * them fails */
    atomic_store(&loop->closed, 1);
    while (atomic_load(&loop->posting) > 0)
        sched_yield();              /* a post finishing its wakeup */
    posted_cancel(loop->batch);     /* the running batch's rest, then newer */
    loop->batch = NULL;
    posted_cancel(posted_take(loop));
    /* items of pools inside the loop's pool were released already (subpools
     * go before plain cleanups); the others become inert: the components'
     * first, newest first, then the timers */
    for (l = loop->parts.prev; l != &loop->parts; l = l->prev)
        pevi_owners_detach_all(&PEVI_CONTAINER(l, loop_part_t, link)->owners);
    pevi_owners_detach_all(&loop->owners);
    pevi_signals_fini(&loop->signals);
    pevi_heap_free(&loop->heap);
    while (loop->bufs) {
        void *b = loop->bufs;

        memcpy(&loop->bufs, b, sizeof b);
        free(b);
    }
    loop->nbufs = 0;
    free(loop->due);
    loop->due = NULL;
    loop->ndue = loop->due_cap = 0;
    return APR_SUCCESS;
}

void *pevi_loop_buf_take(pev_loop_t *loop)
{
    void *b = loop->bufs;

    if (b) {
        memcpy(&loop->bufs, b, sizeof b);
        loop->nbufs--;
    }
    return b;
}

void pevi_loop_buf_give(pev_loop_t *loop, void *buf)
{
    if (loop->nbufs >= PEVI_BUF_CACHE) {
        free(buf);
        return;
    }
    memcpy(buf, &loop->bufs, sizeof buf);
    loop->bufs = buf;
    loop->nbufs++;
}

struct pevi_signals *pevi_loop_signals(pev_loop_t *loop)
{
    return &loop->signals;
}

apr_pool_t *pevi_loop_pool(pev_loop_t *loop)
{
    return loop->pool;
}

pevi_owners_t *pevi_loop_owners(pev_loop_t *loop, const void *key,
                                pevi_release_fn *release, pevi_orphan_fn *orphan)
{
    loop_part_t *part;
    pevi_link_t *l;

    for (l = loop->parts.next; l != &loop->parts; l = l->next) {
        part = PEVI_CONTAINER(l, loop_part_t, link);
        if (part->key == key)
            return &part->owners;
    }
    part = apr_palloc(loop->pool, sizeof *part);
    if (!part)
        return NULL;
    part->key = key;
    pevi_owners_init(&part->owners, loop, release, NULL, orphan, loop->pool);
    pevi_list_append(&loop->parts, &part->link);
    return &part->owners;
}

void pevi_loop_ios_adjust(pev_loop_t *loop, int delta)
{
    loop->ios += delta;
}

apr_time_t pevi_loop_clock(const pev_loop_t *loop)
{
    return read_clock(loop);
}

int pevi_loop_running(const pev_loop_t *loop)
{
    return loop->frame != NULL;
}

apr_size_t pevi_loop_pool_timers(const pev_loop_t *loop, apr_pool_t *pool)
{
    pevi_owner_t *ow;
    pevi_link_t *item;
    apr_size_t n = 0;

    if (!loop || !pool)
        return 0;
    ow = apr_hash_get(loop->owners.by_pool, &pool, sizeof pool);
    if (ow)                     /* released records are no timers */
        for (item = ow->head.next; item != &ow->head; item = item->next) {
            rec_run_t *r = PEVI_CONTAINER(item, rec_run_t, owned);
            pev_timer_t *first = run_first(r);
            apr_size_t i, used = run_used(loop, r);

            for (i = 0; i < used; i++)
                n += first[i].fn != NULL;
        }
    return n;
}

apr_status_t pev_loop_create(pev_loop_t **out, apr_pool_t *pool)
{
    pev_loop_t *loop;
    apr_os_file_t fd;
    apr_status_t st;

    if (!out || !pool)
        return APR_EINVAL;
    loop = apr_pcalloc(pool, sizeof *loop);
    loop->pool = pool;
    loop->clock = monotonic_clock;
    loop->now = pev_clock_monotonic();
    pevi_heap_init(&loop->heap);
    pevi_heap_keep(&loop->heap, HEAP_KEEP);
    pevi_list_init(&loop->tasks);
    atomic_init(&loop->wake_pending, 0);
    atomic_init(&loop->stop, 0);
    atomic_init(&loop->wakeup_writes, 0);
    atomic_init(&loop->posted, NULL);
    atomic_init(&loop->closed, 0);
    atomic_init(&loop->posting, 0);
    atomic_init(&loop->spinning, 0);
    pevi_owners_init(&loop->owners, loop, timer_release, timer_settle, timer_orphan, pool);
    pevi_list_init(&loop->parts);
    pevi_signals_init(&loop->signals, loop, pool);

    /* NOCOPY: the pollset keeps pointers to our apr_pollfd_t records instead
     * of copies in a ring it manages itself */
    st = apr_pollset_create_ex(&loop->pollset, POLL_BATCH, pool,
                               APR_POLLSET_NOCOPY, APR_POLLSET_DEFAULT);
    if (st != APR_SUCCESS)
        return st;
    st = apr_file_pipe_create_ex(&loop->wake_r, &loop->wake_w, APR_FULL_NONBLOCK, pool);
    if (st != APR_SUCCESS)
        return st;
    apr_os_file_get(&fd, loop->wake_w);
    loop->wake_fd = fd;
    loop->wake_pfd.p = pool;
    loop->wake_pfd.desc_type = APR_POLL_FILE;
    loop->wake_pfd.reqevents = APR_POLLIN;
    loop->wake_pfd.rtnevents = 0;
    loop->wake_pfd.desc.f = loop->wake_r;
    loop->wake_pfd.client_data = &loop->wake_pfd;
    st = apr_pollset_add(loop->pollset, &loop->wake_pfd);
    if (st != APR_SUCCESS)
        return st;
    /* registered last: runs first, while the pollset and pipe still exist */
    apr_pool_cleanup_register(pool, loop, loop_cleanup, apr_pool_cleanup_null);
    *out = loop;
    return APR_SUCCESS;
}

apr_status_t pev_loop_set_clock(pev_loop_t *loop, pev_clock_fn *fn, void *user_data)
{
    if (!loop || !fn)
        return APR_EINVAL;
    loop->clock = fn;
    loop->clock_user_data = user_data;
    loop->now = read_clock(loop);
    return APR_SUCCESS;
}

apr_time_t pev_loop_now(const pev_loop_t *loop)
{
    return loop ? loop->now : 0;
}

apr_status_t pev_loop_wakeup(pev_loop_t *loop)
{
    if (!loop)
        return APR_EINVAL;
    /* one byte in the pipe at most, however many calls: never blocks */
    if (!atomic_exchange(&loop->wake_pending, 1)) {
        ssize_t n;
        do
            n = write(loop->wake_fd, "", 1);
        while (n < 0 && errno == EINTR);
        atomic_fetch_add_explicit(&loop->wakeup_writes, 1, memory_order_relaxed);
    }
    return APR_SUCCESS;
}

/* The pipe is readable: consume the wakeup. The flag is cleared first and
 * exactly one byte is read: the one written by the call that set the flag. A
 * wakeup racing with this writes its own byte, which stays for the next
 * iteration. (Reading the pipe empty could swallow that byte while the flag
 * stays set, and no later wakeup would ever write again.) */
static void wakeup_consume(pev_loop_t *loop)
{
    char byte;
    apr_size_t n = 1;

    atomic_store(&loop->wake_pending, 0);
    (void) apr_file_read(loop->wake_r, &byte, &n);
}

apr_status_t pev_loop_stop(pev_loop_t *loop)
{
    if (!loop)
        return APR_EINVAL;
    atomic_store(&loop->stop, 1);
    return pev_loop_wakeup(loop);
}

/* The top entry's timer @a t was re-armed lazily: give the entry the mark
 * and seq recorded (loop_int.h), which sorts it after its old place. */
static void retime_top(pev_loop_t *loop, pev_timer_t *t)
{
    pevi_heap_retime_top(&loop->heap, t->node.mark, t->node.seq + PEVI_TLAG(t));
    PEVI_TLAG(t) = 0;
}

/* The heap's first armed timer (cancelled entries on top are dropped), or
 * NULL. Its entry's mark (pevi_heap_top_mark()) is the earliest any timer
 * can fire: a lazily re-armed one's is only a lower bound, left for
 * take_due() to correct when it has come (correcting it here would move
 * every re-armed entry on the way to the first armed mark, at every wait). */
static pevi_heap_node_t *first_live(pev_loop_t *loop)
{
    pevi_heap_node_t *top;

    while ((top = pevi_heap_top(&loop->heap)) != NULL) {
        pev_timer_t *t = PEVI_CONTAINER(top, pev_timer_t, node);

        if (PEVI_TSTATE(t) != T_DEAD)
            break;
        pevi_heap_pop(&loop->heap);
        PEVI_TSTATE(t) = T_IDLE;
        loop->dead--;
    }
    return top;
}

/* Step 3: move every timer whose mark has come from the heap to the due
 * array, in (mark, seq) order. The array is empty here. If it cannot grow,
 * the rest stays in the heap (fires later, never early). */
static void take_due(pev_loop_t *loop)
{
    pevi_heap_t *h = &loop->heap;
    apr_time_t now = loop->now;
    apr_size_t n = 0;

    /* after a wait, the records (and the heap) may be out of the cache:
     * ask for the due ones' at once rather than one pop at a time (not
     * between iterations that follow each other closely: the walk would
     * find them in the cache) */
    if ((apr_uint64_t) now - (apr_uint64_t) loop->last_take >= COLD_AFTER)
        pevi_heap_prefetch_due(h, now);
    loop->last_take = now;
    while (pevi_heap_size(h) && pevi_heap_top_mark(h) <= now) {
        pev_timer_t *t = PEVI_CONTAINER(pevi_heap_top(h), pev_timer_t, node);
        pevi_heap_node_t *next;

        if (PEVI_TSTATE(t) == T_HEAP && PEVI_TLAG(t)) {
            /* re-armed lazily: its entry's mark was only a lower bound */
            retime_top(loop, t);
            continue;
        }
        (void) pevi_heap_pop(h);
        /* the next one's record is most likely a cache miss: ask for it
         * while this one is handled */
        next = pevi_heap_top(h);
        if (next)
            prefetch_w(next);
        if (PEVI_TSTATE(t) == T_DEAD) {
            PEVI_TSTATE(t) = T_IDLE;
            loop->dead--;
            continue;
        }
        if (n == loop->due_cap) {
            apr_size_t cap = loop->due_cap ? loop->due_cap * 2 : DUE_MIN;
            pev_timer_t **due = realloc(loop->due, cap * sizeof *due);

            if (!due) {             /* back in; its seq is new (it goes after
                                     * equal marks): fine, it fires later */
                if (pevi_heap_push(h, &t->node, t->node.mark) != APR_SUCCESS) {
                    /* cannot happen: the pop left room */
                    PEVI_TSTATE(t) = T_IDLE;
                    loop->armed--;
                }
                break;
            }
            loop->due = due;
            loop->due_cap = cap;
        }
        t->node.index = (apr_uint32_t) n;
        PEVI_TSTATE(t) = T_DUE;
        loop->due[n++] = t;
    }
    loop->ndue = n;
}

/* Step 5: run the due timers in order, skipping those cancelled or re-armed
 * since step 3. Returns non-zero when a callback destroyed the loop. */
static int run_due(pev_loop_t *loop, const pevi_sentry_t *frame)
{
    apr_size_t i;

    for (i = 0; i < loop->ndue; i++) {
        pev_timer_t *t = loop->due[i];

        if (i + 4 < loop->ndue && loop->due[i + 4])
            prefetch_w(loop->due[i + 4]);
        if (!t)
            continue;
        loop->due[i] = NULL;
        PEVI_TSTATE(t) = T_IDLE;
        t->node.index = PEVI_HEAP_NONE;
        loop->armed--;
        t->fn(t, t->user_data);     /* may free t, other timers, or the loop */
        if (pevi_sentry_gone(frame))
            return 1;
    }
    loop->ndue = 0;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The flush slice                                                           */

apr_status_t pev_loop_set_flush_slice(pev_loop_t *loop, apr_interval_time_t usec)
{
    if (!loop || usec < 0 || usec > MAX_FLUSH_SLICE)
        return APR_EINVAL;
    loop->flush_slice = usec;
    return APR_SUCCESS;
}

apr_interval_time_t pev_loop_flush_slice(const pev_loop_t *loop)
{
    return loop ? loop->flush_slice : 0;
}

/* ------------------------------------------------------------------------ */
/* Spinning before sleeping                                                  */

apr_status_t pev_loop_set_spin(pev_loop_t *loop, apr_interval_time_t max)
{
    if (!loop || max < 0 || max > MAX_SPIN)
        return APR_EINVAL;
    loop->spin_max = loop->spin_cur = (apr_int64_t) max * 1000;
    return APR_SUCCESS;
}

static inline apr_int64_t spin_clock(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spin for at most @a limit ns, watching the posted list and the wakeup
 * flag, and the descriptors every SPIN_POLL_NS. Returns 1 when calls were
 * posted (the caller runs them without a poll), 0 otherwise; *@a n > 0 when
 * descriptors became ready (*@a st, *@a descs from that poll). */
static int spin(pev_loop_t *loop, apr_int64_t limit, apr_int32_t *n,
                const apr_pollfd_t **descs, apr_status_t *st)
{
    apr_int64_t start = spin_clock(), next_poll = loop->last_look + SPIN_POLL_NS;
    int posted = 0;

    atomic_store(&loop->spinning, 1);
    for (;;) {
        apr_int64_t now;

        if (atomic_load_explicit(&loop->posted, memory_order_relaxed) != NULL) {
            posted = 1;
            break;
        }
        if (atomic_load_explicit(&loop->wake_pending, memory_order_relaxed))
            break;              /* a byte is in the pipe, or about to be */
        cpu_relax();
        now = spin_clock();
        if (now - start >= limit)
            break;
        if (now >= next_poll) {
            *n = 0;
            loop->last_look = now;
            *st = apr_pollset_poll(loop->pollset, 0, n, descs);
            if (*n > 0 || (*st != APR_SUCCESS && !APR_STATUS_IS_TIMEUP(*st)))
                break;
            next_poll = now + SPIN_POLL_NS;
            sched_yield();      /* a thread waiting for this core goes first */
        }
    }
    atomic_store(&loop->spinning, 0);
    /* the last look: a post that saw the flag set wrote nothing */
    if (!posted && atomic_load(&loop->posted) != NULL)
        posted = 1;
    return posted;
}

/* Step 1 of an iteration: poll, spinning first if the loop is set to.
 * @a timeout is the wait as the poll takes it (rounded up to its
 * millisecond when a timer's mark bounds it), @a exact the same wait not
 * rounded (the time to that mark): a spin ends at the mark, and the sleep
 * after it is the rest of @a exact rounded up once, so the spin adds
 * nothing to the rounding a poll without a spin makes.
 * Returns 1 when the spin saw posted calls (then nothing was polled). */
static int wait_ready(pev_loop_t *loop, apr_interval_time_t timeout,
                      apr_interval_time_t exact, apr_int32_t *n,
                      const apr_pollfd_t **descs, apr_status_t *st)
{
    apr_int64_t limit, spent, slept, now;

    if (timeout == 0 || loop->spin_max == 0) {
        *st = apr_pollset_poll(loop->pollset, timeout, n, descs);
        return 0;
    }
    /* look first, unless the last look is recent: what is ready needs no
     * spin (and descriptors are seen at least every SPIN_POLL_NS, however
     * many posted calls keep the loop from sleeping) */
    *n = 0;
    now = spin_clock();
    if (now - loop->last_look >= SPIN_POLL_NS) {
        loop->last_look = now;
        *st = apr_pollset_poll(loop->pollset, 0, n, descs);
        if (*n > 0 || (*st != APR_SUCCESS && !APR_STATUS_IS_TIMEUP(*st)))
            return 0;
        *n = 0;
    }
    *st = APR_TIMEUP;
    if (atomic_load(&loop->posted) != NULL)
        return 1;
    limit = loop->spin_cur;
    if (exact > 0 && (apr_int64_t) exact * 1000 < limit)
        limit = (apr_int64_t) exact * 1000;
    spent = 0;
    if (limit > 0) {
        apr_int64_t t0 = spin_clock();

        if (spin(loop, limit, n, descs, st)) {
            loop->spins_caught++;
            return 1;
        }
        if (*n > 0 || (*st != APR_SUCCESS && !APR_STATUS_IS_TIMEUP(*st))) {
            loop->spins_caught++;
            return 0;
        }
        spent = spin_clock() - t0;
        if (!atomic_load(&loop->wake_pending)) {
            loop->spins_missed++;
            loop->spin_cur /= 2;        /* nothing came: spin less */
            if (loop->spin_cur < loop->spin_max / 8)
                loop->spin_cur = loop->spin_max / 8;
        }
        if (exact > 0 && spent >= (apr_int64_t) exact * 1000) {
            *n = 0;
            *st = APR_TIMEUP;           /* the wait is over: a timer is due */
            return 0;
        }
    }
    /* sleep for the rest, in whole milliseconds (the poll's resolution):
     * never shorter than asked, so a timer is not found early; the rest of
     * the exact wait, not of the rounded one (that would add the spin's
     * part of a millisecond to every wait a timer ends) */
    if (timeout > 0)
        timeout = (exact - spent / 1000 + 999) / 1000 * 1000;
    slept = spin_clock();
    *st = apr_pollset_poll(loop->pollset, timeout, n, descs);
    loop->last_look = spin_clock();
    slept = loop->last_look - slept;
    if (*st == APR_SUCCESS && *n > 0 && slept < loop->spin_max) {
        /* woken sooner than the longest spin: a longer one would have
         * caught it */
        loop->spin_cur *= 2;
        if (loop->spin_cur > loop->spin_max)
            loop->spin_cur = loop->spin_max;
    }
    return 0;
}

/* One iteration (see the top of the file). */
static apr_status_t iterate(pev_loop_t *loop, apr_interval_time_t timeout,
                            const pevi_sentry_t *frame)
{
    const apr_pollfd_t *descs = NULL;
    pevi_heap_node_t *top;
    apr_int32_t n = 0, i;
    apr_interval_time_t exact;
    apr_status_t st;
    int posted;

    /* 1. wait, at most until the first mark (rounded up to the poll's
     * millisecond resolution, so that we never wake just before it; a spin
     * is given the wait not rounded) */
    top = first_live(loop);
    exact = timeout;
    if (top != NULL) {
        apr_time_t clock = read_clock(loop), mark = pevi_heap_top_mark(&loop->heap);
        apr_interval_time_t d = mark <= clock ? 0
                              : mark - clock > MAX_WAIT ? MAX_WAIT
                              : (mark - clock + 999) / 1000 * 1000;

        if (timeout < 0 || d < timeout) {
            timeout = d;
            exact = d == 0 || d == MAX_WAIT ? d : mark - clock;
        }
    }
    if (!pevi_list_empty(&loop->tasks))
        timeout = exact = 0;    /* work is waiting: only look */
    if (timeout > MAX_WAIT)
        timeout = exact = MAX_WAIT;
    posted = wait_ready(loop, timeout, exact, &n, &descs, &st);
    if (st != APR_SUCCESS && !APR_STATUS_IS_TIMEUP(st) && !APR_STATUS_IS_EINTR(st)) {
        if (posted)
            pev_loop_wakeup(loop);  /* no byte was written for them */
        return st;
    }
    if (st != APR_SUCCESS)
        n = 0;
    /* copy what the poll reported: a descriptor taken out of the loop by a
     * callback of this iteration is cleared from the copy (io_forget), so
     * no later entry points at freed memory */
    for (i = 0; i < n; i++) {
        loop->ready[i].tag = descs[i].client_data;
        loop->ready[i].events = descs[i].rtnevents;
    }
    loop->nready = n;
    loop->ready_pos = 0;

    /* 2. the iteration's time */
    loop->now = read_clock(loop);
    loop->iterations++;

    /* 3. the due set, fixed before any callback runs */
    take_due(loop);

    /* 4. readiness; signals */
    while (loop->ready_pos < loop->nready) {
        ready_entry_t *e = &loop->ready[loop->ready_pos++];

        pevi_io_t *io;

        if (e->tag == NULL)
            continue;           /* taken out of the loop since the poll */
        if (e->tag == &loop->wake_pfd) {
            wakeup_consume(loop);   /* the flag is clear: then take the batch */
            if (posted_run(loop, frame))
                return PEV_EDESTROYED;
            continue;
        }
        io = e->tag;
        io->ready(io, e->events);   /* may free io, others, or the loop */
        if (pevi_sentry_gone(frame))
            return PEV_EDESTROYED;
    }
    loop->nready = loop->ready_pos = 0;
    if (posted && posted_run(loop, frame))
        return PEV_EDESTROYED;      /* the spin saw them: no byte to consume */
    if (pevi_signals_dispatch(&loop->signals, frame))
        return PEV_EDESTROYED;

    /* 5. the due timers, in order */
    if (run_due(loop, frame))
        return PEV_EDESTROYED;

    /* 6. end-of-iteration tasks: output flushes, closes */
    if (run_tasks(loop, frame))
        return PEV_EDESTROYED;
    return APR_SUCCESS;
}

apr_status_t pev_loop_run_once(pev_loop_t *loop, apr_interval_time_t timeout)
{
    pevi_sentry_t frame;
    apr_status_t st;

    if (!loop)
        return APR_EINVAL;
    if (loop->frame)
        return PEV_EBUSY;
    pevi_sentry_push(&loop->frame, &frame);
    st = iterate(loop, timeout, &frame);
    if (pevi_sentry_gone(&frame))
        return PEV_EDESTROYED;
    pevi_sentry_pop_top(&loop->frame, &frame);
    return st;
}

apr_status_t pev_loop_run(pev_loop_t *loop)
{
    if (!loop)
        return APR_EINVAL;
    if (loop->frame)
        return PEV_EBUSY;
    while (!atomic_exchange(&loop->stop, 0)) {
        apr_status_t st;

        if (loop->armed == 0 && loop->ios == 0 && pevi_list_empty(&loop->tasks)
            && pevi_signals_count(&loop->signals) == 0
            && atomic_load_explicit(&loop->posted, memory_order_relaxed) == NULL)
            return APR_SUCCESS;         /* nothing registered */
        st = pev_loop_run_once(loop, -1);
        if (st != APR_SUCCESS)
            return st;
    }
    return APR_SUCCESS;
}

apr_status_t pev_loop_stats(const pev_loop_t *loop, pev_loop_stats_t *stats)
{
    const pevi_link_t *l;

    if (!loop || !stats)
        return APR_EINVAL;
    stats->timers_armed = loop->armed;
    stats->signal_handlers = pevi_signals_count(&loop->signals);
    stats->streams = loop->ios;
    stats->owners = pevi_owners_count(&loop->owners)
                    + pevi_owners_count(&loop->signals.owners);
    for (l = loop->parts.next; l != &loop->parts; l = l->next)
        stats->owners += pevi_owners_count(&PEVI_CONTAINER(l, loop_part_t, link)->owners);
    stats->iterations = loop->iterations;
    stats->wakeup_writes = atomic_load(&loop->wakeup_writes);
    stats->spins_caught = loop->spins_caught;
    stats->spins_missed = loop->spins_missed;
    stats->tasks_carried = loop->tasks_carried;
    return APR_SUCCESS;
}
