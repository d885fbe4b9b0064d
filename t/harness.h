/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * harness.h - the test harness every check suite of poolev uses: the
 * suite's program and fixture, seeded randomness, call logs, a loop on a
 * fake clock, pumping a loop or a daemon until a condition holds, socket
 * pairs and pipes, the scripted peer end of a descriptor, a watchdog, and
 * the line client of examples/lineclient.h.
 *
 * Every wait has a deadline: a test that waits for something that never
 * happens fails, it does not hang (also under CK_FORK=no, where check has
 * no timeouts).
 */
#ifndef POOLEV_HARNESS_H
#define POOLEV_HARNESS_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <apr_file_io.h>
#include <apr_network_io.h>
#include <apr_pools.h>
#include <poolev.h>

#include "../examples/lineclient.h"

/* ======================================================================== */
/* The suite's program (harness.c)                                           */

/* Root pool for a test: created in setup, destroyed in teardown. */
extern apr_pool_t *pt_pool;

/* A test's fixture: pt_pool, and what the harness keeps for the test. */
void pt_setup(void);

/* Stops the watchdog, closes the test's clients and kept descriptors,
 * destroys pt_pool. */
void pt_teardown(void);

/* A new subpool of @a parent (asserts success). */
apr_pool_t *pt_subpool(apr_pool_t *parent);

/* A new subpool of @a parent with an allocator of its own that keeps no free
 * blocks: when it is destroyed its memory goes back to the system at once,
 * so a use after free faults (or ASan and valgrind report it) instead of
 * reading stale but intact pool memory. For tests that destroy a pool from
 * inside a callback. */
apr_pool_t *pt_unkept_subpool(apr_pool_t *parent);

/* Run one suite (APR initialized around it); returns the exit status. */
int pt_run(Suite *s);

/*
 * A mode of a suite's program: the program run again with argv[1] == name
 * runs main() instead of the suite, without check and without APR (a
 * process that never called APR). main() returns 0 when all went well.
 */
typedef struct {
    const char *name;
    int (*main)(void);
} pt_mode_t;

/* A suite program's main(): the mode named by argv[1] (@a modes ends with
 * a NULL name; NULL: none), or the suite, with SIGPIPE ignored (a write
 * to a closed peer gets EPIPE instead of killing the test). */
int pt_main(int argc, char **argv, Suite *(*suite)(void), const pt_mode_t *modes);

/* Run this program again in @a mode; its exit status (128 + the signal if
 * a signal ended it). Needs pt_main(). */
int pt_run_self(const char *mode);

/* In a mode's main(): return 1, saying where, when @a cond is false. */
#define PT_MODE_CHECK(cond) do {                                             \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond);       \
            return 1;                                                        \
        }                                                                    \
    } while (0)

/* A long from the environment, or @a dflt. */
long pt_env_long(const char *name, long dflt);

/* ======================================================================== */
/* Seeded randomness (harness.c)                                             */

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

/* ======================================================================== */
/* Call logs (harness.c)                                                     */

/* Listeners append small integers; tests compare sequences. */
#define PT_LOG_MAX 4096
typedef struct {
    int v[PT_LOG_MAX];
    int n;
} pt_log_t;

void pt_log_reset(pt_log_t *log);
void pt_log_add(pt_log_t *log, int v);
/* How often @a v is in the log. */
int pt_log_count(const pt_log_t *log, int v);
/* "1,2,3" form for messages; static buffer */
const char *pt_log_str(const pt_log_t *log);
/* compare against a list terminated by -1 */
int pt_log_eq(const pt_log_t *log, const int *expect);

#define ck_assert_log(log, ...) do {                                        \
        static const int expect_[] = { __VA_ARGS__, -1 };                  \
        ck_assert_msg(pt_log_eq((log), expect_), "call log was %s",        \
                      pt_log_str(log));                                     \
    } while (0)

/* ======================================================================== */
/* Loops: a fake clock, pumping until a condition holds (harness.c)          */

/* The fake clock: it reads pt_fake_now, after adding pt_fake_step (0: a
 * clock that stands still until the test moves it). */
extern apr_time_t pt_fake_now;
extern apr_time_t pt_fake_step;
apr_time_t pt_fake_clock(void *user_data);

/* A new loop in @a pool on the fake clock, which is set to 1000 and stands
 * still. Timer and idle tests run on it: exact and sleepless. */
pev_loop_t *pt_fake_loop(apr_pool_t *pool);

/* One iteration of @a loop at fake time @a to, without waiting. */
void pt_tick(pev_loop_t *loop, apr_time_t to);

