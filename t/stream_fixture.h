/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * stream_fixture.h - what the stream suites (check_stream_*.c,
 * check_waitevent.c) share: a loop on the fake clock, streams over loopback
 * pairs whose user_data counts and records every callback, wait events and
 * timers that log their ids and act.
 *
 * Every test is named after the rule it proves. Streams run over loopback
 * TCP pairs or pipes; the test drives the peer end directly, non-blocking,
 * with bounded waits (harness.h). Idle, timer and wait event tests run on
 * the fake clock and never sleep.
 */
#ifndef POOLEV_STREAM_FIXTURE_H
#define POOLEV_STREAM_FIXTURE_H

#include <poolev.h>
#include "harness.h"

/* The test's call log and loop (on the fake clock). */
extern pt_log_t LOG;
extern pev_loop_t *LOOP;

void stream_setup(void);
void stream_teardown(void);

/* ======================================================================== */
/* A stream's user_data and callbacks                                            */

/* Flags of sock_stream(). */
#define SMALL_BUFS 1    /* shrink the kernel's socket buffers */
#define FILL       2    /* and fill them before the stream is created */
#define NO_IDLE_CB 4    /* no on_idle callback */

#define MAXLINES 128

typedef struct sctx sctx_t;
typedef void sctx_fn(sctx_t *c);

struct sctx {
    int id;
    pev_stream_t *s;
    apr_pool_t *pool;           /* the stream's pool */
    apr_socket_t *cli;          /* the peer end (sockets) */
    int fd;                     /* the peer end's descriptor */
    int srv_fd;                 /* the stream's descriptor */
    apr_size_t filled;          /* bytes pt_fill_kernel() queued before the stream */
    int destroyed;              /* the test destroyed the stream's pool */

    int reads, drains, closes, idles;
    apr_status_t reason;        /* given to on_close */

    int take_lines;             /* on_read takes every complete line */
    int nlines;
    char *line[MAXLINES];       /* copies, in pt_pool */
    apr_size_t len[MAXLINES];
    int line_eof[MAXLINES];     /* pev_stream_eof() when it was taken */
    int first_read_lines;       /* lines taken in the first on_read */
    apr_status_t last_get;      /* getline's status that ended the last take */
    apr_size_t max_pending;     /* most input seen buffered */

    int idle_keep;              /* on_idle's answer */
    apr_size_t drain_seen;      /* output pending when on_drain ran */

    sctx_fn *read_action, *close_action, *drain_action;
    int (*idle_action)(sctx_t *c);
    void *p1;
    apr_status_t st;            /* a status an action recorded */
};

/* on_read, on_drain, on_close and on_idle check the stream is alive, count,
 * record (on_read takes every line while c->take_lines) and run the
 * user_data's actions. */
void on_read(pev_stream_t *s, void *user_data);
void on_drain(pev_stream_t *s, void *user_data);
void on_close(pev_stream_t *s, apr_status_t reason, void *user_data);
int on_idle(pev_stream_t *s, void *user_data);
extern const pev_stream_callbacks_t CB_ALL;
extern const pev_stream_callbacks_t CB_NO_IDLE;

/* Take every complete line into c->line[]. */
void take_lines(sctx_t *c);

/* A user_data, in pt_pool. */
sctx_t *ctx_new(int id);

/* A stream over a new loopback pair, owned by @a pool (NULL: a new subpool
 * of pt_pool), whose server socket comes from that pool too. */
sctx_t *sock_stream(int id, apr_pool_t *pool, int flags);

/* Destroy the stream's pool (from a callback or not), then reuse its
 * memory. */
void destroy_own_pool(sctx_t *c);

/* Read the kernel filler (FILL) at the peer end, checking it. */
void peer_skip_filler(sctx_t *c);

/* printf into a stream through pev_stream_vprintf(). */
apr_status_t vp(pev_stream_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ======================================================================== */
/* Wait events: a user_data that logs and acts                                   */

typedef struct wact wact_t;
typedef pev_waitevent_t *wact_fn(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev);

struct wact {
    int id;
    sctx_t *c;                  /* the stream's user_data */
    pev_waitevent_t *ev;
    int calls;
    apr_time_t seen_now;
    apr_uint64_t seen_iter;
    wact_fn *action;
    void *p1, *p2;
    apr_status_t st;
};

/* Logs the event's id in LOG, checks it is not early, runs its action. */
pev_waitevent_t *on_wait(pev_stream_t *s, pev_waitevent_t *ev, void *user_data);

/* A wait event on @a c's stream at @a mark, logging @a id. */
wact_t *wadd(sctx_t *c, apr_time_t mark, int id, wact_fn *action);

/* An action: destroys the stream's pool. */
pev_waitevent_t *w_destroy_own_pool(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev);

/* An action: the peer of the stream a->p1 (an sctx_t) sends the string
 * a->p2. */
pev_waitevent_t *w_send_to_p1(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev);

/* A timer's user_data: logs its id, then an optional action. */
typedef struct tjob tjob_t;
struct tjob {
    int id;
    int calls;
    void (*fn)(tjob_t *j);
    sctx_t *c;
    void *p;
    apr_status_t st;
};

void on_timer(pev_timer_t *t, void *user_data);

/* A timer at @a mark on LOOP, in pt_pool. */
tjob_t *timer_at(apr_time_t mark, int id, void (*fn)(tjob_t *), sctx_t *c);

#endif
