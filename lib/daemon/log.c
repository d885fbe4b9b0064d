/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * log.c - the daemon's messages: the error text of the last failure
 * (pev_daemon_error()) and the log (core.log listeners, else the daemon's
 * own target: stderr, the journal's stream, syslog or a file), with the
 * core directives that choose it (LogLevel, LogTarget, LogFile).
 *
 * The target is the daemon's, not a generation's: a restart prepares the
 * next one while the running one still writes (a log file that cannot be
 * opened fails the reload, the old target stays), and switches when the
 * next generation's configuration is parsed, so every line of a restart
 * goes somewhere with its time and level.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_time.h>

#include "poolev/signal.h"
#include "daemon_int.h"

#define LOG_MAX 1024

enum { T_STDERR, T_SYSLOG, T_FILE };

/* What a generation's directives asked for. */
struct pevi_log_conf {
    pev_log_level_t level;
    int target;
    int facility;
    const char *path;
};

/* A target in use or prepared: in its own pool (a subpool of the daemon's),
 * whose cleanup closes the file. */
typedef struct sink {
    pev_daemon_t *d;
    apr_pool_t *pool;
    pev_log_level_t level;
    int target;
    int facility;
    const char *path;
    int fd;                         /* T_FILE: the file; else -1 */
} sink_t;

struct pevi_log {
    sink_t *cur;                    /* NULL: the defaults (stderr, info) */
    sink_t *pending;                /* prepared by a start or restart */
    int journal;                    /* stderr is the journal's stream */
    int syslog_open;
};

static const char *const level_names[] = { "error", "warn", "info", "debug" };
/* sd-daemon(3) prefixes: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const int level_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void pevi_daemon_set_error(pev_daemon_t *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                   */

/* Whether stderr is the stream JOURNAL_STREAM ("DEV:INODE") names: then
 * systemd's journal reads it and wants <N> prefixes, not timestamps. */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat sb;
    char extra;

    if (!js || sscanf(js, "%llu:%llu%c", &dev, &ino, &extra) != 2)
        return 0;
    if (fstat(STDERR_FILENO, &sb) != 0)
        return 0;
    return (unsigned long long) sb.st_dev == dev && (unsigned long long) sb.st_ino == ino;
}

static void write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;                 /* nowhere to report it */
        buf += w;
        n -= (size_t) w;
    }
}

