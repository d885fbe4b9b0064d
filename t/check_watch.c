/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_watch.c - descriptor watchers (include/poolev/watch.h,
 * doc/loop.md): readiness reported, interest changed and watchers removed
 * from any callback, pools and loops destroyed at any point, descriptors
 * of every kind (raw, apr_file_t, apr_socket_t) and the ones a pollset
 * refuses.
 *
 * Use-after-free checks: callbacks that destroy a pool reuse the freed
 * memory at once (pt_scribble()), so a stale pointer reads garbage; ASan
 * and valgrind report it precisely.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_file_io.h>
#include <apr_portable.h>

#include <poolev.h>
#include "harness.h"

static pev_loop_t *LOOP;

static void setup(void)
{
    pt_setup();
    ck_assert_int_eq(pev_loop_create(&LOOP, pt_pool), APR_SUCCESS);
}

static void teardown(void)
{
    pt_teardown();
    LOOP = NULL;
}

/* What a watcher's callback saw, and what it does. */
typedef struct wctx {
    int calls;
    apr_int16_t last;               /* the events of the last call */
    apr_int16_t seen;               /* all events seen, or'ed */
    int fd;                         /* drained on READ when >= 0 */
    int action;                     /* what the callback does, see below */
    apr_int16_t next;               /* A_SET: the interest to set */
    apr_pool_t *pool;               /* A_DESTROY: the pool to destroy */
    pev_watch_t *other;             /* A_REMOVE_OTHER */
    int stop_after;                 /* remove itself after that many calls */
    apr_status_t rv;                /* of the action */
} wctx_t;

enum { A_NONE, A_SET, A_REMOVE, A_DESTROY, A_REMOVE_OTHER };

static void drain(int fd)
{
    char buf[256];

    while (read(fd, buf, sizeof buf) > 0)
        ;
}

static void on_ready(pev_watch_t *w, apr_int16_t events, void *user_data)
{
    wctx_t *c = user_data;

    c->calls++;
    c->last = events;
    c->seen |= events;
    if ((events & PEV_WATCH_READ) && c->fd >= 0)
        drain(c->fd);
    switch (c->action) {
    case A_SET:
        c->rv = pev_watch_set(w, c->next);
        break;
    case A_REMOVE:
        c->rv = pev_watch_remove(w);
        break;
    case A_DESTROY:
        apr_pool_destroy(c->pool);
        pt_scribble();
        return;                     /* w is gone */
    case A_REMOVE_OTHER:
        c->rv = pev_watch_remove(c->other);
        break;
    }
    if (c->stop_after && c->calls == c->stop_after)
        c->rv = pev_watch_remove(w);
}

static wctx_t *ctx(int fd, int action)
{
    wctx_t *c = apr_pcalloc(pt_pool, sizeof *c);

    c->fd = fd;
    c->action = action;
    return c;
}

/* A non-blocking pipe, closed by pt_teardown() (after pt_pool). */
static void raw_pipe(int p[2])
{
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    ck_assert_int_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    pt_keep_fd(p[0]);
    pt_keep_fd(p[1]);
}

static void put_byte(int fd)
{
    ck_assert_int_eq(write(fd, "x", 1), 1);
}

/* Run @a n iterations that do not wait. */
static void spin(int n)
{
    while (n-- > 0)
        ck_assert_int_eq(pev_loop_run_once(LOOP, 0), APR_SUCCESS);
}

static apr_size_t open_items(pev_loop_t *loop)
{
    pev_loop_stats_t st;

    ck_assert_int_eq(pev_loop_stats(loop, &st), APR_SUCCESS);
    return st.streams;
}

/* ======================================================================== */
/* Arguments                                                                 */

