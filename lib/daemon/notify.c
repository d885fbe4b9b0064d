/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * notify.c - the service manager's notifications (the sd_notify(3)
 * protocol): one datagram of "VAR=value" lines per message, sent over an
 * AF_UNIX datagram socket to the address in $NOTIFY_SOCKET (an abstract
 * address when it starts with '@').
 *
 *   READY=1        the first generation listens and runs; again after each
 *                  restart, whether the new generation runs or the reload
 *                  failed and the old one goes on (STATUS= says which)
 *   RELOADING=1    a restart begins (with MONOTONIC_USEC=, the time on
 *                  CLOCK_MONOTONIC, which systemd 253 and later want)
 *   STOPPING=1     the stop begins
 *   WATCHDOG=1     every half of $WATCHDOG_USEC, from a loop timer, when
 *                  $WATCHDOG_PID is unset or this process
 *   STATUS=        the generation and the connections, at most once a
 *                  second when the count changes
 *
 * The protocol is implemented here, with no library: it is a stable,
 * documented interface, and this way every build speaks it and the tests
 * see each datagram. Without $NOTIFY_SOCKET nothing is sent and nothing is
 * registered.
 *
 * Everything lives in one pool, a subpool of the daemon's: the socket (its
 * cleanup closes it), the timers and the bus listeners.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <apr_strings.h>

#include "daemon_int.h"

#define STATUS_DELAY APR_TIME_C(1000000)    /* STATUS= at most once a second */

struct pevi_notify {
    pev_daemon_t *d;
    apr_pool_t *pool;
    int fd;
    struct sockaddr_un addr;
    socklen_t addrlen;
    apr_interval_time_t watchdog;   /* the ping period; 0: no watchdog */
    pev_timer_t *wd_timer;
    pev_timer_t *status_timer;
    int failed;                     /* a send failed (said once) */
};

static apr_status_t notify_gone(void *data)
{
    struct pevi_notify *n = data;

    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
    if (n->d->notify == n)
        n->d->notify = NULL;
    return APR_SUCCESS;
}

static void send_msg(struct pevi_notify *n, const char *msg)
{
    ssize_t r;

    if (n->fd < 0)
        return;
    do
        r = sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
                   (const struct sockaddr *) &n->addr, n->addrlen);
    while (r < 0 && errno == EINTR);
    if (r < 0 && !n->failed) {
        n->failed = 1;
        pev_daemon_log(n->d, PEV_LOG_WARN, "cannot notify the service manager: %s",
                       strerror(errno));
    }
}

