"""Atomic checkpoint writes and safe, strict reads."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from tvae_core import CheckpointError, TrainingError, load_checkpoint, save_checkpoint
from tvae_core._run.checkpoint import check_run_checkpoint, load_model_state


def test_round_trip(tmp_path: Path) -> None:
    state = {"epoch": 3, "w": torch.arange(4.0), "nested": {"a": [1, 2.5, "x"]}}
    path = save_checkpoint(state, tmp_path / "c.pt")
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["w"], state["w"])
    assert loaded["nested"] == {"a": [1, 2.5, "x"]}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_failed_write_leaves_previous_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_checkpoint({"epoch": 1}, tmp_path / "last.pt")
    before = path.read_bytes()

    def broken_save(obj: object, fh: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(
        TrainingError, match="No space left on device; the previous checkpoint there is intact"
    ):
        save_checkpoint({"epoch": 2}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_unwritable_folder_names_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TrainingError, match=str(blocker)):
        save_checkpoint({"epoch": 1}, blocker / "sub" / "last.pt")


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint({"epoch": 1, "w": torch.zeros(1000)}, tmp_path / "c.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot load checkpoint"):
        load_checkpoint(path)


class Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch /tmp/tvae-pwned-by-checkpoint",))


def test_malicious_pickle_executes_nothing(tmp_path: Path) -> None:
    marker = Path("/tmp/tvae-pwned-by-checkpoint")
    marker.unlink(missing_ok=True)
    path = tmp_path / "evil.pt"
    torch.save({"epoch": 1, "payload": Exploit()}, path)
    with pytest.raises(CheckpointError, match="refused; nothing was executed"):
        load_checkpoint(path)
    assert not marker.exists()
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_not_a_dict_and_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "t.pt"
    torch.save(torch.zeros(2), path)
    with pytest.raises(CheckpointError, match="not a tvae checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="missing model_state_dict, optimizer_state_dict"):
        check_run_checkpoint({"epoch": 1, "config": {}}, path)


def test_strict_model_loading_names_the_mismatch() -> None:
    model = torch.nn.Linear(3, 2)
    other = torch.nn.Linear(4, 2).state_dict()
    with pytest.raises(CheckpointError, match=r"shape of weight \(2, 4\) vs \(2, 3\)"):
        load_model_state(model, other, "x.pt")
    with pytest.raises(CheckpointError, match=r"missing bias"):
        load_model_state(model, {"weight": torch.zeros(2, 3)}, "x.pt")


def test_missing_file_and_folder_without_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match=r"without checkpoints/last\.pt"):
        load_checkpoint(tmp_path)
