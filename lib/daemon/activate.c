/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * activate.c - socket activation (the sd_listen_fds(3) protocol): the
 * service manager passes listening sockets as descriptors 3, 4, ... with
 * LISTEN_FDS=N and LISTEN_PID=the daemon's pid (LISTEN_FDNAMES=a:b:...
 * names them). The daemon takes them at the start and unsets the
 * variables.
 *
 * A Listen address adopts the passed socket bound to it (getsockname()
 * compared with the address Listen resolves to) instead of binding one:
 * listen.c asks pevi_activate_take() before it creates a socket, and gets a
 * duplicate of the passed descriptor in the listening socket's pool. From
 * then on it is a listening socket like the others: kept across restarts
 * while a Listen line names it, closed when none does or at the stop. The
 * passed descriptor itself stays open as long as the daemon's pool, unused
 * while no Listen line takes it, so that a later Listen line for its
 * address adopts it again (binding the address would fail: the service
 * manager holds the socket too), whatever the reloads in between did. A
 * passed socket no Listen address takes at the start is logged.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <apr_portable.h>
#include <apr_strings.h>

#include "daemon_int.h"

#define LISTEN_FDS_START 3
#define LISTEN_FDS_MAX 1024

typedef struct passed {
    int fd;                         /* the passed descriptor */
    int in_use;                     /* a listening socket holds a duplicate */
    const char *name;               /* LISTEN_FDNAMES, else "" */
    struct sockaddr_storage addr;
    socklen_t addrlen;
} passed_t;

struct pevi_passed {
    int n;
    passed_t *p;
};

static apr_status_t passed_gone(void *data)
{
    struct pevi_passed *ps = data;
    int i;

    for (i = 0; i < ps->n; i++)
        if (ps->p[i].fd >= 0) {
            close(ps->p[i].fd);
            ps->p[i].fd = -1;
        }
    return APR_SUCCESS;
}

/* A listening socket's pool went: its duplicate closed, the passed socket
 * can be taken again. */
static apr_status_t passed_release(void *data)
{
    passed_t *p = data;

    p->in_use = 0;
    return APR_SUCCESS;
}

static const char *addr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) (const void *) ss;

        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(buf, size, "%s:%u", ip, (unsigned) ntohs(in->sin_port));
    }
    else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) (const void *) ss;

        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(buf, size, "[%s]:%u", ip, (unsigned) ntohs(in6->sin6_port));
    }
    else
        snprintf(buf, size, "(address family %d)", (int) ss->ss_family);
    return buf;
}

/* Whether @a fd is a listening TCP socket; its address in @a p. */
static int usable(int fd, passed_t *p)
{
    int type = 0, acc = 0;
    socklen_t len = sizeof type;

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
        return 0;
    len = sizeof acc;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) != 0 || !acc)
        return 0;
    p->addrlen = sizeof p->addr;
    if (getsockname(fd, (struct sockaddr *) &p->addr, &p->addrlen) != 0)
        return 0;
    return p->addr.ss_family == AF_INET || p->addr.ss_family == AF_INET6;
}

void pevi_activate_init(pev_daemon_t *d)
{
    const char *pid_s, *fds_s, *names_s;
    char *names = NULL, *last = NULL, *tok;
    unsigned long long pid, nfds;
    struct pevi_passed *ps;
    char *end;
    int i;

    if (d->passed || (d->flags & PEV_DAEMON_NO_SYSTEMD))
        return;
    pid_s = getenv("LISTEN_PID");
    fds_s = getenv("LISTEN_FDS");
    names_s = getenv("LISTEN_FDNAMES");
    if (!pid_s || !fds_s)
        return;
    errno = 0;
    pid = strtoull(pid_s, &end, 10);
    if (errno || *end || pid != (unsigned long long) getpid())
        return;                     /* meant for another process: left alone */
    errno = 0;
    nfds = strtoull(fds_s, &end, 10);
    if (errno || *end || nfds > LISTEN_FDS_MAX) {
        pev_daemon_log(d, PEV_LOG_WARN, "LISTEN_FDS=%s: not a number of descriptors", fds_s);
        nfds = 0;
    }
    if (names_s)
        names = apr_pstrdup(d->pool, names_s);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    ps = apr_pcalloc(d->pool, sizeof *ps);
    ps->p = apr_pcalloc(d->pool, sizeof(passed_t) * (apr_size_t) (nfds + 1));
    d->passed = ps;
    apr_pool_cleanup_register(d->pool, ps, passed_gone, apr_pool_cleanup_null);
    tok = names ? apr_strtok(names, ":", &last) : NULL;
    for (i = 0; i < (int) nfds; i++) {
        int fd = LISTEN_FDS_START + i;
        passed_t *p = &ps->p[ps->n];

        p->name = tok ? tok : "";
        if (tok)
            tok = apr_strtok(NULL, ":", &last);
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
            pev_daemon_log(d, PEV_LOG_WARN, "passed descriptor %d: %s", fd, strerror(errno));
            continue;
        }
        if (!usable(fd, p)) {
            pev_daemon_log(d, PEV_LOG_WARN, "passed descriptor %d%s%s%s is not a listening "
                           "TCP socket: ignored", fd, *p->name ? " (" : "", p->name,
                           *p->name ? ")" : "");
            continue;
        }
        p->fd = fd;
        ps->n++;
    }
}

