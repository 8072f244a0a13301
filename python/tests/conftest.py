"""Shared fixtures. The tests import the built package (PYTHONPATH=<build>/python, as the ctest entry
sets it, or an installed scanlab) and run the CLI named by SCANLAB_CLI."""
import os
import subprocess

import pytest
import torch


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("SCANLAB_CLI")
    if not path or not os.path.exists(path):
        raise RuntimeError("SCANLAB_CLI must name the built `scanlab` binary (the ctest entry python.pytest sets it)")

    def run(*args):
        proc = subprocess.run([path, "--threads", "1", *map(str, args)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError(f"scanlab {' '.join(map(str, args))} exited {proc.returncode}: {proc.stderr}")
        return proc.stdout
    return run


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
