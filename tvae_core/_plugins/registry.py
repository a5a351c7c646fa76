"""The component registry: every model, dataset, loss, ... by kind and name, with provenance.

It also holds what is known about each plugin (:class:`PluginInfo`), so that a component
that cannot be found can be explained by the plugin that failed to provide it.
"""

from __future__ import annotations

import difflib
import inspect
import pkgutil
from collections.abc import Callable, Iterable, Mapping
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
    ) -> None: ...


@dataclass
class PluginInfo:
    """What ``tvae plugins`` shows about one plugin."""

    name: str
    module: str
    source: str  # "builtin", "entry-point", "command-line" or "object"
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"  # "loaded", "failed" or "blocked"
    error: str | None = None
    #: What kind of failure: import-failed, bad-signature, unknown-hook, hook-raised,
    #: invalid-name, bad-factory, registered-twice (None while loaded).
    error_code: str | None = None
    hooks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
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
            "hooks": list(self.hooks),
            "components": list(self.components),
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
            return factory(*leading, **settings)
        except (TypeError, ValueError) as exc:
            raise SettingsError(
                f"rejected its settings: {exc}", component=self.label, plugin=self.origin
            ) from exc


class Registry:
    """Components by kind and name; two plugins may give the same name."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, list[Component]]] = {k: {} for k in KINDS}
        self.failed: list[PluginInfo] = []

    def add(self, component: Component) -> None:
        self._components[component.kind].setdefault(component.name, []).append(component)

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

    def get(self, kind: str, name: str) -> Component:
        """The component ``name`` (or ``plugin:name``) of ``kind``, or a helpful error."""
        if kind not in self._components:
            raise ComponentNotFound(
                f"unknown component kind {kind!r}", hint=f"kinds: {', '.join(KINDS)}"
            )
        plugin, sep, bare = name.rpartition(":")
        candidates = self._components[kind].get(bare if sep else name, [])
        if sep:
            candidates = [c for c in candidates if c.plugin == plugin]
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            options = ", ".join(repr(c.qualified_name) for c in candidates)
            raise PluginError(
                f"{kind} {name!r} is provided by several plugins", hint=f"name one of: {options}"
            )
        raise ComponentNotFound(self._not_found_message(kind, name))

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


def components_table(components: Iterable[Component]) -> list[dict[str, Any]]:
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
