/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * sentry.h - internal: records on the C stack that a teardown marks gone.
 *
 * A call that runs user code (a listener, a timer, a stream callback) may
 * find, when that code returns, that the object it was working on has been
 * freed: the callback destroyed the bus, the loop or the stream's pool. The
 * call cannot look at the object to find out. So before it runs user code it
 * pushes a sentry, a record in its own stack frame, on the object's list of
 * sentries; the object's teardown marks every sentry on the list gone; and
 * after the user code the call asks its sentry, which lives on its stack
 * whatever happened to the object:
 *
 *     pevi_sentry_t s;
 *
 *     pevi_sentry_push(&obj->sentries, &s);
 *     obj->callback(obj);
 *     if (pevi_sentry_gone(&s))
 *         return;                       (obj is freed memory: touch nothing)
 *     pevi_sentry_pop(&obj->sentries, &s);
 *
 * The rules:
 *  - a gone sentry is never popped (its list went with the object), and the
 *    call touches nothing of the object any more;
 *  - a sentry that is not gone is popped before its frame returns;
 *  - the teardown calls pevi_sentry_kill_all() before it frees anything the
 *    calls could reach.
 *
 * Sentries nest like calls, so the one popped is normally the top of its
 * list: push and that pop are O(1). A sentry can also be popped from below
 * others (a call that watches several objects and lets them go in another
 * order); that pop walks the list from the top. Where the order is certain
 * (strictly nested calls), pevi_sentry_pop_top() skips even the check.
 *
 * A record that needs more (the bus's dispatch frames) embeds a sentry as
 * its first member and gets back to itself from the list with
 * PEVI_CONTAINER.
 *
 * Everything here is static inline: the compatibility library, which links
 * only libpoolev's public API, uses it too.
 */
#ifndef POOLEV_SENTRY_H
#define POOLEV_SENTRY_H

#include <stddef.h>

typedef struct pevi_sentry {
    struct pevi_sentry *up;         /* the one pushed before, NULL: none */
    int gone;                       /* set by the teardown */
} pevi_sentry_t;

/* Put @a s, not gone, on top of the list at @a *list. */
static inline void pevi_sentry_push(pevi_sentry_t **list, pevi_sentry_t *s)
{
    s->gone = 0;
    s->up = *list;
    *list = s;
}

/* Take @a s, not gone and known to be on top, off the list at @a *list:
 * for calls that cannot return out of order (a bus's dispatches, the loop's
 * iteration). */
static inline void pevi_sentry_pop_top(pevi_sentry_t **list, pevi_sentry_t *s)
{
    *list = s->up;
}

/* Take @a s, not gone, off the list at @a *list (nothing when it is not
 * there). O(1) when @a s is on top. */
static inline void pevi_sentry_pop(pevi_sentry_t **list, pevi_sentry_t *s)
{
    pevi_sentry_t **pp;

    if (*list == s) {               /* the top: the usual case */
        *list = s->up;
        return;
    }
    for (pp = list; *pp; pp = &(*pp)->up)
        if (*pp == s) {
            *pp = s->up;
            return;
        }
}

/* The teardown: mark every sentry on the list gone; the list is empty. */
static inline void pevi_sentry_kill_all(pevi_sentry_t **list)
{
    pevi_sentry_t *s;

    for (s = *list; s; s = s->up)
        s->gone = 1;
    *list = NULL;
}

/* Did the teardown run while @a s was on its list? */
static inline int pevi_sentry_gone(const pevi_sentry_t *s)
{
    return s->gone;
}

#endif /* POOLEV_SENTRY_H */
