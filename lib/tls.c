/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * tls.c - TLS contexts, and the TLS layer under streams (OpenSSL 3).
 *
 * A context is an SSL_CTX plus what poolev adds to it; its pool's cleanup
 * drops the context's reference. Each SSL made from it holds a reference of
 * its own (SSL_new takes one), so a stream outlives the context's pool.
 * What an SSL_CTX needs for as long as it lives (the server's ALPN list)
 * hangs on it as ex_data, freed with it.
 *
 * The SSL objects read and write the descriptor through a BIO of our own:
 * send(2) with MSG_NOSIGNAL (OpenSSL's socket BIO uses write(2), which raises
 * SIGPIPE when the peer has gone) and recv(2), and it keeps the errno of the
 * last failed call, which OpenSSL's SSL_ERROR_SYSCALL leaves to the caller.
 *
 * OpenSSL's error queue is per thread: it is cleared before every SSL call,
 * so what SSL_get_error() and ERR_peek_error() see is that call's.
 */
#include "config.h"

#include <apr_strings.h>

#include "poolev/tls.h"
#include "tls_int.h"

#ifdef HAVE_OPENSSL

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct pev_tls_ctx {
    SSL_CTX *ctx;                   /* NULL once the pool went */
    apr_pool_t *pool;
    pev_tls_role_t role;
    pev_tls_verify_t verify;
    int verify_set;                 /* pev_tls_ctx_set_verify() was called */
    apr_interval_time_t hs_timeout;
    const char *err;
};

struct pevi_tls {
    SSL *ssl;                       /* NULL once freed */
    apr_interval_time_t hs_timeout;
    int fd;
    int sys_errno;                  /* the BIO's last failed call */
    apr_int16_t want;
    unsigned fatal : 1;             /* no SSL_shutdown after this */
    unsigned shut_sent : 1;
    char err[256];
};

int pev_tls_available(void)
{
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

/* OpenSSL's queued reason, or @a dflt, into @a buf; the queue is cleared. */
static void queue_text(char *buf, apr_size_t size, const char *dflt)
{
    unsigned long e = ERR_peek_last_error();

    if (e)
        ERR_error_string_n(e, buf, size);
    else
        apr_cpystrn(buf, dflt, size);
    ERR_clear_error();
}

static apr_status_t ctx_fail(pev_tls_ctx_t *c, const char *what, const char *file)
{
    char why[256];

    queue_text(why, sizeof why, "unknown OpenSSL error");
    c->err = file ? apr_psprintf(c->pool, "%s %s: %s", what, file, why)
                  : apr_psprintf(c->pool, "%s: %s", what, why);
    return PEV_ETLS;
}

const char *pev_tls_error(const pev_tls_ctx_t *c)
{
    return c ? c->err : NULL;
}

/* ------------------------------------------------------------------------ */
/* The BIO                                                                   */

static BIO_METHOD *bio_method;
static CRYPTO_ONCE bio_once = CRYPTO_ONCE_STATIC_INIT;

static int bio_write(BIO *b, const char *buf, int len)
{
    pevi_tls_t *t = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = send(t->fd, buf, (size_t) len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return (int) n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_write(b);
    else
        t->sys_errno = errno;
    return -1;
}

static int bio_read(BIO *b, char *buf, int len)
{
    pevi_tls_t *t = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = recv(t->fd, buf, (size_t) len, 0);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return (int) n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_read(b);
    else
        t->sys_errno = errno;
    return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void) b;
    (void) num;
    (void) ptr;
    /* nothing is buffered here: a flush is done, and nothing else applies */
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_setup(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "poolev socket");

    if (m && BIO_meth_set_write(m, bio_write) && BIO_meth_set_read(m, bio_read)
        && BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create)) {
        bio_method = m;
        return;
    }
    BIO_meth_free(m);
}

/* ------------------------------------------------------------------------ */
/* Contexts                                                                  */

/* The server's ALPN list, in wire format, on its SSL_CTX. */
typedef struct alpn_list {
    unsigned len;
    unsigned char data[];
} alpn_list_t;

static int alpn_index = -1;
static CRYPTO_ONCE alpn_once = CRYPTO_ONCE_STATIC_INIT;

static void alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                      void *argp)
{
    (void) parent;
    (void) ad;
    (void) idx;
    (void) argl;
    (void) argp;
    free(ptr);
}

