/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * log.c - the daemon's messages: the error text of the last failure
 * (pev_daemon_error()) and the log (core.log listeners, else stderr).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include <apr_strings.h>

#include "daemon_int.h"

#define LOG_MAX 1024

void pevi_daemon_set_error(pev_daemon_t *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
}

void pev_daemon_vlog(pev_daemon_t *d, pev_log_level_t level, const char *fmt, va_list ap)
{
    char buf[LOG_MAX];
    char *p;
    apr_status_t st;

    if (!d || !fmt)
        return;
    apr_vsnprintf(buf, sizeof buf, fmt, ap);
    for (p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (!d->in_log && pev_event_listening(d->bus, PEV_EVENT_LOG) > 0) {
        pev_log_record_t rec;

        rec.daemon = d;
        rec.level = level;
        rec.msg = buf;
        d->in_log = 1;
        st = pev_event_generate(d->bus, PEV_EVENT_LOG, &rec);
        d->in_log = 0;
        if (st == APR_SUCCESS)
            return;
        if (st == PEV_EDESTROYED)
            return;
    }
    if (level <= PEV_LOG_INFO)
        fprintf(stderr, "%s: %s%s\n", d->name,
                level == PEV_LOG_ERROR ? "error: " : level == PEV_LOG_WARN ? "warning: " : "",
                buf);
}

void pev_daemon_log(pev_daemon_t *d, pev_log_level_t level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    pev_daemon_vlog(d, level, fmt, ap);
    va_end(ap);
}
