/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_daemon.c - the daemon lifecycle: event sequence per generation,
 * deferred restarts, bad reloads, shutdown order, configuration errors,
 * listening sockets across restarts, connections across restarts, and
 * 1,000 restarts with no stale callback and no memory growth.
 */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <signal.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <apr_allocator.h>
#include <apr_strings.h>
#include <poolev.h>

#include "harness.h"

enum {
    L_PREPARSE = 1, L_PARSE, L_INIT_A, L_INIT_B, L_POSTPARSE, L_STARTUP, L_RESTART,
    L_SHUTDOWN, L_EXIT, L_CONN_OPEN, L_CONN_CLOSE, L_GENPOOL_GONE, L_PING_A, L_PING_B,
    L_CONF_GONE
};

static pt_log_t tlog;

/* ------------------------------------------------------------------------ */
/* Two test modules                                                          */

typedef struct {
    const char *greeting;
    long value;
    int fail_init;
    int restart_in_init;
    int check_fail;
    int run_loop_in_init;
} alpha_conf_t;

#define ALPHA_MAGIC 0x616c7068u

typedef struct {
    unsigned magic;
    unsigned gen;
    pev_daemon_t *d;
    int calls;
} alpha_state_t;

static alpha_state_t *alpha_current;   /* state of the current generation */
static long ping_calls, stale_calls;
static apr_uint64_t init_loop_iterations; /* RunLoopInInit: iterations it ran */

static const char *alpha_defaults(pev_gen_t *gen, void *mconf)
{
    alpha_conf_t *c = mconf;

    (void) gen;
    c->greeting = "hello";
    c->value = 1;
    return NULL;
}

static const char *alpha_greeting(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    alpha_conf_t *c = mconf;

    (void) gen;
    (void) argc;
    c->greeting = argv[1];
    pt_log_add(&tlog, L_PARSE);
    return NULL;
}

static const char *alpha_value(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    alpha_conf_t *c = mconf;

    (void) gen;
    (void) argc;
    return pev_parse_long(argv[1], 0, 1000, &c->value);
}

static const char *alpha_fail(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    (void) gen;
    (void) argc;
    (void) argv;
    ((alpha_conf_t *) mconf)->fail_init = 1;
    return NULL;
}

static const char *alpha_refuse(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    (void) gen;
    (void) mconf;
    (void) argc;
    (void) argv;
    return "never accepted";
}

static const char *alpha_words(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    alpha_conf_t *c = mconf;
    int i;

    c->greeting = "";
    for (i = 1; i < argc; i++)
        c->greeting = apr_pstrcat(pev_gen_conf_pool(gen), c->greeting, i > 1 ? "|" : "",
                                  argv[i], NULL);
    return NULL;
}

static const char *alpha_restart_in_init(pev_gen_t *gen, void *mconf, int argc,
                                         char *argv[])
{
    (void) gen;
    (void) argc;
    (void) argv;
    ((alpha_conf_t *) mconf)->restart_in_init = 1;
    return NULL;
}

static const char *alpha_check_fail(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    (void) gen;
    (void) argc;
    (void) argv;
    ((alpha_conf_t *) mconf)->check_fail = 1;
    return NULL;
}

static int check_calls;

/* The module's check: refuses a configuration with CheckFail. */
static const char *alpha_check(pev_gen_t *gen, void *mconf)
{
    alpha_conf_t *c = mconf;

    check_calls++;
    if (c->check_fail)
        return apr_psprintf(pev_gen_shared_pool(gen), "CheckFail was given (greeting %s)",
                            c->greeting);
    return NULL;
}

static const char *alpha_run_loop_in_init(pev_gen_t *gen, void *mconf, int argc,
                                          char *argv[])
{
    (void) gen;
    (void) argc;
    (void) argv;
    ((alpha_conf_t *) mconf)->run_loop_in_init = 1;
    return NULL;
}

static void set_flag(pev_timer_t *t, void *user_data)
{
    (void) t;
    *(int *) user_data = 1;
}

/* An init that runs the daemon's loop until a 30 ms timer fires (as a module
 * that waits for a backend during its init would), and counts the
 * iterations: the timer is the only thing left to wait for, so an idle
 * loop needs a handful of them. */
static void run_loop_for_a_while(pev_loop_t *loop, apr_pool_t *pool)
{
    apr_uint64_t first = pt_loop_iterations(loop);
    int fired = 0, n;

    ck_assert_int_eq(pev_timer_add_in(NULL, loop, 30000, set_flag, &fired, pool),
                     APR_SUCCESS);
    for (n = 0; !fired && n < 1000000; n++)
        ck_assert_int_eq(pev_loop_run_once(loop, 100000), APR_SUCCESS);
    ck_assert(fired);
    init_loop_iterations = pt_loop_iterations(loop) - first;
}

static const pev_directive_t alpha_directives[] = {
    { "Greeting", 1, 1, alpha_greeting, "TEXT" },
    { "Value", 1, 1, alpha_value, "N" },
    { "FailInit", 0, 0, alpha_fail, NULL },
    { "Refuse", 0, PEV_ARGS_ANY, alpha_refuse, NULL },
    { "Words", 1, 3, alpha_words, "WORD..." },
    { "RestartInInit", 0, 0, alpha_restart_in_init, NULL },
    { "CheckFail", 0, 0, alpha_check_fail, NULL },
    { "RunLoopInInit", 0, 0, alpha_run_loop_in_init, NULL },
    { NULL, 0, 0, NULL, NULL }
};

static void alpha_ping(const void *event_data, void *user_data)
{
    alpha_state_t *st = user_data;

    (void) event_data;
    /* a stale callback reads freed memory here: ASan and valgrind see it,
     * and the checks below see a wrong generation */
    if (st->magic != ALPHA_MAGIC || st != alpha_current
        || st->gen != pev_gen_number(pev_daemon_gen(st->d)))
        stale_calls++;
    st->calls++;
    ping_calls++;
    pt_log_add(&tlog, L_PING_A);
}

static apr_status_t log_genpool_gone(void *data)
{
    (void) data;
    pt_log_add(&tlog, L_GENPOOL_GONE);
    return APR_SUCCESS;
}

static apr_status_t alpha_state_gone(void *data)
{
    alpha_state_t *st = data;

    if (alpha_current == st)
        alpha_current = NULL;
    st->magic = 0;
    return APR_SUCCESS;
}

static apr_status_t alpha_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    alpha_conf_t *c = mconf;
    apr_pool_t *gp = pev_gen_pool(gen);
    pev_daemon_t *d = pev_gen_daemon(gen);
    alpha_state_t *st;

    pt_log_add(&tlog, L_INIT_A);
    if (c->fail_init)
        return pev_gen_fail(gen, APR_EGENERAL, "FailInit was given");
    if (c->restart_in_init)
        pev_daemon_restart(d);
    if (c->run_loop_in_init)
        run_loop_for_a_while(pev_daemon_loop(d), gp);
    st = apr_pcalloc(gp, sizeof *st);
    st->magic = ALPHA_MAGIC;
    st->gen = pev_gen_number(gen);
    st->d = d;
    alpha_current = st;
    apr_pool_cleanup_register(gp, st, alpha_state_gone, apr_pool_cleanup_null);
    apr_pool_cleanup_register(gp, NULL, log_genpool_gone, apr_pool_cleanup_null);
    return pev_event_register(NULL, pev_daemon_bus(d), mod, "app.ping", alpha_ping, st, gp);
}

static const pev_module_def_t alpha_def = {
    .name = "alpha", .conf_size = sizeof(alpha_conf_t), .defaults = alpha_defaults,
    .directives = alpha_directives, .init = alpha_init, .check = alpha_check
};

static void beta_ping(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    pt_log_add(&tlog, L_PING_B);
}

static apr_status_t beta_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    (void) mconf;
    pt_log_add(&tlog, L_INIT_B);
    return pev_event_register(NULL, pev_daemon_bus(pev_gen_daemon(gen)), mod,
                              "app.ping", beta_ping, NULL, pev_gen_pool(gen));
}

static const pev_module_def_t beta_def = { .name = "beta", .init = beta_init };

static const pev_module_def_t *const test_modules[] = { &alpha_def, &beta_def, NULL };

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static char tmpdir[64];
/* The daemons' process pool. Its allocator keeps no free blocks, so memory
 * of a destroyed pool goes back at once and a use after free faults (or is
 * reported by ASan and valgrind) instead of reading stale but intact data. */
static apr_pool_t *dpool;
static char conf_path[128];