static void alpn_setup(void)
{
    alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, alpn_free);
}

/* The server's choice: its first protocol the client offers. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    const alpn_list_t *l = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_index);
    unsigned char *sel;

    (void) arg;
    if (!l)
        return SSL_TLSEXT_ERR_NOACK;
    if (SSL_select_next_proto(&sel, outlen, l->data, l->len, in, inlen)
        != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static apr_status_t ctx_cleanup(void *data)
{
    pev_tls_ctx_t *c = data;

    SSL_CTX_free(c->ctx);
    c->ctx = NULL;
    return APR_SUCCESS;
}

static void ctx_apply_verify(pev_tls_ctx_t *c)
{
    int mode = SSL_VERIFY_NONE;

    if (c->verify == PEV_TLS_VERIFY_OPTIONAL)
        mode = SSL_VERIFY_PEER;
    else if (c->verify == PEV_TLS_VERIFY_REQUIRED)
        mode = c->role == PEV_TLS_SERVER
                   ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                   : SSL_VERIFY_PEER;
    SSL_CTX_set_verify(c->ctx, mode, NULL);
}

static apr_status_t ctx_make(pev_tls_ctx_t **out, pev_tls_role_t role, SSL_CTX *ssl_ctx,
                             apr_pool_t *pool)
{
    pev_tls_ctx_t *c;

    if (!CRYPTO_THREAD_run_once(&bio_once, bio_setup) || !bio_method
        || !CRYPTO_THREAD_run_once(&alpn_once, alpn_setup) || alpn_index < 0)
        return PEV_ETLS;
    c = apr_pcalloc(pool, sizeof *c);
    if (!c)
        return APR_ENOMEM;
    c->pool = pool;
    c->role = role;
    c->hs_timeout = PEV_TLS_HANDSHAKE_TIMEOUT_DEFAULT;
    c->ctx = ssl_ctx;
    apr_pool_cleanup_register(pool, c, ctx_cleanup, apr_pool_cleanup_null);
    *out = c;
    return APR_SUCCESS;
}

apr_status_t pev_tls_ctx_create(pev_tls_ctx_t **out, pev_tls_role_t role, apr_pool_t *pool)
{
    SSL_CTX *ctx;
    pev_tls_ctx_t *c;
    apr_status_t st;

    if (out)
        *out = NULL;
    if (!out || !pool || (role != PEV_TLS_SERVER && role != PEV_TLS_CLIENT))
        return APR_EINVAL;
    ERR_clear_error();
    ctx = SSL_CTX_new(role == PEV_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    if (!ctx)
        return PEV_ETLS;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
        SSL_CTX_free(ctx);
        return PEV_ETLS;
    }
    if (role == PEV_TLS_CLIENT)
        (void) SSL_CTX_set_default_verify_paths(ctx);   /* none is fine: load_ca */
    ERR_clear_error();
    if ((st = ctx_make(&c, role, ctx, pool)) != APR_SUCCESS) {
        SSL_CTX_free(ctx);
        return st;
    }
    c->verify = role == PEV_TLS_CLIENT ? PEV_TLS_VERIFY_REQUIRED : PEV_TLS_VERIFY_NONE;
    ctx_apply_verify(c);
    *out = c;
    return APR_SUCCESS;
}

