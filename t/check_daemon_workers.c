/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_daemon_workers.c - the daemon under Workers N: the directive
 * (N, auto, errors), the modules' init on each worker's thread with its
 * own bus and generation pool, connections served on the worker threads,
 * the spread over 1,000 connections, MaxConnections counted across
 * workers, reloads with clients on every worker (and failed ones: nothing
 * changes anywhere), the stop and SIGTERM with
 * connections on every worker (each worker closes its own, in order), a
 * listener pool destroyed on its worker while a cross-worker event for it
 * is in flight, the daemon's pool destroyed while workers run, and a TLS
 * listener served on the workers.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <apr_allocator.h>
#include <apr_strings.h>
#include <poolev.h>

#include "harness.h"
#include "harness_tls.h"
#include "tlsclient.h"

static pt_pki_t *pki;

#define MAXW 8

/* What the module saw, per worker (index + 1; 0: the main thread). The
 * counters are atomics; seq[i] is written on worker i only and read by the
 * test after the workers were joined (the stop). */
static atomic_int inits[MAXW + 1], opens[MAXW + 1];
static atomic_int init_wrong_bus, init_shared_pool, ping_calls, pong_calls, race_fail;
static atomic_uintptr_t gen_pools[MAXW + 1];
enum { S_SHUTDOWN = 1, S_CLOSE, S_EXIT };
static int seq[MAXW + 1][64], nseq[MAXW + 1];
static int close_wrong_thread;
/* generation pools gone, per worker, and on the wrong thread; shared pools
 * gone, and on a thread other than the main one */
static atomic_int gen_pool_gone[MAXW + 1], gen_pool_gone_elsewhere, shared_gone,
    shared_gone_elsewhere;
static pthread_t main_thread;

static apr_pool_t *dpool;
static char tmpdir[64], conf_path[128];

static int self_slot(void)
{
    pev_worker_t *w = pev_worker_self();

    return w ? pev_worker_index(w) + 1 : 0;
}

static void seq_add(int v)
{
    int s = self_slot();

    if (nseq[s] < 64)
        seq[s][nseq[s]++] = v;
}

typedef struct rconn {
    pev_conn_t *c;
    int slot;                       /* the worker that took it */
    apr_pool_t *race_pool;          /* "arm": a pool with a listener */
} rconn_t;

static void ping_heard(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    atomic_fetch_add(&ping_calls, 1);
}

static void pong_heard(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    atomic_fetch_add(&pong_calls, 1);
}

/* The race of test_listener_pool_gone_in_flight: worker 1 sends t.ping to
 * worker 0 and says so; worker 0, still in its callback, destroys the
 * pool of its t.ping listener while the event is queued. */
static atomic_int ping_sent;

static void bounce_heard(const void *event_data, void *user_data)
{
    pev_workers_t *g = pev_worker_group(pev_worker_self());

    (void) event_data;
    (void) user_data;
    if (pev_workers_send(g, 0, "t.ping", "x", 1) != APR_SUCCESS)
        atomic_fetch_add(&race_fail, 1);
    atomic_store(&ping_sent, 1);
}

/* "hold": the worker stays inside its callback until the test releases
 * it (bounded: 10 s, then it goes on and counts a failure). */
static pthread_mutex_t hold_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static atomic_int held, hold_timeouts;
static int hold_release;

static void hold_here(void)
{
    struct timespec dl;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 10;
    pthread_mutex_lock(&hold_mu);
    atomic_store(&held, 1);
    while (!hold_release)
        if (pthread_cond_timedwait(&hold_cv, &hold_mu, &dl) != 0) {
            atomic_fetch_add(&hold_timeouts, 1);
            break;
        }
    pthread_mutex_unlock(&hold_mu);
}

static void hold_let_go(void)
{
    pthread_mutex_lock(&hold_mu);
    hold_release = 1;
    pthread_cond_broadcast(&hold_cv);
    pthread_mutex_unlock(&hold_mu);
}

static void rec_read(pev_stream_t *s, void *user_data)
{
    rconn_t *r = user_data;
    char *line;
    apr_size_t len;

    while (pev_stream_getline(s, &line, &len) == APR_SUCCESS) {
        pev_gen_t *gen = pev_conn_gen(r->c);

        if (strcmp(line, "who") == 0)
            pev_stream_printf(s, "worker %d gen %u\n", self_slot() - 1, pev_gen_number(gen));
        else if (strcmp(line, "spins") == 0) {
            /* this thread's loop: the worker's, or the daemon's */
            pev_loop_stats_t st;

            pev_loop_stats(pev_daemon_loop(pev_conn_daemon(r->c)), &st);
            pev_stream_printf(s, "%llu\n",
                              (unsigned long long) (st.spins_caught + st.spins_missed));
        }
        else if (strcmp(line, "slice") == 0)
            pev_stream_printf(s, "%ld\n",
                              (long) pev_loop_flush_slice(pev_daemon_loop(pev_conn_daemon(r->c))));
        else if (strcmp(line, "arm") == 0) {
            /* a listener in a pool of this worker, and one that stays */
            pev_bus_t *bus = pev_daemon_bus(pev_conn_daemon(r->c));

            apr_pool_create(&r->race_pool, pev_conn_pool(r->c));
            pev_event_register(NULL, bus, NULL, "t.ping", ping_heard, NULL, r->race_pool);
            pev_event_register(NULL, bus, NULL, "t.ping", pong_heard, NULL,
                               pev_conn_pool(r->c));
            pev_stream_printf(s, "armed %d\n", self_slot() - 1);
        }
        else if (strcmp(line, "race") == 0) {
            pev_workers_t *g = pev_worker_group(pev_worker_self());
            apr_time_t end = apr_time_now() + 5 * APR_USEC_PER_SEC;

            atomic_store(&ping_sent, 0);
            if (pev_workers_send(g, 1, "t.bounce", NULL, 0) != APR_SUCCESS)
                atomic_fetch_add(&race_fail, 1);
            /* bounded: the event cannot be delivered here (this worker is
             * inside its callback), only queued */
            while (!atomic_load(&ping_sent) && apr_time_now() < end)
                sched_yield();
            if (!atomic_load(&ping_sent))
                atomic_fetch_add(&race_fail, 1);
            apr_pool_destroy(r->race_pool);
            r->race_pool = NULL;
            pev_stream_printf(s, "raced\n");
        }
        else if (strcmp(line, "hold") == 0) {
            hold_here();
            pev_stream_printf(s, "released\n");
        }
        else if (strcmp(line, "stop") == 0)
            pev_daemon_stop(pev_conn_daemon(r->c));
        else
            pev_stream_printf(s, "?\n");
    }
}

