/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_systemd.c - the daemon under a service manager, and its log:
 *   notify    a test-owned NOTIFY_SOCKET (an AF_UNIX datagram socket bound
 *             in a temporary directory, or an abstract one) receives every
 *             message of a start, a good reload, a bad reload and a stop;
 *             STATUS= follows the connections; a failed start says why;
 *             WATCHDOG=1 at half of WATCHDOG_USEC on the loop's fake clock,
 *             none for another WATCHDOG_PID; nothing without NOTIFY_SOCKET
 *   activate  sockets passed as LISTEN_FDS (a child process of this program
 *             puts them at descriptors 3 and 4) are adopted, kept across
 *             reloads, closed when no Listen line names them; pubsubd under
 *             systemd-socket-activate serves a client on the passed socket
 *             and keeps it across a reload
 *   units     systemd/pubsubd.service and pubsubd.socket pass
 *             systemd-analyze verify
 *   log       LogLevel debug shows debug lines (the default hides them);
 *             every stderr line has its time and level, also those of a
 *             generation switch; JOURNAL_STREAM gives <N> prefixes; a log
 *             file is reopened after a rename (pev_daemon_reopen_logs() and
 *             SIGUSR1); an EMFILE episode is logged once when it begins and
 *             once when it ends (in a child process with a low
 *             RLIMIT_NOFILE); configuration errors
 * Every wait has a deadline; everything is on 127.0.0.1.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <apr_strings.h>
#include <poolev.h>

#include "harness.h"

#ifndef PUBSUBD_PATH
#define PUBSUBD_PATH "../examples/pubsubd"
#endif
#ifndef UNITS_DIR
#define UNITS_DIR "../systemd"
#endif
#define SOCKET_ACTIVATE "/usr/bin/systemd-socket-activate"
#define SYSTEMD_ANALYZE "/usr/bin/systemd-analyze"

/* ======================================================================== */
/* Fixture: a temporary directory, a configuration file, a daemon pool       */

static char tmpdir[64];
static char conf_path[128];
static char log_path[128];
static apr_pool_t *dpool;
static int notify_fd = -1;
static pid_t child_pid;

/* pt_write_file() for the modes, which run without check: 0 or -1. */
static int mode_write_file(const char *path, const char *text)
{
    char tmp[256];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(f = fopen(tmp, "w")))
        return -1;
    if (fputs(text, f) < 0) {
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

static int file_has(const char *path, const char *needle)
{
    char *text = pt_slurp(path);
    int has = strstr(text, needle) != NULL;

    free(text);
    return has;
}

static void unset_all(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDNAMES");
    unsetenv("JOURNAL_STREAM");
}

static void setup(void)
{
    pt_setup();
    unset_all();
    strcpy(tmpdir, "/tmp/pev-systemd.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(conf_path, sizeof conf_path, "%s/test.conf", tmpdir);
    snprintf(log_path, sizeof log_path, "%s/log", tmpdir);
    dpool = pt_subpool(pt_pool);
    notify_fd = -1;
    child_pid = 0;
    pt_fake_now = 0;
    pt_fake_step = 0;
}

static void teardown(void)
{
    DIR *dir;
    struct dirent *e;
    char path[512];

    if (child_pid > 0) {
        kill(child_pid, SIGKILL);
        waitpid(child_pid, NULL, 0);
        child_pid = 0;
    }
    apr_pool_destroy(dpool);
    if (notify_fd >= 0)
        close(notify_fd);
    notify_fd = -1;
    unset_all();
    if ((dir = opendir(tmpdir)) != NULL) {
        while ((e = readdir(dir)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
            unlink(path);
        }
        closedir(dir);
    }
    rmdir(tmpdir);
    pt_teardown();
}

/* ======================================================================== */
/* A daemon with one module                                                  */

static const char *set_value(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    long v;

    (void) gen;
    (void) argc;
    return pev_parse_long(argv[1], 0, 100, mconf ? &v : &v);
}

static const pev_directive_t test_directives[] = {
    { "Value", 1, 1, set_value, "N" },
    { NULL, 0, 0, NULL, NULL }
};

static const pev_module_def_t test_def = { .name = "test", .conf_size = sizeof(long),
                                           .directives = test_directives };
static const pev_module_def_t *const test_modules[] = { &test_def, NULL };

static unsigned free_port(void);
static int stamped_as(const char *text, const char *name, long pid, const char *skip,
                      char *bad, size_t size);

/* A daemon reading the test's file (written with @a config). */
static pev_daemon_t *make_daemon(const char *config, int flags)
{
    pev_daemon_options_t o;
    pev_daemon_t *d;

    memset(&o, 0, sizeof o);
    o.name = "testd";
    o.modules = test_modules;
    o.config_file = conf_path;
    o.shutdown_grace = 200000;
    o.flags = flags | PEV_DAEMON_NO_LISTEN_OK;   /* some configurations list no address */
    pt_write_file(conf_path, config);
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_SUCCESS);
    return d;
}

/* ======================================================================== */
/* The notification socket                                                   */

/* Bind the test's NOTIFY_SOCKET: a path in the temporary directory, or an
 * abstract name; set the variable. */
static void notify_open(int abstract)
{
    struct sockaddr_un sa;
    char name[108];
    socklen_t len;

    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(notify_fd, 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (abstract) {
        snprintf(name, sizeof name, "@poolev-test-%ld-%ld", (long) getpid(),
                 (long) pev_clock_monotonic());
        memcpy(sa.sun_path, name, strlen(name));
        sa.sun_path[0] = '\0';
        len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(name));
    }
    else {
        snprintf(name, sizeof name, "%s/notify", tmpdir);
        strcpy(sa.sun_path, name);
        len = (socklen_t) sizeof sa;
    }
    ck_assert_msg(bind(notify_fd, (struct sockaddr *) &sa, len) == 0, "bind %s: %s", name,
                  strerror(errno));
    ck_assert_int_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
}

/* The next datagram within @a ms (static buffer), or NULL. */
static const char *notify_recv(long ms)
{
    static char buf[4096];
    struct pollfd p = { notify_fd, POLLIN, 0 };
    ssize_t n;

    if (poll(&p, 1, (int) ms) != 1)
        return NULL;
    n = recv(notify_fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return buf;
}

#define EXPECT_MSG(want) do {                                                \
        const char *got_ = notify_recv(PT_IO_MS);                            \
        ck_assert_msg(got_ && strcmp(got_, (want)) == 0, "expected '%s', got '%s'", \
                      (want), got_ ? got_ : "(nothing)");                    \
    } while (0)

#define EXPECT_NO_MSG() do {                                                 \
        const char *got_ = notify_recv(0);                                   \
        ck_assert_msg(!got_, "unexpected message '%s'", got_);               \
    } while (0)

static apr_uint64_t monotonic_usec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_uint64_t) ts.tv_sec * 1000000u + (apr_uint64_t) ts.tv_nsec / 1000u;
}

