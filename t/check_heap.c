/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_heap.c - the internal timer heap (lib/heap.h).
 *
 * Unit tests for each operation and edge case, a seeded randomized test of
 * POOLEV_HEAP_OPS (default 200,000) operations against a naive model (an
 * array kept sorted by (mark, seq)), and POOLEV_HEAP_BIG (default 1,000,000)
 * pushes of random marks popped back in order.
 *
 * Reproduce a failure: POOLEV_SEED=<seed> make check TESTS=t/check_heap
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr.h>
#include "heap.h"
#include "harness.h"

/* A caller struct with an embedded node, as a timer would have. */
typedef struct item {
    int id;
    pevi_heap_node_t node;
    /* model state (randomized test) */
    int slot;                   /* position in PERM */
    apr_time_t mmark;           /* model key */
    apr_uint64_t mseq;
} item_t;

/* The item a node is embedded in. */
static item_t *item_of(pevi_heap_node_t *n)
{
    return (item_t *) (void *) ((char *) n - offsetof(item_t, node));
}

static uint64_t SEED;
static long OPNO = -1;          /* current operation of a randomized test */

/* Fail with the seed (and the operation number of a randomized test). Unlike
 * ck_assert, costs nothing when the condition holds (ck_assert records a mark
 * point each time, which is slow in the big loops). */
#define FAIL_IF(cond, ...) do {                                                 \
        if (cond) {                                                             \
            char m_[512];                                                       \
            snprintf(m_, sizeof m_, __VA_ARGS__);                               \
            if (OPNO >= 0)                                                      \
                ck_abort_msg("seed %llu, op %ld: %s",                           \
                             (unsigned long long) SEED, OPNO, m_);              \
            else                                                                \
                ck_abort_msg("seed %llu: %s", (unsigned long long) SEED, m_);   \
        }                                                                       \
    } while (0)

/* A realloc that always fails, for the APR_ENOMEM paths. */
static void *failing_realloc(void *ptr, size_t size)
{
    (void) ptr;
    (void) size;
    return NULL;
}

/* Every test starts (and ends) with the real allocator. */
static void setup(void)
{
    pevi_heap_realloc = realloc;
}

/* Restore the allocator even when a test failed halfway. */
static void teardown(void)
{
    pevi_heap_realloc = realloc;
}

/* Whether key (xm, xs) sorts strictly before key (ym, ys). */
static int key_less(apr_time_t xm, apr_uint64_t xs, apr_time_t ym, apr_uint64_t ys)
{
    return xm < ym || (xm == ym && xs < ys);
}

/* The full invariant: array and capacity bounds, every entry's key equal to
 * its node's and its node's index pointing back, and every parent strictly
 * before its children. */
static void check_heap(const pevi_heap_t *h)
{
    apr_size_t i;

    FAIL_IF(pevi_heap_size(h) != h->size, "size() %lu, field %lu",
            (unsigned long) pevi_heap_size(h), (unsigned long) h->size);
    FAIL_IF(h->size > h->cap, "size %lu > cap %lu", (unsigned long) h->size,
            (unsigned long) h->cap);
    FAIL_IF((h->a == NULL) != (h->cap == 0), "array %p with cap %lu",
            (void *) h->a, (unsigned long) h->cap);
    FAIL_IF(h->a && h->cap < PEVI_HEAP_MIN, "cap %lu below the minimum",
            (unsigned long) h->cap);
    FAIL_IF(h->cap & (h->cap - 1), "cap %lu not a power of two",
            (unsigned long) h->cap);
    for (i = 0; i < h->size; i++) {
        const pevi_heap_entry_t *e = &h->a[i];

        FAIL_IF(!e->node, "entry %lu has no node", (unsigned long) i);
        FAIL_IF(e->node->index != i, "entry %lu: node index %lu",
                (unsigned long) i, (unsigned long) e->node->index);
        FAIL_IF(e->node->mark != e->mark,
                "entry %lu: mark %lld but node %lld", (unsigned long) i,
                (long long) e->mark, (long long) e->node->mark);
        if (i > 0) {
            const pevi_heap_entry_t *p = &h->a[(i - 1) / 4];

            FAIL_IF(!key_less(p->mark, p->node->seq, e->mark, e->node->seq),
                    "entry %lu (%lld,%llu) not after its parent (%lld,%llu)",
                    (unsigned long) i, (long long) e->mark,
                    (unsigned long long) e->node->seq, (long long) p->mark,
                    (unsigned long long) p->node->seq);
        }
    }
    /* the layout: 16-byte entries, the four children of every entry in one
     * 64-byte line, the whole array inside the allocated block */
    FAIL_IF(sizeof(pevi_heap_entry_t) != 16, "entry of %lu bytes",
            (unsigned long) sizeof(pevi_heap_entry_t));
    if (h->a) {
        FAIL_IF(((apr_uintptr_t) &h->a[1]) % 64 != 0, "entry 1 at %p: not a line start",
                (void *) &h->a[1]);
        FAIL_IF((char *) h->a < (char *) h->block
                || (char *) h->a - (char *) h->block > 48,
                "array %p not at the start of its block %p", (void *) h->a, h->block);
    }
}

/* Items 0..n-1 with fresh nodes. */
static item_t *make_items(int n)
{
    item_t *it = calloc((size_t) n, sizeof *it);
    int i;

    ck_assert_ptr_nonnull(it);
    for (i = 0; i < n; i++) {
        it[i].id = i;
        pevi_heap_node_init(&it[i].node);
    }
    return it;
}

/* Push with success expected, then check the heap. */
static void push(pevi_heap_t *h, item_t *it, apr_time_t mark)
{
    ck_assert_int_eq(pevi_heap_push(h, &it->node, mark), APR_SUCCESS);
    ck_assert(pevi_heap_contains(&it->node));
    ck_assert(it->node.mark == mark);
    check_heap(h);
}

