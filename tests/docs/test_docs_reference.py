"""The generated reference pages (docs/gen_reference.py) cover the code, and the site builds."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.docs.blocks import ROOT
from tvae_core import KINDS, hookimpl
from tvae_core.testing import plugin_manager, tiny_plugin


def _gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_reference", ROOT / "docs" / "gen_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hook_reference_documents_every_hookspec() -> None:
    from tvae_core._plugins import hookspecs as _hookspecs

    text = _gen().hooks_markdown()
    hooks = [name for name in vars(_hookspecs) if name.startswith("tvae_")]
    # seven kinds, presets, commands, and the sweep search
    assert len(hooks) == 10, hooks
    for name in hooks:
        assert f"## `{name}`" in text
        assert f"def {name}(" in text
    assert "Called once, when the registry is built" in text


class _Documented:
    __name__ = "documented"

    @hookimpl
    def tvae_register_losses(self, register: Any) -> None:
        register("documented_loss", "tvae_core.testing:TinyKL", description="A documented loss")


def test_component_reference_lists_each_component_with_its_settings() -> None:
    pm = plugin_manager(tiny_plugin, _Documented())
    text = _gen().components_markdown(pm)
    for kind in KINDS:
        assert f"## {'Losses' if kind == 'loss' else kind.capitalize() + 's'}" in text
    assert "### `tiny_ternary` {#dataset-tiny-ternary}" in text
    assert (
        "| `n_trits` | `int` | `3` | trits per operation (1..8; keep it small in tests). |" in text
    )
    assert "| `lr` | `float` | `0.001` | learning rate. |" in text
    assert "A documented loss" in text and "*loss from plugin `documented`" in text


def test_cli_reference_shows_each_command_help() -> None:
    text = _gen().cli_markdown()
    for command in ("run", "list", "show", "validate", "config", "export", "plugins"):
        assert f"## `tvae {command}`" in text
    assert "--set" in text and "╭" not in text  # plain help, not terminal panels
    # every command's help option reads as the command line prints it: -h, --help
    helps = [
        line for line in text.splitlines() if line.strip().endswith("Show this message and exit.")
    ]
    assert helps and all(line.strip().startswith("-h, --help") for line in helps)


def test_script_writes_the_pages(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "gen_reference.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env={"TVAE_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": ""},
    )
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "reference").iterdir()) == [
        "cli.md",
        "components.md",
        "hooks.md",
    ]


@pytest.mark.slow  # imports every installed plugin's components and renders the site
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -r docs/requirements.txt)")
    out = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "components" / "index.html").is_file()
