/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * benchutil.h - small header-only helpers shared by poolev's benchmarks.
 *
 *  - bench_now_ns():       monotonic clock in nanoseconds
 *  - bench_barrier(), bench_sink(), bench_sink_ptr(): keep the optimiser honest
 *  - bench_median(), bench_median_loop(): median of R runs, in ns per op
 *  - bench_table_*():      a result table with targets and ok/MISS verdicts
 *  - bench_print_machine(): CPU, nproc, compiler and APR version
 *  - bench_runs_from_env(): the run count, overridable from the environment
 *  - bench_rand_below(), bench_shuffle_u32(): a small seeded PRNG, permutations
 *  - bench_sleep_ns():     sleep (untimed waits between measurements)
 *  - bench_table_section(): a heading line inside a result table
 *  - bench_env_double():   a number from the environment, range-checked
 *  - bench_rss_bytes():    the process's resident set size (Linux /proc)
 *  - bench_tsv_*():        machine-readable results (POOLEV_BENCH_TSV)
 *  - bench_spin(), bench_spin_calibrate(): a fixed amount of CPU work
 *  - bench_self_cpu(), bench_proc_cpu(), bench_stat_cpu(): CPU time of this
 *                        process, of another, of one of its threads
 *  - bench_stat_times():   the same, user and system apart
 *  - bench_thread_cpu_ns(): the calling thread's CPU time
 *  - bench_loadavg():      the 1-minute load average
 *  - bench_connect_loopback(): a TCP connection to 127.0.0.1
 *
 * Everything is static inline, so a benchmark includes only what it uses and
 * unused helpers cost nothing (and warn nothing). clock_gettime() needs POSIX
 * declarations: compile with APR's CPPFLAGS (they define _GNU_SOURCE).
 */
#ifndef POOLEV_BENCHUTIL_H
#define POOLEV_BENCHUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <apr_version.h>

#include "poolev.h"

/* Abort with a message when a call returned anything but APR_SUCCESS. */
#define CHECK(call)                                                         \
    do {                                                                    \
        apr_status_t check_st_ = (call);                                    \
        if (check_st_ != APR_SUCCESS)                                       \
            bench_fail(check_st_, #call, __FILE__, __LINE__);               \
    } while (0)

/* Report a failed call and abort. Kept out of line: only the hot loops'
 * branch to it is on the measured path. */
_Noreturn static void bench_fail(apr_status_t st, const char *what, const char *file,
                                 int line)
{
    char buf[256];

    fprintf(stderr, "%s:%d: %s failed: %s (status %d)\n", file, line, what,
            pev_strerror(st, buf, sizeof buf), st);
    abort();
}

/* A fresh child pool of @a parent; aborts on failure. */
static inline apr_pool_t *new_pool(apr_pool_t *parent)
{
    apr_pool_t *p;

    CHECK(apr_pool_create(&p, parent));
    return p;
}

/* Abort with a formatted message, prefixed with the program's name. */
#define FAIL(...)                                                           \
    do {                                                                    \
        fprintf(stderr, "%s: ", program_invocation_short_name);             \
        fprintf(stderr, __VA_ARGS__);                                       \
        fputc('\n', stderr);                                                \
        abort();                                                            \
    } while (0)

/* Abort with errno's text unless @a ok (a system call's result). */
#define SYSCHECK(ok, what)                                                  \
    do {                                                                    \
        if (!(ok))                                                          \
            FAIL("%s failed: %s (line %d)", what, strerror(errno), __LINE__); \
    } while (0)

#ifdef HAVE_LIBEVENT
#include <event2/event.h>

/* Abort unless the libevent call's result @a ok holds. */
#define LCHECK(ok, what)                                                    \
    do {                                                                    \
        if (!(ok))                                                          \
            FAIL("libevent: %s failed (line %d)", what, __LINE__);          \
    } while (0)

/* A base without thread locking (EVENT_BASE_FLAG_NOLOCK): each benchmark
 * thread has its own. Aborts on failure. */
static inline struct event_base *lev_new_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    LCHECK(cfg != NULL, "event_config_new");
    LCHECK(event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK) == 0,
           "event_config_set_flag(EVENT_BASE_FLAG_NOLOCK)");
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    LCHECK(base != NULL, "event_base_new_with_config");
    return base;
}
#endif

