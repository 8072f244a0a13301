#!/usr/bin/env bash
# Fault tests of `scanlab train` as whole processes (issue 21), on the small MQAR config at width 128 (a
# checkpoint of about 7 MB, so a write lasts long enough for a kill to land inside it):
#  1. kill -9 a run that writes a checkpoint every step, a bounded number of times (every other kill
#     as soon as a temporary file of an atomic write appears, the others after a random delay), each
#     followed by --resume: the final weights must equal an uninterrupted run's (the
#     weights' SHA-1 in the model file), metrics.jsonl must hold every step once, and no temporary file
#     may be left behind;
#  2. a second run on a directory in use is refused (exit 2, one line) and the first goes on;
#  3. a full disk, injected as a file-size limit (ulimit -f with SIGXFSZ ignored, so writes fail with
#     EFBIG as they would with ENOSPC): the checkpoint write fails with an error naming the file (exit 2),
#     the previous checkpoint is kept, and resuming from it ends at the uninterrupted run's weights.
# Usage: train_faults.sh <scanlab> <config.toml> [kills]
set -u
scanlab=$1
config=$2
kills=${3:-6}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
steps=60
common=(--threads 1 train --config "$config" --set train.steps=$steps --set train.checkpoint_every=1 --set model.n_embd=128
        --set train.log_every=1 --set train.eval_every=0 --set train.eval_examples=8 --set train.warmup_steps=5)
fail() { echo "FAIL: $*"; exit 1; }
weights_sha1() { head -c 65536 "$1" | grep -ao '"scanlab.weights_sha1":"[0-9a-f]*"'; }

# The uninterrupted reference.
"$scanlab" "${common[@]}" --set "train.out_dir=\"$dir/whole\"" > "$dir/whole.log" 2>&1 || { cat "$dir/whole.log"; fail "reference run"; }
want=$(weights_sha1 "$dir/whole/checkpoint.safetensors")
[[ -n $want ]] || fail "the reference checkpoint has no weights hash"

# 1. kill -9 at random moments, then resume, until the run finishes.
run=$dir/killed
RANDOM=21
killed=0
inside_writes=0  # kills that left a checkpoint's temporary file behind: they landed inside a write
for attempt in $(seq 1 $((kills + 20))); do
  if compgen -G "$run/*.tmp-*" > /dev/null; then inside_writes=$((inside_writes + 1)); fi
  resume=()
  [[ -f $run/checkpoint.safetensors ]] && resume=(--resume)
  "$scanlab" "${common[@]}" --set "train.out_dir=\"$run\"" "${resume[@]}" > "$dir/killed.$attempt.log" 2>&1 &
  pid=$!
  if ((killed < kills)); then
    if ((attempt % 2)); then
      # Inside a write: as soon as a temporary file (checkpoint or metrics rewrite) appears, then 0-9 ms.
      for _ in $(seq 1 10000); do compgen -G "$run/*.tmp-*" > /dev/null && break; sleep 0.001; done
      sleep "0.00$((RANDOM % 10))"
    else
      # Anywhere: up to 4 s, torch's start-up, then training with a checkpoint written every step.
      sleep "$((RANDOM % 4)).$((RANDOM % 10))"
    fi
    if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  fi
  wait "$pid" 2>/dev/null  # no "Killed" notice from the shell
  rc=$?
  if ((rc == 0)); then break; fi
  ((rc == 137)) || { cat "$dir/killed.$attempt.log"; fail "attempt $attempt exited $rc"; }
done
grep -q "finished at step $steps" "$dir"/killed.*.log || fail "the killed run never finished"
got=$(weights_sha1 "$run/checkpoint.safetensors")
[[ $got == "$want" ]] || fail "after $killed kills the weights differ from the uninterrupted run's: $got vs $want"
rows=$(grep -c '"kind":"train"' "$run/metrics.jsonl")
distinct=$(grep '"kind":"train"' "$run/metrics.jsonl" | grep -o '"global_step":[0-9]*' | sort -u | wc -l)
[[ $rows == "$steps" && $distinct == "$steps" ]] || fail "metrics: $rows train rows, $distinct distinct steps; expected $steps"
leftovers=$(find "$run" -name '*.tmp-*' | wc -l)
[[ $leftovers == 0 ]] || fail "$leftovers temporary files left behind"

# 2. One run per directory.
busy=$dir/busy
"$scanlab" --threads 1 train --config "$config" --set train.steps=100000 --set train.log_every=1 \
  --set "train.out_dir=\"$busy\"" > "$dir/busy.log" 2>&1 &
pid=$!
for _ in $(seq 1 1200); do [[ -s $busy/metrics.jsonl ]] && break; sleep 0.05; done
[[ -s $busy/metrics.jsonl ]] || { kill -9 "$pid"; cat "$dir/busy.log"; fail "no metrics after 60 s"; }
"$scanlab" --threads 1 train --config "$config" --set train.steps=100000 --set "train.out_dir=\"$busy\"" \
  > "$dir/second.log" 2> "$dir/second.err"
rc=$?
kill -TERM "$pid"
wait "$pid"
first_rc=$?
[[ $rc == 2 ]] || { cat "$dir/second.err"; fail "a second run on a busy directory exited $rc, expected 2"; }
[[ $(wc -l < "$dir/second.err") == 1 ]] && grep -q "in use by another scanlab process" "$dir/second.err" ||
  { cat "$dir/second.err"; fail "the second run's error"; }
[[ $first_rc == 143 ]] || fail "the first run exited $first_rc after SIGTERM, expected 143"

# 3. A full disk while a checkpoint is written: writes past 256 KiB fail (a checkpoint is larger).
full=$dir/full
"$scanlab" "${common[@]}" --set "train.out_dir=\"$full\"" --stop-after 5 > "$dir/full.first.log" 2>&1 ||
  { cat "$dir/full.first.log"; fail "the run before the full disk"; }
before=$(weights_sha1 "$full/checkpoint.safetensors")
(
  trap '' XFSZ
  ulimit -f 256
  exec "$scanlab" "${common[@]}" --set "train.out_dir=\"$full\"" --resume
) > "$dir/full.log" 2> "$dir/full.err"
rc=$?
[[ $rc == 2 ]] || { cat "$dir/full.err"; fail "a failed checkpoint write exited $rc, expected 2"; }
grep -q "checkpoint.safetensors" "$dir/full.err" || { cat "$dir/full.err"; fail "the error does not name the checkpoint"; }
[[ $(weights_sha1 "$full/checkpoint.safetensors") == "$before" ]] || fail "the failed write changed the last checkpoint"
"$scanlab" "${common[@]}" --set "train.out_dir=\"$full\"" --resume > "$dir/after.log" 2>&1 ||
  { cat "$dir/after.log"; fail "the run did not resume after the full disk"; }
[[ $(weights_sha1 "$full/checkpoint.safetensors") == "$want" ]] || fail "after the full disk the weights differ"
leftovers=$(find "$full" -name '*.tmp-*' | wc -l)
[[ $leftovers == 0 ]] || fail "$leftovers temporary files left behind after the full disk"
echo "$killed kill -9 ($inside_writes inside a checkpoint write): resumed to the uninterrupted weights, $steps metric rows once each;" \
     "a busy directory refused; a full disk an error naming the checkpoint, the last one kept"