apr_status_t pev_tls_ctx_wrap(pev_tls_ctx_t **out, pev_tls_role_t role, SSL_CTX *ssl_ctx,
                              apr_pool_t *pool)
{
    pev_tls_ctx_t *c;
    apr_status_t st;
    int mode;

    if (out)
        *out = NULL;
    if (!out || !pool || !ssl_ctx || (role != PEV_TLS_SERVER && role != PEV_TLS_CLIENT))
        return APR_EINVAL;
    if (!SSL_CTX_up_ref(ssl_ctx))
        return PEV_ETLS;
    if ((st = ctx_make(&c, role, ssl_ctx, pool)) != APR_SUCCESS) {
        SSL_CTX_free(ssl_ctx);
        return st;
    }
    mode = SSL_CTX_get_verify_mode(ssl_ctx);
    c->verify = !(mode & SSL_VERIFY_PEER) ? PEV_TLS_VERIFY_NONE
                : role == PEV_TLS_CLIENT || (mode & SSL_VERIFY_FAIL_IF_NO_PEER_CERT)
                    ? PEV_TLS_VERIFY_REQUIRED
                    : PEV_TLS_VERIFY_OPTIONAL;
    c->verify_set = 1;          /* the caller's choice stands */
    *out = c;
    return APR_SUCCESS;
}