/* Pop everything and compare the ids with expect[] (terminated by -1). */
static void drain_expect(pevi_heap_t *h, const int *expect)
{
    int k;

    for (k = 0; expect[k] != -1; k++) {
        pevi_heap_node_t *n = pevi_heap_pop(h);

        ck_assert_msg(n != NULL, "heap empty at position %d", k);
        ck_assert_msg(item_of(n)->id == expect[k], "position %d: id %d, expected %d",
                      k, item_of(n)->id, expect[k]);
        ck_assert(!pevi_heap_contains(n));
        check_heap(h);
    }
    ck_assert_ptr_null(pevi_heap_pop(h));
    ck_assert_uint_eq(pevi_heap_size(h), 0);
}

#define DRAIN(h, ...) do {                                                      \
        static const int expect_[] = { __VA_ARGS__, -1 };                      \
        drain_expect((h), expect_);                                             \
    } while (0)

/* ======================================================================== */
/* unit tests                                                                */

START_TEST(empty_heap)
{
    pevi_heap_t h;
    item_t *it = make_items(1);

    pevi_heap_init(&h);
    ck_assert_ptr_null(h.a);                /* init allocates nothing */
    ck_assert_uint_eq(pevi_heap_size(&h), 0);
    ck_assert_ptr_null(pevi_heap_top(&h));
    ck_assert_ptr_null(pevi_heap_pop(&h));
    ck_assert(!pevi_heap_contains(&it[0].node));
    ck_assert_uint_eq(it[0].node.index, PEVI_HEAP_NONE);
    check_heap(&h);
    pevi_heap_free(&h);                     /* free of a never-used heap */
    pevi_heap_free(&h);                     /* and again */

    /* emptied by pop: top and pop are NULL again */
    push(&h, &it[0], 7);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[0].node);
    ck_assert_ptr_eq(pevi_heap_pop(&h), &it[0].node);
    ck_assert_ptr_null(pevi_heap_top(&h));
    ck_assert_ptr_null(pevi_heap_pop(&h));
    ck_assert_uint_eq(pevi_heap_size(&h), 0);
    pevi_heap_free(&h);
    ck_assert_ptr_null(h.a);
    ck_assert_uint_eq(h.cap, 0);
    free(it);
}
END_TEST

START_TEST(pops_in_mark_order)
{
    static const apr_time_t marks[] = { 50, 10, 40, 30, 20, -5, 60, 0 };
    pevi_heap_t h;
    item_t *it = make_items(8);
    int i;

    pevi_heap_init(&h);
    for (i = 0; i < 8; i++)
        push(&h, &it[i], marks[i]);
    ck_assert_uint_eq(pevi_heap_size(&h), 8);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[5].node);
    ck_assert_uint_eq(it[5].node.index, 0);
    DRAIN(&h, 5, 7, 1, 4, 3, 2, 0, 6);
    pevi_heap_free(&h);
    free(it);
}
END_TEST

START_TEST(extreme_marks)
{
    pevi_heap_t h;
    item_t *it = make_items(6);

    pevi_heap_init(&h);
    push(&h, &it[0], APR_INT64_MAX);
    push(&h, &it[1], 0);
    push(&h, &it[2], APR_INT64_MIN);
    push(&h, &it[3], APR_INT64_MAX);
    push(&h, &it[4], APR_INT64_MIN + 1);
    push(&h, &it[5], APR_INT64_MIN);
    DRAIN(&h, 2, 5, 4, 1, 0, 3);
    pevi_heap_free(&h);
    free(it);
}
END_TEST

START_TEST(equal_marks_are_fifo)
{
    enum { N = 300 };           /* several growths of the array */
    pevi_heap_t h;
    item_t *it = make_items(N);
    apr_uint64_t last = 0;
    int i;

    pevi_heap_init(&h);
    /* three marks, interleaved: each mark's items come out in push order */
    for (i = 0; i < N; i++) {
        push(&h, &it[i], (apr_time_t) (2 - i % 3) * 100);
        if (i)
            ck_assert_msg(it[i].node.seq > last, "seq not increasing at %d", i);
        last = it[i].node.seq;
    }
    for (i = 0; i < N; i++) {
        /* marks 0 (ids 2, 5, ...), 100 (1, 4, ...), 200 (0, 3, ...) */
        int want = 3 * (i % (N / 3)) + (2 - i / (N / 3));
        pevi_heap_node_t *n = pevi_heap_pop(&h);

        ck_assert_msg(item_of(n)->id == want, "pop %d: id %d, expected %d", i,
                      item_of(n)->id, want);
    }
    ck_assert_ptr_null(pevi_heap_pop(&h));
    pevi_heap_free(&h);
    free(it);
}
END_TEST

START_TEST(update_to_earlier_mark)
{
    pevi_heap_t h;
    item_t *it = make_items(20);
    int i;

    pevi_heap_init(&h);
    for (i = 0; i < 20; i++)
        push(&h, &it[i], 100 + i);
    /* the latest item goes before everything */
    pevi_heap_update(&h, &it[19].node, 5);
    check_heap(&h);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[19].node);
    ck_assert(it[19].node.mark == 5);
    ck_assert_uint_eq(it[19].node.index, 0);
    /* a middle one moves up but not to the top */
    pevi_heap_update(&h, &it[12].node, 50);
    check_heap(&h);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[19].node);
    /* a leaf moves into the middle of the order */
    pevi_heap_update(&h, &it[18].node, 104);   /* after 4 (equal, newer) */
    check_heap(&h);
    DRAIN(&h, 19, 12, 0, 1, 2, 3, 4, 18, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15,
          16, 17);
    pevi_heap_free(&h);
    free(it);
}
END_TEST

