/*
 * daemon.c - the daemon lifecycle: generations, configuration, listening
 * sockets, connections, restart and stop.
 *
 * Pools (all subpools of the daemon's pool d->pool, which is a subpool of
 * the caller's process pool):
 *   gen->conf_pool   the generation record, module configurations, parsed
 *                    values; destroyed when the generation has ended and its
 *                    last connection closed (refs == 0)
 *     gen->pool      a subpool of conf_pool: registrations and module state,
 *                    destroyed when the generation ends
 *   lsock->pool      one per listening socket, kept across generations
 *   c->pool          one per connection
 *   d->sig_pool      the signal handlers, from the start to the stop
 *   d->path_pool     the configuration file's name
 *
 * Per-restart work allocates only from pools it destroys again, so a
 * daemon's memory does not grow with the number of restarts.
 */
#include "config.h"

#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>

#include <apr_strings.h>
#include <apr_hash.h>
#include <apr_file_io.h>
#include <apr_lib.h>

#include "poolev/daemon.h"
#include "poolev/signal.h"
#include "io_int.h"
#include "owner.h"

#define CONFIG_MAX_BYTES (1024 * 1024) /* a configuration file, at most */
#define CONFIG_MAX_ARGS 64              /* words on one line */
#define ACCEPT_BATCH 16                 /* accepts per readiness report */
#define ACCEPT_PAUSE APR_TIME_C(100000) /* out of descriptors: retry in 100 ms */
#define DEFAULT_GRACE APR_TIME_C(2000000)
#define LOG_MAX 1024

enum dstate { D_NEW, D_RUNNING, D_STOPPING, D_STOPPED };

typedef struct lsock lsock_t;

struct pev_gen {
    pev_daemon_t *d;
    apr_pool_t *conf_pool;          /* holds this record */
    apr_pool_t *pool;               /* NULL once ended (or for a scratch parse) */
    unsigned number;
    void **mconf;                   /* per module, in load order */
    apr_array_header_t *listen;     /* const char * keys, configuration order */
    apr_size_t refs;                /* connections accepted under it */
    int ended;
    const char *fail;               /* pev_gen_fail() message */
};

struct lsock {
    pevi_io_t io;                   /* first: the loop hands us &io */
    pev_daemon_t *d;
    apr_pool_t *pool;
    apr_socket_t *sock;
    const char *key;                /* "HOST:PORT" as configured */
    apr_port_t port;                /* the bound port */
    pev_timer_t *pause;             /* re-enables accepting after EMFILE */
    int fresh;                      /* opened for a restart not yet done */
    lsock_t *next;
};

struct pev_conn {
    pevi_link_t link;               /* on d->conns while open */
    pev_daemon_t *d;
    apr_pool_t *pool;
    pev_gen_t *gen;
    pev_stream_t *stream;
    apr_uint64_t id;
    const char *peer;
    pev_stream_callbacks_t cb;      /* the handler's callbacks */
    void *baton;
    int handled;
    int closed;                     /* on_close delivered */
};

typedef struct dir_entry {
    const pev_directive_t *dir;
    int module;                     /* index in load order; -1: core */
} dir_entry_t;

struct pev_daemon {
    apr_pool_t *pool;
    pev_bus_t *bus;
    pev_loop_t *loop;
    const char *name;
    const pev_module_def_t *const *defs;
    int nmods;
    pev_module_t **mods;
    apr_hash_t *directives;         /* lower-case name -> dir_entry_t */
    apr_pool_t *path_pool;
    const char *config_file;
    const char *default_config;
    apr_interval_time_t grace;
    int flags;

    enum dstate state;
    int restart_req, stop_req;
    int busy;                       /* inside start/restart/stop */
    pev_conn_t *opening;            /* during its core.conn-open */
    int in_log;
    int dying;                      /* d->pool is being destroyed */
    apr_status_t exit_status;

    pev_gen_t *gen;
    unsigned gen_count;
    lsock_t *lsocks;
    pevi_link_t conns;
    apr_size_t nconns;
    apr_uint64_t conn_ids;
    apr_pool_t *sig_pool;

    char error[1024];
};

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */

