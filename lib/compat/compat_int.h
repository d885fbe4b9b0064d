/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * compat_int.h - internal: what the compatibility layers (proftpd.c,
 * prot.c) share with compat.c. They use libpoolev's public API only.
 */
#ifndef POOLEV_COMPAT_INT_H
#define POOLEV_COMPAT_INT_H

#include <apr_pools.h>
#include <apr_errno.h>

/*
 * The compat default pool: a root pool of the layers' own, created on first
 * use. The first call also initializes APR (apr_initialize(), once per
 * process), so that a program that never called APR can use the layers, and
 * registers an exit handler that destroys the pool and gives that
 * initialization back, in that process only: a forked child's exit leaves
 * the parent's state alone (doc/porting-cyrus.md, "Process-wide state").
 * APR_SUCCESS, or the status of the step that failed (*pool is then NULL and
 * a later call tries again); APR_ENOPOOL once the exit handler has run.
 */
apr_status_t pevc_default_pool(apr_pool_t **pool);

/* The errno value for a failed status: the OS error it carries, or the
 * closest one for APR's and poolev's own codes. */
int pevc_errno(apr_status_t st);

#endif /* POOLEV_COMPAT_INT_H */
