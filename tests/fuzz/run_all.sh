#!/usr/bin/env bash
# tests/fuzz/run_all.sh - build every libFuzzer target with clang + ASan +
# UBSan and run each for SECONDS; exit 1 if any target crashes, leaks, trips
# a sanitizer or times out on an input.
#
#   tests/fuzz/run_all.sh SECONDS [fuzz_target...]
#
# Environment: WEIR_FUZZ_BUILD_DIR (default <repo>/build-fuzz),
# WEIR_FUZZ_JOBS (build parallelism, default 2), WEIR_TESTDATA (real Parquet
# files to seed from, default <repo>/../shared/testdata if present).
# The growing corpus of each target lives in $BUILD/fuzz-corpus/<target>/,
# logs in $BUILD/fuzz-logs/<target>.log, and crash/leak/timeout inputs in
# tests/fuzz/crashes/<target>/ (git-ignored). See docs/fuzzing.md.
set -euo pipefail
secs="${1:?usage: run_all.sh SECONDS [fuzz_target...]}"
shift
case "$secs" in '' | *[!0-9]*) echo "run_all.sh: SECONDS must be a number" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${WEIR_FUZZ_BUILD_DIR:-$root/build-fuzz}"
jobs="${WEIR_FUZZ_JOBS:-2}"

command -v clang >/dev/null || { echo "run_all.sh: clang not found" >&2; exit 2; }
CC=clang cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DWEIR_FUZZ=ON \
    -DWEIR_ASAN=ON -DWEIR_UBSAN=ON -DWEIR_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_all -j"$jobs"

"$here/make_corpus.sh" "$build/fuzz-seeds" ${WEIR_TESTDATA:+"$WEIR_TESTDATA"}

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for src in "$here"/fuzz_*.c; do
        targets+=("$(basename "$src" .c)")
    done
fi
[ "${#targets[@]}" -gt 0 ] || { echo "run_all.sh: no fuzz targets" >&2; exit 1; }

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$build/fuzz-logs"
failed=()
for t in "${targets[@]}"; do
    bin="$build/tests/fuzz/$t"
    [ -x "$bin" ] || { echo "run_all.sh: $bin was not built" >&2; failed+=("$t"); continue; }
    work="$build/fuzz-corpus/$t"
    crashes="$root/tests/fuzz/crashes/$t"
    mkdir -p "$work" "$crashes"
    seeds=()
    for d in "$here/corpus/$t" "$build/fuzz-seeds/$t"; do
        [ -d "$d" ] && seeds+=("$d")
    done
    log="$build/fuzz-logs/$t.log"
    echo "== $t: ${secs}s (log $log)"
    set +e
    timeout $((secs + 300)) "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=25 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$work" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    set -e
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | tr '\n' ' ' || true
    echo
    if [ "$rc" -ne 0 ]; then
        echo "!! $t failed (exit $rc); last lines of $log:"
        tail -n 40 "$log"
        failed+=("$t")
    fi
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "run_all.sh: FAILED: ${failed[*]} (inputs in tests/fuzz/crashes/)"
    exit 1
fi
echo "run_all.sh: ${#targets[@]} target(s) ran ${secs}s each without a finding"