static void rec_close(pev_stream_t *s, apr_status_t reason, void *user_data)
{
    rconn_t *r = user_data;

    (void) s;
    (void) reason;
    if (self_slot() != r->slot)
        close_wrong_thread++;
    seq_add(S_CLOSE);
}

static const pev_stream_callbacks_t rec_cb = { rec_read, NULL, rec_close, NULL };

static void rec_open(const void *event_data, void *user_data)
{
    pev_conn_t *c = (pev_conn_t *) event_data;
    rconn_t *r = apr_pcalloc(pev_conn_pool(c), sizeof *r);

    (void) user_data;
    r->c = c;
    r->slot = self_slot();
    atomic_fetch_add(&opens[r->slot], 1);
    pev_conn_set_handler(c, &rec_cb, r);
}

static void rec_life(const void *event_data, void *user_data)
{
    (void) event_data;
    seq_add((int) (intptr_t) user_data);
}

static apr_status_t count_gen_pool(void *data)
{
    int slot = (int) (intptr_t) data;

    if (slot != self_slot())
        atomic_fetch_add(&gen_pool_gone_elsewhere, 1);
    atomic_fetch_add(&gen_pool_gone[slot], 1);
    return APR_SUCCESS;
}

static apr_status_t count_shared(void *data)
{
    (void) data;
    if (!pthread_equal(pthread_self(), main_thread))
        atomic_fetch_add(&shared_gone_elsewhere, 1);
    atomic_fetch_add(&shared_gone, 1);
    return APR_SUCCESS;
}

/* On the main thread, for each generation (not a check's scratch one,
 * which has no generation pool). */
static const char *fail_defaults(pev_gen_t *gen, void *mconf)
{
    (void) mconf;
    if (pev_gen_pool(gen))
        apr_pool_cleanup_register(pev_gen_shared_pool(gen), NULL, count_shared,
                                  apr_pool_cleanup_null);
    return NULL;
}

static apr_status_t rec_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    pev_daemon_t *d = pev_gen_daemon(gen);
    pev_bus_t *bus = pev_daemon_bus(d);
    apr_pool_t *gp = pev_gen_pool(gen);
    pev_worker_t *w = pev_worker_self();
    int s = self_slot();

    (void) mconf;
    atomic_fetch_add(&inits[s], 1);
    if (w && (bus != pev_worker_bus(w) || pev_daemon_loop(d) != pev_worker_loop(w)))
        atomic_fetch_add(&init_wrong_bus, 1);
    if (!gp || gp == pev_gen_shared_pool(gen))
        atomic_fetch_add(&init_shared_pool, 1);
    atomic_store(&gen_pools[s], (uintptr_t) gp);
    apr_pool_cleanup_register(gp, (void *) (intptr_t) s, count_gen_pool, apr_pool_cleanup_null);
    pev_event_register(NULL, bus, mod, PEV_EVENT_CONN_OPEN, rec_open, NULL, gp);
    pev_event_register(NULL, bus, mod, PEV_EVENT_SHUTDOWN, rec_life,
                       (void *) (intptr_t) S_SHUTDOWN, gp);
    pev_event_register(NULL, bus, mod, PEV_EVENT_EXIT, rec_life, (void *) (intptr_t) S_EXIT,
                       gp);
    pev_event_register(NULL, bus, mod, "t.bounce", bounce_heard, NULL, gp);
    return APR_SUCCESS;
}

static const char *fail_on(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    (void) gen;
    (void) argc;
    *(long *) mconf = atol(argv[1]) + 1;
    return NULL;
}

static const pev_directive_t rec_directives[] = {
    { "FailOnWorker", 1, 1, fail_on, "INDEX" },
    { NULL, 0, 0, NULL, NULL }
};

/* "FailOnWorker I": the init fails on worker I (the others succeed). */
static apr_status_t fail_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    long want = *(long *) mconf;

    (void) mod;
    if (want && self_slot() == want)
        return pev_gen_fail(gen, APR_EGENERAL, "refused on worker %ld", want - 1);
    return APR_SUCCESS;
}

static const pev_module_def_t rec_def = { .name = "rec", .init = rec_init };
static const pev_module_def_t fail_def = {
    .name = "failer", .conf_size = sizeof(long), .directives = rec_directives,
    .init = fail_init, .defaults = fail_defaults
};
static const pev_module_def_t *const modules[] = { &rec_def, &fail_def, NULL };

static void quiet_log(const void *event_data, void *user_data)
{
    const pev_log_record_t *r = event_data;

    (void) user_data;
    if (getenv("POOLEV_TEST_LOG"))
        fprintf(stderr, "log: %s\n", r->msg);
}

