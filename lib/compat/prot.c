/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * prot.c - Cyrus's prot streams, wait events and prot_select() on a
 * poolev loop.
 *
 * A protstream owns a subpool of its pool, a duplicate of the caller's
 * descriptor and a native stream (pev_stream_t) over that duplicate, on the
 * compat loop. Reading: the native stream reads whenever the loop runs;
 * input pauses once INPUT_HIGH bytes wait in the native buffer, so nothing
 * grows without bound (and a run of bytes without LF never reaches the
 * native line limit). A blocking read copies what is buffered into the
 * protstream's own PROT_BUFSIZE buffer (for prot_getc() and prot_ungetc()),
 * or runs the loop until something comes. A write stream's native stream
 * never reads (its input is paused from the start), so a read stream and a
 * write stream over one socket stay independent. Flushing waits on the
 * stream's own descriptor with poll(2), never in the loop, so no wait event
 * can run in the middle of a message being written.
 *
 * Wait events are native wait events. Cyrus's public record (mark, proc,
 * rock) is the first member of ours. Marks are wall-clock seconds; the native
 * mark is the same instant on the loop's monotonic clock, through an offset
 * between the two clocks that is measured anew only when the wall clock
 * steps (so equal marks give equal native marks and keep their order). It
 * is computed when the event is added, when its callback keeps it, and
 * before every wait for each event whose public mark was written since (a
 * walk over the live events of every stream, comparing two numbers each;
 * after a step, for all of them). When it fires, the callback runs only if
 * time(NULL) has reached the public mark (else it is re-armed): Cyrus's
 * rule, whatever the two clocks did meanwhile. A callback that keeps its
 * event with a mark that has come waits until the next whole second.
 *
 * The loop does not nest. Inside a loop callback (a wait event), a blocking
 * read or prot_select() polls the descriptors concerned directly and reads
 * directly from the duplicate (after what the native stream has buffered:
 * nothing else reads it while the callback runs).
 *
 * Freeing: a plain cleanup on the stream's subpool takes its events off the
 * list of live events and marks every guard of the stream gone; the native
 * stream has left the loop before (its pre-cleanup). Guards are sentries
 * (lib/sentry.h) on the C stack of every call that runs callbacks.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_portable.h>

#include "poolev/loop.h"
#include "poolev/stream.h"
#include "poolev/compat/prot.h"
#include "compat_int.h"
#include "../list.h"
#include "../sentry.h"

/* Native input buffered before reading pauses. */
#define INPUT_HIGH (2 * PROT_BUFSIZE)
/* Unsent output before a write waits for room. */
#define OUTPUT_LIMIT (1024 * 1024)
/* Marks beyond this (about 35,000 years) are taken as this. */
#define MARK_MAX 1099511627776LL

typedef struct wait {
    struct prot_waitevent pub;      /* first: what the caller sees */
    pevi_link_t all;                /* on rt.events while live */
    pevi_link_t link;               /* on its stream's live or free list */
    struct protstream *s;
    pev_waitevent_t *native;        /* NULL: inert (the native stream closed) */
    time_t synced;                  /* the public mark the native one is from */
    unsigned epoch;                 /* rt.epoch when it was converted */
    apr_uint32_t gen;               /* bumped on removal */
    unsigned live : 1;
    unsigned firing : 1;
} wait_t;

struct protstream {
    apr_pool_t *pool;               /* its own subpool */
    pev_stream_t *ns;
    int nfd;                        /* the duplicate the native stream owns */
    int write;
    int dontblock;
    int read_timeout;
    time_t timeout_mark;
    int eof;
    int paused;                     /* native input paused for INPUT_HIGH */
    const char *error;
    char errbuf[128];
    struct protstream *flushonread;
    unsigned char buf[PROT_BUFSIZE];
    unsigned char *ptr;             /* next byte to take */
    unsigned cnt;                   /* bytes left after ptr */
    pevi_link_t events;             /* live wait events */
    pevi_link_t free_events;        /* removed ones, for reuse */
    pevi_sentry_t *guards;          /* of the calls running callbacks */
};

struct protgroup {
    size_t n, cap;
    struct protstream **items;
};

/* The compat loop and the live wait events of every stream. */
static struct {
    pev_loop_t *loop;
    pevi_link_t events;
    int running;                    /* inside pev_loop_run_once() */
    apr_time_t offset;              /* loop clock minus wall clock */
    unsigned epoch;                 /* bumped when offset changes */
    unsigned synced_epoch;          /* the epoch of the last sync_marks() */
} rt = { NULL, { &rt.events, &rt.events }, 0, 0, 0, 0 };

/* Offsets measured further apart than this mean a step of the wall clock
 * (both clocks are slewed alike). */
#define STEP_TOLERANCE 10000

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static int nested(void)
{
    return rt.running > 0;
}