static void write_conf(const char *text)
{
    FILE *f = fopen(conf_path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
    apr_allocator_t *a;

    pt_setup();
    ck_assert_int_eq(apr_allocator_create(&a), APR_SUCCESS);
    apr_allocator_max_free_set(a, 1);
    ck_assert_int_eq(apr_pool_create_ex(&dpool, NULL, NULL, a), APR_SUCCESS);
    apr_allocator_owner_set(a, dpool);
    pt_log_reset(&tlog);
    alpha_current = NULL;
    ping_calls = stale_calls = 0;
    strcpy(tmpdir, "/tmp/poolev-daemon-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(conf_path, sizeof conf_path, "%s/test.conf", tmpdir);
}

static void teardown(void)
{
    apr_pool_destroy(dpool);
    pt_teardown();
    unlink(conf_path);
    rmdir(tmpdir);
}

static void log_event(const void *event_data, void *user_data)
{
    (void) event_data;
    pt_log_add(&tlog, (int) (intptr_t) user_data);
}

static void quiet_log(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
}

/* A daemon on @a config (text) or the test file; no signals; a configuration
 * without Listen accepted (PEV_DAEMON_NO_LISTEN_OK); lifecycle events logged
 * by core listeners; log messages swallowed. */
static pev_daemon_t *make_daemon_with(const pev_module_def_t *const *modules,
                                      const char *config, int use_file, int flags);

static pev_daemon_t *make_daemon(const char *config, int use_file, int flags)
{
    return make_daemon_with(test_modules, config, use_file, flags | PEV_DAEMON_NO_LISTEN_OK);
}

/* make_daemon() with @a modules, and without PEV_DAEMON_NO_LISTEN_OK unless
 * @a flags has it. */
static pev_daemon_t *make_daemon_with(const pev_module_def_t *const *modules,
                                      const char *config, int use_file, int flags)
{
    static const struct { const char *ev; int v; } evs[] = {
        { PEV_EVENT_PREPARSE, L_PREPARSE }, { PEV_EVENT_POSTPARSE, L_POSTPARSE },
        { PEV_EVENT_STARTUP, L_STARTUP }, { PEV_EVENT_RESTART, L_RESTART },
        { PEV_EVENT_SHUTDOWN, L_SHUTDOWN }, { PEV_EVENT_EXIT, L_EXIT },
        { PEV_EVENT_CONN_OPEN, L_CONN_OPEN }, { PEV_EVENT_CONN_CLOSE, L_CONN_CLOSE },
    };
    pev_daemon_options_t o;
    pev_daemon_t *d;
    pev_bus_t *bus;
    unsigned i;

    memset(&o, 0, sizeof o);
    o.name = "testd";
    o.modules = modules;
    o.default_config = config;
    o.config_file = use_file ? conf_path : NULL;
    o.shutdown_grace = 200000;
    o.flags = flags | PEV_DAEMON_NO_SIGNALS;
    if (use_file)
        write_conf(config);
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_SUCCESS);
    bus = pev_daemon_bus(d);
    for (i = 0; i < sizeof evs / sizeof evs[0]; i++)
        ck_assert_int_eq(pev_event_register(NULL, bus, NULL, evs[i].ev,
                                            log_event, (void *) (intptr_t) evs[i].v, NULL),
                         APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, PEV_EVENT_LOG, quiet_log, NULL,
                                        NULL), APR_SUCCESS);
    return d;
}

/* The next line from @a c while the daemon runs; at the end of input, what
 * came after the last line end ("" when nothing did). */
static const char *cli_line(pev_daemon_t *d, lc_client_t *c)
{
    const char *l;

    PT_DAEMON_UNTIL(d, lc_ready(c, 0));
    l = lc_line(c, 0);
    if (l)
        return l;
    ck_assert(c->eof);
    memcpy(c->line, c->buf, c->len);
    c->line[c->len] = '\0';
    c->len = 0;
    return c->line;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */

START_TEST(test_start_sequence)
{
    pev_daemon_t *d = make_daemon("# comment\nGreeting hi\n", 0, 0);
    pev_gen_t *gen;
    alpha_conf_t *c;

    ck_assert_ptr_null(pev_daemon_gen(d));
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_log(&tlog, L_PREPARSE, L_PARSE, L_INIT_A, L_INIT_B, L_POSTPARSE, L_STARTUP);
    gen = pev_daemon_gen(d);
    ck_assert_uint_eq(pev_gen_number(gen), 1);
    ck_assert(pev_gen_is_current(gen));
    c = pev_gen_module_conf(gen, &alpha_def);
    ck_assert_str_eq(c->greeting, "hi");
    ck_assert_int_eq(c->value, 1);
    ck_assert_ptr_null(pev_gen_module_conf(gen, &beta_def));
    ck_assert_int_eq(pev_daemon_start(d), PEV_EBUSY);
    /* listeners run in module load order */
    pt_log_reset(&tlog);
    pev_event_generate(pev_daemon_bus(d), "app.ping", NULL);
    ck_assert_log(&tlog, L_PING_A, L_PING_B);
}
END_TEST

START_TEST(test_restart_sequence)
{
    pev_daemon_t *d = make_daemon("Greeting one\n", 1, 0);
    pev_gen_t *g1;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    g1 = pev_daemon_gen(d);
    apr_pool_cleanup_register(pev_gen_conf_pool(g1), NULL, log_genpool_gone,
                              apr_pool_cleanup_null);
    write_conf("Greeting two\n");
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    /* checked parse, restart, the old generation's pools go (its
     * registrations first), then the next generation */
    ck_assert_log(&tlog, L_PARSE, L_RESTART, L_GENPOOL_GONE, L_GENPOOL_GONE, L_PREPARSE,
                  L_PARSE, L_INIT_A, L_INIT_B, L_POSTPARSE);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    ck_assert_str_eq(((alpha_conf_t *) pev_gen_module_conf(pev_daemon_gen(d), &alpha_def))
                     ->greeting, "two");
    pt_log_reset(&tlog);
    pev_event_generate(pev_daemon_bus(d), "app.ping", NULL);
    ck_assert_log(&tlog, L_PING_A, L_PING_B);
    ck_assert_int_eq(stale_calls, 0);
}
END_TEST

static pev_daemon_t *restart_daemon;
static unsigned gen_seen_after_request;

static void restart_from_listener(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    ck_assert_int_eq(pev_daemon_restart(restart_daemon), APR_SUCCESS);
    gen_seen_after_request = pev_gen_number(pev_daemon_gen(restart_daemon));
}

static void restart_from_timer(pev_timer_t *t, void *user_data)
{
    (void) t;
    restart_from_listener(NULL, user_data);
    /* the daemon's run functions do not nest */
    ck_assert_int_eq(pev_daemon_run_once(restart_daemon, 0), PEV_EBUSY);
    ck_assert_int_eq(pev_daemon_run(restart_daemon), PEV_EBUSY);
}

START_TEST(test_restart_deferred)
{
    pev_daemon_t *d = make_daemon("Greeting x\n", 0, 0);
    pev_timer_t *t;

    restart_daemon = d;
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL,
                                        "app.restart", restart_from_listener, NULL, NULL),
                     APR_SUCCESS);
    pt_log_reset(&tlog);
    pev_event_generate(pev_daemon_bus(d), "app.restart", NULL);
    /* requested from a listener: nothing happened yet */
    ck_assert_uint_eq(gen_seen_after_request, 1);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    ck_assert_int_eq(tlog.n, 0);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);

    /* from a loop callback (a timer): runs after the iteration */
    ck_assert_int_eq(pev_timer_add_in(&t, pev_daemon_loop(d), 0, restart_from_timer, NULL,
                                      NULL), APR_SUCCESS);
    PT_DAEMON_UNTIL(d, pev_gen_number(pev_daemon_gen(d)) == 3);
    ck_assert_uint_eq(gen_seen_after_request, 2);
    ck_assert_int_eq(stale_calls, 0);
}
END_TEST

START_TEST(test_restart_requested_in_init)
{
    pev_daemon_t *d = make_daemon("Greeting x\n", 1, 0);

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    /* a restart asked for inside a restart's init runs after it */
    write_conf("RestartInInit\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    write_conf("Greeting y\n");
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 3);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 3);
    ck_assert_int_eq(stale_calls, 0);
}
END_TEST

START_TEST(test_bad_reload_keeps_generation)
{
    pev_daemon_t *d = make_daemon("Greeting one\n", 1, 0);
    pev_gen_t *g1;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    g1 = pev_daemon_gen(d);
    write_conf("Greeting two\nNoSuchThing 1\n");
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_ptr_eq(pev_daemon_gen(d), g1);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "test.conf:2: unknown directive 'NoSuchThing'"));
    /* no restart event: the running generation never noticed */
    ck_assert_log(&tlog, L_PARSE);
    pt_log_reset(&tlog);
    pev_event_generate(pev_daemon_bus(d), "app.ping", NULL);
    ck_assert_log(&tlog, L_PING_A, L_PING_B);
    ck_assert_str_eq(((alpha_conf_t *) pev_gen_module_conf(g1, &alpha_def))->greeting, "one");

    /* a file that vanished is a failed reload too */
    unlink(conf_path);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_ptr_eq(pev_daemon_gen(d), g1);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "cannot open"));

    /* and a good file after that works */
    write_conf("Greeting three\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
}
END_TEST

/* A connection that waits while an init runs the loop (no generation can
 * take it yet) must not make every iteration return at once: the listening
 * socket is not polled while the daemon declines to accept, and is polled
 * again once the generation runs, so the connection is served then. */
