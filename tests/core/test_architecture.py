"""The core's import graph: no cycle, and every import goes to the same layer or one below.

Every import counts: at module level, under ``TYPE_CHECKING`` and inside functions. An
import of a package's submodule (``from tvae_core._engine import faults``) is an edge to the
submodule; the package's ``__init__`` runs first for any import and is not an edge.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import tvae_core

ROOT = Path(tvae_core.__file__).parent

#: The layers, lowest first. A module may import its own layer and the ones before it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("tvae_core._errors", "tvae_core._version", "tvae_core._lazy", "tvae_core.logging")),
    ("config", ("tvae_core._config",)),
    ("plugins", ("tvae_core._plugins",)),
    ("run folder", ("tvae_core._run",)),
    ("engine", ("tvae_core._engine",)),
    # Sweeps and evaluate drive whole Trainer runs and read run folders back: they use the
    # engine and the run folder, and nothing below them may know of them (the sweep hook
    # takes its Sweep untyped for that reason).
    ("experiments", ("tvae_core._experiments",)),
    ("testing", ("tvae_core.testing",)),
    ("tools", ("tvae_core._tools",)),
    ("cli", ("tvae_core.cli", "tvae_core.__main__")),
    ("public", ("tvae_core", "tvae_core._builtin_components")),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _target(name: str) -> str | None:
    """The core module ``name`` refers to (a module, or the package holding an attribute)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return {t for t in map(_target, found) if t is not None and t != module}


GRAPH = {m: _imports(m) for m in MODULES}


def _layer(module: str) -> int:
    best = -1, -1  # (length of the matching prefix, layer index)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = len(prefix), index
    assert best[1] >= 0, f"{module} belongs to no layer; add it to LAYERS"
    return best[1]


def test_the_graph_sees_the_imports_it_should() -> None:
    assert "tvae_core._plugins.interfaces" in GRAPH["tvae_core._engine.trainer"]
    # TYPE_CHECKING and function-level imports are edges too.
    assert "tvae_core._config.schema" in GRAPH["tvae_core._plugins.interfaces"]
    assert "tvae_core._config.settings" in GRAPH["tvae_core._plugins.registry"]


def test_the_core_has_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_every_import_goes_to_its_own_layer_or_below() -> None:
    upward = [
        f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
        for m, targets in GRAPH.items()
        for t in targets
        if _layer(t) > _layer(m)
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize(
    "package",
    [
        "tvae_core._config",
        "tvae_core._plugins",
        "tvae_core._run",
        "tvae_core._engine",
        "tvae_core._experiments",
    ],
)
def test_importing_a_layer_package_imports_no_torch(package: str) -> None:
    probe = f"import sys, {package}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_public_names_all_resolve() -> None:
    for module in ("tvae_core", "tvae_core.testing"):
        mod = importlib.import_module(module)
        missing = [n for n in mod.__all__ if not hasattr(mod, n)]
        assert not missing, f"{module}: {missing}"
