/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_bridge_allocs.c - heap allocations per message in the Redis bridge
 * (poolev/bridge.h), on its export path and on its import path, by the
 * library that asked for them: libpoolev (the bridge's own copies,
 * formatting and command building), hiredis (its command queue, output
 * buffer and reply objects), APR (pools growing: what the bridge's scratch
 * pools take from the system).
 *
 * How they are counted: this program defines malloc, calloc, realloc and
 * free itself. The dynamic linker looks symbols up in the executable
 * first, so every allocation of libpoolev, hiredis and APR comes here (no
 * LD_PRELOAD); each is counted by the object of its caller (dladdr() of the
 * return address) and passed on to glibc's __libc_malloc and friends. A
 * realloc that moves or grows counts as an allocation; free is not
 * counted.
 *
 *   export: one bridge exports "topic." (no import), with an encoder that
 *           points into the event's data as pubsubd's does; WARMUP messages,
 *           then N counted, each generated on the bus and published, the
 *           count taken over the PUBLISHes Redis acknowledged.
 *   import: one bridge imports "topic." with a decoder that builds its
 *           event in the scratch pool as pubsubd's does; a child process
 *           (this program, "publish") publishes WARMUP + N messages
 *           through a bridge of its own; the count runs from the WARMUP-th
 *           message received to the last one.
 *
 *   bench_bridge_allocs [--smoke] [REDIS-SERVER]
 *
 * N is BENCH_MSGS (default 20000; --smoke: 2000). Counts do not depend on
 * the machine's load, only on the code (and on how many messages a read
 * brings at once on the import path: reported per message over N).
 * Goal: no allocation of libpoolev's own per message on either path.
 * Without redis-server it says so and exits 0.
 */
#include <dlfcn.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "poolev.h"
#include "benchutil.h"
#include "pubsub_client.h"

/* ------------------------------------------------------------------------ */
/* Counting allocations                                                      */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

enum { BY_POOLEV, BY_HIREDIS, BY_APR, BY_OTHER, BY_N };
static const char *const by_name[BY_N] = { "libpoolev", "hiredis", "APR", "other" };
static unsigned long counts[BY_N];
static int counting;
static _Thread_local int inside;

static void count(const void *caller)
{
    Dl_info info;
    const char *f;
    int by = BY_OTHER;

    if (!counting || inside)
        return;
    inside = 1;
    if (dladdr(caller, &info) && info.dli_fname) {
        f = strrchr(info.dli_fname, '/');
        f = f ? f + 1 : info.dli_fname;
        if (strncmp(f, "libpoolev", 9) == 0)
            by = BY_POOLEV;
        else if (strncmp(f, "libhiredis", 10) == 0)
            by = BY_HIREDIS;
        else if (strncmp(f, "libapr", 6) == 0)
            by = BY_APR;
    }
    counts[by]++;
    inside = 0;
}

void *malloc(size_t n)
{
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t k)
{
    count(__builtin_return_address(0));
    return __libc_calloc(n, k);
}

void *realloc(void *p, size_t n)
{
    void *q = __libc_realloc(p, n);

    if (q != p)
        count(__builtin_return_address(0));
    return q;
}

void free(void *p)
{
    __libc_free(p);
}

/* ------------------------------------------------------------------------ */
/* The bridges                                                               */

#define WARMUP 1000

typedef struct pub {
    const char *text;
    apr_size_t len;
} pub_t;

static pev_loop_t *loop;
static pev_bus_t *bus;
static pev_bridge_t *br;
static unsigned long received, want;
static unsigned long snap[BY_N];

static apr_status_t encode(const void **data, apr_size_t *len, const char *event,
                           const void *event_data, apr_pool_t *scratch, void *user_data)
{
    const pub_t *p = event_data;

    (void) event, (void) scratch, (void) user_data;
    *data = p->text;
    *len = p->len;
    return APR_SUCCESS;
}

static apr_status_t decode(const void **event_data, const pev_bridge_msg_t *m,
                           apr_pool_t *scratch, void *user_data)
{
    pub_t *p = apr_palloc(scratch, sizeof *p);
    char *text = apr_palloc(scratch, m->len + 8);

    (void) user_data;
    memcpy(text, "MSG ", 4);
    memcpy(text + 4, m->data, m->len);
    p->text = text;
    p->len = m->len + 4;
    *event_data = p;
    return APR_SUCCESS;
}

static void on_topic(const void *event_data, void *user_data)
{
    (void) event_data, (void) user_data;
    received++;
    if (received == WARMUP) {
        memcpy(snap, counts, sizeof snap);
        counting = 1;
    }
    else if (received == want) {
        int i;

        counting = 0;
        for (i = 0; i < BY_N; i++)
            snap[i] = counts[i] - snap[i];
    }
}

static pev_bridge_stats_t stats(void)
{
    pev_bridge_stats_t s;

    CHECK(pev_bridge_stats(br, &s));
    return s;
}

static void pump_until_connected(void)
{
    uint64_t end = bench_now_ns() + 10ull * 1000000000;

    while (!stats().connected) {
        if (bench_now_ns() > end)
            FAIL("the bridge did not connect within 10 s: %s", stats().last_error);
        CHECK(pev_loop_run_once(loop, 100000));
    }
}