/* Abort with @a msg unless @a ok: for sanity checks of the measured state. */
static inline void expect(int ok, const char *msg)
{
    if (!ok) {
        fprintf(stderr, "sanity check failed: %s\n", msg);
        abort();
    }
}

/** Upper bound on the number of runs a median is taken over. */
#define BENCH_MAX_RUNS 999

#if defined(__clang__)
#define BENCH_COMPILER __VERSION__          /* "Debian Clang 14.0.6" */
#elif defined(__GNUC__)
#define BENCH_COMPILER "gcc " __VERSION__   /* "12.2.0" alone says little */
#else
#define BENCH_COMPILER "unknown compiler"
#endif

/* ------------------------------------------------------------------------ */
/* Time and the optimiser                                                    */

/* Current CLOCK_MONOTONIC time in nanoseconds; aborts if the clock fails. */
static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
        perror("clock_gettime(CLOCK_MONOTONIC)");
        abort();
    }
    return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* Compiler barrier: no memory access is moved or cached across it. */
static inline void bench_barrier(void)
{
    __asm__ __volatile__("" : : : "memory");
}

/* Pretend to use @a v, so the computation that produced it is kept. */
static inline void bench_sink(uint64_t v)
{
    __asm__ __volatile__("" : : "g"(v) : "memory");
}

/* Pretend to use (and possibly read through) @a p. */
static inline void bench_sink_ptr(const void *p)
{
    __asm__ __volatile__("" : : "g"(p) : "memory");
}

/* ------------------------------------------------------------------------ */
/* Medians                                                                   */

/** One measurement run: returns its result, normally ns per operation. */
typedef double bench_run_fn(void *ctx);

/** A timed loop body: performs @a iters operations. */
typedef void bench_loop_fn(void *ctx, uint64_t iters);

