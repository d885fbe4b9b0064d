/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * pubsub_demo.c - drives examples/pubsubd through a scripted session with
 * real TCP clients and prints what happens (make demo runs it):
 *
 *   1. the embedded default configuration (pubsubd -p), with a free
 *      loopback port and a 2 s idle timeout, is written to a file;
 *   2. pubsubd starts on it; two subscribers, a publisher and an idle
 *      client connect;
 *   3. subscribe, publish, error replies, STATS;
 *   4. the idle client times out (the others keep talking) and its
 *      subscription ends with its connection;
 *   5. SIGHUP with a changed greeting: a new connection sees the new
 *      greeting, the old subscriptions still deliver;
 *   6. TLS (a throwaway certificate made with the OpenSSL API, and a
 *      "Listen ... tls" port in the configuration from the start): a client
 *      upgrades with STARTTLS and publishes and receives through TLS; a
 *      client that sends a command in the same segment as STARTTLS sees it
 *      discarded, not run; a client on the TLS port talks TLS from its
 *      first byte;
 *   7. SIGTERM: every client is told, pubsubd exits with status 0.
 *
 * Every step is checked; the demo exits non-zero when the daemon does not
 * behave, and every wait has a deadline, so it never hangs.
 *
 * The clients are plain POSIX and, for TLS, OpenSSL directly (no APR, no
 * poolev).
 *
 * Run: ./examples/pubsub_demo [PATH-TO-PUBSUBD]
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L     /* plain POSIX: no APR, no poolev */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef PUBSUB_DEMO_TLS          /* the build has OpenSSL (Makefile.am) */
#include <poll.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#endif

#include "demo.h"
#include "lineclient.h"

#define WAIT_MS 3000            /* a reply that should come at once */
#define IDLE_S  2               /* the demo's IdleTimeout */

static const char *pubsubd;
static char dir[64], conf_path[128], log_path[128], cert_path[128], key_path[128];
static pid_t daemon_pid;
static unsigned port, tls_port;
#ifdef PUBSUB_DEMO_TLS
static const int tls_port_wanted = 1;
#else
static const int tls_port_wanted = 0;
#endif
static long log_off;            /* log bytes shown so far */

/* ======================================================================== */
/* Output, failure                                                           */

/* Print the daemon's log lines written since the last call, without the
 * date. */
static void show_log(void)
{
    FILE *f = fopen(log_path, "r");
    char line[2048];

    if (!f)
        return;
    if (fseek(f, log_off, SEEK_SET) == 0) {
        while (fgets(line, sizeof line, f)) {
            const char *l = line;
            size_t n = strlen(line);

            if (n == 0 || line[n - 1] != '\n')
                break;                  /* a line still being written */
            log_off += (long) n;
            if (n > 11 && line[4] == '-' && line[7] == '-' && line[10] == ' ')
                l += 11;                /* the date */
            printf("        | %s", l);
        }
    }
    fclose(f);
}

static void cleanup(void)
{
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGKILL);
        waitpid(daemon_pid, NULL, 0);
        daemon_pid = 0;
    }
    unlink(conf_path);
    unlink(log_path);
    unlink(cert_path);
    unlink(key_path);
    rmdir(dir);
}

void demo_failed(void)
{
    show_log();
    cleanup();
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...)
{
    va_list ap;

    show_log();
    printf("\n[");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("]\n");
}

/* ======================================================================== */
/* Clients                                                                   */

typedef struct client {
    const char *name;
    lc_client_t *lc;
} client_t;

static void client_connect(client_t *c, const char *name)
{
    c->name = name;
    c->lc = lc_connect(port, 0);
    if (!c->lc)
        fail("%s: connect to 127.0.0.1:%u: %s", name, port, strerror(errno));
    printf("%-5s connects\n", name);
}

