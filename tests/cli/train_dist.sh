#!/usr/bin/env bash
# Data-parallel `scanlab train` (issue 19) on c10d's Gloo over loopback, as whole processes, on a tiny
# float64 MQAR model (the checks are exact to rounding, so float64 shows a wrong sum or order at once):
#  1. --nproc 2 and 3 (3 with buckets of ~10 KB, so several all-reduces overlap the backward pass),
#     and 2 processes started by hand with torchrun's variables, give the weights and losses of one
#     process with the whole batch, to 1e-12;
#  2. stopped at step 3 with 2 ranks and resumed with 3 (and with 1), the run ends where the
#     uninterrupted one does: the data order does not depend on the number of ranks; with dropout,
#     2 ranks resumed with 2 end where 2 ranks uninterrupted do (the masks are drawn again);
#  3. kill -9 one rank of 3: the launcher exits non-zero within --dist-timeout, the survivors' errors
#     name the rank, the checkpoint is intact and a run resumes from it with 2 ranks;
#  4. SIGSTOP one rank (a hang): the others stop after --dist-timeout naming it.
# Usage: train_dist.sh <scanlab> <config.toml> [python3 with numpy]
set -u
source "$(dirname "$0")/train_runs.sh"
common=(train --config "$config" --set task.num_train=512 --set task.num_val=64 --set model.n_embd=16
        --set train.dtype=float64 --set train.batch_size=12 --set train.grad_accum=2 --set train.steps=6
        --set train.warmup_steps=2 --set train.eval_every=3 --set train.eval_examples=30 --set train.eval_batch_size=7
        --set train.log_every=1 --set train.checkpoint_every=0)

# 1. N ranks x batch 12/N = 1 process x 12.
run one
run two --nproc 2
run three --nproc 3 --bucket-mb 0.01
grep -q "finished at step 6; checkpoint .* (3 ranks, gloo)" "$dir/three.log" || { cat "$dir/three.log"; fail "3 ranks"; }
agree "2 ranks" one two
agree "3 ranks" one three
# The same 2 ranks started by hand with the variables torchrun sets.
port=$((20000 + RANDOM % 20000))
for r in 1 0; do
  WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 MASTER_PORT=$port "$scanlab" --threads 1 "${common[@]}" \
    --set "train.out_dir=\"$dir/by_hand\"" > "$dir/by_hand.$r.log" 2>&1 &
  pids[r]=$!
done
for r in 0 1; do wait "${pids[r]}" || { cat "$dir/by_hand.$r.log"; fail "rank $r started by hand"; }; done
[[ ! -s $dir/by_hand.1.log ]] || { cat "$dir/by_hand.1.log"; fail "rank 1 printed something"; }
agree "2 ranks from torchrun's variables" one by_hand

# 2. Resumed with another number of ranks.
run two_then_three --nproc 2 --stop-after 3
run two_then_three --nproc 3 --resume
agree "2 ranks, resumed with 3" one two_then_three
run three_then_one --nproc 3 --stop-after 2
run three_then_one --resume
agree "3 ranks, resumed with 1" one three_then_one
# With dropout, a run of 2 ranks resumed with 2 draws the same masks as the uninterrupted one.
drop=(--set model.resid_pdrop=0.2 --set model.embd_pdrop=0.2)
run drop_whole --nproc 2 "${drop[@]}"
run drop_resumed --nproc 2 "${drop[@]}" --stop-after 4
run drop_resumed --nproc 2 "${drop[@]}" --resume
agree "2 ranks with dropout, resumed" drop_whole drop_resumed
! "$python" "$here/compare_runs.py" "$dir/one" "$dir/drop_whole" 1e-6 > /dev/null 2>&1 || fail "dropout changed nothing"

# 3. kill -9 one rank of 3 in a long run with a checkpoint every 2 steps.
long=(--set train.steps=100000 --set train.eval_every=0 --set train.checkpoint_every=2)
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
rank_pid() {  # rank_pid <launcher pid> <rank>: the worker of that rank (a child with RANK=<rank>)
  local p
  for p in /proc/[0-9]*; do
    grep -qx "PPid:[[:space:]]*$1" "$p/status" 2>/dev/null || continue
    tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qx "RANK=$2" && { echo "${p#/proc/}"; return; }
  done
}
started_run() {  # started_run <name> <args...>: starts a long run of 3 ranks, waits for a checkpoint
  local name=$1
  shift
  "$scanlab" --threads 1 "${common[@]}" "${long[@]}" --set "train.out_dir=\"$dir/$name\"" --nproc 3 "$@" \
    > "$dir/$name.log" 2> "$dir/$name.err" &
  launcher=$!
  set -- "$name"
  for _ in $(seq 1 600); do
    [[ -f $dir/$1/checkpoint.safetensors ]] && break
    kill -0 "$launcher" 2> /dev/null || break
    sleep 0.1
  done
  [[ -f $dir/$1/checkpoint.safetensors ]] || { kill -9 "$launcher"; cat "$dir/$1.err"; fail "$1: no checkpoint after 60 s"; }
  sleep 0.5
}
started_run killed --dist-timeout 10
victim=$(rank_pid "$launcher" 1)
[[ -n $victim ]] || fail "rank 1's process not found"
t0=$(now_ms)
kill -9 "$victim"
wait "$launcher"
rc=$?
took=$(($(now_ms) - t0))
((rc != 0)) || fail "the launcher exited 0 after a rank was killed"
((took < 10000)) || { cat "$dir/killed.err"; fail "the job took $took ms to stop (timeout 10 s)"; }
grep -q "rank 1 was killed by signal 9" "$dir/killed.err" || { cat "$dir/killed.err"; fail "the launcher's report"; }
for r in 0 2; do
  grep -q "rank $r: .*rank 1 stopped responding" "$dir/killed.err" || { cat "$dir/killed.err"; fail "rank $r's error"; }
done
leftovers=$(find "$dir/killed" -name '*.tmp-*' | wc -l)
[[ $leftovers == 0 ]] || fail "$leftovers temporary files left behind"
at=$(grep -o '"global_step":[0-9]*' "$dir/killed/metrics.jsonl" | tail -1 | cut -d: -f2)
"$scanlab" --threads 1 "${common[@]}" "${long[@]}" --set "train.out_dir=\"$dir/killed\"" --nproc 2 --resume \
  --stop-after $((at + 2)) > "$dir/resumed.log" 2>&1 || { cat "$dir/resumed.log"; fail "resuming after the kill"; }
grep -q "stopped at step $((at + 2))" "$dir/resumed.log" || { cat "$dir/resumed.log"; fail "the resumed run"; }
echo "kill -9 of rank 1: stopped in ${took} ms (rc $rc), ranks 0 and 2 named it; resumed with 2 ranks"

# 4. A rank that hangs (stopped): the others give up after --dist-timeout 4, naming it.
started_run hung --dist-timeout 4
victim=$(rank_pid "$launcher" 2)
[[ -n $victim ]] || fail "rank 2's process not found"
kill -STOP "$victim"
t0=$(now_ms)
for _ in $(seq 1 300); do grep -q "rank 0: " "$dir/hung.err" && break; sleep 0.1; done
took=$(($(now_ms) - t0))
kill -9 "$victim"
wait "$launcher"
grep -q "rank 0: .*rank 2 stopped responding" "$dir/hung.err" || { cat "$dir/hung.err"; fail "rank 0's error for a hung rank"; }
((took < 12000)) || { cat "$dir/hung.err"; fail "rank 0 took $took ms to stop (timeout 4 s)"; }
echo "SIGSTOP of rank 2: rank 0 stopped after ${took} ms naming it"
