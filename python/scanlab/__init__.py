"""scanlab for PyTorch: the ops, scan engine, models and data generators of scanlab's C++ core.

    import scanlab
    o, h = scanlab.ops.affine_scan(q, k, v, log_a)        # autograd through the C++ op
    model = scanlab.load("psm.safetensors")               # a torch.nn.Module over a scanlab model file
    prefixes = scanlab.scan.blelloch(states, agg)         # any Python aggregator, the C++ bracketing

Everything runs in the C++ library the `scanlab` CLI links (scanlab._C); nothing is reimplemented here.
"""
import torch  # noqa: F401  (loads LibTorch before the extension that links it)

from . import _C  # noqa: F401  (the extension; loading it registers torch.ops.scanlab.*)
from . import models, nar, ops, scan, tasks
from .models import Model, Stream, load

__all__ = ["Model", "Stream", "load", "models", "nar", "ops", "scan", "tasks"]
__version__ = "0.1.0"
