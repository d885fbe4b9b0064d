/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/loop.h - the event loop: poll, a monotonic clock, timers, deferred
 * calls and cross-thread wakeups.
 *
 * Lifetimes (doc/loop.md has the details):
 *  - The loop is owned by the pool given to pev_loop_create(). Clearing or
 *    destroying that pool closes everything registered on it; if that happens
 *    inside a callback, the running pev_loop_run()/pev_loop_run_once()
 *    returns PEV_EDESTROYED without touching the loop again.
 *  - Every timer is bound to a lifetime pool; its record is allocated from
 *    that pool. Clearing or destroying the pool cancels the timer first (an
 *    O(1) pre-cleanup per (pool, loop), never one cleanup per timer), also
 *    from inside any timer callback, the timer's own included.
 *  - A timer handle stays valid memory as long as its lifetime pool: cancel
 *    or re-arm of a fired or cancelled timer returns a status, never crashes,
 *    until the caller gives the handle up with pev_timer_release(). Each
 *    pev_timer_add() takes a record released for the same lifetime pool on
 *    the same loop, if there is one, or allocates a new one from that pool
 *    (in runs, while adds keep to one pool); a record is reused only after
 *    pev_timer_release(), and only for its own pool. A periodic or
 *    repeatedly-reset timer should be re-armed, not added again.
 *
 * Threads: a loop runs on one thread. pev_loop_wakeup(), pev_loop_stop()
 * and pev_loop_post() may be called from any thread while the loop exists;
 * everything else belongs to the loop's thread.
 */
#ifndef POOLEV_LOOP_H
#define POOLEV_LOOP_H

#include <apr_pools.h>
#include <apr_time.h>

#include "poolev/export.h"
#include "poolev/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An event loop (opaque). */
typedef struct pev_loop pev_loop_t;
/** A one-shot timer, re-armable (opaque). */
typedef struct pev_timer pev_timer_t;

/** A clock: returns microseconds, never going backwards. */
typedef apr_time_t pev_clock_fn(void *user_data);

/**
 * A timer callback. @a timer is idle (not armed) when called; the callback
 * may re-arm it, cancel, release or add other timers, release @a timer, or
 * clear or destroy any pool, including the timer's own lifetime pool (after
 * a release or such a clear it must not touch @a timer).
 */
typedef void pev_timer_fn(pev_timer_t *timer, void *user_data);

/** The monotonic system clock in microseconds (CLOCK_MONOTONIC): unaffected
 *  by steps of the wall clock. Thread-safe. */
PEV_API apr_time_t pev_clock_monotonic(void);

/* ------------------------------------------------------------------------ */
/* Loop                                                                      */

/**
 * Create a loop owned by @a pool.
 * @return APR_SUCCESS; APR_EINVAL for NULL arguments; an APR error if the
 *         pollset or the wakeup pipe cannot be created.
 */
PEV_API apr_status_t pev_loop_create(pev_loop_t **loop, apr_pool_t *pool);

/**
 * Run iterations until pev_loop_stop() or until nothing is registered (no
 * armed timer, no signal handler, no open stream, no posted call waiting).
 *
 * @return APR_SUCCESS; PEV_EDESTROYED if a callback destroyed the loop;
 *         PEV_EBUSY if called from inside one of this loop's callbacks (the
 *         loop does not nest); an APR error from polling.
 */
PEV_API apr_status_t pev_loop_run(pev_loop_t *loop);