START_TEST(update_to_later_mark)
{
    pevi_heap_t h;
    item_t *it = make_items(20);
    int i;

    pevi_heap_init(&h);
    for (i = 0; i < 20; i++)
        push(&h, &it[i], 100 + i);
    /* the top goes behind everything */
    pevi_heap_update(&h, &it[0].node, 1000);
    check_heap(&h);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[1].node);
    ck_assert(it[0].node.mark == 1000);
    /* a middle one moves later, past some */
    pevi_heap_update(&h, &it[5].node, 110);    /* after 10 (equal, newer) */
    check_heap(&h);
    /* updating the minimum to a later mark that is still the minimum */
    pevi_heap_update(&h, &it[1].node, 101);
    check_heap(&h);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[1].node);
    DRAIN(&h, 1, 2, 3, 4, 6, 7, 8, 9, 10, 5, 11, 12, 13, 14, 15, 16, 17, 18,
          19, 0);
    pevi_heap_free(&h);
    free(it);
}
END_TEST

START_TEST(update_resequences_ties)
{
    pevi_heap_t h;
    item_t *it = make_items(6);
    apr_uint64_t before;

    pevi_heap_init(&h);
    push(&h, &it[0], 10);
    push(&h, &it[1], 10);
    push(&h, &it[2], 10);
    push(&h, &it[3], 20);
    /* same mark again: 0 now sorts after 1 and 2, like a fresh push */
    before = it[2].node.seq;
    pevi_heap_update(&h, &it[0].node, 10);
    check_heap(&h);
    ck_assert(it[0].node.seq > before);
    ck_assert(it[0].node.mark == 10);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[1].node);
    /* moving to an equal mark from elsewhere: after the existing holders */
    push(&h, &it[4], 30);
    pevi_heap_update(&h, &it[3].node, 30);     /* after 4 */
    pevi_heap_update(&h, &it[1].node, 30);     /* after 4 and 3 */
    check_heap(&h);
    /* and the only node with a mark updated to the same mark stays put */
    push(&h, &it[5], -1);
    pevi_heap_update(&h, &it[5].node, -1);
    check_heap(&h);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[5].node);
    DRAIN(&h, 5, 2, 0, 4, 3, 1);
    pevi_heap_free(&h);
    free(it);
}
END_TEST

/* pevi_heap_retime_top(): the top node takes a later key (mark, seq) with a
 * seq taken earlier (pevi_heap_take_seq()) and sorts among equal marks by
 * that seq, not as the newest. */
START_TEST(retime_top_keeps_the_given_seq)
{
    pevi_heap_t h;
    item_t *it = make_items(40);
    apr_uint64_t s0;
    int i;

    pevi_heap_init(&h);
    push(&h, &it[0], 5);
    push(&h, &it[1], 51);
    s0 = pevi_heap_take_seq(&h);            /* 0's re-arm to 50, noted */
    push(&h, &it[2], 50);
    for (i = 3; i < 40; i++)                /* a few levels below */
        push(&h, &it[i], 60 + i);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[0].node);
    /* 0 sorts before 2, pushed for the same mark after the seq was taken:
     * as the newest it would sink below 2 */
    pevi_heap_retime_top(&h, 50, s0);
    check_heap(&h);
    ck_assert(it[0].node.mark == 50 && it[0].node.seq == s0);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[0].node);
    DRAIN(&h, 0, 2, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
          20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39);
    pevi_heap_free(&h);
    free(it);
}
END_TEST

START_TEST(remove_top_middle_last_only)
{
    enum { N = 30 };
    pevi_heap_t h;
    item_t *it = make_items(N);
    pevi_heap_node_t *last, *maxn = NULL;
    int expect[N], removed[N], i, k = 0;

    pevi_heap_init(&h);
    /* the only element */
    push(&h, &it[0], 1);
    pevi_heap_remove(&h, &it[0].node);
    ck_assert(!pevi_heap_contains(&it[0].node));
    ck_assert_uint_eq(it[0].node.index, PEVI_HEAP_NONE);
    ck_assert_uint_eq(pevi_heap_size(&h), 0);
    ck_assert_ptr_null(pevi_heap_top(&h));
    check_heap(&h);

    for (i = 0; i < N; i++)
        push(&h, &it[i], 1000 - 10 * i);       /* N-1 is the top */
    /* the top */
    pevi_heap_remove(&h, &it[N - 1].node);
    ck_assert(!pevi_heap_contains(&it[N - 1].node));
    check_heap(&h);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[N - 2].node);
    /* the entry in the last array slot (nothing moves) */
    last = h.a[h.size - 1].node;
    pevi_heap_remove(&h, last);
    ck_assert(!pevi_heap_contains(last));
    check_heap(&h);
    /* the node with the largest key */
    for (i = 0; i < N; i++)
        if (pevi_heap_contains(&it[i].node) && (!maxn || it[i].node.mark > maxn->mark))
            maxn = &it[i].node;
    pevi_heap_remove(&h, maxn);
    check_heap(&h);
    /* middle ones: an inner node and a leaf */
    pevi_heap_remove(&h, h.a[2].node);
    check_heap(&h);
    pevi_heap_remove(&h, h.a[h.size - 3].node);
    check_heap(&h);
    ck_assert_uint_eq(pevi_heap_size(&h), N - 5);
    ck_assert_ptr_eq(pevi_heap_top(&h), &it[N - 2].node);

    /* the rest come out in order; removed nodes can come back */
    for (i = 0; i < N; i++)
        removed[i] = !pevi_heap_contains(&it[i].node);
    for (i = N - 1; i >= 0; i--)
        if (!removed[i])
            expect[k++] = i;
    for (i = 0; i < N; i++)
        if (removed[i]) {
            push(&h, &it[i], 5000 + i);
            expect[k++] = i;
        }
    ck_assert_uint_eq(pevi_heap_size(&h), N);
    for (i = 0; i < N; i++) {
        pevi_heap_node_t *n = pevi_heap_pop(&h);

        ck_assert_msg(n == &it[expect[i]].node, "pop %d: id %d, expected %d", i,
                      n ? item_of(n)->id : -1, expect[i]);
        check_heap(&h);
    }
    ck_assert_ptr_null(pevi_heap_pop(&h));
    pevi_heap_free(&h);
    free(it);
}
END_TEST

