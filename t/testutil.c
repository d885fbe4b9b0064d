/*
 * testutil.c - helpers shared by poolev's check suites.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <apr_general.h>
#include <apr_time.h>

apr_pool_t *pt_pool;

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
    apr_pool_destroy(pt_pool);
    pt_pool = NULL;
}

apr_pool_t *pt_subpool(apr_pool_t *parent)
{
    apr_pool_t *p;

    ck_assert_int_eq(apr_pool_create(&p, parent), APR_SUCCESS);
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
