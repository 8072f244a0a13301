#!/usr/bin/env python3
"""Two `scanlab train` run folders agree: the weights of their checkpoints (not the optimizer or RNG
sections) and the losses of their metrics.jsonl, step by step, to a tolerance. Prints the largest
differences; exits 1 naming what differs."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from journey import read_safetensors  # noqa: E402


def weights(run):
    tensors, _ = read_safetensors(os.path.join(run, "checkpoint.safetensors"))
    return {k: v for k, v in tensors.items() if not k.startswith(("adam/", "rng/"))}


def losses(run):
    out = {}
    with open(os.path.join(run, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            key = (r["kind"], r["global_step"])
            if key in out:
                sys.exit(f"{run}: metrics.jsonl holds {key} twice")
            out[key] = r.get("loss", r.get("eval_loss"))
    return out


def main():
    a, b, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
    wa, wb = weights(a), weights(b)
    if sorted(wa) != sorted(wb):
        sys.exit(f"the checkpoints hold different tensors: {sorted(set(wa) ^ set(wb))}")
    if any(wa[k].dtype != np.float64 for k in wa):
        sys.exit("expected float64 weights (train.dtype = \"float64\")")
    dw = max(float(np.max(np.abs(wa[k] - wb[k]))) if wa[k].size else 0.0 for k in wa)
    la, lb = losses(a), losses(b)
    if sorted(la) != sorted(lb):
        sys.exit(f"the metrics hold different records: {sorted(set(la) ^ set(lb))[:6]}")
    dl = max(abs(la[k] - lb[k]) for k in la)
    print(f"max weight difference {dw:.3g}, max loss difference {dl:.3g} over {len(la)} records")
    if dw > tol or dl > tol:
        sys.exit(f"{a} and {b} differ by more than {tol}")


if __name__ == "__main__":
    main()
