# Thin entry points; the work happens in scripts/ (see docs/development.md).
#   make demo    setup + build + scripts/demo.sh (import sample data, read it back)
#   make test    setup + build + ASan/UBSan build + ctest (both) + pytest;
#                last line "summary: N passed, N failed", non-zero exit on failure
#   make build   build/ (RelWithDebInfo)      make asan   build-asan/
#   make unit    build + ctest in build/ only (fast loop)
#   make bench   setup + build + every bench/run_*.sh (PYTHON = the venv's)
#   make setup   scripts/setup.sh             make clean  remove build dirs
SHELL := /bin/bash
JOBS ?= 2
export JOBS

.PHONY: all setup build asan unit test demo bench clean

all: build

setup:
	scripts/setup.sh

build:
	scripts/build.sh

asan:
	scripts/build.sh --asan

unit: build
	ctest --test-dir build --output-on-failure -j $(JOBS)

test:
	scripts/test.sh

demo: setup build
	scripts/demo.sh

# Benchmarks compare against pyarrow / delta-rs from the project venv.
bench: setup build
	@set -e; export PYTHON="$(CURDIR)/.venv/bin/python"; found=0; for b in bench/run_*.sh; do \
	  [ -e "$$b" ] || continue; found=1; echo "== $$b"; bash "$$b"; done; \
	  [ $$found = 1 ] || echo "no bench/run_*.sh yet"

clean:
	rm -rf build build-asan
