"""The one way tvae replaces a file: write a temporary file beside it, fsync, rename.

A reader sees the previous file or the complete new one, never a part; a failed write (a
full disk) leaves the previous file as it was and no temporary file behind. Checkpoints,
``config.yaml``, ``run.json`` and ``summary.json`` are all written through here.
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from tvae_core._errors import TrainingError


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(
    path: str | Path,
    write: Callable[[IO[bytes]], None],
    *,
    what: str = "",
    around_rename: tuple[Callable[[Path, Path], Any], Callable[[Path, Any], None]] | None = None,
) -> Path:
    """Replace ``path`` with what ``write(binary_file)`` writes, atomically.

    ``what`` names the kind of file in the error (``checkpoint``); an OSError becomes a
    one-line :class:`TrainingError` naming the file. ``around_rename = (before, after)``:
    ``before(target, temp_file)`` runs once the temp file is complete, before the rename,
    and ``after(target, what_before_returned)`` once it is done (a checkpoint's hash record).
    """
    target = Path(path)
    label = f"{what} " if what else ""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise TrainingError(f"cannot write {label}{target}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file 0600; a run's files are as readable as any the user makes
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        token = around_rename[0](target, tmp) if around_rename is not None else None
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()  # a half-written temp file must not eat a full disk
        if isinstance(exc, OSError):
            intact = f"; the previous {what} there is intact" if what else ""
            raise TrainingError(
                f"cannot write {label}{target}: {exc.strerror or exc}{intact}"
            ) from None
        raise
    _fsync_dir(target.parent)
    if around_rename is not None:
        around_rename[1](target, token)
    # Temp files of writes a crash (SIGKILL, power loss) cut short; only this process writes here.
    remove_stale_temps(target.parent, target.name)
    return target


def remove_stale_temps(folder: Path, name: str | None = None) -> None:
    """Delete the temp files that crashed writes of :func:`write_atomic` left in ``folder``.

    Only those of the file ``name`` if given, else all of them (a run that takes its folder
    back, whose last write may have been cut short with nothing of that name written since).
    Call it only while this process alone writes to ``folder`` (it holds the run's lock).
    """
    pattern = f".{glob.escape(name)}.*.tmp" if name is not None else ".*.tmp"
    for stale in folder.glob(pattern):
        if stale.is_symlink() or stale.is_file():
            with contextlib.suppress(OSError):
                stale.unlink()


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Replace ``path`` with ``text`` (UTF-8)."""
    data = text.encode("utf-8")

    def write(fh: IO[bytes]) -> None:
        fh.write(data)

    return write_atomic(path, write)


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats as strings (``"nan"``): JSON has no literal for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def write_json_atomic(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Replace ``path`` with ``data`` as indented JSON."""
    return write_text_atomic(path, json.dumps(jsonable(data), indent=2) + "\n")
