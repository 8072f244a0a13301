#!/usr/bin/env bash
# Small CPU versions of the PSM paper's experiments (issue 4). Trains into runs/cpu_experiments/ and
# writes tables and plots under docs/experiments/<part>/. Needs a Release build (build/scanlab) and,
# for lm, the corpus from scripts/fetch_data.sh.
#
#   bash scripts/cpu_experiments.sh [s5] [s3] [lm] [mqar]     (no argument = all four)
#
#   s5    S5 word problems: T-PSM (c = 1) vs GPT-2 vs Mamba-like, curriculum to 18, evaluated to 162
#   s3    the same three models and protocol on S3 (6 elements), which this scale can learn
#   lm    byte-level LM on the State of the Union corpus: T-PSM perplexity vs chunk size c, and GPT-2
#   mqar  MQAR (T = 32, 4 pairs): T-PSM c = 8 and 16 vs GPT-2 vs GLA (MQAR_MAMBA=1 adds the Mamba-like
#         model: about 0.6 s per step on one thread, 20 minutes)
# Environment: SCANLAB_BIN (default build/scanlab), THREADS per run (default 1), JOBS runs at once
# (default 2), OUT_DIR (default docs/experiments).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${SCANLAB_BIN:-build/scanlab}
OUT=${OUT_DIR:-docs/experiments}
RUNS=runs/cpu_experiments
JOBS=${JOBS:-2}
parts=("$@")
[[ ${#parts[@]} -eq 0 ]] && parts=(s5 s3 lm mqar)
[[ -x $BIN ]] || { echo "cpu_experiments: $BIN not found; build first (cmake --build build)" >&2; exit 2; }

# train NAME CONFIG [--set k=v ...]: one training run into $RUNS/NAME, its log beside it.
train() {
  local name=$1 config=$2
  shift 2
  mkdir -p "$RUNS/$name"
  "$BIN" --threads "${THREADS:-1}" train --config "$config" --set "name=$name" --set "train.out_dir=$RUNS/$name" "$@" \
    > "$RUNS/$name/train.log" 2>&1
  echo "  trained $name: $(tail -1 "$RUNS/$name/train.log")"
}
export -f train
export BIN RUNS

# Runs the lines of stdin ("NAME CONFIG [ARGS...]") as training runs, JOBS at a time.
train_all() { xargs -P "$JOBS" -L 1 bash -c 'train "$@"' _; }

ckpts() { for n in "$@"; do printf -- '--checkpoint %s ' "$RUNS/$n/checkpoint.safetensors"; done; }

# word_problem GROUP: the three S5 configs with the group overridden; runs named <group>_<model>.
word_problem() {
  local g=$1 lower
  lower=$(echo "$g" | tr '[:upper:]' '[:lower:]')
  for m in transformer_psm gpt2 mamba; do
    echo "${lower}_$m configs/cpu_experiments/s5_$m.toml --set task.group=$g"
  done | train_all
  # shellcheck disable=SC2046
  "$BIN" --threads 2 eval $(ckpts "${lower}_transformer_psm" "${lower}_gpt2" "${lower}_mamba") \
    --lengths 18,34,66,98,130,162 --out "$OUT/$lower"
}
s5() { word_problem S5; }
s3() { word_problem S3; }

lm() {
  for c in 4 8 16 32 64; do echo "lm_tpsm_c$c configs/lm_cpu.toml --set model.chunk_size=$c"; done | train_all
  echo "lm_gpt2 configs/cpu_experiments/lm_gpt2.toml" | train_all
  # shellcheck disable=SC2046
  "$BIN" --threads 2 eval $(ckpts lm_tpsm_c4 lm_tpsm_c8 lm_tpsm_c16 lm_tpsm_c32 lm_tpsm_c64 lm_gpt2) --out "$OUT/lm"
}

mqar() {
  local models=(gpt2 gla)
  [[ ${MQAR_MAMBA:-0} == 1 ]] && models=(gpt2 mamba gla)
  {
    for c in 8 16; do echo "mqar_tpsm_c$c configs/cpu_experiments/mqar_transformer_psm.toml --set model.chunk_size=$c"; done
    for m in "${models[@]}"; do echo "mqar_$m configs/cpu_experiments/mqar_$m.toml"; done
  } | train_all
  local runs=(mqar_tpsm_c8 mqar_tpsm_c16)
  for m in "${models[@]}"; do runs+=("mqar_$m"); done
  # shellcheck disable=SC2046
  "$BIN" --threads 2 eval $(ckpts "${runs[@]}") --out "$OUT/mqar"
  # The same 64 examples in both modes: streamed accuracy and loss must equal the parallel ones.
  for mode in parallel stream; do
    # shellcheck disable=SC2046
    "$BIN" --threads 2 eval $(ckpts "${runs[@]}") --mode $mode --examples 64 --out "$OUT/mqar/${mode}_64"
  done
}

for p in "${parts[@]}"; do
  case $p in
    s5 | s3 | lm | mqar) echo "== $p"; "$p" ;;
    *) echo "cpu_experiments: unknown part '$p'; expected s5, s3, lm or mqar" >&2; exit 2 ;;
  esac
done
