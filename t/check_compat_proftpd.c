/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_compat_proftpd.c - the ProFTPD Events API layer
 * (include/poolev/compat/proftpd.h, doc/porting-proftpd.md).
 *
 * Every test starts with an empty registry created under its own pool
 * (pr_event_set_pool(pt_pool) in the fixture), so the suite gives the same
 * results in check's fork and no-fork modes: the fixture checks that the
 * registry is empty when a test starts. Two tests run this program again
 * (--bare, --default-parent) to use the registry in a process that never
 * called APR, where the compat default pool can be used freely.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <apr_general.h>

#include <poolev/compat/proftpd.h>
#include "harness.h"

static pt_log_t LOG;

/* Module tables initialized positionally, as ProFTPD modules are. */
static module mod_alpha = { NULL, NULL, 0x20, "alpha", NULL, NULL, NULL, NULL, NULL,
                            "mod_alpha/1.0", NULL, 0 };
static module mod_beta = { NULL, NULL, 0x20, "beta", NULL, NULL, NULL, NULL, NULL,
                           NULL, NULL, 0 };
static module mod_never = { .name = "never" };

/* ======================================================================== */
/* Listeners and the dump                                                    */

typedef struct actor actor_t;
struct actor {
    int id;
    int calls;
    const void *last_data;
    void (*action)(actor_t *self);
    void *p;
    apr_pool_t *pool;
    int n;
};

static void run(actor_t *a, const void *event_data)
{
    a->calls++;
    a->last_data = event_data;
    pt_log_add(&LOG, a->id);
    if (a->action)
        a->action(a);
}

/* Distinct callbacks: ProFTPD refuses the same callback twice on an event. */
static void cb1(const void *d, void *u) { run(u, d); }
static void cb2(const void *d, void *u) { run(u, d); }
static void cb3(const void *d, void *u) { run(u, d); }
static void cb4(const void *d, void *u) { run(u, d); }
static void cb5(const void *d, void *u) { run(u, d); }
static void cb6(const void *d, void *u) { run(u, d); }

static actor_t *actor(int id)
{
    actor_t *a = apr_pcalloc(pt_pool, sizeof *a);

    a->id = id;
    return a;
}

#define DUMP_MAX 32
static char DUMP[DUMP_MAX][128];
static int NDUMP;

static void dumpf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void dumpf(const char *fmt, ...)
{
    va_list ap;

    if (NDUMP >= DUMP_MAX)
        ck_abort_msg("dump: more than %d lines", DUMP_MAX);
    va_start(ap, fmt);
    vsnprintf(DUMP[NDUMP++], sizeof DUMP[0], fmt, ap);
    va_end(ap);
}

static void dump(void)
{
    NDUMP = 0;
    pr_event_dump(dumpf);
}

#define ck_assert_fails(call, err) do {                                     \
        errno = 0;                                                           \
        ck_assert_int_eq((call), -1);                                        \
        ck_assert_int_eq(errno, (err));                                      \
    } while (0)

static void setup(void)
{
    pt_setup();
    pt_log_reset(&LOG);
    ck_assert_int_eq(pr_event_set_pool(pt_pool), 0);
    /* every test starts with an empty registry, in either fork mode */
    ck_assert_int_eq(pr_event_unregister(NULL, NULL, NULL), 0);
    dump();
    ck_assert_int_eq(NDUMP, 1);
    ck_assert_str_eq(DUMP[0], "No events registered");
}

static void teardown(void)
{
    pt_teardown();              /* resets the registry */
}

/* ======================================================================== */
/* Return values and errno on an empty, populated and emptied registry      */

START_TEST(empty_registry_values)
{
    ck_assert_int_eq(pr_event_unregister(NULL, NULL, NULL), 0);
    ck_assert_int_eq(pr_event_unregister(&mod_alpha, "e", cb1), 0);
    ck_assert_int_eq(pr_event_listening("e"), 0);
    ck_assert_fails(pr_event_listening(NULL), EINVAL);
    pr_event_generate("e", NULL);
    pr_event_generate(NULL, NULL);
    pr_event_dump(NULL);
    dump();
    ck_assert_int_eq(NDUMP, 1);
    ck_assert_str_eq(DUMP[0], "No events registered");
    /* invalid registrations create nothing: the registry is still unused */
    ck_assert_fails(pr_event_register(&mod_alpha, NULL, cb1, NULL), EINVAL);
    ck_assert_fails(pr_event_register(&mod_alpha, "e", NULL, NULL), EINVAL);
    ck_assert_fails(pr_event_register(NULL, "", cb1, NULL), EINVAL);
    ck_assert_fails(pr_event_register_pool(NULL, NULL, cb1, NULL, pt_pool), EINVAL);
    ck_assert_int_eq(pr_event_unregister(NULL, NULL, NULL), 0);
}
END_TEST

