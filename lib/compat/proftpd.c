/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * proftpd.c - the ProFTPD Events API on a poolev bus.
 *
 * The registry is one bus in a pool of its own (reg.pool), a subpool of the
 * pool named by pr_event_set_pool() or of the compat default pool. A cleanup
 * on reg.pool forgets the registry, so clearing or destroying the pool it was
 * created under resets it.
 *
 * Order. ProFTPD puts a module's listener at the head of the event's list
 * and a core listener at its tail: module listeners newest first, then core
 * listeners oldest first. The bus orders by (priority, module load order with
 * core last, registration order). Every module registration gets a priority
 * of its own, lower than all before it (-1, -2, ...), so module listeners run
 * newest first whatever their module; core listeners share priority 0 and
 * run after them in registration order.
 *
 * Modules. Each ProFTPD `module *` gets a bus module (for unregistering by
 * module), found through a hash keyed by the pointer; a second hash maps the
 * bus module's name back to the `module *` for pr_event_dump().
 *
 * Duplicates. ProFTPD refuses the same callback twice on an event, whatever
 * the module or user_data; the bus only refuses the same (module, event, fn,
 * user_data). pev_event_count() answers "is cb on event already?" first.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "poolev/bus.h"
#include "poolev/compat/proftpd.h"
#include "compat_int.h"

static struct registry {
    apr_pool_t *parent;         /* pr_event_set_pool()'s pool; NULL: default */
    apr_pool_t *pool;           /* the registry's own pool; NULL: none */
    pev_bus_t *bus;
    apr_hash_t *mods;           /* module * -> pev_module_t * */
    apr_hash_t *names;          /* bus module name -> module * */
    unsigned nmods;             /* bus modules made (for their names) */
    int module_regs;            /* module registrations: priorities used */
} reg;

static int fail(int err)
{
    errno = err;
    return -1;
}

/* Cleanup of reg.pool: the registry is gone (its bus goes with the pool). */
static apr_status_t registry_gone(void *data)
{
    (void) data;
    reg.pool = NULL;
    reg.bus = NULL;
    reg.mods = NULL;
    reg.names = NULL;
    reg.nmods = 0;
    reg.module_regs = 0;
    return APR_SUCCESS;
}

/* Cleanup of a pool named by pr_event_set_pool(). */
static apr_status_t parent_gone(void *data)
{
    if (reg.parent == data)
        reg.parent = NULL;
    return APR_SUCCESS;
}

static apr_status_t registry_create(void)
{
    apr_pool_t *under = reg.parent, *p;
    pev_bus_t *bus;
    apr_status_t st;

    if (!under && (st = pevc_default_pool(&under)) != APR_SUCCESS)
        return st;
    if ((st = apr_pool_create(&p, under)) != APR_SUCCESS)
        return st;
    apr_pool_tag(p, "pr_event registry");
    if ((st = pev_bus_create(&bus, p)) != APR_SUCCESS) {
        apr_pool_destroy(p);
        return st;
    }
    reg.pool = p;
    reg.bus = bus;
    reg.mods = apr_hash_make(p);
    reg.names = apr_hash_make(p);
    reg.nmods = 0;
    reg.module_regs = 0;
    /* registered after the bus's own cleanup, so it runs before it */
    apr_pool_cleanup_register(p, NULL, registry_gone, apr_pool_cleanup_null);
    return APR_SUCCESS;
}

/* The bus module standing for @a m, made on first use. */
static apr_status_t bus_module(module *m, pev_module_t **out)
{
    pev_module_t *nm = apr_hash_get(reg.mods, &m, sizeof m);
    module **key;
    const char *name;
    apr_status_t st;

    if (!nm) {
        name = apr_psprintf(reg.pool, "pr_event module %u", ++reg.nmods);
        if ((st = pev_module_add(&nm, reg.bus, name)) != APR_SUCCESS)
            return st;
        key = apr_palloc(reg.pool, sizeof *key);
        *key = m;
        apr_hash_set(reg.mods, key, sizeof *key, nm);
        apr_hash_set(reg.names, pev_module_name(nm), APR_HASH_KEY_STRING, m);
    }
    *out = nm;
    return APR_SUCCESS;
}

