/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_bus.c - the bus rules of doc/bus.md, one or more tests per rule.
 * Test names carry the rule number (rN_...).
 */
#include <stdio.h>
#include <string.h>
#include <pthread.h>

#include <poolev.h>
#include "harness.h"

static pt_log_t LOG;
static pev_bus_t *BUS;

/* A listener's user_data: logs its id, then runs an optional action. */
typedef struct actor actor_t;
struct actor {
    int id;
    int calls;
    void (*action)(actor_t *self, const void *event_data);
    void *p1, *p2;
    int n;
    const void *last_data;
};

static void on_event(const void *event_data, void *user_data)
{
    actor_t *a = user_data;

    a->calls++;
    a->last_data = event_data;
    pt_log_add(&LOG, a->id);
    if (a->action)
        a->action(a, event_data);
}

static void on_other(const void *event_data, void *user_data)
{
    on_event(event_data, user_data);
}

static actor_t *actor(apr_pool_t *p, int id)
{
    actor_t *a = apr_pcalloc(p, sizeof *a);

    a->id = id;
    return a;
}

static pev_listener_t *reg(pev_module_t *mod, const char *ev, actor_t *a,
                           apr_pool_t *lifetime)
{
    pev_listener_t *l = NULL;

    ck_assert_int_eq(pev_event_register(&l, BUS, mod, ev, on_event, a, lifetime),
                     APR_SUCCESS);
    ck_assert_ptr_nonnull(l);
    return l;
}

static pev_module_t *module(const char *name)
{
    pev_module_t *m = NULL;

    ck_assert_int_eq(pev_module_add(&m, BUS, name), APR_SUCCESS);
    return m;
}

static void setup(void)
{
    pt_setup();
    pt_log_reset(&LOG);
    ck_assert_int_eq(pev_bus_create(&BUS, pt_pool), APR_SUCCESS);
}

static void teardown(void)
{
    pt_teardown();
    BUS = NULL;
}

static apr_size_t stat_listeners(void)
{
    pev_bus_stats_t st;

    ck_assert_int_eq(pev_bus_stats(BUS, &st), APR_SUCCESS);
    return st.listeners;
}

/* ======================================================================== */
/* Rule 1: arguments                                                         */

START_TEST(r1_core_listener_and_optional_out)
{
    actor_t *a = actor(pt_pool, 1);
    pev_module_t *m = module("mod_a");

    /* mod NULL = core; listener out-parameter may be NULL */
    ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, "e", on_event, a, NULL),
                     APR_SUCCESS);
    reg(m, "e", actor(pt_pool, 2), NULL);
    ck_assert_int_eq(pev_event_generate(BUS, "e", NULL), APR_SUCCESS);
    ck_assert_log(&LOG, 2, 1);      /* core after modules */
}
END_TEST

START_TEST(r1_null_lifetime_lives_as_long_as_bus)
{
    apr_pool_t *busp = pt_subpool(pt_pool), *other = pt_subpool(pt_pool);
    pev_bus_t *bus;
    actor_t *a = actor(pt_pool, 7);

    ck_assert_int_eq(pev_bus_create(&bus, busp), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "e", on_event, a, NULL),
                     APR_SUCCESS);
    apr_pool_destroy(other);                /* unrelated pools come and go */
    apr_pool_clear(pt_subpool(pt_pool));
    ck_assert_int_eq(pev_event_generate(bus, "e", NULL), APR_SUCCESS);
    ck_assert_int_eq(a->calls, 1);
    apr_pool_destroy(busp);         /* the listener goes with the bus */
    ck_assert_int_eq(a->calls, 1);
}
END_TEST

START_TEST(r1_event_name_is_copied)
{
    char name[16];
    actor_t *a = actor(pt_pool, 1);

    strcpy(name, "copied.name");
    ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, name, on_event, a, NULL),
                     APR_SUCCESS);
    memset(name, 'x', sizeof name - 1);
    ck_assert_int_eq(pev_event_generate(BUS, "copied.name", NULL), APR_SUCCESS);
    ck_assert_int_eq(a->calls, 1);
    ck_assert_int_eq(pev_event_listening(BUS, "copied.name"), 1);
}
END_TEST