static void setup(void)
{
    apr_allocator_t *a;
    int i;

    pt_setup();
    ck_assert_int_eq(apr_allocator_create(&a), APR_SUCCESS);
    apr_allocator_max_free_set(a, 1);
    ck_assert_int_eq(apr_pool_create_ex(&dpool, NULL, NULL, a), APR_SUCCESS);
    apr_allocator_owner_set(a, dpool);
    for (i = 0; i <= MAXW; i++) {
        atomic_store(&inits[i], 0);
        atomic_store(&opens[i], 0);
        atomic_store(&gen_pools[i], 0);
        nseq[i] = 0;
    }
    atomic_store(&init_wrong_bus, 0);
    atomic_store(&init_shared_pool, 0);
    atomic_store(&ping_calls, 0);
    atomic_store(&pong_calls, 0);
    atomic_store(&race_fail, 0);
    atomic_store(&held, 0);
    atomic_store(&hold_timeouts, 0);
    hold_release = 0;
    close_wrong_thread = 0;
    for (i = 0; i <= MAXW; i++)
        atomic_store(&gen_pool_gone[i], 0);
    atomic_store(&gen_pool_gone_elsewhere, 0);
    atomic_store(&shared_gone, 0);
    atomic_store(&shared_gone_elsewhere, 0);
    main_thread = pthread_self();
    strcpy(tmpdir, "/tmp/poolev-dworkers-XXXXXX");
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

/* A daemon on the test file holding @a conf; no signals unless @a signals. */
static pev_daemon_t *make(const char *conf, int signals)
{
    pev_daemon_options_t o;
    pev_daemon_t *d;

    pt_write_file(conf_path, conf);
    memset(&o, 0, sizeof o);
    o.name = "workersd";
    o.modules = modules;
    o.config_file = conf_path;
    o.shutdown_grace = 2000000;
    o.flags = PEV_DAEMON_WORKERS_OK | (signals ? 0 : PEV_DAEMON_NO_SIGNALS);
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL, PEV_EVENT_LOG,
                                        quiet_log, NULL, NULL), APR_SUCCESS);
    return d;
}

static pev_daemon_t *start(int workers, const char *extra)
{
    char conf[256];
    pev_daemon_t *d;

    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nWorkers %d\n%s", workers,
             extra ? extra : "");
    d = make(conf, 0);
    ck_assert_msg(pev_daemon_start(d) == APR_SUCCESS, "start: %s", pev_daemon_error(d));
    return d;
}

/* Send @a cmd, pumping the daemon (the main thread accepts) until the
 * reply's line came. */
static const char *ask(pev_daemon_t *d, lc_client_t *c, const char *cmd)
{
    const char *l;

    pt_client_send(c, "%s", cmd);
    PT_DAEMON_UNTIL(d, lc_ready(c, 0));
    l = lc_line(c, 0);
    ck_assert_msg(l != NULL, "no reply to '%s'", cmd);
    return l;
}

/* The worker that serves @a c ("worker I gen G"). */
static int who(pev_daemon_t *d, lc_client_t *c, unsigned *gen)
{
    int w = -2;
    unsigned g = 0;

    ck_assert_int_eq(sscanf(ask(d, c, "who"), "worker %d gen %u", &w, &g), 2);
    if (gen)
        *gen = g;
    return w;
}

/* ------------------------------------------------------------------------ */

START_TEST(test_directive)
{
    static const struct { const char *conf; const char *msg; } bad[] = {
        { "Workers 0\n", "Workers" },
        { "Workers two\n", "auto" },
        { "Workers 2\nWorkers 3\n", "given twice" },
        { "Workers 2000\n", "Workers" },
        { "LoopSpin -1\n", "LoopSpin" },
        { "LoopSpin 10001\n", "microseconds" },
        { "LoopSpin fast\n", "off" },
        { "LoopSpin 5\nLoopSpin off\n", "given twice" },
        { "FlushSlice -1\n", "FlushSlice" },
        { "FlushSlice 100001\n", "microseconds" },
        { "FlushSlice soon\n", "off" },
        { "FlushSlice 5\nFlushSlice off\n", "given twice" },
        { "WorkerQueueLimit many\n", "WorkerQueueLimit" },
        { "WorkerQueueLimit -1\n", "WorkerQueueLimit" },
        { "WorkerQueueLimit 1\nWorkerQueueLimit 2\n", "given twice" },
    };
    unsigned i;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    pev_daemon_t *d;
    int n;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char conf[128];

        snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\n%s", bad[i].conf);
        d = make(conf, 0);
        ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);
        ck_assert_msg(strstr(pev_daemon_error(d), bad[i].msg) != NULL, "%s: %s",
                      bad[i].conf, pev_daemon_error(d));
        ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
    }
    /* a program that did not say its modules run on workers: refused */
    {
        pev_daemon_options_t o;

        pt_write_file(conf_path, "Listen 127.0.0.1:0\nWorkers 2\n");
        memset(&o, 0, sizeof o);
        o.modules = modules;
        o.config_file = conf_path;
        o.flags = PEV_DAEMON_NO_SIGNALS;
        ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_SUCCESS);
        ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
        ck_assert_msg(strstr(pev_daemon_error(d), "runs one worker") != NULL, "%s",
                      pev_daemon_error(d));
        ck_assert_int_eq(atomic_load(&inits[0]) + atomic_load(&inits[1]), 0);
    }
    /* auto: one worker per online CPU, each init on its own thread */
    d = make("Listen 127.0.0.1:0\nWorkers auto\n", 0);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    if (ncpu > MAXW)
        ncpu = MAXW;
    for (n = 1; n <= MAXW; n++)
        ck_assert_int_eq(atomic_load(&inits[n]), n <= ncpu ? 1 : 0);
    ck_assert_int_eq(atomic_load(&inits[0]), ncpu > 1 ? 0 : 1);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}
