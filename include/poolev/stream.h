/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/stream.h - pool-owned buffered streams with timed wait events.
 *
 * A stream wraps a connected apr_socket_t, a pipe's apr_file_t or a regular
 * file's (read without polling: pev_stream_create_file()), is created on a
 * loop and owned by a pool. The loop reads into the stream's input buffer
 * and flushes its output buffer; the stream calls back when data arrives,
 * when its output drains below the limit, when it has been idle too long,
 * and once when it closes. Wait events are timed callbacks attached to
 * a stream (the Cyrus "prot_addwaitevent" contract, without its bugs).
 *
 * Lifetimes (doc/streams.md has the details):
 *  - The stream record is allocated from its pool. Clearing or destroying
 *    the pool removes the stream from the loop, cancels its idle timer and
 *    wait events, frees its buffers and closes the descriptor, before any
 *    other cleanup of the pool runs. No callback runs for that: the pool's
 *    owner is the one tearing it down.
 *  - The descriptor must belong to the stream's pool or to one of its
 *    ancestors (APR closes a socket when its pool goes; the stream must go
 *    first). From a successful create on, the stream owns it and closes it.
 *  - A stream closes once: on end of input (APR_EOF), an I/O error (that
 *    error), the idle timeout (APR_TIMEUP), a line longer than the maximum
 *    (PEV_ELINE), or pev_stream_close()/pev_stream_abort() (PEV_ECLOSED).
 *    Closing removes it from the loop, cancels its idle timer and wait
 *    events, closes the descriptor and frees the output buffer; then the
 *    close callback runs, exactly once, and no callback of the stream runs
 *    after it. The record stays valid memory until the pool goes: calls on a
 *    closed stream return PEV_ECLOSED (input the peer sent before its EOF
 *    can still be taken).
 *  - Callbacks run from the loop, never from inside a poolev call: a close
 *    caused by a call (pev_stream_close(), a line too long found by
 *    pev_stream_getline()) calls the close callback at the end of the
 *    current loop iteration.
 *  - Every callback may close the stream, clear or destroy its pool or any
 *    other pool, or destroy the loop. After destroying the stream's pool it
 *    must not touch the stream or its wait events again.
 *  - If the loop goes first, its streams in pools that outlive it are closed
 *    (descriptor and buffers released, no callback); calls on them then
 *    return PEV_EDESTROYED.
 *
 * Threads: a stream belongs to its loop's thread.
 *
 * TLS: pev_stream_start_tls() (poolev/tls.h) puts a socket stream under
 * TLS; everything here then works the same.
 *
 * Writing to a pipe whose reader is gone raises SIGPIPE unless the process
 * ignores it (sockets use MSG_NOSIGNAL and get an EPIPE status instead).
 */
#ifndef POOLEV_STREAM_H
#define POOLEV_STREAM_H

#include <stdarg.h>

#include <apr_pools.h>
#include <apr_file_io.h>
#include <apr_network_io.h>
#include <apr_time.h>

#include "poolev/export.h"
#include "poolev/loop.h"
#include "poolev/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A buffered stream over a socket, a pipe or a regular file (opaque). */
typedef struct pev_stream pev_stream_t;
/** A timed event attached to a stream (opaque). */
typedef struct pev_waitevent pev_waitevent_t;

/** Default maximum line length (content, terminator excluded): 64 KiB. */
#define PEV_STREAM_MAX_LINE_DEFAULT (64 * 1024)
/** Default output limit: 1 MiB of unsent output. */
#define PEV_STREAM_OUTPUT_LIMIT_DEFAULT (1024 * 1024)

/** New input was buffered (or input ended: pev_stream_eof() is then true and
 *  the last, unterminated line can be taken). The callback takes what it
 *  wants; what it leaves stays buffered. After the end of input the stream
 *  closes once this returns, unless a write waits for room (PEV_EFULL):
 *  then it stays open, and on_drain, then this callback if lines are left,
 *  run as the output drains, until no write waits (doc/streams.md). */
typedef void pev_stream_read_fn(pev_stream_t *s, void *user_data);