START_TEST(r1_invalid_arguments_register_nothing)
{
    actor_t *a = actor(pt_pool, 1);
    pev_listener_t *l = (pev_listener_t *) 0x1;
    pev_bus_t *other;
    pev_module_t *foreign;

    ck_assert_int_eq(pev_event_register(&l, NULL, NULL, "e", on_event, a, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_event_register(&l, BUS, NULL, NULL, on_event, a, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_event_register(&l, BUS, NULL, "e", NULL, a, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_event_register(&l, BUS, NULL, "", on_event, a, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_bus_create(&other, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_module_add(&foreign, other, "foreign"), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(&l, BUS, foreign, "e", on_event, a, NULL), APR_EINVAL);
    ck_assert_ptr_eq(l, (pev_listener_t *) 0x1);    /* untouched */
    ck_assert_uint_eq(stat_listeners(), 0);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 0);
    ck_assert_int_eq(pev_event_generate(BUS, "e", NULL), APR_SUCCESS);
    ck_assert_int_eq(a->calls, 0);
    ck_assert_int_eq(pev_event_generate(NULL, "e", NULL), APR_EINVAL);
    ck_assert_int_eq(pev_event_generate(BUS, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_bus_create(NULL, pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_bus_create(&other, NULL), APR_EINVAL);
}
END_TEST

START_TEST(r1_module_names_unique)
{
    pev_module_t *m1, *m2 = NULL;

    ck_assert_int_eq(pev_module_add(&m1, BUS, "mod_x"), APR_SUCCESS);
    ck_assert_int_eq(pev_module_add(&m2, BUS, "mod_x"), APR_EEXIST);
    ck_assert_ptr_null(m2);
    ck_assert_int_eq(pev_module_add(&m2, BUS, ""), APR_EINVAL);
    ck_assert_int_eq(pev_module_add(&m2, BUS, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_module_add(&m2, NULL, "y"), APR_EINVAL);
    ck_assert_int_eq(pev_module_add(NULL, BUS, "mod_y"), APR_SUCCESS);
    ck_assert_ptr_eq(pev_module_find(BUS, "mod_x"), m1);
    ck_assert_ptr_nonnull(pev_module_find(BUS, "mod_y"));
    ck_assert_ptr_null(pev_module_find(BUS, "mod_z"));
    ck_assert_str_eq(pev_module_name(m1), "mod_x");
}
END_TEST

/* ======================================================================== */
/* Rule 2: duplicates                                                        */

START_TEST(r2_same_tuple_is_eexist)
{
    actor_t *a = actor(pt_pool, 1);
    pev_module_t *m = module("m");
    pev_listener_t *l;

    l = reg(m, "e", a, NULL);
    ck_assert_int_eq(pev_event_register(NULL, BUS, m, "e", on_event, a, NULL), APR_EEXIST);
    /* another lifetime or priority does not make it a different registration */
    ck_assert_int_eq(pev_event_register_ordered(NULL, BUS, m, "e", on_event, a, 5, pt_pool),
                     APR_EEXIST);
    ck_assert_int_eq(pev_event_generate(BUS, "e", NULL), APR_SUCCESS);
    ck_assert_int_eq(a->calls, 1);
    /* after unregistering, the same tuple registers again */
    ck_assert_int_eq(pev_listener_unregister(l), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, BUS, m, "e", on_event, a, NULL), APR_SUCCESS);
}
END_TEST

START_TEST(r2_same_fn_other_user_data_is_allowed)
{
    actor_t *a = actor(pt_pool, 1), *b = actor(pt_pool, 2);
    pev_module_t *m = module("m"), *m2 = module("m2");

    reg(m, "e", a, NULL);
    reg(m, "e", b, NULL);                   /* ProFTPD says EEXIST here */
    reg(m2, "e", a, NULL);                  /* other module: fine */
    reg(NULL, "e", a, NULL);                /* core: fine */
    ck_assert_int_eq(pev_event_register(NULL, BUS, m, "e", on_other, a, NULL),
                     APR_SUCCESS);          /* other fn: fine */
    ck_assert_int_eq(pev_event_register(NULL, BUS, m, "f", on_event, a, NULL),
                     APR_SUCCESS);          /* other event: fine */
    ck_assert_int_eq(pev_event_generate(BUS, "e", NULL), APR_SUCCESS);
    ck_assert_log(&LOG, 1, 2, 1, 1, 1);
}
END_TEST

/* ======================================================================== */
/* Rule 3: lifetime pools                                                    */

START_TEST(r3_destroy_and_clear_unregister)
{
    apr_pool_t *p1 = pt_subpool(pt_pool), *p2 = pt_subpool(pt_pool);
    apr_pool_t *child = pt_subpool(p2);

    reg(NULL, "e", actor(pt_pool, 1), p1);
    reg(NULL, "e", actor(pt_pool, 2), p2);
    reg(NULL, "e", actor(pt_pool, 3), child);
    reg(NULL, "e", actor(pt_pool, 4), NULL);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 4);
    apr_pool_destroy(p1);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 3);
    apr_pool_clear(p2);                     /* clears p2 and destroys child */
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 1);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 4);
    /* a cleared pool can bind again */
    reg(NULL, "e", actor(pt_pool, 5), p2);
    pt_log_reset(&LOG);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 4, 5);
    apr_pool_destroy(p2);
    pt_log_reset(&LOG);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 4);
}
END_TEST

static pev_bus_t *CLEANUP_BUS;
static apr_status_t generate_on_cleanup(void *data)
{
    pev_event_generate(CLEANUP_BUS, (const char *) data, NULL);
    return APR_SUCCESS;
}

/* The listener is unregistered before anything else of its pool goes: a
 * cleanup registered later on the same pool, or one of a subpool, that
 * generates the event must not reach it. (A plain cleanup would run after the
 * subpools and after later-registered cleanups, and fail this test.) */
START_TEST(r3_unregistered_before_pool_teardown)
{
    apr_pool_t *p = pt_subpool(pt_pool), *child = pt_subpool(p);
    actor_t *a = actor(p, 1);

    CLEANUP_BUS = BUS;
    reg(NULL, "e", a, p);
    apr_pool_cleanup_register(child, "e", generate_on_cleanup, apr_pool_cleanup_null);
    apr_pool_cleanup_register(p, "e", generate_on_cleanup, apr_pool_cleanup_null);
    apr_pool_destroy(p);
    ck_assert_int_eq(LOG.n, 0);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 0);
}
END_TEST

/* One cleanup per (pool, bus), never one per listener. */
START_TEST(r3_one_cleanup_per_pool_and_bus)
{
    apr_pool_t *p = pt_subpool(pt_pool), *q = pt_subpool(pt_pool);
    pev_bus_t *bus2;
    pev_bus_stats_t st;
    actor_t *a = actor(pt_pool, 1);
    int i;

    ck_assert_int_eq(pev_bus_create(&bus2, pt_pool), APR_SUCCESS);
    for (i = 0; i < 1000; i++) {
        char name[32];
        sprintf(name, "e%d", i % 10);
        ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, name, on_event, (char *) a + i, p),
                         APR_SUCCESS);
        ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, name, on_event, (char *) a + i, q),
                         APR_EEXIST);
        ck_assert_int_eq(pev_event_register(NULL, bus2, NULL, name, on_event, (char *) a + i, p),
                         APR_SUCCESS);
    }
    pev_bus_stats(BUS, &st);
    ck_assert_uint_eq(st.listeners, 1000);
    ck_assert_uint_eq(st.bindings, 1);
    ck_assert_uint_eq(st.cleanups_registered, 2);     /* pre-cleanup + backstop */
    pev_bus_stats(bus2, &st);
    ck_assert_uint_eq(st.bindings, 1);
    apr_pool_destroy(p);
    pev_bus_stats(BUS, &st);
    ck_assert_uint_eq(st.listeners, 0);
    ck_assert_uint_eq(st.bindings, 0);
    pev_bus_stats(bus2, &st);
    ck_assert_uint_eq(st.listeners, 0);
    ck_assert_uint_eq(st.bindings, 0);
}
END_TEST

/* Registering on a pool while that pool is being torn down (from a cleanup of
 * one of its subpools, or one of its own plain cleanups): the listener must
 * still go with the pool. Regression: the binding's pre-cleanup was
 * registered too late to run, and the listener outlived its pool. */
static apr_pool_t *LATE_POOL;
static apr_status_t register_late(void *data)
{
    ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, data, on_other,
                                        actor(LATE_POOL, 77), LATE_POOL), APR_SUCCESS);
    return APR_SUCCESS;
}

