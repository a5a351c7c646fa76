"""The run folder: finding the checkpoint a user means, the newest run, a new run's name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tvae_core import CheckpointError, UsageError, resolve_checkpoint
from tvae_core._run.rundir import RunDir, find_latest_run


def _run(root: Path, name: str, *files: str) -> Path:
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "run.json").write_text("{}")
    for f in files:
        (run / "checkpoints" / f).write_bytes(b"")
    return run


def test_a_run_folder_means_its_last_checkpoint(tmp_path: Path) -> None:
    run = _run(tmp_path, "r", "last.pt", "best.pt", "epoch_0002.pt")
    assert resolve_checkpoint(run).path == run / "checkpoints" / "last.pt"
    assert resolve_checkpoint(run, "best").path == run / "checkpoints" / "best.pt"
    assert resolve_checkpoint(run, "epoch_0002.pt").path == run / "checkpoints" / "epoch_0002.pt"
    assert resolve_checkpoint(run, "best").run_dir == run


def test_best_falls_back_to_last_when_the_run_wrote_none(tmp_path: Path) -> None:
    run = _run(tmp_path, "r", "last.pt")
    assert resolve_checkpoint(run, "best").path.name == "last.pt"


def test_a_file_is_taken_as_it_is_and_knows_its_run(tmp_path: Path) -> None:
    run = _run(tmp_path, "r", "last.pt")
    ref = resolve_checkpoint(run / "checkpoints" / "last.pt")
    assert (ref.path, ref.run_dir) == (run / "checkpoints" / "last.pt", run)
    loose = tmp_path / "loose.pt"
    loose.write_bytes(b"")
    assert resolve_checkpoint(loose).run_dir is None
    with pytest.raises(UsageError, match="is a checkpoint file already"):
        resolve_checkpoint(loose, "best")


def test_what_names_nothing_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nowhere\.pt: no such checkpoint file"):
        resolve_checkpoint(tmp_path / "nowhere.pt")
    with pytest.raises(CheckpointError, match="no such run folder or checkpoint file"):
        resolve_checkpoint(tmp_path / "nowhere")
    empty = _run(tmp_path, "empty")
    with pytest.raises(CheckpointError, match=r"a folder without checkpoints/last\.pt"):
        resolve_checkpoint(empty)
    with pytest.raises(UsageError, match=r"no checkpoint 'epoch_9\.pt'"):
        resolve_checkpoint(_run(tmp_path, "r", "last.pt"), "epoch_9.pt")


def test_resume_last_finds_the_newest_run(tmp_path: Path) -> None:
    old, new = _run(tmp_path, "old", "last.pt"), _run(tmp_path, "new", "last.pt")
    os.utime(old / "checkpoints" / "last.pt", (1, 1))
    assert find_latest_run(tmp_path) == new
    assert find_latest_run(tmp_path, "old") == old
    with pytest.raises(UsageError, match=r"has no checkpoints/last\.pt"):
        find_latest_run(tmp_path, "missing")


def test_a_named_run_folder_is_never_reused(tmp_path: Path) -> None:
    _run(tmp_path, "taken", "last.pt")
    with pytest.raises(UsageError, match="already holds a run; pick another --name"):
        RunDir.create(tmp_path, "taken")
    first = RunDir.create(tmp_path, None)
    first.ensure()
    second = RunDir.create(tmp_path, None)
    assert second.path != first.path


def test_taking_a_folder_back_removes_what_crashed_writes_left(tmp_path: Path) -> None:
    # A kill while SHA256SUMS was replaced after the last checkpoint: the resumed run has no
    # epoch left to train and writes no checkpoint, so nothing else would ever remove these.
    run = _run(tmp_path, "r", "last.pt")
    stale = [
        run / "checkpoints" / ".SHA256SUMS.op9sfopb.tmp",
        run / "checkpoints" / ".last.pt.x1y2z3.tmp",
        run / ".summary.json.abc123.tmp",
    ]
    for path in stale:
        path.write_bytes(b"half")
    kept = [run / "checkpoints" / "last.pt", run / "notes.tmp", run / "checkpoints" / ".keep"]
    kept[1].write_text("a user's file")
    kept[2].write_text("")
    folder = run / ".cache.d.tmp"
    folder.mkdir()  # not a temp file of tvae's writer: left alone
    outside = tmp_path / ".SHA256SUMS.zzz.tmp"
    outside.write_text("not the run's")

    rundir = RunDir(run)
    rundir.claim(fresh=False)
    try:
        assert not [p for p in stale if p.exists()]
        assert all(p.exists() for p in kept) and folder.is_dir() and outside.exists()
    finally:
        rundir.release()