static void set_error_text(struct protstream *s, const char *text)
{
    if (!s->error)
        s->error = text;
}

static void set_error(struct protstream *s, apr_status_t st)
{
    if (!s->error)
        s->error = pev_strerror(st, s->errbuf, sizeof s->errbuf);
}

/* A failed native call: the stream's close reason if it closed. */
static void set_error_native(struct protstream *s, apr_status_t st)
{
    apr_status_t reason = pev_stream_close_reason(s->ns);

    set_error(s, st == PEV_ECLOSED && reason != APR_SUCCESS ? reason : st);
}

/* Milliseconds for poll(2), rounded up; -1 for no limit. */
static int poll_ms(apr_interval_time_t wait)
{
    if (wait < 0)
        return -1;
    if (wait > (apr_interval_time_t) INT_MAX * 1000)
        return INT_MAX;
    return (int) ((wait + 999) / 1000);
}

/* Microseconds until wall-clock second @a mark (at least 1 ms when it is
 * still ahead: the whole-second check decides). */
static apr_interval_time_t until_wall(time_t mark)
{
    apr_interval_time_t rem = apr_time_from_sec((apr_time_t) mark) - apr_time_now();

    return rem < 1000 ? 1000 : rem;
}

/* The offset of the loop clock from the wall clock. It is measured anew
 * only when the wall clock has stepped, so that equal marks convert to equal
 * times (and run in the order they were armed). A step starts a new epoch:
 * every event is converted again before the next wait. */
static apr_time_t clock_offset(void)
{
    apr_time_t w1, w2, off = 0;
    int i;

    /* read the loop clock between two readings of the wall clock, again if
     * the thread was held up between them */
    for (i = 0; i < 4; i++) {
        w1 = apr_time_now();
        off = pev_clock_monotonic();
        w2 = apr_time_now();
        off -= w1 + (w2 - w1) / 2;
        if (w2 - w1 < 1000)
            break;
    }
    if (rt.epoch == 0 || off - rt.offset > STEP_TOLERANCE
        || rt.offset - off > STEP_TOLERANCE) {
        rt.offset = off;
        rt.epoch++;
    }
    return rt.offset;
}

/* The loop-clock time of wall-clock second @a mark. */
static apr_time_t mark_to_loop(time_t mark)
{
    long long m = (long long) mark;

    if (m > MARK_MAX)
        m = MARK_MAX;
    if (m < 0)
        m = 0;
    return apr_time_from_sec((apr_time_t) m) + clock_offset();
}

/* Convert @a w's public mark (@a mark: that mark or a later one; at least
 * @a floor on the loop clock) into its native event @a nev's. */
static apr_status_t wait_convert(wait_t *w, pev_waitevent_t *nev, time_t mark,
                                 apr_time_t floor)
{
    apr_time_t at = mark_to_loop(mark);

    w->synced = w->pub.mark;
    w->epoch = rt.epoch;
    return pev_waitevent_set_mark(nev, at > floor ? at : floor);
}

/* ------------------------------------------------------------------------ */
/* Wait events                                                               */

static void wait_unlink(wait_t *w)
{
    struct protstream *s = w->s;

    pevi_link_remove(&w->all);
    pevi_link_remove(&w->link);
    pevi_list_append(&s->free_events, &w->link);
    w->live = 0;
    w->firing = 0;
    w->native = NULL;
    w->gen++;
}

/* Bring native marks up to the public ones written since; the nearest
 * native mark is returned in *next (loop clock), if asked. */
static void sync_marks(apr_time_t *next)
{
    pevi_link_t *l;
    int all;

    /* after a step of the wall clock every event is converted again, in the
     * order they were added, which keeps equal marks in that order */
    (void) clock_offset();
    all = rt.epoch != rt.synced_epoch;
    rt.synced_epoch = rt.epoch;
    for (l = rt.events.next; l != &rt.events; l = l->next) {
        wait_t *w = PEVI_CONTAINER(l, wait_t, all);

        if (!w->native || w->firing)
            continue;
        if ((all || w->pub.mark != w->synced || w->epoch != rt.epoch)
            && wait_convert(w, w->native, w->pub.mark, 0) != APR_SUCCESS) {
            w->native = NULL;           /* its native stream closed */
            continue;
        }
        if (next) {
            apr_time_t m = pev_waitevent_mark(w->native);
            if (*next < 0 || m < *next)
                *next = m;
        }
    }
}

