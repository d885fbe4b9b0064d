/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * signal.c - signal handlers that run in loop context.
 *
 * The C-level handler does two async-signal-safe things: set the signal's bit
 * in the owning loop's pending mask and wake the loop (pev_loop_wakeup: an
 * atomic flag and at most one write(2)). The loop's iteration then calls
 * pevi_signals_dispatch(), which runs the handlers.
 *
 * Dispatch walks a signal's handler list with a cursor kept in the loop:
 * removing the handler the cursor points at moves the cursor on, so a handler
 * may remove any handler (or destroy the pool holding it) without the walk
 * touching freed memory. Handlers added during a dispatch carry a newer
 * sequence number and are skipped by it.
 */
#include "config.h"

#include <errno.h>
#include <sched.h>

#include "signal_int.h"

struct pev_signal {
    pevi_link_t link;               /* on its slot's handler list */
    pevi_link_t owned;              /* on its lifetime pool's owner list */
    pevi_signals_t *sigs;           /* NULL once the loop is gone */
    pev_signal_fn *fn;
    void *user_data;
    apr_uint64_t seq;
    int signo;
};

_Static_assert(ATOMIC_POINTER_LOCK_FREE == 2, "atomic pointers must be lock-free");

/* Which loop's handlers own each signal, for the C-level handler. */
static pevi_signals_t *_Atomic sig_owner[PEVI_NSIG];
/* C-level handlers running right now, on any thread. */
static atomic_int sig_inflight;

static void on_signal(int signo)
{
    int saved = errno;
    pevi_signals_t *s;

    atomic_fetch_add(&sig_inflight, 1);
    s = atomic_load(&sig_owner[signo]);
    if (s) {
        atomic_fetch_or(&s->pending, 1ULL << (signo - 1));
        pev_loop_wakeup(s->loop);
    }
    atomic_fetch_sub(&sig_inflight, 1);
    errno = saved;
}

/* Give @a signo back its previous disposition. A C-level handler running on
 * another thread may have read the owner before it was cleared: wait for it
 * to finish before the loop's memory can go. A delivery not yet handled is
 * dropped with the last handler. */
static void slot_restore(pevi_signals_t *s, int signo)
{
    sigaction(signo, &s->slot[signo].old, NULL);
    atomic_store(&sig_owner[signo], NULL);
    while (atomic_load(&sig_inflight) > 0)
        sched_yield();
    atomic_fetch_and(&s->pending, ~(1ULL << (signo - 1)));
}

/* Take @a h off its signal; restore the disposition after the last one. */
static void handler_unlink(pevi_signals_t *s, pev_signal_t *h)
{
    pevi_sigslot_t *slot = &s->slot[h->signo];

    if (s->cursor == &h->link)
        s->cursor = h->link.next;   /* the running walk goes on past it */
    pevi_link_remove(&h->link);
    s->total--;
    if (--slot->count == 0)
        slot_restore(s, h->signo);
}

/* The handler's lifetime pool is going. */
static void handler_release(void *container, pevi_link_t *item)
{
    handler_unlink(container, PEVI_CONTAINER(item, pev_signal_t, owned));
}

/* The loop is going while the handler's pool lives on. */
static void handler_orphan(void *container, pevi_link_t *item)
{
    (void) container;
    PEVI_CONTAINER(item, pev_signal_t, owned)->sigs = NULL;
}

void pevi_signals_init(pevi_signals_t *s, pev_loop_t *loop, apr_pool_t *pool)
{
    int i;

    s->loop = loop;
    atomic_init(&s->pending, 0);
    for (i = 0; i < PEVI_NSIG; i++) {
        pevi_list_init(&s->slot[i].handlers);
        s->slot[i].count = 0;
    }
    pevi_owners_init(&s->owners, s, handler_release, NULL, handler_orphan, pool);
    s->cursor = NULL;
    s->seq = 0;
    s->total = 0;
}

apr_status_t pev_signal_add(pev_signal_t **out, pev_loop_t *loop, int signo,
                            pev_signal_fn *fn, void *user_data, apr_pool_t *lifetime)
{
    pevi_signals_t *s;
    pevi_sigslot_t *slot;
    pev_signal_t *h;
    apr_status_t st;

    if (!loop || !fn || signo < 1 || signo >= PEVI_NSIG || signo == SIGKILL
        || signo == SIGSTOP)
        return APR_EINVAL;
    s = pevi_loop_signals(loop);
    slot = &s->slot[signo];
    if (slot->count == 0) {
        pevi_signals_t *expected = NULL;
        struct sigaction sa;

        if (!atomic_compare_exchange_strong(&sig_owner[signo], &expected, s))
            return PEV_EBUSY;
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(signo, &sa, &slot->old) != 0) {
            st = APR_FROM_OS_ERROR(errno);
            atomic_store(&sig_owner[signo], NULL);
            return st == APR_FROM_OS_ERROR(EINVAL) ? APR_EINVAL : st;
        }
    }
    if (!lifetime)
        lifetime = pevi_loop_pool(loop);
    h = apr_palloc(lifetime, sizeof *h);
    if (!h || (st = pevi_owner_add(&s->owners, lifetime, &h->owned)) != APR_SUCCESS) {
        if (slot->count == 0)
            slot_restore(s, signo);
        return APR_ENOMEM;
    }
    h->sigs = s;
    h->fn = fn;
    h->user_data = user_data;
    h->seq = ++s->seq;
    h->signo = signo;
    pevi_list_append(&slot->handlers, &h->link);
    slot->count++;
    s->total++;
    if (out)
        *out = h;
    return APR_SUCCESS;
}

apr_status_t pev_signal_remove(pev_signal_t *h)
{
    if (!h)
        return APR_EINVAL;
    if (!h->sigs)
        return PEV_EDESTROYED;
    if (!pevi_link_linked(&h->link))
        return APR_ENOENT;
    pevi_link_remove(&h->owned);
    handler_unlink(h->sigs, h);
    return APR_SUCCESS;
}

int pevi_signals_dispatch(pevi_signals_t *s, const pevi_sentry_t *frame)
{
    unsigned long long pending = atomic_exchange(&s->pending, 0);
    apr_uint64_t limit = s->seq;    /* handlers added from here on: not now */
    int signo;

    for (signo = 1; pending && signo < PEVI_NSIG; signo++) {
        pevi_link_t *head = &s->slot[signo].handlers, *it;

        if (!(pending & (1ULL << (signo - 1))))
            continue;
        pending &= ~(1ULL << (signo - 1));
        for (it = head->next; it != head; it = s->cursor) {
            pev_signal_t *h = PEVI_CONTAINER(it, pev_signal_t, link);

            s->cursor = it->next;
            if (h->seq > limit)
                continue;           /* added during this dispatch */
            h->fn(signo, h->user_data); /* may free h and any other handler */
            if (pevi_sentry_gone(frame))
                return 1;
        }
        s->cursor = NULL;
    }
    return 0;
}

void pevi_signals_fini(pevi_signals_t *s)
{
    int signo;

    for (signo = 1; signo < PEVI_NSIG; signo++)
        if (s->slot[signo].count)
            slot_restore(s, signo);
    pevi_owners_detach_all(&s->owners);
}

unsigned pevi_signals_count(const pevi_signals_t *s)
{
    return s->total;
}
