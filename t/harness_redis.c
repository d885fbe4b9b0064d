/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * harness_redis.c - a redis-server of the test's own (harness_redis.h).
 */
#include "harness.h"
#include "harness_redis.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define MAX_SERVERS 16

struct pt_redis {
    pid_t pid;
    unsigned port;
    char password[128];
    int has_password;
    int paused;
};

static pt_redis_t *servers[MAX_SERVERS];
static int atexit_set;

static long ms_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

int pt_redis_available(void)
{
    const char *path = getenv("PATH");
    char buf[4096];

    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t n = end ? (size_t) (end - path) : strlen(path);

        if (n && n < sizeof(buf) - 16) {
            memcpy(buf, path, n);
            strcpy(buf + n, "/redis-server");
            if (access(buf, X_OK) == 0)
                return 1;
        }
        if (!end)
            break;
        path = end + 1;
    }
    return 0;
}

void pt_redis_require(const char *suite)
{
    if (pt_redis_available())
        return;
    fprintf(stderr,
            "\n"
            "**********************************************************************\n"
            "* SKIP %s: redis-server is not installed, so the tests that need a\n"
            "* real Redis cannot run. Install it (apt-get install redis-server)\n"
            "* to run them; CI installs it and always runs them.\n"
            "**********************************************************************\n\n",
            suite);
    exit(77);
}

static void kill_all(void)
{
    int i;

    for (i = 0; i < MAX_SERVERS; i++)
        if (servers[i] && servers[i]->pid > 0) {
            kill(servers[i]->pid, SIGKILL);
            waitpid(servers[i]->pid, NULL, 0);
            servers[i]->pid = 0;
        }
}

static unsigned free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* A blocking connection to the server, or -1 (refused). */
static int dial(unsigned port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;

    ck_assert_int_ge(fd, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((unsigned short) port);
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

        if (k < 0 && errno == EINTR)
            continue;
        ck_assert_msg(k > 0, "send to redis-server: %s", strerror(errno));
        p += k;
        n -= (size_t) k;
    }
}

/* Reading one reply, bounded by a deadline. */
typedef struct {
    int fd;
    char buf[65536];
    size_t have, pos;
    long deadline;
} rd_t;

static int rd_fill(rd_t *rd)
{
    struct pollfd p = { rd->fd, POLLIN, 0 };
    long left = rd->deadline - ms_now();
    ssize_t k;

    if (rd->pos > 0) {
        memmove(rd->buf, rd->buf + rd->pos, rd->have - rd->pos);
        rd->have -= rd->pos;
        rd->pos = 0;
    }
    if (left <= 0 || rd->have == sizeof(rd->buf))
        return 0;
    if (poll(&p, 1, (int) left) <= 0)
        return 0;
    k = recv(rd->fd, rd->buf + rd->have, sizeof(rd->buf) - rd->have, 0);
    if (k <= 0)
        return 0;
    rd->have += (size_t) k;
    return 1;
}

/* A line without its CR LF, in @a out (truncated to @a max); 0 on timeout. */
static int rd_line(rd_t *rd, char *out, size_t max)
{
    for (;;) {
        char *crlf = memchr(rd->buf + rd->pos, '\r', rd->have - rd->pos);

        if (crlf && crlf + 1 < rd->buf + rd->have) {
            size_t n = (size_t) (crlf - (rd->buf + rd->pos));

            if (n >= max)
                n = max - 1;
            memcpy(out, rd->buf + rd->pos, n);
            out[n] = 0;
            rd->pos = (size_t) (crlf - rd->buf) + 2;
            return 1;
        }
        if (!rd_fill(rd))
            return 0;
    }
}

static char reply[65536];

static void out_add(size_t *at, const char *s)
{
    size_t n = strlen(s);

    if (*at + n + 1 >= sizeof(reply))
        n = sizeof(reply) - *at - 1;
    memcpy(reply + *at, s, n);
    *at += n;
    reply[*at] = 0;
}

/* One reply (recursively for arrays) appended to `reply`; 0 on timeout. */
static int rd_reply(rd_t *rd, size_t *at)
{
    char line[8192];
    long n;

    if (!rd_line(rd, line, sizeof(line)))
        return 0;
    switch (line[0]) {
    case '$':
        n = strtol(line + 1, NULL, 10);
        out_add(at, "$");
        if (n < 0)
            return 1;
        while (rd->have - rd->pos < (size_t) n + 2)
            if (!rd_fill(rd))
                return 0;
        {
            char tmp[8192];
            size_t k = (size_t) n < sizeof(tmp) - 1 ? (size_t) n : sizeof(tmp) - 1;

            memcpy(tmp, rd->buf + rd->pos, k);
            tmp[k] = 0;
            out_add(at, tmp);
        }
        rd->pos += (size_t) n + 2;
        return 1;
    case '*':
        n = strtol(line + 1, NULL, 10);
        out_add(at, line);
        while (n-- > 0) {
            out_add(at, "\n");
            if (!rd_reply(rd, at))
                return 0;
        }
        return 1;
    default:
        out_add(at, line);
        return 1;
    }
}

