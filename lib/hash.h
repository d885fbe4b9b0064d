/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * hash.h - internal: fast non-cryptographic hashing for poolev's tables.
 *
 * Word-at-a-time over the bytes (never reads past the end), finished with a
 * full avalanche so that the low bits are usable as a power-of-two index.
 * Not for untrusted-key DoS resistance: keys here are event names chosen by
 * the program, and the tables use linear probing with a 50% load bound.
 */
#ifndef POOLEV_HASH_H
#define POOLEV_HASH_H

#include <stdint.h>
#include <string.h>

static inline uint64_t pev_hash_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

static inline uint64_t pev_load64(const unsigned char *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    return w;
}

static inline uint32_t pev_load32(const unsigned char *p)
{
    uint32_t w;

    memcpy(&w, p, 4);
    return w;
}

/* The last 1..8 bytes of s[0..len) as a word, with whole-word loads that may
 * overlap bytes already consumed (never bytes outside the string). Building
 * the tail byte by byte in memory and reloading it as a word stalls store
 * forwarding: that was most of the cost of a lookup. */
static inline uint64_t pev_tail(const unsigned char *s, size_t len, size_t total)
{
    if (total >= 8)
        return pev_load64(s + len - 8);
    if (len >= 4)
        return (uint64_t) pev_load32(s) << 32 | pev_load32(s + len - 4);
    if (len)
        return (uint64_t) s[0] << 16 | (uint64_t) s[len >> 1] << 8 | s[len - 1];
    return 0;
}

static inline uint64_t pev_hash_bytes(const void *data, size_t len)
{
    const unsigned char *s = data;
    size_t total = len;
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t) len;

    while (len > 8) {
        h = (h ^ pev_load64(s)) * UINT64_C(0xbf58476d1ce4e5b9);
        h ^= h >> 29;
        s += 8;
        len -= 8;
    }
    h = (h ^ pev_tail(s, len, total)) * UINT64_C(0x94d049bb133111eb);
    return pev_hash_mix(h);
}

/* a[0..len) == b[0..len), word at a time (both strings have len bytes). */
static inline int pev_mem_eq(const void *a, const void *b, size_t len)
{
    const unsigned char *x = a, *y = b;
    size_t total = len;

    while (len > 8) {
        if (pev_load64(x) != pev_load64(y))
            return 0;
        x += 8;
        y += 8;
        len -= 8;
    }
    return pev_tail(x, len, total) == pev_tail(y, len, total);
}

/* Hash of a pointer-sized value (data or function pointer bytes). */
static inline uint64_t pev_hash_word(uint64_t h, const void *p, size_t n)
{
    uint64_t w = 0;
    memcpy(&w, p, n < 8 ? n : 8);
    return pev_hash_mix(h ^ w) + UINT64_C(0x9e3779b97f4a7c15);
}

#endif /* POOLEV_HASH_H */