/**
 * Run one iteration: wait for readiness at most @a timeout microseconds
 * (shortened to the next timer's mark; 0: do not wait; negative: no limit),
 * read the clock, take every timer whose mark has come, handle readiness
 * (streams, wakeups and the calls posted with pev_loop_post()) and signals,
 * then fire the timers taken, in (mark, arming order) order, and last send
 * the output streams buffered during the iteration and finish their
 * closes (with a flush slice, up to 64 of these may wait for the next
 * iteration: pev_loop_set_flush_slice()). The timers to fire are fixed
 * before any callback runs: a timer armed during the iteration for a mark that has
 * already passed fires in the next iteration, after the next poll. When
 * output or a close is waiting from outside the loop, the poll does not
 * wait.
 *
 * The wait may end at the mark a timer had before pev_timer_rearm() moved
 * it later (see there): then the iteration fires nothing for it, and the
 * next one waits for the new mark.
 *
 * With a fake clock (pev_loop_set_clock()) the wait to a timer's mark is
 * computed from that clock as if it ran in real time: tests pass 0.
 *
 * @return as pev_loop_run(), plus APR_TIMEUP never (an idle iteration is
 *         APR_SUCCESS).
 */
PEV_API apr_status_t pev_loop_run_once(pev_loop_t *loop, apr_interval_time_t timeout);

/**
 * Ask pev_loop_run() to return after the current iteration. Callable from
 * any thread and from callbacks; wakes the loop if it is waiting. A stop
 * requested while pev_loop_run() is not running is kept: the next
 * pev_loop_run() returns at once.
 * @return APR_SUCCESS; APR_EINVAL for NULL.
 */
PEV_API apr_status_t pev_loop_stop(pev_loop_t *loop);

/**
 * Wake the loop from its wait. Callable from any thread and from signal
 * handlers (async-signal-safe: an atomic flag and at most one write(2) until
 * the loop has drained it). Never blocks, however often it is called: wakeups
 * coalesce until the loop runs.
 * @return APR_SUCCESS; APR_EINVAL for NULL.
 */
PEV_API apr_status_t pev_loop_wakeup(pev_loop_t *loop);

/**
 * Let the loop spin for up to @a max microseconds before it sleeps: an
 * iteration that would wait first polls without waiting, then watches its
 * posted calls (pev_loop_post()) and wakeups in a busy loop, looking at its
 * descriptors every 2 us, and sleeps in the poll only when nothing came.
 * A call posted to a spinning loop writes nothing to the wakeup pipe and
 * is run by the spinner within a fraction of a microsecond, instead of
 * after the kernel has woken a sleeping thread (5-60 us on a virtual
 * machine whose idle CPU has halted); a descriptor is seen within 2 us.
 *
 * The spin adapts: one that ends with nothing halves the next (down to an
 * eighth of @a max); a sleep woken sooner than @a max doubles it again (up
 * to @a max). A spin never delays a timer: it ends at the first timer's
 * mark. Between its looks at the descriptors it yields the CPU
 * (sched_yield(2)) to a thread waiting for it.
 *
 * The price is CPU: a spinning loop keeps its core busy for up to @a max
 * after its last event, which costs the other threads of a machine without
 * a core to spare. Set it on loops that each have a core of their own and
 * trade CPU for latency (a worker exchanging events with other workers);
 * leave it 0 (the default: never spin) elsewhere. pev_loop_stats() counts
 * the spins caught and missed.
 *
 * Call it on the loop's thread, or before the loop runs; any time, also
 * from a callback (the next wait uses it).
 * @param max microseconds, 0 to 10,000; 0 turns spinning off.
 * @return APR_SUCCESS; APR_EINVAL for NULL or @a max out of range.
 */
PEV_API apr_status_t pev_loop_set_spin(pev_loop_t *loop, apr_interval_time_t max);

