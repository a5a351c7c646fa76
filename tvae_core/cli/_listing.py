"""``tvae list`` and ``tvae show``: the registered components and their settings."""

from __future__ import annotations

import typer

from tvae_core._errors import UsageError
from tvae_core._plugins.contracts import KINDS
from tvae_core.cli._app import JsonOpt, PluginOpt, manager, print_json, print_table

#: What ``tvae list`` lists: the component kinds, then the presets.
LISTED = (*KINDS, "preset")


def singular(kind: str, names: tuple[str, ...]) -> str:
    """``kind`` as one of ``names``, taking plurals too (``losses`` is ``loss``)."""
    if kind in names:
        return kind
    for suffix in ("es", "s"):
        if kind.endswith(suffix) and kind[: -len(suffix)] in names:
            return kind[: -len(suffix)]
    return kind


def _unknown_kind(kind: str, names: tuple[str, ...]) -> UsageError:
    import difflib

    close = difflib.get_close_matches(kind, names, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"kinds: {', '.join(names)}"
    return UsageError(f"unknown component kind {kind!r}", hint=hint)


def _listed(incomplete: str) -> list[str]:
    """Shell completion of what ``tvae list`` takes (a component kind or ``preset``)."""
    return [k for k in LISTED if k.startswith(incomplete)]


def _kinds(incomplete: str) -> list[str]:
    """Shell completion of a component kind."""
    return [k for k in KINDS if k.startswith(incomplete)]


def list_(
    kind: str | None = typer.Argument(
        None, help=f"One of: {', '.join(LISTED)}.", show_default=False, autocompletion=_listed
    ),
    plugin: list[str] | None = PluginOpt,
    json_out: bool = JsonOpt,
) -> None:
    """List registered components and presets: kind, name, plugin, version, description."""
    from tvae_core._plugins.registry import components_table

    if kind is not None:
        kind = singular(kind, LISTED)
        if kind not in LISTED:
            raise _unknown_kind(kind, LISTED)
    pm = manager(plugin)
    components = [] if kind == "preset" else pm.registry.all(kind)
    presets = pm.registry.presets() if kind in (None, "preset") else []
    rows = components_table(
        [*sorted(components, key=lambda c: (KINDS.index(c.kind), c.name, c.plugin)), *presets]
    )
    if json_out:
        print_json(rows)
        return
    names = [(r["kind"], r["name"]) for r in rows]
    print_table(
        ("kind", "name", "plugin", "version", "description"),
        [
            (
                r["kind"],
                r["qualified_name"] if names.count((r["kind"], r["name"])) > 1 else r["name"],
                r["plugin"],
                r["version"] or "",
                r["description"],
            )
            for r in rows
        ],
    )
    failed = pm.failed()
    if failed:
        typer.echo(f"{len(failed)} plugin(s) failed to load; see `tvae plugins`", err=True)


def show(
    kind: str = typer.Argument(..., help=f"One of: {', '.join(KINDS)}.", autocompletion=_kinds),
    name: str = typer.Argument(..., help="The component's name (or plugin:name)."),
    plugin: list[str] | None = PluginOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Show a component's settings: types, defaults and docs."""
    kind = singular(kind, KINDS)
    if kind not in KINDS:
        raise _unknown_kind(kind, KINDS)
    pm = manager(plugin)
    component = pm.registry.get(kind, name)
    model = component.settings_model()
    settings = []
    from tvae_core._config.settings import type_label

    for field_name, f in model.model_fields.items():
        settings.append(
            {
                "name": field_name,
                "type": type_label(f.annotation),
                "required": f.is_required(),
                "default": None if f.is_required() else f.get_default(call_default_factory=True),
                "description": f.description or "",
            }
        )
    data = {
        "kind": component.kind,
        "name": component.name,
        "plugin": component.plugin,
        "distribution": component.distribution,
        "version": component.version,
        "description": component.description,
        "factory": component.factory_ref
        if isinstance(component.factory_ref, str)
        else f"{component.factory_ref.__module__}:{component.factory_ref.__qualname__}",
        "settings": settings,
    }
    if json_out:
        print_json(data)
        return
    typer.echo(f"{kind} {component.name} — {data['description']}")
    typer.echo(f"from {component.origin}; factory {data['factory']}")
    print_table(
        ("setting", "type", "default", "description"),
        [
            (
                s["name"],
                s["type"],
                "(required)" if s["required"] else repr(s["default"]),
                s["description"],
            )
            for s in settings
        ],
    )