START_TEST(test_waiting_connection_does_not_spin_init_loop)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 1, 0);
    lc_client_t *c;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    write_conf("Listen 127.0.0.1:0\nRunLoopInInit\n");
    c = pt_client(pev_daemon_port(d, 0), 0);
    ck_assert_ptr_nonnull(c);
    /* the restart runs before the next iteration, so the connection is
     * still in the backlog when the init runs the loop */
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    ck_assert_int_eq(pt_log_count(&tlog, L_CONN_OPEN), 0);
    /* one iteration reports the socket (and pauses it), the rest wait for
     * the timer; a socket polled all along makes every one return at once */
    ck_assert_msg(init_loop_iterations <= 5, "the init's loop ran %lu iterations",
                  (unsigned long) init_loop_iterations);
    /* the generation runs: the socket is polled again, the connection taken */
    PT_DAEMON_UNTIL(d, pt_log_count(&tlog, L_CONN_OPEN) == 1);
}
END_TEST

START_TEST(test_failed_init_on_restart_stops)
{
    pev_daemon_t *d = make_daemon("Greeting one\n", 1, 0);

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    write_conf("FailInit\n");
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_EGENERAL);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "module alpha: FailInit was given"));
    ck_assert_ptr_null(pev_daemon_gen(d));
    ck_assert_int_eq(pev_daemon_run_once(d, 0), PEV_ECLOSED);
    ck_assert_int_eq(pev_daemon_restart(d), PEV_ECLOSED);
}
END_TEST

/* Out of descriptors, accepting pauses for 100 ms (the listening socket
 * stays readable: polling it on would spin), then resumes and takes the
 * connection that waited. */
START_TEST(test_accept_pauses_when_out_of_descriptors)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 0, 0);
    struct rlimit saved, low;
    const char *preload = getenv("LD_PRELOAD");
    apr_time_t t0;
    int fd;

    /* valgrind emulates the limit: it lets the kernel accept, then closes
     * the new descriptor, and the connection is lost. The test needs the
     * kernel's own limit. */
    if (preload && strstr(preload, "vgpreload"))
        return;
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    pt_log_reset(&tlog);
    ck_assert_ptr_nonnull(pt_client(pev_daemon_port(d, 0), 0));
    /* the lowest free descriptor becomes the limit: accept gets EMFILE */
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    fd = dup(0);
    ck_assert_int_ge(fd, 0);
    close(fd);
    low = saved;
    low.rlim_cur = (rlim_t) fd;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    t0 = pev_clock_monotonic();
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    ck_assert_int_eq(tlog.n, 0);
    /* paused: the waiting connection is not taken before the 100 ms */
    while (pev_clock_monotonic() - t0 < 50000)
        ck_assert_int_eq(pev_daemon_run_once(d, 5000), APR_SUCCESS);
    ck_assert_int_eq(tlog.n, 0);
    PT_DAEMON_UNTIL(d, pt_log_count(&tlog, L_CONN_OPEN) == 1);
    ck_assert_int_ge(pev_clock_monotonic() - t0, 90000);
}
END_TEST

START_TEST(test_shutdown_order)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 0, 0);
    apr_port_t port;
    lc_client_t *cl;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    port = pev_daemon_port(d, 0);
    ck_assert_uint_ne(port, 0);
    pt_log_reset(&tlog);
    cl = pt_client(port, 0);
    /* nobody took it: closed at once */
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 0 && tlog.n == 2);
    pt_log_reset(&tlog);
    lc_close(cl, 0);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
    ck_assert_log(&tlog, L_SHUTDOWN, L_EXIT, L_GENPOOL_GONE);
    ck_assert_ptr_null(pev_daemon_gen(d));
    ck_assert_int_eq(pev_daemon_run(d), PEV_ECLOSED);
    ck_assert_int_eq(pev_daemon_restart(d), PEV_ECLOSED);
    /* the listening socket is closed */
    ck_assert_ptr_null(lc_connect(port, 0));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Configuration errors at start                                             */

static void expect_start_error(const char *config, apr_status_t want, const char *msg)
{
    pev_daemon_t *d = make_daemon(config, 1, 0);
    apr_status_t st = pev_daemon_start(d);

    ck_assert_msg(st == want, "start gave %d, want %d (%s)", st, want, pev_daemon_error(d));
    ck_assert_msg(strstr(pev_daemon_error(d), msg) != NULL, "error '%s' lacks '%s'",
                  pev_daemon_error(d), msg);
    ck_assert_ptr_null(pev_daemon_gen(d));
    ck_assert_int_eq(pev_daemon_run_once(d, 0), PEV_ECLOSED);
}

START_TEST(test_config_errors)
{
    expect_start_error("Greeting a\nBogus x\n", PEV_ECONFIG, "test.conf:2: unknown directive 'Bogus'");
    expect_start_error("\n\nGreeting\n", PEV_ECONFIG,
                       "test.conf:3: Greeting takes exactly 1 argument (TEXT), 0 given");
    expect_start_error("Greeting a b\n", PEV_ECONFIG, "test.conf:1: Greeting takes exactly 1 argument");
    expect_start_error("Words a b c d\n", PEV_ECONFIG, "Words takes 1 to 3 arguments (WORD...), 4 given");
    expect_start_error("Value 1001\n", PEV_ECONFIG, "test.conf:1: Value: number out of range");
    expect_start_error("Value x\n", PEV_ECONFIG, "Value: expects a whole number");
    expect_start_error("Refuse\n", PEV_ECONFIG, "test.conf:1: Refuse: never accepted");
    expect_start_error("Greeting \"open\n", PEV_ECONFIG, "test.conf:1: unterminated quoted string");
    expect_start_error("Greeting a\"b\n", PEV_ECONFIG, "a quote inside a word");
    expect_start_error("Listen nowhere\n", PEV_ECONFIG, "Listen: expects [HOST:]PORT");
    expect_start_error("Listen 127.0.0.1:0\nListen 127.0.0.1:0\n", PEV_ECONFIG, "listed twice");
    expect_start_error("FailInit\n", APR_EGENERAL, "module alpha: FailInit was given");
    unlink(conf_path);
    {
        pev_daemon_t *d = make_daemon("", 0, 0);

        ck_assert_int_eq(pev_daemon_set_config_file(d, conf_path), APR_SUCCESS);
        ck_assert_int_ne(pev_daemon_start(d), APR_SUCCESS);
        ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "test.conf: cannot open"));
    }
}
END_TEST

START_TEST(test_check_config)
{
    pev_daemon_t *d = make_daemon("Greeting a\nListen 127.0.0.1:0\n", 1, 0);

    ck_assert_int_eq(pev_daemon_check_config(d), APR_SUCCESS);
    /* nothing started, nothing generated, nothing opened */
    ck_assert_int_eq(tlog.n, 1);            /* the Greeting handler ran */
    ck_assert_int_eq(tlog.v[0], L_PARSE);
    ck_assert_ptr_null(pev_daemon_gen(d));
    ck_assert_uint_eq(pev_daemon_port(d, 0), 0);
    write_conf("Greeting a\nValue -1\n");
    ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "test.conf:2: Value: number out of range"));
    ck_assert_int_eq(pev_daemon_check_config(NULL), APR_EINVAL);
}
END_TEST

START_TEST(test_config_syntax)
{
    pev_daemon_t *d = make_daemon("  # indented comment\n\n\tgreeting \"a \\\"quoted\\\" \\\\ text\" # trailing\r\n"
                                  "WORDS x \"y z\" w\nvalue 7\n", 0, 0);
    alpha_conf_t *c;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    c = pev_gen_module_conf(pev_daemon_gen(d), &alpha_def);
    /* Words came after Greeting and replaced it */
    ck_assert_str_eq(c->greeting, "x|y z|w");
    ck_assert_int_eq(c->value, 7);
}
END_TEST

START_TEST(test_config_quotes)
{
    pev_daemon_t *d = make_daemon("Greeting \"a \\\"quoted\\\" \\\\ text\"", 0, 0);
    alpha_conf_t *c;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    c = pev_gen_module_conf(pev_daemon_gen(d), &alpha_def);
    ck_assert_str_eq(c->greeting, "a \"quoted\" \\ text");
}
END_TEST

