"""Models from Python: files from the CLI load and give the CLI's numbers, forward equals the stream,
gradients flow and a few optimizer steps lower the loss, a file saved here is read by the CLI."""
import json
import re
import struct

import numpy as np
import pytest
import torch

import scanlab

DTYPES = {"F64": np.float64, "F32": np.float32, "I64": np.int64}


def read_safetensors(path):
    """The format is an 8-byte header length, a JSON header and raw little-endian bytes."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[begin:end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).copy())
    return out


def mean_nll(logits, tokens):
    return torch.nn.functional.cross_entropy(logits[:-1], tokens[1:]).item()


@pytest.fixture(scope="module")
def psm_file(tmp_path_factory, cli):
    path = tmp_path_factory.mktemp("models") / "psm.safetensors"
    cli("init-model", "--model", "transformer_psm", "--preset", "small", "--dtype", "float64",
        "--set", "vocab_size=64", "--out", path)
    return path


def test_a_cli_model_file_gives_the_cli_score_numbers(psm_file, cli, tmp_path):
    tokens = torch.randint(0, 64, (29,))
    (tmp_path / "ids.txt").write_text(" ".join(map(str, tokens.tolist())))
    report = cli("score", "--checkpoint", psm_file, "--tokens", tmp_path / "ids.txt", "--mode", "parallel",
                 "--dump-logits", tmp_path / "logits.safetensors")
    cli_nll = float(re.search(r"mean NLL ([0-9.]+)", report).group(1))
    dumped = read_safetensors(tmp_path / "logits.safetensors")
    model = scanlab.load(psm_file)
    assert isinstance(model, torch.nn.Module) and model.kind == "transformer_psm" and not model.training
    with torch.no_grad():
        logits = model(tokens[None])[0]
    assert logits.dtype == torch.float64
    torch.testing.assert_close(logits, dumped["logits"], rtol=1e-10, atol=1e-10)
    assert abs(mean_nll(logits, tokens) - cli_nll) < 5e-6  # the CLI prints 6 decimals


@pytest.mark.parametrize("name", scanlab.models.names())
def test_forward_equals_prefill_and_stream_for_every_model(name, tmp_path):
    config = scanlab.models.small_config(name)
    del config["model"]
    model = scanlab.models.create(name, **config).double().eval()
    tokens = torch.randint(0, model.vocab_size, (2, 13))
    with torch.no_grad():
        full = model(tokens)
        stream = model.stream(batch=2)
        steps = torch.stack([stream.step(tokens[:, t]) for t in range(13)], 1)
        head, rest = model.prefill(tokens[:, :6])
        tail = torch.stack([rest.step(tokens[:, t]) for t in range(6, 13)], 1)
    torch.testing.assert_close(steps, full, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(torch.cat([head, tail], 1), full, rtol=1e-9, atol=1e-9)
    assert stream.position == 13 and stream.state_bytes() > 0
    # A saved stream continues exactly in a fresh one.
    again = model.stream(batch=2)
    for t in range(13):
        again.step(tokens[:, t])
    resumed = model.stream(batch=2)
    resumed.restore(again.save())
    nxt = torch.randint(0, model.vocab_size, (2,))
    with torch.no_grad():
        torch.testing.assert_close(resumed.step(nxt), stream.step(nxt), rtol=0, atol=0)


def test_training_from_python_lowers_the_loss_and_the_cli_reads_the_result(cli, tmp_path):
    model = scanlab.models.create("gla", **{k: v for k, v in scanlab.models.small_config("gla").items() if k != "model"})
    params = list(model.parameters())
    assert params and all(p.requires_grad for p in params)
    assert len(model.state_dict()) >= len(params)
    inputs, labels = scanlab.tasks.mqar(8, vocab_size=model.vocab_size, seq_len=16, num_kv_pairs=2, seed=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        logits = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                 ignore_index=scanlab.tasks.IGNORE_LABEL)
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is not None for p in params), "every parameter must get a gradient"
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    # The optimizer updated the C++ model itself: a saved file holds the trained weights.
    path = tmp_path / "trained.safetensors"
    model.save(path)
    reloaded = scanlab.load(path)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(inputs), model.eval()(inputs), rtol=1e-6, atol=1e-6)
    (tmp_path / "prompt.txt").write_text("1 2 3")
    out = cli("generate", "--checkpoint", path, "--prompt-tokens", tmp_path / "prompt.txt", "--max-new-tokens", 4,
              "--temperature", 0, "--output", "ids")
    ids = [int(x) for x in out.split()]
    assert len(ids) >= 4 and all(0 <= i < model.vocab_size for i in ids)


def test_a_model_trained_by_scanlab_train_loads(cli, tmp_path):
    out_dir = tmp_path / "run"
    cli("train", "--config", scanlab_config("mqar_cpu.toml"), "--set", "train.steps=3", "--set", "train.eval_every=3",
        "--set", "train.checkpoint_every=3", "--set", "train.batch_size=4", "--set", "train.warmup_steps=0", "--set", f"train.out_dir={out_dir}",
        "--set", "task.num_train=64", "--set", "task.num_val=8", "--set", "train.eval_examples=8",
        "--set", "eval.examples=8")
    model = scanlab.load(out_dir / "checkpoint.safetensors")
    inputs, _ = scanlab.tasks.mqar(2, vocab_size=64, seq_len=32, num_kv_pairs=4)
    with torch.no_grad():
        logits = model(inputs)
        stream = model.stream(2)
        steps = torch.stack([stream.step(inputs[:, t]) for t in range(32)], 1)
    assert logits.shape == (2, 32, 64)
    torch.testing.assert_close(steps, logits, rtol=1e-4, atol=1e-4)


def scanlab_config(name):
    import pathlib
    return pathlib.Path(__file__).resolve().parents[2] / "configs" / name


def test_bad_model_input_raises_python_exceptions(psm_file, tmp_path):
    with pytest.raises(ValueError, match="no-such-model"):
        scanlab.models.create("no-such-model")
    with pytest.raises(ValueError, match="bogus"):
        scanlab.models.create("gla", bogus=1)
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ValueError, match="corrupt.safetensors"):
        scanlab.load(bad)
    with pytest.raises(ValueError, match="missing.safetensors"):
        scanlab.load(tmp_path / "missing.safetensors")
    model = scanlab.load(psm_file)
    with pytest.raises(TypeError, match="tokens has dtype torch.float32; expected torch.int64"):
        model(torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"tokens has shape \[4\]; expected \[B, T\]"):
        model(torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match="64"):
        model(torch.full((1, 4), 99, dtype=torch.int64))  # ids past the vocabulary
    stream = model.stream(batch=2)
    with pytest.raises(ValueError, match=r"tokens has shape \[3\]; expected \[2\]"):
        stream.step(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="batch is 0"):
        model.stream(batch=0)
