/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * conf.c - the configuration: the directive table, reading the file (or the
 * default text), splitting lines into words, running the directives, the
 * core directive Listen, and the parse helpers for directives
 * (pev_parse_long(), pev_parse_interval()).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_cstr.h>
#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "daemon_int.h"

#define CONFIG_MAX_BYTES (1024 * 1024) /* a configuration file, at most */
#define CONFIG_MAX_ARGS 64              /* words on one line */

typedef struct dir_entry {
    const pev_directive_t *dir;
    int module;                     /* index in load order; -1: core */
} dir_entry_t;

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
    if (errno == ERANGE || v < min || v > max) {
        static _Thread_local char msg[96];

        apr_snprintf(msg, sizeof msg, "number out of range (%ld-%ld)", min, max);
        return msg;
    }
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
/* Reading and parsing                                                       */

/* What a file that is not a regular one is, for the message. */
static const char *file_kind(mode_t mode)
{
    return S_ISFIFO(mode) ? "a FIFO" : S_ISDIR(mode) ? "a directory"
           : S_ISCHR(mode) ? "a character device" : S_ISBLK(mode) ? "a block device"
           : S_ISSOCK(mode) ? "a socket" : "not a regular file";
}

/* The configuration text: the file, or the default. In @a tmp. The file is
 * opened without blocking (a FIFO or a device at the path would hold the
 * daemon in open() or read() forever) and read only if it is a regular
 * file. */