START_TEST(watch_arguments)
{
    apr_pool_t *other;
    apr_socket_t *srv, *cli;
    pev_watch_t *w = (pev_watch_t *) 1;
    wctx_t *c = ctx(-1, A_NONE);
    int p[2];

    raw_pipe(p);
    ck_assert_int_eq(pev_watch_add_fd(&w, NULL, p[0], PEV_WATCH_READ, on_ready, c, pt_pool),
                     APR_EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[0], PEV_WATCH_READ, NULL, c, pt_pool),
                     APR_EINVAL);
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[0], PEV_WATCH_READ, on_ready, c, NULL),
                     APR_EINVAL);
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, -1, PEV_WATCH_READ, on_ready, c, pt_pool),
                     APR_EINVAL);
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[0], APR_POLLPRI, on_ready, c, pt_pool),
                     APR_EINVAL);
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[0], APR_POLLHUP, on_ready, c, pt_pool),
                     APR_EINVAL);
    ck_assert_int_eq(pev_watch_add_socket(&w, LOOP, NULL, PEV_WATCH_READ, on_ready, c,
                                          pt_pool), APR_EINVAL);
    ck_assert_int_eq(pev_watch_add_file(&w, LOOP, NULL, PEV_WATCH_READ, on_ready, c,
                                        pt_pool), APR_EINVAL);
    /* a socket from a pool that is not the watcher's or an ancestor */
    other = pt_subpool(pt_pool);
    pt_tcp_pair(other, pt_pool, 0, &srv, &cli);
    ck_assert_int_eq(pev_watch_add_socket(&w, LOOP, srv, PEV_WATCH_READ, on_ready, c,
                                          pt_pool), APR_EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_uint_eq(open_items(LOOP), 0);

    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[0], PEV_WATCH_READ, on_ready, c, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_watch_set(NULL, 0), APR_EINVAL);
    ck_assert_int_eq(pev_watch_set(w, APR_POLLPRI), APR_EINVAL);
    ck_assert_int_eq(pev_watch_events(w), PEV_WATCH_READ);
    ck_assert_int_eq(pev_watch_remove(NULL), APR_EINVAL);
    ck_assert_int_eq(pev_watch_events(NULL), 0);
    /* one watcher per descriptor and loop: the pollset refuses a second */
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[0], PEV_WATCH_READ, on_ready, c, pt_pool),
                     APR_EEXIST);
    ck_assert_ptr_null(w);
    ck_assert_uint_eq(open_items(LOOP), 1);
    /* the handle out-parameter may be NULL */
    ck_assert_int_eq(pev_watch_add_fd(NULL, LOOP, p[1], 0, on_ready, c, pt_pool),
                     APR_SUCCESS);
}
END_TEST

/* ======================================================================== */
/* Readiness                                                                 */

/* A raw pipe: the read end is reported once a byte is in it, the write end
 * at once; nothing is reported before. */
START_TEST(watch_fd_readable_and_writable)
{
    wctx_t *r = ctx(-1, A_NONE), *wr = ctx(-1, A_NONE);
    pev_watch_t *rw, *ww;
    int p[2];

    raw_pipe(p);
    r->fd = p[0];
    ck_assert_int_eq(pev_watch_add_fd(&rw, LOOP, p[0], PEV_WATCH_READ, on_ready, r, pt_pool),
                     APR_SUCCESS);
    spin(2);
    ck_assert_int_eq(r->calls, 0);
    put_byte(p[1]);
    spin(1);
    ck_assert_int_eq(r->calls, 1);
    ck_assert_int_eq(r->last, PEV_WATCH_READ);
    spin(2);                        /* drained: not reported again */
    ck_assert_int_eq(r->calls, 1);

    ck_assert_int_eq(pev_watch_add_fd(&ww, LOOP, p[1], PEV_WATCH_WRITE, on_ready, wr,
                                      pt_pool), APR_SUCCESS);
    spin(1);
    ck_assert_int_eq(wr->calls, 1);
    ck_assert_int_eq(wr->last, PEV_WATCH_WRITE);
    spin(1);                        /* level-triggered: again */
    ck_assert_int_eq(wr->calls, 2);
}
END_TEST