static void put_arg(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    char head[32];
    int h = snprintf(head, sizeof(head), "$%zu\r\n", n);

    while (*len + (size_t) h + n + 2 > *cap) {
        *cap = *cap * 2 + 256;
        *buf = realloc(*buf, *cap);
        ck_assert_ptr_nonnull(*buf);
    }
    memcpy(*buf + *len, head, (size_t) h);
    *len += (size_t) h;
    memcpy(*buf + *len, p, n);
    *len += n;
    memcpy(*buf + *len, "\r\n", 2);
    *len += 2;
}

/* Send a command on @a fd and read its reply into `reply`; 0 on timeout. */
static int roundtrip(int fd, int argc, const char *const *argv, const size_t *lens,
                     long ms)
{
    static rd_t rd;
    char *buf = NULL;
    size_t len = 0, cap = 0, at = 0;
    char head[32];
    int i, h = snprintf(head, sizeof(head), "*%d\r\n", argc);

    cap = 256;
    buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, head, (size_t) h);
    len = (size_t) h;
    for (i = 0; i < argc; i++)
        put_arg(&buf, &len, &cap, argv[i], lens ? lens[i] : strlen(argv[i]));
    send_all(fd, buf, len);
    free(buf);
    rd.fd = fd;
    rd.have = rd.pos = 0;
    rd.deadline = ms_now() + ms;
    reply[0] = 0;
    return rd_reply(&rd, &at);
}

const char *pt_redis_cmdv(pt_redis_t *r, int argc, const char *const *argv,
                          const size_t *lens)
{
    int fd;

    ck_assert_msg(r->pid > 0, "pt_redis_cmdv: redis-server is not running");
    fd = dial(r->port);
    ck_assert_msg(fd >= 0, "pt_redis_cmdv: cannot connect to port %u", r->port);
    if (r->has_password) {
        const char *auth[2] = { "AUTH", r->password };

        ck_assert_msg(roundtrip(fd, 2, auth, NULL, PT_IO_MS), "redis-server: AUTH timed out");
        ck_assert_msg(strcmp(reply, "+OK") == 0, "redis-server: AUTH: %s", reply);
    }
    ck_assert_msg(roundtrip(fd, argc, argv, lens, PT_IO_MS),
                  "redis-server: %s timed out", argv[0]);
    close(fd);
    return reply;
}

const char *pt_redis_cmd(pt_redis_t *r, const char *arg, ...)
{
    const char *argv[32];
    int argc = 0;
    va_list ap;

    va_start(ap, arg);
    for (; arg && argc < 32; arg = va_arg(ap, const char *))
        argv[argc++] = arg;
    va_end(ap);
    return pt_redis_cmdv(r, argc, argv, NULL);
}

/* Does it answer PING (PONG, or NOAUTH with a password)? */
static int answers(pt_redis_t *r)
{
    const char *ping[1] = { "PING" };
    int fd = dial(r->port), ok;

    if (fd < 0)
        return 0;
    ok = roundtrip(fd, 1, ping, NULL, 1000)
        && (strcmp(reply, "+PONG") == 0 || strncmp(reply, "-NOAUTH", 7) == 0);
    close(fd);
    return ok;
}

static int spawn(pt_redis_t *r)
{
    char port[16];
    const char *argv[32];
    int argc = 0;
    long deadline;
    pid_t pid;

    snprintf(port, sizeof(port), "%u", r->port);
    argv[argc++] = "redis-server";
    argv[argc++] = "--port";
    argv[argc++] = port;
    argv[argc++] = "--bind";
    argv[argc++] = "127.0.0.1";
    argv[argc++] = "--save";
    argv[argc++] = "";
    argv[argc++] = "--appendonly";
    argv[argc++] = "no";
    argv[argc++] = "--daemonize";
    argv[argc++] = "no";
    argv[argc++] = "--dir";
    argv[argc++] = "/tmp";
    argv[argc++] = "--dbfilename";
    argv[argc++] = "pt-redis-unused.rdb";
    argv[argc++] = "--loglevel";
    argv[argc++] = "warning";
    if (r->has_password) {
        argv[argc++] = "--requirepass";
        argv[argc++] = r->password;
    }
    argv[argc] = NULL;

    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            if (!getenv("PT_REDIS_VERBOSE"))
                dup2(null, 2);
        }
        execvp("redis-server", (char *const *) argv);
        _exit(127);
    }
    r->pid = pid;
    r->paused = 0;
    deadline = ms_now() + PT_REDIS_START_MS;
    while (ms_now() < deadline) {
        int status;

        if (waitpid(pid, &status, WNOHANG) == pid) {
            r->pid = 0;         /* it exited: the port was taken */
            return 0;
        }
        if (answers(r))
            return 1;
        pause_ms(5);
    }
    pt_redis_kill(r);
    ck_abort_msg("redis-server on port %u did not answer PING within %d ms", r->port,
                 PT_REDIS_START_MS);
    return 0;
}

