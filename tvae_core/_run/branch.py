"""When a resume is a new run: an earlier checkpoint than the run's latest, or a changed config.

``tvae run --resume RUN/checkpoints/epoch_0006.pt`` of a run that went on to epoch 10, or
``--resume RUN --set optimizer.lr=0.05``, would otherwise write over the run's own
``last.pt``, ``best.pt`` and its records of epochs 7-10: the original would be lost. Such a
resume starts a new run folder instead (``RUN-branch``, ``RUN-branch-1``, ... beside the
original, or ``--out``/``--name``), whose ``run.json`` records its ``parent`` (the run, the
checkpoint, its epoch, the settings changed) and whose ``metrics.jsonl`` starts with the
parent's records up to that checkpoint. The original's files are never touched.

``--set epochs=N`` (train longer) and ``--set trainer.progress=...`` continue the run itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvae_core._config.flatten import flatten_config
from tvae_core._run.rundir import CHECKPOINTS, LAST, RunDir

#: Settings a resume may change and still continue the same run.
SAME_RUN_KEYS = frozenset({"epochs", "trainer.progress"})


def config_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """``{key.path: [old, new]}`` for the settings that differ (``SAME_RUN_KEYS`` aside)."""
    old, new = flatten_config(dict(before)), flatten_config(dict(after))
    missing = None
    return {
        key: [old.get(key, missing), new.get(key, missing)]
        for key in [*old, *(k for k in new if k not in old)]
        if key not in SAME_RUN_KEYS and old.get(key, missing) != new.get(key, missing)
    }


def _position(state: Mapping[str, Any]) -> tuple[int, int]:
    epoch, step = state.get("epoch", 0), state.get("global_step", 0)
    return (
        epoch if isinstance(epoch, int) else 0,
        step if isinstance(step, int) else 0,
    )


def is_latest(checkpoint: Path, state: Mapping[str, Any], run: Path) -> bool:
    """Whether ``checkpoint`` (read as ``state``) is as far as ``run`` went: its ``last.pt``,
    or a file at least as far on (an ``interrupted.pt`` written after it)."""
    last = run / CHECKPOINTS / LAST
    if checkpoint.resolve() == last.resolve():
        return True
    from tvae_core._errors import CheckpointError
    from tvae_core._run.checkpoint import load_checkpoint

    try:
        latest = load_checkpoint(last)
    except CheckpointError:
        return False  # no readable last.pt to go on from: the resume starts a run of its own
    return _position(state) >= _position(latest)


@dataclass
class Branch:
    """A resume that starts a new run: where from, and why."""

    parent: Path
    checkpoint: Path
    epoch: int
    changes: dict[str, list[Any]] = field(default_factory=dict)
    earlier: bool = False

    def reason(self) -> str:
        why = []
        if self.earlier:
            why.append(f"{self.checkpoint.name} (epoch {self.epoch}) is not the run's latest")
        if self.changes:
            keys = list(self.changes)
            why.append(
                "the config changes "
                + ", ".join(keys[:5])
                + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            )
        return " and ".join(why)

    def record(self) -> dict[str, Any]:
        """What the new run's ``run.json`` keeps under ``parent``."""
        return {
            "run": str(self.parent.resolve()),  # absolute: run.json is read from anywhere
            "checkpoint": str(self.checkpoint.resolve()),
            "epoch": self.epoch,
            "changed": self.changes,
        }

    def folder(self, out: Path | None, name: str | None) -> RunDir:
        """The new run's folder: ``--out``/``--name`` if given, else ``PARENT-branch[-i]``."""
        if name is not None:
            run = RunDir.create(out if out is not None else self.parent.parent, name)
        else:
            parent = out if out is not None else self.parent.parent
            run = RunDir(Path(parent) / f"{self.parent.name}-branch", unique=True)
        run.parent_info = self.record()
        run.inherited_records = self.inherited_records()
        return run

    def inherited_records(self) -> list[str]:
        """The parent's ``metrics.jsonl`` lines of the epochs up to the checkpoint."""
        try:
            lines = (self.parent / "metrics.jsonl").read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []
        keep = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            epoch = record.get("epoch") if isinstance(record, dict) else None
            if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch <= self.epoch:
                keep.append(line)
        return keep
