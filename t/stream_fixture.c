/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * stream_fixture.c - the fixture of the stream suites (stream_fixture.h).
 */
#include "stream_fixture.h"

#include <stdarg.h>
#include <string.h>

#include <apr_strings.h>

pt_log_t LOG;
pev_loop_t *LOOP;

void stream_setup(void)
{
    pt_setup();
    pt_log_reset(&LOG);
    LOOP = pt_fake_loop(pt_pool);
}

void stream_teardown(void)
{
    pt_fake_step = 0;
    pt_teardown();
    LOOP = NULL;
}

/* ======================================================================== */
/* A stream's user_data and callbacks                                            */

static void note_pending(sctx_t *c)
{
    apr_size_t n = pev_stream_input_pending(c->s);

    if (n > c->max_pending)
        c->max_pending = n;
}

void take_lines(sctx_t *c)
{
    char *l;
    apr_size_t n;
    apr_status_t rv;

    while ((rv = pev_stream_getline(c->s, &l, &n)) == APR_SUCCESS) {
        ck_assert_msg(l[n] == '\0', "line not NUL-terminated");
        ck_assert_int_lt(c->nlines, MAXLINES);
        c->line[c->nlines] = apr_pstrmemdup(pt_pool, l, n);
        c->len[c->nlines] = n;
        c->line_eof[c->nlines] = pev_stream_eof(c->s);
        c->nlines++;
    }
    c->last_get = rv;
}

static void check_alive(sctx_t *c, const char *what)
{
    ck_assert_msg(!c->destroyed, "stream %d: %s callback after its pool was destroyed",
                  c->id, what);
    ck_assert_msg(!c->closes, "stream %d: %s callback after the close callback", c->id, what);
}

void on_read(pev_stream_t *s, void *user_data)
{
    sctx_t *c = user_data;

    check_alive(c, "read");
    ck_assert_ptr_eq(s, c->s);
    c->reads++;
    note_pending(c);
    if (c->take_lines)
        take_lines(c);
    if (c->reads == 1)
        c->first_read_lines = c->nlines;
    if (c->read_action)
        c->read_action(c);
}

void on_drain(pev_stream_t *s, void *user_data)
{
    sctx_t *c = user_data;

    check_alive(c, "drain");
    ck_assert_ptr_eq(s, c->s);
    c->drains++;
    c->drain_seen = pev_stream_output_pending(s);
    if (c->drain_action)
        c->drain_action(c);
}

void on_close(pev_stream_t *s, apr_status_t reason, void *user_data)
{
    sctx_t *c = user_data;

    ck_assert_msg(!c->destroyed, "stream %d: close callback after its pool was destroyed",
                  c->id);
    ck_assert_msg(!c->closes, "stream %d: close callback ran twice", c->id);
    ck_assert_ptr_eq(s, c->s);
    c->closes++;
    c->reason = reason;
    note_pending(c);
    ck_assert(!pev_stream_is_open(s));
    ck_assert_int_eq(pev_stream_close_reason(s), reason);
    ck_assert_uint_eq(pev_waitevent_count(s), 0);        /* closing cancels them */
    ck_assert_uint_eq(pev_stream_output_pending(s), 0);  /* and frees the output */
    if (c->close_action)
        c->close_action(c);
}

int on_idle(pev_stream_t *s, void *user_data)
{
    sctx_t *c = user_data;

    check_alive(c, "idle");
    ck_assert_ptr_eq(s, c->s);
    c->idles++;
    if (c->idle_action)
        return c->idle_action(c);
    return c->idle_keep;
}

const pev_stream_callbacks_t CB_ALL = { on_read, on_drain, on_close, on_idle };
const pev_stream_callbacks_t CB_NO_IDLE = { on_read, on_drain, on_close, NULL };

sctx_t *ctx_new(int id)
{
    sctx_t *c = apr_pcalloc(pt_pool, sizeof *c);

    c->id = id;
    c->take_lines = 1;
    c->fd = c->srv_fd = -1;
    c->last_get = -1;
    return c;
}

/* A stream over a new loopback pair, owned by @a pool (NULL: a new subpool of
 * pt_pool), whose server socket comes from that pool too. */
