/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * cycle.c - the daemon's lifecycle: creation, generations, the start, the
 * restart and the stop, running, and the accessors of the daemon and its
 * generations.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include <apr_strings.h>

#include "poolev/signal.h"
#include "daemon_int.h"
#include "../bus_int.h"
#include "../io_int.h"

#define DEFAULT_GRACE APR_TIME_C(2000000)

/* ------------------------------------------------------------------------ */
/* Generations                                                               */

static apr_status_t gen_conf_gone(void *data)
{
    pev_gen_t *gen = data;

    if (gen->d->gen == gen)
        gen->d->gen = NULL;
    return APR_SUCCESS;
}

static apr_status_t gen_pool_gone(void *data)
{
    pev_gen_t *gen = data;

    gen->pool = NULL;
    return APR_SUCCESS;
}

static apr_status_t gen_tls_gone(void *data)
{
    pev_gen_t *gen = data;
    apr_pool_t *tp = gen->tls_pool;

    gen->tls = NULL;
    gen->tls_pool = NULL;
    /* a daemon being destroyed destroys the context's pool itself (it is a
     * subpool of d->pool, like this generation's configuration pool) */
    if (tp && !gen->d->dying)
        apr_pool_destroy(tp);
    return APR_SUCCESS;
}

/* Give @a gen its TLS server context (pevi_conf_tls()): it goes with the
 * generation pool; connections that started TLS with it keep OpenSSL's
 * reference to what they use. */
static void gen_attach_tls(pev_gen_t *gen, apr_pool_t *tls_pool, pev_tls_ctx_t *ctx)
{
    if (!tls_pool)
        return;
    gen->tls = ctx;
    gen->tls_pool = tls_pool;
    /* Workers N > 1: a worker hands connections the context of the
     * generation it serves until it switched, after the main thread's
     * generation pool went: the context stays as long as the
     * configuration */
    apr_pool_cleanup_register(gen->d->wk || pevi_gen_workers(gen) > 1 ? gen->conf_pool
                              : gen->pool, gen, gen_tls_gone, apr_pool_cleanup_null);
}

/* A new generation with defaults applied. @a scratch: no generation pool
 * (a restart's check parse). NULL on failure, d->error set. */
static pev_gen_t *gen_new(pev_daemon_t *d, int scratch)
{
    apr_pool_t *cp;
    pev_gen_t *gen;
    int i;

    if (apr_pool_create(&cp, d->pool) != APR_SUCCESS) {
        pevi_daemon_set_error(d, "out of memory");
        return NULL;
    }
    apr_pool_tag(cp, "pev_gen_conf");
    gen = apr_pcalloc(cp, sizeof *gen);
    gen->d = d;
    gen->conf_pool = cp;
    gen->number = d->gen_count + 1;
    gen->listen = apr_array_make(cp, 4, sizeof(const char *));
    gen->mconf = apr_pcalloc(cp, sizeof(void *) * (apr_size_t) (d->nmods + 1));
    /* the hold it has while current; gen_end() drops it */
    atomic_init(&gen->refs, 1);
    apr_pool_cleanup_register(cp, gen, gen_conf_gone, apr_pool_cleanup_null);
    if (!scratch) {
        if (apr_pool_create(&gen->pool, cp) != APR_SUCCESS) {
            pevi_daemon_set_error(d, "out of memory");
            apr_pool_destroy(cp);
            return NULL;
        }
        apr_pool_tag(gen->pool, "pev_gen");
        apr_pool_cleanup_register(gen->pool, gen, gen_pool_gone, apr_pool_cleanup_null);
    }
    for (i = 0; i < d->nmods; i++) {
        const pev_module_def_t *def = d->defs[i];

        if (def->conf_size == 0)
            continue;
        gen->mconf[i] = apr_pcalloc(cp, def->conf_size);
        if (def->defaults) {
            const char *msg = def->defaults(gen, gen->mconf[i]);

            if (msg) {
                pevi_daemon_set_error(d, "module %s: %s", def->name, msg);
                apr_pool_destroy(cp);
                return NULL;
            }
        }
    }
    return gen;
}

/* End @a gen: its registrations go now, its configuration when its last
 * connection does. */
