/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * tls_int.h - the TLS layer under a stream (tls.c), as stream.c sees it.
 *
 * A pevi_tls_t is one SSL object over the stream's descriptor (OpenSSL reads
 * and writes the descriptor itself). Every operation returns APR_SUCCESS,
 * APR_EAGAIN (the operation waits for the descriptor: pevi_tls_want() says
 * for which direction, possibly the other one than the operation's), or the
 * status the stream closes with (the reason text kept for
 * pev_stream_tls_error()).
 */
#ifndef POOLEV_TLS_INT_H
#define POOLEV_TLS_INT_H

#include <apr_pools.h>
#include <apr_poll.h>

#include "poolev/tls.h"

typedef struct pevi_tls pevi_tls_t;

/** A TLS connection over @a fd for @a ctx (client: @a host for SNI and
 *  verification). The record comes from @a pool (the stream's: it keeps the
 *  error text until the pool goes); the SSL object is freed by
 *  pevi_tls_free(). APR_EINVAL for a client context that verifies and no
 *  host. */
apr_status_t pevi_tls_new(pevi_tls_t **t, pev_tls_ctx_t *ctx, int fd, const char *host,
                          apr_pool_t *pool);

/** Free the SSL object (no alert is sent); the error text stays. NULL is fine. */
void pevi_tls_free(pevi_tls_t *t);

/** The context's handshake timeout (0: none). */
apr_interval_time_t pevi_tls_handshake_timeout(const pevi_tls_t *t);

/** Go on with the handshake: APR_SUCCESS when done. */
apr_status_t pevi_tls_handshake(pevi_tls_t *t);

/** Read decrypted input: APR_SUCCESS with *n > 0; APR_EOF at close_notify;
 *  PEV_ETRUNCATED at an end without it; APR_EAGAIN; an error. */
apr_status_t pevi_tls_read(pevi_tls_t *t, char *buf, apr_size_t len, apr_size_t *n);

/** Decrypted input OpenSSL holds already (never reported by the poll). */
int pevi_tls_pending(const pevi_tls_t *t);

/** Write: APR_SUCCESS with *n > 0 bytes taken (a partial write is fine);
 *  APR_EAGAIN; an error. The buffer may move between retries. */
apr_status_t pevi_tls_write(pevi_tls_t *t, const char *buf, apr_size_t len, apr_size_t *n);

/** Send close_notify, after finishing a renegotiation under way:
 *  APR_SUCCESS when sent (the peer's is not waited for) or when it cannot
 *  be (the close goes on without it, and no reason text is left);
 *  APR_EAGAIN. */
apr_status_t pevi_tls_shutdown(pevi_tls_t *t);

/** The poll events the last APR_EAGAIN waits for (APR_POLLIN or APR_POLLOUT). */
apr_int16_t pevi_tls_want(const pevi_tls_t *t);

/** Set the reason text (a failure the stream found: a handshake timeout). */
void pevi_tls_set_error(pevi_tls_t *t, const char *text);

/** The reason text of the last failure, or NULL. */
const char *pevi_tls_error(const pevi_tls_t *t);

/** The SSL object. */
struct ssl_st *pevi_tls_ssl(const pevi_tls_t *t);

#endif /* POOLEV_TLS_INT_H */