/**
 * Bound the time the loop spends on end-of-iteration tasks (step 6 of
 * pev_loop_run_once(): the output streams buffered during the iteration,
 * closes and their close callbacks, drain callbacks, TLS handshake steps,
 * the reads of file streams, watchers' soon calls) to @a usec
 * microseconds per iteration, so that a loop with many streams to flush
 * goes back to its input sooner.
 *
 * @note Once the tasks of an iteration have run @a usec (on the loop's
 *       clock, pev_loop_set_clock()), the loop runs on until at most 64 of
 *       them are left, and those wait for the next iteration: they run
 *       first there, before the tasks posted since, in the order they had.
 *       That iteration polls without waiting and handles its input first,
 *       so what its callbacks write to a waiting stream goes in the same
 *       send. Below @a usec nothing changes: an idle or lightly loaded loop
 *       flushes everything in the iteration that wrote it.
 * @note Nothing is lost or reordered: a stream's output leaves in the order
 *       it was written, and a stream closed, or whose pool is destroyed,
 *       while its flush waits is handled as in any other iteration. At
 *       least one task runs per iteration, so a waiting task runs within
 *       64 iterations, each of which polls without waiting.
 * @note Memory stays bounded: at most 64 streams keep their output buffers
 *       across an iteration because of the slice, and the output limit of
 *       each stream (pev_stream_set_output_limit()) holds as before.
 * @note pev_loop_run() does not return for want of registrations while a
 *       task waits, and an iteration during which pev_loop_stop() was
 *       asked for runs every task, as without a slice, so pev_loop_run()
 *       returns with nothing waiting. pev_loop_run_once() may return with
 *       tasks waiting (the next call does not wait). pev_loop_stats()
 *       counts the carries (tasks_carried).
 * @note The price: under load a flush may leave one iteration later (a
 *       poll without waiting plus that iteration's input, typically a few
 *       microseconds). With a slice of 10-50 us a daemon serving many
 *       connections at once sends fewer, larger writes (doc/performance.md,
 *       "Pub/sub: pubsubd against Redis", "The flush slice"). Default: 0,
 *       no slice.
 *
 * Call it on the loop's thread, or before the loop runs; any time, also
 * from a callback (the next iteration uses it).
 * @param usec microseconds, 0 to 100,000; 0 turns the slice off.
 * @return APR_SUCCESS; APR_EINVAL for NULL or @a usec out of range.
 */
PEV_API apr_status_t pev_loop_set_flush_slice(pev_loop_t *loop, apr_interval_time_t usec);

/** The flush slice set with pev_loop_set_flush_slice(), microseconds (0: none,
 *  or a NULL @a loop). On the loop's thread. */
PEV_API apr_interval_time_t pev_loop_flush_slice(const pev_loop_t *loop);

/**
 * A call posted with pev_loop_post(). Runs on the loop's thread with
 * @a cancelled 0, or with @a cancelled 1 when the loop went before the call
 * could run (its pool was cleared or destroyed): then it must not use the
 * loop, only release @a user_data. Either way it is called exactly once.
 * A call that is not cancelled may do what a timer callback may: post more
 * calls (they run in a later iteration), add timers, clear or destroy any
 * pool, the loop's included.
 */
typedef void pev_post_fn(void *user_data, int cancelled);

/**
 * Run @a fn(@a user_data, 0) on the loop's thread, in a later iteration:
 * the one that consumes the wakeup this post caused (step 4 of
 * pev_loop_run_once()), or the one whose spin saw it (pev_loop_set_spin()),
 * never inside the calling callback. Calls run in the
 * order they were posted (a total order: the order in which the posts took
 * effect, so each thread's calls keep their order). The loop takes all the
 * calls queued so far at once; calls posted while they run wait for the next
 * iteration. pev_loop_run() does not return for want of registrations while
 * a posted call waits.
 *
 * Never blocks and takes no lock: a node from malloc(3) is pushed on an
 * atomic list. Wakeups coalesce: only the post that finds the queue empty
 * wakes the loop (pev_loop_wakeup(): at most one write(2) per batch; none
 * while the loop spins).
 *
 * Ownership: on APR_SUCCESS @a user_data passes to @a fn, which is called
 * exactly once. When the loop's pool is cleared or destroyed, every call
 * still queued, and the rest of a batch one of whose calls destroyed the
 * loop, is called on the thread that destroys the pool with @a cancelled 1,
 * in order, so that it can release @a user_data. On an error @a fn is never
 * called and @a user_data stays the caller's.
 *
 * Threads: callable from any thread, the loop's included, and from posted
 * calls (also cancelled ones: they get PEV_EDESTROYED). Not from signal
 * handlers: malloc(3) is not async-signal-safe (pev_loop_wakeup() is). The
 * loop must exist when the call begins: a post that races with the
 * destruction of the loop's pool on another thread touches freed memory,
 * and cannot be detected. (A post under way while a call it made run
 * destroys the loop is safe: the loop's cleanup waits for it to return.) A program that posts from other threads stops
 * them posting (joins them, or tells them under its own lock) before it
 * destroys the loop's pool, as with pev_loop_wakeup().
 *
 * @return APR_SUCCESS; APR_EINVAL for a NULL loop or fn; APR_ENOMEM if
 *         malloc fails; PEV_EDESTROYED if the loop's pool is being cleared
 *         or destroyed (a post from a cancelled call).
 */
