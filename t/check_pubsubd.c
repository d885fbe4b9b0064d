/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_pubsubd.c - the example daemon (examples/pubsubd.c, doc/pubsubd.md)
 * end to end: a real pubsubd process, real TCP clients over loopback.
 *
 * Each test writes a configuration with "Listen 127.0.0.1:0", starts
 * pubsubd with its log going to a file, learns the port from the log line
 * "generation 1 ready: listening on port N", talks to it, and stops it with
 * SIGTERM, expecting exit status 0. Every wait has a deadline: a daemon that
 * misbehaves fails the test, never hangs it (also under CK_FORK=no, where
 * check has no timeout). Where the daemon works asynchronously (a client
 * went away), the test polls STATS until the count it expects shows up.
 *
 * The binary is PUBSUBD_PATH (the build's examples/pubsubd), or the
 * POOLEV_PUBSUBD environment variable. The helpers that run the daemon and
 * talk to it are those of t/pubsubd_fixture.h.
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
#include "harness_tls.h"
#include "pubsubd_fixture.h"
#include "tlsclient.h"

#ifndef PUBSUBD_EXAMPLE_CONF
#define PUBSUBD_EXAMPLE_CONF "../examples/pubsubd.conf"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* ======================================================================== */
/* The daemon process (pubsubd_fixture.h)                                    */

/* Open descriptors of the daemon. */
static int daemon_fds(void)
{
    char path[64];
    DIR *dir;
    struct dirent *e;
    int n = 0;

    snprintf(path, sizeof path, "/proc/%ld/fd", (long) D.pid);
    dir = opendir(path);
    ck_assert_ptr_nonnull(dir);
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

/* Resident memory of the daemon, in KiB. */
static long daemon_rss_kb(void)
{
    char path[64], line[256];
    FILE *f;
    long kb = -1;

    snprintf(path, sizeof path, "/proc/%ld/status", (long) D.pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    ck_assert_int_gt(kb, 0);
    return kb;
}

/* ======================================================================== */
/* Protocol                                                                  */

START_TEST(protocol_commands_and_replies)
{
    lc_client_t *a, *b;
    char topic[80], cmd[128], want[128];

    daemon_start("Greeting \"hello from the test\"\nMaxTopic 8\nMaxSubscriptions 3\n");
    a = cl_open("hello from the test");
    b = cl_open("hello from the test");

    PT_ASK(a, "PING", "+PONG");
    PT_ASK(a, "ping some text", "+PONG some text");
    pt_client_send(a, "%s", "");                           /* an empty line is no command */
    PT_ASK(a, "PiNg", "+PONG");

    PT_ASK(a, "SUB news", "+OK subscribed to news");
    PT_ASK(a, "sub news", "-ERR already subscribed to news");
    PT_ASK(b, "PUB news hello world", "+OK delivered=1");
    PT_EXPECT(a, "MSG news hello world");
    PT_ASK(b, "PUB news   spaced  out ", "+OK delivered=1");
    PT_EXPECT(a, "MSG news   spaced  out ");          /* the message is the rest */
    PT_ASK(b, "PUB news ", "+OK delivered=1");         /* an empty message */
    PT_EXPECT(a, "MSG news ");
    PT_ASK(b, "PUB nobody hello", "+OK delivered=0");

    /* a publisher subscribed to its topic gets its message first */
    PT_ASK(b, "SUB news", "+OK subscribed to news");
    pt_client_send(b, "PUB news both");
    PT_EXPECT(b, "MSG news both");
    PT_EXPECT(b, "+OK delivered=2");
    PT_EXPECT(a, "MSG news both");

    PT_ASK(a, "UNSUB news", "+OK unsubscribed from news");
    PT_ASK(a, "UNSUB news", "-ERR not subscribed to news");
    pt_client_send(b, "PUB news only-b");
    PT_EXPECT(b, "MSG news only-b");
    PT_EXPECT(b, "+OK delivered=1");

    /* missing and extra arguments */
    PT_ASK(a, "SUB", "-ERR usage: SUB topic");
    PT_ASK(a, "SUB a b", "-ERR usage: SUB topic");
    PT_ASK(a, "UNSUB", "-ERR usage: UNSUB topic");
    PT_ASK(a, "PUB", "-ERR usage: PUB topic message");
    PT_ASK(a, "PUB news", "-ERR usage: PUB topic message");
    PT_ASK(a, "STATS a b", "-ERR usage: STATS [topic]");
    PT_ASK(a, "QUIT now", "-ERR usage: QUIT");

    /* unknown commands, named printably */
#define CMDS " (SUB, UNSUB, PUB, PING, STATS, STARTTLS, QUIT)"
    PT_ASK(a, "FROB x", "-ERR unknown command 'FROB'" CMDS);
    PT_ASK(a, "SUBSCRIBE x", "-ERR unknown command 'SUBSCRIBE'" CMDS);
    PT_ASK(a, "\x01\x7f'", "-ERR unknown command '?\?\?'" CMDS);
#undef CMDS

    /* topics: MaxTopic 8, visible ASCII */
    PT_ASK(a, "SUB 12345678", "+OK subscribed to 12345678");
    PT_ASK(a, "SUB 123456789", "-ERR topic too long (max 8 bytes)");
    PT_ASK(a, "PUB 123456789 x", "-ERR topic too long (max 8 bytes)");
    PT_ASK(a, "SUB t\x01", "-ERR invalid topic (visible ASCII characters only)");
    PT_ASK(a, "SUB \xc3\xa9t\xc3\xa9", "-ERR invalid topic (visible ASCII characters only)");

    /* MaxSubscriptions 3 */
    PT_ASK(a, "SUB s2", "+OK subscribed to s2");
    PT_ASK(a, "SUB s3", "+OK subscribed to s3");
    PT_ASK(a, "SUB s4", "-ERR too many subscriptions (max 3)");
    PT_ASK(a, "SUB s3", "-ERR already subscribed to s3");
    PT_ASK(a, "UNSUB s2", "+OK unsubscribed from s2");
    PT_ASK(a, "SUB s4", "+OK subscribed to s4");
    /* recycled subscription records keep working */
    for (int i = 0; i < 50; i++) {
        snprintf(topic, sizeof topic, "r%d", i);
        snprintf(cmd, sizeof cmd, "SUB %s", topic);
        snprintf(want, sizeof want, "+OK subscribed to %s", topic);
        PT_ASK(a, "UNSUB s4", "+OK unsubscribed from s4");
        PT_ASK(a, cmd, want);
        snprintf(cmd, sizeof cmd, "UNSUB %s", topic);
        snprintf(want, sizeof want, "+OK unsubscribed from %s", topic);
        PT_ASK(a, cmd, want);
        PT_ASK(a, "SUB s4", "+OK subscribed to s4");
    }

    /* STATS */
    ck_assert_int_eq(stat_get(b, NULL, "subscriptions"), 4);   /* a: 3, b: 1 */
    ck_assert_int_eq(stat_get(b, NULL, "connections"), 2);
    ck_assert_int_eq(stat_get(b, "s4", "subscribers"), 1);
    ck_assert_int_eq(stat_get(b, "nothing", "subscribers"), 0);
    ck_assert_int_eq(stat_get(b, NULL, "messages"), 6);
    ck_assert_int_eq(stat_get(b, NULL, "generation"), 1);

    /* pipelined commands are answered in order */
    pt_client_write(a, "PING 1\r\nPING 2\r\nSUB s9\r\nPING 3\r\n", 32);
    PT_EXPECT(a, "+PONG 1");
    PT_EXPECT(a, "+PONG 2");
    PT_EXPECT(a, "-ERR too many subscriptions (max 3)");
    PT_EXPECT(a, "+PONG 3");

    /* LF alone ends a line too */
    pt_client_write(a, "PING lf\n", 8);
    PT_EXPECT(a, "+PONG lf");

    PT_ASK(a, "QUIT", "+OK bye");
    ck_assert(lc_wait_eof(a, PT_IO_MS));
    stat_wait(b, "connections", 1, PT_IO_MS);
    daemon_stop();
}
END_TEST

/* An overlong line gets an answer, then the connection closes: a complete
 * one, and one that never ends (more than MaxLine bytes without LF). */
START_TEST(overlong_line_answered_then_closed)
{
    lc_client_t *a, *b, *c;
    char line[400];

    daemon_start("MaxLine 100\n");
    a = cl_open("pubsubd ready");
    b = cl_open("pubsubd ready");
    c = cl_open("pubsubd ready");

    /* exactly MaxLine is fine */
    memset(line, 'x', sizeof line);
    memcpy(line, "PING ", 5);
    pt_client_write(a, line, 100);
    pt_client_write(a, "\r\n", 2);
    PT_EXPECT_PREFIX(a, "+PONG xxxx");
    /* one more is not */
    pt_client_write(a, line, 101);
    pt_client_write(a, "\r\n", 2);
    PT_EXPECT(a, "-ERR line too long (max 100 bytes)");
    ck_assert(lc_wait_eof(a, PT_IO_MS));

    /* no end in sight: answered as soon as MaxLine bytes are pending */
    pt_client_write(b, line, 300);
    PT_EXPECT(b, "-ERR line too long (max 100 bytes)");
    ck_assert(lc_wait_eof(b, PT_IO_MS));

    /* the others are not affected */
    PT_ASK(c, "PING", "+PONG");
    stat_wait(c, "connections", 1, PT_IO_MS);
    daemon_stop();
}
END_TEST

/* ======================================================================== */
/* Subscriptions end with their connection                                   */

START_TEST(subscriptions_dropped_on_disconnect)
{
    lc_client_t *admin, *x, *y, *z;

    daemon_start("");
    admin = cl_open("pubsubd ready");
    x = cl_open("pubsubd ready");
    y = cl_open("pubsubd ready");
    z = cl_open("pubsubd ready");
    PT_ASK(x, "SUB a", "+OK subscribed to a");
    PT_ASK(x, "SUB b", "+OK subscribed to b");
    PT_ASK(y, "SUB a", "+OK subscribed to a");
    PT_ASK(z, "SUB a", "+OK subscribed to a");
    PT_ASK(z, "SUB c", "+OK subscribed to c");
    ck_assert_int_eq(stat_get(admin, NULL, "subscriptions"), 5);
    ck_assert_int_eq(stat_get(admin, "a", "subscribers"), 3);

    /* x disconnects (FIN): its two subscriptions go with its pool */
    lc_close(x, 0);
    stat_wait(admin, "subscriptions", 3, PT_IO_MS);
    ck_assert_int_eq(stat_get(admin, "a", "subscribers"), 2);
    ck_assert_int_eq(stat_get(admin, "b", "subscribers"), 0);
    PT_ASK(admin, "PUB a after-x", "+OK delivered=2");
    PT_EXPECT(y, "MSG a after-x");
    PT_EXPECT(z, "MSG a after-x");

    /* z is killed (the kernel resets the connection) */
    lc_close(z, 1);
    stat_wait(admin, "subscriptions", 1, PT_IO_MS);
    PT_ASK(admin, "PUB a after-z", "+OK delivered=1");
    PT_EXPECT(y, "MSG a after-z");

    /* y half-closes after its last command: the reply still comes */
    pt_client_send(y, "PING last");
    ck_assert_int_eq(shutdown(y->fd, SHUT_WR), 0);
    PT_EXPECT(y, "+PONG last");
    ck_assert(lc_wait_eof(y, PT_IO_MS));
    stat_wait(admin, "subscriptions", 0, PT_IO_MS);
    stat_wait(admin, "connections", 1, PT_IO_MS);
    daemon_stop();
}
END_TEST

/* ======================================================================== */
/* Idle timeout and keepalive: wait events                                   */

START_TEST(idle_timeout_closes_and_unsubscribes)
{
    lc_client_t *x, *y, *w;
    const char *l;
    long t0, elapsed;

    daemon_start("IdleTimeout 600ms\n");
    t0 = lc_now_ms();
    x = cl_open("pubsubd ready");       /* subscribes, then says nothing */
    y = cl_open("pubsubd ready");       /* keeps talking */
    w = cl_open("pubsubd ready");       /* talks for a while, then stops */
    PT_ASK(x, "SUB news", "+OK subscribed to news");
    ck_assert_int_eq(stat_get(y, "news", "subscribers"), 1);

    /* x is told, then closed, not before its timeout; every command moves
     * the idle mark of the others */
    while ((l = pt_client_line(x, 0)) == NULL && !x->eof) {
        ck_assert_msg(lc_now_ms() - t0 < 5000, "no idle timeout after 5 s");
        PT_ASK(w, "PING", "+PONG");
        PT_ASK(y, "PING", "+PONG");
        lc_sleep_ms(50);
    }
    elapsed = lc_now_ms() - t0;
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(l, "BYE idle timeout");
    ck_assert(lc_wait_eof(x, PT_IO_MS));
    ck_assert_msg(elapsed >= 550, "closed after %ld ms, IdleTimeout is 600ms", elapsed);
    /* its subscription went with its pool */
    ck_assert_int_eq(stat_get(y, "news", "subscribers"), 0);

    /* w stays as long as it talks: twice the timeout */
    while (lc_now_ms() - t0 < 1300) {
        PT_ASK(w, "PING", "+PONG");
        PT_ASK(y, "PING", "+PONG");
        lc_sleep_ms(50);
    }
    ck_assert_ptr_null(pt_client_line(w, 0));
    ck_assert_int_eq(w->eof, 0);

    /* now w stops talking, y goes on */
    t0 = lc_now_ms();
    while ((l = pt_client_line(w, 50)) == NULL && !w->eof) {
        ck_assert_msg(lc_now_ms() - t0 < 5000, "no idle timeout after 5 s");
        PT_ASK(y, "PING", "+PONG");
    }
    elapsed = lc_now_ms() - t0;
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(l, "BYE idle timeout");
    ck_assert(lc_wait_eof(w, PT_IO_MS));
    ck_assert_msg(elapsed >= 500, "closed %ld ms after its last command", elapsed);
    ck_assert_int_eq(stat_get(y, NULL, "connections"), 1);
    daemon_stop();
}
END_TEST

START_TEST(keepalive_lines_between_replies)
{
    lc_client_t *a;
    const char *l;
    int keepalives = 0, pongs = 0;
    long t0 = lc_now_ms();

    daemon_start("IdleTimeout off\nKeepalive 100ms\n");
    a = cl_open("pubsubd ready");
    while (keepalives < 3) {
        ck_assert_msg(lc_now_ms() - t0 < 5000, "%d keepalives in 5 s", keepalives);
        pt_client_send(a, "PING");
        /* KEEPALIVE may come before the reply; the reply still comes */
        while ((l = pt_client_line(a, PT_IO_MS)) != NULL && strcmp(l, "KEEPALIVE") == 0)
            keepalives++;
        ck_assert_ptr_nonnull(l);
        ck_assert_str_eq(l, "+PONG");
        pongs++;
        if ((l = pt_client_line(a, 60)) != NULL) {
            ck_assert_str_eq(l, "KEEPALIVE");
            keepalives++;
        }
    }
    ck_assert_int_gt(pongs, 0);
    daemon_stop();
}
END_TEST

/* ======================================================================== */
/* Reload with clients connected                                             */

START_TEST(reload_keeps_clients_and_subscriptions)
{
    lc_client_t *old_sub, *old_pub, *new_pub, *third;
    char *rest;
    unsigned port = 0;

    daemon_start("Greeting first generation\nMaxTopic 16\n");
    port = D.port;
    old_sub = cl_open("first generation");
    old_pub = cl_open("first generation");
    PT_ASK(old_sub, "SUB news", "+OK subscribed to news");

    /* a new greeting and a smaller MaxTopic, clients connected */
    daemon_reload("Greeting second generation\nMaxTopic 4\n");
    free(log_wait("generation 2 ready: listening on port ", START_MS));
    ck_assert_int_eq(D.port, port);

    new_pub = cl_open("second generation");         /* new setting */
    PT_ASK(new_pub, "PUB news from-new", "+OK delivered=1");
    PT_EXPECT(old_sub, "MSG news from-new");           /* old subscription */
    PT_ASK(old_pub, "PUB news from-old", "+OK delivered=1");
    PT_EXPECT(old_sub, "MSG news from-old");

    /* each connection keeps the settings it was accepted under */
    PT_ASK(old_sub, "SUB seventeen-chars-x", "-ERR topic too long (max 16 bytes)");
    PT_ASK(old_sub, "SUB sixteen-chars-xx", "+OK subscribed to sixteen-chars-xx");
    PT_ASK(new_pub, "SUB abcde", "-ERR topic too long (max 4 bytes)");
    ck_assert_int_eq(stat_get(old_sub, NULL, "generation"), 2);
    ck_assert_int_eq(stat_get(old_sub, NULL, "conn_generation"), 1);
    ck_assert_int_eq(stat_get(new_pub, NULL, "conn_generation"), 2);
    /* the counters outlive the generation */
    ck_assert_int_eq(stat_get(new_pub, NULL, "messages"), 2);
    ck_assert_int_eq(stat_get(new_pub, NULL, "connections"), 3);

    /* a broken configuration: the running generation stays */
    daemon_reload("Greeting third generation\nNoSuchDirective 1\n");
    rest = log_wait("reload failed, keeping generation 2", START_MS);
    free(rest);
    third = cl_open("second generation");
    PT_ASK(third, "PUB news still", "+OK delivered=1");
    PT_EXPECT(old_sub, "MSG news still");
    ck_assert_int_eq(stat_get(third, NULL, "generation"), 2);

    /* and a third good one */
    daemon_reload("Greeting third generation\n");
    free(log_wait("generation 3 ready", START_MS));
    lc_close(third, 0);
    third = cl_open("third generation");
    PT_ASK(third, "PUB news third", "+OK delivered=1");
    PT_EXPECT(old_sub, "MSG news third");
    ck_assert_int_eq(stat_get(old_sub, NULL, "conn_generation"), 1);
    daemon_stop();
}
END_TEST

/* ======================================================================== */
/* Slow subscribers                                                          */

#define FLOOD_MSG 1000          /* bytes of message per PUB */
#define FLOOD_WINDOW 24         /* messages ahead of the fast subscriber:
                                 * 24 KiB, below every OutputLimit used */

typedef struct flood {
    long n;                     /* messages to publish */
    long sent, acked, got;      /* PUBs sent, +OK read, MSGs at the fast reader */
    long rss_base, rss_max;
} flood_t;

/* Publish f->n messages on "flood" from @a pub while @a fast reads them:
 * pub never has more than a window of messages ahead of fast, so fast keeps
 * up; whoever else subscribed does what it does. */
static void flood_run(flood_t *f, lc_client_t *pub, lc_client_t *fast)
{
    static char msg[FLOOD_MSG + 64];
    char *out = NULL;
    size_t out_len = 0, out_off = 0;
    long deadline = lc_now_ms() + pt_env_long("POOLEV_FLOOD_SECONDS", 60) * 1000;
    const char *l;
    long sampled;

    memset(msg, 'm', sizeof msg);
    out = malloc(FLOOD_WINDOW * (FLOOD_MSG + 64));
    ck_assert_ptr_nonnull(out);
    f->rss_max = f->rss_base;
    sampled = -1;
    while (f->acked < f->n || f->got < f->n) {
        struct pollfd p[2] = { { pub->fd, POLLIN, 0 }, { fast->fd, POLLIN, 0 } };

        ck_assert_msg(lc_now_ms() < deadline,
                      "flood stuck: %ld sent, %ld acknowledged, %ld received", f->sent,
                      f->acked, f->got);
        /* refill: PUBs while the fast reader is less than FLOOD_WINDOW
         * behind, so that what waits for it, wherever it waits, always
         * fits in its output limit */
        if (out_off == out_len) {
            out_len = out_off = 0;
            while (f->sent < f->n && f->sent - f->got < FLOOD_WINDOW) {
                int h = sprintf(out + out_len, "PUB flood %08ld ", f->sent);

                memcpy(out + out_len + h, msg, FLOOD_MSG);
                memcpy(out + out_len + h + FLOOD_MSG, "\r\n", 2);
                out_len += (size_t) h + FLOOD_MSG + 2;
                f->sent++;
            }
        }
        if (out_off < out_len)
            p[0].events |= POLLOUT;
        ck_assert_int_ge(poll(p, 2, 100), 0);
        if (p[0].revents & POLLOUT) {
            ssize_t n = send(pub->fd, out + out_off, out_len - out_off, MSG_NOSIGNAL);

            if (n > 0)
                out_off += (size_t) n;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            pt_client_fill(pub, 0);
            while ((l = pt_client_line(pub, 0)) != NULL) {
                ck_assert_msg(strncmp(l, "+OK delivered=", 14) == 0, "PUB: '%s'", l);
                f->acked++;
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            pt_client_fill(fast, 0);
            while ((l = pt_client_line(fast, 0)) != NULL) {
                char want[32];

                snprintf(want, sizeof want, "MSG flood %08ld ", f->got);
                ck_assert_msg(strncmp(l, want, strlen(want)) == 0
                              && strlen(l) == strlen(want) + FLOOD_MSG,
                              "fast subscriber: expected %s..., got '%.40s'", want, l);
                f->got++;
            }
        }
        ck_assert_msg(!pub->eof && !fast->eof, "a fast client was disconnected");
        if (f->sent / 256 != sampled) {
            long rss = daemon_rss_kb();

            sampled = f->sent / 256;
            if (rss > f->rss_max)
                f->rss_max = rss;
        }
    }
    free(out);
}

/* The clients of a slow-subscriber test: @a slow (a small receive buffer),
 * @a fast, @a pub and @a admin, greeted; slow and fast subscribed to
 * "flood". */
static void slow_clients(lc_client_t **slow, lc_client_t **fast, lc_client_t **pub,
                         lc_client_t **admin)
{
    *slow = pt_client(D.port, 4096);
    PT_EXPECT(*slow, "+OK pubsubd ready");
    *fast = cl_open("pubsubd ready");
    *pub = cl_open("pubsubd ready");
    *admin = cl_open("pubsubd ready");
    PT_ASK(*slow, "SUB flood", "+OK subscribed to flood");
    PT_ASK(*fast, "SUB flood", "+OK subscribed to flood");
}

/*
 * A subscriber that never reads while a publisher floods 20 MB at it: the
 * daemon's memory stays bounded (the output limit, not the flood), the
 * other subscriber gets every message in order, the publisher gets every
 * reply, and the slow one is told how many it lost when it reads again.
 */
START_TEST(slow_subscriber_drop_keeps_memory_bounded)
{
    lc_client_t *slow, *fast, *pub, *admin;
    flood_t f;
    const char *l;
    long slow_got = 0, last = -1, dropped_note = -1, dropped, bound_kb;
    long limit_kb = 64;

    memset(&f, 0, sizeof f);
    f.n = pt_env_long("POOLEV_FLOOD_MESSAGES", 20000);
    daemon_start("OutputLimit 64k\nSlowPolicy drop\nMaxLine 2048\nLogLevel info\n");
    slow_clients(&slow, &fast, &pub, &admin);
    PT_ASK(admin, "PING", "+PONG");
    f.rss_base = daemon_rss_kb();

    flood_run(&f, pub, fast);

    dropped = stat_get(admin, NULL, "dropped");
    /* a daemon that queued the flood for the slow one would hold ~20 MB;
     * ASan's allocator has more slack */
    bound_kb = (SANITIZED ? 8192 : 2048) + 16 * limit_kb;
    printf("slow subscriber (drop): %ld messages of %d bytes; daemon RSS %ld KiB before, "
           "%ld KiB at most during the flood (+%ld KiB, bound +%ld KiB); %ld dropped\n",
           f.n, FLOOD_MSG, f.rss_base, f.rss_max, f.rss_max - f.rss_base, bound_kb,
           dropped);
    ck_assert_msg(f.rss_max - f.rss_base < bound_kb,
                  "daemon RSS grew by %ld KiB while flooding %ld KiB",
                  f.rss_max - f.rss_base, f.n * FLOOD_MSG / 1024);
    ck_assert_int_gt(dropped, f.n / 2);
    ck_assert_int_eq(stat_get(admin, NULL, "deliveries") + dropped, 2 * f.n);
    ck_assert_int_eq(stat_get(admin, NULL, "disconnected"), 0);

    /* the slow one reads at last: what was queued, in order, and the note */
    while (dropped_note < 0) {
        l = pt_client_line(slow, PT_IO_MS);
        ck_assert_msg(l != NULL, "slow subscriber: no DROPPED line after %ld messages",
                      slow_got);
        if (strncmp(l, "DROPPED ", 8) == 0) {
            dropped_note = strtol(l + 8, NULL, 10);
            continue;
        }
        ck_assert_msg(strncmp(l, "MSG flood ", 10) == 0, "slow subscriber got '%.40s'", l);
        ck_assert_int_gt(strtol(l + 10, NULL, 10), last);
        last = strtol(l + 10, NULL, 10);
        slow_got++;
    }
    ck_assert_int_eq(dropped_note, dropped);
    /* the end marker comes after everything that was queued */
    PT_ASK(pub, "PUB flood end", "+OK delivered=2");
    PT_EXPECT(fast, "MSG flood end");
    while ((l = pt_client_line(slow, PT_IO_MS)) != NULL && strcmp(l, "MSG flood end") != 0) {
        ck_assert_msg(strncmp(l, "MSG flood ", 10) == 0, "slow subscriber got '%.40s'", l);
        ck_assert_int_gt(strtol(l + 10, NULL, 10), last);
        last = strtol(l + 10, NULL, 10);
        slow_got++;
    }
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(slow_got + dropped, f.n);
    daemon_stop();
}
END_TEST

START_TEST(slow_subscriber_disconnect_policy)
{
    lc_client_t *slow, *fast, *pub, *admin;
    flood_t f;

    memset(&f, 0, sizeof f);
    f.n = 4000;
    daemon_start("OutputLimit 32k\nSlowPolicy disconnect\nLogLevel info\n");
    slow_clients(&slow, &fast, &pub, &admin);
    PT_ASK(slow, "SUB other", "+OK subscribed to other");
    f.rss_base = daemon_rss_kb();

    flood_run(&f, pub, fast);

    ck_assert_int_eq(stat_get(admin, NULL, "disconnected"), 1);
    ck_assert_int_eq(stat_get(admin, NULL, "dropped"), 0);
    ck_assert(lc_wait_eof(slow, PT_IO_MS));
    /* its subscriptions went with it */
    ck_assert_int_eq(stat_get(admin, NULL, "subscriptions"), 1);
    stat_wait(admin, "connections", 3, PT_IO_MS);
    ck_assert(log_has("disconnected (SlowPolicy disconnect)"));
    daemon_stop();
}
END_TEST

/* Replies wait for room too: 40,000 pipelined commands from a client that
 * reads slowly, with a small output limit, are all answered, in order; also
 * those still buffered when the client ends its input (half-close). */
START_TEST(pipelined_replies_wait_for_room)
{
    lc_client_t *a;
    char *out;
    size_t len = 0, off = 0;
    long i, n = 40000, got = 0;
    char pad[201];
    long deadline;
    const char *l;

    daemon_start("OutputLimit 4k\n");
    a = pt_client(D.port, 4096);
    PT_EXPECT(a, "+OK pubsubd ready");
    /* 8 MB of replies: more than the kernel's socket buffers take */
    memset(pad, 'p', 200);
    pad[200] = '\0';
    out = malloc((size_t) n * 220);
    ck_assert_ptr_nonnull(out);
    for (i = 0; i < n; i++)
        len += (size_t) sprintf(out + len, "PING %ld %s\r\n", i, pad);
    deadline = lc_now_ms() + 60000;
    while (got < n) {
        struct pollfd p = { a->fd, POLLIN | (off < len ? POLLOUT : 0), 0 };

        ck_assert_msg(lc_now_ms() < deadline, "%ld of %ld replies", got, n);
        ck_assert_int_ge(poll(&p, 1, 100), 0);
        if (p.revents & POLLOUT) {
            ssize_t w = send(a->fd, out + off, len - off, MSG_NOSIGNAL);

            if (w > 0)
                off += (size_t) w;
            if (off == len)
                ck_assert_int_eq(shutdown(a->fd, SHUT_WR), 0);
        }
        /* read slowly: a little at a time */
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(a->fd, a->buf + a->len, 512, 0);

            ck_assert_msg(r > 0, "the daemon closed the connection");
            a->len += (size_t) r;
            while ((l = pt_client_line(a, 0)) != NULL) {
                char want[32];

                snprintf(want, sizeof want, "+PONG %ld ", got);
                ck_assert_msg(strncmp(l, want, strlen(want)) == 0
                              && strlen(l) == strlen(want) + 200, "reply %ld: '%.40s'",
                              got, l);
                got++;
            }
        }
    }
    ck_assert(lc_wait_eof(a, PT_IO_MS));
    free(out);
    daemon_stop();
}
END_TEST

/* ======================================================================== */
/* Descriptors                                                               */

START_TEST(thousand_connections_leak_no_descriptor)
{
    lc_client_t *admin, *c;
    int before, after, i, cycles = (int) pt_env_long("POOLEV_CYCLES", 1000);
    long accepted;

    daemon_start("LogLevel info\n");
    admin = cl_open("pubsubd ready");
    ck_assert_int_eq(stat_get(admin, NULL, "connections"), 1);
    before = daemon_fds();
    accepted = stat_get(admin, NULL, "accepted");
    for (i = 0; i < cycles; i++) {
        c = cl_open("pubsubd ready");
        switch (i % 4) {
        case 0:                         /* subscribes, then goes */
            PT_ASK(c, "SUB t", "+OK subscribed to t");
            lc_close(c, 0);
            break;
        case 1:                         /* killed */
            lc_close(c, 1);
            break;
        case 2:                         /* says goodbye */
            PT_ASK(c, "QUIT", "+OK bye");
            ck_assert(lc_wait_eof(c, PT_IO_MS));
            lc_close(c, 0);
            break;
        default:                        /* just goes */
            lc_close(c, 0);
            break;
        }
        pt_client_free(c);              /* keep memory flat on this side too */
    }
    stat_wait(admin, "connections", 1, 10000);
    after = daemon_fds();
    printf("%d connect/disconnect cycles: daemon descriptors %d before, %d after\n",
           cycles, before, after);
    ck_assert_int_eq(after, before);
    ck_assert_int_eq(stat_get(admin, NULL, "accepted"), accepted + cycles);
    ck_assert_int_eq(stat_get(admin, NULL, "subscriptions"), 0);
    daemon_stop();
}
END_TEST

/* ======================================================================== */
/* Stop, command line, start failures                                        */

START_TEST(sigterm_says_bye_and_exits_zero)
{
    lc_client_t *a, *b;

    daemon_start("");
    a = cl_open("pubsubd ready");
    b = cl_open("pubsubd ready");
    PT_ASK(a, "SUB news", "+OK subscribed to news");
    daemon_stop();
    PT_EXPECT(a, "BYE server shutting down");
    PT_EXPECT(b, "BYE server shutting down");
    ck_assert(lc_wait_eof(a, PT_IO_MS));
    ck_assert(lc_wait_eof(b, PT_IO_MS));
    ck_assert(log_has("SIGTERM: stopping"));
}
END_TEST

/* Run pubsubd with @a args to its end; its exit status, stdout in *out and
 * stderr in *err (malloc'd). */
static int run_cli(const char *const args[], char **out, char **err)
{
    int status;
    pid_t pid = spawn(args);

    ck_assert_msg(wait_exit(pid, START_MS, &status), "pubsubd did not exit");
    ck_assert(WIFEXITED(status));
    *out = pt_slurp(D.out);
    *err = pt_slurp(D.log);
    return WEXITSTATUS(status);
}

static int count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(command_line_and_start_failures)
{
    const char *a_p[] = { "-p", NULL }, *a_h[] = { "-h", NULL };
    const char *a_t[] = { "-t", "-f", D.conf, NULL }, *a_f[] = { "-f", D.conf, NULL };
    const char *a_bad[] = { "-x", NULL }, *a_nof[] = { "-f", NULL };
    char *out, *err, conf[256], *nl;
    int lsn, one = 1;
    struct sockaddr_in sa;
    socklen_t slen = sizeof sa;

    /* -p: the embedded default configuration */
    ck_assert_int_eq(run_cli(a_p, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "\nListen 127.0.0.1:7450\n"));
    ck_assert_ptr_nonnull(strstr(out, "\nIdleTimeout "));
    ck_assert_ptr_nonnull(strstr(out, "\nSlowPolicy drop\n"));
    ck_assert_str_eq(err, "");
    /* which is a valid configuration (-t binds nothing, so whether the port
     * is free does not matter) */
    nl = strstr(out, "Listen 127.0.0.1:7450");
    memcpy(nl, "Listen 127.0.0.1:0   ", 21);
    pt_write_file(D.conf, out);
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(a_t, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "is valid"));
    free(out);
    free(err);
    pt_write_file(D.conf, "Listen 127.0.0.1:0\nIdleTimeout soon\n");
    ck_assert_int_eq(run_cli(a_t, &out, &err), 1);
    ck_assert_ptr_nonnull(strstr(err, ":2: IdleTimeout: "));
    ck_assert_int_eq(count_lines(err), 1);
    free(out);
    free(err);

    /* the installed example configuration is valid too */
    {
        const char *a_ex[] = { "-t", "-f", PUBSUBD_EXAMPLE_CONF, NULL };

        ck_assert_int_eq(run_cli(a_ex, &out, &err), 0);
        ck_assert_msg(strstr(out, "is valid") != NULL, "stderr: %s", err);
        free(out);
        free(err);
    }

    ck_assert_int_eq(run_cli(a_h, &out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: pubsubd"));
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(a_bad, &out, &err), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown argument '-x'"));
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(a_nof, &out, &err), 2);
    free(out);
    free(err);

    /* a bad value: exit 1, one line naming the file, the line, the cause */
    pt_write_file(D.conf, "Listen 127.0.0.1:0\nIdleTimeout soon\n");
    ck_assert_int_eq(run_cli(a_f, &out, &err), 1);
    snprintf(conf, sizeof conf, "%s:2:", D.conf);
    ck_assert_msg(strstr(err, conf) && strstr(err, "IdleTimeout") && count_lines(err) == 1,
                  "stderr: %s", err);
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(a_t, &out, &err), 1);      /* -t says the same */
    ck_assert_msg(strstr(err, conf) && count_lines(err) == 1, "stderr: %s", err);
    free(out);
    free(err);
    pt_write_file(D.conf, "Listen 127.0.0.1:0\nSlowPolicy sometimes\n");
    ck_assert_int_eq(run_cli(a_f, &out, &err), 1);
    ck_assert_msg(strstr(err, "SlowPolicy") && strstr(err, "expects drop or disconnect")
                  && count_lines(err) == 1, "stderr: %s", err);
    free(out);
    free(err);
    pt_write_file(D.conf, "Listen 127.0.0.1:0\nMaxLine 10\n");
    ck_assert_int_eq(run_cli(a_f, &out, &err), 1);
    ck_assert_msg(strstr(err, "MaxLine") && strstr(err, "out of range"), "stderr: %s", err);
    free(out);
    free(err);
    /* a MSG line must fit in a subscriber's output */
    pt_write_file(D.conf, "Listen 127.0.0.1:0\nMaxLine 8k\nOutputLimit 4k\n");
    ck_assert_int_eq(run_cli(a_f, &out, &err), 1);
    ck_assert_msg(strstr(err, "OutputLimit (4096) must be at least MaxLine + 16")
                  && count_lines(err) == 1, "stderr: %s", err);
    free(out);
    free(err);

    /* an address in use: exit 1, one line naming it */
    lsn = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(lsn, 0);
    setsockopt(lsn, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lsn, (struct sockaddr *) &sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lsn, 1), 0);
    ck_assert_int_eq(getsockname(lsn, (struct sockaddr *) &sa, &slen), 0);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:%u\n", (unsigned) ntohs(sa.sin_port));
    pt_write_file(D.conf, conf);
    ck_assert_int_eq(run_cli(a_f, &out, &err), 1);
    close(lsn);
    ck_assert_msg(strstr(err, "127.0.0.1") && count_lines(err) == 1, "stderr: %s", err);
    free(out);
    free(err);
}
END_TEST

/* ======================================================================== */
/* TLS: "Listen ... tls", STARTTLS, real clients                             */

#ifdef HAVE_OPENSSL

#ifndef STARTTLS_CLIENT
#define STARTTLS_CLIENT "t/starttls_client.py"
#endif

static pt_pki_t *pki;                   /* one for the run, made in main() */
static unsigned tls_port;

/* Start pubsubd with TLS: the plaintext port (D.port) and a TLS port
 * (tls_port), the test PKI's server certificate, and @a extra. */
static void tls_daemon_start(const char *extra)
{
    char settings[3000], *rest, *comma;

    ck_assert_msg(pki != NULL, "no test PKI");
    snprintf(settings, sizeof settings, "Listen 127.0.0.1:0 tls\nTLSCertificateFile %s\n"
             "TLSCertificateKeyFile %s\n%s", pki->server_cert, pki->server_key, extra);
    daemon_start(settings);
    rest = log_wait("generation 1 ready: listening on ports ", START_MS);
    comma = strstr(rest, ", ");
    ck_assert_ptr_nonnull(comma);
    tls_port = (unsigned) strtoul(comma + 2, NULL, 10);
    free(rest);
    ck_assert_uint_gt(tls_port, 0);
}

/* A reply through the TLS client: the next line after sending @a cmd. */
static const char *tc_ask(tc_t *c, const char *cmd)
{
    const char *l;

    ck_assert_int_eq(tc_puts(c, cmd), 0);
    ck_assert_int_eq(tc_puts(c, "\r\n"), 0);
    l = tc_line(c);
    ck_assert_msg(l != NULL, "no reply to '%s': %s", cmd, c->err);
    return l;
}

#define TC_ASK(c, cmd, want) do {                                            \
        const char *got_ = tc_ask((c), (cmd));                               \
        ck_assert_msg(strcmp(got_, (want)) == 0, "%s: got '%s', want '%s'",  \
                      (cmd), got_, (want));                                  \
    } while (0)

