/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_daemon_process.c - the daemon's process directives, in process:
 * PidFile (written, removed, a stale one replaced, a live one refused, a
 * change refused at reload), User and Group (an unknown user, Group
 * without User, a reload that changes them; the drop itself is tested on
 * a pubsubd child in check_pubsubd, since it cannot be undone), and
 * MaxConnections / MaxConnectionsPerHost (core.conn-refused, the counter,
 * a refusal without a listener, a limit set by a reload, a stop while a
 * refusal is being sent).
 */
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <apr_allocator.h>
#include <apr_strings.h>
#include <poolev.h>

#include "harness.h"

static apr_pool_t *dpool;
static char tmpdir[64], conf_path[128], pid_path[128];
static int opened, closed, refused_seen;
static char last_log[1024];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* Entries of the test's directory (the configuration, the pid file). */
static int dir_entries(void)
{
    DIR *dir = opendir(tmpdir);
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(dir);
    while ((e = readdir(dir)) != NULL)
        n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static void setup(void)
{
    apr_allocator_t *a;

    pt_setup();
    ck_assert_int_eq(apr_allocator_create(&a), APR_SUCCESS);
    apr_allocator_max_free_set(a, 1);
    ck_assert_int_eq(apr_pool_create_ex(&dpool, NULL, NULL, a), APR_SUCCESS);
    apr_allocator_owner_set(a, dpool);
    strcpy(tmpdir, "/tmp/poolev-process-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(conf_path, sizeof conf_path, "%s/test.conf", tmpdir);
    snprintf(pid_path, sizeof pid_path, "%s/test.pid", tmpdir);
    opened = closed = refused_seen = 0;
    last_log[0] = '\0';
}

static void teardown(void)
{
    apr_pool_destroy(dpool);
    pt_teardown();
    unlink(conf_path);
    unlink(pid_path);
    rmdir(tmpdir);
}

static void keep_log(const void *event_data, void *user_data)
{
    const pev_log_record_t *r = event_data;

    (void) user_data;
    if (r->level <= PEV_LOG_WARN)
        apr_cpystrn(last_log, r->msg, sizeof last_log);
}

static void conn_open(const void *event_data, void *user_data)
{
    static const pev_stream_callbacks_t none = { NULL, NULL, NULL, NULL };

    (void) user_data;
    opened++;
    ck_assert_int_eq(pev_conn_refused(event_data), 0);
    ck_assert_int_eq(pev_conn_set_handler((pev_conn_t *) event_data, &none, NULL),
                     APR_SUCCESS);
}

static void conn_close(const void *event_data, void *user_data)
{
    (void) event_data;
    (void) user_data;
    closed++;
}

static void conn_refused(const void *event_data, void *user_data)
{
    pev_conn_t *c = (pev_conn_t *) event_data;
    static const pev_stream_callbacks_t none = { NULL, NULL, NULL, NULL };
    apr_size_t big = user_data ? 8 * 1024 * 1024 : 0;

    refused_seen++;
    ck_assert_int_ne(pev_conn_refused(c), 0);
    ck_assert_int_eq(pev_conn_set_handler(c, &none, NULL), PEV_ECLOSED);
    pev_stream_printf(pev_conn_stream(c), "-ERR full %d\r\n", pev_conn_refused(c));
    if (big) {                      /* more than the peer will read */
        char *junk = apr_palloc(pev_conn_pool(c), big);

        memset(junk, 'x', big);
        pev_stream_write(pev_conn_stream(c), junk, big);
    }
}

/* A daemon on the test file holding @a config; connections are taken and
 * held; with @a refuse_hook, refusals answered "-ERR full REASON" (and
 * with @a refuse_hook 2, followed by 8 MiB). */
static pev_daemon_t *make_daemon(const char *config, int refuse_hook)
{
    pev_daemon_options_t o;
    pev_daemon_t *d;
    pev_bus_t *bus;

    memset(&o, 0, sizeof o);
    o.name = "testd";
    o.config_file = conf_path;
    o.default_config = NULL;
    o.shutdown_grace = 200000;
    o.flags = PEV_DAEMON_NO_SIGNALS;
    write_text(conf_path, config);
    ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_SUCCESS);
    bus = pev_daemon_bus(d);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, PEV_EVENT_LOG, keep_log, NULL, NULL),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, PEV_EVENT_CONN_OPEN, conn_open, NULL,
                                        NULL), APR_SUCCESS);
    ck_assert_int_eq(pev_event_register(NULL, bus, NULL, PEV_EVENT_CONN_CLOSE, conn_close,
                                        NULL, NULL), APR_SUCCESS);
    if (refuse_hook)
        ck_assert_int_eq(pev_event_register(NULL, bus, NULL, PEV_EVENT_CONN_REFUSED,
                                            conn_refused,
                                            refuse_hook > 1 ? (void *) 1 : NULL, NULL),
                         APR_SUCCESS);
    return d;
}

