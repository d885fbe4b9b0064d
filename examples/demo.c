/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * demo.c - the scripted demos' checks and failure (demo.h).
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L     /* plain POSIX: no APR, no poolev */
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

int checks;

void fail(const char *fmt, ...)
{
    va_list ap;

    demo_failed();
    printf("\nDEMO FAILED: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(1);
}

void check(int ok, const char *fmt, ...)
{
    va_list ap;
    char msg[512];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!ok)
        fail("%s", msg);
    checks++;
}

long stat_of(const char *reply, const char *key)
{
    char k[64];
    const char *at;

    snprintf(k, sizeof k, " %s=", key);
    at = strstr(reply, k);
    check(at != NULL, "no %s in \"%s\"", key, reply);
    return strtol(at + strlen(k), NULL, 10);
}
