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
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from tvae_core._errors import PluginError, UsageError, describe
from tvae_core._plugins import hookspecs
from tvae_core._plugins.contracts import HOOK_OF_KIND, KINDS
from tvae_core._plugins.discovery import EntryPointRecord, discover
from tvae_core._plugins.registry import Component, PluginInfo, Registry
from tvae_core._version import __version__

ENTRY_POINT_GROUP = "tvae.plugins"
BUILTINS_NAME = "builtins"
BUILTINS_MODULE = "tvae_core._plugins.builtins"
ENV_DISABLE_AUTOLOAD = "TVAE_DISABLE_PLUGIN_AUTOLOAD"
ENV_TRACE = "TVAE_TRACE_PLUGINS"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


class PluginManager:
    """tvae's plugin manager: a pluggy manager plus discovery, isolation and the registry."""

    def __init__(self, plugins: Sequence[str] = (), *, autoload: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.requested = [p for p in plugins if not p.startswith("no:")]
        for blocked in (p[3:] for p in plugins if p.startswith("no:")):
            if not blocked:
                raise UsageError(
                    "a bare 'no:'", where="--plugin", hint="write no:NAME to block the plugin NAME"
                )
            self.pm.set_blocked(blocked)
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
        """Blocked by ``--plugin no:NAME``, under its plugin or its distribution name."""
        return any(self.pm.is_blocked(n) for n in names if n)

    def load(self) -> PluginManager:
        """Discover and import every plugin once; failures are recorded, not raised."""
        if self._loaded:
            return self
        self._loaded = True
        if self._is_blocked(BUILTINS_NAME):
            self.infos[BUILTINS_NAME] = PluginInfo(
                BUILTINS_NAME, BUILTINS_MODULE, "builtin", "tvae-core", __version__, "blocked"
            )
        else:
            self._add(
                BUILTINS_NAME,
                BUILTINS_MODULE,
                "builtin",
                "tvae-core",
                __version__,
                lambda: importlib.import_module(BUILTINS_MODULE),
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
        """Installed ``tvae.plugins`` entry points (first of each name)."""
        return discover(ENTRY_POINT_GROUP)

    def _add_requested(self, spec: str) -> None:
        if spec.endswith(".py") or os.sep in spec or "/" in spec:
            path = Path(spec)
            name = path.stem
            if self._is_blocked(name):
                return
            if not path.is_file():
                raise UsageError("no such file", where=f"--plugin {spec}")

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
            raise PluginError(
                f"cannot add plugin {name!r}: the registry was already built",
                hint="add plugins before the first use of .registry",
            )
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
            self._fail(info, f"import failed: {describe(exc)}", "import-failed")
            return
        if info.version is None:
            info.version = getattr(obj, "__version__", None)
        try:
            if self.pm.register(obj, name=name) is None:  # blocked (pluggy's own check)
                info.status = "blocked"
                return
        except Exception as exc:
            self._fail(info, describe(exc), "bad-signature")
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
            self._fail(info, f"unknown hook {', '.join(hints)}", "unknown-hook")
            return
        info.hooks = sorted(c.name for c in (self.pm.get_hookcallers(obj) or []))
        self._modules[name] = obj

    def _fail(self, info: PluginInfo, error: str, code: str) -> None:
        info.status = "failed"
        info.error = error
        info.error_code = code
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
                if isinstance(exc, PluginError):
                    self._fail(info, str(exc), exc.code or "hook-raised")
                else:
                    self._fail(info, describe(exc), "hook-raised")
                info.registered_before_failure = [(c.kind, c.name) for c in staged]
                self.pm.unregister(obj)
                del self._modules[name]
                continue
            for component in staged:
                registry.add(component)
            info.components = [f"{c.kind}:{c.name}" for c in staged]
        registry.failed = [i for i in self.infos.values() if i.status == "failed"]
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
                raise PluginError(
                    f"{hook_name} raised {describe(exc)}", code="hook-raised"
                ) from exc

    @staticmethod
    def _check_registration(
        info: PluginInfo, kind: str, name: object, factory: object, staged: list[Component]
    ) -> None:
        if not isinstance(name, str) or not name or ":" in name:
            raise PluginError(
                f"registered a {kind} with an invalid name {name!r}", code="invalid-name"
            )
        if isinstance(factory, str):
            module, sep, attr = factory.partition(":")
            if not sep or not module or not attr:
                raise PluginError(
                    f"a lazy factory is written 'package.module:attribute', not {factory!r}",
                    where=f"{kind} {name!r}",
                    code="bad-factory",
                )
        elif not callable(factory):
            raise PluginError(
                f"factory {factory!r} is neither callable nor a string",
                where=f"{kind} {name!r}",
                code="bad-factory",
            )
        if any(c.kind == kind and c.name == name for c in staged):
            raise PluginError(f"registered {kind} {name!r} twice", code="registered-twice")

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
                        self._fail(
                            self.infos[name],
                            f"tvae_add_commands raised {describe(exc)}",
                            "hook-raised",
                        )

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