/* qsort comparator for doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}

/* Median of @a n values (n >= 1); sorts @a v in place. */
static inline double bench_median_of(double *v, int n)
{
    qsort(v, (size_t) n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* Median of a double field of @a n records (n from 1 to 2 * BENCH_MAX_RUNS,
 * for the medians of two runs' records pooled): the one at byte offset
 * @a off of each record of @a size bytes from @a v. */
static inline double bench_median_field(const void *v, size_t size, int n, size_t off)
{
    double x[2 * BENCH_MAX_RUNS];
    int i;

    for (i = 0; i < n; i++)
        memcpy(&x[i], (const char *) v + (size_t) i * size + off, sizeof x[i]);
    return bench_median_of(x, n);
}

/* Call @a fn once as a warm-up, then @a runs times; return the median. */
static inline double bench_median(bench_run_fn *fn, void *ctx, int runs)
{
    double v[BENCH_MAX_RUNS];
    int i;

    if (runs < 1 || runs > BENCH_MAX_RUNS) {
        fprintf(stderr, "bench_median: %d runs is out of range\n", runs);
        abort();
    }
    (void) fn(ctx);
    for (i = 0; i < runs; i++)
        v[i] = fn(ctx);
    return bench_median_of(v, runs);
}

/* Time one call of @a fn(ctx, iters); return ns per iteration. */
static inline double bench_time_loop(bench_loop_fn *fn, void *ctx, uint64_t iters)
{
    uint64_t t0, t1;

    bench_barrier();
    t0 = bench_now_ns();
    fn(ctx, iters);
    t1 = bench_now_ns();
    bench_barrier();
    return (double) (t1 - t0) / (double) iters;
}

/* Find an iteration count for which one loop takes at least @a min_ns. */
static inline uint64_t bench_calibrate(bench_loop_fn *fn, void *ctx, uint64_t min_ns)
{
    uint64_t iters = 1;

    for (;;) {
        double per_op = bench_time_loop(fn, ctx, iters);
        double total = per_op * (double) iters, grow;

        if (total >= (double) min_ns)
            return iters;
        /* aim 25% past the goal, growing between 2x and 100x a step */
        grow = total > 0 ? 1.25 * (double) min_ns / total : 100.0;
        grow = grow < 2.0 ? 2.0 : grow > 100.0 ? 100.0 : grow;
        iters = (uint64_t) ((double) iters * grow);
    }
}

/** What bench_loop_run() needs: a loop body and its fixed iteration count. */
typedef struct bench_loop {
    bench_loop_fn *fn;
    void *ctx;
    uint64_t iters;
} bench_loop_t;

/* bench_run_fn adapter: one timed loop of a bench_loop_t, ns per op. */
static inline double bench_loop_run(void *p)
{
    const bench_loop_t *l = p;

    return bench_time_loop(l->fn, l->ctx, l->iters);
}

/* Calibrate @a fn to >= @a min_ns per run, then return the median ns/op of
 * @a runs runs (after one warm-up run). */
static inline double bench_median_loop(bench_loop_fn *fn, void *ctx, int runs,
                                       uint64_t min_ns)
{
    bench_loop_t l;

    l.fn = fn;
    l.ctx = ctx;
    l.iters = bench_calibrate(fn, ctx, min_ns);
    return bench_median(bench_loop_run, &l, runs);
}

/* Run count: the integer in environment variable @a var (1..BENCH_MAX_RUNS),
 * or @a dflt when it is unset or empty. Exits with status 2 if it is invalid. */
static inline int bench_runs_from_env(const char *var, int dflt)
{
    const char *s = getenv(var);
    char *end;
    long n;

    if (!s || !*s)
        return dflt;
    n = strtol(s, &end, 10);
    if (*end || n < 1 || n > BENCH_MAX_RUNS) {
        fprintf(stderr, "%s=\"%s\": expected an integer from 1 to %d\n",
                var, s, BENCH_MAX_RUNS);
        exit(2);
    }
    return (int) n;
}

/* The number in environment variable @a var (a decimal, in [min, max]), or
 * @a dflt when it is unset or empty. Exits with status 2 if it is invalid. */
static inline double bench_env_double(const char *var, double dflt, double min,
                                      double max)
{
    const char *s = getenv(var);
    char *end;
    double v;

    if (!s || !*s)
        return dflt;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= min && v <= max)) {
        fprintf(stderr, "%s=\"%s\": expected a number from %g to %g\n", var, s, min,
                max);
        exit(2);
    }
    return v;
}

/* Resident set size of this process in bytes: the second field of
 * /proc/self/statm times the page size. Reads without allocating (no stdio
 * buffer), so sampling does not disturb the heap it measures. 0 if unavailable. */
static inline uint64_t bench_rss_bytes(void)
{
    char buf[128];
    char *p, *end;
    unsigned long long pages;
    ssize_t n;
    long page = sysconf(_SC_PAGESIZE);
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0 || page <= 0)
        return 0;
    buf[n] = '\0';
    p = strchr(buf, ' ');           /* skip the total program size */
    if (!p)
        return 0;
    pages = strtoull(p + 1, &end, 10);
    if (end == p + 1)
        return 0;
    return (uint64_t) pages * (uint64_t) page;
}

/* ------------------------------------------------------------------------ */
/* Fixed CPU work, CPU time, the machine's load                              */

/* @a n steps of xorshift64 from @a seed (0: a fixed non-zero seed): shifts
 * and xors on one register, no memory, no calls, each step depending on
 * the one before, so the time is proportional to @a n. Use the result (a
 * reply, bench_sink(), a volatile) and the compiler can neither drop nor
 * shorten the loop: it has no closed form it knows. */
static inline uint64_t bench_spin(uint64_t seed, uint64_t n)
{
    uint64_t x = seed ? seed : UINT64_C(88172645463325252), i;

    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

/* The number of bench_spin() steps that take about @a ns nanoseconds on
 * this CPU, from the quickest of 5 timed runs of 1,000,000 steps (the
 * quickest: other processes can only make a run slower). At least 1. */
static inline uint64_t bench_spin_calibrate(uint64_t ns)
{
    uint64_t best = UINT64_MAX, steps;
    int r;

    for (r = 0; r < 5; r++) {
        uint64_t t0 = bench_now_ns(), d;

        bench_sink(bench_spin(0, 1000000));
        d = bench_now_ns() - t0;
        if (d < best)
            best = d;
    }
    steps = (uint64_t) ((double) ns * 1e6 / (double) (best ? best : 1));
    return steps ? steps : 1;
}

/* The calling thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID):
 * unlike bench_now_ns() it does not count the time other processes or the
 * hypervisor held the CPU. Aborts if the clock fails. */
static inline uint64_t bench_thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) {
        perror("clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
        abort();
    }
    return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* This process's CPU time so far (user + system, every thread; not its
 * children), in seconds; 0 if unavailable. */
