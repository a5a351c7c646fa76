"""``tvae``, ``tvae -h`` and ``tvae --help`` print typer's root help without typer (issue 16,
item 4): the text is click's, the commands the application's, and installed plugins'
commands appear as they do through typer (refused ones left out)."""

from __future__ import annotations

import importlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tvae_core.cli import _help


def _dist(site: Path, name: str, commands: dict[str, str], requires: str = ">=0.1") -> None:
    """A distribution installed in ``site`` whose only entry points are ``commands``."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\nRequires-Dist: tvae-core{requires}\n"
    )
    lines = "".join(f"{k} = {v}\n" for k, v in commands.items())
    (info / "entry_points.txt").write_text(f"[tvae.commands]\n{lines}")
    (info / "RECORD").write_text(f"{info.name}/METADATA,,\n{info.name}/entry_points.txt,,\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """Plugin commands of every kind ``tvae --help`` meets: a name longer than the first
    column, a core command's name, a name two distributions take, an incompatible plugin."""
    folder = tmp_path / "site"
    _dist(
        folder,
        "tvae-wide",
        {
            "summarise-every-run-of-a-long-sweep": "tvae_wide_cmd:add_summary",
            "list": "tvae_wide_cmd:add_list",
            "hello": "tvae_wide_cmd:add_hello",
        },
    )
    _dist(folder, "tvae-twin", {"hello": "tvae_twin_cmd:add_hello", "wave": "tvae_twin_cmd:w"})
    _dist(folder, "tvae-old", {"ancient": "tvae_old_cmd:add"}, requires=">=99")
    # tvae-twin installed after tvae-wide: its hello is refused, whatever the folder order
    os.utime(folder / "tvae_twin-1.0.dist-info" / "METADATA", (2e9, 2e9))
    return folder


def _click(module: str = "") -> ModuleType:
    """The click typer runs on (typer may carry a copy of its own), or one of its modules."""
    import typer

    name = typer.Exit.__module__.rpartition(".")[0]
    return importlib.import_module(f"{name}.{module}" if module else name)


def _env(site: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TVAE_", "_TVAE_"))}
    env.pop("COLUMNS", None)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    return {**env, **extra}


_RUN = """
import json, sys
{setup}
code = 0
try:
    main({argv!r})
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "modules": sorted(
    m for m in ("typer", "click", "pluggy", "rich", "tvae_core._plugins.manager",
                "tvae_core.cli._app", "dataclasses") if m in sys.modules)}}), file=sys.stderr)
"""
FAST = "from tvae_core.cli import main"
TYPER = "from tvae_core.cli._commands import main"  # the application: typer prints the help


def _run(setup: str, argv: list[str], env: dict[str, str]) -> tuple[int, str, str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN.format(setup=setup, argv=argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    *err, last = done.stderr.splitlines(keepends=True)
    found = json.loads(last)
    return found["code"] or 0, done.stdout, "".join(err), found["modules"]


def test_the_help_data_is_the_applications() -> None:
    """The names, their order and their help: what typer's app was registered with."""
    import typer.main

    from tvae_core.cli import _commands

    group: Any = typer.main.get_command(_commands.app)
    assert [(n, c.help) for n, c in group.commands.items()] == list(_help.COMMANDS)
    assert group.help == _help.ABOUT
    rows = [(", ".join(p.opts + p.secondary_opts), p.help) for p in group.params]
    rows.append(("-h, --help", "Show this message and exit."))
    assert rows == list(_help.OPTIONS)


def test_the_text_is_typers_at_every_width(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tvae_core.cli._app import build_cli

    monkeypatch.delenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("TVAE_NO_PLUGIN_COMMANDS", raising=False)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    group = build_cli()
    specs = _help.installed_plugin_commands()
    names = [s.name for s in specs]
    assert {"summarise-every-run-of-a-long-sweep", "hello", "wave"} <= set(names)
    assert not {"list", "ancient"} & set(names) and names.count("hello") == 1
    assert next(s for s in specs if s.name == "hello").distribution == "tvae-wide"
    rows = [(s.name, _help.plugin_command_help(s.name, s.distribution or s.plugin)) for s in specs]
    for width in range(50, 101):
        ctx = _click().Context(
            group, info_name="tvae", terminal_width=width, **group.context_settings
        )
        assert _help.help_text(rows, width) == group.get_help(ctx), width


@pytest.mark.parametrize("columns", [None, "50", "67", "300"])
def test_tvae_help_prints_what_typer_prints(site: Path, columns: str | None) -> None:
    env = _env(site, **({"COLUMNS": columns} if columns else {}))
    for argv in (["--help"], ["-h"], []):
        fast = _run(FAST, argv, env)
        typer_made = _run(TYPER, argv, env)
        assert fast[:3] == typer_made[:3], argv
        assert "summarise-every-run-of-a-long-sweep" in fast[1] + fast[2]
        assert fast[3] == [], fast[3]  # neither typer, click, pluggy, the app nor dataclasses
        assert "typer" in typer_made[3]
    code, out, err, _ = _run(FAST, [], env)  # bare tvae: the help as a usage error
    assert (code, out) == (2, "") and err.startswith(_help.USAGE)
    assert _run(FAST, ["--help"], env)[0] == 0


def test_without_plugin_commands_only_the_core_is_listed() -> None:
    for name, value in (("TVAE_NO_PLUGIN_COMMANDS", "1"), ("TVAE_DISABLE_PLUGIN_AUTOLOAD", "yes")):
        fast = _run(FAST, ["--help"], _env(None, **{name: value}))
        assert fast[:3] == _run(TYPER, ["--help"], _env(None, **{name: value}))[:3]
        assert "A command of" not in fast[1]
    assert "A command of" in _run(FAST, ["--help"], _env(TVAE_DISABLE_PLUGIN_AUTOLOAD="0"))[1]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # click 8.5 deprecates the name
def test_short_help_shortens_as_click_does() -> None:
    make_default_short_help = _click("utils").make_default_short_help

    rng = random.Random(0)
    pool = ["a", "ab.", "Config", "run.", "(e.g.", "--set", "x" * 12, "OUT/NAME/.", "and", "x-y-z"]
    texts = [text for _, text in _help.COMMANDS]
    texts += [" ".join(rng.choices(pool, k=rng.randint(1, 14))) for _ in range(300)]
    texts += ["First paragraph here.\n\nSecond one, never shown."]
    for text in texts:
        for limit in range(1, 90):
            assert _help.short_help(text, limit) == make_default_short_help(text, limit), (
                text,
                limit,
            )


def test_only_the_root_help_takes_the_fast_path() -> None:
    assert all(_help.is_root_help(a) for a in ([], ["-h"], ["--help"]))
    for argv in (["--version"], ["run", "--help"], ["--help", "run"], ["-p", "x", "--help"]):
        assert not _help.is_root_help(argv)