/* A plaintext client that upgrades with STARTTLS. */
static void tc_starttls_client(tc_t *c)
{
    const char *l;

    ck_assert_int_eq(tc_connect(c, D.port, NULL, NULL), 0);
    l = tc_line(c);
    ck_assert_msg(l && strcmp(l, "+OK pubsubd ready") == 0, "greeting: %s", l ? l : c->err);
    TC_ASK(c, "STARTTLS", "+OK begin TLS");
    ck_assert_msg(tc_start_tls(c, pki->ca, "localhost", NULL, NULL) == 0, "handshake: %s",
                  c->err);
}

/*
 * CVE-2011-0411: a client (or a man in the middle) sends STARTTLS and more
 * commands in the same segment. The commands after STARTTLS arrived in
 * plaintext; run after the handshake they would look like commands of the
 * TLS session. They are discarded: nothing is published, no subscription is
 * made, and the daemon logs how many bytes it discarded.
 */
START_TEST(starttls_discards_plaintext_after_command)
{
    static const char segment[] = "STARTTLS\r\nPUB ch injected\r\nSUB x\r\n";
    lc_client_t *sub;
    tc_t a;
    const char *l;
    char want[128];

    tls_daemon_start("");
    sub = cl_open("pubsubd ready");
    PT_ASK(sub, "SUB ch", "+OK subscribed to ch");
    ck_assert_int_eq(tc_connect(&a, D.port, NULL, NULL), 0);
    l = tc_line(&a);
    ck_assert_msg(l && strcmp(l, "+OK pubsubd ready") == 0, "greeting: %s", l ? l : a.err);
    /* one send, one segment on loopback */
    ck_assert_int_eq(tc_send(&a, segment, sizeof segment - 1), 0);
    l = tc_line(&a);
    ck_assert_msg(l && strcmp(l, "+OK begin TLS") == 0, "STARTTLS: %s", l ? l : a.err);
    ck_assert_msg(tc_start_tls(&a, pki->ca, "localhost", NULL, NULL) == 0, "handshake: %s",
                  a.err);
    snprintf(want, sizeof want, "STARTTLS: discarded %u byte(s) sent in plaintext",
             (unsigned) (sizeof segment - 1 - strlen("STARTTLS\r\n")));
    free(log_wait(want, START_MS));
    /* the first reply through TLS answers the first command sent through
     * TLS; nothing was published and the only subscription is sub's */
    l = tc_ask(&a, "STATS x");
    ck_assert_msg(strstr(l, " messages=0 ") && strstr(l, " subscriptions=1 ")
                  && strstr(l, " tls=1 ") && strstr(l, " subscribers=0"), "STATS: %s", l);
    /* sub got no MSG: its next line is the reply to its next command */
    PT_ASK(sub, "PING", "+PONG");
    TC_ASK(&a, "PUB ch after", "+OK delivered=1");
    PT_EXPECT(sub, "MSG ch after");
    tc_close(&a);
    daemon_stop();
}
END_TEST

