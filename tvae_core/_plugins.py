"""Finding, loading and isolating plugins; building the registry from their hooks.

Sources of plugins, in load order: the core's built-ins (plugin ``builtins``), the
``tvae.plugins`` entry points of installed distributions (unless
``TVAE_DISABLE_PLUGIN_AUTOLOAD`` is set), then ``--plugin`` names (a module or a ``.py``
path). ``--plugin no:NAME`` blocks a plugin (by plugin or distribution name) before it is
imported. A plugin that fails to import, declares a hook tvae does not know, has a bad
hook signature, or raises or registers badly inside a hook is recorded as failed with its
error, and every other plugin keeps working.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from tvae_core import _hookspecs
from tvae_core._discovery import EntryPointRecord, discover
from tvae_core._errors import PluginError, UsageError
from tvae_core._registry import HOOK_OF_KIND, KINDS, Component, FailedPlugin, Registry

ENTRY_POINT_GROUP = "tvae.plugins"
BUILTINS_NAME = "builtins"
ENV_DISABLE_AUTOLOAD = "TVAE_DISABLE_PLUGIN_AUTOLOAD"
ENV_TRACE = "TVAE_TRACE_PLUGINS"


@dataclass
class PluginInfo:
    """What ``tvae plugins`` shows about one plugin."""

    name: str
    module: str
    source: str  # "builtin", "entry-point" or "command-line"
    distribution: str | None = None
    version: str | None = None
    status: str = "loaded"  # "loaded", "failed" or "blocked"
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)

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


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _describe(exc: BaseException) -> str:
    """One line: the exception's type and its message's lines joined."""
    text = "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    if len(text) > 400:
        text = text[:397] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class PluginManager:
    """tvae's plugin manager: a pluggy manager plus discovery, isolation and the registry."""

    def __init__(self, plugins: Sequence[str] = (), *, autoload: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(_hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(_hookspecs)
        self.requested = [p for p in plugins if not p.startswith("no:")]
        self.blocked = {p[3:] for p in plugins if p.startswith("no:")}
        for bad in [p for p in self.blocked if not p]:
            raise UsageError(f"--plugin {bad!r}: write no:NAME to block the plugin NAME")
        self.autoload = (not _env_flag(ENV_DISABLE_AUTOLOAD)) if autoload is None else autoload
        self.trace = _env_flag(ENV_TRACE)
        self.infos: dict[str, PluginInfo] = {}
        self._modules: dict[str, object] = {}
        self._registry: Registry | None = None
        self._loaded = False

    # -- loading ---------------------------------------------------------------------------
    def _trace(self, message: str) -> None:
        if self.trace:
            print(f"[tvae trace {time.perf_counter():.4f}] {message}", file=sys.stderr)

    def _is_blocked(self, *names: str | None) -> bool:
        return any(n in self.blocked for n in names if n)

    def load(self) -> PluginManager:
        """Discover and import every plugin once; failures are recorded, not raised."""
        if self._loaded:
            return self
        self._loaded = True
        if self._is_blocked(BUILTINS_NAME):
            self.infos[BUILTINS_NAME] = PluginInfo(
                BUILTINS_NAME, "tvae_core._builtins", "builtin", "tvae-core", None, "blocked"
            )
        else:
            self._add(
                BUILTINS_NAME,
                "tvae_core._builtins",
                "builtin",
                "tvae-core",
                None,
                lambda: importlib.import_module("tvae_core._builtins"),
            )
        if self.autoload:
            for ep in self._entry_points():
                dist, version = ep.distribution, ep.version
                if ep.name in self.infos:
                    continue
                if self._is_blocked(ep.name, dist):
                    self.infos[ep.name] = PluginInfo(
                        ep.name, ep.value, "entry-point", dist, version, "blocked"
                    )
                    continue
                self._add(ep.name, ep.value, "entry-point", dist, version, ep.load)
        for spec in self.requested:
            self._add_requested(spec)
        return self

    @staticmethod
    def _entry_points() -> list[EntryPointRecord]:
        """Installed ``tvae.plugins`` entry points (first of each name), cached across runs."""
        return discover(ENTRY_POINT_GROUP)

    def _add_requested(self, spec: str) -> None:
        if spec.endswith(".py") or os.sep in spec or "/" in spec:
            path = Path(spec)
            name = path.stem
            if self._is_blocked(name):
                return
            if not path.is_file():
                raise UsageError(f"--plugin {spec}: no such file")

            def load_path() -> ModuleType:
                mod_name = f"tvae_plugin_{name}"
                module_spec = importlib.util.spec_from_file_location(mod_name, path)
                if module_spec is None or module_spec.loader is None:
                    raise ImportError(f"cannot import {path}")
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[mod_name] = module
                module_spec.loader.exec_module(module)
                return module

            self._add(name, str(path), "command-line", None, None, load_path)
        else:
            if self._is_blocked(spec):
                return
            if spec in self.infos and self.infos[spec].status == "loaded":
                return
            version = None
            self._add(
                spec, spec, "command-line", None, version, lambda: importlib.import_module(spec)
            )

    def add_plugin(
        self,
        name: str,
        loader: Callable[[], object],
        *,
        source: str = "object",
        module: str | None = None,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginInfo:
        """Load one more plugin through the same isolation as discovered ones.

        ``loader`` returns the plugin (a module or any object with hook implementations); a
        failure is recorded on the returned :class:`PluginInfo`, not raised. Call it before
        the registry is first used (:attr:`registry` is built once).
        """
        if self._registry is not None:
            raise PluginError(f"cannot add plugin {name!r}: the registry was already built")
        self.load()
        self._add(name, module or name, source, distribution, version, loader)
        return self.infos[name]

    def _add(
        self,
        name: str,
        module: str,
        source: str,
        dist: str | None,
        version: str | None,
        loader: Callable[[], object],
    ) -> None:
        info = PluginInfo(name, module, source, dist, version)
        self.infos[name] = info
        self._trace(f"import plugin {name!r} from {module}")
        try:
            obj = loader()
        except BaseException as exc:  # a plugin's import must never take the host down
            if isinstance(exc, KeyboardInterrupt):
                raise
            self._fail(info, f"import failed: {_describe(exc)}")
            return
        if info.version is None:
            info.version = getattr(obj, "__version__", None)
        try:
            self.pm.register(obj, name=name)
        except Exception as exc:
            self._fail(info, _describe(exc))
            return
        unknown = [
            caller.name for caller in (self.pm.get_hookcallers(obj) or []) if not caller.has_spec()
        ]
        if unknown:
            import difflib

            hints = []
            for hook in unknown:
                close = difflib.get_close_matches(
                    hook, [*HOOK_OF_KIND.values(), "tvae_add_commands"], n=1
                )
                hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            self.pm.unregister(obj)
            self._fail(info, f"unknown hook {', '.join(hints)}")
            return
        info.hooks = sorted(c.name for c in (self.pm.get_hookcallers(obj) or []))
        self._modules[name] = obj

    def _fail(self, info: PluginInfo, error: str) -> None:
        info.status = "failed"
        info.error = error
        self._trace(f"plugin {info.name!r} failed: {error}")

    # -- registry --------------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """The registry, built on first use by calling each plugin's registration hooks."""
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _build_registry(self) -> Registry:
        self.load()
        registry = Registry()
        for name, obj in list(self._modules.items()):
            info = self.infos[name]
            staged: list[Component] = []
            try:
                for kind in KINDS:
                    self._call_register_hook(obj, info, kind, staged)
            except Exception as exc:
                error = exc.args[0] if isinstance(exc, PluginError) else _describe(exc)
                self._fail(info, error)
                registry.failed.append(
                    FailedPlugin(
                        name,
                        info.distribution,
                        info.version,
                        error,
                        [(c.kind, c.name) for c in staged],
                    )
                )
                self.pm.unregister(obj)
                del self._modules[name]
                continue
            for component in staged:
                registry.add(component)
            info.components = [f"{c.kind}:{c.name}" for c in staged]
        for info in self.infos.values():
            if info.status == "failed" and not any(f.name == info.name for f in registry.failed):
                registry.failed.append(
                    FailedPlugin(info.name, info.distribution, info.version, info.error or "")
                )
        return registry

    def _call_register_hook(
        self, obj: object, info: PluginInfo, kind: str, staged: list[Component]
    ) -> None:
        hook_name = HOOK_OF_KIND[kind]
        impls = [i for i in getattr(self.pm.hook, hook_name).get_hookimpls() if i.plugin is obj]
        for impl in impls:

            def register(
                name: str,
                factory: Callable[..., Any] | str,
                *,
                description: str | None = None,
                settings: Any = None,
                _kind: str = kind,
            ) -> None:
                self._check_registration(info, _kind, name, factory, staged)
                staged.append(
                    Component(
                        _kind,
                        name,
                        info.name,
                        info.distribution,
                        info.version,
                        factory,
                        description,
                        settings,
                    )
                )

            self._trace(f"call {hook_name} of plugin {info.name!r}")
            kwargs = {arg: register for arg in impl.argnames}
            try:
                impl.function(**kwargs)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"{hook_name} raised {_describe(exc)}") from exc

    @staticmethod
    def _check_registration(
        info: PluginInfo, kind: str, name: object, factory: object, staged: list[Component]
    ) -> None:
        if not isinstance(name, str) or not name or ":" in name:
            raise PluginError(f"registered a {kind} with an invalid name {name!r}")
        if isinstance(factory, str):
            module, sep, attr = factory.partition(":")
            if not sep or not module or not attr:
                raise PluginError(
                    f"{kind} {name!r}: a lazy factory is written 'package.module:attribute', "
                    f"not {factory!r}"
                )
        elif not callable(factory):
            raise PluginError(
                f"{kind} {name!r}: factory {factory!r} is neither callable nor a string"
            )
        if any(c.kind == kind and c.name == name for c in staged):
            raise PluginError(f"registered {kind} {name!r} twice")

    # -- facade ----------------------------------------------------------------------------
    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not, after building the registry."""
        _ = self.registry
        return list(self.infos.values())

    def add_commands(self, app: object) -> None:
        """Let plugins add CLI sub-commands; a plugin that fails here is recorded, not fatal."""
        self.load()
        for impl in self.pm.hook.tvae_add_commands.get_hookimpls():
            try:
                impl.function(app=app)
            except Exception as exc:
                for name, obj in self._modules.items():
                    if obj is impl.plugin:
                        self._fail(self.infos[name], f"tvae_add_commands raised {_describe(exc)}")

    def versions(self) -> dict[str, str | None]:
        """Loaded plugin name -> version, for ``run.json`` and checkpoints."""
        _ = self.registry
        return {n: i.version for n, i in self.infos.items() if i.status == "loaded"}

    def failed(self) -> list[PluginInfo]:
        return [i for i in self.infos.values() if i.status == "failed"]


def installed_distributions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each distribution name (None when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