START_TEST(r3_registered_while_pool_dies)
{
    pev_bus_stats_t st;
    int round;

    for (round = 0; round < 4; round++) {
        apr_pool_t *p = pt_subpool(pt_pool), *child = pt_subpool(p);

        LATE_POOL = p;
        if (round % 2)
            apr_pool_cleanup_register(p, "late", register_late, apr_pool_cleanup_null);
        else
            apr_pool_cleanup_register(child, "late", register_late, apr_pool_cleanup_null);
        if (round < 2) {
            apr_pool_destroy(p);
        }
        else {
            apr_pool_clear(p);                  /* p lives on, reused */
            actor(p, 1);
            reg(NULL, "other", actor(p, 2), p);
            apr_pool_destroy(p);
        }
        ck_assert_int_eq(pev_event_listening(BUS, "late"), 0);
        ck_assert_int_eq(pev_event_listening(BUS, "other"), 0);
        pev_bus_stats(BUS, &st);
        ck_assert_uint_eq(st.bindings, 0);
        ck_assert_int_eq(pev_event_generate(BUS, "late", NULL), APR_SUCCESS);
        ck_assert_int_eq(LOG.n, 0);
    }
}
END_TEST

/* ======================================================================== */
/* Rule 4: unregistering                                                     */

START_TEST(r4_unregister_by_handle)
{
    actor_t *a = actor(pt_pool, 1);
    pev_listener_t *l = reg(NULL, "e", a, NULL);

    ck_assert_int_eq(pev_listener_unregister(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_listener_unregister(l), APR_SUCCESS);
    ck_assert_int_eq(pev_listener_unregister(l), APR_ENOENT);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_int_eq(a->calls, 0);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 0);
}
END_TEST

START_TEST(r4_unregister_by_filter)
{
    pev_module_t *m1 = module("m1"), *m2 = module("m2");
    actor_t *a = actor(pt_pool, 1);

    ck_assert_int_eq(pev_event_unregister(BUS, NULL, NULL, NULL), APR_ENOENT);
    ck_assert_int_eq(pev_event_unregister(NULL, NULL, NULL, NULL), APR_EINVAL);
    reg(m1, "e", a, NULL);
    reg(m2, "e", a, NULL);
    reg(NULL, "e", a, NULL);
    reg(m1, "f", a, NULL);
    ck_assert_int_eq(pev_event_register(NULL, BUS, m1, "f", on_other, a, NULL), APR_SUCCESS);
    reg(NULL, "f", a, NULL);

    ck_assert_int_eq(pev_event_unregister(BUS, m1, "g", NULL), APR_ENOENT);
    ck_assert_int_eq(pev_event_unregister(BUS, m1, "f", on_other), APR_SUCCESS);
    ck_assert_int_eq(pev_event_listening(BUS, "f"), 2);
    ck_assert_int_eq(pev_event_unregister(BUS, m1, "f", on_other), APR_ENOENT);
    /* core only */
    ck_assert_int_eq(pev_event_unregister(BUS, PEV_MODULE_CORE, NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 2);
    ck_assert_int_eq(pev_event_listening(BUS, "f"), 1);
    /* any module, one event */
    ck_assert_int_eq(pev_event_unregister(BUS, NULL, "e", NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 0);
    /* one module, any event */
    ck_assert_int_eq(pev_event_unregister(BUS, m1, NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_event_listening(BUS, "f"), 0);
    ck_assert_int_eq(pev_event_unregister(BUS, NULL, NULL, NULL), APR_ENOENT);
    ck_assert_uint_eq(stat_listeners(), 0);
}
END_TEST

static void unregister_handle(actor_t *self, const void *data)
{
    (void) data;
    ck_assert_int_eq(pev_listener_unregister(self->p1), APR_SUCCESS);
}

static void unregister_filter(actor_t *self, const void *data)
{
    (void) data;
    ck_assert_int_eq(pev_event_unregister(BUS, self->p1, "e", NULL), APR_SUCCESS);
}

/* Once unregister returns, a dispatch already running does not call it. */
START_TEST(r4_unregister_is_final_inside_dispatch)
{
    pev_module_t *m = module("m");
    actor_t *a = actor(pt_pool, 1), *b = actor(pt_pool, 2), *c = actor(pt_pool, 3);
    actor_t *d = actor(pt_pool, 4);

    reg(NULL, "e", a, NULL);
    b->p1 = reg(NULL, "e", b, NULL);        /* b removes itself */
    reg(m, "e", c, NULL);                   /* c is first: module before core */
    reg(NULL, "e", d, NULL);
    a->action = unregister_handle;          /* a removes 9, which runs last */
    a->p1 = reg(NULL, "e", actor(pt_pool, 9), NULL);
    b->action = unregister_handle;
    c->action = unregister_filter;          /* c removes module m's: itself */
    c->p1 = m;
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 3, 1, 2, 4);
    pt_log_reset(&LOG);
    a->action = NULL;
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 1, 4);
}
END_TEST

/* ======================================================================== */
/* Rule 5: order                                                             */

START_TEST(r5_dispatch_order)
{
    pev_module_t *m1 = module("m1"), *m2 = module("m2"), *m3 = module("m3");
    pev_listener_t *l;

    /* registration order deliberately differs from dispatch order */
    reg(NULL, "e", actor(pt_pool, 90), NULL);
    reg(m3, "e", actor(pt_pool, 30), NULL);
    reg(m2, "e", actor(pt_pool, 20), NULL);
    reg(m1, "e", actor(pt_pool, 10), NULL);
    reg(m3, "e", actor(pt_pool, 31), NULL);
    reg(NULL, "e", actor(pt_pool, 91), NULL);
    reg(m1, "e", actor(pt_pool, 11), NULL);
    ck_assert_int_eq(pev_event_register_ordered(&l, BUS, NULL, "e",
                     on_event, actor(pt_pool, 1), PEV_PRIORITY_FIRST, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register_ordered(&l, BUS, m3, "e",
                     on_event, actor(pt_pool, 2), -5, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register_ordered(&l, BUS, m1, "e",
                     on_event, actor(pt_pool, 99), PEV_PRIORITY_LAST, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register_ordered(&l, BUS, m2, "e",
                     on_event, actor(pt_pool, 3), -5, NULL), APR_SUCCESS);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 1, 3, 2, 10, 11, 20, 30, 31, 90, 91, 99);
}
END_TEST

START_TEST(r5_equal_keys_keep_registration_order)
{
    pev_module_t *m = module("m");
    int i;

    for (i = 0; i < 500; i++)
        reg(i % 2 ? m : NULL, "e", actor(pt_pool, i), NULL);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_int_eq(LOG.n, 500);
    for (i = 0; i < 250; i++)
        ck_assert_int_eq(LOG.v[i], 2 * i + 1);
    for (i = 0; i < 250; i++)
        ck_assert_int_eq(LOG.v[250 + i], 2 * i);
}
END_TEST

START_TEST(r5_module_added_later_runs_later)
{
    pev_module_t *early = module("early");
    pev_module_t *late;

    reg(NULL, "e", actor(pt_pool, 3), NULL);
    late = module("late");
    reg(late, "e", actor(pt_pool, 2), NULL);
    reg(early, "e", actor(pt_pool, 1), NULL);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 1, 2, 3);
}
END_TEST

/* ======================================================================== */
/* Rule 6: dispatch is safe against anything a callback does                 */

static void register_new(actor_t *self, const void *data)
{
    (void) data;
    if (self->n++ == 0) {
        reg(NULL, "e", self->p1, NULL);                     /* sorts last */
        ck_assert_int_eq(pev_event_register_ordered(NULL, BUS, NULL, "e", on_event,
                         self->p2, PEV_PRIORITY_FIRST, NULL), APR_SUCCESS);
    }
}

START_TEST(r6_registered_during_dispatch_not_called)
{
    actor_t *a = actor(pt_pool, 1);

    a->action = register_new;
    a->p1 = actor(pt_pool, 2);
    a->p2 = actor(pt_pool, 3);
    reg(NULL, "e", a, NULL);
    reg(NULL, "e", actor(pt_pool, 4), NULL);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 1, 4);
    pt_log_reset(&LOG);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 3, 1, 4, 2);
}
END_TEST

