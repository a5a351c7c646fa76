"""What a run records about itself besides metrics: ``run.log`` and its environment.

``RUN/run.log`` gets the run's console lines without the progress bar's redraws: a line when
it starts, one per epoch (as the plain progress display prints them), tvae's log records
(warnings, unless logging is set up to pass more: ``setup_logging(level="INFO")``), and how
it ended. A resumed run appends to the same file.

:func:`environment` is what ``run.json`` adds to the versions: the git commit of the working
folder (when it is inside a repository) and whether it had uncommitted changes, the
hostname, and the versions of torch, geoopt, CUDA and cuDNN.
"""

from __future__ import annotations

import logging
import socket
import subprocess
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from tvae_core._engine.progress import _fmt, summarize_epoch
from tvae_core._plugins.interfaces import Callback, RunContext

RUN_LOG = "run.log"


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def environment() -> dict[str, Any]:
    """Git commit (and dirtiness), hostname, and torch/geoopt/CUDA/cuDNN versions."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    try:
        geoopt: str | None = version("geoopt")
    except PackageNotFoundError:
        geoopt = None
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
        "hostname": socket.gethostname(),
        "geoopt": geoopt,
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
    }


class RunLog(Callback):
    """Writes ``run.log`` in the run folder (rank 0 only; nothing without a run folder).

    ``hide``: log keys left out of the epoch lines (the run's constants), as the progress
    display leaves them out.
    """

    def __init__(self, hide: Collection[str] = ()) -> None:
        self._handler: logging.Handler | None = None
        self._total = 0
        self.hide = frozenset(hide)

    def on_fit_start(self, run: RunContext) -> None:
        if run.run_dir is None or not run.is_main:
            return
        from tvae_core.logging import DATE_FORMAT, PLAIN_FORMAT

        self._handler = logging.FileHandler(Path(run.run_dir) / RUN_LOG, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter(PLAIN_FORMAT, DATE_FORMAT))
        logging.getLogger("tvae").addHandler(self._handler)
        self._total = run.config.epochs
        start = f"from epoch {run.epoch}" if run.epoch else "from scratch"
        self._line(f"run {Path(run.run_dir).name}: {start} on {run.device}")

    def _line(self, text: str) -> None:
        if self._handler is not None:
            record = logging.LogRecord("tvae.run", logging.INFO, __file__, 0, text, None, None)
            self._handler.handle(record)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any]) -> None:
        if self._handler is None:
            return
        values = "  ".join(
            f"{k} {_fmt(v)}" for k, v in summarize_epoch(logs, hide=self.hide).items()
        )
        self._line(f"epoch {epoch + 1}/{self._total}  {values}")

    def on_fit_end(self, run: RunContext) -> None:
        if self._handler is None:
            return
        summary = run.summary
        if summary is not None:
            self._line(
                f"{summary.status}: {summary.stop_reason} ({summary.epochs} epochs, {summary.wall_s:.1f} s)"
            )
        logging.getLogger("tvae").removeHandler(self._handler)
        self._handler.close()
        self._handler = None
