/* core/hll.c - HyperLogLog sketches and weir_hash64 (see hll.h).
 *
 * Owns nothing: every function works on the caller's register array.
 * Invariant: a register holds the largest "rank" (position of the first
 * 1-bit in the hash bits below the index bits, counting from 1) seen for
 * its index, at most 64 - p + 1. */
#include "core/hll.h"

#include <math.h>
#include <string.h>

static inline uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t mix(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

uint64_t weir_hash64(const void *data, size_t n, uint64_t seed)
{
    const uint8_t *p = data;
    const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL, k2 = 0x8ebc6af09c88c6e3ULL;
    uint64_t h = seed ^ mix(seed ^ k0, k1) ^ (uint64_t)n;
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        h = mix(rd64(p + i) ^ k1, rd64(p + i + 8) ^ h);
    uint64_t a = 0, b = 0;
    size_t rest = n - i;
    if (rest >= 8) {
        a = rd64(p + i);
        b = rd64(p + n - 8);
    } else if (rest >= 4) {
        uint32_t x, y;
        memcpy(&x, p + i, 4);
        memcpy(&y, p + n - 4, 4);
        a = x;
        b = y;
    } else if (rest > 0) {
        a = (uint64_t)p[i] << 16 | (uint64_t)p[i + rest / 2] << 8 | p[n - 1];
    }
    h = mix(a ^ k1 ^ h, b ^ k2);
    return mix(h ^ k0, h ^ (uint64_t)n ^ k2);
}

void weir_hll_add(uint8_t *regs, int p, uint64_t hash)
{
    uint64_t idx = hash >> (64 - p);
    uint64_t rest = hash << p; /* the remaining 64 - p bits, top-aligned */
    int rank = rest == 0 ? 64 - p + 1 : __builtin_clzll(rest) + 1;
    if (rank > 64 - p + 1)
        rank = 64 - p + 1;
    if (regs[idx] < rank)
        regs[idx] = (uint8_t)rank;
}

void weir_hll_merge(uint8_t *dst, const uint8_t *src, int p)
{
    size_t m = weir_hll_size(p);
    for (size_t i = 0; i < m; i++)
        if (src[i] > dst[i])
            dst[i] = src[i];
}

double weir_hll_estimate(const uint8_t *regs, int p)
{
    size_t m = weir_hll_size(p), zeros = 0;
    double sum = 0;
    for (size_t i = 0; i < m; i++) {
        sum += ldexp(1.0, -(int)regs[i]);
        zeros += regs[i] == 0;
    }
    double md = (double)m;
    double alpha = m == 16 ? 0.673 : m == 32 ? 0.697 : m == 64 ? 0.709 : 0.7213 / (1 + 1.079 / md);
    double e = alpha * md * md / sum;
    if (e <= 2.5 * md && zeros > 0)
        e = md * log(md / (double)zeros); /* linear counting */
    return e;
}
