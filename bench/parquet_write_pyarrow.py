#!/usr/bin/env python3
"""bench/parquet_write_pyarrow.py - the pyarrow baseline for bench/parquet_write.c.

Generates the same rows (splitmix64 of row*8+col, vectorised with numpy),
then times only pq.write_table, single-threaded (pa.set_cpu_count(1),
pa.set_io_thread_count(1)), snappy, dictionary and statistics on (pyarrow's
defaults). Prints the same fields as the C program.

The write is repeated (default 3 times); the best run is reported, with the median
and the lowest process CPU time of one write (user + system, all threads).

    parquet_write_pyarrow.py [rows] [out.parquet] [codec] [repeat]
"""
import os
import resource
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix(x):
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def h(rows, col):
    with np.errstate(over="ignore"):
        return mix(rows * np.uint64(8) + np.uint64(col))


def generate(n):
    r = np.arange(n, dtype=np.uint64)
    users = pa.array(["user_%07d" % k for k in range(100000)])
    countries = pa.array(["C%02d" % k for k in range(50)])
    notes = pa.array(["note_%d" % k for k in range(1000)])
    x7 = h(r, 7)
    note_idx = pa.array((x7 // np.uint64(4) % np.uint64(1000)).astype(np.int64),
                        mask=(x7 % np.uint64(4) == 0))
    cols = {
        "id": pa.array(r.astype(np.int64)),
        "user": users.take(pa.array((h(r, 1) % np.uint64(100000)).astype(np.int64))),
        "amount": pa.array((h(r, 2) % np.uint64(1000000)).astype(np.float64) / 100.0),
        "ts": pa.array((np.int64(1700000000000000) + r.astype(np.int64) * 1000
                        + (h(r, 3) % np.uint64(1000)).astype(np.int64)), type=pa.timestamp("us", tz="UTC")),
        "country": countries.take(pa.array((h(r, 4) % np.uint64(50)).astype(np.int64))),
        "qty": pa.array((h(r, 5) % np.uint64(1000)).astype(np.int32)),
        "flag": pa.array((h(r, 6) & np.uint64(1)).astype(bool)),
        "note": notes.take(note_idx),
    }
    schema = pa.schema([pa.field("id", pa.int64(), nullable=False)] +
                       [pa.field(k, v.type) for k, v in cols.items() if k != "id"])
    return pa.Table.from_arrays(list(cols.values()), schema=schema)


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    path = sys.argv[2] if len(sys.argv) > 2 else "/tmp/pyarrow_bench_write.parquet"
    codec = sys.argv[3] if len(sys.argv) > 3 else "snappy"
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    repeat = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    t = generate(rows)
    times, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        pq.write_table(t, path, compression=codec)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    times.sort()
    secs, med = times[0], times[len(times) // 2]
    size = os.path.getsize(path)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("impl=pyarrow-%s rows=%d runs=%d seconds=%.3f median_seconds=%.3f cpu_seconds=%.3f rows_per_s=%.0f mb_per_s=%.1f "
          "output_bytes=%d peak_rss_mb=%.1f"
          % (pa.__version__, rows, repeat, secs, med, min(cpus), rows / secs, size / secs / 1e6, size, rss))

if __name__ == "__main__":
    main()
