#!/usr/bin/env python3
"""scanlab's GPT-2 interop with Hugging Face transformers, both ways, on a machine that has transformers.

Export: writes a random-init GPT-2 model file (`scanlab init-model`, float64 so the comparison sees
the export and not float32 rounding), exports it with `scanlab export --format hf`, loads that folder
with `GPT2LMHeadModel.from_pretrained`, and compares its logits on a fixed token sequence with the
logits `scanlab score --dump-logits` writes for the same file.
Import: a random-init `GPT2LMHeadModel` (float64, a small config of its own, weights widened so
every block matters) written by `save_pretrained`, converted by
`scanlab import-hf`, scored by `scanlab score --dump-logits` against the model's own logits.
Prints one line per check and exits 1 if any logits differ by more than --tol (max abs, float64),
2 on bad usage.

    python3 scripts/peers/hf_interop_check.py --scanlab build-gpu/scanlab [--out DIR] [--tokens 64]
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
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    ok = compare("export: GPT2LMHeadModel.from_pretrained of `scanlab export --format hf`", ours, theirs, args.tol)
    print(f"  ({sum(p.numel() for p in hf.parameters())} parameters loaded from {hf_dir})")

    # Import: Hugging Face writes, scanlab reads.
    from transformers import GPT2Config
    torch.manual_seed(1)
    cfg = GPT2Config(vocab_size=97, n_positions=48, n_embd=64, n_layer=3, n_head=4, layer_norm_epsilon=1e-5,
                     activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    src = GPT2LMHeadModel(cfg).to(torch.float64).eval()
    with torch.no_grad():  # GPT-2's N(0, 0.02) init leaves the blocks near the identity: widen it
        for p in src.parameters():
            p.normal_(0.0, 0.3 if p.dim() >= 2 else 0.5)
    src_dir = os.path.join(work, "hf_src")
    src.save_pretrained(src_dir, safe_serialization=True)
    imported = os.path.join(work, "imported.safetensors")
    run("import-hf", src_dir, "--out", imported, "--tokenizer", "none")
    T2 = min(args.tokens, cfg.n_positions)
    ids2 = torch.randint(0, cfg.vocab_size, (T2,), generator=g)
    with open(tokens_file, "w") as f:
        f.write(" ".join(str(int(i)) for i in ids2))
    run("score", "--checkpoint", imported, "--tokens", tokens_file, "--dump-logits", logits_file)
    dumped = read_safetensors(torch, logits_file)
    with torch.no_grad():
        hf_logits = src(ids2.unsqueeze(0)).logits[0].double()
    ok = compare("import: `scanlab import-hf` of GPT2LMHeadModel.save_pretrained", dumped["logits"].double(),
                 hf_logits, args.tol) and ok
    sys.exit(0 if ok else 1)


def compare(what, ours, theirs, tol):
    # score's logits row t predicts token t + 1; one row fewer than the tokens when it drops the last
    n = min(ours.shape[0], theirs.shape[0])
    diff = (ours[:n] - theirs[:n]).abs().max().item()
    good = diff <= tol
    print(f"{'ok' if good else 'FAIL'} {what}: logits [{n}, {ours.shape[1]}], max |difference| {diff:.3e} (tol {tol:g})")
    return good


if __name__ == "__main__":
    main()
