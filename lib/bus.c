/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bus.c - the named-event bus.
 *
 * Data layout (doc/design.md has the picture):
 *  - events: an open-addressing table (linear probing, <= 50% load) of
 *    malloc'd pev_event records, each holding its name and a doubly linked
 *    list of listeners in dispatch order. Events without listeners that were
 *    not interned are reclaimed in batches when no dispatch runs.
 *  - listeners: records carved from the bus pool in slabs and recycled
 *    through a free list, so register/unregister churn does not grow memory.
 *    Each listener is also on its lifetime pool's owner list and in the
 *    duplicate table.
 *  - lifetime pools: through owner.h, one owner record per (pool, bus) with
 *    a pre-cleanup (and a plain backstop) and an intrusive list of its
 *    listeners, so the pool's teardown unregisters them in O(1) each.
 *  - dispatch frames: on the C stack, each a sentry (sentry.h) on the bus's
 *    list, so that a bus destroyed from inside a callback can tell every
 *    running dispatch to stop without touching freed memory.
 *
 * Removal during a dispatch: a listener removed while its event is being
 * dispatched becomes a "zombie" (fn == NULL) and stays linked until the
 * outermost dispatch of that event returns, so no running iteration ever
 * follows a pointer into a recycled record.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "poolev/bus.h"
#include "bus_int.h"
#include "hash.h"
#include "owner.h"
#include "sentry.h"

#define LISTENER_SLAB 64
#define ORDER_CORE UINT32_MAX
#define TABLE_MIN 16
#define COMPACT_MIN 64

const char pev_module_core_tag = 0;

typedef struct pev_frame pev_frame_t;

/* A slot of the duplicate table. The hash is kept in the slot so that probing
 * and deletion never touch other listeners' records (cache misses). */
typedef struct dup_slot {
    apr_uint64_t hash;
    pev_listener_t *l;          /* NULL: empty */
} dup_slot_t;

struct pev_listener {
    /* dispatch reads these: keep them together at the front */
    pev_listener_t *next;
    pev_event_fn *fn;               /* NULL once unregistered */
    void *user_data;
    apr_uint64_t seq;               /* registration sequence number */
    int priority;
    /* bookkeeping */
    apr_uint32_t order;             /* module load order; ORDER_CORE for core */
    pev_listener_t *prev;
    pev_event_t *event;
    pev_module_t *mod;
    pevi_link_t owned;              /* on its lifetime pool's owner list */
    apr_uint64_t dup_hash;
};

struct pev_event {
    pev_listener_t *head, *tail;
    pev_bus_t *bus;
    apr_uint64_t hash;
    apr_size_t len;
    unsigned nlisteners;            /* live listeners */
    unsigned dispatching;           /* dispatches of this event running */
    unsigned zombies;               /* unregistered but still linked */
    int pinned;                     /* interned: kept while the bus lives */
    char name[];
};

struct pev_module {
    pev_bus_t *bus;
    const char *name;
    apr_uint32_t order;
    int removed;
};

/* A running dispatch (or dump: ev NULL), on the C stack. */
struct pev_frame {
    pevi_sentry_t sentry;           /* first: on bus->frames; the bus
                                     * cleanup marks it gone */
    pev_event_t *ev;
    pev_listener_t *current;        /* the listener being called */
};

struct pev_bus {
    apr_pool_t *pool;

    pev_event_t **slots;            /* event table */
    apr_size_t mask;
    apr_size_t nevents;
    apr_size_t nempty;              /* unpinned events without listeners */
    apr_size_t npinned;

    dup_slot_t *dups;               /* duplicate-registration table */
    apr_size_t dmask;
    apr_size_t ndups;

    pev_listener_t *free_nodes;     /* linked through next */
    apr_size_t nnodes;
    apr_size_t nlisteners;

    apr_hash_t *modules;            /* name -> current module */
    apr_uint32_t next_order;

    pevi_owners_t owners;           /* lifetime pools */

    apr_uint64_t seq;
    int depth, max_depth;
    unsigned dumping;
    pevi_sentry_t *frames;          /* running dispatches and dumps */

