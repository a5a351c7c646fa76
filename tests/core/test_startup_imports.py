"""The default run's first step imports neither geoopt, scipy nor ``torch._dynamo``.

geoopt (with scipy.optimize, 0.4-0.5 s) was imported by ``TernaryVAE`` only to hold its
curvature, and ``torch._dynamo`` (1-2.5 s, as long as ``import torch``) by a torch
optimizer's constructor; neither is needed by the default run, nor by ``riemannian_adam``
on the default model, which has no manifold parameter (issue 16, item 4; figures in
benchmarks/README.md, ``python benchmarks/run_startup.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tvae_ternary")
pytest.importorskip("tvae_geoopt")

_PROBE = """
import json, sys
from tvae_core import Callback, Trainer, load_config

WATCHED = ("geoopt", "scipy", "torch._dynamo")


class FirstStep(Exception):
    pass


class Probe(Callback):
    def on_batch_end(self, batch_idx, logs):
        seen.append([m for m in WATCHED if m in sys.modules])
        raise FirstStep


result = {{}}
for name, sets in {variants!r}:
    seen = []
    config = load_config(None, [*sets, "trainer.progress=false"])
    try:
        Trainer(config, run_dir={folder!r} + "/" + name, callbacks=[Probe()]).fit()
    except FirstStep:
        pass
    result[name] = seen
print(json.dumps(result))
"""


def test_the_default_runs_first_step_imports_neither_geoopt_scipy_nor_dynamo(
    tmp_path: Path,
) -> None:
    variants = [("default", []), ("riemannian_adam", ["optimizer.name=riemannian_adam"])]
    code = _PROBE.format(variants=variants, folder=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # one step each (the probe stops the run), and nothing watched imported by then
    assert result == {"default": [[]], "riemannian_adam": [[]]}
