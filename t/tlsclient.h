/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * tlsclient.h - a line client for the TLS tests, on OpenSSL directly (no
 * poolev): plaintext first, then TLS in place (STARTTLS) or from the start
 * (implicit TLS), with the CA it trusts, the host name it checks and an
 * optional client certificate.
 *
 * The socket is non-blocking and every call waits with a deadline
 * (TC_WAIT_MS): while it waits it calls the pump given to tc_connect()
 * (one iteration of the server's loop, for a server in the same process),
 * or polls the socket for a millisecond when there is none.
 */
#ifndef POOLEV_TLSCLIENT_H
#define POOLEV_TLSCLIENT_H

#include <stddef.h>

#define TC_WAIT_MS 5000

typedef struct tc {
    int fd;
    struct ssl_ctx_st *ctx;
    struct ssl_st *ssl;         /* NULL while plaintext */
    void (*pump)(void *arg);
    void *arg;
    int eof;                    /* the server ended the stream (or reset it) */
    char err[256];              /* why the last call failed */
    size_t len;
    char buf[16384];
    char line[16384];
} tc_t;

/* Connect to 127.0.0.1:@a port (plaintext). 0, or -1 with c->err. */
int tc_connect(tc_t *c, unsigned port, void (*pump)(void *), void *arg);

/* Send @a n bytes as they are: in plaintext, or through TLS once on.
 * 0 or -1. */
int tc_send(tc_t *c, const void *data, size_t n);

/* tc_send() of a string. */
int tc_puts(tc_t *c, const char *s);

/* The next line, without its CRLF (valid until the next call), or NULL at
 * the end of the stream or after TC_WAIT_MS (c->err says which). */
const char *tc_line(tc_t *c);

/* Start TLS on the connection: verify the server against @a ca_file and
 * @a host (NULL: no verification), with the client certificate and key
 * @a cert/@a key (NULL: none). Plaintext input not yet read as lines is
 * an error (the server must not send any after its "go ahead"). 0, or -1
 * with c->err (OpenSSL's reason, the X.509 reason for a failed
 * verification). */
int tc_start_tls(tc_t *c, const char *ca_file, const char *host, const char *cert,
                 const char *key);

/* The subject CN of the server's certificate, or "" (static buffer). */
const char *tc_peer_cn(tc_t *c);

/* Close (without close_notify) and free. */
void tc_close(tc_t *c);

#endif /* POOLEV_TLSCLIENT_H */
