/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/workers.h - a group of worker threads, each with its own loop, bus
 * and pools, and events sent across them.
 *
 * A group runs N threads. Each worker has, made and destroyed on its own
 * thread: a root pool with an APR allocator of its own (an unmanaged pool:
 * no other thread's pool is its parent, so nothing links it to another
 * thread's pools), a loop (poolev/loop.h) and a bus (poolev/bus.h) in that
 * pool. The group's init hook runs on each worker's thread before its loop
 * runs (as httpd's child_init), its exit hook after the loop stopped and
 * before the worker's pools go.
 *
 * Events across workers: pev_workers_send() generates an event on one
 * worker's bus or on every worker's, from any thread. The data travels as a
 * copy (bytes with a length) or as a pev_shared_t (immutable, reference
 * counted with atomics), never as a pointer into the sender's pools. On
 * the receiving worker the event is generated on its bus with
 * pev_event_generate(), from a call posted to its loop (pev_loop_post()):
 * listeners run on their own worker's thread, in their load order, with
 * every rule of the bus unchanged. Events from one sending thread arrive at
 * each worker in the order they were sent. An event finds the listeners
 * the receiving bus has when it is delivered: a listener whose pool went
 * away meanwhile is simply not called.
 *
 * The queue bound: each worker takes at most the group's queue limit of
 * events sent to it and not yet run (pev_workers_set_queue_limit(),
 * PEV_WORKERS_QUEUE_DEFAULT by default); a send beyond it fails with
 * PEV_EFULL, copies and
 * references nothing, and is counted (pev_workers_queue_stats()). A
 * receiver slower than its senders, or stuck in a long callback, so costs
 * a bounded amount of memory, and its senders learn it at once.
 *
 * Threads - which object may be touched where:
 *  - a worker's pool, every pool made from it, its loop, its bus, and every
 *    listener, timer, stream or watcher bound to them: only on that
 *    worker's thread (its hooks, its loop's callbacks, its listeners);
 *  - pev_workers_send() and its variants, pev_workers_stop(),
 *    pev_workers_count(), pev_workers_worker(), pev_worker_index(),
 *    pev_worker_group(), pev_worker_self(), pev_workers_set_queue_limit(),
 *    pev_workers_queue_limit(), pev_workers_queue_stats() and the
 *    pev_shared_* calls: any thread, while the group exists;
 *  - pev_loop_post(), pev_loop_wakeup() on a worker's loop: any thread,
 *    but only while that worker runs (between the end of start and the
 *    worker's exit hook): pev_workers_send() has that guard built in, a
 *    raw post has not;
 *  - pev_workers_create(), pev_workers_start(), pev_workers_join() and the
 *    clearing or destruction of the group's pool: one thread that is not a
 *    worker of the group (the one that owns the group's pool).
 *
 * The rule for module authors: nothing touches another worker's pools,
 * loop, bus or listeners, not even to read; to make something happen on
 * another worker, send it an event (or post to its loop). Shared state is
 * either immutable after the workers started (made before
 * pev_workers_start(), freed after pev_workers_join()) or guarded by the
 * module's own atomics or locks.
 */
#ifndef POOLEV_WORKERS_H
#define POOLEV_WORKERS_H

#include <apr_pools.h>

#include "poolev/export.h"
#include "poolev/status.h"
#include "poolev/bus.h"
#include "poolev/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A group of worker threads (opaque). */
typedef struct pev_workers pev_workers_t;
/** One worker of a group (opaque). */
typedef struct pev_worker pev_worker_t;
/** Immutable bytes shared by threads, reference counted (opaque). */
typedef struct pev_shared pev_shared_t;

/** pev_workers_send(): every worker of the group. */
#define PEV_WORKERS_ALL (-1)

/** pev_workers_send(): every worker of the group but the calling thread's
 *  (every worker when called from a thread that is not one of the
 *  group's workers). */
#define PEV_WORKERS_OTHERS (-2)

/** The most workers a group may have. */
#define PEV_WORKERS_MAX 1024

/**
 * The event_data of an event that pev_workers_send() delivered. Valid only
 * while the listener runs; a listener that keeps the data past its return
 * copies it, or takes a reference on @a shared (pev_shared_ref()).
 */
typedef struct pev_worker_event {
    const void *data;       /**< the bytes (NULL when sent with none) */
    apr_size_t len;         /**< their length */
    pev_shared_t *shared;   /**< the shared block (send_shared), or NULL */
    int sender;             /**< the sending worker's index, or -1 when
                             *   sent from a thread outside the group */
} pev_worker_event_t;

/**
 * A worker hook: runs on the worker's thread. The init hook runs after the
 * worker's pool, loop and bus were made and before its loop runs; it may
 * register listeners, add timers, open streams, make pools from
 * pev_worker_pool(), and send events (they are delivered once every
 * worker's loop runs). The exit hook runs, on each worker whose init hook
 * succeeded (or that has none), after the loop stopped and before the
 * worker's pools are destroyed; its return value is ignored. Neither may
 * clear or destroy the worker's pool: it is the group's.
 * @return APR_SUCCESS, or an error that fails pev_workers_start() (init).
 */
typedef apr_status_t pev_worker_fn(pev_worker_t *worker, void *user_data);

/**
 * Make a group of @a n workers (not started) owned by @a pool.
 *
 * Clearing or destroying @a pool stops the workers and joins them (as
 * pev_workers_stop() then pev_workers_join()); events still queued are
 * released, not delivered. It must not happen on one of the group's
 * workers (the cleanup cannot join its own thread: it aborts).
 *
 * @param group     out: the group
 * @param n         workers, 1 to PEV_WORKERS_MAX
 * @param init      per-worker init hook, or NULL
 * @param exit      per-worker exit hook, or NULL
 * @param user_data passed to the hooks
 * @param pool      the owning pool (one thread's: see the Threads list)
 * @return APR_SUCCESS; APR_EINVAL for NULL group or pool, or @a n out of
 *         range; APR_ENOMEM.
 */
PEV_API apr_status_t pev_workers_create(pev_workers_t **group, int n, pev_worker_fn *init,
                                        pev_worker_fn *exit, void *user_data,
                                        apr_pool_t *pool);

/**
 * Start the workers and wait until each has made its pool, loop and bus
 * and run the init hook. When every init succeeded, the loops run (each
 * until pev_workers_stop(); a worker's loop does not end for want of
 * registrations, and pev_loop_stop() on it only wakes it). When one
 * failed, or a thread could not be made, no loop runs: each worker whose
 * init hook succeeded runs its exit hook, every worker releases its pools,
 * the threads are joined, and the error is returned. The workers' threads
 * start with every asynchronous signal blocked (all but SIGSEGV, SIGBUS,
 * SIGFPE and SIGILL): signals are taken on the threads that did not block
 * them, and a handler of poolev/signal.h on a worker's loop still runs on
 * that worker. The calling thread's mask is unchanged.
 *
 * @return APR_SUCCESS; APR_EINVAL for NULL; PEV_EBUSY when the group was
 *         started already (a group starts once), or when called on one of
 *         its workers; the first init hook's error (by worker index); an
 *         APR error when a thread, pool, loop or bus could not be made.
 */
PEV_API apr_status_t pev_workers_start(pev_workers_t *group);

/**
 * Ask every worker to stop: each finishes its current iteration, runs the
 * exit hook and destroys its pools on its own thread (events queued for it
 * are released then, not delivered: each queued event's data is released
 * once). Returns at once; pev_workers_join() waits. Callable from any
 * thread, the group's workers and their callbacks included, and more than
 * once; harmless before start and after join. From the moment a worker
 * begins to stop, sends to it fail with PEV_ECLOSED.
 * @return APR_SUCCESS; APR_EINVAL for NULL.
 */
PEV_API apr_status_t pev_workers_stop(pev_workers_t *group);

/**
 * Wait for every worker's thread to end (after pev_workers_stop(), or a
 * worker whose loop failed). Not from a worker of the group.
 * @return APR_SUCCESS (also when the group never started or was joined
 *         already); APR_EINVAL for NULL; PEV_EBUSY when called on one of
 *         the group's workers.
 */
PEV_API apr_status_t pev_workers_join(pev_workers_t *group);

/** The number of workers (0 for NULL). Any thread. */
PEV_API int pev_workers_count(const pev_workers_t *group);

/** Worker @a i (0 to count - 1), or NULL. Any thread: the handle lives as
 *  long as the group; what it reaches (pool, loop, bus) is the worker's. */
PEV_API pev_worker_t *pev_workers_worker(pev_workers_t *group, int i);

/** The worker of the calling thread (in any group), or NULL on a thread
 *  that is not a worker. */
PEV_API pev_worker_t *pev_worker_self(void);

/** The worker's index in its group (-1 for NULL). Any thread. */
PEV_API int pev_worker_index(const pev_worker_t *worker);

/** The worker's group (NULL for NULL). Any thread. */
PEV_API pev_workers_t *pev_worker_group(const pev_worker_t *worker);

/** The worker's root pool (its own allocator), from its init hook to its
 *  exit hook; NULL otherwise. Only on the worker's thread. */
PEV_API apr_pool_t *pev_worker_pool(const pev_worker_t *worker);

/** The worker's loop, from its init hook to its exit hook; NULL otherwise.
 *  Other threads may read it while the worker runs only to pass it to
 *  pev_loop_post() or pev_loop_wakeup() (see the Threads list); everything
 *  else on the loop is the worker's thread's. */
PEV_API pev_loop_t *pev_worker_loop(const pev_worker_t *worker);

/** The worker's bus, as pev_worker_pool(). */
PEV_API pev_bus_t *pev_worker_bus(const pev_worker_t *worker);

/* ------------------------------------------------------------------------ */
/* Events across workers                                                     */

/** The queue limit of a new group: events per receiver, 2^20 (see
 *  pev_workers_set_queue_limit() for why this value). */
#define PEV_WORKERS_QUEUE_DEFAULT 1048576

/**
 * Set the group's queue limit: the most events sent to one worker (with
 * any pev_workers_send*() call, from every sender together) that it has
 * not run yet. An event counts from the moment its send took it until
 * its listeners have returned on the receiver, or until it was released
 * undelivered at the receiver's stop. A send that would go beyond the
 * receiving worker's limit fails with PEV_EFULL for that worker: nothing
 * is copied for it, no reference is taken, nothing is queued; the refusal
 * is counted in the worker's pev_workers_queue_stats() (refused). The
 * limit counts events, not bytes: a sender whose events are large bounds
 * its bytes with a smaller limit (each queued event costs a message of
 * some 50 bytes plus the event's name and, for a copy, its data, shared
 * by every receiver, and a node of some 32 bytes in each receiver's
 * loop).
 *
 * The default, PEV_WORKERS_QUEUE_DEFAULT (1,048,576 per receiver), is a
 * bound, because no buffer of poolev grows without one, and a high one,
 * because a limit changes what existing programs see: it is above every
 * burst a program may have sent without flow control before the limit
 * existed and relied on (bench_workers sends a flood of 1,000,000 events
 * with no wait, and the receiver falls behind by some 235,000 on a
 * two-core machine), so none of them gets a PEV_EFULL it does not handle.
 * At about 100 bytes per small queued event it bounds a stuck receiver to
 * some 100 MB plus the events' data. A program that knows its events'
 * sizes sets a lower limit; the daemon sets its group's from the
 * WorkerQueueLimit directive (65,536 by default, doc/daemon.md). A
 * receiver that keeps up never comes near either: it runs everything
 * queued for it at each iteration of its loop. 0 takes the bound away
 * (each queued event then costs memory until the receiver runs it,
 * without limit); only where something else bounds what is in flight.
 *
 * Callable from any thread, before or after pev_workers_start(), as often
 * as liked; it applies to the sends that begin after it returns. Lowering
 * the limit below what a worker holds drops nothing: that worker refuses
 * sends until it has run enough to be under the new limit.
 *
 * @param group the group
 * @param limit events per receiver; 0: no limit
 * @return APR_SUCCESS; APR_EINVAL for NULL.
 */
PEV_API apr_status_t pev_workers_set_queue_limit(pev_workers_t *group, apr_size_t limit);

/** The group's queue limit (0: none; 0 for NULL). Any thread. */
PEV_API apr_size_t pev_workers_queue_limit(const pev_workers_t *group);

/** A worker's queue, as pev_workers_queue_stats() reads it. */
typedef struct pev_worker_queue_stats {
    apr_size_t queued;          /**< events taken for it, not yet run or
                                 *   released (the one running included) */
    apr_size_t peak;            /**< the highest @a queued reached */
    apr_uint64_t refused;       /**< sends to it refused with PEV_EFULL */
    apr_uint64_t delivered;     /**< events run on its bus */
    apr_uint64_t released;      /**< events released undelivered (its stop) */
} pev_worker_queue_stats_t;

/**
 * Read worker @a i's queue counters into @a stats. Counters only grow
 * (queued aside) and live as long as the group; each is read atomically
 * but not all at one instant: while sends and deliveries go on,
 * queued + delivered + released may be off by the events in motion. After
 * pev_workers_join() they are exact: queued is 0, and every event a send
 * took is in delivered or released. Any thread, while the group exists.
 * @return APR_SUCCESS; APR_EINVAL for NULL @a stats or @a group, or @a i
 *         out of range.
 */
PEV_API apr_status_t pev_workers_queue_stats(pev_worker_queue_stats_t *stats,
                                             const pev_workers_t *group, int i);

/**
 * Generate @a event on worker @a to's bus (PEV_WORKERS_ALL: on every
 * worker's, the sender's own included; PEV_WORKERS_OTHERS: on every
 * worker's but the sender's own), later, on that worker's thread:
 * its listeners get a pev_worker_event_t whose data is a copy of the
 * @a len bytes at @a data, made before this returns (the sender may
 * destroy the memory at once), aligned as malloc(3)'s memory is. One copy
 * serves every receiver.
 *
 * Order: the events one thread sends and a worker takes arrive at that
 * worker in the order sent (also between send and send_shared); an event
 * refused (PEV_EFULL, PEV_ECLOSED) is missing from that order, it never
 * comes later. Delivery happens in a posted call of the receiving loop
 * (pev_loop_post()), never inside the sending call, also when a worker
 * sends to itself.
 *
 * The bound: a worker that holds the group's queue limit of events
 * (pev_workers_set_queue_limit()) refuses the event with PEV_EFULL. To
 * several workers (PEV_WORKERS_ALL, PEV_WORKERS_OTHERS), each worker
 * takes or refuses the event on its own: those with room get it, in
 * order, and the call returns the first refusal's status (by worker
 * index); pev_workers_send_ex() tells how many took it. When no worker
 * takes it nothing is copied at all.
 *
 * Callable from any thread while the group exists, from listeners and
 * hooks included. Never blocks, takes no lock (atomics only).
 *
 * @return APR_SUCCESS when the event is queued for every worker asked
 *         (also when PEV_WORKERS_OTHERS names none: a group of one, sent
 *         from its worker);
 *         APR_EINVAL for a NULL group or event, an empty event name, @a to
 *         out of range, or NULL data with a non-zero length;
 *         PEV_ECLOSED when a worker asked is not running (not started yet,
 *         stopping or stopped); PEV_EFULL when a worker asked holds its
 *         queue limit; with several workers asked, the first of these by
 *         worker index, the others having the event all the same;
 *         APR_ENOMEM.
 */
PEV_API apr_status_t pev_workers_send(pev_workers_t *group, int to, const char *event,
                                      const void *data, apr_size_t len);

/**
 * pev_workers_send() with a shared block instead of a copy: each receiver's
 * event has @a shared, its data and its length; the block is not copied.
 * The call takes its own reference for as long as the event is in flight
 * (none when no worker took it); the caller's reference stays the
 * caller's (release it when done, at once if it likes). Same rules and
 * returns as pev_workers_send(); APR_EINVAL for a NULL @a shared.
 */
PEV_API apr_status_t pev_workers_send_shared(pev_workers_t *group, int to, const char *event,
                                             pev_shared_t *shared);

/** pev_workers_send_ex(): the event is taken whatever the queue limit (it
 *  still counts in the receiver's queue). For the few control events
 *  whose number something else bounds (a generation switch per reload),
 *  which must not be lost to a flood of others. */
#define PEV_WORKERS_FORCE 0x1

/** What pev_workers_send_ex() did, receiver by receiver. */
typedef struct pev_workers_sent {
    int queued;                 /**< workers that took the event */
    int full;                   /**< workers that refused it: PEV_EFULL */
    int closed;                 /**< workers not running: PEV_ECLOSED */
} pev_workers_sent_t;

/**
 * pev_workers_send() (@a shared NULL: a copy of @a len bytes at @a data)
 * or pev_workers_send_shared() (@a shared given; @a data must then be NULL
 * and @a len 0), with options and an account.
 *
 * @param sent   out, or NULL: how many workers took the event, refused
 *               it for their queue limit, or were not running; filled in
 *               on every return but APR_EINVAL (after APR_ENOMEM, queued
 *               counts the workers that have the event all the same: 0
 *               when its message could not be made). A pubsubd-like
 *               fan-out counts its lost copies with @a sent->full.
 * @param flags  0, or PEV_WORKERS_FORCE
 * @return as pev_workers_send(); APR_EINVAL also for unknown @a flags, or
 *         @a shared with data.
 */
PEV_API apr_status_t pev_workers_send_ex(pev_workers_sent_t *sent, pev_workers_t *group,
                                         int to, const char *event, const void *data,
                                         apr_size_t len, pev_shared_t *shared, int flags);

/** Frees what a pev_shared_wrap() block holds, when its last reference
 *  goes (on whichever thread releases it last). */
typedef void pev_shared_free_fn(void *data, apr_size_t len, void *ctx);

/**
 * A shared block holding a copy of @a len bytes at @a data (malloc'd, not
 * from a pool: any thread may release the last reference; aligned as
 * malloc(3)'s memory is). The caller holds
 * one reference.
 * @return APR_SUCCESS; APR_EINVAL for NULL @a shared, or NULL data with a
 *         non-zero length; APR_ENOMEM.
 */
PEV_API apr_status_t pev_shared_create(pev_shared_t **shared, const void *data, apr_size_t len);

/**
 * A shared block around the caller's @a data, which must stay unchanged
 * and valid until @a free_fn(@a data, @a len, @a ctx) runs, exactly once,
 * when the last reference goes. The caller holds one reference.
 * @return APR_SUCCESS; APR_EINVAL for NULL @a shared or @a free_fn;
 *         APR_ENOMEM (then @a free_fn is not called).
 */
PEV_API apr_status_t pev_shared_wrap(pev_shared_t **shared, const void *data, apr_size_t len,
                                     pev_shared_free_fn *free_fn, void *ctx);

/** Take one more reference (atomic; any thread). Returns @a shared. */
PEV_API pev_shared_t *pev_shared_ref(pev_shared_t *shared);

/** Drop one reference (atomic; any thread); the last one frees the block.
 *  NULL is ignored. */
PEV_API void pev_shared_release(pev_shared_t *shared);

/** The block's bytes (NULL for NULL), read-only. */
PEV_API const void *pev_shared_data(const pev_shared_t *shared);

/** The block's length (0 for NULL). */
PEV_API apr_size_t pev_shared_len(const pev_shared_t *shared);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_WORKERS_H */
