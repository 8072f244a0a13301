#!/usr/bin/env bash
# CI's fuzzing: builds the quick fuzz targets (fuzz/quick/: the parsers that need no LibTorch, with
# clang's libFuzzer, ASan and UBSan) and runs each for a fixed time on a copy of its seed corpus and
# regressions with its dictionary. Any crash, sanitizer report or uncaught exception fails the run;
# libFuzzer leaves the input as crash-* in the work folder, named in the output.
# Usage: fuzz/run_ci.sh [seconds per target, default 20] [build dir, default build-fuzz-quick]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
build="${2:-build-fuzz-quick}"
# Debian's clang-14 installs clang++-14; a plain clang++ serves too.
CXX="${SCANLAB_FUZZ_CXX:-$(command -v clang++-14 || command -v clang++)}" cmake -S fuzz/quick -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice cmake --build "$build" -j "${SCANLAB_JOBS:-2}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for target in npz token_ids gpt2_bpe safetensors; do
  corpus="$work/$target"
  mkdir -p "$corpus"
  cp fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  cp fuzz/regressions/"$target"/* "$corpus"/ 2>/dev/null || true
  # -timeout: a single input running for 10 s is a finding (a hang), as is 2 GiB of memory.
  if ! nice "$build/fuzz_$target" "$corpus" -dict="fuzz/dict/$target.dict" -max_total_time="$seconds" \
      -max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/crash-$target-" -print_final_stats=1 \
      >"$work/$target.log" 2>&1; then
    failed=1
    echo "fuzz_$target: FAILED"
    tail -40 "$work/$target.log"
    mkdir -p "$build/findings" && cp "$work"/crash-"$target"-* "$build/findings/" 2>/dev/null || true
  fi
  echo "fuzz_$target: $(grep -E '^stat::number_of_executed_units' "$work/$target.log" | awk '{print $2}') executions in ${seconds} s"
done
exit "$failed"