START_TEST(index_maintenance)
{
    enum { N = 200 };
    pevi_heap_t h;
    item_t *it = make_items(N);
    int i;

    pevi_heap_init(&h);
    for (i = 0; i < N; i++) {
        push(&h, &it[i], (apr_time_t) ((i * 7919) % 101));
        ck_assert_ptr_eq(h.a[it[i].node.index].node, &it[i].node);
    }
    for (i = 0; i < N; i += 3) {
        pevi_heap_update(&h, &it[i].node, (apr_time_t) ((i * 31) % 53));
        check_heap(&h);
    }
    for (i = 1; i < N; i += 4) {
        pevi_heap_remove(&h, &it[i].node);
        ck_assert_uint_eq(it[i].node.index, PEVI_HEAP_NONE);
        check_heap(&h);
    }
    for (i = 0; i < N; i++)
        if (pevi_heap_contains(&it[i].node))
            ck_assert_ptr_eq(h.a[it[i].node.index].node, &it[i].node);
    while (pevi_heap_size(&h)) {
        pevi_heap_node_t *n = pevi_heap_pop(&h);

        ck_assert_uint_eq(n->index, PEVI_HEAP_NONE);
        check_heap(&h);
    }
    for (i = 0; i < N; i++)
        ck_assert(!pevi_heap_contains(&it[i].node));
    pevi_heap_free(&h);
    free(it);
}
END_TEST

START_TEST(grows_and_shrinks)
{
    enum { N = 5000 };
    pevi_heap_t h;
    item_t *it = make_items(N);
    apr_size_t maxcap;
    int i;

    pevi_heap_init(&h);
    push(&h, &it[0], 0);
    ck_assert_uint_eq(h.cap, PEVI_HEAP_MIN);
    for (i = 1; i < N; i++)
        ck_assert_int_eq(pevi_heap_push(&h, &it[i].node, N - i), APR_SUCCESS);
    check_heap(&h);
    maxcap = h.cap;
    ck_assert_uint_eq(maxcap, 8192);
    /* removing to below a quarter halves the array, never below the minimum */
    for (i = 0; i < N; i++) {
        apr_size_t cap = h.cap;

        if (i % 2)
            pevi_heap_remove(&h, h.a[h.size / 2].node);
        else
            pevi_heap_pop(&h);
        ck_assert(h.cap == cap || h.cap == cap / 2);
        ck_assert(h.size >= h.cap / 4 || h.cap == PEVI_HEAP_MIN);
        ck_assert(h.cap >= PEVI_HEAP_MIN);
    }
    check_heap(&h);
    ck_assert_uint_eq(h.cap, PEVI_HEAP_MIN);
    ck_assert_ptr_nonnull(h.a);
    ck_assert_ptr_null(pevi_heap_top(&h));
    /* usable again after free */
    pevi_heap_free(&h);
    push(&h, &it[0], 3);
    push(&h, &it[1], 3);
    DRAIN(&h, 0, 1);
    pevi_heap_free(&h);
    free(it);
}
END_TEST

START_TEST(enomem_leaves_heap_unchanged)
{
    enum { N = 2 * PEVI_HEAP_MIN };
    pevi_heap_t h, copy;
    pevi_heap_entry_t *snap;
    item_t *it = make_items(N + 1);
    int i;

    /* the very first allocation fails */
    pevi_heap_init(&h);
    pevi_heap_realloc = failing_realloc;
    ck_assert_int_eq(pevi_heap_push(&h, &it[0].node, 1), APR_ENOMEM);
    ck_assert(!pevi_heap_contains(&it[0].node));
    ck_assert_ptr_null(h.a);
    ck_assert_uint_eq(h.size, 0);
    ck_assert_uint_eq(h.next_seq, 0);
    pevi_heap_realloc = realloc;

    /* a full array whose growth fails */
    for (i = 0; i < N; i++)
        push(&h, &it[i], (apr_time_t) (i % 5));
    ck_assert_uint_eq(h.size, h.cap);
    copy = h;
    snap = malloc(N * sizeof *snap);
    ck_assert_ptr_nonnull(snap);
    memcpy(snap, h.a, N * sizeof *snap);
    it[N].node.mark = 77;
    it[N].node.seq = 88;
    pevi_heap_realloc = failing_realloc;
    ck_assert_int_eq(pevi_heap_push(&h, &it[N].node, 0), APR_ENOMEM);
    ck_assert(memcmp(&h, &copy, sizeof h) == 0);
    ck_assert(memcmp(snap, h.a, N * sizeof *snap) == 0);
    ck_assert_uint_eq(it[N].node.index, PEVI_HEAP_NONE);
    ck_assert(it[N].node.mark == 77 && it[N].node.seq == 88);
    check_heap(&h);

    /* shrinking that fails keeps the larger array; the heap stays valid */
    for (i = 0; i < N - 10; i++) {
        pevi_heap_pop(&h);
        check_heap(&h);
    }
    ck_assert_uint_eq(h.cap, N);
    pevi_heap_realloc = realloc;

    /* with memory back, the push succeeds with the next seq; the next
     * removal shrinks */
    push(&h, &it[N], 0);
    ck_assert(it[N].node.seq == copy.next_seq);
    pevi_heap_remove(&h, &it[N].node);
    ck_assert_uint_eq(h.cap, N / 2);
    check_heap(&h);
    free(snap);
    pevi_heap_free(&h);
    free(it);
}
END_TEST