apr_status_t pev_tls_ctx_load_cert(pev_tls_ctx_t *c, const char *cert_file,
                                   const char *key_file)
{
    SSL_CTX *probe;
    apr_status_t st = APR_SUCCESS;

    if (!c || !c->ctx || !cert_file || !key_file)
        return APR_EINVAL;
    ERR_clear_error();
    /* load into a scratch context first: a failure leaves the context as it
     * was (SSL_CTX_use_* replace the certificate before the key is checked) */
    probe = SSL_CTX_new(TLS_method());
    if (!probe)
        return ctx_fail(c, "cannot make an SSL context", NULL);
    if (SSL_CTX_use_certificate_chain_file(probe, cert_file) != 1)
        st = ctx_fail(c, "cannot load the certificate", cert_file);
    else if (SSL_CTX_use_PrivateKey_file(probe, key_file, SSL_FILETYPE_PEM) != 1)
        st = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH
                 ? ctx_fail(c, apr_psprintf(c->pool, "the private key %s does not match"
                                            " the certificate", key_file), cert_file)
                 : ctx_fail(c, "cannot load the private key", key_file);
    else if (SSL_CTX_check_private_key(probe) != 1)
        st = ctx_fail(c, apr_psprintf(c->pool, "the private key %s does not match"
                                      " the certificate", key_file), cert_file);
    SSL_CTX_free(probe);
    if (st != APR_SUCCESS)
        return st;
    if (SSL_CTX_use_certificate_chain_file(c->ctx, cert_file) != 1)
        return ctx_fail(c, "cannot load the certificate", cert_file);
    if (SSL_CTX_use_PrivateKey_file(c->ctx, key_file, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(c->ctx) != 1)
        return ctx_fail(c, "cannot load the private key", key_file);
    return APR_SUCCESS;
}

apr_status_t pev_tls_ctx_load_ca(pev_tls_ctx_t *c, const char *ca_file)
{
    X509_STORE *store;
    STACK_OF(X509_NAME) *names = NULL;

    if (!c || !c->ctx || !ca_file)
        return APR_EINVAL;
    ERR_clear_error();
    store = X509_STORE_new();
    if (!store)
        return ctx_fail(c, "cannot make a certificate store", NULL);
    if (X509_STORE_load_file(store, ca_file) != 1) {
        X509_STORE_free(store);
        return ctx_fail(c, "cannot load the CA certificates", ca_file);
    }
    if (c->role == PEV_TLS_SERVER) {
        names = SSL_load_client_CA_file(ca_file);
        if (!names) {
            X509_STORE_free(store);
            return ctx_fail(c, "cannot read the CA names", ca_file);
        }
    }
    SSL_CTX_set_cert_store(c->ctx, store);      /* frees the old one */
    if (names) {
        SSL_CTX_set_client_CA_list(c->ctx, names);
        if (!c->verify_set) {
            c->verify = PEV_TLS_VERIFY_OPTIONAL;
            ctx_apply_verify(c);
        }
    }
    return APR_SUCCESS;
}

apr_status_t pev_tls_ctx_set_verify(pev_tls_ctx_t *c, pev_tls_verify_t mode)
{
    if (!c || !c->ctx
        || (mode != PEV_TLS_VERIFY_NONE && mode != PEV_TLS_VERIFY_OPTIONAL
            && mode != PEV_TLS_VERIFY_REQUIRED)
        || (mode == PEV_TLS_VERIFY_OPTIONAL && c->role == PEV_TLS_CLIENT))
        return APR_EINVAL;
    c->verify = mode;
    c->verify_set = 1;
    ctx_apply_verify(c);
    return APR_SUCCESS;
}

apr_status_t pev_tls_ctx_set_alpn(pev_tls_ctx_t *c, const char *protocols)
{
    apr_size_t total, at = 0;
    alpn_list_t *l;
    const char *p;

    if (!c || !c->ctx || !protocols || !*protocols)
        return APR_EINVAL;
    total = strlen(protocols) + 1;      /* each comma becomes a length byte */
    if (total > 65535)
        return APR_EINVAL;
    l = malloc(sizeof *l + total);
    if (!l)
        return APR_ENOMEM;
    for (p = protocols;;) {
        const char *end = strchr(p, ',');
        apr_size_t n = end ? (apr_size_t) (end - p) : strlen(p);

        if (n == 0 || n > 255) {
            free(l);
            return APR_EINVAL;
        }
        l->data[at++] = (unsigned char) n;
        memcpy(l->data + at, p, n);
        at += n;
        if (!end)
            break;
        p = end + 1;
    }
    l->len = (unsigned) at;
    if (c->role == PEV_TLS_CLIENT) {
        int rc = SSL_CTX_set_alpn_protos(c->ctx, l->data, l->len);

        free(l);
        return rc == 0 ? APR_SUCCESS : APR_ENOMEM;
    }
    {
        alpn_list_t *old = SSL_CTX_get_ex_data(c->ctx, alpn_index);

        if (!SSL_CTX_set_ex_data(c->ctx, alpn_index, l)) {
            free(l);
            return APR_ENOMEM;
        }
        free(old);
    }
    SSL_CTX_set_alpn_select_cb(c->ctx, alpn_select, NULL);
    return APR_SUCCESS;
}

apr_status_t pev_tls_ctx_set_handshake_timeout(pev_tls_ctx_t *c, apr_interval_time_t timeout)
{
    if (!c || timeout < 0)
        return APR_EINVAL;
    c->hs_timeout = timeout;
    return APR_SUCCESS;
}

SSL_CTX *pev_tls_ctx_ssl_ctx(const pev_tls_ctx_t *c)
{
    return c ? c->ctx : NULL;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

static int is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

apr_status_t pevi_tls_new(pevi_tls_t **out, pev_tls_ctx_t *c, int fd, const char *host,
                          apr_pool_t *pool)
{
    pevi_tls_t *t;
    BIO *bio;
    SSL *ssl;

    if (!c->ctx)
        return APR_EINVAL;      /* the context's pool is gone */
    if (c->role == PEV_TLS_CLIENT && c->verify != PEV_TLS_VERIFY_NONE && !host)
        return APR_EINVAL;
    t = apr_pcalloc(pool, sizeof *t);
    if (!t)
        return APR_ENOMEM;
    ERR_clear_error();
    if (!(ssl = SSL_new(c->ctx)))
        return PEV_ETLS;
    if (!(bio = BIO_new(bio_method))) {
        SSL_free(ssl);
        return PEV_ETLS;
    }
    BIO_set_data(bio, t);
    SSL_set_bio(ssl, bio, bio);
    /* the output buffer may move and grow between retries; hand over the
     * memory of idle connections */
    /* without read-ahead, all the input OpenSSL holds is one record's
     * decrypted bytes, which SSL_pending() counts (a wrapped SSL_CTX may
     * have it on) */
    SSL_set_read_ahead(ssl, 0);
    SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER
                          | SSL_MODE_RELEASE_BUFFERS);
    if (c->role == PEV_TLS_CLIENT) {
        SSL_set_connect_state(ssl);
        if (host) {
            int ok;

            if (is_ip_literal(host)) {
                /* checked, not sent: SNI carries host names only */
                ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
            } else {
                ok = SSL_set_tlsext_host_name(ssl, host);
                if (ok && c->verify != PEV_TLS_VERIFY_NONE) {
                    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                    ok = SSL_set1_host(ssl, host);
                }
            }
            if (!ok) {
                SSL_free(ssl);
                ERR_clear_error();
                return APR_EINVAL;
            }
        }
    } else {
        SSL_set_accept_state(ssl);
    }
    t->ssl = ssl;
    t->fd = fd;
    t->hs_timeout = c->hs_timeout;
    t->want = APR_POLLIN;
    *out = t;
    return APR_SUCCESS;
}

void pevi_tls_free(pevi_tls_t *t)
{
    if (t && t->ssl) {
        SSL_free(t->ssl);
        t->ssl = NULL;
    }
}

apr_interval_time_t pevi_tls_handshake_timeout(const pevi_tls_t *t)
{
    return t->hs_timeout;
}

/* The outcome of an SSL call that returned @a rc <= 0. */
static apr_status_t tls_status(pevi_tls_t *t, int rc, int handshake)
{
    int e = SSL_get_error(t->ssl, rc);
    unsigned long q;
    long vr;

    switch (e) {
    case SSL_ERROR_WANT_READ:
        t->want = APR_POLLIN;
        ERR_clear_error();
        return APR_EAGAIN;
    case SSL_ERROR_WANT_WRITE:
        t->want = APR_POLLOUT;
        ERR_clear_error();
        return APR_EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        if (handshake) {
            t->fatal = 1;
            apr_cpystrn(t->err, "the peer closed the connection during the handshake",
                        sizeof t->err);
            return PEV_ETLS;
        }
        return APR_EOF;
    case SSL_ERROR_SYSCALL:
        t->fatal = 1;
        if (t->sys_errno) {
            apr_status_t st = APR_FROM_OS_ERROR(t->sys_errno);

            apr_snprintf(t->err, sizeof t->err, "%s: %s",
                         handshake ? "I/O error during the handshake" : "I/O error",
                         strerror(t->sys_errno));
            ERR_clear_error();
            return st;
        }
        break;                  /* an end without close_notify */
    case SSL_ERROR_SSL:
        t->fatal = 1;
        q = ERR_peek_last_error();
        if (ERR_GET_LIB(q) == ERR_LIB_SSL
            && ERR_GET_REASON(q) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
            break;
        if (ERR_GET_LIB(q) == ERR_LIB_SSL
            && ERR_GET_REASON(q) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
            apr_cpystrn(t->err, "certificate verification failed: the peer sent no"
                        " certificate", sizeof t->err);
            ERR_clear_error();
            return PEV_ETLSVERIFY;
        }
        vr = SSL_get_verify_result(t->ssl);
        if (vr != X509_V_OK && ERR_GET_LIB(q) == ERR_LIB_SSL
            && ERR_GET_REASON(q) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            apr_snprintf(t->err, sizeof t->err, "certificate verification failed: %s",
                         X509_verify_cert_error_string(vr));
            ERR_clear_error();
            return PEV_ETLSVERIFY;
        }
        queue_text(t->err, sizeof t->err, "TLS protocol error");
        return PEV_ETLS;
    default:
        t->fatal = 1;
        queue_text(t->err, sizeof t->err, "TLS error");
        return PEV_ETLS;
    }
    /* the TCP stream ended without close_notify */
    ERR_clear_error();
    if (handshake) {
        apr_cpystrn(t->err, "the peer closed the connection during the handshake",
                    sizeof t->err);
        return PEV_ETLS;
    }
    apr_cpystrn(t->err, "the peer ended the connection without close_notify",
                sizeof t->err);
    return PEV_ETRUNCATED;
}

apr_status_t pevi_tls_handshake(pevi_tls_t *t)
{
    int rc;

    ERR_clear_error();
    t->sys_errno = 0;
    rc = SSL_do_handshake(t->ssl);
    return rc == 1 ? APR_SUCCESS : tls_status(t, rc, 1);
}

apr_status_t pevi_tls_read(pevi_tls_t *t, char *buf, apr_size_t len, apr_size_t *n)
{
    int rc;

    ERR_clear_error();
    t->sys_errno = 0;
    rc = SSL_read(t->ssl, buf, len > INT_MAX ? INT_MAX : (int) len);
    if (rc > 0) {
        *n = (apr_size_t) rc;
        return APR_SUCCESS;
    }
    *n = 0;
    return tls_status(t, rc, 0);
}

int pevi_tls_pending(const pevi_tls_t *t)
{
    return t->ssl && SSL_pending(t->ssl) > 0;
}

apr_status_t pevi_tls_write(pevi_tls_t *t, const char *buf, apr_size_t len, apr_size_t *n)
{
    int rc;

    ERR_clear_error();
    t->sys_errno = 0;
    rc = SSL_write(t->ssl, buf, len > INT_MAX ? INT_MAX : (int) len);
    if (rc > 0) {
        *n = (apr_size_t) rc;
        return APR_SUCCESS;
    }
    *n = 0;
    return tls_status(t, rc, 0);
}

apr_status_t pevi_tls_shutdown(pevi_tls_t *t)
{
    char saved[sizeof t->err];
    apr_status_t st;
    int rc;

    if (t->fatal || t->shut_sent || !t->ssl)
        return APR_SUCCESS;
    /* a failure here ends a clean close without close_notify: it leaves no
     * reason text (the stream did not fail) */
    memcpy(saved, t->err, sizeof saved);
    if (SSL_in_init(t->ssl)) {
        /* a renegotiation under way: OpenSSL sends no close_notify in the
         * middle of a handshake, so finish it first */
        ERR_clear_error();
        t->sys_errno = 0;
        rc = SSL_do_handshake(t->ssl);
        if (rc != 1) {
            st = tls_status(t, rc, 0);
            if (st != APR_EAGAIN)
                memcpy(t->err, saved, sizeof saved);
            return st == APR_EAGAIN ? st : APR_SUCCESS;
        }
    }
    ERR_clear_error();
    t->sys_errno = 0;
    rc = SSL_shutdown(t->ssl);
    if (rc >= 0) {
        t->shut_sent = 1;       /* 0: sent, the peer's not read (not waited for) */
        ERR_clear_error();
        return APR_SUCCESS;
    }
    st = tls_status(t, rc, 0);
    if (st != APR_EAGAIN) {
        memcpy(t->err, saved, sizeof saved);
        return APR_SUCCESS;
    }
    return st;
}

apr_int16_t pevi_tls_want(const pevi_tls_t *t)
{
    return t->want;
}

void pevi_tls_set_error(pevi_tls_t *t, const char *text)
{
    apr_cpystrn(t->err, text, sizeof t->err);
}

const char *pevi_tls_error(const pevi_tls_t *t)
{
    return t && t->err[0] ? t->err : NULL;
}

SSL *pevi_tls_ssl(const pevi_tls_t *t)
{
    return t ? t->ssl : NULL;
}

#else /* !HAVE_OPENSSL: every call says that TLS is not built */

int pev_tls_available(void)
{
    return 0;
}

apr_status_t pev_tls_ctx_create(pev_tls_ctx_t **out, pev_tls_role_t role, apr_pool_t *pool)
{
    (void) role;
    (void) pool;
    if (out)
        *out = NULL;
    return APR_ENOTIMPL;
}

apr_status_t pev_tls_ctx_wrap(pev_tls_ctx_t **out, pev_tls_role_t role,
                              struct ssl_ctx_st *ssl_ctx, apr_pool_t *pool)
{
    (void) role;
    (void) ssl_ctx;
    (void) pool;
    if (out)
        *out = NULL;
    return APR_ENOTIMPL;
}

apr_status_t pev_tls_ctx_load_cert(pev_tls_ctx_t *c, const char *cert_file,
                                   const char *key_file)
{
    (void) c;
    (void) cert_file;
    (void) key_file;
    return APR_ENOTIMPL;
}

apr_status_t pev_tls_ctx_load_ca(pev_tls_ctx_t *c, const char *ca_file)
{
    (void) c;
    (void) ca_file;
    return APR_ENOTIMPL;
}

apr_status_t pev_tls_ctx_set_verify(pev_tls_ctx_t *c, pev_tls_verify_t mode)
{
    (void) c;
    (void) mode;
    return APR_ENOTIMPL;
}

apr_status_t pev_tls_ctx_set_alpn(pev_tls_ctx_t *c, const char *protocols)
{
    (void) c;
    (void) protocols;
    return APR_ENOTIMPL;
}

apr_status_t pev_tls_ctx_set_handshake_timeout(pev_tls_ctx_t *c, apr_interval_time_t timeout)
{
    (void) c;
    (void) timeout;
    return APR_ENOTIMPL;
}

const char *pev_tls_error(const pev_tls_ctx_t *c)
{
    (void) c;
    return NULL;
}

struct ssl_ctx_st *pev_tls_ctx_ssl_ctx(const pev_tls_ctx_t *c)
{
    (void) c;
    return NULL;
}

apr_status_t pevi_tls_new(pevi_tls_t **out, pev_tls_ctx_t *c, int fd, const char *host,
                          apr_pool_t *pool)
{
    (void) out;
    (void) c;
    (void) fd;
    (void) host;
    (void) pool;
    return APR_ENOTIMPL;
}

void pevi_tls_free(pevi_tls_t *t)
{
    (void) t;
}

apr_interval_time_t pevi_tls_handshake_timeout(const pevi_tls_t *t)
{
    (void) t;
    return 0;
}

apr_status_t pevi_tls_handshake(pevi_tls_t *t)
{
    (void) t;
    return APR_ENOTIMPL;
}

apr_status_t pevi_tls_read(pevi_tls_t *t, char *buf, apr_size_t len, apr_size_t *n)
{
    (void) t;
    (void) buf;
    (void) len;
    *n = 0;
    return APR_ENOTIMPL;
}

int pevi_tls_pending(const pevi_tls_t *t)
{
    (void) t;
    return 0;
}

apr_status_t pevi_tls_write(pevi_tls_t *t, const char *buf, apr_size_t len, apr_size_t *n)
{
    (void) t;
    (void) buf;
    (void) len;
    *n = 0;
    return APR_ENOTIMPL;
}

apr_status_t pevi_tls_shutdown(pevi_tls_t *t)
{
    (void) t;
    return APR_SUCCESS;
}

apr_int16_t pevi_tls_want(const pevi_tls_t *t)
{
    (void) t;
    return 0;
}

void pevi_tls_set_error(pevi_tls_t *t, const char *text)
{
    (void) t;
    (void) text;
}

const char *pevi_tls_error(const pevi_tls_t *t)
{
    (void) t;
    return NULL;
}

struct ssl_st *pevi_tls_ssl(const pevi_tls_t *t)
{
    (void) t;
    return NULL;
}

#endif /* HAVE_OPENSSL */
