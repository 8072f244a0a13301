#!/usr/bin/env bash
# `scanlab report` on real command outputs: a tiny MQAR training run (metrics.jsonl, experiment.json),
# its `scanlab eval` over two lengths (eval.json), a one-pair `nar compare` (results.jsonl) and a short
# `bench decode --plot-dir` (decode.json); then the page, its plots and tables, and the errors
# (exit 2, one line, naming the folder or the file and line).
# Usage: report_cli.sh <scanlab> <repo root> <work dir>   (the report is left in <work dir>/report)
set -u
scanlab=$1
root=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
run() {  # run a command quietly; show its output if it fails
  "$@" > cmd.log 2>&1 || { cat cmd.log; fail "exit $? from: $*"; }
}

train_dir=runs/train/mqar_T32_tpsm_c8
run "$scanlab" --threads 1 train --config "$root/configs/mqar_cpu.toml" --set name=mqar_T32_tpsm_c8 \
  --set model.n_embd=16 --set model.n_layer_inf=1 --set train.steps=6 --set train.eval_every=3 \
  --set train.eval_examples=32 --set train.log_every=1 --set "train.out_dir=\"$train_dir\""
[[ -s $train_dir/metrics.jsonl && -s $train_dir/experiment.json ]] || fail "train wrote no metrics.jsonl / experiment.json"
run "$scanlab" --threads 1 eval --checkpoint "$train_dir/checkpoint.safetensors" --lengths 16,32 --examples 16 \
  --out runs/eval
rm "$train_dir/checkpoint.safetensors"  # the report needs only the small files
run "$scanlab" --threads 1 nar compare --pair search --processors mpnn --seeds 1 --steps 2 --hidden 16 \
  --train-samples 32 --eval-samples 1 --train-nodes 8 --val-nodes 8 --test-nodes 16 --out-dir runs/nar
run "$scanlab" --threads 1 bench decode --models transformer_psm,gpt2 --tokens 64 --width 16 --chunk 4 \
  --plot-dir runs/decode
[[ -s runs/decode/decode.json ]] || fail "bench decode --plot-dir wrote no decode.json"

"$scanlab" report --runs runs --out report > report.log 2>&1 || { cat report.log; fail "report exited $?"; }
grep -q "read 1 training runs, 1 eval files, 1 NAR studies, 1 decode benchmarks" report.log || { cat report.log; fail "summary line"; }
[[ -s report/index.html && -s report/report.md ]] || fail "no index.html / report.md"
# Every image and link the page references exists.
refs=$(grep -o '\(src\|href\)="[^"#][^"]*"' report/index.html | sed 's/^[a-z]*="//; s/"$//')
[[ $(grep -c '<img ' report/index.html) -ge 6 ]] || fail "fewer than 6 images on the page"
for f in $refs; do [[ -s report/$f ]] || fail "the page references $f, which is missing"; done
# Tables from every kind of run, in both files; the claims table has a verdict per row.
for words in mqar_T32_tpsm_c8 binary_search parallel_search transformer_psm "node efficiency" "not established"; do
  grep -q "$words" report/report.md || fail "report.md lacks '$words'"
  grep -q "$words" report/index.html || fail "index.html lacks '$words'"
done
[[ $(grep -c '^| [0-9]* | PSM\|^| [0-9]* | NAR' report/report.md) -ge 10 ]] || fail "claims table too short"
grep -q '| mqar_T32_tpsm_c8 | runs/train/mqar_T32_tpsm_c8/metrics.jsonl | mqar | transformer_psm | 8 | 32 | 6 |.*| experiment.json |' \
  report/report.md || fail "the training run is not described by its experiment.json"

# Errors: exit 2 and one line naming the culprit.
check_error() {  # expected-regex, command...
  local pattern=$1; shift
  "$@" > err.out 2> err.log
  local rc=$?
  [[ $rc == 2 ]] || { cat err.log; fail "exit $rc (expected 2) from: $*"; }
  [[ $(wc -l < err.log) == 1 ]] || { cat err.log; fail "more than one line from: $*"; }
  grep -q "$pattern" err.log || { cat err.log; fail "message does not match '$pattern'"; }
}
check_error "run folder 'no_such_dir' does not exist" "$scanlab" report --runs no_such_dir --out bad
mkdir -p broken/run
head -3 "$train_dir/metrics.jsonl" > broken/run/metrics.jsonl
echo '{"kind": "train", "global_step": 4, "loss": ' >> broken/run/metrics.jsonl
check_error "broken/run/metrics.jsonl line 4: malformed JSON" "$scanlab" report --runs broken --out bad
"$scanlab" report --help | grep -q -- "--runs" || fail "--help does not list --runs"
echo "report written from real runs: $(grep -c '<img ' report/index.html) images, every reference present"
