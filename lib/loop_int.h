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

/* T_DEAD: cancelled, its entry still in the heap (pev_timer_cancel() is lazy:
 * the entry goes when it surfaces, on re-arm or release, or in a sweep). */
enum pevi_timer_state { T_IDLE, T_HEAP, T_DUE, T_DEAD };

struct pev_timer {
    pevi_heap_node_t node;          /* while T_HEAP or T_DEAD */
    pevi_link_t queue;              /* while T_DUE */
    pevi_link_t owned;              /* on its lifetime pool's owner list
                                     * (unused for embedded timers) */
    pev_loop_t *loop;               /* NULL once the loop is gone */
    pev_timer_fn *fn;
    void *user_data;
    apr_time_t mark;
    enum pevi_timer_state state;
};

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
/* Components: other parts of the library (streams) that keep state per loop */

/* A component's per-loop record, made by the component on first use (in
 * memory that lasts as long as the loop's pool) and found again by its key.
 * The loop knows nothing of it but these fields. */
typedef struct pevi_loop_part pevi_loop_part_t;

/* The loop is being destroyed: make the component's items inert. Runs from
 * the loop's cleanup, after the running iteration was told to stop and
 * before the loop's own timers and signal handlers are let go. */
typedef void pevi_loop_part_fini_fn(pevi_loop_part_t *part);

struct pevi_loop_part {
    pevi_link_t link;               /* on the loop's parts */
    const void *key;                /* the component's: one of its statics */
    pevi_loop_part_fini_fn *fini;
    pevi_owners_t *owners;          /* counted by pev_loop_stats(); or NULL */
};

/* The part of @a loop with @a key, or NULL. */
pevi_loop_part_t *pevi_loop_part_find(pev_loop_t *loop, const void *key);

/* Attach @a part, its fields set. The loop's cleanup runs the parts' fini
 * functions newest first. */
void pevi_loop_part_add(pev_loop_t *loop, pevi_loop_part_t *part);

/* Open items (streams) keep pev_loop_run() going: +1 on open, -1 on close.
 * pev_loop_stats() reports them as streams. */
void pevi_loop_ios_adjust(pev_loop_t *loop, int delta);

/* Read the loop's clock now (not the iteration's cached time). */
apr_time_t pevi_loop_clock(const pev_loop_t *loop);

#endif /* POOLEV_LOOP_INT_H */
