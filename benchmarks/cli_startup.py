"""Start-up time of the listing commands, and that they import neither torch nor geoopt.

Each command runs as a fresh process (the installed ``tvae`` script); the figure is the
median wall time of several runs, once with its output piped (plain columns) and once on a
pseudo-terminal (rich's table), as a person at a terminal sees it. The import check runs
the same command in-process and reads ``sys.modules`` afterwards.

    python benchmarks/cli_startup.py [--quick] [--extra-plugins N] [--load N] [--against DIR]

``--load N`` keeps N busy-looping processes running while it times (a loaded machine: N
equal to the core count leaves each command about half a core).

``--against DIR`` also times an earlier tree, interleaved with this one (A, B, A, B, ...):
DIR holds ``tvae_core`` and ``plugins/*/src`` of another commit (``git archive REV tvae_core
plugins | tar -x -C DIR``), put first on ``PYTHONPATH`` for its runs (the installed
``tvae`` script and entry points stay the same).

``--extra-plugins N`` installs N more plugins beside the real ones for the timed commands: a
folder on ``PYTHONPATH`` with N distributions, each with a plugin module registering three
lazy components (a loss, a metric, a callback), a command entry point and a ``tvae-core``
requirement, as a third-party plugin of the scaffold's layout has.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import _bench
from _bench import Row

NAME = "cli"
COMMANDS = (["--help"], ["config"], ["list"], ["plugins"])
HEAVY = ("torch", "geoopt", "matplotlib", "tensorboard", "numpy")

_PROBE = """
import json, sys
from tvae_core import cli
try:
    cli.main({args!r})
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


def _tvae() -> list[str]:
    exe = shutil.which("tvae")
    return [exe] if exe else [sys.executable, "-m", "tvae_core"]


def _on_terminal(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of ``cmd`` with a pseudo-terminal as its stdout and stderr (read to EOF)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    # A terminal of 120 x 40 characters (a fresh pty is 0 x 0 and rich would assume 80).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    t = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    while True:
        try:
            if not os.read(leader, 65536):
                break
        except OSError:  # EIO: the child closed the terminal
            break
    code = proc.wait()
    elapsed = time.perf_counter() - t
    os.close(leader)
    if code != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {code}")
    return elapsed


def _compile_sources() -> None:
    """Write the bytecode of the core and the plugins, as a regular (non-editable) install has.

    With PYTHONDONTWRITEBYTECODE set (as on this machine) an edited module of an editable
    install would otherwise be compiled again by every timed run.
    """
    import compileall
    import importlib.util

    for name in ("tvae_core", *_plugin_packages()):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                compileall.compile_dir(folder, quiet=1)


def _plugin_packages() -> list[str]:
    from importlib.metadata import entry_points

    return sorted(
        {ep.value.split(".")[0].split(":")[0] for ep in entry_points(group="tvae.plugins")}
    )


_FAKE_PLUGIN = """
from tvae_core import RegisterFn, hookimpl

__version__ = "1.0"


@hookimpl
def tvae_register_losses(register: RegisterFn) -> None:
    register("{name}_loss", "{name}.components:Loss", description="a loss")


@hookimpl
def tvae_register_metrics(register: RegisterFn) -> None:
    register("{name}_metric", "{name}.components:Metric", description="a metric")


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register("{name}_callback", "{name}.components:Callback", description="a callback")
"""


def _fake_plugins(n: int, site: str) -> None:
    """``n`` installed-looking plugin distributions in ``site`` (see the module docstring)."""
    import pathlib

    root = pathlib.Path(site)
    for i in range(n):
        name = f"tvae_bench_extra_{i}"
        package = root / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text('__version__ = "1.0"\n')
        (package / "plugin.py").write_text(_FAKE_PLUGIN.format(name=name))
        info = root / f"{name}-1.0.dist-info"
        info.mkdir()
        dist = name.replace("_", "-")
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\nRequires-Dist: tvae-core>=0.1\n"
        )
        (info / "entry_points.txt").write_text(
            f"[tvae.plugins]\nextra{i} = {name}.plugin\n\n"
            f"[tvae.commands]\nextra{i}-report = {name}.commands:add_report\n"
        )
        (info / "RECORD").write_text(f"{info.name}/METADATA,,\n")


