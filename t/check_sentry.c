/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_sentry.c - the internal teardown sentries (lib/sentry.h).
 *
 * Unit tests of push, pop (from the top and from below), pop_top, nesting,
 * kill-all and records that embed a sentry, and a seeded randomized test of
 * POOLEV_SENTRY_OPS (default 100,000) operations on a few lists against a
 * model (an array per list, top last).
 *
 * Reproduce a failure: POOLEV_SEED=<seed> make check TESTS=t/check_sentry
 */
#include <stddef.h>
#include <stdio.h>

#include "list.h"
#include "sentry.h"
#include "harness.h"

static uint64_t SEED;

/* The list from the top down, as "a,b,c" by index into @a base. */
static const char *list_str(const pevi_sentry_t *list, const pevi_sentry_t *base)
{
    static char buf[256];
    size_t n = 0;

    buf[0] = '\0';
    for (; list && n + 8 < sizeof buf; list = list->up)
        n += (size_t) snprintf(buf + n, sizeof buf - n, n ? ",%c" : "%c",
                               (char) ('a' + (list - base)));
    return buf;
}

START_TEST(push_pop_one)
{
    pevi_sentry_t *list = NULL, s;

    s.gone = 1;                 /* push starts it afresh */
    pevi_sentry_push(&list, &s);
    ck_assert_ptr_eq(list, &s);
    ck_assert_ptr_null(s.up);
    ck_assert(!pevi_sentry_gone(&s));
    pevi_sentry_pop(&list, &s);
    ck_assert_ptr_null(list);
    ck_assert(!pevi_sentry_gone(&s));
}
END_TEST

START_TEST(nesting_pops_the_top)
{
    pevi_sentry_t *list = NULL, s[3];

    pevi_sentry_push(&list, &s[0]);
    pevi_sentry_push(&list, &s[1]);
    pevi_sentry_push(&list, &s[2]);
    ck_assert_str_eq(list_str(list, s), "c,b,a");
    pevi_sentry_pop(&list, &s[2]);
    ck_assert_str_eq(list_str(list, s), "b,a");
    pevi_sentry_pop(&list, &s[1]);
    ck_assert_str_eq(list_str(list, s), "a");
    pevi_sentry_pop(&list, &s[0]);
    ck_assert_ptr_null(list);
    ck_assert(!s[0].gone && !s[1].gone && !s[2].gone);
}
END_TEST

START_TEST(pop_top_of_nested_calls)
{
    pevi_sentry_t *list = NULL, s[3];

    pevi_sentry_push(&list, &s[0]);
    pevi_sentry_push(&list, &s[1]);
    pevi_sentry_pop_top(&list, &s[1]);
    ck_assert_str_eq(list_str(list, s), "a");
    pevi_sentry_push(&list, &s[2]);
    pevi_sentry_pop_top(&list, &s[2]);
    pevi_sentry_pop_top(&list, &s[0]);
    ck_assert_ptr_null(list);
    ck_assert(!s[0].gone && !s[1].gone && !s[2].gone);
}
END_TEST

START_TEST(pop_from_below)
{
    pevi_sentry_t *list = NULL, s[4];
    int i;

    for (i = 0; i < 4; i++)
        pevi_sentry_push(&list, &s[i]);
    pevi_sentry_pop(&list, &s[0]);          /* the bottom */
    ck_assert_str_eq(list_str(list, s), "d,c,b");
    pevi_sentry_pop(&list, &s[2]);          /* the middle */
    ck_assert_str_eq(list_str(list, s), "d,b");
    pevi_sentry_pop(&list, &s[1]);
    ck_assert_str_eq(list_str(list, s), "d");
    pevi_sentry_pop(&list, &s[3]);
    ck_assert_ptr_null(list);
}
END_TEST

START_TEST(pop_of_a_stranger_changes_nothing)
{
    pevi_sentry_t *list = NULL, s[3];
    int i;

    for (i = 0; i < 3; i++)
        s[i].up = NULL;
    pevi_sentry_pop(&list, &s[2]);          /* an empty list */
    ck_assert_ptr_null(list);
    pevi_sentry_push(&list, &s[0]);
    pevi_sentry_push(&list, &s[1]);
    pevi_sentry_pop(&list, &s[2]);
    ck_assert_str_eq(list_str(list, s), "b,a");
}
END_TEST

