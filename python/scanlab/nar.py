"""CLRS-style algorithm trajectories (src/nar/README.md): inputs, hints and outputs as numpy arrays.

sample() returns exactly the arrays of the .npz file `scanlab nar sample` writes, batch first:
  input_<name>   [B, ...]      float64, or int64 for pointer types (node indices)
  hint_<name>    [B, T, ...]   T = the longest trajectory; steps at or after lengths[b] are zero
  output_<name>  [B, ...]
  lengths        [B] int64     hint steps of each sample
  meta           str           JSON: algorithm, nodes, seed, transforms and the spec
CLRS itself keeps hints time-major: hint.swapaxes(0, 1) gives its [T, B, ...].
"""
import io
import json

import numpy as np

from . import _C, _checks

_nar = _C.nar


def algorithms():
    """(name, family, parallel) of every registered algorithm."""
    return [tuple(a) for a in _nar.algorithms()]


def _open(blob):
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        out = {name: z[name] for name in z.files}
    out["meta"] = str(out["meta"])
    return out


def sample(algorithm, n, count, seed, *, random_pos=False, pred_as_input=False, enforce_permutations=False):
    """`count` trajectories of `algorithm` on n nodes, inputs drawn from numpy's RandomState(seed) as
    CLRS draws them. Returns {array name: numpy array} (see the module docstring)."""
    op = "scanlab.nar.sample"
    _checks.string(op, "algorithm", algorithm)
    _checks.integer(op, "n", n, minimum=1)
    _checks.integer(op, "count", count, minimum=1)
    _checks.integer(op, "seed", seed, minimum=0)
    return _open(_nar.sample_npz(algorithm, n, count, seed, bool(random_pos), bool(pred_as_input),
                                 bool(enforce_permutations), ""))


def clrs30(algorithm, split):
    """A CLRS30 split ("train": 1000 at n = 16, "val" / "test": 32 x multiplier at n = 16 / 64)."""
    op = "scanlab.nar.clrs30"
    _checks.string(op, "algorithm", algorithm)
    _checks.string(op, "split", split, ("train", "val", "test"))
    return _open(_nar.sample_npz(algorithm, 16, 1, 0, False, False, False, split))


def spec(arrays):
    """The spec of a sample()'s arrays: [[name, stage, location, type], ...]."""
    return json.loads(arrays["meta"])["spec"]


__all__ = ["algorithms", "clrs30", "sample", "spec"]
