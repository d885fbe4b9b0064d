/*
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

static inline uint64_t pev_hash_bytes(const void *data, size_t len)
{
    const unsigned char *s = data;
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t) len;
    uint64_t w;

    while (len >= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * UINT64_C(0xbf58476d1ce4e5b9);
        h ^= h >> 29;
        s += 8;
        len -= 8;
    }
    w = 0;
    memcpy(&w, s, len);
    h = (h ^ w) * UINT64_C(0x94d049bb133111eb);
    return pev_hash_mix(h);
}

/* Hash of a pointer-sized value (data or function pointer bytes). */
static inline uint64_t pev_hash_word(uint64_t h, const void *p, size_t n)
{
    uint64_t w = 0;
    memcpy(&w, p, n < 8 ? n : 8);
    return pev_hash_mix(h ^ w) + UINT64_C(0x9e3779b97f4a7c15);
}

#endif /* POOLEV_HASH_H */
