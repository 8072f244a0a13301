#!/usr/bin/env python3
"""One training step of the peer models, in the table format of `scanlab bench train-step -o md`.

(a) Hugging Face GPT2LMHeadModel (attn_implementation="sdpa") and (b) the PSM authors'
TransformerScanModel (github.com/muherng/hidden, tree.py, carried in .peers/hidden), each at
B = --tokens / T sequences of length T: forward + cross-entropy + backward under bf16 autocast
(as `scanlab bench train-step --dtype bfloat16`), random tokens, train mode (dropout 0.1 as scanlab).
Each (model, T) runs in its own process so one shape's allocator state or failure cannot touch the
next. Columns: params, forward ms (forward + loss, no graph), step ms, tokens/s, peak MiB
(torch.cuda.max_memory_allocated after a reset before the model is built), model TFLOP/s from
scanlab's FLOP count when --scanlab-json gives one for the same model and T.

TransformerScanModel is the authors' code as published: its forward computes the prefix states with
its sequential binary counter (`parallel = False` in tree.py), not a Blelloch scan, and it runs
T1 (Agg) with T1_num_layers = --agg-layers and T2 (Inf) with --inf-layers blocks.

GPU machine only (torch with CUDA, transformers). See scripts/peers/README.md.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from event_timing import event_median_ms  # noqa: E402
import types

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = {"gpt2": "gpt2", "transformer_psm": "transformer_psm (authors' tree.py)"}


def import_tree(path):
    if path not in sys.path:
        sys.path.insert(0, path)
    try:
        import matplotlib  # noqa: F401  tree.py imports pyplot at the top; the forward never plots
    except ImportError:
        mpl = types.ModuleType("matplotlib")
        mpl.pyplot = types.ModuleType("matplotlib.pyplot")
        sys.modules["matplotlib"], sys.modules["matplotlib.pyplot"] = mpl, mpl.pyplot
        print("tpsm_step.py: matplotlib missing; stubbed for tree.py's unused import", file=sys.stderr)
    import tree

    # tree.py was written for transformers 4, whose GPT2Block returned a tuple (hidden, present, ...)
    # and took layer_past; from transformers 5 it returns the hidden states alone. Training never
    # reads the cache, so the shim keeps the block's computation and gives tree.py the tuple it indexes.
    base = tree.GPT2Block

    class TupleGPT2Block(base):
        def forward(self, x, attention_mask=None, use_cache=False, output_attentions=False, layer_past=None, **kw):
            out = base.forward(self, x, attention_mask=attention_mask)
            return (out[0], None) if isinstance(out, tuple) else (out, None)

    tree.GPT2Block = TupleGPT2Block
    return tree


def gpt2_config(args, T):
    from transformers import GPT2Config

    c = GPT2Config(vocab_size=args.vocab, n_positions=max(T, 1024), n_embd=args.width, n_layer=args.depth,
                   n_head=args.heads, attn_implementation="sdpa")
    c._attn_implementation = "sdpa"
    return c


def build(args, model, T):
    if model == "gpt2":
        from transformers import GPT2LMHeadModel

        m = GPT2LMHeadModel(gpt2_config(args, T))
        return m, lambda x: m(input_ids=x).logits
    tree = import_tree(args.hidden)
    if T % args.chunk:
        raise ValueError(f"T = {T} is not a multiple of --chunk {args.chunk} (tree.py needs whole chunks)")
    m = tree.TransformerScanModel(gpt2_config(args, T), chunk_size=args.chunk, T1_num_layers=args.agg_layers,
                                  T2_num_layers=args.inf_layers)
    return m, lambda x: m(x)["logits"]


def worker(args, model, T):
    import torch

    torch.manual_seed(args.seed)
    torch.cuda.reset_peak_memory_stats()
    m, logits_of = build(args, model, T)
    m = m.cuda().train()
    B = args.tokens // T
    tokens = torch.randint(0, args.vocab, (B, T + 1), device="cuda")
    x, y = tokens[:, :T], tokens[:, 1:]

    def loss():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = logits_of(x)
            return torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1))

    def fwd():
        with torch.no_grad():
            loss()

    def step():
        m.zero_grad(set_to_none=True)
        loss().backward()

    row = {"model": model, "seq_len": T, "batch": B, "parameters": sum(p.numel() for p in m.parameters())}
    row["forward_ms"] = event_median_ms(torch, fwd, args.repeats, args.warmup)
    row["step_ms"] = event_median_ms(torch, step, args.repeats, args.warmup)
    row["peak_bytes"] = torch.cuda.max_memory_allocated()
    print(json.dumps(row))


def run_all(args):
    rows = []
    for model in args.models:
        for T in args.lengths:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", model, str(T)] + args.passthrough
            p = subprocess.run(cmd, capture_output=True, text=True)
            lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
            if p.returncode == 0 and lines:
                rows.append(json.loads(lines[-1]))
            else:
                err = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
                rows.append({"model": model, "seq_len": T, "batch": args.tokens // T, "error": err})
            print(f"  {model} T={T}: {rows[-1].get('step_ms', rows[-1].get('error'))}", file=sys.stderr)
    return rows


def table(args, rows, scanlab):
    theirs = {(r["model"], r["seq_len"]): r for r in scanlab or []}
    out = [f"Training step (forward + cross-entropy + backward), {args.tokens} tokens per step, width {args.width}, "
           f"depth {args.depth} (T-PSM: Agg {args.agg_layers}, Inf {args.inf_layers}), heads {args.heads}, chunk "
           f"{args.chunk}, vocab {args.vocab}, bf16 autocast, CUDA-event median of {args.repeats}\n",
           "| model | T | params | forward ms | step ms | tokens / s | peak MiB | model TFLOP/s |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        name = MODELS[r["model"]]
        if "error" in r:
            out.append(f"| {name} | {r['seq_len']} | failed: {r['error']} | | | | | |")
            continue
        s = theirs.get((r["model"], r["seq_len"]))
        tf = f"{s['flops_per_step'] / (r['step_ms'] * 1e-3) / 1e12:.3g}" if s else "-"
        tps = r["batch"] * r["seq_len"] / (r["step_ms"] * 1e-3)
        out.append(f"| {name} | {r['seq_len']} | {r['parameters']} | {r['forward_ms']:.2f} | {r['step_ms']:.2f} | "
                   f"{tps:.0f} | {r['peak_bytes'] / 1048576:.0f} | {tf} |")
    if scanlab is not None:
        out += ["", "| model | T | scanlab step ms | peer step ms | peer / scanlab | scanlab peak MiB | peer peak MiB |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            s = theirs.get((r["model"], r["seq_len"]))
            if not s or "error" in r:
                continue
            peak = f"{s['peak_bytes'] / 1048576:.0f}" if s.get("peak_bytes") is not None else "-"
            out.append(f"| {r['model']} | {r['seq_len']} | {s['step_ms']:.2f} | {r['step_ms']:.2f} | "
                       f"{r['step_ms'] / s['step_ms']:.2f} | {peak} | {r['peak_bytes'] / 1048576:.0f} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="gpt2,transformer_psm")
    ap.add_argument("--lengths", default="128,256,512,1024,2048")
    ap.add_argument("--tokens", type=int, default=16384, help="B*T per step")
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--depth", type=int, default=12, help="GPT-2 layers; default for --agg-layers/--inf-layers")
    ap.add_argument("--agg-layers", type=int, help="T-PSM T1 (Agg) blocks; default --depth, as scanlab bench train-step")
    ap.add_argument("--inf-layers", type=int, help="T-PSM T2 (Inf) blocks; default --depth")
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--chunk", type=int, default=64)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("-r", "--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", default=os.path.join(ROOT, ".peers", "hidden"), help="checkout of muherng/hidden")
    ap.add_argument("--scanlab-json", help="output of `scanlab bench train-step -o json` at the same shapes")
    ap.add_argument("--worker", nargs=2, metavar=("MODEL", "T"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.agg_layers = args.agg_layers or args.depth
    args.inf_layers = args.inf_layers or args.depth
    args.models = [m for m in args.models.split(",") if m]
    args.lengths = [int(t) for t in args.lengths.split(",") if t]
    if args.worker:
        worker(args, args.worker[0], int(args.worker[1]))
        return
    bad = [m for m in args.models if m not in MODELS]
    if bad or any(args.tokens % t for t in args.lengths):
        sys.exit(f"tpsm_step.py: unknown models {bad} (known: {', '.join(MODELS)}) or --tokens not a multiple of "
                 "every length")
    args.passthrough = []  # the worker gets every size flag, not the lists or the join
    for flag in ["tokens", "width", "depth", "agg_layers", "inf_layers", "heads", "chunk", "vocab", "repeats",
                 "warmup", "seed", "hidden"]:
        args.passthrough += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    scanlab = None
    if args.scanlab_json:
        with open(args.scanlab_json) as f:
            scanlab = json.load(f)
    sys.stdout.write(table(args, run_all(args), scanlab))


if __name__ == "__main__":
    main()