static void remove_all(actor_t *self, const void *data)
{
    (void) self;
    (void) data;
    ck_assert_int_eq(pev_event_unregister(BUS, NULL, NULL, NULL), APR_SUCCESS);
}

START_TEST(r6_remove_next_and_all)
{
    actor_t *a = actor(pt_pool, 1), *b = actor(pt_pool, 2);

    a->action = unregister_handle;
    reg(NULL, "e", a, NULL);
    a->p1 = reg(NULL, "e", actor(pt_pool, 2), NULL);    /* the next one */
    reg(NULL, "e", b, NULL);
    b->action = remove_all;
    reg(NULL, "e", actor(pt_pool, 3), NULL);
    reg(NULL, "e", actor(pt_pool, 4), NULL);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 1, 2);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 0);
    ck_assert_uint_eq(stat_listeners(), 0);
}
END_TEST

static void replace_self(actor_t *self, const void *data)
{
    (void) data;
    if (self->n++)
        return;
    ck_assert_int_eq(pev_listener_unregister(self->p1), APR_SUCCESS);
    reg(NULL, "e", self->p2, NULL);
}

/* A callback unregisters itself, then registers a new listener: the record it
 * runs from must not be recycled for the newcomer while the dispatch still
 * walks from it (else the rest of the list is skipped). */
START_TEST(r6_remove_self_then_register)
{
    actor_t *a = actor(pt_pool, 1);

    a->action = replace_self;
    a->p2 = actor(pt_pool, 9);
    a->p1 = reg(NULL, "e", a, NULL);
    reg(NULL, "e", actor(pt_pool, 2), NULL);
    reg(NULL, "e", actor(pt_pool, 3), NULL);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 1, 2, 3);
    pt_log_reset(&LOG);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 2, 3, 9);
}
END_TEST

static void destroy_pool(actor_t *self, const void *data)
{
    (void) data;
    apr_pool_destroy(self->p1);
}

static void clear_pool(actor_t *self, const void *data)
{
    (void) data;
    apr_pool_clear(self->p1);
}

/* A callback destroys the pool of the next listener, and a callback clears the
 * pool that holds its own user_data (ASan/valgrind see any use after free). */
START_TEST(r6_pools_destroyed_from_callbacks)
{
    apr_pool_t *pn = pt_subpool(pt_pool), *own = pt_subpool(pt_pool);
    actor_t *a = actor(pt_pool, 1);
    actor_t *self_owned = actor(own, 3);

    a->action = destroy_pool;
    a->p1 = pn;
    reg(NULL, "e", a, NULL);
    reg(NULL, "e", actor(pn, 2), pn);
    reg(NULL, "e", self_owned, own);
    self_owned->action = clear_pool;
    self_owned->p1 = own;
    reg(NULL, "e", actor(own, 4), own);     /* goes with the clear */
    reg(NULL, "e", actor(pt_pool, 5), NULL);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 1, 3, 5);
    pt_log_reset(&LOG);
    a->action = NULL;                       /* pn is gone */
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 1, 5);
}
END_TEST

static void destroy_own_pool(actor_t *self, const void *data)
{
    (void) data;
    apr_pool_destroy(self->p1);     /* self is freed memory from here on */
}

START_TEST(r6_callback_destroys_its_own_pool)
{
    apr_pool_t *own = pt_subpool(pt_pool);
    actor_t *a = actor(own, 1);

    a->action = destroy_own_pool;
    a->p1 = own;
    reg(NULL, "e", a, own);
    reg(NULL, "e", actor(own, 2), own);
    reg(NULL, "e", actor(pt_pool, 3), NULL);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 1, 3);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 1);
}
END_TEST

static void remove_module(actor_t *self, const void *data)
{
    (void) data;
    ck_assert_int_eq(pev_module_remove(self->p1), APR_SUCCESS);
}

START_TEST(r6_module_removed_during_dispatch)
{
    pev_module_t *m1 = module("m1"), *m2 = module("m2");
    actor_t *a = actor(pt_pool, 1);

    a->action = remove_module;
    a->p1 = m2;
    reg(m1, "e", a, NULL);
    reg(m2, "e", actor(pt_pool, 2), NULL);
    reg(NULL, "e", actor(pt_pool, 3), NULL);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 1, 3);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 2);
}
END_TEST

/* ======================================================================== */
/* Rule 7: nesting                                                           */

static void generate_same(actor_t *self, const void *data)
{
    (void) data;
    if (self->n++ < 3)
        ck_assert_int_eq(pev_event_generate(BUS, "e", NULL), APR_SUCCESS);
}