/* "name > command" */
static void say(client_t *c, const char *cmd)
{
    char buf[1024];
    size_t n = (size_t) snprintf(buf, sizeof buf, "%s\r\n", cmd);
    int err;

    printf("%-5s > %s\n", c->name, cmd);
    if ((err = lc_send(c->lc, buf, n, WAIT_MS)) != 0)
        fail("%s: send: %s", c->name, strerror(err));
}

/* "name < reply", checked against @a want (a prefix when it ends in '*'). */
static const char *expect(client_t *c, const char *want)
{
    const char *got = lc_line(c->lc, WAIT_MS);
    size_t n = strlen(want);
    int prefix = n > 0 && want[n - 1] == '*';

    if (!got)
        fail("%s expected \"%s\", got %s", c->name, want,
             c->lc->eof ? "the end of the connection" : "nothing within 3 s");
    printf("%-5s < %s\n", c->name, got);
    check(prefix ? strncmp(got, want, n - 1) == 0 : strcmp(got, want) == 0,
          "%s expected \"%s\", got \"%s\"", c->name, want, got);
    return got;
}

static void ask(client_t *c, const char *cmd, const char *want)
{
    say(c, cmd);
    expect(c, want);
}

static void expect_end(client_t *c)
{
    long deadline = lc_now_ms() + WAIT_MS;
    const char *l;

    while ((l = lc_line(c->lc, deadline - lc_now_ms())) != NULL)
        fail("%s expected the end of the connection, got \"%s\"", c->name, l);
    check(c->lc->eof, "%s: the connection did not end within 3 s", c->name);
    printf("%-5s : connection closed by the daemon\n", c->name);
    lc_close(c->lc, 0);
}

/* ======================================================================== */
/* TLS clients (OpenSSL)                                                     */

#ifdef PUBSUB_DEMO_TLS

static SSL_CTX *tls_ctx;

/* A throwaway self-signed certificate for localhost and 127.0.0.1 (EC
 * P-256, a day), written to cert_path and key_path; the clients trust it. */
static void make_certificate(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    FILE *f;
    int ok;

    ok = key && x && X509_set_version(x, 2)
         && ASN1_INTEGER_set(X509_get_serialNumber(x), (long) getpid())
         && X509_gmtime_adj(X509_getm_notBefore(x), -3600)
         && X509_gmtime_adj(X509_getm_notAfter(x), 86400) && X509_set_pubkey(x, key);
    name = X509_get_subject_name(x);
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                          (const unsigned char *) "localhost", -1, -1, 0)
         && X509_set_issuer_name(x, name);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if (ok && (ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                                         "DNS:localhost,IP:127.0.0.1")) != NULL) {
        ok = X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    if (ok && (ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                                         "critical,CA:TRUE")) != NULL) {
        ok = X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    ok = ok && X509_sign(x, key, EVP_sha256());
    if (ok && (f = fopen(cert_path, "w")) != NULL) {
        ok = PEM_write_X509(f, x);
        ok = fclose(f) == 0 && ok;
    }
    if (ok && (f = fopen(key_path, "w")) != NULL) {
        ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
        ok = fclose(f) == 0 && ok;
    }
    X509_free(x);
    EVP_PKEY_free(key);
    if (!ok)
        fail("cannot make a test certificate in %s", dir);
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx || SSL_CTX_load_verify_locations(tls_ctx, cert_path, NULL) != 1)
        fail("cannot make a TLS client context");
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
}

typedef struct tls_client {
    const char *name;
    lc_client_t *lc;            /* the connection; its buffer is for plaintext */
    SSL *ssl;
    size_t len;
    char buf[4096];
    char line[4096];
} tls_client_t;

/* Wait at most until @a deadline for @a fd to be ready for @a events. */
static int wait_fd(int fd, short events, long deadline)
{
    struct pollfd p = { fd, events, 0 };
    long left = deadline - lc_now_ms();

    return left > 0 && poll(&p, 1, (int) left) == 1;
}

