/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_daemon_tls.c - TLS in the daemon core: "Listen HOST:PORT tls"
 * beside plaintext ports (connections offered after the handshake), the
 * TLS directives and their errors, a reload with a bad key that keeps the
 * generation and its TLS connections, a certificate changed by a reload
 * served to new connections while old ones keep theirs, a module's
 * STARTTLS through pev_daemon_tls() with the plaintext after the command
 * discarded, and optional client certificates.
 */
#include <malloc.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <apr_strings.h>
#include <poolev.h>
#include <poolev/tls.h>

#include "harness.h"
#include "harness_tls.h"
#include "tlsclient.h"

enum { L_CONN_OPEN = 1, L_CONN_CLOSE };

static pt_log_t tlog;
static pt_pki_t *pki;
static char tmpdir[64], conf_path[128];
static char logtext[65536];
static apr_size_t last_discarded;
static int starttls_calls;
static struct tc *init_client;         /* handshake it in the next init */
static int init_handshake, init_opens; /* its result; conn-opens during it */

/* ------------------------------------------------------------------------ */
/* A test module: a line protocol on every connection                       */

/*
 *   info      "tls=T gen=G client=CN" (CN of the client certificate, or -)
 *   starttls  "+OK", then TLS in place with pev_daemon_tls(); "-ERR ..." when
 *             TLS is on already or not configured
 *   other     echoed as "echo LINE"
 */
static void proto_read(pev_stream_t *s, void *user_data)
{
    pev_conn_t *c = user_data;
    char *line;
    apr_size_t len;

    while (pev_stream_is_open(s) && pev_stream_getline(s, &line, &len) == APR_SUCCESS) {
        if (strcmp(line, "info") == 0) {
            char cn[128] = "-";
            SSL *ssl = pev_stream_tls_ssl(s);
            X509 *x = ssl ? SSL_get0_peer_certificate(ssl) : NULL;

            if (x)
                X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
                                          (int) sizeof cn);
            pev_stream_printf(s, "tls=%d gen=%u client=%s\n", pev_conn_is_tls(c),
                              pev_gen_number(pev_conn_gen(c)), cn);
        }
        else if (strcmp(line, "starttls") == 0) {
            pev_tls_ctx_t *ctx = pev_daemon_tls(pev_conn_daemon(c));

            starttls_calls++;
            if (pev_conn_is_tls(c))
                pev_stream_printf(s, "-ERR TLS is on already\n");
            else if (!ctx)
                pev_stream_printf(s, "-ERR TLS is not configured\n");
            else {
                pev_stream_printf(s, "+OK\n");
                ck_assert_int_eq(pev_stream_start_tls(s, ctx, NULL, NULL, NULL,
                                                      &last_discarded), APR_SUCCESS);
            }
        }
        else
            pev_stream_printf(s, "echo %s\n", line);
    }
}

static void proto_open(const void *event_data, void *user_data)
{
    static const pev_stream_callbacks_t cb = { proto_read, NULL, NULL, NULL };
    pev_conn_t *c = (pev_conn_t *) event_data;

    (void) user_data;
    pt_log_add(&tlog, L_CONN_OPEN);
    ck_assert_int_eq(pev_conn_set_handler(c, &cb, c), APR_SUCCESS);
}

static void proto_close(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    pt_log_add(&tlog, L_CONN_CLOSE);
}

static void loop_pump(void *arg)
{
    ck_assert_int_eq(pev_loop_run_once(arg, 1000), APR_SUCCESS);
}

