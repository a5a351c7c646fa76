"""A checkpoint chooses no place to write or delete (issue 12, item 1).

A data-only checkpoint (it loads with ``weights_only=True``) whose config points the
checkpoint callback's ``save_dir``, a TensorBoard ``log_dir`` and ``trainer.out_dir``
elsewhere, with ``keep_last: 1``, and whose callback state lists outside files under
``periodic``: resuming it writes only inside the new run's folder and deletes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.reliability.support import PLUGINS, cli, load_state, toy_config, write_config
from tvae_core._run.trust import drop_checkpoint_paths

ARGS = [*PLUGINS, "--plugin", "tvae_callbacks.plugin", "--plugin", "tvae_tensorboard.plugin"]


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_a_crafted_checkpoint_writes_and_deletes_only_inside_its_run(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    config = toy_config(
        epochs=2,
        callbacks=[
            {"name": "checkpoint", "save_interval": 1, "keep_last": 1},
            {"name": "tensorboard"},
        ],
    )
    path = write_config(tmp_path / "c.yaml", config)
    code, _, err = cli(capsys, *ARGS, "run", str(path), "--out", "first", "--name", "r")
    assert code == 0, err

    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    (victim / "epoch_0001.pt").write_text("keep me too")
    evil = load_state(tmp_path / "first/r/checkpoints/last.pt")
    evil["config"]["epochs"] = 5
    evil["config"]["trainer"]["out_dir"] = str(victim / "runs")
    evil["config"]["callbacks"] = [
        {"name": "checkpoint", "save_interval": 1, "keep_last": 1, "save_dir": str(victim)},
        {"name": "tensorboard", "log_dir": str(victim / "tb")},
    ]
    key = next(k for k in evil["callbacks"] if k.startswith("CheckpointCallback"))
    evil["callbacks"][key]["periodic"] = [
        str(victim / "precious.txt"),
        "../../victim/precious.txt",
        "epoch_0001.pt/../../../victim/epoch_0001.pt",
    ]
    evil_path = tmp_path / "evil.pt"
    torch.save(evil, evil_path)
    torch.load(evil_path, weights_only=True)  # the file is plain data

    before = {p: p.stat().st_mtime_ns for p in _files(tmp_path / "first")}
    code, _, err = cli(capsys, *ARGS, "run", "--resume", str(evil_path), "--out", "out")
    assert code == 0, err
    assert "ignoring trainer.out_dir, callbacks[0].save_dir, callbacks[1].log_dir" in caplog.text
    # nothing outside the new run folder was written, changed or deleted
    assert sorted(os.listdir(victim)) == ["epoch_0001.pt", "precious.txt"]
    assert (victim / "precious.txt").read_text() == "keep me"
    assert {p: p.stat().st_mtime_ns for p in _files(tmp_path / "first")} == before
    (run,) = list((tmp_path / "out").iterdir())
    assert (run / "checkpoints/best.pt").is_file()
    assert [p.name for p in (run / "checkpoints").glob("epoch_*.pt")] == ["epoch_0005.pt"]
    assert list((run / "tensorboard").iterdir())


def test_path_settings_are_dropped_and_others_kept() -> None:
    config: dict[str, Any] = {
        "trainer": {"out_dir": "/x", "val_every": 2},
        "callbacks": [
            "recorder",
            {"name": "checkpoint", "save_dir": "/x", "keep_last": 1, "monitor": "val/loss"},
            {"name": "latent_plot", "filename": "../../x.png", "every": 3},
            {"name": "other", "target": "/etc/passwd", "label": "ok"},
        ],
    }
    cleaned, dropped = drop_checkpoint_paths(config)
    assert dropped == [
        "trainer.out_dir",
        "callbacks[1].save_dir",
        "callbacks[2].filename",
        "callbacks[3].target",
    ]
    assert cleaned["trainer"] == {"val_every": 2}
    assert cleaned["callbacks"][1] == {"name": "checkpoint", "keep_last": 1, "monitor": "val/loss"}
    assert cleaned["callbacks"][3] == {"name": "other", "label": "ok"}
    assert config["trainer"]["out_dir"] == "/x"  # the input is not changed