START_TEST(test_create_errors)
{
    static const pev_directive_t dup[] = { { "listen", 1, 1, alpha_greeting, NULL },
                                           { NULL, 0, 0, NULL, NULL } };
    static const pev_module_def_t dupdef = { .name = "dup", .directives = dup };
    static const pev_module_def_t *const dupmods[] = { &dupdef, NULL };
    static const pev_module_def_t *const twice[] = { &alpha_def, &alpha_def, NULL };
    pev_daemon_options_t o;
    pev_daemon_t *d;

    memset(&o, 0, sizeof o);
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_EINVAL);
    o.default_config = "";
    ck_assert_int_eq(pev_daemon_create(NULL, &o, pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_daemon_create(&d, NULL, pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_daemon_create(&d, &o, NULL), APR_EINVAL);
    o.modules = dupmods;
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_EEXIST);
    o.modules = twice;
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_EEXIST);
    o.modules = NULL;
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_restart(d), PEV_EBUSY);
    ck_assert_int_eq(pev_daemon_set_config_file(d, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_daemon_run(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_daemon_stop(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_daemon_restart(NULL), APR_EINVAL);
    ck_assert_ptr_null(pev_daemon_bus(NULL));
    ck_assert_uint_eq(pev_daemon_port(d, 0), 0);
    ck_assert_uint_eq(pev_gen_number(NULL), 0);
}
END_TEST

START_TEST(test_parse_helpers)
{
    long v;
    apr_interval_time_t t;

    ck_assert_ptr_null(pev_parse_long("42", 0, 100, &v));
    ck_assert_int_eq(v, 42);
    ck_assert_ptr_null(pev_parse_long("-5", -10, 0, &v));
    ck_assert_int_eq(v, -5);
    ck_assert_ptr_nonnull(pev_parse_long("101", 0, 100, &v));
    ck_assert_ptr_nonnull(pev_parse_long("4x", 0, 100, &v));
    ck_assert_ptr_nonnull(pev_parse_long("", 0, 100, &v));
    ck_assert_ptr_nonnull(pev_parse_long(" 4", 0, 100, &v));
    ck_assert_ptr_nonnull(pev_parse_long("99999999999999999999", 0, LONG_MAX, &v));
    ck_assert_ptr_null(pev_parse_interval("30", &t));
    ck_assert_int_eq(t, 30 * APR_USEC_PER_SEC);
    ck_assert_ptr_null(pev_parse_interval("1500ms", &t));
    ck_assert_int_eq(t, 1500000);
    ck_assert_ptr_null(pev_parse_interval("0.5s", &t));
    ck_assert_int_eq(t, 500000);
    ck_assert_ptr_null(pev_parse_interval("5m", &t));
    ck_assert_int_eq(t, 300 * APR_USEC_PER_SEC);
    ck_assert_ptr_null(pev_parse_interval("2h", &t));
    ck_assert_int_eq(t, 7200 * APR_USEC_PER_SEC);
    ck_assert_ptr_nonnull(pev_parse_interval("-1", &t));
    ck_assert_ptr_nonnull(pev_parse_interval("5d", &t));
    ck_assert_ptr_nonnull(pev_parse_interval("", &t));
    ck_assert_ptr_nonnull(pev_parse_interval("9000h", &t));
    ck_assert_ptr_nonnull(pev_parse_interval("0x10", &t));
    ck_assert_ptr_nonnull(pev_parse_interval("1e3", &t));
    ck_assert_ptr_nonnull(pev_parse_interval("1.2.3", &t));
    ck_assert_ptr_nonnull(pev_parse_interval("1 s", &t));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Listening sockets and connections                                         */

START_TEST(test_address_in_use)
{
    pev_daemon_t *a = make_daemon("Listen 127.0.0.1:0\n", 0, 0);
    pev_daemon_t *b;
    char conf[64];
    apr_port_t port;

    ck_assert_int_eq(pev_daemon_start(a), APR_SUCCESS);
    port = pev_daemon_port(a, 0);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nListen 127.0.0.1:%u\n", (unsigned) port);
    b = make_daemon(conf, 0, 0);
    ck_assert_int_ne(pev_daemon_start(b), APR_SUCCESS);
    snprintf(conf, sizeof conf, "cannot bind 127.0.0.1:%u: ", (unsigned) port);
    ck_assert_msg(strstr(pev_daemon_error(b), conf) != NULL, "error: %s", pev_daemon_error(b));
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(b), "in use"));
    /* nothing of b stays open */
    ck_assert_uint_eq(pev_daemon_port(b, 0), 0);
    ck_assert_uint_eq(pev_daemon_port(b, 1), 0);
}
END_TEST

START_TEST(test_listeners_across_restart)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 1, 0);
    apr_port_t p0, p1, p2;
    char conf[128];
    lc_client_t *cl;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    p0 = pev_daemon_port(d, 0);
    /* take two free ports from another daemon, then give them back */
    {
        pev_daemon_t *o1 = make_daemon("Listen 127.0.0.1:0\n", 0, 0);
        pev_daemon_t *o2 = make_daemon("Listen 127.0.0.1:0\n", 0, 0);

        ck_assert_int_eq(pev_daemon_start(o1), APR_SUCCESS);
        ck_assert_int_eq(pev_daemon_start(o2), APR_SUCCESS);
        p1 = pev_daemon_port(o1, 0);
        p2 = pev_daemon_port(o2, 0);
        ck_assert_int_eq(pev_daemon_stop(o1), APR_SUCCESS);
        ck_assert_int_eq(pev_daemon_run(o1), APR_SUCCESS);
        ck_assert_int_eq(pev_daemon_stop(o2), APR_SUCCESS);
        ck_assert_int_eq(pev_daemon_run(o2), APR_SUCCESS);
    }
    /* add two addresses; keep the first */
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:%u\nListen 127.0.0.1:0\nListen 127.0.0.1:%u\n",
             (unsigned) p1, (unsigned) p2);
    write_conf(conf);
    /* a client connects between the request and the restart: it waits in
     * the kept socket's backlog and is served by the next generation */
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    cl = pt_client(p0, 0);
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    ck_assert_uint_eq(pev_daemon_port(d, 0), p1);
    ck_assert_uint_eq(pev_daemon_port(d, 1), p0);
    ck_assert_uint_eq(pev_daemon_port(d, 2), p2);
    ck_assert_uint_eq(pev_daemon_port(d, 3), 0);
    PT_DAEMON_UNTIL(d, tlog.n >= 1 && tlog.v[tlog.n - 1] == L_CONN_CLOSE);
    lc_close(cl, 0);
    /* remove two: their sockets close, the kept one stays */
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:%u\n", (unsigned) p2);
    write_conf(conf);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_daemon_port(d, 0), p2);
    ck_assert_uint_eq(pev_daemon_port(d, 1), 0);
    ck_assert_ptr_null(lc_connect(p1, 0));
    ck_assert_ptr_null(lc_connect(p0, 0));
    cl = pt_client(p2, 0);
    lc_close(cl, 0);
}
END_TEST

START_TEST(test_reload_with_address_in_use_keeps_generation)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 1, 0);
    pev_daemon_t *o = make_daemon("Listen 127.0.0.1:0\n", 0, 0);
    char conf[128];
    apr_port_t p0;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(o), APR_SUCCESS);
    p0 = pev_daemon_port(d, 0);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nListen 127.0.0.1:%u\n",
             (unsigned) pev_daemon_port(o, 0));
    write_conf(conf);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "cannot bind"));
    ck_assert_uint_eq(pev_daemon_port(d, 0), p0);
    ck_assert_uint_eq(pev_daemon_port(d, 1), 0);
}
END_TEST

/* A connection handler that answers every line with the greeting of the
 * generation the connection was accepted under. */
static apr_status_t conn_conf_gone(void *data)
{
    (void) data;
    pt_log_add(&tlog, L_CONF_GONE);
    return APR_SUCCESS;
}

static void echo_read(pev_stream_t *s, void *user_data)
{
    pev_conn_t *c = user_data;
    char *line;
    apr_size_t len;

    while (pev_stream_getline(s, &line, &len) == APR_SUCCESS) {
        alpha_conf_t *conf = pev_gen_module_conf(pev_conn_gen(c), &alpha_def);

        if (strcmp(line, "quit") == 0) {
            pev_conn_close(c);
            return;
        }
        pev_stream_printf(s, "%s %s\n", conf->greeting, line);
    }
}

static void take_conn(const void *event_data, void *user_data)
{
    pev_conn_t *c = (pev_conn_t *) event_data;
    static const pev_stream_callbacks_t cb = { echo_read, NULL, NULL, NULL };

    (void) user_data;
    ck_assert_int_eq(pev_conn_set_handler(c, &cb, c), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(pev_conn_peer(c), "127.0.0.1:"));
    ck_assert_ptr_eq(pev_conn_daemon(c), restart_daemon);
    ck_assert_ptr_eq(pev_conn_gen(c), pev_daemon_gen(restart_daemon));
}

START_TEST(test_connections_across_restart)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\nGreeting old\n", 1, 0);
    apr_port_t port;
    lc_client_t *a, *b;

    restart_daemon = d;
    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL,
                                        PEV_EVENT_CONN_OPEN, take_conn, NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    apr_pool_cleanup_register(pev_gen_conf_pool(pev_daemon_gen(d)), NULL, conn_conf_gone,
                              apr_pool_cleanup_null);
    port = pev_daemon_port(d, 0);
    a = pt_client(port, 0);
    pt_client_write(a, "1\n", 2);
    ck_assert_str_eq(cli_line(d, a), "old 1");

    write_conf("Listen 127.0.0.1:0\nGreeting new\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    ck_assert_uint_eq(pev_daemon_port(d, 0), port);
    /* generation 1 ended, its registrations are gone, its configuration
     * stays while connection a uses it */
    ck_assert_int_eq(ping_calls, 0);
    pev_event_generate(pev_daemon_bus(d), "app.ping", NULL);
    ck_assert_int_eq(ping_calls, 1);
    ck_assert_int_eq(stale_calls, 0);
    pt_client_write(a, "2\n", 2);
    ck_assert_str_eq(cli_line(d, a), "old 2");

    b = pt_client(port, 0);
    pt_client_write(b, "3\n", 2);
    ck_assert_str_eq(cli_line(d, b), "new 3");
    ck_assert_uint_eq(pev_daemon_connections(d), 2);

    /* the last connection of generation 1 closes: its configuration goes */
    {
        int i, gone = 0;

        for (i = 0; i < tlog.n; i++)
            gone |= tlog.v[i] == L_CONF_GONE;
        ck_assert(!gone);
    }
    pt_client_write(a, "quit\n", 5);
    ck_assert_str_eq(cli_line(d, a), "");
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 1);
    ck_assert_int_eq(tlog.v[tlog.n - 1], L_CONF_GONE);
    lc_close(a, 0);

    /* a stop closes b */
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
    ck_assert_uint_eq(pev_daemon_connections(d), 0);
    ck_assert_str_eq(cli_line(d, b), "");
    lc_close(b, 0);
}
END_TEST

