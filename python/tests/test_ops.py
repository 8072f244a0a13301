"""The ops from Python: every path against a float64 token-loop reference written here in plain
torch (outputs, final states and gradients), odd T, batch > 1, a non-zero initial state; the decode
steps against the sequence ops; gradcheck; torch.ops.scanlab.*; bad input."""
import pytest
import torch
from torch.autograd import gradcheck

from scanlab import ops

PATHS = ("chunked", "ref", "blelloch")
F64 = torch.float64


# ---- references: the recurrences token by token, nothing from scanlab ----

def affine_reference(q, k, v, log_a, h0):
    B, T, H, K = q.shape
    h = h0.clone()
    outs = []
    for t in range(T):
        if log_a is None:
            a = torch.ones(B, H, K, 1, dtype=q.dtype)
        elif log_a.dim() == 3:
            a = log_a[:, t].exp()[:, :, None, None].expand(B, H, K, 1)
        else:
            a = log_a[:, t].exp()[..., None]
        h = a * h + k[:, t, :, :, None] * v[:, t, :, None, :]
        outs.append(torch.einsum("bhkv,bhk->bhv", h, q[:, t]))
    return torch.stack(outs, 1), h


def mlstm_reference(q, k, v, log_f, log_i, C0, n0):
    """Unstabilised (float64, moderate gates): C, n and o = Cᵀq / max(|nᵀq|, 1)."""
    T = q.shape[1]
    C, n = C0.clone(), n0.clone()
    outs = []
    for t in range(T):
        f, i = log_f[:, t].exp()[..., None], log_i[:, t].exp()[..., None]
        C = f[..., None] * C + i[..., None] * k[:, t, :, :, None] * v[:, t, :, None, :]
        n = f * n + i * k[:, t]
        num = torch.einsum("bhkv,bhk->bhv", C, q[:, t])
        den = torch.einsum("bhk,bhk->bh", n, q[:, t]).abs().clamp_min(1.0)[..., None]
        outs.append(num / den)
    return torch.stack(outs, 1), C, n


def delta_reference(q, k, v, beta, log_a, h0):
    B, T, H, K = q.shape
    h = h0.clone()
    eye = torch.eye(K, dtype=q.dtype)
    outs = []
    for t in range(T):
        kt, b = k[:, t], beta[:, t][..., None, None]
        alpha = torch.ones_like(b) if log_a is None else log_a[:, t].exp()[..., None, None]
        E = alpha * (eye - b * kt[..., :, None] * kt[..., None, :])
        h = E @ h + b * kt[..., :, None] * v[:, t, :, None, :]
        outs.append(torch.einsum("bhkv,bhk->bhv", h, q[:, t]))
    return torch.stack(outs, 1), h


# ---- inputs ----

B, T, H, K, V, CHUNK = 2, 37, 2, 8, 6, 8  # odd T, several chunks and a partial one


def make(shape, requires_grad=True, scale=1.0):
    return (torch.randn(*shape, dtype=F64) * scale).requires_grad_(requires_grad)


def gate(shape):
    return (-torch.rand(*shape, dtype=F64) * 0.5).requires_grad_(True)  # log a in (-0.5, 0]


def grads(outputs, inputs, seed=1):
    g = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in outputs)
    return torch.autograd.grad(loss, [x for x in inputs if x is not None])


def assert_all_close(got, want, what, tol=1e-10):
    for i, (a, b) in enumerate(zip(got, want)):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=lambda m: f"{what} [{i}]: {m}")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("gate_kind", ["identity", "scalar", "diagonal"])
def test_affine_scan_outputs_states_and_gradients_equal_the_token_loop(path, gate_kind):
    q, k, v = make((B, T, H, K), scale=0.5), make((B, T, H, K), scale=0.5), make((B, T, H, V))
    log_a = None if gate_kind == "identity" else gate((B, T, H) if gate_kind == "scalar" else (B, T, H, K))
    h0 = make((B, H, K, V))
    o, h = ops.affine_scan(q, k, v, log_a, h0, chunk=CHUNK, path=path)
    o_ref, h_ref = affine_reference(q, k, v, log_a, h0)
    assert o.shape == (B, T, H, V) and h.shape == (B, H, K, V) and o.dtype == F64
    assert_all_close([o, h], [o_ref, h_ref], f"affine {gate_kind} {path}")
    inputs = [q, k, v, log_a, h0]
    assert_all_close(grads([o, h], inputs), grads([o_ref, h_ref], inputs), f"affine {gate_kind} {path} grads")