def run(args: argparse.Namespace) -> list[Row]:
    import tempfile

    _compile_sources()
    extra = getattr(args, "extra_plugins", 0)
    site = tempfile.mkdtemp(prefix="tvae-bench-site-")
    if extra:
        _fake_plugins(extra, site)
        os.environ["PYTHONPATH"] = os.pathsep.join([site, os.environ.get("PYTHONPATH", "")])
    label = f", {extra} extra plugins" if extra else ""
    load = getattr(args, "load", 0)
    label += f", {load} busy processes" if load else ""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
    try:
        return _timed(args, label)
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def _tree_path(tree: str) -> str:
    """``PYTHONPATH`` that makes ``tree``'s core and plugins shadow the installed ones."""
    import glob

    src = sorted(glob.glob(os.path.join(tree, "plugins", "*", "src")))
    return os.pathsep.join([tree, *src, os.environ.get("PYTHONPATH", "")])


def _once(cmd: list[str], where: str, env: dict[str, str] | None) -> float:
    if where == "terminal":
        return _on_terminal([*_tvae(), *cmd], env)
    t = time.perf_counter()
    subprocess.run([*_tvae(), *cmd], capture_output=True, check=True, env=env)
    return time.perf_counter() - t


def _timed(args: argparse.Namespace, label: str) -> list[Row]:
    rows: list[Row] = []
    repeats = 3 if args.quick else 11
    against = getattr(args, "against", None)
    other = {**os.environ, "PYTHONPATH": _tree_path(against)} if against else None
    if against:
        import compileall

        compileall.compile_dir(against, quiet=1)
    for cmd, where in [(c, w) for c in COMMANDS for w in ("piped", "terminal")]:
        times, before = [], []
        for _ in range(repeats):
            times.append(_once(cmd, where, None))
            if other is not None:
                before.append(_once(cmd, where, other))
        if other is not None:
            rows.append(
                Row(
                    NAME,
                    f"tvae {' '.join(cmd)} ({where}{label}), {against}",
                    _bench.median(before),
                    "s",
                    "< 0.3 s",
                    note="interleaved with the next row",
                    extra={"times_s": before},
                )
            )
        probe = subprocess.run(
            [sys.executable, "-c", _PROBE.format(args=cmd, heavy=HEAVY)],
            capture_output=True,
            text=True,
            check=True,
        )
        heavy = json.loads(probe.stderr.strip().splitlines()[-1])
        rows.append(
            Row(
                NAME,
                f"tvae {' '.join(cmd)} ({where}{label})" + (", this tree" if against else ""),
                _bench.median(times),
                "s",
                "< 0.3 s",
                note="imports " + ", ".join(heavy) if heavy else "no torch/geoopt import",
                extra={"times_s": times, "heavy_imports": heavy},
            )
        )
    # The floor under the same load: the interpreter alone, with its site (.pth files), and
    # with importlib.metadata, which reading any entry point imports.
    for flags, code in ((["-S"], "pass"), ([], "pass"), ([], "import importlib.metadata")):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run([sys.executable, *flags, "-c", code], check=True)
            times.append(time.perf_counter() - t)
        shown = " ".join(["python", *flags, "-c", repr(code) if " " in code else code])
        rows.append(
            Row(NAME, f"floor: {shown}{label}", _bench.median(times), "s", extra={"times_s": times})
        )
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    rows.append(Row(NAME, "for scale: python -c 'import torch'", time.perf_counter() - t, "s"))
    return rows


if __name__ == "__main__":
    parser = _bench.parser(__doc__ or NAME)
    parser.add_argument("--extra-plugins", type=int, default=0, help="install N more plugins")
    parser.add_argument("--load", type=int, default=0, help="N busy processes while timing")
    parser.add_argument("--against", default=None, help="an earlier tree to time interleaved")
    cli_args = parser.parse_args()
    _bench.emit(run(cli_args), cli_args.json)