static inline double bench_self_cpu(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
           + (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The user and system CPU time (utime, stime) in a /proc stat file @a path,
 * in seconds, at the clock tick's resolution (usually 10 ms), into @a user
 * and @a sys; -1 if the file cannot be opened (the task is gone), else 0.
 * Aborts if it cannot be parsed. */
static inline int bench_stat_times(const char *path, double *user, double *sys)
{
    char buf[1024], *p;
    unsigned long ut = 0, st = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    p = strrchr(buf, ')');      /* the command name may hold spaces */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st)
                   != 2) {
        fprintf(stderr, "cannot parse %s\n", path);
        abort();
    }
    *user = (double) ut / (double) sysconf(_SC_CLK_TCK);
    *sys = (double) st / (double) sysconf(_SC_CLK_TCK);
    return 0;
}

/* The CPU time (utime + stime) in a /proc stat file @a path, in seconds, at
 * the clock tick's resolution (usually 10 ms); -1 if the file cannot be
 * opened (the task is gone). Aborts if it cannot be parsed. */
static inline double bench_stat_cpu(const char *path)
{
    double user, sys;

    if (bench_stat_times(path, &user, &sys) < 0)
        return -1;
    return user + sys;
}

/* Process @a pid's CPU time so far (/proc/PID/stat: every thread), in
 * seconds (bench_stat_cpu()). Aborts if the process is gone. */
static inline double bench_proc_cpu(pid_t pid)
{
    char path[64];
    double v;

    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    if ((v = bench_stat_cpu(path)) < 0) {
        fprintf(stderr, "open %s: %s\n", path, strerror(errno));
        abort();
    }
    return v;
}

/* The 1-minute load average (/proc/loadavg), or -1 if unavailable. */
static inline double bench_loadavg(void)
{
    char buf[128];
    double v = -1;
    ssize_t n;
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return sscanf(buf, "%lf", &v) == 1 ? v : -1;
}

/* A TCP connection to 127.0.0.1:@a port with TCP_NODELAY, non-blocking once
 * connected if @a nonblock; -1 (errno set) if the connect failed. Aborts if
 * no socket can be made. */
static inline int bench_connect_loopback(int port, int nonblock)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

    if (fd < 0) {
        perror("socket");
        abort();
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t) port);
    if (connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
        int e = errno;

        close(fd);
        errno = e;
        return -1;
    }
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (nonblock && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        perror("fcntl(O_NONBLOCK)");
        abort();
    }
    return fd;
}

/* ------------------------------------------------------------------------ */
/* Random numbers and sleeping                                               */

/* Next pseudo-random number in [0, n): a xorshift32 step on *@a state (which
 * must start non-zero), then a multiply-shift range reduction (no division).
 * Deterministic for a given seed, so every side of a comparison can replay
 * the same sequence. */
static inline uint32_t bench_rand_below(uint32_t *state, uint32_t n)
{
    uint32_t x = *state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return (uint32_t) (((uint64_t) x * n) >> 32);
}

/* Fill @a v[0..n) with a random permutation of 0..n-1 (Fisher-Yates). */
static inline void bench_shuffle_u32(uint32_t *v, uint32_t n, uint32_t seed)
{
    uint32_t i;

    for (i = 0; i < n; i++)
        v[i] = i;
    for (i = n; i > 1; i--) {
        uint32_t j = bench_rand_below(&seed, i), tmp = v[i - 1];

        v[i - 1] = v[j];
        v[j] = tmp;
    }
}

/* Sleep at least @a ns nanoseconds (resumes after signals); aborts if
 * nanosleep fails otherwise. */
static inline void bench_sleep_ns(uint64_t ns)
{
    struct timespec req, rem;

    req.tv_sec = (time_t) (ns / UINT64_C(1000000000));
    req.tv_nsec = (long) (ns % UINT64_C(1000000000));
    while (nanosleep(&req, &rem) != 0) {
        if (errno != EINTR) {
            perror("nanosleep");
            abort();
        }
        req = rem;
    }
}

/* ------------------------------------------------------------------------ */
/* Result table                                                              */

