/*
 * testutil.h - helpers shared by poolev's check suites.
 */
#ifndef POOLEV_TESTUTIL_H
#define POOLEV_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <apr_pools.h>

/* Seeded PRNG (splitmix64): a failure reproduces from the printed seed. */
typedef struct { uint64_t s; } pt_rng_t;

static inline uint64_t pt_next(pt_rng_t *r)
{
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* uniform in [0, n) for n >= 1 */
static inline unsigned pt_below(pt_rng_t *r, unsigned n)
{
    return (unsigned) ((pt_next(r) >> 32) * n >> 32);
}

/* The run's seed: POOLEV_SEED if set, else from the clock. Printed once. */
uint64_t pt_seed(const char *suite);

/* A long from the environment, or @a dflt. */
long pt_env_long(const char *name, long dflt);

/* Root pool for a test: created in setup, destroyed in teardown. */
extern apr_pool_t *pt_pool;
void pt_setup(void);
void pt_teardown(void);

/* A new subpool of @a parent (asserts success). */
apr_pool_t *pt_subpool(apr_pool_t *parent);

/* Run one suite; returns the process exit status. */
int pt_run(Suite *s);

/* A call log: listeners append small integers; tests compare sequences. */
#define PT_LOG_MAX 4096
typedef struct {
    int v[PT_LOG_MAX];
    int n;
} pt_log_t;

void pt_log_reset(pt_log_t *log);
void pt_log_add(pt_log_t *log, int v);
/* "1,2,3" form for messages; static buffer */
const char *pt_log_str(const pt_log_t *log);
/* compare against a list terminated by -1 */
int pt_log_eq(const pt_log_t *log, const int *expect);

#define ck_assert_log(log, ...) do {                                        \
        static const int expect_[] = { __VA_ARGS__, -1 };                  \
        ck_assert_msg(pt_log_eq((log), expect_), "call log was %s",        \
                      pt_log_str(log));                                     \
    } while (0)

#endif