START_TEST(kill_all_marks_every_one)
{
    pevi_sentry_t *list = NULL, s[3], late;

    pevi_sentry_push(&list, &s[0]);
    pevi_sentry_push(&list, &s[1]);
    pevi_sentry_push(&list, &s[2]);
    pevi_sentry_kill_all(&list);
    ck_assert_ptr_null(list);
    ck_assert(pevi_sentry_gone(&s[0]));
    ck_assert(pevi_sentry_gone(&s[1]));
    ck_assert(pevi_sentry_gone(&s[2]));
    /* a sentry pushed afterwards (the list is reused) is not gone */
    pevi_sentry_push(&list, &late);
    ck_assert(!pevi_sentry_gone(&late));
    ck_assert_ptr_null(late.up);
    pevi_sentry_kill_all(&list);
    ck_assert(pevi_sentry_gone(&late));
}
END_TEST

START_TEST(kill_all_of_an_empty_list)
{
    pevi_sentry_t *list = NULL;

    pevi_sentry_kill_all(&list);
    ck_assert_ptr_null(list);
}
END_TEST

START_TEST(popped_ones_are_not_killed)
{
    pevi_sentry_t *list = NULL, s[3];

    pevi_sentry_push(&list, &s[0]);
    pevi_sentry_push(&list, &s[1]);
    pevi_sentry_pop(&list, &s[1]);
    pevi_sentry_push(&list, &s[2]);
    pevi_sentry_pop(&list, &s[0]);
    pevi_sentry_kill_all(&list);
    ck_assert(!pevi_sentry_gone(&s[0]));
    ck_assert(!pevi_sentry_gone(&s[1]));
    ck_assert(pevi_sentry_gone(&s[2]));
}
END_TEST

START_TEST(lists_are_independent)
{
    pevi_sentry_t *one = NULL, *two = NULL, a, b;

    pevi_sentry_push(&one, &a);
    pevi_sentry_push(&two, &b);
    pevi_sentry_kill_all(&one);
    ck_assert(pevi_sentry_gone(&a));
    ck_assert(!pevi_sentry_gone(&b));
    ck_assert_ptr_eq(two, &b);
    pevi_sentry_pop(&two, &b);
    ck_assert_ptr_null(two);
}
END_TEST

/* The pattern the library follows: an object whose callback may tear it
 * down, called from nested calls. */
typedef struct object {
    pevi_sentry_t *sentries;
    int depth_to_kill;          /* the call depth whose callback tears down */
    int calls_after;            /* calls that went on after their callback */
} object_t;

static void teardown_object(object_t *o)
{
    pevi_sentry_kill_all(&o->sentries);
}

static void call(object_t *o, int depth)
{
    pevi_sentry_t s;

    pevi_sentry_push(&o->sentries, &s);
    if (depth == o->depth_to_kill)
        teardown_object(o);
    else if (depth < 3)
        call(o, depth + 1);
    if (pevi_sentry_gone(&s))
        return;
    pevi_sentry_pop(&o->sentries, &s);
    o->calls_after++;
}

START_TEST(teardown_from_a_nested_call)
{
    object_t o = { NULL, 2, 0 };

    call(&o, 0);
    ck_assert_int_eq(o.calls_after, 0);     /* every level saw it gone */
    ck_assert_ptr_null(o.sentries);

    o.depth_to_kill = -1;                   /* no teardown */
    call(&o, 0);
    ck_assert_int_eq(o.calls_after, 4);
    ck_assert_ptr_null(o.sentries);
}
END_TEST

/* A record that embeds a sentry first, as the bus's dispatch frames do. */
typedef struct frame {
    pevi_sentry_t sentry;
    int id;
} frame_t;

START_TEST(embedded_sentries)
{
    pevi_sentry_t *list = NULL, *it;
    frame_t f[3];
    int i, sum = 0;

    for (i = 0; i < 3; i++) {
        f[i].id = 10 + i;
        pevi_sentry_push(&list, &f[i].sentry);
    }
    for (it = list, i = 2; it; it = it->up, i--) {
        ck_assert_int_eq(PEVI_CONTAINER(it, frame_t, sentry)->id, 10 + i);
        sum += PEVI_CONTAINER(it, frame_t, sentry)->id;
    }
    ck_assert_int_eq(sum, 33);
    pevi_sentry_kill_all(&list);
    for (i = 0; i < 3; i++)
        ck_assert(pevi_sentry_gone(&f[i].sentry));
}
END_TEST