START_TEST(populated_registry_values)
{
    actor_t *a = actor(1);

    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb1, a), 0);
    ck_assert_int_eq(pr_event_register(NULL, "e", cb2, a), 0);
    ck_assert_int_eq(pr_event_register(&mod_beta, "f", cb1, a), 0);
    ck_assert_int_eq(pr_event_listening("e"), 2);
    ck_assert_int_eq(pr_event_listening("f"), 1);
    ck_assert_int_eq(pr_event_listening("nobody"), 0);
    ck_assert_fails(pr_event_listening(NULL), EINVAL);
    /* nothing matches: ENOENT, nothing removed */
    ck_assert_fails(pr_event_unregister(NULL, "nobody", NULL), ENOENT);
    ck_assert_fails(pr_event_unregister(&mod_never, NULL, NULL), ENOENT);
    ck_assert_fails(pr_event_unregister(&mod_beta, "e", NULL), ENOENT);
    ck_assert_fails(pr_event_unregister(NULL, "e", cb3), ENOENT);
    ck_assert_fails(pr_event_unregister(NULL, "", NULL), ENOENT);
    ck_assert_int_eq(pr_event_listening("e"), 2);
    /* something matches: 0 */
    ck_assert_int_eq(pr_event_unregister(&mod_alpha, "e", cb1), 0);
    ck_assert_int_eq(pr_event_listening("e"), 1);
    ck_assert_fails(pr_event_unregister(&mod_alpha, "e", cb1), ENOENT);
    pr_event_generate("e", "data");
    ck_assert_log(&LOG, 1);
    ck_assert_ptr_eq(a->last_data, "data");
}
END_TEST

START_TEST(emptied_registry_values)
{
    actor_t *a = actor(1);

    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb1, a), 0);
    ck_assert_int_eq(pr_event_register(NULL, "f", cb2, a), 0);
    ck_assert_int_eq(pr_event_unregister(NULL, NULL, NULL), 0);
    /* used, now empty: not "never used" any more */
    ck_assert_fails(pr_event_unregister(NULL, NULL, NULL), ENOENT);
    ck_assert_fails(pr_event_unregister(&mod_alpha, "e", cb1), ENOENT);
    ck_assert_int_eq(pr_event_listening("e"), 0);
    ck_assert_int_eq(pr_event_listening("f"), 0);
    ck_assert_fails(pr_event_listening(NULL), EINVAL);
    pr_event_generate("e", NULL);
    ck_assert_int_eq(a->calls, 0);
    dump();
    ck_assert_int_eq(NDUMP, 1);
    ck_assert_str_eq(DUMP[0], "No events registered");
    /* and usable again */
    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb1, a), 0);
    pr_event_generate("e", NULL);
    ck_assert_int_eq(a->calls, 1);
}
END_TEST

/* ProFTPD's rule: the same callback on the same event is EEXIST whatever the
 * module or user_data. */
START_TEST(same_callback_on_event_is_eexist)
{
    actor_t *a = actor(1), *b = actor(2);

    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb1, a), 0);
    ck_assert_fails(pr_event_register(&mod_alpha, "e", cb1, a), EEXIST);
    ck_assert_fails(pr_event_register(&mod_alpha, "e", cb1, b), EEXIST);
    ck_assert_fails(pr_event_register(&mod_beta, "e", cb1, b), EEXIST);
    ck_assert_fails(pr_event_register(NULL, "e", cb1, b), EEXIST);
    ck_assert_fails(pr_event_register_pool(NULL, "e", cb1, b, pt_pool), EEXIST);
    /* another event or another callback is fine */
    ck_assert_int_eq(pr_event_register(&mod_alpha, "f", cb1, a), 0);
    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb2, a), 0);
    ck_assert_int_eq(pr_event_listening("e"), 2);
    pr_event_generate("e", NULL);
    ck_assert_int_eq(a->calls, 2);
    ck_assert_int_eq(b->calls, 0);
    /* once unregistered, it may come back */
    ck_assert_int_eq(pr_event_unregister(NULL, "e", cb1), 0);
    ck_assert_int_eq(pr_event_register(&mod_beta, "e", cb1, b), 0);
}
END_TEST