START_TEST(starttls_without_tls_configured)
{
    lc_client_t *c;

    daemon_start("");
    c = cl_open("pubsubd ready");
    PT_ASK(c, "STARTTLS", "-ERR TLS is not configured");
    PT_ASK(c, "STARTTLS now", "-ERR usage: STARTTLS");
    PT_ASK(c, "PING", "+PONG");
    daemon_stop();
}
END_TEST

/* TLS on already: after a STARTTLS, and on the TLS port */
START_TEST(starttls_twice_refused)
{
    tc_t a, t;

    tls_daemon_start("");
    tc_starttls_client(&a);
    TC_ASK(&a, "STARTTLS", "-ERR TLS is on already");
    TC_ASK(&a, "PING", "+PONG");
    ck_assert_int_eq(tc_connect(&t, tls_port, NULL, NULL), 0);
    ck_assert_msg(tc_start_tls(&t, pki->ca, "localhost", NULL, NULL) == 0, "%s", t.err);
    ck_assert_ptr_nonnull(tc_line(&t));         /* the greeting */
    TC_ASK(&t, "STARTTLS", "-ERR TLS is on already");
    tc_close(&a);
    tc_close(&t);
    daemon_stop();
}
END_TEST

/* The TLS port: greeting and commands through TLS; a reload with a key that
 * does not match keeps the generation and the TLS clients. */