START_TEST(r7_no_reentry_others_once)
{
    actor_t *b = actor(pt_pool, 2);

    reg(NULL, "e", actor(pt_pool, 1), NULL);
    reg(NULL, "e", b, NULL);
    reg(NULL, "e", actor(pt_pool, 3), NULL);
    b->action = generate_same;
    pev_event_generate(BUS, "e", NULL);
    /* outer: 1, 2 -> nested (2 skipped): 1, 3 -> outer continues: 3 */
    ck_assert_log(&LOG, 1, 2, 1, 3, 3);
    ck_assert_int_eq(b->calls, 1);
}
END_TEST

static void chain(actor_t *self, const void *data)
{
    char next[16];
    apr_status_t st;

    (void) data;
    sprintf(next, "c%d", self->id + 1);
    st = pev_event_generate(BUS, next, NULL);
    self->n = st;
}

START_TEST(r7_depth_limit)
{
    actor_t *a[40];
    char name[16];
    int i;

    for (i = 0; i < 40; i++) {
        a[i] = actor(pt_pool, i);
        a[i]->action = chain;
        sprintf(name, "c%d", i);
        reg(NULL, name, a[i], NULL);
    }
    ck_assert_int_eq(pev_bus_max_depth(BUS), PEV_DEFAULT_MAX_DEPTH);
    ck_assert_int_eq(pev_event_generate(BUS, "c0", NULL), APR_SUCCESS);
    ck_assert_int_eq(LOG.n, 16);
    ck_assert_int_eq(a[15]->n, PEV_ENESTING);
    ck_assert_int_eq(a[14]->n, APR_SUCCESS);

    ck_assert_int_eq(pev_bus_set_max_depth(BUS, 0), APR_EINVAL);
    ck_assert_int_eq(pev_bus_set_max_depth(NULL, 3), APR_EINVAL);
    ck_assert_int_eq(pev_bus_set_max_depth(BUS, 3), APR_SUCCESS);
    pt_log_reset(&LOG);
    ck_assert_int_eq(pev_event_generate(BUS, "c0", NULL), APR_SUCCESS);
    ck_assert_log(&LOG, 0, 1, 2);
    ck_assert_int_eq(a[2]->n, PEV_ENESTING);
}
END_TEST

static int ACTIVE[64];

/* Generates self->p1; asserts it is never re-entered for its event. */
static void ping_pong(actor_t *self, const void *data)
{
    (void) data;
    ck_assert_int_eq(ACTIVE[self->id]++, 0);
    pev_event_generate(BUS, self->p1, NULL);
    ACTIVE[self->id]--;
}

/* foo -> bar -> foo, each listener generating the other event. No listener is
 * re-entered, and the recursion ends: by no-reentry alone with few listeners,
 * at the depth limit with more. Expected counts come from a reference
 * simulation of the rules (2 listeners each: 14 calls whatever the limit;
 * 4 each: 2,228 calls unlimited, 1,076 with the limit at 6). */
static int CALLS;

static void pp_event(const void *event_data, void *user_data)
{
    (void) event_data;
    CALLS++;
    ping_pong(user_data, NULL);
}

static void pp_setup(int k)
{
    int i;

    pev_event_unregister(BUS, NULL, NULL, NULL);
    for (i = 0; i < k; i++) {
        actor_t *f = actor(pt_pool, i), *b = actor(pt_pool, 32 + i);
        f->p1 = "bar";
        b->p1 = "foo";
        ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, "foo", pp_event, f, NULL), 0);
        ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, "bar", pp_event, b, NULL), 0);
    }
    CALLS = 0;
}

START_TEST(r7_indirect_recursion_ends)
{
    pp_setup(2);
    ck_assert_int_eq(pev_event_generate(BUS, "foo", NULL), APR_SUCCESS);
    ck_assert_int_eq(CALLS, 14);

    pp_setup(4);
    ck_assert_int_eq(pev_bus_set_max_depth(BUS, 100), APR_SUCCESS);
    ck_assert_int_eq(pev_event_generate(BUS, "foo", NULL), APR_SUCCESS);
    ck_assert_int_eq(CALLS, 2228);

    pp_setup(4);
    ck_assert_int_eq(pev_bus_set_max_depth(BUS, 6), APR_SUCCESS);
    ck_assert_int_eq(pev_event_generate(BUS, "foo", NULL), APR_SUCCESS);
    ck_assert_int_eq(CALLS, 1076);
}
END_TEST

/* ======================================================================== */
/* Rule 8: teardown in any order                                             */

START_TEST(r8_bus_first_then_listener_pools)
{
    apr_pool_t *busp = pt_subpool(pt_pool), *lp = pt_subpool(pt_pool), *lc = pt_subpool(lp);
    pev_bus_t *bus;

    ck_assert_int_eq(pev_bus_create(&bus, busp), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "e", on_event, actor(lp, 1), lp),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "e", on_event, actor(lc, 2), lc),
                     APR_SUCCESS);
    apr_pool_destroy(busp);
    apr_pool_clear(lp);                     /* harmless */
    ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, "e", on_event, actor(lp, 3), lp),
                     APR_SUCCESS);
    apr_pool_destroy(lp);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_int_eq(LOG.n, 0);
}
END_TEST

START_TEST(r8_bus_pool_inside_listener_pool)
{
    apr_pool_t *outer = pt_subpool(pt_pool), *busp = pt_subpool(outer);
    pev_bus_t *bus;

    ck_assert_int_eq(pev_bus_create(&bus, busp), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "e", on_event, actor(outer, 1), outer),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "e", on_event, actor(busp, 2), busp),
                     APR_SUCCESS);
    apr_pool_destroy(outer);                /* listener pool and bus go together */
    ck_assert_int_eq(LOG.n, 0);
}
END_TEST

START_TEST(r8_listener_pools_inside_bus_pool)
{
    apr_pool_t *busp = pt_subpool(pt_pool), *a = pt_subpool(busp), *b = pt_subpool(a);
    pev_bus_t *bus;

    ck_assert_int_eq(pev_bus_create(&bus, busp), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "e", on_event, actor(a, 1), a),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "e", on_event, actor(b, 2), b),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "e", on_event, actor(busp, 3), busp),
                     APR_SUCCESS);
    apr_pool_clear(busp);
    ck_assert_int_eq(LOG.n, 0);
}
END_TEST

static void destroy_bus(actor_t *self, const void *data)
{
    (void) data;
    apr_pool_destroy(self->p1);
}

static void nested_then_check(actor_t *self, const void *data)
{
    (void) data;
    self->n = pev_event_generate(self->p2, "inner", NULL);
}