/** Output that was refused with PEV_EFULL has drained to half the output
 *  limit or less: the writer may write again. */
typedef void pev_stream_drain_fn(pev_stream_t *s, void *user_data);

/** The stream closed, for @a reason (APR_EOF, an I/O error, APR_TIMEUP,
 *  PEV_ELINE or PEV_ECLOSED; under TLS also PEV_ETLS, PEV_ETLSVERIFY and
 *  PEV_ETRUNCATED: poolev/tls.h). Runs exactly once; the last callback. */
typedef void pev_stream_close_fn(pev_stream_t *s, apr_status_t reason, void *user_data);

/** No input for the idle interval. Return non-zero to keep the stream open
 *  (the idle clock restarts from now), zero to close it with APR_TIMEUP. */
typedef int pev_stream_idle_fn(pev_stream_t *s, void *user_data);

/** A stream's callbacks; any member may be NULL. */
typedef struct pev_stream_callbacks {
    pev_stream_read_fn *on_read;
    pev_stream_drain_fn *on_drain;
    pev_stream_close_fn *on_close;
    pev_stream_idle_fn *on_idle;
} pev_stream_callbacks_t;

/**
 * A wait event callback: @a ev is due. Return @a ev to keep it, armed at its
 * mark (which the callback may have moved with pev_waitevent_set_mark()); a
 * mark not moved forward fires again in the next loop iteration, never in
 * this one. Return NULL to drop it (it is removed if the callback has not
 * removed it already). The callback may add and remove wait events of any
 * stream (this one included, all of them), close the stream or destroy its
 * pool; after removing @a ev or destroying the pool it must not touch @a ev
 * again, and what it returns is then ignored.
 */
typedef pev_waitevent_t *pev_waitevent_fn(pev_stream_t *s, pev_waitevent_t *ev,
                                          void *user_data);

/* ------------------------------------------------------------------------ */
/* Streams                                                                   */

/**
 * Create a stream over a connected socket. The socket is made non-blocking
 * and polled for input at once; a TCP socket gets TCP_NODELAY
 * (pev_stream_set_nodelay()).
 *
 * @param s         out: the stream
 * @param loop      the loop that drives it
 * @param sock      a connected socket from @a pool or one of its ancestors; owned
 *                  by the stream on success (closed when the stream closes)
 * @param cb        callbacks (copied; NULL: none)
 * @param user_data passed to every callback
 * @param pool      owning pool; the stream record is allocated from it
 * @return APR_SUCCESS; APR_EINVAL for NULL arguments or a socket from an
 *         unrelated pool; PEV_EDESTROYED if the loop is gone; an APR error
 *         from the pollset, or APR_ENOMEM when the loop's first stream cannot
 *         get the loop's stream records (then the caller keeps the socket).
 */
PEV_API apr_status_t pev_stream_create_socket(pev_stream_t **s, pev_loop_t *loop,
                                              apr_socket_t *sock,
                                              const pev_stream_callbacks_t *cb,
                                              void *user_data, apr_pool_t *pool);

/**
 * pev_stream_create_socket() for a pipe end (from apr_file_pipe_create() or
 * apr_os_pipe_put()) or a regular file (apr_file_open() without
 * APR_FOPEN_BUFFERED, or apr_os_file_put()/apr_os_pipe_put() of its
 * descriptor).
 *
 * A regular file is always ready and is never polled: while input is wanted
 * (not paused, and the buffer not full of untaken lines), the loop reads one
 * chunk of it per iteration (at most 64 KiB, or the input buffer's room) and
 * does not wait in its poll meanwhile, so other streams are served between
 * chunks. Reading starts at the descriptor's current offset; the end of the
 * file is the end of input, as for a pipe (APR_EOF, once: what is appended
 * later is not read; tailing a file is not supported). A file opened for
 * reading and writing reads and writes at the descriptor's one offset, and
 * its end of input closes nothing: its output goes on until
 * pev_stream_close() (pev_stream_eof() tells that input ended). The
 * caller must not move the offset while the stream reads (doc/streams.md,
 * "Regular files").
 *
 * @return as pev_stream_create_socket(); APR_EINVAL also for a regular file
 *         with APR's own buffer (APR_FOPEN_BUFFERED). Other descriptors that
 *         cannot be polled (/dev/null) get the pollset's error.
 */
