/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/compat/proftpd.h - the ProFTPD Events API on poolev's bus.
 *
 * Code written against ProFTPD's pr_event_register(), pr_event_unregister(),
 * pr_event_generate(), pr_event_listening() and pr_event_dump() compiles
 * against this header and behaves as ProFTPD documents, minus ProFTPD's
 * dispatch hazards. Link with `pkg-config --cflags --libs poolev-compat`.
 * doc/porting-proftpd.md says what compiles unchanged, what behaves
 * differently and why.
 *
 * The registry is one process-wide poolev bus (poolev/bus.h), created by the
 * first registration in a pool of its own, under the compat default pool or
 * under the pool named by pr_event_set_pool(). Clearing or destroying the
 * pool it was created under resets it: every listener goes, and the next
 * registration starts a new, empty registry (ProFTPD resets its registry
 * when its pool goes, too). A program that never called APR may use it: the
 * first registration initializes APR. At exit the compat default pool is
 * destroyed (with the registry, if it lives there) and that initialization
 * is given back; see doc/porting-proftpd.md.
 *
 * Threads: none. The registry is process-wide and single-threaded, like
 * ProFTPD's: every call, and the teardown of every pool a listener is bound
 * to, must come from one thread at a time.
 */
#ifndef POOLEV_COMPAT_PROFTPD_H
#define POOLEV_COMPAT_PROFTPD_H

#include <apr_pools.h>

#include "poolev/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A ProFTPD module, laid out like ProFTPD's module table so that a module
 * table initialized positionally ({ NULL, NULL, 0x20, "foo", ... }) compiles.
 * The registry only reads `name` (when dumping) and uses the struct's address
 * as the module's identity; the other members are there for source
 * compatibility and are never touched.
 */
typedef struct module_struc module;
struct module_struc {
    module *next, *prev;            /**< ProFTPD's module list (unused here) */
    int api_version;                /**< ProFTPD's module API version (unused) */
    const char *name;               /**< the module's name, "foo" for mod_foo.c */
    void *conftable;                /**< configuration directives (unused) */
    void *cmdtable;                 /**< command handlers (unused) */
    void *authtable;                /**< authentication handlers (unused) */
    int (*init)(void);              /**< module initialization (unused) */
    int (*sess_init)(void);         /**< session initialization (unused) */
    const char *module_version;     /**< version string (unused) */
    void *handle;                   /**< loader handle (unused) */
    int priority;                   /**< load priority (unused) */
};

/** A listener, as in ProFTPD. */
typedef void pr_event_cb_t(const void *event_data, void *user_data);

/**
 * Register @a cb on @a event for module @a m (NULL: the core). The event name
 * is copied. Dispatch order, as in ProFTPD: module listeners newest first,
 * then core listeners in registration order.
 *
 * The listener lives until it is unregistered or the registry is reset.
 * Allocate @a user_data so that it lives as long, or use
 * pr_event_register_pool().
 *
 * @return 0; -1 with errno:
 *         EINVAL for a NULL @a event or @a cb, or an empty event name;
 *         EEXIST when @a cb is registered on @a event already, whatever the
 *         module or user_data (ProFTPD's rule, kept for compatibility);
 *         ENOMEM; ENOSPC after 2^31 - 1 module registrations in one registry.
 * Callable from a listener: the new listener is not called by the dispatch
 * that is running (nor by those it is nested in).
 */
PEV_COMPAT_API int pr_event_register(module *m, const char *event, pr_event_cb_t *cb,
                                     void *user_data);

/**
 * Extension: pr_event_register() with a lifetime. When @a lifetime is cleared
 * or destroyed, the listener is unregistered before anything of that pool
 * goes, so it is never called with user_data from a dead pool, and a later
 * registration of the same @a cb is not refused with EEXIST. Allocate
 * @a user_data from @a lifetime. NULL @a lifetime: as pr_event_register().
 * This is the one-line change that binds ported registrations to pools.
 *
 * @return as pr_event_register().
 */
PEV_COMPAT_API int pr_event_register_pool(module *m, const char *event, pr_event_cb_t *cb,
                                          void *user_data, apr_pool_t *lifetime);

/**
 * Unregister every listener that matches: NULL means "any" for @a m,
 * @a event and @a cb (so NULL @a m cannot say "core listeners only", as in
 * ProFTPD). A listener unregistered while a dispatch runs is not called by
 * it afterwards.
 *
 * @return 0 when at least one listener was removed, and 0 on a registry that
 *         was never used (nor since its last reset); -1 with errno ENOENT
 *         when nothing matched.
 * Callable from a listener, also to unregister itself or the next one.
 */
PEV_COMPAT_API int pr_event_unregister(module *m, const char *event, pr_event_cb_t *cb);

/**
 * Call the current listeners of @a event with @a event_data, in dispatch
 * order. Nothing happens for a NULL @a event or an event nobody listens to.
 *
 * Nesting follows poolev's rules (doc/bus.md): a listener may generate
 * events; a listener is not re-entered for its event while it runs; beyond
 * 16 nested generations nothing is dispatched. A listener unregistered
 * during the dispatch (by any means) is not called if not yet reached; one
 * registered during it is not called by it.
 */
PEV_COMPAT_API void pr_event_generate(const char *event, const void *event_data);

/**
 * Count the listeners of @a event.
 * @return the count (0 for an unknown event or a registry never used);
 *         -1 with errno EINVAL for a NULL @a event.
 * Callable from a listener.
 */
PEV_COMPAT_API int pr_event_listening(const char *event);

/**
 * Describe the registry through @a dumpf, one line per call (no newline):
 * "Registered for '%s':" for each event with listeners, in name order,
 * followed by one line per listener in dispatch order, "  mod_%s.c" with the
 * module's name or "  (core)"; or "No events registered" when no event has
 * a listener. Nothing happens for a NULL @a dumpf.
 * @a dumpf must not change the registry.
 */
PEV_COMPAT_API void pr_event_dump(void (*dumpf)(const char *fmt, ...));

/**
 * Extension: create the registry under @a pool (NULL: the compat default
 * pool) when it is next created. Clearing or destroying @a pool then resets
 * the registry and forgets @a pool; the registry after that is created under
 * the compat default pool unless this is called again. Name the process's
 * long-lived pool before the first registration (ProFTPD's registry lives
 * under its permanent pool); a test names a per-test pool to start every
 * test with an empty registry.
 *
 * @return 0 (also when @a pool is the one the current registry was created
 *         under); -1 with errno EBUSY when a registry exists under another
 *         pool (it stays where it is).
 * Not callable from a listener.
 */
PEV_COMPAT_API int pr_event_set_pool(apr_pool_t *pool);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_COMPAT_PROFTPD_H */
