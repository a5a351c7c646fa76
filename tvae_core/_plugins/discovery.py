"""The entry points of the installed distributions, read afresh every time.

Two groups: ``tvae.plugins`` (a plugin's hooks) and ``tvae.commands`` (its CLI commands,
found without importing it). :mod:`importlib.metadata` does the reading; this module keeps
the first entry point of each name (in ``sys.path`` order, as Python would import it), its
distribution's name and version, and the ``tvae-core`` requirement the distribution
declares, so that a plugin built for another core is refused before it is imported.

There is no cache of what was found. A cache kept between runs (tried, and removed in the
architecture review) saved 40-60 ms of ``tvae list`` — mostly importing
``importlib.metadata`` and the ``email`` package it parses metadata with — but start-up
stays under its 0.3 s goal without one (median 180 ms piped, 259 ms on a terminal on the
shared 2-core machine; ``benchmarks/cli_startup.py``), and a cache means a file per
environment and answers that can go stale. pytest, pluggy and llm do not cache either.
"""

from __future__ import annotations

import os
import re
from typing import Any, NamedTuple

from tvae_core._version import __version__

PLUGINS_GROUP = "tvae.plugins"
COMMANDS_GROUP = "tvae.commands"
CORE_DISTRIBUTION = "tvae-core"
#: Set (to anything but "", 0, false or no): no installed plugin is loaded, nor its commands.
ENV_DISABLE_AUTOLOAD = "TVAE_DISABLE_PLUGIN_AUTOLOAD"

# ``Requires-Dist: tvae-core>=0.1`` (also ``tvae_core (>=0.1)``), optionally with a marker.
_CORE_REQUIREMENT = re.compile(
    r"^\s*tvae[-_.]core\s*\(?\s*(?P<spec>[^;()]*)\)?\s*(?:;(?P<marker>.*))?$", re.I
)


def env_flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to anything but "", 0, false or no."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class EntryPointRecord(NamedTuple):
    """One entry point: its name, ``module[:attr]`` value and distribution.

    A named tuple, not a dataclass, so that ``tvae --help`` need not import
    :mod:`dataclasses` (see :class:`tvae_core._plugins.commands.CommandSpec`).
    """

    name: str
    value: str
    distribution: str | None
    version: str | None
    #: The distribution's ``tvae-core`` version specifier (``>=0.1``), "" for none given.
    requires_core: str = ""

    @property
    def module(self) -> str:
        """The module the value imports (``pkg.plugin`` of ``pkg.plugin:attr``)."""
        return self.value.partition(":")[0].strip()

    def load(self) -> Any:
        """Import the module and return the attribute the value names (``EntryPoint.load``)."""
        from importlib.metadata import EntryPoint

        if EntryPoint.pattern.match(self.value) is None:  # the syntax importlib.metadata reads
            raise ImportError(f"entry point {self.name!r}: cannot read value {self.value!r}")
        return EntryPoint(self.name, self.value, "").load()


def core_specifier(requires: list[str] | None) -> str:
    """The ``tvae-core`` specifier among a distribution's requirements ("" if none)."""
    for line in requires or ():
        match = _CORE_REQUIREMENT.match(line)
        if match and "extra" not in (match["marker"] or ""):
            return match["spec"].strip()
    return ""


def discover(group: str, *, by_distribution: bool = False) -> list[EntryPointRecord]:
    """The entry points of ``group``, first of each name in ``sys.path`` order.

    With ``by_distribution``, first of each name *per distribution*: two distributions'
    entry points of one name are both kept (commands of one name are the CLI's to refuse).
    """
    return discover_groups({group: by_distribution})[group]