START_TEST(implicit_tls_port_and_bad_reload)
{
    tc_t t, u;
    const char *l;
    char want[128], settings[2048];

    tls_daemon_start("");
    snprintf(want, sizeof want, "listening on 127.0.0.1:%u (TLS)", tls_port);
    ck_assert(log_has(want));
    snprintf(want, sizeof want, "listening on 127.0.0.1:%u (plaintext)", D.port);
    ck_assert(log_has(want));
    ck_assert_int_eq(tc_connect(&t, tls_port, NULL, NULL), 0);
    ck_assert_msg(tc_start_tls(&t, pki->ca, "localhost", NULL, NULL) == 0, "%s", t.err);
    l = tc_line(&t);
    ck_assert_msg(l && strcmp(l, "+OK pubsubd ready") == 0, "greeting: %s", l ? l : t.err);
    l = tc_ask(&t, "STATS");
    ck_assert_msg(strstr(l, " tls=1") != NULL, "STATS: %s", l);

    snprintf(settings, sizeof settings, "Listen 127.0.0.1:0 tls\nTLSCertificateFile %s\n"
             "TLSCertificateKeyFile %s\n", pki->server_cert, pki->other_key);
    daemon_reload(settings);
    free(log_wait("reload failed, keeping generation 1: ", START_MS));
    ck_assert_msg(log_has(pki->other_key) || log_has(pki->server_cert),
                  "the message names no file");
    TC_ASK(&t, "PING after", "+PONG after");
    ck_assert_int_eq(tc_connect(&u, tls_port, NULL, NULL), 0);
    ck_assert_msg(tc_start_tls(&u, pki->ca, "localhost", NULL, NULL) == 0, "%s", u.err);
    ck_assert_ptr_nonnull(tc_line(&u));
    l = tc_ask(&u, "STATS");
    ck_assert_msg(strstr(l, " generation=1 ") != NULL, "STATS: %s", l);
    tc_close(&t);
    tc_close(&u);
    daemon_stop();
}
END_TEST

