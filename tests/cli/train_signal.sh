#!/usr/bin/env bash
# `scanlab train` stopped by SIGINT and by SIGTERM mid-run: it saves a checkpoint, says so, and exits
# 128 + the signal (130, 143) as a killed command would, so scripts can tell it from a finished run;
# --resume then continues from the saved step.
# Usage: train_signal.sh <scanlab> <config.toml>
set -u
scanlab=$1
config=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for sig in INT TERM; do
  out=$dir/$sig
  "$scanlab" --threads 1 train --config "$config" --set train.steps=100000 --set train.log_every=1 \
    --set "train.out_dir=\"$out\"" > "$dir/$sig.log" 2>&1 &
  pid=$!
  # Signal once training is under way (the first metrics row), so the run's own handler takes it.
  for _ in $(seq 1 1200); do [[ -s $out/metrics.jsonl ]] && break; sleep 0.05; done
  [[ -s $out/metrics.jsonl ]] || { echo "SIG$sig: no metrics after 60 s"; cat "$dir/$sig.log"; exit 1; }
  kill -s "$sig" "$pid"
  wait "$pid"
  rc=$?
  expected=$((128 + $(kill -l "$sig")))
  [[ $rc == "$expected" ]] || { echo "SIG$sig: exit code $rc, expected $expected"; cat "$dir/$sig.log"; exit 1; }
  grep -q "checkpoint saved at step" "$dir/$sig.log" || { echo "SIG$sig: no 'checkpoint saved'"; cat "$dir/$sig.log"; exit 1; }
  "$scanlab" --threads 1 train --config "$config" --set train.steps=100000 --set "train.out_dir=\"$out\"" \
    --resume --stop-after 0 > "$dir/$sig.resume.log" 2>&1
  rc=$?
  [[ $rc == 0 ]] || { echo "SIG$sig: --resume --stop-after 0 exited $rc"; cat "$dir/$sig.resume.log"; exit 1; }
done
echo "train exits 130 after SIGINT and 143 after SIGTERM, checkpoint saved and resumable"
