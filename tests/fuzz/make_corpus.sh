#!/usr/bin/env bash
# tests/fuzz/make_corpus.sh - build seed corpora for the fuzz targets.
#
#   tests/fuzz/make_corpus.sh OUTDIR [TESTDATA_DIR]
#
# Writes OUTDIR/<target>/ for fuzz_thrift_compact and fuzz_parquet_footer:
#  1. the self-made seeds of gen_seeds.c (the same files that are committed
#     under tests/fuzz/corpus/; regenerate those with OUTDIR=tests/fuzz/corpus);
#  2. when TESTDATA_DIR is given (default ../shared/testdata next to the
#     checkout, if present): the footer bytes of each real .parquet file
#     (Spark, pyarrow, delta-rs writers) for fuzz_thrift_compact, and the
#     small whole files (<= 256 KiB) for fuzz_parquet_footer. These are
#     generated at fuzzing time and never committed: when OUTDIR is inside
#     the checkout this step is skipped.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:?usage: make_corpus.sh OUTDIR [TESTDATA_DIR]}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
testdata="${2:-$root/../shared/testdata}"
cc="${CC:-cc}"

mkdir -p "$out/fuzz_thrift_compact" "$out/fuzz_parquet_footer"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$cc" -std=gnu11 -O1 -D_GNU_SOURCE -I"$root" -o "$tmp/gen_seeds" "$here/gen_seeds.c" \
    "$root/formats/parquet/thrift.c" "$root/formats/parquet/meta.c" \
    "$root/core/alloc.c" "$root/core/error.c" "$root/core/buf.c" $(pkg-config --cflags --libs libcjson)
"$tmp/gen_seeds" "$out"

# Real files are never copied into the source tree (the committed corpus
# holds only self-made seeds).
case "$out/" in
"$root"/*) testdata="" ;;
esac
if [ -n "$testdata" ] && [ -d "$testdata" ]; then
    n=0
    while IFS= read -r -d '' f; do
        size=$(stat -c %s "$f")
        [ "$size" -ge 12 ] || continue
        name="td-$(sha1sum "$f" | cut -c1-16)"
        # footer length: little-endian u32 just before the trailing "PAR1"
        flen=$(tail -c 8 "$f" | head -c 4 | od -An -tu4 | tr -d ' ')
        if [ "$flen" -gt 0 ] && [ "$flen" -le $((size - 12)) ]; then
            tail -c $((flen + 8)) "$f" | head -c "$flen" > "$out/fuzz_thrift_compact/$name"
        fi
        if [ "$size" -le 262144 ]; then
            cp "$f" "$out/fuzz_parquet_footer/$name.parquet"
        fi
        n=$((n + 1))
    done < <(find "$testdata" -name '*.parquet' -type f -print0)
    echo "make_corpus: added seeds from $n testdata files"
fi
echo "make_corpus: $(find "$out" -type f | wc -l) seed files under $out"
