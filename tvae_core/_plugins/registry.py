"""The component registry: every model, dataset, loss, ... by kind and name, with provenance.

It also holds what is known about each plugin (:class:`PluginInfo`), so that a component
that cannot be found can be explained by the plugin that failed to provide it.
"""

from __future__ import annotations

import difflib
import inspect
import pkgutil
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tvae_core._errors import ComponentNotFound, PluginError, SettingsError
from tvae_core._plugins.contracts import KINDS, contract

if TYPE_CHECKING:
    from pydantic import BaseModel


class RegisterFn(Protocol):
    """The ``register`` callable each registration hook receives."""

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        *,
        description: str | None = None,
        settings: type[BaseModel] | None = None,
        higher_is_better: bool | Mapping[str, bool | None] | None = None,
    ) -> None: ...


@dataclass
class PluginInfo:
    """What ``tvae plugins`` shows about one plugin."""

    name: str
    module: str
    source: str  # "builtin", "entry-point", "command-line", "object" or "project"
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"  # "loaded", "failed", "blocked" or "incompatible"
    error: str | None = None
    #: What kind of failure: import-failed, bad-signature, unknown-hook, hook-raised,
    #: invalid-name, bad-factory, registered-twice, incompatible (None while loaded).
    error_code: str | None = None
    #: The command that fixes the error, when there is one (``pip install 'tvae-core>=2'``).
    fix: str | None = None
    #: The ``tvae-core`` specifier its distribution requires ("" if none).
    requires_core: str = ""
    hooks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    #: Commands it adds, and problems that do not stop it (name clashes, refused commands).
    commands: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: ``(kind, name)`` of what a failed plugin registered before it failed (none usable).
    registered_before_failure: list[tuple[str, str]] = field(default_factory=list, repr=False)

    @property
    def origin(self) -> str:
        """``plugin 'name' (distribution version)``, as errors name a plugin."""
        return f"plugin {self.name!r} ({self.distribution or self.name} {self.version or 'unknown version'})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "source": self.source,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "fix": self.fix,
            "requires_core": self.requires_core,
            "hooks": list(self.hooks),
            "components": list(self.components),
            "commands": list(self.commands),
            "notes": list(self.notes),
        }


@dataclass
class Component:
    """One registered component and where it came from."""

    kind: str
    name: str
    plugin: str
    distribution: str | None
    version: str | None
    factory_ref: Callable[..., Any] | str
    description_given: str | None = None
    settings_given: type[BaseModel] | None = None
    #: A metric's direction given at registration (``register(..., higher_is_better=...)``):
    #: a bool, or a mapping per returned key (None: a constant without a best); None when
    #: not given. The built object's own ``higher_is_better`` attribute, if any, wins.
    higher_is_better_given: bool | Mapping[str, bool | None] | None = None
    #: Where its plugin came from and in which place it loaded (see :meth:`Registry.get`).
    source: str = "object"
    load_index: int = 0
    _factory: Callable[..., Any] | None = field(default=None, repr=False)
    _settings: type[BaseModel] | None = field(default=None, repr=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.name}"

    @property
    def origin(self) -> str:
        dist = self.distribution or self.plugin
        return f"plugin {self.plugin!r} ({dist} {self.version or 'unknown version'})"

    @property
    def is_lazy(self) -> bool:
        return isinstance(self.factory_ref, str) and self._factory is None

    @property
    def description(self) -> str:
        """One line; imports a lazy factory only when no description was given."""
        if self.description_given is not None:
            return self.description_given
        try:
            doc = inspect.getdoc(self.load()) or ""
        except PluginError:
            return ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    @property
    def label(self) -> str:
        """``kind 'name'``, as errors name a component."""
        return f"{self.kind} {self.name!r}"

    def load(self) -> Callable[..., Any]:
        """The factory, importing it if it was registered as ``"module:attribute"``."""
        if self._factory is not None:
            return self._factory
        ref = self.factory_ref
        if callable(ref):
            self._factory = ref
            return ref
        try:
            obj: Any = pkgutil.resolve_name(ref)
        except Exception as exc:
            raise PluginError(
                f"cannot be imported from {ref!r}: {type(exc).__name__}: {exc}",
                component=self.label,
                plugin=self.origin,
            ) from exc
        if not callable(obj):
            raise PluginError(f"{ref!r} is not callable", component=self.label, plugin=self.origin)
        self._factory = obj
        return obj

    def settings_model(self) -> type[BaseModel]:
        """The settings schema: as registered, or derived from the factory's signature."""
        if self._settings is None:
            if self.settings_given is not None:
                self._settings = self.settings_given
            else:
                from tvae_core._config.settings import derive_settings_model

                leading = len(contract(self.kind).leading)
                self._settings = derive_settings_model(self.load(), self.name, leading)
        return self._settings

    def validate(
        self,
        settings: Mapping[str, Any],
        where: str,
        source: str | None = None,
        *,
        fill_later: Iterable[str] | None = (),
    ) -> dict[str, Any]:
        """Check ``settings`` against the schema; a one-line SettingsError names ``where``.

        ``fill_later``: settings the run provides later, whose absence is no error yet.
        """
        from tvae_core._config.settings import validate_settings

        later = None if fill_later is None else tuple(fill_later)
        return validate_settings(self.settings_model(), settings, where, source, fill_later=later)

    def build(self, settings: Mapping[str, Any], *leading: Any) -> Any:
        """Call the factory with the (already validated) settings."""
        factory = self.load()
        try:
            built = factory(*leading, **settings)
        except (TypeError, ValueError) as exc:
            raise SettingsError(
                f"rejected its settings: {exc}", component=self.label, plugin=self.origin
            ) from exc
        if self.higher_is_better_given is not None:
            built = with_direction(built, self.higher_is_better_given)
        return built