static void take_and_flood(const void *event_data, void *user_data)
{
    pev_conn_t *c = (pev_conn_t *) event_data;
    pev_stream_t *s = pev_conn_stream(c);
    static char junk[64 * 1024];
    int i;

    (void) user_data;
    ck_assert_int_eq(pev_conn_set_handler(c, NULL, NULL), APR_SUCCESS);
    pev_stream_set_output_limit(s, 64 * 1024 * 1024);
    for (i = 0; i < 512; i++)
        ck_assert_int_eq(pev_stream_write(s, junk, sizeof junk), APR_SUCCESS);
}

START_TEST(test_stop_aborts_stuck_connections)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 0, 0);
    lc_client_t *cl;
    int i;

    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL,
                                        PEV_EVENT_CONN_OPEN, take_and_flood, NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    cl = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 1);
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    /* 32 MiB the client never reads: the close cannot finish; after the
     * grace (200 ms here) the stop aborts it */
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
    ck_assert_uint_eq(pev_daemon_connections(d), 0);
    ck_assert_log(&tlog, L_SHUTDOWN, L_CONN_CLOSE, L_EXIT, L_GENPOOL_GONE);
    lc_close(cl, 0);
}
END_TEST

START_TEST(test_connection_nobody_takes)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 0, 0);
    lc_client_t *cl;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    pt_log_reset(&tlog);
    cl = pt_client(pev_daemon_port(d, 0), 0);
    ck_assert_str_eq(cli_line(d, cl), "");
    PT_DAEMON_UNTIL(d, tlog.n == 2);
    ck_assert_log(&tlog, L_CONN_OPEN, L_CONN_CLOSE);
    ck_assert_uint_eq(pev_daemon_connections(d), 0);
    lc_close(cl, 0);
}
END_TEST

/* A daemon on @a config that takes the signals (make_daemon()'s do not);
 * no Listen needed; log messages swallowed. */
static pev_daemon_t *signal_daemon(const char *config)
{
    pev_daemon_options_t o;
    pev_daemon_t *d;

    memset(&o, 0, sizeof o);
    o.name = "testd";
    o.modules = test_modules;
    o.default_config = config;
    o.flags = PEV_DAEMON_NO_LISTEN_OK;
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL, PEV_EVENT_LOG,
                                        quiet_log, NULL, NULL), APR_SUCCESS);
    return d;
}

static int hup_seen;

START_TEST(test_signals)
{
    pev_daemon_t *d;

    d = signal_daemon("Greeting sig\n");
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    hup_seen = 0;
    ck_assert_int_eq(kill(getpid(), SIGHUP), 0);
    PT_DAEMON_UNTIL(d, pev_gen_number(pev_daemon_gen(d)) == 2);
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
    ck_assert_ptr_null(pev_daemon_gen(d));
    /* the handlers are gone with the stop: the default disposition is back,
     * so this process would die of SIGTERM; a second daemon can take them */
    {
        pev_daemon_t *d2;

        d2 = signal_daemon("Greeting sig\n");
        ck_assert_int_eq(pev_daemon_start(d2), APR_SUCCESS);
        ck_assert_int_eq(kill(getpid(), SIGINT), 0);
        ck_assert_int_eq(pev_daemon_run(d2), APR_SUCCESS);
    }
}
END_TEST

static void other_loop_sig(int signo, void *user_data)
{
    (void) signo;
    (void) user_data;
}

/* A signal held by another loop fails the start before anything of it ran:
 * PEV_EBUSY, the error names the signal, and the daemon starts once the
 * signal is free again. */
START_TEST(test_signals_held_elsewhere)
{
    pev_daemon_t *d;
    pev_loop_t *other;
    pev_loop_stats_t st;
    apr_pool_t *op = pt_subpool(pt_pool);

    ck_assert_int_eq(pev_loop_create(&other, op), APR_SUCCESS);
    ck_assert_int_eq(pev_signal_add(NULL, other, SIGTERM, other_loop_sig, NULL, op),
                     APR_SUCCESS);
    d = signal_daemon("Greeting sig\n");
    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL, PEV_EVENT_PREPARSE,
                                        log_event, (void *) (intptr_t) L_PREPARSE, NULL),
                     APR_SUCCESS);
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_start(d), PEV_EBUSY);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "signal 15"));
    ck_assert_int_eq(tlog.n, 0);                    /* nothing of the start ran */
    ck_assert_ptr_null(pev_daemon_gen(d));
    ck_assert_int_eq(pev_loop_stats(pev_daemon_loop(d), &st), APR_SUCCESS);
    ck_assert_uint_eq(st.signal_handlers, 0);       /* SIGHUP, taken first, too */
    apr_pool_destroy(op);                           /* the other loop lets go */
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_log(&tlog, L_PREPARSE, L_PARSE, L_INIT_A, L_INIT_B);
    ck_assert_int_eq(kill(getpid(), SIGTERM), 0);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}
END_TEST


/* A start that fails (here on its configuration) gives the signals back:
 * nothing of a failed start stays, and another loop can take them. */
START_TEST(test_failed_start_releases_signals)
{
    pev_daemon_t *d;
    pev_loop_stats_t st;
    pev_loop_t *other;
    apr_pool_t *op = pt_subpool(pt_pool);

    d = signal_daemon("NoSuchDirective 1\n");
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
    ck_assert_int_eq(pev_loop_stats(pev_daemon_loop(d), &st), APR_SUCCESS);
    ck_assert_uint_eq(st.signal_handlers, 0);
    ck_assert_int_eq(pev_loop_create(&other, op), APR_SUCCESS);
    ck_assert_int_eq(pev_signal_add(NULL, other, SIGTERM, other_loop_sig, NULL, op),
                     APR_SUCCESS);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Callbacks that reach into a running start or restart                      */

static pev_daemon_t *cb_daemon;
static char other_path[160];

static void switch_file(const void *event_data, void *user_data)
{
    apr_pool_t *p;
    char *junk;

    (void) event_data;
    (void) user_data;
    ck_assert_int_eq(pev_daemon_set_config_file(cb_daemon, other_path), APR_SUCCESS);
    /* reuse the memory the old name had, as any later work would */
    p = pt_subpool(pt_pool);
    junk = apr_palloc(p, 4000);
    memset(junk, 'X', 3999);
    junk[3999] = '\0';
}

START_TEST(test_config_file_switched_during_start)
{
    pev_daemon_t *d = make_daemon("Bogus 1\n", 1, 0);

    cb_daemon = d;
    snprintf(other_path, sizeof other_path, "%s/other.conf", tmpdir);
    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL,
                                        PEV_EVENT_PREPARSE, switch_file, NULL, NULL), APR_SUCCESS);
    /* the file being parsed is still the one named in the message */
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
    ck_assert_msg(strstr(pev_daemon_error(d), "test.conf:1: unknown directive 'Bogus'") != NULL,
                  "error: '%s'", pev_daemon_error(d));
}
END_TEST

static void stop_now(const void *event_data, void *user_data)
{
    (void) event_data;
    ck_assert_int_eq(pev_daemon_stop((pev_daemon_t *) user_data), APR_SUCCESS);
}

START_TEST(test_stop_during_start)
{
    pev_daemon_t *d = make_daemon("Greeting x\n", 0, 0);

    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL,
                                        PEV_EVENT_PREPARSE, stop_now, d, NULL), APR_SUCCESS);
    /* the start completes, and the stop asked for inside it runs next */
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_ptr_null(pev_daemon_gen(d));
    ck_assert_log(&tlog, L_SHUTDOWN, L_EXIT, L_GENPOOL_GONE);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), PEV_ECLOSED);
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECLOSED);

    /* a stop before the start: the start refuses */
    d = make_daemon("Greeting x\n", 0, 0);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECLOSED);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "stopped"));
}
END_TEST

/* A connection of generation 1 released by a cleanup of generation 1's
 * pool, while the restart destroys that pool: the configuration must
 * outlive the pool's destruction. */
static pev_conn_t *released_conn;

static apr_status_t release_conn(void *data)
{
    (void) data;
    if (released_conn)
        apr_pool_destroy(pev_conn_pool(released_conn));
    released_conn = NULL;
    return APR_SUCCESS;
}

static void hold_conn(const void *event_data, void *user_data)
{
    pev_conn_t *c = (pev_conn_t *) event_data;

    (void) user_data;
    ck_assert_int_eq(pev_conn_set_handler(c, NULL, NULL), APR_SUCCESS);
    released_conn = c;
    apr_pool_cleanup_register(pev_gen_pool(pev_conn_gen(c)), NULL, release_conn,
                              apr_pool_cleanup_null);
}

