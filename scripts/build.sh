#!/usr/bin/env bash
# scripts/build.sh - configure (once) and build weir with CMake.
#
#   scripts/build.sh            build/       RelWithDebInfo: the weir binary, unit tests
#   scripts/build.sh --asan     build-asan/  Debug with -DWEIR_ASAN=ON -DWEIR_UBSAN=ON
#
# Extra CMake options come from $CMAKE_ARGS (e.g. CMAKE_ARGS=-DWEIR_WERROR=ON).
# Uses Ninja when installed (unless the directory was configured otherwise),
# at most $JOBS parallel jobs (default 2). The compiler output goes to
# <build dir>/build.log; on failure its last lines are printed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${JOBS:-2}
dir=$ROOT/build
opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [[ ${1:-} == --asan ]]; then
    dir=$ROOT/build-asan
    opts=(-DCMAKE_BUILD_TYPE=Debug -DWEIR_ASAN=ON -DWEIR_UBSAN=ON)
elif [[ -n ${1:-} ]]; then
    echo "usage: scripts/build.sh [--asan]" >&2
    exit 2
fi
# shellcheck disable=SC2206
opts+=(${CMAKE_ARGS:-})

mkdir -p "$dir"
log=$dir/build.log
gen=()
if [[ ! -f $dir/CMakeCache.txt ]] && command -v ninja >/dev/null; then
    gen=(-G Ninja)
fi
start=$(date +%s)
if ! { cmake -S "$ROOT" -B "$dir" "${gen[@]}" "${opts[@]}" && cmake --build "$dir" -j "$JOBS"; } >"$log" 2>&1; then
    echo "build: FAILED in ${dir#"$ROOT"/}/ (last lines of ${log#"$ROOT"/}):" >&2
    grep -E 'error|Error|warning' "$log" | head -n 40 >&2 || true
    tail -n 20 "$log" >&2
    exit 1
fi
warnings=$(grep -c 'warning:' "$log" || true)
echo "build: ${dir#"$ROOT"/}/ ok in $(($(date +%s) - start))s, ${warnings} compiler warning(s) (log: ${log#"$ROOT"/})"
