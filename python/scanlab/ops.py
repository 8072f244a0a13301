"""scanlab's linear-recurrence ops as PyTorch functions (src/ops/README.md has the maths).

Shapes: q, k [B, T, H, K]; v [B, T, H, V]; states [B, H, K, V] in float32 (float64 inputs keep
float64); outputs in q's dtype. Each op has three evaluation paths computing one function:
"chunked" (intra-chunk matmuls + inter-chunk state passing; the fused CUDA kernels where they
apply), "ref" (the token loop) and "blelloch" (the generic parallel scan). Gradients are autograd
through the C++ op itself. Every function here calls a dispatcher operator, torch.ops.scanlab.<name>,
which may also be called directly (same arguments, all positional, states as separate tensors).

Under torch.compile (torch >= 2.0) these functions run eagerly: they are excluded from tracing
(a graph break), so the code around them compiles and the ops run as in eager mode.
"""
import torch

from . import _C  # noqa: F401  (registers torch.ops.scanlab.*)
from . import _checks

PATHS = ("chunked", "ref", "blelloch")


def _compile_boundary(fn):
    disable = getattr(getattr(torch, "compiler", None), "disable", None)
    if disable is None:
        disable = getattr(getattr(torch, "_dynamo", None), "disable", None)
    return disable(fn) if disable is not None else fn


def _sequence_args(op, named, chunk, path):
    for name, x, optional in named:
        _checks.tensor(op, name, x, floating=True, optional=optional)
    _checks.integer(op, "chunk", chunk, minimum=1)
    _checks.string(op, "path", path, PATHS)


@_compile_boundary
def affine_scan(q, k, v, log_a=None, h0=None, chunk=64, path="chunked"):
    """h_t = a_t ▶ h_{t-1} + k_t v_tᵀ, o_t = h_tᵀ q_t; a_t = exp(log_a_t) with log_a None (identity:
    linear attention), [B, T, H] (scalar gate: RetNet, Mamba2) or [B, T, H, K] (diagonal: GLA).
    h0: [B, H, K, V] or None (zeros). Returns (o [B, T, H, V], h_final [B, H, K, V])."""
    _sequence_args("scanlab.ops.affine_scan",
                   [("q", q, False), ("k", k, False), ("v", v, False), ("log_a", log_a, True), ("h0", h0, True)],
                   chunk, path)
    o, h = torch.ops.scanlab.affine_scan(q, k, v, log_a, h0, chunk, path)
    return o, h


@_compile_boundary
def mlstm(q, k, v, log_f, log_i, state0=None, chunk=64, path="chunked"):
    """mLSTM: C_t = f_t C_{t-1} + i_t k_t v_tᵀ, n_t = f_t n_{t-1} + i_t k_t, o_t = C_tᵀq_t / max(|n_tᵀq_t|, 1),
    f = exp(log_f), i = exp(log_i) ([B, T, H] each). The state (C [B, H, K, V], n [B, H, K], m [B, H])
    is stored stabilised by the running max m. state0: such a tuple or None (empty).
    Returns (o, (C, n, m))."""
    op = "scanlab.ops.mlstm"
    C0 = n0 = m0 = None
    if state0 is not None:
        if not isinstance(state0, (tuple, list)) or len(state0) != 3:
            raise TypeError(f"{op}: state0 is {type(state0).__name__}; expected None or a tuple (C, n, m)")
        C0, n0, m0 = state0
    _sequence_args(op, [("q", q, False), ("k", k, False), ("v", v, False), ("log_f", log_f, False),
                        ("log_i", log_i, False), ("state0 C", C0, True), ("state0 n", n0, True),
                        ("state0 m", m0, True)], chunk, path)
    o, C, n, m = torch.ops.scanlab.mlstm(q, k, v, log_f, log_i, C0, n0, m0, chunk, path)
    return o, (C, n, m)


@_compile_boundary
def delta_rule(q, k, v, beta, log_a=None, h0=None, chunk=64, path="chunked"):
    """(Gated) delta rule: h_t = α_t (I - β_t k_t k_tᵀ) h_{t-1} + β_t k_t v_tᵀ, o_t = h_tᵀ q_t, with
    beta [B, T, H], α = exp(log_a) ([B, T, H], or None: DeltaNet). Returns (o, h_final)."""
    _sequence_args("scanlab.ops.delta_rule",
                   [("q", q, False), ("k", k, False), ("v", v, False), ("beta", beta, False),
                    ("log_a", log_a, True), ("h0", h0, True)], chunk, path)
    o, h = torch.ops.scanlab.delta_rule(q, k, v, beta, log_a, h0, chunk, path)
    return o, h


def _step_args(op, named):
    for name, x, optional in named:
        _checks.tensor(op, name, x, floating=True, optional=optional)


@_compile_boundary
def affine_scan_step(q, k, v, h, log_a=None):
    """One decode token: q, k [B, H, K], v [B, H, V], log_a None / [B, H] / [B, H, K], h [B, H, K, V].
    Returns (o [B, H, V], the new state); h is not modified. On a GPU (float32, no gradient) this is
    the fused CUDA step."""
    _step_args("scanlab.ops.affine_scan_step",
               [("q", q, False), ("k", k, False), ("v", v, False), ("h", h, False), ("log_a", log_a, True)])
    o, h_new = torch.ops.scanlab.affine_scan_step(q, k, v, log_a, h)
    return o, h_new


@_compile_boundary
def mlstm_step(q, k, v, log_f, log_i, state):
    """One mLSTM decode token: log_f, log_i [B, H]; state (C, n, m). Returns (o [B, H, V], (C, n, m))."""
    op = "scanlab.ops.mlstm_step"
    if not isinstance(state, (tuple, list)) or len(state) != 3:
        raise TypeError(f"{op}: state is {type(state).__name__}; expected a tuple (C, n, m)")
    C, n, m = state
    _step_args(op, [("q", q, False), ("k", k, False), ("v", v, False), ("log_f", log_f, False),
                    ("log_i", log_i, False), ("state C", C, False), ("state n", n, False), ("state m", m, False)])
    o, C, n, m = torch.ops.scanlab.mlstm_step(q, k, v, log_f, log_i, C, n, m)
    return o, (C, n, m)


@_compile_boundary
def delta_rule_step(q, k, v, beta, h, log_a=None):
    """One delta-rule decode token: beta, log_a [B, H]. Returns (o [B, H, V], the new state)."""
    _step_args("scanlab.ops.delta_rule_step",
               [("q", q, False), ("k", k, False), ("v", v, False), ("beta", beta, False), ("h", h, False),
                ("log_a", log_a, True)])
    o, h_new = torch.ops.scanlab.delta_rule_step(q, k, v, beta, log_a, h)
    return o, h_new


def state_dtype(dtype):
    """The dtype the ops keep their state in for inputs of `dtype` (float64 stays, others float32)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


__all__ = ["PATHS", "affine_scan", "affine_scan_step", "delta_rule", "delta_rule_step", "mlstm", "mlstm_step",
           "state_dtype"]
