"""What only the GPU machine (torch 2.x wheel, CUDA) can check; each test says why it skips elsewhere.

- torch.compile: a module calling scanlab.ops compiles (a graph break around the op) and gives the
  eager outputs and gradients.
- The ops' CUDA paths from Python, bf16 inputs, against the float64 token loop on the CPU (relative
  RMS error of outputs, final states and gradients).
- A small model built on scanlab.ops trains under bf16 autocast on CUDA: the loss falls.
"""
import pytest
import torch

from scanlab import ops
from test_ops import affine_reference, delta_reference

F64 = torch.float64
needs_compile = pytest.mark.skipif(not hasattr(torch, "compile"), reason="torch.compile needs torch >= 2.0")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def rel_rms(x, ref):
    x, ref = x.detach().to("cpu", F64), ref.detach().to("cpu", F64)
    return ((x - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt().clamp_min(1e-30)).item()


class ScanMixer(torch.nn.Module):
    """Embedding -> q, k, v (and a scalar gate) -> scanlab.ops.affine_scan -> head: the op inside a model."""

    def __init__(self, vocab=16, heads=2, dim=64):
        super().__init__()
        self.heads, self.dim = heads, dim
        self.emb = torch.nn.Embedding(vocab, heads * dim)
        self.qkvg = torch.nn.Linear(heads * dim, 3 * heads * dim + heads)
        self.head = torch.nn.Linear(heads * dim, vocab)

    def forward(self, tokens):
        B, T = tokens.shape
        x = self.emb(tokens)
        q, k, v, g = self.qkvg(x).split([self.heads * self.dim] * 3 + [self.heads], -1)
        shape = (B, T, self.heads, self.dim)
        q, k, v = q.reshape(shape), torch.nn.functional.normalize(k.reshape(shape), dim=-1), v.reshape(shape)
        log_a = torch.nn.functional.logsigmoid(g.float() + 4.0)
        o, _ = ops.affine_scan(q, k, v, log_a, chunk=16)
        return self.head(o.reshape(B, T, -1) + x)


@needs_compile
def test_a_compiled_module_around_scanlab_ops_matches_eager():
    torch.manual_seed(0)
    model = ScanMixer()
    tokens = torch.randint(0, 16, (2, 37))
    eager = model(tokens)
    eager.square().mean().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled = torch.compile(model)
    out = compiled(tokens)
    out.square().mean().backward()
    assert torch.allclose(out, eager, rtol=1e-5, atol=1e-6), (out - eager).abs().max()
    for p, g in zip(model.parameters(), grads):
        assert torch.allclose(p.grad, g, rtol=1e-4, atol=1e-6), (p.grad - g).abs().max()


def _inputs(shape_qk, v_dim, device, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    B, T, H, K = shape_qk
    q = torch.randn(B, T, H, K, generator=g, dtype=F64) / K ** 0.5
    k = torch.nn.functional.normalize(torch.randn(B, T, H, K, generator=g, dtype=F64), dim=-1)
    v = torch.randn(B, T, H, v_dim, generator=g, dtype=F64)
    return q, k, v


@needs_cuda
@pytest.mark.parametrize("gate", ["none", "scalar", "vector"])
def test_affine_scan_on_cuda_in_bf16_matches_the_float64_token_loop(gate):
    B, T, H, K = 2, 100, 2, 64
    q, k, v = _inputs((B, T, H, K), 64, "cpu", F64, 1)
    gen = torch.Generator().manual_seed(2)
    log_a = None if gate == "none" else \
        -torch.rand((B, T, H) if gate == "scalar" else (B, T, H, K), generator=gen, dtype=F64) * 0.2
    leaves = [q, k, v] + ([log_a] if log_a is not None else [])
    for x in leaves:
        x.requires_grad_(True)
    o_ref, h_ref = affine_reference(q, k, v, log_a, torch.zeros(B, H, K, 64, dtype=F64))
    w = torch.randn_like(o_ref)
    grads_ref = torch.autograd.grad((o_ref * w).sum() + h_ref.sum(), leaves)

    cuda = [x.detach().to("cuda", torch.bfloat16).requires_grad_(True) for x in leaves[:3]]
    if log_a is not None:
        cuda.append(log_a.detach().float().cuda().requires_grad_(True))  # gates stay float32, as the models keep them
    o, h = ops.affine_scan(*cuda[:3], cuda[3] if log_a is not None else None, chunk=64)
    assert o.is_cuda and o.dtype == torch.bfloat16 and h.dtype == torch.float32
    grads = torch.autograd.grad((o.float() * w.cuda().float()).sum() + h.sum(), cuda)
    assert rel_rms(o, o_ref) < 2e-2
    assert rel_rms(h, h_ref) < 2e-2
    for name, g, r in zip(["q", "k", "v", "log_a"], grads, grads_ref):
        assert rel_rms(g, r) < 5e-2, name


@needs_cuda
@pytest.mark.parametrize("gated", [False, True])
def test_delta_rule_on_cuda_in_bf16_matches_the_float64_token_loop(gated):
    B, T, H, K = 2, 100, 2, 64
    q, k, v = _inputs((B, T, H, K), 64, "cpu", F64, 3)
    gen = torch.Generator().manual_seed(4)
    beta = torch.rand(B, T, H, generator=gen, dtype=F64)
    log_a = -torch.rand(B, T, H, generator=gen, dtype=F64) * 0.2 if gated else None
    o_ref, h_ref = delta_reference(q, k, v, beta, log_a, torch.zeros(B, H, K, 64, dtype=F64))
    args = [x.to("cuda", torch.bfloat16) for x in (q, k, v)] + [beta.float().cuda()]
    o, h = ops.delta_rule(*args, None if log_a is None else log_a.float().cuda(), chunk=64)
    assert o.is_cuda and o.dtype == torch.bfloat16
    assert rel_rms(o, o_ref) < 2e-2
    assert rel_rms(h, h_ref) < 2e-2


@needs_cuda
def test_a_model_on_scanlab_ops_trains_under_bf16_autocast_on_cuda():
    torch.manual_seed(0)
    model = ScanMixer().cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    # Copy the token seen 3 positions back: needs the recurrent state, learnable in a few dozen steps.
    losses = []
    for _ in range(100):
        tokens = torch.randint(0, 16, (16, 64), device="cuda")
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(tokens)
            loss = torch.nn.functional.cross_entropy(logits[:, 3:].float().reshape(-1, 16), tokens[:, :-3].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, (first, last)
