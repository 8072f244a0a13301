"""Argument checks shared by the package: one TypeError or ValueError naming the argument, what
arrived and what was expected, before anything reaches C++."""
import torch


def tensor(op, name, x, *, floating=None, optional=False):
    """x itself when it is a tensor (None when optional and None); floating=True/False checks the dtype kind."""
    if x is None and optional:
        return None
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{op}: {name} is {type(x).__name__}; expected a torch.Tensor")
    if floating is True and not x.is_floating_point():
        raise TypeError(f"{op}: {name} has dtype {x.dtype}; expected a floating dtype "
                        "(float32, float64, bfloat16)")
    if floating is False and x.dtype != torch.int64:
        raise TypeError(f"{op}: {name} has dtype {x.dtype}; expected torch.int64 token ids")
    return x


def integer(op, name, x, *, minimum=None):
    if isinstance(x, bool) or not isinstance(x, int):
        raise TypeError(f"{op}: {name} is {type(x).__name__}; expected an int")
    if minimum is not None and x < minimum:
        raise ValueError(f"{op}: {name} is {x}; expected at least {minimum}")
    return x


def string(op, name, x, choices=None):
    if not isinstance(x, str):
        raise TypeError(f"{op}: {name} is {type(x).__name__}; expected a str")
    if choices is not None and x not in choices:
        raise ValueError(f"{op}: {name} is {x!r}; expected one of {', '.join(repr(c) for c in choices)}")
    return x


def callable_(op, name, x):
    if not callable(x):
        raise TypeError(f"{op}: {name} is {type(x).__name__}, which is not callable; "
                        "expected a function agg(older, newer)")
    return x
