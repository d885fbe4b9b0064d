/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_bus_proftpd.c - the peer of bench_bus's "event names" rows: the
 * lookup and dispatch structure of ProFTPD's Events API (pr_event_register,
 * pr_event_generate and pr_event_listening in ProFTPD's src/event.c, as of
 * its 1.3.9 development tree), written anew for the benchmark from a reading
 * of that structure. No ProFTPD code is used.
 *
 * What it reproduces:
 *  - the registry: a singly linked list of event-name records, the newest
 *    name first, each holding a copy of its name, the name's length and a
 *    doubly linked list of handler records (next, prev, module, callback,
 *    user_data, flags: the same fields, so the same record sizes);
 *  - the lookup on every generate: a walk of the name list from its head,
 *    comparing each record's name with strncmp over its length + 1 (so a
 *    name found k-th costs k comparisons, an unknown name all of them);
 *  - the one-entry cache (the current event, its record and the next
 *    handler): a generate starts from the cached record and handler when its
 *    name equals the cached one. As in ProFTPD, the cache is set only while a
 *    dispatch runs and cleared when it ends (and by every registration), so
 *    it serves a listener that generates the event being dispatched, never
 *    two generates in a row: pf_cache_hits() counts the generates that found
 *    it set, and bench_bus checks and prints that count;
 *  - the dispatch: the handler list walked in order, the next handler noted
 *    in the cache before each call, the callback called through its pointer;
 *  - registration of a core listener (module NULL): EINVAL for NULL
 *    arguments, the "untraced event" check of the name, EEXIST when the same
 *    callback is on the event already (a walk of its handlers), the handler
 *    appended after the others; a new name's record prepended to the list;
 *  - memory placement: each name's record and its copy of the name share a
 *    256-byte block of their own (ProFTPD gives each name a sub-pool of 256
 *    bytes), handler records come one after the other from one pool;
 *  - optionally (pf_registry_create's @a trace), the trace check of a default
 *    build (trace support is on unless configured with --disable-trace): its
 *    dispatch calls the trace function for each handler of an event not on
 *    the untraced list, and with no TraceLog configured that function asks
 *    whether anyone listens to "core.log.tracelog", a pr_event_listening()
 *    that walks the whole name list when nobody does.
 *
 * What it leaves out:
 *  - ProFTPD's pool allocator (the records come from an APR pool here; only
 *    their placement is imitated), and the registry kept in static variables
 *    (here a structure reached through a pointer);
 *  - the module pointer checks and the module-listener ordering (every
 *    listener here is a core listener: registration appends it);
 *  - pr_signals_handle() in the registration walk, the trace messages of
 *    registration, the trace function's formatting (never reached without a
 *    TraceLog) and the "no handlers" trace of generate;
 *  - pr_event_unregister and pr_event_dump (the benchmark does not churn).
 * Everything left out costs ProFTPD time or nothing: the comparison is, if
 * anything, in ProFTPD's favour.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <apr_pools.h>

#include "bench_bus_proftpd.h"

#define PF_LIST_BLOCK 256               /* the block of each name's record */
#define PF_FL_UNTRACED 0x001ul
#define PF_TRACELOG_EVENT "core.log.tracelog"

typedef struct pf_handler {
    struct pf_handler *next, *prev;
    const void *module;                 /* always NULL: core listeners */
    pf_event_fn *cb;
    void *user_data;
    unsigned long flags;
} pf_handler_t;

typedef struct pf_list {
    struct pf_list *next;
    void *pool;                         /* ProFTPD's per-name pool; unused */
    const char *event;
    size_t event_len;
    pf_handler_t *handlers;
} pf_list_t;

struct pf_registry {
    apr_pool_t *pool;
    pf_list_t *lists;                   /* newest name first */
    const char *curr_event;             /* the cache: set during a dispatch */
    pf_list_t *curr_list;
    pf_handler_t *curr_handler;
    int trace;                          /* the default build's trace check */
    uint64_t cache_hits;
};

/* The events whose dispatch is never traced (the log events). */
static const char *const untraced[] = {
    "core.log.unspec", "core.log.xferlog", "core.log.syslog", "core.log.systemlog",
    "core.log.extendedlog", PF_TRACELOG_EVENT, NULL
};

