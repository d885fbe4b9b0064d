/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * poolev/compat/prot.h - a subset of Cyrus IMAP's prot layer on poolev:
 * buffered line I/O over a descriptor, read timeouts, wait events and
 * prot_select(), enough to port a line-protocol Cyrus service.
 *
 * Code written against Cyrus's prot.h for these functions compiles against
 * this header and behaves as Cyrus documents, minus Cyrus's wait-event bugs.
 * Link with `pkg-config --cflags --libs poolev-compat`. doc/porting-cyrus.md
 * says what compiles unchanged, what behaves differently and why.
 *
 * How it runs. Every stream sits on one process-wide poolev loop (the compat
 * loop), over a duplicate of the caller's descriptor made non-blocking. A
 * blocking read that has to wait runs that loop until input, end of input,
 * an error or the read timeout: every wait event of every stream runs while
 * it waits, whether or not the stream has a read timeout. prot_select() runs
 * the loop the same way. Writes never run the loop: a blocking flush waits
 * for its own descriptor only. Inside a wait-event callback (the loop is
 * running and does not nest), a blocking read or prot_select() waits for its
 * descriptors only, and no other event runs until it returns.
 *
 * Lifetimes. A stream is owned by a pool: a subpool of the compat default
 * pool (prot_new()) or of the pool given to prot_new_pool(). prot_free(), or
 * clearing or destroying that pool, frees the stream, its buffers and its
 * pending wait events, and closes the duplicate descriptor; the caller's own
 * descriptor is never closed (close it yourself, as with Cyrus). Do not use a
 * stream afterwards, and delete it from its protgroups and from
 * prot_setflushonread() first.
 *
 * A program that never called APR may use this layer: the first prot_new()
 * initializes APR and creates the compat default pool and the loop. At exit
 * that pool is destroyed (with the loop and the streams prot_new() made) and
 * APR's initialization is given back: an exit handler registered before the
 * first prot_new() must not use those streams.
 *
 * Threads: none. The compat loop and every stream belong to one thread. A
 * process that forks after using streams must use them in one of the two
 * processes only (they share the loop's poll descriptor).
 */
#ifndef POOLEV_COMPAT_PROT_H
#define POOLEV_COMPAT_PROT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>              /* EOF */
#include <sys/time.h>           /* struct timeval */
#include <time.h>

#include <apr_pools.h>

#include "poolev/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Size of a stream's read buffer, and the output that makes a write flush. */
#define PROT_BUFSIZE 4096
/** "No extra descriptor" for prot_select(). */
#define PROT_NO_FD (-1)
/** prot_error() at end of input. */
#define PROT_EOF_STRING "end of file reached"
/** prot_error() after the read timeout. */
#define PROT_IDLE_STRING "idle for too long"
/** protgroup_new(0) makes room for this many streams. */
#define PROTGROUP_SIZE_DEFAULT 32

/** A buffered stream over a descriptor (opaque). */
struct protstream;
/** A set of read streams for prot_select() (opaque). */
struct protgroup;
struct prot_waitevent;

/**
 * A wait event callback: @a ev is due. Return @a ev to keep it, at the mark
 * the callback leaves in ev->mark, or NULL after removing it with
 * prot_removewaitevent() (an event returned NULL is removed in any case).
 * An event kept with a mark that has come already fires again at the next
 * whole second, never in a busy loop.
 *
 * The callback may add and remove any wait event (the next one due
 * included), read and write any stream (waiting for that stream's
 * descriptor only), reset a read timeout (the running wait sees it at once)
 * and free any stream, its own included; after freeing its own stream it
 * must not touch @a s or @a ev again, and what it returns is ignored.
 */
typedef struct prot_waitevent *prot_waiteventcallback_t(struct protstream *s,
                                                        struct prot_waitevent *ev,
                                                        void *rock);

/**
 * A wait event, as in Cyrus: the fields are public. Write `mark` from
 * anywhere to move the event ("touch" an idle deadline); a mark written
 * outside the event's own callback is honoured at the next wait, earlier or
 * later. The record is allocated by prot_addwaitevent() and owned by its
 * stream; never allocate or copy one yourself.
 */
struct prot_waitevent {
    time_t mark;                    /**< when to run: wall-clock seconds, as time(NULL) */
    prot_waiteventcallback_t *proc; /**< the callback */
    void *rock;                     /**< passed to proc */
};

/* ------------------------------------------------------------------------ */
/* Streams                                                                   */

/**
 * A stream over @a fd, for reading (@a write zero) or writing, owned by a
 * new subpool of the compat default pool. The stream works on a duplicate of
 * @a fd (so @a fd stays the caller's, to close after prot_free()); the open
 * file is made non-blocking, which @a fd shares. Sockets, pipes and
 * terminals can be used; regular files cannot (they cannot be polled).
 * A read stream and a write stream over the same socket are independent:
 * reading end of input does not stop the writing, as in Cyrus.
 *
 * @return the stream; NULL with errno EBADF (bad descriptor), EPERM (a
 *         descriptor that cannot be polled), ENOMEM, or another error of
 *         APR's initialization or of dup(2).
 */
PEV_COMPAT_API struct protstream *prot_new(int fd, int write);

/** Extension: prot_new() with the stream owned by a new subpool of @a pool
 *  (NULL: the compat default pool). Clearing or destroying @a pool frees the
 *  stream and its wait events, as prot_free() does. */
PEV_COMPAT_API struct protstream *prot_new_pool(int fd, int write, apr_pool_t *pool);

/**
 * Free @a s: its buffers, its pending wait events and its duplicate
 * descriptor. Unsent output is discarded (flush first, as with Cyrus). The
 * caller's descriptor stays open.
 * @return 0 (also for NULL).
 * Callable from any wait-event callback, the stream's own included.
 */
PEV_COMPAT_API int prot_free(struct protstream *s);

/**
 * Read timeout of a read stream, in seconds (0: none). A blocking read that
 * gets no input until time(NULL) reaches the timeout mark (now + @a timeout,
 * moved by every read that gets input and by prot_resettimeout()) returns
 * EOF, and prot_error() says PROT_IDLE_STRING.
 * @return 0; -1 with errno EINVAL for NULL, a write stream or a negative
 *         timeout.
 */
PEV_COMPAT_API int prot_settimeout(struct protstream *s, int timeout);

/** Restart the read timeout from now. Inside a wait-event callback it
 *  extends the wait that is running. @return 0; -1 with errno EINVAL for
 *  NULL or a write stream. */
PEV_COMPAT_API int prot_resettimeout(struct protstream *s);

/** Flush the write stream @a flushs (NULL: none) before a read of @a s has to
 *  wait. @return 0; -1 with errno EINVAL for NULL @a s, a write stream @a s
 *  or a read stream @a flushs. */
PEV_COMPAT_API int prot_setflushonread(struct protstream *s, struct protstream *flushs);

/** Make reads wait for input (the default). Functions here, macros in
 *  Cyrus. @return 0; -1 with errno EINVAL for NULL. */
PEV_COMPAT_API int prot_BLOCK(struct protstream *s);

/** Make reads return EOF with errno EAGAIN when no input is there (due
 *  wait events still run once), and make the flush a full write buffer
 *  triggers send what the descriptor takes without waiting. prot_flush()
 *  always waits. @return 0; -1 with errno EINVAL for NULL. */
PEV_COMPAT_API int prot_NONBLOCK(struct protstream *s);

/**
 * The stream's error, if any: the I/O error's text, PROT_IDLE_STRING after
 * the read timeout, PROT_EOF_STRING at end of input; NULL when there is
 * none; a fixed message for a NULL stream. The text is owned by the stream.
 */
PEV_COMPAT_API const char *prot_error(struct protstream *s);

/* ------------------------------------------------------------------------ */
/* Wait events                                                               */

/**
 * Add a wait event: @a proc runs when time(NULL) reaches @a mark, from any
 * wait of the compat loop (a blocking read or prot_select() on any stream).
 * Events due at once run in mark order.
 *
 * @return the event (owned by @a s; see struct prot_waitevent); NULL with
 *         errno EINVAL for a NULL stream or a NULL @a proc (Cyrus returns
 *         another event there), ENOMEM. An event added to a stream whose
 *         input has ended never runs, as in Cyrus.
 */
PEV_COMPAT_API struct prot_waitevent *prot_addwaitevent(struct protstream *s, time_t mark,
                                                        prot_waiteventcallback_t *proc,
                                                        void *rock);

/**
 * Remove @a event from @a s and free it. An event that is not a current
 * event of @a s is ignored. Safe for any event from any callback, the
 * running one and the next one due included.
 */
PEV_COMPAT_API void prot_removewaitevent(struct protstream *s, struct prot_waitevent *event);

/* ------------------------------------------------------------------------ */
/* Input                                                                     */

/**
 * The next byte of a read stream, waiting for input as the stream's mode
 * says (prot_BLOCK, prot_NONBLOCK, prot_settimeout).
 * @return the byte (0-255); EOF at end of input, on an error (prot_error()
 *         says which), after the read timeout, or with errno EAGAIN when a
 *         non-blocking stream has no input.
 */
PEV_COMPAT_API int prot_getc(struct protstream *s);

/**
 * Push back @a c, the last byte read from the current buffer.
 * @return @a c; EOF for EOF, or with errno EINVAL when nothing can be
 *         pushed back or @a c is not the byte read there (Cyrus aborts).
 */
PEV_COMPAT_API int prot_ungetc(int c, struct protstream *s);

/**
 * Read a line: bytes up to and including LF, at most @a size - 1 of them,
 * then NUL.
 * @return @a buf; NULL when nothing was read (end of input, error, timeout,
 *         no input on a non-blocking stream) or @a size is below 2.
 */
PEV_COMPAT_API char *prot_fgets(char *buf, unsigned size, struct protstream *s);

/**
 * Read up to @a size bytes: what is buffered, or, when nothing is, what one
 * wait brings.
 * @return the number read; 0 at end of input, on an error, timeout, or
 *         without input on a non-blocking stream (errno EAGAIN).
 */
PEV_COMPAT_API int prot_read(struct protstream *s, char *buf, unsigned size);

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

/**
 * Append @a len bytes to a write stream's output. When PROT_BUFSIZE bytes or
 * more are pending they are flushed (on a non-blocking stream: what the
 * descriptor takes now; the rest goes out from later waits or flushes).
 * Pending output is bounded: a write that would take it beyond 1 MiB waits
 * for room, also on a non-blocking stream.
 * @return 0; EOF on an error (prot_error() says which; later writes fail
 *         too) or with errno EBADF for a read stream, EINVAL for NULL.
 */
PEV_COMPAT_API int prot_write(struct protstream *s, const char *buf, unsigned len);

/** prot_write() of one byte. */
PEV_COMPAT_API int prot_putc(int c, struct protstream *s);

/** prot_write() of a NUL-terminated string. */
PEV_COMPAT_API int prot_puts(struct protstream *s, const char *str);

/** prot_write() of formatted text (all of printf's conversions). */
PEV_COMPAT_API int prot_printf(struct protstream *s, const char *fmt, ...)
    PEV_PRINTF(2, 3);

/** prot_printf() with a va_list. */
PEV_COMPAT_API int prot_vprintf(struct protstream *s, const char *fmt, va_list ap)
    PEV_PRINTF(2, 0);

/**
 * Write stream: send every pending byte, waiting for the descriptor as long
 * as it takes (no wait event runs meanwhile). Read stream: discard the
 * input that is buffered or already arrived, as Cyrus does.
 * @return 0; EOF on an error (prot_error() says which), EINVAL for NULL.
 */
PEV_COMPAT_API int prot_flush(struct protstream *s);

/* ------------------------------------------------------------------------ */
/* Waiting for several streams                                               */

/**
 * Wait until a read stream of @a readstreams can be read without waiting
 * (input buffered or arrived, end of input, an error, or its read timeout
 * passed: the read then returns EOF at once), until @a extra_read_fd
 * (PROT_NO_FD: none) is readable, or until @a timeout (NULL: no limit; not
 * modified). Wait events of every stream run while it waits; a stream is
 * never reported for an event alone. Write streams and NULL entries in the
 * group are skipped; a stream freed by an event during the wait is not
 * reported. A zero timeout polls once; a timeout beyond about 35,000 years
 * is taken as that. A signal does not end the wait (EINTR is resumed).
 *
 * @param out             set to a new group of the ready streams (free it
 *                        with protgroup_free()), or NULL when none is
 * @param extra_read_flag set to 1 when @a extra_read_fd is readable, else 0
 *                        (required with an extra descriptor)
 * @return the number of ready streams plus 1 for a readable extra
 *         descriptor; 0 when the timeout passed; -1 with errno EINVAL (no
 *         @a out, nothing to wait for: no read stream, no extra descriptor
 *         and no timeout, also once events freed the group's last stream;
 *         no @a extra_read_flag for an extra descriptor, a negative
 *         timeout), ENOMEM, or a poll error.
 */
PEV_COMPAT_API int prot_select(struct protgroup *readstreams, int extra_read_fd,
                               struct protgroup **out, int *extra_read_flag,
                               struct timeval *timeout);

/** A new, empty group with room for @a size streams (0: the default); it
 *  grows as needed. NULL with errno ENOMEM. Owned by the caller (malloc). */
PEV_COMPAT_API struct protgroup *protgroup_new(size_t size);

/** A new group holding the streams of @a src. NULL with errno EINVAL for a
 *  NULL @a src, ENOMEM. */
PEV_COMPAT_API struct protgroup *protgroup_copy(struct protgroup *src);

/** Empty @a group, keeping its memory. */
PEV_COMPAT_API void protgroup_reset(struct protgroup *group);

/** Free @a group (not its streams). NULL is ignored. */
PEV_COMPAT_API void protgroup_free(struct protgroup *group);

/** Add @a item unless it is in @a group already (errno ENOMEM when the
 *  group cannot grow: not added). NULL arguments are ignored. */
PEV_COMPAT_API void protgroup_insert(struct protgroup *group, struct protstream *item);

/** Remove @a item; later elements move down one place. An item that is not
 *  in @a group is ignored. */
PEV_COMPAT_API void protgroup_delete(struct protgroup *group, struct protstream *item);

/** The element at @a element (0-based), or NULL past the end. */
PEV_COMPAT_API struct protstream *protgroup_getelement(struct protgroup *group, size_t element);

/** The number of streams in @a group (0 for NULL). */
PEV_COMPAT_API size_t protgroup_size(struct protgroup *group);

#ifdef __cplusplus
}
#endif

#endif /* POOLEV_COMPAT_PROT_H */