/* An apr_socket_t (loopback TCP): writable at once; readable when the peer
 * sends; both in one call when both hold. */
START_TEST(watch_socket_readable_and_writable)
{
    apr_socket_t *srv, *cli;
    apr_size_t n = 1;
    wctx_t *c = ctx(-1, A_NONE);
    pev_watch_t *w;

    pt_tcp_pair(pt_pool, pt_pool, 0, &srv, &cli);
    c->fd = pt_sock_fd(srv);
    ck_assert_int_eq(apr_socket_opt_set(srv, APR_SO_NONBLOCK, 1), APR_SUCCESS);
    ck_assert_int_eq(pev_watch_add_socket(&w, LOOP, srv, PEV_WATCH_READ, on_ready, c,
                                          pt_pool), APR_SUCCESS);
    spin(2);
    ck_assert_int_eq(c->calls, 0);
    ck_assert_int_eq(apr_socket_send(cli, "x", &n), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->calls == 1);
    ck_assert_int_eq(c->last, PEV_WATCH_READ);

    ck_assert_int_eq(pev_watch_set(w, PEV_WATCH_READ | PEV_WATCH_WRITE), APR_SUCCESS);
    spin(1);
    ck_assert_int_eq(c->last, PEV_WATCH_WRITE);
    n = 1;
    ck_assert_int_eq(apr_socket_send(cli, "y", &n), APR_SUCCESS);
    PT_PUMP_UNTIL(LOOP, c->last == (PEV_WATCH_READ | PEV_WATCH_WRITE));
}
END_TEST

/* An apr_file_t pipe end, and the hangup rule: the write end closed, the
 * read end reports POLLHUP alone (no data): the watcher, interested in
 * reading, hears READ, so its read meets the end. */
START_TEST(watch_file_hangup_reported_as_readable)
{
    apr_file_t *rd, *wr;
    wctx_t *c = ctx(-1, A_NONE);
    pev_watch_t *w;

    pt_pipe_pair(pt_pool, 1, &rd, &wr);
    ck_assert_int_eq(pev_watch_add_file(&w, LOOP, rd, PEV_WATCH_READ, on_ready, c, pt_pool),
                     APR_SUCCESS);
    spin(1);
    ck_assert_int_eq(c->calls, 0);
    ck_assert_int_eq(apr_file_close(wr), APR_SUCCESS);
    spin(1);
    ck_assert_int_eq(c->calls, 1);
    ck_assert_int_eq(c->last, PEV_WATCH_READ);
    /* with WRITE too, a hangup is reported as both */
    ck_assert_int_eq(pev_watch_set(w, PEV_WATCH_READ | PEV_WATCH_WRITE), APR_SUCCESS);
    spin(1);
    ck_assert_int_eq(c->calls, 2);
    ck_assert_int_eq(c->last, PEV_WATCH_READ | PEV_WATCH_WRITE);
}
END_TEST

/* A regular file: the pollset refuses it and the add says so. */
START_TEST(watch_regular_file_refused)
{
    char path[] = "/tmp/check_watch.XXXXXX";
    apr_file_t *f;
    pev_watch_t *w = (pev_watch_t *) 1;
    wctx_t *c = ctx(-1, A_NONE);
    apr_status_t rv;
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    pt_keep_fd(fd);
    ck_assert_int_eq(unlink(path), 0);
    rv = pev_watch_add_fd(&w, LOOP, fd, PEV_WATCH_READ, on_ready, c, pt_pool);
    ck_assert_int_ne(rv, APR_SUCCESS);
    ck_assert_int_eq(rv, APR_FROM_OS_ERROR(EPERM));
    ck_assert_ptr_null(w);
    ck_assert_int_eq(apr_os_file_put(&f, &fd, APR_FOPEN_READ, pt_pool), APR_SUCCESS);
    ck_assert_int_ne(pev_watch_add_file(&w, LOOP, f, PEV_WATCH_WRITE, on_ready, c, pt_pool),
                     APR_SUCCESS);
    ck_assert_ptr_null(w);
    /* paused, it is not polled yet: the error comes when polling starts */
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, fd, 0, on_ready, c, pt_pool), APR_SUCCESS);
    ck_assert_int_eq(pev_watch_set(w, PEV_WATCH_READ), APR_FROM_OS_ERROR(EPERM));
    ck_assert_int_eq(pev_watch_events(w), 0);
    ck_assert_uint_eq(open_items(LOOP), 0);
    spin(1);
    ck_assert_int_eq(c->calls, 0);
}
END_TEST

