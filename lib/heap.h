/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * heap.h - internal: an indexed 4-ary min-heap of caller-embedded nodes.
 *
 * The event loop keeps its timers (and stream wait events) here. A node lives
 * inside the caller's struct; the heap array holds one 16-byte entry per node:
 * a copy of the node's mark and a pointer back to the node, so that sifting
 * compares marks without touching the nodes (a node's seq is read only when
 * two marks are equal). Whenever an entry moves, its node's index is
 * rewritten, which makes remove and update O(log n).
 *
 * Order: by mark, then by seq. seq is a per-heap counter assigned on every
 * push and update, so nodes with equal marks leave in FIFO order, and an
 * updated node sorts after every node already holding the same mark.
 *
 * Layout: the four children of an entry share one 64-byte cache line (the
 * array is aligned so that entry 1, the first child of the root, starts a
 * line), so each level of a sift reads one line of the array.
 *
 * The array grows by doubling (realloc), starts at PEVI_HEAP_MIN entries,
 * and halves when less than a quarter is used, but never below the heap's
 * floor (PEVI_HEAP_MIN, or what pevi_heap_keep() set).
 * The heap knows nothing of APR pools and does no locking.
 */
#ifndef POOLEV_HEAP_H
#define POOLEV_HEAP_H

#include <stddef.h>

#include <apr.h>
#include <apr_errno.h>
#include <apr_time.h>

/* index of a node that is not in a heap */
#define PEVI_HEAP_NONE ((apr_uint32_t) -1)

/* most entries a heap holds (an index is 32 bits) */
#define PEVI_HEAP_MAX ((apr_size_t) 0xfffffff0u)

/* smallest array the heap allocates; it never shrinks below this */
#define PEVI_HEAP_MIN 64

/* A heap item, embedded in the caller's struct. Callers only read it. */
typedef struct pevi_heap_node {
    apr_time_t mark;            /* deadline, microseconds (read-only) */
    apr_uint64_t seq;           /* tie-breaker: insertion sequence (read-only) */
    apr_uint32_t index;         /* position in the heap; PEVI_HEAP_NONE if out */
    unsigned int spare : 2;     /* the caller's: the heap never touches them */
    unsigned int spare_mid : 8;
    unsigned int spare_hi : 22;
} pevi_heap_node_t;

/* One array slot: the node's mark inline, so comparisons stay in the array
 * (the node's seq breaks ties). */
typedef struct pevi_heap_entry {
    apr_time_t mark;
    pevi_heap_node_t *node;
} pevi_heap_entry_t;

/* The heap. Fields are private to heap.c (tests may read them). */
typedef struct pevi_heap {
    pevi_heap_entry_t *a;       /* entry 0; NULL until the first push */
    void *block;                /* what the allocator returned; a lies
                                 * within it (alignment) */
    apr_size_t size;            /* entries in use */
    apr_size_t cap;             /* entries allocated */
    apr_uint64_t next_seq;      /* seq for the next push or update */
    apr_size_t floor;           /* the array never shrinks below this */
} pevi_heap_t;

/* Initialize an empty heap; allocates nothing. */
void pevi_heap_init(pevi_heap_t *h);

/* Release the array and leave @a h empty (as after init). Nodes still in the
 * heap are not touched: they belong to the caller and may already be gone. */
void pevi_heap_free(pevi_heap_t *h);

/* Never shrink the array below @a entries (a power of two; PEVI_HEAP_MIN if
 * less): an array that large or smaller is kept as it is. For a heap that
 * fills and empties again and again, which would otherwise reallocate its
 * array on every round. Allocates nothing. */
void pevi_heap_keep(pevi_heap_t *h, apr_size_t entries);

/* Initialize a node as not in any heap. */
void pevi_heap_node_init(pevi_heap_node_t *n);

/* Make room for one more entry (heap.c; push calls it when full).
 * APR_ENOMEM if the array cannot grow; then nothing changed. */
apr_status_t pevi_heap_grow(pevi_heap_t *h);

/* pevi_heap_push() into an array with room for one more entry
 * (size < cap): never allocates, never fails. */
static inline void pevi_heap_push_in_room(pevi_heap_t *h, pevi_heap_node_t *n,
                                          apr_time_t mark)
{
    pevi_heap_entry_t *a = h->a;
    apr_size_t i = h->size++;

    n->mark = mark;
    n->seq = h->next_seq++;
    while (i > 0) {
        apr_size_t p = (i - 1) >> 2;

        if (!(mark < a[p].mark))
            break;
        a[i] = a[p];
        a[i].node->index = (apr_uint32_t) i;
        i = p;
    }
    a[i].mark = mark;
    a[i].node = n;
    n->index = (apr_uint32_t) i;
}

/* Insert @a n (not in a heap) with deadline @a mark and the next sequence
 * number. APR_ENOMEM if the array cannot grow; then nothing changed. Inline:
 * the loop adds a timer with it. The new seq is the largest, so the node
 * rises only above strictly later marks: no node is read while sifting. */
