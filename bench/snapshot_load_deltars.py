"""bench/snapshot_load_deltars.py - time delta-rs (Python `deltalake`) loading
the latest snapshot of a table: DeltaTable(path) plus listing its files.

    python bench/snapshot_load_deltars.py PATH [REPEAT]

Prints one key=value line like bench_snapshot_load (best of REPEAT, default 5).
Peak RSS is the whole Python process (interpreter + pyarrow imports included)."""
import resource
import sys
import time

import deltalake


def main() -> int:
    path = sys.argv[1]
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    best = float("inf")
    version = files = -1
    for _ in range(repeat):
        t0 = time.perf_counter()
        dt = deltalake.DeltaTable(path)
        n = len(dt.file_uris())
        elapsed = time.perf_counter() - t0
        best = min(best, elapsed)
        version, files = dt.version(), n
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"impl=delta-rs time_s={best:.4f} version={version} files={files} peak_rss_kb={rss} "
          f"deltalake={deltalake.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
