#!/bin/sh
# Builds benches/c/c_overhead.c against target/release/libtransom.so and runs it, then prints the
# Rust-API figures measured with the same method. Run from anywhere; needs cargo and a C99 cc.
set -eu
cd "$(dirname "$0")/../.."
cargo build --release --lib
# The library's SONAME is libtransom.so.<major>; cargo only writes libtransom.so, so give the
# loader the SONAME name in a directory of our own (nothing in target/release is touched).
out=target/bench-c
mkdir -p "$out"
ln -sf ../release/libtransom.so "$out/libtransom.so.0.2"
${CC:-cc} -std=c99 -O2 -Wall -Wextra -pedantic -Werror -Iinclude benches/c/c_overhead.c \
    -Ltarget/release -ltransom -Wl,-rpath,"$PWD/$out" -o "$out/c_overhead"
echo "== C API (benches/c/c_overhead.c via $(readlink -f "$out/libtransom.so.0.2"))"
"$out/c_overhead"
echo "== Rust API, same method (TRANSOM_CYCLE_REPORT=1 cargo bench -p transom-benches --bench memory)"
TRANSOM_CYCLE_REPORT=1 cargo bench -p transom-benches --bench memory 2>/dev/null
