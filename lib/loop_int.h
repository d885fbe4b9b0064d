/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * loop_int.h - internal: what the loop's other components (signals, streams)
 * need from it.
 */
#ifndef POOLEV_LOOP_INT_H
#define POOLEV_LOOP_INT_H

#include <apr_poll.h>

#include "poolev/loop.h"
#include "heap.h"
#include "io_int.h"
#include "owner.h"

struct pevi_signals;

/* The loop's signal state. */
struct pevi_signals *pevi_loop_signals(pev_loop_t *loop);

/* The loop's own pool (the default lifetime). */
apr_pool_t *pevi_loop_pool(pev_loop_t *loop);

/* ------------------------------------------------------------------------ */
/* Timers, also embedded in other records (stream idle timers, wait events). */

/* T_DEAD: cancelled, its entry still in the heap (pev_timer_cancel() is
 * lazy and writes the record only: the entry goes when it surfaces, when the
 * timer is re-armed (it takes the entry back) or released, or in a sweep,
 * which reads the records and makes the dropped ones T_IDLE). A T_DEAD
 * record always has its entry in the heap.
 * T_DUE: taken for the current iteration; node.index is its place in the
 * loop's due array. */
enum pevi_timer_state { T_IDLE, T_HEAP, T_DUE, T_DEAD };
_Static_assert(T_IDLE == 0, "a sweep makes a dead timer idle by masking its state");

/* 64 bytes, and pev_timer_add() places its records on 64-byte boundaries:
 * arming, cancelling and firing touch one cache line of the record.
 *
 * Lazy re-arm: a T_HEAP timer re-armed for a mark not earlier than its
 * present one keeps its heap entry where it is (under the old, earlier mark:
 * a lower bound) and only records the new mark in node.mark and its new
 * sequence number as PEVI_TLAG, the distance from node.seq (the seq its
 * entry sorts by). When the entry comes to the top, the loop gives it the
 * recorded key (pevi_heap_retime_top()) before anything fires: never early,
 * and FIFO among equal marks by the seq taken at the re-arm. */
struct pev_timer {
    pevi_heap_node_t node;          /* node.mark: the mark, always;
                                     * node.spare: the state (PEVI_TSTATE);
                                     * node.spare_mid: PEVI_TSLOT;
                                     * node.spare_hi: PEVI_TLAG */
    pev_timer_fn *fn;
    void *user_data;
    pev_loop_t *loop;               /* NULL once the loop is gone */
    void *reserved[2];              /* unused: a record is one cache line
                                     * (a pev_timer_add() record's pool
                                     * owns its run of records, loop.c) */
};

/* The state of timer @a t (an enum pevi_timer_state). */
#define PEVI_TSTATE(t) ((t)->node.spare)

/* A pev_timer_add() record's place in its run of records (loop.c), 8 bits:
 * the run's head (its owner, its link on the owner's list) is just before
 * the run's first record. */
#define PEVI_TSLOT(t) ((t)->node.spare_mid)

/* T_HEAP only: 0, or the re-armed seq minus node.seq (lazy re-arm, above);
 * meaningless in the other states. */
#define PEVI_TLAG(t) ((t)->node.spare_hi)

/* The largest lag recorded; a re-arm further apart moves the entry. */
#define PEVI_TLAG_MAX ((1u << 22) - 1)

/* Set up an embedded timer, idle. Its owner keeps it from outliving the
 * loop: pevi_timer_orphan() when the loop goes first. */
void pevi_timer_init(pev_timer_t *t, pev_loop_t *loop, pev_timer_fn *fn, void *user_data);

/* Arm (or move) @a t for @a mark; O(log n). APR_ENOMEM only when the heap
 * cannot grow (then the timer is idle). */
apr_status_t pevi_timer_arm(pev_timer_t *t, apr_time_t mark);

/* Disarm @a t if armed. */
void pevi_timer_disarm(pev_timer_t *t);

/* The loop is gone: @a t becomes idle and inert. */
void pevi_timer_orphan(pev_timer_t *t);

/* ------------------------------------------------------------------------ */
/* End-of-iteration tasks: run after the iteration's readiness, signals and
 * timers, in the order posted (output is flushed there, once per iteration,
 * and closes finish there). Posting while the tasks run queues for the next
 * iteration. A loop with tasks posted does not wait in its poll. */

typedef struct pevi_task pevi_task_t;
typedef void pevi_task_fn(pevi_task_t *task);

struct pevi_task {
    pevi_link_t link;               /* next == NULL: not posted */
    pevi_task_fn *run;
};

void pevi_task_init(pevi_task_t *task, pevi_task_fn *run);
void pevi_task_post(pev_loop_t *loop, pevi_task_t *task);
void pevi_task_cancel(pevi_task_t *task);

/* ------------------------------------------------------------------------ */
/* Components: other parts of the library (streams, watchers) whose items a
 * loop holds */

/* The owners (owner.h) of a component's items on @a loop, one set per
 * component, found by @a key (one of the component's statics). The first
 * call makes them, with @a release and @a orphan, in the loop's pool. The
 * loop knows nothing of the items: its cleanup detaches every component's
 * owners (newest component first; each item goes to @a orphan) after the
 * running iteration was told to stop and before the loop's own timers and
 * signal handlers go, and pev_loop_stats() counts them. NULL when out of
 * memory. */
pevi_owners_t *pevi_loop_owners(pev_loop_t *loop, const void *key,
                                pevi_release_fn *release, pevi_orphan_fn *orphan);

/* A cache of the small buffers streams use (PEVI_BUF_SIZE malloc'd bytes):
 * a stream whose output drained, or whose input was all taken, gives its
 * buffer back instead of freeing it, and the next one that needs a buffer
 * takes it, so a daemon writing to many connections in each iteration does
 * not free and allocate (and the C library trim and grow its heap) hundreds
 * of times per iteration. At most PEVI_BUF_CACHE buffers are kept (1 MiB);
 * the loop's cleanup frees them. Loop thread only. */
#define PEVI_BUF_SIZE (4096 + 1)
#define PEVI_BUF_CACHE 256

/* A cached buffer of PEVI_BUF_SIZE bytes, or NULL (then malloc one). */
void *pevi_loop_buf_take(pev_loop_t *loop);

/* Keep @a buf (PEVI_BUF_SIZE bytes from malloc) for the next taker; frees
 * it when the cache is full. */
void pevi_loop_buf_give(pev_loop_t *loop, void *buf);

/* Open items (streams) keep pev_loop_run() going: +1 on open, -1 on close.
 * pev_loop_stats() reports them as streams. */
void pevi_loop_ios_adjust(pev_loop_t *loop, int delta);

/* Read the loop's clock now (not the iteration's cached time). */
apr_time_t pevi_loop_clock(const pev_loop_t *loop);

#endif /* POOLEV_LOOP_INT_H */