/* @a text with line ends made blanks (in place): a STATUS= is one line. */
static const char *one_line(char *text)
{
    char *p;

    for (p = text; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return text;
}

/* "generation N running, C connections, A accepted" */
static const char *status_text(const pev_daemon_t *d, char *buf, size_t size)
{
    snprintf(buf, size, "generation %u running, %lu connection%s, %" APR_UINT64_T_FMT
             " accepted", d->gen ? d->gen->number : 0, (unsigned long) pev_daemon_connections(d),
             pev_daemon_connections(d) == 1 ? "" : "s", d->conn_ids);
    return buf;
}

static void send_status(struct pevi_notify *n, const char *prefix)
{
    char status[256], msg[512];

    snprintf(msg, sizeof msg, "%sSTATUS=%s", prefix,
             status_text(n->d, status, sizeof status));
    send_msg(n, msg);
}

static void status_due(pev_timer_t *t, void *user_data)
{
    struct pevi_notify *n = user_data;

    (void) t;
    if (n->d->state == D_RUNNING)
        send_status(n, "");
}

/* A connection came or went: a STATUS= within STATUS_DELAY. */
static void conns_changed(const void *event_data, void *user_data)
{
    struct pevi_notify *n = user_data;

    (void) event_data;
    if (n->status_timer && pev_timer_armed(n->status_timer))
        return;
    if (n->status_timer)
        (void) pev_timer_rearm_in(n->status_timer, STATUS_DELAY);
    else
        (void) pev_timer_add_in(&n->status_timer, n->d->loop, STATUS_DELAY, status_due, n,
                                n->pool);
}

static void watchdog_ping(pev_timer_t *t, void *user_data)
{
    struct pevi_notify *n = user_data;

    send_msg(n, "WATCHDOG=1");
    (void) pev_timer_rearm_in(t, n->watchdog);
}

/* The watchdog's period: half of WATCHDOG_USEC, if it is meant for this
 * process. */
static apr_interval_time_t watchdog_period(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    unsigned long long v;
    char *end;

    if (!usec || !*usec)
        return 0;
    if (pid && *pid) {
        unsigned long long p;

        errno = 0;
        p = strtoull(pid, &end, 10);
        if (errno || *end || p != (unsigned long long) getpid())
            return 0;
    }
    errno = 0;
    v = strtoull(usec, &end, 10);
    if (errno || *end || v == 0 || v > (unsigned long long) APR_INT64_MAX)
        return 0;
    return v / 2 > 0 ? (apr_interval_time_t) (v / 2) : 1;
}

void pevi_notify_init(pev_daemon_t *d)
{
    const char *path;
    struct pevi_notify *n;
    apr_pool_t *np;
    apr_interval_time_t wd;
    size_t len;

    if (d->notify || (d->flags & PEV_DAEMON_NO_SYSTEMD))
        return;
    path = getenv("NOTIFY_SOCKET");
    wd = watchdog_period();
    /* read once: the daemon's children do not inherit them by accident */
    path = path ? apr_pstrdup(d->pool, path) : NULL;
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    if (!path || (path[0] != '/' && path[0] != '@'))
        return;
    len = strlen(path);
    if (len < 2 || len >= sizeof n->addr.sun_path) {
        pev_daemon_log(d, PEV_LOG_WARN, "NOTIFY_SOCKET is too long or too short: ignored");
        return;
    }
    if (apr_pool_create(&np, d->pool) != APR_SUCCESS)
        return;
    apr_pool_tag(np, "pev_notify");
    n = apr_pcalloc(np, sizeof *n);
    n->d = d;
    n->pool = np;
    n->watchdog = wd;
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, path, len);
    if (path[0] == '@') {
        n->addr.sun_path[0] = '\0';
        n->addrlen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len);
    }
    else
        n->addrlen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1);
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0) {
        pev_daemon_log(d, PEV_LOG_WARN, "cannot notify the service manager: %s",
                       strerror(errno));
        apr_pool_destroy(np);
        return;
    }
    apr_pool_cleanup_register(np, n, notify_gone, apr_pool_cleanup_null);
    d->notify = n;
    (void) pev_event_register(NULL, d->bus, NULL, PEV_EVENT_CONN_OPEN, conns_changed, n, np);
    (void) pev_event_register(NULL, d->bus, NULL, PEV_EVENT_CONN_CLOSE, conns_changed, n, np);
}

void pevi_notify_ready(pev_daemon_t *d)
{
    struct pevi_notify *n = d->notify;

    if (!n)
        return;
    send_status(n, "READY=1\n");
    if (n->watchdog > 0 && !n->wd_timer)
        (void) pev_timer_add_in(&n->wd_timer, d->loop, n->watchdog, watchdog_ping, n,
                                n->pool);
}

void pevi_notify_reloading(pev_daemon_t *d)
{
    struct pevi_notify *n = d->notify;
    struct timespec ts;
    char msg[128];

    if (!n)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
             (unsigned long long) ts.tv_sec * 1000000ULL
             + (unsigned long long) ts.tv_nsec / 1000ULL);
    send_msg(n, msg);
}

void pevi_notify_reloaded(pev_daemon_t *d, int failed)
{
    struct pevi_notify *n = d->notify;
    char msg[1400];

    if (!n)
        return;
    if (!failed) {
        send_status(n, "READY=1\n");
        return;
    }
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=reload failed, generation %u still "
             "running: %s", d->gen ? d->gen->number : 0, one_line(d->error));
    send_msg(n, msg);
}

void pevi_notify_stopping(pev_daemon_t *d)
{
    struct pevi_notify *n = d->notify;

    if (!n)
        return;
    send_msg(n, "STOPPING=1\nSTATUS=stopping");
    if (n->status_timer)
        (void) pev_timer_cancel(n->status_timer);
}

void pevi_notify_start_failed(pev_daemon_t *d)
{
    struct pevi_notify *n = d->notify;
    char msg[1200];

    if (!n)
        return;
    snprintf(msg, sizeof msg, "STATUS=start failed: %s", one_line(d->error));
    send_msg(n, msg);
    apr_pool_destroy(n->pool);
}
