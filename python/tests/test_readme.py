"""python/README.md's example runs as written (on a model file made by the CLI)."""
import pathlib
import re

import torch


def test_readme_example_runs(cli, tmp_path):
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert len(code.strip().splitlines()) <= 11
    path = tmp_path / "psm.safetensors"
    cli("init-model", "--model", "transformer_psm", "--preset", "small", "--set", "vocab_size=256", "--out", path)
    env = {}
    exec(compile(code.replace('"psm.safetensors"', repr(str(path))), "README.md", "exec"), env)
    assert env["logits"].shape == (1, 256)
    assert env["o"].shape == (2, 33, 1, 16) and env["h"].shape == (2, 1, 16, 16)
    assert env["proj"].weight.grad is not None and torch.isfinite(env["proj"].weight.grad).all()