static inline apr_status_t pevi_heap_push(pevi_heap_t *h, pevi_heap_node_t *n,
                                          apr_time_t mark)
{
    if (h->size == h->cap) {
        apr_status_t st = pevi_heap_grow(h);

        if (st != APR_SUCCESS)
            return st;
    }
    pevi_heap_push_in_room(h, n, mark);
    return APR_SUCCESS;
}

/* Take the next sequence number, as a push or an update would: for a caller
 * that orders a node later by itself (see pevi_heap_retime_top()). */
static inline apr_uint64_t pevi_heap_take_seq(pevi_heap_t *h)
{
    return h->next_seq++;
}

/* Give the top node (in @a h) the key (@a mark, @a seq)
 * and sift it down to where that key belongs; O(log n),
 * never allocates. For a caller that moved a node's deadline later without
 * telling the heap: the entry kept the earlier mark, a lower bound, until it
 * came to the top. @a seq is any number taken from the heap, so FIFO among
 * equal marks follows the order in which the seqs were taken. */
void pevi_heap_retime_top(pevi_heap_t *h, apr_time_t mark, apr_uint64_t seq);

/* Take @a n (in @a h) out of the heap; O(log n). Its index becomes NONE. */
void pevi_heap_remove(pevi_heap_t *h, pevi_heap_node_t *n);

/* Give @a n (in @a h) deadline @a mark and a new seq, as if removed and pushed
 * again (it sorts after existing equal marks); O(log n), never allocates. */
void pevi_heap_update(pevi_heap_t *h, pevi_heap_node_t *n, apr_time_t mark);

/* The minimum node by (mark, seq), or NULL if the heap is empty; O(1).
 * Inline: the loop asks for it at every pop. */
static inline pevi_heap_node_t *pevi_heap_top(const pevi_heap_t *h)
{
    return h->size ? h->a[0].node : NULL;
}

/* The minimum node's mark, read from the array (the heap must not be
 * empty); O(1). */
static inline apr_time_t pevi_heap_top_mark(const pevi_heap_t *h)
{
    return h->a[0].mark;
}

/* Most nodes pevi_heap_prefetch_due() asks for. */
#define PEVI_HEAP_PREFETCH_MAX 1024

/* Ask the cache for the nodes of the entries whose mark is not after
 * @a mark, top first (in level order), at most PEVI_HEAP_PREFETCH_MAX of
 * them: for a caller about to pop them all, whose nodes (and the array) may
 * have left the cache meanwhile, so that their misses overlap instead of
 * coming one pop at a time. Reads the array only; changes nothing. O(k) for
 * k such entries (those below a later mark are not visited). */
void pevi_heap_prefetch_due(const pevi_heap_t *h, apr_time_t mark);

/* Remove and return the minimum node, or NULL if the heap is empty. */
pevi_heap_node_t *pevi_heap_pop(pevi_heap_t *h);

/* Decides whether pevi_heap_filter() keeps @a n. Must not touch the heap. */
typedef int pevi_heap_keep_fn(pevi_heap_node_t *n, void *user_data);

/* Restore the heap order of the first @a n entries of the array, which hold
 * the nodes kept by a filter (their indexes already set), and shrink the
 * array to fit; for pevi_heap_filter(). */
void pevi_heap_rebuild(pevi_heap_t *h, apr_size_t n);

/* How many entries ahead of the one it decides on pevi_heap_filter() asks
 * for the node: a node is most likely a cache miss, and @a keep reads it. */
#define PEVI_HEAP_FILTER_AHEAD 32

/* Drop every node for which @a keep returns 0 (its index becomes NONE) and
 * restore the heap order; O(n), never allocates (the array may shrink). The
 * kept nodes keep their keys: their order among themselves is unchanged.
 * Inline, so that a constant @a keep is inlined too. */
static inline void pevi_heap_filter(pevi_heap_t *h, pevi_heap_keep_fn *keep,
                                    void *user_data)
{
    pevi_heap_entry_t *a = h->a;
    apr_size_t i, n = 0, size = h->size;

    for (i = 0; i < size; i++) {
        pevi_heap_entry_t e = a[i];
        pevi_heap_node_t *node = e.node;

#if defined(__GNUC__)
        if (i + PEVI_HEAP_FILTER_AHEAD < size)
            __builtin_prefetch(a[i + PEVI_HEAP_FILTER_AHEAD].node, 1);
#endif
        {
            /* without a branch: which entries go is random, and most of
             * them do in a sweep */
            apr_size_t k = keep(node, user_data) != 0;

            a[n] = e;
            /* n, or all ones (PEVI_HEAP_NONE) for a dropped node */
            node->index = (apr_uint32_t) n | ((apr_uint32_t) k - 1u);
            n += k;
        }
    }
    pevi_heap_rebuild(h, n);
}

/* Number of nodes in the heap. Inline: a cancel and every pop ask. */
static inline apr_size_t pevi_heap_size(const pevi_heap_t *h)
{
    return h->size;
}

/* Whether @a n is in a heap. */
static inline int pevi_heap_contains(const pevi_heap_node_t *n)
{
    return n->index != PEVI_HEAP_NONE;
}

/* Testing only: the allocator behind push's growth and the shrinking, which
 * is realloc unless a test swaps in one that fails. Process-wide. */
extern void *(*pevi_heap_realloc)(void *ptr, size_t size);

#endif
