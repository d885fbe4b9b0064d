/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * harness.c - the suite's program and fixture, seeds, call logs, loops on
 * a fake clock (harness.h).
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <apr_allocator.h>
#include <apr_general.h>
#include <apr_time.h>

apr_pool_t *pt_pool;

/* ======================================================================== */
/* The suite's program                                                       */

static char SELF[4096];         /* this program, for pt_run_self() */

long pt_env_long(const char *name, long dflt)
{
    const char *env = getenv(name);

    return env && *env ? strtol(env, NULL, 0) : dflt;
}

void pt_setup(void)
{
    ck_assert_int_eq(apr_pool_create(&pt_pool, NULL), APR_SUCCESS);
}

void pt_teardown(void)
{
    pt_guard_stop();
    apr_pool_destroy(pt_pool);  /* its cleanups free the clients */
    pt_pool = NULL;
    pt_close_kept();
}

apr_pool_t *pt_subpool(apr_pool_t *parent)
{
    apr_pool_t *p;

    ck_assert_int_eq(apr_pool_create(&p, parent), APR_SUCCESS);
    return p;
}

apr_pool_t *pt_unkept_subpool(apr_pool_t *parent)
{
    apr_allocator_t *a;
    apr_pool_t *p;

    ck_assert_int_eq(apr_allocator_create(&a), APR_SUCCESS);
    apr_allocator_max_free_set(a, 1);
    ck_assert_int_eq(apr_pool_create_ex(&p, parent, NULL, a), APR_SUCCESS);
    apr_allocator_owner_set(a, p);      /* the allocator goes with the pool */
    return p;
}

int pt_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    if (apr_initialize() != APR_SUCCESS) {
        fprintf(stderr, "apr_initialize failed\n");
        return 1;
    }
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int pt_main(int argc, char **argv, Suite *(*suite)(void), const pt_mode_t *modes)
{
    signal(SIGPIPE, SIG_IGN);
    for (; argc > 1 && modes && modes->name; modes++)
        if (strcmp(argv[1], modes->name) == 0)
            return modes->main();
    if (!realpath(argv[0], SELF)) {
        perror(argv[0]);
        return 1;
    }
    return pt_run(suite());
}

int pt_run_self(const char *mode)
{
    pid_t pid;
    int status;

    ck_assert_msg(SELF[0], "pt_run_self needs pt_main()");
    fflush(NULL);
    pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        execl(SELF, SELF, mode, (char *) NULL);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ======================================================================== */
/* Seeds                                                                     */

uint64_t pt_seed(const char *suite)
{
    static uint64_t seed;
    static int have;

    if (!have) {
        const char *env = getenv("POOLEV_SEED");
        seed = env && *env ? strtoull(env, NULL, 0)
                           : (uint64_t) apr_time_now() ^ ((uint64_t) getpid() << 32);
        have = 1;
        printf("%s: seed %llu (reproduce with POOLEV_SEED=%llu)\n", suite,
               (unsigned long long) seed, (unsigned long long) seed);
        fflush(stdout);
    }
    return seed;
}

/* ======================================================================== */
/* Call logs                                                                 */

void pt_log_reset(pt_log_t *log)
{
    log->n = 0;
}

void pt_log_add(pt_log_t *log, int v)
{
    /* into check only on failure: every ck_assert records its location */
    if (log->n >= PT_LOG_MAX)
        ck_abort_msg("call log full (%d entries)", PT_LOG_MAX);
    log->v[log->n++] = v;
}

int pt_log_count(const pt_log_t *log, int v)
{
    int i, n = 0;

    for (i = 0; i < log->n; i++)
        n += log->v[i] == v;
    return n;
}

const char *pt_log_str(const pt_log_t *log)
{
    static char buf[8192];
    size_t off = 0;
    int i;

    buf[0] = 0;
    for (i = 0; i < log->n && off + 16 < sizeof buf; i++)
        off += (size_t) snprintf(buf + off, sizeof buf - off, i ? ",%d" : "%d",
                                 log->v[i]);
    if (!log->n)
        snprintf(buf, sizeof buf, "(empty)");
    return buf;
}

int pt_log_eq(const pt_log_t *log, const int *expect)
{
    int i;

    for (i = 0; expect[i] != -1; i++)
        if (i >= log->n || log->v[i] != expect[i])
            return 0;
    return i == log->n;
}

/* ======================================================================== */
/* Loops                                                                     */

apr_time_t pt_fake_now;
apr_time_t pt_fake_step;

apr_time_t pt_fake_clock(void *user_data)
{
    (void) user_data;
    pt_fake_now += pt_fake_step;
    return pt_fake_now;
}

pev_loop_t *pt_fake_loop(apr_pool_t *pool)
{
    pev_loop_t *loop;

    pt_fake_now = 1000;
    pt_fake_step = 0;
    ck_assert_int_eq(pev_loop_create(&loop, pool), APR_SUCCESS);
    ck_assert_int_eq(pev_loop_set_clock(loop, pt_fake_clock, NULL), APR_SUCCESS);
    return loop;
}

void pt_tick(pev_loop_t *loop, apr_time_t to)
{
    pt_fake_now = to;
    ck_assert_int_eq(pev_loop_run_once(loop, 0), APR_SUCCESS);
}

void pt_pump(pev_loop_t *loop, int n)
{
    int i;

    for (i = 0; i < n; i++)
        ck_assert_int_eq(pev_loop_run_once(loop, 0), APR_SUCCESS);
}

void pt_expect_mark_order(pev_loop_t *loop, const pt_log_t *log, apr_time_t end)
{
    pt_tick(loop, 1499);
    ck_assert_int_eq(log->n, 0);
    pt_tick(loop, 2000);
    ck_assert_log(log, 1, 2);
    pt_tick(loop, 2999);
    ck_assert_log(log, 1, 2);
    pt_tick(loop, end);
    ck_assert_log(log, 1, 2, 3);
}

apr_uint64_t pt_loop_iterations(pev_loop_t *loop)
{
    pev_loop_stats_t st;

    if (pev_loop_stats(loop, &st) != APR_SUCCESS)     /* into check only on failure */
        ck_abort_msg("pev_loop_stats failed");
    return st.iterations;
}

apr_size_t pt_loop_timers(pev_loop_t *loop)
{
    pev_loop_stats_t st;

    if (pev_loop_stats(loop, &st) != APR_SUCCESS)     /* into check only on failure */
        ck_abort_msg("pev_loop_stats failed");
    return st.timers_armed;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */

void pt_write_file(const char *path, const char *text)
{
    char tmp[512];
    FILE *f;

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", tmp, strerror(errno));
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, path), 0);     /* a reader sees all or nothing */
}

char *pt_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    if (!f) {
        buf = calloc(1, 1);
        ck_assert_ptr_nonnull(buf);
        return buf;
    }
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t) n + 1);
    ck_assert_ptr_nonnull(buf);
    n = (long) fread(buf, 1, (size_t) n, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

const char *pt_slurp_small(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int pt_count(const char *text, const char *needle)
{
    int n = 0;

    for (; (text = strstr(text, needle)) != NULL; text += strlen(needle))
        n++;
    return n;
}