/* RELOADING=1 with a MONOTONIC_USEC between @a before and now. */
static void expect_reloading(apr_uint64_t before)
{
    const char *got = notify_recv(PT_IO_MS);
    unsigned long long usec = 0;
    char status[64];

    ck_assert_msg(got && sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%63[^\n]",
                                &usec, status) == 2, "expected RELOADING=1, got '%s'",
                  got ? got : "(nothing)");
    ck_assert_str_eq(status, "reloading");
    ck_assert_uint_ge(usec, before);
    ck_assert_uint_le(usec, monotonic_usec());
}

/* ======================================================================== */
/* notify                                                                    */

START_TEST(notify_start_reload_bad_reload_stop)
{
    pev_daemon_t *d;
    lc_client_t *c;
    const char *got;
    apr_uint64_t t0;

    notify_open(0);
    d = make_daemon("Listen 127.0.0.1:0\nValue 1\n", PEV_DAEMON_NO_SIGNALS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    EXPECT_MSG("READY=1\nSTATUS=generation 1 running, 0 connections, 0 accepted");
    /* read once, then gone from the environment: children do not inherit it */
    ck_assert_ptr_null(getenv("NOTIFY_SOCKET"));

    /* a good reload */
    pt_write_file(conf_path, "Listen 127.0.0.1:0\nValue 2\n");
    t0 = monotonic_usec();
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    expect_reloading(t0);
    EXPECT_MSG("READY=1\nSTATUS=generation 2 running, 0 connections, 0 accepted");

    /* a bad reload: generation 2 goes on */
    pt_write_file(conf_path, "Listen 127.0.0.1:0\nValue 2000\n");
    t0 = monotonic_usec();
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    expect_reloading(t0);
    got = notify_recv(PT_IO_MS);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(strncmp(got, "READY=1\nSTATUS=reload failed, generation 2 still running: ",
                          58) == 0 && strstr(got, "test.conf:2: Value: number out of range")
                  && !strchr(got + 16, '\n'), "got '%s'", got);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);

    /* a connection: STATUS= follows, within about a second */
    c = pt_client(pev_daemon_port(d, 0), 0);
    ck_assert_ptr_nonnull(c);
    /* the connection nobody took was closed: the STATUS= comes after the
     * close, and counts it as accepted */
    {
        long deadline = lc_now_ms() + PT_WAIT_MS;
        int seen = 0;

        while (!seen && lc_now_ms() < deadline) {
            ck_assert_int_eq(pev_daemon_run_once(d, 10000), APR_SUCCESS);
            got = notify_recv(0);
            if (got) {
                ck_assert_msg(strncmp(got, "STATUS=generation 2 running, ", 29) == 0,
                              "got '%s'", got);
                seen = strcmp(got, "STATUS=generation 2 running, 0 connections, 1 accepted")
                       == 0;
            }
        }
        ck_assert_msg(seen, "no STATUS= after the connection");
    }

    /* the stop */
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    EXPECT_MSG("STOPPING=1\nSTATUS=stopping");
    EXPECT_NO_MSG();
    apr_pool_destroy(dpool);
    dpool = pt_subpool(pt_pool);
    EXPECT_NO_MSG();
}
END_TEST

