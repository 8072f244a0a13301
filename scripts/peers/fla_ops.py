#!/usr/bin/env python3
"""flash-linear-attention (fla) at the shapes of `scanlab bench ops`, side by side with scanlab.

Runs fla's chunked ops on the same inputs scanlab generates (normalized keys, log-sigmoid gates,
sigmoid beta; q unscaled, so scale=1.0 is passed; linear attention with normalize=False), times them
the way triton's do_bench does (CUDA events around each call, median of -r calls after warm-up) and
times fla's first call (Triton compile + autotune) apart. With --scanlab-json (the output of
`scanlab bench ops -o json`) it prints one table with both times and their ratio. With --dump (the
directory `scanlab bench ops --dump` wrote) it runs fla on scanlab's dumped inputs and reports the
max relative error of o, the final state and every gradient against scanlab's.

Op names are scanlab's: linear_attn (fla.ops.linear_attn.chunk_linear_attn), scalar_gate
(fla.ops.simple_gla.chunk_simple_gla), gla (fla.ops.gla.chunk_gla), delta_rule
(fla.ops.delta_rule.chunk_delta_rule), gated_delta_rule (fla.ops.gated_delta_rule.chunk_gated_delta_rule).
fla has no mLSTM op: mlstm rows say so. fla's chunk size is its own (64); --chunk is only checked.

fla is imported from PYTHONPATH, or from .peers/fla at the repository root (scripts/peers/README.md).
GPU machine only; needs torch with CUDA, triton and einops.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from event_timing import event_median_ms  # noqa: E402
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPS = ["linear_attn", "scalar_gate", "gla", "mlstm", "delta_rule", "gated_delta_rule"]


def import_fla():
    carried = os.path.join(ROOT, ".peers", "fla")
    if os.path.isdir(os.path.join(carried, "fla")) and carried not in sys.path:
        sys.path.insert(0, carried)
    import fla.ops.delta_rule
    import fla.ops.gated_delta_rule
    import fla.ops.gla
    import fla.ops.linear_attn
    import fla.ops.simple_gla

    return fla


def fla_call(fla, op, x):
    """Calls fla's op on scanlab-named inputs; returns (o, final_state) or None where fla has no op."""
    q, k, v = x["q"], x["k"], x["v"]
    if op == "linear_attn":
        return fla.ops.linear_attn.chunk_linear_attn(q, k, v, scale=1.0, normalize=False, output_final_state=True)
    if op == "scalar_gate":
        return fla.ops.simple_gla.chunk_simple_gla(q, k, v, g=x["log_a"], scale=1.0, output_final_state=True)
    if op == "gla":
        return fla.ops.gla.chunk_gla(q, k, v, g=x["log_a"], scale=1.0, output_final_state=True)
    if op == "delta_rule":
        return fla.ops.delta_rule.chunk_delta_rule(q, k, v, beta=x["beta"], scale=1.0, output_final_state=True)
    if op == "gated_delta_rule":
        return fla.ops.gated_delta_rule.chunk_gated_delta_rule(q, k, v, g=x["log_a"], beta=x["beta"], scale=1.0,
                                                              output_final_state=True)
    return None  # mlstm: no op in fla


def input_names(op):
    return {"linear_attn": ["q", "k", "v"], "scalar_gate": ["q", "k", "v", "log_a"], "gla": ["q", "k", "v", "log_a"],
            "delta_rule": ["q", "k", "v", "beta"], "gated_delta_rule": ["q", "k", "v", "beta", "log_a"],
            "mlstm": ["q", "k", "v", "log_f", "log_i"]}[op]


