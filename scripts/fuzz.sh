#!/usr/bin/env bash
# Fuzzes the safetensors parser with libFuzzer (clang, ASan + UBSan).
# Usage: scripts/fuzz.sh [seconds (default 60)] [extra libFuzzer flags...]
# Seeds come from tests/fuzz/corpus/ (left untouched); new inputs collect in build-fuzz/corpus/,
# crashes in build-fuzz/crash-* (reproduce with: build-fuzz/fuzz_safetensors build-fuzz/crash-...).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
make fuzz
mkdir -p build-fuzz/corpus
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
exec build-fuzz/fuzz_safetensors -max_total_time="$secs" -max_len=4096 -rss_limit_mb=2048 -print_final_stats=1 \
  -dict=tests/fuzz/safetensors.dict -artifact_prefix=build-fuzz/ "$@" build-fuzz/corpus tests/fuzz/corpus
