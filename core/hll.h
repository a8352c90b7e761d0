/* core/hll.h - HyperLogLog distinct-count sketches (for the aggregate
 * measure approx_count_distinct), and the 64-bit hash they are fed with.
 *
 * A sketch is 2^p one-byte registers (p from 4 to 16; relative standard
 * error about 1.04 / sqrt(2^p): p = 12 gives 1.6 % in 4 KiB). Registers are
 * plain bytes so a sketch can be stored as a state value as is and merged
 * register by register (union of the counted sets). The estimate uses the
 * raw HyperLogLog formula with linear counting below 5/2 * 2^p (no
 * empirical bias tables), which keeps the error within the standard bound
 * across the range.
 *
 * Pure functions over caller-owned memory; thread-safe. */
#ifndef WEIR_CORE_HLL_H
#define WEIR_CORE_HLL_H

#include <stddef.h>
#include <stdint.h>

#define WEIR_HLL_MIN_P 4
#define WEIR_HLL_MAX_P 16

/* 64-bit hash of n bytes, well mixed in every bit (HyperLogLog uses the
 * top p bits for the register and counts leading zeros of the rest). */
uint64_t weir_hash64(const void *p, size_t n, uint64_t seed);

/* Register bytes of a sketch with precision p (2^p). */
static inline size_t weir_hll_size(int p)
{
    return (size_t)1 << p;
}

/* Count one hashed value into regs (weir_hll_size(p) bytes, zeroed for an
 * empty sketch). */
void weir_hll_add(uint8_t *regs, int p, uint64_t hash);
/* dst := the union of dst and src (same p). */
void weir_hll_merge(uint8_t *dst, const uint8_t *src, int p);
/* Estimated number of distinct values counted. */
double weir_hll_estimate(const uint8_t *regs, int p);

#endif