/* The TLS handshake on @a c's connection, verifying "localhost". */
static void tls_handshake(tls_client_t *c)
{
    long deadline = lc_now_ms() + WAIT_MS;
    int r;

    if (c->lc->len)
        fail("%s: plaintext arrived after the go-ahead", c->name);
    c->ssl = SSL_new(tls_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->lc->fd) != 1
        || SSL_set_tlsext_host_name(c->ssl, "localhost") != 1
        || SSL_set1_host(c->ssl, "localhost") != 1)
        fail("%s: SSL_new", c->name);
    while ((r = SSL_connect(c->ssl)) != 1) {
        int e = SSL_get_error(c->ssl, r);

        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            || !wait_fd(c->lc->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
            fail("%s: TLS handshake failed: %s", c->name,
                 X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
    }
    printf("%-5s : TLS handshake done: %s, %s, certificate of localhost verified\n",
           c->name, SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
}

static void tls_say(tls_client_t *c, const char *cmd)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s\r\n", cmd), off = 0;
    long deadline = lc_now_ms() + WAIT_MS;

    printf("%-5s > %s  (TLS)\n", c->name, cmd);
    while (off < n) {
        int w = SSL_write(c->ssl, buf + off, n - off), e;

        if (w > 0) {
            off += w;
            continue;
        }
        e = SSL_get_error(c->ssl, w);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            || !wait_fd(c->lc->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
            fail("%s: SSL_write failed", c->name);
    }
}

/* The next line through TLS, or NULL at the end or after WAIT_MS. */
static const char *tls_line(tls_client_t *c)
{
    long deadline = lc_now_ms() + WAIT_MS;

    for (;;) {
        char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
        int r, e;

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
        if (c->len == sizeof c->buf)
            return NULL;
        r = SSL_read(c->ssl, c->buf + c->len, (int) (sizeof c->buf - c->len));
        if (r > 0) {
            c->len += (size_t) r;
            continue;
        }
        e = SSL_get_error(c->ssl, r);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            || !wait_fd(c->lc->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
            return NULL;
    }
}

static const char *tls_expect(tls_client_t *c, const char *want)
{
    const char *got = tls_line(c);
    size_t n = strlen(want);
    int prefix = n > 0 && want[n - 1] == '*';

    if (!got)
        fail("%s expected \"%s\" through TLS, got nothing", c->name, want);
    printf("%-5s < %s  (TLS)\n", c->name, got);
    check(prefix ? strncmp(got, want, n - 1) == 0 : strcmp(got, want) == 0,
          "%s expected \"%s\", got \"%s\"", c->name, want, got);
    return got;
}

static void tls_ask(tls_client_t *c, const char *cmd, const char *want)
{
    tls_say(c, cmd);
    tls_expect(c, want);
}

/* Connect to @a p; on the TLS port (@a implicit) the handshake first. */
static void tls_connect(tls_client_t *c, const char *name, unsigned p, int implicit)
{
    memset(c, 0, sizeof *c);
    c->name = name;
    c->lc = lc_connect(p, 0);
    if (!c->lc)
        fail("%s: connect to 127.0.0.1:%u: %s", name, p, strerror(errno));
    printf("%-5s connects to port %u%s\n", name, p, implicit ? " (the TLS port)" : "");
    if (implicit)
        tls_handshake(c);
}

/* The server's close: the BYE line came, then the end (close_notify). */
static void tls_expect_end(tls_client_t *c)
{
    const char *l = tls_line(c);

    if (l)
        fail("%s expected the end of the connection, got \"%s\"", c->name, l);
    check(SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN,
          "%s: the daemon ended TLS without close_notify", c->name);
    printf("%-5s : connection closed by the daemon (close_notify received)\n", c->name);
    SSL_free(c->ssl);
    c->ssl = NULL;
    lc_free(c->lc);
}
#endif /* PUBSUB_DEMO_TLS */

/* ======================================================================== */
/* The daemon                                                                */

/* pubsubd -p: the embedded default configuration. */
static char *default_config(void)
{
    static char text[8192];
    size_t len = 0;
    int fds[2], status;
    pid_t pid;
    ssize_t n;

    if (pipe(fds) != 0)
        fail("pipe: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl(pubsubd, pubsubd, "-p", (char *) NULL);
        _exit(127);
    }
    close(fds[1]);
    while (len < sizeof text - 1
           && (n = read(fds[0], text + len, sizeof text - 1 - len)) > 0)
        len += (size_t) n;
    close(fds[0]);
    text[len] = '\0';
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len == 0)
        fail("%s -p did not print a configuration (is it built? make examples/pubsubd)",
             pubsubd);
    return text;
}

/* Replace the directive @a name's line in @a text with @a line. */
static void set_directive(char *text, size_t size, const char *name, const char *line)
{
    char key[64], *at, *end, rest[8192];

    snprintf(key, sizeof key, "\n%s ", name);
    at = strstr(text, key);
    if (!at)
        fail("the default configuration has no %s line", name);
    at++;
    end = strchr(at, '\n');
    snprintf(rest, sizeof rest, "%s", end ? end : "");
    snprintf(at, size - (size_t) (at - text), "%s%s", line, rest);
}

static void write_config(const char *text)
{
    char tmp[160];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", conf_path);
    f = fopen(tmp, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, conf_path) != 0)
        fail("cannot write %s: %s", conf_path, strerror(errno));
}

/* Wait until the log holds @a needle; the text after it. */
static const char *log_wait(const char *needle, long ms)
{
    static char text[1 << 16];
    long deadline = lc_now_ms() + ms;
    int status;

    for (;;) {
        FILE *f = fopen(log_path, "r");
        size_t n = 0;
        char *at;

        if (f) {
            n = fread(text, 1, sizeof text - 1, f);
            fclose(f);
        }
        text[n] = '\0';
        if ((at = strstr(text, needle)) != NULL)
            return at + strlen(needle);
        if (waitpid(daemon_pid, &status, WNOHANG) == daemon_pid) {
            daemon_pid = 0;
            fail("pubsubd exited (status %d) before logging \"%s\"",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1, needle);
        }
        if (lc_now_ms() > deadline)
            fail("pubsubd did not log \"%s\" within %ld ms", needle, ms);
        lc_sleep_ms(5);
    }
}

static void start_daemon(void)
{
    int fd;

    fflush(stdout);
    daemon_pid = fork();
    if (daemon_pid < 0)
        fail("fork: %s", strerror(errno));
    if (daemon_pid == 0) {
        fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        execl(pubsubd, pubsubd, "-f", conf_path, (char *) NULL);
        _exit(127);
    }
    {
        /* "port P", or "ports P, T": the plaintext port, then the TLS port */
        const char *ports = log_wait("generation 1 ready: listening on port", 5000);
        char *end;

        port = (unsigned) strtoul(ports + (*ports == 's'), &end, 10);
        tls_port = strncmp(end, ", ", 2) == 0 ? (unsigned) strtoul(end + 2, NULL, 10) : 0;
    }
    check(port > 0, "no port in the log");
#ifdef PUBSUB_DEMO_TLS
    check(tls_port > 0, "no TLS port in the log");
#endif
}

/* ======================================================================== */

int main(int argc, char *argv[])
{
    client_t sub1, sub2, pub, idle, late;
#ifdef PUBSUB_DEMO_TLS
    tls_client_t up, inj, imp;
    char tls_conf[1024];
#endif
    char *conf, self[512];
    long t_idle, waited, deadline;
    int status;

    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: pubsub_demo [PATH-TO-PUBSUBD]\n");
        return 2;
    }
    if (argc == 2)
        pubsubd = argv[1];
    else {      /* beside this program */
        const char *slash = strrchr(argv[0], '/');

        snprintf(self, sizeof self, "%.*spubsubd",
                 slash ? (int) (slash - argv[0] + 1) : 0, argv[0]);
        pubsubd = self;
    }
    strcpy(dir, "/tmp/pubsub-demo.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(conf_path, sizeof conf_path, "%s/pubsubd.conf", dir);
    snprintf(log_path, sizeof log_path, "%s/pubsubd.log", dir);
    snprintf(cert_path, sizeof cert_path, "%s/server.crt", dir);
    snprintf(key_path, sizeof key_path, "%s/server.key", dir);

    printf("pubsubd demo: a publish/subscribe daemon on poolev, driven by real TCP clients\n"
           "(lines \"name > ...\" are sent by a client, \"name < ...\" are what it reads,\n"
           " \"| ...\" is the daemon's log)\n");

    /* 1. the configuration */
    conf = default_config();
    set_directive(conf, 8192, "Listen", "Listen 127.0.0.1:0");
    set_directive(conf, 8192, "IdleTimeout", "IdleTimeout 2s");
    set_directive(conf, 8192, "LogLevel", "LogLevel debug");
    set_directive(conf, 8192, "StatsInterval", "StatsInterval 1s");
#ifdef PUBSUB_DEMO_TLS
    make_certificate();
    snprintf(tls_conf, sizeof tls_conf, "\n# the demo: TLS\nListen 127.0.0.1:0 tls\n"
             "TLSCertificateFile %s\nTLSCertificateKeyFile %s\n", cert_path, key_path);
    if (strlen(conf) + strlen(tls_conf) >= 8192)
        fail("the default configuration is too long");
    strcat(conf, tls_conf);
#endif
    write_config(conf);
    note("configuration: the embedded default (pubsubd -p), with Listen 127.0.0.1:0 (a free "
         "port), IdleTimeout %ds, StatsInterval 1s and LogLevel debug%s, in %s", IDLE_S,
         tls_port_wanted ? ", and a TLS port (Listen 127.0.0.1:0 tls) with a throwaway"
         " certificate for localhost" : "", conf_path);

    /* 2. start, connect */
    note("starting %s -f %s", pubsubd, conf_path);
    start_daemon();
    show_log();
    note("four clients connect; the greeting is the Greeting directive");
    client_connect(&sub1, "sub1");
    expect(&sub1, "+OK pubsubd ready");
    client_connect(&sub2, "sub2");
    expect(&sub2, "+OK pubsubd ready");
    client_connect(&pub, "pub");
    expect(&pub, "+OK pubsubd ready");
    client_connect(&idle, "idle");
    expect(&idle, "+OK pubsubd ready");

    /* 3. the protocol */
    note("subscriptions: each is a bus listener on \"topic.NAME\" bound to the "
         "connection's pool");
    ask(&sub1, "SUB news", "+OK subscribed to news");
    ask(&sub2, "SUB news", "+OK subscribed to news");
    ask(&sub2, "SUB sports", "+OK subscribed to sports");
    ask(&idle, "SUB news", "+OK subscribed to news");
    t_idle = lc_now_ms();                  /* idle's last command */
    note("publishing generates the topic's event; each subscriber's listener queues the "
         "message");
    say(&pub, "PUB news hello, subscribers");
    expect(&pub, "+OK delivered=3");
    expect(&sub1, "MSG news hello, subscribers");
    expect(&sub2, "MSG news hello, subscribers");
    expect(&idle, "MSG news hello, subscribers");
    ask(&pub, "PUB sports 2-1 at half time", "+OK delivered=1");
    expect(&sub2, "MSG sports 2-1 at half time");
    ask(&pub, "PUB weather nobody listens", "+OK delivered=0");
    note("errors");
    ask(&sub1, "SUB news", "-ERR already subscribed to news");
    ask(&pub, "PUB news", "-ERR usage: PUB topic message");
    ask(&pub, "SUB", "-ERR usage: SUB topic");
    ask(&pub, "UNSUB news", "-ERR not subscribed to news");
    ask(&pub, "HELLO",
        "-ERR unknown command 'HELLO' (SUB, UNSUB, PUB, PING, STATS, STARTTLS, QUIT)");
    ask(&pub, "STATS news", "+OK *");
    check(stat_of(pub.lc->line, "subscribers") == 3, "news should have 3 subscribers");
    check(stat_of(pub.lc->line, "connections") == 4, "4 connections expected");

    /* 4. the idle timeout */
    note("idle says nothing from now on; its IdleTimeout (%d s) is a wait event on its "
         "stream, pushed by every command. The others keep talking.", IDLE_S);
    deadline = lc_now_ms() + 3000 * IDLE_S;
    while (!lc_ready(idle.lc, 900)) {
        if (lc_now_ms() > deadline)
            fail("idle was not timed out within %d s", 3 * IDLE_S);
        show_log();
        ask(&sub1, "PING", "+PONG");
        ask(&sub2, "PING", "+PONG");
        ask(&pub, "PING", "+PONG");
    }
    waited = lc_now_ms() - t_idle;
    expect(&idle, "BYE idle timeout");
    expect_end(&idle);
    check(waited >= IDLE_S * 1000 - 100, "idle was closed after %ld ms", waited);
    note("idle was closed %.1f s after its last command; its subscription ended with its "
         "connection's pool, with no code for it in the daemon", (double) waited / 1000);
    ask(&pub, "STATS news", "+OK *");
    check(stat_of(pub.lc->line, "subscribers") == 2, "news should have 2 subscribers left");

    /* 5. reload */
    set_directive(conf, 8192, "Greeting", "Greeting \"pubsubd, reloaded: hello again\"");
    write_config(conf);
    note("sending SIGHUP with Greeting changed to \"pubsubd, reloaded: hello again\"; "
         "sub1, sub2 and pub stay connected");
    if (kill(daemon_pid, SIGHUP) != 0)
        fail("kill: %s", strerror(errno));
    log_wait("generation 2 ready", 5000);
    show_log();
    note("a new connection gets the new generation's greeting");
    client_connect(&late, "late");
    expect(&late, "+OK pubsubd, reloaded: hello again");
    note("the old subscriptions still deliver, to the old connections");
    say(&pub, "PUB news after the reload");
    expect(&pub, "+OK delivered=2");
    expect(&sub1, "MSG news after the reload");
    expect(&sub2, "MSG news after the reload");
    ask(&late, "SUB sports", "+OK subscribed to sports");
    say(&pub, "PUB sports full time");
    expect(&pub, "+OK delivered=2");
    expect(&sub2, "MSG sports full time");
    expect(&late, "MSG sports full time");
    note("each connection keeps the configuration it was accepted under");
    ask(&sub1, "STATS", "+OK *");
    check(stat_of(sub1.lc->line, "generation") == 2 && stat_of(sub1.lc->line, "conn_generation") == 1,
          "sub1 should be a generation 1 connection under generation 2");
    ask(&late, "STATS", "+OK *");
    check(stat_of(late.lc->line, "conn_generation") == 2, "late should be a generation 2 "
          "connection");

    /* 6. TLS */
#ifdef PUBSUB_DEMO_TLS
    note("TLS: up connects in plaintext and upgrades with STARTTLS; the \"+OK\" goes out"
         " in plaintext, then the handshake");
    tls_connect(&up, "up", port, 0);
    if (!lc_line(up.lc, WAIT_MS) || strncmp(up.lc->line, "+OK ", 4) != 0)
        fail("up: no greeting");
    printf("%-5s < %s\n", up.name, up.lc->line);
    printf("%-5s > STARTTLS\n", up.name);
    if (lc_send(up.lc, "STARTTLS\r\n", 10, WAIT_MS) != 0)
        fail("up: send");
    if (!lc_line(up.lc, WAIT_MS) || strcmp(up.lc->line, "+OK begin TLS") != 0)
        fail("up: STARTTLS was not answered with +OK begin TLS");
    printf("%-5s < %s\n", up.name, up.lc->line);
    tls_handshake(&up);
    tls_ask(&up, "SUB news", "+OK subscribed to news");
    say(&pub, "PUB news through TLS and plaintext alike");
    expect(&pub, "+OK delivered=3");
    expect(&sub1, "MSG news through TLS and plaintext alike");
    expect(&sub2, "MSG news through TLS and plaintext alike");
    tls_expect(&up, "MSG news through TLS and plaintext alike");
    tls_ask(&up, "STARTTLS", "-ERR TLS is on already");

    note("inj sends STARTTLS and a PUB in one segment, as a man in the middle could"
         " (CVE-2011-0411): the PUB came in plaintext, so the daemon discards it");
    tls_connect(&inj, "inj", port, 0);
    if (!lc_line(inj.lc, WAIT_MS))
        fail("inj: no greeting");
    printf("%-5s > STARTTLS\\r\\nPUB news injected\\r\\n  (one write)\n", inj.name);
    if (lc_send(inj.lc, "STARTTLS\r\nPUB news injected\r\n", 29, WAIT_MS) != 0)
        fail("inj: send");
    if (!lc_line(inj.lc, WAIT_MS) || strcmp(inj.lc->line, "+OK begin TLS") != 0)
        fail("inj: STARTTLS was not answered with +OK begin TLS");
    printf("%-5s < %s\n", inj.name, inj.lc->line);
    tls_handshake(&inj);
    log_wait("STARTTLS: discarded 19 byte(s)", 5000);
    show_log();
    tls_ask(&inj, "STATS news", "+OK *");
    check(stat_of(inj.line, "tls") == 1, "inj should be under TLS");
    ask(&sub1, "PING", "+PONG");           /* no MSG news injected before it */
    tls_ask(&up, "PING", "+PONG");

    note("imp connects to the TLS port: the handshake comes first, then the greeting");
    tls_connect(&imp, "imp", tls_port, 1);
    tls_expect(&imp, "+OK pubsubd, reloaded: hello again");
    tls_ask(&imp, "STATS", "+OK *");
    check(stat_of(imp.line, "tls") == 1 && stat_of(imp.line, "conn_generation") == 2,
          "imp should be a TLS connection of generation 2");
#else
    note("TLS: skipped, this build has no OpenSSL (configured --without-openssl)");
#endif

    /* 7. stop */
    note("sending SIGTERM");
    if (kill(daemon_pid, SIGTERM) != 0)
        fail("kill: %s", strerror(errno));
    expect(&sub1, "BYE server shutting down");
    expect_end(&sub1);
    expect(&sub2, "BYE server shutting down");
    expect_end(&sub2);
    expect(&pub, "BYE server shutting down");
    expect_end(&pub);
    expect(&late, "BYE server shutting down");
    expect_end(&late);
#ifdef PUBSUB_DEMO_TLS
    tls_expect(&up, "BYE server shutting down");
    tls_expect_end(&up);
    tls_expect(&inj, "BYE server shutting down");
    tls_expect_end(&inj);
    tls_expect(&imp, "BYE server shutting down");
    tls_expect_end(&imp);
#endif
    deadline = lc_now_ms() + 5000;
    while (waitpid(daemon_pid, &status, WNOHANG) != daemon_pid) {
        if (lc_now_ms() > deadline)
            fail("pubsubd did not exit within 5 s of SIGTERM");
        lc_sleep_ms(5);
    }
    daemon_pid = 0;
    show_log();
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pubsubd exited with status %d",
          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    note("pubsubd exited with status 0");
#ifdef PUBSUB_DEMO_TLS
    SSL_CTX_free(tls_ctx);
#endif
    cleanup();
    printf("\ndemo passed: %d checks\n", checks);
    return 0;
}