START_TEST(notify_abstract_socket)
{
    pev_daemon_t *d;

    notify_open(1);
    d = make_daemon("Listen 127.0.0.1:0\n", PEV_DAEMON_NO_SIGNALS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    EXPECT_MSG("READY=1\nSTATUS=generation 1 running, 0 connections, 0 accepted");
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    EXPECT_MSG("STOPPING=1\nSTATUS=stopping");
}
END_TEST

START_TEST(notify_failed_start_says_why)
{
    pev_daemon_t *d;
    const char *got;

    notify_open(0);
    d = make_daemon("Listen 127.0.0.1:0\nNoSuchDirective\n", PEV_DAEMON_NO_SIGNALS);
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
    got = notify_recv(PT_IO_MS);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(strncmp(got, "STATUS=start failed: ", 21) == 0
                  && strstr(got, "unknown directive 'NoSuchDirective'"), "got '%s'", got);
    EXPECT_NO_MSG();
}
END_TEST

/* Descriptors open in this process. */
static int count_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(dir);
    while ((e = readdir(dir)) != NULL)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

START_TEST(notify_nothing_without_socket)
{
    pev_daemon_t *d;
    int before = count_fds();

    /* the variables of another process, or a flag, change nothing */
    setenv("WATCHDOG_USEC", "1000", 1);
    d = make_daemon("Listen 127.0.0.1:0\n", PEV_DAEMON_NO_SIGNALS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 20000), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    apr_pool_destroy(dpool);
    dpool = pt_subpool(pt_pool);
    ck_assert_int_eq(count_fds(), before);

    /* PEV_DAEMON_NO_SYSTEMD: the variables stay, nothing is sent */
    notify_open(0);
    d = make_daemon("Listen 127.0.0.1:0\n", PEV_DAEMON_NO_SIGNALS | PEV_DAEMON_NO_SYSTEMD);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_ptr_nonnull(getenv("NOTIFY_SOCKET"));
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    EXPECT_NO_MSG();
}
END_TEST

/* Run @a d's loop on the fake clock up to @a to; the WATCHDOG=1 seen. */
static int watchdog_until(pev_daemon_t *d, apr_time_t to)
{
    const char *got;
    int n = 0;

    while (pt_fake_now < to) {
        pt_fake_now += 100000;
        ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
        while ((got = notify_recv(0)) != NULL) {
            ck_assert_str_eq(got, "WATCHDOG=1");
            n++;
        }
    }
    return n;
}

START_TEST(watchdog_at_half_the_period)
{
    pev_daemon_t *d;
    char pid[32];
    apr_time_t t0 = APR_TIME_C(1000000000);

    notify_open(0);
    setenv("WATCHDOG_USEC", "10000000", 1);
    snprintf(pid, sizeof pid, "%ld", (long) getpid());
    setenv("WATCHDOG_PID", pid, 1);
    d = make_daemon("Listen 127.0.0.1:0\n", PEV_DAEMON_NO_SIGNALS);
    pt_fake_now = t0;
    ck_assert_int_eq(pev_loop_set_clock(pev_daemon_loop(d), pt_fake_clock, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    EXPECT_MSG("READY=1\nSTATUS=generation 1 running, 0 connections, 0 accepted");
    ck_assert_ptr_null(getenv("WATCHDOG_USEC"));
    ck_assert_ptr_null(getenv("WATCHDOG_PID"));
    /* every 5 s: none before the first 5 s, then one per 5 s */
    ck_assert_int_eq(watchdog_until(d, t0 + 4900000), 0);
    ck_assert_int_eq(watchdog_until(d, t0 + 5000000), 1);
    ck_assert_int_eq(watchdog_until(d, t0 + 9900000), 0);
    ck_assert_int_eq(watchdog_until(d, t0 + 10000000), 1);
    ck_assert_int_eq(watchdog_until(d, t0 + 60000000), 10);
    /* a restart keeps the period */
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(notify_recv(PT_IO_MS), "RELOADING=1"));
    ck_assert_ptr_nonnull(strstr(notify_recv(PT_IO_MS), "READY=1"));
    ck_assert_int_eq(watchdog_until(d, t0 + 70000000), 2);
}
END_TEST

START_TEST(watchdog_for_another_pid)
{
    pev_daemon_t *d;

    notify_open(0);
    setenv("WATCHDOG_USEC", "1000000", 1);
    setenv("WATCHDOG_PID", "1", 1);
    d = make_daemon("Listen 127.0.0.1:0\n", PEV_DAEMON_NO_SIGNALS);
    pt_fake_now = APR_TIME_C(1000000000);
    ck_assert_int_eq(pev_loop_set_clock(pev_daemon_loop(d), pt_fake_clock, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    EXPECT_MSG("READY=1\nSTATUS=generation 1 running, 0 connections, 0 accepted");
    ck_assert_int_eq(watchdog_until(d, pt_fake_now + 10000000), 0);
}
END_TEST

/* pubsubd as a child: the signals' way, and the watchdog in real time ---- */

static pid_t spawn(const char *const argv[], const char *out);
static int wait_exit(pid_t pid, long ms, int *status);
static void wait_for(const char *path, const char *needle, int times);

/* The next message that is not WATCHDOG=1, counting those in @a pings. */
static const char *next_but_pings(int *pings)
{
    long deadline = lc_now_ms() + PT_WAIT_MS;
    const char *got;

    while (lc_now_ms() < deadline)
        if ((got = notify_recv(100)) != NULL) {
            if (strcmp(got, "WATCHDOG=1") != 0)
                return got;
            (*pings)++;
        }
    return NULL;
}

START_TEST(pubsubd_notifies)
{
    const char *argv[4];
    char out[160], conf[128];
    const char *got;
    long t0;
    int pings = 0, status;

    notify_open(0);
    /* a ping every 100 ms */
    setenv("WATCHDOG_USEC", "200000", 1);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nStatsInterval off\n");
    pt_write_file(conf_path, conf);
    snprintf(out, sizeof out, "%s/out", tmpdir);
    argv[0] = PUBSUBD_PATH;
    argv[1] = "-f";
    argv[2] = conf_path;
    argv[3] = NULL;
    child_pid = spawn(argv, out);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    got = next_but_pings(&pings);
    ck_assert_msg(got && strcmp(got, "READY=1\nSTATUS=generation 1 running, 0 connections, "
                                "0 accepted") == 0, "got '%s'", got ? got : "(nothing)");
    /* about ten pings in a second: a bound, not a timing */
    pings = 0;
    t0 = lc_now_ms();
    while (lc_now_ms() - t0 < 1000)
        if ((got = notify_recv(100)) != NULL) {
            ck_assert_str_eq(got, "WATCHDOG=1");
            pings++;
        }
    ck_assert_msg(pings >= 3 && pings <= 40, "%d pings in a second", pings);
    /* SIGHUP: a good reload, then a bad one */
    ck_assert_int_eq(kill(child_pid, SIGHUP), 0);
    got = next_but_pings(&pings);
    ck_assert_msg(got && strncmp(got, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0, "got '%s'",
                  got ? got : "(nothing)");
    got = next_but_pings(&pings);
    ck_assert_msg(got && strcmp(got, "READY=1\nSTATUS=generation 2 running, 0 connections, "
                                "0 accepted") == 0, "got '%s'", got ? got : "(nothing)");
    pt_write_file(conf_path, "Listen 127.0.0.1:0\nMaxLine 1\n");
    ck_assert_int_eq(kill(child_pid, SIGHUP), 0);
    got = next_but_pings(&pings);
    ck_assert_msg(got && strncmp(got, "RELOADING=1\n", 12) == 0, "got '%s'",
                  got ? got : "(nothing)");
    got = next_but_pings(&pings);
    ck_assert_msg(got && strncmp(got, "READY=1\nSTATUS=reload failed, generation 2 still "
                                 "running: ", 58) == 0 && strstr(got, "MaxLine"), "got '%s'",
                  got ? got : "(nothing)");
    /* SIGTERM */
    ck_assert_int_eq(kill(child_pid, SIGTERM), 0);
    got = next_but_pings(&pings);
    ck_assert_msg(got && strcmp(got, "STOPPING=1\nSTATUS=stopping") == 0, "got '%s'",
                  got ? got : "(nothing)");
    ck_assert_int_eq(wait_exit(child_pid, PT_WAIT_MS, &status), 1);
    child_pid = 0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    wait_for(out, "info: stopped", 1);
}
END_TEST

/* ======================================================================== */
/* activate                                                                  */

/* A listening socket on 127.0.0.1 (port 0: any), at descriptor @a at. */
static int listener_at(int at, unsigned *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *) &sa, sizeof sa) != 0 || listen(fd, 16) != 0
        || getsockname(fd, (struct sockaddr *) &sa, &len) != 0)
        return -1;
    *port = ntohs(sa.sin_port);
    if (at >= 0 && fd != at) {
        if (dup2(fd, at) != at)
            return -1;
        close(fd);
        fd = at;
    }
    return fd;
}

static ino_t fd_inode(int fd)
{
    struct stat sb;

    return fstat(fd, &sb) == 0 ? sb.st_ino : 0;
}

/* The descriptors open on the socket (or file) of inode @a ino. */
static int fds_on(ino_t ino)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!dir)
        return -1;
    while ((e = readdir(dir)) != NULL) {
        int fd = atoi(e->d_name);

        struct stat sb;

        if (e->d_name[0] != '.' && fd != dirfd(dir) && fstat(fd, &sb) == 0
            && S_ISSOCK(sb.st_mode) && sb.st_ino == ino)
            n++;
    }
    closedir(dir);
    return n;
}

