/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * limits.c - the core directives MaxConnections and MaxConnectionsPerHost:
 * the open connections counted per peer address, and the refusals counted
 * (pev_daemon_refused()). conn.c asks before it offers a connection
 * (pevi_limits_admit()) and tells when a held one goes
 * (pevi_limits_release()).
 *
 * Every connection is counted, whatever the limits, so a reload that sets
 * or lowers one applies it to the connections already open. A host's
 * record goes back to a free list when its last connection goes, so memory
 * follows the most hosts ever connected at once, not the number of hosts
 * ever seen. The records and the table are in a pool of their own (made
 * with the process state, in the daemon's pool, and touched only under the
 * lock of dworkers.c while workers run): the connections' pools are
 * destroyed first.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "daemon_int.h"

#define LIMIT_MAX 10000000L

struct pevi_host {
    struct pevi_host *next;         /* on the free list */
    apr_size_t n;                   /* held connections from this address */
    char ip[48];                    /* an IPv6 address fits */
};

static const char *core_limit(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    pevi_core_conf_t *core = pevi_gen_core(gen, 1);
    long v;
    const char *err;

    (void) mconf;
    (void) argc;
    if ((err = pev_parse_long(argv[1], 0, LIMIT_MAX, &v)) != NULL)
        return err;
    if (strcasecmp(argv[0], "MaxConnections") == 0)
        core->max_conns = v;
    else
        core->max_conns_host = v;
    return NULL;
}

const pev_directive_t pevi_limits_directives[] = {
    { "MaxConnections", 1, 1, core_limit, "COUNT (0: no limit)" },
    { "MaxConnectionsPerHost", 1, 1, core_limit, "COUNT (0: no limit)" },
    { NULL, 0, 0, NULL, NULL }
};

/* Under the lock of dworkers.c when @a worker. */
static int admit(pev_daemon_t *d, const pev_gen_t *gen, const char *ip,
                 struct pevi_host **host, int worker)
{
    pevi_proc_t *proc = d->proc;
    /* the connection's generation: a worker's, which may not be d->gen
     * yet (it switches at its next iteration) */
    const pevi_core_conf_t *core = gen ? gen->core : NULL;
    long max = core ? core->max_conns : 0, per_host = core ? core->max_conns_host : 0;
    struct pevi_host *h = NULL;
    apr_size_t len;
    apr_size_t open = worker ? proc->wconns : d->main.nconns;

    *host = NULL;
    if (max > 0 && open >= (apr_size_t) max) {
        proc->refused++;
        return PEV_CONN_REFUSED_MAX;
    }
    if (!ip || (len = strlen(ip)) >= sizeof h->ip)
        return 0;                   /* no address: not counted per host */
    if (!proc->hosts)
        proc->hosts = apr_hash_make(proc->hosts_pool);
    h = apr_hash_get(proc->hosts, ip, (apr_ssize_t) len);
    if (h && per_host > 0 && h->n >= (apr_size_t) per_host) {
        proc->refused++;
        proc->refused_host++;
        return PEV_CONN_REFUSED_HOST;
    }
    if (!h) {
        if ((h = proc->spare) != NULL)
            proc->spare = h->next;
        else
            h = apr_palloc(proc->hosts_pool, sizeof *h);
        memcpy(h->ip, ip, len + 1);
        h->n = 0;
        h->next = NULL;
        apr_hash_set(proc->hosts, h->ip, (apr_ssize_t) len, h);
    }
    h->n++;
    *host = h;
    return 0;
}

int pevi_limits_admit(pev_daemon_t *d, const pev_gen_t *gen, const char *ip,
                      struct pevi_host **host, int worker)
{
    int r;

    if (!worker) {
        (void) pevi_daemon_proc(d);
        return admit(d, gen, ip, host, 0);
    }
    /* d->proc was made by the start, on the main thread */
    pevi_workers_lock(d);
    r = admit(d, gen, ip, host, 1);
    if (r == 0)
        d->proc->wconns++;
    pevi_workers_unlock(d);
    return r;
}

void pevi_limits_release(pev_daemon_t *d, struct pevi_host *h, int worker)
{
    pevi_proc_t *proc = d->proc;

    if (!proc)
        return;
    if (worker)
        pevi_workers_lock(d);
    if (worker)
        proc->wconns--;
    if (h && --h->n == 0) {
        apr_hash_set(proc->hosts, h->ip, APR_HASH_KEY_STRING, NULL);
        h->next = proc->spare;
        proc->spare = h;
    }
    if (worker)
        pevi_workers_unlock(d);
}

apr_uint64_t pev_daemon_refused(const pev_daemon_t *d)
{
    apr_uint64_t n;

    if (!d || !d->proc)
        return 0;
    pevi_workers_lock((pev_daemon_t *) d);
    n = d->proc->refused;
    pevi_workers_unlock((pev_daemon_t *) d);
    return n;
}