/* NULL is "any" for each of module, event and callback. */
START_TEST(unregister_null_means_any)
{
    actor_t *a = actor(1);

    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb1, a), 0);
    ck_assert_int_eq(pr_event_register(&mod_alpha, "f", cb1, a), 0);
    ck_assert_int_eq(pr_event_register(&mod_beta, "e", cb2, a), 0);
    ck_assert_int_eq(pr_event_register(NULL, "e", cb3, a), 0);
    ck_assert_int_eq(pr_event_register(NULL, "g", cb1, a), 0);
    /* module, any event, any callback */
    ck_assert_int_eq(pr_event_unregister(&mod_alpha, NULL, NULL), 0);
    ck_assert_int_eq(pr_event_listening("e"), 2);
    ck_assert_int_eq(pr_event_listening("f"), 0);
    ck_assert_int_eq(pr_event_listening("g"), 1);
    /* any module (core included), one event */
    ck_assert_int_eq(pr_event_unregister(NULL, "e", NULL), 0);
    ck_assert_int_eq(pr_event_listening("e"), 0);
    ck_assert_int_eq(pr_event_listening("g"), 1);
    /* any module, any event, one callback */
    ck_assert_int_eq(pr_event_register(&mod_beta, "h", cb2, a), 0);
    ck_assert_int_eq(pr_event_unregister(NULL, NULL, cb1), 0);
    ck_assert_int_eq(pr_event_listening("g"), 0);
    ck_assert_int_eq(pr_event_listening("h"), 1);
}
END_TEST

/* ======================================================================== */
/* Dispatch order                                                            */

/* Module listeners newest first (whatever their module), then core listeners
 * in registration order. */
START_TEST(dispatch_order_modules_newest_first_then_core)
{
    ck_assert_int_eq(pr_event_register(NULL, "e", cb1, actor(1)), 0);         /* core */
    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb2, actor(2)), 0);
    ck_assert_int_eq(pr_event_register(NULL, "e", cb3, actor(3)), 0);         /* core */
    ck_assert_int_eq(pr_event_register(&mod_beta, "e", cb4, actor(4)), 0);
    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb5, actor(5)), 0);
    ck_assert_int_eq(pr_event_register(NULL, "e", cb6, actor(6)), 0);         /* core */
    pr_event_generate("e", NULL);
    ck_assert_log(&LOG, 5, 4, 2, 1, 3, 6);

    /* re-registering a module listener makes it the newest */
    ck_assert_int_eq(pr_event_unregister(&mod_alpha, "e", cb2), 0);
    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb2, actor(7)), 0);
    pt_log_reset(&LOG);
    pr_event_generate("e", NULL);
    ck_assert_log(&LOG, 7, 5, 4, 1, 3, 6);

    /* a pool-bound registration takes its place by the same rule */
    ck_assert_fails(pr_event_register_pool(&mod_beta, "e", cb4, actor(8), pt_pool),
                    EEXIST);
    ck_assert_int_eq(pr_event_unregister(NULL, "e", cb4), 0);
    ck_assert_int_eq(pr_event_register_pool(&mod_beta, "e", cb4, actor(8), pt_pool), 0);
    pt_log_reset(&LOG);
    pr_event_generate("e", NULL);
    ck_assert_log(&LOG, 8, 7, 5, 1, 3, 6);
}
END_TEST

