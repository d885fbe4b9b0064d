/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * heap.c - internal: indexed 4-ary min-heap (see heap.h).
 *
 * Entry i has its children at 4i+1 .. 4i+4 and its parent at (i-1)/4. Sifting
 * moves a "hole" instead of swapping: entries on the path shift by one slot
 * (each move rewrites that entry's node->index) and the travelling entry is
 * written once, at the end. Keys are compared from the array only; the nodes
 * are written, never read, while sifting. At 1,000,000 entries the array is
 * larger than the caches: sift-down prefetches the level below the one it
 * compares (about 10% off a pop there).
 */
#include "config.h"

#include <stdlib.h>

#include "heap.h"

void *(*pevi_heap_realloc)(void *ptr, size_t size) = realloc;

/* Whether key (m, s) sorts before entry y: by mark, then by seq. */
static inline int key_before(apr_time_t m, apr_uint64_t s,
                             const pevi_heap_entry_t *y)
{
    return m < y->mark || (m == y->mark && s < y->seq);
}

/* Whether entry x sorts before key (m, s). */
static inline int entry_before(const pevi_heap_entry_t *x, apr_time_t m,
                               apr_uint64_t s)
{
    return x->mark < m || (x->mark == m && x->seq < s);
}

/* Whether entry x sorts before entry y. */
static inline int entry_less(const pevi_heap_entry_t *x,
                             const pevi_heap_entry_t *y)
{
    return key_before(x->mark, x->seq, y);
}

/* Move the entry at slot from to slot to, and tell its node. */
static inline void move(pevi_heap_entry_t *a, apr_size_t to, apr_size_t from)
{
    pevi_heap_node_t *node = a[from].node;

    a[to] = a[from];
    node->index = to;
}

/* Store key (m, s) of node at slot i, and tell the node. */
static inline void place(pevi_heap_entry_t *a, apr_size_t i, apr_time_t m,
                         apr_uint64_t s, pevi_heap_node_t *node)
{
    a[i].mark = m;
    a[i].seq = s;
    a[i].node = node;
    node->index = i;
}

/* Place (m, s, node), which belongs at or above the hole i, moving larger
 * parents down. */
static void sift_up(pevi_heap_entry_t *a, apr_size_t i, apr_time_t m,
                    apr_uint64_t s, pevi_heap_node_t *node)
{
    while (i > 0) {
        apr_size_t p = (i - 1) >> 2;

        if (!key_before(m, s, &a[p]))
            break;
        move(a, i, p);
        i = p;
    }
    place(a, i, m, s, node);
}

/* Ask for the cache lines of entries [first, first + 16): the children of
 * four siblings, one of which the next level of a sift-down descends to. */
static inline void prefetch_16(const pevi_heap_entry_t *first)
{
#if defined(__GNUC__)
    const char *p = (const char *) first;
    int off;

    for (off = 0; off < 16 * (int) sizeof *first; off += 64)
        __builtin_prefetch(p + off);
    __builtin_prefetch(p + 16 * sizeof *first - 1);
#else
    (void) first;
#endif
}

/* Place (m, s, node), which belongs at or below the hole i of a heap of n
 * entries, moving smaller children up. */
static void sift_down(pevi_heap_entry_t *a, apr_size_t n, apr_size_t i,
                      apr_time_t m, apr_uint64_t s, pevi_heap_node_t *node)
{
    for (;;) {
        apr_size_t c = 4 * i + 1, k;

        if (c + 3 < n) {
            apr_size_t l, r;

            /* in a large heap the next level is a cache miss: start
             * fetching it while this one is compared */
            if (4 * c + 16 < n)
                prefetch_16(&a[4 * c + 1]);
            /* all four children: a small tournament */
            l = entry_less(&a[c + 1], &a[c]) ? c + 1 : c;
            r = entry_less(&a[c + 3], &a[c + 2]) ? c + 3 : c + 2;
            k = entry_less(&a[r], &a[l]) ? r : l;
        }
        else if (c < n) {
            apr_size_t j;

            k = c;
            for (j = c + 1; j < n; j++)
                if (entry_less(&a[j], &a[k]))
                    k = j;
        }
        else
            break;
        if (!entry_before(&a[k], m, s))
            break;
        move(a, i, k);
        i = k;
    }
    place(a, i, m, s, node);
}

/* Halve the array, not below the minimum. A failed realloc keeps the larger
 * array. */
static void shrink(pevi_heap_t *h)
{
    apr_size_t cap = h->cap / 2;
    pevi_heap_entry_t *a;

    if (cap < PEVI_HEAP_MIN)
        cap = PEVI_HEAP_MIN;
    a = pevi_heap_realloc(h->a, cap * sizeof *a);
    if (a) {
        h->a = a;
        h->cap = cap;
    }
}

/* Take slot i out: the last entry fills it. Leaves the old node's index. */
static void remove_at(pevi_heap_t *h, apr_size_t i)
{
    apr_size_t last = --h->size;

    if (i != last) {
        pevi_heap_entry_t *a = h->a;
        apr_time_t m = a[last].mark;
        apr_uint64_t s = a[last].seq;
        pevi_heap_node_t *node = a[last].node;

        if (i > 0 && key_before(m, s, &a[(i - 1) >> 2]))
            sift_up(a, i, m, s, node);
        else
            sift_down(a, last, i, m, s, node);
    }
    if (h->cap > PEVI_HEAP_MIN && h->size < h->cap / 4)
        shrink(h);              /* less than a quarter used */
}

void pevi_heap_init(pevi_heap_t *h)
{
    h->a = NULL;
    h->size = 0;
    h->cap = 0;
    h->next_seq = 0;
}

void pevi_heap_free(pevi_heap_t *h)
{
    free(h->a);
    pevi_heap_init(h);
}

void pevi_heap_node_init(pevi_heap_node_t *n)
{
    n->mark = 0;
    n->seq = 0;
    n->index = PEVI_HEAP_NONE;
}

apr_status_t pevi_heap_push(pevi_heap_t *h, pevi_heap_node_t *n,
                            apr_time_t mark)
{
    if (h->size == h->cap) {
        apr_size_t cap = h->cap ? h->cap * 2 : PEVI_HEAP_MIN;
        pevi_heap_entry_t *a;

        /* also keeps 4 * i + 4 (children) within apr_size_t */
        if (cap > (apr_size_t) -1 / sizeof *a)
            return APR_ENOMEM;
        a = pevi_heap_realloc(h->a, cap * sizeof *a);
        if (!a)
            return APR_ENOMEM;
        h->a = a;
        h->cap = cap;
    }
    n->mark = mark;
    n->seq = h->next_seq++;
    sift_up(h->a, h->size++, mark, n->seq, n);
    return APR_SUCCESS;
}

void pevi_heap_remove(pevi_heap_t *h, pevi_heap_node_t *n)
{
    apr_size_t i = n->index;

    n->index = PEVI_HEAP_NONE;
    remove_at(h, i);
}

void pevi_heap_update(pevi_heap_t *h, pevi_heap_node_t *n, apr_time_t mark)
{
    apr_size_t i = n->index;
    apr_time_t old = h->a[i].mark;

    n->mark = mark;
    n->seq = h->next_seq++;
    /* the new seq is the largest: an equal mark means a larger key */
    if (mark < old)
        sift_up(h->a, i, mark, n->seq, n);
    else
        sift_down(h->a, h->size, i, mark, n->seq, n);
}

pevi_heap_node_t *pevi_heap_top(const pevi_heap_t *h)
{
    return h->size ? h->a[0].node : NULL;
}

pevi_heap_node_t *pevi_heap_pop(pevi_heap_t *h)
{
    pevi_heap_node_t *n;

    if (!h->size)
        return NULL;
    n = h->a[0].node;
    n->index = PEVI_HEAP_NONE;
    remove_at(h, 0);
    return n;
}

void pevi_heap_filter(pevi_heap_t *h, pevi_heap_keep_fn *keep, void *user_data)
{
    pevi_heap_entry_t *a = h->a;
    apr_size_t i, n = 0;

    for (i = 0; i < h->size; i++) {
        pevi_heap_entry_t e = a[i];

        if (keep(e.node, user_data)) {
            a[n] = e;
            e.node->index = n++;
        } else {
            e.node->index = PEVI_HEAP_NONE;
        }
    }
    h->size = n;
    /* Floyd's heap construction: sift down each parent, the last first */
    if (n > 1)
        for (i = (n - 2) / 4 + 1; i-- > 0;) {
            pevi_heap_entry_t e = a[i];

            sift_down(a, n, i, e.mark, e.seq, e.node);
        }
    /* one reallocation to the size the shrinking rule ends at */
    {
        apr_size_t cap = h->cap;

        while (cap > PEVI_HEAP_MIN && n < cap / 4)
            cap /= 2;
        if (cap < PEVI_HEAP_MIN)
            cap = PEVI_HEAP_MIN;
        if (cap < h->cap) {
            a = pevi_heap_realloc(h->a, cap * sizeof *a);
            if (a) {                /* else keep the larger array */
                h->a = a;
                h->cap = cap;
            }
        }
    }
}

apr_size_t pevi_heap_size(const pevi_heap_t *h)
{
    return h->size;
}