/* @a n iterations of @a loop, without waiting. */
void pt_pump(pev_loop_t *loop, int n);

/* What timers and wait events (one heap) both promise: three of them on
 * @a loop, armed at 3000 (logging 3 to @a log), 1500 (1) and 2000 (2),
 * fire in mark order and none before its mark. Runs the fake clock from
 * 1499 to @a end (after 3000). */
void pt_expect_mark_order(pev_loop_t *loop, const pt_log_t *log, apr_time_t end);

/* The loop's statistics: iterations run, timers armed. */
apr_uint64_t pt_loop_iterations(pev_loop_t *loop);
apr_size_t pt_loop_timers(pev_loop_t *loop);

/* How long a wait for a condition or for I/O may take before the test
 * fails (real time). */
#define PT_WAIT_MS 10000
#define PT_IO_MS   5000

/* Run @a run_once (an expression: one iteration that waits at most 1 ms)
 * until @a cond holds; fail after PT_WAIT_MS. */
#define PT_RUN_UNTIL(run_once, cond) do {                                    \
        apr_time_t pt_end_ = pev_clock_monotonic()                          \
                             + (apr_time_t) PT_WAIT_MS * 1000;              \
        while (!(cond)) {                                                    \
            ck_assert_msg(pev_clock_monotonic() < pt_end_,                   \
                          "gave up waiting for: %s", #cond);                 \
            ck_assert_int_eq((run_once), APR_SUCCESS);                       \
        }                                                                    \
    } while (0)

/* Run @a loop, or the daemon @a d, until @a cond. */
#define PT_PUMP_UNTIL(loop, cond) PT_RUN_UNTIL(pev_loop_run_once((loop), 1000), cond)
#define PT_DAEMON_UNTIL(d, cond) PT_RUN_UNTIL(pev_daemon_run_once((d), 1000), cond)

/* ======================================================================== */
/* Descriptors (harness_io.c)                                                */

int pt_sock_fd(apr_socket_t *s);
int pt_file_fd(apr_file_t *f);

/* Flags of pt_tcp_pair(). */
#define PT_SMALL_BUFS 1         /* 4 KiB kernel buffers: *cli receives, *srv sends */

/*
 * A connected loopback TCP pair: *srv (to wrap in a stream) from @a spool,
 * *cli (the peer end, driven by the test; made non-blocking) from @a cpool.
 */
void pt_tcp_pair(apr_pool_t *spool, apr_pool_t *cpool, int flags, apr_socket_t **srv,
                 apr_socket_t **cli);

/*
 * A pipe from @a pool. @a stream_reads: the read end (*rd) is for a stream
 * and non-blocking, the write end blocks; else the other way round. The
 * test's end is used through raw descriptor calls.
 */
void pt_pipe_pair(apr_pool_t *pool, int stream_reads, apr_file_t **rd, apr_file_t **wr);

/* A connected AF_UNIX socketpair (both ends blocking), closed by
 * pt_teardown(). */
void pt_socketpair(int sv[2]);

/* Close @a fd in pt_teardown(), after pt_pool is destroyed (and so the
 * streams on it are freed). */
void pt_keep_fd(int fd);

/* Close a kept descriptor now. */
void pt_close_fd(int fd);

/* Close the kept descriptors (pt_teardown() does). */
void pt_close_kept(void);

/* Send from @a fd (nobody reads the other end) until the kernel takes no
 * more; the bytes sent ('F's). What is written to @a fd afterwards stays
 * unsent until the peer reads. */
apr_size_t pt_fill_kernel(int fd);

/* Fill @a buf with a pattern that tells where in a stream of @a off +
 * @a n bytes each byte was. */
void pt_pattern(char *buf, apr_size_t n, apr_size_t off);

/* Reuse freed memory at once (pool and malloc), so that a use-after-free
 * reads garbage; ASan and valgrind report it precisely. */
void pt_scribble(void);

/* ======================================================================== */
/* The peer end: a scripted peer with deadlines (harness_io.c)               */

/*
 * The peer calls run @a loop (one iteration, at most 1 ms) while they wait,
 * or, with a NULL loop, wait on the descriptor alone (the loop is running
 * already, or the stream is served by another thread). They fail the test
 * after PT_IO_MS.
 */

/* Send all of @a data from the peer end @a fd (socket or pipe).
 * APR_SUCCESS, or the error that stopped it (the other end went away). */
apr_status_t pt_peer_send(pev_loop_t *loop, int fd, const void *data, apr_size_t n);

/* Send the string @a str, asserting it all went. */
#define pt_peer_puts(loop, fd, str)                                          \
    ck_assert_int_eq(pt_peer_send((loop), (fd), (str), strlen(str)), APR_SUCCESS)