/* A line from a client of an in-process daemon. */
static int served(pev_daemon_t *d, unsigned port)
{
    lc_client_t *c = lc_connect(port, 0);
    long deadline = lc_now_ms() + PT_WAIT_MS;
    int ok = 0;

    if (!c)
        return 0;
    /* the test module takes no connection: the daemon closes it, which the
     * client sees as the end of input */
    while (lc_now_ms() < deadline && !ok) {
        if (pev_daemon_run_once(d, 10000) != APR_SUCCESS)
            break;
        ok = lc_ready(c, 0) && c->eof;
    }
    lc_free(c);
    return ok && pev_daemon_connections(d) == 0;
}

/* The child: descriptors 3 and 4 are passed sockets; a daemon adopts them
 * as its Listen lines come and go. */
static int mode_activate(void)
{
    apr_pool_t *pool;
    pev_daemon_t *d;
    pev_daemon_options_t o;
    unsigned p3, p4;
    ino_t i3;
    char pid[32], conf[512], path[256];
    const char *dir = getenv("PEV_TEST_DIR");

    PT_MODE_CHECK(dir != NULL);
    PT_MODE_CHECK(apr_initialize() == APR_SUCCESS);
    PT_MODE_CHECK(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    PT_MODE_CHECK(listener_at(3, &p3) == 3);
    PT_MODE_CHECK(listener_at(4, &p4) == 4);
    /* not a listening socket: ignored, left alone */
    PT_MODE_CHECK(dup2(0, 5) == 5);
    i3 = fd_inode(3);
    snprintf(pid, sizeof pid, "%ld", (long) getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "3", 1);
    setenv("LISTEN_FDNAMES", "one:two:three", 1);
    snprintf(path, sizeof path, "%s/test.conf", dir);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:%u\nLogFile %s/log\n", p3, dir);
    PT_MODE_CHECK(mode_write_file(path, conf) == 0);
    memset(&o, 0, sizeof o);
    o.name = "testd";
    o.modules = test_modules;
    o.config_file = path;
    o.flags = PEV_DAEMON_NO_SIGNALS;
    PT_MODE_CHECK(pev_daemon_create(&d, &o, pool) == APR_SUCCESS);
    PT_MODE_CHECK(pev_daemon_start(d) == APR_SUCCESS);
    PT_MODE_CHECK(getenv("LISTEN_FDS") == NULL && getenv("LISTEN_PID") == NULL
                  && getenv("LISTEN_FDNAMES") == NULL);
    PT_MODE_CHECK(pev_daemon_port(d, 0) == p3);
    /* the listening socket is a duplicate of the passed one */
    PT_MODE_CHECK(fd_inode(3) == i3 && fds_on(i3) == 2);
    PT_MODE_CHECK(fcntl(3, F_GETFD) & FD_CLOEXEC);
    PT_MODE_CHECK(fcntl(4, F_GETFD) & FD_CLOEXEC);       /* unused, kept */
    PT_MODE_CHECK(fcntl(5, F_GETFD) >= 0);
    PT_MODE_CHECK(served(d, p3));
    /* a reload that still lists it keeps it */
    PT_MODE_CHECK(pev_daemon_restart(d) == APR_SUCCESS);
    PT_MODE_CHECK(pev_daemon_run_once(d, 0) == APR_SUCCESS);
    PT_MODE_CHECK(pev_gen_number(pev_daemon_gen(d)) == 2);
    PT_MODE_CHECK(fds_on(i3) == 2 && pev_daemon_port(d, 0) == p3);
    PT_MODE_CHECK(served(d, p3));
    /* a reload that adds the second one's address adopts it: no bind, so
     * no "address in use" */
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:%u\nListen 127.0.0.1:%u\nLogFile %s/log\n",
             p3, p4, dir);
    PT_MODE_CHECK(mode_write_file(path, conf) == 0);
    PT_MODE_CHECK(pev_daemon_restart(d) == APR_SUCCESS);
    PT_MODE_CHECK(pev_daemon_run_once(d, 0) == APR_SUCCESS);
    PT_MODE_CHECK(pev_gen_number(pev_daemon_gen(d)) == 3);
    PT_MODE_CHECK(pev_daemon_port(d, 1) == p4 && fds_on(fd_inode(4)) == 2);
    PT_MODE_CHECK(served(d, p4));
    /* a reload without the first closes the daemon's duplicate; the passed
     * socket stays, unused */
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:%u\nLogFile %s/log\n", p4, dir);
    PT_MODE_CHECK(mode_write_file(path, conf) == 0);
    PT_MODE_CHECK(pev_daemon_restart(d) == APR_SUCCESS);
    PT_MODE_CHECK(pev_daemon_run_once(d, 0) == APR_SUCCESS);
    PT_MODE_CHECK(pev_gen_number(pev_daemon_gen(d)) == 4);
    PT_MODE_CHECK(fds_on(i3) == 1 && fcntl(3, F_GETFD) >= 0);
    PT_MODE_CHECK(pev_daemon_port(d, 1) == 0);
    PT_MODE_CHECK(served(d, p4));
    /* listed again, it is adopted again (a bind would find it in use) */
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:%u\nListen 127.0.0.1:%u\nLogFile %s/log\n",
             p4, p3, dir);
    PT_MODE_CHECK(mode_write_file(path, conf) == 0);
    PT_MODE_CHECK(pev_daemon_restart(d) == APR_SUCCESS);
    PT_MODE_CHECK(pev_daemon_run_once(d, 0) == APR_SUCCESS);
    PT_MODE_CHECK(pev_gen_number(pev_daemon_gen(d)) == 5);
    PT_MODE_CHECK(fds_on(i3) == 2 && pev_daemon_port(d, 1) == p3);
    PT_MODE_CHECK(served(d, p3));
    /* the stop closes the listening sockets; the passed ones go with the
     * daemon's pool */
    PT_MODE_CHECK(pev_daemon_stop(d) == APR_SUCCESS);
    PT_MODE_CHECK(pev_daemon_run_once(d, 0) == APR_SUCCESS);
    PT_MODE_CHECK(fds_on(i3) == 1);
    apr_pool_destroy(pool);
    PT_MODE_CHECK(fcntl(3, F_GETFD) == -1 && errno == EBADF);
    PT_MODE_CHECK(fcntl(4, F_GETFD) == -1 && errno == EBADF);
    PT_MODE_CHECK(fcntl(5, F_GETFD) >= 0);               /* never ours */
    apr_terminate();
    return 0;
}