static void set_error(pev_daemon_t *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_error(pev_daemon_t *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
}

void pev_daemon_vlog(pev_daemon_t *d, pev_log_level_t level, const char *fmt, va_list ap)
{
    char buf[LOG_MAX];
    char *p;
    apr_status_t st;

    if (!d || !fmt)
        return;
    apr_vsnprintf(buf, sizeof buf, fmt, ap);
    for (p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (!d->in_log && pev_event_listening(d->bus, PEV_EVENT_LOG) > 0) {
        pev_log_record_t rec;

        rec.daemon = d;
        rec.level = level;
        rec.msg = buf;
        d->in_log = 1;
        st = pev_event_generate(d->bus, PEV_EVENT_LOG, &rec);
        d->in_log = 0;
        if (st == APR_SUCCESS)
            return;
        if (st == PEV_EDESTROYED)
            return;
    }
    if (level <= PEV_LOG_INFO)
        fprintf(stderr, "%s: %s%s\n", d->name,
                level == PEV_LOG_ERROR ? "error: " : level == PEV_LOG_WARN ? "warning: " : "",
                buf);
}

void pev_daemon_log(pev_daemon_t *d, pev_log_level_t level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pev_daemon_vlog(d, level, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Parsing helpers                                                           */

const char *pev_parse_long(const char *arg, long min, long max, long *out)
{
    char *end;
    long v;

    if (!arg || !out)
        return "expects a number";
    errno = 0;
    v = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || apr_isspace(*arg))
        return "expects a whole number";
    if (errno == ERANGE || v < min || v > max)
        return "number out of range";
    *out = v;
    return NULL;
}

const char *pev_parse_interval(const char *arg, apr_interval_time_t *out)
{
    static const char usage[] = "expects a duration such as 30, 30s, 1500ms, 5m or 1h";
    static const apr_int64_t year = APR_INT64_C(366) * 24 * 3600 * APR_USEC_PER_SEC;
    const char *end;
    char *num_end;
    apr_int64_t unit;
    double v;
    int dots = 0;

    if (!arg || !out)
        return usage;
    /* digits with at most one dot, then the unit (strtod alone would also
     * take hex, exponents and blanks) */
    for (end = arg; apr_isdigit(*end) || *end == '.'; end++)
        dots += *end == '.';
    if (!apr_isdigit(*arg) || dots > 1)
        return usage;
    errno = 0;
    v = strtod(arg, &num_end);
    if (num_end != end || errno == ERANGE)
        return usage;
    if (*end == '\0' || strcmp(end, "s") == 0)
        unit = APR_USEC_PER_SEC;
    else if (strcmp(end, "ms") == 0)
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60 * APR_USEC_PER_SEC;
    else if (strcmp(end, "h") == 0)
        unit = 3600 * APR_USEC_PER_SEC;
    else
        return "unknown unit (use ms, s, m or h)";
    if (v * (double) unit > (double) year)
        return "duration too long (at most a year)";
    *out = (apr_interval_time_t) (v * (double) unit);
    return NULL;
}

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

/* A new generation with defaults applied. @a scratch: no generation pool
 * (a restart's check parse). NULL on failure, d->error set. */
static pev_gen_t *gen_new(pev_daemon_t *d, int scratch)
{
    apr_pool_t *cp;
    pev_gen_t *gen;
    int i;

    if (apr_pool_create(&cp, d->pool) != APR_SUCCESS) {
        set_error(d, "out of memory");
        return NULL;
    }
    apr_pool_tag(cp, "pev_gen_conf");
    gen = apr_pcalloc(cp, sizeof *gen);
    gen->d = d;
    gen->conf_pool = cp;
    gen->number = d->gen_count + 1;
    gen->listen = apr_array_make(cp, 4, sizeof(const char *));
    gen->mconf = apr_pcalloc(cp, sizeof(void *) * (apr_size_t) (d->nmods + 1));
    apr_pool_cleanup_register(cp, gen, gen_conf_gone, apr_pool_cleanup_null);
    if (!scratch) {
        if (apr_pool_create(&gen->pool, cp) != APR_SUCCESS) {
            set_error(d, "out of memory");
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
                set_error(d, "module %s: %s", def->name, msg);
                apr_pool_destroy(cp);
                return NULL;
            }
        }
    }
    return gen;
}

/* The @a i-th Listen key (apr_array_header_t keeps elements in a char *). */
static const char *listen_key(const pev_gen_t *gen, int i)
{
    return ((const char *const *) (const void *) gen->listen->elts)[i];
}

static void gen_unref(pev_gen_t *gen)
{
    pev_daemon_t *d = gen->d;

    gen->refs--;
    if (gen->ended && gen->refs == 0 && !d->dying)
        apr_pool_destroy(gen->conf_pool);
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
     * connection: hold the configuration until the pool is gone */
    gen->refs++;
    if (gen->pool)
        apr_pool_destroy(gen->pool);
    gen_unref(gen);
}

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */

/* The configuration text: the file, or the default. In @a tmp. */
static apr_status_t config_load(pev_daemon_t *d, apr_pool_t *tmp, const char **name,
                                const char **text, apr_size_t *len)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t st;
    char *buf;
    apr_size_t n;
    char eb[256];

    if (!d->config_file) {
        *name = "(default configuration)";
        *text = d->default_config;
        *len = strlen(d->default_config);
        return APR_SUCCESS;
    }
    /* a copy: a callback may set another file while this one is parsed */
    *name = apr_pstrdup(tmp, d->config_file);
    st = apr_file_open(&f, d->config_file, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, tmp);
    if (st != APR_SUCCESS) {
        set_error(d, "%s: cannot open: %s", d->config_file, pev_strerror(st, eb, sizeof eb));
        return st;
    }
    st = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (st == APR_SUCCESS && fi.filetype != APR_REG) {
        set_error(d, "%s: not a regular file", d->config_file);
        apr_file_close(f);
        return APR_EINVAL;
    }
    if (st == APR_SUCCESS && fi.size > CONFIG_MAX_BYTES) {
        set_error(d, "%s: larger than %d bytes", d->config_file, CONFIG_MAX_BYTES);
        apr_file_close(f);
        return APR_EINVAL;
    }
    if (st != APR_SUCCESS) {
        set_error(d, "%s: %s", d->config_file, pev_strerror(st, eb, sizeof eb));
        apr_file_close(f);
        return st;
    }
    /* read at most the limit plus one byte, so a file that grew is seen */
    buf = apr_palloc(tmp, (apr_size_t) fi.size + 2);
    n = (apr_size_t) fi.size + 1;
    st = apr_file_read_full(f, buf, n, &n);
    apr_file_close(f);
    if (st != APR_SUCCESS && !APR_STATUS_IS_EOF(st)) {
        set_error(d, "%s: read error: %s", d->config_file, pev_strerror(st, eb, sizeof eb));
        return st;
    }
    if (n > (apr_size_t) fi.size) {
        set_error(d, "%s: the file changed while it was read", d->config_file);
        return APR_EINVAL;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return APR_SUCCESS;
}

/* Split one line into words: blanks separate, "double quotes" group (with
 * \" and \\ inside), # starts a comment where a word could start. The words
 * are copied into @a pool. Returns NULL or an error message. */
static const char *split_line(const char *p, const char *end, apr_pool_t *pool,
                              int *argc, char **argv)
{
    *argc = 0;
    for (;;) {
        char *w, *o;

        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p >= end || *p == '#')
            return NULL;
        if (*argc == CONFIG_MAX_ARGS)
            return "too many words on one line";
        if (*p == '"') {
            const char *q = p + 1;

            /* the closing quote bounds the word's length */
            while (q < end && *q != '"')
                q += (*q == '\\' && q + 1 < end) ? 2 : 1;
            if (q >= end)
                return "unterminated quoted string";
            w = o = apr_palloc(pool, (apr_size_t) (q - p));
            for (p++; p < q; p++) {
                if (*p == '\\' && p + 1 < q && (p[1] == '"' || p[1] == '\\'))
                    p++;
                *o++ = *p;
            }
            p = q + 1;
            if (p < end && *p != ' ' && *p != '\t' && *p != '\r')
                return "a quoted string must be followed by a blank";
        }
        else {
            const char *q = p;

            while (q < end && *q != ' ' && *q != '\t' && *q != '\r') {
                if (*q == '"')
                    return "a quote inside a word";
                q++;
            }
            w = o = apr_pstrmemdup(pool, p, (apr_size_t) (q - p));
            o += q - p;
            p = q;
        }
        *o = '\0';
        argv[(*argc)++] = w;
    }
}

static const char *arg_count_error(apr_pool_t *pool, const pev_directive_t *dir, int given)
{
    const char *want;

    if (dir->max_args == dir->min_args)
        want = apr_psprintf(pool, "exactly %d argument%s", dir->min_args,
                            dir->min_args == 1 ? "" : "s");
    else if (dir->max_args < 0)
        want = apr_psprintf(pool, "at least %d argument%s", dir->min_args,
                            dir->min_args == 1 ? "" : "s");
    else
        want = apr_psprintf(pool, "%d to %d arguments", dir->min_args, dir->max_args);
    return apr_psprintf(pool, "takes %s%s%s%s, %d given", want,
                        dir->usage ? " (" : "", dir->usage ? dir->usage : "",
                        dir->usage ? ")" : "", given);
}

/* Parse @a text into @a gen. On error d->error is "NAME:LINE: ..." and the
 * result is PEV_ECONFIG. */
static apr_status_t config_parse(pev_daemon_t *d, pev_gen_t *gen, const char *name,
                                 const char *text, apr_size_t len)
{
    const char *p = text, *end = text + len;
    char *argv[CONFIG_MAX_ARGS + 1];
    unsigned line = 0;

    while (p < end) {
        const char *eol = memchr(p, '\n', (apr_size_t) (end - p));
        const char *msg;
        const dir_entry_t *de;
        char lname[128];
        int argc, i;

        if (!eol)
            eol = end;
        line++;
        if (memchr(p, '\0', (apr_size_t) (eol - p))) {
            set_error(d, "%s:%u: a NUL byte", name, line);
            return PEV_ECONFIG;
        }
        msg = split_line(p, eol, gen->conf_pool, &argc, argv);
        p = eol + 1;
        if (msg) {
            set_error(d, "%s:%u: %s", name, line, msg);
            return PEV_ECONFIG;
        }
        if (argc == 0)
            continue;
        argv[argc] = NULL;
        for (i = 0; argv[0][i] && i < (int) sizeof lname - 1; i++)
            lname[i] = (char) apr_tolower(argv[0][i]);
        lname[i] = '\0';
        de = argv[0][i] ? NULL : apr_hash_get(d->directives, lname, APR_HASH_KEY_STRING);
        if (!de) {
            set_error(d, "%s:%u: unknown directive '%s'", name, line, argv[0]);
            return PEV_ECONFIG;
        }
        if (argc - 1 < de->dir->min_args
            || (de->dir->max_args >= 0 && argc - 1 > de->dir->max_args)) {
            set_error(d, "%s:%u: %s %s", name, line, de->dir->name,
                      arg_count_error(gen->conf_pool, de->dir, argc - 1));
            return PEV_ECONFIG;
        }
        msg = de->dir->fn(gen, de->module >= 0 ? gen->mconf[de->module] : NULL, argc, argv);
        if (msg) {
            set_error(d, "%s:%u: %s: %s", name, line, argv[0], msg);
            return PEV_ECONFIG;
        }
    }
    return APR_SUCCESS;
}

/* The core directive: Listen [HOST:]PORT */
static const char *core_listen(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    const char *arg = argv[1];
    char *host, *scope;
    apr_port_t port;
    const char *key;
    apr_size_t n = strlen(arg);
    int i;

    (void) mconf;
    (void) argc;
    /* APR refuses port 0; it means "any free port" here */
    if (strcmp(arg, "0") == 0)
        arg = "1";
    else if (n >= 2 && strcmp(arg + n - 2, ":0") == 0)
        arg = apr_pstrcat(gen->conf_pool, apr_pstrndup(gen->conf_pool, arg, n - 1), "1", NULL);
    else
        n = 0;
    if (apr_parse_addr_port(&host, &scope, &port, arg, gen->conf_pool) != APR_SUCCESS
        || scope)
        return "expects [HOST:]PORT";
    if (port == 0)
        return "expects [HOST:]PORT (a port is missing)";
    if (n)
        port = 0;
    if (host && strchr(host, ':'))
        key = apr_psprintf(gen->conf_pool, "[%s]:%u", host, (unsigned) port);
    else
        key = apr_psprintf(gen->conf_pool, "%s:%u", host ? host : "*", (unsigned) port);
    for (i = 0; i < gen->listen->nelts; i++)
        if (strcmp(listen_key(gen, i), key) == 0)
            return apr_psprintf(gen->conf_pool, "%s is listed twice", key);
    *(const char **) (void *) apr_array_push(gen->listen) = key;
    return NULL;
}

static const pev_directive_t core_directives[] = {
    { "Listen", 1, 1, core_listen, "[HOST:]PORT" },
    { NULL, 0, 0, NULL, NULL }
};

/* ------------------------------------------------------------------------ */
/* Listening sockets                                                         */

static void conn_accepted(pev_daemon_t *d, apr_pool_t *cp, apr_socket_t *ns);

static void lsock_resume(pev_timer_t *t, void *baton)
{
    lsock_t *l = baton;

    (void) t;
    if (pevi_io_set(l->d->loop, &l->io, APR_POLLIN) != APR_SUCCESS)
        pev_daemon_log(l->d, PEV_LOG_ERROR, "cannot poll %s again", l->key);
}

static void lsock_ready(pevi_io_t *io, apr_int16_t events)
{
    lsock_t *l = PEVI_CONTAINER(io, lsock_t, io);
    pev_daemon_t *d = l->d;
    int i;

    (void) events;
    for (i = 0; i < ACCEPT_BATCH && d->state == D_RUNNING && d->gen && !d->busy
                && !d->stop_req; i++) {
        apr_pool_t *cp;
        apr_socket_t *ns;
        apr_status_t st;
        char eb[256];

        st = apr_pool_create(&cp, d->pool);
        if (st == APR_SUCCESS) {
            apr_pool_tag(cp, "pev_conn");
            st = apr_socket_accept(&ns, l->sock, cp);
            if (st == APR_SUCCESS) {
                conn_accepted(d, cp, ns);
                continue;
            }
            apr_pool_destroy(cp);
        }
        if (APR_STATUS_IS_EAGAIN(st) || APR_STATUS_IS_EINTR(st))
            return;
        if (APR_STATUS_IS_ECONNABORTED(st) || st == APR_FROM_OS_ERROR(EPROTO))
            continue;
        /* out of descriptors or memory: the socket stays readable, so stop
         * polling it for a moment rather than spin */
        pev_daemon_log(d, PEV_LOG_WARN, "accept on %s: %s; pausing for %d ms", l->key,
                       pev_strerror(st, eb, sizeof eb), (int) (ACCEPT_PAUSE / 1000));
        if ((l->pause ? pev_timer_rearm_in(l->pause, ACCEPT_PAUSE)
             : pev_timer_add_in(&l->pause, d->loop, ACCEPT_PAUSE, lsock_resume, l, l->pool))
            == APR_SUCCESS)
            pevi_io_set(d->loop, &l->io, 0);
        return;
    }
}

static apr_status_t lsock_cleanup(void *data)
{
    lsock_t *l = data;

    pevi_io_set(l->d->loop, &l->io, 0);
    return APR_SUCCESS;
}

static lsock_t *lsock_find(pev_daemon_t *d, const char *key)
{
    lsock_t *l;

    for (l = d->lsocks; l; l = l->next)
        if (strcmp(l->key, key) == 0)
            return l;
    return NULL;
}

static apr_status_t lsock_open(pev_daemon_t *d, const char *key)
{
    apr_pool_t *lp;
    lsock_t *l;
    apr_sockaddr_t *sa, *local;
    char *host;
    apr_port_t port;
    apr_status_t st;
    const char *what;
    char eb[256];

    st = apr_pool_create(&lp, d->pool);
    if (st != APR_SUCCESS)
        return st;
    apr_pool_tag(lp, "pev_listen");
    l = apr_pcalloc(lp, sizeof *l);
    l->d = d;
    l->pool = lp;
    l->key = apr_pstrdup(lp, key);
    what = "resolve";
    /* the key was checked by core_listen(): [HOST:]PORT, HOST "*" for any */
    {
        char *copy = apr_pstrdup(lp, key);
        char *colon = strrchr(copy, ':');

        *colon = '\0';
        host = strcmp(copy, "*") == 0 ? NULL : copy;
        if (host && host[0] == '[') {
            host++;
            host[strlen(host) - 1] = '\0';
        }
        port = (apr_port_t) atoi(colon + 1);
        st = APR_SUCCESS;
    }
    if (st == APR_SUCCESS)
        st = apr_sockaddr_info_get(&sa, host, host ? APR_UNSPEC : APR_INET, port, 0, lp);
    if (st == APR_SUCCESS) {
        what = "create a socket for";
        st = apr_socket_create(&l->sock, sa->family, SOCK_STREAM, APR_PROTO_TCP, lp);
    }
    if (st == APR_SUCCESS)
        st = apr_socket_opt_set(l->sock, APR_SO_REUSEADDR, 1);
    if (st == APR_SUCCESS) {
        what = "bind";
        st = apr_socket_bind(l->sock, sa);
    }
    if (st == APR_SUCCESS) {
        what = "listen on";
        st = apr_socket_listen(l->sock, SOMAXCONN);
    }
    if (st == APR_SUCCESS)
        st = apr_socket_opt_set(l->sock, APR_SO_NONBLOCK, 1);
    if (st == APR_SUCCESS)
        st = apr_socket_addr_get(&local, APR_LOCAL, l->sock);
    if (st == APR_SUCCESS) {
        l->port = local->port;
        pevi_io_init(&l->io, lp, l->sock, NULL, lsock_ready);
        /* registered after the socket's own cleanup, so it runs first */
        apr_pool_cleanup_register(lp, l, lsock_cleanup, apr_pool_cleanup_null);
        what = "poll";
        st = pevi_io_set(d->loop, &l->io, APR_POLLIN);
    }
    if (st != APR_SUCCESS) {
        set_error(d, "cannot %s %s: %s", what, key, pev_strerror(st, eb, sizeof eb));
        apr_pool_destroy(lp);
        return st;
    }
    l->fresh = 1;
    l->next = d->lsocks;
    d->lsocks = l;
    return APR_SUCCESS;
}

/* Open the sockets @a gen lists that are not open yet (marked fresh). On
 * failure the fresh ones are closed again and d->error names the address. */
static apr_status_t listeners_open(pev_daemon_t *d, const pev_gen_t *gen)
{
    int i;

    for (i = 0; i < gen->listen->nelts; i++) {
        const char *key = listen_key(gen, i);
        apr_status_t st;
        lsock_t **pp;

        if (lsock_find(d, key))
            continue;
        st = lsock_open(d, key);
        if (st == APR_SUCCESS)
            continue;
        for (pp = &d->lsocks; *pp;) {
            lsock_t *l = *pp;

            if (l->fresh) {
                *pp = l->next;
                apr_pool_destroy(l->pool);
            }
            else
                pp = &l->next;
        }
        return st;
    }
    return APR_SUCCESS;
}

/* Keep exactly the sockets @a gen lists (NULL: none), in its order; log the
 * closes unless @a quiet (a failed start says one thing only). */
static void listeners_commit(pev_daemon_t *d, const pev_gen_t *gen, int quiet)
{
    lsock_t *keep = NULL, **tail = &keep, *l;
    int i;

    if (gen)
        for (i = 0; i < gen->listen->nelts; i++) {
            const char *key = listen_key(gen, i);
            lsock_t **pp;

            for (pp = &d->lsocks; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->key, key) == 0)
                    break;
            if (!*pp)
                continue;
            l = *pp;
            *pp = l->next;
            l->next = NULL;
            l->fresh = 0;
            *tail = l;
            tail = &l->next;
        }
    while ((l = d->lsocks) != NULL) {
        d->lsocks = l->next;
        if (!quiet)
            pev_daemon_log(d, PEV_LOG_INFO, "closed %s (port %u)", l->key, (unsigned) l->port);
        apr_pool_destroy(l->pool);
    }
    d->lsocks = keep;
}

