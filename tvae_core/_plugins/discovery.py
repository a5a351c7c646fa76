"""The ``tvae.plugins`` entry points of the installed distributions, read afresh every time.

:mod:`importlib.metadata` does the reading; this module only keeps the first entry point of
each name (in ``sys.path`` order, as Python would import it) and its distribution's name and
version, which ``tvae plugins`` shows and errors name.

There is no cache of what was found. A cache kept between runs (tried, and removed in the
architecture review) saved 40-60 ms of ``tvae list`` — mostly importing
``importlib.metadata`` and the ``email`` package it parses metadata with — but start-up
stays under its 0.3 s goal without one (median 180 ms piped, 259 ms on a terminal on the
shared 2-core machine; ``benchmarks/cli_startup.py``), and a cache means a file per
environment and answers that can go stale. pytest, pluggy and llm do not cache either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EntryPointRecord:
    """One entry point: its name, ``module[:attr]`` value and distribution."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    def load(self) -> Any:
        """Import the module and return the attribute the value names (``EntryPoint.load``)."""
        from importlib.metadata import EntryPoint

        if EntryPoint.pattern.match(self.value) is None:  # the syntax importlib.metadata reads
            raise ImportError(f"entry point {self.name!r}: cannot read value {self.value!r}")
        return EntryPoint(self.name, self.value, "").load()


def discover(group: str) -> list[EntryPointRecord]:
    """The entry points of ``group``, first of each name in ``sys.path`` order."""
    from importlib.metadata import entry_points

    seen: set[str] = set()
    out = []
    for ep in entry_points(group=group):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        dist = ep.dist
        out.append(
            EntryPointRecord(
                ep.name,
                ep.value,
                dist.name if dist is not None else None,
                dist.version if dist is not None else None,
            )
        )
    return out