PEV_API apr_status_t pev_stream_create_file(pev_stream_t **s, pev_loop_t *loop,
                                            apr_file_t *file,
                                            const pev_stream_callbacks_t *cb,
                                            void *user_data, apr_pool_t *pool);

/** Replace the callbacks and user_data (NULL @a cb: none). Takes effect for the
 *  next callback. @return APR_SUCCESS; APR_EINVAL for NULL @a s. */
PEV_API apr_status_t pev_stream_set_callbacks(pev_stream_t *s, const pev_stream_callbacks_t *cb,
                                              void *user_data);

/**
 * Set the maximum line length (content without LF or CRLF), at least 1. The
 * input buffer never holds more than @a max + 2 bytes: a longer line closes
 * the stream with PEV_ELINE. Raw reads (pev_stream_read()) share that bound.
 * @return APR_SUCCESS; APR_EINVAL for NULL or 0, or when more than
 *         @a max + 2 bytes of input are buffered; PEV_ECLOSED;
 *         PEV_EDESTROYED.
 */
PEV_API apr_status_t pev_stream_set_max_line(pev_stream_t *s, apr_size_t max);

/**
 * Stop (@a paused non-zero) or resume reading input. While paused the loop
 * neither polls the descriptor for input nor reads it: what the peer sends
 * waits in the kernel, and its end of input is not noticed. Input already
 * buffered stays and can be taken. Output, wait events and the idle timeout
 * go on as before (no input arrives, so an idle timeout can fire). For flow
 * control (read no more from a client until its request is handled) and for
 * a socket used for output only. Takes effect at once.
 * @return APR_SUCCESS; APR_EINVAL for NULL; PEV_ECLOSED; PEV_EDESTROYED.
 * Callable from any callback.
 */
PEV_API apr_status_t pev_stream_pause_input(pev_stream_t *s, int paused);

/** Set the output limit in bytes (at least 1, at most APR_SIZE_MAX / 4):
 *  see pev_stream_write(). A limit below the output already pending refuses
 *  writes until it drains.
 *  @return APR_SUCCESS; APR_EINVAL for NULL, 0 or too large; PEV_ECLOSED;
 *  PEV_EDESTROYED. */
PEV_API apr_status_t pev_stream_set_output_limit(pev_stream_t *s, apr_size_t limit);

/**
 * Turn Nagle's algorithm off (@a on non-zero: TCP_NODELAY) or back on, for a
 * stream over a TCP socket. Streams over TCP sockets are created with
 * TCP_NODELAY set: a stream already gathers each iteration's writes into one
 * send, so Nagle would only hold a reply back until the peer's delayed ACK.
 * @return APR_SUCCESS; APR_EINVAL for NULL; APR_ENOTIMPL when the stream is
 *         not over a TCP socket (a pipe, an AF_UNIX socket); PEV_ECLOSED;
 *         PEV_EDESTROYED; the socket's error.
 * Callable from a callback.
 */
PEV_API apr_status_t pev_stream_set_nodelay(pev_stream_t *s, int on);

/**
 * Close the stream when no input arrives for @a interval microseconds
 * (0: never). The idle clock restarts now; the new deadline applies at once,
 * also when called from a callback of the same iteration as the old one.
 * With an on_idle callback, the callback decides (see pev_stream_idle_fn).
 * @return APR_SUCCESS; APR_EINVAL for NULL or a negative interval;
 *         PEV_ECLOSED; PEV_EDESTROYED.
 */
PEV_API apr_status_t pev_stream_set_idle_timeout(pev_stream_t *s, apr_interval_time_t interval);

/** Restart the idle clock as if input had arrived now. O(1); takes effect at
 *  once. @return APR_SUCCESS; APR_EINVAL; PEV_ECLOSED. */
PEV_API apr_status_t pev_stream_touch(pev_stream_t *s);