static pev_waitevent_t *wait_fire(pev_stream_t *ns, pev_waitevent_t *nev, void *rock)
{
    wait_t *w = rock;
    struct protstream *s = w->s;
    apr_uint32_t gen = w->gen;
    struct prot_waitevent *ret;
    time_t now = time(NULL), mark;
    pevi_sentry_t g;

    (void) ns;
    if (!w->pub.proc) {         /* the caller cleared it: nothing to run */
        wait_unlink(w);
        return NULL;
    }
    if (now < w->pub.mark) {    /* moved later, or the clocks disagree */
        (void) wait_convert(w, nev, w->pub.mark, pev_clock_monotonic() + 1000);
        return nev;
    }
    w->firing = 1;
    pevi_sentry_push(&s->guards, &g);
    ret = w->pub.proc(s, &w->pub, w->pub.rock);
    if (pevi_sentry_gone(&g))
        return NULL;            /* the stream was freed: ignored */
    pevi_sentry_pop(&s->guards, &g);
    if (w->gen != gen)
        return NULL;            /* removed by the callback (maybe reused) */
    w->firing = 0;
    if (!ret) {
        wait_unlink(w);
        return NULL;            /* the native event goes too */
    }
    /* kept at its mark, but not again within the second it fired in: that
     * second read from the precise clock, as time(NULL) may lag it by a
     * tick and would put the mark in the past */
    now = (time_t) apr_time_sec(apr_time_now());
    mark = w->pub.mark > now ? w->pub.mark : now + 1;
    (void) wait_convert(w, nev, mark, 0);
    return nev;
}

struct prot_waitevent *prot_addwaitevent(struct protstream *s, time_t mark,
                                         prot_waiteventcallback_t *proc, void *rock)
{
    wait_t *w;
    pevi_link_t *l;
    apr_time_t at;
    apr_status_t st;

    if (!s || !proc) {
        errno = EINVAL;
        return NULL;
    }
    if ((l = pevi_list_shift(&s->free_events)) != NULL) {
        w = PEVI_CONTAINER(l, wait_t, link);
    } else {
        w = apr_palloc(s->pool, sizeof *w);
        if (!w) {
            errno = ENOMEM;
            return NULL;
        }
        w->gen = 0;
    }
    w->pub.mark = mark;
    w->pub.proc = proc;
    w->pub.rock = rock;
    w->s = s;
    at = mark_to_loop(mark);
    w->synced = mark;
    w->epoch = rt.epoch;
    w->live = 1;
    w->firing = 0;
    w->native = NULL;
    st = pev_waitevent_add(&w->native, s->ns, at, wait_fire, w);
    if (st != APR_SUCCESS && st != PEV_ECLOSED) {
        pevi_list_append(&s->free_events, &w->link);
        w->live = 0;
        errno = pevc_errno(st);
        return NULL;
    }
    /* on a closed native stream (input ended) the event is inert, as an
     * event of a Cyrus stream at end of input never runs */
    pevi_list_append(&s->events, &w->link);
    pevi_list_append(&rt.events, &w->all);
    return &w->pub;
}

