"""Finding, loading and isolating plugins; building the registry from their hooks.

Sources of plugins, in load order: the core's built-ins (plugin ``builtins``), the
``tvae.plugins`` entry points of installed distributions (unless
``TVAE_DISABLE_PLUGIN_AUTOLOAD`` is set), then ``--plugin`` names (a module or a ``.py``
path). ``--plugin no:NAME`` blocks a plugin (by plugin or distribution name) before it is
imported. A distribution whose ``tvae-core`` requirement the running core does not meet is
marked ``incompatible`` and never imported. A plugin that fails to import, declares a hook
tvae does not know, has a bad hook signature, or raises or registers badly inside a hook is
recorded as failed with its error, and every other plugin keeps working.

A plugin has one identity however it is loaded: a module that an installed distribution
declares as an entry point (``--plugin tvae_lorentz.plugin``, ``plugin_manager(module)``)
takes that entry point's name, distribution and version.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from tvae_core._errors import PluginError, UsageError, describe
from tvae_core._plugins import hookspecs
from tvae_core._plugins.contracts import HOOK_OF_KIND, KINDS
from tvae_core._plugins.discovery import (
    COMMANDS_GROUP,
    CORE_DISTRIBUTION,
    ENV_DISABLE_AUTOLOAD,
    PLUGINS_GROUP,
    EntryPointRecord,
    discover,
    discover_groups,
    env_flag,
    incompatibility,
)
from tvae_core._plugins.registry import Component, PluginInfo, Preset, Registry
from tvae_core._version import __version__

ENTRY_POINT_GROUP = PLUGINS_GROUP
BUILTINS_NAME = "builtins"
BUILTINS_MODULE = "tvae_core._plugins.builtins"
ENV_TRACE = "TVAE_TRACE_PLUGINS"
#: The hooks that register something, besides the component kinds'.
OTHER_HOOKS = ("tvae_register_presets", "tvae_add_commands")


def is_path_spec(spec: str) -> bool:
    """Whether a ``--plugin`` value names a file (``.py``, or anything with a slash)."""
    return spec.endswith(".py") or os.sep in spec or "/" in spec


def _plugin_entry_points() -> list[EntryPointRecord]:
    return discover(PLUGINS_GROUP)


class PluginManager:
    """tvae's plugin manager: a pluggy manager plus discovery, isolation and the registry."""

    def __init__(self, plugins: Sequence[str] = (), *, autoload: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.specs = list(plugins)
        self.requested = [p for p in plugins if not p.startswith("no:")]
        for blocked in (p[3:] for p in plugins if p.startswith("no:")):
            if not blocked:
                raise UsageError(
                    "a bare 'no:'", where="--plugin", hint="write no:NAME to block the plugin NAME"
                )
            self.pm.set_blocked(blocked)
        self.autoload = (not env_flag(ENV_DISABLE_AUTOLOAD)) if autoload is None else autoload
        self.trace = env_flag(ENV_TRACE)
        self.infos: dict[str, PluginInfo] = {}
        self._modules: dict[str, object] = {}
        self._registry: Registry | None = None
        self._records: list[EntryPointRecord] | None = None
        self._scan: dict[str, list[EntryPointRecord]] | None = None
        self._loaded = False
        self._requested_loaded = False

    # -- discovery -------------------------------------------------------------------------
    def _trace(self, message: str) -> None:
        if self.trace:
            print(f"[tvae trace {time.perf_counter():.4f}] {message}", file=sys.stderr)

    def is_blocked(self, *names: str | None) -> bool:
        """Blocked by ``--plugin no:NAME``, under its plugin or its distribution name."""
        return any(self.pm.is_blocked(n) for n in names if n)

    #: Installed ``tvae.plugins`` entry points (first of each name); tests replace it.
    _entry_points = staticmethod(_plugin_entry_points)

    def _scanned(self) -> dict[str, list[EntryPointRecord]]:
        """Both entry-point groups, from one reading of the installed distributions."""
        if self._scan is None:
            self._scan = discover_groups({PLUGINS_GROUP: False, COMMANDS_GROUP: True})
        return self._scan

    def _command_entry_points(self) -> list[EntryPointRecord]:
        """Installed ``tvae.commands`` entry points (first of each name per distribution)."""
        return self._scanned()[COMMANDS_GROUP]

    def entry_points(self) -> list[EntryPointRecord]:
        """The installed plugins' entry points, read once per manager."""
        if self._records is None:
            if type(self)._entry_points is _plugin_entry_points:  # read with the commands
                self._records = self._scanned()[PLUGINS_GROUP]
            else:
                self._records = self._entry_points()
        return self._records

    def identity(self, module: str) -> EntryPointRecord | None:
        """The installed entry point whose plugin module is ``module``, if any."""
        return next((r for r in self.entry_points() if r.module == module), None)

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> PluginManager:
        """Discover and import every plugin once; failures are recorded, not raised."""
        if self._loaded:
            return self
        self._loaded = True
        if self.is_blocked(BUILTINS_NAME):
            self.infos[BUILTINS_NAME] = PluginInfo(
                BUILTINS_NAME, BUILTINS_MODULE, "builtin", CORE_DISTRIBUTION, __version__, "blocked"
            )
        else:
            self._add(
                BUILTINS_NAME,
                BUILTINS_MODULE,
                "builtin",
                CORE_DISTRIBUTION,
                __version__,
                lambda: importlib.import_module(BUILTINS_MODULE),
            )
        if self.autoload:
            for ep in self.entry_points():
                if ep.name in self.infos:
                    continue
                if self.is_blocked(ep.name, ep.distribution):
                    self.infos[ep.name] = PluginInfo(
                        ep.name, ep.module, "entry-point", ep.distribution, ep.version, "blocked"
                    )
                    continue
                self._add(
                    ep.name,
                    ep.module,
                    "entry-point",
                    ep.distribution,
                    ep.version,
                    ep.load,
                    requires=ep.requires_core,
                )
        self.load_requested()
        return self

    def load_requested(self) -> PluginManager:
        """Import only the ``--plugin`` ones (the CLI asks them for commands at start-up)."""
        if not self._requested_loaded:
            self._requested_loaded = True
            for spec in self.requested:
                self._add_requested(spec)
        return self

    def _add_requested(self, spec: str) -> None:
        if is_path_spec(spec):
            path = Path(spec)
            name = path.stem
            if self.is_blocked(name):
                return
            if not path.is_file():
                raise UsageError("no such file", where=f"--plugin {spec}")
            self._add(name, str(path), "command-line", None, None, lambda: _import_path(path))
            return
        record = self.identity(spec)
        name = record.name if record is not None else spec
        if self.is_blocked(spec, name, record.distribution if record else None):
            return
        if name in self.infos and self.infos[name].status in ("loaded", "incompatible"):
            return  # already loaded as installed, under its entry point's name
        self._add(
            name,
            spec,
            "command-line",
            record.distribution if record else None,
            record.version if record else None,
            lambda: importlib.import_module(spec),
            requires=record.requires_core if record else "",
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
        failure is recorded on the returned :class:`PluginInfo`, not raised. A ``module``
        that an installed distribution declares as an entry point gives the plugin that
        entry point's name, distribution and version. Call it before the registry is first
        used (:attr:`registry` is built once).
        """
        if self._registry is not None:
            raise PluginError(
                f"cannot add plugin {name!r}: the registry was already built",
                hint="add plugins before the first use of .registry",
            )
        self.load()
        record = self.identity(module) if module else None
        requires = ""
        if record is not None and distribution is None:
            if record.name in self.infos and self.infos[record.name].status == "loaded":
                return self.infos[record.name]
            name, distribution, version = record.name, record.distribution, record.version
            requires = record.requires_core
        self._add(name, module or name, source, distribution, version, loader, requires=requires)
        return self.infos[name]

    def _add(
        self,
        name: str,
        module: str,
        source: str,
        dist: str | None,
        version: str | None,
        loader: Callable[[], object],
        *,
        requires: str = "",
    ) -> None:
        info = PluginInfo(name, module, source, dist, version, requires_core=requires)
        self.infos[name] = info
        problem = incompatibility(requires, dist)
        if (
            problem is not None
        ):  # refused before its import: it may need a newer torch, a newer core...
            info.status = "incompatible"
            info.error, info.fix = problem
            info.error_code = "incompatible"
            self._trace(f"plugin {name!r} is incompatible: {info.error}")
            return
        self._trace(f"import plugin {name!r} from {module}")
        try:
            # a plugin that prints at import must not break --json output: its text goes to stderr
            with contextlib.redirect_stdout(sys.stderr):
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
                close = difflib.get_close_matches(hook, [*HOOK_OF_KIND.values(), *OTHER_HOOKS], n=1)
                hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            self.pm.unregister(obj)
            self._fail(info, f"unknown hook {', '.join(hints)}", "unknown-hook")
            return
        info.hooks = sorted(c.name for c in (self.pm.get_hookcallers(obj) or []))
        if "tvae_add_commands" in info.hooks and source == "entry-point":
            info.notes.append(
                "tvae_add_commands of an installed plugin is not called (it would import every "
                "plugin at every start); declare its commands under "
                f'[project.entry-points."{COMMANDS_GROUP}"]'
            )
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
        order = {name: i for i, name in enumerate(self.infos)}
        for name, obj in list(self._modules.items()):
            info = self.infos[name]
            staged: list[Component] = []
            presets: list[Preset] = []
            try:
                for kind in KINDS:
                    self._call_register_hook(obj, info, kind, staged, order[name])
                self._call_preset_hook(obj, info, presets, order[name])
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
            for preset in presets:
                registry.add_preset(preset)
            info.components = [f"{c.kind}:{c.name}" for c in staged]
            info.components += [f"preset:{p.name}" for p in presets]
        registry.failed = [i for i in self.infos.values() if i.status == "failed"]
        self._note_clashes(registry)
        return registry

    def _note_clashes(self, registry: Registry) -> None:
        for (kind, name), group in registry.clashes().items():
            first = group[0]
            for other in group[1:]:
                self.infos[other.plugin].notes.append(
                    f"{kind} {name!r} is also {first.origin}'s, which an unqualified "
                    f"{name!r} keeps meaning; write {other.qualified_name!r} for this one"
                )
            others = ", ".join(repr(o.qualified_name) for o in group[1:])
            self.infos[first.plugin].notes.append(
                f"{kind} {name!r} is also registered as {others}; {name!r} still means this one"
            )

    def _staging_register(
        self, info: PluginInfo, kind: str, staged: list[Component], index: int
    ) -> Callable[..., None]:
        def register(
            name: str,
            factory: Callable[..., Any] | str,
            *,
            description: str | None = None,
            settings: Any = None,
            higher_is_better: Any = None,
        ) -> None:
            self._check_registration(info, kind, name, factory, staged)
            self._check_direction(kind, name, higher_is_better)
            staged.append(
                Component(
                    kind,
                    name,
                    info.name,
                    info.distribution,
                    info.version,
                    factory,
                    description,
                    settings,
                    higher_is_better,
                    source=info.source,
                    load_index=index,
                )
            )

        return register

    def _call_hook(self, obj: object, info: PluginInfo, hook_name: str, register: Any) -> None:
        impls = [i for i in getattr(self.pm.hook, hook_name).get_hookimpls() if i.plugin is obj]
        for impl in impls:
            self._trace(f"call {hook_name} of plugin {info.name!r}")
            kwargs = {arg: register for arg in impl.argnames}
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    impl.function(**kwargs)
            except PluginError:
                raise
            except SystemExit as exc:  # it must not end the host's command (tvae list, ...)
                raise PluginError(
                    f"{hook_name} called sys.exit({exc.code!r})", code="hook-raised"
                ) from None
            except Exception as exc:
                raise PluginError(
                    f"{hook_name} raised {describe(exc)}", code="hook-raised"
                ) from exc

    def _call_register_hook(
        self, obj: object, info: PluginInfo, kind: str, staged: list[Component], index: int
    ) -> None:
        register = self._staging_register(info, kind, staged, index)
        self._call_hook(obj, info, HOOK_OF_KIND[kind], register)

    def _call_preset_hook(
        self, obj: object, info: PluginInfo, presets: list[Preset], index: int
    ) -> None:
        def register(name: str, config: Any, *, description: str | None = None) -> None:
            if not isinstance(name, str) or not name or ":" in name:
                raise PluginError(
                    f"registered a preset with an invalid name {name!r}", code="invalid-name"
                )
            if not isinstance(config, (str, dict)):
                raise PluginError(
                    "a preset is 'package:file.yaml' (a file in the package) or a dict, "
                    f"not {type(config).__name__}",
                    where=f"preset {name!r}",
                    code="bad-factory",
                )
            if any(p.name == name for p in presets):
                raise PluginError(f"registered preset {name!r} twice", code="registered-twice")
            presets.append(
                Preset(
                    name,
                    info.name,
                    info.distribution,
                    info.version,
                    config,
                    description,
                    source=info.source,
                    load_index=index,
                )
            )

        self._call_hook(obj, info, "tvae_register_presets", register)

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

    @staticmethod
    def _check_direction(kind: str, name: str, declared: object) -> None:
        """``higher_is_better`` at registration: metrics only; a bool or ``{key: bool | None}``."""
        if declared is None:
            return
        where = f"{kind} {name!r}"
        if kind != "metric":
            raise PluginError(
                "higher_is_better is given only when registering a metric",
                where=where,
                code="bad-factory",
            )
        ok = isinstance(declared, bool) or (
            isinstance(declared, Mapping)
            and all(
                isinstance(k, str) and k and (v is None or isinstance(v, bool))
                for k, v in declared.items()
            )
        )
        if not ok:
            raise PluginError(
                f"higher_is_better is {type(declared).__name__}, not a bool or a mapping of "
                "each returned key to True, False or None",
                where=where,
                code="bad-factory",
            )

    # -- commands --------------------------------------------------------------------------
    def command_hooks(self) -> list[tuple[PluginInfo, Callable[..., Any]]]:
        """The ``tvae_add_commands`` hooks of the ``--plugin`` plugins (imported for this).

        Installed plugins declare commands as ``tvae.commands`` entry points instead, which
        are found without importing them (:mod:`tvae_core._plugins.commands`).
        """
        self.load_requested()
        out = []
        for impl in self.pm.hook.tvae_add_commands.get_hookimpls():
            info = next((self.infos[n] for n, o in self._modules.items() if o is impl.plugin), None)
            if info is not None and info.source != "entry-point":
                out.append((info, impl.function))
        return out

    # -- facade ----------------------------------------------------------------------------
    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or not, after building the registry."""
        _ = self.registry
        return list(self.infos.values())

    def versions(self) -> dict[str, str | None]:
        """Loaded plugin name -> version, for ``run.json`` and checkpoints."""
        _ = self.registry
        return {n: i.version for n, i in self.infos.items() if i.status == "loaded"}

    def failed(self) -> list[PluginInfo]:
        """Plugins that failed to load or register (incompatible ones are not failures)."""
        return [i for i in self.infos.values() if i.status == "failed"]


#: Modules this process imported from ``--plugin file.py`` paths (they may be imported again).
_FROM_PATHS: set[str] = set()


def _module_name_for(path: Path) -> str:
    """``file`` for ``file.py``, unless another module goes by that name."""
    stem = path.stem
    if not stem.isidentifier():
        return f"tvae_plugin_{stem}"
    if stem in sys.modules:
        return stem if stem in _FROM_PATHS else f"tvae_plugin_{stem}"
    try:
        found = importlib.util.find_spec(stem)
    except (ImportError, ValueError):
        found = None
    if found is not None and found.origin and Path(found.origin).resolve() != path.resolve():
        return f"tvae_plugin_{stem}"
    return stem


def _import_path(path: Path) -> ModuleType:
    """Import a ``--plugin file.py`` as the module ``file``, so ``"file:Class"`` resolves.

    When another module already has that name (an installed package, the standard library),
    the file is imported as ``tvae_plugin_<file>`` instead, and lazy strings name that.
    """
    name = _module_name_for(path)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    _FROM_PATHS.add(name)
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


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