START_TEST(test_last_connection_goes_with_generation_pool)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 0, 0);
    lc_client_t *cl;

    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL,
                                        PEV_EVENT_CONN_OPEN, hold_conn, NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    cl = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 1);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    ck_assert_uint_eq(pev_daemon_connections(d), 0);
    lc_close(cl, 0);
}
END_TEST

static int rejected;

static void reject_conn(const void *event_data, void *user_data)
{
    (void) user_data;
    rejected++;
    apr_pool_destroy(pev_conn_pool((pev_conn_t *) event_data));
}

START_TEST(test_conn_pool_destroyed_in_conn_open)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 0, 0);
    lc_client_t *cl;

    rejected = 0;
    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL,
                                        PEV_EVENT_CONN_OPEN, reject_conn, NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    cl = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, rejected == 1);
    ck_assert_uint_eq(pev_daemon_connections(d), 0);
    ck_assert_str_eq(cli_line(d, cl), "");
    lc_close(cl, 0);
}
END_TEST

START_TEST(test_config_nul_byte)
{
    pev_daemon_t *d;
    FILE *f;

    d = make_daemon("", 1, 0);
    f = fopen(conf_path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite("Greeting a\nGreeting b\0junk\n", 1, 27, f), 27);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "test.conf:2: a NUL byte"));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Configuration pitfalls                                                    */

/* The log messages of a daemon, one per line, for tests that read them. */
static char logbuf[16384];

static void capture_log(const void *event_data, void *user_data)
{
    const pev_log_record_t *r = event_data;
    apr_size_t n = strlen(logbuf);

    (void) user_data;
    apr_snprintf(logbuf + n, sizeof logbuf - n, "%s\n", r->msg);
}

static void capture(pev_daemon_t *d)
{
    logbuf[0] = '\0';
    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL, PEV_EVENT_LOG,
                                        capture_log, NULL, NULL), APR_SUCCESS);
}

#define ck_assert_logged(text) \
    ck_assert_msg(strstr(logbuf, (text)) != NULL, "no '%s' in the log:\n%s", (text), logbuf)
#define ck_assert_error(d, text) \
    ck_assert_msg(strstr(pev_daemon_error(d), (text)) != NULL, "error '%s' lacks '%s'", \
                  pev_daemon_error(d), (text))

/* A module's check runs in pev_daemon_check_config(), at the start and on
 * every reload, before anything is switched: what -t calls valid a reload
 * takes, and a reload it refuses keeps the running generation. */
START_TEST(test_module_check_everywhere)
{
    pev_daemon_t *d = make_daemon("Greeting one\nCheckFail\n", 1, 0);
    pev_gen_t *g1;

    check_calls = 0;
    ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);
    ck_assert_error(d, "test.conf: module alpha: CheckFail was given (greeting one)");
    ck_assert_int_eq(check_calls, 1);
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
    ck_assert_error(d, "module alpha: CheckFail was given");
    /* refused before any init ran or any socket opened */
    ck_assert_int_eq(pt_log_count(&tlog, L_INIT_A), 0);
    ck_assert_ptr_null(pev_daemon_gen(d));

    d = make_daemon("Listen 127.0.0.1:0\nGreeting one\n", 1, 0);
    capture(d);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    g1 = pev_daemon_gen(d);
    write_conf("Listen 127.0.0.1:0\nGreeting two\nCheckFail\n");
    ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_ptr_eq(pev_daemon_gen(d), g1);
    ck_assert_int_eq(pt_log_count(&tlog, L_RESTART), 0);
    ck_assert_logged("reload failed, keeping generation 1: ");
    ck_assert_logged("module alpha: CheckFail was given (greeting two)");
    lc_close(pt_client(pev_daemon_port(d, 0), 0), 0);    /* still listening */
    /* what the check takes, the reload takes */
    write_conf("Listen 127.0.0.1:0\nGreeting three\n");
    ck_assert_int_eq(pev_daemon_check_config(d), APR_SUCCESS);
    check_calls = 0;
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    /* on the check parse, before the switch; not again after it */
    ck_assert_int_eq(check_calls, 1);
}
END_TEST

static void on_alarm(int signo)
{
    (void) signo;
}

/* A FIFO (or a directory) at the configuration path is refused at once,
 * naming the file: in pev_daemon_check_config(), at the start and on a
 * reload (which keeps the generation). An alarm interrupts an open() that
 * would wait for a writer forever. */
START_TEST(test_config_not_regular_file)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 1, 0);
    struct sigaction sa, old;
    pev_gen_t *g1;
    char dir[160];

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;           /* no SA_RESTART: open() gets EINTR */
    ck_assert_int_eq(sigaction(SIGALRM, &sa, &old), 0);
    capture(d);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    g1 = pev_daemon_gen(d);
    unlink(conf_path);
    ck_assert_int_eq(mkfifo(conf_path, 0600), 0);
    alarm(2);
    ck_assert_int_eq(pev_daemon_check_config(d), APR_EINVAL);
    ck_assert_error(d, "test.conf: a FIFO, not a regular file");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    alarm(0);
    ck_assert_ptr_eq(pev_daemon_gen(d), g1);
    ck_assert_logged("reload failed, keeping generation 1: ");
    ck_assert_logged("test.conf: a FIFO, not a regular file");
    unlink(conf_path);
    d = make_daemon("", 1, 0);
    unlink(conf_path);
    ck_assert_int_eq(mkfifo(conf_path, 0600), 0);
    alarm(2);
    ck_assert_int_eq(pev_daemon_start(d), APR_EINVAL);
    alarm(0);
    ck_assert_error(d, "a FIFO");
    unlink(conf_path);
    /* a directory */
    snprintf(dir, sizeof dir, "%s/conf.d", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    ck_assert_int_eq(pev_daemon_set_config_file(d, dir), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_check_config(d), APR_EINVAL);
    ck_assert_error(d, "conf.d: a directory, not a regular file");
    rmdir(dir);
    ck_assert_int_eq(sigaction(SIGALRM, &old, NULL), 0);
}
END_TEST

/* A configuration without Listen is refused: at the start, by
 * pev_daemon_check_config() and on a reload, which keeps the generation and
 * its listening socket. PEV_DAEMON_NO_LISTEN_OK allows it on purpose. */
START_TEST(test_config_without_listen)
{
    static const char *const confs[] = { "", "# only a comment\n\n  # and another\n",
                                         "Greeting x\n" };
    pev_daemon_t *d;
    apr_port_t port;
    unsigned i;

    for (i = 0; i < sizeof confs / sizeof confs[0]; i++) {
        d = make_daemon_with(test_modules, confs[i], 1, 0);
        ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);
        ck_assert_error(d, "test.conf: no listening sockets available");
        ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
        ck_assert_error(d, "no listening sockets available");
        ck_assert_ptr_null(pev_daemon_gen(d));
        ck_assert_int_eq(pt_log_count(&tlog, L_INIT_A), 0);
    }
    /* the default configuration too */
    d = make_daemon_with(test_modules, "# nothing\n", 0, 0);
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
    ck_assert_error(d, "(default configuration): no listening sockets available");

    d = make_daemon_with(test_modules, "Listen 127.0.0.1:0\n", 1, 0);
    capture(d);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    port = pev_daemon_port(d, 0);
    write_conf("# everything commented out\n# Listen 127.0.0.1:0\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    ck_assert_uint_eq(pev_daemon_port(d, 0), port);
    ck_assert_logged("reload failed, keeping generation 1: ");
    ck_assert_logged("no listening sockets available");
    lc_close(pt_client(port, 0), 0);

    /* on purpose: the flag */
    d = make_daemon_with(test_modules, "# no Listen\n", 1, PEV_DAEMON_NO_LISTEN_OK);
    ck_assert_int_eq(pev_daemon_check_config(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_uint_eq(pev_daemon_port(d, 0), 0);
}
END_TEST

/* A free loopback port: bound by a daemon, then given back. */
static apr_port_t free_port(void)
{
    pev_daemon_t *o = make_daemon("Listen 127.0.0.1:0\n", 0, 0);
    apr_port_t p;

    ck_assert_int_eq(pev_daemon_start(o), APR_SUCCESS);
    p = pev_daemon_port(o, 0);
    ck_assert_int_eq(pev_daemon_stop(o), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(o), APR_SUCCESS);
    return p;
}

/* An address respelled keeps its socket: a client waiting in the backlog
 * during the restart is served, and nothing fails with "address in use". */
static void respell(pev_daemon_t *d, const char *conf, apr_port_t port, unsigned gen)
{
    lc_client_t *cl;

    write_conf(conf);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    cl = pt_client(port, 0);
    pt_log_reset(&tlog);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_msg(pev_gen_number(pev_daemon_gen(d)) == gen, "'%s' failed: %s", conf,
                  pev_daemon_error(d));
    ck_assert_uint_eq(pev_daemon_port(d, 0), port);
    PT_DAEMON_UNTIL(d, pt_log_count(&tlog, L_CONN_CLOSE) == 1);
    lc_close(cl, 0);
}

START_TEST(test_listen_respelled_keeps_socket)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 1, 0);
    apr_port_t p0, p1, pfree;
    char conf[160];

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    p0 = pev_daemon_port(d, 0);
    /* the port Listen 127.0.0.1:0 took, written out */
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:%u\n", (unsigned) p0);
    respell(d, conf, p0, 2);
    /* and back: a port 0 line matches the socket of its own spelling only,
     * so this one takes a new port */
    write_conf("Listen 127.0.0.1:0\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 3);
    p1 = pev_daemon_port(d, 0);
    ck_assert_uint_ne(p1, p0);
    ck_assert_ptr_null(lc_connect(p0, 0));
    /* the port named and a port 0 line of the old spelling: the named one
     * keeps the socket, the port 0 one gets a new one */
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nListen 127.0.0.1:%u\n", (unsigned) p1);
    write_conf(conf);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_msg(pev_gen_number(pev_daemon_gen(d)) == 4, "%s", pev_daemon_error(d));
    ck_assert_uint_ne(pev_daemon_port(d, 0), p1);
    ck_assert_uint_eq(pev_daemon_port(d, 1), p1);

    /* Listen PORT and Listen 0.0.0.0:PORT are one address */
    pfree = free_port();
    snprintf(conf, sizeof conf, "Listen %u\n", (unsigned) pfree);
    d = make_daemon(conf, 1, 0);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    snprintf(conf, sizeof conf, "Listen 0.0.0.0:%u\n", (unsigned) pfree);
    respell(d, conf, pfree, 2);
    snprintf(conf, sizeof conf, "Listen *:%u\n", (unsigned) pfree);
    respell(d, conf, pfree, 3);
    /* listed twice under two spellings: an error naming both, the
     * generation stays */
    snprintf(conf, sizeof conf, "Listen %u\nListen 0.0.0.0:%u\n", (unsigned) pfree,
             (unsigned) pfree);
    write_conf(conf);
    ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);  /* -t says so too */
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 3);
    snprintf(conf, sizeof conf, "test.conf: Listen 0.0.0.0:%u: the same address as "
             "Listen *:%u", (unsigned) pfree, (unsigned) pfree);
    ck_assert_error(d, conf);
    /* and at a start */
    {
        char text[96];

        snprintf(text, sizeof text, "Listen 127.0.0.1:%u\nListen localhost:0\n"
                 "Listen 127.0.0.1:%u\n", (unsigned) p1, (unsigned) p1);
        expect_start_error(text, PEV_ECONFIG, "test.conf:3: Listen: 127.0.0.1:");
        pfree = free_port();
        snprintf(text, sizeof text, "Listen *:%u\nListen 0.0.0.0:%u\n",
                 (unsigned) pfree, (unsigned) pfree);
        snprintf(conf, sizeof conf, "test.conf: Listen 0.0.0.0:%u: the same address as "
                 "Listen *:%u", (unsigned) pfree, (unsigned) pfree);
        expect_start_error(text, PEV_ECONFIG, conf);
    }
}
END_TEST