    pevi_bus_tap_t *taps;           /* bus_int.h; NULL: none (the usual) */
    unsigned untapped;              /* pevi_bus_generate_untapped() depth */
};

/* ------------------------------------------------------------------------ */
/* Event table                                                               */

static pev_event_t *table_find(const pev_bus_t *bus, const char *name,
                               apr_size_t len, apr_uint64_t h)
{
    apr_size_t i = (apr_size_t) h & bus->mask;
    pev_event_t *ev;

    while ((ev = bus->slots[i]) != NULL) {
        if (ev->hash == h && ev->len == len && pev_mem_eq(ev->name, name, len))
            return ev;
        i = (i + 1) & bus->mask;
    }
    return NULL;
}

static void table_put(pev_event_t **slots, apr_size_t mask, pev_event_t *ev)
{
    apr_size_t i = (apr_size_t) ev->hash & mask;

    while (slots[i])
        i = (i + 1) & mask;
    slots[i] = ev;
}

/* Rebuild the table with @a nslots slots, keeping events that are pinned,
 * have listeners (live or zombie) or are being dispatched, and freeing the
 * others. It may run inside a dispatch or a dump (a callback registers a new
 * name and the table grows): the events a running dispatch holds, and every
 * event while a dump's snapshot points at names, are kept. */
static apr_status_t table_rebuild(pev_bus_t *bus, apr_size_t nslots)
{
    pev_event_t **slots = calloc(nslots, sizeof *slots);
    apr_size_t i, kept = 0, empty = 0;

    if (!slots)
        return APR_ENOMEM;
    for (i = 0; i <= bus->mask; i++) {
        pev_event_t *ev = bus->slots[i];
        if (!ev)
            continue;
        /* an event being dispatched still has its (zombie) listeners linked,
         * so ev->head keeps it; dispatching is checked for clarity */
        if (ev->pinned || ev->head || ev->dispatching || bus->dumping) {
            table_put(slots, nslots - 1, ev);
            kept++;
            if (!ev->pinned && ev->nlisteners == 0)
                empty++;
        }
        else {
            free(ev);
        }
    }
    free(bus->slots);
    bus->slots = slots;
    bus->mask = nslots - 1;
    bus->nevents = kept;
    bus->nempty = empty;
    return APR_SUCCESS;
}

static apr_size_t slots_for(apr_size_t n)
{
    apr_size_t s = TABLE_MIN;

    while (s < 2 * n)
        s <<= 1;
    return s;
}

/* Reclaim events that lost their last listener, in one batch, once they are
 * many. Amortised O(1) per event; never during a dispatch or dump, and only
 * from the unregistering paths (never from generate). */
static void maybe_compact(pev_bus_t *bus)
{
    if (bus->depth || bus->dumping)
        return;
    if (bus->nempty < COMPACT_MIN || bus->nempty * 2 < bus->nevents)
        return;
    /* on ENOMEM the empty events simply stay until the next attempt */
    (void) table_rebuild(bus, slots_for(bus->nevents - bus->nempty));
}