/* Restart on a new configuration text and run until it is done. */
static void reload(pev_daemon_t *d, const char *config)
{
    write_text(conf_path, config);
    ck_assert_int_eq(pev_daemon_restart(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
}

static void stop(pev_daemon_t *d)
{
    ck_assert_int_eq(pev_daemon_stop(d), APR_SUCCESS);
    ck_assert_int_eq(pev_daemon_run(d), APR_SUCCESS);
}

/* The next line from @a c while @a d runs; NULL at the end of input. */
static const char *cli_line(pev_daemon_t *d, lc_client_t *c)
{
    PT_DAEMON_UNTIL(d, lc_ready(c, 0));
    return lc_line(c, 0);
}

/* ------------------------------------------------------------------------ */
/* PidFile                                                                   */

static const char *pid_conf(void)
{
    static char buf[256];

    snprintf(buf, sizeof buf, "Listen 127.0.0.1:0\nPidFile %s\n", pid_path);
    return buf;
}

START_TEST(test_pidfile_written_and_removed)
{
    pev_daemon_t *d = make_daemon(pid_conf(), 0);
    char want[32];
    struct stat st;
    int fd;

    ck_assert_ptr_null(pt_slurp_small(pid_path));
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    snprintf(want, sizeof want, "%ld\n", (long) getpid());
    ck_assert_str_eq(pt_slurp_small(pid_path), want);
    ck_assert_int_eq(stat(pid_path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    /* locked while the daemon runs: another descriptor cannot take it */
    fd = open(pid_path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_ne(flock(fd, LOCK_EX | LOCK_NB), 0);
    ck_assert_int_eq(errno, EWOULDBLOCK);
    close(fd);
    /* nothing else in the directory: the temporary file is gone */
    ck_assert_int_eq(dir_entries(), 2);
    ck_assert_int_eq(pev_daemon_run_once(d, 0), APR_SUCCESS);
    stop(d);
    ck_assert_ptr_null(pt_slurp_small(pid_path));
}
END_TEST

START_TEST(test_pidfile_stale_replaced)
{
    pev_daemon_t *d;
    char want[32];

    snprintf(want, sizeof want, "%ld\n", (long) getpid());
    /* a pid that is not running */
    write_text(pid_path, "2147483000\n");
    d = make_daemon(pid_conf(), 0);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_str_eq(pt_slurp_small(pid_path), want);
    stop(d);
    ck_assert_ptr_null(pt_slurp_small(pid_path));
    /* a live process that is not ours (it holds no lock), and garbage */
    write_text(pid_path, "1\n");
    d = make_daemon(pid_conf(), 0);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_str_eq(pt_slurp_small(pid_path), want);
    stop(d);
    write_text(pid_path, "");
    d = make_daemon(pid_conf(), 0);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_str_eq(pt_slurp_small(pid_path), want);
    stop(d);
    ck_assert_ptr_null(pt_slurp_small(pid_path));
}
END_TEST

START_TEST(test_pidfile_live_refused)
{
    pev_daemon_t *a = make_daemon(pid_conf(), 0), *b;
    char want[256];
    int fd;

    ck_assert_int_eq(pev_daemon_start(a), APR_SUCCESS);
    /* a second daemon on the same file: refused, the file left alone */
    b = make_daemon(pid_conf(), 0);
    ck_assert_int_eq(pev_daemon_start(b), APR_EEXIST);
    snprintf(want, sizeof want, "already running as pid %ld (PidFile %s)", (long) getpid(),
             pid_path);
    ck_assert_str_eq(pev_daemon_error(b), want);
    snprintf(want, sizeof want, "%ld\n", (long) getpid());
    ck_assert_str_eq(pt_slurp_small(pid_path), want);
    stop(a);
    ck_assert_ptr_null(pt_slurp_small(pid_path));

    /* a lock held by another holder (here a descriptor of the test) */
    write_text(pid_path, "4242\n");
    fd = open(pid_path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    b = make_daemon(pid_conf(), 0);
    ck_assert_int_eq(pev_daemon_start(b), APR_EEXIST);
    snprintf(want, sizeof want, "already running as pid 4242 (PidFile %s)", pid_path);
    ck_assert_str_eq(pev_daemon_error(b), want);
    ck_assert_str_eq(pt_slurp_small(pid_path), "4242\n");
    close(fd);
    b = make_daemon(pid_conf(), 0);
    ck_assert_int_eq(pev_daemon_start(b), APR_SUCCESS);
    /* and the daemon's pool destroyed without a stop removes it too */
    apr_pool_destroy(dpool);
    ck_assert_int_eq(apr_pool_create(&dpool, NULL), APR_SUCCESS);
    ck_assert_ptr_null(pt_slurp_small(pid_path));
}
END_TEST

START_TEST(test_pidfile_errors_and_reload)
{
    pev_daemon_t *d;
    char conf[512];

    /* a directory that does not exist: the start fails, nothing stays */
    d = make_daemon("Listen 127.0.0.1:0\nPidFile /nonexistent-poolev-dir/x.pid\n", 0);
    ck_assert_int_ne(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_msg(strstr(pev_daemon_error(d), "PidFile /nonexistent-poolev-dir/x.pid: cannot")
                  != NULL, "error: %s", pev_daemon_error(d));
    ck_assert_uint_eq(pev_daemon_port(d, 0), 0);

    /* a failed start after the pid file was taken removes it */
    snprintf(conf, sizeof conf, "PidFile %s\nListen 127.0.0.1:0\nListen 192.0.2.1:1\n",
             pid_path);
    d = make_daemon(conf, 0);
    ck_assert_int_ne(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_ptr_null(pt_slurp_small(pid_path));

    /* a reload cannot move it: the generation stays */
    d = make_daemon(pid_conf(), 0);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nPidFile %s.other\n", pid_path);
    reload(d, conf);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    ck_assert_msg(strstr(last_log, "PidFile changed") && strstr(last_log, "restart"),
                  "log: %s", last_log);
    reload(d, "Listen 127.0.0.1:0\n");
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    /* the same file: fine */
    reload(d, pid_conf());
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    ck_assert_ptr_nonnull(pt_slurp_small(pid_path));
    stop(d);
    ck_assert_ptr_null(pt_slurp_small(pid_path));
    /* a check after the stop compares with nothing */
    ck_assert_int_eq(pev_daemon_check_config(d), APR_SUCCESS);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* User and Group                                                            */

START_TEST(test_user_and_group_directives)
{
    pev_daemon_t *d;

    d = make_daemon("Listen 127.0.0.1:0\nUser no-such-user-poolev\n", 0);
    ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);
    ck_assert_msg(strstr(pev_daemon_error(d), ":2: User: no such user 'no-such-user-poolev'")
                  != NULL, "error: %s", pev_daemon_error(d));
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
    ck_assert_msg(strstr(pev_daemon_error(d), ":2: User: no such user 'no-such-user-poolev'")
                  != NULL, "error: %s", pev_daemon_error(d));
    ck_assert_uint_eq(pev_daemon_port(d, 0), 0);

    d = make_daemon("Listen 127.0.0.1:0\nUser root\nGroup no-such-group-poolev\n", 0);
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), ":3: Group: no such group"));

    d = make_daemon("Listen 127.0.0.1:0\nGroup 0\n", 0);
    ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "Group needs User"));
    ck_assert_int_eq(pev_daemon_start(d), PEV_ECONFIG);

    /* a uid without a passwd entry needs a Group */
    d = make_daemon("Listen 127.0.0.1:0\nUser 2147480000\n", 0);
    ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "has no passwd entry"));

    d = make_daemon("Listen 127.0.0.1:0\nUser\n", 0);
    ck_assert_int_eq(pev_daemon_check_config(d), PEV_ECONFIG);
}
END_TEST

/* The user the test runs as: "User" needs no change, and a reload to
 * another user is refused. The drop itself: check_pubsubd. */
START_TEST(test_user_reload_refused)
{
    struct passwd *pw = getpwuid(getuid());
    const char *other = getuid() == 0 ? "nobody" : "root";
    char conf[256];
    pev_daemon_t *d;

    if (!pw || getuid() != geteuid() || getgid() != getegid() || !getpwnam(other)) {
        printf("skipped test_user_reload_refused: no passwd entry to compare\n");
        return;
    }
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nUser %s\nGroup %ld\n", pw->pw_name,
             (long) getgid());
    d = make_daemon(conf, 0);
    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_uint_eq(getuid(), pw->pw_uid);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nUser %s\n", other);
    reload(d, conf);
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    ck_assert_msg(strstr(last_log, "reload failed, keeping generation 1")
                  && strstr(last_log, "User/Group changed")
                  && strstr(last_log, "restart the process"), "log: %s", last_log);
    reload(d, "Listen 127.0.0.1:0\n");         /* dropping User is a change too */
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 1);
    snprintf(conf, sizeof conf, "Listen 127.0.0.1:0\nUser %ld\nGroup %ld\n",
             (long) getuid(), (long) getgid());
    reload(d, conf);                            /* the same ids, spelled otherwise */
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    stop(d);
}
END_TEST