/* ======================================================================== */
/* Interest                                                                  */

/* From inside its callback: read -> write, then paused; a paused watcher
 * stays owned and resumes. */
START_TEST(watch_set_from_own_callback)
{
    wctx_t *c = ctx(-1, A_SET);
    pev_watch_t *w;
    int p[2];

    raw_pipe(p);
    c->fd = p[0];
    c->next = PEV_WATCH_WRITE;
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[0], PEV_WATCH_READ, on_ready, c, pt_pool),
                     APR_SUCCESS);
    put_byte(p[1]);
    spin(1);
    ck_assert_int_eq(c->calls, 1);
    ck_assert_int_eq(c->rv, APR_SUCCESS);
    ck_assert_int_eq(pev_watch_events(w), PEV_WATCH_WRITE);
    /* a pipe's read end is never writable, and now not watched for reading:
     * more data is not reported */
    put_byte(p[1]);
    spin(2);
    ck_assert_int_eq(c->calls, 1);

    /* the write end: write -> paused from the callback */
    {
        wctx_t *d = ctx(-1, A_SET);
        pev_watch_t *ww;

        d->next = 0;
        ck_assert_int_eq(pev_watch_add_fd(&ww, LOOP, p[1], PEV_WATCH_WRITE, on_ready, d,
                                          pt_pool), APR_SUCCESS);
        spin(3);
        ck_assert_int_eq(d->calls, 1);
        ck_assert_int_eq(d->last, PEV_WATCH_WRITE);
        ck_assert_int_eq(pev_watch_events(ww), 0);
        /* paused, still owned: resumes */
        d->action = A_NONE;
        ck_assert_int_eq(pev_watch_set(ww, PEV_WATCH_WRITE), APR_SUCCESS);
        spin(1);
        ck_assert_int_eq(d->calls, 2);
    }
    /* back to reading: the bytes waiting are reported */
    c->action = A_NONE;
    ck_assert_int_eq(pev_watch_set(w, PEV_WATCH_READ), APR_SUCCESS);
    spin(1);
    ck_assert_int_eq(c->calls, 2);
    ck_assert_int_eq(c->last, PEV_WATCH_READ);
}
END_TEST

/* Interest 0: added paused, owned, not keeping the loop running; its pool
 * still releases it. */
START_TEST(watch_interest_zero_keeps_ownership)
{
    apr_pool_t *wp = pt_subpool(pt_pool);
    wctx_t *c = ctx(-1, A_NONE);
    pev_watch_t *w;
    int p[2];

    raw_pipe(p);
    put_byte(p[1]);
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[0], 0, on_ready, c, wp), APR_SUCCESS);
    ck_assert_int_eq(pev_watch_events(w), 0);
    ck_assert_uint_eq(open_items(LOOP), 0);
    ck_assert_int_eq(pev_loop_run(LOOP), APR_SUCCESS);      /* returns at once */
    ck_assert_int_eq(c->calls, 0);
    ck_assert_int_eq(pev_watch_set(w, PEV_WATCH_READ), APR_SUCCESS);
    ck_assert_uint_eq(open_items(LOOP), 1);
    spin(1);
    ck_assert_int_eq(c->calls, 1);
    ck_assert_int_eq(pev_watch_set(w, 0), APR_SUCCESS);
    ck_assert_uint_eq(open_items(LOOP), 0);
    ck_assert_int_eq(pev_watch_set(w, 0), APR_SUCCESS);     /* no change */
    ck_assert_uint_eq(open_items(LOOP), 0);
    spin(2);
    ck_assert_int_eq(c->calls, 1);
    ck_assert_int_eq(pev_watch_set(w, PEV_WATCH_READ), APR_SUCCESS);
    apr_pool_destroy(wp);
    ck_assert_uint_eq(open_items(LOOP), 0);
    spin(2);
    ck_assert_int_eq(c->calls, 1);
}
END_TEST

