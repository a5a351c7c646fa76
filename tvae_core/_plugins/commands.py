"""Plugin commands: found without importing their plugins, refused when they take a name.

An installed plugin declares each command as an entry point of the group ``tvae.commands``
(``plot = "tvae_ternary.plotting:register_plot_command"``): the value is a function that
adds the command of that name to a ``typer.Typer`` app, imported only when the command runs
or shows its help. A plugin given with ``--plugin`` (not installed) adds its commands
through the ``tvae_add_commands`` hook instead.

A command cannot replace a core command, nor another plugin's: the first one keeps the
name (installed distributions in the order they were installed, then ``--plugin`` ones in
the order given) and every later one is refused, with the reason, in ``tvae plugins``.
Commands of blocked plugins (``--plugin no:NAME``) are left out; those of incompatible
ones (an unmet ``tvae-core`` requirement) are refused.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from tvae_core._plugins.discovery import EntryPointRecord, incompatibility, installed_at

if TYPE_CHECKING:
    from tvae_core._plugins.manager import PluginManager
    from tvae_core._plugins.registry import PluginInfo


class CommandSpec(NamedTuple):
    """One plugin command: its name, whose it is, how to load it, and whether it is used.

    A named tuple, not a dataclass: ``tvae --help`` makes these, and importing
    :mod:`dataclasses` (with :mod:`inspect`) is 6 ms of its start, ~20 ms on a loaded machine.
    """

    name: str
    plugin: str
    distribution: str | None
    version: str | None
    source: str  # "entry-point" or "command-line"
    #: ``"package.module:function"`` (an entry point), or the plugin's hook function.
    target: str | Callable[..., Any]
    refused: str | None = None

    @property
    def origin(self) -> str:
        dist = self.distribution or self.plugin
        return f"plugin {self.plugin!r} ({dist} {self.version or 'unknown version'})"

    def registrar(self) -> Callable[[Any], Any]:
        """The function that adds the command to an app (imports its module)."""
        if callable(self.target):
            return self.target
        loaded = EntryPointRecord(self.name, self.target, self.distribution, self.version).load()
        if not callable(loaded):
            raise TypeError(f"{self.target!r} is not a function that adds commands to an app")
        return loaded


def entry_point_commands(pm: PluginManager) -> list[CommandSpec]:
    """The ``tvae.commands`` entry points, in precedence order, blocked plugins left out."""
    if not pm.autoload:
        return []
    return installed_commands(pm.entry_points(), pm._command_entry_points(), pm.is_blocked)


def installed_commands(
    plugins: Iterable[EntryPointRecord],
    commands: Iterable[EntryPointRecord],
    is_blocked: Callable[..., bool] = lambda *names: False,
) -> list[CommandSpec]:
    """:func:`entry_point_commands` from the entry points of both groups, without a manager.

    ``plugins`` name a distribution's plugin (its ``tvae.plugins`` entry point), ``commands``
    are the ``tvae.commands`` ones, and ``is_blocked(plugin, distribution)`` leaves a
    plugin's commands out. ``tvae --help`` calls it with no plugin loaded, nor pluggy.
    """
    plugins_of = {r.distribution: r for r in plugins if r.distribution}
    specs = []
    records = list(commands)
    names = [r.name for r in records]
    clashing = {n for n in names if names.count(n) > 1}
    if clashing:  # only then is the order of installation worth reading (a file per dist)
        records = sorted(
            records,
            key=lambda r: (
                (installed_at(r.distribution or "") or 0.0) if r.name in clashing else 0.0
            ),
        )
    for record in records:
        plugin = plugins_of.get(record.distribution or "")
        name = plugin.name if plugin is not None else (record.distribution or record.name)
        if is_blocked(name, record.distribution):
            continue
        problem = incompatibility(record.requires_core, record.distribution)
        refused = f"its plugin is incompatible: {problem[0]}" if problem is not None else None
        specs.append(
            CommandSpec(
                record.name,
                name,
                record.distribution,
                record.version,
                "entry-point",
                record.value,
                refused,
            )
        )
    return specs


def resolve(specs: Iterable[CommandSpec], reserved: Collection[str]) -> list[CommandSpec]:
    """``specs``, each command that would take a core command's or an earlier command's name
    marked refused (with the reason)."""
    taken: dict[str, CommandSpec] = {}
    out = []
    for spec in specs:
        if spec.refused is None and spec.name in reserved:
            spec = spec._replace(
                refused=f"command {spec.name!r} is a core command; it was not replaced"
            )
        elif spec.refused is None and spec.name in taken:
            spec = spec._replace(
                refused=f"command {spec.name!r} is already {taken[spec.name].origin}'s"
            )
        elif spec.refused is None:
            taken[spec.name] = spec
        out.append(spec)
    return out


def annotate(infos: dict[str, PluginInfo], specs: Iterable[CommandSpec]) -> None:
    """Add each plugin's commands, and why any of them was refused, to its PluginInfo.

    A distribution that only adds commands (no ``tvae.plugins`` entry point) gets a
    PluginInfo of its own, named after it.
    """
    from tvae_core._plugins.registry import PluginInfo

    for spec in specs:
        info = infos.get(spec.plugin)
        if info is None:
            module = spec.target.partition(":")[0] if isinstance(spec.target, str) else spec.name
            info = infos[spec.plugin] = PluginInfo(
                spec.plugin, module, spec.source, spec.distribution, spec.version
            )
        if spec.refused is None:
            info.commands.append(spec.name)
        else:
            info.notes.append(f"command {spec.name!r} refused: {spec.refused}")
