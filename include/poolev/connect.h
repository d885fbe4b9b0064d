/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/connect.h - outbound TCP connections: resolve a host name without
 * blocking the loop (c-ares), try each of its addresses in turn with a
 * non-blocking connect, and hand back a connected stream (poolev/stream.h),
 * or a failure with a message that names the host.
 *
 * Lifetimes (doc/streams.md, "Outbound connections"):
 *  - A request is owned by the pool given to pev_connect(); its record is
 *    allocated from that pool. Clearing or destroying the pool cancels the
 *    request at any stage (resolving, connecting, also from inside any
 *    callback, the request's own included): the name lookup is abandoned,
 *    the socket being connected is closed, and the callback never runs.
 *  - The stream a successful request delivers is created in the request's
 *    pool, over a socket from that pool: it goes with the pool like any
 *    stream. Use one pool per connection.
 *  - When the loop is destroyed first, a pending request is cancelled the
 *    same way (no callback, socket closed); calls on it then return
 *    PEV_EDESTROYED. Its memory goes with its pool.
 *  - A pending request keeps pev_loop_run() going: the watchers and timers
 *    it resolves and connects with count as the loop's (pev_loop_stats()).
 *
 * The callback runs exactly once per request that is neither cancelled nor
 * destroyed, always from the loop, never from inside pev_connect() (also for
 * a failure known at once, or a loopback connect that completes at once).
 *
 * Name resolution: a host that is a numeric IPv4 or IPv6 address ("[::1]"
 * with brackets too) is never sent to a resolver. Other names are resolved
 * by c-ares (one channel per request, driven by the loop's watchers and
 * timers: the loop never blocks), from /etc/hosts and the DNS servers of
 * /etc/resolv.conf, or those set with pev_connect_set_dns_servers(). A build
 * configured --without-cares resolves names with getaddrinfo(3) instead, on
 * a thread of its own per lookup that hands the result to the loop with
 * pev_loop_post(): the loop does not block either, but the system's
 * resolver decides (nsswitch.conf), pev_connect_set_dns_servers() is not
 * available, and a lookup abandoned (the request cancelled or its pool or
 * loop destroyed) lets its thread run to its end, dropping the result.
 *
 * Threads: a request belongs to its loop's thread.
 */
#ifndef POOLEV_CONNECT_H
#define POOLEV_CONNECT_H

#include <apr_network_io.h>
#include <apr_pools.h>
#include <apr_time.h>

#include "poolev/export.h"
#include "poolev/loop.h"
#include "poolev/status.h"
#include "poolev/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An outbound connection request (opaque). */
typedef struct pev_connect pev_connect_t;

/**
 * The request's result.
 *
 * On success @a status is APR_SUCCESS and @a stream is a new open stream over
 * the connected socket, in the request's pool, with no callbacks yet: set
 * them here with pev_stream_set_callbacks() (no stream callback can run
 * before this callback returns). On failure @a stream is NULL and @a status
 * says why, pev_connect_error() in words (naming the host and port):
 *  - APR_ECONNREFUSED: the last address tried refused;
 *  - APR_TIMEUP: the request's timeout passed (resolving or connecting);
 *  - PEV_ERESOLVE: the name does not resolve (no such name, no address, or
 *    the resolver failed or gave up);
 *  - APR_EHOSTUNREACH, APR_ENETUNREACH, or another error of connect(2) or
 *    socket(2): the last address tried failed so;
 *  - an error of pev_stream_create_socket() (the socket is closed).
 *
 * The callback may do anything a stream callback may: destroy or clear the
 * request's pool (the stream with it), any other pool, or the loop.
 */
typedef void pev_connect_fn(pev_connect_t *req, apr_status_t status, pev_stream_t *stream,
                            void *user_data);

/**
 * Connect to @a host, port @a port: resolve it (unless it is a numeric
 * address), then try its addresses in the resolver's order (for c-ares,
 * RFC 6724's: usable IPv6 before IPv4 where the host has IPv6), one at a
 * time, until one accepts. An address that refuses or fails moves on to the
 * next; one that does not answer holds the request until the timeout.
 *
 * @param req       out: the request (may be NULL; NULL on failure)
 * @param loop      the loop that drives the request and the stream
 * @param host      a host name, or a numeric IPv4 or IPv6 address; copied
 * @param port      the TCP port, 1 to 65535
 * @param timeout   the whole request's limit in microseconds, resolution
 *                  included; 0 or negative: none of its own (the kernel's
 *                  connect timeout and the resolver's still end it)
 * @param fn        the callback
 * @param user_data passed to @a fn
 * @param pool      owning pool: the request, its socket and the resulting
 *                  stream are allocated from it
 * @return APR_SUCCESS (the callback will tell the outcome); APR_EINVAL for
 *         NULL or empty arguments or port 0; APR_ENOMEM.
 * Callable from any callback of the loop.
 */
PEV_API apr_status_t pev_connect(pev_connect_t **req, pev_loop_t *loop, const char *host,
                                 apr_port_t port, apr_interval_time_t timeout,
                                 pev_connect_fn *fn, void *user_data, apr_pool_t *pool);

/**
 * pev_connect() to an address already resolved: @a sa and the addresses
 * chained from it through apr_sockaddr_t.next, tried in that order, each at
 * its own port. The addresses are copied (into @a pool). No resolver is
 * involved; error messages name the first address.
 * @return as pev_connect(); APR_EINVAL also for a NULL @a sa or an address
 *         in the chain that is neither IPv4 nor IPv6.
 */
PEV_API apr_status_t pev_connect_addr(pev_connect_t **req, pev_loop_t *loop,
                                      const apr_sockaddr_t *sa, apr_interval_time_t timeout,
                                      pev_connect_fn *fn, void *user_data, apr_pool_t *pool);

/**
 * Cancel a pending request: the lookup is abandoned, the socket being
 * connected is closed, and the callback never runs. The record stays valid
 * memory until its pool goes. Callable from any callback of the loop.
 * @return APR_SUCCESS; APR_EINVAL for NULL; PEV_ECLOSED when the request
 *         finished (its callback ran or is running) or was cancelled
 *         already; PEV_EDESTROYED when the loop is gone.
 */
PEV_API apr_status_t pev_connect_cancel(pev_connect_t *req);

/**
 * What went wrong, in words: the failing stage, the host and port, the
 * address tried and the reason ("connect to db.example:5432: Connection
 * refused (address 192.0.2.7)"). NULL while the request is pending, after
 * a success, after a cancel, and for NULL. The text lives in the request's
 * pool and stays valid until the pool goes.
 */
PEV_API const char *pev_connect_error(const pev_connect_t *req);

/** Non-zero while the request is pending (resolving or connecting; not yet
 *  finished, cancelled or destroyed with its loop). 0 for NULL. */
PEV_API int pev_connect_pending(const pev_connect_t *req);

/**
 * Use these DNS servers for the names that @a loop's requests resolve from
 * now on, instead of the system's: a comma-separated list in c-ares's
 * form ("127.0.0.1:5353,[::1]:53"; the port defaults to 53); NULL goes back
 * to the system's (/etc/resolv.conf). For tests and for daemons that name
 * their own resolvers. Search domains, ndots and /etc/hosts still apply.
 * The setting lives in the loop's pool, which also holds the copy of
 * @a servers each call makes. Requests already resolving keep their
 * servers.
 * @return APR_SUCCESS; APR_EINVAL for a NULL loop or a list c-ares does not
 *         parse; APR_ENOMEM; APR_ENOTIMPL without c-ares.
 * Callable from any callback of the loop.
 */
PEV_API apr_status_t pev_connect_set_dns_servers(pev_loop_t *loop, const char *servers);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_CONNECT_H */
