/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * status.c - poolev's status codes and their messages.
 */
#include "config.h"

#include <apr_strings.h>

#include "poolev/status.h"

static const char *pev_message(apr_status_t st)
{
    switch (st) {
    case PEV_ENESTING:
        return "poolev: event nesting limit reached, nothing dispatched";
    case PEV_EDESTROYED:
        return "poolev: the bus, loop or stream was destroyed";
    case PEV_EREMOVED:
        return "poolev: the module was removed";
    case PEV_ENOTARMED:
        return "poolev: the timer or wait event is not armed";
    case PEV_EBUSY:
        return "poolev: busy: the loop or daemon is running or not yet started,"
               " or another loop has the signal";
    case PEV_ECLOSED:
        return "poolev: closed: the stream or connection is closed,"
               " or the daemon is stopping or stopped";
    case PEV_ELINE:
        return "poolev: line too long";
    case PEV_EFULL:
        return "poolev: full: the output buffer or the worker's event queue is full";
    case PEV_ECONFIG:
        return "poolev: configuration error";
    case PEV_ETLS:
        return "poolev: TLS failure";
    case PEV_ETLSVERIFY:
        return "poolev: TLS: the peer's certificate failed verification";
    case PEV_ETRUNCATED:
        return "poolev: TLS: the peer ended the connection without close_notify"
               " (truncated)";
    case PEV_ERESOLVE:
        return "poolev: the host name could not be resolved";
    default:
        return NULL;
    }
}

char *pev_strerror(apr_status_t statcode, char *buf, apr_size_t bufsize)
{
    const char *msg;

    if (!buf || bufsize == 0)
        return buf;
    if (!PEV_STATUS_IS_POOLEV(statcode))
        return apr_strerror(statcode, buf, bufsize);
    msg = pev_message(statcode);
    if (msg)
        apr_cpystrn(buf, msg, bufsize);
    else
        apr_snprintf(buf, bufsize, "poolev: unknown status %d", (int) statcode);
    return buf;
}
