"""A misspelt ``monitor`` fails at the first validation, with the close match (issue 12, item 15).

It used to be ignored: early stopping never stopped and ``best.pt`` was never written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.support import PLUGINS, cli, one_line, toy_config, write_config

ARGS = [*PLUGINS, "--plugin", "tvae_callbacks.plugin"]


@pytest.mark.parametrize(
    ("callback", "monitor", "close"),
    [
        ("early_stopping", "val/los", "val/loss"),
        ("checkpoint", "val/toy_acuracy", "val/toy_accuracy"),
        ("checkpoint", "val_toy_accuracyy", "val/toy_accuracy"),
        ("coverage_plateau", "val/covrage", None),
    ],
)
def test_a_misspelt_monitor_fails_at_the_first_validation(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    callback: str,
    monitor: str,
    close: str | None,
) -> None:
    config = toy_config(epochs=6, callbacks=[{"name": callback, "monitor": monitor}])
    path = write_config(tmp_path / "c.yaml", config)
    code, _, err = cli(capsys, *ARGS, "run", str(path), "--out", "out", "--name", "r")
    assert code == 2
    line = one_line(err)
    assert f"monitor {monitor!r} is not in the epoch's logs" in line
    if close is not None:
        assert f"did you mean {close!r}?" in line
    else:
        assert "logged val keys: val/loss" in line
    summary = json.loads((tmp_path / "out/r/summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["epochs"] == 2  # the first validation (val_every: 2), not later