/* Read at the peer end until @a want bytes came, input ended (*eof: also a
 * reset), or PT_IO_MS passed. Returns the bytes read. */
apr_size_t pt_peer_read(pev_loop_t *loop, int fd, char *buf, apr_size_t want, int *eof);

/* Read exactly @a text's bytes and compare. */
void pt_peer_expect(pev_loop_t *loop, int fd, const char *text);

/* Read until input ends, asserting it does; the bytes that came before. */
apr_size_t pt_peer_expect_eof(pev_loop_t *loop, int fd);

/* Nothing arrives at @a fd right now (and it is not at the end). */
int pt_peer_idle(int fd);

/* Wait at most 2 s for @a fd to become readable, asserting it does. */
void pt_wait_readable(int fd);

/* ======================================================================== */
/* Watchdog (harness_io.c)                                                   */

/* After POOLEV_GUARD_MS (5000) ms, unless stopped, write "guard\n" to
 * @a fd from a thread: unblocks a wait that would never end, so that the
 * test fails instead. One at a time. */
void pt_guard_start(int fd);

/* Stop the watchdog (pt_teardown() does). Whether it fired. */
int pt_guard_stop(void);

/* ======================================================================== */
/* Line clients (harness_io.c, examples/lineclient.h)                        */

/* A client connected to 127.0.0.1:@a port (lc_connect(), asserting it
 * worked); pt_teardown() frees it. */
lc_client_t *pt_client(unsigned port, int rcvbuf);

/* Close and free @a c now. */
void pt_client_free(lc_client_t *c);

/* Send @a len bytes (asserting they went within PT_IO_MS). */
void pt_client_write(lc_client_t *c, const void *data, size_t len);

/* Send a line: printf-formatted, CRLF added. */
void pt_client_send(lc_client_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* lc_fill() and lc_line(), failing the test when the buffer is full of a
 * line without end. */
int pt_client_fill(lc_client_t *c, long ms);
const char *pt_client_line(lc_client_t *c, long ms);

/* The next line is @a want (a prefix of it). */
#define PT_EXPECT(c, want) do {                                              \
        const char *got_ = pt_client_line((c), PT_IO_MS);                    \
        ck_assert_msg(got_ && strcmp(got_, (want)) == 0,                     \
                      "expected '%s', got '%s'", (want),                     \
                      got_ ? got_ : "(nothing: end of input or timeout)");   \
    } while (0)

#define PT_EXPECT_PREFIX(c, want) do {                                       \
        const char *got_ = pt_client_line((c), PT_IO_MS);                    \
        ck_assert_msg(got_ && strncmp(got_, (want), strlen(want)) == 0,      \
                      "expected '%s...', got '%s'", (want),                  \
                      got_ ? got_ : "(nothing: end of input or timeout)");   \
    } while (0)

/* ======================================================================== */
/* Files                                                                     */

/* Write @a text to @a path whole: into PATH.tmp, then renamed, so a reader
 * (a daemon's reload) sees all of it or nothing. Fails the test on error. */
void pt_write_file(const char *path, const char *text);

/* The whole of @a path, NUL-terminated (malloc'd: free it); "" when it does
 * not exist. */
char *pt_slurp(const char *path);

/* The first 255 bytes of @a path (a /proc or pid file), NUL-terminated, in a
 * static buffer that the next call reuses; NULL when it does not exist. */
const char *pt_slurp_small(const char *path);

/* How often @a needle occurs in @a text (not overlapping). */
int pt_count(const char *text, const char *needle);

/* ======================================================================== */
/* DNS responders of the tests (harness_io.c)                                */

/*
 * The question of the DNS query @a q (@a qlen bytes): its name, lower-cased,
 * dotted, in @a name (256 bytes), its type in *@a qtype. Returns the length
 * of the header and the question, or 0 when @a q is a reply or malformed.
 */
size_t pt_dns_question(const unsigned char *q, size_t qlen, char *name, int *qtype);

/* Start the reply to @a q in @a out: its header and question (@a n bytes,
 * from pt_dns_question()), authoritative, recursion available, NOERROR if
 * @a found else NXDOMAIN, no answer yet (out[7] counts the answers). */
void pt_dns_reply_start(const unsigned char *q, size_t n, unsigned char *out, int found);

/* A command and its exact reply. */
#define PT_ASK(c, cmd, want) do {                                            \
        pt_client_send((c), "%s", (cmd));                                    \
        PT_EXPECT((c), (want));                                              \
    } while (0)

#endif
