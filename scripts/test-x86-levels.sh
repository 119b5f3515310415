#!/usr/bin/env bash
# Builds QATKit in release at given x86-64 levels (Package.swift's QATKIT_X86_LEVEL) and runs the
# kernel test suites there: every fast kernel against its plain reference, bitwise where the
# arithmetic allows. Release builds must stay correct on x86-64 without AVX-512 (v3) as well as
# with it (v4, the default on an AVX-512 machine), so check the level you do not build by default.
#
#   scripts/test-x86-levels.sh            # v3 only (AVX2 + FMA, no AVX-512)
#   scripts/test-x86-levels.sh v3 v4      # both
#   QATKIT_KERNEL_FILTER='KernelFastPath' scripts/test-x86-levels.sh v3
#
# Each level builds into its own scratch folder (.build-<level>, ignored by git: `.build*`), since
# SwiftPM caches the manifest's flags per build folder. `-enable-testing` lets the release build
# run the `@testable` tests. A level the CPU lacks (v4 without AVX-512) builds but cannot run: the
# tests would die with SIGILL, so the script refuses to run them.
set -euo pipefail
cd "$(dirname "$0")/.."
levels=("$@")
[ ${#levels[@]} -eq 0 ] && levels=(v3)
filter=${QATKIT_KERNEL_FILTER:-'QATKitTests\.(KernelFastPathTests|MXNonFiniteBlockTests|MXVectorParamsTests|NVFP4KernelBoundaryTests|BlockKernelTests|BlockKernelAlignmentTests|StreamingStoreTests|KernelTests|NumericsConformanceTests|NumericsKernelTests|ConvKernelTests|TransformerKernelTests|Int8InferenceTests|Int4WeightOnlyTests|AttentionKernelTests|Int8FusedLayerTests|LinearIntegerForwardTests)'}
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
status=0
for level in "${levels[@]}"; do
  case "$level" in
    v3 | v4 | baseline) ;;
    *) echo "unknown level '$level' (v3, v4 or baseline)" >&2; exit 2 ;;
  esac
  if [ "$level" = v4 ] && ! grep -qw avx512bw <<<"$flags"; then
    echo "== $level: this CPU has no AVX-512, skipped" >&2
    continue
  fi
  scratch=".build-$level"
  echo "== $level: QATKIT_X86_LEVEL=$level swift build -c release --build-tests -Xswiftc -enable-testing --scratch-path $scratch" >&2
  QATKIT_X86_LEVEL=$level swift build -c release --build-tests -Xswiftc -enable-testing --scratch-path "$scratch"
  echo "== $level: swift test -c release --skip-build -Xswiftc -enable-testing --scratch-path $scratch --filter '$filter'" >&2
  if ! QATKIT_X86_LEVEL=$level swift test -c release --skip-build -Xswiftc -enable-testing --scratch-path "$scratch" \
    --filter "$filter"; then
    echo "== $level: kernel tests FAILED" >&2
    status=1
  fi
done
exit $status