/* A watcher with interest keeps pev_loop_run() going; it returns once the
 * watcher removes itself. */
START_TEST(watch_keeps_loop_running)
{
    wctx_t *c = ctx(-1, A_NONE);
    pev_watch_t *w;
    int p[2];

    raw_pipe(p);
    c->stop_after = 3;
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[1], PEV_WATCH_WRITE, on_ready, c, pt_pool),
                     APR_SUCCESS);
    ck_assert_uint_eq(open_items(LOOP), 1);
    ck_assert_int_eq(pev_loop_run(LOOP), APR_SUCCESS);
    ck_assert_int_eq(c->calls, 3);
    ck_assert_int_eq(c->rv, APR_SUCCESS);
    ck_assert_uint_eq(open_items(LOOP), 0);
}
END_TEST

/* ======================================================================== */
/* Removal                                                                   */

/* Removed from its own callback: never called again, though its descriptor
 * stays readable; further calls say so. */
START_TEST(watch_remove_from_own_callback)
{
    wctx_t *c = ctx(-1, A_REMOVE);
    pev_watch_t *w;
    int p[2];

    raw_pipe(p);
    put_byte(p[1]);                 /* never drained: stays readable */
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[0], PEV_WATCH_READ, on_ready, c, pt_pool),
                     APR_SUCCESS);
    spin(3);
    ck_assert_int_eq(c->calls, 1);
    ck_assert_int_eq(c->rv, APR_SUCCESS);
    ck_assert_int_eq(pev_watch_events(w), 0);
    ck_assert_int_eq(pev_watch_remove(w), PEV_EREMOVED);
    ck_assert_int_eq(pev_watch_set(w, PEV_WATCH_READ), PEV_EREMOVED);
    ck_assert_uint_eq(open_items(LOOP), 0);
    /* the descriptor is the caller's: still open */
    ck_assert_int_ne(fcntl(p[0], F_GETFD), -1);
}
END_TEST

/* Two watchers reported by the same poll: whichever runs first removes the
 * other, which must not be called. */
