"""``on_nonfinite: skip`` gives up on a fault that never goes away (issue 12, item 16).

``trainer.max_skipped_steps`` steps skipped in a row end the run ``failed`` (exit code 1)
with one line naming the cause of the last one; steps that train in between reset the count.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import PLUGINS, cli, load_state, one_line, toy_config, write_config

STEPS_PER_EPOCH = 4


def _run(capsys: pytest.CaptureFixture[str], config: dict[str, Any]) -> tuple[int, str, Path]:
    path = write_config(Path("c.yaml"), config)
    code, _, err = cli(capsys, "run", str(path), *PLUGINS, "--out", "out", "--name", "r")
    return code, err, Path("out/r")


@pytest.mark.parametrize(
    ("mode", "cause"),
    [
        ("nan", "non-finite loss at epoch 3, step 5 (loss term 'faulty_mse' = nan)"),
        ("nan_grad", "non-finite gradient at epoch 3, step 5 (the gradient of loss term"),
    ],
)
def test_a_fault_that_never_goes_away_stops_the_run(
    capsys: pytest.CaptureFixture[str], mode: str, cause: str
) -> None:
    config = toy_config(
        epochs=10,
        losses=[{"name": "faulty_mse", "at_step": 5, "mode": mode}],
        trainer={"on_nonfinite": "skip", "max_skipped_steps": 6},
    )
    code, err, run = _run(capsys, config)
    assert code == 1
    line = one_line(err)
    assert line.startswith("error: 6 steps in a row skipped (trainer.max_skipped_steps)")
    assert cause in line
    assert "raise trainer.max_skipped_steps" in line and "last good checkpoint" in line
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert "6 steps in a row skipped" in summary["error"]
    # calls 5.. fail: epoch 2 skips its last 3 steps, epoch 3 three more, then the stop
    assert summary["epochs"] == 2
    assert load_state(run / "checkpoints/last.pt")["global_step"] == 5


def test_good_steps_between_bad_ones_reset_the_count(capsys: pytest.CaptureFixture[str]) -> None:
    config = toy_config(
        epochs=3,
        losses=[{"name": "faulty_mse", "at_step": 2, "times": 2}],
        trainer={"on_nonfinite": "skip", "max_skipped_steps": 3},
    )
    code, err, run = _run(capsys, config)
    assert code == 0, err
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"


def test_the_limit_is_a_checked_setting(capsys: pytest.CaptureFixture[str]) -> None:
    config = toy_config(trainer={"on_nonfinite": "skip", "max_skipped_steps": 0})
    code, err, run = _run(capsys, config)
    assert code == 2
    assert "trainer.max_skipped_steps" in one_line(err)
    assert not run.exists()
