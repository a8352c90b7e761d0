/* bench/parquet_write.c - Parquet write throughput on a fixed dataset.
 *
 * Generates N rows (default 10,000,000) x 8 columns deterministically (the
 * same values as bench/parquet_write_pyarrow.py: splitmix64 of row*8+col),
 * holds them in memory as batches of 1Mi rows, then times only the writer:
 * create, write every batch, close, into a file. Prints rows/s, MB/s
 * (output bytes), output bytes and peak RSS. Single-threaded. The write
 * is repeated (default 3 times); the best run is reported, with the median
 * and the lowest process CPU time of one write (user + system, all threads).
 *
 *   parquet_write [rows] [out.parquet] [codec] [repeat]
 *
 * Columns: id LONG NOT NULL (row), user STRING (user_%07d, 100k distinct),
 * amount DOUBLE (cents/100), ts TIMESTAMP (1.7e15 + row*1000 + jitter),
 * country STRING (50 distinct), qty INT (0..999), flag BOOLEAN,
 * note STRING nullable (25% null, 1000 distinct). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/types.h"
#include "formats/parquet/parquet.h"

#define BATCH_ROWS (1u << 20)

static inline uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline uint64_t h(uint64_t row, uint64_t col)
{
    return mix(row * 8 + col);
}

static int file_write(void *ctx, const void *p, size_t n, struct weir_error *err)
{
    if (fwrite(p, 1, n, (FILE *)ctx) != n)
        return weir_error_set(err, WEIR_EIO, "short write");
    return 0;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

#define CHECK(x)                                                     \
    do {                                                             \
        if ((x) != 0) {                                              \
            fprintf(stderr, "failed: %s (line %d)\n", #x, __LINE__); \
            exit(1);                                                 \
        }                                                            \
    } while (0)

int main(int argc, char **argv)
{
    uint64_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ULL;
    const char *path = argc > 2 ? argv[2] : "/tmp/weir_bench_write.parquet";
    const char *codec = argc > 3 ? argv[3] : "snappy";
    int repeat = argc > 4 ? atoi(argv[4]) : 3;
    struct weir_error err = {0};
    struct weir_type *schema = NULL;
    CHECK(weir_schema_from_ddl("id LONG NOT NULL, user STRING, amount DOUBLE, ts TIMESTAMP, "
                               "country STRING, qty INT, flag BOOLEAN, note STRING",
                               &schema, &err));
    size_t nb = (size_t)((rows + BATCH_ROWS - 1) / BATCH_ROWS);
    struct weir_batch **bs = calloc(nb ? nb : 1, sizeof *bs);
    for (size_t bi = 0; bi < nb; bi++) {
        uint64_t r0 = (uint64_t)bi * BATCH_ROWS;
        uint64_t r1 = r0 + BATCH_ROWS < rows ? r0 + BATCH_ROWS : rows;
        struct weir_batch *b = weir_batch_create(schema);
        CHECK(b == NULL);
        size_t n = (size_t)(r1 - r0);
        CHECK(weir_column_reserve(&b->columns[1], n, n * 12));
        CHECK(weir_column_reserve(&b->columns[4], n, n * 3));
        CHECK(weir_column_reserve(&b->columns[7], n, n * 8));
        for (uint64_t r = r0; r < r1; r++) {
            char s[32];
            int len;
            CHECK(weir_column_append_i64(&b->columns[0], (int64_t)r));
            len = snprintf(s, sizeof s, "user_%07d", (int)(h(r, 1) % 100000));
            CHECK(weir_column_append_bytes(&b->columns[1], s, (size_t)len));
            CHECK(weir_column_append_f64(&b->columns[2], (double)(h(r, 2) % 1000000) / 100.0));
            CHECK(weir_column_append_i64(&b->columns[3],
                                         1700000000000000LL + (int64_t)r * 1000 + (int64_t)(h(r, 3) % 1000)));
            len = snprintf(s, sizeof s, "C%02d", (int)(h(r, 4) % 50));
            CHECK(weir_column_append_bytes(&b->columns[4], s, (size_t)len));
            CHECK(weir_column_append_i32(&b->columns[5], (int32_t)(h(r, 5) % 1000)));
            CHECK(weir_column_append_bool(&b->columns[6], h(r, 6) & 1));
            uint64_t x = h(r, 7);
            if (x % 4 == 0) {
                CHECK(weir_column_append_null(&b->columns[7]));
            } else {
                len = snprintf(s, sizeof s, "note_%d", (int)(x / 4 % 1000));
                CHECK(weir_column_append_bytes(&b->columns[7], s, (size_t)len));
            }
        }
        CHECK(weir_batch_finish_rows(b));
        bs[bi] = b;
    }

    struct weir_parquet_writer_options o;
    weir_parquet_writer_options_default(&o);
    int c = weir_parquet_codec_from_string(codec);
    CHECK(c < 0);
    o.codec = (enum weir_parquet_codec)c;
    double times[64], cpu_best = 1e30;
    uint64_t size = 0;
    if (repeat < 1 || repeat > 64)
        repeat = 3;
    for (int it = 0; it < repeat; it++) {
        FILE *f = fopen(path, "wb");
        CHECK(f == NULL);
        setvbuf(f, NULL, _IOFBF, 1 << 20);
        struct weir_output out = {file_write, f};
        struct weir_parquet_writer *w = NULL;
        double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (weir_parquet_writer_create(&w, schema, &o, out, &err))
            goto fail;
        for (size_t bi = 0; bi < nb; bi++)
            if (weir_parquet_writer_write(w, bs[bi], &err))
                goto fail;
        if (weir_parquet_writer_close(w, &size, &err))
            goto fail;
        CHECK(fflush(f));
        times[it] = now() - t0;
        double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        cpu_best = cpu < cpu_best ? cpu : cpu_best;
        fclose(f);
        weir_parquet_writer_destroy(w);
    }
    /* insertion sort; report the best and the median run */
    for (int i = 1; i < repeat; i++)
        for (int j = i; j > 0 && times[j] < times[j - 1]; j--) {
            double t = times[j];
            times[j] = times[j - 1];
            times[j - 1] = t;
        }
    double secs = times[0], med = times[repeat / 2];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("impl=weir rows=%llu runs=%d seconds=%.3f median_seconds=%.3f cpu_seconds=%.3f rows_per_s=%.0f "
           "mb_per_s=%.1f "
           "output_bytes=%llu peak_rss_mb=%.1f\n",
           (unsigned long long)rows, repeat, secs, med, cpu_best, (double)rows / secs,
           (double)size / secs / 1e6, (unsigned long long)size, (double)ru.ru_maxrss / 1024.0);
    for (size_t bi = 0; bi < nb; bi++)
        weir_batch_destroy(bs[bi]);
    free(bs);
    weir_type_destroy(schema);
    return 0;
fail:
    fprintf(stderr, "parquet_write: %s\n", err.message);
    return 1;
}
