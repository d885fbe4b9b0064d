/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * heap.c - internal: indexed 4-ary min-heap (see heap.h).
 *
 * Entry i has its children at 4i+1 .. 4i+4 and its parent at (i-1)/4. An
 * entry is 16 bytes and the array is placed so that entry 1 starts a cache
 * line: the four children of any entry fill exactly one line. Sifting moves
 * a "hole" instead of swapping: entries on the path shift by one slot (each
 * move rewrites that entry's node->index) and the travelling entry is
 * written once, at the end. Marks are compared from the array; a node is
 * read only to break a tie between equal marks (its seq). At 1,000,000
 * entries the array is larger than the caches: sift-down prefetches the
 * level below the one it compares.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "heap.h"

void *(*pevi_heap_realloc)(void *ptr, size_t size) = realloc;

#if defined(__GNUC__)
#define PEVI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PEVI_INLINE inline __attribute__((always_inline))
#define PEVI_NOINLINE __attribute__((noinline))
#else
#define PEVI_NOINLINE
#define PEVI_UNLIKELY(x) (x)
#define PEVI_INLINE inline
#endif

/* Whether key (m, node's seq) sorts before entry y: by mark, then by seq.
 * The nodes are read only when the marks are equal. */
static inline int key_before(apr_time_t m, const pevi_heap_node_t *node,
                             const pevi_heap_entry_t *y)
{
    return m < y->mark || (m == y->mark && node->seq < y->node->seq);
}

/* Whether entry x sorts before entry y. */
static inline int entry_less(const pevi_heap_entry_t *x,
                             const pevi_heap_entry_t *y)
{
    return x->mark < y->mark || (x->mark == y->mark && x->node->seq < y->node->seq);
}

/* Move the entry at slot from to slot to, and tell its node. */
static inline void move(pevi_heap_entry_t *a, apr_size_t to, apr_size_t from)
{
    pevi_heap_node_t *node = a[from].node;

    a[to] = a[from];
    node->index = (apr_uint32_t) to;
}

/* Store mark m of node at slot i, and tell the node. */
static inline void place(pevi_heap_entry_t *a, apr_size_t i, apr_time_t m,
                         pevi_heap_node_t *node)
{
    a[i].mark = m;
    a[i].node = node;
    node->index = (apr_uint32_t) i;
}

/* Place (m, node), which belongs at or above the hole i, moving larger
 * parents down. */
static void sift_up(pevi_heap_entry_t *a, apr_size_t i, apr_time_t m,
                    pevi_heap_node_t *node)
{
    while (i > 0) {
        apr_size_t p = (i - 1) >> 2;

        if (!key_before(m, node, &a[p]))
            break;
        move(a, i, p);
        i = p;
    }
    place(a, i, m, node);
}

/* sift_up() for a node holding the largest seq (just assigned): it rises
 * only above strictly later marks, so no node is read. */
static void sift_up_newest(pevi_heap_entry_t *a, apr_size_t i, apr_time_t m,
                           pevi_heap_node_t *node)
{
    while (i > 0) {
        apr_size_t p = (i - 1) >> 2;

        if (!(m < a[p].mark))
            break;
        move(a, i, p);
        i = p;
    }
    place(a, i, m, node);
}

/* Ask for the four cache lines of entries [first, first + 16): the children
 * of four siblings, one of which the next level of a sift-down descends to. */
static inline void prefetch_16(const pevi_heap_entry_t *first)
{
#if defined(__GNUC__)
    const char *p = (const char *) first;

    __builtin_prefetch(p);
    __builtin_prefetch(p + 64);
    __builtin_prefetch(p + 128);
    __builtin_prefetch(p + 192);
#else
    (void) first;
#endif
}

/* Of the four entries from c on, the one whose mark is @a mk (the least of
 * theirs, held by two or more) with the least seq: sift_down_any()'s choice
 * when its winning mark is tied. Out of line, so that the loop keeps no
 * addresses alive for it. */
static PEVI_NOINLINE apr_size_t first_of_tied(const pevi_heap_entry_t *a, apr_size_t c,
                                              apr_time_t mk)
{
    apr_size_t k = c, j;

    while (a[k].mark != mk)
        k++;
    for (j = k + 1; j < c + 4; j++)
        if (a[j].mark == mk && a[j].node->seq < a[k].node->seq)
            k = j;
    return k;
}

/* Place (m, node), which belongs at or below the hole i of a heap of n
 * entries, moving smaller children up. Always inlined, so that @a newest is
 * a constant in each caller. */
static PEVI_INLINE void sift_down_any(pevi_heap_entry_t *a, apr_size_t n, apr_size_t i,
                                      apr_time_t m, pevi_heap_node_t *node, int newest)
{
    for (;;) {
        apr_size_t c = 4 * i + 1, k;
        apr_time_t mk;

        if (c + 3 < n) {
            const pevi_heap_entry_t *ch = a + c;
            apr_time_t m0 = ch[0].mark, m1 = ch[1].mark, m2 = ch[2].mark, m3 = ch[3].mark;
            apr_time_t ml = m1 < m0 ? m1 : m0, mr = m3 < m2 ? m3 : m2;
            apr_size_t e0, e1, e2, e3;

            /* in a large heap the next level is a cache miss: start
             * fetching it while this one is compared */
            if (4 * c + 16 < n)
                prefetch_16(&a[4 * c + 1]);
            /* the least of the four marks, without a branch on the
             * outcomes (they are random); a winner after (m, node) ends the
             * sift whichever child holds it */
            mk = mr < ml ? mr : ml;
            if (mk > m)
                break;
            /* which child holds it: one flag per child, the place among
             * the four their weighted sum when exactly one is set; a mark
             * held twice or more goes to the seqs, which only then are
             * read */
            e0 = m0 == mk;
            e1 = m1 == mk;
            e2 = m2 == mk;
            e3 = m3 == mk;
            if (PEVI_UNLIKELY(e0 + e1 + e2 + e3 != 1))
                k = first_of_tied(a, c, mk);
            else
                k = c + e1 + 2 * e2 + 3 * e3;
        }
        else if (c < n) {
            apr_size_t j;

            k = c;
            for (j = c + 1; j < n; j++)
                if (entry_less(&a[j], &a[k]))
                    k = j;
            mk = a[k].mark;
            if (mk > m)
                break;
        }
        else
            break;
        /* the winner's mark is m's: it goes first unless its seq is larger
         * (a node holding the largest seq sorts after every equal mark:
         * then the winner always goes first, and no node is read) */
        if (!newest && mk == m && !(a[k].node->seq < node->seq))
            break;
        move(a, i, k);
        i = k;
    }
    place(a, i, m, node);
}

static void sift_down(pevi_heap_entry_t *a, apr_size_t n, apr_size_t i,
                      apr_time_t m, pevi_heap_node_t *node)
{
    sift_down_any(a, n, i, m, node, 0);
}

/* sift_down() for a node holding the largest seq (just assigned). */
static void sift_down_newest(pevi_heap_entry_t *a, apr_size_t n, apr_size_t i,
                             apr_time_t m, pevi_heap_node_t *node)
{
    sift_down_any(a, n, i, m, node, 1);
}

/* Bytes to allocate for @a cap entries: room to place them aligned. */
#define BLOCK_BYTES(cap) ((cap) * sizeof(pevi_heap_entry_t) + 48)

/* Where entry 0 goes in @a block: entry 1 at the next 64-byte boundary. */
static inline pevi_heap_entry_t *aligned_in(void *block)
{
    apr_uintptr_t p = (apr_uintptr_t) block + sizeof(pevi_heap_entry_t);

    p = (p + 63) & ~(apr_uintptr_t) 63;
    return (pevi_heap_entry_t *) (void *) (p - sizeof(pevi_heap_entry_t));
}

/* Give the array room for @a cap entries (more or fewer, at least
 * h->size). Returns 0 if the allocator failed: then nothing changed. */
static int resize(pevi_heap_t *h, apr_size_t cap)
{
    apr_size_t off = h->a ? (apr_size_t) ((char *) h->a - (char *) h->block) : 0;
    char *block = pevi_heap_realloc(h->block, BLOCK_BYTES(cap));
    pevi_heap_entry_t *a;

    if (!block)
        return 0;
    /* realloc kept the entries at their old offset, which may not be the
     * aligned one in the new block */
    a = aligned_in(block);
    if ((char *) a != block + off && h->size)
        memmove(a, block + off, h->size * sizeof *a);
    h->block = block;
    h->a = a;
    h->cap = cap;
    return 1;
}

/* Halve the array, not below the minimum. A failed realloc keeps the larger
 * array. */
static void shrink(pevi_heap_t *h)
{
    apr_size_t cap = h->cap / 2;

    if (cap < h->floor)
        cap = h->floor;
    (void) resize(h, cap);
}

/* Take slot i out: the last entry fills it. Leaves the old node's index. */
static void remove_at(pevi_heap_t *h, apr_size_t i)
{
    apr_size_t last = --h->size;

    if (i != last) {
        pevi_heap_entry_t *a = h->a;
        apr_time_t m = a[last].mark;
        pevi_heap_node_t *node = a[last].node;

        if (i > 0 && key_before(m, node, &a[(i - 1) >> 2]))
            sift_up(a, i, m, node);
        else
            sift_down(a, last, i, m, node);
    }
    if (h->cap > h->floor && h->size < h->cap / 4)
        shrink(h);              /* less than a quarter used */
}

void pevi_heap_init(pevi_heap_t *h)
{
    h->a = NULL;
    h->block = NULL;
    h->size = 0;
    h->cap = 0;
    h->next_seq = 0;
    h->floor = PEVI_HEAP_MIN;
}

void pevi_heap_keep(pevi_heap_t *h, apr_size_t entries)
{
    h->floor = entries > PEVI_HEAP_MIN ? entries : PEVI_HEAP_MIN;
}

void pevi_heap_free(pevi_heap_t *h)
{
    free(h->block);
    pevi_heap_init(h);
}

void pevi_heap_node_init(pevi_heap_node_t *n)
{
    n->mark = 0;
    n->seq = 0;
    n->index = PEVI_HEAP_NONE;
}

apr_status_t pevi_heap_grow(pevi_heap_t *h)
{
    apr_size_t cap = h->cap ? h->cap * 2 : PEVI_HEAP_MIN;

    /* an index is 32 bits; this also keeps 4 * i + 4 (children) and the
     * array's size within apr_size_t */
    if (cap > PEVI_HEAP_MAX || cap > ((apr_size_t) -1 - 64) / sizeof(pevi_heap_entry_t))
        return APR_ENOMEM;
    if (!resize(h, cap))
        return APR_ENOMEM;
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
        sift_up_newest(h->a, i, mark, n);
    else
        sift_down_newest(h->a, h->size, i, mark, n);
}

void pevi_heap_retime_top(pevi_heap_t *h, apr_time_t mark, apr_uint64_t seq)
{
    pevi_heap_node_t *n = h->a[0].node;

    n->mark = mark;
    n->seq = seq;
    /* not the newest seq: equal marks compare seqs */
    sift_down(h->a, h->size, 0, mark, n);
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

void pevi_heap_prefetch_due(const pevi_heap_t *h, apr_time_t mark)
{
#if defined(__GNUC__)
    /* a breadth-first walk of the entries not after mark: they form a
     * subtree holding the root, and the queue is the walk's order */
    apr_uint32_t q[PEVI_HEAP_PREFETCH_MAX];
    const pevi_heap_entry_t *a = h->a;
    apr_size_t head = 0, tail = 0, n = h->size;

    if (!n || a[0].mark > mark)
        return;
    q[tail++] = 0;
    while (head < tail) {
        apr_size_t i = q[head++], c = 4 * i + 1, j;

        __builtin_prefetch(a[i].node, 1);
        if (c + 4 <= n && tail + 4 <= PEVI_HEAP_PREFETCH_MAX) {
            /* all four children: queued without branches (whether a
             * child is due is random) */
            for (j = c; j < c + 4; j++) {
                q[tail] = (apr_uint32_t) j;
                tail += a[j].mark <= mark;
            }
        }
        else
            for (j = c; j < n && j < c + 4 && tail < PEVI_HEAP_PREFETCH_MAX; j++)
                if (a[j].mark <= mark)
                    q[tail++] = (apr_uint32_t) j;
    }
#else
    (void) h;
    (void) mark;
#endif
}

/* Restore the heap order of the first n entries (Floyd's construction:
 * sift down each parent, the last first), then shrink the array to what the
 * shrinking rule ends at. */
static void rebuild(pevi_heap_t *h, apr_size_t n)
{
    pevi_heap_entry_t *a = h->a;
    apr_size_t i, cap = h->cap;

    h->size = n;
    if (n > 1)
        for (i = (n - 2) / 4 + 1; i-- > 0;) {
            pevi_heap_entry_t e = a[i];
            pevi_heap_node_t *node = e.node;

            sift_down(a, n, i, e.mark, node);
        }
    /* one reallocation to the size the shrinking rule ends at */
    while (cap > h->floor && n < cap / 4)
        cap /= 2;
    if (cap < h->floor)
        cap = h->floor;
    if (cap < h->cap)
        (void) resize(h, cap);      /* failing, keeps the larger array */
}

void pevi_heap_rebuild(pevi_heap_t *h, apr_size_t n)
{
    rebuild(h, n);
}