class _DirectedMetric:
    """A metric that cannot carry attributes, with the direction its registration gave."""

    def __init__(self, metric: Any, higher_is_better: Any) -> None:
        self._metric = metric
        self.higher_is_better = higher_is_better
        if hasattr(metric, "requires"):
            self.requires = metric.requires

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._metric(*args, **kwargs)


def with_direction(metric: Any, higher_is_better: Any) -> Any:
    """``metric`` carrying the registered ``higher_is_better``, unless it declares its own."""
    if hasattr(metric, "higher_is_better"):
        return metric
    try:
        metric.higher_is_better = higher_is_better
    except (AttributeError, TypeError):
        return _DirectedMetric(metric, higher_is_better)
    return metric


@dataclass
class Preset:
    """A named run config a plugin ships (``tvae run NAME``, ``tvae config NAME``)."""

    name: str
    plugin: str
    distribution: str | None
    version: str | None
    #: ``"package:path/in/package.yaml"``, or the config itself as a dict.
    config: str | dict[str, Any]
    description_given: str | None = None
    source: str = "object"
    load_index: int = 0
    kind: str = "preset"

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}:{self.name}"

    @property
    def origin(self) -> str:
        dist = self.distribution or self.plugin
        return f"plugin {self.plugin!r} ({dist} {self.version or 'unknown version'})"

    @property
    def description(self) -> str:
        return self.description_given or ""

    def text(self) -> str:
        """The preset as YAML: the shipped file as written (comments kept), or a dump."""
        if isinstance(self.config, dict):
            import yaml

            return yaml.safe_dump(self.config, sort_keys=False)
        from importlib import resources

        package, _, path = self.config.partition(":")
        try:
            return resources.files(package).joinpath(path).read_text("utf-8")
        except (ModuleNotFoundError, OSError) as exc:
            raise PluginError(
                f"cannot read {self.config!r}: {type(exc).__name__}: {exc}",
                component=f"preset {self.name!r}",
                plugin=self.origin,
            ) from exc

    def data(self) -> dict[str, Any]:
        """The preset's sections as plain data."""
        if isinstance(self.config, dict):
            return dict(self.config)
        import yaml

        loaded = yaml.safe_load(self.text())
        if not isinstance(loaded, dict):
            raise PluginError(
                f"{self.config!r} does not hold a mapping of sections",
                component=f"preset {self.name!r}",
                plugin=self.origin,
            )
        return loaded