/** How a row's value is judged. */
typedef enum bench_goal {
    BENCH_INFO,         /**< informational: no target, verdict "-" */
    BENCH_AT_MOST,      /**< ok when value <= target */
    BENCH_AT_LEAST      /**< ok when value >= target */
} bench_goal_t;

/** Verdict tally for the final "targets met" line. */
typedef struct bench_table {
    int met;
    int total;
} bench_table_t;

#define BENCH_NAME_WIDTH 60

/* Print the table's column headings and rule; reset the tally. */
static inline void bench_table_header(bench_table_t *t)
{
    t->met = t->total = 0;
    printf("%-*s %12s   %-12s %s\n", BENCH_NAME_WIDTH, "benchmark", "median",
           "target", "verdict");
    printf("%-*.*s %12.12s   %-12.12s %.7s\n", BENCH_NAME_WIDTH, BENCH_NAME_WIDTH,
           "----------------------------------------------------------------------",
           "------------", "------------", "-------");
}

/* Print one row: name, value with its unit ("ns", "x"), target and verdict;
 * count the verdict in @a t unless the row is BENCH_INFO. */
static inline void bench_table_row(bench_table_t *t, const char *name, double value,
                                   const char *unit, bench_goal_t goal, double target)
{
    char tgt[32] = "-";
    const char *verdict = "-";

    if (goal != BENCH_INFO) {
        int ok = goal == BENCH_AT_MOST ? value <= target : value >= target;

        snprintf(tgt, sizeof tgt, "%s %g %s", goal == BENCH_AT_MOST ? "<=" : ">=",
                 target, unit);
        verdict = ok ? "ok" : "MISS";
        t->total++;
        t->met += ok;
    }
    printf("%-*s %9.2f %-2s   %-12s %s\n", BENCH_NAME_WIDTH, name, value, unit, tgt,
           verdict);
    fflush(stdout);
}

/* Print a heading line between rows, e.g. the parameter the rows below share. */
static inline void bench_table_section(const char *title)
{
    printf("-- %s\n", title);
    fflush(stdout);
}

/* Print the final "targets met: N of M" line. */
static inline void bench_table_footer(const bench_table_t *t)
{
    printf("targets met: %d of %d\n", t->met, t->total);
    fflush(stdout);
}

/* ------------------------------------------------------------------------ */
/* Machine-readable results                                                  */

/* When the environment variable POOLEV_BENCH_TSV names a file, a benchmark
 * also appends one tab-separated line per measurement to it (what
 * bench/report.py reads); the human-readable output stays as it is. The
 * columns:
 *
 *   benchmark case size impl metric value unit rounds
 *
 * benchmark: the program ("timer", "bus", "echo", "pubsub"); case: what was
 * measured ("add", "generate-name", ...); size: its parameter (timers,
 * listeners, connections, "subscribers,W"; "-" when none); impl: the side
 * ("poolev", "libev", "redis", ...); metric: the quantity ("time",
 * "deliveries", "p99", ...); value: the median, a number, except in the rows
 * whose unit is "text", which describe the run (a peer's version, the clock
 * used); rounds: the number of rounds the median is taken over. A file that
 * is empty when opened first gets a header line (starting with '#'). Rows
 * are written after the measurements, never inside a timed section. */

/** The TSV writer's state: one per program (see bench_tsv_state()). */
typedef struct bench_tsv {
    FILE *f;                    /* NULL: not asked for, or not opened yet */
    int tried;                  /* POOLEV_BENCH_TSV was looked at */
    const char *benchmark;      /* the first column */
    int rounds;                 /* the last column */
} bench_tsv_t;

/* The program's TSV state (a static local: the header defines no variable). */
static inline bench_tsv_t *bench_tsv_state(void)
{
    static bench_tsv_t state;

    return &state;
}

/* Name the benchmark and its round count for the rows that follow; opens
 * POOLEV_BENCH_TSV (appending) the first time. Exits with status 2 when the
 * file cannot be opened. */