START_TEST(activate_adopts_passed_sockets)
{
    char *log;

    setenv("PEV_TEST_DIR", tmpdir, 1);
    ck_assert_int_eq(pt_run_self("activate"), 0);
    unsetenv("PEV_TEST_DIR");
    log = pt_slurp(log_path);
    ck_assert_msg(strstr(log, ": adopted passed socket 3 \"one\" (127.0.0.1:")
                  && strstr(log, "passed socket 4 \"two\" (127.0.0.1:")
                  && strstr(log, "matches no Listen address: kept unused")
                  && strstr(log, ": adopted passed socket 4 \"two\"")
                  && pt_count(log, ": adopted passed socket 3 \"one\"") == 2
                  && !strstr(log, "in use"), "log:\n%s", log);
    free(log);
}
END_TEST

/* pubsubd under systemd-socket-activate ---------------------------------- */

static pid_t spawn(const char *const argv[], const char *out)
{
    pid_t pid;
    int fd;

    fflush(NULL);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        if ((fd = open("/dev/null", O_RDONLY)) >= 0)
            dup2(fd, 0);
        if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *) argv);
        _exit(127);
    }
    return pid;
}

static void wait_for(const char *path, const char *needle, int times)
{
    long deadline = lc_now_ms() + PT_WAIT_MS;
    char *text;

    for (;;) {
        text = pt_slurp(path);
        if (pt_count(text, needle) >= times)
            break;
        if (lc_now_ms() > deadline)
            ck_abort_msg("no '%s' (x%d) in %s after %d ms:\n%s", needle, times, path,
                         PT_WAIT_MS, text);
        free(text);
        lc_sleep_ms(5);
    }
    free(text);
}

static int wait_exit(pid_t pid, long ms, int *status)
{
    long deadline = lc_now_ms() + ms;

    do {
        if (waitpid(pid, status, WNOHANG) == pid)
            return 1;
        lc_sleep_ms(5);
    } while (lc_now_ms() < deadline);
    return 0;
}

static unsigned free_port(void)
{
    unsigned port = 0;
    int fd = listener_at(-1, &port);

    ck_assert_int_ge(fd, 0);
    close(fd);
    return port;
}

static char fd3_link[256];

static const char *fd3_of(pid_t pid)
{
    char path[64];
    ssize_t n;

    snprintf(path, sizeof path, "/proc/%ld/fd/3", (long) pid);
    n = readlink(path, fd3_link, sizeof fd3_link - 1);
    fd3_link[n > 0 ? n : 0] = '\0';
    return fd3_link;
}

START_TEST(pubsubd_under_socket_activate)
{
    char addr[64], conf[256], out[160], before[256];
    const char *argv[9];
    lc_client_t *c;
    unsigned port;
    int status;
    char *text;

    if (access(SOCKET_ACTIVATE, X_OK) != 0) {
        fprintf(stderr, "check_systemd: no %s, skipped\n", SOCKET_ACTIVATE);
        return;
    }
    port = free_port();
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    snprintf(conf, sizeof conf, "Listen %s\nLogLevel debug\nStatsInterval off\n", addr);
    pt_write_file(conf_path, conf);
    snprintf(out, sizeof out, "%s/out", tmpdir);
    argv[0] = SOCKET_ACTIVATE;
    argv[1] = "-l";
    argv[2] = addr;
    argv[3] = "--fdname=pubsub";
    argv[4] = PUBSUBD_PATH;
    argv[5] = "-f";
    argv[6] = conf_path;
    argv[7] = NULL;
    child_pid = spawn(argv, out);
    wait_for(out, "Listening on", 1);
    /* the first connection starts pubsubd (in the same process) on the
     * passed socket, and is served */
    c = pt_client(port, 0);
    ck_assert_ptr_nonnull(c);
    PT_EXPECT(c, "+OK pubsubd ready");
    PT_ASK(c, "PING one", "+PONG one");
    wait_for(out, "generation 1 ready", 1);
    text = pt_slurp(out);
    ck_assert_msg(strstr(text, "adopted passed socket 3 \"pubsub\"")
                  && !strstr(text, "in use") && !strstr(text, "kept unused"), "log:\n%s",
                  text);
    free(text);
    strcpy(before, fd3_of(child_pid));
    ck_assert_msg(strncmp(before, "socket:", 7) == 0, "fd 3: %s", before);
    /* a reload keeps the same socket */
    ck_assert_int_eq(kill(child_pid, SIGHUP), 0);
    wait_for(out, "generation 2 ready", 1);
    ck_assert_str_eq(fd3_of(child_pid), before);
    pt_client_free(c);
    c = pt_client(port, 0);
    ck_assert_ptr_nonnull(c);
    PT_EXPECT(c, "+OK pubsubd ready");
    PT_ASK(c, "PING two", "+PONG two");
    text = pt_slurp(out);
    ck_assert_msg(!strstr(text, "in use") && !strstr(text, "closed 127.0.0.1"), "log:\n%s",
                  text);
    free(text);
    ck_assert_int_eq(kill(child_pid, SIGTERM), 0);
    ck_assert_int_eq(wait_exit(child_pid, PT_WAIT_MS, &status), 1);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    /* pubsubd's lines, the reload's included, have their time and level (the
     * others are systemd-socket-activate's) */
    text = pt_slurp(out);
    {
        static const char *const theirs[] = { "Listening on ", "Communication attempt",
                                              "Execing " };
        char bad[512], *mine = calloc(1, strlen(text) + 1), *line, *next;
        unsigned i;

        ck_assert_ptr_nonnull(mine);
        for (line = text; *line; line = next) {
            int skip = 0;

            next = strchr(line, '\n');
            next = next ? next + 1 : line + strlen(line);
            for (i = 0; i < 3; i++)
                skip |= strncmp(line, theirs[i], strlen(theirs[i])) == 0;
            if (!skip)
                strncat(mine, line, (size_t) (next - line));
        }
        ck_assert_msg(stamped_as(mine, "pubsubd", (long) child_pid, NULL, bad, sizeof bad),
                      "line without time or level: %s", bad);
        /* the socket closes at the stop, not before */
        ck_assert_msg(strstr(mine, "SIGTERM: stopping") && strstr(mine, "info: stopped")
                      && strstr(mine, "info: closed ") > strstr(mine, "SIGTERM: stopping"),
                      "log:\n%s", mine);
        free(mine);
    }
    free(text);
    child_pid = 0;
}
END_TEST

