/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_pubsubd_workers.c - pubsubd under "Workers N" (doc/pubsubd.md,
 * "Workers"): a real pubsubd process with 2 and 4 worker threads, real TCP
 * clients over loopback.
 *
 * The daemon hands the connections to its workers round-robin, in the
 * order it accepts them; each client here is greeted before the next one
 * connects, so client k is served by worker k mod N. The tests check that
 * spread with "STATS topic" (subscribers= counts the connection's own
 * worker), then that every PUB, from a publisher on any worker, reaches
 * every subscriber on every worker, exactly once and in each publisher's
 * order; that STATS sums every worker; that SlowPolicy holds per
 * connection; reload and SIGTERM with clients on every worker.
 *
 * The helpers to run the daemon are those of check_pubsubd.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "config.h"
#include "harness.h"

#ifndef PUBSUBD_PATH
#define PUBSUBD_PATH "../examples/pubsubd"
#endif
#ifndef PUBSUBD_EXAMPLE_CONF
#define PUBSUBD_EXAMPLE_CONF "../examples/pubsubd.conf"
#endif


#define START_MS  10000     /* the daemon starts or stops */

/* ======================================================================== */
/* The daemon                                                                */

static const char *pubsubd_path(void)
{
    const char *p = getenv("POOLEV_PUBSUBD");

    return p && *p ? p : PUBSUBD_PATH;
}

/* ======================================================================== */
/* The daemon process                                                        */

static struct {
    pid_t pid;
    char dir[64];
    char conf[128];
    char log[128];
    char out[128];
    unsigned port;
} D;