def discover_groups(groups: dict[str, bool]) -> dict[str, list[EntryPointRecord]]:
    """:func:`discover` for several groups (``{group: by_distribution}``) in one reading.

    Every distribution's entry points are read once for all the groups: a command line
    needs both ``tvae.plugins`` and ``tvae.commands``, and each reading opens a file per
    installed distribution.
    """
    from importlib.metadata import entry_points

    found = entry_points()
    facts: dict[int, tuple[str | None, str | None, str]] = {}

    def about(dist: Any) -> tuple[str | None, str | None, str]:
        """A distribution's name, version and tvae-core specifier, from one parse of its
        METADATA (``dist.name``, ``.version`` and ``.requires`` each parse it again)."""
        if dist is None:
            return None, None, ""
        if id(dist) not in facts:  # every entry point of a distribution shares its object
            meta = dist.metadata
            requires = meta.get_all("Requires-Dist") or dist.requires  # egg-info: requires.txt
            facts[id(dist)] = meta["Name"], meta["Version"], core_specifier(requires)
        return facts[id(dist)]

    out: dict[str, list[EntryPointRecord]] = {}
    for group, by_distribution in groups.items():
        seen: set[tuple[str, str | None]] = set()
        records = out[group] = []
        for ep in found.select(group=group):
            name, version, requires_core = about(ep.dist)
            key = (ep.name, name if by_distribution else None)
            if key in seen:
                continue
            seen.add(key)
            records.append(EntryPointRecord(ep.name, ep.value, name, version, requires_core))
    return out


def incompatibility(
    specifier: str, distribution: str | None, core_version: str = __version__
) -> tuple[str, str] | None:
    """Why a plugin requiring ``tvae-core<specifier>`` cannot run here, and the fix; or None.

    The fix is ``pip install 'tvae-core<specifier>'`` when a newer core would do, and an
    upgrade of the plugin's distribution when it was built for an older core.
    """
    if not specifier:
        return None
    simple = _simple_check(specifier, core_version)
    if simple is not None:
        met, newer = simple
    else:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import Version

        try:
            wanted = SpecifierSet(specifier)
        except InvalidSpecifier:
            return f"declares an unreadable tvae-core requirement {specifier!r}", "fix its metadata"
        met = wanted.contains(core_version, prereleases=True)
        ours = Version(core_version)
        newer = any(
            s.operator in (">=", ">", "==", "~=", "===") and Version(s.version.rstrip(".*")) > ours
            for s in wanted
        )
    if met:
        return None
    reason = f"requires tvae-core{specifier}, but this is tvae-core {core_version}"
    if newer:
        return reason, f"pip install 'tvae-core{specifier}'"
    return reason, f"pip install --upgrade '{distribution or 'the plugin'}'"


_CLAUSE = re.compile(r"^\s*(>=|<=|>|<|==|!=)\s*(\d+(?:\.\d+)*)\s*$")
_COMPARE = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _simple_check(specifier: str, version: str) -> tuple[bool, bool] | None:
    """``(met, a newer version is wanted)`` for plain numeric clauses (``>=0.1,<1``), else None.

    Nearly every plugin writes such a specifier; reading it here spares every start of
    ``tvae`` the import of ``packaging.specifiers`` (12 ms), which reads the rest.
    """
    ours = _release(version)
    if ours is None:
        return None
    met, newer = True, False
    for clause in specifier.split(","):
        match = _CLAUSE.match(clause)
        if match is None:
            return None
        op, wanted = match[1], _release(match[2])
        assert wanted is not None
        width = max(len(ours), len(wanted))
        a, b = ours + (0,) * (width - len(ours)), wanted + (0,) * (width - len(wanted))
        met = met and _COMPARE[op](a, b)
        newer = newer or (op in (">=", ">", "==") and b > a)
    return met, newer


def _release(version: str) -> tuple[int, ...] | None:
    return (
        tuple(int(p) for p in version.split(".")) if re.fullmatch(r"\d+(\.\d+)*", version) else None
    )


def installed_at(distribution: str) -> float | None:
    """When ``distribution`` was installed: the time of its metadata file (None: unknown).

    Asked only when two plugins register one name, to keep the older one's meaning. An
    upgrade or a reinstall writes the metadata again, so it counts as installing anew.
    """
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import distribution as find

    try:
        dist = find(distribution)
    except PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.name in ("METADATA", "PKG-INFO"):
            try:
                return os.stat(str(dist.locate_file(file))).st_mtime
            except OSError:
                return None
    return None