START_TEST(dump_lines)
{
    static module mod_anon = { .name = NULL };
    actor_t *a = actor(1);

    ck_assert_int_eq(pr_event_register(NULL, "zeta", cb1, a), 0);
    ck_assert_int_eq(pr_event_register(NULL, "core.restart", cb1, a), 0);
    ck_assert_int_eq(pr_event_register(&mod_alpha, "core.restart", cb2, a), 0);
    ck_assert_int_eq(pr_event_register(&mod_beta, "core.restart", cb3, a), 0);
    ck_assert_int_eq(pr_event_register(&mod_anon, "zeta", cb4, a), 0);
    dump();
    ck_assert_int_eq(NDUMP, 7);
    ck_assert_str_eq(DUMP[0], "Registered for 'core.restart':");
    ck_assert_str_eq(DUMP[1], "  mod_beta.c");
    ck_assert_str_eq(DUMP[2], "  mod_alpha.c");
    ck_assert_str_eq(DUMP[3], "  (core)");
    ck_assert_str_eq(DUMP[4], "Registered for 'zeta':");
    ck_assert_str_eq(DUMP[5], "  mod_(unnamed).c");
    ck_assert_str_eq(DUMP[6], "  (core)");
    /* the module's name is read when dumping, as ProFTPD does */
    mod_anon.name = "late";
    dump();
    ck_assert_str_eq(DUMP[5], "  mod_late.c");
    mod_anon.name = NULL;
}
END_TEST

/* ======================================================================== */
/* Dispatch hazards ProFTPD has and this layer has not                       */

static void unregister_p(actor_t *self)
{
    ck_assert_int_eq(pr_event_unregister(NULL, "e", (pr_event_cb_t *) self->p), 0);
}

START_TEST(unregistered_during_dispatch_not_called)
{
    actor_t *a = actor(1), *b = actor(2), *c = actor(3);

    ck_assert_int_eq(pr_event_register(NULL, "e", cb1, a), 0);
    ck_assert_int_eq(pr_event_register(NULL, "e", cb2, b), 0);
    ck_assert_int_eq(pr_event_register(NULL, "e", cb3, c), 0);
    a->action = unregister_p;
    a->p = (void *) cb2;        /* the next listener */
    pr_event_generate("e", NULL);
    ck_assert_log(&LOG, 1, 3);
    ck_assert_int_eq(b->calls, 0);
    ck_assert_int_eq(pr_event_listening("e"), 2);
}
END_TEST

static void destroy_pool_of_p(actor_t *self)
{
    apr_pool_destroy(((actor_t *) self->p)->pool);
}

/* The dangling user_data problem: the next listener's data lives in a pool
 * the running listener destroys. It is unregistered first, never called. */
START_TEST(listener_pool_destroyed_during_dispatch_not_called)
{
    actor_t *a = actor(1), *b;
    apr_pool_t *p = pt_subpool(pt_pool);

    b = apr_pcalloc(p, sizeof *b);
    b->id = 2;
    b->pool = p;
    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb1, a), 0);
    ck_assert_int_eq(pr_event_register_pool(NULL, "e", cb2, b, p), 0);
    a->action = destroy_pool_of_p;
    a->p = b;
    pr_event_generate("e", NULL);
    ck_assert_log(&LOG, 1);
    ck_assert_int_eq(pr_event_listening("e"), 1);
}
END_TEST

static void register_more(actor_t *self)
{
    ck_assert_int_eq(pr_event_register(&mod_beta, "e", cb5, self->p), 0);
    ck_assert_int_eq(pr_event_register(NULL, "e", cb6, self->p), 0);
}

/* poolev's rule: a listener registered during a dispatch is not called by
 * it, module or core alike (ProFTPD calls the core one). */
START_TEST(registered_during_dispatch_not_called)
{
    actor_t *a = actor(1), *late = actor(9);

    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb1, a), 0);
    ck_assert_int_eq(pr_event_register(NULL, "e", cb2, actor(2)), 0);
    a->action = register_more;
    a->p = late;
    pr_event_generate("e", NULL);
    ck_assert_log(&LOG, 1, 2);
    ck_assert_int_eq(late->calls, 0);
    a->action = NULL;
    pt_log_reset(&LOG);
    pr_event_generate("e", NULL);
    ck_assert_log(&LOG, 9, 1, 2, 9);
}
END_TEST

static void generate_p(actor_t *self)
{
    self->n++;
    pr_event_generate(self->p, NULL);
}

/* Nesting follows poolev's rules: no re-entry of a running listener, and
 * indirect recursion (foo -> bar -> foo) ends at the depth limit. */