int pr_event_register_pool(module *m, const char *event, pr_event_cb_t *cb,
                           void *user_data, apr_pool_t *lifetime)
{
    pev_module_t *nm = NULL;
    int priority = PEV_PRIORITY_DEFAULT;
    apr_status_t st;

    if (!event || !cb || !*event)
        return fail(EINVAL);
    if (!reg.bus && (st = registry_create()) != APR_SUCCESS)
        return fail(pevc_errno(st));
    if (pev_event_count(reg.bus, event, NULL, cb) > 0)
        return fail(EEXIST);
    if (m) {
        if (reg.module_regs == INT_MAX)
            return fail(ENOSPC);
        if ((st = bus_module(m, &nm)) != APR_SUCCESS)
            return fail(pevc_errno(st));
        priority = -(reg.module_regs + 1);  /* below every module listener so far */
    }
    st = pev_event_register_ordered(NULL, reg.bus, nm, event, cb, user_data,
                                    priority, lifetime);
    if (st != APR_SUCCESS)
        return fail(pevc_errno(st));
    if (m)
        reg.module_regs++;
    return 0;
}

int pr_event_register(module *m, const char *event, pr_event_cb_t *cb, void *user_data)
{
    return pr_event_register_pool(m, event, cb, user_data, NULL);
}

int pr_event_unregister(module *m, const char *event, pr_event_cb_t *cb)
{
    const pev_module_t *nm = NULL;
    apr_status_t st;

    if (!reg.bus)
        return 0;               /* never used: ProFTPD says 0 */
    if (m && !(nm = apr_hash_get(reg.mods, &m, sizeof m)))
        return fail(ENOENT);    /* that module never registered */
    st = pev_event_unregister(reg.bus, nm, event, cb);
    if (st == APR_SUCCESS)
        return 0;
    return fail(st == APR_ENOENT ? ENOENT : pevc_errno(st));
}

void pr_event_generate(const char *event, const void *event_data)
{
    if (!event || !reg.bus)
        return;
    /* PEV_ENESTING (nothing dispatched) and PEV_EDESTROYED (a listener reset
     * the registry) have no way out of a void function */
    (void) pev_event_generate(reg.bus, event, event_data);
}

int pr_event_listening(const char *event)
{
    if (!event)
        return fail(EINVAL);
    if (!reg.bus)
        return 0;
    return pev_event_listening(reg.bus, event);
}

typedef struct {
    void (*dumpf)(const char *fmt, ...);
    unsigned lines;
} dump_ctx_t;

static int dump_one(void *user_data, const pev_listener_info_t *info)
{
    dump_ctx_t *d = user_data;
    const module *m;

    if (info->position == 0) {
        d->dumpf("Registered for '%s':", info->event);
        if (!reg.bus)
            return 1;           /* dumpf reset the registry: stop */
    }
    if (info->module) {
        m = apr_hash_get(reg.names, info->module, APR_HASH_KEY_STRING);
        d->dumpf("  mod_%s.c", m && m->name ? m->name : "(unnamed)");
    } else {
        d->dumpf("  (core)");
    }
    d->lines++;
    return !reg.bus;
}

void pr_event_dump(void (*dumpf)(const char *fmt, ...))
{
    dump_ctx_t d = { dumpf, 0 };

    if (!dumpf)
        return;
    /* on ENOMEM (no snapshot) the dump says nothing rather than "none" */
    if (!reg.bus || (pev_bus_dump(reg.bus, dump_one, &d) == APR_SUCCESS && d.lines == 0))
        dumpf("%s", "No events registered");
}

int pr_event_set_pool(apr_pool_t *pool)
{
    if (pool == reg.parent)
        return 0;
    if (reg.bus)
        return fail(EBUSY);
    if (reg.parent)
        apr_pool_cleanup_kill(reg.parent, reg.parent, parent_gone);
    reg.parent = pool;
    if (pool)
        apr_pool_cleanup_register(pool, pool, parent_gone, apr_pool_cleanup_null);
    return 0;
}