apr_status_t pevi_conf_load(pev_daemon_t *d, apr_pool_t *tmp, const char **name,
                            const char **text, apr_size_t *len)
{
    struct stat sb;
    apr_status_t st;
    char *buf;
    apr_size_t n, want;
    char eb[256];
    int fd;

    if (!d->config_file) {
        *name = "(default configuration)";
        *text = d->default_config;
        *len = strlen(d->default_config);
        return APR_SUCCESS;
    }
    /* a copy: a callback may set another file while this one is parsed */
    *name = apr_pstrdup(tmp, d->config_file);
    do
        fd = open(*name, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        st = APR_FROM_OS_ERROR(errno);
        pevi_daemon_set_error(d, "%s: cannot open: %s", *name, pev_strerror(st, eb, sizeof eb));
        return st;
    }
    if (fstat(fd, &sb) != 0) {
        st = APR_FROM_OS_ERROR(errno);
        pevi_daemon_set_error(d, "%s: %s", *name, pev_strerror(st, eb, sizeof eb));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        pevi_daemon_set_error(d, "%s: %s, not a regular file: refused", *name,
                              file_kind(sb.st_mode));
        close(fd);
        return APR_EINVAL;
    }
    if (sb.st_size > CONFIG_MAX_BYTES) {
        pevi_daemon_set_error(d, "%s: larger than %d bytes", *name, CONFIG_MAX_BYTES);
        close(fd);
        return APR_EINVAL;
    }
    /* read at most the size plus one byte, so a file that grew is seen */
    want = (apr_size_t) sb.st_size + 1;
    buf = apr_palloc(tmp, want + 1);
    n = 0;
    while (n < want) {
        ssize_t r = read(fd, buf + n, want - n);

        if (r > 0)
            n += (apr_size_t) r;
        else if (r == 0)
            break;
        else if (errno != EINTR) {
            st = APR_FROM_OS_ERROR(errno);
            pevi_daemon_set_error(d, "%s: read error: %s", *name,
                                  pev_strerror(st, eb, sizeof eb));
            close(fd);
            return st;
        }
    }
    close(fd);
    if (n > (apr_size_t) sb.st_size) {
        pevi_daemon_set_error(d, "%s: the file changed while it was read", *name);
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
apr_status_t pevi_conf_parse(pev_daemon_t *d, pev_gen_t *gen, const char *name,
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
            pevi_daemon_set_error(d, "%s:%u: a NUL byte", name, line);
            return PEV_ECONFIG;
        }
        msg = split_line(p, eol, gen->conf_pool, &argc, argv);
        p = eol + 1;
        if (msg) {
            pevi_daemon_set_error(d, "%s:%u: %s", name, line, msg);
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
            pevi_daemon_set_error(d, "%s:%u: unknown directive '%s'", name, line, argv[0]);
            return PEV_ECONFIG;
        }
        if (argc - 1 < de->dir->min_args
            || (de->dir->max_args >= 0 && argc - 1 > de->dir->max_args)) {
            pevi_daemon_set_error(d, "%s:%u: %s %s", name, line, de->dir->name,
                                  arg_count_error(gen->conf_pool, de->dir, argc - 1));
            return PEV_ECONFIG;
        }
        msg = de->dir->fn(gen, de->module >= 0 ? gen->mconf[de->module] : NULL, argc, argv);
        if (msg) {
            pevi_daemon_set_error(d, "%s:%u: %s: %s", name, line, argv[0], msg);
            return PEV_ECONFIG;
        }
    }
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Directives                                                                */

/* The core directive: Listen [HOST:]PORT [tls] */
static const char *core_listen(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    const char *arg = argv[1], *colon = strrchr(arg, ':'), *pstr = arg, *q;
    char *host, *scope;
    apr_port_t port;
    const char *key;
    int i, any = 0, tls = 0;

    (void) mconf;
    if (argc > 2) {
        if (apr_cstr_casecmp(argv[2], "tls") != 0)
            return apr_psprintf(gen->conf_pool, "unknown option '%s' (only 'tls')", argv[2]);
        tls = 1;
    }
    /* the port: after the last colon, unless that one is inside [IPv6] */
    if (colon && (arg[0] != '[' || (strchr(arg, ']') && colon > strchr(arg, ']'))))
        pstr = colon + 1;
    for (q = pstr; apr_isdigit(*q); q++)
        ;
    if (q > pstr && *q == '\0') {
        if (q - pstr > 5 || atol(pstr) > 65535)
            return apr_psprintf(gen->conf_pool, "port %s out of range (1-65535, or 0 for "
                                "any free port)", pstr);
        /* APR refuses port 0; it means "any free port" here */
        if (atol(pstr) == 0) {
            any = 1;
            arg = apr_pstrcat(gen->conf_pool,
                              apr_pstrndup(gen->conf_pool, arg, (apr_size_t) (pstr - arg)),
                              "1", NULL);
        }
    }
    if (apr_parse_addr_port(&host, &scope, &port, arg, gen->conf_pool) != APR_SUCCESS
        || scope)
        return "expects [HOST:]PORT";
    if (port == 0)
        return "expects [HOST:]PORT (a port is missing)";
    if (any)
        port = 0;
    if (host && strchr(host, ':'))
        key = apr_psprintf(gen->conf_pool, "[%s]:%u", host, (unsigned) port);
    else
        key = apr_psprintf(gen->conf_pool, "%s:%u", host ? host : "*", (unsigned) port);
    /* an address is listed once, plaintext or TLS (port 0 excepted: each
     * line takes a port of its own) */
    for (i = 0; i < gen->listen->nelts; i++) {
        const char *k = pevi_gen_listen_key(gen, i);
        apr_size_t kl = strlen(key);

        if (strncmp(k, key, kl) == 0 && (k[kl] == '\0' || k[kl] == ' ')
            && (port != 0 || (k[kl] == ' ') == tls))
            return apr_psprintf(gen->conf_pool, "%s is listed twice", key);
    }
    if (tls) {
        key = apr_pstrcat(gen->conf_pool, key, " tls", NULL);
        gen->tls_listens++;
    }
    *(const char **) (void *) apr_array_push(gen->listen) = key;
    return NULL;
}

/* TLSCertificateFile, TLSCertificateKeyFile, TLSCACertificateFile FILE */
static const char *core_tls_file(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    const char **slot;

    (void) mconf;
    (void) argc;
    if (apr_cstr_casecmp(argv[0], "TLSCertificateFile") == 0)
        slot = &gen->tls_cert;
    else if (apr_cstr_casecmp(argv[0], "TLSCertificateKeyFile") == 0)
        slot = &gen->tls_key;
    else
        slot = &gen->tls_ca;
    if (*slot)
        return "given twice";
    if (!*argv[1])
        return "expects a file name";
    *slot = argv[1];
    return NULL;
}

static const pev_directive_t core_directives[] = {
    { "Listen", 1, 2, core_listen, "[HOST:]PORT [tls]" },
    { "TLSCertificateFile", 1, 1, core_tls_file, "FILE" },
    { "TLSCertificateKeyFile", 1, 1, core_tls_file, "FILE" },
    { "TLSCACertificateFile", 1, 1, core_tls_file, "FILE" },
    { NULL, 0, 0, NULL, NULL }
};

apr_status_t pevi_conf_tls(pev_daemon_t *d, const pev_gen_t *gen, const char *name,
                           apr_pool_t **tls_pool, pev_tls_ctx_t **ctx)
{
    apr_pool_t *tp;
    pev_tls_ctx_t *c;
    apr_status_t st;
    const char *what;
    char eb[256];

    *tls_pool = NULL;
    *ctx = NULL;
    if (!gen->tls_cert) {
        if (gen->tls_listens) {
            pevi_daemon_set_error(d, "%s: Listen ... tls needs TLSCertificateFile", name);
            return PEV_ECONFIG;
        }
        if (gen->tls_key || gen->tls_ca) {
            pevi_daemon_set_error(d, "%s: %s needs TLSCertificateFile", name,
                                  gen->tls_key ? "TLSCertificateKeyFile"
                                               : "TLSCACertificateFile");
            return PEV_ECONFIG;
        }
        return APR_SUCCESS;
    }
    st = apr_pool_create(&tp, d->pool);
    if (st != APR_SUCCESS) {
        pevi_daemon_set_error(d, "%s: TLS: out of memory", name);
        return st;
    }
    apr_pool_tag(tp, "pev_gen_tls");
    what = "TLSCertificateFile";
    st = pev_tls_ctx_create(&c, PEV_TLS_SERVER, tp);
    if (st == APR_SUCCESS) {
        /* without TLSCertificateKeyFile the key is in the certificate's file */
        st = pev_tls_ctx_load_cert(c, gen->tls_cert, gen->tls_key ? gen->tls_key
                                                                  : gen->tls_cert);
        if (st == APR_SUCCESS && gen->tls_ca) {
            what = "TLSCACertificateFile";
            st = pev_tls_ctx_load_ca(c, gen->tls_ca);
        }
        if (st != APR_SUCCESS)
            pevi_daemon_set_error(d, "%s: %s: %s", name, what, pev_tls_error(c)
                                  ? pev_tls_error(c) : pev_strerror(st, eb, sizeof eb));
    }
    else if (st == APR_ENOTIMPL)
        pevi_daemon_set_error(d, "%s: TLSCertificateFile: this build has no TLS"
                              " (configured --without-openssl)", name);
    else
        pevi_daemon_set_error(d, "%s: TLS: cannot make a context: %s", name,
                              pev_strerror(st, eb, sizeof eb));
    if (st != APR_SUCCESS) {
        apr_pool_destroy(tp);
        return st;
    }
    *tls_pool = tp;
    *ctx = c;
    return APR_SUCCESS;
}

apr_status_t pevi_conf_add_directives(pev_daemon_t *d, const pev_directive_t *dirs, int module)
{
    for (; dirs && dirs->name; dirs++) {
        dir_entry_t *de;
        char *lname;
        int i;

        const char *bad = !dirs->fn ? "has no handler (fn is NULL)"
                          : dirs->min_args < 0 ? "has min_args < 0"
                          : dirs->max_args >= 0 && dirs->max_args < dirs->min_args
                            ? "has max_args < min_args"
                          : strlen(dirs->name) >= 128 ? "has a name of 128 characters or more"
                          : NULL;

        if (bad) {
            pevi_daemon_set_error(d, "directive '%.40s' %s", dirs->name, bad);
            return APR_EINVAL;
        }
        lname = apr_pstrdup(d->pool, dirs->name);
        for (i = 0; lname[i]; i++)
            lname[i] = (char) apr_tolower(lname[i]);
        if ((de = apr_hash_get(d->directives, lname, APR_HASH_KEY_STRING)) != NULL) {
            if (de->module < 0)
                pevi_daemon_set_error(d, "directive '%s' is taken by the core", dirs->name);
            else
                pevi_daemon_set_error(d, "directive '%s' is taken by module %s", dirs->name,
                                      d->defs[de->module]->name);
            return APR_EEXIST;
        }
        de = apr_palloc(d->pool, sizeof *de);
        de->dir = dirs;
        de->module = module;
        apr_hash_set(d->directives, lname, APR_HASH_KEY_STRING, de);
    }
    return APR_SUCCESS;
}

apr_status_t pevi_conf_init(pev_daemon_t *d)
{
    apr_status_t st;

    d->directives = apr_hash_make(d->pool);
    st = pevi_conf_add_directives(d, core_directives, -1);
    if (st == APR_SUCCESS)
        st = pevi_log_init(d);
    if (st == APR_SUCCESS)
        st = pevi_conf_add_directives(d, pevi_log_directives, -1);
    /* the process directives, each part's own (privs.c, pidfile.c, limits.c) */
    if (st == APR_SUCCESS)
        st = pevi_conf_add_directives(d, pevi_privs_directives, -1);
    if (st == APR_SUCCESS)
        st = pevi_conf_add_directives(d, pevi_pidfile_directives, -1);
    if (st == APR_SUCCESS)
        st = pevi_conf_add_directives(d, pevi_limits_directives, -1);
    if (st == APR_SUCCESS)
        st = pevi_conf_add_directives(d, pevi_workers_directives, -1);
    return st;
}
