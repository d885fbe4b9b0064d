/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_tls.c - TLS on streams (poolev/tls.h): contexts, the handshake and
 * its failures, STARTTLS and the plaintext it discards, everything a stream
 * does over TLS, truncation, and pools destroyed at every step.
 *
 * Both ends are poolev streams on one loop (the fake clock) over a loopback
 * TCP pair, unless a test needs a peer that misbehaves: then the test writes
 * the peer's bytes itself. The certificates are made for the run
 * (harness_tls.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <apr_portable.h>
#include <apr_strings.h>
#include <openssl/ssl.h>

#include "stream_fixture.h"
#include "harness_tls.h"

static pt_pki_t *PKI;

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */

static pev_tls_ctx_t *server_ctx_in(apr_pool_t *pool, const char *cert, const char *key)
{
    pev_tls_ctx_t *ctx;

    ck_assert_int_eq(pev_tls_ctx_create(&ctx, PEV_TLS_SERVER, pool), APR_SUCCESS);
    ck_assert_msg(pev_tls_ctx_load_cert(ctx, cert, key) == APR_SUCCESS, "%s",
                  pev_tls_error(ctx));
    return ctx;
}

static pev_tls_ctx_t *server_ctx(void)
{
    return server_ctx_in(pt_pool, PKI->server_cert, PKI->server_key);
}

static pev_tls_ctx_t *client_ctx_in(apr_pool_t *pool, const char *ca)
{
    pev_tls_ctx_t *ctx;

    ck_assert_int_eq(pev_tls_ctx_create(&ctx, PEV_TLS_CLIENT, pool), APR_SUCCESS);
    if (ca)
        ck_assert_msg(pev_tls_ctx_load_ca(ctx, ca) == APR_SUCCESS, "%s", pev_tls_error(ctx));
    return ctx;
}

static pev_tls_ctx_t *client_ctx(void)
{
    return client_ctx_in(pt_pool, PKI->ca);
}

/* on_ready counts per stream id; an optional action */
static int READY[16];
static sctx_fn *READY_ACTION[16];

static void on_ready(pev_stream_t *s, void *user_data)
{
    sctx_t *c = user_data;

    ck_assert_msg(!c->destroyed, "stream %d: on_ready after its pool went", c->id);
    ck_assert_ptr_eq(s, c->s);
    ck_assert_int_eq(pev_stream_tls_state(s), PEV_STREAM_TLS_ON);
    READY[c->id]++;
    if (READY_ACTION[c->id])
        READY_ACTION[c->id](c);
}

/* The client end of @a srv's loopback pair as a stream of its own (id). */
static sctx_t *client_of(sctx_t *srv, int id)
{
    sctx_t *c = ctx_new(id);

    c->pool = pt_subpool(pt_pool);
    c->fd = -1;
    c->srv_fd = srv->fd;
    ck_assert_int_eq(pev_stream_create_socket(&c->s, LOOP, srv->cli, &CB_ALL, c, c->pool),
                     APR_SUCCESS);
    srv->fd = -1;               /* the client stream owns the peer end now */
    return c;
}

typedef struct {
    sctx_t *srv, *cli;
} tpair_t;

/* A server stream (id 1) and a client stream (id 2) over a loopback pair,
 * both starting TLS (client: @a host). */
static tpair_t tls_pair(pev_tls_ctx_t *sctx, pev_tls_ctx_t *cctx, const char *host, int flags)
{
    tpair_t p;

    p.srv = sock_stream(1, NULL, flags);
    p.cli = client_of(p.srv, 2);
    p.srv->take_lines = p.cli->take_lines = 1;
    ck_assert_int_eq(pev_stream_start_tls(p.srv->s, sctx, NULL, on_ready, p.srv, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_stream_start_tls(p.cli->s, cctx, host, on_ready, p.cli, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_stream_tls_state(p.srv->s), PEV_STREAM_TLS_HANDSHAKE);
    return p;
}

static tpair_t tls_up(void)
{
    tpair_t p = tls_pair(server_ctx(), client_ctx(), "localhost", 0);

    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    return p;
}

static void tls_setup(void)
{
    stream_setup();
    memset(READY, 0, sizeof READY);
    memset(READY_ACTION, 0, sizeof READY_ACTION);
    ck_assert_msg(PKI != NULL, "no test PKI");
}

/* Both ends failed or closed. */
#define BOTH_CLOSED(p) ((p).srv->closes && (p).cli->closes)

/* ------------------------------------------------------------------------ */
/* The handshake and echo                                                    */

/* Lines go both ways over TLS 1.3; writes made before the handshake ends
 * are sent once it has, encrypted; on_ready runs once on each side. */
START_TEST(test_lines_both_ways)
{
    tpair_t p = tls_pair(server_ctx(), client_ctx(), "localhost", 0);
    SSL *ssl;

    ck_assert_int_eq(pev_stream_write(p.cli->s, "hello\r\nworld\n", 13), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->nlines == 2);
    ck_assert_str_eq(p.srv->line[0], "hello");
    ck_assert_str_eq(p.srv->line[1], "world");
    ck_assert_int_eq(pev_stream_printf(p.srv->s, "back %d\r\n", 42), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.cli->nlines == 1);
    ck_assert_str_eq(p.cli->line[0], "back 42");
    ck_assert_int_eq(READY[1], 1);
    ck_assert_int_eq(READY[2], 1);
    ssl = pev_stream_tls_ssl(p.srv->s);
    ck_assert_ptr_nonnull(ssl);
    ck_assert_int_eq(SSL_version(ssl), TLS1_3_VERSION);
    ck_assert_ptr_null(pev_stream_tls_error(p.srv->s));
    ck_assert_int_eq(pev_stream_tls_state(p.cli->s), PEV_STREAM_TLS_ON);
    /* nothing went out in plaintext: the server never saw "hello" raw */
    ck_assert(pev_stream_is_open(p.srv->s));
}
END_TEST

/* A peer that sends bytes that are no ClientHello: the handshake fails,
 * PEV_ETLS with OpenSSL's reason; on_ready never runs. */
START_TEST(test_garbage_instead_of_client_hello)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_start_tls(c->s, server_ctx(), NULL, on_ready, c, NULL),
                     APR_SUCCESS);
    pt_peer_puts(LOOP, c->fd, "GET / HTTP/1.0\r\n\r\n");
    PT_PUMP_UNTIL(LOOP, c->closes);
    ck_assert_int_eq(c->reason, PEV_ETLS);
    ck_assert_ptr_nonnull(pev_stream_tls_error(c->s));
    ck_assert_int_eq(READY[1], 0);
    ck_assert_int_eq(c->nlines, 0);
    ck_assert_ptr_null(pev_stream_tls_ssl(c->s));     /* freed with the close */
}
END_TEST

/* A peer that hangs up during the handshake: PEV_ETLS, said so. */
START_TEST(test_hangup_during_handshake)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    ck_assert_int_eq(pev_stream_start_tls(c->s, server_ctx(), NULL, on_ready, c, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(shutdown(c->fd, SHUT_WR), 0);
    PT_PUMP_UNTIL(LOOP, c->closes);
    ck_assert_int_eq(c->reason, PEV_ETLS);
    ck_assert_msg(strstr(pev_stream_tls_error(c->s), "handshake") != NULL, "%s",
                  pev_stream_tls_error(c->s));
}
END_TEST

/* A peer that connects and sends nothing: the handshake times out
 * (APR_TIMEUP), at the context's timeout and not before. */
START_TEST(test_handshake_timeout)
{
    pev_tls_ctx_t *ctx = server_ctx();
    sctx_t *c = sock_stream(1, NULL, NO_IDLE_CB);

    ck_assert_int_eq(pev_tls_ctx_set_handshake_timeout(ctx, 5 * APR_USEC_PER_SEC),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_tls_ctx_set_handshake_timeout(ctx, -1), APR_EINVAL);
    ck_assert_int_eq(pev_stream_start_tls(c->s, ctx, NULL, on_ready, c, NULL), APR_SUCCESS);
    pt_pump(LOOP, 3);
    pt_tick(LOOP, pt_fake_now + 5 * APR_USEC_PER_SEC - 1);
    ck_assert_int_eq(c->closes, 0);
    pt_tick(LOOP, pt_fake_now + 1);
    PT_PUMP_UNTIL(LOOP, c->closes);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
    ck_assert_msg(strstr(pev_stream_tls_error(c->s), "timed out") != NULL, "%s",
                  pev_stream_tls_error(c->s));
    /* the peer sees the connection end */
    pt_peer_expect_eof(LOOP, c->fd);
}
END_TEST

/* The default handshake timeout is set (a context without one would keep
 * a silent peer forever). */
START_TEST(test_handshake_timeout_default)
{
    sctx_t *c = sock_stream(1, NULL, NO_IDLE_CB);

    ck_assert_int_eq(pev_stream_start_tls(c->s, server_ctx(), NULL, on_ready, c, NULL),
                     APR_SUCCESS);
    pt_pump(LOOP, 2);
    pt_tick(LOOP, pt_fake_now + PEV_TLS_HANDSHAKE_TIMEOUT_DEFAULT - 1);
    ck_assert_int_eq(c->closes, 0);
    pt_tick(LOOP, pt_fake_now + 1);
    PT_PUMP_UNTIL(LOOP, c->closes);
    ck_assert_int_eq(c->reason, APR_TIMEUP);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Verification                                                              */

static void expect_verify_failure(const char *cert, const char *key, const char *ca,
                                  const char *host, const char *why)
{
    tpair_t p = tls_pair(server_ctx_in(pt_pool, cert, key), client_ctx_in(pt_pool, ca), host,
                         0);
    const char *err;

    PT_PUMP_UNTIL(LOOP, BOTH_CLOSED(p));
    ck_assert_int_eq(p.cli->reason, PEV_ETLSVERIFY);
    err = pev_stream_tls_error(p.cli->s);
    ck_assert_msg(err && strstr(err, why), "client error '%s', expected '%s'", err, why);
    /* the server hears the client's alert */
    ck_assert_int_eq(p.srv->reason, PEV_ETLS);
    ck_assert_ptr_nonnull(pev_stream_tls_error(p.srv->s));
    ck_assert_int_eq(READY[1] + READY[2], 0);
}

START_TEST(test_verify_expired)
{
    expect_verify_failure(PKI->expired_cert, PKI->expired_key, PKI->ca, "localhost",
                          "expired");
}
END_TEST

START_TEST(test_verify_wrong_host)
{
    expect_verify_failure(PKI->other_cert, PKI->other_key, PKI->ca, "localhost",
                          "hostname mismatch");
}
END_TEST

START_TEST(test_verify_untrusted)
{
    expect_verify_failure(PKI->selfsigned_cert, PKI->selfsigned_key, PKI->ca, "localhost",
                          "self");
    /* and a CA the server's certificate does not come from */
}
END_TEST

START_TEST(test_verify_other_ca)
{
    expect_verify_failure(PKI->server_cert, PKI->server_key, PKI->other_ca, "localhost",
                          "local issuer");
}
END_TEST

/* An IP address is checked against the certificate's IP names. */
START_TEST(test_verify_ip_address)
{
    tpair_t p = tls_pair(server_ctx(), client_ctx(), "127.0.0.1", 0);

    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    ck_assert_int_eq(pev_stream_tls_state(p.cli->s), PEV_STREAM_TLS_ON);
}
END_TEST

START_TEST(test_verify_ip_mismatch)
{
    expect_verify_failure(PKI->other_cert, PKI->other_key, PKI->ca, "127.0.0.1",
                          "IP address mismatch");
}
END_TEST

/* SNI: the client sends the host name it was given. */
START_TEST(test_sni_sent)
{
    tpair_t p = tls_pair(server_ctx(), client_ctx(), "test.poolev.invalid", 0);
    const char *name;

    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    name = SSL_get_servername(pev_stream_tls_ssl(p.srv->s), TLSEXT_NAMETYPE_host_name);
    ck_assert_ptr_nonnull(name);
    ck_assert_str_eq(name, "test.poolev.invalid");
}
END_TEST

/* Verification off: a client trusts any server. */
START_TEST(test_verify_none)
{
    pev_tls_ctx_t *cctx = client_ctx_in(pt_pool, NULL);
    tpair_t p;

    ck_assert_int_eq(pev_tls_ctx_set_verify(cctx, PEV_TLS_VERIFY_NONE), APR_SUCCESS);
    p = tls_pair(server_ctx_in(pt_pool, PKI->selfsigned_cert, PKI->selfsigned_key), cctx,
                 NULL, 0);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    ck_assert_int_eq(pev_stream_tls_state(p.cli->s), PEV_STREAM_TLS_ON);
}
END_TEST

/* Client certificates: a server with a CA asks for one (optional); with
 * PEV_TLS_VERIFY_REQUIRED a client without one is refused. */
START_TEST(test_client_certificates)
{
    pev_tls_ctx_t *sctx = server_ctx(), *cctx = client_ctx();
    tpair_t p;
    X509 *peer;

    ck_assert_int_eq(pev_tls_ctx_load_ca(sctx, PKI->ca), APR_SUCCESS);
    /* no client certificate: accepted (optional) */
    p = tls_pair(sctx, cctx, "localhost", 0);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    ck_assert_ptr_null(SSL_get0_peer_certificate(pev_stream_tls_ssl(p.srv->s)));
    /* with one: verified and seen */
    memset(READY, 0, sizeof READY);
    {
        pev_tls_ctx_t *cctx2 = client_ctx();

        ck_assert_int_eq(pev_tls_ctx_load_cert(cctx2, PKI->client_cert, PKI->client_key),
                         APR_SUCCESS);
        p = tls_pair(sctx, cctx2, "localhost", 0);
        /* TLS 1.3: the server verifies the client's certificate after the
         * client has finished */
        PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
        peer = SSL_get0_peer_certificate(pev_stream_tls_ssl(p.srv->s));
        ck_assert_ptr_nonnull(peer);
        ck_assert_int_eq(SSL_get_verify_result(pev_stream_tls_ssl(p.srv->s)), X509_V_OK);
    }
    /* required and missing: refused */
    memset(READY, 0, sizeof READY);
    ck_assert_int_eq(pev_tls_ctx_set_verify(sctx, PEV_TLS_VERIFY_REQUIRED), APR_SUCCESS);
    p = tls_pair(sctx, cctx, "localhost", 0);
    PT_PUMP_UNTIL(LOOP, p.srv->closes);
    ck_assert_int_eq(p.srv->reason, PEV_ETLSVERIFY);
    ck_assert_msg(strstr(pev_stream_tls_error(p.srv->s), "no certificate") != NULL, "%s",
                  pev_stream_tls_error(p.srv->s));
    ck_assert_int_eq(READY[1], 0);
    PT_PUMP_UNTIL(LOOP, p.cli->closes);
    ck_assert_int_ne(p.cli->reason, PEV_ECLOSED);
}
END_TEST

/* A protocol version the peer refuses: PEV_ETLS, with OpenSSL's reason. */
START_TEST(test_protocol_version_refused)
{
    pev_tls_ctx_t *sctx = server_ctx(), *cctx = client_ctx();
    tpair_t p;

    ck_assert(SSL_CTX_set_max_proto_version(pev_tls_ctx_ssl_ctx(sctx), TLS1_2_VERSION));
    ck_assert(SSL_CTX_set_min_proto_version(pev_tls_ctx_ssl_ctx(cctx), TLS1_3_VERSION));
    p = tls_pair(sctx, cctx, "localhost", 0);
    PT_PUMP_UNTIL(LOOP, BOTH_CLOSED(p));
    ck_assert_int_eq(p.srv->reason, PEV_ETLS);
    ck_assert_int_eq(p.cli->reason, PEV_ETLS);
    ck_assert_msg(strstr(pev_stream_tls_error(p.srv->s), "protocol") != NULL, "%s",
                  pev_stream_tls_error(p.srv->s));
}
END_TEST

/* TLS 1.2 is the minimum: a peer that offers only 1.1 is refused. */
START_TEST(test_tls12_minimum)
{
    pev_tls_ctx_t *cctx = client_ctx();
    SSL_CTX *raw = pev_tls_ctx_ssl_ctx(cctx);
    tpair_t p;

    ck_assert(SSL_CTX_set_min_proto_version(raw, TLS1_VERSION));
    ck_assert(SSL_CTX_set_max_proto_version(raw, TLS1_1_VERSION));
    p = tls_pair(server_ctx(), cctx, "localhost", 0);
    PT_PUMP_UNTIL(LOOP, BOTH_CLOSED(p));
    ck_assert_int_eq(p.srv->reason, PEV_ETLS);
    ck_assert_int_eq(READY[1], 0);
}
END_TEST

/* ALPN: the server picks its first protocol the client offers. */
START_TEST(test_alpn)
{
    pev_tls_ctx_t *sctx = server_ctx(), *cctx = client_ctx();
    const unsigned char *sel;
    unsigned len;
    tpair_t p;

    ck_assert_int_eq(pev_tls_ctx_set_alpn(sctx, "h2,http/1.1"), APR_SUCCESS);
    ck_assert_int_eq(pev_tls_ctx_set_alpn(cctx, "imap,http/1.1,h2"), APR_SUCCESS);
    ck_assert_int_eq(pev_tls_ctx_set_alpn(cctx, "a,,b"), APR_EINVAL);
    ck_assert_int_eq(pev_tls_ctx_set_alpn(cctx, ""), APR_EINVAL);
    p = tls_pair(sctx, cctx, "localhost", 0);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    SSL_get0_alpn_selected(pev_stream_tls_ssl(p.cli->s), &sel, &len);
    ck_assert_uint_eq(len, 2);
    ck_assert(memcmp(sel, "h2", 2) == 0);
    /* none shared: no ALPN, the handshake goes on */
    memset(READY, 0, sizeof READY);
    cctx = client_ctx();
    ck_assert_int_eq(pev_tls_ctx_set_alpn(cctx, "imap"), APR_SUCCESS);
    p = tls_pair(sctx, cctx, "localhost", 0);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    SSL_get0_alpn_selected(pev_stream_tls_ssl(p.srv->s), &sel, &len);
    ck_assert_uint_eq(len, 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Contexts                                                                  */

START_TEST(test_ctx_errors)
{
    pev_tls_ctx_t *ctx;
    const char *err;

    ck_assert_int_eq(pev_tls_ctx_create(NULL, PEV_TLS_SERVER, pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_tls_ctx_create(&ctx, (pev_tls_role_t) 7, pt_pool), APR_EINVAL);
    ck_assert_ptr_null(ctx);
    ctx = server_ctx();
    ck_assert_ptr_null(pev_tls_error(ctx));
    /* unreadable: the file is named, and OpenSSL's reason given */
    ck_assert_int_eq(pev_tls_ctx_load_cert(ctx, PKI->garbage, PKI->server_key), PEV_ETLS);
    err = pev_tls_error(ctx);
    ck_assert_msg(err && strstr(err, PKI->garbage), "%s", err);
    ck_assert_int_eq(pev_tls_ctx_load_cert(ctx, "/nonexistent/cert.pem", PKI->server_key),
                     PEV_ETLS);
    ck_assert_msg(strstr(pev_tls_error(ctx), "/nonexistent/cert.pem"), "%s",
                  pev_tls_error(ctx));
    /* a key that is not the certificate's */
    ck_assert_int_eq(pev_tls_ctx_load_cert(ctx, PKI->server_cert, PKI->other_key), PEV_ETLS);
    ck_assert_msg(strstr(pev_tls_error(ctx), "does not match"), "%s", pev_tls_error(ctx));
    ck_assert_int_eq(pev_tls_ctx_load_ca(ctx, PKI->garbage), PEV_ETLS);
    ck_assert_int_eq(pev_tls_ctx_load_cert(ctx, NULL, PKI->server_key), APR_EINVAL);
    ck_assert_int_eq(pev_tls_ctx_set_verify(ctx, (pev_tls_verify_t) 9), APR_EINVAL);
    ck_assert_int_eq(pev_tls_ctx_set_verify(client_ctx(), PEV_TLS_VERIFY_OPTIONAL),
                     APR_EINVAL);
    ck_assert_int_eq(pev_tls_ctx_wrap(&ctx, PEV_TLS_SERVER, NULL, pt_pool), APR_EINVAL);
    ck_assert(pev_tls_available());
}
END_TEST

/* A failed load leaves the context as it was: it still serves its good
 * certificate. */
START_TEST(test_ctx_failed_load_keeps_old)
{
    pev_tls_ctx_t *sctx = server_ctx();
    tpair_t p;

    ck_assert_int_eq(pev_tls_ctx_load_cert(sctx, PKI->other_cert, PKI->server_key), PEV_ETLS);
    p = tls_pair(sctx, client_ctx(), "localhost", 0);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    ck_assert_int_eq(pev_stream_tls_state(p.cli->s), PEV_STREAM_TLS_ON);
}
END_TEST

/* The contexts' pools go right after the start: the streams keep what they
 * need, the handshake completes and data flows. */
START_TEST(test_ctx_pool_destroyed_streams_run_on)
{
    apr_pool_t *sp = pt_unkept_subpool(pt_pool), *cp = pt_unkept_subpool(pt_pool);
    tpair_t p = tls_pair(server_ctx_in(sp, PKI->server_cert, PKI->server_key),
                         client_ctx_in(cp, PKI->ca), "localhost", 0);

    apr_pool_destroy(sp);
    apr_pool_destroy(cp);
    pt_scribble();
    ck_assert_int_eq(pev_stream_write(p.cli->s, "after\n", 6), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->nlines == 1);
    ck_assert_str_eq(p.srv->line[0], "after");
}
END_TEST

/* An SSL_CTX the caller built and freed its own reference of. */
START_TEST(test_ctx_wrap)
{
    SSL_CTX *raw = SSL_CTX_new(TLS_server_method());
    pev_tls_ctx_t *sctx;
    tpair_t p;

    ck_assert_ptr_nonnull(raw);
    ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(raw, PKI->server_chain), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(raw, PKI->server_key, SSL_FILETYPE_PEM), 1);
    ck_assert_int_eq(pev_tls_ctx_wrap(&sctx, PEV_TLS_SERVER, raw, pt_pool), APR_SUCCESS);
    SSL_CTX_free(raw);
    ck_assert_ptr_eq(pev_tls_ctx_ssl_ctx(sctx), raw);
    p = tls_pair(sctx, client_ctx(), "localhost", 0);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    ck_assert_int_eq(pev_stream_write(p.srv->s, "hi\n", 3), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.cli->nlines == 1);
}
END_TEST

/* pev_stream_start_tls()'s refusals leave the stream as it was. */
START_TEST(test_start_tls_errors)
{
    sctx_t *c = sock_stream(1, NULL, 0);
    pev_tls_ctx_t *cctx = client_ctx();
    apr_file_t *rd, *wr;
    pev_stream_t *ps;
    apr_size_t disc = 99;

    ck_assert_int_eq(pev_stream_start_tls(NULL, cctx, "x", NULL, NULL, NULL), APR_EINVAL);
    ck_assert_int_eq(pev_stream_start_tls(c->s, NULL, "x", NULL, NULL, &disc), APR_EINVAL);
    ck_assert_uint_eq(disc, 0);
    /* input waiting: kept by a refusal */
    pt_peer_puts(LOOP, c->fd, "partial");
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(c->s) == 7);
    /* a client that verifies needs the host */
    ck_assert_int_eq(pev_stream_start_tls(c->s, cctx, NULL, NULL, NULL, &disc), APR_EINVAL);
    ck_assert_uint_eq(pev_stream_input_pending(c->s), 7);
    ck_assert_int_eq(pev_stream_tls_state(c->s), PEV_STREAM_TLS_NONE);
    /* a pipe */
    pt_pipe_pair(pt_pool, 1, &rd, &wr);
    ck_assert_int_eq(pev_stream_create_file(&ps, LOOP, rd, NULL, NULL, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_start_tls(ps, server_ctx(), NULL, NULL, NULL, NULL),
                     APR_EINVAL);
    /* twice */
    ck_assert_int_eq(pev_stream_start_tls(c->s, server_ctx(), NULL, NULL, NULL, &disc),
                     APR_SUCCESS);
    ck_assert_uint_eq(disc, 7);
    ck_assert_int_eq(pev_stream_start_tls(c->s, server_ctx(), NULL, NULL, NULL, NULL),
                     PEV_EBUSY);
    /* closed */
    ck_assert_int_eq(pev_stream_abort(c->s), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_start_tls(c->s, server_ctx(), NULL, NULL, NULL, NULL),
                     PEV_ECLOSED);
    ck_assert_int_eq(pev_stream_tls_state(NULL), PEV_STREAM_TLS_NONE);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* STARTTLS                                                                  */

/* A plaintext server: takes lines one by one; at "STARTTLS" it answers +OK
 * in plaintext, starts TLS, and writes a greeting that must go encrypted. */
static apr_size_t DISCARDED;

static void starttls_reader(sctx_t *c)
{
    char *line;
    apr_size_t len;

    while (pev_stream_getline(c->s, &line, &len) == APR_SUCCESS) {
        c->line[c->nlines] = apr_pstrmemdup(pt_pool, line, len);
        c->len[c->nlines++] = len;
        if (strcmp(line, "STARTTLS") == 0) {
            ck_assert_int_eq(pev_stream_write(c->s, "+OK begin TLS\r\n", 15), APR_SUCCESS);
            ck_assert_int_eq(pev_stream_start_tls(c->s, server_ctx(), NULL, on_ready, c,
                                                  &DISCARDED),
                             APR_SUCCESS);
            ck_assert_int_eq(pev_stream_write(c->s, "* encrypted hello\r\n", 19),
                             APR_SUCCESS);
            /* nothing more to take: the rest went */
            ck_assert_uint_eq(pev_stream_input_pending(c->s), 0);
            break;
        }
    }
}

/* CVE-2011-0411, CVE-2011-1926: "STARTTLS" and a command in one segment.
 * The command was sent in plaintext before the handshake: it is discarded
 * (and counted), never read as if it came through TLS. */
START_TEST(test_starttls_discards_injected_plaintext)
{
    sctx_t *srv = sock_stream(1, NULL, 0), *cli;
    const char *inject = "PUBLISH injected\r\nSUBSCRIBE x\r\n";

    srv->take_lines = 0;
    srv->read_action = starttls_reader;
    DISCARDED = 12345;
    {
        char seg[128];

        snprintf(seg, sizeof seg, "STARTTLS\r\n%s", inject);
        pt_peer_puts(LOOP, srv->fd, seg);      /* one write, one segment */
    }
    PT_PUMP_UNTIL(LOOP, pev_stream_tls_state(srv->s) == PEV_STREAM_TLS_HANDSHAKE);
    ck_assert_uint_eq(DISCARDED, strlen(inject));
    /* the reply before the start came in plaintext */
    pt_peer_expect(LOOP, srv->fd, "+OK begin TLS\r\n");
    /* the client upgrades and speaks */
    cli = client_of(srv, 2);
    cli->take_lines = 1;
    ck_assert_int_eq(pev_stream_start_tls(cli->s, client_ctx(), "localhost", on_ready, cli,
                                          NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(cli->s, "HELLO\r\n", 7), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, srv->nlines == 2 && cli->nlines == 1);
    ck_assert_str_eq(srv->line[0], "STARTTLS");
    ck_assert_str_eq(srv->line[1], "HELLO");       /* not "PUBLISH injected" */
    ck_assert_str_eq(cli->line[0], "* encrypted hello");
    pt_pump(LOOP, 5);
    ck_assert_int_eq(srv->nlines, 2);
    ck_assert_int_eq(READY[1], 1);
}
END_TEST

/* The plaintext reply is sent before the handshake even when the socket
 * takes it slowly (its kernel buffer full at the start). */
START_TEST(test_starttls_plaintext_reply_waits_for_room)
{
    sctx_t *srv = sock_stream(1, NULL, FILL), *cli;

    srv->take_lines = 0;
    srv->read_action = starttls_reader;
    pt_peer_puts(LOOP, srv->fd, "STARTTLS\r\n");
    PT_PUMP_UNTIL(LOOP, pev_stream_tls_state(srv->s) == PEV_STREAM_TLS_HANDSHAKE);
    ck_assert_uint_gt(pev_stream_output_pending(srv->s), 0);
    peer_skip_filler(srv);
    pt_peer_expect(LOOP, srv->fd, "+OK begin TLS\r\n");
    cli = client_of(srv, 2);
    cli->take_lines = 1;
    ck_assert_int_eq(pev_stream_start_tls(cli->s, client_ctx(), "localhost", on_ready, cli,
                                          NULL),
                     APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, cli->nlines == 1);
    ck_assert_str_eq(cli->line[0], "* encrypted hello");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Streams over TLS                                                          */

/* Closing sends close_notify: the peer sees a clean end (APR_EOF), and gets
 * every byte written before the close. */
START_TEST(test_close_sends_close_notify)
{
    tpair_t p = tls_up();

    ck_assert_int_eq(pev_stream_write(p.srv->s, "last\n", 5), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_close(p.srv->s), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, BOTH_CLOSED(p));
    ck_assert_int_eq(p.srv->reason, PEV_ECLOSED);
    ck_assert_int_eq(p.cli->reason, APR_EOF);
    ck_assert_int_eq(p.cli->nlines, 1);
    ck_assert_str_eq(p.cli->line[0], "last");
}
END_TEST

/* A peer that ends the TCP stream without close_notify: PEV_ETRUNCATED,
 * not APR_EOF; what came before is delivered. */
START_TEST(test_truncation_reported)
{
    tpair_t p = tls_up();

    ck_assert_int_eq(pev_stream_write(p.cli->s, "before\n", 7), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->nlines == 1);
    ck_assert_int_eq(shutdown(pt_sock_fd(pev_stream_socket(p.cli->s)), SHUT_WR), 0);
    PT_PUMP_UNTIL(LOOP, p.srv->closes);
    ck_assert_int_eq(p.srv->reason, PEV_ETRUNCATED);
    ck_assert_ptr_nonnull(strstr(pev_stream_tls_error(p.srv->s), "close_notify"));
    ck_assert(pev_stream_eof(p.srv->s));
}
END_TEST

/* A record bigger than the input buffer's room: OpenSSL holds the rest
 * decrypted, which the poll never reports; it is read all the same. */
START_TEST(test_decrypted_input_held_by_openssl_is_read)
{
    tpair_t p = tls_up();
    char buf[12000];
    int i;

    for (i = 0; i < 120; i++) {
        memset(buf + i * 100, 'a' + i % 26, 99);
        buf[i * 100 + 99] = '\n';
    }
    /* one write: one record of 12000 bytes, and nothing after it */
    ck_assert_int_eq(pev_stream_write(p.cli->s, buf, sizeof buf), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->nlines == 120 || p.srv->closes);
    ck_assert_int_eq(p.srv->nlines, 120);
    ck_assert_uint_eq(p.srv->len[119], 99);
    ck_assert_int_eq(p.srv->line[119][0], 'a' + 119 % 26);
}
END_TEST

/* The same, with the input paused while OpenSSL holds input: resuming reads
 * it without any new input from the peer. */
START_TEST(test_pause_resume_over_tls)
{
    tpair_t p = tls_up();
    char buf[12000];
    int i;

    for (i = 0; i < 120; i++) {
        memset(buf + i * 100, 'x', 99);
        buf[i * 100 + 99] = '\n';
    }
    p.srv->take_lines = 0;      /* lines stay buffered: input pauses at the bound */
    ck_assert_int_eq(pev_stream_set_max_line(p.srv->s, 200), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(p.cli->s, buf, sizeof buf), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->reads > 0);
    pt_pump(LOOP, 5);
    ck_assert_uint_le(pev_stream_input_pending(p.srv->s), 202);
    ck_assert_int_eq(pev_stream_pause_input(p.srv->s, 1), APR_SUCCESS);
    p.srv->take_lines = 1;
    take_lines(p.srv);
    pt_pump(LOOP, 5);
    ck_assert_int_lt(p.srv->nlines, 120);
    ck_assert_int_eq(pev_stream_pause_input(p.srv->s, 0), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->nlines == 120 || p.srv->closes);
    ck_assert_int_eq(p.srv->nlines, 120);
}
END_TEST

/* A line longer than the maximum closes a TLS stream with PEV_ELINE; the
 * maximum itself passes. */
START_TEST(test_max_line_over_tls)
{
    tpair_t p = tls_up();
    char buf[302];

    ck_assert_int_eq(pev_stream_set_max_line(p.srv->s, 300), APR_SUCCESS);
    memset(buf, 'm', 300);
    buf[300] = '\r';
    buf[301] = '\n';
    ck_assert_int_eq(pev_stream_write(p.cli->s, buf, 302), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->nlines == 1);
    ck_assert_uint_eq(p.srv->len[0], 300);
    buf[300] = 'm';
    ck_assert_int_eq(pev_stream_write(p.cli->s, buf, 302), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->closes);
    ck_assert_int_eq(p.srv->reason, PEV_ELINE);
}
END_TEST

/* Bulk output over TLS through small kernel buffers: the output limit
 * refuses, on_drain comes, and every byte arrives in order. */
#define BULK (3 * 1024 * 1024)
static apr_size_t BULK_SENT, BULK_GOT;
static int BULK_BAD;

static void bulk_push(sctx_t *c)
{
    char chunk[8192];

    while (BULK_SENT < BULK) {
        apr_size_t n = BULK - BULK_SENT < sizeof chunk ? BULK - BULK_SENT : sizeof chunk;
        apr_status_t st;

        pt_pattern(chunk, n, BULK_SENT);
        st = pev_stream_write(c->s, chunk, n);
        if (st == PEV_EFULL)
            return;
        ck_assert_int_eq(st, APR_SUCCESS);
        BULK_SENT += n;
    }
    ck_assert_int_eq(pev_stream_close(c->s), APR_SUCCESS);
}

static void bulk_take(sctx_t *c)
{
    char buf[16384], want[16384];
    apr_size_t n = sizeof buf;

    while (pev_stream_read(c->s, buf, &n) == APR_SUCCESS) {
        pt_pattern(want, n, BULK_GOT);
        if (memcmp(buf, want, n) != 0)
            BULK_BAD = 1;
        BULK_GOT += n;
        n = sizeof buf;
    }
}

START_TEST(test_bulk_output_limit_and_drain)
{
    tpair_t p = tls_pair(server_ctx(), client_ctx(), "localhost", SMALL_BUFS);

    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    BULK_SENT = BULK_GOT = 0;
    BULK_BAD = 0;
    p.cli->take_lines = 0;
    p.cli->read_action = bulk_take;
    p.srv->drain_action = bulk_push;
    ck_assert_int_eq(pev_stream_set_output_limit(p.srv->s, 64 * 1024), APR_SUCCESS);
    bulk_push(p.srv);
    ck_assert_uint_lt(BULK_SENT, BULK);      /* the limit refused some */
    PT_PUMP_UNTIL(LOOP, BOTH_CLOSED(p));
    ck_assert_uint_eq(BULK_SENT, BULK);
    ck_assert_uint_eq(BULK_GOT, BULK);
    ck_assert(!BULK_BAD);
    ck_assert_int_gt(p.srv->drains, 0);
    ck_assert_int_eq(p.cli->reason, APR_EOF);
    ck_assert_int_eq(p.srv->reason, PEV_ECLOSED);
}
END_TEST

/* The idle timeout and wait events run on TLS streams as on any other. */
START_TEST(test_idle_and_wait_events_over_tls)
{
    tpair_t p = tls_up();
    wact_t *w;

    w = wadd(p.srv, pt_fake_now + 1000, 7, NULL);
    ck_assert_int_eq(pev_stream_set_idle_timeout(p.cli->s, 5000), APR_SUCCESS);
    p.cli->idle_keep = 0;
    pt_tick(LOOP, pt_fake_now + 1000);
    ck_assert_int_eq(w->calls, 1);
    pt_tick(LOOP, pt_fake_now + 4000);
    PT_PUMP_UNTIL(LOOP, p.cli->closes);
    ck_assert_int_eq(p.cli->reason, APR_TIMEUP);
    /* an idle timeout closes at once, as an abort: no close_notify, and
     * the server says the end was not authenticated */
    PT_PUMP_UNTIL(LOOP, p.srv->closes);
    ck_assert_int_eq(p.srv->reason, PEV_ETRUNCATED);
}
END_TEST

/* TLS 1.2 renegotiation started by the server in the middle of a session:
 * the client's reads write handshake messages and the server's reads take
 * them, inside the streams; data flows on both ways and the renegotiation
 * completes. */
START_TEST(test_renegotiation)
{
    pev_tls_ctx_t *sctx = server_ctx(), *cctx = client_ctx();
    tpair_t p;
    SSL *ssl;
    int before;

    ck_assert(SSL_CTX_set_max_proto_version(pev_tls_ctx_ssl_ctx(sctx), TLS1_2_VERSION));
    p = tls_pair(sctx, cctx, "localhost", 0);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    ssl = pev_stream_tls_ssl(p.srv->s);
    ck_assert_int_eq(SSL_version(ssl), TLS1_2_VERSION);
    before = SSL_num_renegotiations(ssl);
    ck_assert_int_eq(SSL_renegotiate(ssl), 1);
    ck_assert_int_eq(pev_stream_write(p.srv->s, "after\n", 6), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.cli->nlines == 1 || p.cli->closes || p.srv->closes);
    ck_assert_int_eq(p.cli->nlines, 1);
    ck_assert_str_eq(p.cli->line[0], "after");
    ck_assert_int_eq(pev_stream_write(p.cli->s, "back\n", 5), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->nlines == 1 || p.srv->closes);
    ck_assert_int_eq(p.srv->nlines, 1);
    ck_assert_int_gt(SSL_num_renegotiations(ssl), before);
    ck_assert_int_eq(SSL_renegotiate_pending(ssl), 0);
}
END_TEST

/* A TLS 1.3 key update asked of the peer: both sides go on. */
START_TEST(test_key_update)
{
    tpair_t p = tls_up();

    ck_assert_int_eq(SSL_key_update(pev_stream_tls_ssl(p.cli->s), SSL_KEY_UPDATE_REQUESTED),
                     1);
    ck_assert_int_eq(pev_stream_write(p.cli->s, "one\n", 4), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->nlines == 1);
    ck_assert_int_eq(pev_stream_write(p.srv->s, "two\n", 4), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.cli->nlines == 1);
    ck_assert_int_eq(SSL_get_key_update_type(pev_stream_tls_ssl(p.cli->s)),
                     SSL_KEY_UPDATE_NONE);
}
END_TEST

/* pev_stream_getline_wait() over TLS, outside the callbacks. */
START_TEST(test_getline_wait_over_tls)
{
    tpair_t p = tls_up();
    char *line;
    apr_size_t len;

    p.srv->take_lines = 0;
    ck_assert_int_eq(pev_stream_write(p.cli->s, "waited for\r\n", 12), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_getline_wait(p.srv->s, &line, &len, 5 * APR_USEC_PER_SEC),
                     APR_SUCCESS);
    ck_assert_str_eq(line, "waited for");
}
END_TEST


/* ------------------------------------------------------------------------ */
/* The loop waits: no state polls for what cannot come                       */

static double mono_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

/* Ten pev_loop_run_once() of 50 ms with nothing to do take at least about
 * that long: a loop woken at once by an interest that cannot be satisfied
 * (a level-triggered POLLOUT nobody needs) returns in no time. A slow
 * machine only makes the wait longer, never shorter. */
static void expect_loop_waits(const char *what)
{
    double t0 = mono_s(), secs;
    int i;

    for (i = 0; i < 10; i++)
        (void) pev_loop_run_once(LOOP, 50000);
    secs = mono_s() - t0;
    ck_assert_msg(secs > 0.3, "%s: 10 waits of 50 ms returned after %.3f s (busy loop)",
                  what, secs);
}

#define BIGPLAIN (512 * 1024)

/* STARTTLS with a plaintext reply too big for the socket, and output
 * written after the start: once the plaintext is out, the handshake waits
 * for the ClientHello and nothing else is polled for. */
static void starttls_big_reply(sctx_t *c)
{
    static char big[BIGPLAIN];
    char *line;
    apr_size_t len;

    while (pev_stream_getline(c->s, &line, &len) == APR_SUCCESS) {
        if (strcmp(line, "STARTTLS") == 0) {
            memset(big, 'p', sizeof big);
            ck_assert_int_eq(pev_stream_write(c->s, big, sizeof big), APR_SUCCESS);
            ck_assert_int_eq(pev_stream_start_tls(c->s, server_ctx(), NULL, on_ready, c,
                                                  NULL),
                             APR_SUCCESS);
            ck_assert_int_eq(pev_stream_write(c->s, "* encrypted hello\r\n", 19),
                             APR_SUCCESS);
            break;
        }
    }
}

START_TEST(test_handshake_wait_does_not_spin)
{
    sctx_t *srv = sock_stream(1, NULL, FILL);
    apr_size_t total = 0;
    char buf[65536];

    srv->take_lines = 0;
    srv->read_action = starttls_big_reply;
    pt_peer_puts(LOOP, srv->fd, "STARTTLS\r\n");
    PT_PUMP_UNTIL(LOOP, pev_stream_tls_state(srv->s) == PEV_STREAM_TLS_HANDSHAKE);
    pt_pump(LOOP, 2);
    ck_assert_uint_gt(pev_stream_output_pending(srv->s), 19);   /* the plaintext waits */
    peer_skip_filler(srv);
    {
        apr_time_t end = pev_clock_monotonic() + (apr_time_t) PT_WAIT_MS * 1000;

        while (total < BIGPLAIN) {
            ssize_t n = recv(srv->fd, buf, sizeof buf, MSG_DONTWAIT);

            if (n > 0)
                total += (apr_size_t) n;
            pt_pump(LOOP, 1);
            ck_assert_msg(pev_clock_monotonic() < end, "plaintext reply not sent");
        }
    }
    ck_assert_uint_eq(total, BIGPLAIN);
    pt_pump(LOOP, 3);
    expect_loop_waits("handshake after the plaintext");
    ck_assert_int_eq(pev_stream_tls_state(srv->s), PEV_STREAM_TLS_HANDSHAKE);
}
END_TEST

/* Established and idle, and after a renegotiation: the loop waits too. */
START_TEST(test_established_idle_does_not_spin)
{
    tpair_t p = tls_up();

    ck_assert_int_eq(pev_stream_write(p.cli->s, "x\n", 2), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->nlines == 1);
    pt_pump(LOOP, 3);
    expect_loop_waits("established");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* More failures, mapped right                                               */

/* A client that does not verify, refused by a server that wants a client
 * certificate (TLS 1.2): the server's alert, PEV_ETLS; not a verification
 * failure of the client's own (OpenSSL records a verify result even when
 * nothing is verified). */
START_TEST(test_unverifying_client_refused_gets_tls_error)
{
    pev_tls_ctx_t *sctx = server_ctx_in(pt_pool, PKI->selfsigned_cert, PKI->selfsigned_key);
    pev_tls_ctx_t *cctx = client_ctx_in(pt_pool, NULL);
    tpair_t p;

    ck_assert_int_eq(pev_tls_ctx_load_ca(sctx, PKI->ca), APR_SUCCESS);
    ck_assert_int_eq(pev_tls_ctx_set_verify(sctx, PEV_TLS_VERIFY_REQUIRED), APR_SUCCESS);
    ck_assert(SSL_CTX_set_max_proto_version(pev_tls_ctx_ssl_ctx(sctx), TLS1_2_VERSION));
    ck_assert_int_eq(pev_tls_ctx_set_verify(cctx, PEV_TLS_VERIFY_NONE), APR_SUCCESS);
    p = tls_pair(sctx, cctx, NULL, 0);
    PT_PUMP_UNTIL(LOOP, BOTH_CLOSED(p));
    ck_assert_int_eq(p.srv->reason, PEV_ETLSVERIFY);
    ck_assert_msg(p.cli->reason == PEV_ETLS, "client got %d: %s", p.cli->reason,
                  pev_stream_tls_error(p.cli->s));
}
END_TEST

/* TLS 1.3: the client is refused after its own handshake ended (on_ready),
 * and then closes with PEV_ETLS. */
START_TEST(test_tls13_client_refused_after_ready)
{
    pev_tls_ctx_t *sctx = server_ctx();
    tpair_t p;

    ck_assert_int_eq(pev_tls_ctx_load_ca(sctx, PKI->ca), APR_SUCCESS);
    ck_assert_int_eq(pev_tls_ctx_set_verify(sctx, PEV_TLS_VERIFY_REQUIRED), APR_SUCCESS);
    p = tls_pair(sctx, client_ctx(), "localhost", 0);
    PT_PUMP_UNTIL(LOOP, BOTH_CLOSED(p));
    ck_assert_int_eq(READY[1], 0);
    ck_assert_int_eq(READY[2], 1);
    ck_assert_int_eq(p.srv->reason, PEV_ETLSVERIFY);
    ck_assert_int_eq(p.cli->reason, PEV_ETLS);
}
END_TEST

/* A wrapped SSL_CTX with read-ahead on: records OpenSSL read ahead would
 * be invisible to the poll and to SSL_pending(); poolev turns it off. */
START_TEST(test_wrapped_read_ahead_not_stuck)
{
    SSL_CTX *raw = SSL_CTX_new(TLS_server_method());
    pev_tls_ctx_t *sctx;
    tpair_t p;

    ck_assert(SSL_CTX_use_certificate_chain_file(raw, PKI->server_cert) == 1);
    ck_assert(SSL_CTX_use_PrivateKey_file(raw, PKI->server_key, SSL_FILETYPE_PEM) == 1);
    SSL_CTX_set_read_ahead(raw, 1);
    ck_assert_int_eq(pev_tls_ctx_wrap(&sctx, PEV_TLS_SERVER, raw, pt_pool), APR_SUCCESS);
    SSL_CTX_free(raw);
    p = tls_pair(sctx, client_ctx(), "localhost", 0);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    ck_assert_int_eq(pev_stream_pause_input(p.srv->s, 1), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(p.cli->s, "one\n", 4), APR_SUCCESS);
    pt_pump(LOOP, 3);
    ck_assert_int_eq(pev_stream_write(p.cli->s, "two\n", 4), APR_SUCCESS);
    pt_pump(LOOP, 3);
    ck_assert_int_eq(pev_stream_pause_input(p.srv->s, 0), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, p.srv->nlines == 2);
}
END_TEST

/* pev_stream_close() while a renegotiation runs: the handshake is finished,
 * then close_notify goes; the peer sees a clean end and the closer no
 * failure. */
START_TEST(test_close_during_renegotiation_sends_close_notify)
{
    pev_tls_ctx_t *sctx = server_ctx();
    tpair_t p;
    int i;

    ck_assert(SSL_CTX_set_max_proto_version(pev_tls_ctx_ssl_ctx(sctx), TLS1_2_VERSION));
    p = tls_pair(sctx, client_ctx(), "localhost", 0);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    ck_assert_int_eq(SSL_renegotiate(pev_stream_tls_ssl(p.srv->s)), 1);
    ck_assert_int_eq(pev_stream_write(p.srv->s, "after\n", 6), APR_SUCCESS);
    for (i = 0; i < 200 && !SSL_in_init(pev_stream_tls_ssl(p.cli->s)); i++)
        (void) pev_loop_run_once(LOOP, 1000);
    ck_assert_msg(SSL_in_init(pev_stream_tls_ssl(p.cli->s)), "the client never renegotiated");
    ck_assert_int_eq(pev_stream_close(p.cli->s), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, BOTH_CLOSED(p));
    ck_assert_int_eq(p.cli->reason, PEV_ECLOSED);
    ck_assert_ptr_null(pev_stream_tls_error(p.cli->s));
    ck_assert_msg(p.srv->reason == APR_EOF, "server got %d: %s", p.srv->reason,
                  pev_stream_tls_error(p.srv->s));
}
END_TEST

/* A handshake timeout of 0 is none: a silent peer is kept (the idle
 * timeout, if any, is what ends it). */
START_TEST(test_handshake_timeout_zero_is_none)
{
    pev_tls_ctx_t *ctx = server_ctx();
    sctx_t *c = sock_stream(1, NULL, NO_IDLE_CB);

    ck_assert_int_eq(pev_tls_ctx_set_handshake_timeout(ctx, 0), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_start_tls(c->s, ctx, NULL, on_ready, c, NULL), APR_SUCCESS);
    pt_pump(LOOP, 2);
    pt_tick(LOOP, pt_fake_now + 10 * PEV_TLS_HANDSHAKE_TIMEOUT_DEFAULT);
    pt_pump(LOOP, 2);
    ck_assert_int_eq(c->closes, 0);
    ck_assert_int_eq(pev_stream_tls_state(c->s), PEV_STREAM_TLS_HANDSHAKE);
}
END_TEST

/* The client's side of STARTTLS: what the server sent after its +OK, in
 * plaintext in the same segment, is dropped too. */
START_TEST(test_starttls_client_discards_server_bytes_after_ok)
{
    sctx_t *cli = sock_stream(2, NULL, 0);
    apr_size_t disc = 0;

    cli->take_lines = 0;
    pt_peer_puts(LOOP, cli->fd, "+OK begin TLS\r\n* INJECTED by the server side\r\n");
    PT_PUMP_UNTIL(LOOP, pev_stream_input_pending(cli->s) == 46);
    {
        char *line;
        apr_size_t len;

        ck_assert_int_eq(pev_stream_getline(cli->s, &line, &len), APR_SUCCESS);
        ck_assert_str_eq(line, "+OK begin TLS");
    }
    ck_assert_int_eq(pev_stream_start_tls(cli->s, client_ctx(), "localhost", on_ready, cli,
                                          &disc),
                     APR_SUCCESS);
    ck_assert_uint_eq(disc, 31);
    ck_assert_uint_eq(pev_stream_input_pending(cli->s), 0);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* An outbound connection, then TLS as a client                              */

static sctx_t *CONNECTED;

static void on_connected(pev_connect_t *req, apr_status_t status, pev_stream_t *stream,
                         void *user_data)
{
    sctx_t *c = user_data;

    (void) req;
    ck_assert_int_eq(status, APR_SUCCESS);
    c->s = stream;
    ck_assert_int_eq(pev_stream_set_callbacks(stream, &CB_ALL, c), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_start_tls(stream, client_ctx(), "localhost", on_ready, c,
                                          NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_stream_write(stream, "over the connect\n", 17), APR_SUCCESS);
    CONNECTED = c;
}

/* pev_connect() to a TLS server, TLS started in the connect callback with
 * SNI and verification: the line arrives, encrypted. */
START_TEST(test_connect_then_tls_client)
{
    apr_socket_t *lsn, *acc;
    apr_sockaddr_t *sa;
    pev_connect_t *req;
    sctx_t *cli = ctx_new(2), *srv = ctx_new(1);
    pev_stream_t *ss;

    cli->pool = pt_subpool(pt_pool);
    srv->pool = pt_subpool(pt_pool);
    CONNECTED = NULL;
    ck_assert_int_eq(apr_sockaddr_info_get(&sa, "127.0.0.1", APR_INET, 0, 0, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_socket_create(&lsn, APR_INET, SOCK_STREAM, APR_PROTO_TCP, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_socket_bind(lsn, sa), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_listen(lsn, 4), APR_SUCCESS);
    ck_assert_int_eq(apr_socket_addr_get(&sa, APR_LOCAL, lsn), APR_SUCCESS);
    ck_assert_int_eq(pev_connect(&req, LOOP, "127.0.0.1", sa->port, 5 * APR_USEC_PER_SEC,
                                 on_connected, cli, cli->pool),
                     APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, CONNECTED != NULL);
    ck_assert_int_eq(apr_socket_accept(&acc, lsn, srv->pool), APR_SUCCESS);
    ck_assert_int_eq(pev_stream_create_socket(&ss, LOOP, acc, &CB_ALL, srv, srv->pool),
                     APR_SUCCESS);
    srv->s = ss;
    ck_assert_int_eq(pev_stream_start_tls(ss, server_ctx(), NULL, on_ready, srv, NULL),
                     APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2] && srv->nlines == 1);
    ck_assert_str_eq(srv->line[0], "over the connect");
    ck_assert_str_eq(SSL_get_servername(pev_stream_tls_ssl(ss), TLSEXT_NAMETYPE_host_name),
                     "localhost");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* One context, several loops on their own threads                           */

#define TLS_THREADS 4
#define TLS_ROUNDS 8

typedef struct tthread {
    apr_pool_t *pool;           /* the thread's own: made before it starts */
    pev_tls_ctx_t *sctx, *cctx;
    int ok;                     /* sessions that carried a line each way */
    char why[160];
} tthread_t;

typedef struct tend {
    pev_stream_t *s;
    int ready, got, closed;
} tend_t;

static void tt_ready(pev_stream_t *s, void *user_data)
{
    tend_t *e = user_data;

    (void) s;
    e->ready = 1;
}

static void tt_read(pev_stream_t *s, void *user_data)
{
    tend_t *e = user_data;
    char *line;
    apr_size_t len;

    while (pev_stream_getline(s, &line, &len) == APR_SUCCESS)
        if (strcmp(line, "ping") == 0)
            e->got++;
}

static void tt_close(pev_stream_t *s, apr_status_t reason, void *user_data)
{
    tend_t *e = user_data;

    (void) s;
    (void) reason;
    e->closed = 1;
}

static void *tls_thread(void *arg)
{
    static const pev_stream_callbacks_t cb = { tt_read, NULL, tt_close, NULL };
    tthread_t *t = arg;
    int round;

    for (round = 0; round < TLS_ROUNDS; round++) {
        apr_pool_t *p;
        pev_loop_t *loop;
        apr_socket_t *a = NULL, *b = NULL;
        tend_t srv = { 0 }, cli = { 0 };
        int sv[2], i;

        if (apr_pool_create(&p, t->pool) != APR_SUCCESS
            || pev_loop_create(&loop, p) != APR_SUCCESS
            || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            snprintf(t->why, sizeof t->why, "setup failed");
            return NULL;
        }
        apr_os_sock_put(&a, &sv[0], p);
        apr_os_sock_put(&b, &sv[1], p);
        if (pev_stream_create_socket(&srv.s, loop, a, &cb, &srv, p) != APR_SUCCESS
            || pev_stream_create_socket(&cli.s, loop, b, &cb, &cli, p) != APR_SUCCESS
            || pev_stream_start_tls(srv.s, t->sctx, NULL, tt_ready, &srv, NULL)
                   != APR_SUCCESS
            || pev_stream_start_tls(cli.s, t->cctx, "localhost", tt_ready, &cli, NULL)
                   != APR_SUCCESS) {
            snprintf(t->why, sizeof t->why, "streams failed");
            return NULL;
        }
        (void) pev_stream_write(cli.s, "ping\n", 5);
        (void) pev_stream_write(srv.s, "ping\n", 5);
        for (i = 0; i < 20000 && !(srv.got && cli.got) && !srv.closed && !cli.closed; i++)
            (void) pev_loop_run_once(loop, 1000);
        if (srv.got && cli.got && srv.ready && cli.ready)
            t->ok++;
        else
            snprintf(t->why, sizeof t->why, "round %d: srv ready %d got %d closed %d,"
                     " cli ready %d got %d closed %d (%s)", round, srv.ready, srv.got,
                     srv.closed, cli.ready, cli.got, cli.closed,
                     pev_stream_tls_error(cli.s) ? pev_stream_tls_error(cli.s) : "-");
        apr_pool_destroy(p);    /* streams, SSL objects, sockets, loop */
    }
    return NULL;
}

/* A context is shared by loops on several threads: every thread's sessions
 * complete (CI runs this suite under ThreadSanitizer too). */
START_TEST(test_ctx_shared_by_loops_on_threads)
{
    tthread_t t[TLS_THREADS];
    pthread_t th[TLS_THREADS];
    pev_tls_ctx_t *sctx = server_ctx(), *cctx = client_ctx();
    int i;

    for (i = 0; i < TLS_THREADS; i++) {
        memset(&t[i], 0, sizeof t[i]);
        t[i].pool = pt_subpool(pt_pool);
        t[i].sctx = sctx;
        t[i].cctx = cctx;
    }
    for (i = 0; i < TLS_THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, tls_thread, &t[i]), 0);
    for (i = 0; i < TLS_THREADS; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    for (i = 0; i < TLS_THREADS; i++)
        ck_assert_msg(t[i].ok == TLS_ROUNDS, "thread %d: %d of %d sessions; %s", i, t[i].ok,
                      TLS_ROUNDS, t[i].why);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Pools destroyed at every step                                             */

static void destroy_in_ready(sctx_t *c)
{
    destroy_own_pool(c);
}

/* The server's pool goes inside its on_ready: nothing more runs for it; the
 * client sees the connection end. */
START_TEST(test_destroy_pool_in_on_ready)
{
    tpair_t p;

    READY_ACTION[1] = destroy_in_ready;
    p = tls_pair(server_ctx(), client_ctx(), "localhost", 0);
    PT_PUMP_UNTIL(LOOP, p.srv->destroyed);
    PT_PUMP_UNTIL(LOOP, p.cli->closes);
    ck_assert_int_eq(p.srv->closes, 0);
}
END_TEST

/* The server's pool goes in the middle of the handshake (after each number
 * of iterations in turn): no callback, the client's handshake fails. */
START_TEST(test_destroy_pool_mid_handshake)
{
    int step;

    for (step = 0; step < 6; step++) {
        tpair_t p;
        int ready;

        memset(READY, 0, sizeof READY);
        p = tls_pair(server_ctx(), client_ctx(), "localhost", 0);
        pt_pump(LOOP, step);
        ready = READY[1];
        destroy_own_pool(p.srv);
        PT_PUMP_UNTIL(LOOP, p.cli->closes || READY[2]);
        if (!p.cli->closes) {
            /* TLS 1.3: the client may finish before the server has read its
             * Finished; then its first read meets the end */
            PT_PUMP_UNTIL(LOOP, p.cli->closes);
        }
        ck_assert_int_ne(p.cli->reason, APR_SUCCESS);
        ck_assert_int_eq(READY[1], ready);
    }
}
END_TEST

/* The pool goes inside the close callback of a failed handshake. */
START_TEST(test_destroy_pool_in_close_of_failed_handshake)
{
    sctx_t *c = sock_stream(1, NULL, 0);

    c->close_action = destroy_own_pool;
    ck_assert_int_eq(pev_stream_start_tls(c->s, server_ctx(), NULL, on_ready, c, NULL),
                     APR_SUCCESS);
    {
        static const char bad[] = "\x16\x03\x01\x00\x05garbage-not-a-hello";

        ck_assert_int_eq(pt_peer_send(LOOP, c->fd, bad, sizeof bad - 1), APR_SUCCESS);
    }
    PT_PUMP_UNTIL(LOOP, c->destroyed);
    pt_peer_expect_eof(LOOP, c->fd);
}
END_TEST

/* The loop goes first, with TLS streams mid-handshake and established: they
 * are closed (SSL objects freed) and their calls say PEV_EDESTROYED. */
START_TEST(test_loop_destroyed_first)
{
    apr_pool_t *lp = pt_subpool(pt_pool);
    pev_loop_t *saved = LOOP;
    tpair_t p, q;

    LOOP = pt_fake_loop(lp);
    p = tls_pair(server_ctx(), client_ctx(), "localhost", 0);
    PT_PUMP_UNTIL(LOOP, READY[1] && READY[2]);
    memset(READY, 0, sizeof READY);
    q = tls_pair(server_ctx(), client_ctx(), "localhost", 0);
    pt_pump(LOOP, 1);
    apr_pool_destroy(lp);
    LOOP = saved;
    ck_assert_int_eq(pev_stream_write(p.srv->s, "x", 1), PEV_EDESTROYED);
    ck_assert_ptr_null(pev_stream_tls_ssl(q.cli->s));
    ck_assert_int_eq(p.srv->closes + p.cli->closes + q.srv->closes + q.cli->closes, 0);
}
END_TEST

/* Seeded: both ends' pools destroyed at random points of a session
 * (handshake, transfer, close), from outside and from callbacks. */
static pt_rng_t RNG;

START_TEST(test_random_teardown)
{
    int round;

    RNG.s = pt_seed("tls");
    for (round = 0; round < 40; round++) {
        tpair_t p;
        int steps = (int) pt_below(&RNG, 12), i;

        memset(READY, 0, sizeof READY);
        p = tls_pair(server_ctx(), client_ctx(), "localhost",
                     pt_below(&RNG, 2) ? SMALL_BUFS : 0);
        if (pt_below(&RNG, 3) == 0)
            READY_ACTION[1 + pt_below(&RNG, 2)] = destroy_in_ready;
        else
            READY_ACTION[1] = READY_ACTION[2] = NULL;
        for (i = 0; i < steps; i++) {
            if (!p.cli->destroyed && pev_stream_is_open(p.cli->s)
                && pev_stream_tls_state(p.cli->s) == PEV_STREAM_TLS_ON)
                (void) pev_stream_write(p.cli->s, "ping\n", 5);
            if (!p.srv->destroyed && pev_stream_is_open(p.srv->s) && pt_below(&RNG, 4) == 0)
                (void) pev_stream_close(p.srv->s);
            pt_pump(LOOP, 1);
        }
        if (!p.srv->destroyed)
            destroy_own_pool(p.srv);
        PT_PUMP_UNTIL(LOOP, p.cli->destroyed || p.cli->closes);
        if (!p.cli->destroyed)
            destroy_own_pool(p.cli);
        READY_ACTION[1] = READY_ACTION[2] = NULL;
    }
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc;

    tc = tcase_create("handshake");
    tcase_add_checked_fixture(tc, tls_setup, stream_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_lines_both_ways);
    tcase_add_test(tc, test_garbage_instead_of_client_hello);
    tcase_add_test(tc, test_hangup_during_handshake);
    tcase_add_test(tc, test_handshake_timeout);
    tcase_add_test(tc, test_handshake_timeout_default);
    tcase_add_test(tc, test_handshake_timeout_zero_is_none);
    tcase_add_test(tc, test_handshake_wait_does_not_spin);
    tcase_add_test(tc, test_established_idle_does_not_spin);
    suite_add_tcase(s, tc);

    tc = tcase_create("verify");
    tcase_add_checked_fixture(tc, tls_setup, stream_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_verify_expired);
    tcase_add_test(tc, test_verify_wrong_host);
    tcase_add_test(tc, test_verify_untrusted);
    tcase_add_test(tc, test_verify_other_ca);
    tcase_add_test(tc, test_verify_ip_address);
    tcase_add_test(tc, test_verify_ip_mismatch);
    tcase_add_test(tc, test_sni_sent);
    tcase_add_test(tc, test_verify_none);
    tcase_add_test(tc, test_client_certificates);
    tcase_add_test(tc, test_protocol_version_refused);
    tcase_add_test(tc, test_tls12_minimum);
    tcase_add_test(tc, test_alpn);
    tcase_add_test(tc, test_unverifying_client_refused_gets_tls_error);
    tcase_add_test(tc, test_tls13_client_refused_after_ready);
    tcase_add_test(tc, test_wrapped_read_ahead_not_stuck);
    suite_add_tcase(s, tc);

    tc = tcase_create("contexts");
    tcase_add_checked_fixture(tc, tls_setup, stream_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ctx_errors);
    tcase_add_test(tc, test_ctx_failed_load_keeps_old);
    tcase_add_test(tc, test_ctx_pool_destroyed_streams_run_on);
    tcase_add_test(tc, test_ctx_wrap);
    tcase_add_test(tc, test_start_tls_errors);
    tcase_add_test(tc, test_ctx_shared_by_loops_on_threads);
    tcase_add_test(tc, test_connect_then_tls_client);
    suite_add_tcase(s, tc);

    tc = tcase_create("starttls");
    tcase_add_checked_fixture(tc, tls_setup, stream_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_starttls_discards_injected_plaintext);
    tcase_add_test(tc, test_starttls_plaintext_reply_waits_for_room);
    tcase_add_test(tc, test_starttls_client_discards_server_bytes_after_ok);
    suite_add_tcase(s, tc);

    tc = tcase_create("streams");
    tcase_add_checked_fixture(tc, tls_setup, stream_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_close_sends_close_notify);
    tcase_add_test(tc, test_truncation_reported);
    tcase_add_test(tc, test_decrypted_input_held_by_openssl_is_read);
    tcase_add_test(tc, test_pause_resume_over_tls);
    tcase_add_test(tc, test_max_line_over_tls);
    tcase_add_test(tc, test_bulk_output_limit_and_drain);
    tcase_add_test(tc, test_idle_and_wait_events_over_tls);
    tcase_add_test(tc, test_getline_wait_over_tls);
    tcase_add_test(tc, test_renegotiation);
    tcase_add_test(tc, test_close_during_renegotiation_sends_close_notify);
    tcase_add_test(tc, test_key_update);
    suite_add_tcase(s, tc);

    tc = tcase_create("teardown");
    tcase_add_checked_fixture(tc, tls_setup, stream_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_destroy_pool_in_on_ready);
    tcase_add_test(tc, test_destroy_pool_mid_handshake);
    tcase_add_test(tc, test_destroy_pool_in_close_of_failed_handshake);
    tcase_add_test(tc, test_loop_destroyed_first);
    tcase_add_test(tc, test_random_teardown);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc;

    PKI = pt_pki_create();
    if (!PKI)
        return 99;
    rc = pt_run(tls_suite());
    pt_pki_destroy(PKI);
    return rc;
}
