/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * stream.c - pool-owned buffered streams and their wait events.
 *
 * A stream is OPEN, CLOSING (pev_stream_close() or end of input: input has
 * stopped, the output is being sent) or CLOSED (out of the loop, descriptor
 * closed; the close callback is owed until the end-of-iteration task
 * delivers it). Every transition to CLOSED goes through stream_fail(), which
 * takes the stream out of the loop at once, so nothing but the close
 * callback can follow.
 *
 * Input: a malloc'd buffer, grown by doubling up to max_line + 2 bytes (plus
 * one spare byte for a NUL). `iscan` remembers how far the buffer is known
 * to hold no LF, so a long line arriving in pieces is scanned once. When the
 * buffer is full: no LF in it means the line is too long; an LF means the
 * user has not taken its lines yet, and input pauses until it does.
 *
 * Output: a malloc'd buffer bounded by the output limit (buffers of the
 * first size come from, and go back to, the loop's cache of them, and are
 * let go as soon as they are empty). Writes append and
 * post the stream's task; the task sends at the end of the iteration (one
 * send per stream per iteration, however many writes). What the descriptor
 * does not take is sent when the poll reports it writable.
 *
 * Regular files: never polled (epoll refuses them; they are always ready).
 * While a file stream wants input, its task stays posted: it reads one chunk
 * (at most the input buffer's room) per iteration, at the end of it, and
 * posts itself for the next. A loop with tasks posted does not wait in its
 * poll, and other descriptors are served in every iteration between two
 * chunks. The end of the file is the end of input, as for a pipe. Writes to
 * a file never return EAGAIN; should one, the task retries.
 *
 * Idle timeout: an embedded timer armed at last_input + interval. Input only
 * records the time (no heap operation); the timer, when it fires, re-arms
 * itself for the real deadline if input arrived meanwhile.
 *
 * Wait events live in the loop's timer heap (embedded timers), on the
 * stream's list of live events; removed ones go to a free list in the
 * stream's pool and are reused. A generation count tells a callback's
 * caller that its event was removed (and maybe reused) during the call.
 *
 * TLS (pev_stream_start_tls()): the stream's reads, writes and close go
 * through an SSL object (tls.c) instead of the descriptor. Output written
 * before the start is sent in plaintext first (plain_left counts it), then
 * the handshake runs from the task and the poll; input is not wanted
 * meanwhile. A TLS read or write that waits may wait for the other
 * direction (in_want, out_want: the events each waits for), which
 * io_update() polls for. Decrypted input OpenSSL holds is never reported by
 * the poll, so while there is some and input is wanted, the task reads it,
 * as it reads a regular file.
 *
 * Callbacks run under a guard: a sentry (sentry.h) on the stream's list,
 * which release and orphan mark gone; after a callback the caller checks
 * its guard before touching the stream again.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_portable.h>

#include "poolev/stream.h"
#include "poolev/tls.h"
#include "loop_int.h"
#include "owner.h"
#include "sentry.h"
#include "tls_int.h"

enum stream_state { S_OPEN, S_CLOSING, S_CLOSED };

#define IBUF_INITIAL 4096
/* A regular file's first input buffer (within max_line + 2): the most one
 * iteration reads, unless the buffer has grown to its bound. */
#define IBUF_INITIAL_FILE (64 * 1024)
#define OBUF_INITIAL 4096

struct pev_waitevent {
    pev_timer_t timer;              /* in the loop's heap while armed */
    pevi_link_t link;               /* on the stream's live or free list */
    pev_stream_t *stream;
    pev_waitevent_fn *fn;
    void *user_data;
    apr_time_t mark;
    apr_uint32_t gen;               /* bumped on removal */
    unsigned live : 1;
    unsigned firing : 1;
};

/* A stream's TLS, from pev_stream_start_tls() on (in the stream's pool). */
typedef struct stream_tls {
    pevi_tls_t *t;
    pev_timer_t hs_timer;           /* the handshake timeout */
    pev_stream_tls_fn *on_ready;
    void *ready_data;
    apr_size_t plain_left;          /* leading output bytes sent in plaintext */
    apr_int16_t in_want;            /* the events a waiting read waits for */
    apr_int16_t out_want;           /* and a waiting write (out_blocked) */
    pev_stream_tls_t state;
    unsigned hs_kick : 1;           /* the task takes the next handshake step */
    unsigned shut_done : 1;         /* close_notify sent (or not to be sent) */
} stream_tls_t;

struct pev_stream {
    pevi_io_t io;
    pevi_task_t task;               /* flush; finish a close */
    pevi_link_t owned;              /* on its pool's owner list */
    pev_loop_t *loop;               /* NULL once the loop is gone */
    apr_pool_t *pool;
    apr_socket_t *sock;
    apr_file_t *file;
    int fd;
    enum stream_state state;
    apr_status_t reason;            /* why it closes (CLOSING, CLOSED) */
    apr_status_t eof_reason;        /* APR_EOF, or PEV_ETRUNCATED (TLS) */
    stream_tls_t *tls;              /* NULL: plaintext */
    unsigned can_read : 1;
    unsigned can_write : 1;
    unsigned eof : 1;
    unsigned input_paused : 1;      /* buffer full of untaken lines */
    unsigned user_paused : 1;       /* pev_stream_pause_input() */
    unsigned out_blocked : 1;       /* the descriptor took less than offered */
    unsigned want_drain : 1;        /* a write was refused */
    unsigned close_owed : 1;        /* the close callback has not run */
    unsigned tcp : 1;               /* a TCP socket (TCP_NODELAY applies) */
    unsigned regular : 1;           /* a regular file: never polled, read by
                                     * the task */
    unsigned waiting;               /* pev_stream_getline_wait() calls */
    pev_stream_callbacks_t cb;
    void *user_data;

    char *ibuf;                     /* icap + 1 bytes */
    apr_size_t ipos, ilen, icap, iscan;
    apr_size_t max_line;

    char *obuf;                     /* ocap + 1 bytes */
    apr_size_t opos, olen, ocap;
    apr_size_t out_limit;

    pev_timer_t idle;
    apr_interval_time_t idle_interval;
    apr_time_t last_input;

    pevi_link_t events;             /* live wait events (sentinel) */
    pevi_link_t free_events;        /* removed ones, for reuse (sentinel) */
    apr_size_t nevents;

    pevi_sentry_t *guards;          /* of the calls running callbacks */
};

static void stream_fail(pev_stream_t *s, apr_status_t reason);

/* A buffer of @a cap bytes and the spare one, from @a buf (NULL: new): a
 * new one of the small size comes from the loop's cache when it has one. */
static char *buf_resize(pev_stream_t *s, char *buf, apr_size_t cap)
{
    if (!buf && cap + 1 == PEVI_BUF_SIZE) {
        char *b = pevi_loop_buf_take(s->loop);

        if (b)
            return b;
    }
    return realloc(buf, cap + 1);
}

/* Let go of @a buf of @a cap bytes and the spare one: a small one goes back
 * to the loop's cache while the loop lives. */
static void buf_drop(pev_stream_t *s, char *buf, apr_size_t cap, int loop_alive)
{
    if (buf && loop_alive && cap + 1 == PEVI_BUF_SIZE)
        pevi_loop_buf_give(s->loop, buf);
    else
        free(buf);
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static apr_time_t time_add(apr_time_t a, apr_interval_time_t b)
{
    return b > 0 && a > APR_INT64_MAX - b ? APR_INT64_MAX : a + b;
}

/* What a public function needs of its stream, besides its loop. */
enum need {
    NEED_LOOP,                      /* nothing more */
    NEED_UNCLOSED,                  /* not CLOSED */
    NEED_OPEN,                      /* OPEN (not CLOSING either) */
    NEED_READ,                      /* a descriptor that reads, in any state */
    NEED_WRITE                      /* OPEN, and a descriptor that writes */
};

/* The opening checks of the public functions: APR_EINVAL for a NULL stream
 * or, when @a args_ok is 0, for the other arguments; PEV_EDESTROYED once the
 * loop is gone; PEV_ECLOSED when the state is not the one needed; APR_EBADF
 * for a descriptor that does not read or write as needed. */
static inline apr_status_t stream_check(const pev_stream_t *s, int args_ok,
                                        enum need need)
{
    if (!s || !args_ok)
        return APR_EINVAL;
    if (!s->loop)
        return PEV_EDESTROYED;
    switch (need) {
    case NEED_LOOP:
        break;
    case NEED_UNCLOSED:
        if (s->state == S_CLOSED)
            return PEV_ECLOSED;
        break;
    case NEED_OPEN:
        if (s->state != S_OPEN)
            return PEV_ECLOSED;
        break;
    case NEED_READ:
        if (!s->can_read)
            return APR_EBADF;
        break;
    case NEED_WRITE:
        if (s->state != S_OPEN)
            return PEV_ECLOSED;
        if (!s->can_write)
            return APR_EBADF;
        break;
    }
    return APR_SUCCESS;
}

/* Is the TLS handshake under way (or its plaintext prelude)? */
static inline int tls_hs(const pev_stream_t *s)
{
    return s->tls && s->tls->state == PEV_STREAM_TLS_HANDSHAKE;
}

/* Does the stream's state ask for input? */
static int wants_input(const pev_stream_t *s)
{
    return s->state == S_OPEN && s->can_read && !s->eof && !s->input_paused
           && !s->user_paused && !tls_hs(s);
}

/* Is there input the poll does not report: a regular file (always ready),
 * or decrypted TLS input OpenSSL holds? */
static int reads_unpolled(const pev_stream_t *s)
{
    return s->regular
           || (s->tls && s->tls->state == PEV_STREAM_TLS_ON && pevi_tls_pending(s->tls->t));
}

/* The poll interest the stream's state asks for. A regular file is never
 * polled: its task reads it (and retries output), posted while it has
 * something to do. */
static void io_update(pev_stream_t *s)
{
    apr_int16_t want = 0;
    apr_status_t st;

    if (s->state == S_CLOSED)
        return;
    if (s->regular) {
        if (wants_input(s) || s->out_blocked)
            pevi_task_post(s->loop, &s->task);
        return;
    }
    if (s->tls) {
        stream_tls_t *x = s->tls;

        if (x->state == PEV_STREAM_TLS_HANDSHAKE) {
            if (!x->plain_left && !x->hs_kick)
                want |= pevi_tls_want(x->t);
        } else if (wants_input(s)) {
            want |= x->in_want;
            if (pevi_tls_pending(x->t))
                pevi_task_post(s->loop, &s->task);
        }
        if (s->out_blocked)
            want |= x->out_want;
    } else {
        if (wants_input(s))
            want |= APR_POLLIN;
        if (s->out_blocked)
            want |= APR_POLLOUT;
    }
    st = pevi_io_set(s->loop, &s->io, want);
    if (st != APR_SUCCESS)
        stream_fail(s, st);
}

/* ------------------------------------------------------------------------ */
/* Wait events                                                               */

static void wait_fire(pev_timer_t *t, void *user_data);

/* Take @a ev out of its stream's live events (loop_alive: also out of the
 * heap). Its memory goes to the free list. */
static void wait_unlink(pev_stream_t *s, pev_waitevent_t *ev, int loop_alive)
{
    if (loop_alive)
        pevi_timer_disarm(&ev->timer);
    else
        pevi_timer_orphan(&ev->timer);
    pevi_link_remove(&ev->link);
    pevi_list_append(&s->free_events, &ev->link);
    ev->live = 0;
    ev->firing = 0;
    ev->gen++;
    s->nevents--;
}

static void wait_unlink_all(pev_stream_t *s, int loop_alive)
{
    while (!pevi_list_empty(&s->events))
        wait_unlink(s, PEVI_CONTAINER(s->events.next, pev_waitevent_t, link),
                    loop_alive);
}

static void wait_fire(pev_timer_t *t, void *user_data)
{
    pev_waitevent_t *ev = user_data, *ret;
    pev_stream_t *s = ev->stream;
    apr_uint32_t gen = ev->gen;
    pevi_sentry_t g;

    (void) t;
    ev->firing = 1;
    pevi_sentry_push(&s->guards, &g);
    ret = ev->fn(s, ev, ev->user_data);
    if (pevi_sentry_gone(&g))
        return;                 /* the stream's pool or the loop went */
    pevi_sentry_pop(&s->guards, &g);
    if (ev->gen != gen)
        return;                 /* removed during the call (maybe reused) */
    ev->firing = 0;
    if (ret == NULL || pevi_timer_arm(&ev->timer, ev->mark) != APR_SUCCESS)
        wait_unlink(s, ev, 1);
}

apr_status_t pev_waitevent_add(pev_waitevent_t **out, pev_stream_t *s, apr_time_t mark,
                               pev_waitevent_fn *fn, void *user_data)
{
    pev_waitevent_t *ev;
    pevi_link_t *l;
    apr_status_t st;

    if (out)
        *out = NULL;
    if ((st = stream_check(s, fn != NULL, NEED_UNCLOSED)) != APR_SUCCESS)
        return st;
    if ((l = pevi_list_shift(&s->free_events)) != NULL) {
        ev = PEVI_CONTAINER(l, pev_waitevent_t, link);
    } else {
        ev = apr_palloc(s->pool, sizeof *ev);
        if (!ev)
            return APR_ENOMEM;
        ev->gen = 0;
    }
    pevi_timer_init(&ev->timer, s->loop, wait_fire, ev);
    ev->stream = s;
    ev->fn = fn;
    ev->user_data = user_data;
    ev->mark = mark;
    ev->live = 1;
    ev->firing = 0;
    st = pevi_timer_arm(&ev->timer, mark);
    if (st != APR_SUCCESS) {
        ev->live = 0;
        pevi_list_append(&s->free_events, &ev->link);
        return st;
    }
    pevi_list_append(&s->events, &ev->link);
    s->nevents++;
    if (out)
        *out = ev;
    return APR_SUCCESS;
}

apr_status_t pev_waitevent_remove(pev_stream_t *s, pev_waitevent_t *ev)
{
    if (!s || !ev)
        return APR_EINVAL;
    if (!ev->live || ev->stream != s)
        return PEV_ENOTARMED;
    wait_unlink(s, ev, s->loop != NULL);
    return APR_SUCCESS;
}

apr_status_t pev_waitevent_set_mark(pev_waitevent_t *ev, apr_time_t mark)
{
    if (!ev)
        return APR_EINVAL;
    if (!ev->live)
        return PEV_ENOTARMED;
    ev->mark = mark;
    if (ev->firing)
        return APR_SUCCESS;     /* armed at this mark if the callback keeps it */
    return pevi_timer_arm(&ev->timer, mark);
}

apr_time_t pev_waitevent_mark(const pev_waitevent_t *ev)
{
    return ev ? ev->mark : 0;
}

apr_size_t pev_waitevent_count(const pev_stream_t *s)
{
    return s ? s->nevents : 0;
}

/* ------------------------------------------------------------------------ */
/* Closing                                                                   */

/* Release the descriptor and the output; the stream is out of the loop. */
static void stream_shut(pev_stream_t *s, int loop_alive)
{
    if (loop_alive) {
        (void) pevi_io_set(s->loop, &s->io, 0);
        pevi_timer_disarm(&s->idle);
    } else {
        pevi_timer_orphan(&s->idle);
    }
    wait_unlink_all(s, loop_alive);
    if (s->tls) {
        if (loop_alive)
            pevi_timer_disarm(&s->tls->hs_timer);
        else
            pevi_timer_orphan(&s->tls->hs_timer);
        pevi_tls_free(s->tls->t);      /* before the descriptor it uses */
    }
    if (s->sock)
        (void) apr_socket_close(s->sock);
    else
        (void) apr_file_close(s->file);
    s->fd = -1;
    buf_drop(s, s->obuf, s->ocap, loop_alive);
    s->obuf = NULL;
    s->opos = s->olen = s->ocap = 0;
    s->out_blocked = 0;
    s->want_drain = 0;
}

static void free_input(pev_stream_t *s)
{
    buf_drop(s, s->ibuf, s->icap, s->loop != NULL);
    s->ibuf = NULL;
    s->ipos = s->ilen = s->icap = s->iscan = 0;
}

/* Close now for @a reason: out of the loop at once; the close callback runs
 * from the stream's task at the end of the iteration. The input buffer stays
 * until then (a callback may hold a line); after the peer's EOF it stays
 * while lines are left to take. */
static void stream_fail(pev_stream_t *s, apr_status_t reason)
{
    if (s->state == S_CLOSED)
        return;
    s->state = S_CLOSED;
    s->reason = reason;
    s->input_paused = 0;
    stream_shut(s, 1);
    s->close_owed = 1;
    pevi_loop_ios_adjust(s->loop, -1);
    pevi_task_post(s->loop, &s->task);
}

/* Stop input, send the output, then close with @a reason. */
static void stream_begin_close(pev_stream_t *s, apr_status_t reason)
{
    s->state = S_CLOSING;
    s->reason = reason;
    io_update(s);
    if (s->state == S_CLOSING)
        pevi_task_post(s->loop, &s->task);
}

/* Most input a closing socket discards before close(2). */
#define CLOSE_DISCARD_MAX (256 * 1024)

/* CLOSING, and all output handed to the kernel: close. On a socket, first
 * end our direction (FIN after the data) and discard input that arrived
 * meanwhile: close(2) with unread input sends a reset instead, and a reset
 * throws away what the kernel has not sent yet. */
static void close_sent(pev_stream_t *s)
{
    stream_tls_t *x = s->tls;

    if (x && x->state == PEV_STREAM_TLS_ON && !x->shut_done) {
        /* close_notify first; a socket that takes no more waits */
        apr_status_t st = pevi_tls_shutdown(x->t);

        if (st == APR_EAGAIN) {
            x->out_want = pevi_tls_want(x->t);
            s->out_blocked = 1;
            io_update(s);
            return;
        }
        x->shut_done = 1;       /* sent, or failed: closing either way */
    }
    if (s->sock && !s->eof) {
        char sink[4096];
        apr_size_t total = 0;
        ssize_t n;

        (void) shutdown(s->fd, SHUT_WR);
        do
            n = read(s->fd, sink, sizeof sink);
        while ((n > 0 && (total += (apr_size_t) n) < CLOSE_DISCARD_MAX)
               || (n < 0 && errno == EINTR));
    }
    stream_fail(s, s->reason);
}

/* Run the close callback (once). */
static void deliver_close(pev_stream_t *s)
{
    pevi_sentry_t g;

    if (!s->close_owed)
        return;
    s->close_owed = 0;
    pevi_task_cancel(&s->task);
    /* no callback holds a line any more: the input goes, unless the peer
     * ended it and lines are left to take */
    if (!s->eof || s->ipos == s->ilen)
        free_input(s);
    if (!s->cb.on_close)
        return;
    pevi_sentry_push(&s->guards, &g);
    s->cb.on_close(s, s->reason, s->user_data);
    if (!pevi_sentry_gone(&g))
        pevi_sentry_pop(&s->guards, &g);
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

/* Send what the descriptor takes. APR_SUCCESS when all is sent, APR_EAGAIN
 * when some is left (then the loop polls for POLLOUT), else the error (the
 * stream has failed). */
/* The descriptor took nothing more: wait until it reports @a want. */
static apr_status_t out_wait(pev_stream_t *s, apr_int16_t want)
{
    int changed = !s->out_blocked;

    if (s->tls && s->tls->out_want != want) {
        s->tls->out_want = want;
        changed = 1;
    }
    if (changed) {
        s->out_blocked = 1;
        io_update(s);
    }
    return s->state == S_CLOSED ? PEV_ECLOSED : APR_EAGAIN;
}

/* Hand output to OpenSSL. APR_SUCCESS when it took some; else as
 * out_send(). */
static apr_status_t out_send_tls(pev_stream_t *s)
{
    stream_tls_t *x = s->tls;
    apr_size_t n;
    apr_status_t st;

    if (x->state == PEV_STREAM_TLS_HANDSHAKE) {
        /* sent once the handshake is done: nothing to poll for meanwhile */
        if (s->out_blocked) {
            s->out_blocked = 0;
            io_update(s);
        }
        return s->state == S_CLOSED ? PEV_ECLOSED : APR_EAGAIN;
    }
    st = pevi_tls_write(x->t, s->obuf + s->opos, s->olen - s->opos, &n);
    if (st == APR_SUCCESS) {
        s->opos += n;
        return APR_SUCCESS;
    }
    if (st == APR_EAGAIN)
        return out_wait(s, pevi_tls_want(x->t));
    stream_fail(s, st);
    return st;
}

static apr_status_t out_send(pev_stream_t *s)
{
    while (s->opos < s->olen) {
        apr_size_t len = s->olen - s->opos;
        ssize_t n;

        if (s->tls) {
            if (!s->tls->plain_left) {
                apr_status_t st = out_send_tls(s);

                if (st != APR_SUCCESS)
                    return st;
                continue;
            }
            if (len > s->tls->plain_left)
                len = s->tls->plain_left;   /* the plaintext before the start */
        }
        if (s->sock)
            n = send(s->fd, s->obuf + s->opos, len, MSG_NOSIGNAL);
        else
            n = write(s->fd, s->obuf + s->opos, len);
        if (n > 0) {
            s->opos += (apr_size_t) n;
            if (s->tls && (s->tls->plain_left -= (apr_size_t) n) == 0) {
                /* the plaintext is out: the task starts the handshake */
                s->tls->hs_kick = 1;
                pevi_task_post(s->loop, &s->task);
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return out_wait(s, APR_POLLOUT);
        {
            apr_status_t st = n < 0 ? APR_FROM_OS_ERROR(errno) : APR_EOF;

            stream_fail(s, st);
            return st;
        }
    }
    /* all sent: an idle stream holds no output buffer */
    buf_drop(s, s->obuf, s->ocap, 1);
    s->obuf = NULL;
    s->opos = s->olen = s->ocap = 0;
    if (s->out_blocked) {
        s->out_blocked = 0;
        io_update(s);
    }
    return APR_SUCCESS;
}

/* Call on_read unless a blocking wait takes the input. Non-zero if the
 * stream is gone. */
static int notify_read(pev_stream_t *s);

/* Input has ended. The stream closes, unless a write waits for room (it was
 * refused with PEV_EFULL): then it stays open for output until a drain comes
 * and the owner, having had on_drain and on_read again for the lines left,
 * no longer waits. A regular file opened for writing too stays open. */
static void eof_settle(pev_stream_t *s)
{
    /* a regular file that is also written: the end of what it holds ends
     * nothing of its output, which goes on until pev_stream_close() */
    if (s->regular && s->can_write)
        return;
    /* a TLS end without close_notify leaves OpenSSL unable to send more:
     * nothing waits for a drain that cannot come */
    if (s->eof_reason == PEV_ETRUNCATED) {
        stream_fail(s, PEV_ETRUNCATED);
        return;
    }
    if (s->state == S_OPEN && !s->want_drain)
        stream_begin_close(s, s->eof_reason);
}

/* After output was sent: a refused writer may write again (on_drain). Returns
 * non-zero if the stream is gone. */
static int maybe_drain(pev_stream_t *s)
{
    pevi_sentry_t g;

    if (!s->want_drain || s->state != S_OPEN
        || s->olen - s->opos > s->out_limit / 2)
        return 0;
    s->want_drain = 0;
    if (s->cb.on_drain) {
        pevi_sentry_push(&s->guards, &g);
        s->cb.on_drain(s, s->user_data);
        if (pevi_sentry_gone(&g))
            return 1;
        pevi_sentry_pop(&s->guards, &g);
    }
    if (s->eof && s->state == S_OPEN) {
        /* held open after the end of input: offer the lines left again */
        if (s->ipos < s->ilen && notify_read(s))
            return 1;
        eof_settle(s);
    }
    return 0;
}

/* Room for @a len more bytes (plus a spare byte for a NUL) at obuf + olen,
 * within the output limit. */
static apr_status_t out_reserve(pev_stream_t *s, apr_size_t len)
{
    apr_size_t pending = s->olen - s->opos;

    if (len > s->out_limit)
        return APR_ENOSPC;
    if (pending > s->out_limit || len > s->out_limit - pending) {
        s->want_drain = 1;
        return PEV_EFULL;
    }
    if (s->olen + len <= s->ocap)
        return APR_SUCCESS;
    if (s->opos > 0) {
        memmove(s->obuf, s->obuf + s->opos, pending);
        s->opos = 0;
        s->olen = pending;
        if (pending + len <= s->ocap)
            return APR_SUCCESS;
    }
    {
        apr_size_t cap = s->ocap ? s->ocap : OBUF_INITIAL;
        char *nb;

        while (cap < pending + len)
            cap *= 2;
        nb = buf_resize(s, s->obuf, cap);
        if (!nb)
            return APR_ENOMEM;
        s->obuf = nb;
        s->ocap = cap;
    }
    return APR_SUCCESS;
}

apr_status_t pev_stream_write(pev_stream_t *s, const void *data, apr_size_t len)
{
    apr_status_t st;

    if ((st = stream_check(s, data || !len, NEED_WRITE)) != APR_SUCCESS)
        return st;
    if (len == 0)
        return APR_SUCCESS;
    if ((st = out_reserve(s, len)) != APR_SUCCESS)
        return st;
    memcpy(s->obuf + s->olen, data, len);
    s->olen += len;
    pevi_task_post(s->loop, &s->task);
    return APR_SUCCESS;
}

apr_status_t pev_stream_vprintf(pev_stream_t *s, const char *fmt, va_list ap)
{
    apr_status_t st;
    va_list ap2;
    int n, fitted;

    if ((st = stream_check(s, fmt != NULL, NEED_WRITE)) != APR_SUCCESS)
        return st;
    /* format into the spare room first; most messages fit */
    va_copy(ap2, ap);
    n = vsnprintf(s->obuf ? s->obuf + s->olen : NULL,
                  s->obuf ? s->ocap - s->olen + 1 : 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return APR_EINVAL;
    fitted = s->obuf && (apr_size_t) n <= s->ocap - s->olen;
    if ((st = out_reserve(s, (apr_size_t) n)) != APR_SUCCESS)
        return st;
    /* out_reserve leaves a buffer that had the room alone; else the bytes
     * are formatted again where the room is now */
    if (!fitted)
        vsnprintf(s->obuf + s->olen, (apr_size_t) n + 1, fmt, ap);
    s->olen += (apr_size_t) n;
    pevi_task_post(s->loop, &s->task);
    return APR_SUCCESS;
}

apr_status_t pev_stream_printf(pev_stream_t *s, const char *fmt, ...)
{
    apr_status_t st;
    va_list ap;

    va_start(ap, fmt);
    st = pev_stream_vprintf(s, fmt, ap);
    va_end(ap);
    return st;
}

apr_status_t pev_stream_flush(pev_stream_t *s)
{
    apr_status_t st;

    if ((st = stream_check(s, 1, NEED_UNCLOSED)) != APR_SUCCESS)
        return st;
    st = out_send(s);
    /* a refused writer's on_drain comes from the task: once the output is
     * sent the stream polls for no room, so no POLLOUT would lead to it */
    if (s->want_drain && s->state == S_OPEN && s->olen - s->opos <= s->out_limit / 2)
        pevi_task_post(s->loop, &s->task);
    return st;
}

apr_size_t pev_stream_output_pending(const pev_stream_t *s)
{
    return s ? s->olen - s->opos : 0;
}

/* ------------------------------------------------------------------------ */
/* Input                                                                     */

static void input_consumed(pev_stream_t *s)
{
    if (s->ipos == s->ilen)
        s->ipos = s->ilen = s->iscan = 0;   /* bytes stay until the next fill */
    if (s->input_paused) {
        s->input_paused = 0;
        io_update(s);
    }
}

/* Nothing more to take: why. */
static apr_status_t in_empty_status(const pev_stream_t *s)
{
    if (s->eof)
        return APR_EOF;
    if (s->state == S_CLOSED)
        return PEV_ECLOSED;
    return APR_EAGAIN;
}

apr_status_t pev_stream_getline(pev_stream_t *s, char **line, apr_size_t *len)
{
    char *start, *lf, *end;
    apr_status_t st;

    if ((st = stream_check(s, line && len, NEED_READ)) != APR_SUCCESS)
        return st;
    if (s->ipos == s->ilen)
        return in_empty_status(s);
    start = s->ibuf + s->ipos;
    lf = memchr(s->ibuf + s->iscan, '\n', s->ilen - s->iscan);
    if (!lf) {
        s->iscan = s->ilen;
        if (!s->eof)
            return s->state == S_CLOSED ? PEV_ECLOSED : APR_EAGAIN;
        /* the peer ended: its last line has no terminator */
        end = s->ibuf + s->ilen;
        s->ipos = s->ilen;
    } else {
        end = lf > start && lf[-1] == '\r' ? lf - 1 : lf;
        s->ipos = (apr_size_t) (lf + 1 - s->ibuf);
        s->iscan = s->ipos;
    }
    if ((apr_size_t) (end - start) > s->max_line) {
        s->ipos = s->ilen = s->iscan = 0;
        if (s->state != S_CLOSED)
            stream_fail(s, PEV_ELINE);
        return PEV_ELINE;
    }
    *end = '\0';                /* the spare byte covers an unterminated tail */
    *line = start;
    *len = (apr_size_t) (end - start);
    input_consumed(s);
    return APR_SUCCESS;
}

apr_status_t pev_stream_read(pev_stream_t *s, void *buf, apr_size_t *len)
{
    apr_size_t n;
    apr_status_t st;

    if ((st = stream_check(s, buf && len, NEED_READ)) != APR_SUCCESS)
        return st;
    n = s->ilen - s->ipos;
    if (n == 0) {
        *len = 0;
        return in_empty_status(s);
    }
    if (n > *len)
        n = *len;
    memcpy(buf, s->ibuf + s->ipos, n);
    s->ipos += n;
    if (s->iscan < s->ipos)
        s->iscan = s->ipos;
    *len = n;
    input_consumed(s);
    return APR_SUCCESS;
}

apr_size_t pev_stream_input_pending(const pev_stream_t *s)
{
    return s ? s->ilen - s->ipos : 0;
}

int pev_stream_eof(const pev_stream_t *s)
{
    return s && s->eof;
}

/* Call on_read unless a blocking wait takes the input. Non-zero if the
 * stream is gone. */
static int notify_read(pev_stream_t *s)
{
    pevi_sentry_t g;

    if (!s->cb.on_read || s->waiting)
        return 0;
    pevi_sentry_push(&s->guards, &g);
    s->cb.on_read(s, s->user_data);
    if (pevi_sentry_gone(&g))
        return 1;
    pevi_sentry_pop(&s->guards, &g);
    return 0;
}

/* Make room at the end of the input buffer. APR_SUCCESS with room;
 * APR_EAGAIN when the buffer is at its bound and holds a complete line (input
 * pauses); PEV_ELINE when it is at its bound without one. */
static apr_status_t in_make_room(pev_stream_t *s)
{
    apr_size_t bound = s->max_line + 2, cap;
    char *nb;

    if (s->icap > bound) {
        /* the maximum was lowered: bring what is buffered to the front and
         * give the rest back (set_max_line made sure it fits) */
        memmove(s->ibuf, s->ibuf + s->ipos, s->ilen - s->ipos);
        s->ilen -= s->ipos;
        s->iscan -= s->ipos;
        s->ipos = 0;
        nb = realloc(s->ibuf, bound + 1);
        if (nb)
            s->ibuf = nb;
        s->icap = bound;
    }
    if (s->ilen < s->icap)
        return APR_SUCCESS;
    if (s->ipos > 0) {
        memmove(s->ibuf, s->ibuf + s->ipos, s->ilen - s->ipos);
        s->ilen -= s->ipos;
        s->iscan -= s->ipos;
        s->ipos = 0;
        return APR_SUCCESS;
    }
    if (s->icap >= bound) {
        if (memchr(s->ibuf, '\n', s->ilen))
            return APR_EAGAIN;
        return PEV_ELINE;
    }
    cap = s->icap ? s->icap * 2 : s->regular ? IBUF_INITIAL_FILE : IBUF_INITIAL;
    if (cap > bound)
        cap = bound;
    nb = buf_resize(s, s->ibuf, cap);
    if (!nb)
        return APR_ENOMEM;
    s->ibuf = nb;
    s->icap = cap;
    return APR_SUCCESS;
}

/* The descriptor is readable (or hung up, or failed; a regular file always
 * is): read once. Non-zero if the stream is gone. */
static int stream_fill(pev_stream_t *s)
{
    apr_status_t st;
    ssize_t n;

    st = in_make_room(s);
    if (st == APR_EAGAIN) {
        s->input_paused = 1;
        io_update(s);
        return 0;
    }
    if (st != APR_SUCCESS) {
        stream_fail(s, st);
        return 0;
    }
    if (s->tls) {
        apr_size_t got;

        st = pevi_tls_read(s->tls->t, s->ibuf + s->ilen, s->icap - s->ilen, &got);
        if (st == APR_EAGAIN) {
            apr_int16_t want = pevi_tls_want(s->tls->t);

            if (want != s->tls->in_want) {
                s->tls->in_want = want;
                io_update(s);
            }
            return 0;
        }
        if (st == APR_EOF || st == PEV_ETRUNCATED) {
            s->eof_reason = st;
            n = 0;
        } else if (st != APR_SUCCESS) {
            stream_fail(s, st);
            return 0;
        } else {
            n = (ssize_t) got;
            if (s->tls->in_want != APR_POLLIN) {
                s->tls->in_want = APR_POLLIN;
                io_update(s);
            }
        }
    } else {
        do
            n = read(s->fd, s->ibuf + s->ilen, s->icap - s->ilen);
        while (n < 0 && errno == EINTR);
    }
    if (n > 0) {
        s->ilen += (apr_size_t) n;
        s->last_input = pev_loop_now(s->loop);
        /* a full buffer without LF can never hold a whole line */
        if (s->ilen - s->ipos > s->max_line + 1
            && !memchr(s->ibuf + s->iscan, '\n', s->ilen - s->iscan)) {
            s->ipos = s->ilen = s->iscan = 0;
            stream_fail(s, PEV_ELINE);
            return 0;
        }
        if (notify_read(s))
            return 1;
        /* all taken: an idle stream holds no input buffer (lines handed out
         * were valid until the callback returned) */
        if (s->ibuf && s->ipos == s->ilen && s->state != S_CLOSED)
            free_input(s);
        /* decrypted input left in OpenSSL: the poll will not say so */
        if (s->tls && wants_input(s) && reads_unpolled(s))
            pevi_task_post(s->loop, &s->task);
        return 0;
    }
    if (n == 0) {
        s->eof = 1;
        io_update(s);
        if (s->ipos < s->ilen && notify_read(s))
            return 1;
        eof_settle(s);
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
    stream_fail(s, APR_FROM_OS_ERROR(errno));
    return 0;
}

/* The next step of the TLS handshake. Non-zero if the stream is gone. */
static int hs_step(pev_stream_t *s)
{
    stream_tls_t *x = s->tls;
    apr_status_t st = pevi_tls_handshake(x->t);
    pevi_sentry_t g;

    if (st == APR_EAGAIN) {
        io_update(s);
        return 0;
    }
    if (st != APR_SUCCESS) {
        stream_fail(s, st);
        return 0;
    }
    x->state = PEV_STREAM_TLS_ON;
    x->in_want = APR_POLLIN;
    pevi_timer_disarm(&x->hs_timer);
    io_update(s);
    /* the task sends what was written meanwhile and reads what came with
     * the handshake's last flight */
    pevi_task_post(s->loop, &s->task);
    if (x->on_ready && s->state == S_OPEN) {
        pevi_sentry_push(&s->guards, &g);
        x->on_ready(s, x->ready_data);
        if (pevi_sentry_gone(&g))
            return 1;
        pevi_sentry_pop(&s->guards, &g);
    }
    return 0;
}

static void stream_ready(pevi_io_t *io, apr_int16_t events)
{
    pev_stream_t *s = PEVI_CONTAINER(io, pev_stream_t, io);
    apr_int16_t out_ev = s->tls ? s->tls->out_want : APR_POLLOUT;
    apr_int16_t in_ev = s->tls ? s->tls->in_want : APR_POLLIN;

    if (s->out_blocked && (events & (out_ev | APR_POLLERR | APR_POLLHUP))) {
        apr_status_t st = out_send(s);

        if (st != APR_SUCCESS && st != APR_EAGAIN)
            return;
        if (s->state == S_CLOSING && s->opos == s->olen) {
            close_sent(s);
            return;
        }
        if (maybe_drain(s))
            return;
    }
    if (tls_hs(s)) {
        if (!s->tls->plain_left && !s->tls->hs_kick
            && (events & (pevi_tls_want(s->tls->t) | APR_POLLHUP | APR_POLLERR)))
            (void) hs_step(s);
        return;
    }
    if (wants_input(s) && (s->io.events & in_ev)
        && (events & (in_ev | APR_POLLHUP | APR_POLLERR)))
        (void) stream_fill(s);
}

/* End of iteration: read a regular file's next chunk; send the output;
 * finish a close. A regular file that still wants input (or whose output
 * the file refused for now) posts the task again, for the next iteration:
 * one chunk per iteration, and the loop does not wait in its poll meanwhile. */
static void stream_task(pevi_task_t *task)
{
    pev_stream_t *s = PEVI_CONTAINER(task, pev_stream_t, task);

    if (tls_hs(s) && s->tls->hs_kick && s->state != S_CLOSED) {
        s->tls->hs_kick = 0;
        if (hs_step(s))
            return;
    }
    if (reads_unpolled(s) && wants_input(s) && stream_fill(s))
        return;
    if (s->state != S_CLOSED && s->opos < s->olen)
        (void) out_send(s);
    if (s->state == S_CLOSING && s->opos == s->olen)
        close_sent(s);
    if (s->state == S_CLOSED) {
        deliver_close(s);
        return;
    }
    if (maybe_drain(s))
        return;
    if (s->state != S_CLOSED
        && ((reads_unpolled(s) && wants_input(s)) || (s->regular && s->out_blocked)))
        pevi_task_post(s->loop, &s->task);
}

/* ------------------------------------------------------------------------ */
/* Idle timeout                                                              */

static void idle_fire(pev_timer_t *t, void *user_data)
{
    pev_stream_t *s = user_data;
    apr_time_t now = pev_loop_now(s->loop);
    apr_time_t deadline = time_add(s->last_input, s->idle_interval);
    pevi_sentry_t g;
    int keep;

    (void) t;
    if (now < deadline) {       /* input or a touch since it was armed */
        if (pevi_timer_arm(&s->idle, deadline) != APR_SUCCESS)
            stream_fail(s, APR_ENOMEM);
        return;
    }
    if (s->state == S_OPEN && s->cb.on_idle) {
        pevi_sentry_push(&s->guards, &g);
        keep = s->cb.on_idle(s, s->user_data);
        if (pevi_sentry_gone(&g))
            return;
        pevi_sentry_pop(&s->guards, &g);
        if (s->state == S_CLOSED || s->idle_interval == 0)
            return;
        if (s->state == S_CLOSING) {
            /* closed by the callback: one more interval to send, then out */
            if (pevi_timer_arm(&s->idle, time_add(now, s->idle_interval)) != APR_SUCCESS)
                stream_fail(s, APR_ENOMEM);
            return;
        }
        deadline = time_add(s->last_input, s->idle_interval);
        if (keep || deadline > now) {
            if (keep && deadline <= now) {
                s->last_input = now;
                deadline = time_add(now, s->idle_interval);
            }
            if (pevi_timer_arm(&s->idle, deadline) != APR_SUCCESS)
                stream_fail(s, APR_ENOMEM);
            return;
        }
    }
    stream_fail(s, APR_TIMEUP);
}

apr_status_t pev_stream_set_idle_timeout(pev_stream_t *s, apr_interval_time_t interval)
{
    apr_status_t st;

    if ((st = stream_check(s, interval >= 0, NEED_UNCLOSED)) != APR_SUCCESS)
        return st;
    s->idle_interval = interval;
    s->last_input = pev_loop_now(s->loop);
    if (interval == 0) {
        pevi_timer_disarm(&s->idle);
        return APR_SUCCESS;
    }
    return pevi_timer_arm(&s->idle, time_add(s->last_input, interval));
}

apr_status_t pev_stream_touch(pev_stream_t *s)
{
    apr_status_t st;

    if ((st = stream_check(s, 1, NEED_UNCLOSED)) != APR_SUCCESS)
        return st;
    s->last_input = pev_loop_now(s->loop);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* TLS                                                                       */

static void hs_fire(pev_timer_t *t, void *user_data)
{
    pev_stream_t *s = user_data;

    (void) t;
    if (!tls_hs(s))
        return;
    pevi_tls_set_error(s->tls->t, "the TLS handshake timed out");
    stream_fail(s, APR_TIMEUP);
}

apr_status_t pev_stream_start_tls(pev_stream_t *s, pev_tls_ctx_t *ctx, const char *host,
                                  pev_stream_tls_fn *on_ready, void *user_data,
                                  apr_size_t *discarded)
{
    stream_tls_t *x;
    apr_interval_time_t timeout;
    apr_status_t st;

    if (discarded)
        *discarded = 0;
    if (!pev_tls_available())
        return APR_ENOTIMPL;
    if ((st = stream_check(s, ctx != NULL, NEED_OPEN)) != APR_SUCCESS)
        return st;
    if (!s->sock)
        return APR_EINVAL;
    if (s->tls)
        return PEV_EBUSY;
    x = apr_pcalloc(s->pool, sizeof *x);
    if (!x)
        return APR_ENOMEM;
    if ((st = pevi_tls_new(&x->t, ctx, s->fd, host, s->pool)) != APR_SUCCESS)
        return st;
    pevi_timer_init(&x->hs_timer, s->loop, hs_fire, s);
    timeout = pevi_tls_handshake_timeout(x->t);
    if (timeout > 0
        && (st = pevi_timer_arm(&x->hs_timer, time_add(pev_loop_now(s->loop), timeout)))
               != APR_SUCCESS) {
        pevi_tls_free(x->t);
        return st;
    }
    x->on_ready = on_ready;
    x->ready_data = user_data;
    x->state = PEV_STREAM_TLS_HANDSHAKE;
    x->in_want = APR_POLLIN;
    x->out_want = APR_POLLOUT;      /* the plaintext's, if it waits */
    x->plain_left = s->olen - s->opos;
    x->hs_kick = x->plain_left == 0;
    s->tls = x;
    /* what the peer sent after the command that asked for TLS is not part
     * of the encrypted session: it goes (the buffer stays, for lines handed
     * out before) */
    if (discarded)
        *discarded = s->ilen - s->ipos;
    s->ipos = s->ilen = s->iscan = 0;
    s->input_paused = 0;
    io_update(s);
    pevi_task_post(s->loop, &s->task);
    return APR_SUCCESS;
}

pev_stream_tls_t pev_stream_tls_state(const pev_stream_t *s)
{
    return s && s->tls ? s->tls->state : PEV_STREAM_TLS_NONE;
}

const char *pev_stream_tls_error(const pev_stream_t *s)
{
    return s && s->tls ? pevi_tls_error(s->tls->t) : NULL;
}

struct ssl_st *pev_stream_tls_ssl(const pev_stream_t *s)
{
    return s && s->tls && s->state != S_CLOSED ? pevi_tls_ssl(s->tls->t) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Life                                                                      */

static apr_status_t free_cleanup(void *data)
{
    free(data);
    return APR_SUCCESS;
}

/* The stream leaves its loop for good, with no callback: its pool is going
 * (loop_alive) or the loop is (!loop_alive). */
static void stream_detach(pev_stream_t *s, int loop_alive)
{
    if (s->state != S_CLOSED) {
        s->state = S_CLOSED;
        s->reason = PEV_EDESTROYED;
        stream_shut(s, loop_alive);
        if (loop_alive)
            pevi_loop_ios_adjust(s->loop, -1);
    }
    s->close_owed = 0;
    pevi_task_cancel(&s->task);
    if (!loop_alive && s->ibuf) {
        /* a callback running now, or the caller of getline_wait, may hold a
         * line in the input buffer: it goes with the stream's pool, which
         * lives on */
        apr_pool_cleanup_register(s->pool, s->ibuf, free_cleanup,
                                  apr_pool_cleanup_null);
        s->ibuf = NULL;
    }
    free_input(s);
    pevi_sentry_kill_all(&s->guards);
    if (!loop_alive)
        s->loop = NULL;
}

/* The stream's pool is going (owner.h). */
static void stream_release(void *loop, pevi_link_t *item)
{
    (void) loop;
    stream_detach(PEVI_CONTAINER(item, pev_stream_t, owned), 1);
}

/* The loop is going while the stream's pool lives on. */
static void stream_orphan(void *loop, pevi_link_t *item)
{
    (void) loop;
    stream_detach(PEVI_CONTAINER(item, pev_stream_t, owned), 0);
}

static const char streams_key;      /* the loop's owners of streams */

/* The owners of @a loop's streams' pools; NULL when out of memory. */
static pevi_owners_t *loop_streams(pev_loop_t *loop)
{
    return pevi_loop_owners(loop, &streams_key, stream_release, stream_orphan);
}

/* Is @a fd a TCP socket (IPv4 or IPv6, SOCK_STREAM), the kind TCP_NODELAY
 * applies to? (Not an AF_UNIX socket, whatever its type.) */
static int is_tcp(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int type;
    socklen_t tlen = sizeof type;

    if (getsockname(fd, (struct sockaddr *) (void *) &ss, &len) != 0
        || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
        return 0;
#ifdef SO_PROTOCOL
    /* not SCTP or another stream protocol */
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &type, &tlen) == 0)
        return type == IPPROTO_TCP;
    tlen = sizeof type;
#endif
    return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM;
}

static apr_status_t stream_create(pev_stream_t **out, pev_loop_t *loop,
                                  apr_socket_t *sock, apr_file_t *file,
                                  const pev_stream_callbacks_t *cb, void *user_data,
                                  apr_pool_t *pool)
{
    pev_stream_t *s;
    pevi_owners_t *owners;
    apr_os_sock_t osd;
    apr_os_file_t ofd;
    apr_status_t st;
    int fl;

    if (!out || !loop || !pool || (!sock && !file))
        return APR_EINVAL;
    /* the descriptor's pool must outlive the stream */
    if (!apr_pool_is_ancestor(sock ? apr_socket_pool_get(sock) : apr_file_pool_get(file),
                              pool))
        return APR_EINVAL;
    s = apr_pcalloc(pool, sizeof *s);
    if (!s)
        return APR_ENOMEM;
    if (sock) {
        apr_os_sock_get(&osd, sock);
        s->fd = osd;
        s->can_read = s->can_write = 1;
        st = apr_socket_opt_set(sock, APR_SO_NONBLOCK, 1);
        if (st == APR_SUCCESS)
            st = apr_socket_timeout_set(sock, 0);
        /* no Nagle: a reply is sent when the iteration ends, not held back
         * until the peer's delayed ACK */
        s->tcp = is_tcp(s->fd);
        if (st == APR_SUCCESS && s->tcp)
            (void) apr_socket_opt_set(sock, APR_TCP_NODELAY, 1);  /* best effort */
    } else {
        struct stat sb;

        apr_os_file_get(&ofd, file);
        s->fd = ofd;
        fl = fcntl(s->fd, F_GETFL);
        if (fl < 0 || fstat(s->fd, &sb) != 0)
            return APR_FROM_OS_ERROR(errno);
        s->can_read = (fl & O_ACCMODE) != O_WRONLY;
        s->can_write = (fl & O_ACCMODE) != O_RDONLY;
        s->regular = S_ISREG(sb.st_mode) != 0;
        if (!s->regular)
            st = apr_file_pipe_timeout_set(file, 0);
        else if (apr_file_buffer_size_get(file) > 0)
            st = APR_EINVAL;    /* APR's buffer: bytes the stream would not see */
        else
            st = APR_SUCCESS;   /* always ready: never polled, never blocks */
    }
    if (st != APR_SUCCESS)
        return st;
    s->loop = loop;
    s->pool = pool;
    s->sock = sock;
    s->file = file;
    s->state = S_OPEN;
    s->reason = APR_SUCCESS;
    s->eof_reason = APR_EOF;
    if (cb)
        s->cb = *cb;
    s->user_data = user_data;
    s->max_line = PEV_STREAM_MAX_LINE_DEFAULT;
    s->out_limit = PEV_STREAM_OUTPUT_LIMIT_DEFAULT;
    pevi_list_init(&s->events);
    pevi_list_init(&s->free_events);
    pevi_io_init(&s->io, pool, sock, file, stream_ready);
    pevi_task_init(&s->task, stream_task);
    pevi_timer_init(&s->idle, loop, idle_fire, s);
    s->last_input = pev_loop_now(loop);
    if (s->can_read && !s->regular) {
        st = pevi_io_set(loop, &s->io, APR_POLLIN);
        if (st != APR_SUCCESS)
            return st;
    }
    owners = loop_streams(loop);
    st = owners ? pevi_owner_add(owners, pool, &s->owned) : APR_ENOMEM;
    if (st != APR_SUCCESS) {
        (void) pevi_io_set(loop, &s->io, 0);
        return st;
    }
    pevi_loop_ios_adjust(loop, 1);
    if (s->regular)
        io_update(s);           /* a file to read: the task reads it */
    *out = s;
    return APR_SUCCESS;
}

apr_status_t pev_stream_create_socket(pev_stream_t **out, pev_loop_t *loop,
                                      apr_socket_t *sock,
                                      const pev_stream_callbacks_t *cb,
                                      void *user_data, apr_pool_t *pool)
{
    if (!sock)
        return APR_EINVAL;
    return stream_create(out, loop, sock, NULL, cb, user_data, pool);
}

apr_status_t pev_stream_create_file(pev_stream_t **out, pev_loop_t *loop,
                                    apr_file_t *file,
                                    const pev_stream_callbacks_t *cb,
                                    void *user_data, apr_pool_t *pool)
{
    if (!file)
        return APR_EINVAL;
    return stream_create(out, loop, NULL, file, cb, user_data, pool);
}

apr_status_t pev_stream_set_callbacks(pev_stream_t *s, const pev_stream_callbacks_t *cb,
                                      void *user_data)
{
    static const pev_stream_callbacks_t none;

    if (!s)
        return APR_EINVAL;
    s->cb = cb ? *cb : none;
    s->user_data = user_data;
    return APR_SUCCESS;
}

apr_status_t pev_stream_set_nodelay(pev_stream_t *s, int on)
{
    apr_status_t st;

    if ((st = stream_check(s, 1, NEED_UNCLOSED)) != APR_SUCCESS)
        return st;
    if (!s->tcp)
        return APR_ENOTIMPL;
    return apr_socket_opt_set(s->sock, APR_TCP_NODELAY, on ? 1 : 0);
}

/* A valid line or output limit: at least 1, at most APR_SIZE_MAX / 4. */
static int limit_ok(apr_size_t n)
{
    return n != 0 && n <= APR_SIZE_MAX / 4;
}

apr_status_t pev_stream_set_max_line(pev_stream_t *s, apr_size_t max)
{
    apr_status_t st;

    if ((st = stream_check(s, limit_ok(max), NEED_UNCLOSED)) != APR_SUCCESS)
        return st;
    if (s->ilen - s->ipos > max + 2)
        return APR_EINVAL;
    /* the buffer is not moved here (a callback may hold a line in it): the
     * next fill shrinks it */
    s->max_line = max;
    if (s->input_paused) {
        s->input_paused = 0;
        io_update(s);
    }
    return APR_SUCCESS;
}

apr_status_t pev_stream_pause_input(pev_stream_t *s, int paused)
{
    apr_status_t st;

    if ((st = stream_check(s, 1, NEED_UNCLOSED)) != APR_SUCCESS)
        return st;
    s->user_paused = paused != 0;
    io_update(s);
    return APR_SUCCESS;
}

apr_status_t pev_stream_set_output_limit(pev_stream_t *s, apr_size_t limit)
{
    apr_status_t st;

    if ((st = stream_check(s, limit_ok(limit), NEED_UNCLOSED)) != APR_SUCCESS)
        return st;
    s->out_limit = limit;
    return APR_SUCCESS;
}

apr_status_t pev_stream_close(pev_stream_t *s)
{
    apr_status_t st;

    if ((st = stream_check(s, 1, NEED_OPEN)) != APR_SUCCESS)
        return st;
    stream_begin_close(s, PEV_ECLOSED);
    return APR_SUCCESS;
}

apr_status_t pev_stream_abort(pev_stream_t *s)
{
    apr_status_t st;

    if ((st = stream_check(s, 1, NEED_UNCLOSED)) != APR_SUCCESS)
        return st;
    s->opos = s->olen = 0;
    stream_fail(s, PEV_ECLOSED);
    return APR_SUCCESS;
}

int pev_stream_is_open(const pev_stream_t *s)
{
    return s && s->state == S_OPEN;
}

apr_status_t pev_stream_close_reason(const pev_stream_t *s)
{
    return s && s->state == S_CLOSED ? s->reason : APR_SUCCESS;
}

pev_loop_t *pev_stream_loop(const pev_stream_t *s)
{
    return s ? s->loop : NULL;
}

apr_pool_t *pev_stream_pool(const pev_stream_t *s)
{
    return s ? s->pool : NULL;
}

apr_socket_t *pev_stream_socket(const pev_stream_t *s)
{
    return s ? s->sock : NULL;
}

apr_file_t *pev_stream_file(const pev_stream_t *s)
{
    return s ? s->file : NULL;
}

/* ------------------------------------------------------------------------ */
/* Blocking convenience                                                      */

apr_status_t pev_stream_getline_wait(pev_stream_t *s, char **line, apr_size_t *len,
                                     apr_interval_time_t timeout)
{
    pev_loop_t *loop;
    apr_time_t deadline = 0;
    apr_status_t st;
    pevi_sentry_t g;

    if ((st = stream_check(s, line && len, NEED_LOOP)) != APR_SUCCESS)
        return st;
    loop = s->loop;
    if (pevi_loop_running(loop))
        return PEV_EBUSY;
    if (timeout >= 0)
        deadline = time_add(pevi_loop_clock(loop), timeout);
    pevi_sentry_push(&s->guards, &g);
    s->waiting++;
    for (;;) {
        apr_interval_time_t wait = -1;

        st = pev_stream_getline(s, line, len);
        if (st != APR_EAGAIN)
            break;
        if (timeout >= 0) {
            apr_time_t now = pevi_loop_clock(loop);

            if (now >= deadline) {
                st = APR_TIMEUP;
                break;
            }
            wait = deadline - now;
        }
        st = pev_loop_run_once(loop, wait);
        if (pevi_sentry_gone(&g))
            return PEV_EDESTROYED;
        if (st != APR_SUCCESS)
            break;
    }
    s->waiting--;
    pevi_sentry_pop(&s->guards, &g);
    if (st == PEV_ECLOSED && s->reason != APR_SUCCESS)
        st = s->reason;
    return st;
}
