# bench/lib.sh - shared by the bench/run_*.sh wrappers (sourced): the paths
# and the Release build of the programs they measure.
#
#   env: BUILD_DIR (default build/bench-release), PYTHON (default the venv's),
#        JOBS (default 2)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build/bench-release}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
JOBS="${JOBS:-2}"

# bench_build TARGET...: configure the Release build once, build the targets
# (log in $BUILD_DIR/bench-build.log).
bench_build() {
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DWEIR_TESTS=OFF >/dev/null
    cmake --build "$BUILD_DIR" -j"$JOBS" --target "$@" >"$BUILD_DIR/bench-build.log" 2>&1
}

# fresh_dir DIR: DIR, empty.
fresh_dir() {
    rm -rf "$1"
    mkdir -p "$1"
}