END_TEST

/* Workers N: each module init runs once per worker, on its thread, with
 * that worker's bus, loop and generation pool; connections are served on
 * every worker's thread. */
static void distinct_threads(int n)
{
    lc_client_t *c[2 * MAXW];
    int seen[MAXW] = { 0 }, i;
    pev_daemon_t *d = start(n, NULL);
    apr_port_t port = pev_daemon_port(d, 0);

    ck_assert_int_eq(atomic_load(&inits[0]), 0);    /* not on the main thread */
    for (i = 1; i <= n; i++) {
        int j;

        ck_assert_int_eq(atomic_load(&inits[i]), 1);
        for (j = 1; j < i; j++)
            ck_assert(atomic_load(&gen_pools[i]) != atomic_load(&gen_pools[j]));
    }
    ck_assert_int_eq(atomic_load(&init_wrong_bus), 0);
    ck_assert_int_eq(atomic_load(&init_shared_pool), 0);
    for (i = 0; i < 2 * n; i++) {
        int w;

        c[i] = pt_client(port, 0);
        w = who(d, c[i], NULL);
        ck_assert_int_ge(w, 0);
        ck_assert_int_lt(w, n);
        seen[w]++;
    }
    for (i = 0; i < n; i++)
        ck_assert_int_eq(seen[i], 2);
    ck_assert_int_eq(atomic_load(&opens[0]), 0);
    ck_assert_uint_eq(pev_daemon_connections(d), (unsigned) (2 * n));
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
    ck_assert_uint_eq(pev_daemon_connections(d), 0);
}

START_TEST(test_distinct_threads_2) { distinct_threads(2); }
END_TEST

START_TEST(test_distinct_threads_4) { distinct_threads(4); }
END_TEST

/* 1,000 connections over 4 workers: each worker's count within 20% of the
 * mean. */
START_TEST(test_spread)
{
    pev_daemon_t *d = start(4, NULL);
    apr_port_t port = pev_daemon_port(d, 0);
    int count[4] = { 0 }, i, total = 0;
    int nconn = (int) pt_env_long("POOLEV_SPREAD_CONNS", 1000);

    for (i = 0; i < nconn; i++) {
        lc_client_t *c = pt_client(port, 0);
        int w = who(d, c, NULL);

        ck_assert(w >= 0 && w < 4);
        count[w]++;
        pt_client_free(c);
    }
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(atomic_load(&opens[i + 1]), count[i]);
        ck_assert_msg(count[i] * 4 >= nconn * 8 / 10 && count[i] * 4 <= nconn * 12 / 10,
                      "worker %d: %d of %d", i, count[i], nconn);
        total += count[i];
    }
    ck_assert_int_eq(total, nconn);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}
END_TEST

/* MaxConnections counts the connections of every worker together. */
START_TEST(test_limit_across_workers)
{
    pev_daemon_t *d = start(2, "MaxConnections 3\n");
    apr_port_t port = pev_daemon_port(d, 0);
    lc_client_t *c[5];
    int i, served = 0;

    for (i = 0; i < 3; i++) {
        c[i] = pt_client(port, 0);
        (void) who(d, c[i], NULL);
        served++;
    }
    for (i = 3; i < 5; i++) {
        c[i] = pt_client(port, 0);
        pt_client_send(c[i], "who");
        /* refused: closed without a reply */
        PT_DAEMON_UNTIL(d, lc_ready(c[i], 0) && c[i]->eof);
    }
    ck_assert_int_eq(served, 3);
    ck_assert_uint_eq(pev_daemon_connections(d), 3);
    PT_DAEMON_UNTIL(d, pev_daemon_refused(d) == 2);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}
END_TEST

/* A reload with clients on every worker: the configuration is read and
 * checked once; each worker switches (its inits run again on its thread,
 * its old generation pool is destroyed there); the connections open keep
 * their generation until they close, new ones get the new one; the old
 * shared pool goes with the last of them, on the main thread. */
static void reload_on_workers(int n)
{
    pev_daemon_t *d = start(n, NULL);
    apr_port_t port = pev_daemon_port(d, 0);
    lc_client_t *old[MAXW], *nw[MAXW];
    int i;
    unsigned g;

    for (i = 0; i < n; i++) {
        old[i] = pt_client(port, 0);
        ck_assert_int_eq(who(d, old[i], &g), i);
        ck_assert_uint_eq(g, 1);
    }
    pt_write_file(conf_path, apr_psprintf(pt_pool, "Listen 127.0.0.1:0\nWorkers %d\n", n));
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    PT_DAEMON_UNTIL(d, pev_gen_number(pev_daemon_gen(d)) == 2);
    for (i = 0; i < n; i++) {
        nw[i] = pt_client(port, 0);
        ck_assert_int_eq(who(d, nw[i], &g), i);
        ck_assert_uint_eq(g, 2);
    }
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(who(d, old[i], &g), i);
        ck_assert_uint_eq(g, 1);                    /* kept until it closes */
        ck_assert_int_eq(atomic_load(&inits[i + 1]), 2);
        ck_assert_int_eq(atomic_load(&gen_pool_gone[i + 1]), 1);
    }
    ck_assert_int_eq(atomic_load(&inits[0]), 0);
    ck_assert_int_eq(atomic_load(&gen_pool_gone_elsewhere), 0);
    /* generation 1's shared pool: held by its connections */
    ck_assert_int_eq(atomic_load(&shared_gone), 0);
    for (i = 0; i < n - 1; i++)
        pt_client_free(old[i]);
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == (apr_size_t) (n + 1));
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_int_eq(atomic_load(&shared_gone), 0);
    pt_client_free(old[n - 1]);
    PT_DAEMON_UNTIL(d, atomic_load(&shared_gone) == 1);
    ck_assert_int_eq(atomic_load(&shared_gone_elsewhere), 0);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
    ck_assert_int_eq(atomic_load(&shared_gone), 2);
    for (i = 1; i <= n; i++)
        ck_assert_int_eq(atomic_load(&gen_pool_gone[i]), 2);
}

