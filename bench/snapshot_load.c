/* bench/snapshot_load.c - time weir's Delta snapshot load.
 *
 *   bench_snapshot_load build PATH N     write an N-commit table (one 1-row
 *                                         file per commit, checkpoints every 10)
 *   bench_snapshot_load load PATH [REPEAT] load the latest snapshot REPEAT
 *                                         times (default 5); print the best time
 *
 * Output is one line of key=value pairs (time_s, version, files, peak_rss_kb)
 * so bench/run_snapshot_load.sh can compare it with delta-rs. Single-threaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "delta/delta.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int build(const char *path, long n)
{
    struct weir_delta_table *t;
    struct weir_error err = {0};
    struct weir_type *s = NULL;
    if (weir_delta_table_open(&t, path, &err) || weir_schema_from_ddl("id LONG, v STRING", &s, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        struct weir_batch *b = weir_batch_create(s);
        char v[32];
        snprintf(v, sizeof v, "row-%ld", i);
        weir_column_append_i64(&b->columns[0], i);
        weir_column_append_bytes(&b->columns[1], v, strlen(v));
        weir_batch_finish_rows(b);
        const struct weir_batch *bs[] = {b};
        struct weir_delta_write_options o;
        weir_delta_write_options_default(&o);
        int rc = weir_delta_write(t, bs, 1, &o, NULL, &err);
        weir_batch_destroy(b);
        if (rc) {
            fprintf(stderr, "commit %ld: %s\n", i, err.message);
            return 1;
        }
        if ((i + 1) % 1000 == 0)
            fprintf(stderr, "built %ld commits (%.1f s)\n", i + 1, now_s() - t0);
    }
    printf("built=%ld time_s=%.3f\n", n, now_s() - t0);
    weir_type_destroy(s);
    weir_delta_table_destroy(t);
    return 0;
}

static int load(const char *path, int repeat)
{
    struct weir_delta_table *t;
    struct weir_error err = {0};
    if (weir_delta_table_open(&t, path, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double best = 1e30;
    int64_t version = -1;
    size_t files = 0;
    for (int r = 0; r < repeat; r++) {
        struct weir_delta_snapshot *s;
        double t0 = now_s();
        if (weir_delta_snapshot_load(t, -1, &s, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
        version = weir_delta_snapshot_version(s);
        files = weir_delta_snapshot_num_files(s);
        weir_delta_snapshot_destroy(s);
    }
    printf("impl=weir time_s=%.4f version=%lld files=%zu peak_rss_kb=%ld\n", best, (long long)version, files,
           peak_rss_kb());
    weir_delta_table_destroy(t);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "build") == 0)
        return build(argv[2], atol(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "load") == 0)
        return load(argv[2], argc >= 4 ? atoi(argv[3]) : 5);
    fprintf(stderr, "usage: %s build PATH N | load PATH [REPEAT]\n", argv[0]);
    return 2;
}