@pytest.mark.parametrize("path", PATHS)
def test_mlstm_outputs_states_and_gradients_equal_the_token_loop(path):
    q, k, v = make((B, T, H, K), scale=0.5), make((B, T, H, K), scale=0.5), make((B, T, H, V))
    log_f = torch.nn.functional.logsigmoid(make((B, T, H), False) + 2).requires_grad_(True)
    log_i = make((B, T, H), scale=0.5)
    o, (C, n, m) = ops.mlstm(q, k, v, log_f, log_i, chunk=CHUNK, path=path)
    o_ref, C_ref, n_ref = mlstm_reference(q, k, v, log_f, log_i, torch.zeros(B, H, K, V, dtype=F64),
                                          torch.zeros(B, H, K, dtype=F64))
    scale = m.exp()  # the state is stored as (C, n)·exp(-m)
    assert_all_close([o, C * scale[..., None, None], n * scale[..., None]], [o_ref, C_ref, n_ref], f"mlstm {path}")
    inputs = [q, k, v, log_f, log_i]
    assert_all_close(grads([o], inputs), grads([o_ref], inputs), f"mlstm {path} grads")
    # A continued sequence: the state carried into a second call gives the same outputs as one call.
    o1, s1 = ops.mlstm(q[:, :20], k[:, :20], v[:, :20], log_f[:, :20], log_i[:, :20], chunk=CHUNK, path=path)
    o2, _ = ops.mlstm(q[:, 20:], k[:, 20:], v[:, 20:], log_f[:, 20:], log_i[:, 20:], state0=s1, chunk=CHUNK, path=path)
    assert_all_close([torch.cat([o1, o2], 1)], [o_ref], f"mlstm {path} continued")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("gated", [False, True])
def test_delta_rule_outputs_states_and_gradients_equal_the_token_loop(path, gated):
    q = make((B, T, H, K), scale=0.5)
    k = torch.nn.functional.normalize(torch.randn(B, T, H, K, dtype=F64), dim=-1).requires_grad_(True)
    v, beta = make((B, T, H, V)), torch.rand(B, T, H, dtype=F64).requires_grad_(True)
    log_a = gate((B, T, H)) if gated else None
    h0 = make((B, H, K, V))
    o, h = ops.delta_rule(q, k, v, beta, log_a, h0, chunk=CHUNK, path=path)
    o_ref, h_ref = delta_reference(q, k, v, beta, log_a, h0)
    assert_all_close([o, h], [o_ref, h_ref], f"delta gated={gated} {path}")
    inputs = [q, k, v, beta, log_a, h0]
    assert_all_close(grads([o, h], inputs), grads([o_ref, h_ref], inputs), f"delta gated={gated} {path} grads")