START_TEST(r8_bus_destroyed_during_dispatch)
{
    apr_pool_t *busp = pt_subpool(pt_pool);
    pev_bus_t *bus;
    actor_t *outer = actor(pt_pool, 1), *killer = actor(pt_pool, 2);

    ck_assert_int_eq(pev_bus_create(&bus, busp), APR_SUCCESS);
    outer->action = nested_then_check;
    outer->p2 = bus;
    killer->action = destroy_bus;
    killer->p1 = busp;
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "outer", on_event, outer, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "outer", on_event,
                                        actor(pt_pool, 9), pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "inner", on_event, killer, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, "inner", on_event,
                                        actor(pt_pool, 8), NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_event_generate(bus, "outer", NULL), PEV_EDESTROYED);
    ck_assert_int_eq(outer->n, PEV_EDESTROYED);
    ck_assert_log(&LOG, 1, 2);
    /* pt_pool still holds a binding to the dead bus: its teardown is harmless */
}
END_TEST

static int dump_destroys(void *user_data, const pev_listener_info_t *info)
{
    (void) info;
    apr_pool_destroy(user_data);
    return 0;
}

START_TEST(r8_bus_destroyed_during_dump)
{
    apr_pool_t *busp = pt_subpool(pt_pool);
    pev_bus_t *bus;

    ck_assert_int_eq(pev_bus_create(&bus, busp), APR_SUCCESS);
    pev_event_register(NULL, bus, NULL, "a", on_event, actor(pt_pool, 1), NULL);
    pev_event_register(NULL, bus, NULL, "b", on_event, actor(pt_pool, 2), NULL);
    ck_assert_int_eq(pev_bus_dump(bus, dump_destroys, busp), PEV_EDESTROYED);
}
END_TEST

/* ======================================================================== */
/* Rule 9: lookup cost and interned handles                                  */

START_TEST(r9_many_names_constant_lookup)
{
    pev_bus_stats_t st;
    actor_t *a = actor(pt_pool, 1);
    char name[32];
    int i;

    for (i = 0; i < 100000; i++) {
        sprintf(name, "mod_%d.event", i);
        ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, name, on_event, a, NULL),
                         APR_SUCCESS);
    }
    pev_bus_stats(BUS, &st);
    ck_assert_uint_eq(st.events, 100000);
    ck_assert_uint_le(st.table_slots, 4 * 100000);
    /* linear probing at <= 50% load: probe runs stay short */
    ck_assert_msg(st.max_probe <= 64, "max probe %zu", (size_t) st.max_probe);
    for (i = 0; i < 100000; i += 997) {
        sprintf(name, "mod_%d.event", i);
        ck_assert_int_eq(pev_event_listening(BUS, name), 1);
    }
    ck_assert_int_eq(pev_event_listening(BUS, "mod_100000.event"), 0);
    pev_event_generate(BUS, "mod_4242.event", NULL);
    ck_assert_int_eq(a->calls, 1);
}
END_TEST

/* Names of every length from 1 to 40 that differ in a single byte are
 * distinct events (the lookup compares and hashes whole words, with
 * overlapping loads for the tail). */
START_TEST(r9_names_differing_in_one_byte)
{
    char name[41];
    int len, pos;

    for (len = 1; len <= 40; len++) {
        memset(name, 'a', (size_t) len);
        name[len] = 0;
        ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, name, on_event,
                                            actor(pt_pool, len), NULL), APR_SUCCESS);
    }
    for (len = 1; len <= 40; len++) {
        memset(name, 'a', (size_t) len);
        name[len] = 0;
        ck_assert_int_eq(pev_event_listening(BUS, name), 1);
        for (pos = 0; pos < len; pos++) {
            name[pos] = 'b';
            ck_assert_msg(pev_event_listening(BUS, name) == 0, "len %d pos %d", len, pos);
            name[pos] = 'a';
        }
        name[len - 1] = 0;          /* a prefix is another event */
        if (len > 1)
            ck_assert_int_eq(pev_event_listening(BUS, name), 1);
    }
    pev_event_generate(BUS, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL);
    pev_event_generate(BUS, "aaa", NULL);
    ck_assert_log(&LOG, 40, 3);
}
END_TEST

START_TEST(r9_handles_survive_table_growth)
{
    pev_event_t *ev, *ev2;
    actor_t *a = actor(pt_pool, 1);
    char name[32];
    int i;

    ck_assert_int_eq(pev_event_intern(&ev, BUS, "hot"), APR_SUCCESS);
    ck_assert_int_eq(pev_event_intern(&ev2, BUS, "hot"), APR_SUCCESS);
    ck_assert_ptr_eq(ev, ev2);
    ck_assert_str_eq(pev_event_name(ev), "hot");
    ck_assert_int_eq(pev_event_intern(&ev2, BUS, ""), APR_EINVAL);
    ck_assert_int_eq(pev_event_intern(NULL, BUS, "x"), APR_EINVAL);
    ck_assert_int_eq(pev_event_generate_handle(NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_event_generate_handle(ev, NULL), APR_SUCCESS);   /* nobody */
    for (i = 0; i < 5000; i++) {                    /* grow, then empty and compact */
        sprintf(name, "tmp%d", i);
        pev_event_register(NULL, BUS, NULL, name, on_event, a, NULL);
    }
    pev_event_unregister(BUS, NULL, NULL, NULL);
    reg(NULL, "hot", a, NULL);
    ck_assert_int_eq(pev_event_generate_handle(ev, "data"), APR_SUCCESS);
    ck_assert_int_eq(a->calls, 1);
    ck_assert_str_eq(a->last_data, "data");
}
END_TEST

/* ======================================================================== */
/* Rule 10: churn does not grow memory                                       */

START_TEST(r10_churn_bounded)
{
    apr_pool_t *lp = pt_subpool(pt_pool);
    actor_t *a = actor(pt_pool, 1);
    pev_bus_stats_t st;
    pev_listener_t *l;
    long cycles = pt_env_long("POOLEV_CHURN", 1000000);
    char name[32];
    long i;

    for (i = 0; i < cycles; i++) {
        ck_assert(pev_event_register(&l, BUS, NULL, "churn", on_event, a, lp) == APR_SUCCESS);
        ck_assert(pev_listener_unregister(l) == APR_SUCCESS);
    }
    pev_bus_stats(BUS, &st);
    ck_assert_uint_le(st.listener_nodes, 64);
    ck_assert_uint_eq(st.bindings, 1);

    /* distinct names: unused events are reclaimed */
    for (i = 0; i < cycles / 10; i++) {
        sprintf(name, "topic.%ld", i);
        ck_assert(pev_event_register(&l, BUS, NULL, name, on_event, a, lp) == APR_SUCCESS);
        ck_assert(pev_listener_unregister(l) == APR_SUCCESS);
    }
    pev_bus_stats(BUS, &st);
    ck_assert_uint_le(st.events, 256);
    ck_assert_uint_le(st.table_slots, 1024);
    ck_assert_uint_le(st.listener_nodes, 64);

    /* short-lived pools */
    for (i = 0; i < cycles / 10; i++) {
        apr_pool_t *p = pt_subpool(lp);
        ck_assert(pev_event_register(NULL, BUS, NULL, "churn", on_event, a, p) == APR_SUCCESS);
        apr_pool_destroy(p);
    }
    pev_bus_stats(BUS, &st);
    ck_assert_uint_eq(st.bindings, 1);
    ck_assert_uint_le(st.listener_nodes, 64);
    ck_assert_uint_eq(st.listeners, 0);
}
END_TEST

/* ======================================================================== */
/* Rule 11: listening and dump                                               */

static void count_during(actor_t *self, const void *data)
{
    (void) data;
    pev_listener_unregister(self->p1);
    self->n = pev_event_listening(BUS, "e");
}

START_TEST(r11_listening_counts)
{
    actor_t *a = actor(pt_pool, 1);

    ck_assert_int_eq(pev_event_listening(NULL, "e"), -1);
    ck_assert_int_eq(pev_event_listening(BUS, NULL), -1);
    ck_assert_int_eq(pev_event_listening(BUS, "nobody"), 0);
    reg(NULL, "e", a, NULL);
    a->p1 = reg(NULL, "e", actor(pt_pool, 2), NULL);
    reg(NULL, "e", actor(pt_pool, 3), NULL);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 3);
    a->action = count_during;
    pev_event_generate(BUS, "e", NULL);
    ck_assert_int_eq(a->n, 2);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 2);
}
END_TEST