static void gen_end(pev_gen_t *gen)
{
    pev_daemon_t *d = gen->d;

    if (d->gen == gen)
        d->gen = NULL;
    gen->ended = 1;
    /* a cleanup of the generation pool may close the generation's last
     * connection: the hold of the current generation keeps the
     * configuration until the pool is gone, and goes after it */
    if (gen->pool)
        apr_pool_destroy(gen->pool);
    pevi_gen_unref(gen);
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                  */

static apr_status_t daemon_dying(void *data)
{
    pev_daemon_t *d = data;

    d->dying = 1;
    return APR_SUCCESS;
}

apr_status_t pev_daemon_create(pev_daemon_t **out, const pev_daemon_options_t *opts,
                               apr_pool_t *pool)
{
    apr_pool_t *dp;
    pev_daemon_t *d;
    apr_status_t st;
    int i;

    if (!out || !opts || !pool)
        return APR_EINVAL;
    if (opts->error)
        *opts->error = NULL;
    if (!opts->config_file && !opts->default_config) {
        if (opts->error)
            *opts->error = "options: neither config_file nor default_config is set";
        return APR_EINVAL;
    }
    st = apr_pool_create(&dp, pool);
    if (st != APR_SUCCESS)
        return st;
    apr_pool_tag(dp, "pev_daemon");
    d = apr_pcalloc(dp, sizeof *d);
    d->pool = dp;
    d->name = opts->name ? opts->name : "poolev";
    d->default_config = opts->default_config;
    d->grace = opts->shutdown_grace > 0 ? opts->shutdown_grace : DEFAULT_GRACE;
    d->flags = opts->flags;
    d->error[0] = '\0';
    apr_pool_pre_cleanup_register(dp, d, daemon_dying);
    st = pev_bus_create(&d->bus, dp);
    if (st == APR_SUCCESS)
        st = pev_loop_create(&d->loop, dp);
    d->main.d = d;
    d->main.index = -1;
    d->main.pool = dp;
    d->main.bus = d->bus;
    d->main.loop = d->loop;
    pevi_list_init(&d->main.conns);
    pevi_list_init(&d->main.refusing);
    if (st == APR_SUCCESS)
        st = apr_pool_create(&d->path_pool, dp);
    if (st != APR_SUCCESS)
        goto fail;
    if (opts->config_file)
        d->config_file = apr_pstrdup(d->path_pool, opts->config_file);
    st = pevi_conf_init(d);
    if (opts->modules)
        while (opts->modules[d->nmods])
            d->nmods++;
    d->defs = opts->modules;
    d->mods = apr_pcalloc(dp, sizeof(pev_module_t *) * (apr_size_t) (d->nmods + 1));
    d->mstate = apr_pcalloc(dp, sizeof(void *) * (apr_size_t) (d->nmods + 1));
    d->main.mods = d->mods;
    for (i = 0; st == APR_SUCCESS && i < d->nmods; i++) {
        const pev_module_def_t *def = d->defs[i];
        char eb[256];

        d->error[0] = '\0';
        if (!def->name || !*def->name) {
            st = APR_EINVAL;
            pevi_daemon_set_error(d, "module %d (modules[%d]): has no name", i + 1, i);
            break;
        }
        st = pev_module_add(&d->mods[i], d->bus, def->name);
        if (st != APR_SUCCESS) {
            if (st == APR_EEXIST)
                pevi_daemon_set_error(d, "module %d (%s): a module of that name comes "
                                      "before it", i + 1, def->name);
            else
                pevi_daemon_set_error(d, "module %d (%s): %s", i + 1, def->name,
                                      pev_strerror(st, eb, sizeof eb));
            break;
        }
        st = pevi_conf_add_directives(d, def->directives, i);
        if (st != APR_SUCCESS) {
            char msg[sizeof d->error];

            apr_cpystrn(msg, d->error, sizeof msg);
            pevi_daemon_set_error(d, "module %d (%s): %s", i + 1, def->name, msg);
        }
    }
    if (st != APR_SUCCESS)
        goto fail;
    d->error[0] = '\0';
    *out = d;
    return APR_SUCCESS;

fail:
    if (opts->error) {
        char eb[256];

        *opts->error = apr_pstrdup(pool, d->error[0] ? d->error
                                         : pev_strerror(st, eb, sizeof eb));
    }
    apr_pool_destroy(dp);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */

static void on_signal(int signo, void *user_data)
{
    pev_daemon_t *d = user_data;

    if (signo == SIGHUP) {
        pev_daemon_log(d, PEV_LOG_INFO, "SIGHUP: restarting");
        pev_daemon_restart(d);
    }
    else {
        pev_daemon_log(d, PEV_LOG_INFO, "%s: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        pev_daemon_stop(d);
    }
}

/* Listeners and timers bound to @a pool, for init_lifetimes(). */
static apr_size_t pool_items(const pev_daemon_t *d, apr_pool_t *pool)
{
    return pevi_bus_pool_listeners(d->bus, pool) + pevi_loop_pool_timers(d->loop, pool);
}

/* After module @a i's init: warn about listeners and timers it bound to a
 * pool that outlives the generation. @a shared and @a process: the counts
 * bound to the generation's shared pool and to the daemon's pool before the
 * init (updated). */
static void init_lifetimes(pev_daemon_t *d, pev_gen_t *gen, int i, apr_size_t *shared,
                           apr_size_t *process)
{
    apr_size_t ns = pool_items(d, gen->conf_pool);
    apr_size_t np = pool_items(d, d->pool);

    if (ns > *shared)
        pev_daemon_log(d, PEV_LOG_WARN, "module %s: %lu listener(s) or timer(s) registered "
                       "in generation %u's init are bound to its shared pool "
                       "(pev_gen_shared_pool()), which outlives the generation while "
                       "connections hold it: bind them to pev_gen_pool()",
                       d->defs[i]->name, (unsigned long) (ns - *shared), gen->number);
    if (np > *process && gen->number > 1)
        pev_daemon_log(d, PEV_LOG_WARN, "module %s: %lu listener(s) or timer(s) registered "
                       "in generation %u's init are bound to the daemon's pool and stay for "
                       "the process's life, one more set per restart: register them once, "
                       "in process_init, or bind them to pev_gen_pool()",
                       d->defs[i]->name, (unsigned long) (np - *process), gen->number);
    *shared = ns;
    *process = np;
}

/* The modules' process_init, once in the daemon's life, in load order,
 * with the first generation @a gen. */
static apr_status_t run_process_inits(pev_daemon_t *d, pev_gen_t *gen)
{
    int i;

    d->process_inited = 1;
    for (i = 0; i < d->nmods; i++) {
        const pev_module_def_t *def = d->defs[i];
        apr_status_t st;
        char eb[256];

        if (!def->process_init)
            continue;
        gen->fail = NULL;
        st = def->process_init(gen, d->mods[i], d->pool, &d->mstate[i]);
        if (st != APR_SUCCESS) {
            pevi_daemon_set_error(d, "module %s: %s", def->name,
                                  gen->fail ? gen->fail : pev_strerror(st, eb, sizeof eb));
            return st;
        }
        if (!gen->pool) {
            pevi_daemon_set_error(d, "module %s: the generation ended during its "
                                  "process_init", def->name);
            return APR_EGENERAL;
        }
    }
    return APR_SUCCESS;
}

/* Run each module's init for @a gen, in load order. */
static apr_status_t run_inits(pev_daemon_t *d, pev_gen_t *gen)
{
    apr_size_t shared = pool_items(d, gen->conf_pool);
    apr_size_t process = pool_items(d, d->pool);
    int i;

    for (i = 0; i < d->nmods; i++) {
        const pev_module_def_t *def = d->defs[i];
        apr_status_t st;
        char eb[256];

        if (!def->init)
            continue;
        gen->fail = NULL;
        st = def->init(gen, d->mods[i], gen->mconf[i]);
        if (st != APR_SUCCESS) {
            pevi_daemon_set_error(d, "module %s: %s", def->name,
                                  gen->fail ? gen->fail : pev_strerror(st, eb, sizeof eb));
            return st;
        }
        if (!gen->pool) {
            pevi_daemon_set_error(d, "module %s: the generation ended during its init",
                                  def->name);
            return APR_EGENERAL;
        }
        init_lifetimes(d, gen, i, &shared, &process);
    }
    return APR_SUCCESS;
}

/* What a parsed configuration must also satisfy before anything is
 * switched: each module's check, in load order, and a listening address
 * (unless PEV_DAEMON_NO_LISTEN_OK). @a name: the file, for messages. On
 * failure d->error says why; PEV_ECONFIG. */
static apr_status_t gen_check(pev_daemon_t *d, pev_gen_t *gen, const char *name)
{
    int i;

    for (i = 0; i < d->nmods; i++) {
        const pev_module_def_t *def = d->defs[i];
        const char *msg;

        if (!def->check)
            continue;
        msg = def->check(gen, gen->mconf[i]);
        if (msg) {
            pevi_daemon_set_error(d, "%s: module %s: %s", name, def->name, msg);
            return PEV_ECONFIG;
        }
    }
    if (gen->listen->nelts == 0 && !(d->flags & PEV_DAEMON_NO_LISTEN_OK)) {
        pevi_daemon_set_error(d, "%s: no listening sockets available: the configuration "
                              "has no Listen line", name);
        return PEV_ECONFIG;
    }
    return APR_SUCCESS;
}

/* pevi_listen_open() (@a open), or pevi_listen_check(), with the file named
 * in a configuration error (two spellings of one address). */
static apr_status_t listen_open(pev_daemon_t *d, const pev_gen_t *gen, const char *name,
                                int open)
{
    apr_status_t st = open ? pevi_listen_open(d, gen) : pevi_listen_check(d, gen);

    if (st == PEV_ECONFIG) {
        char msg[sizeof d->error];

        apr_cpystrn(msg, d->error, sizeof msg);
        pevi_daemon_set_error(d, "%s: %s", name, msg);
    }
    return st;
}

/* Read the configuration (into @a tmp) and parse it into a scratch
 * generation, dropped again: no generation pool, no module init; the
 * module checks run. Its TLS context is built (the certificate and key are
 * read and checked): into *@a tls_pool and *@a tls when these are given,
 * else dropped. With @a open, the sockets it lists are matched with the
 * open ones, and those not open yet are opened (marked fresh); without,
 * the addresses are only resolved and compared. On failure d->error says
 * why, and nothing stays. */
static apr_status_t config_check(pev_daemon_t *d, apr_pool_t *tmp, int open,
                                 const char **name, const char **text, apr_size_t *len,
                                 apr_pool_t **tls_pool, pev_tls_ctx_t **tls)
{
    pev_gen_t *scratch;
    apr_pool_t *tp = NULL;
    pev_tls_ctx_t *ctx = NULL;
    apr_status_t st;

    st = pevi_conf_load(d, tmp, name, text, len);
    if (st != APR_SUCCESS)
        return st;
    scratch = gen_new(d, 1);
    if (!scratch)
        return PEV_ECONFIG;
    st = pevi_conf_parse(d, scratch, *name, *text, *len);
    if (st == APR_SUCCESS)
        st = gen_check(d, scratch, *name);
    if (st == APR_SUCCESS)
        st = pevi_privs_check(d, scratch);
    if (st == APR_SUCCESS)
        st = pevi_workers_check(d, scratch, *name);
    if (st == APR_SUCCESS)
        st = pevi_conf_tls(d, scratch, *name, &tp, &ctx);
    if (st == APR_SUCCESS && open)
        st = pevi_log_prepare(d, scratch);
    if (st == APR_SUCCESS)
        st = listen_open(d, scratch, *name, open);
    apr_pool_destroy(scratch->conf_pool);
    if (tp && (st != APR_SUCCESS || !tls_pool)) {
        apr_pool_destroy(tp);
        tp = NULL;
        ctx = NULL;
    }
    if (tls_pool) {
        *tls_pool = tp;
        *tls = ctx;
    }
    return st;
}

/* Take SIGHUP, SIGTERM and SIGINT (into d->sig_pool), before anything else
 * of a start, so that a signal another loop holds fails the start while it
 * has changed nothing: PEV_EBUSY, and the daemon can be started later. The
 * handlers only run from the loop's iterations, never during the start. */
static apr_status_t signals_take(pev_daemon_t *d)
{
    static const int signos[] = { SIGHUP, SIGTERM, SIGINT };
    char eb[256];
    apr_status_t st;
    int i;

    st = apr_pool_create(&d->sig_pool, d->pool);
    for (i = 0; st == APR_SUCCESS && i < 3; i++) {
        st = pev_signal_add(NULL, d->loop, signos[i], on_signal, d, d->sig_pool);
        if (st != APR_SUCCESS)
            pevi_daemon_set_error(d, "cannot handle signal %d: %s", signos[i],
                                  pev_strerror(st, eb, sizeof eb));
    }
    if (st == APR_SUCCESS)
        st = pevi_log_take_signal(d);
    if (st != APR_SUCCESS && d->sig_pool) {
        apr_pool_destroy(d->sig_pool);
        d->sig_pool = NULL;
    }
    return st;
}

static apr_status_t start_first(pev_daemon_t *d)
{
    apr_pool_t *tmp;
    const char *name, *text;
    apr_size_t len;
    pev_gen_t *gen;
    apr_status_t st;

    d->error[0] = '\0';
    st = apr_pool_create(&tmp, d->pool);
    if (st != APR_SUCCESS)
        return st;
    st = pevi_conf_load(d, tmp, &name, &text, &len);
    if (st != APR_SUCCESS) {
        apr_pool_destroy(tmp);
        return st;
    }
    gen = gen_new(d, 0);
    if (!gen) {
        apr_pool_destroy(tmp);
        return PEV_ECONFIG;
    }
    pev_event_generate(d->bus, PEV_EVENT_PREPARSE, gen);
    st = pevi_conf_parse(d, gen, name, text, len);
    /* the pid file before the sockets (a second copy says so, not "address
     * in use"), the privilege drop after them, before any init */
    if (st == APR_SUCCESS)
        st = gen_check(d, gen, name);
    if (st == APR_SUCCESS)
        st = pevi_privs_check(d, gen);
    if (st == APR_SUCCESS)
        st = pevi_workers_check(d, gen, name);
    if (st == APR_SUCCESS) {
        apr_pool_t *tp;
        pev_tls_ctx_t *ctx;

        st = pevi_conf_tls(d, gen, name, &tp, &ctx);
        if (st == APR_SUCCESS)
            gen_attach_tls(gen, tp, ctx);
    }
    if (st == APR_SUCCESS)
        st = pevi_pidfile_acquire(d, gen);
    if (st == APR_SUCCESS)
        st = pevi_log_prepare(d, gen);
    if (st == APR_SUCCESS) {
        pevi_log_commit(d);
        st = listen_open(d, gen, name, 1);
    }
    apr_pool_destroy(tmp);
    if (st == APR_SUCCESS && (st = pevi_privs_drop(d, gen)) != APR_SUCCESS)
        pevi_listen_commit(d, NULL, 1);
    if (st != APR_SUCCESS) {
        pevi_pidfile_release(d);
        gen_end(gen);
        return st;
    }
    pevi_listen_commit(d, gen, 0);
    d->gen_count = gen->number;
    d->gen = gen;
    d->state = D_RUNNING;
    pevi_gen_apply_loop(pevi_gen_workers(gen) > 1 ? NULL : gen, d->loop);
    (void) pevi_daemon_proc(d);     /* the workers' limits need it made */
    st = d->process_inited ? APR_SUCCESS : run_process_inits(d, gen);
    /* Workers N > 1: the modules' init runs on each worker, not here */
    if (st == APR_SUCCESS && pevi_gen_workers(gen) > 1)
        st = pevi_workers_start(d, gen);
    else if (st == APR_SUCCESS)
        st = run_inits(d, gen);
    if (st != APR_SUCCESS) {
        if (d->gen)
            gen_end(d->gen);
        pevi_listen_commit(d, NULL, 1);
        pevi_pidfile_release(d);
        d->state = D_STOPPED;
        return st;
    }
    pevi_listen_log(d);
    pevi_activate_report(d);
    pev_event_generate(d->bus, PEV_EVENT_POSTPARSE, gen);
    if (d->gen == gen)
        pev_event_generate(d->bus, PEV_EVENT_STARTUP, gen);
    return APR_SUCCESS;
}

apr_status_t pev_daemon_start(pev_daemon_t *d)
{
    apr_status_t st;

    if (!d)
        return APR_EINVAL;
    if (d->state == D_STOPPED || d->state == D_STOPPING) {
        pevi_daemon_set_error(d, "the daemon was stopped");
        return PEV_ECLOSED;
    }
    if (d->state != D_NEW || d->busy || pevi_loop_running(d->loop))
        return PEV_EBUSY;
    d->error[0] = '\0';
    if (!(d->flags & PEV_DAEMON_NO_SIGNALS)) {
        st = signals_take(d);
        if (st != APR_SUCCESS)
            return st;              /* nothing changed: still startable */
    }
    /* the service manager's variables (notify.c, activate.c) */
    pevi_notify_init(d);
    pevi_activate_init(d);
    d->busy = 1;
    st = start_first(d);
    d->busy = 0;
    if (st == APR_SUCCESS && d->state == D_RUNNING && d->gen && !d->stop_req) {
        pevi_listen_resume(d);
        pevi_conn_offer_deferred(&d->main);
    }
    if (st == APR_SUCCESS)
        pevi_notify_ready(d);
    else {
        pevi_log_close(d);
        pevi_notify_start_failed(d);
    }
    if (st != APR_SUCCESS) {
        /* a failed start keeps nothing: the signals go back too */
        if (d->sig_pool)
            apr_pool_destroy(d->sig_pool);
        d->sig_pool = NULL;
        d->state = D_STOPPED;
    }
    return st;
}

static void do_stop(pev_daemon_t *d)
{
    pev_gen_t *gen = d->gen;

    d->state = D_STOPPING;
    d->stop_req = d->restart_req = 0;
    pevi_notify_stopping(d);
    pev_event_generate(d->bus, PEV_EVENT_SHUTDOWN, gen);
    pevi_listen_commit(d, NULL, 0);
    pevi_workers_stop(d);           /* each closes its own, joined */
    pevi_conn_close_all(&d->main);
    pevi_conn_drop_refused(&d->main);
    pev_event_generate(d->bus, PEV_EVENT_EXIT, gen);
    if (d->sig_pool)
        apr_pool_destroy(d->sig_pool);
    d->sig_pool = NULL;
    if (d->gen)
        gen_end(d->gen);
    pevi_pidfile_release(d);
    d->state = D_STOPPED;
    pev_daemon_log(d, PEV_LOG_INFO, "stopped");
}

static void do_restart(pev_daemon_t *d)
{
    apr_pool_t *tmp;
    const char *name, *text;
    apr_size_t len;
    pev_gen_t *gen, *old = d->gen;
    apr_pool_t *tls_pool;
    pev_tls_ctx_t *tls;
    apr_status_t st;

    d->restart_req = 0;
    if (apr_pool_create(&tmp, d->pool) != APR_SUCCESS)
        return;
    pevi_notify_reloading(d);
    /* 1. read and check the next configuration while this one runs; its
     * TLS context is built now, once, so a certificate or key that cannot
     * be loaded keeps the running generation */
    st = config_check(d, tmp, 1, &name, &text, &len, &tls_pool, &tls);
    if (st != APR_SUCCESS) {
        pevi_log_abort(d);
        pev_daemon_log(d, PEV_LOG_ERROR, "reload failed, keeping generation %u: %s",
                       old ? old->number : 0, d->error);
        apr_pool_destroy(tmp);
        pevi_notify_reloaded(d, 1);
        return;
    }
    /* 2. and 3. the running generation ends */
    pev_event_generate(d->bus, PEV_EVENT_RESTART, old);
    if (d->gen)
        gen_end(d->gen);
    /* 4. the next one */
    gen = gen_new(d, 0);
    if (gen) {
        gen_attach_tls(gen, tls_pool, tls);
        d->gen_count = gen->number;
        pev_event_generate(d->bus, PEV_EVENT_PREPARSE, gen);
        st = pevi_conf_parse(d, gen, name, text, len);
        d->gen = gen;               /* a failure below: the stop ends it */
        pevi_gen_apply_loop(pevi_gen_workers(gen) > 1 ? NULL : gen, d->loop);
        /* no gen_check(): step 1 checked this text, and a check failing
         * now could only stop the daemon */
        if (st == APR_SUCCESS) {
            pevi_log_commit(d);
            pevi_listen_commit(d, gen, 0);
            /* Workers N > 1: the inits run on each worker, which switches
             * at its next iteration */
            if (d->wk)
                pevi_workers_switch(d, gen);
            else
                st = run_inits(d, gen);
        }
    }
    else {
        if (tls_pool)
            apr_pool_destroy(tls_pool);
        st = PEV_ECONFIG;
    }
    apr_pool_destroy(tmp);
    if (st != APR_SUCCESS) {
        pevi_log_abort(d);
        pev_daemon_log(d, PEV_LOG_ERROR, "restart failed, stopping: %s", d->error);
        d->exit_status = st;
        do_stop(d);
        return;
    }
    pevi_listen_log(d);
    pev_daemon_log(d, PEV_LOG_INFO, "generation %u running", gen->number);
    pevi_listen_log(d);
    pev_event_generate(d->bus, PEV_EVENT_POSTPARSE, gen);
    pevi_notify_reloaded(d, 0);
}

apr_status_t pev_daemon_check_config(pev_daemon_t *d)
{
    apr_pool_t *tmp;
    const char *name, *text;
    apr_size_t len;
    apr_status_t st;

    if (!d)
        return APR_EINVAL;
    if (d->busy)
        return PEV_EBUSY;
    d->error[0] = '\0';
    st = apr_pool_create(&tmp, d->pool);
    if (st != APR_SUCCESS)
        return st;
    d->busy = 1;
    st = config_check(d, tmp, 0, &name, &text, &len, NULL, NULL);
    d->busy = 0;
    apr_pool_destroy(tmp);
    return st;
}

apr_status_t pev_daemon_run_once(pev_daemon_t *d, apr_interval_time_t timeout)
{
    apr_status_t st;

    if (!d)
        return APR_EINVAL;
    if (d->busy || pevi_loop_running(d->loop))
        return PEV_EBUSY;
    if (d->state == D_NEW) {
        st = pev_daemon_start(d);
        if (st != APR_SUCCESS)
            return st;
    }
    if (d->state == D_STOPPED)
        return PEV_ECLOSED;
    if (!d->stop_req && !d->restart_req) {
        st = pev_loop_run_once(d->loop, timeout);
        if (st != APR_SUCCESS)
            return st;
    }
    d->busy = 1;
    if (d->stop_req)
        do_stop(d);
    else if (d->restart_req)
        do_restart(d);
    d->busy = 0;
    if (d->state == D_RUNNING && d->gen && !d->stop_req) {
        pevi_listen_resume(d);
        pevi_conn_offer_deferred(&d->main);
    }
    return d->state == D_STOPPED ? d->exit_status : APR_SUCCESS;
}

apr_status_t pev_daemon_run(pev_daemon_t *d)
{
    apr_status_t st;

    if (!d)
        return APR_EINVAL;
    if (d->busy || pevi_loop_running(d->loop))
        return PEV_EBUSY;
    if (d->state == D_STOPPED)
        return PEV_ECLOSED;
    do
        st = pev_daemon_run_once(d, -1);
    while (st == APR_SUCCESS && d->state != D_STOPPED);
    return st;
}

apr_status_t pev_daemon_restart(pev_daemon_t *d)
{
    if (!d)
        return APR_EINVAL;
    if (d->state == D_STOPPING || d->state == D_STOPPED || d->stop_req)
        return PEV_ECLOSED;
    if (d->state != D_RUNNING)
        return PEV_EBUSY;
    d->restart_req = 1;
    return APR_SUCCESS;
}

apr_status_t pev_daemon_stop(pev_daemon_t *d)
{
    if (!d)
        return APR_EINVAL;
    if (pevi_wctx(d)->index >= 0)   /* on a worker: the main thread stops */
        return pevi_workers_post_stop(d, APR_SUCCESS);
    if (d->state == D_NEW && !d->busy)
        d->state = D_STOPPED;
    else if (d->state == D_NEW || d->state == D_RUNNING)
        d->stop_req = 1;            /* during the start: right after it */
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */

pev_bus_t *pev_daemon_bus(const pev_daemon_t *d) { return d ? pevi_wctx(d)->bus : NULL; }
pev_loop_t *pev_daemon_loop(const pev_daemon_t *d) { return d ? pevi_wctx(d)->loop : NULL; }
apr_pool_t *pev_daemon_pool(const pev_daemon_t *d) { return d ? d->pool : NULL; }

void *pev_daemon_module_state(const pev_daemon_t *d, const pev_module_def_t *def)
{
    int i;

    if (!d || !def)
        return NULL;
    for (i = 0; i < d->nmods; i++)
        if (d->defs[i] == def)
            return d->mstate[i];
    return NULL;
}

const char *pev_daemon_name(const pev_daemon_t *d) { return d ? d->name : NULL; }
pev_gen_t *pev_daemon_gen(const pev_daemon_t *d) { return d ? pevi_daemon_gen(d) : NULL; }

pev_tls_ctx_t *pev_daemon_tls(const pev_daemon_t *d)
{
    pev_gen_t *gen = d ? pevi_daemon_gen(d) : NULL;

    return gen ? gen->tls : NULL;
}
const char *pev_daemon_error(const pev_daemon_t *d) { return d ? d->error : ""; }
apr_size_t pev_daemon_connections(const pev_daemon_t *d)
{
    return d ? d->main.nconns + pevi_workers_conns(d) : 0;
}

apr_status_t pev_daemon_set_config_file(pev_daemon_t *d, const char *path)
{
    apr_pool_t *np;

    if (!d || (!path && !d->default_config))
        return APR_EINVAL;
    /* a fresh pool per call: repeated calls do not grow the daemon's pool */
    if (apr_pool_create(&np, d->pool) != APR_SUCCESS)
        return APR_ENOMEM;
    d->config_file = path ? apr_pstrdup(np, path) : NULL;
    apr_pool_destroy(d->path_pool);
    d->path_pool = np;
    return APR_SUCCESS;
}

unsigned pev_gen_number(const pev_gen_t *gen) { return gen ? gen->number : 0; }
apr_pool_t *pev_gen_pool(const pev_gen_t *gen)
{
    const pevi_wctx_t *w;

    if (!gen)
        return NULL;
    w = pevi_wctx(gen->d);
    if (w->index >= 0)              /* a worker: its own pool for it */
        return w->gen == gen ? w->gen_pool : NULL;
    return gen->pool;
}
apr_pool_t *pev_gen_shared_pool(const pev_gen_t *gen) { return gen ? gen->conf_pool : NULL; }
apr_pool_t *pev_gen_conf_pool(const pev_gen_t *gen) { return pev_gen_shared_pool(gen); }
pev_daemon_t *pev_gen_daemon(const pev_gen_t *gen) { return gen ? gen->d : NULL; }
int pev_gen_is_current(const pev_gen_t *gen) { return gen && pevi_daemon_gen(gen->d) == gen; }
pev_tls_ctx_t *pev_gen_tls(const pev_gen_t *gen) { return gen ? gen->tls : NULL; }

void *pev_gen_module_conf(const pev_gen_t *gen, const pev_module_def_t *def)
{
    int i;

    if (!gen || !def)
        return NULL;
    for (i = 0; i < gen->d->nmods; i++)
        if (gen->d->defs[i] == def)
            return gen->mconf[i];
    return NULL;
}

apr_status_t pev_gen_fail(pev_gen_t *gen, apr_status_t status, const char *fmt, ...)
{
    va_list ap;

    pevi_wctx_t *w;

    if (!gen || !fmt)
        return status;
    w = pevi_wctx(gen->d);
    va_start(ap, fmt);
    if (w->index >= 0)              /* a worker: nothing of the shared pool */
        w->fail = apr_pvsprintf(w->pool, fmt, ap);
    else
        gen->fail = apr_pvsprintf(gen->conf_pool, fmt, ap);
    va_end(ap);
    return status;
}