/* @a name on PATH, or NULL. */
static const char *find_program(const char *name)
{
    static char path[1024];
    const char *p = getenv("PATH");

    while (p && *p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t) (e - p) : strlen(p);

        snprintf(path, sizeof path, "%.*s/%s", (int) n, p, name);
        if (access(path, X_OK) == 0)
            return path;
        p = e ? e + 1 : NULL;
    }
    return NULL;
}

/* Run @a argv (a program and its arguments) with stdin from @a input,
 * stdout and stderr into the file D.out; its exit status, or -1 when it did
 * not end in time (it is killed). *@a out: what it wrote (malloc'd). */
static int run_tool(const char *const argv[], const char *input, char **out)
{
    char in_path[160];
    pid_t pid;
    int status, fd;

    snprintf(in_path, sizeof in_path, "%s/tool-input", D.dir);
    pt_write_file(in_path, input);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if ((fd = open(in_path, O_RDONLY)) >= 0)
            dup2(fd, 0);
        if ((fd = open(D.out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *) argv);
        _exit(127);
    }
    if (!wait_exit(pid, START_MS, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        *out = pt_slurp(D.out);
        return -1;
    }
    *out = pt_slurp(D.out);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* openssl s_client on the TLS port: verified against the test CA with the
 * host name, one command, QUIT; and refused with another CA. */
START_TEST(interop_openssl_s_client)
{
    const char *openssl = find_program("openssl");
    char port[64], exe[1024];
    char *out;
    int rc;

    if (!openssl) {
        fprintf(stderr, "check_pubsubd: SKIP interop_openssl_s_client: no openssl"
                " command (apt-get install openssl)\n");
        return;
    }
    snprintf(exe, sizeof exe, "%s", openssl);
    tls_daemon_start("");
    snprintf(port, sizeof port, "127.0.0.1:%u", tls_port);
    {
        const char *argv[] = { exe, "s_client", "-connect", port, "-CAfile", pki->ca,
                               "-verify_return_error", "-servername", "localhost",
                               "-verify_hostname", "localhost", "-quiet", NULL };

        rc = run_tool(argv, "PING interop\r\nQUIT\r\n", &out);
        ck_assert_msg(rc == 0 && strstr(out, "+OK pubsubd ready")
                      && strstr(out, "+PONG interop") && strstr(out, "+OK bye"),
                      "s_client (status %d):\n%s", rc, out);
        free(out);
    }
    {
        const char *argv[] = { exe, "s_client", "-connect", port, "-CAfile", pki->other_ca,
                               "-verify_return_error", "-servername", "localhost", "-quiet",
                               NULL };

        rc = run_tool(argv, "PING interop\r\nQUIT\r\n", &out);
        ck_assert_msg(rc != 0 && !strstr(out, "+PONG"), "s_client trusting another CA"
                      " (status %d):\n%s", rc, out);
        free(out);
    }
    daemon_stop();
}
END_TEST

/* Python's ssl module: STARTTLS on the plaintext port, and the TLS port;
 * default client context (certificate and host name verified). */
START_TEST(interop_python_ssl)
{
    const char *python = find_program("python3");
    char port[16], tport[16], exe[1024];
    char *out;
    int rc;

    if (!python) {
        fprintf(stderr, "check_pubsubd: SKIP interop_python_ssl: no python3"
                " (apt-get install python3)\n");
        return;
    }
    snprintf(exe, sizeof exe, "%s", python);
    tls_daemon_start("");
    snprintf(port, sizeof port, "%u", D.port);
    snprintf(tport, sizeof tport, "%u", tls_port);
    {
        const char *argv[] = { exe, STARTTLS_CLIENT, port, pki->ca, NULL };

        rc = run_tool(argv, "", &out);
        ck_assert_msg(rc == 0 && strstr(out, "ok\n"), "STARTTLS (status %d):\n%s", rc, out);
        free(out);
    }
    {
        const char *argv[] = { exe, STARTTLS_CLIENT, tport, pki->ca, "implicit", NULL };

        rc = run_tool(argv, "", &out);
        ck_assert_msg(rc == 0 && strstr(out, "ok\n"), "implicit TLS (status %d):\n%s", rc,
                      out);
        free(out);
    }
    daemon_stop();
}
END_TEST

#endif /* HAVE_OPENSSL */

/* ======================================================================== */
/* The process: User and Group, PidFile, connection limits                   */

/* The value of the line "@a key:" of /proc/PID/status, blanks squeezed to
 * single spaces and trimmed (static). */
static const char *proc_status(const char *key)
{
    static char val[256];
    char path[64], line[512];
    size_t klen = strlen(key);
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/status", (long) D.pid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    val[0] = '\0';
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *p = line + klen + 1, *o = val;

            for (; *p; p++) {
                if (*p == ' ' || *p == '\t' || *p == '\n') {
                    if (o > val && o[-1] != ' ')
                        *o++ = ' ';
                }
                else
                    *o++ = *p;
            }
            if (o > val && o[-1] == ' ')
                o--;
            *o = '\0';
        }
    fclose(f);
    return val;
}

/* A free loopback port only root may bind, or 0. */
static unsigned privileged_port(void)
{
    const char *text = pt_slurp_small("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    long start = text ? strtol(text, NULL, 10) : 1024;
    struct sockaddr_in sa;
    long p;

    for (p = start - 1; p > 0 && p >= start - 300; p--) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

        ck_assert_int_ge(fd, 0);
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons((unsigned short) p);
        ok = bind(fd, (struct sockaddr *) &sa, sizeof sa) == 0;
        close(fd);
        if (ok)
            return (unsigned) p;
    }
    return 0;
}

/* The pid file @a pidf holds @a want. */
static void pidfile_is(const char *pidf, const char *want)
{
    char *text = pt_slurp(pidf);

    ck_assert_str_eq(text, want);
    free(text);
}

/* The pid file @a pidf holds @a pid's line. */
static void pidfile_holds(const char *pidf, pid_t pid)
{
    char want[32];

    snprintf(want, sizeof want, "%ld\n", (long) pid);
    pidfile_is(pidf, want);
}

/* The daemon started again with @a settings logs @a found: what it found
 * at the pid file, replaced. */
static void start_replacing(const char *settings, const char *found)
{
    unlink(D.log);                  /* not the last daemon's "ready" */
    daemon_start(settings);
    log_expect(found);
}

START_TEST(user_and_group_dropped_after_binding)
{
    struct passwd *pw = getpwnam("nobody");
    struct group *gr = getgrnam("nogroup");
    char settings[512], want[128], pidf[160];
    unsigned low;
    lc_client_t *a;
    uid_t uid;
    gid_t gid;

    if (geteuid() != 0 || !pw || !gr) {
        printf("skipped user_and_group_dropped_after_binding: needs root and the user "
               "nobody, group nogroup\n");
        return;
    }
    uid = pw->pw_uid;
    gid = gr->gr_gid;
    /* nobody reads the configuration at the reloads: the directory is
     * readable, and not writable, so the pid file cannot be removed */
    ck_assert_int_eq(chmod(D.dir, 0755), 0);
    snprintf(pidf, sizeof pidf, "%s/pubsubd.pid", D.dir);
    snprintf(settings, sizeof settings, "User nobody\nGroup nogroup\nPidFile %s\n", pidf);
    daemon_start(settings);
    ck_assert(log_has("running as user nobody (uid "));
    snprintf(want, sizeof want, "%lu %lu %lu %lu", (unsigned long) uid, (unsigned long) uid,
             (unsigned long) uid, (unsigned long) uid);
    ck_assert_str_eq(proc_status("Uid"), want);
    snprintf(want, sizeof want, "%lu %lu %lu %lu", (unsigned long) gid, (unsigned long) gid,
             (unsigned long) gid, (unsigned long) gid);
    ck_assert_str_eq(proc_status("Gid"), want);
    snprintf(want, sizeof want, "%lu", (unsigned long) gid);
    ck_assert_str_eq(proc_status("Groups"), want);     /* root's groups are gone */
    pidfile_holds(pidf, D.pid);
    a = cl_open("pubsubd ready");
    PT_ASK(a, "PING", "+PONG");

    /* a reload that needs a new privileged port: refused, generation kept */
    low = privileged_port();
    if (low) {
        snprintf(settings, sizeof settings,
                 "User nobody\nGroup nogroup\nPidFile %s\nListen 127.0.0.1:%u\n", pidf, low);
        daemon_reload(settings);
        snprintf(want, sizeof want, "cannot bind 127.0.0.1:%u after dropping privileges: "
                 "Permission denied; use socket activation or restart", low);
        free(log_wait(want, START_MS));
        ck_assert(log_has("reload failed, keeping generation 1"));
        ck_assert_int_eq(stat_get(a, NULL, "generation"), 1);
    }
    else
        printf("user_and_group_dropped_after_binding: no privileged port to try\n");
    /* a reload that changes the user: refused, generation kept */
    snprintf(settings, sizeof settings, "User root\nPidFile %s\n", pidf);
    daemon_reload(settings);
    free(log_wait("User/Group changed (from nobody/nogroup to root/(none))", START_MS));
    ck_assert_int_eq(stat_get(a, NULL, "generation"), 1);
    /* the same user and pid file: the reload goes through, as nobody */
    snprintf(settings, sizeof settings,
             "User nobody\nGroup nogroup\nPidFile %s\nGreeting reloaded\n", pidf);
    daemon_reload(settings);
    free(log_wait("generation 2 ready", START_MS));
    pt_client_free(cl_open("reloaded"));
    PT_ASK(a, "PING", "+PONG");

    /* the stop: nobody cannot remove the pid file from this directory; it
     * is left empty and unlocked, and the next start replaces it */
    daemon_stop();
    log_expect("cannot remove PidFile");
    pidfile_is(pidf, "");
    ck_assert_int_eq(access(pidf, F_OK), 0);
    snprintf(settings, sizeof settings, "User nobody\nGroup nogroup\nPidFile %s\n", pidf);
    start_replacing(settings, "holds no pid: replacing it");
    pidfile_holds(pidf, D.pid);
    daemon_stop();
}
END_TEST

START_TEST(failed_drop_fails_the_start)
{
    const char *a_f[] = { "-f", D.conf, NULL }, *a_t[] = { "-t", "-f", D.conf, NULL };
    char *out, *err, pidf[160];

    snprintf(pidf, sizeof pidf, "%s/pubsubd.pid", D.dir);
    pt_write_file(D.conf, "Listen 127.0.0.1:0\nUser no-such-user-poolev\n");
    ck_assert_int_eq(run_cli(a_f, &out, &err), 1);
    ck_assert_msg(strstr(err, ":2: User: no such user 'no-such-user-poolev'")
                  && count_lines(err) == 1, "stderr: %s", err);
    free(out);
    free(err);
    ck_assert_int_eq(run_cli(a_t, &out, &err), 1);      /* -t says the same */
    ck_assert_msg(strstr(err, "no such user 'no-such-user-poolev'"), "stderr: %s", err);
    free(out);
    free(err);
    pt_write_file(D.conf, "Listen 127.0.0.1:0\nGroup nogroup\n");
    ck_assert_int_eq(run_cli(a_f, &out, &err), 1);
    ck_assert_msg(strstr(err, "Group needs User") && count_lines(err) == 1, "stderr: %s", err);
    free(out);
    free(err);
    if (geteuid() != 0) {
        /* the drop itself fails: not root */
        char conf[256];

        snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nUser root\nPidFile %s\n", pidf);
        pt_write_file(D.conf, conf);
        ck_assert_int_eq(run_cli(a_f, &out, &err), 1);
        ck_assert_msg(strstr(err, "not running as root"), "stderr: %s", err);
        free(out);
        free(err);
        ck_assert_int_ne(access(pidf, F_OK), 0);        /* a failed start removes it */
    }
}
END_TEST

START_TEST(pidfile_live_refused_stale_replaced)
{
    const char *a_f[] = { "-f", D.conf, NULL };
    char settings[256], want[256], pidf[160], *out, *err;
    pid_t first;

    snprintf(pidf, sizeof pidf, "%s/pubsubd.pid", D.dir);
    snprintf(settings, sizeof settings, "PidFile %s\n", pidf);
    daemon_start(settings);
    first = D.pid;
    pidfile_holds(pidf, first);
    /* a second pubsubd on the same pid file: refused before it binds */
    ck_assert_int_eq(run_cli(a_f, &out, &err), 1);
    snprintf(want, sizeof want, "pubsubd: already running as pid %ld (PidFile %s)\n",
             (long) first, pidf);
    ck_assert_str_eq(err, want);
    free(out);
    free(err);
    D.pid = first;
    pidfile_holds(pidf, first);
    daemon_stop();
    ck_assert_int_ne(access(pidf, F_OK), 0);            /* removed at the stop */

    /* stale: a pid that is not running, then a live one that is not ours */
    pt_write_file(pidf, "2147483000\n");
    start_replacing(settings, "(pid 2147483000 is not running): replacing it");
    pidfile_holds(pidf, D.pid);
    daemon_stop();
    snprintf(want, sizeof want, "%ld\n", (long) getpid());
    pt_write_file(pidf, want);
    start_replacing(settings, "does not hold its lock): replacing it");
    daemon_stop();
    ck_assert_int_ne(access(pidf, F_OK), 0);
}
END_TEST

/* A raw connection to the daemon from the loopback address @a src. */
static int connect_from(const char *src)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    ck_assert_int_eq(inet_pton(AF_INET, src, &sa.sin_addr), 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof sa), 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((unsigned short) D.port);
    ck_assert_msg(connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0, "connect from %s: %s",
                  src, strerror(errno));
    return fd;
}