START_TEST(two_heaps_own_sequences)
{
    pevi_heap_t a, b;
    item_t *it = make_items(4);

    pevi_heap_init(&a);
    pevi_heap_init(&b);
    push(&a, &it[0], 1);
    push(&b, &it[1], 1);
    push(&b, &it[2], 1);
    push(&a, &it[3], 1);
    ck_assert(it[3].node.seq > it[0].node.seq);
    ck_assert(it[2].node.seq > it[1].node.seq);
    /* a node leaves one heap and joins the other */
    pevi_heap_remove(&a, &it[0].node);
    push(&b, &it[0], 1);
    DRAIN(&a, 3);
    DRAIN(&b, 1, 2, 0);
    pevi_heap_free(&a);
    pevi_heap_free(&b);
    free(it);
}
END_TEST

/* ======================================================================== */
/* randomized test against a sorted-array model                              */

#define MAXITEMS 1500

typedef struct {
    apr_time_t mark;
    apr_uint64_t seq;           /* the model's own sequence */
    int id;
} mentry_t;

static pt_rng_t RNG;
static item_t *IT;
static int PERM[MAXITEMS];      /* [0, NIN): in the heap; the rest out */
static int NIN;
static mentry_t MODEL[MAXITEMS]; /* sorted by (mark, seq) */
static int MN;                  /* entries in MODEL */
static apr_uint64_t MSEQ;       /* model sequence counter */
static apr_uint64_t LAST_SEQ;   /* the heap's last assigned seq */
static int SEQ_SEEN;