pt_redis_t *pt_redis_start(const char *password)
{
    pt_redis_t *r = calloc(1, sizeof(*r));
    int i, tries;

    ck_assert_ptr_nonnull(r);
    if (password) {
        ck_assert_uint_lt(strlen(password), sizeof(r->password));
        strcpy(r->password, password);
        r->has_password = 1;
    }
    for (i = 0; i < MAX_SERVERS && servers[i]; i++)
        ;
    ck_assert_msg(i < MAX_SERVERS, "too many redis-servers");
    servers[i] = r;
    if (!atexit_set) {
        atexit(kill_all);
        atexit_set = 1;
    }
    for (tries = 0; tries < 5; tries++) {
        r->port = free_port();
        if (spawn(r))
            return r;
    }
    ck_abort_msg("redis-server did not start (5 ports tried)");
    return NULL;
}

unsigned pt_redis_port(const pt_redis_t *r)
{
    return r->port;
}

int pt_redis_pid(const pt_redis_t *r)
{
    return (int) r->pid;
}

void pt_redis_kill(pt_redis_t *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
    r->paused = 0;
}

void pt_redis_stop(pt_redis_t *r)
{
    long deadline;

    if (r->pid <= 0)
        return;
    kill(r->pid, SIGCONT);
    kill(r->pid, SIGTERM);
    deadline = ms_now() + PT_REDIS_STOP_MS;
    while (ms_now() < deadline) {
        if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
            r->pid = 0;
            r->paused = 0;
            return;
        }
        pause_ms(2);
    }
    pt_redis_kill(r);
}

void pt_redis_restart(pt_redis_t *r)
{
    long deadline = ms_now() + PT_REDIS_START_MS;

    pt_redis_stop(r);
    /* the same port: another program may hold it for a moment (a client's
     * socket in TIME_WAIT does not stop Redis, SO_REUSEADDR) */
    while (!spawn(r)) {
        ck_assert_msg(ms_now() < deadline, "redis-server did not restart on port %u",
                      r->port);
        pause_ms(20);
    }
}

void pt_redis_pause(pt_redis_t *r)
{
    ck_assert_int_gt(r->pid, 0);
    ck_assert_int_eq(kill(r->pid, SIGSTOP), 0);
    r->paused = 1;
}

void pt_redis_resume(pt_redis_t *r)
{
    ck_assert_int_gt(r->pid, 0);
    ck_assert_int_eq(kill(r->pid, SIGCONT), 0);
    r->paused = 0;
}

void pt_redis_free(pt_redis_t *r)
{
    int i;

    if (!r)
        return;
    pt_redis_stop(r);
    for (i = 0; i < MAX_SERVERS; i++)
        if (servers[i] == r)
            servers[i] = NULL;
    free(r);
}

int pt_resp_command(const char *buf, size_t len, const char **arg, size_t *alen, int max,
                    size_t *used)
{
    const char *p = buf, *end = buf + len, *nl;
    int argc, i;

    if (len == 0 || !(nl = memchr(p, '\n', len)))
        return 0;
    ck_assert_msg(*p == '*', "a RESP command starts with '*', not %c", *p);
    argc = atoi(p + 1);
    ck_assert_int_ge(argc, 1);
    ck_assert_int_le(argc, max);
    p = nl + 1;
    for (i = 0; i < argc; i++) {
        nl = p < end ? memchr(p, '\n', (size_t) (end - p)) : NULL;
        if (!nl)
            return 0;                   /* not all of it yet */
        alen[i] = (size_t) atol(p + 1);
        arg[i] = nl + 1;
        if ((size_t) (end - arg[i]) < alen[i] + 2)
            return 0;
        p = arg[i] + alen[i] + 2;
    }
    *used = (size_t) (p - buf);
    return argc;
}
