#!/usr/bin/env python3
"""The path a user walks with one model file, through the real `scanlab` binary (CTest runs it per
model): train a few steps on a byte-level text corpus -> eval -> score (parallel = stream) ->
generate greedily (equals the argmax of the parallel logits) -> save and resume the stream (equals
one uninterrupted run) -> export -> read the export with numpy (the same weights as the training
checkpoint, the config and tokenizer in its metadata) -> score and eval the export. Exits non-zero naming the step that broke."""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

# A small configuration per model family, vocabulary 256 (byte-level text).
MODELS = {
    "transformer_psm": {"n_embd": 32, "n_head": 2, "n_layer_agg": 1, "n_layer_inf": 1, "chunk_size": 8,
                        "n_positions": 32},
    "gpt2": {"n_embd": 32, "n_head": 2, "n_layer": 2, "n_positions": 64},
    "gla": {"d_model": 32, "n_layers": 2, "chunk_len": 8, "mlp_hidden": 48},
}
NUMPY_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
                "U8": np.uint8, "BF16": np.uint16}  # bf16 as its raw 16 bits


def fail(step, message):
    sys.exit(f"journey ({step}): {message}")


def run(args, step, *cli):
    cmd = [args.scanlab, "--threads", "1", "--device", "cpu", *cli]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        fail(step, f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def read_safetensors(path):
    """A safetensors file with numpy alone: 8-byte little-endian header size, JSON header, raw bytes."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, h in header.items():
        begin, end = h["data_offsets"]
        buf = data[8 + n + begin:8 + n + end]
        tensors[name] = np.frombuffer(buf, dtype=NUMPY_DTYPES[h["dtype"]]).reshape(h["shape"])
    return tensors, meta


def nll_of(out):
    lines = [l for l in out.splitlines() if "mean NLL" in l]
    return float(lines[0].split("mean NLL", 1)[1].split()[0]) if lines else None


def close(a, b):  # float32 models: the two evaluation orders round differently in the last bits
    return a is not None and b is not None and abs(a - b) <= 1e-5 * max(1.0, abs(a))


def ids_of(out):
    return [int(w) for w in out.split()]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scanlab", required=True)
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--work", required=True, help="a folder of its own (emptied first)")
    ap.add_argument("--text", required=True, help="text cut into the corpus documents")
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    corpus = os.path.join(args.work, "corpus")
    os.makedirs(corpus)
    text = open(args.text, encoding="utf-8", errors="replace").read()
    quarter = len(text) // 4
    for i in range(4):
        with open(os.path.join(corpus, f"doc{i}.txt"), "w") as f:
            f.write(text[i * quarter:(i + 1) * quarter])

    # 1. train
    model = "\n".join(f"{k} = {json.dumps(v)}" for k, v in MODELS[args.model].items())
    run_dir = os.path.join(args.work, "run")
    config = os.path.join(args.work, "journey.toml")
    with open(config, "w") as f:
        f.write(f'name = "journey_{args.model}"\n\n[task]\nkind = "lm"\npath = "{corpus}"\ntokenizer = "byte"\n'
                f'seq_len = 32\n\n[model]\nmodel = "{args.model}"\nvocab_size = 256\n{model}\n\n'
                f'[train]\nsteps = 3\nbatch_size = 4\nlr = 1e-3\nwarmup_steps = 1\neval_every = 2\n'
                f'eval_examples = 8\nout_dir = "{run_dir}"\n\n[eval]\nmode = "parallel"\nexamples = 8\n')
    run(args, "train", "train", "--config", config)
    ckpt = os.path.join(run_dir, "checkpoint.safetensors")
    if not os.path.isfile(ckpt):
        fail("train", f"no checkpoint at {ckpt}")

    # 2. eval, both modes
    for mode in ("parallel", "stream"):
        run(args, "eval", "eval", "--checkpoint", ckpt, "--mode", mode, "--examples", "4",
            "--out", os.path.join(args.work, f"eval_{mode}"))

    # 3. score (a text within every model's positions): the parallel and the streamed NLL agree
    doc = os.path.join(args.work, "score.txt")
    with open(doc, "w") as f:
        f.write(text[:30])
    nll = {m: nll_of(run(args, "score", "score", "--checkpoint", ckpt, "--text", doc, "--mode", m))
           for m in ("parallel", "stream")}
    if not close(nll["parallel"], nll["stream"]):
        fail("score", f"parallel and stream disagree: {nll}")

    # 4. generate greedily; the tokens are the argmax of the parallel logits over prompt + generated
    prompt = "The scan"
    gen = lambda n, *extra: ids_of(run(args, "generate", "generate", "--checkpoint", ckpt, "--prompt", prompt,
                                       "--max-new-tokens", str(n), "--temperature", "0", "--output", "ids", *extra))
    state = os.path.join(args.work, "stream.safetensors")
    first = gen(8, "--save-state", state)
    whole = list(prompt.encode()) + first
    tokens_file = os.path.join(args.work, "tokens.txt")
    with open(tokens_file, "w") as f:
        f.write(" ".join(map(str, whole)))
    logits_file = os.path.join(args.work, "logits.safetensors")
    run(args, "generate", "score", "--checkpoint", ckpt, "--tokens", tokens_file, "--mode", "parallel",
        "--dump-logits", logits_file)
    logits = read_safetensors(logits_file)[0]["logits"]
    p = len(prompt.encode())
    for i, tok in enumerate(first):
        row = logits[p - 1 + i]
        best = int(np.argmax(row))
        if best != tok and row[best] - row[tok] > 1e-4:  # a tie within rounding may go either way
            fail("generate", f"token {i} is {tok}, the parallel argmax is {best} ({row[best]} vs {row[tok]})")

    # 5. save and resume the stream: the same as one uninterrupted run
    rest = ids_of(run(args, "resume", "generate", "--checkpoint", ckpt, "--resume-state", state,
                      "--max-new-tokens", "4", "--temperature", "0", "--output", "ids"))
    if first + rest != gen(12):
        fail("resume", f"saved + resumed {first + rest} differs from one run {gen(12)}")

    # 6. export, then read it with numpy: the training checkpoint's weights, config and tokenizer
    exported = os.path.join(args.work, "model.safetensors")
    run(args, "export", "export", "--checkpoint", ckpt, "--out", exported)
    w_export, meta = read_safetensors(exported)
    w_ckpt, _ = read_safetensors(ckpt)
    weights = {k: v for k, v in w_ckpt.items() if "/" not in k}
    if set(w_export) != set(weights):
        fail("export", f"names differ: {sorted(set(w_export) ^ set(weights))}")
    for k in weights:
        if not np.array_equal(w_export[k], weights[k]):
            fail("export", f"'{k}' differs from the training checkpoint")
    if any("/" in k for k in w_export):
        fail("export", "training sections left in the export")
    if json.loads(meta["scanlab.config"])["model"] != args.model or json.loads(meta["scanlab.tokenizer"])["kind"] != "byte":
        fail("export", f"metadata: {meta}")
    if nll_of(run(args, "export", "score", "--checkpoint", exported, "--text", doc)) != nll["parallel"]:
        fail("export", "the export scores differently from the checkpoint")
    # GPT-2 only: out to Hugging Face's layout and back in, scoring the same
    if args.model == "gpt2":
        hf = os.path.join(args.work, "hf")
        run(args, "export-hf", "export", "--checkpoint", ckpt, "--format", "hf", "--out", hf)
        if not os.path.isfile(os.path.join(hf, "config.json")):
            fail("export-hf", "no config.json")
        back = os.path.join(args.work, "from_hf.safetensors")
        run(args, "import-hf", "import-hf", hf, "--out", back, "--tokenizer", "none")
        if nll_of(run(args, "import-hf", "score", "--checkpoint", back, "--tokens", tokens_file)) != \
                nll_of(run(args, "import-hf", "score", "--checkpoint", ckpt, "--tokens", tokens_file)):
            fail("import-hf", "the re-imported model scores differently")

    # an exported file has no experiment: eval takes the task from --config, and says so without it
    run(args, "export", "eval", "--checkpoint", exported, "--config", config, "--examples", "4")
    p = subprocess.run([args.scanlab, "--threads", "1", "eval", "--checkpoint", exported], capture_output=True, text=True)
    if p.returncode != 2 or "give --config" not in p.stderr:
        fail("export", f"eval of an export without --config: exit {p.returncode}, {p.stderr.strip()}")
    print(f"journey {args.model}: train, eval, score, generate, resume, export and numpy all agree")


if __name__ == "__main__":
    main()