/* Position of (mark, seq) in MODEL: where it is or would be inserted. */
static int model_find(apr_time_t mark, apr_uint64_t seq)
{
    int lo = 0, hi = MN;

    while (lo < hi) {
        int mid = (lo + hi) / 2;

        if (key_less(MODEL[mid].mark, MODEL[mid].seq, mark, seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Model: item id enters with mark and the next model seq. */
static void model_insert(int id, apr_time_t mark)
{
    item_t *x = &IT[id];
    int pos;

    x->mmark = mark;
    x->mseq = MSEQ++;
    pos = model_find(x->mmark, x->mseq);
    memmove(&MODEL[pos + 1], &MODEL[pos], (size_t) (MN - pos) * sizeof *MODEL);
    MN++;
    MODEL[pos].mark = x->mmark;
    MODEL[pos].seq = x->mseq;
    MODEL[pos].id = id;
}

/* Model: item id leaves. */
static void model_delete(int id)
{
    item_t *x = &IT[id];
    int pos = model_find(x->mmark, x->mseq);

    FAIL_IF(pos >= MN || MODEL[pos].id != id, "model lost item %d", id);
    MN--;
    memmove(&MODEL[pos], &MODEL[pos + 1], (size_t) (MN - pos) * sizeof *MODEL);
}

/* Swap PERM slots i and j, keeping the items' slot fields. */
static void perm_swap(int i, int j)
{
    int a = PERM[i], b = PERM[j];

    PERM[i] = b;
    PERM[j] = a;
    IT[b].slot = i;
    IT[a].slot = j;
}

/* Item id enters the member set (it is in PERM[NIN..]). */
static void member_add(int id)
{
    perm_swap(IT[id].slot, NIN);
    NIN++;
}

/* Item id leaves the member set. */
static void member_del(int id)
{
    NIN--;
    perm_swap(IT[id].slot, NIN);
}

/* A random mark: many ties, existing marks, wide and extreme values. */
static apr_time_t random_mark(void)
{
    unsigned r = pt_below(&RNG, 100);

    if (r < 30)
        return (apr_time_t) pt_below(&RNG, 16);
    if (r < 55 && NIN)
        return IT[PERM[pt_below(&RNG, (unsigned) NIN)]].mmark;
    if (r < 90)
        return (apr_time_t) (pt_next(&RNG) % 1000000000);
    if (r < 96)
        return -(apr_time_t) (pt_next(&RNG) % 1000000);
    switch (pt_below(&RNG, 4)) {
    case 0: return APR_INT64_MIN;
    case 1: return APR_INT64_MIN + 1;
    case 2: return APR_INT64_MAX - 1;
    default: return APR_INT64_MAX;
    }
}

/* The heap assigned n a seq: it must exceed every earlier one. */
static void check_new_seq(const pevi_heap_node_t *n, apr_time_t mark)
{
    FAIL_IF(SEQ_SEEN && n->seq <= LAST_SEQ, "seq %llu after %llu",
            (unsigned long long) n->seq, (unsigned long long) LAST_SEQ);
    FAIL_IF(n->mark != mark, "node mark %lld, pushed %lld", (long long) n->mark,
            (long long) mark);
    LAST_SEQ = n->seq;
    SEQ_SEEN = 1;
}

/* Every item: in the heap exactly when in the model, with the model's mark. */
static void check_members(const pevi_heap_t *h)
{
    int i;

    check_heap(h);
    FAIL_IF(pevi_heap_size(h) != (apr_size_t) NIN, "size %lu, model %d",
            (unsigned long) pevi_heap_size(h), NIN);
    for (i = 0; i < MAXITEMS; i++) {
        const item_t *x = &IT[i];
        int in = x->slot < NIN;

        FAIL_IF(pevi_heap_contains(&x->node) != in, "item %d: contains %d, model %d",
                i, pevi_heap_contains(&x->node), in);
        if (in) {
            FAIL_IF(x->node.index >= h->size || h->a[x->node.index].node != &x->node,
                    "item %d: index %lu does not point back", i,
                    (unsigned long) x->node.index);
            FAIL_IF(x->node.mark != x->mmark, "item %d: mark %lld, model %lld", i,
                    (long long) x->node.mark, (long long) x->mmark);
        }
    }
}

/* A size for the heap to drift towards: often small, to cross the minimum. */
static int random_target(void)
{
    return pt_below(&RNG, 4) == 0 ? (int) pt_below(&RNG, 2 * PEVI_HEAP_MIN)
                                  : (int) pt_below(&RNG, MAXITEMS + 1);
}

START_TEST(random_against_model)
{
    long ops = pt_env_long("POOLEV_HEAP_OPS", 200000);
    long counts[5] = { 0 }, size_sum = 0;
    apr_size_t maxcap = 0;
    pevi_heap_t h;
    int target = 0, i;

    SEED = pt_seed("check_heap");
    RNG.s = SEED;
    IT = make_items(MAXITEMS);
    for (i = 0; i < MAXITEMS; i++) {
        PERM[i] = i;
        IT[i].slot = i;
    }
    NIN = MN = 0;
    MSEQ = LAST_SEQ = 0;
    SEQ_SEEN = 0;
    pevi_heap_init(&h);

    for (OPNO = 0; OPNO < ops; OPNO++) {
        unsigned r = pt_below(&RNG, 100);
        int grow = NIN < target, kind;
        pevi_heap_node_t *top;

        if (OPNO % 5000 == 0)
            target = random_target();
        /* push, remove, update, pop, top: biased towards the target size */
        if (r < (grow ? 40u : 15u))
            kind = 0;
        else if (r < (grow ? 55u : 35u))
            kind = 1;
        else if (r < 75)
            kind = 2;
        else if (r < (grow ? 85u : 92u))
            kind = 3;
        else
            kind = 4;
        if (kind == 0 && NIN == MAXITEMS)
            kind = 3;

        switch (kind) {
        case 0: {       /* push a random outsider */
            int id = PERM[NIN + (int) pt_below(&RNG, (unsigned) (MAXITEMS - NIN))];
            apr_time_t mark = random_mark();
            apr_status_t rv = pevi_heap_push(&h, &IT[id].node, mark);

            FAIL_IF(rv != APR_SUCCESS, "push: status %d", rv);
            FAIL_IF(!pevi_heap_contains(&IT[id].node), "pushed item %d not in heap", id);
            check_new_seq(&IT[id].node, mark);
            model_insert(id, mark);
            member_add(id);
            break;
        }
        case 1:         /* remove a random member */
            if (NIN) {
                int id = PERM[pt_below(&RNG, (unsigned) NIN)];

                pevi_heap_remove(&h, &IT[id].node);
                FAIL_IF(pevi_heap_contains(&IT[id].node), "removed item %d in heap", id);
                model_delete(id);
                member_del(id);
            }
            break;
        case 2:         /* update a random member (also to its own mark) */
            if (NIN) {
                int id = PERM[pt_below(&RNG, (unsigned) NIN)];
                apr_time_t mark = pt_below(&RNG, 8) ? random_mark() : IT[id].mmark;

                pevi_heap_update(&h, &IT[id].node, mark);
                FAIL_IF(pevi_heap_size(&h) != (apr_size_t) NIN, "update changed size");
                check_new_seq(&IT[id].node, mark);
                model_delete(id);
                model_insert(id, mark);
            }
            break;
        case 3: {       /* pop */
            pevi_heap_node_t *n = pevi_heap_pop(&h);

            if (!NIN) {
                FAIL_IF(n != NULL, "pop of an empty heap returned a node");
            }
            else {
                int want = MODEL[0].id;

                FAIL_IF(n != &IT[want].node, "pop: item %d, model says %d",
                        n ? item_of(n)->id : -1, want);
                FAIL_IF(pevi_heap_contains(n), "popped item %d still in heap", want);
                model_delete(want);
                member_del(want);
            }
            break;
        }
        default:        /* top (checked below in any case) */
            break;
        }
        counts[kind]++;

        top = pevi_heap_top(&h);
        FAIL_IF(pevi_heap_size(&h) != (apr_size_t) NIN, "size %lu, model %d",
                (unsigned long) pevi_heap_size(&h), NIN);
        if (NIN)
            FAIL_IF(top != &IT[MODEL[0].id].node, "top: item %d, model says %d",
                    top ? item_of(top)->id : -1, MODEL[0].id);
        else
            FAIL_IF(top != NULL, "top of an empty heap is not NULL");
        if (OPNO % 1000 == 999)
            check_members(&h);
        if (h.cap > maxcap)
            maxcap = h.cap;
        size_sum += NIN;
    }
    check_members(&h);
    /* drain: the whole order agrees with the model */
    for (i = 0; NIN; i++) {
        pevi_heap_node_t *n = pevi_heap_pop(&h);
        int want = MODEL[0].id;

        FAIL_IF(n != &IT[want].node, "drain %d: item %d, model says %d", i,
                n ? item_of(n)->id : -1, want);
        model_delete(want);
        member_del(want);
    }
    FAIL_IF(pevi_heap_pop(&h) != NULL, "heap not empty after the drain");
    FAIL_IF(h.cap != PEVI_HEAP_MIN, "cap %lu after the drain", (unsigned long) h.cap);
    printf("check_heap: %ld operations (%ld push, %ld remove, %ld update, %ld pop, "
           "%ld top), %.0f nodes on average, array up to %lu\n", ops, counts[0],
           counts[1], counts[2], counts[3], counts[4],
           ops ? (double) size_sum / (double) ops : 0.0, (unsigned long) maxcap);
    OPNO = -1;
    pevi_heap_free(&h);
    free(IT);
    IT = NULL;
}
END_TEST

/* ======================================================================== */

START_TEST(million_pushes_pop_in_order)
{
    long n = pt_env_long("POOLEV_HEAP_BIG", 1000000), i;
    pevi_heap_node_t *nodes = malloc((size_t) n * sizeof *nodes);
    pevi_heap_t h;
    pt_rng_t rng;
    apr_time_t pm = 0;
    apr_uint64_t ps = 0;

    ck_assert_ptr_nonnull(nodes);
    SEED = pt_seed("check_heap");
    rng.s = SEED ^ UINT64_C(0x5bd1e9955bd1e995);
    pevi_heap_init(&h);
    for (i = 0; i < n; i++) {
        /* marks from a range about half the count: plenty of ties */
        apr_time_t mark = (apr_time_t) (pt_next(&rng) % (uint64_t) (n / 2 + 1));
        apr_status_t rv;

        pevi_heap_node_init(&nodes[i]);
        rv = pevi_heap_push(&h, &nodes[i], mark);
        FAIL_IF(rv != APR_SUCCESS, "push %ld: status %d", i, rv);
    }
    FAIL_IF(pevi_heap_size(&h) != (apr_size_t) n, "size %lu after %ld pushes",
            (unsigned long) pevi_heap_size(&h), n);
    check_heap(&h);
    for (i = 0; i < n; i++) {
        pevi_heap_node_t *x = pevi_heap_pop(&h);

        FAIL_IF(!x, "heap empty after %ld pops", i);
        FAIL_IF(x->index != PEVI_HEAP_NONE, "popped node still indexed");
        FAIL_IF(i && !key_less(pm, ps, x->mark, x->seq),
                "pop %ld: (%lld,%llu) after (%lld,%llu)", i, (long long) x->mark,
                (unsigned long long) x->seq, (long long) pm, (unsigned long long) ps);
        pm = x->mark;
        ps = x->seq;
    }
    FAIL_IF(pevi_heap_pop(&h) != NULL, "heap not empty after %ld pops", n);
    FAIL_IF(h.cap != PEVI_HEAP_MIN, "cap %lu after popping all", (unsigned long) h.cap);
    pevi_heap_free(&h);
    free(nodes);
}
END_TEST

static int keep_not_third(pevi_heap_node_t *n, void *user_data)
{
    int *calls = user_data;

    ++*calls;
    return item_of(n)->id % 3 != 0;
}

/* filter drops exactly the rejected nodes (index NONE), keeps the heap order
 * and the FIFO order of equal marks among the kept ones */
/* An allocator that always moves the block (a fresh malloc, a copy, the old
 * one freed), so that each growth and shrink lands at another offset from a
 * cache line and the heap has to re-place its entries. */
static void *moving_realloc_sized(void *ptr, size_t size)
{
    static size_t pad, old_size;
    void *skew, *p;

    /* a small allocation first shifts where the next block starts */
    pad = (pad + 16) % 80;
    skew = pad ? malloc(pad) : NULL;
    p = malloc(size);
    if (p && ptr)
        memcpy(p, ptr, old_size < size ? old_size : size);
    free(skew);
    if (p) {
        free(ptr);
        old_size = size;
    }
    return p;
}

/* Growing and shrinking with a block that moves every time keeps every
 * entry, the layout (children in one line) and the order; seeded. */
START_TEST(moving_blocks_keep_layout_and_order)
{
    enum { N = 3000 };
    pevi_heap_t h;
    pevi_heap_node_t *nodes = calloc(N, sizeof *nodes);
    pt_rng_t rng;
    apr_time_t last = APR_INT64_MIN;
    int i;

    ck_assert_ptr_nonnull(nodes);
    SEED = pt_seed("check_heap");
    rng.s = SEED;
    pevi_heap_init(&h);
    pevi_heap_realloc = moving_realloc_sized;
    for (i = 0; i < N; i++) {
        pevi_heap_node_init(&nodes[i]);
        FAIL_IF(pevi_heap_push(&h, &nodes[i], (apr_time_t) pt_below(&rng, 500))
                != APR_SUCCESS, "push %d", i);
        if ((i & (i + 1)) == 0 || i % 97 == 0)
            check_heap(&h);
    }
    check_heap(&h);
    for (i = 0; i < N; i++) {
        pevi_heap_node_t *x = pevi_heap_pop(&h);

        FAIL_IF(!x || x->mark < last, "pop %d out of order", i);
        last = x->mark;
        if (i % 101 == 0)
            check_heap(&h);
    }
    check_heap(&h);
    pevi_heap_realloc = realloc;
    pevi_heap_free(&h);
    free(nodes);
}
END_TEST

START_TEST(filter_drops_and_reheapifies)
{
    enum { N = 3000 };
    pevi_heap_t h;
    item_t *it = make_items(N);
    apr_size_t cap_before;
    int i, calls = 0, prev = -1;
    apr_time_t prev_mark = -1;

    pevi_heap_init(&h);
    for (i = 0; i < N; i++)
        push(&h, &it[i], (apr_time_t) ((i * 7919) % 17));
    cap_before = h.cap;
    pevi_heap_filter(&h, keep_not_third, &calls);
    ck_assert_int_eq(calls, N);
    ck_assert_uint_eq(pevi_heap_size(&h), N - (N + 2) / 3);
    check_heap(&h);
    for (i = 0; i < N; i++) {
        if (i % 3 == 0)
            ck_assert_uint_eq(it[i].node.index, PEVI_HEAP_NONE);
        else
            ck_assert_ptr_eq(h.a[it[i].node.index].node, &it[i].node);
    }
    while (pevi_heap_size(&h)) {
        item_t *x = item_of(pevi_heap_pop(&h));

        ck_assert_int_ne(x->id % 3, 0);
        ck_assert(x->node.mark >= prev_mark);
        if (x->node.mark == prev_mark)
            ck_assert_int_gt(x->id, prev);      /* pushed in id order */
        prev_mark = x->node.mark;
        prev = x->id;
    }
    ck_assert_uint_le(h.cap, cap_before);
    /* filtering everything away leaves an empty, usable heap */
    for (i = 0; i < 10; i++)
        push(&h, &it[3 * i], (apr_time_t) i);
    calls = 0;
    pevi_heap_filter(&h, keep_not_third, &calls);
    ck_assert_uint_eq(pevi_heap_size(&h), 0);
    ck_assert_ptr_null(pevi_heap_top(&h));
    pevi_heap_free(&h);
    free(it);
}
END_TEST

static int keep_first_ten(pevi_heap_node_t *n, void *user_data)
{
    ++*(int *) user_data;
    return item_of(n)->id < 10;
}

/* pevi_heap_keep(): an array shrinks to the floor and no further, by
 * removals or by a filter (one not larger never shrinks), and filling it
 * again reallocates nothing. */
START_TEST(shrinking_stops_at_the_floor)
{
    enum { N = 5000, KEEP = 1024 };
    pevi_heap_t h;
    item_t *it = make_items(N);
    void *block;
    int i, calls = 0;

    pevi_heap_init(&h);
    pevi_heap_keep(&h, KEEP);
    for (i = 0; i < 100; i++)                   /* below the floor */
        push(&h, &it[i], i);
    ck_assert_uint_eq(h.cap, 128);
    while (pevi_heap_size(&h) > 1)
        pevi_heap_pop(&h);
    ck_assert_uint_eq(h.cap, 128);              /* below it: kept */
    pevi_heap_pop(&h);
    for (i = 0; i < N; i++)
        push(&h, &it[i], N - i);
    ck_assert_uint_eq(h.cap, 8192);
    for (i = 0; i < N - 10; i++)                /* removals */
        pevi_heap_pop(&h);
    check_heap(&h);
    ck_assert_uint_eq(h.cap, KEEP);
    while (pevi_heap_size(&h))
        pevi_heap_pop(&h);
    ck_assert_uint_eq(h.cap, KEEP);
    block = h.block;
    for (i = 0; i < KEEP; i++)                  /* fills the kept array */
        push(&h, &it[i], i);
    ck_assert_uint_eq(h.cap, KEEP);
    ck_assert_ptr_eq(h.block, block);
    pevi_heap_filter(&h, keep_first_ten, &calls);   /* a filter keeps it too */
    ck_assert_int_eq(calls, KEEP);
    check_heap(&h);
    ck_assert_uint_eq(pevi_heap_size(&h), 10);
    ck_assert_uint_eq(h.cap, KEEP);
    /* a floor below the minimum is the minimum */
    pevi_heap_free(&h);
    pevi_heap_keep(&h, 1);
    ck_assert_uint_eq(h.floor, PEVI_HEAP_MIN);
    pevi_heap_free(&h);
    free(it);
}
END_TEST

/* A filter whose shrinking realloc fails keeps the larger array and
 * returns (it must not retry forever). */
START_TEST(filter_survives_failing_shrink)
{
    enum { N = 4096 };
    pevi_heap_t h;
    item_t *it = make_items(N);
    apr_size_t cap;
    int i, calls = 0;

    pevi_heap_init(&h);
    for (i = 0; i < N; i++)
        push(&h, &it[i], (apr_time_t) i);
    cap = h.cap;
    pevi_heap_realloc = failing_realloc;
    pevi_heap_filter(&h, keep_not_third, &calls);       /* keeps 2/3: no shrink */
    for (i = 0; i < N; i++)
        if (it[i].id % 3 != 0 && i % 8 != 1)
            it[i].id = 3 * i;                           /* now rejected */
    pevi_heap_filter(&h, keep_not_third, &calls);       /* shrink wanted, fails */
    ck_assert_uint_eq(h.cap, cap);
    check_heap(&h);
    pevi_heap_realloc = realloc;
    pevi_heap_filter(&h, keep_not_third, &calls);       /* shrinks now */
    ck_assert_uint_lt(h.cap, cap);
    check_heap(&h);
    pevi_heap_free(&h);
    free(it);
}
END_TEST

static Suite *heap_suite(void)
{
    Suite *s = suite_create("heap");
    TCase *tc = tcase_create("unit");
    TCase *tr = tcase_create("random");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, empty_heap);
    tcase_add_test(tc, pops_in_mark_order);
    tcase_add_test(tc, extreme_marks);
    tcase_add_test(tc, equal_marks_are_fifo);
    tcase_add_test(tc, update_to_earlier_mark);
    tcase_add_test(tc, update_to_later_mark);
    tcase_add_test(tc, update_resequences_ties);
    tcase_add_test(tc, retime_top_keeps_the_given_seq);
    tcase_add_test(tc, remove_top_middle_last_only);
    tcase_add_test(tc, index_maintenance);
    tcase_add_test(tc, grows_and_shrinks);
    tcase_add_test(tc, shrinking_stops_at_the_floor);
    tcase_add_test(tc, enomem_leaves_heap_unchanged);
    tcase_add_test(tc, two_heaps_own_sequences);
    tcase_add_test(tc, filter_drops_and_reheapifies);
    tcase_add_test(tc, filter_survives_failing_shrink);
    tcase_add_test(tc, moving_blocks_keep_layout_and_order);
    suite_add_tcase(s, tc);

    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_set_timeout(tr, 1200);    /* valgrind */
    tcase_add_test(tr, random_against_model);
    tcase_add_test(tr, million_pushes_pop_in_order);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    /* once, before check forks a process per test */
    SEED = pt_seed("check_heap");
    return pt_run(heap_suite());
}