/* Input ------------------------------------------------------------------- */

/**
 * Take the next complete line. On success *@a line points at its first byte
 * inside the input buffer, the terminator (LF or CRLF) is replaced by NUL,
 * and *@a len is the length without it. The line stays valid until the next
 * input call on the stream, until the callback returns to the loop (any
 * pev_loop_run_once(), pev_stream_getline_wait() on any stream included), or
 * until the stream's pool goes. Settings (pev_stream_set_max_line()) and
 * closing do not move it.
 *
 * @return APR_SUCCESS; APR_EAGAIN when no complete line is buffered yet;
 *         APR_EOF when input ended and nothing is left (after EOF, a last
 *         unterminated line is returned as a line); PEV_ELINE when the line
 *         exceeds the maximum (the stream closes); PEV_ECLOSED when the
 *         stream is closed and nothing is left; APR_EINVAL for NULL.
 */
PEV_API apr_status_t pev_stream_getline(pev_stream_t *s, char **line, apr_size_t *len);

/**
 * Copy up to *@a len buffered input bytes into @a buf and consume them;
 * *@a len is set to the number copied.
 * @return APR_SUCCESS (at least one byte); APR_EAGAIN (nothing buffered);
 *         APR_EOF (input ended, nothing left); PEV_ECLOSED; APR_EINVAL.
 */
PEV_API apr_status_t pev_stream_read(pev_stream_t *s, void *buf, apr_size_t *len);

/** Bytes of input buffered and not yet taken (0 for NULL). */
PEV_API apr_size_t pev_stream_input_pending(const pev_stream_t *s);

/** Non-zero once the peer has ended its output (read returned 0). */
PEV_API int pev_stream_eof(const pev_stream_t *s);

/**
 * Wait for the next line while the loop keeps running every timer, wait
 * event, signal handler and other stream: for sequential code outside the
 * loop's callbacks. The stream's on_read callback is not called while it
 * waits. @a timeout in microseconds (negative: no limit).
 *
 * @return as pev_stream_getline(), plus APR_TIMEUP when the timeout passed;
 *         the close reason if the stream closed (its close callback runs
 *         from the loop, so it may not have run yet when the close came
 *         from this call or happened before it); PEV_EDESTROYED if the stream's pool or the loop
 *         was destroyed while waiting (do not touch @a s); PEV_EBUSY when
 *         called from one of the loop's callbacks (the loop does not nest).
 */
PEV_API apr_status_t pev_stream_getline_wait(pev_stream_t *s, char **line, apr_size_t *len,
                                             apr_interval_time_t timeout);

/* Output ------------------------------------------------------------------ */

/**
 * Append @a len bytes to the output buffer. The loop sends them at the end of
 * the current iteration (or as soon as the descriptor is writable). All or
 * nothing: if the unsent output would exceed the output limit, nothing is
 * appended, PEV_EFULL is returned and the drain callback runs once the
 * unsent output falls to half the limit.
 *
 * @return APR_SUCCESS; PEV_EFULL; APR_ENOSPC when @a len alone exceeds the
 *         output limit; APR_ENOMEM; PEV_ECLOSED (also after
 *         pev_stream_close()); APR_EINVAL for NULL.
 */
PEV_API apr_status_t pev_stream_write(pev_stream_t *s, const void *data, apr_size_t len);

/** pev_stream_write() of formatted text (same all-or-nothing rule). */
PEV_API apr_status_t pev_stream_printf(pev_stream_t *s, const char *fmt, ...)
    PEV_PRINTF(2, 3);

/** pev_stream_printf() with a va_list. */
PEV_API apr_status_t pev_stream_vprintf(pev_stream_t *s, const char *fmt, va_list ap)
    PEV_PRINTF(2, 0);

/**
 * Try to send the buffered output now, without waiting. When a write was
 * refused with PEV_EFULL and the flush leaves half the output limit or less
 * unsent, on_drain follows from the loop (never inside the flush), as after
 * a drain the loop saw. Callable from any callback of the stream's loop.
 * @return APR_SUCCESS when nothing is left; APR_EAGAIN when some is left
 *         (the loop sends it when the descriptor is writable); the I/O
 *         error (the stream closes); PEV_ECLOSED; APR_EINVAL.
 */