static void count_filtered_during(actor_t *self, const void *data)
{
    (void) data;
    pev_listener_unregister(self->p1);
    self->n = pev_event_count(BUS, "e", NULL, on_other);
}

START_TEST(r11_count_by_filter)
{
    pev_module_t *m1 = module("mod_a"), *m2 = module("mod_b");
    actor_t *a = actor(pt_pool, 1);
    pev_listener_t *l;

    ck_assert_int_eq(pev_event_count(NULL, "e", NULL, NULL), -1);
    ck_assert_int_eq(pev_event_count(BUS, NULL, NULL, NULL), -1);
    ck_assert_int_eq(pev_event_count(BUS, "nobody", NULL, NULL), 0);
    reg(m1, "e", a, NULL);
    reg(m2, "e", actor(pt_pool, 2), NULL);
    ck_assert_int_eq(pev_event_register(&l, BUS, NULL, "e", on_other,
                                        actor(pt_pool, 3), NULL), APR_SUCCESS);
    reg(NULL, "f", actor(pt_pool, 4), NULL);
    ck_assert_int_eq(pev_event_count(BUS, "e", NULL, NULL), 3);
    ck_assert_int_eq(pev_event_count(BUS, "e", NULL, on_event), 2);
    ck_assert_int_eq(pev_event_count(BUS, "e", NULL, on_other), 1);
    ck_assert_int_eq(pev_event_count(BUS, "e", m1, NULL), 1);
    ck_assert_int_eq(pev_event_count(BUS, "e", m2, on_other), 0);
    ck_assert_int_eq(pev_event_count(BUS, "e", PEV_MODULE_CORE, NULL), 1);
    ck_assert_int_eq(pev_event_count(BUS, "e", PEV_MODULE_CORE, on_event), 0);
    ck_assert_int_eq(pev_event_count(BUS, "f", m1, NULL), 0);
    /* nothing changed */
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 3);
    /* a listener unregistered during a dispatch is not counted */
    a->p1 = l;
    a->action = count_filtered_during;
    a->n = -1;
    pev_event_generate(BUS, "e", NULL);
    ck_assert_int_eq(a->n, 0);
    ck_assert_int_eq(pev_event_count(BUS, "e", NULL, NULL), 2);
}
END_TEST

typedef struct { char lines[64][96]; int n; } dump_t;

static int dump_line(void *user_data, const pev_listener_info_t *info)
{
    dump_t *d = user_data;

    ck_assert_int_lt(d->n, 64);
    snprintf(d->lines[d->n++], sizeof d->lines[0], "%s %u/%u %s %d %d", info->event,
             info->position, info->count, info->module ? info->module : "(core)",
             info->priority, ((actor_t *) info->user_data)->id);
    return 0;
}

START_TEST(r11_dump_in_dispatch_order)
{
    pev_module_t *m1 = module("mod_a"), *m2 = module("mod_b");
    dump_t d = { .n = 0 };

    reg(NULL, "zeta", actor(pt_pool, 1), NULL);
    reg(m2, "alpha", actor(pt_pool, 2), NULL);
    reg(NULL, "alpha", actor(pt_pool, 3), NULL);
    reg(m1, "alpha", actor(pt_pool, 4), NULL);
    pev_event_register_ordered(NULL, BUS, NULL, "alpha", on_event, actor(pt_pool, 5), -1, NULL);
    pev_event_unregister(BUS, NULL, "gone", NULL);
    ck_assert_int_eq(pev_bus_dump(BUS, dump_line, &d), APR_SUCCESS);
    ck_assert_int_eq(d.n, 5);
    ck_assert_str_eq(d.lines[0], "alpha 0/4 (core) -1 5");
    ck_assert_str_eq(d.lines[1], "alpha 1/4 mod_a 0 4");
    ck_assert_str_eq(d.lines[2], "alpha 2/4 mod_b 0 2");
    ck_assert_str_eq(d.lines[3], "alpha 3/4 (core) 0 3");
    ck_assert_str_eq(d.lines[4], "zeta 0/1 (core) 0 1");
    ck_assert_int_eq(pev_bus_dump(NULL, dump_line, &d), APR_EINVAL);
}
END_TEST

/* ======================================================================== */
/* Rule 12: single-threaded per bus, but no shared global state              */

static void count_calls(const void *event_data, void *user_data)
{
    (void) event_data;
    (*(int *) user_data)++;
}

