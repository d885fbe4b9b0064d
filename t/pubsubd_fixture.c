/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * pubsubd_fixture.c - a pubsubd process of the test's own, and clients of
 * it (pubsubd_fixture.h).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pubsubd_fixture.h"

#ifndef PUBSUBD_PATH
#define PUBSUBD_PATH "../examples/pubsubd"
#endif

/* ======================================================================== */
/* The daemon                                                                */

const char *pubsubd_path(void)
{
    const char *p = getenv("POOLEV_PUBSUBD");

    return p && *p ? p : PUBSUBD_PATH;
}

/* ======================================================================== */
/* The daemon process                                                        */

pubsubd_proc_t D;
const char *pubsubd_conf_title = "pubsubd_fixture";

void dir_setup(void)
{
    pt_setup();
    memset(&D, 0, sizeof D);
    strcpy(D.dir, "/tmp/pubsubd-test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(D.dir));
    snprintf(D.conf, sizeof D.conf, "%s/pubsubd.conf", D.dir);
    snprintf(D.log, sizeof D.log, "%s/log", D.dir);
    snprintf(D.out, sizeof D.out, "%s/out", D.dir);
}

void dir_teardown(void)
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
pid_t spawn(const char *const args[])
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
int wait_exit(pid_t pid, long ms, int *status)
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
char *log_wait(const char *needle, long ms)
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

int log_has(const char *needle)
{
    char *text = pt_slurp(D.log);
    int has = strstr(text, needle) != NULL;

    free(text);
    return has;
}

/* The log holds @a needle now. */
void log_expect(const char *needle)
{
    char *text = pt_slurp(D.log);

    ck_assert_msg(strstr(text, needle) != NULL, "no '%s' in the log:\n%s", needle, text);
    free(text);
}

/* Start pubsubd on a free loopback port with the test's settings. */
void daemon_start(const char *settings)
{
    const char *args[] = { "-f", D.conf, NULL };
    char conf[4096], *rest;

    snprintf(conf, sizeof conf,
             "# %s\n"
             "Listen 127.0.0.1:0\n"
             "LogLevel debug\n"
             "StatsInterval off\n"
             "%s", pubsubd_conf_title, settings);
    pt_write_file(D.conf, conf);
    D.pid = spawn(args);
    /* "port N", or "ports N, M" with a TLS listener after it */
    rest = log_wait("generation 1 ready: listening on port", START_MS);
    D.port = (unsigned) strtoul(rest + (rest[0] == 's'), NULL, 10);
    free(rest);
    ck_assert_uint_gt(D.port, 0);
}

/* Rewrite the configuration (same Listen line) and send SIGHUP. */
void daemon_reload(const char *settings)
{
    char conf[4096];

    snprintf(conf, sizeof conf,
             "# %s, reloaded\n"
             "Listen 127.0.0.1:0\n"
             "LogLevel debug\n"
             "StatsInterval off\n"
             "%s", pubsubd_conf_title, settings);
    pt_write_file(D.conf, conf);
    ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
}

/* SIGTERM: the daemon stops in order and exits 0. */
void daemon_stop(void)
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
lc_client_t *cl_open(const char *greeting)
{
    lc_client_t *c = pt_client(D.port, 0);
    char want[512];

    snprintf(want, sizeof want, "+OK %s", greeting);
    PT_EXPECT(c, want);
    return c;
}

/* STATS: the value of @a key. */
long stat_get(lc_client_t *c, const char *topic, const char *key)
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
void stat_wait(lc_client_t *c, const char *key, long want, long ms)
{
    long deadline = lc_now_ms() + ms, v;

    while ((v = stat_get(c, NULL, key)) != want) {
        ck_assert_msg(lc_now_ms() < deadline, "STATS %s stayed %ld, expected %ld", key, v,
                      want);
        lc_sleep_ms(2);
    }
}