static apr_status_t event_get(pev_event_t **out, pev_bus_t *bus, const char *name,
                              int create)
{
    apr_size_t len = strlen(name);
    apr_uint64_t h = pev_hash_bytes(name, len);
    pev_event_t *ev = table_find(bus, name, len, h);

    if (ev || !create) {
        *out = ev;
        return APR_SUCCESS;
    }
    if (2 * (bus->nevents + 1) > bus->mask + 1) {
        apr_status_t st = table_rebuild(bus, slots_for(bus->nevents + 1));
        if (st != APR_SUCCESS)
            return st;
    }
    ev = malloc(sizeof *ev + len + 1);
    if (!ev)
        return APR_ENOMEM;
    memset(ev, 0, sizeof *ev);
    ev->bus = bus;
    ev->hash = h;
    ev->len = len;
    memcpy(ev->name, name, len + 1);
    table_put(bus->slots, bus->mask, ev);
    bus->nevents++;
    bus->nempty++;              /* until a listener or a pin arrives */
    *out = ev;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Duplicate table: (event, module, fn, user_data) -> listener               */

static apr_uint64_t dup_key(const pev_event_t *ev, const pev_module_t *mod,
                            pev_event_fn *fn, const void *user_data)
{
    uint64_t a = 0, b = 0, c = 0, d = 0;

    memcpy(&a, &ev, sizeof ev);
    memcpy(&b, &mod, sizeof mod);
    memcpy(&c, &fn, sizeof fn < 8 ? sizeof fn : 8);
    memcpy(&d, &user_data, sizeof user_data);
    /* two independent multiplies, then one avalanche */
    return pev_hash_mix((a ^ (b << 17 | b >> 47)) * UINT64_C(0x9e3779b97f4a7c15)
                        + (c ^ (d << 31 | d >> 33)) * UINT64_C(0xc2b2ae3d27d4eb4f));
}

static pev_listener_t *dup_find(const pev_bus_t *bus, apr_uint64_t h,
                                const pev_event_t *ev, const pev_module_t *mod,
                                pev_event_fn *fn, const void *user_data)
{
    apr_size_t i;
    const dup_slot_t *d;

    if (!bus->dups)
        return NULL;
    for (i = (apr_size_t) h & bus->dmask; (d = &bus->dups[i])->l != NULL;
         i = (i + 1) & bus->dmask) {
        const pev_listener_t *l = d->l;
        if (d->hash == h && l->event == ev && l->mod == mod && l->fn == fn
            && l->user_data == user_data)
            return d->l;
    }
    return NULL;
}

static void dup_put(dup_slot_t *dups, apr_size_t mask, apr_uint64_t h, pev_listener_t *l)
{
    apr_size_t i;

    for (i = (apr_size_t) h & mask; dups[i].l; i = (i + 1) & mask)
        ;
    dups[i].hash = h;
    dups[i].l = l;
}

static apr_status_t dup_insert(pev_bus_t *bus, pev_listener_t *l)
{
    if (2 * (bus->ndups + 1) > (bus->dups ? bus->dmask + 1 : 0)) {
        apr_size_t n = slots_for(bus->ndups + 1), j;
        dup_slot_t *d = calloc(n, sizeof *d);

        if (!d)
            return APR_ENOMEM;
        for (j = 0; bus->dups && j <= bus->dmask; j++)
            if (bus->dups[j].l)
                dup_put(d, n - 1, bus->dups[j].hash, bus->dups[j].l);
        free(bus->dups);
        bus->dups = d;
        bus->dmask = n - 1;
    }
    dup_put(bus->dups, bus->dmask, l->dup_hash, l);
    bus->ndups++;
    return APR_SUCCESS;
}

/* Backward-shift deletion keeps linear probing free of tombstones. */
static void dup_remove(pev_bus_t *bus, const pev_listener_t *l)
{
    dup_slot_t *d = bus->dups;
    apr_size_t mask = bus->dmask, i, j;

    for (i = (apr_size_t) l->dup_hash & mask; d[i].l != l; i = (i + 1) & mask)
        ;
    d[i].l = NULL;
    for (j = (i + 1) & mask; d[j].l; j = (j + 1) & mask) {
        apr_size_t home = (apr_size_t) d[j].hash & mask;
        /* move d[j] into the hole at i unless its home lies in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            d[i] = d[j];
            d[j].l = NULL;
            i = j;
        }
    }
    bus->ndups--;
}

/* ------------------------------------------------------------------------ */
/* Listener records                                                          */

static pev_listener_t *node_alloc(pev_bus_t *bus)
{
    pev_listener_t *l = bus->free_nodes;

    if (!l) {
        pev_listener_t *slab = apr_palloc(bus->pool, LISTENER_SLAB * sizeof *slab);
        int i;

        if (!slab)
            return NULL;
        for (i = 0; i < LISTENER_SLAB; i++) {
            slab[i].fn = NULL;
            slab[i].next = i + 1 < LISTENER_SLAB ? &slab[i + 1] : NULL;
        }
        bus->nnodes += LISTENER_SLAB;
        l = slab;
    }
    bus->free_nodes = l->next;
    return l;
}

static void node_free(pev_bus_t *bus, pev_listener_t *l)
{
    l->fn = NULL;               /* stale handles see "unregistered" */
    l->next = bus->free_nodes;
    bus->free_nodes = l;
}

static void event_unlink(pev_event_t *ev, pev_listener_t *l)
{
    if (l->prev)
        l->prev->next = l->next;
    else
        ev->head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        ev->tail = l->prev;
}

/* Unregister a live listener. Never calls user code. */
static void listener_remove(pev_bus_t *bus, pev_listener_t *l)
{
    pev_event_t *ev = l->event;

    dup_remove(bus, l);
    l->fn = NULL;
    if (pevi_link_linked(&l->owned))
        pevi_link_remove(&l->owned);
    bus->nlisteners--;
    if (--ev->nlisteners == 0 && !ev->pinned)
        bus->nempty++;
    if (ev->dispatching) {
        ev->zombies++;          /* a running dispatch may hold it */
    }
    else {
        event_unlink(ev, l);
        node_free(bus, l);
    }
}

static void sweep_zombies(pev_bus_t *bus, pev_event_t *ev)
{
    pev_listener_t *l = ev->head, *next;

    for (; l && ev->zombies; l = next) {
        next = l->next;
        if (!l->fn) {
            event_unlink(ev, l);
            node_free(bus, l);
            ev->zombies--;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Lifetime pools (owner.h)                                                  */

/* A lifetime pool is going: unregister one of its listeners. */
static void bus_release(void *container, pevi_link_t *item)
{
    listener_remove(container, PEVI_CONTAINER(item, pev_listener_t, owned));
}

/* ... and once all of them are gone, reclaim emptied events. */
static void bus_settle(void *container)
{
    maybe_compact(container);
}

apr_size_t pevi_bus_pool_listeners(const pev_bus_t *bus, apr_pool_t *pool)
{
    return bus && pool ? pevi_owners_items(&bus->owners, pool) : 0;
}

/* ------------------------------------------------------------------------ */
/* Bus                                                                       */

static apr_status_t bus_cleanup(void *data)
{
    pev_bus_t *bus = data;
    apr_size_t i;

    pevi_bus_tap_t *tap;

    pevi_sentry_kill_all(&bus->frames);
    pevi_owners_detach_all(&bus->owners);
    for (tap = bus->taps; tap; tap = tap->next)
        tap->bus = NULL;
    bus->taps = NULL;
    for (i = 0; i <= bus->mask; i++)
        free(bus->slots[i]);
    free(bus->slots);
    free(bus->dups);
    bus->slots = NULL;
    bus->dups = NULL;
    return APR_SUCCESS;
}

apr_status_t pev_bus_create(pev_bus_t **out, apr_pool_t *pool)
{
    pev_bus_t *bus;

    if (!out || !pool)
        return APR_EINVAL;
    bus = apr_pcalloc(pool, sizeof *bus);
    bus->pool = pool;
    bus->slots = calloc(TABLE_MIN, sizeof *bus->slots);
    if (!bus->slots)
        return APR_ENOMEM;
    bus->mask = TABLE_MIN - 1;
    bus->modules = apr_hash_make(pool);
    /* no orphan step: listener records die with the bus */
    pevi_owners_init(&bus->owners, bus, bus_release, bus_settle, NULL, pool);
    bus->max_depth = PEV_DEFAULT_MAX_DEPTH;
    apr_pool_cleanup_register(pool, bus, bus_cleanup, apr_pool_cleanup_null);
    *out = bus;
    return APR_SUCCESS;
}

apr_status_t pev_bus_set_max_depth(pev_bus_t *bus, int depth)
{
    if (!bus || depth < 1)
        return APR_EINVAL;
    bus->max_depth = depth;
    return APR_SUCCESS;
}

int pev_bus_max_depth(const pev_bus_t *bus)
{
    return bus ? bus->max_depth : 0;
}

/* ------------------------------------------------------------------------ */
/* Modules                                                                   */

apr_status_t pev_module_add(pev_module_t **out, pev_bus_t *bus, const char *name)
{
    pev_module_t *mod;

    if (!bus || !name || !*name)
        return APR_EINVAL;
    if (apr_hash_get(bus->modules, name, APR_HASH_KEY_STRING))
        return APR_EEXIST;
    mod = apr_palloc(bus->pool, sizeof *mod);
    mod->bus = bus;
    mod->name = apr_pstrdup(bus->pool, name);
    mod->order = bus->next_order++;
    mod->removed = 0;
    apr_hash_set(bus->modules, mod->name, APR_HASH_KEY_STRING, mod);
    if (out)
        *out = mod;
    return APR_SUCCESS;
}

pev_module_t *pev_module_find(pev_bus_t *bus, const char *name)
{
    if (!bus || !name)
        return NULL;
    return apr_hash_get(bus->modules, name, APR_HASH_KEY_STRING);
}

const char *pev_module_name(const pev_module_t *mod)
{
    return mod ? mod->name : NULL;
}

/* Is @a l live and does it pass the filter of pev_event_unregister()? */
static int matches(const pev_listener_t *l, const pev_module_t *mod, pev_event_fn *fn)
{
    if (!l->fn)
        return 0;               /* unregistered during a dispatch */
    if (mod == PEV_MODULE_CORE ? l->mod != NULL : (mod && l->mod != mod))
        return 0;
    return !fn || l->fn == fn;
}

/* Remove every live listener of @a ev that matches. Returns how many. */
static apr_size_t remove_matching(pev_bus_t *bus, pev_event_t *ev,
                                  const pev_module_t *mod, pev_event_fn *fn)
{
    pev_listener_t *l, *next;
    apr_size_t n = 0;

    for (l = ev->head; l; l = next) {
        next = l->next;         /* l may be recycled by listener_remove */
        if (!matches(l, mod, fn))
            continue;
        listener_remove(bus, l);
        n++;
    }
    return n;
}

static apr_size_t remove_matching_all(pev_bus_t *bus, const pev_module_t *mod,
                                      pev_event_fn *fn)
{
    apr_size_t i, n = 0;

    /* listener_remove never changes the table, so the walk is stable */
    for (i = 0; i <= bus->mask; i++)
        if (bus->slots[i])
            n += remove_matching(bus, bus->slots[i], mod, fn);
    return n;
}

apr_status_t pev_module_remove(pev_module_t *mod)
{
    pev_bus_t *bus;
    apr_status_t st;

    if (!mod)
        return APR_EINVAL;
    if (mod->removed)
        return PEV_EREMOVED;
    bus = mod->bus;
    mod->removed = 1;           /* no new listeners from here on */
    st = pev_event_generate(bus, PEV_EVENT_MODULE_UNLOAD, mod->name);
    if (st == PEV_EDESTROYED)
        return st;
    remove_matching_all(bus, mod, NULL);
    /* the name is taken until the module is gone */
    apr_hash_set(bus->modules, mod->name, APR_HASH_KEY_STRING, NULL);
    maybe_compact(bus);
    return st == PEV_ENESTING ? st : APR_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */

apr_status_t pev_event_register(pev_listener_t **listener, pev_bus_t *bus,
                                pev_module_t *mod, const char *event,
                                pev_event_fn *fn, void *user_data,
                                apr_pool_t *lifetime)
{
    return pev_event_register_ordered(listener, bus, mod, event, fn,
                                      user_data, PEV_PRIORITY_DEFAULT, lifetime);
}

/* Does a sort strictly after b? (registration order is implied: l is newest) */
static int sorts_after(const pev_listener_t *a, const pev_listener_t *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return a->order >= b->order;
}

apr_status_t pev_event_register_ordered(pev_listener_t **out, pev_bus_t *bus,
                                        pev_module_t *mod, const char *event,
                                        pev_event_fn *fn, void *user_data,
                                        int priority, apr_pool_t *lifetime)
{
    pev_event_t *ev;
    pev_listener_t *l, *p;
    apr_uint64_t h;
    apr_status_t st;

    if (!bus || !event || !*event || !fn || (mod && mod->bus != bus))
        return APR_EINVAL;
    if (mod && mod->removed)
        return PEV_EREMOVED;
    st = event_get(&ev, bus, event, 1);
    if (st != APR_SUCCESS)
        return st;
    h = dup_key(ev, mod, fn, user_data);
    if (dup_find(bus, h, ev, mod, fn, user_data))
        return APR_EEXIST;
    if (!(l = node_alloc(bus)))
        return APR_ENOMEM;
    pevi_link_init(&l->owned);
    if (lifetime && pevi_owner_add(&bus->owners, lifetime, &l->owned) != APR_SUCCESS) {
        node_free(bus, l);
        return APR_ENOMEM;
    }

    l->fn = fn;
    l->user_data = user_data;
    l->seq = ++bus->seq;
    l->priority = priority;
    l->order = mod ? mod->order : ORDER_CORE;
    l->event = ev;
    l->mod = mod;
    l->dup_hash = h;
    if (dup_insert(bus, l) != APR_SUCCESS) {
        if (pevi_link_linked(&l->owned))
            pevi_link_remove(&l->owned);
        node_free(bus, l);
        return APR_ENOMEM;
    }

    /* place it after the last listener it does not sort before */
    for (p = ev->tail; p && !sorts_after(l, p); p = p->prev)
        ;
    l->prev = p;
    l->next = p ? p->next : ev->head;
    if (l->next)
        l->next->prev = l;
    else
        ev->tail = l;
    if (p)
        p->next = l;
    else
        ev->head = l;

    if (ev->nlisteners++ == 0 && !ev->pinned)
        bus->nempty--;
    bus->nlisteners++;
    if (out)
        *out = l;
    return APR_SUCCESS;
}

apr_status_t pev_listener_unregister(pev_listener_t *l)
{
    pev_bus_t *bus;

    if (!l)
        return APR_EINVAL;
    if (!l->fn)
        return APR_ENOENT;
    bus = l->event->bus;
    listener_remove(bus, l);
    maybe_compact(bus);
    return APR_SUCCESS;
}

apr_status_t pev_event_unregister(pev_bus_t *bus, const pev_module_t *mod,
                                  const char *event, pev_event_fn *fn)
{
    apr_size_t n = 0;

    if (!bus)
        return APR_EINVAL;
    if (event) {
        pev_event_t *ev;
        event_get(&ev, bus, event, 0);
        if (ev)
            n = remove_matching(bus, ev, mod, fn);
    }
    else {
        n = remove_matching_all(bus, mod, fn);
    }
    maybe_compact(bus);
    return n ? APR_SUCCESS : APR_ENOENT;
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                  */

/* A dispatch of @a ev (NULL: a dump) starts. */
static void frame_push(pev_bus_t *bus, pev_frame_t *f, pev_event_t *ev)
{
    f->ev = ev;
    f->current = NULL;
    pevi_sentry_push(&bus->frames, &f->sentry);
}

/* Is @a l being called by a dispatch of its event further up the stack? */
static int running_above(const pev_frame_t *f, const pev_listener_t *l)
{
    const pevi_sentry_t *up;

    for (up = f->sentry.up; up; up = up->up)
        if (PEVI_CONTAINER(up, const pev_frame_t, sentry)->current == l)
            return 1;
    return 0;
}

static apr_status_t dispatch(pev_bus_t *bus, pev_event_t *ev, const void *data)
{
    pev_frame_t frame;
    pev_listener_t *l;
    apr_uint64_t limit;
    int nested;

    if (bus->depth >= bus->max_depth)
        return PEV_ENESTING;
    if (!ev || !ev->head)
        return APR_SUCCESS;

    limit = bus->seq;           /* later registrations are not called */
    frame_push(bus, &frame, ev);
    bus->depth++;
    /* only a dispatch of the same event further up can be running one of
     * its listeners; the count cannot change while this frame lives (nested
     * dispatches restore it before returning) */
    nested = ev->dispatching++ > 0;

    for (l = ev->head; l; l = l->next) {
        pev_event_fn *fn = l->fn;

        if (!fn || l->seq > limit)
            continue;
        if (nested && running_above(&frame, l))     /* no re-entry */
            continue;
        frame.current = l;
        fn(data, l->user_data);
        if (pevi_sentry_gone(&frame.sentry))
            return PEV_EDESTROYED;  /* bus, events and l are freed memory */
    }

    pevi_sentry_pop_top(&bus->frames, &frame.sentry);
    bus->depth--;
    if (--ev->dispatching == 0 && ev->zombies)
        sweep_zombies(bus, ev);
    /* events emptied during the dispatch are reclaimed by the next
     * unregistration outside a dispatch: generate never allocates */
    return APR_SUCCESS;
}

#if defined(__GNUC__)
#define TAPPED(bus) __builtin_expect((bus)->taps != NULL, 0)
#else
#define TAPPED(bus) ((bus)->taps != NULL)
#endif

/* Taps (bus_int.h): out of the way of the usual generate, which only tests
 * bus->taps (kept out of line, so that generate's code stays as it was). */
#ifdef __GNUC__
__attribute__((__noinline__, __cold__))
#endif
static void run_taps(pev_bus_t *bus, const char *event, const void *data);
static void run_taps(pev_bus_t *bus, const char *event, const void *data)
{
    pevi_bus_tap_t *tap;

    if (bus->untapped || bus->depth >= bus->max_depth)
        return;
    for (tap = bus->taps; tap; tap = tap->next)
        tap->fn(tap->user_data, event, data);
}

void pevi_bus_tap_add(pev_bus_t *bus, pevi_bus_tap_t *tap)
{
    pevi_bus_tap_t *last = bus->taps;

    while (last && last->next)
        last = last->next;
    tap->bus = bus;
    tap->next = NULL;
    tap->prev = last;
    if (last)
        last->next = tap;
    else
        bus->taps = tap;
}

void pevi_bus_tap_remove(pevi_bus_tap_t *tap)
{
    if (!tap->bus)
        return;
    if (tap->prev)
        tap->prev->next = tap->next;
    else
        tap->bus->taps = tap->next;
    if (tap->next)
        tap->next->prev = tap->prev;
    tap->bus = NULL;
    tap->next = tap->prev = NULL;
}

apr_status_t pevi_bus_generate_untapped(pev_bus_t *bus, const char *event,
                                        const void *event_data)
{
    apr_status_t st;

    if (!bus || !event)
        return APR_EINVAL;
    bus->untapped++;
    st = pev_event_generate(bus, event, event_data);
    if (st != PEV_EDESTROYED)   /* else the bus is freed memory */
        bus->untapped--;
    return st;
}

apr_status_t pev_event_generate(pev_bus_t *bus, const char *event,
                                const void *event_data)
{
    pev_event_t *ev;

    if (!bus || !event)
        return APR_EINVAL;
    if (TAPPED(bus))
        run_taps(bus, event, event_data);
    event_get(&ev, bus, event, 0);
    return dispatch(bus, ev, event_data);
}

apr_status_t pev_event_intern(pev_event_t **out, pev_bus_t *bus, const char *name)
{
    pev_event_t *ev;
    apr_status_t st;

    if (!out || !bus || !name || !*name)
        return APR_EINVAL;
    st = event_get(&ev, bus, name, 1);
    if (st != APR_SUCCESS)
        return st;
    if (!ev->pinned) {
        ev->pinned = 1;
        bus->npinned++;
        if (ev->nlisteners == 0)
            bus->nempty--;
    }
    *out = ev;
    return APR_SUCCESS;
}

apr_status_t pev_event_generate_handle(pev_event_t *ev, const void *event_data)
{
    if (!ev)
        return APR_EINVAL;
    if (TAPPED(ev->bus))
        run_taps(ev->bus, ev->name, event_data);
    return dispatch(ev->bus, ev, event_data);
}

const char *pev_event_name(const pev_event_t *ev)
{
    return ev ? ev->name : NULL;
}

int pev_event_listening(pev_bus_t *bus, const char *event)
{
    pev_event_t *ev;

    if (!bus || !event)
        return -1;
    event_get(&ev, bus, event, 0);
    return ev ? (int) ev->nlisteners : 0;
}

int pev_event_count(pev_bus_t *bus, const char *event, const pev_module_t *mod,
                    pev_event_fn *fn)
{
    const pev_listener_t *l;
    pev_event_t *ev;
    int n = 0;

    if (!bus || !event)
        return -1;
    event_get(&ev, bus, event, 0);
    for (l = ev ? ev->head : NULL; l; l = l->next)
        if (matches(l, mod, fn))
            n++;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Introspection                                                             */

static int cmp_event_name(const void *a, const void *b)
{
    const pev_event_t *x = *(pev_event_t *const *) a;
    const pev_event_t *y = *(pev_event_t *const *) b;

    return strcmp(x->name, y->name);    /* names are unique: a total order */
}

apr_status_t pev_bus_dump(pev_bus_t *bus, pev_dump_fn *fn, void *user_data)
{
    pev_event_t **evs;
    pev_listener_info_t *infos;
    apr_size_t nev = 0, n = 0, i;
    pev_frame_t frame;
    apr_status_t st = APR_SUCCESS;

    if (!bus || !fn)
        return APR_EINVAL;
    evs = malloc((bus->nevents + 1) * sizeof *evs);
    infos = malloc((bus->nlisteners + 1) * sizeof *infos);
    if (!evs || !infos) {
        free(evs);
        free(infos);
        return APR_ENOMEM;
    }
    for (i = 0; i <= bus->mask; i++)
        if (bus->slots[i] && bus->slots[i]->nlisteners)
            evs[nev++] = bus->slots[i];
    qsort(evs, nev, sizeof *evs, cmp_event_name);
    for (i = 0; i < nev; i++) {
        const pev_listener_t *l;
        unsigned pos = 0;

        for (l = evs[i]->head; l; l = l->next) {
            if (!l->fn)
                continue;
            infos[n].event = evs[i]->name;
            infos[n].module = l->mod ? l->mod->name : NULL;
            infos[n].priority = l->priority;
            infos[n].position = pos++;
            infos[n].count = evs[i]->nlisteners;
            infos[n].fn = l->fn;
            infos[n].user_data = l->user_data;
            n++;
        }
    }
    free(evs);

    /* names stay valid: no compaction while dumping, modules live as long
     * as the bus, and a destroyed bus is noticed through the frame */
    frame_push(bus, &frame, NULL);
    bus->dumping++;
    for (i = 0; i < n; i++) {
        int stop = fn(user_data, &infos[i]);
        if (pevi_sentry_gone(&frame.sentry)) {
            st = PEV_EDESTROYED;
            break;
        }
        if (stop)
            break;
    }
    free(infos);
    if (st == PEV_EDESTROYED)
        return st;
    pevi_sentry_pop_top(&bus->frames, &frame.sentry);
    bus->dumping--;
    maybe_compact(bus);
    return APR_SUCCESS;
}

apr_status_t pev_bus_stats(const pev_bus_t *bus, pev_bus_stats_t *stats)
{
    apr_size_t i, maxp = 0;

    if (!bus || !stats)
        return APR_EINVAL;
    for (i = 0; i <= bus->mask; i++) {
        const pev_event_t *ev = bus->slots[i];
        if (ev) {
            apr_size_t d = (i - (apr_size_t) ev->hash) & bus->mask;
            if (d + 1 > maxp)
                maxp = d + 1;
        }
    }
    stats->events = bus->nevents;
    stats->pinned_events = bus->npinned;
    stats->listeners = bus->nlisteners;
    stats->listener_nodes = bus->nnodes;
    stats->modules = (apr_size_t) apr_hash_count(bus->modules);
    stats->bindings = pevi_owners_count(&bus->owners);
    stats->cleanups_registered = bus->owners.cleanups_registered;
    stats->table_slots = bus->mask + 1;
    stats->max_probe = maxp;
    return APR_SUCCESS;
}
