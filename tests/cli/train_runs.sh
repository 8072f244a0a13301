# Sourced by the multi-process `scanlab train` scripts (train_dist.sh, train_seq_parallel.sh) with
# their arguments <scanlab> <config.toml> [python3 with numpy]. Gives a scratch folder $dir (removed
# on exit), fail, and, with the script's ${common[@]} (the train arguments every run shares):
#   run <name> <args...>  one `scanlab train`, run folder $dir/<name>, output in $dir/<name>.log
#   agree <label> <a> <b> the two runs' weights and losses agree to 1e-12 (compare_runs.py); prints
#                         "<label>: <the differences>", or fails the script (a failure inside $(...)
#                         would only end the subshell)
scanlab=$1
config=$2
python=${3:-python3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
run() {
  local name=$1
  shift
  "$scanlab" --threads 1 "${common[@]}" --set "train.out_dir=\"$dir/$name\"" "$@" > "$dir/$name.log" 2>&1 ||
    { cat "$dir/$name.log"; fail "run $name exited $?"; }
}
agree() {
  local out
  out=$("$python" "$here/compare_runs.py" "$dir/$2" "$dir/$3" 1e-12) || fail "$1: $3 differs from $2: $out"
  echo "$1: $out"
}
