"""Tests of ``tvae new-plugin`` (tvae_core._tools.scaffold): names, rendering, and a real install."""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tvae_core import UsageError
from tvae_core._tools.scaffold import create_plugin, next_steps, plugin_names, render

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.mark.parametrize(
    ("given", "name", "dist", "package"),
    [
        ("centroid", "centroid", "tvae-centroid", "tvae_centroid"),
        ("lr-logger", "lr_logger", "tvae-lr-logger", "tvae_lr_logger"),
        ("tvae-radial_plot", "radial_plot", "tvae-radial-plot", "tvae_radial_plot"),
        ("Centroid", "centroid", "tvae-centroid", "tvae_centroid"),
    ],
)
def test_plugin_names_normalise(given: str, name: str, dist: str, package: str) -> None:
    names = plugin_names(given)
    assert (names.name, names.dist, names.package, names.prefix) == (name, dist, package, name)


@pytest.mark.parametrize("bad", ["", "1plugin", "my plugin", "a--b", "x-", "tvae", "café"])
def test_plugin_names_reject_invalid_names_in_one_line(bad: str) -> None:
    with pytest.raises(UsageError) as info:
        plugin_names(bad)
    assert "\n" not in str(info.value) and "new-plugin" in str(info.value)


def test_render_fails_loudly_on_an_unknown_placeholder() -> None:
    assert render("a {{x}} b {{ x }}", {"x": "1"}) == "a 1 b 1"
    with pytest.raises(KeyError, match="y"):
        render("{{y}}", {"x": "1"})


def test_create_plugin_writes_a_complete_project(tmp_path: Path) -> None:
    project = create_plugin("centroid", tmp_path)
    assert project == tmp_path / "tvae-centroid"
    files = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert files == {
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "src/tvae_centroid/__init__.py",
        "src/tvae_centroid/plugin.py",
        "src/tvae_centroid/losses.py",
        "src/tvae_centroid/callbacks.py",
        "src/tvae_centroid/py.typed",
        "tests/test_tvae_centroid.py",
    }
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "tvae-centroid"
    assert meta["project"]["entry-points"]["tvae.plugins"] == {"centroid": "tvae_centroid.plugin"}
    assert "tvae-core>=0.1" in meta["project"]["dependencies"]
    for path in project.rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text(), path
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    assert "tvae plugins check centroid" in next_steps(project)


def test_create_plugin_refuses_a_non_empty_target_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "tvae-centroid").mkdir()
    (tmp_path / "tvae-centroid" / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="already exists and is not empty"):
        create_plugin("centroid", tmp_path)
    assert [p.name for p in (tmp_path / "tvae-centroid").iterdir()] == ["keep.txt"]


def test_generated_plugin_passes_lint(tmp_path: Path) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    project = create_plugin("lint-me", tmp_path)
    for args in (["check"], ["format", "--check"]):
        out = subprocess.run([str(ruff), *args, "."], capture_output=True, text=True, cwd=project)
        assert out.returncode == 0, out.stdout + out.stderr


def _venv_sharing_this_one(where: Path) -> Path:
    """A venv in ``where`` that sees this environment's packages (torch, tvae-core) read-only.

    ``--system-site-packages`` would expose the base interpreter's packages, not this
    virtualenv's, so a ``.pth`` file adds this environment's site-packages (with its own
    ``.pth`` files) instead. Installing into the new venv leaves this one untouched.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    outer = sysconfig.get_paths()["purelib"]
    Path(purelib, "_tvae_outer_env.pth").write_text(f"import site; site.addsitedir({outer!r})\n")
    return python


@pytest.mark.slow  # ~15 s of CPU, 30-45 s of wall time on a loaded 2-core machine
def test_generated_plugin_installs_lists_and_passes_its_own_tests(tmp_path: Path) -> None:
    project = create_plugin("centroid", tmp_path)
    python = _venv_sharing_this_one(tmp_path / "venv")
    install = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
    out = subprocess.run([*install, "-e", str(project)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr

    listed = subprocess.run(
        [str(python), "-m", "tvae_core", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "", "TVAE_NO_PLUGIN_COMMANDS": "1"},
    )
    mine = {(r["kind"], r["name"]) for r in json.loads(listed.stdout) if r["plugin"] == "centroid"}
    assert mine == {("loss", "centroid_latent_norm"), ("callback", "centroid_best_logger")}

    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
        capture_output=True,
        text=True,
        cwd=project,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "6 passed" in tests.stdout


REPO = Path(__file__).resolve().parents[2]
PROJECTS = sorted([*REPO.glob("plugins/*/pyproject.toml"), *REPO.glob("examples/*/pyproject.toml")])
_LAYOUT_PROBE = """
import importlib, importlib.metadata, json, sys
pkg, dist = sys.argv[1], sys.argv[2]
plugin = importlib.import_module(pkg + ".plugin")
package = sys.modules[pkg]
print(json.dumps({
    "torch": "torch" in sys.modules,
    "all": list(getattr(plugin, "__all__", [])),
    "hooks": sorted(n for n in vars(plugin) if n.startswith("tvae_")),
    "version": getattr(plugin, "__version__", None),
    "package_version": getattr(package, "__version__", None),
    "installed": importlib.metadata.version(dist),
}))
"""


@pytest.mark.parametrize("pyproject", PROJECTS, ids=lambda p: p.parent.name)
def test_first_party_plugins_share_the_scaffolds_layout(pyproject: Path) -> None:
    """What `tvae new-plugin` writes is how every plugin in the repository is laid out."""
    project = tomllib.loads(pyproject.read_text())
    dist = project["project"]["name"]
    (entry,) = project["project"]["entry-points"]["tvae.plugins"].values()
    package, _, module = entry.partition(".")
    assert module == "plugin", "the hooks live in <package>.plugin"
    assert project["project"]["dynamic"] == ["version"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": f"{package}.__version__"}
    assert (pyproject.parent / "src" / package / "py.typed").is_file()
    out = subprocess.run(
        [sys.executable, "-c", _LAYOUT_PROBE, package, dist],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(out.stdout)
    assert not found["torch"], "importing the package and its plugin module imports no torch"
    assert sorted(found["all"]) == sorted(["__version__", *found["hooks"]])
    assert found["version"] == found["package_version"] == found["installed"]