/* The first line @a fd receives, without its CRLF (static); "" at the end
 * of input. Fails after PT_IO_MS. */
static const char *first_line(int fd)
{
    static char line[256];
    long deadline = lc_now_ms() + PT_IO_MS;
    size_t n = 0;

    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t r;

        ck_assert_msg(lc_now_ms() < deadline, "no line after %d ms", PT_IO_MS);
        if (poll(&p, 1, 10) <= 0)
            continue;
        r = read(fd, line + n, 1);
        if (r <= 0)
            break;
        if (line[n] == '\n')
            break;
        if (n < sizeof line - 1 && line[n] != '\r')
            n++;
    }
    line[n] = '\0';
    return line;
}

/* The daemon closes @a fd's connection within PT_IO_MS. */
static void expect_eof(int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };
    char c;

    ck_assert_int_eq(poll(&p, 1, PT_IO_MS), 1);
    ck_assert_int_le(read(fd, &c, 1), 0);
}

/*
 * A slowloris: 200 connections that each send one byte and nothing more,
 * against MaxConnections 50 and MaxConnectionsPerHost 20. The daemon holds
 * at most the limits; the others get the refusal line and the end; a
 * client is served again once slots free up.
 */
START_TEST(connection_limits_bound_a_slowloris)
{
    static const char *const hosts[] = { "127.0.0.3", "127.0.0.4", "127.0.0.5",
                                         "127.0.0.6", "127.0.0.7" };
    int fds[200], held[200], nheld = 0, per_host = 0, total = 0, i, j, fd, base;
    lc_client_t *admin, *c;
    const char *line;

    daemon_start("LogLevel info\nIdleTimeout off\nMaxConnections 50\n"
                 "MaxConnectionsPerHost 20\n");
    admin = cl_open("pubsubd ready");              /* one of the 50 */
    base = daemon_fds();
    /* 60 from one address: 20 held, the rest refused per host */
    for (i = 0; i < 60; i++) {
        fds[i] = connect_from("127.0.0.2");
        line = first_line(fds[i]);
        if (strcmp(line, "+OK pubsubd ready") == 0) {
            ck_assert_int_eq(write(fds[i], "P", 1), 1);   /* and nothing more */
            held[nheld++] = i;
            continue;
        }
        ck_assert_str_eq(line, "-ERR too many connections from your address");
        expect_eof(fds[i]);
        per_host++;
    }
    ck_assert_int_eq(nheld, 20);
    /* 140 from five more: the total limit, 50 with the admin's, comes first */
    for (; i < 200; i++) {
        fds[i] = connect_from(hosts[i % 5]);
        line = first_line(fds[i]);
        if (strcmp(line, "+OK pubsubd ready") == 0) {
            ck_assert_int_eq(write(fds[i], "P", 1), 1);
            held[nheld++] = i;
            continue;
        }
        ck_assert_str_eq(line, "-ERR too many connections");
        expect_eof(fds[i]);
        total++;
    }
    printf("slowloris: %d held, %d refused per host, %d refused in all\n", nheld,
           per_host, total);
    ck_assert_int_eq(nheld, 49);
    ck_assert_int_eq(per_host, 40);
    ck_assert_int_eq(total, 151 - 40);
    ck_assert_int_eq(stat_get(admin, NULL, "connections"), 50);
    ck_assert_int_eq(stat_get(admin, NULL, "refused"), 151);
    ck_assert_int_eq(stat_get(admin, NULL, "accepted"), 50);
    ck_assert_int_eq(daemon_fds(), base + 49);       /* no refused one lingers */

    /* full: a legitimate client is refused too, until slots free up */
    fd = connect_from("127.0.0.1");
    ck_assert_str_eq(first_line(fd), "-ERR too many connections");
    close(fd);
    for (j = 0; j < 10; j++)
        close(fds[held[nheld - 1 - j]]);
    stat_wait(admin, "connections", 40, 10000);
    c = cl_open("pubsubd ready");
    PT_ASK(c, "PING", "+PONG");
    ck_assert_int_eq(stat_get(c, NULL, "connections"), 41);
    for (j = 0; j < nheld - 10; j++)
        close(fds[held[j]]);
    for (i = 0; i < 200; i++) {
        for (j = 0; j < nheld && held[j] != i; j++)
            ;
        if (j == nheld)
            close(fds[i]);                          /* the refused ones */
    }
    daemon_stop();
}
END_TEST

