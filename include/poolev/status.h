/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/status.h - poolev's own status codes.
 *
 * poolev functions return apr_status_t: an APR code (APR_SUCCESS, APR_EINVAL,
 * APR_EEXIST, APR_ENOENT, APR_ENOMEM, ...) or one of the codes below. poolev's
 * codes live in APR's user-error range, at PEV_START_ERROR and up, so they never
 * collide with APR's or the operating system's. pev_strerror() describes both.
 */
#ifndef POOLEV_STATUS_H
#define POOLEV_STATUS_H

#include <apr_errno.h>

#include "poolev/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** First poolev status code (APR_OS_START_USERERR + 400000). */
#define PEV_START_ERROR (APR_OS_START_USERERR + 400000)
/** Size of the range reserved for poolev's codes. */
#define PEV_ERRSPACE_SIZE 1000

/** pev_event_generate(): the bus's nesting limit was reached; nothing was
 *  dispatched. See pev_bus_set_max_depth(). */
#define PEV_ENESTING   (PEV_START_ERROR + 1)
/** The bus, loop or stream was destroyed (its pool cleared or destroyed):
 *  by a callback while the call was running (the caller must not touch it
 *  again), or before a call on one of the loop's timers, signal handlers,
 *  streams or connect requests. Also the close reason of a stream whose
 *  pool or loop was destroyed (poolev/stream.h). */
#define PEV_EDESTROYED (PEV_START_ERROR + 2)
/** The module was removed with pev_module_remove(); it takes no new
 *  listeners. Also: the watcher was removed with pev_watch_remove()
 *  (poolev/watch.h). */
#define PEV_EREMOVED   (PEV_START_ERROR + 3)
/** The timer is not armed (pev_timer_cancel(): it fired or was cancelled),
 *  or the wait event is not one of the stream's pending events
 *  (pev_waitevent_remove(), pev_waitevent_set_mark(): it fired or was
 *  removed). */
#define PEV_ENOTARMED  (PEV_START_ERROR + 4)
/** Busy: the call conflicts with a loop or daemon that is running, or with
 *  a daemon not started yet:
 *  - pev_loop_run(), pev_loop_run_once() or pev_stream_getline_wait() from
 *    inside the loop's callbacks (the loop does not nest);
 *  - pev_daemon_start() on a daemon already started; pev_daemon_start(),
 *    pev_daemon_run() or pev_daemon_run_once() from inside the daemon's
 *    loop; pev_daemon_check_config() from inside a start, restart or stop;
 *  - pev_daemon_restart() before the daemon was started;
 *  - pev_signal_add(): another loop holds handlers for the signal, and so
 *    pev_daemon_start() when another loop holds SIGHUP, SIGTERM or SIGINT. */
#define PEV_EBUSY      (PEV_START_ERROR + 5)
/** Closed: the stream is closed or closing (poolev/stream.h), also the close
 *  reason of a stream closed by pev_stream_close() or pev_stream_abort();
 *  the connection is closed (pev_conn_set_handler()); the connect request
 *  finished or was cancelled (pev_connect_cancel()); the daemon is stopping
 *  or stopped, or its start failed (pev_daemon_start(), pev_daemon_run(),
 *  pev_daemon_run_once(), pev_daemon_restart()). */
#define PEV_ECLOSED    (PEV_START_ERROR + 6)
/** A line longer than the stream's maximum arrived; the stream closes. */
#define PEV_ELINE      (PEV_START_ERROR + 7)
/** pev_stream_write(): the output limit would be exceeded; nothing was
 *  written, and the drain callback runs when the output has drained.
 *  pev_workers_send() and its variants: the receiving worker holds its
 *  group's queue limit of events not yet run; nothing was queued for it
 *  (poolev/workers.h). */
#define PEV_EFULL      (PEV_START_ERROR + 8)
/** A configuration file has an error (poolev/daemon.h: pev_daemon_error()
 *  names the file and line). */
#define PEV_ECONFIG    (PEV_START_ERROR + 9)
/** A TLS failure: a handshake the peer or OpenSSL refused (garbage instead
 *  of a ClientHello, a protocol version refused, no shared cipher), a TLS
 *  protocol error on an established stream, or a TLS context that could not
 *  be built (unreadable or mismatched certificate and key). The stream's or
 *  context's error text says why (pev_stream_tls_error(), pev_tls_error()). */
#define PEV_ETLS       (PEV_START_ERROR + 10)
/** TLS: the peer's certificate failed verification (untrusted, expired,
 *  wrong host name, missing where one is required); pev_stream_tls_error()
 *  gives the X.509 reason. */
#define PEV_ETLSVERIFY (PEV_START_ERROR + 11)
/** TLS: the peer ended the TCP stream without a close_notify alert, so the
 *  end of its data is not authenticated (a truncation, distinct from the
 *  clean end APR_EOF). */
#define PEV_ETRUNCATED (PEV_START_ERROR + 12)
/** A host name could not be resolved (no such name, no address of a usable
 *  family, or the resolver failed or timed out). */
#define PEV_ERESOLVE   (PEV_START_ERROR + 13)

/** True when @a s is one of poolev's own codes. */
#define PEV_STATUS_IS_POOLEV(s) \
    ((s) >= PEV_START_ERROR && (s) < PEV_START_ERROR + PEV_ERRSPACE_SIZE)

/**
 * Describe a status code, poolev's or APR's.
 *
 * Writes a NUL-terminated message of at most @a bufsize bytes into @a buf and
 * returns @a buf. poolev codes get poolev's text; every other code is passed to
 * apr_strerror(). Thread-safe; may be called from any callback.
 *
 * @param statcode the status to describe
 * @param buf      where to write (must not be NULL unless bufsize is 0)
 * @param bufsize  size of @a buf in bytes
 */
PEV_API char *pev_strerror(apr_status_t statcode, char *buf, apr_size_t bufsize);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_STATUS_H */