/* The log names bound addresses, and a reload logs its new ones. */
START_TEST(test_listen_logs_bound_addresses)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 1, 0);
    apr_port_t p0, p1;
    char want[64];

    capture(d);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    p0 = pev_daemon_port(d, 0);
    snprintf(want, sizeof want, "listening on 127.0.0.1:%u (plaintext)\n", (unsigned) p0);
    ck_assert_logged(want);
    ck_assert_ptr_null(strstr(logbuf, ":0"));
    write_conf("Listen 127.0.0.1:0\nListen localhost:0\n");
    logbuf[0] = '\0';
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    p1 = pev_daemon_port(d, 1);
    /* only the new one */
    ck_assert_ptr_null(strstr(logbuf, want));
    snprintf(want, sizeof want, ":%u (plaintext)\n", (unsigned) p1);
    ck_assert_logged("listening on ");
    ck_assert_logged(want);
    ck_assert_ptr_null(strstr(logbuf, "(port"));
    write_conf("Listen localhost:0\n");
    logbuf[0] = '\0';
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    snprintf(want, sizeof want, "closed 127.0.0.1:%u\n", (unsigned) p0);
    ck_assert_logged(want);
    ck_assert_ptr_null(strstr(logbuf, "listening on"));
}
END_TEST

/* Messages that say what is wrong: the range of a number, the range of a
 * port, and which module, directive or field pev_daemon_create() refused. */
START_TEST(test_error_texts)
{
    static const pev_directive_t nofn[] = { { "Broken", 1, 1, NULL, NULL },
                                            { NULL, 0, 0, NULL, NULL } };
    static const pev_directive_t badargs[] = { { "Backwards", 2, 1, alpha_greeting, NULL },
                                               { NULL, 0, 0, NULL, NULL } };
    static const pev_directive_t dup[] = { { "listen", 1, 1, alpha_greeting, NULL },
                                           { NULL, 0, 0, NULL, NULL } };
    static const pev_directive_t dup2[] = { { "GREETING", 1, 1, alpha_greeting, NULL },
                                            { NULL, 0, 0, NULL, NULL } };
    static const pev_module_def_t m_nofn = { .name = "nofn", .directives = nofn };
    static const pev_module_def_t m_badargs = { .name = "badargs", .directives = badargs };
    static const pev_module_def_t m_dup = { .name = "dup", .directives = dup };
    static const pev_module_def_t m_dup2 = { .name = "dup2", .directives = dup2 };
    static const pev_module_def_t m_noname = { .name = "" };
    static const struct {
        const pev_module_def_t *mods[3];
        apr_status_t st;
        const char *msg;
    } cases[] = {
        { { &m_nofn }, APR_EINVAL,
          "module 1 (nofn): directive 'Broken' has no handler (fn is NULL)" },
        { { &m_badargs }, APR_EINVAL,
          "module 1 (badargs): directive 'Backwards' has max_args < min_args" },
        { { &m_dup }, APR_EEXIST, "module 1 (dup): directive 'listen' is taken by the core" },
        { { &alpha_def, &m_dup2 }, APR_EEXIST,
          "module 2 (dup2): directive 'GREETING' is taken by module alpha" },
        { { &alpha_def, &alpha_def }, APR_EEXIST,
          "module 2 (alpha): a module of that name comes before it" },
        { { &beta_def, &m_noname }, APR_EINVAL, "module 2 (modules[1]): has no name" },
    };
    pev_daemon_options_t o;
    pev_daemon_t *d;
    const char *err;
    unsigned i;

    expect_start_error("Value 1001\nListen 127.0.0.1:0\n", PEV_ECONFIG,
                       "test.conf:1: Value: number out of range (0-1000)");
    expect_start_error("Listen 127.0.0.1:99999\n", PEV_ECONFIG,
                       "test.conf:1: Listen: port 99999 out of range (1-65535, or 0 for any "
                       "free port)");
    expect_start_error("Listen 65536\n", PEV_ECONFIG, "Listen: port 65536 out of range");
    expect_start_error("Listen [::1]:123456\n", PEV_ECONFIG, "port 123456 out of range");
    expect_start_error("Listen 127.0.0.1:\n", PEV_ECONFIG, "Listen: expects [HOST:]PORT");

    memset(&o, 0, sizeof o);
    o.error = &err;
    err = "unset";
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_EINVAL);
    ck_assert_str_eq(err, "options: neither config_file nor default_config is set");
    o.default_config = "Listen 127.0.0.1:0\n";
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err = NULL;
        o.modules = cases[i].mods;
        ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), cases[i].st);
        ck_assert_ptr_nonnull(err);
        ck_assert_str_eq(err, cases[i].msg);
    }
    o.modules = test_modules;
    err = "unset";
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_SUCCESS);
    ck_assert_ptr_null(err);
    ck_assert_str_eq(pev_daemon_error(d), "");
}
END_TEST

/* A module with process state: process_init runs once, at the first start,
 * before the first init, with the daemon's pool; the inits of every
 * generation find the state. */
typedef struct {
    unsigned magic;
    int inits;
} gamma_state_t;

static int gamma_process_inits;
static apr_pool_t *gamma_pool_seen;

static apr_status_t gamma_process_init(pev_gen_t *first, pev_module_t *mod, apr_pool_t *pool,
                                       void **state)
{
    gamma_state_t *st;

    ck_assert_ptr_nonnull(mod);
    ck_assert_ptr_null(*state);
    ck_assert_uint_eq(pev_gen_number(first), 1);
    ck_assert_int_eq(pt_log_count(&tlog, L_INIT_A), 0);     /* before every init */
    gamma_process_inits++;
    gamma_pool_seen = pool;
    st = apr_pcalloc(pool, sizeof *st);
    st->magic = ALPHA_MAGIC;
    *state = st;
    return APR_SUCCESS;
}

static apr_status_t gamma_init(pev_gen_t *gen, pev_module_t *mod, void *mconf);

static const pev_module_def_t gamma_def = {
    .name = "gamma", .init = gamma_init, .process_init = gamma_process_init
};

static apr_status_t gamma_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    gamma_state_t *st = pev_daemon_module_state(pev_gen_daemon(gen), &gamma_def);

    (void) mod;
    (void) mconf;
    ck_assert_ptr_nonnull(st);
    ck_assert_uint_eq(st->magic, ALPHA_MAGIC);
    st->inits++;
    return APR_SUCCESS;
}