START_TEST(test_user_needs_root)
{
    pev_daemon_t *d;

    if (geteuid() == 0 || !getpwnam("root")) {
        printf("skipped test_user_needs_root: running as root (check_pubsubd drops)\n");
        return;
    }
    d = make_daemon("Listen 127.0.0.1:0\nUser root\n", 0);
    ck_assert_int_ne(pev_daemon_start(d), APR_SUCCESS);
    ck_assert_ptr_nonnull(strstr(pev_daemon_error(d), "not running as root"));
    ck_assert_uint_eq(pev_daemon_port(d, 0), 0);
}
END_TEST

static const char *any_value(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    (void) gen;
    (void) mconf;
    (void) argc;
    (void) argv;
    return NULL;
}

START_TEST(test_process_directive_names_taken)
{
    static pev_directive_t named[2];
    static const pev_module_def_t mod = { .name = "m", .directives = named };
    static const pev_module_def_t *const mods[] = { &mod, NULL };
    const char *names[] = { "User", "group", "PIDFILE", "MaxConnections",
                            "MaxConnectionsPerHost" };
    pev_daemon_options_t o;
    pev_daemon_t *d;
    unsigned i;

    memset(&o, 0, sizeof o);
    o.modules = mods;
    o.default_config = "";
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        named[0].name = names[i];
        named[0].fn = any_value;
        ck_assert_int_eq(pev_daemon_create(&d, &o, dpool), APR_EEXIST);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Connection limits                                                         */

START_TEST(test_max_connections_refused_with_hook)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\nMaxConnections 2\n", 1);
    lc_client_t *a, *b, *c, *e;
    const char *l;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    a = pt_client(pev_daemon_port(d, 0), 0);
    b = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, opened == 2);
    ck_assert_uint_eq(pev_daemon_connections(d), 2);
    c = pt_client(pev_daemon_port(d, 0), 0);
    l = cli_line(d, c);
    ck_assert_str_eq(l ? l : "(end)", "-ERR full 1");          /* PEV_CONN_REFUSED_MAX */
    PT_DAEMON_UNTIL(d, lc_wait_eof(c, 1));
    ck_assert_int_eq(refused_seen, 1);
    ck_assert_uint_eq(pev_daemon_refused(d), 1);
    ck_assert_uint_eq(pev_daemon_connections(d), 2);
    ck_assert_int_eq(opened, 2);
    ck_assert_int_eq(closed, 0);              /* no core.conn-close for a refusal */
    /* a slot frees: the next one is held */
    lc_close(a, 0);
    PT_DAEMON_UNTIL(d, closed == 1);
    e = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, opened == 3);
    ck_assert_uint_eq(pev_daemon_connections(d), 2);
    ck_assert_uint_eq(pev_daemon_refused(d), 1);
    stop(d);
    ck_assert_int_eq(closed, 3);
    (void) b;
    (void) e;
}
END_TEST