class Registry:
    """Components by kind and name; two plugins may give the same name."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, list[Component]]] = {k: {} for k in KINDS}
        self._presets: dict[str, list[Preset]] = {}
        self.failed: list[PluginInfo] = []

    def add(self, component: Component) -> None:
        self._components[component.kind].setdefault(component.name, []).append(component)

    def add_preset(self, preset: Preset) -> None:
        self._presets.setdefault(preset.name, []).append(preset)

    def presets(self) -> list[Preset]:
        """Every preset, by name, the one an unqualified name means first."""
        return [
            p
            for name in sorted(self._presets)
            for p in sorted(self._presets[name], key=_precedence)
        ]

    def preset(self, name: str) -> Preset | None:
        """The preset ``name`` (or ``plugin:name``) means, by the rule of :meth:`get`."""
        plugin, sep, bare = name.rpartition(":")
        found = self._presets.get(bare, [])
        found = list(found) if len(found) < 2 else sorted(found, key=_precedence)
        if sep:
            found = [p for p in found if p.plugin == plugin]
        return found[0] if found else None

    def all(self, kind: str | None = None) -> list[Component]:
        kinds = [kind] if kind else list(KINDS)
        return [c for k in kinds for group in self._components[k].values() for c in group]

    def names(self, kind: str) -> list[str]:
        return sorted(self._components[kind])

    def __contains__(self, item: tuple[str, str]) -> bool:
        kind, name = item
        try:
            self.get(kind, name)
        except PluginError:
            return False
        return True

    def candidates(self, kind: str, name: str) -> list[Component]:
        """Every component ``name`` (or ``plugin:name``) can mean, the one it means first."""
        if kind not in self._components:
            raise ComponentNotFound(
                f"unknown component kind {kind!r}", hint=f"kinds: {', '.join(KINDS)}"
            )
        plugin, sep, bare = name.rpartition(":")
        found = self._components[kind].get(bare if sep else name, [])
        if sep:
            found = [c for c in found if c.plugin == plugin]
        return list(found) if len(found) < 2 else sorted(found, key=_precedence)

    def get(self, kind: str, name: str, prefer: Collection[str] = ()) -> Component:
        """The component ``name`` (or ``plugin:name``) of ``kind`` means, or a helpful error.

        When several plugins register one name, the unqualified name means the component of
        a distribution in ``prefer`` (a run's ``plugins.required``), else the one of the
        plugin that came first: the core's built-ins, then installed distributions in the
        order they were installed, then ``--plugin`` ones in the order given. Installing a
        plugin therefore never changes what a name meant before.
        """
        found = self.candidates(kind, name)
        if not found:
            raise ComponentNotFound(self._not_found_message(kind, name))
        preferred = [c for c in found if c.distribution and _norm(c.distribution) in prefer]
        return (preferred or found)[0]

    def clashes(self) -> dict[tuple[str, str], list[Any]]:
        """Names registered by several plugins: ``(kind, name)`` to the candidates, in order."""
        out: dict[tuple[str, str], list[Any]] = {
            (kind, name): sorted(group, key=_precedence)
            for kind, names in self._components.items()
            for name, group in names.items()
            if len({c.plugin for c in group}) > 1
        }
        out.update(
            (("preset", name), sorted(group, key=_precedence))
            for name, group in self._presets.items()
            if len({p.plugin for p in group}) > 1
        )
        return out

    def _not_found_message(self, kind: str, name: str) -> str:
        bare = name.rpartition(":")[2]
        for failed in self.failed:
            if (kind, bare) in failed.registered_before_failure:
                return f"{kind} {name!r} comes from {failed.origin}, which failed to load: {failed.error}"
        msg = f"no {kind} named {name!r}"
        close = difflib.get_close_matches(bare, list(self._components[kind]), n=1)
        if close:
            msg += f"; did you mean {close[0]!r}?"
        elif self._components[kind]:
            msg += f"; available: {', '.join(sorted(self._components[kind]))}"
        else:
            msg += "; no plugin provides any (is the plugin installed?)"
        if self.failed:
            broken = ", ".join(
                f"{f.name!r} ({f.distribution or f.name} {f.version or 'unknown version'}: {f.error})"
                for f in self.failed
            )
            msg += f"; plugins that failed to load and may provide it: {broken}"
        return msg


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


_SOURCE_RANK = {"builtin": 0, "entry-point": 1}


def _precedence(component: Component | Preset) -> tuple[int, float, int]:
    installed = 0.0
    if component.source == "entry-point" and component.distribution:
        from tvae_core._plugins.discovery import installed_at

        installed = installed_at(component.distribution) or 0.0
    return _SOURCE_RANK.get(component.source, 2), installed, component.load_index


def components_table(components: Iterable[Component | Preset]) -> list[dict[str, Any]]:
    """Rows for ``tvae list``: kind, name, plugin, version, description."""
    return [
        {
            "kind": c.kind,
            "name": c.name,
            "qualified_name": c.qualified_name,
            "plugin": c.plugin,
            "distribution": c.distribution,
            "version": c.version,
            "description": c.description,
        }
        for c in components
    ]
