"""The prefix-scan engine (src/scan/) with an aggregator written in Python.

Agg(older, newer) -> state, the older aggregate on the left; it need not be associative. The engine
is the C++ one, so the bracketing is the C++ engine's: the exclusive prefix i is the left fold,
largest block first, of the balanced trees over the dyadic blocks of [0, i), and OnlineScanner's
prefix after m inserts is bracketed exactly as blelloch's prefix m.

Two kinds of state, told apart by the states themselves:
  tensor states  a torch.Tensor, or a tuple/list of tensors, each with a leading batch dim B. agg is
                 called once per tree level with that level's P pairs concatenated along dim 0
                 (tensors of [P*B, ...], in the states' structure) and returns the same structure;
                 autograd flows through the scan.
  other objects  anything else (strings, numbers, ...): agg(older: list, newer: list) -> list is
                 called once per tree level with the level's pairs.
"""
import torch

from . import _C, _checks

_scan = _C.scan


def _is_tensor_state(s):
    if isinstance(s, torch.Tensor):
        return True
    return isinstance(s, (tuple, list)) and len(s) > 0 and all(isinstance(t, torch.Tensor) for t in s)


class _Form:
    """The structure of a tensor state (one tensor, or a tuple/list of n) and the conversions to and
    from the list of tensors the C++ engine holds."""

    def __init__(self, op, state):
        self.op = op
        self.single = isinstance(state, torch.Tensor)
        self.seq_type = None if self.single else type(state)
        self.n = 1 if self.single else len(state)

    def to_list(self, state, what):
        if self.single:
            if not isinstance(state, torch.Tensor):
                raise TypeError(f"{self.op}: {what} is {type(state).__name__}; expected a torch.Tensor like the first state")
            return [state]
        if not isinstance(state, (tuple, list)) or len(state) != self.n or \
                not all(isinstance(t, torch.Tensor) for t in state):
            raise TypeError(f"{self.op}: {what} is {type(state).__name__}"
                            f"{'' if not isinstance(state, (tuple, list)) else f' of {len(state)}'}; "
                            f"expected a {self.seq_type.__name__} of {self.n} tensors like the first state")
        return list(state)

    def from_list(self, tensors):
        return tensors[0] if self.single else self.seq_type(tensors)

    def wrap_agg(self, agg):
        def agg_lists(older, newer):
            return self.to_list(agg(self.from_list(older), self.from_list(newer)), "the value agg returned")
        return agg_lists


def blelloch(states, agg, inclusive=True, return_counts=False):
    """Parallel prefix scan (PSM paper §1.4): one batched agg call per tree level.

    inclusive=True: out[i] aggregates states[0..i]; inclusive=False: out[i] aggregates states[0..i-1]
    and out[0] is None (the formal identity). With return_counts, returns (out, {"calls", "pairs"}):
    the batched agg calls made and the pairs they aggregated."""
    op = "scanlab.scan.blelloch"
    _checks.callable_(op, "agg", agg)
    if isinstance(states, (str, bytes, torch.Tensor)) or not hasattr(states, "__iter__"):
        raise TypeError(f"{op}: states is {type(states).__name__}; expected a list of states")
    states = list(states)
    if not states:
        raise ValueError(f"{op}: states is empty; expected at least one state")
    if _is_tensor_state(states[0]):
        form = _Form(op, states[0])
        lists = [form.to_list(s, f"state {i}") for i, s in enumerate(states)]
        prefixes, calls, pairs = _scan.blelloch_tensor(lists, form.wrap_agg(agg), bool(inclusive))
        out = [None if p is None else form.from_list(p) for p in prefixes]
    else:
        out, calls, pairs = _scan.blelloch_object(states, agg, bool(inclusive))
    return (out, {"calls": calls, "pairs": pairs}) if return_counts else out


def blelloch_batched_calls(n, inclusive=True):
    """The number of batched agg calls blelloch makes for n states (the C++ engine's formula)."""
    _checks.integer("scanlab.scan.blelloch_batched_calls", "n", n, minimum=0)
    return _scan.blelloch_batched_calls(n, bool(inclusive))


class OnlineScanner:
    """The online binary counter (PSM paper, Alg. 2), the sequential twin of blelloch: insert() a
    chunk state, prefix() reads the aggregate of everything inserted (None before the first insert).
    (carries + 1) agg calls per insert, at most 2·(⌊log2 m⌋+1) stored states."""

    def __init__(self, agg):
        self._agg = _checks.callable_("scanlab.scan.OnlineScanner", "agg", agg)
        self._impl = None
        self._form = None

    def insert(self, state):
        op = "scanlab.scan.OnlineScanner.insert"
        if self._impl is None:
            if _is_tensor_state(state):
                self._form = _Form(op, state)
                self._impl = _scan.TensorOnlineScanner(self._form.wrap_agg(self._agg))
            else:
                self._impl = _scan.ObjectOnlineScanner(self._agg)
        if self._form is not None:
            self._impl.insert(self._form.to_list(state, f"state {self._impl.count}"))
        else:
            if _is_tensor_state(state):
                raise TypeError(f"{op}: state {self._impl.count} is a tensor state but the first was "
                                "not; expected states of one kind")
            self._impl.insert(state)

    def prefix(self):
        if self._impl is None:
            return None
        p = self._impl.prefix()
        return p if p is None or self._form is None else self._form.from_list(p)

    def _get(self, name, default=0):
        return default if self._impl is None else getattr(self._impl, name)

    @property
    def count(self):
        """States inserted so far."""
        return self._get("count")

    @property
    def stored_states(self):
        return self._get("stored_states")

    @property
    def stored_bytes(self):
        """Bytes of the stored tensor states (0 for other objects)."""
        return self._get("stored_bytes") if self._form is not None else 0

    @property
    def agg_calls(self):
        return self._get("agg_calls")

    @property
    def agg_pairs(self):
        return self._get("agg_pairs")


__all__ = ["OnlineScanner", "blelloch", "blelloch_batched_calls"]
