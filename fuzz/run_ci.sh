#!/usr/bin/env bash
# CI's fuzzing: every libFuzzer target, each run for a fixed time on a copy of its seed corpus and
# regressions with its dictionary. Any crash, sanitizer report, uncaught exception, 10 s input or
# 2 GiB of memory fails the run; libFuzzer leaves the input as crash-* (copied to <build>/findings/).
#   quick build (fuzz/quick/, about a minute): npz, token_ids, gpt2_bpe, safetensors
#   full build (-DSCANLAB_FUZZ=ON: the whole library with ASan and UBSan, about 15 minutes on two
#   cores from empty): nar_dataset, toml_config, model_config, stream_state, serve_request
# Usage: fuzz/run_ci.sh [seconds per target, default 20] [build dir prefix, default build-fuzz]
#        SCANLAB_FUZZ_SET=quick runs only the quick build's targets.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
prefix="${2:-build-fuzz}"
set_="${SCANLAB_FUZZ_SET:-all}"
[[ $set_ == quick || $set_ == all ]] || { echo "fuzz/run_ci.sh: SCANLAB_FUZZ_SET is '$set_'; expected quick or all" >&2; exit 2; }
jobs="${SCANLAB_JOBS:-2}"
# Debian's clang-14 installs clang++-14; a plain clang++ serves too.
cxx="${SCANLAB_FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}"
[[ -n $cxx ]] || { echo "fuzz/run_ci.sh: no clang++ found (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }

quick="$prefix-quick"
CXX="$cxx" cmake -S fuzz/quick -B "$quick" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice cmake --build "$quick" -j "$jobs"
declare -A exe=([npz]="$quick/fuzz_npz" [token_ids]="$quick/fuzz_token_ids" [gpt2_bpe]="$quick/fuzz_gpt2_bpe"
                [safetensors]="$quick/fuzz_safetensors")
order=(npz token_ids gpt2_bpe safetensors)
if [[ $set_ == all ]]; then
  full="$prefix-full"
  # Only what the five targets link is built (the library and fuzz/): no CLI, tests, benchmarks,
  # Python module or CUDA. -O1 keeps the sanitized build's compile time down; the sanitizers' reports
  # still carry file:line (the top-level CMakeLists.txt adds -gline-tables-only).
  CXX="$cxx" cmake -S . -B "$full" -G Ninja -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS=-O1 -DSCANLAB_FUZZ=ON \
    -DSCANLAB_TESTS=OFF -DSCANLAB_BENCH=OFF -DSCANLAB_CUDA=OFF -DSCANLAB_PYTHON_EXT=OFF >/dev/null
  full_targets=(nar_dataset toml_config model_config stream_state)
  # serve_request exists where cpp-httplib was found (fuzz/CMakeLists.txt).
  grep -q '^build fuzz/fuzz_serve_request:' "$full/build.ninja" && full_targets+=(serve_request)
  nice cmake --build "$full" -j "$jobs" --target "${full_targets[@]/#/fuzz_}"
  for t in "${full_targets[@]}"; do exe[$t]="$full/fuzz/fuzz_$t"; order+=("$t"); done
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for target in "${order[@]}"; do
  corpus="$work/$target"
  mkdir -p "$corpus"
  cp fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  cp fuzz/regressions/"$target"/* "$corpus"/ 2>/dev/null || true
  if ! nice "${exe[$target]}" "$corpus" -dict="fuzz/dict/$target.dict" -max_total_time="$seconds" \
      -seed=1 -max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/crash-$target-" -print_final_stats=1 \
      >"$work/$target.log" 2>&1; then
    failed=1
    echo "fuzz_$target: FAILED"
    tail -40 "$work/$target.log"
    mkdir -p "$prefix-findings" && cp "$work"/crash-"$target"-* "$prefix-findings/" 2>/dev/null || true
  fi
  echo "fuzz_$target: $(grep -E '^stat::number_of_executed_units' "$work/$target.log" | awk '{print $2}') executions in ${seconds} s"
done
exit "$failed"