static void sink_write(pev_daemon_t *d, pev_log_level_t level, const char *msg)
{
    const struct pevi_log *lg = d->log;
    const sink_t *s = lg ? lg->cur : NULL;
    int target = s ? s->target : T_STDERR;
    int fd = STDERR_FILENO;
    char line[LOG_MAX + 128];
    int n;

    if (level > (s ? s->level : PEV_LOG_INFO))
        return;
    if ((unsigned) level > PEV_LOG_DEBUG)
        level = PEV_LOG_DEBUG;
    if (target == T_SYSLOG && lg->syslog_open) {
        syslog(level_prio[level], "%s", msg);
        return;
    }
    if (target == T_FILE && s->fd >= 0)
        fd = s->fd;
    if (fd == STDERR_FILENO && lg && lg->journal)
        n = snprintf(line, sizeof line, "<%d>%s%s%s\n", level_prio[level],
                     level <= PEV_LOG_WARN ? level_names[level] : "",
                     level <= PEV_LOG_WARN ? ": " : "", msg);
    else {
        apr_time_t now = apr_time_now();
        apr_time_exp_t tm;
        apr_size_t tslen;
        char ts[32];

        apr_time_exp_lt(&tm, now);
        apr_strftime(ts, &tslen, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        n = snprintf(line, sizeof line, "%s.%03d %s[%ld] %s: %s\n", ts,
                     (int) (tm.tm_usec / 1000), d->name, (long) getpid(),
                     level_names[level], msg);
    }
    if (n < 0)
        return;
    if ((size_t) n >= sizeof line) {
        n = (int) sizeof line - 1;
        line[n - 1] = '\n';
    }
    write_all(fd, line, (size_t) n);
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
    if (pevi_wctx(d)->index >= 0) {
        /* a worker: the sinks and core.log are the main thread's */
        pevi_workers_log(d, level, buf);
        return;
    }
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
    sink_write(d, level, buf);
}

void pev_daemon_log(pev_daemon_t *d, pev_log_level_t level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pev_daemon_vlog(d, level, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* Targets                                                                   */

static apr_status_t sink_gone(void *data)
{
    sink_t *s = data;
    struct pevi_log *lg = s->d->log;

    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    if (lg->cur == s) {
        lg->cur = NULL;
        if (lg->syslog_open) {
            closelog();
            lg->syslog_open = 0;
        }
    }
    if (lg->pending == s)
        lg->pending = NULL;
    return APR_SUCCESS;
}

static int open_log_file(const char *path)
{
    int fd;

    do
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    while (fd < 0 && errno == EINTR);
    return fd;
}

static apr_status_t log_cleanup(void *data)
{
    pev_daemon_t *d = data;

    /* the sinks' pools went before (subpools go before their parent's
     * cleanups); syslog, if it was open, went with its sink */
    d->log->cur = d->log->pending = NULL;
    return APR_SUCCESS;
}

apr_status_t pevi_log_init(pev_daemon_t *d)
{
    d->log = apr_pcalloc(d->pool, sizeof *d->log);
    d->log->journal = stderr_is_journal();
    apr_pool_cleanup_register(d->pool, d, log_cleanup, apr_pool_cleanup_null);
    return APR_SUCCESS;
}

apr_status_t pevi_log_prepare(pev_daemon_t *d, const pev_gen_t *gen)
{
    const struct pevi_log_conf *lc = gen->log;
    struct pevi_log *lg = d->log;
    apr_pool_t *sp;
    sink_t *s;
    char eb[256];

    pevi_log_abort(d);
    if (apr_pool_create(&sp, d->pool) != APR_SUCCESS) {
        pevi_daemon_set_error(d, "out of memory");
        return APR_ENOMEM;
    }
    apr_pool_tag(sp, "pev_log");
    s = apr_pcalloc(sp, sizeof *s);
    s->d = d;
    s->pool = sp;
    s->fd = -1;
    s->level = lc ? lc->level : PEV_LOG_INFO;
    s->target = lc ? lc->target : T_STDERR;
    s->facility = lc ? lc->facility : LOG_DAEMON;
    if (s->target == T_FILE) {
        s->path = apr_pstrdup(sp, lc->path);
        s->fd = open_log_file(s->path);
        if (s->fd < 0) {
            apr_status_t st = APR_FROM_OS_ERROR(errno);

            pevi_daemon_set_error(d, "cannot open the log file %s: %s", s->path,
                                  pev_strerror(st, eb, sizeof eb));
            apr_pool_destroy(sp);
            return st;
        }
    }
    apr_pool_cleanup_register(sp, s, sink_gone, apr_pool_cleanup_null);
    lg->pending = s;
    return APR_SUCCESS;
}

void pevi_log_commit(pev_daemon_t *d)
{
    struct pevi_log *lg = d->log;
    sink_t *s = lg->pending, *old = lg->cur;

    if (!s)
        return;
    lg->pending = NULL;
    if (old) {
        lg->cur = NULL;
        if (lg->syslog_open) {      /* openlog() again: the facility may change */
            closelog();
            lg->syslog_open = 0;
        }
        apr_pool_destroy(old->pool);
    }
    lg->cur = s;
    lg->journal = stderr_is_journal();
    if (s->target == T_SYSLOG) {
        openlog(d->name, LOG_PID, s->facility);
        lg->syslog_open = 1;
    }
}

void pevi_log_abort(pev_daemon_t *d)
{
    if (d->log->pending)
        apr_pool_destroy(d->log->pending->pool);
}

void pevi_log_close(pev_daemon_t *d)
{
    pevi_log_abort(d);
    if (d->log->cur)
        apr_pool_destroy(d->log->cur->pool);
}

apr_status_t pev_daemon_reopen_logs(pev_daemon_t *d)
{
    sink_t *s;
    apr_status_t st;
    char eb[256];
    int fd;

    if (!d)
        return APR_EINVAL;
    s = d->log->cur;
    if (!s || s->target != T_FILE)
        return APR_SUCCESS;
    fd = open_log_file(s->path);
    if (fd < 0) {
        st = APR_FROM_OS_ERROR(errno);
        pev_daemon_log(d, PEV_LOG_ERROR, "cannot reopen the log file %s: %s", s->path,
                       pev_strerror(st, eb, sizeof eb));
        return st;
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = fd;
    pev_daemon_log(d, PEV_LOG_INFO, "log file %s reopened", s->path);
    return APR_SUCCESS;
}

static void on_usr1(int signo, void *user_data)
{
    (void) signo;
    (void) pev_daemon_reopen_logs(user_data);
}

apr_status_t pevi_log_take_signal(pev_daemon_t *d)
{
    char eb[256];
    apr_status_t st = pev_signal_add(NULL, d->loop, SIGUSR1, on_usr1, d, d->sig_pool);

    if (st != APR_SUCCESS)
        pevi_daemon_set_error(d, "cannot handle signal %d: %s", SIGUSR1,
                              pev_strerror(st, eb, sizeof eb));
    return st;
}

/* ------------------------------------------------------------------------ */
/* Directives                                                                */

static struct pevi_log_conf *gen_log_conf(pev_gen_t *gen)
{
    if (!gen->log) {
        gen->log = apr_pcalloc(gen->conf_pool, sizeof *gen->log);
        gen->log->level = PEV_LOG_INFO;
        gen->log->target = T_STDERR;
        gen->log->facility = LOG_DAEMON;
    }
    return gen->log;
}

static const char *core_log_level(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    int i;

    (void) mconf;
    (void) argc;
    for (i = 0; i < 4; i++)
        if (strcasecmp(argv[1], level_names[i]) == 0) {
            gen_log_conf(gen)->level = (pev_log_level_t) i;
            return NULL;
        }
    if (strcasecmp(argv[1], "warning") == 0) {
        gen_log_conf(gen)->level = PEV_LOG_WARN;
        return NULL;
    }
    return "expects error, warn, info or debug";
}

static const struct { const char *name; int facility; } facilities[] = {
    { "daemon", LOG_DAEMON }, { "user", LOG_USER }, { "local0", LOG_LOCAL0 },
    { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
    { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },
    { "local7", LOG_LOCAL7 }, { "mail", LOG_MAIL }, { "news", LOG_NEWS },
    { "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV }, { "cron", LOG_CRON },
    { "lpr", LOG_LPR }, { "uucp", LOG_UUCP }, { "ftp", LOG_FTP },
};

static const char *core_log_target(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    struct pevi_log_conf *lc;
    unsigned i;

    (void) mconf;
    if (strcasecmp(argv[1], "stderr") == 0) {
        if (argc != 2)
            return "stderr takes no argument";
        lc = gen_log_conf(gen);
        lc->target = T_STDERR;
        return NULL;
    }
    if (strcasecmp(argv[1], "syslog") == 0) {
        int facility = LOG_DAEMON;

        if (argc == 3) {
            for (i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
                if (strcasecmp(argv[2], facilities[i].name) == 0)
                    break;
            if (i == sizeof facilities / sizeof facilities[0])
                return "unknown syslog facility (daemon, user, local0 to local7, mail, "
                       "news, auth, authpriv, cron, lpr, uucp, ftp)";
            facility = facilities[i].facility;
        }
        lc = gen_log_conf(gen);
        lc->target = T_SYSLOG;
        lc->facility = facility;
        return NULL;
    }
    if (strcasecmp(argv[1], "file") == 0) {
        if (argc != 3 || !*argv[2])
            return "file needs a PATH";
        lc = gen_log_conf(gen);
        lc->target = T_FILE;
        lc->path = argv[2];
        return NULL;
    }
    return "expects stderr, syslog [FACILITY] or file PATH";
}

static const char *core_log_file(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    struct pevi_log_conf *lc;

    (void) mconf;
    (void) argc;
    if (!*argv[1])
        return "expects a PATH";
    lc = gen_log_conf(gen);
    lc->target = T_FILE;
    lc->path = argv[1];
    return NULL;
}

const pev_directive_t pevi_log_directives[] = {
    { "LogLevel", 1, 1, core_log_level, "error|warn|info|debug" },
    { "LogTarget", 1, 2, core_log_target, "stderr|syslog [FACILITY]|file PATH" },
    { "LogFile", 1, 1, core_log_file, "PATH" },
    { NULL, 0, 0, NULL, NULL }
};
