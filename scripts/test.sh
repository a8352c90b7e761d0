#!/usr/bin/env bash
# scripts/test.sh - the whole test run behind `make test` and .ci/run.
#
#   1. scripts/setup.sh               (idempotent; seconds when nothing changed)
#   2. scripts/build.sh               build/       the weir binary + unit tests
#   3. scripts/build.sh --asan        build-asan/  the same under ASan + UBSan
#   4. ctest in build/                unit tests and fuzz-corpus replays
#   5. ctest in build-asan/           the same, sanitized
#   6. pytest tests/integration       weir against deltalake, DuckDB, Spark
#
# Every suite runs even when an earlier one failed (a failed build skips only
# the suites that need it). Results go to build/test-results/*.xml (JUnit);
# the last line printed is "summary: N passed, N failed[, N skipped]" and the
# exit status is non-zero when anything failed or did not run.
#
# Knobs: WEIR_TEST_SKIP_ASAN=1 (skip 3 and 5), PYTEST_ARGS="-k smoke",
# CTEST_ARGS="-L unit".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RESULTS=$ROOT/build/test-results
STEPS=$RESULTS/steps.txt # "name ok|failed|skipped" per non-suite step
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
: >"$STEPS"
start=$(date +%s)

banner() { printf '\n==== %s ====\n' "$*"; }
step() { echo "$1 $2" >>"$STEPS"; }

banner setup
if scripts/setup.sh; then step setup ok; else
    step setup failed
    # Without the environment nothing else can run meaningfully.
    python3 "$ROOT/scripts/test_summary.py" "$RESULTS"
    exit 1
fi

banner "format (clang-format)"
# Every C file follows the root .clang-format.
unformatted=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror 2>&1 | grep -o '^[^:]*\.[ch]' | sort -u)
if [[ -z $unformatted ]]; then step format ok; else
    echo "not formatted (run: git ls-files '*.c' '*.h' | xargs clang-format -i):" $unformatted
    step format failed
fi

banner build
# The tested builds are warning-free: any compiler warning fails them.
export CMAKE_ARGS="-DWEIR_WERROR=ON ${CMAKE_ARGS:-}"
build_ok=0
if scripts/build.sh; then
    build_ok=1
    step build ok
else step build failed; fi

asan_ok=0
if [[ ${WEIR_TEST_SKIP_ASAN:-0} != 1 ]]; then
    banner "build (ASan + UBSan)"
    if scripts/build.sh --asan; then
        asan_ok=1
        step build-asan ok
    else step build-asan failed; fi
fi

run_ctest() { # dir junit-name
    local dir=$1 name=$2
    # shellcheck disable=SC2086
    ctest --test-dir "$dir" --output-on-failure -j 2 --timeout 600 \
        --output-junit "$RESULTS/$name.xml" ${CTEST_ARGS:-}
    local rc=$?
    echo "rc $name $rc" >>"$STEPS"
    return $rc
}

if [[ $build_ok == 1 ]]; then
    banner "ctest (build/)"
    run_ctest build ctest
else step ctest skipped; fi

if [[ ${WEIR_TEST_SKIP_ASAN:-0} != 1 ]]; then
    if [[ $asan_ok == 1 ]]; then
        banner "ctest (build-asan/)"
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1} \
            UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
            run_ctest build-asan ctest-asan
    else step ctest-asan skipped; fi
fi

banner "pytest (tests/integration)"
# shellcheck disable=SC2086
.venv/bin/python -m pytest tests/integration -ra -p no:cacheprovider --timeout=1800 \
    --junitxml="$RESULTS/pytest.xml" -o junit_family=xunit1 ${PYTEST_ARGS:-}
# Any non-zero status fails the run, 5 (no test collected) included.
rc=$?
echo "rc pytest $rc" >>"$STEPS"

banner "results ($(($(date +%s) - start))s)"
python3 "$ROOT/scripts/test_summary.py" "$RESULTS"