apr_port_t pev_daemon_port(const pev_daemon_t *d, int index)
{
    const lsock_t *l;

    if (!d || index < 0)
        return 0;
    for (l = d->lsocks; l && index > 0; l = l->next)
        index--;
    return l ? l->port : 0;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

static void conn_on_read(pev_stream_t *s, void *baton)
{
    pev_conn_t *c = baton;

    if (c->cb.on_read)
        c->cb.on_read(s, c->baton);
}

static void conn_on_drain(pev_stream_t *s, void *baton)
{
    pev_conn_t *c = baton;

    if (c->cb.on_drain)
        c->cb.on_drain(s, c->baton);
}

static int conn_on_idle(pev_stream_t *s, void *baton)
{
    pev_conn_t *c = baton;

    return c->cb.on_idle ? c->cb.on_idle(s, c->baton) : 0;
}

static void conn_on_close(pev_stream_t *s, apr_status_t reason, void *baton)
{
    pev_conn_t *c = baton;

    c->closed = 1;
    if (c->cb.on_close)
        c->cb.on_close(s, reason, c->baton);
    pev_event_generate(c->d->bus, PEV_EVENT_CONN_CLOSE, c);
    apr_pool_destroy(c->pool);
}

static const pev_stream_callbacks_t conn_thunks = {
    conn_on_read, conn_on_drain, conn_on_close, conn_on_idle
};

static apr_status_t conn_cleanup(void *data)
{
    pev_conn_t *c = data;

    if (c->d->opening == c)
        c->d->opening = NULL;
    if (pevi_link_linked(&c->link)) {
        pevi_link_remove(&c->link);
        c->d->nconns--;
    }
    gen_unref(c->gen);
    return APR_SUCCESS;
}

static void conn_accepted(pev_daemon_t *d, apr_pool_t *cp, apr_socket_t *ns)
{
    pev_conn_t *c = apr_pcalloc(cp, sizeof *c);
    apr_sockaddr_t *sa;
    apr_status_t st;
    char eb[256];

    c->d = d;
    c->pool = cp;
    c->gen = d->gen;
    c->gen->refs++;
    c->id = ++d->conn_ids;
    apr_pool_cleanup_register(cp, c, conn_cleanup, apr_pool_cleanup_null);
    c->peer = "?";
    if (apr_socket_addr_get(&sa, APR_REMOTE, ns) == APR_SUCCESS) {
        char *ip;

        if (apr_sockaddr_ip_get(&ip, sa) == APR_SUCCESS)
            c->peer = apr_psprintf(cp, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip,
                                   (unsigned) sa->port);
    }
    st = pev_stream_create_socket(&c->stream, d->loop, ns, &conn_thunks, c, cp);
    if (st != APR_SUCCESS) {
        pev_daemon_log(d, PEV_LOG_ERROR, "connection from %s: %s", c->peer,
                       pev_strerror(st, eb, sizeof eb));
        apr_pool_destroy(cp);
        return;
    }
    pevi_list_append(&d->conns, &c->link);
    d->nconns++;
    d->opening = c;
    pev_event_generate(d->bus, PEV_EVENT_CONN_OPEN, c);
    if (d->opening != c)
        return;                     /* a listener destroyed its pool */
    d->opening = NULL;
    if (!c->handled && !c->closed && pev_stream_is_open(c->stream)) {
        pev_daemon_log(d, PEV_LOG_DEBUG, "connection %" APR_UINT64_T_FMT
                       " from %s: no module took it", c->id, c->peer);
        pev_stream_close(c->stream);
    }
}

apr_status_t pev_conn_set_handler(pev_conn_t *c, const pev_stream_callbacks_t *cb,
                                  void *baton)
{
    if (!c)
        return APR_EINVAL;
    if (c->closed || !pev_stream_is_open(c->stream))
        return PEV_ECLOSED;
    if (cb)
        c->cb = *cb;
    else
        memset(&c->cb, 0, sizeof c->cb);
    c->baton = baton;
    c->handled = 1;
    return APR_SUCCESS;
}

pev_stream_t *pev_conn_stream(const pev_conn_t *c) { return c ? c->stream : NULL; }
apr_pool_t *pev_conn_pool(const pev_conn_t *c) { return c ? c->pool : NULL; }
pev_gen_t *pev_conn_gen(const pev_conn_t *c) { return c ? c->gen : NULL; }
pev_daemon_t *pev_conn_daemon(const pev_conn_t *c) { return c ? c->d : NULL; }
apr_uint64_t pev_conn_id(const pev_conn_t *c) { return c ? c->id : 0; }
const char *pev_conn_peer(const pev_conn_t *c) { return c ? c->peer : NULL; }

apr_status_t pev_conn_close(pev_conn_t *c)
{
    if (!c)
        return APR_EINVAL;
    return pev_stream_close(c->stream);
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                  */

static apr_status_t daemon_dying(void *data)
{
    pev_daemon_t *d = data;

    d->dying = 1;
    return APR_SUCCESS;
}

static apr_status_t add_directives(pev_daemon_t *d, const pev_directive_t *dirs, int module)
{
    for (; dirs && dirs->name; dirs++) {
        dir_entry_t *de;
        char *lname;
        int i;

        if (!dirs->fn || dirs->min_args < 0
            || (dirs->max_args >= 0 && dirs->max_args < dirs->min_args)
            || strlen(dirs->name) >= 128)
            return APR_EINVAL;
        lname = apr_pstrdup(d->pool, dirs->name);
        for (i = 0; lname[i]; i++)
            lname[i] = (char) apr_tolower(lname[i]);
        if (apr_hash_get(d->directives, lname, APR_HASH_KEY_STRING))
            return APR_EEXIST;
        de = apr_palloc(d->pool, sizeof *de);
        de->dir = dirs;
        de->module = module;
        apr_hash_set(d->directives, lname, APR_HASH_KEY_STRING, de);
    }
    return APR_SUCCESS;
}

apr_status_t pev_daemon_create(pev_daemon_t **out, const pev_daemon_options_t *opts,
                               apr_pool_t *pool)
{
    apr_pool_t *dp;
    pev_daemon_t *d;
    apr_status_t st;
    int i;

    if (!out || !opts || !pool || (!opts->config_file && !opts->default_config))
        return APR_EINVAL;
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
    pevi_list_init(&d->conns);
    d->error[0] = '\0';
    apr_pool_pre_cleanup_register(dp, d, daemon_dying);
    st = pev_bus_create(&d->bus, dp);
    if (st == APR_SUCCESS)
        st = pev_loop_create(&d->loop, dp);
    if (st == APR_SUCCESS)
        st = apr_pool_create(&d->path_pool, dp);
    if (st != APR_SUCCESS)
        goto fail;
    if (opts->config_file)
        d->config_file = apr_pstrdup(d->path_pool, opts->config_file);
    d->directives = apr_hash_make(dp);
    st = add_directives(d, core_directives, -1);
    if (opts->modules)
        while (opts->modules[d->nmods])
            d->nmods++;
    d->defs = opts->modules;
    d->mods = apr_pcalloc(dp, sizeof(pev_module_t *) * (apr_size_t) (d->nmods + 1));
    for (i = 0; st == APR_SUCCESS && i < d->nmods; i++) {
        const pev_module_def_t *def = d->defs[i];

        if (!def->name || !*def->name)
            st = APR_EINVAL;
        else
            st = pev_module_add(d->bus, def->name, &d->mods[i]);
        if (st == APR_SUCCESS)
            st = add_directives(d, def->directives, i);
    }
    if (st != APR_SUCCESS)
        goto fail;
    *out = d;
    return APR_SUCCESS;

fail:
    apr_pool_destroy(dp);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */

static void on_signal(int signo, void *baton)
{
    pev_daemon_t *d = baton;

    if (signo == SIGHUP) {
        pev_daemon_log(d, PEV_LOG_INFO, "SIGHUP: restarting");
        pev_daemon_restart(d);
    }
    else {
        pev_daemon_log(d, PEV_LOG_INFO, "%s: stopping", signo == SIGTERM ? "SIGTERM" : "SIGINT");
        pev_daemon_stop(d);
    }
}

/* Run each module's init for @a gen, in load order. */
static apr_status_t run_inits(pev_daemon_t *d, pev_gen_t *gen)
{
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
            set_error(d, "module %s: %s", def->name,
                      gen->fail ? gen->fail : pev_strerror(st, eb, sizeof eb));
            return st;
        }
        if (!gen->pool) {
            set_error(d, "module %s: the generation ended during its init", def->name);
            return APR_EGENERAL;
        }
    }
    return APR_SUCCESS;
}

static void log_listening(pev_daemon_t *d)
{
    const lsock_t *l;

    for (l = d->lsocks; l; l = l->next) {
        char *colon = strrchr(l->key, ':');

        pev_daemon_log(d, PEV_LOG_INFO, "listening on %.*s:%u",
                       colon ? (int) (colon - l->key) : (int) strlen(l->key), l->key,
                       (unsigned) l->port);
    }
}

/* Read the configuration (into @a tmp) and parse it into a scratch
 * generation, dropped again: no generation pool, no module init. With
 * @a open, the sockets it lists that are not open yet are opened (marked
 * fresh). On failure d->error says why. */
static apr_status_t config_check(pev_daemon_t *d, apr_pool_t *tmp, int open,
                                 const char **name, const char **text, apr_size_t *len)
{
    pev_gen_t *scratch;
    apr_status_t st;

    st = config_load(d, tmp, name, text, len);
    if (st != APR_SUCCESS)
        return st;
    scratch = gen_new(d, 1);
    if (!scratch)
        return PEV_ECONFIG;
    st = config_parse(d, scratch, *name, *text, *len);
    if (st == APR_SUCCESS && open)
        st = listeners_open(d, scratch);
    apr_pool_destroy(scratch->conf_pool);
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
    st = config_load(d, tmp, &name, &text, &len);
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
    st = config_parse(d, gen, name, text, len);
    apr_pool_destroy(tmp);
    if (st == APR_SUCCESS)
        st = listeners_open(d, gen);
    if (st != APR_SUCCESS) {
        gen_end(gen);
        return st;
    }
    listeners_commit(d, gen, 0);
    d->gen_count = gen->number;
    d->gen = gen;
    d->state = D_RUNNING;
    st = run_inits(d, gen);
    if (st == APR_SUCCESS && !(d->flags & PEV_DAEMON_NO_SIGNALS)) {
        static const int signos[] = { SIGHUP, SIGTERM, SIGINT };
        char eb[256];
        int i;

        st = apr_pool_create(&d->sig_pool, d->pool);
        for (i = 0; st == APR_SUCCESS && i < 3; i++) {
            st = pev_signal_add(NULL, d->loop, signos[i], on_signal, d, d->sig_pool);
            if (st != APR_SUCCESS)
                set_error(d, "cannot handle signal %d: %s", signos[i],
                          pev_strerror(st, eb, sizeof eb));
        }
    }
    if (st != APR_SUCCESS) {
        if (d->sig_pool)
            apr_pool_destroy(d->sig_pool);
        d->sig_pool = NULL;
        if (d->gen)
            gen_end(d->gen);
        listeners_commit(d, NULL, 1);
        d->state = D_STOPPED;
        return st;
    }
    log_listening(d);
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
        set_error(d, "the daemon was stopped");
        return PEV_ECLOSED;
    }
    if (d->state != D_NEW || d->busy || pevi_loop_running(d->loop))
        return PEV_EBUSY;
    d->busy = 1;
    st = start_first(d);
    d->busy = 0;
    if (st != APR_SUCCESS)
        d->state = D_STOPPED;
    return st;
}