PEV_API apr_status_t pev_loop_post(pev_loop_t *loop, pev_post_fn *fn, void *user_data);

/** The loop's time in microseconds: the clock as read at the start of the
 *  current iteration (after its poll). Marks use this clock. 0 for NULL. */
PEV_API apr_time_t pev_loop_now(const pev_loop_t *loop);

/**
 * Replace the loop's clock (default: pev_clock_monotonic). For tests: a fake
 * clock makes timer tests exact and sleepless. The clock must never go
 * backwards. The loop's time is read from it at once.
 * @return APR_SUCCESS; APR_EINVAL for a NULL loop or fn.
 */
PEV_API apr_status_t pev_loop_set_clock(pev_loop_t *loop, pev_clock_fn *fn, void *user_data);

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */

/**
 * Add a one-shot timer that fires when the loop's time reaches @a mark (never
 * earlier). Timers with equal marks fire in the order they were armed.
 *
 * @param timer     out: the handle (may be NULL)
 * @param loop      the loop
 * @param mark      absolute time on the loop's clock, microseconds
 * @param fn        the callback
 * @param user_data passed to @a fn
 * @param lifetime  owning pool (NULL: the loop's pool); the record is
 *                  allocated from it (or is one released for it, see
 *                  pev_timer_release()) and the timer is cancelled before
 *                  the pool is cleared or destroyed
 * @return APR_SUCCESS; APR_EINVAL for a NULL loop or fn; APR_ENOMEM.
 * Callable from any callback of the loop. O(log n).
 */
PEV_API apr_status_t pev_timer_add(pev_timer_t **timer, pev_loop_t *loop, apr_time_t mark,
                                   pev_timer_fn *fn, void *user_data, apr_pool_t *lifetime);

/** pev_timer_add() at pev_loop_now(loop) + @a delay. */
PEV_API apr_status_t pev_timer_add_in(pev_timer_t **timer, pev_loop_t *loop,
                                      apr_interval_time_t delay, pev_timer_fn *fn,
                                      void *user_data, apr_pool_t *lifetime);

/**
 * A deferred call: @a fn runs in the next iteration of the loop (after its
 * poll), never inside the current callback. It is a timer armed at the
 * loop's current time; the handle may be cancelled like any timer.
 */
PEV_API apr_status_t pev_loop_defer(pev_timer_t **timer, pev_loop_t *loop, pev_timer_fn *fn,
                                    void *user_data, apr_pool_t *lifetime);

/**
 * Arm @a timer again for @a mark, whatever its state (armed: moved; fired or
 * cancelled: armed anew). Callable from its own callback: a mark that has
 * already passed fires in the next iteration, after I/O was polled.
 *
 * An armed timer moved to a later mark (or the same one), the idle-timeout
 * pattern, is O(1): only the record changes, and the heap moves the timer
 * when its old mark comes (one wakeup at the old mark at most, which fires
 * nothing for it). It still fires at the new mark, never earlier, and after
 * every timer armed for that mark before this call.
 * @return APR_SUCCESS; APR_EINVAL for NULL; PEV_EDESTROYED if the loop is
 *         gone. O(log n); O(1) when an armed timer moves later.
 */
