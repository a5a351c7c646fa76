"""A run's folder: ``config.yaml``, ``run.json``, ``metrics.jsonl``, ``summary.json``, ``checkpoints/``.

Also the one place that turns what a user points at (a run folder, a checkpoint file, ``last``,
``best``) into a checkpoint file: :func:`resolve_checkpoint` and :func:`find_latest_run`,
used by every command that reads a run.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tvae_core._errors import CheckpointError, TrainingError, UsageError
from tvae_core._run.atomic import (
    jsonable,
    remove_stale_temps,
    write_json_atomic,
    write_text_atomic,
)

CHECKPOINTS = "checkpoints"
LAST = "last.pt"
BEST = "best.pt"
#: The file a running run holds an OS lock on (see :meth:`RunDir.claim`).
LOCK = ".lock"


def new_run_name() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


class RunDir:
    """The files of one run; only rank 0 of a distributed run writes them."""

    def __init__(self, path: Path, *, unique: bool = False) -> None:
        self._unique = unique  # a name from the time: move to the next free one on creation
        self._created = False
        self._lock_fd: int | None = None
        #: run.json's ``parent`` of a run branched from another (see ``tvae_core._run.branch``)
        self.parent_info: dict[str, Any] | None = None
        #: the parent's metrics.jsonl lines a branched run starts with (written at claim)
        self.inherited_records: list[str] = []
        self._at(path)

    def _at(self, path: Path) -> None:
        self.path = path
        self.checkpoints = path / CHECKPOINTS
        self.config_file = path / "config.yaml"
        self.run_file = path / "run.json"
        self.metrics_file = path / "metrics.jsonl"
        self.summary_file = path / "summary.json"

    @classmethod
    def create(cls, out_dir: str | Path, name: str | None) -> RunDir:
        """A new run folder ``out_dir/name`` (a name from the time, made unique, if none given)."""
        parent = Path(out_dir)
        if name is not None and (not name or "/" in name or name in (".", "..")):
            raise UsageError("give a plain folder name", where=f"--name {name!r}")
        base = name or new_run_name()
        path = parent / base
        if name is None:
            i = 1
            while path.exists():
                path = parent / f"{base}-{i}"
                i += 1
        elif cls(path).holds_run():
            raise UsageError(
                f"run folder {path} already holds a run",
                hint=f"pick another --name or continue it with --resume last --name {name}",
            )
        return cls(path, unique=name is None)

    def holds_run(self) -> bool:
        """Whether the folder holds a run to keep: a ``last.pt``, or a summary of one that did
        not fail (a start that failed before its first checkpoint may be started over)."""
        if (self.checkpoints / LAST).exists():
            return True
        if not self.summary_file.exists():
            return False
        try:
            status = json.loads(self.summary_file.read_text("utf-8")).get("status")
        except (OSError, ValueError, AttributeError):
            return True
        return status != "failed"

    def finished(self) -> bool:
        """Whether ``summary.json`` says the run ended on its own (completed or stopped early)."""
        try:
            status = json.loads(self.summary_file.read_text("utf-8")).get("status")
        except (OSError, ValueError, AttributeError):
            return False
        return status in ("completed", "stopped_early")

    def claim(self, *, fresh: bool) -> None:
        """Create the folder and lock it for this run, before any file of it is written.

        The lock is an OS lock (``flock``) on ``RUN/.lock``, held until :meth:`release` or
        the process ends, however it ends (SIGKILL included). A folder another run holds is
        a one-line :class:`UsageError`, as is a ``fresh`` start in a folder that
        :meth:`holds_run`. A time-based name moves to the next free ``NAME-i`` here, with
        an atomic ``mkdir``: two runs never share a folder, not even for a moment.
        """
        if self._lock_fd is not None:
            return
        self.ensure()
        lock = self.path / LOCK
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise UsageError(f"cannot lock run folder {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise UsageError(
                f"run folder {self.path} is in use by another run{pid}",
                hint="wait for it to end, or pick another --name",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        if fresh and self.holds_run():
            self.release()
            raise UsageError(
                f"run folder {self.path} already holds a run",
                hint=f"pick another folder, or continue it with --resume {self.path}",
            )
        # Temp files of writes a crash cut short (a kill while SHA256SUMS or summary.json was
        # being replaced) would otherwise stay if this run writes nothing of that name again.
        for folder in (self.path, self.checkpoints):
            remove_stale_temps(folder)
        if self.inherited_records and not self.metrics_file.exists():
            write_text_atomic(self.metrics_file, "".join(r + "\n" for r in self.inherited_records))

    def release(self) -> None:
        """Give up the folder's lock (a run that ends; the process ending does it too)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def ensure(self) -> None:
        """Create the folder, at the first write: a run that fails to start leaves none behind."""
        if self._created:
            return
        base, i = self.path, 1
        try:
            while self._unique:
                try:
                    self.path.mkdir(parents=True)  # atomic: the folder is this run's alone
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
        if self.parent_info is not None and "parent" not in info:
            info = {**info, "parent": self.parent_info}
        write_json_atomic(self.run_file, info)

    def read_run_info(self) -> dict[str, Any] | None:
        """``run.json`` as a dict, or None if there is none (or it is not a JSON object)."""
        try:
            info = json.loads(self.run_file.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def append_metrics(self, record: Mapping[str, Any]) -> None:
        try:
            with self.metrics_file.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(jsonable(record)) + "\n")
        except OSError as exc:
            raise TrainingError(
                f"cannot write {self.metrics_file}: {exc.strerror or exc}"
            ) from None

    def truncate_metrics(self, before_epoch: int) -> None:
        """Drop records of epochs past ``before_epoch`` completed ones (re-run after a resume).

        Records number epochs from 1 (epoch ``E`` is the ``E``-th), as checkpoints count them.
        """
        if not self.metrics_file.exists():
            return
        if not self.metrics_file.is_file():
            raise UsageError(
                f"{self.metrics_file} is not a file",
                hint="move it away; the run rewrites its records there",
            )
        try:
            raw = self.metrics_file.read_bytes()
        except OSError as exc:
            raise TrainingError(f"cannot read {self.metrics_file}: {exc.strerror or exc}") from None
        keep = []
        for data in raw.splitlines():
            try:
                line = data.decode("utf-8")
                record = json.loads(line)
            except ValueError:  # a line cut short by a crash, or damaged: dropped
                continue
            epoch = record.get("epoch") if isinstance(record, dict) else None
            if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch <= before_epoch:
                keep.append(line)
        write_text_atomic(self.metrics_file, "".join(k + "\n" for k in keep))

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        write_json_atomic(self.summary_file, summary)