static void bridge_make(int port, int exports, int imports, apr_pool_t *pool)
{
    pev_bridge_options_t o;

    CHECK(pev_loop_create(&loop, pool));
    CHECK(pev_bus_create(&bus, pool));
    pev_bridge_options_init(&o);
    o.port = (apr_port_t) port;
    o.queue_limit = 100000;
    o.queue_bytes = 256u * 1024 * 1024;
    CHECK(pev_bridge_create(&br, loop, bus, &o, pool));
    if (exports)
        CHECK(pev_bridge_export(br, "topic.", PEV_BRIDGE_PREFIX, encode, NULL));
    if (imports) {
        CHECK(pev_bridge_import(br, "topic.", PEV_BRIDGE_PREFIX, decode, NULL));
        CHECK(pev_event_register(NULL, bus, NULL, "topic.t", on_topic, NULL, pool));
    }
    pump_until_connected();
}

/* Generate @a n messages, a batch at a time, until Redis acknowledged all. */
static void publish(unsigned long n)
{
    char text[PAYLOAD];
    pub_t p = { text, sizeof text };
    unsigned long i, base = stats().sent;
    uint64_t end = bench_now_ns() + 60ull * 1000000000;

    memset(text, 'x', sizeof text);
    for (i = 0; i < n; i++) {
        CHECK(pev_event_generate(bus, "topic.t", &p));
        if (i % 64 == 63)
            CHECK(pev_loop_run_once(loop, 0));
    }
    while (stats().sent + stats().dropped < base + n) {
        if (bench_now_ns() > end)
            FAIL("publishing: %lu of %lu acknowledged after 60 s",
                 (unsigned long) (stats().sent - base), n);
        CHECK(pev_loop_run_once(loop, 100000));
    }
    if (stats().dropped)
        FAIL("publishing: %lu dropped", (unsigned long) stats().dropped);
}

static void print_counts(const char *what, const unsigned long *c, unsigned long n)
{
    int i;

    printf("%-36s", what);
    for (i = 0; i < BY_N; i++)
        printf(" %9.2f", (double) c[i] / (double) n);
    printf("   %s\n", (double) c[BY_POOLEV] / (double) n < 0.01 ? "met" : "not met");
}

int main(int argc, char **argv)
{
    const char *redis = "/usr/bin/redis-server";
    unsigned long n;
    apr_pool_t *pool;
    proc_t rs;
    char self[4096];
    int smoke = 0, argi = 1, i;
    struct stat sb;

    if (argc == 4 && strcmp(argv[1], "publish") == 0) {
        /* the child of the import measurement */
        apr_initialize();
        CHECK(apr_pool_create(&pool, NULL));
        bridge_make(atoi(argv[2]), 1, 0, pool);
        publish(strtoul(argv[3], NULL, 10));
        return 0;
    }
    if (argi < argc && strcmp(argv[argi], "--smoke") == 0) {
        smoke = 1;
        argi++;
    }
    if (argi < argc)
        redis = argv[argi++];
    n = getenv("BENCH_MSGS") ? strtoul(getenv("BENCH_MSGS"), NULL, 10) : smoke ? 2000 : 20000;
    if (n < 1 || n > 10000000)
        FAIL("BENCH_MSGS: 1 to 10000000");
    printf("bench_bridge_allocs: heap allocations per message in the Redis bridge, by the "
           "library that made them\n");
    if (!pev_bridge_available()) {
        printf("libpoolev was built without hiredis: nothing to count\n");
        return 0;
    }
    if (stat(redis, &sb) != 0) {
        printf("redis-server is not installed (%s): nothing to count\n", redis);
        return 0;
    }
    signal(SIGABRT, kill_children);
    apr_initialize();
    redis_start(&rs, redis, "allocs");
    printf("%lu messages of %d bytes counted after %d, through a redis-server of its own; "
           "goal: 0 allocations of libpoolev per message\n\n", n, PAYLOAD, WARMUP);
    printf("%-36s", "per message");
    for (i = 0; i < BY_N; i++)
        printf(" %9s", by_name[i]);
    printf("   goal\n");

    /* export */
    CHECK(apr_pool_create(&pool, NULL));
    bridge_make(rs.port, 1, 0, pool);
    publish(WARMUP);
    memcpy(snap, counts, sizeof snap);
    counting = 1;
    publish(n);
    counting = 0;
    for (i = 0; i < BY_N; i++)
        snap[i] = counts[i] - snap[i];
    print_counts("exported (generate to PUBLISH reply)", snap, n);
    apr_pool_destroy(pool);

    /* import */
    CHECK(apr_pool_create(&pool, NULL));
    bridge_make(rs.port, 0, 1, pool);
    want = WARMUP + n;
    {
        char port[16], count_s[32], log[160];
        char *args[] = { self, "publish", port, count_s, NULL };
        ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
        pid_t child;
        int status;
        uint64_t end = bench_now_ns() + 60ull * 1000000000;

        SYSCHECK(k > 0, "readlink /proc/self/exe");
        self[k] = '\0';
        snprintf(port, sizeof port, "%d", rs.port);
        snprintf(count_s, sizeof count_s, "%lu", want);
        snprintf(log, sizeof log, "%s/publisher.log", rs.dir);
        child = spawn(args, log);
        while (received < want) {
            if (bench_now_ns() > end)
                FAIL("importing: %lu of %lu messages after 60 s (lost %lu)", received, want,
                     (unsigned long) stats().lost);
            CHECK(pev_loop_run_once(loop, 100000));
        }
        SYSCHECK(waitpid(child, &status, 0) == child, "waitpid");
        for (i = 0; i < MAX_CHILDREN; i++)
            if (children[i] == child)
                children[i] = 0;
    }
    print_counts("imported (reply to listener)", snap, n);
    apr_pool_destroy(pool);
    proc_stop(&rs.pid, rs.dir);
    apr_terminate();
    return 0;
}