static void dir_setup(void)
{
    pt_setup();
    memset(&D, 0, sizeof D);
    strcpy(D.dir, "/tmp/pubsubd-test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(D.dir));
    snprintf(D.conf, sizeof D.conf, "%s/pubsubd.conf", D.dir);
    snprintf(D.log, sizeof D.log, "%s/log", D.dir);
    snprintf(D.out, sizeof D.out, "%s/out", D.dir);
}

static void dir_teardown(void)
{
    DIR *dir;
    struct dirent *e;
    char path[512];

    if (D.pid > 0) {                    /* a failed test left it running */
        kill(D.pid, SIGKILL);
        waitpid(D.pid, NULL, 0);
        D.pid = 0;
    }
    if ((dir = opendir(D.dir)) != NULL) {
        while ((e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", D.dir, e->d_name);
            unlink(path);
        }
        closedir(dir);
    }
    rmdir(D.dir);
    pt_teardown();
}

/*
 * Run pubsubd with @a args (NULL-terminated, after the program name),
 * stdout to D.out and stderr to D.log. The daemon's copy of ASan, if any,
 * keeps no quarantine: freed buffers would count as resident memory.
 */
static pid_t spawn(const char *const args[])
{
    const char *argv[8];
    pid_t pid;
    int i, fd;

    argv[0] = pubsubd_path();
    for (i = 0; args[i] && i < 6; i++)
        argv[i + 1] = args[i];
    argv[i + 1] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        char asan[1024];
        const char *old = getenv("ASAN_OPTIONS");

        snprintf(asan, sizeof asan, "%s%squarantine_size_mb=0", old ? old : "",
                 old && *old ? ":" : "");
        setenv("ASAN_OPTIONS", asan, 1);
        if ((fd = open(D.out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0)
            dup2(fd, 1);
        if ((fd = open(D.log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0)
            dup2(fd, 2);
        execv(argv[0], (char *const *) argv);
        _exit(127);
    }
    return pid;
}

/* Wait at most @a ms for @a pid to exit. Returns 1 and its status, or 0. */
static int wait_exit(pid_t pid, long ms, int *status)
{
    long deadline = lc_now_ms() + ms;

    do {
        pid_t r = waitpid(pid, status, WNOHANG);

        if (r == pid)
            return 1;
        ck_assert_int_ne(r, -1);
        lc_sleep_ms(2);
    } while (lc_now_ms() < deadline);
    return 0;
}

/* Wait until the log holds @a needle; returns a copy of the text after it
 * (malloc'd), or fails. */
static char *log_wait(const char *needle, long ms)
{
    long deadline = lc_now_ms() + ms;
    char *text, *at;
    int status;

    for (;;) {
        text = pt_slurp(D.log);
        if ((at = strstr(text, needle)) != NULL) {
            at = strdup(at + strlen(needle));
            free(text);
            ck_assert_ptr_nonnull(at);
            return at;
        }
        if (D.pid > 0 && waitpid(D.pid, &status, WNOHANG) == D.pid) {
            D.pid = 0;
            ck_abort_msg("pubsubd exited (status %d) before logging '%s'; log:\n%s",
                         status, needle, text);
        }
        if (lc_now_ms() > deadline)
            ck_abort_msg("no '%s' in the log after %ld ms; log:\n%s", needle, ms, text);
        free(text);
        lc_sleep_ms(2);
    }
}

/* Start pubsubd on a free loopback port with the test's settings. */
static void daemon_start(const char *settings)
{
    const char *args[] = { "-f", D.conf, NULL };
    char conf[4096], *rest;

    snprintf(conf, sizeof conf,
             "# check_pubsubd_workers\n"
             "Listen 127.0.0.1:0\n"
             "LogLevel debug\n"
             "StatsInterval off\n"
             "%s", settings);
    pt_write_file(D.conf, conf);
    D.pid = spawn(args);
    /* "port N", or "ports N, M" with a TLS listener after it */
    rest = log_wait("generation 1 ready: listening on port", START_MS);
    D.port = (unsigned) strtoul(rest + (rest[0] == 's'), NULL, 10);
    free(rest);
    ck_assert_uint_gt(D.port, 0);
}

/* Rewrite the configuration (same Listen line) and send SIGHUP. */
static void daemon_reload(const char *settings)
{
    char conf[4096];

    snprintf(conf, sizeof conf,
             "# check_pubsubd_workers, reloaded\n"
             "Listen 127.0.0.1:0\n"
             "LogLevel debug\n"
             "StatsInterval off\n"
             "%s", settings);
    pt_write_file(D.conf, conf);
    ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
}

/* SIGTERM: the daemon stops in order and exits 0. */
static void daemon_stop(void)
{
    int status;
    char *text;

    ck_assert_int_gt(D.pid, 0);
    ck_assert_int_eq(kill(D.pid, SIGTERM), 0);
    if (!wait_exit(D.pid, START_MS, &status)) {
        text = pt_slurp(D.log);
        ck_abort_msg("pubsubd did not stop after SIGTERM; log:\n%s", text);
    }
    D.pid = 0;
    text = pt_slurp(D.log);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "pubsubd stopped with status %d; log:\n%s", status, text);
    free(text);
}

/* ======================================================================== */
/* Clients                                                                   */

/* Connected and greeted. */
static lc_client_t *cl_open(const char *greeting)
{
    lc_client_t *c = pt_client(D.port, 0);
    char want[512];

    snprintf(want, sizeof want, "+OK %s", greeting);
    PT_EXPECT(c, want);
    return c;
}

/* STATS: the value of @a key. */
static long stat_get(lc_client_t *c, const char *topic, const char *key)
{
    const char *line, *at;
    char k[64];

    if (topic)
        pt_client_send(c, "STATS %s", topic);
    else
        pt_client_send(c, "STATS");
    line = pt_client_line(c, PT_IO_MS);
    ck_assert_msg(line && strncmp(line, "+OK ", 4) == 0, "STATS: got '%s'",
                  line ? line : "(nothing)");
    snprintf(k, sizeof k, " %s=", key);
    at = strstr(line, k);
    ck_assert_msg(at != NULL, "STATS has no %s: '%s'", key, line);
    return strtol(at + strlen(k), NULL, 10);
}

/* Poll STATS until @a key is @a want (the daemon sees a close
 * asynchronously); fails after @a ms. */
static void stat_wait(lc_client_t *c, const char *key, long want, long ms)
{
    long deadline = lc_now_ms() + ms, v;

    while ((v = stat_get(c, NULL, key)) != want) {
        ck_assert_msg(lc_now_ms() < deadline, "STATS %s stayed %ld, expected %ld", key, v,
                      want);
        lc_sleep_ms(2);
    }
}

/* ======================================================================== */
/* Every subscriber on every worker, in each publisher's order               */

#define MAXC 16

/* Open @a n clients in order (client k on worker k mod N). */
static void open_clients(lc_client_t **c, int n, const char *greeting)
{
    int k;

    for (k = 0; k < n; k++)
        c[k] = cl_open(greeting);
}

/* Each subscriber reads @a npub * @a m MSG lines on "news", "MSG news pK-I":
 * exactly once each, and I in order for each K. */
static void read_all(lc_client_t *sub, int npub, int m)
{
    long next[MAXC] = { 0 };
    int got = 0, k, i;
    const char *line;

    while (got < npub * m) {
        line = pt_client_line(sub, PT_IO_MS);
        ck_assert_msg(line != NULL, "subscriber: %d of %d messages, then nothing", got,
                      npub * m);
        ck_assert_msg(sscanf(line, "MSG news p%d-%d", &k, &i) == 2, "got '%s'", line);
        ck_assert_msg(k >= 0 && k < npub, "got '%s'", line);
        ck_assert_msg(i == next[k], "publisher %d: message %d arrived when %ld was due"
                      " (order broken)", k, i, next[k]);
        next[k]++;
        got++;
    }
}

static void fan_out(int nworkers)
{
    lc_client_t *sub[MAXC], *pub[MAXC];
    int nsub = 2 * nworkers, npub = nworkers, m = 100, k, i;
    char settings[128], cmd[64], want[64];

    snprintf(settings, sizeof settings, "Workers %d\n", nworkers);
    daemon_start(settings);
    /* subscribers first: two on each worker; then one publisher on each */
    open_clients(sub, nsub, "pubsubd ready");
    open_clients(pub, npub, "pubsubd ready");
    for (k = 0; k < nsub; k++)
        PT_ASK(sub[k], "SUB news", "+OK subscribed to news");
    /* the spread: each connection's worker holds two of the subscribers */
    for (k = 0; k < nsub; k++)
        ck_assert_int_eq(stat_get(sub[k], "news", "subscribers"), 2);
    for (k = 0; k < npub; k++)
        ck_assert_int_eq(stat_get(pub[k], "news", "subscribers"), 2);
    /* the publishers take turns; delivered= counts the publisher's own
     * worker's subscribers (doc/pubsubd.md) */
    for (i = 0; i < m; i++)
        for (k = 0; k < npub; k++) {
            snprintf(cmd, sizeof cmd, "PUB news p%d-%d", k, i);
            snprintf(want, sizeof want, "+OK delivered=2");
            PT_ASK(pub[k], cmd, want);
        }
    for (k = 0; k < nsub; k++)
        read_all(sub[k], npub, m);
    /* nothing more: no subscriber got a message twice */
    for (k = 0; k < nsub; k++)
        PT_ASK(sub[k], "PING", "+PONG");
    /* STATS sums every worker, asked on any of them */
    for (k = 0; k < npub; k++) {
        ck_assert_int_eq(stat_get(pub[k], NULL, "messages"), npub * m);
        ck_assert_int_eq(stat_get(pub[k], NULL, "deliveries"), (long) nsub * npub * m);
        ck_assert_int_eq(stat_get(pub[k], NULL, "connections"), nsub + npub);
        ck_assert_int_eq(stat_get(pub[k], NULL, "accepted"), nsub + npub);
        ck_assert_int_eq(stat_get(pub[k], NULL, "subscriptions"), nsub);
    }
    /* a subscriber that goes is counted out on its own worker */
    lc_close(sub[0], 0);
    stat_wait(pub[1], "subscriptions", nsub - 1, PT_IO_MS);
    stat_wait(pub[1], "connections", nsub + npub - 1, PT_IO_MS);
    for (k = 1; k < nsub; k++)
        lc_close(sub[k], 0);
    for (k = 0; k < npub; k++)
        lc_close(pub[k], 0);
    daemon_stop();
}

START_TEST(every_subscriber_every_worker_in_order_2)
{
    fan_out(2);
}
END_TEST

START_TEST(every_subscriber_every_worker_in_order_4)
{
    fan_out(4);
}
END_TEST

/* ======================================================================== */
/* SlowPolicy per connection                                                 */

#define SLOW_MSG 1000

/* Worker 1 holds a fast and a slow subscriber, worker 0 the publisher: the
 * slow one (it never reads) loses messages (drop) or its connection
 * (disconnect); the fast one, on the same worker, gets every message. */
static void slow_policy(const char *policy)
{
    lc_client_t *pub, *slow, *other, *fast;
    char settings[256], msg[SLOW_MSG + 1], cmd[SLOW_MSG + 64];
    const char *line;
    int n = 6000, window = 16, sent = 0, got = 0;
    long dropped, disconnected, deliveries;

    snprintf(settings, sizeof settings, "Workers 2\nOutputLimit 16k\nSlowPolicy %s\n",
             policy);
    daemon_start(settings);
    pub = cl_open("pubsubd ready");                     /* worker 0 */
    slow = pt_client(D.port, 4096);                     /* worker 1 */
    PT_EXPECT(slow, "+OK pubsubd ready");
    other = cl_open("pubsubd ready");                   /* worker 0 */
    fast = cl_open("pubsubd ready");                    /* worker 1 */
    PT_ASK(slow, "SUB flood", "+OK subscribed to flood");
    PT_ASK(fast, "SUB flood", "+OK subscribed to flood");
    ck_assert_int_eq(stat_get(fast, "flood", "subscribers"), 2);
    ck_assert_int_eq(stat_get(pub, "flood", "subscribers"), 0);
    (void) other;
    memset(msg, 'x', SLOW_MSG);
    msg[SLOW_MSG] = '\0';
    snprintf(cmd, sizeof cmd, "PUB flood %s", msg);
    /* the publisher never gets more than a window ahead of the fast reader */
    while (got < n) {
        while (sent < n && sent - got < window) {
            pt_client_send(pub, "%s", cmd);
            PT_EXPECT(pub, "+OK delivered=0");         /* none on worker 0 */
            sent++;
        }
        line = pt_client_line(fast, PT_IO_MS);
        ck_assert_msg(line != NULL, "fast subscriber: %d of %d, then nothing", got, n);
        if (strncmp(line, "MSG flood ", 10) == 0)
            got++;
        else
            ck_abort_msg("fast subscriber got '%s'", line);
    }
    ck_assert_int_eq(got, n);
    stat_wait(pub, "messages", n, PT_IO_MS);
    dropped = stat_get(pub, NULL, "dropped");
    disconnected = stat_get(pub, NULL, "disconnected");
    deliveries = stat_get(pub, NULL, "deliveries");
    if (strcmp(policy, "drop") == 0) {
        ck_assert_msg(dropped > 0, "the slow subscriber lost nothing (%ld deliveries)",
                      deliveries);
        ck_assert_int_eq(disconnected, 0);
        ck_assert_int_eq(deliveries + dropped, 2L * n);
        ck_assert_int_eq(stat_get(pub, NULL, "connections"), 4);
    } else {
        ck_assert_int_eq(disconnected, 1);
        ck_assert_int_eq(dropped, 0);
        stat_wait(pub, "connections", 3, PT_IO_MS);
        ck_assert_int_eq(stat_get(fast, "flood", "subscribers"), 1);
    }
    lc_close(slow, 0);
    lc_close(other, 0);
    lc_close(fast, 0);
    lc_close(pub, 0);
    daemon_stop();
}

START_TEST(slow_subscriber_drop_per_connection)
{
    slow_policy("drop");
}
END_TEST

START_TEST(slow_subscriber_disconnect_per_connection)
{
    slow_policy("disconnect");
}
END_TEST

/* ======================================================================== */
/* Reload and stop with clients on every worker                              */

START_TEST(reload_and_sigterm_with_clients_on_every_worker)
{
    lc_client_t *old[4], *nw[4];
    const char *line;
    int k, j;

    daemon_start("Workers 4\nGreeting first\n");
    open_clients(old, 4, "first");
    for (k = 0; k < 4; k++)
        PT_ASK(old[k], "SUB news", "+OK subscribed to news");
    daemon_reload("Workers 4\nGreeting second\n");
    free(log_wait("generation 2 ready", START_MS));
    /* the new generation on every worker: new clients get its greeting,
     * connections are counted across the reload */
    open_clients(nw, 4, "second");
    for (k = 0; k < 4; k++) {
        ck_assert_int_eq(stat_get(nw[k], NULL, "generation"), 2);
        ck_assert_int_eq(stat_get(nw[k], NULL, "conn_generation"), 2);
        ck_assert_int_eq(stat_get(old[k], NULL, "conn_generation"), 1);
        ck_assert_int_eq(stat_get(nw[k], "news", "subscribers"), 1);
    }
    /* old and new publishers on every worker reach every old subscriber */
    for (k = 0; k < 4; k++) {
        pt_client_send(nw[k], "PUB news new%d", k);
        PT_EXPECT(nw[k], "+OK delivered=1");
    }
    for (k = 0; k < 4; k++)
        for (j = 0; j < 4; j++) {
            char want[32];

            snprintf(want, sizeof want, "MSG news new%d", j);
            PT_EXPECT(old[k], want);
        }
    ck_assert_int_eq(stat_get(nw[0], NULL, "connections"), 8);
    ck_assert_int_eq(stat_get(nw[0], NULL, "deliveries"), 16);
    /* Workers cannot change on a reload: refused, generation 2 stays */
    daemon_reload("Workers 2\nGreeting third\n");
    free(log_wait("Workers cannot change on a reload", START_MS));
    ck_assert_int_eq(stat_get(nw[1], NULL, "generation"), 2);
    /* SIGTERM: every client on every worker hears it, exit status 0 */
    ck_assert_int_eq(kill(D.pid, SIGTERM), 0);
    for (k = 0; k < 4; k++) {
        line = pt_client_line(old[k], PT_IO_MS);
        ck_assert_msg(line && strcmp(line, "BYE server shutting down") == 0, "old %d: '%s'",
                      k, line ? line : "(nothing)");
        line = pt_client_line(nw[k], PT_IO_MS);
        ck_assert_msg(line && strcmp(line, "BYE server shutting down") == 0, "new %d: '%s'",
                      k, line ? line : "(nothing)");
    }
    {
        int status;

        ck_assert_msg(wait_exit(D.pid, START_MS, &status), "pubsubd did not stop");
        D.pid = 0;
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    }
    for (k = 0; k < 4; k++) {
        lc_close(old[k], 0);
        lc_close(nw[k], 0);
    }
}
END_TEST

/* ======================================================================== */
/* The periodic report                                                       */

/* StatsInterval under Workers 2: one report per interval (worker 0's
 * timer), with the counters of both workers. */
START_TEST(stats_report_sums_every_worker)
{
    lc_client_t *c[4];
    char *text;
    int k, reports;

    daemon_start("Workers 2\nStatsInterval 100ms\n");
    open_clients(c, 4, "pubsubd ready");
    PT_ASK(c[0], "SUB news", "+OK subscribed to news");     /* worker 0 */
    PT_ASK(c[1], "SUB news", "+OK subscribed to news");     /* worker 1 */
    PT_ASK(c[2], "PUB news a", "+OK delivered=1");          /* worker 0 */
    PT_ASK(c[3], "PUB news b", "+OK delivered=1");          /* worker 1 */
    PT_EXPECT(c[0], "MSG news a");
    PT_EXPECT(c[0], "MSG news b");
    PT_EXPECT(c[1], "MSG news a");
    PT_EXPECT(c[1], "MSG news b");
    free(log_wait("stats: 4 connections (4 accepted), 2 messages, 4 deliveries, 0 dropped,"
                  " 0 slow subscribers disconnected", START_MS));
    /* one report per interval, not one per worker: in one second some
     * ten (two reporters would give some twenty) */
    text = pt_slurp(D.log);
    reports = pt_count(text, "stats: ");
    free(text);
    lc_sleep_ms(1000);
    text = pt_slurp(D.log);
    reports = pt_count(text, "stats: ") - reports;
    free(text);
    ck_assert_msg(reports >= 3 && reports <= 14, "%d reports in 1 s (StatsInterval 100ms)",
                  reports);
    for (k = 0; k < 4; k++)
        lc_close(c[k], 0);
    daemon_stop();
}
END_TEST

static Suite *pubsubd_workers_suite(void)
{
    Suite *s = suite_create("pubsubd_workers");
    TCase *tc = tcase_create("workers");

    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_subscriber_every_worker_in_order_2);
    tcase_add_test(tc, every_subscriber_every_worker_in_order_4);
    tcase_add_test(tc, slow_subscriber_drop_per_connection);
    tcase_add_test(tc, slow_subscriber_disconnect_per_connection);
    tcase_add_test(tc, reload_and_sigterm_with_clients_on_every_worker);
    tcase_add_test(tc, stats_report_sums_every_worker);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, pubsubd_workers_suite, NULL);
}
