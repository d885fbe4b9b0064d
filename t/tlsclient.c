/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * tlsclient.c - the TLS tests' line client (tlsclient.h).
 */
#include "config.h"

#ifdef HAVE_OPENSSL
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tlsclient.h"

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait a little: the pump, or the socket for @a events during 1 ms. */
static void wait_a_little(tc_t *c, short events)
{
    if (c->pump)
        c->pump(c->arg);
    else {
        struct pollfd p = { c->fd, events, 0 };

        (void) poll(&p, 1, 1);
    }
}

static int fail(tc_t *c, const char *what)
{
    unsigned long e = ERR_get_error();
    char eb[200] = "";

    if (e)
        ERR_error_string_n(e, eb, sizeof eb);
    else if (errno)
        snprintf(eb, sizeof eb, "%s", strerror(errno));
    snprintf(c->err, sizeof c->err, "%s: %s", what, eb);
    ERR_clear_error();
    return -1;
}

int tc_connect(tc_t *c, unsigned port, void (*pump)(void *), void *arg)
{
    struct sockaddr_in sa;
    long deadline = now_ms() + TC_WAIT_MS;
    int one = 1;

    memset(c, 0, sizeof *c);
    c->pump = pump;
    c->arg = arg;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return fail(c, "socket");
    (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short) port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    if (connect(c->fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        if (errno != EINPROGRESS)
            return fail(c, "connect");
        for (;;) {
            struct pollfd p = { c->fd, POLLOUT, 0 };
            int err = 0;
            socklen_t el = sizeof err;

            if (poll(&p, 1, 0) == 1) {
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) {
                    errno = err;
                    return fail(c, "connect");
                }
                break;
            }
            if (now_ms() > deadline) {
                errno = ETIMEDOUT;
                return fail(c, "connect");
            }
            wait_a_little(c, POLLOUT);
        }
    }
    return 0;
}

int tc_send(tc_t *c, const void *data, size_t n)
{
    const char *p = data;
    long deadline = now_ms() + TC_WAIT_MS;

    while (n > 0) {
        long w;

        errno = 0;
        if (c->ssl) {
            int r = SSL_write(c->ssl, p, (int) n);

            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);

                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                    return fail(c, "SSL_write");
                w = 0;
            }
            else
                w = r;
        }
        else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno != EAGAIN && errno != EINTR)
                    return fail(c, "send");
                w = 0;
            }
        }
        p += w;
        n -= (size_t) w;
        if (n > 0) {
            if (now_ms() > deadline) {
                errno = ETIMEDOUT;
                return fail(c, "send");
            }
            wait_a_little(c, POLLOUT);
        }
    }
    return 0;
}

int tc_puts(tc_t *c, const char *s)
{
    return tc_send(c, s, strlen(s));
}

const char *tc_line(tc_t *c)
{
    long deadline = now_ms() + TC_WAIT_MS;

    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        long r;

        if (nl) {
            size_t n = (size_t) (nl - c->buf);

            memcpy(c->line, c->buf, n);
            c->line[n] = '\0';
            if (n && c->line[n - 1] == '\r')
                c->line[n - 1] = '\0';
            memmove(c->buf, nl + 1, c->len - n - 1);
            c->len -= n + 1;
            return c->line;
        }
        if (c->eof || c->len == sizeof c->buf) {
            snprintf(c->err, sizeof c->err, c->eof ? "end of stream" : "line too long");
            return NULL;
        }
        errno = 0;
        if (c->ssl) {
            int n = SSL_read(c->ssl, c->buf + c->len, (int) (sizeof c->buf - c->len));

            if (n <= 0) {
                int e = SSL_get_error(c->ssl, n);

                if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL
                    || e == SSL_ERROR_SSL) {
                    c->eof = 1;
                    if (e == SSL_ERROR_SSL)
                        fail(c, "SSL_read");
                    continue;
                }
                r = 0;
            }
            else
                r = n;
        }
        else {
            r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                c->eof = 1;
                continue;
            }
            if (r < 0)
                r = 0;
        }
        c->len += (size_t) r;
        if (r == 0) {
            if (now_ms() > deadline) {
                snprintf(c->err, sizeof c->err, "no line after %d ms", TC_WAIT_MS);
                return NULL;
            }
            wait_a_little(c, POLLIN);
        }
    }
}

int tc_start_tls(tc_t *c, const char *ca_file, const char *host, const char *cert,
                 const char *key)
{
    long deadline = now_ms() + TC_WAIT_MS;

    if (c->len) {
        snprintf(c->err, sizeof c->err, "%zu byte(s) of plaintext before the handshake",
                 c->len);
        return -1;
    }
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx)
        return fail(c, "SSL_CTX_new");
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(c->ctx, ca_file, NULL) != 1)
            return fail(c, "load CA");
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    }
    else
        SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
    if (cert && (SSL_CTX_use_certificate_chain_file(c->ctx, cert) != 1
                 || SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1))
        return fail(c, "client certificate");
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl)
        return fail(c, "SSL_new");
    SSL_set_fd(c->ssl, c->fd);
    if (host) {
        SSL_set_tlsext_host_name(c->ssl, host);
        if (ca_file)
            SSL_set1_host(c->ssl, host);
    }
    for (;;) {
        int r = SSL_connect(c->ssl), e;

        if (r == 1)
            return 0;
        e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            long v = SSL_get_verify_result(c->ssl);

            if (v != X509_V_OK) {
                snprintf(c->err, sizeof c->err, "handshake: %s",
                         X509_verify_cert_error_string(v));
                ERR_clear_error();
                return -1;
            }
            errno = 0;
            return fail(c, "handshake");
        }
        if (now_ms() > deadline) {
            snprintf(c->err, sizeof c->err, "handshake: no progress in %d ms", TC_WAIT_MS);
            return -1;
        }
        wait_a_little(c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
    }
}

const char *tc_peer_cn(tc_t *c)
{
    static char cn[256];
    X509 *x = c->ssl ? SSL_get1_peer_certificate(c->ssl) : NULL;

    cn[0] = '\0';
    if (x) {
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
                                  (int) sizeof cn);
        X509_free(x);
    }
    return cn;
}

void tc_close(tc_t *c)
{
    if (c->ssl)
        SSL_free(c->ssl);
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->ctx = NULL;
    c->fd = -1;
}
#endif /* HAVE_OPENSSL */
