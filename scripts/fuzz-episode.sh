#!/usr/bin/env bash
# Fuzzes the HDF5 episode reader (and the dataset checker behind it) with libFuzzer (clang,
# ASan + UBSan on our code; libhdf5 itself is not instrumented).
# Usage: scripts/fuzz-episode.sh [seconds (default 60)] [extra libFuzzer flags...]
# Seeds: tests/fixtures/*.h5 (left untouched); new inputs collect in build-fuzz/corpus-episode/,
# crashes in build-fuzz/episode-crash-* (reproduce: build-fuzz/fuzz_episode build-fuzz/episode-crash-...).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
mkdir -p build-fuzz/corpus-episode build-fuzz/seeds-episode
cp tests/fixtures/*.h5 build-fuzz/seeds-episode/
SRC="src/io/episode.c src/io/episode_probe.c src/io/episode_h5.c src/io/episode_name.c src/io/episode_write.c src/data/check.c src/data/dataset.c src/data/actions.c src/base/hash.c src/base/error.c src/base/file.c"
# shellcheck disable=SC2046,SC2086
clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Isrc -Iinclude $(pkg-config --cflags hdf5) -o build-fuzz/fuzz_episode tests/fuzz/fuzz_episode.c $SRC \
  $(pkg-config --libs hdf5 2>/dev/null || echo -lhdf5) -ljansson -lpthread -lm
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# Full stacks on malloc so that libhdf5-internal leaks (tests/fuzz/hdf5-leaks.supp) can be told apart;
# huge allocations return NULL as with plain malloc (libhdf5 asks for what a damaged header claims).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0:allocator_may_return_null=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/hdf5-leaks.supp:print_suppressions=0}
# Fork mode, going on past findings: libhdf5 1.10.8 itself crashes on some damaged files (heap
# over-reads in its global-heap and layout code) and a crafted variable-length string makes it
# allocate and zero up to 4 GiB; every finding is saved as build-fuzz/episode-{crash,oom,timeout,leak}-*
# for triage (rerun one: build-fuzz/fuzz_episode FILE; a stack with no frame of src/ is libhdf5's).
# The checker survives such files by checking each one in a child process (CheckOptions.isolate).
exec build-fuzz/fuzz_episode -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 -max_total_time="$secs" -max_len=32768 \
  -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=20 -print_final_stats=1 -artifact_prefix=build-fuzz/episode- \
  "$@" build-fuzz/corpus-episode build-fuzz/seeds-episode