/* ======================================================================== */
/* units                                                                     */

/* Copy the unit @a name with ExecStart pointing at the built pubsubd. */
static void unit_copy(const char *name, char *to, size_t size)
{
    char from[256], *text, *out, *line, *next;
    size_t cap;
    FILE *f;

    snprintf(from, sizeof from, "%s/%s", UNITS_DIR, name);
    text = pt_slurp(from);
    ck_assert_msg(*text, "%s: missing or empty (make builds it)", from);
    cap = strlen(text) + 1024;
    out = calloc(1, cap);
    ck_assert_ptr_nonnull(out);
    for (line = text; *line; line = next) {
        next = strchr(line, '\n');
        next = next ? next + 1 : line + strlen(line);
        if (strncmp(line, "ExecStart=", 10) == 0) {
            const char *args = strstr(line, " ");

            snprintf(out + strlen(out), cap - strlen(out), "ExecStart=%s%.*s", PUBSUBD_PATH,
                     (int) (next - args), args);
        }
        else
            snprintf(out + strlen(out), cap - strlen(out), "%.*s", (int) (next - line), line);
    }
    snprintf(to, size, "%s/%s", tmpdir, name);
    f = fopen(to, "w");
    ck_assert_ptr_nonnull(f);
    fputs(out, f);
    fclose(f);
    free(out);
    free(text);
}

START_TEST(units_verify)
{
    char service[256], sock[256], out[160];
    const char *argv[6];
    int status;
    char *text;

    if (access(SYSTEMD_ANALYZE, X_OK) != 0) {
        fprintf(stderr, "check_systemd: no %s, skipped\n", SYSTEMD_ANALYZE);
        return;
    }
    unit_copy("pubsubd.service", service, sizeof service);
    unit_copy("pubsubd.socket", sock, sizeof sock);
    text = pt_slurp(service);
    ck_assert_msg(strstr(text, "Type=notify\n") && strstr(text, "ExecReload=")
                  && !strstr(text, "@"), "%s", text);
    free(text);
    snprintf(out, sizeof out, "%s/verify", tmpdir);
    argv[0] = SYSTEMD_ANALYZE;
    argv[1] = "verify";
    argv[2] = "--man=no";
    argv[3] = service;
    argv[4] = sock;
    argv[5] = NULL;
    child_pid = spawn(argv, out);
    ck_assert_int_eq(wait_exit(child_pid, 30000, &status), 1);
    child_pid = 0;
    text = pt_slurp(out);
    /* warnings about the units come out on stderr with a zero status */
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 && !strstr(text, "pubsubd"),
                  "systemd-analyze verify: status %d:\n%s", status, text);
    free(text);
}
END_TEST

/* ======================================================================== */
/* log                                                                       */

/* Whether every line of @a text starts "YYYY-MM-DD HH:MM:SS.mmm NAME[PID] LEVEL: "
 * (but those starting with @a skip, if not NULL); the first that does not in
 * @a bad. */
static int stamped_as(const char *text, const char *name, long pid, const char *skip,
                      char *bad, size_t size)
{
    char prefix[64];
    const char *line, *next;

    snprintf(prefix, sizeof prefix, " %s[%ld] ", name, pid);
    for (line = text; *line; line = next) {
        int y, mo, da, h, mi, s, ms, n = 0;

        next = strchr(line, '\n');
        next = next ? next + 1 : line + strlen(line);
        if (skip && strncmp(line, skip, strlen(skip)) == 0)
            continue;
        if (sscanf(line, "%4d-%2d-%2d %2d:%2d:%2d.%3d%n", &y, &mo, &da, &h, &mi, &s, &ms, &n)
                != 7 || n != 23 || strncmp(line + 23, prefix, strlen(prefix)) != 0
            || (strncmp(line + 23 + strlen(prefix), "error: ", 7) != 0
                && strncmp(line + 23 + strlen(prefix), "warn: ", 6) != 0
                && strncmp(line + 23 + strlen(prefix), "info: ", 6) != 0
                && strncmp(line + 23 + strlen(prefix), "debug: ", 7) != 0)) {
            snprintf(bad, size, "%.*s", (int) (next - line), line);
            return 0;
        }
    }
    return 1;
}

static int all_stamped(const char *text, char *bad, size_t size)
{
    return stamped_as(text, "testd", (long) getpid(), NULL, bad, size);
}