static apr_status_t proto_init(pev_gen_t *gen, pev_module_t *mod, void *mconf)
{
    pev_bus_t *bus = pev_daemon_bus(pev_gen_daemon(gen));
    apr_status_t st;

    (void) mconf;
    if (init_client) {
        /* an init that runs the loop before it is ready (waiting for a
         * backend): a TLS handshake completes meanwhile */
        struct tc *c = init_client;
        int opens = pt_log_count(&tlog, L_CONN_OPEN), i;

        init_client = NULL;
        c->pump = loop_pump;
        c->arg = pev_daemon_loop(pev_gen_daemon(gen));
        init_handshake = tc_start_tls(c, pki->ca, "localhost", NULL, NULL);
        /* and the server's side of it: the client's Finished */
        for (i = 0; i < 50; i++)
            loop_pump(c->arg);
        init_opens = pt_log_count(&tlog, L_CONN_OPEN) - opens;
    }
    st = pev_event_register(NULL, bus, mod, PEV_EVENT_CONN_OPEN, proto_open, NULL,
                            pev_gen_pool(gen));
    if (st == APR_SUCCESS)
        st = pev_event_register(NULL, bus, mod, PEV_EVENT_CONN_CLOSE, proto_close, NULL,
                                pev_gen_pool(gen));
    return st;
}

static const pev_module_def_t proto_def = { .name = "proto", .init = proto_init };
static const pev_module_def_t *const test_modules[] = { &proto_def, NULL };

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static void collect_log(const void *event_data, void *user_data)
{
    const pev_log_record_t *r = event_data;
    apr_size_t n = strlen(logtext);

    (void) user_data;
    if (n + strlen(r->msg) + 2 < sizeof logtext) {
        strcat(logtext, r->msg);
        strcat(logtext, "\n");
    }
}

