"""Start-up time of the listing commands, and that they import neither torch nor geoopt.

Each command runs as a fresh process (the installed ``tvae`` script); the figure is the
median wall time of several runs, once with its output piped (plain columns) and once on a
pseudo-terminal (rich's table), as a person at a terminal sees it. The import check runs
the same command in-process and reads ``sys.modules`` afterwards.

    python benchmarks/cli_startup.py [--quick]
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
COMMANDS = (["--help"], ["list"], ["plugins"])
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


def _on_terminal(cmd: list[str]) -> float:
    """Wall time of ``cmd`` with a pseudo-terminal as its stdout and stderr (read to EOF)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    # A terminal of 120 x 40 characters (a fresh pty is 0 x 0 and rich would assume 80).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
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


def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    _compile_sources()
    repeats = 3 if args.quick else 11
    for cmd, where in [(c, w) for c in COMMANDS for w in ("piped", "terminal")]:
        times = []
        for _ in range(repeats):
            if where == "terminal":
                times.append(_on_terminal([*_tvae(), *cmd]))
                continue
            t = time.perf_counter()
            subprocess.run([*_tvae(), *cmd], capture_output=True, check=True)
            times.append(time.perf_counter() - t)
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
                f"tvae {' '.join(cmd)} ({where})",
                _bench.median(times),
                "s",
                "< 0.3 s",
                note="imports " + ", ".join(heavy) if heavy else "no torch/geoopt import",
                extra={"times_s": times, "heavy_imports": heavy},
            )
        )
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    rows.append(Row(NAME, "for scale: python -c 'import torch'", time.perf_counter() - t, "s"))
    return rows


if __name__ == "__main__":
    _bench.main(run, __doc__ or NAME)