def test_float32_chunked_matches_the_float64_reference():
    q, k, v = make((B, T, H, K), False, 0.5), make((B, T, H, K), False, 0.5), make((B, T, H, V), False)
    log_a = gate((B, T, H)).detach()
    o, h = ops.affine_scan(q.float(), k.float(), v.float(), log_a.float(), chunk=16)
    o_ref, h_ref = affine_reference(q, k, v, log_a, torch.zeros(B, H, K, V, dtype=F64))
    assert o.dtype == torch.float32 and h.dtype == torch.float32
    torch.testing.assert_close(o.double(), o_ref, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(h.double(), h_ref, rtol=1e-4, atol=1e-4)


def test_decode_steps_replay_the_sequence_ops():
    q, k, v = make((B, T, H, K), False, 0.5), make((B, T, H, K), False, 0.5), make((B, T, H, V), False)
    log_a, beta = gate((B, T, H, K)).detach(), torch.rand(B, T, H, dtype=F64)
    log_s = gate((B, T, H)).detach()
    log_f = torch.nn.functional.logsigmoid(torch.randn(B, T, H, dtype=F64) + 2)
    log_i = torch.randn(B, T, H, dtype=F64) * 0.5
    o_a, h_a = ops.affine_scan(q, k, v, log_a, chunk=CHUNK)
    o_d, h_d = ops.delta_rule(q, k, v, beta, log_s, chunk=CHUNK)
    o_m, s_m = ops.mlstm(q, k, v, log_f, log_i, chunk=CHUNK)
    h1 = h2 = torch.zeros(B, H, K, V, dtype=F64)
    s = (torch.zeros(B, H, K, V, dtype=F64), torch.zeros(B, H, K, dtype=F64), torch.zeros(B, H, dtype=F64))
    for t in range(T):
        before = h1.clone()
        o1, h1_new = ops.affine_scan_step(q[:, t], k[:, t], v[:, t], h1, log_a[:, t])
        assert torch.equal(h1, before), "a step must not write the state it was given"
        h1 = h1_new
        o2, h2 = ops.delta_rule_step(q[:, t], k[:, t], v[:, t], beta[:, t], h2, log_s[:, t])
        o3, s = ops.mlstm_step(q[:, t], k[:, t], v[:, t], log_f[:, t], log_i[:, t], s)
        torch.testing.assert_close(o1, o_a[:, t], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(o2, o_d[:, t], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(o3, o_m[:, t], rtol=1e-10, atol=1e-10)
    assert_all_close([h1, h2, *s], [h_a, h_d, *s_m], "final states of the steps")


@pytest.mark.parametrize("path", PATHS)
def test_gradcheck_in_float64(path):
    b, t, h, kd, vd = 2, 5, 1, 3, 2
    q, k, v = make((b, t, h, kd)), make((b, t, h, kd)), make((b, t, h, vd))
    la, h0 = gate((b, t, h, kd)), make((b, h, kd, vd))
    assert gradcheck(lambda *x: ops.affine_scan(*x, chunk=2, path=path), (q, k, v, la, h0))
    lf = torch.nn.functional.logsigmoid(make((b, t, h), False) + 2).requires_grad_(True)
    li = make((b, t, h), scale=0.5)
    assert gradcheck(lambda *x: ops.mlstm(*x, chunk=2, path=path)[0], (q, k, v, lf, li))
    kn = torch.nn.functional.normalize(torch.randn(b, t, h, kd, dtype=F64), dim=-1).requires_grad_(True)
    beta, ls = torch.rand(b, t, h, dtype=F64).requires_grad_(True), gate((b, t, h))
    assert gradcheck(lambda *x: ops.delta_rule(*x, chunk=2, path=path), (q, kn, v, beta, ls, h0))


def test_registered_as_torch_ops():
    q, k, v = make((B, 5, H, K), False), make((B, 5, H, K), False), make((B, 5, H, V), False)
    o, h = torch.ops.scanlab.affine_scan(q, k, v, None, None, 4, "ref")
    o2, h2 = ops.affine_scan(q, k, v, chunk=4, path="chunked")
    assert_all_close([o, h], [o2, h2], "torch.ops.scanlab.affine_scan")
    for name in ("mlstm", "delta_rule", "affine_scan_step", "mlstm_step", "delta_rule_step"):
        assert callable(getattr(torch.ops.scanlab, name))
    with pytest.raises(ValueError, match="k has shape"):
        torch.ops.scanlab.affine_scan(q, k[:, :, :, :3], v, None, None, 4, "ref")


def test_bad_input_raises_python_exceptions_naming_the_problem():
    q, k, v = torch.randn(B, 5, H, K), torch.randn(B, 5, H, K), torch.randn(B, 5, H, V)
    with pytest.raises(ValueError, match=r"k has shape \[2, 5, 2, 3\]"):
        ops.affine_scan(q, k[..., :3], v)
    with pytest.raises(ValueError, match="log_a"):
        ops.affine_scan(q, k, v, torch.zeros(B, 5, 7))
    with pytest.raises(TypeError, match="q has dtype torch.int64; expected a floating dtype"):
        ops.affine_scan(q.long(), k, v)
    with pytest.raises(TypeError, match="v is list; expected a torch.Tensor"):
        ops.affine_scan(q, k, [1.0])
    with pytest.raises(ValueError, match="path is 'fast'; expected one of 'chunked', 'ref', 'blelloch'"):
        ops.affine_scan(q, k, v, path="fast")
    with pytest.raises(ValueError, match="chunk is 0; expected at least 1"):
        ops.affine_scan(q, k, v, chunk=0)
    with pytest.raises(ValueError, match="meta"):
        ops.affine_scan(q, k.to("meta"), v)  # another device
    with pytest.raises(ValueError, match="beta"):
        ops.delta_rule(q, k, v, torch.rand(B, 4, H))
    with pytest.raises(TypeError, match="state0 is Tensor; expected None or a tuple"):
        ops.mlstm(q, k, v, torch.zeros(B, 5, H), torch.zeros(B, 5, H), state0=torch.zeros(1))
    with pytest.raises(ValueError, match="h"):
        ops.affine_scan_step(q[:, 0], k[:, 0], v[:, 0], torch.zeros(B, H, K, V + 1))