static void write_conf(const char *text)
{
    FILE *f = fopen(conf_path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* A plaintext and a TLS listener on free ports, the certificate @a cert
 * with its key @a key, then @a extra. */
static void write_tls_conf(const char *cert, const char *key, const char *extra)
{
    write_conf(apr_psprintf(pt_pool, "Listen 127.0.0.1:0\nListen 127.0.0.1:0 tls\n"
                            "TLSCertificateFile %s\nTLSCertificateKeyFile %s\n%s",
                            cert, key, extra));
}

static void setup(void)
{
    pt_setup();
    pt_log_reset(&tlog);
    logtext[0] = '\0';
    last_discarded = 0;
    starttls_calls = 0;
    ck_assert_msg(pki != NULL, "no test PKI");
    strcpy(tmpdir, "/tmp/poolev-dtls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(conf_path, sizeof conf_path, "%s/test.conf", tmpdir);
}

static void teardown(void)
{
    pt_teardown();
    unlink(conf_path);
    rmdir(tmpdir);
}

/* A daemon on the test file (written by the caller), no signals. */
static pev_daemon_t *make_daemon(void)
{
    pev_daemon_options_t o;
    pev_daemon_t *d;

    memset(&o, 0, sizeof o);
    o.name = "tlsd";
    o.modules = test_modules;
    o.config_file = conf_path;
    o.shutdown_grace = 200000;
    o.flags = PEV_DAEMON_NO_SIGNALS | PEV_DAEMON_NO_LISTEN_OK;  /* some list no address */
    ck_assert_int_eq(pev_daemon_create(&d, &o, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, pev_daemon_bus(d), NULL, PEV_EVENT_LOG,
                                        collect_log, NULL, NULL), APR_SUCCESS);
    return d;
}

static void pump(void *arg)
{
    ck_assert_int_eq(pev_daemon_run_once(arg, 1000), APR_SUCCESS);
}

static const char *ask(tc_t *c, const char *cmd)
{
    const char *l;

    ck_assert_int_eq(tc_puts(c, cmd), 0);
    l = tc_line(c);
    ck_assert_msg(l != NULL, "no reply to '%s': %s", cmd, c->err);
    return l;
}

/* A TLS client of @a port, verifying "localhost" against the test CA. */
static void tls_client(tc_t *c, pev_daemon_t *d, apr_port_t port)
{
    ck_assert_int_eq(tc_connect(c, port, pump, d), 0);
    ck_assert_msg(tc_start_tls(c, pki->ca, "localhost", NULL, NULL) == 0, "handshake: %s",
                  c->err);
}

#define GOOD_TLS_CONF() write_tls_conf(pki->server_cert, pki->server_key, "")

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */

START_TEST(test_implicit_tls_listener)
{
    pev_daemon_t *d;
    tc_t a, p;
    char want[128];
    int i;

    GOOD_TLS_CONF();
    d = make_daemon();
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_ptr_nonnull(pev_daemon_tls(d));
    ck_assert_ptr_eq(pev_gen_tls(pev_daemon_gen(d)), pev_daemon_tls(d));
    ck_assert_int_eq(pev_daemon_port_is_tls(d, 0), 0);
    ck_assert_int_eq(pev_daemon_port_is_tls(d, 1), 1);
    ck_assert_int_eq(pev_daemon_port_is_tls(d, 2), 0);
    snprintf(want, sizeof want, "listening on 127.0.0.1:%u (plaintext)\n",
             (unsigned) pev_daemon_port(d, 0));
    ck_assert_msg(strstr(logtext, want) != NULL, "log:\n%s", logtext);
    snprintf(want, sizeof want, "listening on 127.0.0.1:%u (TLS)\n",
             (unsigned) pev_daemon_port(d, 1));
    ck_assert_msg(strstr(logtext, want) != NULL, "log:\n%s", logtext);

    /* accepted, but not offered to the modules before its handshake */
    ck_assert_int_eq(tc_connect(&a, pev_daemon_port(d, 1), pump, d), 0);
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 1);
    for (i = 0; i < 5; i++)
        pump(d);
    ck_assert_int_eq(pt_log_count(&tlog, L_CONN_OPEN), 0);
    ck_assert_msg(tc_start_tls(&a, pki->ca, "localhost", NULL, NULL) == 0, "%s", a.err);
    ck_assert_str_eq(tc_peer_cn(&a), "localhost");
    ck_assert_str_eq(ask(&a, "info\n"), "tls=1 gen=1 client=-");
    ck_assert_int_eq(pt_log_count(&tlog, L_CONN_OPEN), 1);
    ck_assert_str_eq(ask(&a, "hello\n"), "echo hello");

    /* the plaintext port beside it */
    ck_assert_int_eq(tc_connect(&p, pev_daemon_port(d, 0), pump, d), 0);
    ck_assert_str_eq(ask(&p, "info\n"), "tls=0 gen=1 client=-");
    tc_close(&p);
    tc_close(&a);
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 0);
    ck_assert_int_eq(pt_log_count(&tlog, L_CONN_CLOSE), 2);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}
END_TEST

/* A handshake that fails is closed; the modules never hear of it. */
START_TEST(test_failed_handshake_not_offered)
{
    pev_daemon_t *d;
    tc_t a, b;

    GOOD_TLS_CONF();
    d = make_daemon();
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    /* plaintext to a TLS port */
    ck_assert_int_eq(tc_connect(&a, pev_daemon_port(d, 1), pump, d), 0);
    ck_assert_int_eq(tc_puts(&a, "info\r\n"), 0);
    ck_assert_ptr_null(tc_line(&a));
    ck_assert(a.eof);
    /* a client that trusts another CA gives up */
    ck_assert_int_eq(tc_connect(&b, pev_daemon_port(d, 1), pump, d), 0);
    ck_assert_int_eq(tc_start_tls(&b, pki->other_ca, "localhost", NULL, NULL), -1);
    ck_assert_msg(strstr(b.err, "certificate") != NULL, "%s", b.err);
    tc_close(&b);
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 0);
    tc_close(&a);
    ck_assert_int_eq(tlog.n, 0);
    ck_assert_msg(strstr(logtext, "TLS handshake failed") != NULL, "log:\n%s", logtext);
}
END_TEST

static void expect_start_error(apr_status_t want, const char *msg)
{
    pev_daemon_t *d = make_daemon();
    apr_status_t st = pev_daemon_start(d);

    ck_assert_msg(st == want, "status %d, want %d (%s)", st, want, pev_daemon_error(d));
    ck_assert_msg(strstr(pev_daemon_error(d), msg) != NULL, "error '%s', want '%s'",
                  pev_daemon_error(d), msg);
    ck_assert_uint_eq(pev_daemon_port(d, 0), 0);
}

