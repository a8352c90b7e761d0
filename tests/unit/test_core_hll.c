/* tests/unit/test_core_hll.c - core/hll: estimates within the standard
 * error across small and large counts, duplicates not counted, merge as
 * union, and the hash's bit balance. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hll.h"

static double rel_err(double est, double truth)
{
    return fabs(est - truth) / truth;
}

/* Keys "user-<i>" as the aggregate step would hash them. */
static uint64_t key_hash(uint64_t i)
{
    char k[32];
    int n = snprintf(k, sizeof k, "user-%llu", (unsigned long long)i);
    return weir_hash64(k, (size_t)n, 0);
}

static void test_estimates_within_bounds(void **state)
{
    (void)state;
    static const uint64_t counts[] = {1, 10, 100, 1000, 5000, 20000, 100000, 1000000};
    for (int p = 10; p <= 14; p += 2) {
        uint8_t *regs = calloc(weir_hll_size(p), 1);
        assert_non_null(regs);
        double sigma = 1.04 / sqrt((double)weir_hll_size(p));
        uint64_t added = 0;
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            for (; added < counts[c]; added++) {
                weir_hll_add(regs, p, key_hash(added));
                weir_hll_add(regs, p, key_hash(added)); /* duplicates change nothing */
            }
            double est = weir_hll_estimate(regs, p);
            /* 4 sigma: a seeded, deterministic run far from the edge */
            if (rel_err(est, (double)counts[c]) > 4 * sigma && fabs(est - (double)counts[c]) > 1.5)
                fail_msg("p=%d count=%llu estimate %.1f (error %.2f%%, bound %.2f%%)", p,
                         (unsigned long long)counts[c], est, 100 * rel_err(est, (double)counts[c]),
                         400 * sigma);
        }
        free(regs);
    }
    uint8_t empty[1 << 12] = {0};
    assert_true(weir_hll_estimate(empty, 12) == 0.0);
}

static void test_merge_is_union(void **state)
{
    (void)state;
    int p = 12;
    uint8_t a[1 << 12] = {0}, b[1 << 12] = {0}, all[1 << 12] = {0};
    for (uint64_t i = 0; i < 60000; i++) {
        uint64_t h = key_hash(i);
        if (i < 40000)
            weir_hll_add(a, p, h);
        if (i >= 20000)
            weir_hll_add(b, p, h);
        weir_hll_add(all, p, h);
    }
    weir_hll_merge(a, b, p);
    assert_memory_equal(a, all, sizeof a); /* registers are max-merged: exact */
    assert_true(rel_err(weir_hll_estimate(a, p), 60000) < 4 * 1.04 / 64);
}

static void test_hash_bits_balanced(void **state)
{
    (void)state;
    /* every output bit is set about half the time over sequential keys of
     * every length 0..40 (what the registers rely on) */
    int ones[64] = {0};
    int total = 0;
    char buf[64];
    for (int len = 0; len <= 40; len++) {
        for (int i = 0; i < 2000; i++) {
            memset(buf, 'a', sizeof buf);
            snprintf(buf, sizeof buf, "%d", i);
            buf[strlen(buf)] = 'a';
            uint64_t h = weir_hash64(buf, (size_t)len, 7);
            for (int b = 0; b < 64; b++)
                ones[b] += (int)(h >> b & 1);
            total++;
        }
    }
    for (int b = 0; b < 64; b++) {
        double f = (double)ones[b] / total;
        if (f < 0.47 || f > 0.53)
            fail_msg("bit %d set in %.3f of hashes", b, f);
    }
    assert_true(weir_hash64("abc", 3, 0) != weir_hash64("abc", 3, 1));
    assert_true(weir_hash64("abc", 3, 0) != weir_hash64("abd", 3, 0));
    assert_true(weir_hash64("", 0, 0) != weir_hash64("\0", 1, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_estimates_within_bounds),
        cmocka_unit_test(test_merge_is_union),
        cmocka_unit_test(test_hash_bits_balanced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
