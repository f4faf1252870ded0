#!/usr/bin/env bash
# Proves the AArch64 int8 GEMM kernel (I8_NEON_DOT, src/tensor/int8_gemm_arm.c) bit-identical to the
# portable reference on an x86 machine: cross-compiles tests/arm/int8_gemm_arm_test.c with
# src/tensor/int8_gemm.c, int8_gemm_arm.c and src/base/error.c (no OpenBLAS / HDF5), statically, and
# runs it under qemu user mode twice:
#   qemu-aarch64 -cpu max         (has the dot product: neon-dot available, best, equal to ref bit for bit)
#   qemu-aarch64 -cpu cortex-a57  (ARMv8.0, no dot product: detection says unavailable, ref is best)
# Not part of `make test` (CI has no ARM). Timings under qemu mean nothing; use bench/ on the device.
# Needs two Debian packages, not in scripts/install-deps.sh's lists:
#   apt-get install gcc-aarch64-linux-gnu qemu-user
# Usage: scripts/test-arm-int8.sh [build-dir]   (default build-arm; exits 0 when both runs pass)
set -eu
cd "$(dirname "$0")/.."
out=${1:-build-arm}
cc=${CROSS_CC:-aarch64-linux-gnu-gcc}
for tool in "$cc" qemu-aarch64; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "test-arm-int8: $tool not found; install it with: apt-get install gcc-aarch64-linux-gnu qemu-user" >&2
    exit 1
  }
done
mkdir -p "$out"
bin="$out/int8_gemm_arm_test"
# -std=c11 as the Makefile: no contraction into fused multiply-add, so the epilogue rounds as on x86
"$cc" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -static -Isrc -o "$bin" \
  tests/arm/int8_gemm_arm_test.c src/tensor/int8_gemm.c src/tensor/int8_gemm_arm.c src/base/error.c -lm
# the kernel really uses sdot
if command -v aarch64-linux-gnu-objdump >/dev/null 2>&1; then
  n=$(aarch64-linux-gnu-objdump -d "$bin" | grep -c $'\tsdot\t' || true)
  echo "test-arm-int8: $n sdot instructions in $bin"
  [ "$n" -gt 0 ] || { echo "test-arm-int8: no sdot in the binary" >&2; exit 1; }
fi
echo "== qemu-aarch64 -cpu max (dot product) =="
qemu-aarch64 -cpu max "$bin" 1
echo "== qemu-aarch64 -cpu cortex-a57 (no dot product) =="
qemu-aarch64 -cpu cortex-a57 "$bin" 0
echo "test-arm-int8: PASSED"
