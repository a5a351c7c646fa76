"""A full disk or an unwritable run folder: the error says where, the last checkpoint survives.

Tests run as root, so permissions cannot block a write; the faults are simulated by making
``torch.save``, ``os.replace`` or ``open`` raise ENOSPC at a chosen moment, and by asking
for a run folder below a regular file.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.reliability.support import PLUGINS, cli, load_state, one_line, toy_config, write_config
from tvae_core._run import atomic, checkpoint, rundir
from tvae_core._run.checkpoint import load_checkpoint

FULL = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _fail_on_call(n: int, real: Any) -> Any:
    """``real``, except that its ``n``-th call (from 1) raises ENOSPC."""
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == n:
            if hasattr(args[1], "write"):
                args[1].write(b"partial")  # some bytes reached the temp file first
            raise FULL
        return real(*args, **kwargs)

    return wrapper


def _run(capsys: pytest.CaptureFixture[str], epochs: int = 4) -> tuple[int, str]:
    config = write_config(Path("toy.yaml"), toy_config(epochs=epochs))
    code, _, err = cli(capsys, "run", str(config), *PLUGINS, "--out", "out", "--name", "r")
    return code, err


@pytest.mark.parametrize("where", ["torch.save", "os.replace"])
def test_full_disk_at_a_checkpoint_keeps_the_previous_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    saved: list[bytes] = []
    real_save = torch.save

    def save_and_keep(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        real_save(obj, f, *args, **kwargs)
        saved.append(b"")

    if where == "torch.save":
        monkeypatch.setattr(checkpoint.torch, "save", _fail_on_call(3, save_and_keep))
    else:
        real_replace = os.replace
        calls = {"n": 0}

        def replace(src: Any, dst: Any) -> None:
            calls["n"] += str(dst).endswith("last.pt")
            if calls["n"] == 3 and str(dst).endswith("last.pt"):
                raise FULL
            real_replace(src, dst)

        monkeypatch.setattr(atomic.os, "replace", replace)
    code, err = _run(capsys)
    line = one_line(err)
    last = Path("out/r/checkpoints/last.pt")
    assert code == 1
    assert (
        line
        == f"error: cannot write checkpoint {last}: No space left on device; the previous checkpoint there is intact"
    )
    assert load_checkpoint(last)["epoch"] == 2  # the third write failed; the second is intact
    assert not list(last.parent.glob(".*.tmp"))
    summary = json.loads(Path("out/r/summary.json").read_text())
    assert summary["status"] == "failed" and "No space left on device" in summary["error"]


def test_full_disk_when_logging_metrics_says_which_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = Path.open
    calls = {"n": 0}

    def open_(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if self.name == "metrics.jsonl" and "a" in mode:
            calls["n"] += 1
            if calls["n"] == 2:
                raise FULL
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(rundir.Path, "open", open_)
    code, err = _run(capsys)
    assert code == 1
    assert (
        one_line(err)
        == f"error: cannot write {Path('out/r/metrics.jsonl')}: No space left on device"
    )
    assert load_state(Path("out/r/checkpoints/last.pt"))["epoch"] == 1


def test_resume_after_a_full_disk_continues_from_the_intact_checkpoint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as mp:
        mp.setattr(checkpoint.torch, "save", _fail_on_call(2, torch.save))
        code, _ = _run(capsys, epochs=3)
    assert code == 1
    code, _, err = cli(capsys, "run", "--resume", "last", *PLUGINS, "--out", "out", "--name", "r")
    assert code == 0, err
    assert load_state(Path("out/r/checkpoints/last.pt"))["epoch"] == 3


def test_run_folder_below_a_regular_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    config = write_config(tmp_path / "toy.yaml", toy_config(epochs=1))
    code, _, err = cli(
        capsys, "run", str(config), *PLUGINS, "--out", str(blocker / "runs"), "--name", "r"
    )
    assert code == 2
    assert (
        one_line(err)
        == f"error: cannot create run folder {blocker / 'runs' / 'r'}: Not a directory"
    )
    assert blocker.read_text() == "not a folder"


def test_a_checkpoint_path_below_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(Exception, match=f"cannot write checkpoint {blocker / 'c.pt'}"):
        checkpoint.save_checkpoint({"epoch": 0}, blocker / "c.pt")


def test_a_failed_run_file_write_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "summary.json"
    target.write_text("{}")

    def replace(src: Any, dst: Any) -> None:
        raise FULL

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(Exception, match=f"cannot write {target}: No space left on device"):
        atomic.write_text_atomic(target, '{"status": "completed"}')
    assert target.read_text() == "{}"
    assert not list(tmp_path.glob(".*.tmp"))


class _FullAfter:
    """A file that takes ``room`` bytes, then fails as a full disk does (ENOSPC)."""

    def __init__(self, fh: Any, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.fh.write(bytes(data[: self.room]))
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return int(self.fh.write(data))

    def flush(self) -> None:
        self.fh.flush()


def test_torchs_own_writer_failing_on_a_full_disk_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch's C++ writer turns the ENOSPC into ``RuntimeError: [enforce fail at
    inline_container.cc]`` (issue 12, item 17): still one line, the previous file intact."""
    real_save = torch.save
    calls = {"n": 0}

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        real_save(obj, _FullAfter(f, 300) if calls["n"] == 3 else f, *args, **kwargs)

    monkeypatch.setattr(checkpoint.torch, "save", save)
    code, err = _run(capsys)
    assert code == 1
    line = one_line(err)
    assert "cannot write checkpoint" in line and "No space left on device" in line
    assert "the previous checkpoint there is intact" in line
    assert load_checkpoint(Path("out/r/checkpoints/last.pt"))["epoch"] == 2
    assert not list(Path("out/r/checkpoints").glob(".*.tmp"))


def test_torchs_writer_failing_without_a_reason_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(checkpoint.torch, "save", save)
    with pytest.raises(Exception, match="torch could not write the file") as info:
        checkpoint.save_checkpoint({"epoch": 1}, Path("x.pt"))
    assert type(info.value).__name__ == "TrainingError"
    assert not Path("x.pt").exists()
