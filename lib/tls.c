/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * tls.c - TLS contexts and the TLS layer under streams (OpenSSL 3).
 */
#include "config.h"

#include "poolev/tls.h"
#include "tls_int.h"

int pev_tls_available(void)
{
    return 0;
}