START_TEST(test_per_host_refused_without_hook)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\nMaxConnectionsPerHost 1\n", 0);
    lc_client_t *a, *b;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    a = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, opened == 1);
    b = pt_client(pev_daemon_port(d, 0), 0);
    /* nobody answers a refusal: closed at once, nothing sent */
    ck_assert_ptr_null(cli_line(d, b));
    ck_assert(b->eof);
    ck_assert_uint_eq(b->len, 0);
    ck_assert_uint_eq(pev_daemon_refused(d), 1);
    ck_assert_uint_eq(pev_daemon_connections(d), 1);
    lc_close(a, 1);
    PT_DAEMON_UNTIL(d, closed == 1);
    b = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, opened == 2);
    stop(d);
}
END_TEST

START_TEST(test_limits_set_by_reload)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\n", 1);
    lc_client_t *c[4];
    const char *l;
    int i;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    for (i = 0; i < 3; i++)
        c[i] = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, opened == 3);
    /* counted all along: the new limits apply to the connections open */
    reload(d, "Listen 127.0.0.1:0\nMaxConnectionsPerHost 3\n");
    ck_assert_uint_eq(pev_gen_number(pev_daemon_gen(d)), 2);
    c[3] = pt_client(pev_daemon_port(d, 0), 0);
    l = cli_line(d, c[3]);
    ck_assert_str_eq(l ? l : "(end)", "-ERR full 2");          /* PEV_CONN_REFUSED_HOST */
    reload(d, "Listen 127.0.0.1:0\nMaxConnections 0\nMaxConnectionsPerHost 0\n");
    c[3] = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, opened == 4);
    ck_assert_uint_eq(pev_daemon_refused(d), 1);
    stop(d);
}
END_TEST