pf_registry_t *pf_registry_create(apr_pool_t *pool, int trace)
{
    pf_registry_t *reg = apr_pcalloc(pool, sizeof *reg);

    reg->pool = pool;
    reg->trace = trace;
    return reg;
}

/* Forget the cached event. */
static void pf_cache_clear(pf_registry_t *reg)
{
    reg->curr_event = NULL;
    reg->curr_list = NULL;
    reg->curr_handler = NULL;
}

/* The record of @a event, or NULL: the walk from the head of the list. */
static pf_list_t *pf_find(pf_list_t *l, const char *event)
{
    for (; l; l = l->next)
        if (strncmp(l->event, event, l->event_len + 1) == 0)
            return l;
    return NULL;
}

int pf_event_register(pf_registry_t *reg, const char *event, pf_event_fn *cb,
                      void *user_data)
{
    pf_handler_t *h, *last;
    pf_list_t *l;
    size_t len;
    int i;

    if (!reg || !event || !cb) {
        errno = EINVAL;
        return -1;
    }
    h = apr_pcalloc(reg->pool, sizeof *h);
    h->cb = cb;
    h->user_data = user_data;
    for (i = 0; untraced[i]; i++)
        if (strcmp(event, untraced[i]) == 0) {
            h->flags = PF_FL_UNTRACED;
            break;
        }

    l = pf_find(reg->lists, event);
    if (l) {
        for (last = l->handlers; last; last = last->next) {
            if (last->cb == cb) {
                errno = EEXIST;
                return -1;
            }
            if (!last->next)
                break;
        }
        if (last) {                     /* a core listener goes last */
            last->next = h;
            h->prev = last;
        } else {
            l->handlers = h;
        }
        return 0;
    }

    len = strlen(event);
    if (sizeof *l + len + 1 > PF_LIST_BLOCK) {
        l = apr_pcalloc(reg->pool, sizeof *l + len + 1);
    } else {
        l = apr_pcalloc(reg->pool, PF_LIST_BLOCK);
    }
    memcpy(l + 1, event, len + 1);      /* the copy shares the record's block */
    l->event = (const char *) (l + 1);
    l->event_len = len;
    l->handlers = h;
    l->next = reg->lists;
    reg->lists = l;
    pf_cache_clear(reg);
    return 0;
}

int pf_event_listening(pf_registry_t *reg, const char *event)
{
    pf_handler_t *h;
    pf_list_t *l;
    int n = 0;

    if (!event) {
        errno = EINVAL;
        return -1;
    }
    l = pf_find(reg->lists, event);
    if (l)
        for (h = l->handlers; h; h = h->next)
            n++;
    return n;
}

/* The default build's trace call with no TraceLog: is anyone listening to
 * the trace log's event? Kept out of line, as it is a call in ProFTPD. */
__attribute__((noinline)) static int pf_trace_msg(pf_registry_t *reg)
{
    int n = pf_event_listening(reg, PF_TRACELOG_EVENT);

    __asm__ __volatile__("" : : "g"(n) : "memory");    /* the scan is kept */
    return 0;                           /* a listener: ProFTPD would format */
}

void pf_event_generate(pf_registry_t *reg, const char *event, const void *event_data)
{
    int use_cache = 0;
    pf_handler_t *h;
    pf_list_t *l;

    if (!event || !reg->lists)
        return;
    if (reg->curr_event && strcmp(reg->curr_event, event) == 0) {
        use_cache = 1;
        reg->cache_hits++;
    }
    l = pf_find(use_cache ? reg->curr_list : reg->lists, event);
    if (l) {
        if (!l->handlers)
            return;
        reg->curr_event = event;
        reg->curr_list = l;
        for (h = use_cache ? reg->curr_handler : l->handlers; h; h = h->next) {
            reg->curr_handler = h->next;        /* a nested generate resumes there */
            if (reg->trace && !(h->flags & PF_FL_UNTRACED))
                (void) pf_trace_msg(reg);
            h->cb(event_data, h->user_data);
        }
    }
    pf_cache_clear(reg);
}

uint64_t pf_cache_hits(const pf_registry_t *reg)
{
    return reg->cache_hits;
}