static void do_stop(pev_daemon_t *d)
{
    pev_gen_t *gen = d->gen;
    apr_time_t deadline;
    pevi_link_t *l, *next;
    int spins;

    d->state = D_STOPPING;
    d->stop_req = d->restart_req = 0;
    pev_event_generate(d->bus, PEV_EVENT_SHUTDOWN, gen);
    listeners_commit(d, NULL, 0);
    for (l = d->conns.next; l != &d->conns; l = next) {
        next = l->next;
        pev_stream_close(PEVI_CONTAINER(l, pev_conn_t, link)->stream);
    }
    /* the real clock: a test's frozen loop clock must not stall a stop */
    deadline = pev_clock_monotonic() + d->grace;
    while (d->nconns > 0) {
        apr_time_t now = pev_clock_monotonic();

        if (now >= deadline)
            break;
        if (pev_loop_run_once(d->loop, deadline - now < 100000 ? deadline - now : 100000)
            != APR_SUCCESS)
            break;
    }
    if (d->nconns > 0) {
        pev_daemon_log(d, PEV_LOG_WARN, "%lu connection(s) did not close in time: aborted",
                       (unsigned long) d->nconns);
        for (l = d->conns.next; l != &d->conns; l = next) {
            next = l->next;
            pev_stream_abort(PEVI_CONTAINER(l, pev_conn_t, link)->stream);
        }
        for (spins = 0; d->nconns > 0 && spins < 8; spins++)
            if (pev_loop_run_once(d->loop, 0) != APR_SUCCESS)
                break;
        /* whatever is left (a loop error): go without callbacks */
        while (d->conns.next != &d->conns)
            apr_pool_destroy(PEVI_CONTAINER(d->conns.next, pev_conn_t, link)->pool);
    }
    pev_event_generate(d->bus, PEV_EVENT_EXIT, gen);
    if (d->sig_pool)
        apr_pool_destroy(d->sig_pool);
    d->sig_pool = NULL;
    if (d->gen)
        gen_end(d->gen);
    d->state = D_STOPPED;
    pev_daemon_log(d, PEV_LOG_INFO, "stopped");
}

