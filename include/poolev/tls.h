/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/tls.h - TLS on streams (OpenSSL 3): contexts owned by pools,
 * implicit TLS and in-place upgrades (STARTTLS), server and client roles.
 *
 * A TLS context (pev_tls_ctx_t) holds what a side of a TLS connection is
 * configured with: its certificate and key, the CAs it trusts, whether it
 * verifies its peer, the ALPN protocols, the handshake timeout. A stream is
 * put under TLS with pev_stream_start_tls(), right after it is created
 * (implicit TLS) or when the protocol says so (STARTTLS). From then on
 * everything a stream does works the same: lines, raw reads, the output
 * limit and drain, the idle timeout, wait events, pause, close after flush
 * (which sends close_notify first); OpenSSL's want-read/want-write
 * inversions are handled inside the stream.
 *
 * Lifetimes (doc/streams.md, "TLS"):
 *  - A context is owned by the pool given to pev_tls_ctx_create() or
 *    pev_tls_ctx_wrap(); when that pool is cleared or destroyed the context
 *    handle is dead. Streams that started TLS with it keep what they need
 *    (OpenSSL's reference count on the SSL_CTX): a generation's context can
 *    go with the generation's pool while connections accepted under it run on.
 *  - A stream's TLS state (its SSL object) belongs to the stream: it is freed
 *    when the stream closes or its pool goes, at any moment (mid-handshake,
 *    inside the handshake callback), with the descriptor.
 *
 * Threads: a context may be shared by the streams of several loops once it
 * is configured (OpenSSL's SSL_CTX is thread-safe for use); configuring it
 * (the pev_tls_ctx_* setters) must not race with streams starting TLS on it.
 * A stream's TLS calls belong to the stream's loop's thread.
 *
 * A build configured --without-openssl has these functions, and each
 * returns APR_ENOTIMPL (pev_tls_available() says 0).
 */
#ifndef POOLEV_TLS_H
#define POOLEV_TLS_H

#include <apr_pools.h>
#include <apr_time.h>

#include "poolev/export.h"
#include "poolev/status.h"
#include "poolev/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* OpenSSL's types, without OpenSSL's headers. */
struct ssl_ctx_st;
struct ssl_st;

/** A TLS context (opaque). */
typedef struct pev_tls_ctx pev_tls_ctx_t;

/** Which side of the handshake a context is for. */
typedef enum pev_tls_role {
    PEV_TLS_SERVER = 0,         /**< accepts: sends its certificate */
    PEV_TLS_CLIENT = 1          /**< connects: sends SNI, verifies the server */
} pev_tls_role_t;

/** How a context verifies its peer's certificate. */
typedef enum pev_tls_verify {
    PEV_TLS_VERIFY_NONE = 0,     /**< no verification (a client: trust anyone) */
    PEV_TLS_VERIFY_OPTIONAL = 1, /**< a server: ask for a client certificate,
                                  *   verify it if sent, accept none */
    PEV_TLS_VERIFY_REQUIRED = 2  /**< the peer must present a certificate that
                                  *   verifies (a client's default) */
} pev_tls_verify_t;

/** A stream's TLS state (pev_stream_tls_state()). */
typedef enum pev_stream_tls {
    PEV_STREAM_TLS_NONE = 0,      /**< plaintext */
    PEV_STREAM_TLS_HANDSHAKE = 1, /**< the handshake runs */
    PEV_STREAM_TLS_ON = 2         /**< established */
} pev_stream_tls_t;

/** Default handshake timeout: 30 seconds. */
#define PEV_TLS_HANDSHAKE_TIMEOUT_DEFAULT (30 * APR_USEC_PER_SEC)

/** Non-zero when this build has TLS (configure found OpenSSL 3). */
PEV_API int pev_tls_available(void);

/* ------------------------------------------------------------------------ */
/* Contexts                                                                  */

/**
 * Create a TLS context for @a role: TLS 1.2 at least, OpenSSL's default
 * ciphers. A client context verifies the server (PEV_TLS_VERIFY_REQUIRED)
 * against the system's trust store until pev_tls_ctx_load_ca() names a CA
 * file; a server context needs pev_tls_ctx_load_cert() before use.
 *
 * @param ctx  out: the context
 * @param role PEV_TLS_SERVER or PEV_TLS_CLIENT
 * @param pool owning pool (see the lifetimes above)
 * @return APR_SUCCESS; APR_EINVAL for NULL arguments or an unknown role;
 *         APR_ENOMEM; PEV_ETLS when OpenSSL cannot make the context;
 *         APR_ENOTIMPL without OpenSSL.
 */
PEV_API apr_status_t pev_tls_ctx_create(pev_tls_ctx_t **ctx, pev_tls_role_t role,
                                        apr_pool_t *pool);

/**
 * Wrap an SSL_CTX the caller built. The context takes a reference of its
 * own (SSL_CTX_up_ref()), dropped when @a pool goes; the caller keeps its
 * own. The setters below change @a ssl_ctx itself. poolev sets on each SSL
 * made from it what it needs (partial writes, a moving write buffer, no
 * read-ahead). The caller's protocol versions, ciphers and verification
 * stand; TLS 1.2 as the minimum is the caller's choice here.
 * @return as pev_tls_ctx_create(); APR_EINVAL for a NULL @a ssl_ctx.
 */
PEV_API apr_status_t pev_tls_ctx_wrap(pev_tls_ctx_t **ctx, pev_tls_role_t role,
                                      struct ssl_ctx_st *ssl_ctx, apr_pool_t *pool);

/**
 * Load the certificate chain (PEM: the certificate, then its intermediates)
 * and the private key (PEM) the context presents, and check that they match.
 * @return APR_SUCCESS; APR_EINVAL for NULL arguments; PEV_ETLS when a file
 *         is unreadable or not PEM, or the key does not match (pev_tls_error()
 *         names the file and OpenSSL's reason); the context is unchanged then.
 */
PEV_API apr_status_t pev_tls_ctx_load_cert(pev_tls_ctx_t *ctx, const char *cert_file,
                                           const char *key_file);

/**
 * Trust the CA certificates in @a ca_file (PEM) instead of the system's
 * store. For a server context this also asks clients for a certificate
 * (PEV_TLS_VERIFY_OPTIONAL, unless pev_tls_ctx_set_verify() said otherwise)
 * and sends the CA names in the request.
 * @return APR_SUCCESS; APR_EINVAL; PEV_ETLS (pev_tls_error() says why).
 */
PEV_API apr_status_t pev_tls_ctx_load_ca(pev_tls_ctx_t *ctx, const char *ca_file);

/**
 * Set how the peer's certificate is verified. A client context with
 * PEV_TLS_VERIFY_REQUIRED (its default) also checks the host name given to
 * pev_stream_start_tls(). A handshake whose verification fails closes the
 * stream with PEV_ETLSVERIFY.
 * @return APR_SUCCESS; APR_EINVAL for NULL or an unknown mode, or
 *         PEV_TLS_VERIFY_OPTIONAL on a client context.
 */
PEV_API apr_status_t pev_tls_ctx_set_verify(pev_tls_ctx_t *ctx, pev_tls_verify_t mode);

/**
 * Set the ALPN protocols, most preferred first, comma-separated
 * ("h2,http/1.1"). A client offers them; a server picks the first of its own
 * that the client offers, and goes on without ALPN when none is shared.
 * @return APR_SUCCESS; APR_EINVAL for NULL, an empty name or one longer than
 *         255 bytes; APR_ENOMEM.
 */
PEV_API apr_status_t pev_tls_ctx_set_alpn(pev_tls_ctx_t *ctx, const char *protocols);

/**
 * Set the handshake timeout of streams that start TLS with this context
 * afterwards (0: none; default PEV_TLS_HANDSHAKE_TIMEOUT_DEFAULT). A
 * handshake not finished in time closes its stream with APR_TIMEUP.
 * @return APR_SUCCESS; APR_EINVAL for NULL or a negative interval.
 */
PEV_API apr_status_t pev_tls_ctx_set_handshake_timeout(pev_tls_ctx_t *ctx,
                                                       apr_interval_time_t timeout);

/** The last error of @a ctx's setters, as text (file name and OpenSSL's
 *  reason), or NULL when there was none. Allocated from the context's pool. */
PEV_API const char *pev_tls_error(const pev_tls_ctx_t *ctx);

/** The context's SSL_CTX (for settings poolev does not wrap), or NULL. */
PEV_API struct ssl_ctx_st *pev_tls_ctx_ssl_ctx(const pev_tls_ctx_t *ctx);

/* ------------------------------------------------------------------------ */
/* Streams                                                                   */

/** The handshake of @a s succeeded: the stream is under TLS. A failed
 *  handshake calls no such function: the stream closes, and on_close gets
 *  PEV_ETLS (also for a peer that hangs up during the handshake),
 *  PEV_ETLSVERIFY, APR_TIMEUP or an I/O error. One exception is TLS 1.3's:
 *  a client finishes its handshake before the server has checked the
 *  client's certificate, so a client the server then refuses gets this call
 *  and afterwards closes with PEV_ETLS (the server's alert). May close the
 *  stream or destroy any pool. */
typedef void pev_stream_tls_fn(pev_stream_t *s, void *user_data);

/**
 * Put @a s under TLS with @a ctx: the handshake starts once the output
 * written before this call has been sent in plaintext (a "+OK begin TLS"
 * reply), and output written after it is sent encrypted once the handshake
 * is done. Input is not delivered while the handshake runs.
 *
 * **Every byte of input buffered and not yet taken is discarded**, and
 * *@a discarded (when not NULL) says how many: plaintext that arrived after
 * the command that asked for TLS must never be read as if it came through
 * the encrypted session (the STARTTLS injection of CVE-2011-0411 and
 * CVE-2011-1926). Lines handed out before stay valid as for any input call.
 *
 * @param s         an open stream over a socket
 * @param ctx       the context; for a client context with verification, @a host
 *                  is required
 * @param host      client: the server's name, sent as SNI and checked against
 *                  its certificate (an IP address is checked, not sent);
 *                  server: ignored (may be NULL)
 * @param on_ready  called once when the handshake succeeds (may be NULL)
 * @param user_data passed to @a on_ready
 * @param discarded out (may be NULL): input bytes discarded
 * @return APR_SUCCESS; APR_EINVAL for NULL arguments, a stream over a pipe
 *         or file, or a client context with verification and no host;
 *         PEV_EBUSY when the stream is under TLS already (or its handshake
 *         runs); PEV_ECLOSED; PEV_EDESTROYED; APR_ENOMEM; PEV_ETLS when
 *         OpenSSL cannot make the connection object; APR_ENOTIMPL without
 *         OpenSSL. On failure the stream is unchanged, its input included.
 * Callable from any of the stream's callbacks (that is where STARTTLS is).
 */
PEV_API apr_status_t pev_stream_start_tls(pev_stream_t *s, pev_tls_ctx_t *ctx,
                                          const char *host, pev_stream_tls_fn *on_ready,
                                          void *user_data, apr_size_t *discarded);

/** @a s's TLS state (PEV_STREAM_TLS_NONE for NULL). It stays what it was
 *  when the stream closes. */
PEV_API pev_stream_tls_t pev_stream_tls_state(const pev_stream_t *s);

/** Why @a s's TLS failed, as text: OpenSSL's reason, and for a verification
 *  failure the X.509 reason ("certificate has expired", "hostname mismatch");
 *  NULL when it did not fail. Valid until the stream's pool goes. */
PEV_API const char *pev_stream_tls_error(const pev_stream_t *s);

/** @a s's SSL object (peer certificate, version, cipher, ALPN), or NULL when
 *  not under TLS or closed. Read it only; valid until the stream closes. */
PEV_API struct ssl_st *pev_stream_tls_ssl(const pev_stream_t *s);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_TLS_H */