#define NLISTS 3
#define NSENTRIES 24

START_TEST(random_against_model)
{
    pevi_sentry_t *list[NLISTS] = { NULL };
    pevi_sentry_t s[NSENTRIES];
    int model[NLISTS][NSENTRIES], depth[NLISTS] = { 0 };
    int where[NSENTRIES];       /* the list a sentry is on, -1: none */
    int gone[NSENTRIES];        /* the model's gone flags */
    long ops = pt_env_long("POOLEV_SENTRY_OPS", 100000), op;
    pt_rng_t rng = { SEED };
    int i, l;

    for (i = 0; i < NSENTRIES; i++) {
        s[i].gone = 0;
        where[i] = -1;
        gone[i] = 0;
    }
    for (op = 0; op < ops; op++) {
        unsigned what = pt_below(&rng, 100);

        i = (int) pt_below(&rng, NSENTRIES);
        l = (int) pt_below(&rng, NLISTS);
        if (what < 45) {                /* push a free sentry */
            if (where[i] >= 0)
                continue;
            pevi_sentry_push(&list[l], &s[i]);
            model[l][depth[l]++] = i;
            where[i] = l;
            gone[i] = 0;
        } else if (what < 97) {         /* pop: mostly the top */
            int k;

            if (depth[l] == 0)
                continue;
            k = depth[l] - 1;
            if (pt_below(&rng, 4) == 0)     /* from anywhere */
                k = (int) pt_below(&rng, (unsigned) depth[l]);
            i = model[l][k];
            if (k == depth[l] - 1 && pt_below(&rng, 2))
                pevi_sentry_pop_top(&list[l], &s[i]);
            else
                pevi_sentry_pop(&list[l], &s[i]);
            for (; k + 1 < depth[l]; k++)
                model[l][k] = model[l][k + 1];
            depth[l]--;
            where[i] = -1;
        } else {                        /* tear the list down */
            pevi_sentry_kill_all(&list[l]);
            while (depth[l] > 0) {
                i = model[l][--depth[l]];
                where[i] = -1;
                gone[i] = 1;
            }
        }
        /* compare every list, top down, and every flag */
        for (l = 0; l < NLISTS; l++) {
            const pevi_sentry_t *it = list[l];
            int k;

            for (k = depth[l] - 1; k >= 0; k--, it = it->up)
                if (it != &s[model[l][k]])
                    ck_abort_msg("seed %llu, op %ld: list %d is %s",
                                 (unsigned long long) SEED, op, l, list_str(list[l], s));
            if (it != NULL)
                ck_abort_msg("seed %llu, op %ld: list %d too long: %s",
                             (unsigned long long) SEED, op, l, list_str(list[l], s));
        }
        for (i = 0; i < NSENTRIES; i++)
            if (s[i].gone != (where[i] >= 0 ? 0 : gone[i]))
                ck_abort_msg("seed %llu, op %ld: sentry %d gone %d",
                             (unsigned long long) SEED, op, i, s[i].gone);
    }
}
END_TEST

static Suite *sentry_suite(void)
{
    Suite *s = suite_create("sentry");
    TCase *tc = tcase_create("unit");
    TCase *tr = tcase_create("random");

    tcase_add_test(tc, push_pop_one);
    tcase_add_test(tc, nesting_pops_the_top);
    tcase_add_test(tc, pop_top_of_nested_calls);
    tcase_add_test(tc, pop_from_below);
    tcase_add_test(tc, pop_of_a_stranger_changes_nothing);
    tcase_add_test(tc, kill_all_marks_every_one);
    tcase_add_test(tc, kill_all_of_an_empty_list);
    tcase_add_test(tc, popped_ones_are_not_killed);
    tcase_add_test(tc, lists_are_independent);
    tcase_add_test(tc, teardown_from_a_nested_call);
    tcase_add_test(tc, embedded_sentries);
    suite_add_tcase(s, tc);

    tcase_set_timeout(tr, 600);     /* valgrind */
    tcase_add_test(tr, random_against_model);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    /* once, before check forks a process per test */
    SEED = pt_seed("check_sentry");
    return pt_run(sentry_suite());
}
