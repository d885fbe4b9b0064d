/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * restart_safe.c - a restart-safe module registration, in a few lines.
 *
 * A "module" keeps per-generation state (a greeting, a counter) in memory from
 * the generation pool (the pool that lives while the generation is current)
 * and registers listeners whose user_data points into it. Every restart destroys that pool. In daemons built on the
 * ProFTPD or Cyrus runtimes the module must remember to unregister first, or
 * the next event calls it with a dangling pointer. Here the registrations are
 * bound to the generation pool, so the restart removes them before the
 * memory goes; the module simply registers again for the new generation.
 *
 * Run: ./examples/restart_safe   (or: make demo)
 */
#include <stdio.h>
#include <stdlib.h>

#include <apr_general.h>
#include <apr_strings.h>
#include <poolev.h>

typedef struct {
    const char *greeting;   /* per-generation configuration */
    int seen;               /* per-generation state */
    int generation;
} greeter_t;

static void on_hello(const void *event_data, void *user_data)
{
    greeter_t *g = user_data;

    g->seen++;
    printf("  [gen %d] %s, %s (message %d of this generation)\n", g->generation,
           g->greeting, (const char *) event_data, g->seen);
}

static void on_restart(const void *event_data, void *user_data)
{
    greeter_t *g = user_data;

    (void) event_data;
    printf("  [gen %d] core.restart heard: saw %d messages, state goes with the pool\n",
           g->generation, g->seen);
}

/* The module's init: everything it registers is bound to @a conf. */
static apr_status_t greeter_init(pev_bus_t *bus, pev_module_t *mod, apr_pool_t *conf,
                                 int generation, const char *greeting)
{
    greeter_t *g = apr_pcalloc(conf, sizeof *g);
    apr_status_t st;

    g->greeting = apr_pstrdup(conf, greeting);
    g->generation = generation;
    st = pev_event_register(NULL, bus, mod, "app.hello", on_hello, g, conf);
    if (st == APR_SUCCESS)
        st = pev_event_register(NULL, bus, mod, "core.restart", on_restart, g, conf);
    return st;
}

static int fail(const char *what, apr_status_t st)
{
    char buf[256];

    fprintf(stderr, "restart_safe: %s: %s\n", what, pev_strerror(st, buf, sizeof buf));
    return EXIT_FAILURE;
}

int main(void)
{
    static const char *greetings[] = { "Hello", "Bonjour", "Hallo" };
    apr_pool_t *process, *conf;
    pev_bus_t *bus;
    pev_module_t *mod;
    apr_status_t st;
    int gen;

    if (apr_initialize() != APR_SUCCESS)
        return EXIT_FAILURE;
    atexit(apr_terminate);
    apr_pool_create(&process, NULL);
    if ((st = pev_bus_create(&bus, process)) != APR_SUCCESS)
        return fail("pev_bus_create", st);
    if ((st = pev_module_add(&mod, bus, "mod_greeter")) != APR_SUCCESS)
        return fail("pev_module_add", st);

    printf("poolev %s: restart-safe registrations\n", POOLEV_VERSION_STRING);
    for (gen = 1; gen <= 3; gen++) {
        apr_pool_create(&conf, process);
        printf("generation %d: generation pool created, module registers\n", gen);
        if ((st = greeter_init(bus, mod, conf, gen, greetings[gen - 1])) != APR_SUCCESS)
            return fail("greeter_init", st);
        printf("  listeners on app.hello: %d\n", pev_event_listening(bus, "app.hello"));
        pev_event_generate(bus, "app.hello", "world");
        pev_event_generate(bus, "app.hello", "again");

        printf("restart: generate core.restart, then destroy the generation pool\n");
        pev_event_generate(bus, "core.restart", NULL);
        apr_pool_destroy(conf);
        printf("  listeners on app.hello after the restart: %d (no unregister call)\n",
               pev_event_listening(bus, "app.hello"));
        /* with a dangling registration this would touch freed memory */
        pev_event_generate(bus, "app.hello", "nobody should hear this");
    }
    apr_pool_destroy(process);
    printf("done: 3 generations, no stale callback, nothing to unregister by hand\n");
    return EXIT_SUCCESS;
}
