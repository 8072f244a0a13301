#!/usr/bin/env bash
# Sequence-parallel `scanlab train --seq-parallel` (issue 19) on Gloo over loopback, as whole processes,
# on the tiny float64 MQAR Transformer-PSM (4 chunks of 8 tokens a sequence):
#  1. --nproc 2 (blocks of 2 chunks) and --nproc 4 (one chunk each) train the weights and losses of
#     one process, to 1e-12: every rank takes the whole batch and one block of each sequence;
#  2. the same for affine-family models (configs/cpu_experiments/mqar_gla.toml, d_model 16, chunk_len
#     8): Mamba (short-conv halo, diagonal scan) over 2 and 3 ranks (blocks of 1, 1 and 2 chunks), the
#     gated delta rule and mLSTM over 2;
#  3. what cannot run is refused in one line with exit code 2 before training: one process, a model
#     without a chunk scan, and ranks the chunks cannot all reach (3 and 8 ranks for the T-PSM's 4
#     chunks, 5 for an affine model's).
# Usage: train_seq_parallel.sh <scanlab> <config.toml> [python3 with numpy]
set -u
source "$(dirname "$0")/train_runs.sh"
common=(train --config "$config" --set task.num_train=256 --set task.num_val=32 --set model.n_embd=16
        --set train.dtype=float64 --set train.batch_size=6 --set train.grad_accum=2 --set train.steps=4
        --set train.warmup_steps=1 --set train.eval_every=2 --set train.eval_examples=16 --set train.eval_batch_size=5
        --set train.log_every=1 --set train.checkpoint_every=0)

# 1. P ranks on one sequence = 1 process.
timed() {  # timed <name> <args...>: run, then its wall time
  local t0=${EPOCHREALTIME/./}
  run "$@"
  local t1=${EPOCHREALTIME/./}
  echo "$1: $(((t1 - t0) / 1000)) ms"
}
timed one
timed two --nproc 2 --seq-parallel
timed four --nproc 4 --seq-parallel
grep -q "finished at step 4; checkpoint .* (4 ranks, gloo)" "$dir/four.log" || { cat "$dir/four.log"; fail "4 ranks"; }
agree "2 ranks, sequence parallel" one two
agree "4 ranks, sequence parallel" one four

# 2. Affine-family models: P ranks on one sequence = 1 process.
psm_common=("${common[@]}")
common=(train --config "$(dirname "$config")/cpu_experiments/mqar_gla.toml" --set task.num_train=256
        --set task.num_val=32 --set model.d_model=16 --set model.chunk_len=8 --set model.dropout=0.0
        --set train.dtype=float64 --set train.batch_size=6 --set train.grad_accum=2 --set train.steps=4
        --set train.warmup_steps=1 --set train.eval_every=2 --set train.eval_examples=16 --set train.eval_batch_size=5
        --set train.log_every=1 --set train.checkpoint_every=0)
for model in mamba gated_deltanet mlstm; do
  timed "$model-one" --set "model.model=\"$model\""
  timed "$model-two" --set "model.model=\"$model\"" --nproc 2 --seq-parallel
  agree "$model, 2 ranks, sequence parallel" "$model-one" "$model-two"
done
timed mamba-three --set 'model.model="mamba"' --nproc 3 --seq-parallel
grep -q "finished at step 4; checkpoint .* (3 ranks, gloo)" "$dir/mamba-three.log" || { cat "$dir/mamba-three.log"; fail "3 ranks"; }
agree "mamba, 3 ranks, sequence parallel" mamba-one mamba-three

# 3. Refused in one line, exit 2.
refused() {  # refused <expected text> <args...>
  local want=$1
  shift
  "$scanlab" --threads 1 "${common[@]}" --set "train.out_dir=\"$dir/refused\"" "$@" > "$dir/out" 2> "$dir/err"
  local rc=$?
  [[ $rc == 2 ]] || { cat "$dir/err"; fail "exit $rc (expected 2) for: $*"; }
  [[ $(wc -l < "$dir/err") == 1 ]] || { cat "$dir/err"; fail "more than one line for: $*"; }
  grep -q -- "$want" "$dir/err" || { cat "$dir/err"; fail "expected '$want' for: $*"; }
}
refused "every rank needs at least one chunk" --nproc 5 --seq-parallel --set 'model.model="mamba"'
common=("${psm_common[@]}")
refused "--seq-parallel splits each sequence over the ranks; it needs at least 2" --seq-parallel
# GPT-2 from the same experiment, its model section rewritten (train checks the section's keys first).
sed -e 's/^model = "transformer_psm"/model = "gpt2"/' -e 's/^n_layer_agg = .*/n_layer = 1/' \
    -e '/^n_layer_inf = /d' -e '/^chunk_size = /d' "$config" > "$dir/gpt2.toml"
common[2]="$dir/gpt2.toml"
refused "--seq-parallel: model 'gpt2' has no chunk scan" --nproc 2 --seq-parallel
common=("${psm_common[@]}")
refused "in blocks of 2 chunks (a power of two) per rank they leave rank 2 without tokens" --nproc 3 --seq-parallel
refused "leave rank 7 without tokens" --nproc 8 --seq-parallel
echo "bad sequence-parallel runs: one line each, exit 2"
