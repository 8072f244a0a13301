#!/usr/bin/env python3
"""Where the time of one chunked op goes: scanlab's kernels beside fla's, from the PyTorch profiler.

For each op and pass (forward, forward+backward) at one S1 shape, runs scanlab's op (through the
Python package, torch.ops.scanlab.*) and fla's on the same inputs (fla_ops.py makes them), under
torch.profiler with CUDA activity, and prints every GPU kernel's time per call of the op (total over
--repeats calls / repeats), largest first, and the sum. Kernel names say which piece they are.

  PYTHONPATH=build-gpu/python python3 scripts/peers/profile_ops.py --ops gated_delta_rule,gla

GPU machine only (torch with CUDA; fla from .peers/fla as fla_ops.py finds it; --no-fla leaves it out).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fla_ops import OPS, fla_call, import_fla, make_inputs  # noqa: E402


def scanlab_call(torch, op, x):
    """scanlab's chunked op on fla_ops' inputs; returns (o, final state)."""
    from scanlab import ops  # noqa: F401  (registers torch.ops.scanlab.*)

    q, k, v = x["q"], x["k"], x["v"]
    if op == "linear_attn":
        return ops.affine_scan(q, k, v)
    if op in ("scalar_gate", "gla"):
        return ops.affine_scan(q, k, v, log_a=x["log_a"])
    if op == "delta_rule":
        return ops.delta_rule(q, k, v, x["beta"])
    if op == "gated_delta_rule":
        return ops.delta_rule(q, k, v, x["beta"], log_a=x["log_a"])
    if op == "mlstm":
        return ops.mlstm(q, k, v, x["log_f"], x["log_i"])
    raise ValueError(op)


def kernel_table(torch, fn, repeats):
    """[(kernel name, ms per call, launches per call)] of the GPU kernels fn runs, largest first."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(repeats):
            fn()
        torch.cuda.synchronize()
    rows = []
    for e in prof.key_averages():
        us = getattr(e, "self_device_time_total", None)
        if us is None:
            us = getattr(e, "self_cuda_time_total", 0)
        if us > 0:
            rows.append((e.key, us / 1000.0 / repeats, e.count / repeats))
    return sorted(rows, key=lambda r: -r[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", default="gated_delta_rule,delta_rule,gla", help=f"comma-separated, of {OPS}")
    ap.add_argument("--seq-len", type=int, default=4096)
    ap.add_argument("--tokens", type=int, default=16384, help="B x T")
    ap.add_argument("--heads", type=int, default=16)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--top", type=int, default=12, help="kernels shown per table")
    ap.add_argument("--no-fla", action="store_true")
    args = ap.parse_args()
    import torch

    ops = [o for o in args.ops.split(",") if o]
    bad = [o for o in ops if o not in OPS]
    if bad:
        sys.exit(f"profile_ops: unknown op(s) {bad}; expected some of {OPS}")
    fla = None if args.no_fla else import_fla()
    B = args.tokens // args.seq_len
    for op in ops:
        for backward in (False, True):
            x = make_inputs(torch, op, B, args.seq_len, args.heads, args.dim, torch.bfloat16, backward)
            if op == "mlstm":
                f = dict(device="cuda", dtype=torch.bfloat16)
                x["log_f"] = torch.nn.functional.logsigmoid(torch.randn(B, args.seq_len, args.heads, **f) + 3.0)
                x["log_i"] = torch.randn(B, args.seq_len, args.heads, **f)
                x = {n: t.detach().requires_grad_(backward) for n, t in x.items()}
            do = torch.randn_like(x["v"])
            peers = [("scanlab", scanlab_call)] + ([("fla", lambda t, o, y: fla_call(fla, o, y))] if fla else [])
            for who, call in peers:

                def fn():
                    if backward:
                        for t in x.values():
                            t.grad = None
                        call(torch, op, x)[0].backward(do)
                    else:
                        with torch.no_grad():
                            call(torch, op, x)

                title = f"{who} {op} T={args.seq_len} B={B} H={args.heads} d={args.dim} {'fwd+bwd' if backward else 'fwd'}"
                try:
                    rows = kernel_table(torch, fn, args.repeats)
                except Exception as e:  # fla's guard against the Hopper Triton miscompile (fla #640), etc.
                    print(f"== {title}: failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                    continue
                total = sum(r[1] for r in rows)
                print(f"== {title}: {total:.3f} ms of GPU kernels per call, {sum(r[2] for r in rows):.0f} launches")
                for name, ms, n in rows[: args.top]:
                    print(f"  {ms:8.3f} ms {100 * ms / total:5.1f}%  x{n:<4.0f} {name[:110]}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
