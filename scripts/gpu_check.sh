#!/usr/bin/env bash
# On the GPU machine, in one call: build against the PyTorch wheel's LibTorch with CUDA, then run one
# or more parts; logs and tables go to $OUT. Needs .vendor/ (scripts/gpu_vendor.sh) and data/cache
# (scripts/fetch_data.sh) carried along: the device machine has no network.
#
#   bash scripts/gpu_check.sh [tests] [bench] [kernels] [decode] [ops] [train] [mqarsmall] [fused] [serve] [hf] [mqar] [study]   (no argument = tests bench)
#
#   tests  the CUDA tests first (their own log), then the whole suite (TESTS_CUDA_ONLY=1: only those)
#   bench  bench_scan, bench_affine (decode-step batch sweep), scanlab bench decode
#          (DECODE_TOKENS tokens, default 8192; DECODE_LARGE=1 adds the d = 768, 6 + 6 layer T-PSM)
#   kernels bench_affine alone (the decode-step batch sweep)
#   decode scanlab bench decode with the T-PSM's chunk-boundary work overlapped and in order, side
#          by side (CUDA graphs on; DECODE_EAGER=1 adds graphs off), at the latency-benchmark shape
#          (DECODE_TOKENS, default 8192) and for the d = 768, 6 + 6 layer T-PSM and GPT-2; then GPT-2
#          alone to GPT2_TOKENS (default 100000) within GPT2_SECONDS (default 240)
#   ops    scanlab bench ops at S1 (every chunked op, T 4096/16384, 16K tokens a call, bf16), twice (run to
#          run spread), then fla's kernels at the same shapes joined with it (scripts/peers/fla_ops.py,
#          within FLA_SECONDS, default 300; needs .peers/fla carried), then a small shape through both
#          on the same inputs (bench ops --dump) for the output and gradient errors
#   train  scanlab bench train-step in bf16 at 16K tokens a step: the T-PSM (d 768, 12 heads, 6 Agg + 6 Inf,
#          c 64, vocab 50257) and GPT-2 (12 layers) at TRAIN_LENGTHS (default 1024,4096,8192,16384), the
#          T-PSM alone at 65536 (one sequence), then the peers (HF GPT-2 sdpa, the authors' tree.py) at
#          the same shapes (scripts/peers/tpsm_step.py, within PEER_SECONDS, default 300; .peers/hidden)
#   mqarsmall scanlab bench train-step at the MQAR sweep's shapes (d 128, T 128/256/512, batch 64)
#   fused  the fused chunked kernels (identity / scalar / vector gates, delta rules) against the torch form: bench ops
#          --paths auto,torch (and the delta rules: fused with the float32 and the TF32 walk, their recurrence kernel
#          alone, the torch loop), the
#          fused cells again with unsplit state passes (--state-segments 1), then bench train-step --paths auto,torch for linear attention and RetNet
#          (d 768, 12 layers, vocab 50257, bf16, 16K tokens a step at T 1024/4096/16384)
#   varlen bench ops at S1 shapes with T 1024/4096 as equal-length batches, then as packed variable-length
#          calls (--varlen: lengths drawn from [T/2, 3T/2], the same tokens); then the d 768 T-PSM step
#          (6 + 6, c 64, vocab 50257, bf16, 16K tokens; T 64K one sequence) at T 4096/16384/65536 without and with --checkpoint-agg
#   serve  scanlab bench serve on CUDA (in-process server, loopback clients) for the T-PSM, GPT-2, GLA
#          and Mamba2 at 1, 8, 32 and 128 clients (needs .vendor/httplib: scripts/gpu_vendor.sh)
#   trainrun  a real `scanlab train` (LM on data/cache/sotu, GPT-2 BPE, bf16, T 1024 x 16, 30 steps) of
#          the d 768 T-PSM (6 + 6, c 64) and linear attention (12 layers), each beside `bench
#          train-step` at the same shape: ms per step from the metrics' elapsed_s (steps 11-30)
#   hf     scripts/peers/hf_interop_check.py: export --format hf read by transformers' from_pretrained,
#          and a GPT2LMHeadModel's save_pretrained read by import-hf, logits compared both ways
#   mqar   MQAR at T = 128/256/512 (configs/mqar_paper_lengths/): T-PSM c 32 and 64, GPT-2, GLA, Mamba-like,
#          in two waves (attention models, then GLA and Mamba-like) spread over the GPUs, each run cut
#          off (checkpointed) after MQAR_SECONDS (default 400); runs live in runs/mqar_gpu/ and a later call on the warm machine resumes
#          them. Then eval (parallel; stream vs parallel on 64 examples for the finished runs).
#   study  the NAR sequential-vs-parallel study: one job per pair x side x seed x processor, STUDY_JOBS
#          (default 16) at a time on the one GPU under MPS (STUDY_MPS=0: without), in a detached queue that
#          outlives the call; the call waits STUDY_WAIT s (default 540), then joins what finished.
#          Finished jobs stay in runs/study_gpu/ (carry it to resume on a fresh machine).
#          STUDY_PAIRS, STUDY_SEEDS, STUDY_PROCESSORS, STUDY_ORDER select.
# Each test process gets OMP_NUM_THREADS=2: with 16 threads each, 8 parallel ctest jobs oversubscribe
# the 16 cores and the suite crawls.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
parts=("$@")
[[ ${#parts[@]} -eq 0 ]] && parts=(tests bench)
[[ -d .vendor ]] || { echo "gpu_check: .vendor/ missing; run scripts/gpu_vendor.sh here and carry .vendor" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
TORCH_PREFIX=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
BUILD=build-gpu
for p in "${parts[@]}"; do
  case $p in
    tests | bench | kernels | decode | ops | train | mqarsmall | fused | varlen | serve | trainrun | hf | mqar | study) ;;
    *) echo "gpu_check: unknown part '$p'; expected tests, bench, kernels, decode, ops, train, mqarsmall, fused, varlen, serve, trainrun, hf, mqar or study" >&2; exit 2 ;;
  esac
done
t0=$SECONDS
# The Python extension (python/) builds against the wheel when its Python headers are there
# (SCANLAB_PYTHON_EXT=AUTO); SCANLAB_PYTHON_EXT=OFF leaves it out.
cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  -DSCANLAB_VENDOR_DIR="$PWD/.vendor" -DTORCH_CUDA_ARCH_LIST=9.0 \
  -DSCANLAB_PYTHON_EXT="${SCANLAB_PYTHON_EXT:-AUTO}" > "$OUT/configure.log" 2>&1 \
  || { tail -40 "$OUT/configure.log"; exit 1; }
# Everything is built for tests or bench (a later call on the still-warm machine reuses the build);
# the study alone needs only the CLI.
targets=(all)
[[ " ${parts[*]} " == " study " ]] && targets=(scanlab)
cmake --build $BUILD -j "$(nproc)" --target "${targets[@]}" > "$OUT/build.log" 2>&1 \
  || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
echo "== build ok ($((SECONDS - t0)) s)"

run_tests() {
  export OMP_NUM_THREADS=2
  (cd $BUILD && ctest --output-on-failure -j 8 --timeout 300 -R "[Cc]uda|Autocast") > "$OUT/tests_cuda.log" 2>&1
  echo "== CUDA tests: $(grep -E 'tests passed|tests failed' "$OUT/tests_cuda.log")"
  grep -E "^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess)" "$OUT/tests_cuda.log" | head -20
  grep -cE "Passed" "$OUT/tests_cuda.log" | sed 's/^/   passed entries: /'
  grep -E "Skipped|SKIPPED" "$OUT/tests_cuda.log" | head -5
  if [[ ${TESTS_CUDA_ONLY:-0} == 1 ]]; then
    grep -h -B2 -A25 "Failure$\|\[  FAILED  \]" "$OUT/tests_cuda.log" | head -300 > "$OUT/tests_failures.log"
    unset OMP_NUM_THREADS
    return
  fi
  (cd $BUILD && ctest --output-on-failure -j 8 --timeout 300 -E "[Cc]uda|Autocast") > "$OUT/tests.log" 2>&1
  echo "== other tests: $(grep -E 'tests passed|tests failed' "$OUT/tests.log")"
  grep -E "^\s+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess)" "$OUT/tests.log" | head -20
  grep -h -B2 -A25 "Failure$\|\[  FAILED  \]" "$OUT/tests_cuda.log" "$OUT/tests.log" | head -300 > "$OUT/tests_failures.log"
  unset OMP_NUM_THREADS
}

run_kernels() {
  ./$BUILD/bench_affine --device cuda -r 9 > "$OUT/bench_affine_cuda.md" 2>&1
  echo "== bench_affine --device cuda"; cat "$OUT/bench_affine_cuda.md"
}

run_bench() {
  ./$BUILD/bench_scan --device cuda --lengths 16,64,256,1024,4096 -r 5 > "$OUT/bench_scan_cuda.md" 2>&1
  echo "== bench_scan --device cuda"; cat "$OUT/bench_scan_cuda.md"
  ./$BUILD/bench_affine --device cuda -r 9 > "$OUT/bench_affine_cuda.md" 2>&1
  echo "== bench_affine --device cuda"; cat "$OUT/bench_affine_cuda.md"
  # Decode latency vs token index at the paper's latency-benchmark shape (d 256, 2+2 layers, c 64).
  ./$BUILD/scanlab --device cuda bench decode --tokens "${DECODE_TOKENS:-8192}" --width 256 --depth 2 --chunk 64 \
    --window 1024 --csv "$OUT/decode_steps.csv" > "$OUT/bench_decode_cuda.md" 2>&1
  echo "== bench decode --device cuda"; cat "$OUT/bench_decode_cuda.md"
  if [[ ${DECODE_LARGE:-0} == 1 ]]; then
    ./$BUILD/scanlab --device cuda bench decode --tokens "${DECODE_LARGE_TOKENS:-4096}" --width 768 --depth 6 \
      --chunk 64 --models transformer_psm,gpt2 --csv "$OUT/decode_large.csv" > "$OUT/bench_decode_large.md" 2>&1
    echo "== bench decode d=768 6+6"; cat "$OUT/bench_decode_large.md"
  fi
}

run_decode() {
  # At the latency-benchmark shape: every model with graphs and the T-PSM's boundary overlap, then
  # the T-PSM with the boundary work in order, side by side; DECODE_EAGER=1 adds every model eager.
  local variants=("cuda-graphs boundary-overlap" "cuda-graphs no-boundary-overlap")
  [[ ${DECODE_EAGER:-0} == 1 ]] && variants+=("no-cuda-graphs boundary-overlap")
  local v name models
  for v in "${variants[@]}"; do
    name=${v// /_}
    models=transformer_psm,gpt2,sliding_window,gla,mamba2,mamba
    [[ $v == *no-boundary-overlap* ]] && models=transformer_psm
    ./$BUILD/scanlab --device cuda bench decode --tokens "${DECODE_TOKENS:-8192}" --width 256 --depth 2 --chunk 64 \
      --window 1024 --models $models --${v// / --} --csv "$OUT/decode_steps_$name.csv" > "$OUT/bench_decode_$name.md" 2>&1
    echo "== bench decode --${v// / --}"; cat "$OUT/bench_decode_$name.md"
    models=transformer_psm,gpt2
    [[ $v == *no-boundary-overlap* ]] && models=transformer_psm
    ./$BUILD/scanlab --device cuda bench decode --tokens "${DECODE_LARGE_TOKENS:-4096}" --width 768 --depth 6 \
      --chunk 64 --models $models --${v// / --} > "$OUT/bench_decode_large_$name.md" 2>&1
    echo "== bench decode d=768 6+6 --${v// / --}"; cat "$OUT/bench_decode_large_$name.md"
  done
  # GPT-2 with its KV cache as far as GPT2_TOKENS (default 100000) in GPT2_SECONDS (default 240);
  # the per-step CSV survives the time limit, so the windows are summarised from it.
  timeout "${GPT2_SECONDS:-240}" ./$BUILD/scanlab --device cuda bench decode --models gpt2 --tokens "${GPT2_TOKENS:-100000}" \
    --width 256 --depth 2 --csv "$OUT/decode_steps_gpt2_long.csv" > "$OUT/bench_decode_gpt2_long.md" 2>&1
  echo "== bench decode gpt2 to ${GPT2_TOKENS:-100000} tokens (exit $?): p50 ms over 1000-token windows"
  python3 - "$OUT/decode_steps_gpt2_long.csv" <<'PY'
import csv, statistics, sys
windows = {}
for r in csv.DictReader(open(sys.argv[1])):
    windows.setdefault((int(r["token"]) - 1) // 1000, []).append(float(r["ms"]))
for w in sorted(windows):
    if w < 8 or w % 8 == 0 or w == max(windows):
        print(f"  tokens {w * 1000 + 1:6d}-{w * 1000 + 1000:6d}: p50 {statistics.median(windows[w]):.3f} ms")
PY
  (cd "$OUT" && tar czf decode_csv.tgz decode_steps_*.csv && rm -f decode_steps_*.csv)
}

run_mqarsmall() {
  ./$BUILD/scanlab --device cuda bench train-step --models transformer_psm,gpt2,gla,mamba --lengths 128,256,512 \
    --batch 64 --width 128 --chunk 64 -r 5 > "$OUT/bench_train_step.md" 2>&1
  echo "== bench train-step --device cuda"; cat "$OUT/bench_train_step.md"
}

run_fused() {
  ./$BUILD/scanlab --device cuda bench ops --ops linear_attn,scalar_gate,gla --paths auto,torch -r 10 > "$OUT/ops_fused.md" 2>&1
  echo "== bench ops, fused vs torch (exit $?)"; grep -E "^\| (linear_attn|scalar_gate|gla)" "$OUT/ops_fused.md"
  # The delta rules: the fused kernels (auto, rows "fused"), the state recurrence kernel alone with batched
  # torch ops around it (rows "recurrence") and the loop of two products per chunk (torch).
  # auto: the walks on TF32 tensor cores where faster (the default); float32-walk: float32 FMA throughout.
  ./$BUILD/scanlab --device cuda bench ops --ops delta_rule,gated_delta_rule --paths auto,float32-walk,recurrence,torch -r 10 > "$OUT/ops_delta.md" 2>&1
  echo "== bench ops, delta rules, fused (float32 / TF32 walk) vs recurrence kernel vs torch loop (exit $?)"; grep -E "^\| (delta_rule|gated_delta_rule)" "$OUT/ops_delta.md"
  # The same fused cells with each state pass in one walk: the split's side-by-side. At S1 on 132 SMs
  # the device's choice splits T 16384 (B 1: 32-64 state tiles) and T 4096 at 32 x 64 (128 tiles),
  # not T 4096 at 16 x 128 (256 tiles): there the two runs should agree.
  ./$BUILD/scanlab --device cuda bench ops --ops linear_attn,scalar_gate,gla --state-segments 1 -r 10 > "$OUT/ops_fused_unsplit.md" 2>&1
  echo "== bench ops, fused with unsplit state passes (exit $?)"; grep -E "^\| (linear_attn|scalar_gate|gla)" "$OUT/ops_fused_unsplit.md"
  for tb in 1024:16 4096:4 16384:1; do
    ./$BUILD/scanlab --device cuda bench train-step --models linear_attention,retnet --paths auto,torch \
      --dtype bfloat16 --width 768 --depth 12 --vocab 50257 --lengths "${tb%:*}" --batch "${tb#*:}" -r 5 \
      > "$OUT/train_fused_${tb%:*}.md" 2>&1
    echo "== bench train-step T ${tb%:*} (exit $?)"; grep -E "^\| (linear_attention|retnet)" "$OUT/train_fused_${tb%:*}.md"
  done
}

run_varlen() {
  local T ck
  ./$BUILD/scanlab --device cuda bench ops --lengths 1024,4096 -r 10 > "$OUT/ops_equal_lengths.md" 2>&1
  echo "== bench ops, equal lengths (exit $?)"; grep -E "^\| [a-z_]+ \| [0-9]" "$OUT/ops_equal_lengths.md"
  ./$BUILD/scanlab --device cuda bench ops --varlen --lengths 1024,4096 -r 10 > "$OUT/ops_varlen.md" 2>&1
  echo "== bench ops --varlen (exit $?)"; grep -E "^\| [a-z_]+ \| [0-9]" "$OUT/ops_varlen.md"
  # T 65536 (one sequence) runs out of memory on an 80 GB card without --checkpoint-agg.
  for T in 4096 16384 65536; do
    for ck in "" --checkpoint-agg; do
      ./$BUILD/scanlab --device cuda bench train-step --models transformer_psm --lengths "$T" --batch $((T >= 16384 ? 1 : 16384 / T)) \
        --width 768 --heads 12 --depth 6 --chunk 64 --vocab 50257 --dtype bfloat16 -r 3 $ck \
        > "$OUT/train_checkpoint_agg_$T${ck:+_on}.md" 2>&1
      echo "== bench train-step T $T ${ck:-(no checkpointing)} (exit $?)"
      grep -E "^\| transformer_psm" "$OUT/train_checkpoint_agg_$T${ck:+_on}.md"
    done
  done
}

run_serve() {
  local m
  for m in transformer_psm gpt2 gla mamba2; do
    timeout "${SERVE_SECONDS:-120}" ./$BUILD/scanlab --device cuda bench serve --model $m --clients 1,8,32,128 --requests 8 \
      > "$OUT/serve_$m.md" 2>&1
    echo "== bench serve --device cuda --model $m (exit $?)"; cat "$OUT/serve_$m.md"
  done
}

run_trainrun() {
  # The experiment file of each run: configs/lm.toml's task, the bench's model sizes, 30 logged steps.
  local model name
  mkdir -p runs
  for model in transformer_psm linear_attention; do
    name=trainrun_$model
    rm -rf runs/$name
    {
      printf 'name = "%s"\n[task]\nkind = "lm"\npath = "data/cache/sotu"\ntokenizer = "byte"\nseq_len = 1024\n' $name
      printf '[model]\nmodel = "%s"\n' $model
      if [[ $model == transformer_psm ]]; then
        printf 'n_positions = 1024\nn_embd = 768\nn_head = 12\nn_layer_agg = 6\nn_layer_inf = 6\nchunk_size = 64\n'
      else
        printf 'd_model = 768\nn_heads = 12\nn_layers = 12\nchunk_len = 64\nmlp_hidden = 3072\n'
      fi
      printf '[train]\nsteps = 30\nbatch_size = 16\nlr = 1e-4\nwarmup_steps = 0\nclip_norm = 1.0\nlog_every = 1\n'
      printf 'eval_every = 0\ncheckpoint_every = 0\nbf16 = true\nout_dir = "runs/%s"\n' $name
    } > runs/$name.toml
    ./$BUILD/scanlab --device cuda train --config runs/$name.toml > "$OUT/$name.log" 2>&1
    echo "== scanlab train $model (exit $?): ms per step, steps 11-30, from metrics.jsonl elapsed_s"
    python3 - runs/$name/metrics.jsonl <<'PY' || tail -3 "$OUT/$name.log"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
t = {r["step"]: r["elapsed_s"] for r in rows if r.get("kind") == "train"}
print(f"  {1000 * (t[30] - t[10]) / 20:.1f} ms per step (optimizer, clipping, data and logging included)")
PY
  done
  ./$BUILD/scanlab --device cuda bench train-step --models transformer_psm --lengths 1024 --batch 16 --width 768 \
    --heads 12 --depth 6 --chunk 64 --vocab 256 --dtype bfloat16 -r 5 | grep -E "^\| (model|transformer)"
  ./$BUILD/scanlab --device cuda bench train-step --models linear_attention --lengths 1024 --batch 16 --width 768 \
    --depth 12 --chunk 64 --vocab 256 --dtype bfloat16 -r 5 | grep -E "^\| linear"
}

run_hf() {
  timeout 180 python3 scripts/peers/hf_interop_check.py --scanlab "./$BUILD/scanlab" > "$OUT/hf_interop.txt" 2>&1
  echo "== hf_interop_check (exit $?)"; tail -4 "$OUT/hf_interop.txt"
}

run_ops() {
  local i
  for i in 1 2; do
    ./$BUILD/scanlab --device cuda bench ops -o json > "$OUT/ops_scanlab_$i.json" 2> "$OUT/ops_scanlab_$i.log"
    echo "== bench ops (run $i, exit $?)"
  done
  ./$BUILD/scanlab --device cuda bench ops -o md -r 3 --pass fwd --lengths 4096 --heads 16 --dim 128 > "$OUT/ops_scanlab.md" 2>&1
  cat "$OUT/ops_scanlab.md"
  PYTHONUNBUFFERED=1 timeout "${FLA_SECONDS:-300}" python3 scripts/peers/fla_ops.py --scanlab-json "$OUT/ops_scanlab_2.json" \
    > "$OUT/ops_vs_fla.md" 2> "$OUT/fla.log"
  echo "== scanlab vs fla at S1 (exit $?)"; cat "$OUT/ops_vs_fla.md"; tail -5 "$OUT/fla.log"
  [[ ${FLA_ERRORS:-1} == 1 ]] || return 0  # FLA_ERRORS=0: timings only
  rm -rf /tmp/ops_dump
  ./$BUILD/scanlab --device cuda bench ops --tokens 2048 --lengths 1024 --heads 4 --dim 64 --pass fwdbwd -r 1 \
    --dump /tmp/ops_dump > /dev/null 2>> "$OUT/ops_scanlab_1.log"
  PYTHONUNBUFFERED=1 timeout 240 python3 scripts/peers/fla_ops.py --dump /tmp/ops_dump > "$OUT/ops_errors_vs_fla.md" 2>> "$OUT/fla.log"
  echo "== errors vs fla on the same inputs (exit $?)"; cat "$OUT/ops_errors_vs_fla.md"
}

run_train() {
  local T lengths=${TRAIN_LENGTHS:-1024,4096,8192,16384} f="$OUT/train_step_scanlab.jsonl"
  : > "$f"
  for T in ${lengths//,/ }; do
    ./$BUILD/scanlab --device cuda bench train-step --models transformer_psm --lengths "$T" --batch $((16384 / T)) \
      --width 768 --heads 12 --depth 6 --chunk 64 --vocab 50257 --dtype bfloat16 -r 5 -o json >> "$f" 2>> "$OUT/train_step.log"
    ./$BUILD/scanlab --device cuda bench train-step --models gpt2 --lengths "$T" --batch $((16384 / T)) \
      --width 768 --heads 12 --depth 12 --vocab 50257 --dtype bfloat16 -r 5 -o json >> "$f" 2>> "$OUT/train_step.log"
  done
  ./$BUILD/scanlab --device cuda bench train-step --models transformer_psm --lengths 65536 --batch 1 \
    --width 768 --heads 12 --depth 6 --chunk 64 --vocab 50257 --dtype bfloat16 -r 3 -o json >> "$f" 2>> "$OUT/train_step.log"
  echo "== bench train-step bf16, 16K tokens a step"
  python3 - "$f" <<'PY'
import json, sys
rows, text = [], open(sys.argv[1]).read()  # one JSON array per bench call, back to back
dec, i = json.JSONDecoder(), 0
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    obj, i = dec.raw_decode(text, i)
    rows += obj if isinstance(obj, list) else [obj]
keys = [k for k in rows[0].keys() if k != "device"] if rows else []
print("| " + " | ".join(keys) + " |")
print("|" + "---|" * len(keys))
for r in rows:
    print("| " + " | ".join(f"{r.get(k):.4g}" if isinstance(r.get(k), float) else str(r.get(k)) for k in keys) + " |")
PY
  PYTHONUNBUFFERED=1 timeout "${PEER_SECONDS:-300}" python3 scripts/peers/tpsm_step.py --lengths "$lengths" \
    --agg-layers 6 --inf-layers 6 --depth 12 > "$OUT/train_step_peers.md" 2> "$OUT/peers.log"
  echo "== peers (exit $?)"; cat "$OUT/train_step_peers.md"; tail -5 "$OUT/peers.log"
}

run_mqar() {
  local runs=runs/mqar_gpu gpus i=0 pids=() names=() done_runs=()
  gpus=$(nvidia-smi -L | wc -l)
  mkdir -p $runs
  # launch CELL...: one run per cell and length, spread over the GPUs, each cut off after MQAR_SECONDS.
  launch() {
    local cell T
    pids=()
    for T in 128 256 512; do
      for cell in "$@"; do
        local name=mqar_T${T}_$cell model=$cell extra=() resume=()
        case $cell in tpsm_c*) model=transformer_psm; extra=(--set "model.chunk_size=${cell#tpsm_c}") ;; esac
        [[ -f $runs/$name/checkpoint.safetensors ]] && resume=(--resume)
        mkdir -p $runs/$name
        CUDA_VISIBLE_DEVICES=$((i % gpus)) timeout -s TERM "${MQAR_SECONDS:-400}" ./$BUILD/scanlab --device cuda --threads 1 \
          train --config configs/mqar_paper_lengths/mqar_$model.toml --set "name=$name" --set "task.seq_len=$T" \
          --set "train.out_dir=$runs/$name" "${extra[@]}" "${resume[@]}" >> $runs/$name/train.log 2>&1 &
        pids+=($!)
        names+=("$name")
        i=$((i + 1))
      done
    done
  }
  # Two waves: all 15 runs at once overflow one 80 GB GPU (GLA and the Mamba-like model hold
  # [B, T, channels, d_state] tensors at batch 128).
  launch tpsm_c32 tpsm_c64 gpt2
  wait "${pids[@]}"
  launch gla mamba
  wait "${pids[@]}"
  mkdir -p "$OUT/mqar"
  for name in "${names[@]}"; do
    echo "  $name: $(grep -E '^(finished|stopped)|error' $runs/$name/train.log | tail -1)"
    cp $runs/$name/metrics.csv "$OUT/mqar/$name.metrics.csv" 2>/dev/null
    grep -q "^finished" $runs/$name/train.log && done_runs+=(--checkpoint $runs/$name/checkpoint.safetensors)
  done
  if [[ ${#done_runs[@]} -gt 0 ]]; then
    ./$BUILD/scanlab --device cuda eval "${done_runs[@]}" --out "$OUT/mqar/eval" > "$OUT/mqar/eval.log" 2>&1
    cat "$OUT/mqar/eval/eval.md" 2>/dev/null
    for mode in parallel stream; do
      ./$BUILD/scanlab --device cuda eval "${done_runs[@]}" --mode $mode --examples 64 --out "$OUT/mqar/${mode}_64" \
        >> "$OUT/mqar/eval.log" 2>&1
      echo "== $mode, 64 examples"; cat "$OUT/mqar/${mode}_64/eval.md" 2>/dev/null
    done
  fi
  (cd "$OUT" && tar czf mqar.tgz mqar && rm -rf mqar)
}

run_study() {
  # One job per pair x side x seed x processor (160 for the full study), longest tasks first, STUDY_JOBS
  # processes at a time on the one GPU under MPS. The queue runs detached (setsid), so it goes on between
  # calls while the machine stays warm; a call starts it (or finds it running), waits up to STUDY_WAIT s,
  # then reports and packs what finished. Jobs live in runs/study_gpu/<pair>-<side>-<seed>-<processor>/;
  # a job whose results.jsonl exists is skipped, so carrying runs/study_gpu resumes on a fresh machine
  # (a job cut off by a machine's release reruns from its start).
  local root=runs/study_gpu
  local pidfile=$root/queue.pid
  mkdir -p "$root"
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/scanlab_mps CUDA_MPS_LOG_DIRECTORY=/tmp/scanlab_mps_log
  if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "== study: the queue an earlier call started is still running"
  else
    if [[ ${STUDY_MPS:-1} == 1 ]]; then
      # MPS lets the launch-bound processes' kernels share the GPU instead of time-slicing it.
      mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
      nvidia-cuda-mps-control -d 2>/dev/null && echo "== study: MPS daemon started" || echo "== study: no new MPS daemon"
    fi
    rm -rf "$root"/*.part
    : > "$root/queue.txt"
    # Seeds outermost, so every cell gets its first seed before any cell its second; inside a seed the
    # longest tasks first.
    for seed in ${STUDY_SEEDS:-42 51 34 103 60}; do
      for pair_side in ${STUDY_ORDER:-scc:sequential sort:sequential scc:parallel sort:parallel prefix_sum:sequential \
          search:sequential prefix_sum:parallel search:parallel}; do
        local pair=${pair_side%%:*} side=${pair_side##*:}
        [[ " ${STUDY_PAIRS:-search sort scc prefix_sum} " == *" $pair "* ]] || continue
        for proc in ${STUDY_PROCESSORS:-deepsets gat mpnn pgn}; do
          local d="$root/$pair-$side-$seed-$proc"
          [[ -s $d/results.jsonl ]] || echo "$pair $side $seed $proc $d" >> "$root/queue.txt"
        done
      done
    done
    echo "== study: $(wc -l < "$root/queue.txt") jobs queued, ${STUDY_JOBS:-16} at a time"
    BUILD=$BUILD OMP_NUM_THREADS=1 setsid nohup xargs -P "${STUDY_JOBS:-16}" -L 1 -a "$root/queue.txt" bash -c '
      mkdir -p "$4.part" && date +%s > "$4.part/started"
      ./$BUILD/scanlab --device cuda --threads 1 nar compare --pair $0 --side $1 --seed $2 --processors $3 \
        --out-dir "$4.part" > "$4.part/progress.log" 2>&1 && rm -rf "$4" && mv "$4.part" "$4"' \
      > "$root/queue.log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
  fi
  local until=$(($(date +%s) + ${STUDY_WAIT:-540}))
  while kill -0 "$(cat "$pidfile")" 2>/dev/null && (( $(date +%s) < until )); do sleep 5; done
  local have=() running=()
  for d in "$root"/*/; do d=${d%/}; [[ $d != *.part && -s $d/results.jsonl ]] && have+=("$d"); done
  for d in "$root"/*.part; do [[ -e $d ]] && running+=("   $(basename "$d"): $(tail -n 1 "$d/progress.log" 2>/dev/null)"); done
  echo "== study: ${#have[@]} jobs finished; ${#running[@]} running or cut off"
  (( ${#running[@]} )) && printf '%s\n' "${running[@]}"
  if kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "== study: the queue goes on; call again (soon: the machine is released when idle)"
  elif [[ ${STUDY_MPS:-1} == 1 ]]; then
    echo quit | nvidia-cuda-mps-control 2>/dev/null
  fi
  local list
  list=$(IFS=,; echo "${have[*]}")
  mkdir -p "$OUT/study_joined"
  [[ -n $list ]] && ./$BUILD/scanlab nar compare --merge "$list" --out-dir "$OUT/study_joined" > "$OUT/study_table.md"
  tar czf "$OUT/study.tgz" -C runs study_gpu && tar czf "$OUT/study_joined.tgz" -C "$OUT" study_joined && rm -rf "$OUT/study_joined"
}

for p in "${parts[@]}"; do "run_$p"; done
# The device tool returns at most 8 files: pack the logs and tables (printed above), keep the failure excerpts.
# The archive is written outside $OUT first: tar exits 1 ("file changed as we read it") when it
# grows inside the directory it reads, which skipped the clean-up.
logs=$(mktemp --suffix=.tgz)
(cd "$OUT" && tar czf "$logs" --exclude=study.tgz --exclude=study_joined.tgz --exclude=gpu_check.log . && \
  mv "$logs" all_logs.tgz && \
  rm -f configure.log build.log tests.log tests_cuda.log gpu.txt decode_steps.csv decode_large.csv bench_*.md serve_*.md \
    hf_interop.txt ops_*.md ops_*.json ops_*.log train_*.md)
exit 0