def make_inputs(torch, op, B, T, H, D, dtype, grad):
    """The inputs bench/ops_bench.cpp makes: generated in float32, then cast to dtype."""
    f = dict(device="cuda", dtype=torch.float32)
    k = torch.randn(B, T, H, D, **f)
    x = {"q": torch.randn(B, T, H, D, **f) * 0.1, "k": k / k.norm(dim=-1, keepdim=True), "v": torch.randn(B, T, H, D, **f)}
    if op == "scalar_gate" or op == "gated_delta_rule":
        x["log_a"] = torch.nn.functional.logsigmoid(torch.randn(B, T, H, **f) + 3.0)
    if op == "gla":
        x["log_a"] = torch.nn.functional.logsigmoid(torch.randn(B, T, H, D, **f) + 3.0)
    if op == "delta_rule" or op == "gated_delta_rule":
        x["beta"] = torch.sigmoid(torch.randn(B, T, H, **f))
    return {n: t.to(dtype).detach().requires_grad_(grad) for n, t in x.items()}


def first_call_s(torch, fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench(args, torch, fla):
    dtype = getattr(torch, args.dtype)
    rows = []
    for op in args.ops:
        for H, D in zip(args.heads, args.dim):
            for T in args.lengths:
                B = args.tokens // T
                for p in args.passes:
                    row = {"op": op, "seq_len": T, "batch": B, "heads": H, "dim": D, "pass": p}
                    if op == "mlstm":
                        row["note"] = "no mLSTM op in fla"
                        rows.append(row)
                        continue
                    backward = p == "fwdbwd"
                    x = make_inputs(torch, op, B, T, H, D, dtype, backward)
                    try:
                        if backward:
                            do = torch.randn(B, T, H, D, device="cuda", dtype=dtype)

                            def fn():
                                for t in x.values():
                                    t.grad = None
                                fla_call(fla, op, x)[0].backward(do)
                        else:
                            def fn():
                                with torch.no_grad():
                                    fla_call(fla, op, x)
                        row["first_call_s"] = first_call_s(torch, fn)
                        row["ms"] = event_median_ms(torch, fn, args.repeats, args.warmup, args.flush_l2)
                    except Exception as e:  # e.g. fla's guard against the Hopper Triton miscompile (fla #640)
                        row["note"] = f"fla failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                    rows.append(row)
                    print(f"  {op} T={T} H={H} d={D} {p}: {row.get('ms', row.get('note'))}", file=sys.stderr)
    return rows


def load_safetensors(torch, path):
    """A small safetensors reader (8-byte little-endian header length, JSON header, raw bytes)."""
    dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool}
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = dtypes[e["dtype"]]
        if end > b:
            t = torch.frombuffer(bytearray(data[8 + n + b:8 + n + end]), dtype=dt)
        else:
            t = torch.empty(0, dtype=dt)
        tensors[name] = t.reshape(e["shape"])
    return tensors, meta


def max_rel_err(a, b):
    """max |a - b| / max |b|, in float32 (b is scanlab's)."""
    a, b = a.float(), b.float()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def cross_check(args, torch, fla):
    files = sorted(f for f in os.listdir(args.dump) if f.endswith(".safetensors"))
    out = ["| op | T | B | H | d | dtype | tensor | max rel err (fla vs scanlab) |", "|---|---:|---:|---:|---:|---|---|---:|"]
    for f in files:
        st, meta = load_safetensors(torch, os.path.join(args.dump, f))
        op = meta.get("op", "?")
        head = f"| {op} | {meta.get('T')} | {meta.get('B')} | {meta.get('H')} | {meta.get('d')} | {meta.get('dtype')} |"
        if op == "mlstm" or op not in OPS:
            out.append(f"{head} - | no mLSTM op in fla |" if op == "mlstm" else f"{head} - | unknown op |")
            continue
        names = input_names(op)
        x = {n: st[n].cuda().requires_grad_(True) for n in names}
        try:
            o, ht = fla_call(fla, op, x)
            o.backward(st["do"].cuda().to(o.dtype))
        except Exception as e:
            out.append(f"{head} - | fla failed: {type(e).__name__} |")
            continue
        checks = [("o", o, st["o"]), ("h_final", ht, st.get("h_final"))]
        checks += [("d" + n, x[n].grad, st["d" + n]) for n in names]
        for name, mine, ref in checks:
            if ref is None or mine is None:
                out.append(f"{head} {name} | - |")
                continue
            out.append(f"{head} {name} | {max_rel_err(mine.detach().cpu(), ref):.2e} |")
    return "\n".join(out) + "\n"


