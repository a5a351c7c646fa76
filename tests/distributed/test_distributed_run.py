"""Two CPU ranks (gloo) through ``tvae run --nproc 2`` on the toy plugin.

A run of K ranks with batch size B must train exactly as one process with batch size K*B:
the same rows per global step (see test_distributed_sharding.py) and DDP's averaged gradient
equal to the single process's mean gradient. The toy model has no dropout here, so the final
weights and metrics agree to float tolerance. Only rank 0 writes the run's files.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from tests.conftest import TOY_CONFIG, TOY_PLUGIN
from tvae_core import PluginManager, Trainer, build_config

pytest.importorskip("torch.distributed")
if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

WORLD = 2
PER_RANK_BATCH = 16


def _config(**changes: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(TOY_CONFIG)
    cfg["callbacks"] = []
    cfg["model"]["dropout"] = 0.0  # dropout masks differ between layouts of the same rows
    cfg["data"] = {"name": "toy_data", "size": 80, "batch_size": PER_RANK_BATCH}
    cfg["trainer"] = {"val_every": 1, "progress": False, "device": "cpu"}
    cfg.update(changes)
    return cfg


def _tvae(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TVAE_DISABLE_PLUGIN_AUTOLOAD": "1", "TVAE_NO_PLUGIN_COMMANDS": "1"}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "tvae_core", "run", *args, "--plugin", str(TOY_PLUGIN)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _single_process(cfg: dict[str, Any]) -> Trainer:
    cfg = copy.deepcopy(cfg)
    cfg["data"]["batch_size"] = PER_RANK_BATCH * WORLD
    trainer = Trainer(build_config(cfg), plugins=PluginManager([str(TOY_PLUGIN)], autoload=False))
    trainer.fit()
    return trainer


def _assert_same_weights(state: dict[str, torch.Tensor], model: torch.nn.Module) -> None:
    for key, value in model.state_dict().items():
        torch.testing.assert_close(state[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_two_ranks_train_like_one_process_with_the_global_batch(tmp_path: Path) -> None:
    cfg = _config()
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(cfg))
    out = _tvae(
        ["toy.yaml", "--nproc", str(WORLD), "--out", "runs", "--name", "ddp", "--json"], tmp_path
    )
    summary = json.loads(out.stdout[out.stdout.index("{") :])  # rank 0 alone prints it
    assert summary["status"] == "completed"

    # Only rank 0 wrote files: one run folder, with world_size recorded.
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]
    run = tmp_path / "runs" / "ddp"
    assert json.loads((run / "run.json").read_text())["world_size"] == WORLD
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2, 3, 4]
    # 80 rows in global batches of 32: 3 steps per epoch on every rank.
    assert epochs[-1]["step"] == 4 * 3

    reference = _single_process(cfg)
    for key in ("val/loss", "val/toy_accuracy", "train/loss"):
        assert summary["final"][key] == pytest.approx(
            reference.summary.final[key], rel=1e-5, abs=1e-6
        )
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    _assert_same_weights(ckpt["model_state_dict"], reference.model)


@pytest.mark.slow
def test_a_resumed_distributed_run_continues_where_it_stopped(tmp_path: Path) -> None:
    # No schedule: warmup_cosine spans the configured epochs, which the resume changes.
    cfg = _config(epochs=2, scheduler=None)
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(cfg))
    _tvae(["toy.yaml", "--nproc", str(WORLD), "--out", "runs", "--name", "r"], tmp_path)
    _tvae(
        [
            "--resume",
            "last",
            "--out",
            "runs",
            "--name",
            "r",
            "--set",
            "epochs=4",
            "--nproc",
            str(WORLD),
        ],
        tmp_path,
    )
    run = tmp_path / "runs" / "r"
    epochs = [
        json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == [1, 2, 3, 4]
    reference = _single_process(_config(epochs=4, scheduler=None))
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 4
    _assert_same_weights(ckpt["model_state_dict"], reference.model)


@pytest.mark.slow
def test_a_nonfinite_loss_on_one_rank_is_handled_alike_on_every_rank(tmp_path: Path) -> None:
    """No rank waits forever for another's all-reduce: all skip the step, or all stop."""
    fault_plugin = Path(__file__).parent / "ddp_fault_plugin.py"
    cfg = _config(epochs=2, losses=[{"name": "nan_on_rank_one"}])
    cfg["trainer"]["on_nonfinite"] = "skip"
    (tmp_path / "skip.yaml").write_text(yaml.safe_dump(cfg))
    args = ["--nproc", str(WORLD), "--out", "runs", "--plugin", str(fault_plugin)]
    _tvae(["skip.yaml", *args, "--name", "skip"], tmp_path)
    epochs = [
        json.loads(line) for line in (tmp_path / "runs/skip/metrics.jsonl").read_text().splitlines()
    ]
    assert [e["train/skipped_steps"] for e in epochs] == [1.0, 1.0]

    cfg["trainer"]["on_nonfinite"] = "stop"
    (tmp_path / "stop.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "TVAE_DISABLE_PLUGIN_AUTOLOAD": "1", "TVAE_NO_PLUGIN_COMMANDS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "tvae_core",
        "run",
        "stop.yaml",
        *args,
        "--name",
        "stop",
        "--plugin",
        str(TOY_PLUGIN),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    assert out.returncode != 0
    assert "non-finite gradient at epoch 1" in out.stderr