void prot_removewaitevent(struct protstream *s, struct prot_waitevent *event)
{
    pevi_link_t *l;

    if (!s || !event)
        return;
    /* only a live event of s: a stale or foreign pointer is ignored */
    for (l = s->events.next; l != &s->events; l = l->next) {
        wait_t *w = PEVI_CONTAINER(l, wait_t, link);

        if (&w->pub == event) {
            if (w->native)
                (void) pev_waitevent_remove(s->ns, w->native);
            wait_unlink(w);
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                  */

/* Cleanup of the default pool: the loop goes with it (at exit). */
static apr_status_t loop_gone(void *data)
{
    (void) data;
    rt.loop = NULL;
    return APR_SUCCESS;
}

static apr_status_t loop_init(void)
{
    apr_pool_t *pool;
    apr_status_t st;

    if (rt.loop)
        return APR_SUCCESS;
    if ((st = pevc_default_pool(&pool)) != APR_SUCCESS)
        return st;
    if ((st = pev_loop_create(&rt.loop, pool)) != APR_SUCCESS) {
        rt.loop = NULL;
        return st;
    }
    /* only for a loop that exists: a failed attempt leaves no cleanup */
    apr_pool_cleanup_register(pool, NULL, loop_gone, apr_pool_cleanup_null);
    return APR_SUCCESS;
}

/* One loop iteration waiting at most @a wait microseconds (negative: no
 * limit), after bringing the native marks up to date. */
static apr_status_t loop_once(apr_interval_time_t wait)
{
    apr_status_t st;

    sync_marks(NULL);
    rt.running++;
    st = pev_loop_run_once(rt.loop, wait);
    rt.running--;
    return st;
}

/* ------------------------------------------------------------------------ */
/* Streams                                                                   */

static void ns_read(pev_stream_t *ns, void *user_data)
{
    struct protstream *s = user_data;

    if (!s->paused && pev_stream_input_pending(ns) >= INPUT_HIGH
        && pev_stream_pause_input(ns, 1) == APR_SUCCESS)
        s->paused = 1;
}

static void ns_close(pev_stream_t *ns, apr_status_t reason, void *user_data)
{
    struct protstream *s = user_data;
    pevi_link_t *l;

    (void) ns;
    (void) reason;              /* read back with pev_stream_close_reason() */
    for (l = s->events.next; l != &s->events; l = l->next)
        PEVI_CONTAINER(l, wait_t, link)->native = NULL;  /* closing cancelled them */
}

static const pev_stream_callbacks_t NS_CALLBACKS = { ns_read, NULL, ns_close, NULL };

/* The stream's pool goes (its native stream has left the loop already). */
static apr_status_t stream_gone(void *data)
{
    struct protstream *s = data;

    while (!pevi_list_empty(&s->events))
        wait_unlink(PEVI_CONTAINER(s->events.next, wait_t, link));
    pevi_sentry_kill_all(&s->guards);
    return APR_SUCCESS;
}

static struct protstream *stream_fail(apr_pool_t *p, int dupfd, int err)
{
    if (dupfd >= 0)
        close(dupfd);
    if (p)
        apr_pool_destroy(p);
    errno = err;
    return NULL;
}

struct protstream *prot_new_pool(int fd, int write, apr_pool_t *pool)
{
    struct protstream *s;
    apr_pool_t *p;
    apr_status_t st;
    struct stat sb;
    int nfd;

    if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
        errno = EBADF;
        return NULL;
    }
    if ((st = loop_init()) != APR_SUCCESS) {
        errno = pevc_errno(st);
        return NULL;
    }
    if (!pool && (st = pevc_default_pool(&pool)) != APR_SUCCESS) {
        errno = pevc_errno(st);
        return NULL;
    }
    if ((st = apr_pool_create(&p, pool)) != APR_SUCCESS) {
        errno = pevc_errno(st);
        return NULL;
    }
    apr_pool_tag(p, "protstream");
    nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (nfd < 0 || fstat(nfd, &sb) < 0)
        return stream_fail(p, nfd, errno);
    s = apr_pcalloc(p, sizeof *s);
    s->pool = p;
    s->nfd = nfd;
    s->write = write != 0;
    s->ptr = s->buf;
    pevi_list_init(&s->events);
    pevi_list_init(&s->free_events);
    if (S_ISSOCK(sb.st_mode)) {
        apr_os_sock_t osd = nfd;
        apr_socket_t *sock = NULL;

        st = apr_os_sock_put(&sock, &osd, p);
        if (st == APR_SUCCESS)
            st = pev_stream_create_socket(&s->ns, rt.loop, sock, &NS_CALLBACKS, s, p);
    } else {
        apr_os_file_t ofd = nfd;
        apr_file_t *file = NULL;

        st = apr_os_pipe_put(&file, &ofd, p);
        if (st == APR_SUCCESS)
            st = pev_stream_create_file(&s->ns, rt.loop, file, &NS_CALLBACKS, s, p);
    }
    if (st != APR_SUCCESS)
        return stream_fail(p, nfd, pevc_errno(st));
    /* from here on the native stream owns nfd */
    if (s->write)
        (void) pev_stream_pause_input(s->ns, 1);
    (void) pev_stream_set_output_limit(s->ns, OUTPUT_LIMIT);
    apr_pool_cleanup_register(p, s, stream_gone, apr_pool_cleanup_null);
    return s;
}

struct protstream *prot_new(int fd, int write)
{
    return prot_new_pool(fd, write, NULL);
}

int prot_free(struct protstream *s)
{
    if (s)
        apr_pool_destroy(s->pool);
    return 0;
}

int prot_settimeout(struct protstream *s, int timeout)
{
    if (!s || s->write || timeout < 0) {
        errno = EINVAL;
        return -1;
    }
    s->read_timeout = timeout;
    s->timeout_mark = time(NULL) + timeout;
    return 0;
}

int prot_resettimeout(struct protstream *s)
{
    if (!s || s->write) {
        errno = EINVAL;
        return -1;
    }
    s->timeout_mark = time(NULL) + s->read_timeout;
    return 0;
}

int prot_setflushonread(struct protstream *s, struct protstream *flushs)
{
    if (!s || s->write || (flushs && !flushs->write)) {
        errno = EINVAL;
        return -1;
    }
    s->flushonread = flushs;
    return 0;
}

int prot_BLOCK(struct protstream *s)
{
    if (!s) {
        errno = EINVAL;
        return -1;
    }
    s->dontblock = 0;
    return 0;
}

int prot_NONBLOCK(struct protstream *s)
{
    if (!s) {
        errno = EINVAL;
        return -1;
    }
    s->dontblock = 1;
    return 0;
}

const char *prot_error(struct protstream *s)
{
    if (!s)
        return "bad protstream passed to prot_error";
    if (s->error)
        return s->error;
    if (s->eof)
        return PROT_EOF_STRING;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Input                                                                     */

/* Take what the native stream has buffered into s->buf: 1 (something), 0
 * (nothing yet), -1 (end of input or an error, recorded). */
static int take(struct protstream *s)
{
    apr_size_t n = PROT_BUFSIZE;
    apr_status_t st = pev_stream_read(s->ns, s->buf, &n);

    if (st == APR_SUCCESS) {
        s->ptr = s->buf;
        s->cnt = (unsigned) n;
        if (s->paused && pev_stream_input_pending(s->ns) < INPUT_HIGH
            && pev_stream_pause_input(s->ns, 0) == APR_SUCCESS)
            s->paused = 0;
        return 1;
    }
    if (st == APR_EAGAIN)
        return 0;
    if (st == APR_EOF)
        s->eof = 1;
    else
        set_error_native(s, st);
    return -1;
}

/* Inside a callback: read the duplicate directly (the native buffer is
 * empty, and nothing else reads while the callback runs). */
static int take_direct(struct protstream *s)
{
    ssize_t n;

    if (!pev_stream_is_open(s->ns))
        return 0;               /* take() reports how it ended */
    do
        n = read(s->nfd, s->buf, PROT_BUFSIZE);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        s->ptr = s->buf;
        s->cnt = (unsigned) n;
        return 1;
    }
    if (n == 0) {
        s->eof = 1;
        return -1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
    set_error(s, APR_FROM_OS_ERROR(errno));
    return -1;
}

/* Wait for @a fd alone: 1 ready, 0 timed out or interrupted, -1 error. */
static int poll_one(int fd, short events, apr_interval_time_t wait)
{
    struct pollfd pfd = { fd, events, 0 };
    int r = poll(&pfd, 1, poll_ms(wait));

    if (r < 0)
        return errno == EINTR ? 0 : -1;
    return r > 0;
}

/* Refill s->buf and return its first byte, or EOF. */
static int fill(struct protstream *s)
{
    int polled = 0, r;

    errno = 0;
    if (s->write) {
        errno = EBADF;
        return EOF;
    }
    for (;;) {
        apr_interval_time_t wait = -1;

        /* a read of s inside a callback of the last turn may have filled
         * s->buf (or met the end) while this one waited: use that first */
        if (s->cnt > 0)
            break;
        if (s->eof || s->error)
            return EOF;
        if ((r = take(s)) > 0)
            break;
        if (r < 0)
            return EOF;
        if (nested()) {
            if ((r = take_direct(s)) > 0)
                break;
            if (r < 0)
                return EOF;
        }
        if (s->dontblock) {
            if (!polled && !nested()) {
                pevi_sentry_t g;
                apr_status_t st;

                /* Cyrus runs the due events and polls once */
                polled = 1;
                pevi_sentry_push(&s->guards, &g);
                st = loop_once(0);
                if (pevi_sentry_gone(&g))
                    return EOF;
                pevi_sentry_pop(&s->guards, &g);
                if (st != APR_SUCCESS) {
                    set_error(s, st);
                    return EOF;
                }
                continue;
            }
            errno = EAGAIN;
            return EOF;
        }
        if (s->read_timeout) {
            if (time(NULL) >= s->timeout_mark) {
                set_error_text(s, PROT_IDLE_STRING);
                return EOF;
            }
            wait = until_wall(s->timeout_mark);
        }
        if (s->flushonread)
            (void) prot_flush(s->flushonread);
        if (nested()) {
            if (poll_one(s->nfd, POLLIN, wait) < 0) {
                set_error(s, APR_FROM_OS_ERROR(errno));
                return EOF;
            }
        } else {
            pevi_sentry_t g;
            apr_status_t st;

            pevi_sentry_push(&s->guards, &g);
            st = loop_once(wait);
            if (pevi_sentry_gone(&g)) {
                errno = EPIPE;  /* freed by a callback: do not touch it */
                return EOF;
            }
            pevi_sentry_pop(&s->guards, &g);
            if (st != APR_SUCCESS) {
                set_error(s, st);
                return EOF;
            }
        }
    }
    /* input came: the read timeout starts again */
    if (s->read_timeout)
        s->timeout_mark = time(NULL) + s->read_timeout;
    s->cnt--;
    return *s->ptr++;
}

int prot_getc(struct protstream *s)
{
    if (!s) {
        errno = EINVAL;
        return EOF;
    }
    if (s->cnt > 0) {
        s->cnt--;
        return *s->ptr++;
    }
    return fill(s);
}

int prot_ungetc(int c, struct protstream *s)
{
    if (c == EOF)
        return EOF;
    if (!s || s->ptr == s->buf || s->ptr[-1] != (unsigned char) c) {
        errno = EINVAL;
        return EOF;
    }
    s->ptr--;
    s->cnt++;
    return c;
}

char *prot_fgets(char *buf, unsigned size, struct protstream *s)
{
    char *p = buf;
    int c;

    if (!buf || !s || size < 2 || s->eof)
        return NULL;
    size--;
    while (size && (c = prot_getc(s)) != EOF) {
        size--;
        *p++ = (char) c;
        if (c == '\n')
            break;
    }
    if (p == buf)
        return NULL;
    *p = '\0';
    return buf;
}

int prot_read(struct protstream *s, char *buf, unsigned size)
{
    unsigned n;

    if (!s || !buf) {
        errno = EINVAL;
        return 0;
    }
    if (!size)
        return 0;
    if (!s->cnt) {
        if (fill(s) == EOF)
            return 0;
        s->ptr--;               /* give back the byte fill() took */
        s->cnt++;
    }
    n = size < s->cnt ? size : s->cnt;     /* at most PROT_BUFSIZE */
    memcpy(buf, s->ptr, n);
    s->ptr += n;
    s->cnt -= n;
    return (int) n;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

/* Send every pending byte, waiting for the descriptor alone. */
static int flush_out(struct protstream *s)
{
    for (;;) {
        apr_status_t st = pev_stream_flush(s->ns);

        if (st == APR_SUCCESS)
            return 0;
        if (st != APR_EAGAIN) {
            set_error_native(s, st);
            return EOF;
        }
        if (poll_one(s->nfd, POLLOUT, -1) < 0) {
            set_error(s, APR_FROM_OS_ERROR(errno));
            return EOF;
        }
    }
}

static int out_check(struct protstream *s)
{
    if (!s) {
        errno = EINVAL;
        return EOF;
    }
    if (!s->write) {
        errno = EBADF;
        return EOF;
    }
    if (s->error || s->eof)
        return EOF;
    return 0;
}

int prot_write(struct protstream *s, const char *buf, unsigned len)
{
    apr_status_t st;

    if (out_check(s))
        return EOF;
    if (!buf && len) {
        errno = EINVAL;
        return EOF;
    }
    while (len) {
        apr_size_t pending = pev_stream_output_pending(s->ns);
        apr_size_t room = pending < OUTPUT_LIMIT ? OUTPUT_LIMIT - pending : 0;
        apr_size_t n = len < room ? len : room;

        if (n == 0) {           /* bounded output: wait for room */
            if (flush_out(s))
                return EOF;
            continue;
        }
        st = pev_stream_write(s->ns, buf, n);
        if (st != APR_SUCCESS) {
            set_error_native(s, st);
            return EOF;
        }
        buf += n;
        len -= (unsigned) n;
    }
    if (pev_stream_output_pending(s->ns) >= PROT_BUFSIZE) {
        if (!s->dontblock)
            return flush_out(s);
        st = pev_stream_flush(s->ns);
        if (st != APR_SUCCESS && st != APR_EAGAIN) {
            set_error_native(s, st);
            return EOF;
        }
    }
    return 0;
}

int prot_putc(int c, struct protstream *s)
{
    char b = (char) c;

    return prot_write(s, &b, 1);
}

int prot_puts(struct protstream *s, const char *str)
{
    size_t n;

    if (!str) {
        errno = EINVAL;
        return EOF;
    }
    n = strlen(str);
    if (n > UINT_MAX) {
        errno = EINVAL;
        return EOF;
    }
    return prot_write(s, str, (unsigned) n);
}

int prot_vprintf(struct protstream *s, const char *fmt, va_list ap)
{
    char small[512], *big;
    va_list ap2;
    int n, r;

    if (out_check(s))
        return EOF;
    if (!fmt) {
        errno = EINVAL;
        return EOF;
    }
    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        errno = EINVAL;
        return EOF;
    }
    if ((size_t) n < sizeof small)
        return prot_write(s, small, (unsigned) n);
    if (!(big = malloc((size_t) n + 1))) {
        errno = ENOMEM;
        return EOF;
    }
    vsnprintf(big, (size_t) n + 1, fmt, ap);
    r = prot_write(s, big, (unsigned) n);
    free(big);
    return r;
}

int prot_printf(struct protstream *s, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = prot_vprintf(s, fmt, ap);
    va_end(ap);
    return r;
}

/* Throw away what is buffered (inside a callback: also what the duplicate
 * has, read directly). Non-zero if there was something. */
static int discard_input(struct protstream *s)
{
    int any = 0, rounds = 0;

    while (rounds++ < 64 && (take(s) > 0 || (nested() && take_direct(s) > 0))) {
        any = 1;
        s->cnt = 0;
    }
    s->cnt = 0;
    s->ptr = s->buf;
    return any;
}

int prot_flush(struct protstream *s)
{
    int round;

    if (!s) {
        errno = EINVAL;
        return EOF;
    }
    if (s->write) {
        if (s->error || s->eof)
            return EOF;
        return flush_out(s);
    }
    /* input: discard what is buffered and what has arrived, in a bounded
     * number of rounds (a peer that never stops cannot hold us here) */
    s->cnt = 0;
    s->ptr = s->buf;
    (void) discard_input(s);
    for (round = 0; round < 64 && !nested() && !s->eof && !s->error; round++) {
        pevi_sentry_t g;

        pevi_sentry_push(&s->guards, &g);
        (void) loop_once(0);
        if (pevi_sentry_gone(&g))
            return 0;
        pevi_sentry_pop(&s->guards, &g);
        if (!discard_input(s))
            break;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* prot_select                                                               */

typedef struct {
    struct protstream *s;
    pevi_sentry_t g;
    int readable;               /* its descriptor polled readable (nested) */
} sel_t;

/* Can a read of @a s return at once? */
static int sel_ready(const sel_t *it)
{
    const struct protstream *s = it->s;

    return s->cnt > 0 || s->eof || s->error || it->readable
           || pev_stream_input_pending(s->ns) > 0 || !pev_stream_is_open(s->ns)
           || (s->read_timeout && !s->dontblock && time(NULL) >= s->timeout_mark);
}

/* Wait on the extra descriptor and the group's descriptors with poll(2),
 * until the next wait event (outside callbacks; then one loop iteration
 * runs what is due and reads what came). */
static int sel_poll(sel_t *items, size_t n, int extra_fd, int *extra_ready,
                    apr_interval_time_t wait)
{
    struct pollfd *pfds = malloc((n + 1) * sizeof *pfds);
    size_t i, k = 0;
    int r;

    if (!pfds) {
        errno = ENOMEM;
        return -1;
    }
    if (extra_fd >= 0) {
        pfds[k].fd = extra_fd;
        pfds[k].events = POLLIN;
        k++;
    }
    for (i = 0; i < n; i++) {
        sel_t *it = &items[i];
        if (it->s && !pevi_sentry_gone(&it->g) && pev_stream_is_open(it->s->ns)) {
            pfds[k].fd = it->s->nfd;
            pfds[k].events = POLLIN;
            k++;
        }
    }
    if (!nested()) {
        apr_time_t next = -1;

        sync_marks(&next);
        if (next >= 0) {
            apr_interval_time_t until = next - pev_clock_monotonic();
            if (until < 0)
                until = 0;
            if (wait < 0 || until < wait)
                wait = until;
        }
    }
    r = poll(pfds, (nfds_t) k, poll_ms(wait));
    if (r < 0 && errno != EINTR) {
        free(pfds);
        return -1;
    }
    k = 0;
    if (extra_fd >= 0) {
        *extra_ready = r > 0 && (pfds[0].revents & (POLLIN | POLLHUP | POLLERR));
        k++;
    }
    for (i = 0; i < n && r > 0; i++) {
        sel_t *it = &items[i];
        if (it->s && !pevi_sentry_gone(&it->g) && pev_stream_is_open(it->s->ns)) {
            if (nested() && (pfds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                it->readable = 1;
            k++;
        }
    }
    free(pfds);
    if (!nested()) {
        apr_status_t st = loop_once(0);
        if (st != APR_SUCCESS) {
            errno = pevc_errno(st);
            return -1;
        }
    }
    return 0;
}

int prot_select(struct protgroup *readstreams, int extra_read_fd, struct protgroup **out,
                int *extra_read_flag, struct timeval *timeout)
{
    sel_t *items = NULL;
    struct protgroup *ready = NULL;
    size_t n = readstreams ? readstreams->n : 0, i, live;
    apr_time_t deadline = -1;
    int count = 0, extra = 0, err = 0, last = 0;

    if (!out || (!readstreams && extra_read_fd < 0) || (extra_read_fd >= 0 && !extra_read_flag)
        || (timeout && (timeout->tv_sec < 0 || timeout->tv_usec < 0))) {
        errno = EINVAL;
        return -1;
    }
    *out = NULL;
    if (extra_read_flag)
        *extra_read_flag = 0;
    if (timeout) {
        /* beyond MARK_MAX seconds (about 35,000 years) is no different,
         * and the sum in microseconds cannot overflow */
        long long sec = (long long) timeout->tv_sec, usec = (long long) timeout->tv_usec;

        if (sec > MARK_MAX)
            sec = MARK_MAX;
        if (usec / APR_USEC_PER_SEC > MARK_MAX - sec)
            sec = MARK_MAX, usec = 0;
        deadline = pev_clock_monotonic() + apr_time_from_sec((apr_time_t) sec)
                   + (apr_time_t) usec;
    }
    if (n && !(items = calloc(n, sizeof *items))) {
        errno = ENOMEM;
        return -1;
    }
    for (i = 0; i < n; i++) {
        struct protstream *s = readstreams->items[i];
        if (s && !s->write) {
            items[i].s = s;
            pevi_sentry_push(&s->guards, &items[i].g);
        }
    }
    for (;;) {
        apr_interval_time_t wait = -1;

        for (i = live = 0; i < n; i++)
            if (items[i].s && !pevi_sentry_gone(&items[i].g)) {
                live++;
                if (sel_ready(&items[i]))
                    count++;
            }
        if (extra_read_fd >= 0 && !extra)
            extra = poll_one(extra_read_fd, POLLIN, 0) > 0;
        if (count || extra)
            break;
        if (!live && extra_read_fd < 0 && deadline < 0) {
            err = EINVAL;       /* nothing to wait for: it would never end */
            break;
        }
        if (deadline >= 0) {
            wait = deadline - pev_clock_monotonic();
            if (wait <= 0) {
                /* the time is up (or was 0): one pass that waits for
                 * nothing sees what has arrived meanwhile */
                if (last)
                    break;
                last = 1;
                wait = 0;
            }
        }
        for (i = 0; i < n; i++) {
            const struct protstream *s = items[i].s;
            if (s && !pevi_sentry_gone(&items[i].g) && s->read_timeout && !s->dontblock) {
                apr_interval_time_t rem = until_wall(s->timeout_mark);
                if (wait < 0 || rem < wait)
                    wait = rem;
            }
        }
        if (nested() || extra_read_fd >= 0) {
            if (sel_poll(items, n, extra_read_fd, &extra, wait) < 0) {
                err = errno;
                break;
            }
        } else {
            apr_status_t st = loop_once(wait);
            if (st != APR_SUCCESS) {
                err = pevc_errno(st);
                break;
            }
        }
    }
    for (i = 0; i < n; i++) {
        sel_t *it = &items[i];
        if (!it->s || pevi_sentry_gone(&it->g))
            continue;
        pevi_sentry_pop(&it->s->guards, &it->g);
        if (!err && count && sel_ready(it)) {
            if (!ready && !(ready = protgroup_new(n))) {
                err = ENOMEM;
                continue;
            }
            protgroup_insert(ready, it->s);
        }
    }
    free(items);
    if (err) {
        protgroup_free(ready);
        errno = err;
        return -1;
    }
    if (extra_read_flag)
        *extra_read_flag = extra;
    *out = ready;
    return (ready ? (int) ready->n : 0) + extra;
}

/* ------------------------------------------------------------------------ */
/* Groups                                                                    */

struct protgroup *protgroup_new(size_t size)
{
    struct protgroup *g = malloc(sizeof *g);

    if (!size)
        size = PROTGROUP_SIZE_DEFAULT;
    if (!g || !(g->items = calloc(size, sizeof *g->items))) {
        free(g);
        errno = ENOMEM;
        return NULL;
    }
    g->n = 0;
    g->cap = size;
    return g;
}

struct protgroup *protgroup_copy(struct protgroup *src)
{
    struct protgroup *g;

    if (!src) {
        errno = EINVAL;
        return NULL;
    }
    if (!(g = protgroup_new(src->cap)))
        return NULL;
    memcpy(g->items, src->items, src->n * sizeof *g->items);
    g->n = src->n;
    return g;
}

void protgroup_reset(struct protgroup *group)
{
    if (group)
        group->n = 0;
}

void protgroup_free(struct protgroup *group)
{
    if (group) {
        free(group->items);
        free(group);
    }
}

void protgroup_insert(struct protgroup *group, struct protstream *item)
{
    size_t i;

    if (!group || !item)
        return;
    for (i = 0; i < group->n; i++)
        if (group->items[i] == item)
            return;
    if (group->n == group->cap) {
        struct protstream **items;

        if (group->cap > ((size_t) -1) / 2 / sizeof *items
            || !(items = realloc(group->items, 2 * group->cap * sizeof *items))) {
            errno = ENOMEM;
            return;
        }
        group->items = items;
        group->cap *= 2;
    }
    group->items[group->n++] = item;
}

void protgroup_delete(struct protgroup *group, struct protstream *item)
{
    size_t i;

    if (!group || !item)
        return;
    for (i = 0; i < group->n; i++)
        if (group->items[i] == item) {
            memmove(&group->items[i], &group->items[i + 1],
                    (group->n - i - 1) * sizeof *group->items);
            group->n--;
            return;
        }
}

struct protstream *protgroup_getelement(struct protgroup *group, size_t element)
{
    if (!group || element >= group->n)
        return NULL;
    return group->items[element];
}

size_t protgroup_size(struct protgroup *group)
{
    return group ? group->n : 0;
}
