#!/usr/bin/env bash
# On the GPU machine, in one call: build against the PyTorch wheel's LibTorch with CUDA, run the
# whole test suite (CUDA tests included) and the benchmarks; logs and tables go to $OUT.
# Needs .vendor/ (scripts/gpu_vendor.sh) carried along.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
[[ -d .vendor ]] || { echo "gpu_check: .vendor/ missing; run scripts/gpu_vendor.sh here and carry .vendor" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
BUILD=build-gpu
cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  -DSCANLAB_VENDOR_DIR="$PWD/.vendor" -DTORCH_CUDA_ARCH_LIST=9.0 > "$OUT/configure.log" 2>&1 \
  || { tail -40 "$OUT/configure.log"; exit 1; }
cmake --build $BUILD -j "$(nproc)" > "$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
echo "== build ok"
(cd $BUILD && ctest --output-on-failure -j 8 --timeout 900) > "$OUT/tests.log" 2>&1
echo "== tests: $(grep -E 'tests passed|tests failed' "$OUT/tests.log")"
grep -E "^\s+[0-9]+ - .*\(Failed|Timeout\)" "$OUT/tests.log" | head -20
grep -E "^\s+[0-9]+ - .*\(Failed|Timeout\)" "$OUT/tests.log" > "$OUT/tests_failed.txt"
grep -B2 -A25 "Failure$\|\[  FAILED  \]" "$OUT/tests.log" | head -300 > "$OUT/tests_failures.log"
for dev in cuda cpu; do
  ./$BUILD/bench_scan --device $dev --lengths 16,64,256,1024,4096 -r 5 > "$OUT/bench_scan_$dev.md" 2>/dev/null
  echo "== bench_scan --device $dev"; cat "$OUT/bench_scan_$dev.md"
done
./$BUILD/bench_affine --device cuda -r 5 > "$OUT/bench_affine_cuda.md" 2>&1
echo "== bench_affine --device cuda"; cat "$OUT/bench_affine_cuda.md"
# Decode latency vs token index at the paper's latency-benchmark shape (d 256, 2+2 layers, c 64).
./$BUILD/scanlab --device cuda bench decode --tokens ${DECODE_TOKENS:-8192} --width 256 --depth 2 --chunk 64 \
  --window 1024 --csv "$OUT/decode_steps.csv" > "$OUT/bench_decode_cuda.md" 2>/dev/null
echo "== bench decode --device cuda"; cat "$OUT/bench_decode_cuda.md"
# The device tool returns at most 8 files: pack the logs, keep the tables and failure excerpts.
(cd "$OUT" && tar czf all_logs.tgz --exclude=all_logs.tgz --exclude=gpu_check.log . && \
  rm -f configure.log build.log tests.log tests_failed.txt gpu.txt decode_steps.csv bench_scan_cpu.md)
exit 0