PEV_API apr_status_t pev_timer_rearm(pev_timer_t *timer, apr_time_t mark);

/** pev_timer_rearm() at pev_loop_now() + @a delay. */
PEV_API apr_status_t pev_timer_rearm_in(pev_timer_t *timer, apr_interval_time_t delay);

/**
 * Cancel an armed timer. O(1) amortized: the timer's record is marked
 * (nothing else is touched), and its heap entry is dropped when it comes to
 * the top, when the timer is re-armed or its pool goes, or in a sweep: once
 * cancelled entries are more than three times the armed timers (and at
 * least 1,024), or
 * when the cancel leaves no armed timer in the heap (and at least 64
 * cancelled entries).
 * @return APR_SUCCESS; APR_EINVAL for NULL; PEV_ENOTARMED if the timer
 *         already fired or was cancelled (nothing happens); PEV_EDESTROYED if
 *         the loop is gone.
 */
PEV_API apr_status_t pev_timer_cancel(pev_timer_t *timer);

/**
 * Give up @a timer's record for reuse: the timer is cancelled if armed, and
 * the record goes back to its lifetime pool's timers on this loop, where a
 * later pev_timer_add(), pev_timer_add_in() or pev_loop_defer() for the same
 * lifetime pool may take it (then without allocating). A record comes back
 * at most to its own pool: it still lives exactly as long as that pool, and
 * a pool's clear or destroy takes its released records too.
 *
 * After this call @a timer is invalid: it must not be passed to any
 * function again (it may have become another timer). The handles a caller
 * keeps for repeatedly reset timers need no release: re-arm them.
 *
 * Callable from any callback of the loop, the timer's own included (then
 * the callback must not touch @a timer afterwards). Never allocates; O(1).
 * @return APR_SUCCESS; APR_EINVAL for NULL (or a handle already released,
 *         as far as that can still be told); PEV_EDESTROYED if the loop is
 *         gone (nothing happens: the record stays with its pool).
 */
PEV_API apr_status_t pev_timer_release(pev_timer_t *timer);

/** Non-zero when @a timer is armed (will fire unless cancelled). */
PEV_API int pev_timer_armed(const pev_timer_t *timer);

/** The mark the timer was last armed for (0 for NULL). */
PEV_API apr_time_t pev_timer_mark(const pev_timer_t *timer);

/** Counters for monitoring and tests. */
typedef struct pev_loop_stats {
    apr_size_t timers_armed;    /**< armed timers */
    apr_size_t signal_handlers; /**< signal handlers (poolev/signal.h) */
    apr_size_t streams;         /**< open streams (poolev/stream.h) and watchers
                                 *   with an interest (poolev/watch.h): what
                                 *   keeps pev_loop_run() going */
    apr_size_t owners;          /**< (lifetime pool, loop) pairs */
    apr_uint64_t iterations;    /**< iterations run */
    apr_uint64_t wakeup_writes; /**< bytes written to the wakeup pipe */
    apr_uint64_t spins_caught;  /**< spins (pev_loop_set_spin()) that saw a
                                 *   post or readiness before they ended */
    apr_uint64_t spins_missed;  /**< spins that ended with nothing: the loop
                                 *   slept after them */
    apr_uint64_t tasks_carried; /**< end-of-iteration tasks a flush slice
                                 *   (pev_loop_set_flush_slice()) made wait
                                 *   for the next iteration, each time it
                                 *   did: a task that waits k iterations
                                 *   counts k times */
} pev_loop_stats_t;

/** Fill @a stats. @return APR_SUCCESS; APR_EINVAL for NULL. */
PEV_API apr_status_t pev_loop_stats(const pev_loop_t *loop, pev_loop_stats_t *stats);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_LOOP_H */
