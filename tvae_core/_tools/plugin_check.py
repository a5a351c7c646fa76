"""``tvae plugins check``: validate a plugin for its author and say how to fix what is wrong.

Each plugin is loaded alone (with the core's built-ins only), the way ``tvae`` loads it,
and checked in turn: the plugin module imports cheaply (no torch at module level), its
hooks are tvae hooks with the right arguments, each registered component imports, has a
description and a settings schema built from typed parameters, and behaves as its kind
requires on tiny fixtures: the kind's contract (:mod:`tvae_core._plugins.contracts`), the
same one a run applies, exercised through :func:`tvae_core.testing.conformance_problems`.
Findings are :class:`~tvae_core._plugins.contracts.Problem` records with a stable code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvae_core._errors import PluginError, UsageError, describe
from tvae_core._plugins.contracts import CONTRACTS, Problem, Severity
from tvae_core._plugins.discovery import EntryPointRecord, discover
from tvae_core._plugins.manager import ENTRY_POINT_GROUP, PluginManager
from tvae_core._plugins.registry import Component

#: Modules a plugin module must not import at module level (each costs ~1 s or more).
HEAVY_MODULES = ("torch", "geoopt", "matplotlib", "tensorboard")
#: Import time of a plugin module above which listing components feels slow.
IMPORT_BUDGET_S = 0.3


@dataclass
class Target:
    """A plugin to check and how to load it alone."""

    name: str
    specs: list[str]  # PluginManager specs loading it (and blocking the others)
    module: str | None = None  # the module to time in a fresh interpreter
    path: str | None = None  # or the .py file
    sys_path: list[str] = field(default_factory=list)
    autoload: bool = False  # entry points load as installed, with the others blocked
    distribution: str | None = None  # a project folder's, read from its pyproject
    version: str | None = None


@dataclass
class CheckReport:
    """What ``check_plugin`` found: ``ok`` when no problem is an error."""

    target: str
    plugins: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def add(self, severity: Severity, code: str, where: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(code, where, message, fix, severity))

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "ok": self.ok,
            "plugins": list(self.plugins),
            "passed": list(self.passed),
            "skipped": list(self.skipped),
            "problems": [
                {
                    "severity": p.severity,
                    "code": p.code,
                    "where": p.component,
                    "message": p.message,
                    "fix": p.hint,
                }
                for p in self.problems
            ],
        }

    def render(self) -> str:
        """Plain text for people: each passed check, skip and problem, then a verdict."""
        lines = [f"checking {self.target}: plugins {', '.join(self.plugins) or '(none)'}"]
        lines += [f"  ok       {line}" for line in self.passed]
        lines += [f"  skipped  {line}" for line in self.skipped]
        for p in self.problems:
            lines.append(f"  {p.severity:<8} {p.component}: {p.message}")
            if p.hint:
                lines.append(f"           fix: {p.hint}")
        n_err, n_warn = len(self.errors), len(self.warnings)
        verdict = "passed" if self.ok else "FAILED"
        lines.append(f"{verdict}: {n_err} error(s), {n_warn} warning(s)")
        return "\n".join(lines)


# -- finding what to check ---------------------------------------------------------------------
def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _from_entry_point(ep: EntryPointRecord, installed: list[EntryPointRecord]) -> Target:
    """Check ``ep`` alone: every other installed plugin is blocked."""
    blocked = [f"no:{other.name}" for other in installed if other.name != ep.name]
    return Target(ep.name, blocked, module=ep.value.partition(":")[0], autoload=True)


def _from_project(directory: Path, report: CheckReport) -> list[Target]:
    """Targets from a project folder's pyproject, importable from its ``src/`` without install."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    pyproject = directory / "pyproject.toml"
    try:
        meta = tomllib.loads(pyproject.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {pyproject}: {exc}", where="plugins check") from None
    project = meta.get("project", {})
    eps = project.get("entry-points", {}).get(ENTRY_POINT_GROUP, {})
    where = str(pyproject)
    if not eps:
        report.add(
            "error",
            "no-entry-point",
            where,
            f'declares no [project.entry-points."{ENTRY_POINT_GROUP}"]',
            f'add [project.entry-points."{ENTRY_POINT_GROUP}"] NAME = "package.plugin"',
        )
    deps = [str(d) for d in project.get("dependencies", [])]
    if not any(_norm(d).startswith("tvae-core") for d in deps):
        report.add(
            "warning",
            "no-core-dependency",
            where,
            "does not depend on tvae-core",
            'add "tvae-core>=0.1" to [project] dependencies',
        )
    for dep in deps:
        if _norm(dep).startswith("torch") and "==" in dep:
            report.add(
                "warning",
                "pinned-torch",
                where,
                f"pins {dep!r}; users' torch builds differ",
                'use a range such as "torch>=2.2,<3"',
            )
    src = directory / "src"
    root = str(src if src.is_dir() else directory)
    dist, version = project.get("name"), project.get("version")
    return [
        Target(
            name,
            [],
            module=value.partition(":")[0],
            sys_path=[root],
            distribution=str(dist) if dist else None,
            version=str(version) if version else None,
        )
        for name, value in eps.items()
    ]


def find_targets(spec: str | None, report: CheckReport) -> list[Target]:
    """Resolve ``spec``: None (every installed plugin), an entry-point or distribution name,
    a project folder, a ``.py`` file, or a module name."""
    eps = discover(ENTRY_POINT_GROUP)  # the plugins a run would load
    if spec is None:
        return [_from_entry_point(ep, eps) for ep in eps]
    path = Path(spec)
    if path.is_dir() and (path / "pyproject.toml").is_file():
        return _from_project(path, report)
    if spec.endswith(".py"):
        if not path.is_file():
            raise UsageError("no such file", where=f"plugins check {spec}")
        return [Target(path.stem, [str(path)], path=str(path))]
    by_name = [ep for ep in eps if ep.name == spec]
    by_dist = [ep for ep in eps if ep.distribution and _norm(ep.distribution) == _norm(spec)]
    if by_name or by_dist:
        return [_from_entry_point(ep, eps) for ep in (by_name or by_dist)]
    try:
        found = importlib.util.find_spec(spec)
    except (ImportError, ValueError):
        found = None
    if found is not None:
        return [Target(spec, [spec], module=spec)]
    names = ", ".join(sorted(ep.name for ep in eps)) or "none installed"
    raise UsageError(
        f"no plugin, distribution, project folder, .py file or module named {spec!r} "
        f"(installed plugins: {names})",
        where="plugins check",
    )


@contextmanager
def _extra_sys_path(paths: list[str]) -> Iterator[None]:
    added = [p for p in paths if p not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for p in added:
            if p in sys.path:
                sys.path.remove(p)


# -- the checks --------------------------------------------------------------------------------
_IMPORT_PROBE = """
import importlib, json, runpy, sys, time
import tvae_core
target, kind = sys.argv[1], sys.argv[2]
before = set(sys.modules)
start = time.perf_counter()
error = None
try:
    runpy.run_path(target) if kind == "path" else importlib.import_module(target)
except BaseException as exc:
    error = f"{type(exc).__name__}: {exc}"
elapsed = time.perf_counter() - start
heavy = sorted({m.split('.')[0] for m in set(sys.modules) - before} & set(sys.argv[3].split(',')))
print(json.dumps({"seconds": elapsed, "heavy": heavy, "error": error}))
"""


def _check_import_cost(target: Target, where: str, report: CheckReport) -> None:
    if target.module is None and target.path is None:
        return
    what, kind = (target.path, "path") if target.path else (target.module, "module")
    env = dict(os.environ)
    if target.sys_path:
        env["PYTHONPATH"] = os.pathsep.join([*target.sys_path, env.get("PYTHONPATH", "")])
    try:
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE, str(what), kind, ",".join(HEAVY_MODULES)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        report.skipped.append(f"{where}: import cost (the probe did not run)")
        return
    if result["error"]:
        return  # reported by the load check with the same message
    if result["heavy"]:
        report.add(
            "error",
            "heavy-import",
            where,
            f"importing {what} imports {', '.join(result['heavy'])} at module level, "
            "which slows `tvae list` for everyone",
            "register factories as lazy 'package.module:Class' strings and import heavy "
            "modules inside the component modules or functions",
        )
    elif result["seconds"] > IMPORT_BUDGET_S:
        report.add(
            "warning",
            "slow-import",
            where,
            f"importing {what} takes {result['seconds']:.2f} s (budget {IMPORT_BUDGET_S} s)",
            "move slow imports out of the plugin module",
        )
    else:
        report.passed.append(
            f"{where}: imports in {result['seconds'] * 1000:.0f} ms without heavy modules"
        )


#: How to fix each way a plugin fails to load (``PluginInfo.error_code``).
LOAD_FIXES = {
    "import-failed": "fix the import error; `python -c 'import MODULE'` shows the traceback",
    "unknown-hook": "rename the function to a tvae hook (tvae_register_<kind>s or tvae_add_commands)",
    "bad-signature": "a registration hook takes exactly one argument named `register` "
    "(`app` for tvae_add_commands)",
    "bad-factory": "write lazy factories as 'package.module:attribute'",
    "registered-twice": "give each component of a kind its own name",
    "invalid-name": "name components with letters, digits and '_' (no ':')",
}
#: Kinds whose conformance needs fixtures that fit: an exception there is a warning only.
_NEEDS_FITTING_FIXTURES = ("model", "loss", "metric", "callback")


def _unwritable_settings(schema: Any) -> list[str]:
    """Settings whose type has no JSON form, so a YAML/TOML config cannot give them."""
    from pydantic import TypeAdapter

    out = []
    for name, info in schema.model_fields.items():
        try:
            TypeAdapter(info.annotation).json_schema()
        except Exception:
            out.append(name)
    return out


def _check_component(component: Component, report: CheckReport) -> None:
    import inspect

    where = component.label
    add = report.add
    if component.name != component.name.lower() or "-" in component.name or " " in component.name:
        add(
            "warning",
            "name-style",
            where,
            "component names are lowercase snake_case by convention",
            f"register it as {component.name.lower().replace('-', '_').replace(' ', '_')!r}",
        )
    if isinstance(component.factory_ref, str) and component.description_given is None:
        add(
            "warning",
            "no-description",
            where,
            "lazy factory without a description: `tvae list` must import it",
            "pass description='one line' to register()",
        )
    try:
        factory = component.load()
    except PluginError as exc:
        add(
            "error",
            "import-failed",
            where,
            exc.message,
            "check the 'package.module:attribute' string",
        )
        return
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        params = []
    rules = CONTRACTS[component.kind]
    params = params[len(rules.leading) :]
    untyped = [
        p.name
        for p in params
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and p.annotation is inspect.Parameter.empty
    ]
    if untyped:
        add(
            "warning",
            "untyped-settings",
            where,
            f"settings without a type hint accept anything: {', '.join(untyped)}",
            "annotate each parameter (int, float, str, Literal[...]) so configs are checked",
        )
    if any(p.kind == p.VAR_KEYWORD for p in params):
        add(
            "warning",
            "var-keyword",
            where,
            "**kwargs are never filled from a config (unknown keys are rejected)",
            "list each setting as a named parameter",
        )
    try:
        schema = component.settings_model()
    except Exception as exc:
        add(
            "error",
            "settings-schema",
            where,
            f"no settings schema: {describe(exc)}",
            "give parameters types pydantic understands, or pass settings= to register()",
        )
        return
    unwritable = _unwritable_settings(schema)
    if unwritable:
        add(
            "warning",
            "unwritable-settings",
            where,
            f"settings that no config file can hold: {', '.join(unwritable)}",
            "keep programmatic arguments (modules, optimizers) out of the registered "
            "factory: register a function or subclass without them",
        )
    filled = rules.context
    required = [
        n
        for n, f in schema.model_fields.items()
        if f.is_required() and filled is not None and n not in filled
    ]
    if required:
        report.skipped.append(
            f"{where}: conformance (settings without defaults: {', '.join(required)}); "
            "test it with tvae_core.testing.check_component and real settings"
        )
        return
    from tvae_core.testing import conformance_problems

    built, problems = conformance_problems(component.kind, component, {})
    if component.kind == "metric" and built is not None and not hasattr(built, "higher_is_better"):
        add(
            "warning",
            "direction-undeclared",
            where,
            "declares no higher_is_better: summary.json takes every value as higher-is-better",
            "set higher_is_better (a bool, or a mapping per returned key; None for constants)",
        )
    if not problems:
        report.passed.append(f"{where}: imports, settings schema, {component.kind} interface")
    for problem in problems:
        if problem.severity == "skip":
            report.skipped.append(f"{where}: conformance ({problem.message}; {problem.hint})")
        elif problem.code == "raised" and component.kind in _NEEDS_FITTING_FIXTURES:
            add(
                "warning",
                "not-exercised",
                where,
                f"could not be exercised on the tiny fixtures: {problem.message}",
                "test it with tvae_core.testing.check_component(..., model=..., dataset=...)",
            )
        else:
            report.problems.append(
                Problem(
                    problem.code,
                    where,
                    problem.message,
                    problem.hint or "see the component interfaces in the plugin guide",
                    problem.severity,
                )
            )


def _check_target(target: Target, report: CheckReport) -> None:
    with _extra_sys_path(target.sys_path):
        try:
            pm = PluginManager(target.specs, autoload=target.autoload)
            if target.sys_path and target.module is not None:
                # A project folder: load its module under its entry-point name, uninstalled.
                module = target.module
                pm.add_plugin(
                    target.name,
                    lambda: importlib.import_module(module),
                    source="project",
                    module=module,
                    distribution=target.distribution,
                    version=target.version,
                )
            plugins = pm.plugins()
        except Exception as exc:  # a usage error from a spec, or worse
            report.add(
                "error",
                "load-failed",
                f"plugin {target.name!r}",
                f"cannot be loaded: {describe(exc)}",
            )
            return
        info = next((i for i in plugins if i.name in (target.name, *target.specs)), None)
        if info is None:
            report.add(
                "error",
                "not-loaded",
                f"plugin {target.name!r}",
                "was not loaded (blocked or not found)",
            )
            return
        report.plugins.append(info.name)
        where = f"plugin {info.name!r}"
        if info.status == "failed":
            error = info.error or "unknown error"
            code = info.error_code or "load-failed"
            fix = LOAD_FIXES.get(code, "see the hook reference in the docs")
            report.add("error", code, where, error.strip().splitlines()[0], fix)
            return
        if not info.hooks:
            report.add(
                "warning",
                "no-hooks",
                where,
                "implements no tvae hook",
                "decorate functions named after tvae hooks with tvae_core.hookimpl",
            )
            return
        report.passed.append(f"{where}: loads; hooks {', '.join(info.hooks)}")
        _check_import_cost(target, where, report)
        for component in pm.registry.all():
            if component.plugin == info.name:
                _check_component(component, report)


def check_plugin(spec: str | None = None) -> CheckReport:
    """Check one plugin (or every installed one when ``spec`` is None) and report problems.

    ``spec`` is an entry-point name (``centroid``), a distribution name (``tvae-centroid``),
    a plugin project folder (checked from its ``src/`` without installing it), a ``.py``
    file or a module name. Raises :class:`tvae_core.UsageError` when nothing matches.
    """
    import logging

    report = CheckReport(target=spec or "all installed plugins")
    targets = find_targets(spec, report)
    # Tiny runs of logging callbacks would print every epoch; the report says what matters.
    previous = logging.root.manager.disable
    logging.disable(logging.INFO)
    try:
        for target in targets:
            _check_target(target, report)
    finally:
        logging.disable(previous)
    return report
