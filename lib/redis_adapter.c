/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * redis_adapter.c - hiredis's asynchronous API on poolev's loop: the
 * event-library adapter (bridge_int.h), written the way hiredis's own
 * adapters/libevent.h and adapters/libev.h are.
 */
#include "config.h"

#ifdef HAVE_HIREDIS

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "bridge_int.h"
#include "watch_int.h"
#include <sds.h>

/* The replies' memory: hiredis's reader makes every reply with malloc (an
 * array of a pub/sub message is five allocations, its three strings six
 * more). The adapter gives the reader object functions of its own that
 * take them from an arena instead, reset when hiredis frees the reply
 * (after its callback: one reply is alive at a time, and hiredis frees
 * only whole replies). What does not fit in the arena's chunk is malloc'd
 * aside and freed at the reset, and the chunk grows to what the reply
 * needed, up to ARENA_MAX: a large message does not stay behind. */
#define ARENA_MIN 1024
#define ARENA_MAX (16 * 1024)

typedef struct aside {
    struct aside *next;
} aside_t;

typedef struct arena {
    char *chunk;
    size_t cap, used;
    aside_t *aside;             /* what did not fit */
    size_t aside_bytes;
} arena_t;

typedef struct adapter {
    redisAsyncContext *ac;
    pev_watch_t *w;             /* NULL once removed (detach, cleanup) */
    apr_int16_t want;           /* the interest polled for */
    int wants_write;            /* hiredis has output (add_write..del_write) */
    int writing;                /* inside redisAsyncHandleWrite() */
    int in_cb;                  /* inside the watcher's callback */
    int freed;                  /* hiredis cleaned up: free after the callback */
    int quiet;                  /* pevi_redis_quiet() */
    void (*readable)(void *);   /* pevi_redis_on_readable() */
    void *readable_arg;
    pevi_redis_gone_fn *gone;
    void *arg;
    arena_t arena;              /* the replies */
} adapter_t;

#define ALIGN(n) (((n) + 15) & ~(size_t) 15)

static void *arena_alloc(arena_t *m, size_t n)
{
    aside_t *x;

    n = ALIGN(n);
    if (!m->chunk && (m->chunk = malloc(ARENA_MIN)) != NULL)
        m->cap = ARENA_MIN;
    if (m->chunk && m->used + n <= m->cap) {
        void *p = m->chunk + m->used;

        m->used += n;
        return p;
    }
    if ((x = malloc(ALIGN(sizeof *x) + n)) == NULL)
        return NULL;
    x->next = m->aside;
    m->aside = x;
    m->aside_bytes += n;
    return (char *) x + ALIGN(sizeof *x);
}

static void arena_reset(arena_t *m)
{
    aside_t *x;
    size_t want = m->used + m->aside_bytes;

    while ((x = m->aside) != NULL) {
        m->aside = x->next;
        free(x);
    }
    if (m->aside_bytes && m->cap < ARENA_MAX) {
        char *c;

        if (want > ARENA_MAX)
            want = ARENA_MAX;
        if ((c = malloc(want)) != NULL) {
            free(m->chunk);
            m->chunk = c;
            m->cap = want;
        }
    }
    m->used = m->aside_bytes = 0;
}

static void arena_free(arena_t *m)
{
    arena_reset(m);
    free(m->chunk);
    m->chunk = NULL;
    m->cap = 0;
}

/* A reply, linked into its parent array as hiredis's own functions do, and
 * @a extra bytes behind it. Before it, hidden, its adapter: reply_free()
 * is given the reply alone. */
#define HIDDEN ALIGN(sizeof(adapter_t *))
#define BODY ALIGN(sizeof(redisReply))

static redisReply *reply_new(const redisReadTask *task, size_t extra)
{
    adapter_t *a = task->privdata;
    char *p = arena_alloc(&a->arena, HIDDEN + BODY + extra);
    redisReply *r;

    if (!p)
        return NULL;
    *(adapter_t **) (void *) p = a;
    r = (redisReply *) (void *) (p + HIDDEN);
    memset(r, 0, sizeof *r);
    r->type = task->type;
    if (task->parent)
        ((redisReply *) task->parent->obj)->element[task->idx] = r;
    return r;
}