def find_latest_run(out_dir: str | Path, name: str | None = None) -> Path:
    """The run folder ``--resume last`` means: ``out_dir/name``, or the newest with a last.pt."""
    parent = Path(out_dir)
    if name is not None:
        candidate = parent / name
        if not (candidate / CHECKPOINTS / LAST).is_file():
            raise UsageError(
                f"{candidate} has no {CHECKPOINTS}/{LAST} to continue from", where="--resume last"
            )
        return candidate
    runs = [p for p in parent.glob(f"*/{CHECKPOINTS}/{LAST}") if p.is_file()]
    if not runs:
        raise UsageError(f"no run with {CHECKPOINTS}/{LAST} under {parent}/", where="--resume last")
    newest = max(runs, key=lambda p: p.stat().st_mtime)
    return newest.parent.parent


@dataclass(frozen=True)
class CheckpointRef:
    """A checkpoint file and the run folder it belongs to (None for a file on its own)."""

    path: Path
    run_dir: Path | None


def run_of(checkpoint: Path) -> Path | None:
    """The run folder of ``<run>/checkpoints/<file>.pt`` (a folder with a ``run.json``)."""
    folder = checkpoint.parent
    if folder.name == CHECKPOINTS and (folder.parent / "run.json").is_file():
        return folder.parent
    return None


def resolve_checkpoint(source: str | Path, checkpoint: str = "last") -> CheckpointRef:
    """The checkpoint file ``source`` means, for every command that reads one.

    ``source`` is a run folder or a checkpoint file. For a folder, ``checkpoint`` picks
    ``last`` (``checkpoints/last.pt``, the default), ``best`` (``checkpoints/best.pt``, or
    ``last.pt`` when the run never wrote a best one), or a file: a path, or a name in the
    run's ``checkpoints/``. A file ``source`` is taken as it is. Missing files are one-line
    :class:`CheckpointError`s; a ``checkpoint`` that names nothing is a :class:`UsageError`.
    """
    p = Path(source)
    if p.is_file():
        if checkpoint != "last":
            raise UsageError(
                f"{p} is a checkpoint file already",
                where=f"--checkpoint {checkpoint}",
                hint="give --checkpoint with a run folder",
            )
        return CheckpointRef(p, run_of(p))
    if not p.is_dir():
        what = (
            "no such checkpoint file"
            if p.suffix == ".pt"
            else "no such run folder or checkpoint file"
        )
        raise CheckpointError(what, source=str(p))
    folder = p / CHECKPOINTS
    if checkpoint in ("last", "best"):
        path = folder / f"{checkpoint}.pt"
        if checkpoint == "best" and not path.is_file():
            path = folder / LAST
        if not path.is_file():
            raise CheckpointError(
                f"a folder without {CHECKPOINTS}/{LAST}",
                source=str(p),
                hint="give a .pt file or a run folder",
            )
        return CheckpointRef(path, p)
    for path in (Path(checkpoint), folder / checkpoint):
        if path.is_file():
            return CheckpointRef(path, run_of(path) or p)
    raise UsageError(
        f"no checkpoint {checkpoint!r} in {folder}",
        where="--checkpoint",
        hint="give last, best, a file name in the run's checkpoints/ or a path",
    )


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def monotonic() -> float:
    return time.perf_counter()