PEV_API apr_status_t pev_stream_flush(pev_stream_t *s);

/** Bytes of output not yet sent (0 for NULL). */
PEV_API apr_size_t pev_stream_output_pending(const pev_stream_t *s);

/* Closing ----------------------------------------------------------------- */

/**
 * Close after the buffered output is sent: input stops at once, writes are
 * refused, and once the output is sent (or fails, or the idle timeout
 * passes) the descriptor is closed and the close callback runs with
 * PEV_ECLOSED (or the error), from the loop.
 * @return APR_SUCCESS; PEV_ECLOSED if already closing or closed; APR_EINVAL.
 */
PEV_API apr_status_t pev_stream_close(pev_stream_t *s);

/** Close now: unsent output is discarded, the descriptor is closed at once;
 *  the close callback runs with PEV_ECLOSED from the loop. Also finishes a
 *  pending pev_stream_close(). @return as pev_stream_close(), except that
 *  aborting a closing stream succeeds. */
PEV_API apr_status_t pev_stream_abort(pev_stream_t *s);

/** Non-zero while the stream is open (not closing or closed). */
PEV_API int pev_stream_is_open(const pev_stream_t *s);

/** The close reason, or APR_SUCCESS while the stream has not closed. */
PEV_API apr_status_t pev_stream_close_reason(const pev_stream_t *s);

/** The loop, the owning pool, and the socket (NULL for a pipe) or file (NULL
 *  for a socket). The descriptor objects must not be closed by the caller. */
PEV_API pev_loop_t *pev_stream_loop(const pev_stream_t *s);
PEV_API apr_pool_t *pev_stream_pool(const pev_stream_t *s);
PEV_API apr_socket_t *pev_stream_socket(const pev_stream_t *s);
PEV_API apr_file_t *pev_stream_file(const pev_stream_t *s);

/* ------------------------------------------------------------------------ */
/* Wait events                                                               */

/**
 * Add a wait event: @a fn runs from the loop when the loop's time reaches
 * @a mark (pev_loop_now() clock, microseconds), whether or not anybody reads
 * the stream. Due events fire in mark order, in the order they were armed on
 * equal marks. The event's memory comes from the stream's pool (reused after
 * removal) and goes with it; O(log n).
 *
 * @return APR_SUCCESS; APR_EINVAL for a NULL stream or callback (no event is
 *         created or returned); PEV_ECLOSED; PEV_EDESTROYED; APR_ENOMEM.
 */
PEV_API apr_status_t pev_waitevent_add(pev_waitevent_t **ev, pev_stream_t *s, apr_time_t mark,
                                       pev_waitevent_fn *fn, void *user_data);

/**
 * Remove @a ev from @a s; O(log n). The handle is dead afterwards (a later
 * add may reuse its memory).
 * @return APR_SUCCESS; PEV_ENOTARMED when @a ev is not a live wait event of
 *         @a s (already removed, or another stream's); APR_EINVAL for NULL.
 */
PEV_API apr_status_t pev_waitevent_remove(pev_stream_t *s, pev_waitevent_t *ev);

/**
 * Move @a ev's mark ("touch": push an idle deadline). From outside the
 * event's own callback it takes effect at once, O(log n): an event due in
 * the current iteration and not yet fired is moved too. Inside its own
 * callback it sets the mark the event is kept at if the callback returns it.
 * @return APR_SUCCESS; PEV_ENOTARMED when @a ev is not live; APR_EINVAL.
 */
PEV_API apr_status_t pev_waitevent_set_mark(pev_waitevent_t *ev, apr_time_t mark);

/** The event's mark (0 for NULL). */
PEV_API apr_time_t pev_waitevent_mark(const pev_waitevent_t *ev);

/** Live wait events of @a s (0 for NULL). */
PEV_API apr_size_t pev_waitevent_count(const pev_stream_t *s);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_STREAM_H */
