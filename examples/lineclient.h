/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * lineclient.h - a line client over loopback TCP, with deadlines, in plain
 * POSIX (no APR, no poolev): what examples/pubsub_demo.c and the test
 * suites (t/harness.h) use to talk to a daemon.
 *
 * Times are milliseconds of the monotonic clock (lc_now_ms()). Every wait
 * has a deadline, so a daemon that does not answer never hangs the caller.
 */
#ifndef POOLEV_LINECLIENT_H
#define POOLEV_LINECLIENT_H

#include <stddef.h>

/* Bytes a client buffers: its longest line. */
#define LC_BUF (256 * 1024)

typedef struct lc_client {
    int fd;                     /* non-blocking; -1 once closed */
    int eof;                    /* end of input, or a reset, was seen */
    size_t len;                 /* bytes in buf */
    char buf[LC_BUF];           /* input not taken yet */
    char line[LC_BUF];          /* the line lc_line() returned last */
} lc_client_t;

/* Now, in milliseconds of the monotonic clock. */
long lc_now_ms(void);

/* Sleep @a ms milliseconds (again after a signal). */
void lc_sleep_ms(long ms);

/*
 * Connect to 127.0.0.1:@a port, with TCP_NODELAY. @a rcvbuf > 0 shrinks
 * the receive buffer first (a client that stops reading then backs up into
 * the daemon quickly). The new client (malloc'd), or NULL with errno set.
 */
lc_client_t *lc_connect(unsigned port, int rcvbuf);

/* Read what has come, waiting at most @a ms (0: do not wait) for
 * something. 1 when something came (or the end), 0 when nothing did or the
 * buffer is full. */
int lc_fill(lc_client_t *c, long ms);

/* Wait at most @a ms until a whole line is buffered or the input ended,
 * without taking the line. 1 then, else 0. */
int lc_ready(lc_client_t *c, long ms);

/* The next line without its LF or CRLF (in c->line, valid until the next
 * call), or NULL when none came within @a ms, the input ended, or the
 * buffer is full of a line without end. Reads at least once, even when
 * @a ms is 0. */
const char *lc_line(lc_client_t *c, long ms);

/* Send all of @a data within @a ms. 0, or the errno that stopped it
 * (ETIMEDOUT: the daemon does not read). */
int lc_send(lc_client_t *c, const void *data, size_t len, long ms);

/* Wait at most @a ms for the end of input, discarding what comes before.
 * 1 when it came. */
int lc_wait_eof(lc_client_t *c, long ms);

/* Close the connection; with @a reset, with a reset (as a killed client's
 * kernel would). The client's buffered input stays. */
void lc_close(lc_client_t *c, int reset);

/* Close if open, and free. */
void lc_free(lc_client_t *c);

#endif
