/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * compat.c - state the compatibility layers share: APR's initialization and
 * the compat default pool.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <apr_general.h>

#include "poolev/status.h"
#include "compat_int.h"

static int apr_ready;           /* we hold one of APR's initializations */
static int exited;              /* the exit handler ran */
static apr_pool_t *default_pool;
static pid_t owner;             /* the process that took them */

/*
 * At exit: destroy the default pool (the default registry, the loop, the
 * streams made by prot_new()) and give back our initialization of APR. The
 * two balance what the first use took: APR tears down only if nobody else
 * holds it, so a program that initialized APR itself keeps its own pools
 * (and their cleanups do not run in every exiting child of a forking
 * daemon). Without this, state reachable only through pool memory would
 * look leaked to leak checkers that do not scan APR's allocator.
 *
 * Only in the process that took them: a forked child that calls exit()
 * inherited the parent's state, and tearing it down there would undo the
 * parent's (destroying a stream takes its descriptor out of the loop's
 * epoll set, which parent and child share). The child leaves it alone.
 */
static void compat_exit(void)
{
    apr_pool_t *p = default_pool;

    exited = 1;
    if (getpid() != owner)
        return;                 /* a forked child: the state is the parent's */
    default_pool = NULL;
    if (p)
        apr_pool_destroy(p);
    if (apr_ready) {
        apr_ready = 0;
        apr_terminate();
    }
}

apr_status_t pevc_default_pool(apr_pool_t **pool)
{
    apr_status_t st;

    *pool = NULL;
    if (exited)
        return APR_ENOPOOL;     /* an exit handler that ran after ours */
    if (!apr_ready) {
        /* APR counts its initializations: one more is harmless for a
         * program that initialized it already */
        st = apr_initialize();
        if (st != APR_SUCCESS)
            return st;
        apr_ready = 1;
        owner = getpid();
        /* if it cannot be registered, the state simply lives until exit */
        (void) atexit(compat_exit);
    }
    if (!default_pool) {
        st = apr_pool_create(&default_pool, NULL);
        if (st != APR_SUCCESS) {
            default_pool = NULL;
            return st;
        }
        apr_pool_tag(default_pool, "poolev-compat");
    }
    *pool = default_pool;
    return APR_SUCCESS;
}

int pevc_errno(apr_status_t st)
{
    if (st > 0 && st < APR_OS_START_ERROR)
        return (int) st;                    /* an errno value already */
    if (APR_STATUS_IS_EOF(st))
        return EPIPE;
    if (APR_STATUS_IS_TIMEUP(st))
        return ETIMEDOUT;
    if (APR_STATUS_IS_EAGAIN(st))
        return EAGAIN;
    if (st >= APR_OS_START_SYSERR && st < APR_OS_START_SYSERR + APR_OS_ERRSPACE_SIZE)
        return (int) APR_TO_OS_ERROR(st);
    switch (st) {
    case PEV_ECLOSED:
    case PEV_EDESTROYED:
        return EPIPE;
    case PEV_ELINE:
    case PEV_EFULL:
        return ENOBUFS;
    case PEV_EBUSY:
        return EDEADLK;
    default:
        return EIO;
    }
}