START_TEST(test_process_init_once)
{
    static const pev_module_def_t *const mods[] = { &alpha_def, &gamma_def, NULL };
    pev_daemon_t *d = make_daemon_with(mods, "Listen 127.0.0.1:0\n", 0, 0);
    gamma_state_t *st;
    int i;

    gamma_process_inits = 0;
    ck_assert_ptr_null(pev_daemon_module_state(d, &gamma_def));
    ck_assert_int_eq(pev_daemon_check_config(d), APR_SUCCESS);
    ck_assert_int_eq(gamma_process_inits, 0);               /* not from a check */
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_int_eq(gamma_process_inits, 1);
    ck_assert_ptr_eq(gamma_pool_seen, pev_daemon_pool(d));
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
        ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    }
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 4);
    ck_assert_int_eq(gamma_process_inits, 1);
    st = pev_daemon_module_state(d, &gamma_def);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(st->inits, 4);
    ck_assert_ptr_null(pev_daemon_module_state(d, &alpha_def));   /* none */
    ck_assert_ptr_null(pev_daemon_module_state(d, &beta_def));    /* not the daemon's */
}
END_TEST

/* The pools by lifetime: the generation pool goes with the generation, the
 * shared pool (pev_gen_conf_pool() is its old name) when the last
 * connection of the generation closes. A listener a module binds to the
 * shared pool in its init outlives the generation: the daemon warns. So
 * does a listener bound to the daemon's pool by a restart's init. */
static int leaky_calls;

static void leaky_ping(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    leaky_calls++;
}

static void leaky_tick(pev_timer_t *t, void *user_data)
{
    (void) t;
    (void) user_data;
}

/* A listener and a timer bound to the shared pool: both outlive the
 * generation. */
static apr_status_t leaky_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    pev_daemon_t *d = pev_gen_daemon(gen);

    (void) mconf;
    ck_assert_int_eq(pev_timer_add_in(NULL, pev_daemon_loop(d), 3600 * APR_USEC_PER_SEC,
                                      leaky_tick, NULL, pev_gen_shared_pool(gen)),
                     APR_SUCCESS);
    return pev_event_register(NULL, pev_daemon_bus(d), mod, "app.leak", leaky_ping,
                              (void *) (intptr_t) pev_gen_number(gen), pev_gen_shared_pool(gen));
}

static apr_status_t forever_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    pev_daemon_t *d = pev_gen_daemon(gen);

    (void) mconf;
    return pev_event_register(NULL, pev_daemon_bus(d), mod, "app.forever", leaky_ping,
                              (void *) (intptr_t) pev_gen_number(gen), pev_daemon_pool(d));
}

static void hold_open(const void *event_data, void *user_data)
{
    (void) user_data;
    ck_assert_int_eq(pev_conn_set_handler((pev_conn_t *) event_data, NULL, NULL), APR_SUCCESS);
}

START_TEST(test_pool_lifetimes_and_warnings)
{
    static const pev_module_def_t leaky = { .name = "leaky", .init = leaky_init };
    static const pev_module_def_t forever = { .name = "forever", .init = forever_init };
    static const pev_module_def_t *const mods[] = { &alpha_def, &leaky, &forever, NULL };
    pev_daemon_t *d = make_daemon_with(mods, "Listen 127.0.0.1:0\n", 0, 0);
    pev_gen_t *g1;
    lc_client_t *cl;

    capture(d);
    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL, PEV_EVENT_CONN_OPEN,
                                        hold_open, NULL, NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    g1 = pev_daemon_gen(d);
    ck_assert_ptr_eq(pev_gen_conf_pool(g1), pev_gen_shared_pool(g1));
    ck_assert_ptr_ne(pev_gen_pool(g1), pev_gen_shared_pool(g1));
    ck_assert_logged("module leaky: 2 listener(s) or timer(s) registered in generation 1's "
                     "init are bound to its shared pool");
    /* the first generation may bind to the daemon's pool (once) */
    ck_assert_ptr_null(strstr(logbuf, "module forever"));
    cl = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 1);
    logbuf[0] = '\0';
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    ck_assert_logged("module leaky: 2 listener(s) or timer(s) registered in generation 2's "
                     "init are bound to its shared pool");
    ck_assert_logged("module forever: 1 listener(s) or timer(s) registered in generation 2's "
                     "init are bound to the daemon's pool");
    /* what the warning is about: the generation ended, its pool is gone,
     * and its listener still runs while the connection holds the pool */
    ck_assert_ptr_null(pev_gen_pool(g1));
    leaky_calls = 0;
    pev_event_generate(pev_daemon_bus(d), "app.leak", NULL);
    ck_assert_int_eq(leaky_calls, 2);
    lc_close(cl, 0);
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 0);
    leaky_calls = 0;
    pev_event_generate(pev_daemon_bus(d), "app.leak", NULL);
    ck_assert_int_eq(leaky_calls, 1);
    /* a module that binds to its generation pool gets no warning */
    ck_assert_ptr_null(strstr(logbuf, "module alpha"));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Restart safety                                                            */

/* Memory the process holds: the heap (mallinfo2) plus its data mappings
 * (VmData: APR's allocator maps its blocks with mmap on Linux). */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    size_t vmdata = 0;
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");

    if (f) {
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "VmData:", 7) == 0)
                vmdata = (size_t) strtoul(line + 7, NULL, 10) * 1024;
        fclose(f);
    }
    return mi.uordblks + mi.hblkhd + vmdata;
}

START_TEST(test_thousand_restarts)
{
    long restarts = pt_env_long("POOLEV_RESTARTS", 1000);
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\nGreeting g\n", 0, 0);
    pev_bus_t *bus;
    size_t before = 0, after;
    long i;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    bus = pev_daemon_bus(d);
    for (i = 0; i < restarts + 50; i++) {
        long calls = ping_calls;

        if (i == 50)
            before = heap_in_use();
        /* events between restarts reach exactly the current generation's
         * listener, whose user_data lives in the generation pool */
        pev_event_generate(bus, "app.ping", NULL);
        pev_event_generate(bus, "app.ping", NULL);
        if (ping_calls != calls + 2 || stale_calls)
            ck_abort_msg("restart %ld: %ld calls, %ld stale", i, ping_calls - calls, stale_calls);
        if (pev_daemon_restart(d) != APR_SUCCESS || pev_daemon_run_once(d, 0) != APR_SUCCESS)
            ck_abort_msg("restart %ld failed: %s", i, pev_daemon_error(d));
        if (!alpha_current || alpha_current->gen != (unsigned) i + 2)
            ck_abort_msg("restart %ld: module state of the wrong generation", i);
        pt_log_reset(&tlog);
    }
    after = heap_in_use();
    printf("check_daemon: %ld restarts, memory in use %zu -> %zu bytes\n", restarts, before, after);
    /* a leak of even 64 bytes per restart would show as 64 KB */
    if (before > 0)
        ck_assert_msg(after <= before + 32 * 1024, "heap grew from %zu to %zu bytes over %ld restarts",
                      before, after, restarts);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), (unsigned) restarts + 51);
}
END_TEST

static Suite *daemon_suite(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc = tcase_create("lifecycle");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_start_sequence);
    tcase_add_test(tc, test_restart_sequence);
    tcase_add_test(tc, test_restart_deferred);
    tcase_add_test(tc, test_restart_requested_in_init);
    tcase_add_test(tc, test_bad_reload_keeps_generation);
    tcase_add_test(tc, test_failed_init_on_restart_stops);
    tcase_add_test(tc, test_waiting_connection_does_not_spin_init_loop);
    tcase_add_test(tc, test_shutdown_order);
    tcase_add_test(tc, test_accept_pauses_when_out_of_descriptors);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_check_config);
    tcase_add_test(tc, test_config_syntax);
    tcase_add_test(tc, test_config_quotes);
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_parse_helpers);
    tcase_add_test(tc, test_address_in_use);
    tcase_add_test(tc, test_listeners_across_restart);
    tcase_add_test(tc, test_reload_with_address_in_use_keeps_generation);
    tcase_add_test(tc, test_connections_across_restart);
    tcase_add_test(tc, test_stop_aborts_stuck_connections);
    tcase_add_test(tc, test_connection_nobody_takes);
    tcase_add_test(tc, test_signals);
    tcase_add_test(tc, test_signals_held_elsewhere);
    tcase_add_test(tc, test_failed_start_releases_signals);
    tcase_add_test(tc, test_config_file_switched_during_start);
    tcase_add_test(tc, test_stop_during_start);
    tcase_add_test(tc, test_last_connection_goes_with_generation_pool);
    tcase_add_test(tc, test_conn_pool_destroyed_in_conn_open);
    tcase_add_test(tc, test_config_nul_byte);
    tcase_add_test(tc, test_module_check_everywhere);
    tcase_add_test(tc, test_config_not_regular_file);
    tcase_add_test(tc, test_config_without_listen);
    tcase_add_test(tc, test_listen_respelled_keeps_socket);
    tcase_add_test(tc, test_listen_logs_bound_addresses);
    tcase_add_test(tc, test_error_texts);
    tcase_add_test(tc, test_process_init_once);
    tcase_add_test(tc, test_pool_lifetimes_and_warnings);
    tcase_add_test(tc, test_thousand_restarts);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, daemon_suite, NULL);
}
