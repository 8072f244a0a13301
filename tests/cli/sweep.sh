#!/usr/bin/env bash
# `scanlab sweep` end to end on the CPU: five NAR sampling jobs (one of them bad) two at a time; the
# good ones finish with their outputs and markers, the bad one is named with its log and the sweep
# exits 1; a second sweep runs only the failed job (fixed in the file) and a changed line; SIGTERM
# stops a sweep with 143 and is passed on; bad flags are one line, exit 2.
# Usage: sweep.sh <scanlab>
set -uo pipefail
scanlab=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cat > "$dir/jobs.txt" <<JOBS
# four good jobs and one with an unknown algorithm
nar sample --algorithm minimum --n 8 --count 4 --seed 1 --out $dir/a.npz
nar sample --algorithm bubble_sort --n 8 --count 4 --seed 2 --out $dir/b.npz
scanlab nar sample --algorithm no_such_algorithm --n 8 --count 4 --seed 3 --out $dir/c.npz

nar sample --algorithm minimum --n 8 --count 4 --seed 4 --out '$dir/d.npz'
nar sample --algorithm minimum --n 8 --count 4 --seed 5 --out "$dir/e.npz"
JOBS
"$scanlab" --threads 1 sweep --jobs "$dir/jobs.txt" --devices cpu --per-device 2 --log-dir "$dir/logs" > "$dir/out" 2> "$dir/err"
rc=$?
[[ $rc == 1 ]] || { cat "$dir/err"; fail "exit $rc with a failed job (expected 1)"; }
for f in a b d e; do [[ -s $dir/$f.npz ]] || fail "$f.npz missing"; done
[[ ! -e $dir/c.npz ]] || fail "the failed job wrote c.npz"
ls "$dir/logs"/*.done | wc -l | grep -qx 4 || { ls "$dir/logs"; fail "expected 4 markers"; }
grep -q "job 3 (line 4) exited with code 2; see $dir/logs/job-3.log" "$dir/err" || { cat "$dir/err"; fail "the failed job is not named"; }
grep -q "no_such_algorithm" "$dir/logs/job-3.log" || { cat "$dir/logs/job-3.log"; fail "the failed job's log lacks its error"; }
grep -q "4 finished, 1 failed, 0 not started; 0 finished before" "$dir/err" || { cat "$dir/err"; fail "summary"; }
echo "first sweep: 4 finished, the bad job named, exit 1"

# Fix job 3, change job 5's seed: only those two run again.
sed -i -e 's/no_such_algorithm/minimum/' -e 's/--seed 5/--seed 6/' "$dir/jobs.txt"
stamp=$(stat -c %Y "$dir/a.npz")
sleep 1
"$scanlab" --threads 1 sweep --jobs "$dir/jobs.txt" --devices cpu --log-dir "$dir/logs" --quiet > "$dir/out" 2> "$dir/err" \
  || { cat "$dir/err"; fail "second sweep failed"; }
grep -q "5 job(s) in $dir/jobs.txt, 3 finished before, 2 to run" "$dir/err" || { cat "$dir/err"; fail "resume count"; }
[[ $(stat -c %Y "$dir/a.npz") == "$stamp" ]] || fail "a finished job ran again"
[[ -s $dir/c.npz ]] || fail "the fixed job did not run"
echo "second sweep: only the fixed and the changed job ran"

# SIGTERM: passed on to the running jobs, the sweep exits 143.
printf 'train --config %s --set train.steps=100000 --set train.out_dir=%s/run --set train.checkpoint_every=0\n' \
  "$(dirname "$0")/../../configs/mqar_cpu.toml" "$dir" > "$dir/long.txt"
"$scanlab" --threads 1 sweep --jobs "$dir/long.txt" --devices cpu --log-dir "$dir/long" > "$dir/out" 2> "$dir/err" &
pid=$!
for _ in $(seq 1 100); do grep -q "step" "$dir/long/job-1.log" 2>/dev/null && break; sleep 0.2; done
kill -TERM $pid
wait $pid
rc=$?
[[ $rc == 143 ]] || { cat "$dir/err"; fail "exit $rc after SIGTERM (expected 143)"; }
grep -q "signal 15: passed on to 1 running job" "$dir/err" || { cat "$dir/err"; fail "signal not passed on"; }
echo "SIGTERM: passed on, exit 143"

bad() {  # bad <expected text> <args...>
  local want=$1
  shift
  "$scanlab" sweep "$@" > "$dir/out" 2> "$dir/err"
  local rc=$?
  [[ $rc == 2 ]] || { cat "$dir/err"; fail "exit $rc (expected 2) for: $*"; }
  [[ $(wc -l < "$dir/err") == 1 ]] || { cat "$dir/err"; fail "more than one line for: $*"; }
  grep -q -- "$want" "$dir/err" || { cat "$dir/err"; fail "expected '$want' for: $*"; }
}
bad "cuda:99 does not exist; this host has" --jobs "$dir/jobs.txt" --log-dir "$dir/x" --devices cuda:99
bad "'gpu' is not a device" --jobs "$dir/jobs.txt" --log-dir "$dir/x" --devices gpu
bad "--per-device" --jobs "$dir/jobs.txt" --log-dir "$dir/x" --per-device 0
printf "train --set 'name=x\n" > "$dir/bad.txt"
bad "bad.txt line 1: a quote (') is not closed" --jobs "$dir/bad.txt" --log-dir "$dir/x" --devices cpu
echo "bad flags and files: one line each, exit 2"