static void do_restart(pev_daemon_t *d)
{
    apr_pool_t *tmp;
    const char *name, *text;
    apr_size_t len;
    pev_gen_t *gen, *old = d->gen;
    apr_status_t st;

    d->restart_req = 0;
    if (apr_pool_create(&tmp, d->pool) != APR_SUCCESS)
        return;
    /* 1. read and check the next configuration while this one runs */
    st = config_check(d, tmp, 1, &name, &text, &len);
    if (st != APR_SUCCESS) {
        pev_daemon_log(d, PEV_LOG_ERROR, "reload failed, keeping generation %u: %s",
                       old ? old->number : 0, d->error);
        apr_pool_destroy(tmp);
        return;
    }
    /* 2. and 3. the running generation ends */
    pev_event_generate(d->bus, PEV_EVENT_RESTART, old);
    if (d->gen)
        gen_end(d->gen);
    /* 4. the next one */
    gen = gen_new(d, 0);
    if (gen) {
        d->gen_count = gen->number;
        pev_event_generate(d->bus, PEV_EVENT_PREPARSE, gen);
        st = config_parse(d, gen, name, text, len);
        d->gen = gen;               /* a failure below: the stop ends it */
        if (st == APR_SUCCESS) {
            listeners_commit(d, gen, 0);
            st = run_inits(d, gen);
        }
    }
    else
        st = PEV_ECONFIG;
    apr_pool_destroy(tmp);
    if (st != APR_SUCCESS) {
        pev_daemon_log(d, PEV_LOG_ERROR, "restart failed, stopping: %s", d->error);
        d->exit_status = st;
        do_stop(d);
        return;
    }
    pev_daemon_log(d, PEV_LOG_INFO, "generation %u running", gen->number);
    pev_event_generate(d->bus, PEV_EVENT_POSTPARSE, gen);
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
    st = config_check(d, tmp, 0, &name, &text, &len);
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
    if (d->state == D_NEW && !d->busy)
        d->state = D_STOPPED;
    else if (d->state == D_NEW || d->state == D_RUNNING)
        d->stop_req = 1;            /* during the start: right after it */
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Accessors                                                                 */

pev_bus_t *pev_daemon_bus(const pev_daemon_t *d) { return d ? d->bus : NULL; }
pev_loop_t *pev_daemon_loop(const pev_daemon_t *d) { return d ? d->loop : NULL; }
apr_pool_t *pev_daemon_pool(const pev_daemon_t *d) { return d ? d->pool : NULL; }
const char *pev_daemon_name(const pev_daemon_t *d) { return d ? d->name : NULL; }
pev_gen_t *pev_daemon_gen(const pev_daemon_t *d) { return d ? d->gen : NULL; }
const char *pev_daemon_error(const pev_daemon_t *d) { return d ? d->error : ""; }
apr_size_t pev_daemon_connections(const pev_daemon_t *d) { return d ? d->nconns : 0; }

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
apr_pool_t *pev_gen_pool(const pev_gen_t *gen) { return gen ? gen->pool : NULL; }
apr_pool_t *pev_gen_conf_pool(const pev_gen_t *gen) { return gen ? gen->conf_pool : NULL; }
pev_daemon_t *pev_gen_daemon(const pev_gen_t *gen) { return gen ? gen->d : NULL; }
int pev_gen_is_current(const pev_gen_t *gen) { return gen && gen->d->gen == gen; }

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

    if (!gen || !fmt)
        return status;
    va_start(ap, fmt);
    gen->fail = apr_pvsprintf(gen->conf_pool, fmt, ap);
    va_end(ap);
    return status;
}