START_TEST(test_config_errors)
{
    write_conf("Listen 127.0.0.1:0 tls\n");
    expect_start_error(PEV_ECONFIG, "test.conf: Listen ... tls needs TLSCertificateFile");
    write_conf("Listen 127.0.0.1:0 tlss\n");
    expect_start_error(PEV_ECONFIG, "test.conf:1: Listen: unknown option 'tlss' (only 'tls')");
    write_conf(apr_psprintf(pt_pool, "TLSCertificateKeyFile %s\n", pki->server_key));
    expect_start_error(PEV_ECONFIG, "TLSCertificateKeyFile needs TLSCertificateFile");
    write_conf(apr_psprintf(pt_pool, "TLSCertificateFile %s\nTLSCertificateFile %s\n",
                            pki->server_cert, pki->server_cert));
    expect_start_error(PEV_ECONFIG, "test.conf:2: TLSCertificateFile: given twice");
    write_conf("Listen 127.0.0.1:7 tls\nListen 127.0.0.1:7\n");
    expect_start_error(PEV_ECONFIG, "test.conf:2: Listen: 127.0.0.1:7 is listed twice");

    /* the key of another certificate: the file and OpenSSL's reason */
    write_tls_conf(pki->server_cert, pki->other_key, "");
    expect_start_error(PEV_ETLS, "test.conf: TLSCertificateFile: ");
    {
        pev_daemon_t *d = make_daemon();

        /* pubsubd -t sees it too */
        ck_assert_int_eq(pev_daemon_check_config(d), PEV_ETLS);
        ck_assert_msg(strstr(pev_daemon_error(d), pki->other_key)
                      || strstr(pev_daemon_error(d), pki->server_cert),
                      "no file name in '%s'", pev_daemon_error(d));
    }
    /* not PEM at all */
    write_tls_conf(pki->garbage, pki->server_key, "");
    expect_start_error(PEV_ETLS, pki->garbage);
    /* a file that is not there */
    write_tls_conf("/nonexistent/cert.pem", pki->server_key, "");
    expect_start_error(PEV_ETLS, "/nonexistent/cert.pem");
    /* a CA file that is garbage */
    write_tls_conf(pki->server_cert, pki->server_key,
                   apr_psprintf(pt_pool, "TLSCACertificateFile %s\n", pki->garbage));
    expect_start_error(PEV_ETLS, "TLSCACertificateFile");
}
END_TEST

/* A reload whose key does not match keeps the generation, and its TLS
 * connections; a reload with another certificate serves it to new
 * connections while the old ones keep theirs. */
START_TEST(test_reload_certificates)
{
    pev_daemon_t *d;
    apr_port_t tport;
    tc_t a, b, c;

    GOOD_TLS_CONF();
    d = make_daemon();
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    tport = pev_daemon_port(d, 1);
    tls_client(&a, d, tport);
    ck_assert_str_eq(ask(&a, "info\n"), "tls=1 gen=1 client=-");

    /* a mismatched key */
    write_tls_conf(pki->server_cert, pki->other_key, "");
    logtext[0] = '\0';
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    ck_assert_msg(strstr(logtext, "reload failed, keeping generation 1: ") != NULL
                  && strstr(logtext, "TLSCertificateFile") != NULL, "log:\n%s", logtext);
    ck_assert_str_eq(ask(&a, "info\n"), "tls=1 gen=1 client=-");
    tls_client(&b, d, tport);
    ck_assert_str_eq(ask(&b, "info\n"), "tls=1 gen=1 client=-");
    ck_assert_str_eq(tc_peer_cn(&b), "localhost");
    tc_close(&b);

    /* another certificate (its name is other.example) */
    write_tls_conf(pki->other_cert, pki->other_key, "");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    ck_assert_uint_eq(pev_daemon_port(d, 1), tport);
    ck_assert_int_eq(tc_connect(&c, tport, pump, d), 0);
    ck_assert_msg(tc_start_tls(&c, pki->ca, "other.example", NULL, NULL) == 0, "%s", c.err);
    ck_assert_str_eq(tc_peer_cn(&c), "other.example");
    ck_assert_str_eq(ask(&c, "info\n"), "tls=1 gen=2 client=-");
    /* the old connection goes on with the old generation's session */
    ck_assert_str_eq(tc_peer_cn(&a), "localhost");
    ck_assert_str_eq(ask(&a, "info\n"), "tls=1 gen=1 client=-");
    ck_assert_str_eq(ask(&a, "still here\n"), "echo still here");
    tc_close(&a);
    tc_close(&c);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}