START_TEST(log_level_debug_and_default)
{
    pev_daemon_t *d;
    char conf[512], bad[512];
    char *text;

    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nLogFile %s\n", log_path);
    d = make_daemon(conf, PEV_DAEMON_NO_SIGNALS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    pev_daemon_log(d, PEV_LOG_DEBUG, "a debug line");
    pev_daemon_log(d, PEV_LOG_INFO, "an info line");
    ck_assert(!file_has(log_path, "a debug line"));
    ck_assert(file_has(log_path, "info: an info line"));
    /* LogLevel debug, on a reload: the daemon's own debug lines too */
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nLogFile %s\nLogLevel debug\n", log_path);
    pt_write_file(conf_path, conf);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    pev_daemon_log(d, PEV_LOG_DEBUG, "a debug line");
    ck_assert(served(d, pev_daemon_port(d, 0)));
    text = pt_slurp(log_path);
    ck_assert_msg(strstr(text, "debug: a debug line")
                  && strstr(text, "debug: connection 1 from 127.0.0.1:")
                  && strstr(text, "info: generation 2 running"), "log:\n%s", text);
    ck_assert_msg(all_stamped(text, bad, sizeof bad), "line without time or level: %s", bad);
    free(text);
    /* LogLevel error: the rest is dropped */
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nLogFile %s\nLogLevel error\n", log_path);
    pt_write_file(conf_path, conf);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    pev_daemon_log(d, PEV_LOG_WARN, "a warning");
    pev_daemon_log(d, PEV_LOG_ERROR, "an error");
    ck_assert(!file_has(log_path, "a warning"));
    ck_assert(file_has(log_path, "error: an error"));
}
END_TEST

/* Send stderr to @a path (returns the saved descriptor). */
static int stderr_to(const char *path)
{
    int saved, fd;

    fflush(stderr);
    saved = dup(2);
    ck_assert_int_ge(saved, 0);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(dup2(fd, 2), 2);
    close(fd);
    return saved;
}

static void stderr_back(int saved)
{
    fflush(stderr);
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
}

START_TEST(log_stderr_lines_have_time_and_level)
{
    pev_daemon_t *d;
    char err[160], bad[512];
    char *text;
    int saved;

    snprintf(err, sizeof err, "%s/stderr", tmpdir);
    saved = stderr_to(err);
    d = make_daemon("Listen 127.0.0.1:0\n", PEV_DAEMON_NO_SIGNALS);
    /* also before the start, and through a generation switch that closes a
     * socket */
    pev_daemon_log(d, PEV_LOG_WARN, "before the start");
    if (pev_daemon_start(d) == APR_SUCCESS) {
        char conf[64];

        snprintf(conf, sizeof conf, "Listen 127.0.0.1:%u\n", free_port());
        pt_write_file(conf_path, conf);
        (void) pev_daemon_restart(d);
        (void) pev_daemon_run_once(d, 0);
        (void) pev_daemon_stop(d);
        (void) pev_daemon_run_once(d, 0);
    }
    stderr_back(saved);
    text = pt_slurp(err);
    ck_assert_msg(strstr(text, "warn: before the start") && strstr(text, "info: closed ")
                  && strstr(text, "info: generation 2 running")
                  && strstr(text, "info: stopped"), "stderr:\n%s", text);
    ck_assert_msg(all_stamped(text, bad, sizeof bad), "line without time or level: %s", bad);
    free(text);
}
END_TEST

START_TEST(log_journal_prefixes)
{
    pev_daemon_t *d;
    char err[160], js[64];
    struct stat sb;
    char *text;
    int saved;

    snprintf(err, sizeof err, "%s/stderr", tmpdir);
    saved = stderr_to(err);
    ck_assert_int_eq(fstat(2, &sb), 0);
    snprintf(js, sizeof js, "%llu:%llu", (unsigned long long) sb.st_dev,
             (unsigned long long) sb.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    d = make_daemon("Listen 127.0.0.1:0\nLogLevel debug\n", PEV_DAEMON_NO_SIGNALS);
    if (pev_daemon_start(d) == APR_SUCCESS) {
        pev_daemon_log(d, PEV_LOG_ERROR, "e");
        pev_daemon_log(d, PEV_LOG_WARN, "w");
        pev_daemon_log(d, PEV_LOG_INFO, "i");
        pev_daemon_log(d, PEV_LOG_DEBUG, "d");
    }
    /* another stream: no prefixes */
    setenv("JOURNAL_STREAM", "1:1", 1);
    pt_write_file(conf_path, "Listen 127.0.0.1:0\n");
    (void) pev_daemon_restart(d);
    (void) pev_daemon_run_once(d, 0);
    pev_daemon_log(d, PEV_LOG_INFO, "plain");
    stderr_back(saved);
    text = pt_slurp(err);
    ck_assert_msg(strstr(text, "\n<3>error: e\n<4>warn: w\n<6>i\n<7>d\n")
                  && strstr(text, "<6>listening on 127.0.0.1:")
                  && strstr(text, " testd[") && strstr(text, "] info: plain\n")
                  && !strstr(text, "<6>plain"), "stderr:\n%s", text);
    free(text);
}
END_TEST

START_TEST(log_file_reopened)
{
    pev_daemon_t *d;
    char conf[512], rotated[160];
    char *text;

    snprintf(rotated, sizeof rotated, "%s.1", log_path);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nLogTarget file %s\n", log_path);
    /* with its signals: SIGUSR1 */
    d = make_daemon(conf, 0);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    pev_daemon_log(d, PEV_LOG_INFO, "line one");
    ck_assert_int_eq(rename(log_path, rotated), 0);
    pev_daemon_log(d, PEV_LOG_INFO, "line two");       /* still the old file */
    ck_assert_int_eq(pev_daemon_reopen_logs(d), APR_SUCCESS);
    pev_daemon_log(d, PEV_LOG_INFO, "line three");
    text = pt_slurp(rotated);
    ck_assert_msg(strstr(text, "line one") && strstr(text, "line two")
                  && !strstr(text, "line three"), "%s:\n%s", rotated, text);
    free(text);
    ck_assert(file_has(log_path, "line three"));
    ck_assert(file_has(log_path, "log file "));
    /* SIGUSR1, after logrotate's rename */
    ck_assert_int_eq(unlink(rotated), 0);
    ck_assert_int_eq(rename(log_path, rotated), 0);
    ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
    PT_DAEMON_UNTIL(d, access(log_path, F_OK) == 0);
    pev_daemon_log(d, PEV_LOG_INFO, "line four");
    ck_assert(file_has(log_path, "line four"));
    ck_assert(!file_has(rotated, "line four"));
    /* a file that cannot be opened: the old one stays */
    ck_assert_int_eq(unlink(rotated), 0);
    ck_assert_int_eq(rename(log_path, rotated), 0);
    ck_assert_int_eq(mkdir(log_path, 0700), 0);
    ck_assert_int_ne(pev_daemon_reopen_logs(d), APR_SUCCESS);
    ck_assert(file_has(rotated, "cannot reopen the log file"));
    ck_assert_int_eq(rmdir(log_path), 0);
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_int_eq(unlink(rotated), 0);
}
END_TEST

START_TEST(log_file_errors)
{
    pev_daemon_t *d;
    char conf[512], bad[160];

    /* a start with a log file that cannot be opened fails, and says why */
    snprintf(bad, sizeof bad, "%s/no/such/dir/log", tmpdir);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nLogFile %s\n", bad);
    d = make_daemon(conf, PEV_DAEMON_NO_SIGNALS);
    ck_assert_int_ne(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_msg(strstr(pev_daemon_error(d), "cannot open the log file")
                  && strstr(pev_daemon_error(d), bad), "%s", pev_daemon_error(d));
    /* a reload to one fails, and the old file keeps the messages */
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nLogFile %s\n", log_path);
    d = make_daemon(conf, PEV_DAEMON_NO_SIGNALS);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nLogFile %s\n", bad);
    pt_write_file(conf_path, conf);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    ck_assert(file_has(log_path, "reload failed, keeping generation 1: cannot open the log"));
}
END_TEST

static void expect_config_error(const char *config, const char *msg)
{
    pev_daemon_t *d = make_daemon(config, PEV_DAEMON_NO_SIGNALS);

    ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);
    ck_assert_msg(strstr(pev_daemon_error(d), msg), "error '%s', expected '%s'",
                  pev_daemon_error(d), msg);
}

START_TEST(log_directives)
{
    pev_daemon_t *d;

    expect_config_error("LogLevel loud\n", "test.conf:1: LogLevel: expects error, warn");
    expect_config_error("LogTarget\n", "LogTarget takes 1 to 2 arguments");
    expect_config_error("LogTarget console\n", "expects stderr, syslog [FACILITY] or file");
    expect_config_error("LogTarget syslog kernel\n", "unknown syslog facility");
    expect_config_error("LogTarget file\n", "file needs a PATH");
    expect_config_error("LogTarget stderr x\n", "stderr takes no argument");
    expect_config_error("LogFile \"\"\n", "LogFile: expects a PATH");
    d = make_daemon("LogLevel WARNING\nLogTarget syslog local3\nLogTarget stderr\n"
                    "LogLevel debug\nLogTarget syslog\n", PEV_DAEMON_NO_SIGNALS);
    ck_assert_int_eq(pev_daemon_check_config(d), APR_SUCCESS);
    /* syslog: nothing on stderr */
    {
        char err[160];
        int saved;
        char *text;

        snprintf(err, sizeof err, "%s/stderr", tmpdir);
        saved = stderr_to(err);
        d = make_daemon("Listen 127.0.0.1:0\nLogTarget syslog local7\nLogLevel error\n",
                        PEV_DAEMON_NO_SIGNALS);
        ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
        pev_daemon_log(d, PEV_LOG_INFO, "dropped by the level");
        ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
        ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
        stderr_back(saved);
        text = pt_slurp(err);
        ck_assert_msg(*text == '\0', "stderr:\n%s", text);
        free(text);
    }
}
END_TEST

/* The child: a daemon whose accept runs out of descriptors for about half a
 * second; its log goes to PEV_TEST_DIR/log. */
static int mode_emfile(void)
{
    apr_pool_t *pool;
    pev_daemon_t *d;
    pev_daemon_options_t o;
    struct rlimit saved, low;
    lc_client_t *c;
    char conf[512], path[256];
    const char *dir = getenv("PEV_TEST_DIR");
    long t0, deadline;
    int fd;

    PT_MODE_CHECK(dir != NULL);
    PT_MODE_CHECK(apr_initialize() == APR_SUCCESS);
    PT_MODE_CHECK(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    snprintf(path, sizeof path, "%s/test.conf", dir);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nLogFile %s/log\n", dir);
    PT_MODE_CHECK(mode_write_file(path, conf) == 0);
    memset(&o, 0, sizeof o);
    o.name = "testd";
    o.modules = test_modules;
    o.config_file = path;
    o.flags = PEV_DAEMON_NO_SIGNALS;
    PT_MODE_CHECK(pev_daemon_create(&d, &o, pool) == APR_SUCCESS);
    PT_MODE_CHECK(pev_daemon_start(d) == APR_SUCCESS);
    c = lc_connect(pev_daemon_port(d, 0), 0);
    PT_MODE_CHECK(c != NULL);
    /* the lowest free descriptor becomes the limit: accept gets EMFILE */
    PT_MODE_CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    fd = dup(0);
    PT_MODE_CHECK(fd >= 0);
    close(fd);
    low = saved;
    low.rlim_cur = (rlim_t) fd;
    PT_MODE_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    t0 = lc_now_ms();
    while (lc_now_ms() - t0 < 550)
        PT_MODE_CHECK(pev_daemon_run_once(d, 10000) == APR_SUCCESS);
    PT_MODE_CHECK(pev_daemon_connections(d) == 0);
    PT_MODE_CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    /* the waiting connection is taken at the next retry */
    deadline = lc_now_ms() + PT_WAIT_MS;
    while (lc_now_ms() < deadline && !(lc_ready(c, 0) && c->eof))
        PT_MODE_CHECK(pev_daemon_run_once(d, 10000) == APR_SUCCESS);
    PT_MODE_CHECK(c->eof);
    lc_free(c);
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}

START_TEST(log_emfile_episode_once)
{
    const char *preload = getenv("LD_PRELOAD");
    char *log;

    /* valgrind emulates the limit (see check_daemon) */
    if (preload && strstr(preload, "vgpreload"))
        return;
    setenv("PEV_TEST_DIR", tmpdir, 1);
    ck_assert_int_eq(pt_run_self("emfile"), 0);
    unsetenv("PEV_TEST_DIR");
    log = pt_slurp(log_path);
    /* 100 ms pauses for about 550 ms: one line when it begins, one when it
     * ends, with the number of pauses */
    ck_assert_msg(pt_count(log, "accept on 127.0.0.1:") == 2
                  && pt_count(log, "pausing, retrying every 100 ms") == 1
                  && pt_count(log, "accepting again after ") == 1, "log:\n%s", log);
    {
        const char *p = strstr(log, "ms (");
        unsigned pauses = 0;

        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(sscanf(p, "ms (%u pause", &pauses), 1);
        ck_assert_msg(pauses >= 3 && pauses <= 12, "%u pauses:\n%s", pauses, log);
    }
    free(log);
}
END_TEST

/* ======================================================================== */

static Suite *systemd_suite(void)
{
    Suite *s = suite_create("systemd");
    TCase *tc;

    tc = tcase_create("notify");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, notify_start_reload_bad_reload_stop);
    tcase_add_test(tc, notify_abstract_socket);
    tcase_add_test(tc, notify_failed_start_says_why);
    tcase_add_test(tc, notify_nothing_without_socket);
    tcase_add_test(tc, watchdog_at_half_the_period);
    tcase_add_test(tc, watchdog_for_another_pid);
    tcase_add_test(tc, pubsubd_notifies);
    suite_add_tcase(s, tc);

    tc = tcase_create("activate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, activate_adopts_passed_sockets);
    tcase_add_test(tc, pubsubd_under_socket_activate);
    tcase_add_test(tc, units_verify);
    suite_add_tcase(s, tc);

    tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, log_level_debug_and_default);
    tcase_add_test(tc, log_stderr_lines_have_time_and_level);
    tcase_add_test(tc, log_journal_prefixes);
    tcase_add_test(tc, log_file_reopened);
    tcase_add_test(tc, log_file_errors);
    tcase_add_test(tc, log_directives);
    tcase_add_test(tc, log_emfile_episode_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    static const pt_mode_t modes[] = {
        { "activate", mode_activate },
        { "emfile", mode_emfile },
        { NULL, NULL }
    };

    return pt_main(argc, argv, systemd_suite, modes);
}
