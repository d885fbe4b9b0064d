/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev.h - umbrella header: pool-bound event bus and runtime for APR daemons.
 *
 * Include this, link with `pkg-config --cflags --libs poolev`. Call
 * apr_initialize() (or apr_app_initialize()) before using any poolev function.
 *
 * Components:
 *   poolev/status.h  status codes and pev_strerror()
 *   poolev/bus.h     the named-event bus with modules and pool-bound listeners
 *   poolev/loop.h    the event loop: clock, timers, deferred calls, wakeups
 *   poolev/signal.h  signal handlers that run in loop context
 *   poolev/stream.h  pool-owned buffered streams with timed wait events
 *   poolev/watch.h   watchers of descriptors the caller owns (library sockets)
 *   poolev/connect.h outbound connections: non-blocking resolution, a stream
 *   poolev/workers.h worker threads, a loop and a bus each; events across them
 *   poolev/bridge.h  the Redis bridge: bus events between processes
 *   poolev/daemon.h  the daemon lifecycle: modules, configuration generations
 *   poolev/export.h  PEV_API (what libpoolev exports) and PEV_PRINTF
 */
#ifndef POOLEV_H
#define POOLEV_H

#include "poolev/status.h"
#include "poolev/bus.h"
#include "poolev/loop.h"
#include "poolev/signal.h"
#include "poolev/stream.h"
#include "poolev/watch.h"
#include "poolev/tls.h"
#include "poolev/connect.h"
#include "poolev/workers.h"
#include "poolev/bridge.h"
#include "poolev/daemon.h"

/** poolev's version, as numbers and as a string. */
#define POOLEV_MAJOR 0
#define POOLEV_MINOR 2
#define POOLEV_PATCH 0
#define POOLEV_VERSION_STRING "0.2.0"

#endif /* POOLEV_H */
