/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * demo.h - what the scripted demos (pubsub_demo.c, cluster_demo.c) share:
 * their checks, the failure that ends a demo, and reading STATS replies.
 * Plain POSIX, single-threaded.
 */
#ifndef POOLEV_DEMO_H
#define POOLEV_DEMO_H

/* The checks that passed so far. */
extern int checks;

/* Defined by each demo, called by fail() before its message: shows what the
 * servers logged, stops them and removes their files. */
void demo_failed(void);

/* demo_failed(), "DEMO FAILED: " and the message on stdout, exit status 1. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* fail() with the message unless @a ok; else one more check passed. */
void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The value of @a key in a STATS reply @a reply ("... KEY=VALUE ..."); fails
 * the demo when the reply has none. */
long stat_of(const char *reply, const char *key);

#endif