/* Whether the passed socket @a p is bound to @a sa's address and port. */
static int same_addr(const passed_t *p, const apr_sockaddr_t *sa)
{
    if (sa->port == 0)
        return 0;                   /* Listen HOST:0 wants a port of its own */
    if (p->addr.ss_family == AF_INET && sa->family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) (const void *) &p->addr;

        return ntohs(in->sin_port) == sa->port
               && memcmp(&in->sin_addr, &sa->sa.sin.sin_addr, sizeof in->sin_addr) == 0;
    }
#if APR_HAVE_IPV6
    if (p->addr.ss_family == AF_INET6 && sa->family == AF_INET6) {
        const struct sockaddr_in6 *in6 =
            (const struct sockaddr_in6 *) (const void *) &p->addr;

        return ntohs(in6->sin6_port) == sa->port
               && memcmp(&in6->sin6_addr, &sa->sa.sin6.sin6_addr, sizeof in6->sin6_addr) == 0;
    }
    /* Listen PORT (any IPv4 address) takes ListenStream=PORT, a socket on
     * any IPv6 address that also takes IPv4 */
    if (p->addr.ss_family == AF_INET6 && sa->family == AF_INET
        && sa->sa.sin.sin_addr.s_addr == htonl(INADDR_ANY)) {
        const struct sockaddr_in6 *in6 =
            (const struct sockaddr_in6 *) (const void *) &p->addr;

        return ntohs(in6->sin6_port) == sa->port && IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
    }
#endif
    return 0;
}

apr_status_t pevi_activate_take(pev_daemon_t *d, apr_socket_t **sock,
                                const apr_sockaddr_t *sa, const char *key,
                                apr_pool_t *pool)
{
    struct pevi_passed *ps = d->passed;
    const apr_sockaddr_t *a;
    int i;

    if (!ps)
        return APR_NOTFOUND;
    for (a = sa; a; a = a->next)
        for (i = 0; i < ps->n; i++) {
            passed_t *p = &ps->p[i];
            apr_os_sock_info_t info;
            apr_os_sock_t fd;
            char eb[256], at[INET6_ADDRSTRLEN + 16];
            apr_status_t st;

            if (p->fd < 0 || p->in_use || !same_addr(p, a))
                continue;
            fd = fcntl(p->fd, F_DUPFD_CLOEXEC, LISTEN_FDS_START);
            if (fd < 0) {
                st = APR_FROM_OS_ERROR(errno);
                pev_daemon_log(d, PEV_LOG_ERROR, "cannot adopt passed descriptor %d for %s: %s",
                               p->fd, key, pev_strerror(st, eb, sizeof eb));
                return st;
            }
            memset(&info, 0, sizeof info);
            info.os_sock = &fd;
            info.local = (struct sockaddr *) &p->addr;
            info.family = p->addr.ss_family;
            info.type = SOCK_STREAM;
            info.protocol = IPPROTO_TCP;
            /* the socket's pool closes the duplicate (apr_os_sock_make
             * registers the cleanup) */
            st = apr_os_sock_make(sock, &info, pool);
            if (st != APR_SUCCESS) {
                close(fd);
                pev_daemon_log(d, PEV_LOG_ERROR, "cannot adopt passed descriptor %d for %s: %s",
                               p->fd, key, pev_strerror(st, eb, sizeof eb));
                return st;
            }
            p->in_use = 1;
            apr_pool_cleanup_register(pool, p, passed_release, apr_pool_cleanup_null);
            pev_daemon_log(d, PEV_LOG_INFO, "%s: adopted passed socket %d%s%s%s (%s)", key,
                           p->fd, *p->name ? " \"" : "", p->name, *p->name ? "\"" : "",
                           addr_text(&p->addr, at, sizeof at));
            return APR_SUCCESS;
        }
    return APR_NOTFOUND;
}

void pevi_activate_report(pev_daemon_t *d)
{
    struct pevi_passed *ps = d->passed;
    int i;

    if (!ps)
        return;
    for (i = 0; i < ps->n; i++) {
        const passed_t *p = &ps->p[i];
        char at[INET6_ADDRSTRLEN + 16];

        if (p->fd >= 0 && !p->in_use)
            pev_daemon_log(d, PEV_LOG_WARN, "passed socket %d%s%s%s (%s) matches no Listen "
                           "address: kept unused", p->fd, *p->name ? " \"" : "", p->name,
                           *p->name ? "\"" : "", addr_text(&p->addr, at, sizeof at));
    }
}
