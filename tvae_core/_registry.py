"""The component registry: every model, dataset, loss, ... by kind and name, with provenance."""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tvae_core._errors import ComponentNotFound, PluginError

if TYPE_CHECKING:
    from pydantic import BaseModel

KINDS: tuple[str, ...] = (
    "model",
    "dataset",
    "loss",
    "optimizer",
    "scheduler",
    "callback",
    "metric",
)

#: The registration hook of each kind.
HOOK_OF_KIND: dict[str, str] = {
    "model": "tvae_register_models",
    "dataset": "tvae_register_datasets",
    "loss": "tvae_register_losses",
    "optimizer": "tvae_register_optimizers",
    "scheduler": "tvae_register_schedulers",
    "callback": "tvae_register_callbacks",
    "metric": "tvae_register_metrics",
}


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

    def load(self) -> Callable[..., Any]:
        """The factory, importing it if it was registered as ``"module:attribute"``."""
        if self._factory is not None:
            return self._factory
        ref = self.factory_ref
        if callable(ref):
            self._factory = ref
            return ref
        module_name, _, attr = ref.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except Exception as exc:
            raise PluginError(
                f"{self.kind} {self.name!r} of {self.origin} cannot be imported from "
                f"{ref!r}: {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(obj):
            raise PluginError(
                f"{self.kind} {self.name!r} of {self.origin}: {ref!r} is not callable"
            )
        self._factory = obj
        return obj

    def settings_model(self) -> type[BaseModel]:
        """The settings schema: as registered, or derived from the factory's signature."""
        if self._settings is None:
            if self.settings_given is not None:
                self._settings = self.settings_given
            else:
                from tvae_core._settings import derive_settings_model

                self._settings = derive_settings_model(self.load(), self.kind, self.name)
        return self._settings

    def validate(
        self, settings: Mapping[str, Any], where: str, source: str | None = None
    ) -> dict[str, Any]:
        """Check ``settings`` against the schema; a one-line SettingsError names ``where``."""
        from tvae_core._settings import validate_settings

        return validate_settings(self.settings_model(), settings, where, source)

    def build(self, settings: Mapping[str, Any], *leading: Any) -> Any:
        """Call the factory with the (already validated) settings."""
        factory = self.load()
        try:
            return factory(*leading, **settings)
        except (TypeError, ValueError) as exc:
            from tvae_core._errors import SettingsError

            raise SettingsError(
                f"{self.kind} {self.name!r} of {self.origin} rejected its settings: {exc}"
            ) from exc


@dataclass
class FailedPlugin:
    """A plugin that could not be loaded or registered, kept to explain missing components."""

    name: str
    distribution: str | None
    version: str | None
    error: str
    registered: list[tuple[str, str]] = field(default_factory=list)


class Registry:
    """Components by kind and name; two plugins may give the same name."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, list[Component]]] = {k: {} for k in KINDS}
        self.failed: list[FailedPlugin] = []

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
            raise ComponentNotFound(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
        plugin, sep, bare = name.rpartition(":")
        candidates = self._components[kind].get(bare if sep else name, [])
        if sep:
            candidates = [c for c in candidates if c.plugin == plugin]
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            options = ", ".join(repr(c.qualified_name) for c in candidates)
            raise PluginError(
                f"{kind} {name!r} is provided by several plugins; name one of: {options}"
            )
        raise ComponentNotFound(self._not_found_message(kind, name))

    def _not_found_message(self, kind: str, name: str) -> str:
        bare = name.rpartition(":")[2]
        for failed in self.failed:
            if (kind, bare) in failed.registered:
                return (
                    f"{kind} {name!r} comes from plugin {failed.name!r} "
                    f"({failed.distribution or failed.name} {failed.version or 'unknown version'}), "
                    f"which failed to load: {failed.error}"
                )
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
