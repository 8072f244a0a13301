#!/usr/bin/env python3
"""scanlab's GPT-2 export against Hugging Face transformers, on a machine that has transformers.

Writes a random-init GPT-2 model file (`scanlab init-model`, float64 so the comparison sees the
export and not float32 rounding), exports it with `scanlab export --format hf`, loads that folder with
`GPT2LMHeadModel.from_pretrained`, and compares its logits on a fixed token sequence with the logits
`scanlab score --dump-logits` writes for the same file. Prints one line per check and exits 1 if the
logits differ by more than --tol (max abs, float64), 2 on bad usage.

    python3 scripts/peers/hf_export_check.py --scanlab build-gpu/scanlab [--out DIR] [--tokens 64]
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile


def read_safetensors(torch, path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    dtypes = {"F64": torch.float64, "F32": torch.float32, "I64": torch.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[8 + n + a:8 + n + b]), dtype=dtypes[info["dtype"]])
        out[name] = t.reshape(info["shape"])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scanlab", required=True, help="path of the scanlab binary")
    ap.add_argument("--out", help="work folder (default: a temporary one)")
    ap.add_argument("--tokens", type=int, default=64, help="length of the compared sequence")
    ap.add_argument("--tol", type=float, default=1e-9, help="largest allowed max-abs logit difference")
    args = ap.parse_args()
    if not os.path.exists(args.scanlab) or args.tokens < 2:
        sys.exit(2)
    import torch
    import transformers
    from transformers import GPT2LMHeadModel

    work = args.out or tempfile.mkdtemp(prefix="hf_export_")
    os.makedirs(work, exist_ok=True)
    model_file = os.path.join(work, "gpt2.safetensors")
    hf_dir = os.path.join(work, "hf")
    tokens_file = os.path.join(work, "tokens.txt")
    logits_file = os.path.join(work, "logits.safetensors")
    g = torch.Generator().manual_seed(0)
    run = lambda *a: subprocess.run([args.scanlab, "--device", "cpu", *a], check=True, capture_output=True, text=True)
    run("init-model", "--model", "gpt2", "--preset", "small", "--dtype", "float64", "--tokenizer", "none",
        "--out", model_file)
    run("export", "--checkpoint", model_file, "--format", "hf", "--out", hf_dir)
    with open(os.path.join(hf_dir, "config.json")) as f:
        config = json.load(f)
    T = min(args.tokens, config["n_positions"])
    ids = torch.randint(0, config["vocab_size"], (T,), generator=g)
    with open(tokens_file, "w") as f:
        f.write(" ".join(str(int(i)) for i in ids))
    run("score", "--checkpoint", model_file, "--tokens", tokens_file, "--dump-logits", logits_file)
    dumped = read_safetensors(torch, logits_file)
    ours = dumped["logits"].double()
    assert torch.equal(dumped["tokens"].long(), ids), "score read other tokens than were written"

    hf = GPT2LMHeadModel.from_pretrained(hf_dir, torch_dtype=torch.float64, attn_implementation="eager").eval()
    with torch.no_grad():
        theirs = hf(ids.unsqueeze(0)).logits[0].double()
    # score's logits row t predicts token t + 1; one row fewer than the tokens when it drops the last
    n = min(ours.shape[0], theirs.shape[0])
    diff = (ours[:n] - theirs[:n]).abs().max().item()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}: GPT2LMHeadModel.from_pretrained "
          f"loaded {hf_dir} ({sum(p.numel() for p in hf.parameters())} parameters)")
    print(f"logits [{n}, {ours.shape[1]}] scanlab score vs Hugging Face: max |difference| {diff:.3e} (tol {args.tol:g})")
    sys.exit(0 if diff <= args.tol else 1)


if __name__ == "__main__":
    main()