/* A stop while a refusal waits for a peer that does not read: it does
 * not wait for it, and nothing stays. */
START_TEST(test_stop_during_refusal)
{
    pev_daemon_t *d = make_daemon("Listen 127.0.0.1:0\nMaxConnections 1\n", 2);
    lc_client_t *a, *b;
    apr_time_t t0;

    ck_assert_int_eq(pev_daemon_start(d), APR_SUCCESS);
    a = pt_client(pev_daemon_port(d, 0), 0);
    PT_DAEMON_UNTIL(d, opened == 1);
    b = pt_client(pev_daemon_port(d, 0), 4096);
    PT_DAEMON_UNTIL(d, refused_seen == 1);
    ck_assert_int_eq(pev_daemon_run_once(d, 10000), APR_SUCCESS);
    t0 = pev_clock_monotonic();
    stop(d);
    ck_assert_int_lt(pev_clock_monotonic() - t0, 1000000);
    ck_assert_int_eq(closed, 1);
    (void) a;
    (void) b;
}
END_TEST

static Suite *process_suite(void)
{
    Suite *s = suite_create("daemon_process");
    TCase *tc = tcase_create("process");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pidfile_written_and_removed);
    tcase_add_test(tc, test_pidfile_stale_replaced);
    tcase_add_test(tc, test_pidfile_live_refused);
    tcase_add_test(tc, test_pidfile_errors_and_reload);
    tcase_add_test(tc, test_user_and_group_directives);
    tcase_add_test(tc, test_user_reload_refused);
    tcase_add_test(tc, test_user_needs_root);
    tcase_add_test(tc, test_process_directive_names_taken);
    tcase_add_test(tc, test_max_connections_refused_with_hook);
    tcase_add_test(tc, test_per_host_refused_without_hook);
    tcase_add_test(tc, test_limits_set_by_reload);
    tcase_add_test(tc, test_stop_during_refusal);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, process_suite, NULL);
}