/* ======================================================================== */
/* Configuration pitfalls                                                    */

/* How often the log holds @a needle. */
static int log_count(const char *needle)
{
    char *text = pt_slurp(D.log), *at = text;
    int n = 0;

    while ((at = strstr(at, needle)) != NULL) {
        n++;
        at += strlen(needle);
    }
    free(text);
    return n;
}

/* Wait until the log holds @a needle @a n times. */
static void log_wait_count(const char *needle, int n)
{
    long deadline = lc_now_ms() + START_MS;

    while (log_count(needle) < n) {
        if (lc_now_ms() > deadline) {
            char *text = pt_slurp(D.log);

            ck_abort_msg("'%s' not %d times in the log:\n%s", needle, n, text);
        }
        lc_sleep_ms(2);
    }
}

/* Run pubsubd -t -f @a path, which must end within START_MS (else it is
 * killed and the test fails); its exit status, stderr in *err. */
static int run_check(const char *path, char **err)
{
    const char *args[] = { "-t", "-f", path, NULL };
    pid_t pid = spawn(args);
    int status;

    if (!wait_exit(pid, START_MS, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        ck_abort_msg("pubsubd -t -f %s did not end", path);
    }
    ck_assert(WIFEXITED(status));
    *err = pt_slurp(D.log);
    return WEXITSTATUS(status);
}

/* The running daemon refused a reload and goes on: its clients and new
 * ones are served under generation 1. */
static void still_generation_1(lc_client_t *old, int reloads_refused)
{
    lc_client_t *c;

    log_wait_count("reload failed, keeping generation 1: ", reloads_refused);
    PT_ASK(old, "PING", "+PONG");
    c = cl_open("pubsubd ready");
    ck_assert_int_eq(stat_get(c, NULL, "generation"), 1);
    lc_close(c, 0);
    ck_assert_int_eq(log_count("restart failed"), 0);
}

/* What -t calls valid, a reload takes; what a reload would refuse, -t
 * refuses. MaxLine 1m with the default OutputLimit (256k) passed -t and
 * stopped the daemon on SIGHUP. */
START_TEST(config_check_is_the_reload_check)
{
    char *err;
    lc_client_t *c;

    pt_write_file(D.conf, "Listen 127.0.0.1:0\nMaxLine 1m\n");
    ck_assert_int_eq(run_check(D.conf, &err), 1);
    ck_assert_msg(strstr(err, "module pubsub: OutputLimit (262144) must be at least MaxLine "
                              "+ 16 (1048592)") && count_lines(err) == 1, "stderr: %s", err);
    free(err);
    pt_write_file(D.conf, "Listen 127.0.0.1:0\nMaxLine 1m\nOutputLimit 1040k\n");
    ck_assert_int_eq(run_check(D.conf, &err), 0);
    free(err);

    daemon_start("");
    c = cl_open("pubsubd ready");
    daemon_reload("MaxLine 1m\n");
    still_generation_1(c, 1);
    ck_assert(log_has("OutputLimit (262144) must be at least MaxLine + 16"));
    daemon_reload("MaxLine 1m\nOutputLimit 1040k\n");
    free(log_wait("generation 2 ready", START_MS));
    PT_ASK(c, "PING", "+PONG");
    lc_close(c, 0);
    daemon_stop();
}
END_TEST

/* A FIFO at the configuration path: -t and a reload refuse it at once,
 * naming the file, instead of waiting for a writer forever. */
START_TEST(fifo_configuration_refused)
{
    char fifo[160], *err, want[200];
    lc_client_t *c;

    snprintf(fifo, sizeof fifo, "%s/fifo.conf", D.dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(run_check(fifo, &err), 1);
    snprintf(want, sizeof want, "%s: a FIFO, not a regular file", fifo);
    ck_assert_msg(strstr(err, want) && count_lines(err) == 1, "stderr: %s", err);
    free(err);

    daemon_start("");
    c = cl_open("pubsubd ready");
    ck_assert_int_eq(unlink(D.conf), 0);
    ck_assert_int_eq(mkfifo(D.conf, 0600), 0);
    ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
    still_generation_1(c, 1);
    ck_assert(log_has("pubsubd.conf: a FIFO, not a regular file"));
    /* the loop was not blocked: SIGTERM still works */
    lc_close(c, 0);
    daemon_stop();
}
END_TEST

/* A configuration without Listen (empty, or all commented out): refused by
 * -t and at the start, and a reload to it keeps listening. */
START_TEST(configuration_without_listen_refused)
{
    const char *a_f[] = { "-f", D.conf, NULL };
    char *out, *err;
    lc_client_t *c;

    pt_write_file(D.conf, "# Listen 127.0.0.1:7450\n\nLogLevel debug\n");
    ck_assert_int_eq(run_check(D.conf, &err), 1);
    ck_assert_msg(strstr(err, "no listening sockets available") && count_lines(err) == 1,
                  "stderr: %s", err);
    free(err);
    pt_write_file(D.conf, "");
    ck_assert_int_eq(run_cli(a_f, &out, &err), 1);
    ck_assert_msg(strstr(err, "no listening sockets available") && count_lines(err) == 1,
                  "stderr: %s", err);
    free(out);
    free(err);

    daemon_start("");
    c = cl_open("pubsubd ready");
    pt_write_file(D.conf, "# everything commented out\n# Listen 127.0.0.1:0\n");
    ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
    still_generation_1(c, 1);
    ck_assert(log_has("no listening sockets available"));
    lc_close(c, 0);
    daemon_stop();
}
END_TEST

/* The log names the bound address; a reload that writes the port out keeps
 * the socket (a client connected meanwhile is served), and the port 0 line
 * it adds gets a new socket, logged. */
START_TEST(respelled_listen_kept_and_logged)
{
    char conf[512], want[64];
    unsigned port2;
    lc_client_t *c, *w;
    char *rest;

    daemon_start("");
    snprintf(want, sizeof want, "listening on 127.0.0.1:%u (plaintext)\n", D.port);
    ck_assert(log_has(want));
    ck_assert(!log_has("127.0.0.1:0"));
    c = cl_open("pubsubd ready");
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:%u\nLogLevel debug\nStatsInterval off\n"
             "Listen 127.0.0.1:0\n", D.port);
    pt_write_file(D.conf, conf);
    ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
    w = pt_client(D.port, 0);               /* during the reload */
    rest = log_wait("generation 2 ready: listening on ports ", START_MS);
    ck_assert_uint_eq((unsigned) strtoul(rest, NULL, 10), D.port);
    port2 = (unsigned) strtoul(strchr(rest, ',') + 2, NULL, 10);
    free(rest);
    ck_assert_uint_ne(port2, D.port);
    ck_assert_int_eq(log_count("listening on 127.0.0.1:"), 2);
    snprintf(want, sizeof want, "listening on 127.0.0.1:%u (plaintext)\n", port2);
    ck_assert(log_has(want));
    ck_assert(!log_has("restart failed") && !log_has("reload failed"));
    PT_EXPECT(w, "+OK pubsubd ready");
    PT_ASK(c, "PING", "+PONG");
    lc_close(w, 0);
    lc_close(c, 0);
    daemon_stop();
}
END_TEST

/* ======================================================================== */

static Suite *pubsubd_suite(void)
{
    Suite *s = suite_create("pubsubd");
    TCase *tc = tcase_create("pubsubd");

    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, protocol_commands_and_replies);
    tcase_add_test(tc, overlong_line_answered_then_closed);
    tcase_add_test(tc, subscriptions_dropped_on_disconnect);
    tcase_add_test(tc, idle_timeout_closes_and_unsubscribes);
    tcase_add_test(tc, keepalive_lines_between_replies);
    tcase_add_test(tc, reload_keeps_clients_and_subscriptions);
    tcase_add_test(tc, slow_subscriber_drop_keeps_memory_bounded);
    tcase_add_test(tc, slow_subscriber_disconnect_policy);
    tcase_add_test(tc, pipelined_replies_wait_for_room);
    tcase_add_test(tc, thousand_connections_leak_no_descriptor);
    tcase_add_test(tc, sigterm_says_bye_and_exits_zero);
    tcase_add_test(tc, command_line_and_start_failures);
    tcase_add_test(tc, user_and_group_dropped_after_binding);
    tcase_add_test(tc, failed_drop_fails_the_start);
    tcase_add_test(tc, pidfile_live_refused_stale_replaced);
    tcase_add_test(tc, connection_limits_bound_a_slowloris);
    tcase_add_test(tc, config_check_is_the_reload_check);
    tcase_add_test(tc, fifo_configuration_refused);
    tcase_add_test(tc, configuration_without_listen_refused);
    tcase_add_test(tc, respelled_listen_kept_and_logged);
    suite_add_tcase(s, tc);
#ifdef HAVE_OPENSSL
    tc = tcase_create("tls");
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, starttls_discards_plaintext_after_command);
    tcase_add_test(tc, starttls_without_tls_configured);
    tcase_add_test(tc, starttls_twice_refused);
    tcase_add_test(tc, implicit_tls_port_and_bad_reload);
    tcase_add_test(tc, interop_openssl_s_client);
    tcase_add_test(tc, interop_python_ssl);
    suite_add_tcase(s, tc);
#endif
    return s;
}

int main(int argc, char **argv)
{
    int rc;

#ifdef HAVE_OPENSSL
    /* one PKI for the run, made before the tests fork */
    pki = pt_pki_create();
#endif
    pubsubd_conf_title = "check_pubsubd";
    rc = pt_main(argc, argv, pubsubd_suite, NULL);
#ifdef HAVE_OPENSSL
    pt_pki_destroy(pki);
#endif
    return rc;
}