static void *reply_string(const redisReadTask *task, char *str, size_t len)
{
    redisReply *r = reply_new(task, len + 1);

    if (!r)
        return NULL;
    r->str = (char *) r + BODY;
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void *reply_array(const redisReadTask *task, int elements)
{
    size_t n = elements > 0 ? (size_t) elements : 0;
    redisReply *r = reply_new(task, n * sizeof(redisReply *));

    if (!r)
        return NULL;
    r->elements = n;
    if (n) {
        r->element = (redisReply **) (void *) ((char *) r + BODY);
        memset(r->element, 0, n * sizeof(redisReply *));
    }
    return r;
}

static void *reply_integer(const redisReadTask *task, long long value)
{
    redisReply *r = reply_new(task, 0);

    if (r)
        r->integer = value;
    return r;
}

static void *reply_nil(const redisReadTask *task)
{
    return reply_new(task, 0);
}

/* hiredis frees a whole reply (after its callback, or a partial one on an
 * error): everything in the arena goes. The reader's privdata is the
 * adapter. */
static void reply_free(void *reply)
{
    adapter_t *a = *(adapter_t **) (void *) ((char *) reply - HIDDEN);

    arena_reset(&a->arena);
}

/* by name: hiredis 1.0 added members (RESP3's doubles and booleans, which
 * RESP2, the protocol the bridge speaks, never sends) */
static redisReplyObjectFunctions reply_fns = {
    .createString = reply_string, .createArray = reply_array,
    .createInteger = reply_integer, .createNil = reply_nil, .freeObject = reply_free
};

static void set_interest(adapter_t *a, apr_int16_t want)
{
    a->want = want;
    if (a->w && pev_watch_set(a->w, want) == PEV_EDESTROYED)
        a->w = NULL;            /* the loop is gone: inert */
}

static void add_read(void *data)
{
    adapter_t *a = data;

    set_interest(a, a->want | PEV_WATCH_READ);
}

static void del_read(void *data)
{
    adapter_t *a = data;

    set_interest(a, a->want & ~PEV_WATCH_READ);
}

/* hiredis has output. A connected socket almost always has room: write at
 * the end of this iteration without polling for it (every command of the
 * iteration in one write, and no epoll_ctl(2) to add and drop the write
 * interest). Poll for room only while connecting (hiredis learns there
 * that the connect completed) and when a write left output behind (hiredis
 * asks again from inside redisAsyncHandleWrite()). */
static void add_write(void *data)
{
    adapter_t *a = data;

    a->wants_write = 1;
    if (a->want & PEV_WATCH_WRITE)
        return;                 /* polling for room already */
    if (a->writing || !(a->ac->c.flags & REDIS_CONNECTED))
        set_interest(a, a->want | PEV_WATCH_WRITE);
    else if (a->w)
        pevi_watch_write_soon(a->w);
}

static void del_write(void *data)
{
    adapter_t *a = data;

    a->wants_write = 0;
    if (a->want & PEV_WATCH_WRITE)
        set_interest(a, a->want & ~PEV_WATCH_WRITE);
}

/* hiredis frees the context (__redisAsyncFree): the last call it makes on
 * the adapter. */
static void cleanup(void *data)
{
    adapter_t *a = data;

    if (a->w)
        pev_watch_remove(a->w);
    a->w = NULL;
    a->ac->ev.data = NULL;
    a->ac->ev.addRead = a->ac->ev.delRead = NULL;
    a->ac->ev.addWrite = a->ac->ev.delWrite = NULL;
    a->ac->ev.cleanup = NULL;
    if (a->gone)
        a->gone(a->arg, a->ac);
    /* hiredis frees its reader after this: a reply it had begun is in
     * the arena, which goes now (not to be freed again by hiredis) */
    if (a->ac->c.reader && a->ac->c.reader->fn == &reply_fns) {
        a->ac->c.reader->reply = NULL;
        a->ac->c.reader->fn = NULL;
    }
    arena_free(&a->arena);
    if (a->in_cb)
        a->freed = 1;
    else
        free(a);
}

/* hiredis gives back a reader buffer that grew for a large reply only at
 * its next read: when all of it was consumed, give it back now, so that a
 * large message does not stay behind on a quiet connection. */
static void reader_trim(redisAsyncContext *ac)
{
    redisReader *r = ac->c.reader;
    sds empty;

    if (!r || !r->buf || !r->maxbuf || r->pos < r->len
        || r->len + sdsavail(r->buf) <= r->maxbuf)
        return;
    if ((empty = sdsempty()) == NULL)
        return;
    sdsfree(r->buf);
    r->buf = empty;
    r->pos = r->len = 0;
}

/* Reads of a quiet context in one go at most (a bound, not a budget: the
 * low-water mark keeps less than 64 KiB waiting, four reads). */
#define QUIET_READS 64

/* Bytes received and not read yet on @a ac's socket (0 when unknown). */
static int bytes_waiting(redisAsyncContext *ac)
{
    int n = 0;

    if (ac->c.fd < 0 || ioctl(ac->c.fd, FIONREAD, &n) != 0)
        return 0;
    return n;
}

static void on_ready(pev_watch_t *w, apr_int16_t events, void *user_data)
{
    adapter_t *a = user_data;
    redisAsyncContext *ac = a->ac;
    int n;

    (void) w;
    a->in_cb = 1;
    /* reading may end the context (an error, a redisAsyncFree() from a
     * callback, the bridge's pool destroyed): then no write */
    if (events & PEV_WATCH_READ) {
        if (a->readable)
            a->readable(a->readable_arg);
        redisAsyncHandleRead(ac);
        /* quiet, what is left below the mark would not be reported:
         * hiredis reads 16 KiB at a time, so read on while bytes wait */
        for (n = 0; !a->freed && a->quiet && n < QUIET_READS && bytes_waiting(ac) > 0; n++)
            redisAsyncHandleRead(ac);
        if (!a->freed)
            reader_trim(ac);
    }
    if (!a->freed && (events & PEV_WATCH_WRITE) && a->wants_write) {
        a->writing = 1;
        redisAsyncHandleWrite(ac);
        if (!a->freed)
            a->writing = 0;
    }
    a->in_cb = 0;
    if (a->freed)
        free(a);
}

apr_status_t pevi_redis_attach(redisAsyncContext *ac, pev_loop_t *loop, apr_pool_t *pool,
                               pevi_redis_gone_fn *gone, void *arg)
{
    adapter_t *a;
    apr_status_t st;

    if (ac->ev.data)
        return APR_EEXIST;
    a = calloc(1, sizeof *a);
    if (!a)
        return APR_ENOMEM;
    a->ac = ac;
    a->gone = gone;
    a->arg = arg;
    st = pev_watch_add_fd(&a->w, loop, ac->c.fd, 0, on_ready, a, pool);
    if (st != APR_SUCCESS) {
        free(a);
        return st;
    }
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = a;
    /* the replies from the arena, unless hiredis's reader has begun one */
    if (ac->c.reader && !ac->c.reader->reply) {
        ac->c.reader->fn = &reply_fns;
        ac->c.reader->privdata = a;
    }
    return APR_SUCCESS;
}

void pevi_redis_write_now(redisAsyncContext *ac)
{
    adapter_t *a = ac->ev.data;

    /* inside its callback, hiredis's state is its own: the end of the
     * iteration writes */
    if (a && a->w && !a->in_cb)
        (void) pevi_watch_soon_now(a->w);      /* on_ready(), which may free a */
}

/* The socket's low-water mark for reading (SO_RCVLOWAT): data below it
 * does not make the socket readable to poll, end of file and errors
 * still do; a read takes what is there. Linux caps it at half the
 * receive buffer. */
#define QUIET_LOWAT (64 * 1024)

void pevi_redis_quiet(redisAsyncContext *ac, int on)
{
    adapter_t *a = ac->ev.data;
    int lowat = on ? QUIET_LOWAT : 1;

    on = on != 0;
    if (!a || a->quiet == on || ac->c.fd < 0)
        return;
    if (setsockopt(ac->c.fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) != 0)
        return;                 /* not quiet, then: polled as before */
    a->quiet = on;
    /* what came below the mark was not reported, and will not be now */
    if (!on && a->w)
        pevi_watch_soon(a->w, PEV_WATCH_READ);
}

void pevi_redis_on_readable(redisAsyncContext *ac, void (*fn)(void *arg), void *arg)
{
    adapter_t *a = ac->ev.data;

    if (a) {
        a->readable = fn;
        a->readable_arg = arg;
    }
}

void pevi_redis_read_soon(redisAsyncContext *ac)
{
    adapter_t *a = ac->ev.data;

    if (a && a->w)
        pevi_watch_soon(a->w, PEV_WATCH_READ);
}

void pevi_redis_read_now(redisAsyncContext *ac)
{
    adapter_t *a = ac->ev.data;

    if (a && a->w && !a->in_cb && (a->want & PEV_WATCH_READ))
        on_ready(a->w, PEV_WATCH_READ, a);      /* may free a */
}

void pevi_redis_detach(redisAsyncContext *ac)
{
    adapter_t *a = ac->ev.data;

    if (!a)
        return;
    if (a->w)
        pev_watch_remove(a->w);
    a->w = NULL;
}

#else
/* ISO C forbids an empty translation unit */
typedef int pevi_redis_adapter_unused;
#endif /* HAVE_HIREDIS */