static inline void bench_tsv_begin(const char *benchmark, int rounds)
{
    bench_tsv_t *t = bench_tsv_state();

    t->benchmark = benchmark;
    t->rounds = rounds;
    if (!t->tried) {
        const char *path = getenv("POOLEV_BENCH_TSV");

        t->tried = 1;
        if (path && *path) {
            t->f = fopen(path, "a");
            if (!t->f) {
                fprintf(stderr, "POOLEV_BENCH_TSV=%s: %s\n", path, strerror(errno));
                exit(2);
            }
            if (ftell(t->f) == 0)
                fprintf(t->f, "#benchmark\tcase\tsize\timpl\tmetric\tvalue\tunit\trounds\n");
        }
    }
}

/* Write a field, with tabs and newlines replaced by spaces; "-" if empty. */
static inline void bench_tsv_field(FILE *f, const char *s, int last)
{
    if (!s || !*s)
        s = "-";
    for (; *s; s++)
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
    fputc(last ? '\n' : '\t', f);
}

/* One measurement: @a value (a median) in @a unit, for @a impl. Nothing
 * happens unless POOLEV_BENCH_TSV is set (bench_tsv_begin() first). */
static inline void bench_tsv_row(const char *kase, const char *size, const char *impl,
                                 const char *metric, double value, const char *unit)
{
    bench_tsv_t *t = bench_tsv_state();
    char num[40];

    if (!t->f)
        return;
    bench_tsv_field(t->f, t->benchmark, 0);
    bench_tsv_field(t->f, kase, 0);
    bench_tsv_field(t->f, size, 0);
    bench_tsv_field(t->f, impl, 0);
    bench_tsv_field(t->f, metric, 0);
    snprintf(num, sizeof num, "%.6g", value);
    bench_tsv_field(t->f, num, 0);
    bench_tsv_field(t->f, unit, 0);
    fprintf(t->f, "%d\n", t->rounds);
    fflush(t->f);
}

/* bench_tsv_row() with a numeric size. */
static inline void bench_tsv_row_n(const char *kase, unsigned long size, const char *impl,
                                   const char *metric, double value, const char *unit)
{
    char sz[24];

    snprintf(sz, sizeof sz, "%lu", size);
    bench_tsv_row(kase, sz, impl, metric, value, unit);
}

/* A description of the run (unit "text"): @a key of @a impl is @a text,
 * e.g. ("libev", "version", "4.33"). */
static inline void bench_tsv_info(const char *impl, const char *key, const char *text)
{
    bench_tsv_t *t = bench_tsv_state();

    if (!t->f)
        return;
    bench_tsv_field(t->f, t->benchmark, 0);
    bench_tsv_field(t->f, "info", 0);
    bench_tsv_field(t->f, "-", 0);
    bench_tsv_field(t->f, impl, 0);
    bench_tsv_field(t->f, key, 0);
    bench_tsv_field(t->f, text, 0);
    bench_tsv_field(t->f, "text", 0);
    fprintf(t->f, "%d\n", t->rounds);
    fflush(t->f);
}

/* ------------------------------------------------------------------------ */
/* Machine description                                                       */

/* Copy the value of the first "key : value" line of /proc/cpuinfo whose key
 * starts with @a key into @a out; return 1 if found. */
static inline int bench_cpuinfo(const char *key, char *out, size_t outsize)
{
    char line[512];
    int found = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");

    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':'), *v;

        if (strncmp(line, key, strlen(key)) != 0 || !colon)
            continue;
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
            ;
        v[strcspn(v, "\n")] = '\0';
        snprintf(out, outsize, "%s", v);
        found = 1;
    }
    fclose(f);
    return found;
}

/* Print the CPU model, online CPU count, compiler and APR version. */
static inline void bench_print_machine(void)
{
    char cpu[256] = "unknown";

    if (!bench_cpuinfo("model name", cpu, sizeof cpu))      /* x86 */
        (void) (bench_cpuinfo("Hardware", cpu, sizeof cpu)  /* older ARM */
                || bench_cpuinfo("cpu model", cpu, sizeof cpu));
    printf("cpu:      %s\n", cpu);
    printf("nproc:    %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("compiler: %s\n", BENCH_COMPILER);
    printf("apr:      %s\n", apr_version_string());
    bench_tsv_info("poolev", "version", POOLEV_VERSION_STRING);
    bench_tsv_info("poolev", "compiler", BENCH_COMPILER);
    bench_tsv_info("apr", "version", apr_version_string());
}

#endif /* POOLEV_BENCHUTIL_H */
