/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * harness_redis.h - a redis-server of the test's own: started on a free
 * 127.0.0.1 port without persistence (--save '' --appendonly no), stopped,
 * restarted on the same port, paused and resumed (SIGSTOP, SIGCONT), and a
 * blocking command connection to it (plain sockets and RESP: no hiredis,
 * so the harness builds without it).
 *
 * Every wait is bounded: a server that does not answer PING within
 * PT_REDIS_START_MS fails the test; a stop waits PT_REDIS_STOP_MS for the
 * process to exit after SIGTERM, then SIGKILLs it. Servers still running
 * when the program exits are killed (atexit), also after a failed test
 * under CK_FORK=no.
 */
#ifndef POOLEV_HARNESS_REDIS_H
#define POOLEV_HARNESS_REDIS_H

#include <stddef.h>

#define PT_REDIS_START_MS 10000
#define PT_REDIS_STOP_MS  5000

/* A redis-server process (or the record of a stopped one). */
typedef struct pt_redis pt_redis_t;

/* Non-zero when redis-server can be run (found on PATH). */
int pt_redis_available(void);

/* When redis-server cannot be run: say so loudly on stderr and exit 77
 * (automake's SKIP). Call it from a suite's main() before the suite. */
void pt_redis_require(const char *suite);

/* Start a redis-server on a free loopback port and wait until it answers
 * PING. @a password: NULL, or the requirepass to set. Asserts success. */
pt_redis_t *pt_redis_start(const char *password);

/* Its port. */
unsigned pt_redis_port(const pt_redis_t *r);

/* Its process id (0 while stopped). */
int pt_redis_pid(const pt_redis_t *r);

/* Stop it: SIGCONT (it may be paused), SIGTERM, wait at most
 * PT_REDIS_STOP_MS, then SIGKILL and reap. The record stays, for
 * pt_redis_restart(). Harmless when stopped already. */
void pt_redis_stop(pt_redis_t *r);

/* Kill it at once (SIGKILL) and reap: a crash. */
void pt_redis_kill(pt_redis_t *r);

/* Start it again on the same port with the same settings (stopping it
 * first if it runs); waits for PING like pt_redis_start(). */
void pt_redis_restart(pt_redis_t *r);

/* SIGSTOP / SIGCONT: a stalled server and its recovery. */
void pt_redis_pause(pt_redis_t *r);
void pt_redis_resume(pt_redis_t *r);

/* Stop it and free the record. NULL: no-op. */
void pt_redis_free(pt_redis_t *r);

/*
 * Send one command (@a argc arguments, binary-safe with their lengths; a
 * NULL @a lens means NUL-terminated strings) over a new blocking connection
 * (AUTH first with the server's password), read the reply and close.
 * Returns the reply in a static buffer as text: "+OK", "-ERR ...",
 * ":3", "$value" for a bulk string ("$" alone for a nil), "*N" followed by
 * each element's text on its own line for an array. Asserts that the
 * server answered within PT_IO_MS.
 */
const char *pt_redis_cmdv(pt_redis_t *r, int argc, const char *const *argv,
                          const size_t *lens);

/* pt_redis_cmdv() with NUL-terminated arguments, the list ending in NULL. */
const char *pt_redis_cmd(pt_redis_t *r, const char *arg, ...);

/*
 * For a fake Redis: the first command in @a buf (@a len bytes), a RESP
 * array of bulk strings as hiredis sends them. Returns its argument count
 * with @a arg / @a alen pointing into @a buf and *@a used the bytes it
 * takes, or 0 when the command is not all there yet. Asserts that it is an
 * array of at most @a max arguments.
 */
int pt_resp_command(const char *buf, size_t len, const char **arg, size_t *alen, int max,
                    size_t *used);

#endif /* POOLEV_HARNESS_REDIS_H */
