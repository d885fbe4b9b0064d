/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * pubsubd_fixture.h - what the suites that run the example daemon
 * (check_pubsubd.c, check_pubsubd_workers.c, check_pubsubd_cluster.c)
 * share: the path of the pubsubd binary, and for the one-daemon suites a
 * pubsubd process of the test's own, started on a free loopback port, and
 * clients of it.
 *
 * A test's daemon lives in a directory of its own (dir_setup() and
 * dir_teardown() are the tcase's checked fixture): its configuration,
 * stderr (the log) and stdout. daemon_start() writes a configuration with
 * "Listen 127.0.0.1:0", starts pubsubd, and learns the port from the log
 * line "generation 1 ready: listening on port N"; daemon_stop() stops it
 * with SIGTERM, expecting exit status 0. Every wait has a deadline: a
 * daemon that misbehaves fails the test, never hangs it (also under
 * CK_FORK=no, where check has no timeout). dir_teardown() kills a daemon a
 * failed test left running.
 *
 * The binary is PUBSUBD_PATH (the build's examples/pubsubd, given to the
 * harness library by Makefile.am), or the POOLEV_PUBSUBD environment
 * variable.
 */
#ifndef POOLEV_PUBSUBD_FIXTURE_H
#define POOLEV_PUBSUBD_FIXTURE_H

#include <sys/types.h>
#include "harness.h"

#define START_MS  10000     /* the daemon starts or stops */

/* The pubsubd binary to run. */
const char *pubsubd_path(void);

/* ======================================================================== */
/* The daemon process of a test                                              */

typedef struct pubsubd_proc {
    pid_t pid;                  /* 0: not running */
    char dir[64];               /* the test's directory */
    char conf[128];             /* its configuration */
    char log[128];              /* its stderr */
    char out[128];              /* its stdout */
    unsigned port;              /* its listener, once started */
} pubsubd_proc_t;

extern pubsubd_proc_t D;

/* The first line of the configurations daemon_start() and daemon_reload()
 * write, after "# " (the suite's name; a suite's main() may set it). */
extern const char *pubsubd_conf_title;

/* A fresh directory for the test (calls pt_setup()). */
void dir_setup(void);
/* Kill a daemon left running, remove the directory (calls pt_teardown()). */
void dir_teardown(void);

/*
 * Run pubsubd with @a args (NULL-terminated, after the program name, at
 * most 6), stdout to D.out and stderr to D.log; returns its pid. The
 * daemon's copy of ASan, if any, keeps no quarantine: freed buffers would
 * count as resident memory.
 */
pid_t spawn(const char *const args[]);

/* Wait at most @a ms for @a pid to exit. Returns 1 and its status, or 0. */
int wait_exit(pid_t pid, long ms, int *status);

/* Wait until the log holds @a needle; returns a copy of the text after it
 * (malloc'd), or fails (also when the daemon exits first). */
char *log_wait(const char *needle, long ms);
/* Whether the log holds @a needle now. */
int log_has(const char *needle);
/* The log holds @a needle now, or the test fails. */
void log_expect(const char *needle);

/* Start pubsubd on a free loopback port with the test's settings (after
 * "Listen 127.0.0.1:0", "LogLevel debug", "StatsInterval off"). */
void daemon_start(const char *settings);
/* Rewrite the configuration (same Listen line) and send SIGHUP. */
void daemon_reload(const char *settings);
/* SIGTERM: the daemon stops in order and exits 0, or the test fails. */
void daemon_stop(void);

/* ======================================================================== */
/* Clients                                                                   */

/* A client of D.port, connected and greeted "+OK @a greeting". */
lc_client_t *cl_open(const char *greeting);

/* STATS (or "STATS @a topic"): the value of @a key; fails when the reply
 * is no +OK or has no @a key. */
long stat_get(lc_client_t *c, const char *topic, const char *key);

/* Poll STATS until @a key is @a want (the daemon sees a close
 * asynchronously); fails after @a ms. */
void stat_wait(lc_client_t *c, const char *key, long want, long ms);

#endif
