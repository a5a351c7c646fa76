"""The ``tvae.plugins`` entry points of installed distributions, remembered between runs.

Reading entry points through :mod:`importlib.metadata` means importing it (with the
``email`` package it parses metadata with) and reading every installed distribution's
``entry_points.txt``: about a sixth of ``tvae list``'s start-up. What was found is kept in
a small JSON file under ``TVAE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/tvae``, else
``~/.cache/tvae``), valid while nothing that importlib.metadata would read has changed:

- the interpreter and ``sys.path`` (entries as absolute paths) are the same;
- each path entry holds the same set of ``*.dist-info`` / ``*.egg-info`` names (a
  distribution installed, removed or upgraded renames or adds one of these);
- each plugin distribution's entry-point file has the same modification time.

Anything else (no file, another format, an unreadable or unwritable folder) means a fresh
scan; the cache never raises. ``TVAE_NO_CACHE=1`` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import re
import sys
from dataclasses import asdict, dataclass
from typing import Any

ENV_CACHE_DIR = "TVAE_CACHE_DIR"
ENV_NO_CACHE = "TVAE_NO_CACHE"
_FORMAT = 1
_VALUE = re.compile(r"^(?P<module>[\w.]+)\s*(?::\s*(?P<attr>[\w.]+)\s*)?(?:\[.*\])?\s*$")


@dataclass(frozen=True)
class EntryPointRecord:
    """One entry point: its name, ``module[:attr]`` value and distribution."""

    name: str
    value: str
    distribution: str | None
    version: str | None
    #: The distribution's ``entry_points.txt`` (None when importlib.metadata does not say).
    source_file: str | None = None

    def load(self) -> Any:
        """Import the module and return the attribute the value names (as EntryPoint.load)."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ImportError(f"entry point {self.name!r}: cannot read value {self.value!r}")
        obj: Any = importlib.import_module(match["module"])
        for attr in filter(None, (match["attr"] or "").split(".")):
            obj = getattr(obj, attr)
        return obj


def discover(group: str) -> list[EntryPointRecord]:
    """The entry points of ``group``, first of each name in ``sys.path`` order."""
    if os.environ.get(ENV_NO_CACHE, "").strip().lower() not in ("", "0", "false", "no"):
        return _scan(group)
    fingerprint = _fingerprint(group)
    path = _cache_file()
    records = _read(path, fingerprint)
    if records is None:
        records = _scan(group)
        _write(path, fingerprint, records)
    return records


def _scan(group: str) -> list[EntryPointRecord]:
    from importlib.metadata import entry_points

    seen: set[str] = set()
    out = []
    for ep in entry_points(group=group):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        dist = ep.dist
        folder = getattr(dist, "_path", None)  # PathDistribution's .dist-info folder
        source = os.path.join(str(folder), "entry_points.txt") if folder is not None else None
        out.append(
            EntryPointRecord(
                ep.name,
                ep.value,
                dist.name if dist is not None else None,
                dist.version if dist is not None else None,
                source if source is not None and os.path.isfile(source) else None,
            )
        )
    return out


def _fingerprint(group: str) -> str:
    """What importlib.metadata's answer depends on, hashed."""
    digest = hashlib.sha256()
    for part in (str(_FORMAT), group, sys.executable, sys.version):
        digest.update(part.encode() + b"\0")
    for entry in sys.path:
        where = os.path.abspath(entry or os.curdir)
        digest.update(where.encode() + b"\0")
        try:
            with os.scandir(where) as it:
                names = sorted(e.name for e in it if e.name.endswith((".dist-info", ".egg-info")))
        except NotADirectoryError:  # a zip archive on sys.path
            try:
                names = [str(os.stat(where).st_mtime_ns)]
            except OSError:
                names = ["?"]
        except OSError:
            names = ["-"]  # not there (yet)
        digest.update("\0".join(names).encode() + b"\1")
    return digest.hexdigest()


def _cache_file() -> str:
    folder = os.environ.get(ENV_CACHE_DIR)
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "tvae")
    # One file per interpreter (a venv each), rewritten when its fingerprint changes.
    name = hashlib.sha256(sys.executable.encode()).hexdigest()[:16]
    return os.path.join(folder, f"entry-points-{name}.json")


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _read(path: str, fingerprint: str) -> list[EntryPointRecord] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if data.get("format") != _FORMAT or data.get("fingerprint") != fingerprint:
            return None
        records = [EntryPointRecord(**r) for r in data["entry_points"]]
        for record, stamp in zip(records, data["source_mtimes"], strict=True):
            if record.source_file is not None and _mtime(record.source_file) != stamp:
                return None
        return records
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _write(path: str, fingerprint: str, records: list[EntryPointRecord]) -> None:
    data = {
        "format": _FORMAT,
        "fingerprint": fingerprint,
        "entry_points": [asdict(r) for r in records],
        "source_mtimes": [
            _mtime(r.source_file) if r.source_file is not None else None for r in records
        ],
    }
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