START_TEST(test_reload_on_workers_2) { reload_on_workers(2); }
END_TEST

/* The spins counted on the loop that serves @a c. */
static unsigned long spins(pev_daemon_t *d, lc_client_t *c)
{
    unsigned long v = 0;

    ck_assert_int_eq(sscanf(ask(d, c, "spins"), "%lu", &v), 1);
    return v;
}

/* LoopSpin: every worker's loop (the daemon's under Workers 1) spins before
 * it sleeps; a reload to "LoopSpin off" stops it on each as it takes the
 * new generation. */
static void loop_spin(int n)
{
    pev_daemon_t *d = start(n, "LoopSpin 200\n");
    apr_port_t port = pev_daemon_port(d, 0);
    lc_client_t *c[MAXW];
    unsigned long a, b;
    int i;
    unsigned g;

    for (i = 0; i < n; i++) {
        c[i] = pt_client(port, 0);
        ck_assert_int_eq(who(d, c[i], &g), n > 1 ? i : -1);
        a = spins(d, c[i]);
        ck_assert_int_eq(pev_daemon_run_once(d, 1000), APR_SUCCESS);  /* idle */
        b = spins(d, c[i]);
        ck_assert_msg(b > a, "worker %d did not spin (%lu, %lu)", i, a, b);
        pt_client_free(c[i]);
    }
    pt_write_file(conf_path, apr_psprintf(pt_pool, "Listen 127.0.0.1:0\nWorkers %d\n"
                                          "LoopSpin off\n", n));
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    PT_DAEMON_UNTIL(d, pev_gen_number(pev_daemon_gen(d)) == 2);
    for (i = 0; i < n; i++) {
        c[i] = pt_client(port, 0);
        ck_assert_int_eq(who(d, c[i], &g), n > 1 ? i : -1);
        ck_assert_uint_eq(g, 2);
        a = spins(d, c[i]);
        ck_assert_int_eq(pev_daemon_run_once(d, 1000), APR_SUCCESS);  /* idle */
        b = spins(d, c[i]);
        ck_assert_msg(b == a, "worker %d spins after LoopSpin off (%lu, %lu)", i, a, b);
        pt_client_free(c[i]);
    }
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}

static long slice(pev_daemon_t *d, lc_client_t *c)
{
    long v = -1;

    ck_assert_int_eq(sscanf(ask(d, c, "slice"), "%ld", &v), 1);
    return v;
}

/* FlushSlice: every worker's loop (the daemon's under Workers 1) has the
 * slice, 20 us when the directive is not given; a reload changes it on each
 * as it takes the new generation; "off" and 0 turn it off. */
static void flush_slice(int n)
{
    static const char *const conf[] = { NULL, "FlushSlice 150\n", "FlushSlice off\n",
                                        "FlushSlice 7\n", "FlushSlice 0\n" };
    static const long want[] = { 20, 150, 0, 7, 0 };
    pev_daemon_t *d = start(n, NULL);
    apr_port_t port = pev_daemon_port(d, 0);
    lc_client_t *c[MAXW];
    int i, k;
    unsigned g;

    for (k = 0; k < 5; k++) {
        if (k > 0) {
            pt_write_file(conf_path, apr_psprintf(pt_pool, "Listen 127.0.0.1:0\nWorkers %d\n%s",
                                                  n, conf[k]));
            ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
            PT_DAEMON_UNTIL(d, pev_gen_number(pev_daemon_gen(d)) == (unsigned) k + 1);
        }
        for (i = 0; i < n; i++) {
            c[i] = pt_client(port, 0);
            ck_assert_int_eq(who(d, c[i], &g), n > 1 ? i : -1);
            ck_assert_uint_eq(g, (unsigned) k + 1);
            ck_assert_int_eq(slice(d, c[i]), want[k]);
            pt_client_free(c[i]);
        }
        /* the main thread's loop: the daemon's under Workers 1; under
         * Workers N it only accepts, and has no slice */
        ck_assert_int_eq(pev_loop_flush_slice(pev_daemon_loop(d)), n > 1 ? 0 : want[k]);
    }
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}

START_TEST(test_flush_slice_1) { flush_slice(1); }
END_TEST

START_TEST(test_flush_slice_2) { flush_slice(2); }
END_TEST

START_TEST(test_loop_spin_1) { loop_spin(1); }
END_TEST

START_TEST(test_loop_spin_2) { loop_spin(2); }
END_TEST

START_TEST(test_reload_on_workers_4) { reload_on_workers(4); }
END_TEST

/* A reload whose configuration fails its checks changes nothing on any
 * worker: no init runs, no pool goes, the generation stays. A reload of a
 * Workers 1 daemon to Workers 2 is refused as well. */