END_TEST

/* STARTTLS in a module: what the client sent after the command, in the
 * same segment, is discarded and never runs. */
START_TEST(test_module_starttls_discards)
{
    pev_daemon_t *d;
    tc_t a, n;
    const char *l;

    GOOD_TLS_CONF();
    d = make_daemon();
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_int_eq(tc_connect(&a, pev_daemon_port(d, 0), pump, d), 0);
    ck_assert_int_eq(tc_puts(&a, "starttls\ninjected\n"), 0);
    l = tc_line(&a);
    ck_assert_msg(l && strcmp(l, "+OK") == 0, "%s", l ? l : a.err);
    ck_assert_msg(tc_start_tls(&a, pki->ca, "localhost", NULL, NULL) == 0, "%s", a.err);
    ck_assert_uint_eq(last_discarded, strlen("injected\n"));
    /* the first reply through TLS is the one to the first command sent
     * through TLS: "injected" never ran */
    ck_assert_str_eq(ask(&a, "info\n"), "tls=1 gen=1 client=-");
    ck_assert_str_eq(ask(&a, "starttls\n"), "-ERR TLS is on already");
    tc_close(&a);

    /* without TLSCertificateFile there is no context */
    write_conf("Listen 127.0.0.1:0\n");
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    ck_assert_ptr_null(pev_daemon_tls(d));
    ck_assert_int_eq(tc_connect(&n, pev_daemon_port(d, 0), pump, d), 0);
    ck_assert_str_eq(ask(&n, "starttls\n"), "-ERR TLS is not configured");
    ck_assert_str_eq(ask(&n, "info\n"), "tls=0 gen=2 client=-");
    tc_close(&n);
}
END_TEST

/* TLSCACertificateFile: a client certificate is asked for, verified when
 * sent, and not required. */
START_TEST(test_client_certificates)
{
    pev_daemon_t *d;
    tc_t a, b;

    write_tls_conf(pki->server_cert, pki->server_key,
                   apr_psprintf(pt_pool, "TLSCACertificateFile %s\n", pki->ca));
    d = make_daemon();
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_int_eq(tc_connect(&a, pev_daemon_port(d, 1), pump, d), 0);
    ck_assert_msg(tc_start_tls(&a, pki->ca, "localhost", pki->client_cert,
                               pki->client_key) == 0, "%s", a.err);
    ck_assert_str_eq(ask(&a, "info\n"), "tls=1 gen=1 client=poolev test client");
    tls_client(&b, d, pev_daemon_port(d, 1));
    ck_assert_str_eq(ask(&b, "info\n"), "tls=1 gen=1 client=-");
    tc_close(&a);
    tc_close(&b);
}
END_TEST

/* Stopping with a handshake under way, and destroying the daemon's pool
 * with TLS connections open, leave nothing behind (valgrind checks). */
START_TEST(test_stop_with_tls_connections)
{
    pev_daemon_t *d;
    tc_t a, h;

    GOOD_TLS_CONF();
    d = make_daemon();
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    tls_client(&a, d, pev_daemon_port(d, 1));
    ck_assert_str_eq(ask(&a, "info\n"), "tls=1 gen=1 client=-");
    ck_assert_int_eq(tc_connect(&h, pev_daemon_port(d, 1), pump, d), 0);
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 2);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
    ck_assert_uint_eq(pev_daemon_connections(d), 0);
    ck_assert_ptr_null(pev_daemon_tls(d));
    tc_close(&a);
    tc_close(&h);
}
END_TEST

/* A TLS handshake that ends while a restart's init runs the loop: the
 * connection is offered once the new generation runs (to its listeners),
 * with what the client sent meanwhile. */
