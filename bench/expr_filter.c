/* bench/expr_filter.c - throughput of a WHERE predicate over one batch.
 *
 *   bench_expr_filter [ROWS] [REPEAT]     default 10,000,000 rows, 5 repeats
 *
 * Builds a batch (amount DOUBLE, country STRING with 50 distinct codes
 * 'C00'..'C49'), binds `amount > 100 AND country IN ('C01','C02')` and times
 * weir_expr_filter; prints the best run as one line of key=value pairs
 * (rows, selected, time_s, rows_per_s). Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/expr.h"
#include "core/types.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    size_t rows = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 10000000;
    int repeat = argc > 2 ? atoi(argv[2]) : 5;
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    if (weir_schema_from_ddl("amount DOUBLE, country STRING", &t, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    struct weir_batch *b = weir_batch_create(t);
    weir_type_destroy(t);
    if (b == NULL || weir_column_reserve(&b->columns[0], rows, 0) != 0 ||
        weir_column_reserve(&b->columns[1], rows, rows * 3) != 0)
        return 1;
    uint64_t x = 88172645463325252u;
    for (size_t r = 0; r < rows; r++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        char code[4];
        snprintf(code, sizeof code, "C%02u", (unsigned)(x % 50));
        if (weir_column_append_f64(&b->columns[0], (double)((x >> 8) % 20000) / 100.0) != 0 ||
            weir_column_append_bytes(&b->columns[1], code, 3) != 0)
            return 1;
    }
    if (weir_batch_finish_rows(b) != 0)
        return 1;
    struct weir_expr *e = NULL;
    if (weir_expr_parse("amount > 100 AND country IN ('C01','C02')", &e, &err) != 0 ||
        weir_expr_bind(e, b->schema, &err) != 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double best = 1e30;
    size_t selected = 0;
    for (int i = 0; i < repeat; i++) {
        uint32_t *sel = NULL;
        double t0 = now_s();
        if (weir_expr_filter(e, b, 0, &sel, &selected, &err) != 0) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        double dt = now_s() - t0;
        weir_free(sel);
        if (dt < best)
            best = dt;
    }
    printf("rows=%zu selected=%zu time_s=%.4f rows_per_s=%.0f\n", rows, selected, best, (double)rows / best);
    weir_expr_destroy(e);
    weir_batch_destroy(b);
    return 0;
}