START_TEST(nested_generation_bounded)
{
    actor_t *f = actor(1), *g = actor(2), *self = actor(3);

    ck_assert_int_eq(pr_event_register(NULL, "foo", cb1, f), 0);
    ck_assert_int_eq(pr_event_register(NULL, "bar", cb2, g), 0);
    f->action = generate_p;
    f->p = "bar";
    g->action = generate_p;
    g->p = "foo";
    pr_event_generate("foo", NULL);
    ck_assert_int_eq(f->calls, 1);      /* not re-entered for foo */
    ck_assert_int_eq(g->calls, 1);

    ck_assert_int_eq(pr_event_register(NULL, "self", cb3, self), 0);
    self->action = generate_p;
    self->p = "self";
    pr_event_generate("self", NULL);
    ck_assert_int_eq(self->calls, 1);
}
END_TEST

/* ======================================================================== */
/* Pools                                                                     */

/* The extension: a pool-bound listener goes with its pool, and the same
 * callback can then be registered again (ProFTPD's EEXIST kept a stale one). */
START_TEST(register_pool_unregisters_with_pool)
{
    apr_pool_t *gen1 = pt_subpool(pt_pool), *gen2 = pt_subpool(pt_pool);
    actor_t *a = apr_pcalloc(gen1, sizeof *a), *b = actor(2);

    a->id = 1;
    ck_assert_int_eq(pr_event_register_pool(&mod_alpha, "core.restart", cb1, a, gen1), 0);
    ck_assert_int_eq(pr_event_register_pool(&mod_alpha, "app.x", cb2, a, gen1), 0);
    ck_assert_int_eq(pr_event_listening("core.restart"), 1);
    apr_pool_destroy(gen1);
    ck_assert_int_eq(pr_event_listening("core.restart"), 0);
    ck_assert_int_eq(pr_event_listening("app.x"), 0);
    pr_event_generate("core.restart", NULL);
    ck_assert_int_eq(LOG.n, 0);
    /* the next generation registers the same callbacks */
    ck_assert_int_eq(pr_event_register_pool(&mod_alpha, "core.restart", cb1, b, gen2), 0);
    pr_event_generate("core.restart", NULL);
    ck_assert_log(&LOG, 2);
    /* clearing works as destroying does */
    apr_pool_clear(gen2);
    ck_assert_int_eq(pr_event_listening("core.restart"), 0);
    /* NULL lifetime: as pr_event_register() */
    ck_assert_int_eq(pr_event_register_pool(NULL, "e", cb1, b, NULL), 0);
    ck_assert_int_eq(pr_event_listening("e"), 1);
}
END_TEST

/* The registry resets when the pool it was created under goes, and is
 * created anew by the next registration. */
START_TEST(registry_resets_with_its_pool)
{
    apr_pool_t *p = pt_subpool(pt_pool), *q = pt_subpool(pt_pool);
    actor_t *a = actor(1);

    ck_assert_int_eq(pr_event_set_pool(p), 0);
    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb1, a), 0);
    ck_assert_fails(pr_event_set_pool(q), EBUSY);   /* it stays where it is */
    ck_assert_int_eq(pr_event_set_pool(p), 0);
    ck_assert_int_eq(pr_event_unregister(NULL, NULL, NULL), 0);
    ck_assert_fails(pr_event_unregister(NULL, NULL, NULL), ENOENT);     /* emptied */
    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb1, a), 0);
    apr_pool_destroy(p);
    /* as new: never used */
    ck_assert_int_eq(pr_event_listening("e"), 0);
    ck_assert_int_eq(pr_event_unregister(NULL, NULL, NULL), 0);
    pr_event_generate("e", NULL);
    ck_assert_int_eq(a->calls, 0);
    dump();
    ck_assert_str_eq(DUMP[0], "No events registered");
    /* p is forgotten: name another pool, register again */
    ck_assert_int_eq(pr_event_set_pool(q), 0);
    ck_assert_int_eq(pr_event_register(&mod_alpha, "e", cb1, a), 0);
    pr_event_generate("e", NULL);
    ck_assert_int_eq(a->calls, 1);
    apr_pool_clear(q);          /* clearing resets too */
    ck_assert_int_eq(pr_event_unregister(NULL, NULL, NULL), 0);
}
END_TEST

static void destroy_registry_pool(actor_t *self)
{
    apr_pool_destroy(self->pool);
}

