"""A run's directory: ``config.yaml``, ``run.json``, ``metrics.jsonl``, ``summary.json``, ``checkpoints/``."""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import tempfile
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tvae_core._errors import TrainingError, UsageError


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": JSON has no literal for them
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that readers never see a partial file."""
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # a half-written temp file must not eat a full disk
        raise TrainingError(f"cannot write {path}: {exc.strerror or exc}") from None
    # Temp files of writes a crash cut short; only this process writes this run's files.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    write_text_atomic(path, json.dumps(_jsonable(data), indent=2) + "\n")


def new_run_name() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


class RunDir:
    """The files of one run; only rank 0 of a distributed run writes them."""

    def __init__(self, path: Path, *, unique: bool = False) -> None:
        self._unique = unique  # a name from the time: move to the next free one on creation
        self._created = False
        self._at(path)

    def _at(self, path: Path) -> None:
        self.path = path
        self.checkpoints = path / "checkpoints"
        self.config_file = path / "config.yaml"
        self.run_file = path / "run.json"
        self.metrics_file = path / "metrics.jsonl"
        self.summary_file = path / "summary.json"

    @classmethod
    def create(cls, out_dir: str | Path, name: str | None) -> RunDir:
        """A new run folder ``out_dir/name`` (a name from the time, made unique, if none given)."""
        parent = Path(out_dir)
        if name is not None and (not name or "/" in name or name in (".", "..")):
            raise UsageError(f"--name {name!r}: give a plain folder name")
        base = name or new_run_name()
        path = parent / base
        if name is None:
            i = 1
            while path.exists():
                path = parent / f"{base}-{i}"
                i += 1
        elif (path / "summary.json").exists() or (path / "checkpoints" / "last.pt").exists():
            raise UsageError(
                f"run folder {path} already holds a run; pick another --name or continue it "
                f"with --resume last --name {name}"
            )
        return cls(path, unique=name is None)

    def ensure(self) -> None:
        """Create the folder, at the first write: a run that fails to start leaves none behind."""
        if self._created:
            return
        base, i = self.path, 1
        try:
            while self._unique:
                try:
                    self.path.mkdir(parents=True)
                    break
                except FileExistsError:  # another run took the name since create()
                    self._at(base.parent / f"{base.name}-{i}")
                    i += 1
            self.checkpoints.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create run folder {self.path}: {exc.strerror or exc}"
            ) from None
        self._created = True

    def write_config(self, yaml_text: str) -> None:
        write_text_atomic(self.config_file, yaml_text)

    def write_run_info(self, info: Mapping[str, Any]) -> None:
        write_json_atomic(self.run_file, info)

    def append_metrics(self, record: Mapping[str, Any]) -> None:
        try:
            with self.metrics_file.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(_jsonable(record)) + "\n")
        except OSError as exc:
            raise TrainingError(
                f"cannot write {self.metrics_file}: {exc.strerror or exc}"
            ) from None

    def truncate_metrics(self, before_epoch: int) -> None:
        """Drop records of epochs >= ``before_epoch`` (re-run after a resume)."""
        if not self.metrics_file.exists():
            return
        keep = []
        for line in self.metrics_file.read_text("utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            if isinstance(record, dict) and int(record.get("epoch", -1)) < before_epoch:
                keep.append(line)
        write_text_atomic(self.metrics_file, "".join(k + "\n" for k in keep))

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        write_json_atomic(self.summary_file, summary)


def find_latest_run(out_dir: str | Path, name: str | None = None) -> Path:
    """The run folder ``--resume last`` means: ``out_dir/name``, or the newest with a last.pt."""
    parent = Path(out_dir)
    if name is not None:
        candidate = parent / name
        if not (candidate / "checkpoints" / "last.pt").is_file():
            raise UsageError(
                f"--resume last: {candidate} has no checkpoints/last.pt to continue from"
            )
        return candidate
    runs = [p for p in parent.glob("*/checkpoints/last.pt") if p.is_file()]
    if not runs:
        raise UsageError(f"--resume last: no run with checkpoints/last.pt under {parent}/")
    newest = max(runs, key=lambda p: p.stat().st_mtime)
    return newest.parent.parent


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def monotonic() -> float:
    return time.perf_counter()