sctx_t *sock_stream(int id, apr_pool_t *pool, int flags)
{
    sctx_t *c = ctx_new(id);
    apr_socket_t *srv;

    c->pool = pool ? pool : pt_subpool(pt_pool);
    pt_tcp_pair(c->pool, pt_pool, flags & (SMALL_BUFS | FILL) ? PT_SMALL_BUFS : 0, &srv,
                &c->cli);
    c->fd = pt_sock_fd(c->cli);
    c->srv_fd = pt_sock_fd(srv);
    if (flags & FILL)
        c->filled = pt_fill_kernel(c->srv_fd);
    ck_assert_int_eq(pev_stream_create_socket(&c->s, LOOP, srv,
                                              flags & NO_IDLE_CB ? &CB_NO_IDLE : &CB_ALL,
                                              c, c->pool), APR_SUCCESS);
    return c;
}

/* Destroy the stream's pool (from a callback or not), then reuse its memory. */
void destroy_own_pool(sctx_t *c)
{
    apr_pool_t *p = c->pool;

    c->destroyed = 1;
    c->pool = NULL;
    apr_pool_destroy(p);
    pt_scribble();
}

/* Read the kernel filler at the peer end, checking it. */
void peer_skip_filler(sctx_t *c)
{
    char *buf = apr_palloc(pt_pool, c->filled + 1);
    apr_size_t i;
    int eof;

    ck_assert_uint_eq(pt_peer_read(LOOP, c->fd, buf, c->filled, &eof), c->filled);
    for (i = 0; i < c->filled; i++)
        ck_assert_int_eq(buf[i], 'F');
}

/* ======================================================================== */
/* Wait events and timers                                                    */

pev_waitevent_t *on_wait(pev_stream_t *s, pev_waitevent_t *ev, void *user_data)
{
    wact_t *a = user_data;

    ck_assert_ptr_eq(ev, a->ev);
    ck_assert_ptr_eq(s, a->c->s);
    ck_assert_msg(!a->c->destroyed, "wait event %d fired after its stream's pool went",
                  a->id);
    ck_assert_msg(!a->c->closes, "wait event %d fired after the close callback", a->id);
    a->calls++;
    a->seen_now = pev_loop_now(LOOP);
    a->seen_iter = pt_loop_iterations(LOOP);
    ck_assert_msg(a->seen_now >= pev_waitevent_mark(ev), "wait event %d fired early "
                  "(now %lld, mark %lld)", a->id, (long long) a->seen_now,
                  (long long) pev_waitevent_mark(ev));
    pt_log_add(&LOG, a->id);
    return a->action ? a->action(a, s, ev) : NULL;
}

wact_t *wadd(sctx_t *c, apr_time_t mark, int id, wact_fn *action)
{
    wact_t *a = apr_pcalloc(pt_pool, sizeof *a);

    a->id = id;
    a->c = c;
    a->action = action;
    ck_assert_int_eq(pev_waitevent_add(&a->ev, c->s, mark, on_wait, a), APR_SUCCESS);
    ck_assert_ptr_nonnull(a->ev);
    ck_assert_int_eq(pev_waitevent_mark(a->ev), mark);
    return a;
}


void on_timer(pev_timer_t *t, void *user_data)
{
    tjob_t *j = user_data;

    (void) t;
    j->calls++;
    if (j->id)
        pt_log_add(&LOG, j->id);
    if (j->fn)
        j->fn(j);
}

tjob_t *timer_at(apr_time_t mark, int id, void (*fn)(tjob_t *), sctx_t *c)
{
    tjob_t *j = apr_pcalloc(pt_pool, sizeof *j);

    j->id = id;
    j->fn = fn;
    j->c = c;
    ck_assert_int_eq(pev_timer_add(NULL, LOOP, mark, on_timer, j, pt_pool), APR_SUCCESS);
    return j;
}

apr_status_t vp(pev_stream_t *s, const char *fmt, ...)
{
    va_list ap;
    apr_status_t rv;

    va_start(ap, fmt);
    rv = pev_stream_vprintf(s, fmt, ap);
    va_end(ap);
    return rv;
}

pev_waitevent_t *w_destroy_own_pool(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    (void) s;
    destroy_own_pool(a->c);
    return ev;                                          /* ignored now */
}

pev_waitevent_t *w_send_to_p1(wact_t *a, pev_stream_t *s, pev_waitevent_t *ev)
{
    sctx_t *target = a->p1;

    (void) s;
    (void) ev;
    ck_assert_int_eq(pt_peer_send(NULL, target->fd, a->p2, strlen(a->p2)), APR_SUCCESS);
    return NULL;
}
