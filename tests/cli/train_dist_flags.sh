#!/usr/bin/env bash
# Data-parallel flags and variables that cannot work are refused in one line with exit code 2, before
# training starts: --nproc 0, a global batch the ranks cannot share, --nproc beside WORLD_SIZE, a bad
# MASTER_PORT, a RANK outside the world, an unknown backend, NCCL on the CPU, and two processes that
# disagree on WORLD_SIZE.
# Usage: train_dist_flags.sh <scanlab> <config.toml>
set -u
scanlab=$1
config=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
train=(--threads 1 train --config "$config" --set task.num_train=64 --set model.n_embd=16 --set train.steps=2
       --set "train.out_dir=\"$dir/run\"")
refused() {  # refused <expected text> <env...> -- <args...>
  local want=$1 envs=()
  shift
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" "$scanlab" "$@" > "$dir/out" 2> "$dir/err"
  local rc=$?
  [[ $rc == 2 ]] || { cat "$dir/err"; fail "exit $rc (expected 2) for: ${envs[*]} $*"; }
  [[ $(wc -l < "$dir/err") == 1 ]] || { cat "$dir/err"; fail "more than one line for: ${envs[*]} $*"; }
  grep -q -- "$want" "$dir/err" || { cat "$dir/err"; fail "expected '$want' for: ${envs[*]} $*"; }
}
refused "--nproc: got 0; expected a number of processes" -- "${train[@]}" --nproc 0
refused "train.batch_size = 32 is not divisible by the 3 processes" -- "${train[@]}" --nproc 3
refused "--nproc 2 and WORLD_SIZE=2 are both set" WORLD_SIZE=2 -- "${train[@]}" --nproc 2
refused "MASTER_PORT='70000' is not valid; expected an integer in 1..65535" WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 \
  MASTER_PORT=70000 -- "${train[@]}"
refused "MASTER_PORT='x1' is not valid" WORLD_SIZE=2 RANK=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=x1 -- "${train[@]}"
refused "RANK=2 is outside the world: WORLD_SIZE=2" WORLD_SIZE=2 RANK=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29999 -- \
  "${train[@]}"
refused "WORLD_SIZE=2 but MASTER_ADDR is not set" WORLD_SIZE=2 RANK=0 MASTER_PORT=29999 -- "${train[@]}"
refused "RANK=0 is set but WORLD_SIZE is not" RANK=0 -- "${train[@]}"
refused "--backend: mpi not in" -- "${train[@]}" --nproc 2 --set train.batch_size=4 --backend mpi
refused "--backend nccl needs CUDA tensors" -- --device cpu "${train[@]}" --nproc 2 --backend nccl
# Two processes that disagree on WORLD_SIZE: rank 1 says 3, rank 0 (which hosts the store) says 2.
port=$((20000 + RANDOM % 20000))
env WORLD_SIZE=2 RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$scanlab" "${train[@]}" --set train.batch_size=6 --dist-timeout 5 \
  > "$dir/rank0.out" 2> "$dir/rank0.err" &
rank0=$!
refused "rank 1: WORLD_SIZE=3 here but rank 0 has WORLD_SIZE=2" WORLD_SIZE=3 RANK=1 MASTER_ADDR=127.0.0.1 \
  MASTER_PORT=$port -- "${train[@]}" --set train.batch_size=6 --dist-timeout 5
wait "$rank0"
rc=$?
((rc != 0)) || fail "rank 0 exited 0 although rank 1 never joined"
echo "bad flags and variables: one line each, exit 2; rank 0 alone exited $rc: $(head -1 "$dir/rank0.err")"