START_TEST(test_handshake_done_during_restart_is_offered_after)
{
    pev_daemon_t *d;
    tc_t a;
    const char *l;

    GOOD_TLS_CONF();
    d = make_daemon();
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_int_eq(tc_connect(&a, pev_daemon_port(d, 1), pump, d), 0);
    PT_DAEMON_UNTIL(d, pev_daemon_connections(d) == 1);     /* accepted */
    init_client = &a;
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    ck_assert_msg(init_handshake == 0, "handshake during the init: %s", a.err);
    ck_assert_int_eq(init_opens, 0);
    /* a command sent before the offer waits for it */
    a.pump = pump;
    a.arg = d;
    ck_assert_int_eq(tc_puts(&a, "info\n"), 0);
    l = tc_line(&a);
    ck_assert_msg(l != NULL, "no reply: %s", a.err);
    ck_assert_str_eq(l, "tls=1 gen=1 client=-");
    ck_assert_int_eq(pt_log_count(&tlog, L_CONN_OPEN), 1);
    ck_assert_str_eq(ask(&a, "hello\n"), "echo hello");
    tc_close(&a);
}
END_TEST

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

/* Each restart builds a context and the generation's end frees it (a TLS
 * connection of the first generation stays open all along): the heap does
 * not grow with the restarts. */
START_TEST(test_restarts_free_their_contexts)
{
    long restarts = pt_env_long("POOLEV_TLS_RESTARTS", 300), i;
    const char *preload = getenv("LD_PRELOAD");
    size_t h[3] = { 0, 0, 0 };
    int valgrind = preload && strstr(preload, "vgpreload");
    pev_daemon_t *d;
    tc_t a;

    if (valgrind)
        restarts = 10;                  /* valgrind checks the leaks itself */
    GOOD_TLS_CONF();
    d = make_daemon();
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    tls_client(&a, d, pev_daemon_port(d, 1));
    ck_assert_str_eq(ask(&a, "info\n"), "tls=1 gen=1 client=-");
    /* three windows of @a restarts: the heap climbs to a steady state (the
     * pools' free lists, OpenSSL's caches: some 80 KB, in the first hundred
     * restarts or so), then stays; a leak grows it in every window alike,
     * so the last window must not grow */
    for (i = 0; i < 3 * restarts; i++) {
        logtext[0] = '\0';
        if (pev_daemon_restart(d) != APR_SUCCESS || pev_daemon_run_once(d, 0) != APR_SUCCESS
            || pev_daemon_tls(d) == NULL)
            ck_abort_msg("restart %ld failed: %s", i, pev_daemon_error(d));
        if ((i + 1) % restarts == 0) {
            malloc_trim(0);
            h[(i + 1) / restarts - 1] = heap_in_use();
        }
    }
    printf("check_daemon_tls: heap in use after %ld, %ld and %ld TLS restarts: %zu, %zu,"
           " %zu bytes\n", restarts, 2 * restarts, 3 * restarts, h[0], h[1], h[2]);
    if (!valgrind)
        ck_assert_msg(h[2] <= h[1] + 16 * 1024, "heap grew from %zu to %zu bytes over the"
                      " last %ld restarts", h[1], h[2], restarts);
    ck_assert_str_eq(ask(&a, "info\n"), "tls=1 gen=1 client=-");
    tc_close(&a);
}
END_TEST

static Suite *daemon_tls_suite(void)
{
    Suite *s = suite_create("daemon_tls");
    TCase *tc = tcase_create("tls");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_implicit_tls_listener);
    tcase_add_test(tc, test_failed_handshake_not_offered);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_reload_certificates);
    tcase_add_test(tc, test_module_starttls_discards);
    tcase_add_test(tc, test_client_certificates);
    tcase_add_test(tc, test_stop_with_tls_connections);
    tcase_add_test(tc, test_restarts_free_their_contexts);
    tcase_add_test(tc, test_handshake_done_during_restart_is_offered_after);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    int rc;

    /* one PKI for the whole run, made before the tests fork */
    pki = pt_pki_create();
    rc = pt_main(argc, argv, daemon_tls_suite, NULL);
    pt_pki_destroy(pki);
    return rc;
}