START_TEST(test_failed_reload_changes_nothing)
{
    pev_daemon_t *d = start(2, NULL);
    apr_port_t port = pev_daemon_port(d, 0);
    lc_client_t *a = pt_client(port, 0), *b = pt_client(port, 0), *c;
    unsigned g;
    int wa = who(d, a, &g), wb = who(d, b, NULL);

    ck_assert_int_ne(wa, wb);
    ck_assert_uint_eq(g, 1);
    pt_write_file(conf_path, "Listen 127.0.0.1:0\nWorkers 2\nNoSuchDirective 1\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_msg(strstr(pev_daemon_error(d), "NoSuchDirective") != NULL, "%s",
                  pev_daemon_error(d));
    /* Workers changed: refused too */
    pt_write_file(conf_path, "Listen 127.0.0.1:0\nWorkers 3\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_msg(strstr(pev_daemon_error(d), "Workers cannot change") != NULL, "%s",
                  pev_daemon_error(d));
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    ck_assert_int_eq(who(d, a, &g), wa);
    ck_assert_uint_eq(g, 1);
    c = pt_client(port, 0);
    (void) who(d, c, &g);
    ck_assert_uint_eq(g, 1);
    ck_assert_int_eq(atomic_load(&inits[1]) + atomic_load(&inits[2]), 2);
    ck_assert_int_eq(atomic_load(&gen_pool_gone[1]) + atomic_load(&gen_pool_gone[2]), 0);
    ck_assert_int_eq(atomic_load(&shared_gone), 0);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);

    /* Workers 1 running: a reload to Workers 2 keeps generation 1 */
    d = start(1, NULL);
    a = pt_client(pev_daemon_port(d, 0), 0);
    ck_assert_int_eq(who(d, a, NULL), -1);          /* the main thread */
    pt_write_file(conf_path, "Listen 127.0.0.1:0\nWorkers 2\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    ck_assert_int_eq(who(d, a, &g), -1);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}
END_TEST

/* A module init failing on one worker during a reload stops the daemon
 * (as a failed restart init does under Workers 1): pev_daemon_run()
 * returns the error, every worker closed its connections. */
START_TEST(test_failed_worker_init_on_reload_stops)
{
    pev_daemon_t *d = start(2, NULL);
    lc_client_t *a = pt_client(pev_daemon_port(d, 0), 0);

    (void) who(d, a, NULL);
    pt_write_file(conf_path, "Listen 127.0.0.1:0\nWorkers 2\nFailOnWorker 1\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_EGENERAL);
    ck_assert(lc_wait_eof(a, PT_IO_MS));
    ck_assert_uint_eq(pev_daemon_connections(d), 0);
}
END_TEST

/* Seeded stress: many reloads with Workers 4 while clients come and go
 * (each new one must get the current generation, each old one keeps its
 * own); at the end every generation's pools went exactly once, the
 * worker ones on their workers, the shared ones on the main thread. */
START_TEST(test_reload_stress)
{
    pt_rng_t rng;
    pev_daemon_t *d = start(4, NULL);
    apr_port_t port = pev_daemon_port(d, 0);
    int reloads = (int) pt_env_long("POOLEV_DWORKERS_RELOADS", 60), r, i, nopen = 0;
    lc_client_t *open[32];
    unsigned gens[32], g;

    rng.s = pt_seed("check_daemon_workers");
    pt_write_file(conf_path, "Listen 127.0.0.1:0\nWorkers 4\n");
    for (r = 0; r <= reloads; r++) {
        unsigned cur = pev_gen_number(pev_daemon_gen(d));
        int add = (int) pt_below(&rng, 4), drop = (int) pt_below(&rng, 3);

        for (i = 0; i < add && nopen < 32; i++) {
            open[nopen] = pt_client(port, 0);
            (void) who(d, open[nopen], &g);
            ck_assert_uint_eq(g, cur);
            gens[nopen++] = g;
        }
        for (i = 0; i < drop && nopen > 0; i++) {
            int k = (int) pt_below(&rng, (unsigned) nopen);

            ck_assert_int_ge(who(d, open[k], &g), 0);
            ck_assert_uint_eq(g, gens[k]);
            pt_client_free(open[k]);
            open[k] = open[nopen - 1];
            gens[k] = gens[--nopen];
        }
        if (r < reloads) {
            ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
            PT_DAEMON_UNTIL(d, pev_gen_number(pev_daemon_gen(d)) == cur + 1);
        }
    }
    /* each worker switches at its next iteration: the last switch may still
     * be on its way when no client asked after the last reload */
    PT_DAEMON_UNTIL(d, atomic_load(&inits[1]) == reloads + 1
                    && atomic_load(&inits[2]) == reloads + 1
                    && atomic_load(&inits[3]) == reloads + 1
                    && atomic_load(&inits[4]) == reloads + 1);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
    for (i = 1; i <= 4; i++)
        ck_assert_int_eq(atomic_load(&gen_pool_gone[i]), reloads + 1);
    ck_assert_int_eq(atomic_load(&shared_gone), reloads + 1);
    ck_assert_int_eq(atomic_load(&gen_pool_gone_elsewhere), 0);
    ck_assert_int_eq(atomic_load(&shared_gone_elsewhere), 0);
}
END_TEST

/* A module init failing on one worker fails the start: nothing runs, the
 * message says why, the port is free again. */
START_TEST(test_failed_worker_init)
{
    pev_daemon_t *d = make("Listen 127.0.0.1:0\nWorkers 3\nFailOnWorker 2\n", 0);

    ck_assert_int_eq(pev_daemon_start(d), APR_EGENERAL);
    ck_assert_msg(strstr(pev_daemon_error(d), "refused on worker 2") != NULL, "%s",
                  pev_daemon_error(d));
    ck_assert_ptr_null(pev_daemon_gen(d));
    ck_assert_uint_eq(pev_daemon_connections(d), 0);
}
END_TEST

/* The stop with connections on every worker: each worker hears
 * core.shutdown, closes its own connections on its own thread, then hears
 * core.exit; the clients see the end; pev_daemon_run() returns success. */
static void check_stop_sequences(int n, int per)
{
    int i, j;

    for (i = 1; i <= n; i++) {
        ck_assert_int_eq(nseq[i], per + 2);
        ck_assert_int_eq(seq[i][0], S_SHUTDOWN);
        for (j = 1; j <= per; j++)
            ck_assert_int_eq(seq[i][j], S_CLOSE);
        ck_assert_int_eq(seq[i][per + 1], S_EXIT);
    }
    ck_assert_int_eq(close_wrong_thread, 0);
}

START_TEST(test_stop_with_connections_on_every_worker)
{
    pev_daemon_t *d = start(4, NULL);
    apr_port_t port = pev_daemon_port(d, 0);
    lc_client_t *c[8];
    int i;

    for (i = 0; i < 8; i++) {
        c[i] = pt_client(port, 0);
        (void) who(d, c[i], NULL);
    }
    /* asked from a worker: the main thread stops */
    pt_client_send(c[5], "stop");
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
    for (i = 0; i < 8; i++)
        ck_assert(lc_wait_eof(c[i], PT_IO_MS));
    check_stop_sequences(4, 2);
    ck_assert_uint_eq(pev_daemon_connections(d), 0);
}
END_TEST

/* The same with SIGTERM, in a process of its own: it exits 0. */
static int sigterm_main(void)
{
    apr_pool_t *p;
    pev_daemon_options_t o;
    pev_daemon_t *d;
    lc_client_t *c[8];
    char path[] = "/tmp/poolev-dworkers-sig-XXXXXX";
    int fd, i;

    PT_MODE_CHECK(apr_initialize() == APR_SUCCESS);
    PT_MODE_CHECK(apr_pool_create(&p, NULL) == APR_SUCCESS);
    fd = mkstemp(path);
    PT_MODE_CHECK(fd >= 0);
    PT_MODE_CHECK(write(fd, "Listen 127.0.0.1:0\nWorkers 4\n", 29) == 29);
    close(fd);
    memset(&o, 0, sizeof o);
    o.name = "workersd";
    o.modules = modules;
    o.config_file = path;
    o.flags = PEV_DAEMON_WORKERS_OK;
    PT_MODE_CHECK(pev_daemon_create(&d, &o, p) == APR_SUCCESS);
    pev_event_register(NULL, pev_daemon_bus(d), NULL, PEV_EVENT_LOG, quiet_log, NULL, NULL);
    PT_MODE_CHECK(pev_daemon_start(d) == APR_SUCCESS);
    unlink(path);
    for (i = 0; i < 8; i++) {
        const char *l = NULL;
        int n;

        c[i] = lc_connect(pev_daemon_port(d, 0), 0);
        PT_MODE_CHECK(c[i] != NULL);
        PT_MODE_CHECK(lc_send(c[i], "who\n", 4, PT_IO_MS) == 0);
        for (n = 0; n < 5000 && !l; n++) {
            PT_MODE_CHECK(pev_daemon_run_once(d, 1000) == APR_SUCCESS);
            l = lc_line(c[i], 0);
        }
        PT_MODE_CHECK(l != NULL && strncmp(l, "worker ", 7) == 0);
    }
    PT_MODE_CHECK(kill(getpid(), SIGTERM) == 0);
    PT_MODE_CHECK(pev_daemon_run(d) == APR_SUCCESS);
    for (i = 0; i < 8; i++) {
        PT_MODE_CHECK(lc_wait_eof(c[i], PT_IO_MS));
        lc_free(c[i]);
    }
    for (i = 1; i <= 4; i++)
        PT_MODE_CHECK(nseq[i] == 4 && seq[i][0] == S_SHUTDOWN && seq[i][1] == S_CLOSE
                      && seq[i][2] == S_CLOSE && seq[i][3] == S_EXIT);
    PT_MODE_CHECK(close_wrong_thread == 0);
    apr_pool_destroy(p);
    apr_terminate();
    return 0;
}

START_TEST(test_sigterm_exits_zero)
{
    ck_assert_int_eq(pt_run_self("--sigterm"), 0);
}
END_TEST

/* A listener's pool destroyed on its worker while a cross-worker event for
 * it is in flight: the event finds no listener (the one in the pool that
 * stays hears it), nothing dangles (ASan, valgrind). */
START_TEST(test_listener_pool_gone_in_flight)
{
    pev_daemon_t *d = start(2, NULL);
    apr_port_t port = pev_daemon_port(d, 0);
    lc_client_t *a = pt_client(port, 0), *b = pt_client(port, 0);

    /* round-robin: a on worker 0, b on worker 1 */
    ck_assert_int_eq(who(d, a, NULL), 0);
    ck_assert_int_eq(who(d, b, NULL), 1);
    ck_assert_str_eq(ask(d, a, "arm"), "armed 0");
    ck_assert_str_eq(ask(d, a, "race"), "raced");
    PT_DAEMON_UNTIL(d, atomic_load(&pong_calls) == 1);
    ck_assert_int_eq(atomic_load(&race_fail), 0);
    ck_assert_int_eq(atomic_load(&ping_calls), 0);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}
END_TEST

#ifdef HAVE_OPENSSL
static void tls_pump(void *arg)
{
    ck_assert_int_eq(pev_daemon_run_once(arg, 1000), APR_SUCCESS);
}

/* A TLS listener under Workers 2: the handshake and the connection run on
 * the worker the connection was handed to, with the generation's context. */
START_TEST(test_tls_on_workers)
{
    char conf[1024];
    pev_daemon_t *d;
    tc_t *c = malloc(4 * sizeof *c);
    int seen[2] = { 0 }, i;

    ck_assert_ptr_nonnull(pki);
    ck_assert_ptr_nonnull(c);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0 tls\nWorkers 2\nTLSCertificateFile %s\n"
             "TLSCertificateKeyFile %s\n", pki->server_cert, pki->server_key);
    d = make(conf, 0);
    ck_assert_msg(pev_daemon_start(d) == APR_SUCCESS, "start: %s", pev_daemon_error(d));
    ck_assert(pev_daemon_port_is_tls(d, 0));
    for (i = 0; i < 4; i++) {
        const char *l;
        int w = -2;

        ck_assert_int_eq(tc_connect(&c[i], pev_daemon_port(d, 0), tls_pump, d), 0);
        ck_assert_msg(tc_start_tls(&c[i], pki->ca, "localhost", NULL, NULL) == 0,
                      "handshake: %s", c[i].err);
        ck_assert_int_eq(tc_puts(&c[i], "who\n"), 0);
        l = tc_line(&c[i]);
        ck_assert_msg(l != NULL, "no reply: %s", c[i].err);
        ck_assert_int_eq(sscanf(l, "worker %d", &w), 1);
        ck_assert(w == 0 || w == 1);
        seen[w]++;
    }
    ck_assert_int_eq(seen[0], 2);
    ck_assert_int_eq(seen[1], 2);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
    for (i = 0; i < 4; i++)
        tc_close(&c[i]);
    free(c);
}
END_TEST
#endif

/* The daemon's pool destroyed while the workers run (no stop): they stop
 * and close their connections first. */
START_TEST(test_pool_destroyed_while_running)
{
    pev_daemon_t *d = start(2, NULL);
    lc_client_t *a = pt_client(pev_daemon_port(d, 0), 0);

    (void) who(d, a, NULL);
    apr_pool_destroy(dpool);
    ck_assert(lc_wait_eof(a, PT_IO_MS));
    ck_assert_int_eq(apr_pool_create(&dpool, NULL), APR_SUCCESS);
}
END_TEST

/* WorkerQueueLimit 1 with worker 0 held inside a callback: one
 * connection's handoff fills its queue; the next connection meant for it
 * goes to worker 1 instead; a reload's switch still reaches worker 0
 * (forced past the limit), which serves the next generation once it runs
 * again. */
START_TEST(test_queue_limit_handoff_and_switch)
{
    pev_daemon_t *d = start(2, "WorkerQueueLimit 1\n");
    apr_port_t port = pev_daemon_port(d, 0);
    lc_client_t *a, *b, *c, *dd, *e, *more[4];
    unsigned g;
    int i, w;

    a = pt_client(port, 0);
    ck_assert_int_eq(who(d, a, NULL), 0);
    b = pt_client(port, 0);
    ck_assert_int_eq(who(d, b, NULL), 1);
    pt_client_send(a, "hold");
    PT_DAEMON_UNTIL(d, atomic_load(&held));
    c = pt_client(port, 0);                         /* for worker 0: queued */
    dd = pt_client(port, 0);                        /* for worker 1 */
    ck_assert_int_eq(who(d, dd, NULL), 1);
    e = pt_client(port, 0);                         /* for worker 0: full, so 1 */
    ck_assert_int_eq(who(d, e, &g), 1);
    ck_assert_uint_eq(g, 1);
    pt_write_file(conf_path, "Listen 127.0.0.1:0\nWorkers 2\nWorkerQueueLimit 1\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    PT_DAEMON_UNTIL(d, pev_gen_number(pev_daemon_gen(d)) == 2);
    hold_let_go();
    PT_DAEMON_UNTIL(d, lc_ready(a, 0));
    ck_assert_str_eq(lc_line(a, 0), "released");
    ck_assert_int_eq(who(d, c, &g), 0);             /* handed before the switch */
    ck_assert_uint_eq(g, 1);
    /* worker 0 switched: a new connection there gets generation 2 */
    for (i = 0, w = -1; i < 4 && w != 0; i++) {
        more[i] = pt_client(port, 0);
        w = who(d, more[i], &g);
    }
    ck_assert_int_eq(w, 0);
    ck_assert_uint_eq(g, 2);
    ck_assert_int_eq(atomic_load(&inits[1]), 2);
    ck_assert_int_eq(atomic_load(&hold_timeouts), 0);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}
END_TEST

static Suite *dworkers_suite(void)
{
    Suite *s = suite_create("daemon_workers");
    TCase *tc = tcase_create("workers");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_directive);
    tcase_add_test(tc, test_distinct_threads_2);
    tcase_add_test(tc, test_distinct_threads_4);
    tcase_add_test(tc, test_spread);
    tcase_add_test(tc, test_limit_across_workers);
    tcase_add_test(tc, test_reload_on_workers_2);
    tcase_add_test(tc, test_loop_spin_1);
    tcase_add_test(tc, test_loop_spin_2);
    tcase_add_test(tc, test_flush_slice_1);
    tcase_add_test(tc, test_flush_slice_2);
    tcase_add_test(tc, test_reload_on_workers_4);
    tcase_add_test(tc, test_failed_reload_changes_nothing);
    tcase_add_test(tc, test_failed_worker_init_on_reload_stops);
    tcase_add_test(tc, test_reload_stress);
    tcase_add_test(tc, test_failed_worker_init);
    tcase_add_test(tc, test_stop_with_connections_on_every_worker);
    tcase_add_test(tc, test_sigterm_exits_zero);
    tcase_add_test(tc, test_listener_pool_gone_in_flight);
    tcase_add_test(tc, test_pool_destroyed_while_running);
    tcase_add_test(tc, test_queue_limit_handoff_and_switch);
#ifdef HAVE_OPENSSL
    tcase_add_test(tc, test_tls_on_workers);
#endif
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    static const pt_mode_t modes[] = {
        { "--sigterm", sigterm_main },
        { NULL, NULL }
    };

    int rc;

    /* one PKI for the whole run, made before the tests fork */
    pki = pt_pki_create();
    rc = pt_main(argc, argv, dworkers_suite, modes);
    pt_pki_destroy(pki);
    return rc;
}