static void *thread_churn(void *arg)
{
    apr_pool_t *p;
    pev_bus_t *bus;
    int i, *calls = arg;

    apr_pool_create_unmanaged(&p);
    pev_bus_create(&bus, p);
    for (i = 0; i < 20000; i++) {
        apr_pool_t *sp;
        char name[16];
        apr_pool_create(&sp, p);
        sprintf(name, "t%d", i % 50);
        pev_event_register(NULL, bus, NULL, name, count_calls, calls, sp);
        pev_event_generate(bus, name, NULL);
        apr_pool_destroy(sp);
    }
    apr_pool_destroy(p);
    return NULL;
}

START_TEST(r12_buses_on_different_threads_are_independent)
{
    pthread_t t1, t2;
    int c1 = 0, c2 = 0;

    ck_assert_int_eq(pthread_create(&t1, NULL, thread_churn, &c1), 0);
    ck_assert_int_eq(pthread_create(&t2, NULL, thread_churn, &c2), 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    ck_assert_int_eq(c1, 20000);
    ck_assert_int_eq(c2, 20000);
}
END_TEST

/* ======================================================================== */
/* Rule 13: module removal                                                   */

static void on_unload(const void *event_data, void *user_data)
{
    actor_t *a = user_data;

    a->calls++;
    a->last_data = event_data;
    /* the name stays taken while the module is being removed */
    ck_assert_ptr_nonnull(pev_module_find(BUS, event_data));
    ck_assert_int_eq(pev_module_add(NULL, BUS, event_data), APR_EEXIST);
    /* the module's listeners are still registered when unload is heard */
    a->n = pev_event_listening(BUS, "e");
    pt_log_add(&LOG, a->id);
}

START_TEST(r13_module_remove)
{
    pev_module_t *m = module("mod_gone"), *keep = module("mod_keep"), *again;
    actor_t *own = actor(pt_pool, 1), *watcher = actor(pt_pool, 2);

    ck_assert_int_eq(pev_event_register(NULL, BUS, m, PEV_EVENT_MODULE_UNLOAD, on_unload,
                                        own, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, BUS, NULL, PEV_EVENT_MODULE_UNLOAD,
                                        on_unload, watcher, NULL), APR_SUCCESS);
    reg(m, "e", actor(pt_pool, 10), NULL);
    reg(m, "f", actor(pt_pool, 11), NULL);
    reg(keep, "e", actor(pt_pool, 12), NULL);

    ck_assert_int_eq(pev_module_remove(m), APR_SUCCESS);
    ck_assert_log(&LOG, 1, 2);
    ck_assert_str_eq(own->last_data, "mod_gone");
    ck_assert_int_eq(own->n, 2);
    ck_assert_int_eq(pev_event_listening(BUS, "e"), 1);
    ck_assert_int_eq(pev_event_listening(BUS, "f"), 0);
    ck_assert_int_eq(pev_event_listening(BUS, PEV_EVENT_MODULE_UNLOAD), 1);

    ck_assert_int_eq(pev_module_remove(m), PEV_EREMOVED);
    ck_assert_int_eq(pev_module_remove(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_event_register(NULL, BUS, m, "e", on_event, own, NULL), PEV_EREMOVED);
    ck_assert_ptr_null(pev_module_find(BUS, "mod_gone"));
    ck_assert_int_eq(pev_module_add(&again, BUS, "mod_gone"), APR_SUCCESS);
    ck_assert_ptr_ne(again, m);
    /* the re-added module is last in load order */
    reg(again, "e", actor(pt_pool, 20), NULL);
    pt_log_reset(&LOG);
    pev_event_generate(BUS, "e", NULL);
    ck_assert_log(&LOG, 12, 20);
}
END_TEST

/* ======================================================================== */

static Suite *bus_suite(void)
{
    Suite *s = suite_create("bus");
    TCase *tc = tcase_create("rules");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, r1_core_listener_and_optional_out);
    tcase_add_test(tc, r1_null_lifetime_lives_as_long_as_bus);
    tcase_add_test(tc, r1_event_name_is_copied);
    tcase_add_test(tc, r1_invalid_arguments_register_nothing);
    tcase_add_test(tc, r1_module_names_unique);
    tcase_add_test(tc, r2_same_tuple_is_eexist);
    tcase_add_test(tc, r2_same_fn_other_user_data_is_allowed);
    tcase_add_test(tc, r3_destroy_and_clear_unregister);
    tcase_add_test(tc, r3_unregistered_before_pool_teardown);
    tcase_add_test(tc, r3_one_cleanup_per_pool_and_bus);
    tcase_add_test(tc, r3_registered_while_pool_dies);
    tcase_add_test(tc, r4_unregister_by_handle);
    tcase_add_test(tc, r4_unregister_by_filter);
    tcase_add_test(tc, r4_unregister_is_final_inside_dispatch);
    tcase_add_test(tc, r5_dispatch_order);
    tcase_add_test(tc, r5_equal_keys_keep_registration_order);
    tcase_add_test(tc, r5_module_added_later_runs_later);
    tcase_add_test(tc, r6_registered_during_dispatch_not_called);
    tcase_add_test(tc, r6_remove_next_and_all);
    tcase_add_test(tc, r6_remove_self_then_register);
    tcase_add_test(tc, r6_pools_destroyed_from_callbacks);
    tcase_add_test(tc, r6_callback_destroys_its_own_pool);
    tcase_add_test(tc, r6_module_removed_during_dispatch);
    tcase_add_test(tc, r7_no_reentry_others_once);
    tcase_add_test(tc, r7_depth_limit);
    tcase_add_test(tc, r7_indirect_recursion_ends);
    tcase_add_test(tc, r8_bus_first_then_listener_pools);
    tcase_add_test(tc, r8_bus_pool_inside_listener_pool);
    tcase_add_test(tc, r8_listener_pools_inside_bus_pool);
    tcase_add_test(tc, r8_bus_destroyed_during_dispatch);
    tcase_add_test(tc, r8_bus_destroyed_during_dump);
    tcase_add_test(tc, r9_many_names_constant_lookup);
    tcase_add_test(tc, r9_names_differing_in_one_byte);
    tcase_add_test(tc, r9_handles_survive_table_growth);
    tcase_add_test(tc, r10_churn_bounded);
    tcase_add_test(tc, r11_listening_counts);
    tcase_add_test(tc, r11_count_by_filter);
    tcase_add_test(tc, r11_dump_in_dispatch_order);
    tcase_add_test(tc, r12_buses_on_different_threads_are_independent);
    tcase_add_test(tc, r13_module_remove);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return pt_run(bus_suite());
}
