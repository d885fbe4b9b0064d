/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * lineclient.c - a line client over loopback TCP, with deadlines
 * (lineclient.h).
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L     /* plain POSIX: no APR, no poolev */
#endif
#include "lineclient.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long lc_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lc_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

lc_client_t *lc_connect(unsigned port, int rcvbuf)
{
    struct sockaddr_in sa;
    lc_client_t *c = malloc(sizeof *c);
    int one = 1, err;

    if (!c)
        return NULL;
    c->eof = 0;
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        goto fail;
    if (rcvbuf > 0 && setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) != 0)
        goto fail;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *) &sa, sizeof sa) != 0
        || fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) != 0)
        goto fail;
    return c;

fail:
    err = errno;
    lc_free(c);
    errno = err;
    return NULL;
}

int lc_fill(lc_client_t *c, long ms)
{
    struct pollfd p = { c->fd, POLLIN, 0 };
    ssize_t n;

    if (c->len == sizeof c->buf || poll(&p, 1, (int) (ms < 0 ? 0 : ms)) <= 0)
        return 0;
    n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n > 0)
        c->len += (size_t) n;
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        c->eof = 1;             /* end of input, or a reset */
    return 1;
}

int lc_ready(lc_client_t *c, long ms)
{
    long deadline = lc_now_ms() + ms;

    for (;;) {
        if (memchr(c->buf, '\n', c->len) || c->eof)
            return 1;
        if (!lc_fill(c, deadline - lc_now_ms()))
            return 0;
    }
}

const char *lc_line(lc_client_t *c, long ms)
{
    long deadline = lc_now_ms() + ms;
    int tried = 0;

    for (;;) {
        char *lf = memchr(c->buf, '\n', c->len);

        if (lf) {
            size_t n = (size_t) (lf - c->buf);

            memcpy(c->line, c->buf, n);
            c->line[n > 0 && c->line[n - 1] == '\r' ? n - 1 : n] = '\0';
            memmove(c->buf, lf + 1, c->len - n - 1);
            c->len -= n + 1;
            return c->line;
        }
        if (c->eof || c->len == sizeof c->buf || (tried && lc_now_ms() >= deadline))
            return NULL;
        lc_fill(c, deadline - lc_now_ms());     /* reads once even when ms is 0 */
        tried = 1;
    }
}

int lc_send(lc_client_t *c, const void *data, size_t len, long ms)
{
    long deadline = lc_now_ms() + ms;
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

        if (n > 0) {
            p += n;
            len -= (size_t) n;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            return n == 0 ? EPIPE : errno;
        if (lc_now_ms() >= deadline)
            return ETIMEDOUT;
        {
            struct pollfd pw = { c->fd, POLLOUT, 0 };
            poll(&pw, 1, 10);
        }
    }
    return 0;
}

int lc_wait_eof(lc_client_t *c, long ms)
{
    long deadline = lc_now_ms() + ms;

    while (!c->eof && lc_now_ms() < deadline) {
        c->len = 0;
        lc_fill(c, deadline - lc_now_ms());
    }
    return c->eof;
}

void lc_close(lc_client_t *c, int reset)
{
    if (c->fd < 0)
        return;
    if (reset) {
        struct linger lg = { 1, 0 };

        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    c->fd = -1;
}

void lc_free(lc_client_t *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
}