def table(rows, scanlab):
    key = lambda r: (r["op"], r["seq_len"], r["batch"], r["heads"], r["dim"], r["pass"])
    theirs = {key(r): r for r in scanlab or []}
    if scanlab is None:
        out = ["| op | T | B | H | d | pass | fla ms | fla first call s |", "|---|---:|---:|---:|---:|---|---:|---:|"]
    else:
        out = ["| op | T | B | H | d | pass | scanlab ms | fla ms | scanlab / fla | scanlab TFLOP/s | fla TFLOP/s | fla first call s |",
               "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cells = f"| {r['op']} | {r['seq_len']} | {r['batch']} | {r['heads']} | {r['dim']} | {r['pass']} |"
        ms = f"{r['ms']:.3f}" if "ms" in r else r.get("note", "-")
        first = f"{r['first_call_s']:.2f}" if "first_call_s" in r else "-"
        if scanlab is None:
            out.append(f"{cells} {ms} | {first} |")
            continue
        s = theirs.get(key(r))
        s_ms = f"{s['ms']:.3f}" if s else "-"
        ratio = f"{s['ms'] / r['ms']:.2f}" if s and "ms" in r else "-"
        s_tf = f"{s['tflops']:.1f}" if s else "-"
        f_tf = f"{s['flops'] / (r['ms'] * 1e-3) / 1e12:.1f}" if s and "ms" in r else "-"
        out.append(f"{cells} {s_ms} | {ms} | {ratio} | {s_tf} | {f_tf} | {first} |")
    return "\n".join(out) + "\n"


def ints(s):
    return [int(x) for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--lengths", type=ints, default=[4096, 16384])
    ap.add_argument("--tokens", type=int, default=16384, help="B*T per call")
    ap.add_argument("--heads", type=ints, default=[16, 32], help="paired with --dim")
    ap.add_argument("--dim", type=ints, default=[128, 64])
    ap.add_argument("--chunk", type=int, default=64, help="must be 64: fla's chunk size")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--pass", dest="passes", default="fwd,fwdbwd")
    ap.add_argument("-r", "--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--flush-l2", action="store_true", help="zero 256 MB between calls (scanlab's bench does not)")
    ap.add_argument("--scanlab-json", help="output of `scanlab bench ops -o json` at the same shapes")
    ap.add_argument("--dump", help="directory written by `scanlab bench ops --dump`: cross-check only, no timing")
    args = ap.parse_args()
    args.ops = [o for o in args.ops.split(",") if o]
    args.passes = [p for p in args.passes.split(",") if p]
    bad = [o for o in args.ops if o not in OPS]
    if bad or len(args.heads) != len(args.dim) or args.chunk != 64 or any(args.tokens % t for t in args.lengths):
        sys.exit(f"fla_ops.py: bad arguments: unknown ops {bad} (known: {', '.join(OPS)}), or --heads/--dim of unequal "
                 "length, or --chunk other than 64, or --tokens not a multiple of every length")
    import torch

    fla = import_fla()
    print(f"fla from {os.path.dirname(os.path.dirname(fla.__file__))}, torch {torch.__version__}, "
          f"{torch.cuda.get_device_name()}", file=sys.stderr)
    if args.dump:
        sys.stdout.write(cross_check(args, torch, fla))
        return
    scanlab = None
    if args.scanlab_json:
        with open(args.scanlab_json) as f:
            scanlab = json.load(f)
    rows = bench(args, torch, fla)
    print(f"fla chunked ops, {args.dtype}, B*T = {args.tokens}, CUDA-event median of {args.repeats} after "
          f"{args.warmup} warm-up calls{', L2 flushed' if args.flush_l2 else ''}; first call (compile + autotune) "
          "timed apart; scanlab / fla > 1 means fla is faster; TFLOP/s from scanlab's FLOP count\n")
    sys.stdout.write(table(rows, scanlab))


if __name__ == "__main__":
    main()