START_TEST(watch_remove_other_reported_in_same_poll)
{
    wctx_t *a = ctx(-1, A_REMOVE_OTHER), *b = ctx(-1, A_REMOVE_OTHER);
    pev_watch_t *wa, *wb;
    int p[2], q[2];

    raw_pipe(p);
    raw_pipe(q);
    put_byte(p[1]);
    put_byte(q[1]);
    a->fd = p[0];
    b->fd = q[0];
    ck_assert_int_eq(pev_watch_add_fd(&wa, LOOP, p[0], PEV_WATCH_READ, on_ready, a, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_watch_add_fd(&wb, LOOP, q[0], PEV_WATCH_READ, on_ready, b, pt_pool),
                     APR_SUCCESS);
    a->other = wb;
    b->other = wa;
    spin(1);
    ck_assert_int_eq(a->calls + b->calls, 1);
    ck_assert_int_eq(a->calls ? a->rv : b->rv, APR_SUCCESS);
    /* the survivor goes on */
    a->action = b->action = A_NONE;
    put_byte(p[1]);
    put_byte(q[1]);
    spin(1);
    ck_assert_int_eq(a->calls + b->calls, 2);
}
END_TEST

/* Same, but the first destroys the pool of the other (freed memory must not
 * be reached). */
START_TEST(watch_destroy_other_pool_reported_in_same_poll)
{
    apr_pool_t *pa = pt_subpool(pt_pool), *pb = pt_subpool(pt_pool);
    wctx_t *a = ctx(-1, A_DESTROY), *b = ctx(-1, A_DESTROY);
    pev_watch_t *wa, *wb;
    int p[2], q[2];

    raw_pipe(p);
    raw_pipe(q);
    put_byte(p[1]);
    put_byte(q[1]);
    ck_assert_int_eq(pev_watch_add_fd(&wa, LOOP, p[0], PEV_WATCH_READ, on_ready, a, pa),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_watch_add_fd(&wb, LOOP, q[0], PEV_WATCH_READ, on_ready, b, pb),
                     APR_SUCCESS);
    a->pool = pb;
    b->pool = pa;
    spin(1);
    ck_assert_int_eq(a->calls + b->calls, 1);
    ck_assert_uint_eq(open_items(LOOP), 1);
    /* the survivor's pool goes from outside */
    apr_pool_destroy(a->calls ? pa : pb);
    ck_assert_uint_eq(open_items(LOOP), 0);
    spin(2);
    ck_assert_int_eq(a->calls + b->calls, 1);
}
END_TEST

/* ======================================================================== */
/* Pools and loops                                                           */

/* The callback destroys the watcher's own pool: nothing touches it after,
 * and it is never called again. */
START_TEST(watch_destroy_own_pool_in_callback)
{
    apr_pool_t *wp = pt_subpool(pt_pool);
    wctx_t *c = ctx(-1, A_DESTROY);
    pev_watch_t *w;
    int p[2];

    raw_pipe(p);
    put_byte(p[1]);
    c->pool = wp;
    ck_assert_int_eq(pev_watch_add_fd(&w, LOOP, p[0], PEV_WATCH_READ | PEV_WATCH_WRITE,
                                      on_ready, c, wp), APR_SUCCESS);
    spin(3);
    ck_assert_int_eq(c->calls, 1);
    ck_assert_uint_eq(open_items(LOOP), 0);
    ck_assert_int_ne(fcntl(p[0], F_GETFD), -1);
}
END_TEST

/* The watcher's pool goes before the loop: removed, the loop runs on and
 * the descriptor stays open. */
START_TEST(watch_pool_destroyed_before_loop)
{
    apr_pool_t *wp = pt_subpool(pt_pool);
    apr_socket_t *srv, *cli;
    wctx_t *c = ctx(-1, A_NONE);
    pev_watch_t *w;
    int fd;

    pt_tcp_pair(pt_pool, pt_pool, 0, &srv, &cli);
    fd = pt_sock_fd(srv);
    ck_assert_int_eq(pev_watch_add_socket(&w, LOOP, srv, PEV_WATCH_WRITE, on_ready, c, wp),
                     APR_SUCCESS);
    spin(1);
    ck_assert_int_eq(c->calls, 1);
    apr_pool_destroy(wp);
    ck_assert_uint_eq(open_items(LOOP), 0);
    ck_assert_int_eq(pev_loop_run(LOOP), APR_SUCCESS);      /* nothing left */
    ck_assert_int_eq(c->calls, 1);
    ck_assert_int_ne(fcntl(fd, F_GETFD), -1);
    /* a new watcher on the same socket works */
    ck_assert_int_eq(pev_watch_add_socket(&w, LOOP, srv, PEV_WATCH_WRITE, on_ready, c,
                                          pt_pool), APR_SUCCESS);
    spin(1);
    ck_assert_int_eq(c->calls, 2);
}
END_TEST

/* The loop goes before the watcher's pool: the watcher is inert (every call
 * PEV_EDESTROYED), and its pool's later teardown does nothing wrong. */
START_TEST(watch_loop_destroyed_before_pool)
{
    apr_pool_t *lp = pt_subpool(pt_pool), *wp = pt_subpool(pt_pool);
    wctx_t *c = ctx(-1, A_NONE);
    pev_loop_t *loop;
    pev_watch_t *w, *paused;
    int p[2];

    raw_pipe(p);
    ck_assert_int_eq(pev_loop_create(&loop, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_watch_add_fd(&w, loop, p[1], PEV_WATCH_WRITE, on_ready, c, wp),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_watch_add_fd(&paused, loop, p[0], 0, on_ready, c, wp),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_loop_run_once(loop, 0), APR_SUCCESS);
    ck_assert_int_eq(c->calls, 1);
    apr_pool_destroy(lp);
    pt_scribble();
    ck_assert_int_eq(pev_watch_set(w, PEV_WATCH_READ), PEV_EDESTROYED);
    ck_assert_int_eq(pev_watch_set(paused, PEV_WATCH_READ), PEV_EDESTROYED);
    ck_assert_int_eq(pev_watch_remove(w), PEV_EDESTROYED);
    ck_assert_int_eq(pev_watch_events(w), 0);
    apr_pool_destroy(wp);
    ck_assert_int_eq(c->calls, 1);
    ck_assert_int_ne(fcntl(p[1], F_GETFD), -1);
}
END_TEST

/* A callback destroys the loop's pool: the run returns PEV_EDESTROYED and
 * the watchers, in a pool that lives on, are inert. */
START_TEST(watch_loop_destroyed_in_callback)
{
    apr_pool_t *lp = pt_subpool(pt_pool);
    wctx_t *a = ctx(-1, A_DESTROY), *b = ctx(-1, A_DESTROY);
    pev_loop_t *loop;
    pev_watch_t *wa, *wb;
    int p[2], q[2];

    raw_pipe(p);
    raw_pipe(q);
    a->pool = b->pool = lp;
    ck_assert_int_eq(pev_loop_create(&loop, lp), APR_SUCCESS);
    ck_assert_int_eq(pev_watch_add_fd(&wa, loop, p[1], PEV_WATCH_WRITE, on_ready, a, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_watch_add_fd(&wb, loop, q[1], PEV_WATCH_WRITE, on_ready, b, pt_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(pev_loop_run(loop), PEV_EDESTROYED);
    ck_assert_int_eq(a->calls + b->calls, 1);
    ck_assert_int_eq(pev_watch_set(wa, 0), PEV_EDESTROYED);
    ck_assert_int_eq(pev_watch_remove(wb), PEV_EDESTROYED);
}
END_TEST

/* ======================================================================== */

static Suite *watch_suite(void)
{
    Suite *s = suite_create("watch");
    TCase *tc = tcase_create("watch");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, watch_arguments);
    tcase_add_test(tc, watch_fd_readable_and_writable);
    tcase_add_test(tc, watch_socket_readable_and_writable);
    tcase_add_test(tc, watch_file_hangup_reported_as_readable);
    tcase_add_test(tc, watch_regular_file_refused);
    tcase_add_test(tc, watch_set_from_own_callback);
    tcase_add_test(tc, watch_interest_zero_keeps_ownership);
    tcase_add_test(tc, watch_keeps_loop_running);
    tcase_add_test(tc, watch_remove_from_own_callback);
    tcase_add_test(tc, watch_remove_other_reported_in_same_poll);
    tcase_add_test(tc, watch_destroy_other_pool_reported_in_same_poll);
    tcase_add_test(tc, watch_destroy_own_pool_in_callback);
    tcase_add_test(tc, watch_pool_destroyed_before_loop);
    tcase_add_test(tc, watch_loop_destroyed_before_pool);
    tcase_add_test(tc, watch_loop_destroyed_in_callback);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return pt_main(argc, argv, watch_suite, NULL);
}