START_TEST(registry_reset_inside_dispatch)
{
    apr_pool_t *p = pt_subpool(pt_pool);
    actor_t *a = actor(1), *b = actor(2);

    ck_assert_int_eq(pr_event_set_pool(p), 0);
    ck_assert_int_eq(pr_event_register(NULL, "e", cb1, a), 0);
    ck_assert_int_eq(pr_event_register(NULL, "e", cb2, b), 0);
    a->action = destroy_registry_pool;
    a->pool = p;
    pr_event_generate("e", NULL);
    ck_assert_log(&LOG, 1);
    ck_assert_int_eq(pr_event_listening("e"), 0);
    ck_assert_int_eq(pr_event_unregister(NULL, NULL, NULL), 0);
    ck_assert_int_eq(pr_event_set_pool(pt_pool), 0);
}
END_TEST

/* ======================================================================== */
/* A process that never called APR                                          */

START_TEST(works_in_a_process_that_never_called_apr)
{
    ck_assert_int_eq(pt_run_self("--bare"), 0);
}
END_TEST

START_TEST(named_pool_destroyed_before_first_registration_is_forgotten)
{
    ck_assert_int_eq(pt_run_self("--default-parent"), 0);
}
END_TEST

static int bare_calls;

static void bare_cb(const void *event_data, void *user_data)
{
    (void) user_data;
    if (event_data && strcmp(event_data, "hi") == 0)
        bare_calls++;
}

/* No APR call of our own: the layer initializes what it needs. */
static int bare_main(void)
{
    static module mod_bare = { .name = "bare" };

    PT_MODE_CHECK(pr_event_unregister(NULL, NULL, NULL) == 0);
    PT_MODE_CHECK(pr_event_listening("e") == 0);
    PT_MODE_CHECK(pr_event_register(&mod_bare, "e", bare_cb, NULL) == 0);
    PT_MODE_CHECK(pr_event_listening("e") == 1);
    pr_event_generate("e", "hi");
    PT_MODE_CHECK(bare_calls == 1);
    NDUMP = 0;
    pr_event_dump(dumpf);
    PT_MODE_CHECK(NDUMP == 2 && strcmp(DUMP[1], "  mod_bare.c") == 0);
    PT_MODE_CHECK(pr_event_unregister(&mod_bare, NULL, NULL) == 0);
    return 0;
}

/* pr_event_set_pool(p), then p goes before any registration: the registry
 * must not be created under the dead pool (ASan or valgrind would see it). */
static int default_parent_main(void)
{
    apr_pool_t *p;

    PT_MODE_CHECK(apr_initialize() == APR_SUCCESS);
    PT_MODE_CHECK(apr_pool_create(&p, NULL) == APR_SUCCESS);
    PT_MODE_CHECK(pr_event_set_pool(p) == 0);
    apr_pool_destroy(p);
    PT_MODE_CHECK(pr_event_register(NULL, "e", bare_cb, NULL) == 0);
    pr_event_generate("e", "hi");
    PT_MODE_CHECK(bare_calls == 1);
    PT_MODE_CHECK(pr_event_set_pool(NULL) == 0);   /* it lives under the default */
    apr_terminate();
    return 0;
}

/* ======================================================================== */

static Suite *compat_proftpd_suite(void)
{
    Suite *s = suite_create("compat_proftpd");
    TCase *tc = tcase_create("rules");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, empty_registry_values);
    tcase_add_test(tc, populated_registry_values);
    tcase_add_test(tc, emptied_registry_values);
    tcase_add_test(tc, same_callback_on_event_is_eexist);
    tcase_add_test(tc, unregister_null_means_any);
    tcase_add_test(tc, dispatch_order_modules_newest_first_then_core);
    tcase_add_test(tc, dump_lines);
    tcase_add_test(tc, unregistered_during_dispatch_not_called);
    tcase_add_test(tc, listener_pool_destroyed_during_dispatch_not_called);
    tcase_add_test(tc, registered_during_dispatch_not_called);
    tcase_add_test(tc, nested_generation_bounded);
    tcase_add_test(tc, register_pool_unregisters_with_pool);
    tcase_add_test(tc, registry_resets_with_its_pool);
    tcase_add_test(tc, registry_reset_inside_dispatch);
    tcase_add_test(tc, works_in_a_process_that_never_called_apr);
    tcase_add_test(tc, named_pool_destroyed_before_first_registration_is_forgotten);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    static const pt_mode_t modes[] = {
        { "--bare", bare_main }, { "--default-parent", default_parent_main }, { NULL, NULL }
    };

    return pt_main(argc, argv, compat_proftpd_suite, modes);
}
