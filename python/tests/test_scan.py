"""The scan engine with Python aggregators: the bracketing (symbolic, as tests/scan/test_blelloch.cpp),
call counts, a float64 MLP aggregator, autograd, and bad input."""
import pytest
import torch

import scanlab


def symbols(n):
    return [f"x{i}" for i in range(n)]


class Symbolic:
    """agg on lists: "(a.b)" for each pair; counts the batched calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, older, newer):
        self.calls += 1
        return [f"({a}.{b})" for a, b in zip(older, newer)]


# Written independently of the engine: the balanced tree of a block, and the left fold of the
# dyadic blocks of [0, i), largest first (PSM paper §1.4).
def balanced(start, length):
    if length == 1:
        return f"x{start}"
    return f"({balanced(start, length // 2)}.{balanced(start + length // 2, length // 2)})"


def expected_prefix(i):
    acc, start = None, 0
    for bit in range(20, -1, -1):
        length = 1 << bit
        if i & length:
            acc = balanced(start, length) if acc is None else f"({acc}.{balanced(start, length)})"
            start += length
    return acc


def test_paper_example_for_prefix_seven():
    assert expected_prefix(7) == "((((x0.x1).(x2.x3)).(x4.x5)).x6)"
    out = scanlab.scan.blelloch(symbols(8), Symbolic(), inclusive=False)
    assert out[7] == "((((x0.x1).(x2.x3)).(x4.x5)).x6)"
    assert out[4] == "((x0.x1).(x2.x3))"


def test_every_prefix_of_every_length_matches_the_binary_decomposition():
    for n in range(1, 41):
        agg = Symbolic()
        exclusive = scanlab.scan.blelloch(symbols(n), agg, inclusive=False)
        inclusive = scanlab.scan.blelloch(symbols(n), agg, inclusive=True)
        assert len(exclusive) == n and len(inclusive) == n
        assert exclusive[0] is None, f"prefix 0 must be the identity, N={n}"
        online = scanlab.scan.OnlineScanner(agg)
        assert online.prefix() is None
        for i in range(n):
            if i > 0:
                assert exclusive[i] == expected_prefix(i), (n, i)
            assert inclusive[i] == expected_prefix(i + 1), (n, i)
            online.insert(f"x{i}")
            assert online.prefix() == expected_prefix(i + 1), (n, i)


def test_call_counts_are_the_engines():
    for n in range(1, 70):
        for inclusive in (False, True):
            agg = Symbolic()
            _, counts = scanlab.scan.blelloch(symbols(n), agg, inclusive=inclusive, return_counts=True)
            assert counts["calls"] == agg.calls == scanlab.scan.blelloch_batched_calls(n, inclusive)
            assert counts["pairs"] <= 2 * n
    assert scanlab.scan.blelloch_batched_calls(8, inclusive=False) == 4
    assert scanlab.scan.blelloch_batched_calls(4096, inclusive=False) == 22
    online = scanlab.scan.OnlineScanner(Symbolic())
    for m in range(1, 200):
        online.insert("x")
        assert online.stored_states == 2 * bin(m).count("1") - 1
        assert online.agg_calls <= 2 * m


class Mlp:
    """A non-associative float64 aggregator on batched states [P*B, D] (older, newer)."""

    def __init__(self, dim, hidden=16):
        g = torch.Generator().manual_seed(3)
        self.w1 = torch.randn(2 * dim, hidden, generator=g, dtype=torch.float64) / dim
        self.w2 = torch.randn(hidden, dim, generator=g, dtype=torch.float64) / hidden
        self.calls = 0
        self.rows = []

    def __call__(self, older, newer):
        self.calls += 1
        self.rows.append(older.shape[0])
        return torch.tanh(torch.cat([older, newer], -1) @ self.w1) @ self.w2 + older * newer


def evaluate(expr_states, i, agg):
    """expected_prefix(i)'s expression tree evaluated pair by pair (batch 1 calls)."""
    def block(start, length):
        if length == 1:
            return expr_states[start]
        return agg(block(start, length // 2), block(start + length // 2, length // 2))
    acc, start = None, 0
    for bit in range(20, -1, -1):
        length = 1 << bit
        if i & length:
            acc = block(start, length) if acc is None else agg(acc, block(start, length))
            start += length
    return acc


def test_float64_mlp_aggregator_matches_the_expression_tree_and_the_online_scanner():
    B, D, n = 3, 5, 13
    states = [torch.randn(B, D, dtype=torch.float64) for _ in range(n)]
    agg = Mlp(D)
    out, counts = scanlab.scan.blelloch(states, agg, inclusive=True, return_counts=True)
    assert agg.calls == counts["calls"] == scanlab.scan.blelloch_batched_calls(n, True)
    assert max(agg.rows) > B, "a tree level must reach agg as one batched call"
    online = scanlab.scan.OnlineScanner(agg)
    for i in range(n):
        expected = evaluate(states, i + 1, agg)
        torch.testing.assert_close(out[i], expected, rtol=0, atol=1e-12)
        online.insert(states[i])
        torch.testing.assert_close(online.prefix(), expected, rtol=0, atol=1e-12)
    assert online.stored_bytes == online.stored_states * B * D * 8


def test_tuple_states_keep_their_structure_and_gradients_flow():
    B, n = 2, 6
    xs = torch.randn(n, B, 4, dtype=torch.float64, requires_grad=True)
    states = [(xs[i], torch.full((B, 1), float(i), dtype=torch.float64)) for i in range(n)]

    def agg(older, newer):
        assert isinstance(older, tuple) and len(older) == 2
        return (older[0] * 0.5 + newer[0], older[1] + newer[1])

    out = scanlab.scan.blelloch(states, agg, inclusive=True)
    assert isinstance(out[-1], tuple)
    torch.testing.assert_close(out[-1][1], torch.full((B, 1), float(sum(range(n))), dtype=torch.float64))
    out[-1][0].sum().backward()
    # the last prefix weights state i by 0.5^(number of left merges above it); every state reaches it
    assert torch.all(xs.grad[:, :, :] > 0)


def test_bad_input_names_the_problem():
    with pytest.raises(TypeError, match="agg is int, which is not callable"):
        scanlab.scan.blelloch(symbols(3), 5)
    with pytest.raises(TypeError, match="not callable"):
        scanlab.scan.OnlineScanner("agg")
    with pytest.raises(ValueError, match="states is empty"):
        scanlab.scan.blelloch([], Symbolic())
    with pytest.raises(ValueError, match="returned 1 states for 2 pairs"):
        scanlab.scan.blelloch(symbols(4), lambda a, b: ["x"])
    with pytest.raises(TypeError, match="expected a list of that many states"):
        scanlab.scan.blelloch(symbols(4), lambda a, b: "x")
    states = [torch.zeros(2, 3), torch.zeros(2, 4)]
    with pytest.raises(ValueError, match="state 1"):
        scanlab.scan.blelloch(states, lambda a, b: a + b)
    with pytest.raises(TypeError, match="state 1 is str"):
        scanlab.scan.blelloch([torch.zeros(2, 3), "x"], lambda a, b: a + b)
    with pytest.raises(TypeError, match="the value agg returned is str"):
        scanlab.scan.blelloch([torch.zeros(2, 3)] * 3, lambda a, b: "oops")

    def failing(a, b):
        raise KeyError("from the aggregator")
    with pytest.raises(KeyError, match="from the aggregator"):
        scanlab.scan.blelloch(symbols(3), failing)
