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
 * The helpers to run the daemon are those of t/pubsubd_fixture.h.
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
#include "pubsubd_fixture.h"

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

/* ======================================================================== */
/* WorkerQueueLimit: copies refused by a full worker are counted             */

#define XQ_BURST 500
#define XQ_ROUNDS 20

/*
 * WorkerQueueLimit 1 under Workers 2: worker 0's publisher sends bursts of
 * PUBs in one write, each copied to worker 1, whose queue holds one event:
 * a copy sent before worker 1 ran the previous one is refused. Until a
 * burst loses copies (bounded rounds): every PUB's reply is unchanged
 * (+OK delivered=1: the subscriber on the publisher's worker), that
 * subscriber gets every message in order, the one on worker 1 gets in
 * order exactly those not counted in xdropped= and nothing else, and the
 * daemon runs on and stops cleanly.
 */
START_TEST(worker_queue_limit_counts_lost_copies)
{
    lc_client_t *pub, *far, *near;
    static char burst[XQ_BURST * 32];
    long xdropped = 0, sent = 0, far_got = 0, last_far = -1;
    int round, i;

    daemon_start("Workers 2\nWorkerQueueLimit 1\n");
    pub = cl_open("pubsubd ready");                     /* worker 0 */
    far = cl_open("pubsubd ready");                     /* worker 1 */
    near = cl_open("pubsubd ready");                    /* worker 0 */
    PT_ASK(far, "SUB news", "+OK subscribed to news");
    PT_ASK(near, "SUB news", "+OK subscribed to news");
    ck_assert_int_eq(stat_get(far, "news", "subscribers"), 1);
    ck_assert_int_eq(stat_get(pub, "news", "subscribers"), 1);
    ck_assert_int_eq(stat_get(pub, NULL, "xdropped"), 0);
    for (round = 0; round < XQ_ROUNDS && xdropped == 0; round++) {
        size_t len = 0;
        long want;

        for (i = 0; i < XQ_BURST; i++)
            len += (size_t) snprintf(burst + len, sizeof burst - len, "PUB news m%ld\r\n",
                                     sent + i);
        pt_client_write(pub, burst, len);
        for (i = 0; i < XQ_BURST; i++)
            PT_EXPECT(pub, "+OK delivered=1");          /* the reply: unchanged */
        for (i = 0; i < XQ_BURST; i++) {
            char want_line[32];

            snprintf(want_line, sizeof want_line, "MSG news m%ld", sent + i);
            PT_EXPECT(near, want_line);
        }
        sent += XQ_BURST;
        /* every PUB replied: each copy was taken or refused (counted) */
        xdropped = stat_get(pub, NULL, "xdropped");
        ck_assert_int_le(xdropped, sent);
        want = sent - xdropped;
        while (far_got < want) {
            const char *line = pt_client_line(far, PT_IO_MS);
            long k;

            ck_assert_msg(line != NULL, "worker 1's subscriber: %ld of %ld, then nothing",
                          far_got, want);
            ck_assert_msg(sscanf(line, "MSG news m%ld", &k) == 1, "got '%s'", line);
            ck_assert_msg(k > last_far && k < sent, "m%ld after m%ld (order)", k, last_far);
            last_far = k;
            far_got++;
        }
        PT_ASK(far, "PING", "+PONG");                   /* and nothing more */
    }
    printf("WorkerQueueLimit 1: %ld PUBs in %d bursts, %ld copies refused\n", sent, round,
           xdropped);
    ck_assert_msg(xdropped > 0, "%ld PUBs, no copy refused under WorkerQueueLimit 1", sent);
    ck_assert_int_eq(stat_get(pub, NULL, "messages"), sent);
    ck_assert_int_eq(stat_get(pub, NULL, "deliveries"), sent + far_got);
    ck_assert_int_eq(stat_get(far, NULL, "dropped"), 0);    /* no slow subscriber */
    ck_assert_int_eq(stat_get(far, NULL, "xdropped"), xdropped);
    /* a PUB after the bursts reaches both */
    PT_ASK(pub, "PUB news after", "+OK delivered=1");
    PT_EXPECT(near, "MSG news after");
    PT_EXPECT(far, "MSG news after");
    /* the directive: checked, and it changes on a reload */
    daemon_reload("Workers 2\nWorkerQueueLimit many\n");
    free(log_wait("reload failed, keeping generation 1", START_MS));
    log_expect("WorkerQueueLimit");
    daemon_reload("Workers 2\nWorkerQueueLimit 100000\n");
    free(log_wait("generation 2 ready", START_MS));
    lc_close(pub, 0);
    lc_close(far, 0);
    lc_close(near, 0);
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
    tcase_add_test(tc, worker_queue_limit_counts_lost_copies);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    pubsubd_conf_title = "check_pubsubd_workers";
    return pt_main(argc, argv, pubsubd_workers_suite, NULL);
}
