"""NaN or Inf in a loss, a gradient or a latent stops the run (or skips the step), through the CLI.

The stop names the step, the loss term responsible and the last good checkpoint, exits with
code 1 and one line, and never lets a non-finite state into ``last.pt``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.reliability.support import PLUGINS, cli, load_state, one_line, toy_config, write_config

STEPS_PER_EPOCH = 4
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def run(capsys: pytest.CaptureFixture[str], config: dict[str, Any]) -> tuple[int, str, Path]:
    path = write_config(Path("bad.yaml"), config)
    code, _, err = cli(capsys, "run", str(path), *PLUGINS, "--out", "out", "--name", "r", "--json")
    return code, err, Path("out/r").resolve()


def assert_finite_checkpoint(run_dir: Path, epoch: int) -> None:
    state = load_state(run_dir / "checkpoints" / "last.pt")
    assert state["epoch"] == epoch
    for key, value in state["model_state_dict"].items():
        assert torch.isfinite(value).all(), key


@pytest.mark.parametrize("mode", ["nan", "inf"])
def test_nonfinite_loss_stops_naming_step_term_and_checkpoint(
    capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    config = toy_config(epochs=4, losses=[{"name": "faulty_mse", "at_step": 9, "mode": mode}])
    code, err, run_dir = run(capsys, config)
    line = one_line(err)
    assert code == 1
    last = run_dir / "checkpoints" / "last.pt"
    assert line == (
        f"error: non-finite loss at epoch 3, step 9 (loss term 'faulty_mse' = {mode}); "
        f"last good checkpoint: {Path('out/r/checkpoints/last.pt')}"
    ) or line.endswith(f"last good checkpoint: {last}")
    assert "epoch 3, step 9" in line and f"'faulty_mse' = {mode}" in line
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "step 9" in summary["error"]
    assert_finite_checkpoint(run_dir, epoch=2)


def test_nan_latent_stops_at_its_step(capsys: pytest.CaptureFixture[str]) -> None:
    config = toy_config(epochs=3, model={"name": "latent_nan_model", "at_step": 6})
    code, err, run_dir = run(capsys, config)
    line = one_line(err)
    assert code == 1
    assert "non-finite loss at epoch 2, step 6 (loss term 'mse' = nan)" in line
    assert_finite_checkpoint(run_dir, epoch=1)


def test_nan_gradient_names_the_term(capsys: pytest.CaptureFixture[str]) -> None:
    config = toy_config(
        epochs=3, losses=[{"name": "mse"}, {"name": "faulty_mse", "at_step": 5, "mode": "nan_grad"}]
    )
    code, err, run_dir = run(capsys, config)
    line = one_line(err)
    assert code == 1
    assert re.search(r"non-finite gradient at epoch 2, step 5 \(.*'faulty_mse'", line), line
    assert "last good checkpoint:" in line
    assert_finite_checkpoint(run_dir, epoch=1)


def test_nan_gradient_without_clipping_never_reaches_a_checkpoint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The last step of epoch 1 poisons the weights; nothing may save them as last.pt.
    config = toy_config(
        epochs=3,
        losses=[
            {
                "name": "faulty_mse",
                "at_step": 2 * STEPS_PER_EPOCH - 1,
                "mode": "nan_grad",
                "times": 1,
            }
        ],
        trainer={"grad_clip": None},
    )
    code, err, run_dir = run(capsys, config)
    line = one_line(err)
    assert code == 1
    assert "non-finite" in line and "epoch 2" in line
    assert_finite_checkpoint(run_dir, epoch=1)


def test_nan_before_any_checkpoint_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    config = toy_config(epochs=2, losses=[{"name": "faulty_mse", "at_step": 1}])
    code, err, run_dir = run(capsys, config)
    assert code == 1
    assert one_line(err).endswith("; no checkpoint was written yet")
    assert not (run_dir / "checkpoints" / "last.pt").exists()


def test_skip_mode_drops_bad_steps_and_finishes(capsys: pytest.CaptureFixture[str]) -> None:
    config = toy_config(
        epochs=3,
        losses=[{"name": "faulty_mse", "at_step": 5, "times": 2}],
        trainer={"on_nonfinite": "skip"},
    )
    code, err, run_dir = run(capsys, config)
    assert code == 0, err
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("train/skipped_steps") for r in records] == [None, 2.0, None]
    assert_finite_checkpoint(run_dir, epoch=3)
    assert records[-1]["step"] == 3 * STEPS_PER_EPOCH - 2  # skipped steps make no update


@cuda
@pytest.mark.parametrize("mode", ["nan", "nan_grad"])
def test_on_cuda_a_fault_stops_at_its_epoch_end_and_keeps_the_last_good_checkpoint(
    capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    """On an accelerator gradients are checked once an epoch (no per-step sync): the fault at
    step 9 (third epoch) stops the run when that epoch ends, and last.pt stays at epoch 2."""
    config = toy_config(
        epochs=4,
        losses=[{"name": "mse"}, {"name": "faulty_mse", "at_step": 9, "mode": mode}],
        trainer={"device": "cuda"},
    )
    code, err, run_dir = run(capsys, config)
    line = one_line(err)
    assert code == 1
    assert "non-finite" in line and "at epoch 3" in line, line
    assert "last good checkpoint:" in line
    assert_finite_checkpoint(run_dir, epoch=2)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed"


@cuda
def test_on_cuda_skip_mode_drops_bad_steps_and_finishes(capsys: pytest.CaptureFixture[str]) -> None:
    config = toy_config(
        epochs=3,
        losses=[{"name": "faulty_mse", "at_step": 5, "times": 2}],
        trainer={"on_nonfinite": "skip", "device": "cuda"},
    )
    code, err, run_dir = run(capsys, config)
    assert code == 0, err
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("train/skipped_steps") for r in records] == [None, 2.0, None]
    assert_finite_checkpoint(run_dir, epoch=3)
    assert records[-1]["step"] == 3 * STEPS_PER_EPOCH - 2
