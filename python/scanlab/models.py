"""scanlab's sequence models as torch.nn.Modules (src/models/README.md lists them).

A Model wraps the C++ model: forward, streams and saving run in C++, and its parameters are the C++
module's own tensors, registered on this Module, so torch.optim updates the C++ model in place and
backward() leaves gradients on them. A model file written here is read by every CLI command
(`scanlab generate`, `score`, ...), and a file from `scanlab train` or `init-model` loads here.
"""
import json

import torch

from . import _C, _checks

_models = _C.models


def names():
    """The registered model names (scanlab's model registry)."""
    return list(_models.names())


def small_config(name):
    """The registry's small configuration of a model (a dict, "model" included)."""
    _checks.string("scanlab.models.small_config", "name", name)
    return json.loads(_models.small_config(name))


def _dtype_name(op, dtype):
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"{op}: dtype is {type(dtype).__name__}; expected a torch.dtype")
    return str(dtype).replace("torch.", "")


class Stream:
    """A model's inference state for a batch of B sequences: step(tokens [B]) -> logits [B, V]."""

    def __init__(self, handle, batch):
        self._handle = handle
        self.batch = batch

    def step(self, tokens):
        _checks.tensor("Stream.step", "tokens", tokens, floating=False)
        if tokens.dim() != 1 or tokens.shape[0] != self.batch:
            raise ValueError(f"Stream.step: tokens has shape {list(tokens.shape)}; expected [{self.batch}] "
                             "(one token per sequence of the stream)")
        return self._handle.step(tokens)

    @property
    def position(self):
        """Tokens consumed so far."""
        return self._handle.position

    def state_bytes(self):
        """Bytes of state held now (caches, recurrent states, stored chunk states)."""
        return self._handle.state_bytes()

    @property
    def agg_calls(self):
        return self._handle.agg_calls

    def save(self):
        """The tensors that continue this stream exactly ({name: tensor}; torch.save can store them)."""
        return dict(self._handle.save())

    def restore(self, tensors):
        if not isinstance(tensors, dict):
            raise TypeError(f"Stream.restore: tensors is {type(tensors).__name__}; expected the dict save() returned")
        self._handle.restore(tensors)


class Model(torch.nn.Module):
    """A scanlab model: forward(tokens [B, T] int64) -> logits [B, T, V]."""

    def __init__(self, handle):
        super().__init__()
        self._handle = handle
        self._sync()
        self.training = handle.training

    def _sync(self):
        # The C++ tensors themselves, not copies: registered directly so the optimizer, state_dict()
        # and load_state_dict() all act on the C++ model's storage.
        self._parameters.clear()
        self._buffers.clear()
        for name, t in self._handle.named_parameters():
            self._parameters[name] = t
        for name, t in self._handle.named_buffers():
            self._buffers[name] = t

    @property
    def kind(self):
        return self._handle.kind

    @property
    def config(self):
        """The model's configuration ({"model": kind, ...}); create(**config) rebuilds the model."""
        return json.loads(self._handle.config_json)

    @property
    def vocab_size(self):
        return self._handle.vocab_size

    def forward(self, tokens):
        _checks.tensor("Model.forward", "tokens", tokens, floating=False)
        if tokens.dim() != 2:
            raise ValueError(f"Model.forward: tokens has shape {list(tokens.shape)}; expected [B, T]")
        return self._handle.forward(tokens)

    def stream(self, batch=1):
        """A fresh stream of `batch` sequences (the model's streaming evaluation)."""
        _checks.integer("Model.stream", "batch", batch, minimum=1)
        return Stream(self._handle.stream(batch), batch)

    def prefill(self, tokens):
        """Logits for every position of tokens [B, T] and a stream positioned after them."""
        _checks.tensor("Model.prefill", "tokens", tokens, floating=False)
        if tokens.dim() != 2:
            raise ValueError(f"Model.prefill: tokens has shape {list(tokens.shape)}; expected [B, T]")
        logits, handle = self._handle.prefill(tokens)
        return logits, Stream(handle, tokens.shape[0])

    def save(self, path):
        """Writes the model file (weights, config, tokenizer) that the CLI commands read."""
        _checks.string("Model.save", "path", str(path) if hasattr(path, "__fspath__") else path)
        self._handle.save(str(path))

    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise TypeError(f"Model.train: mode is {type(mode).__name__}; expected a bool")
        self._handle.train(mode)
        self.training = mode
        return self

    def to(self, *args, **kwargs):
        """Moves / converts the C++ model (device and floating dtype), keeping these parameters its own."""
        device, dtype, _, _ = torch._C._nn._parse_to(*args, **kwargs)
        first = next(iter(self._parameters.values()), None)
        device = torch.device(device) if device is not None else (first.device if first is not None else torch.device("cpu"))
        dtype = dtype if dtype is not None else (first.dtype if first is not None else torch.float32)
        self._handle.to(str(device), _dtype_name("Model.to", dtype))
        self._sync()
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else torch.device("cuda", device) if isinstance(device, int) else device)

    def double(self):
        return self.to(torch.float64)

    def float(self):
        return self.to(torch.float32)

    def _apply(self, fn, *args, **kwargs):
        raise TypeError("scanlab Model: its tensors belong to the C++ model; use .to(device, dtype), "
                        ".cpu(), .cuda(), .float() or .double()")

    def extra_repr(self):
        return f"kind={self.kind}, vocab_size={self.vocab_size}"


def load(path, device="cpu"):
    """Reads a scanlab model file (or training checkpoint) into a Model, in eval mode."""
    path = str(path) if hasattr(path, "__fspath__") else path
    _checks.string("scanlab.load", "path", path)
    return Model(_models.load(path, str(torch.device(device))))


def create(name, **config):
    """A fresh model from the registry: create("gla", vocab_size=256, n_layer=2, ...). Unknown names
    and keys are errors that list what is accepted. In train mode."""
    _checks.string("scanlab.models.create", "name", name)
    if "model" in config:
        raise ValueError("scanlab.models.create: the model is named by the first argument; drop model=")
    model = Model(_models.create(json.dumps({"model": name, **config})))
    return model.train(True)


__all__ = ["Model", "Stream", "create", "load", "names", "small_config"]
