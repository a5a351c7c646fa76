"""Start-up of ``tvae run``: process start to the end of the first training step.

Each measurement is a fresh ``tvae run`` of the default config (the installed plugins, a
run folder in a temporary directory) with one more callback, loaded with ``--plugin``
from this file, that ends the process as soon as the first step is done; the figure is
the parent's wall time from starting the process to its exit. Two variants, interleaved
(A, B, A, B, ...) so that a changing load hits both alike:

- ``as is``: the tree as it is;
- ``dynamo preloaded``: the same with ``import torch._dynamo`` done first, which is what
  a plain ``torch.optim.Adam`` constructor did before tvae's optimizers stopped importing it.

With ``--against DIR`` the second variant is an earlier tree instead: DIR holds ``tvae_core``
and ``plugins/*/src`` of another commit (``git archive REV tvae_core plugins | tar -x -C
DIR``), put first on ``PYTHONPATH`` (the installed entry points stay the same).

It also reports which of torch._dynamo, geoopt and scipy the run imported by its first step.

``--set KEY=VALUE`` (the benchmarks' option, repeatable) is passed on to ``tvae run``
(another optimizer, say).

    python benchmarks/run_startup.py [--quick] [--repeats N] [--against DIR] [--set K=V]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tvae_core import Callback, hookimpl

NAME = "run_startup"
WATCHED = ("torch._dynamo", "geoopt", "scipy")

_SCRIPT = """
import sys
if {preload!r}:
    import torch._dynamo
from tvae_core.cli import main
sys.exit(main({argv!r}))
"""


class FirstStepExit(Callback):
    """A callback: after the first training step, write the imported modules and exit."""

    def __init__(self, report: str = "") -> None:
        self.report = report

    def on_batch_end(self, batch_idx: int, logs: Any) -> None:
        Path(self.report).write_text(json.dumps([m for m in WATCHED if m in sys.modules]))
        os._exit(0)


@hookimpl
def tvae_register_callbacks(register: Any) -> None:
    register("first_step_exit", FirstStepExit)


def _config(folder: Path, report: Path) -> Path:
    import yaml

    text = subprocess.run(
        [sys.executable, "-m", "tvae_core", "config"], capture_output=True, text=True, check=True
    ).stdout
    data = yaml.safe_load(text)
    data["callbacks"] = [
        *(data.get("callbacks") or []),
        {"name": "first_step_exit", "report": str(report)},
    ]
    data.setdefault("trainer", {})["progress"] = False
    path = folder / "startup.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


_SETS: list[str] = []  # --set values for tvae run


def _once(config: Path, folder: Path, preload: bool, env: dict[str, str] | None = None) -> float:
    argv = ["run", str(config), "--out", str(folder / "runs"), "--plugin", __file__]
    argv += [arg for value in _SETS for arg in ("--set", value)]
    code = _SCRIPT.format(preload=preload, argv=argv)
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=folder, capture_output=True, env=env
    )
    return time.perf_counter() - t


def _tree_env(tree: str) -> dict[str, str]:
    """The environment whose ``PYTHONPATH`` puts ``tree``'s core and plugins first."""
    import compileall
    import glob

    compileall.compile_dir(tree, quiet=1)
    src = sorted(glob.glob(os.path.join(tree, "plugins", "*", "src")))
    path = os.pathsep.join([tree, *src, os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def run(args: Any) -> list[Any]:
    import _bench
    from _bench import Row

    folder = Path(tempfile.mkdtemp(prefix="tvae-bench-startup-"))
    report = folder / "imported.json"
    config = _config(folder, report)
    repeats = getattr(args, "repeats", None) or (3 if args.quick else 9)
    times: dict[bool, list[float]] = {False: [], True: []}
    imported: dict[bool, list[str]] = {}
    against = getattr(args, "against", None)
    other = _tree_env(against) if against else None
    _SETS[:] = getattr(args, "sets", None) or []
    label_sets = f" with --set {' '.join(_SETS)}" if _SETS else ""
    _once(config, folder, False)  # warm the file cache
    for _ in range(repeats):
        for second in (False, True):
            if second and other is not None:
                times[second].append(_once(config, folder, False, other))
            else:
                times[second].append(_once(config, folder, second))
            imported[second] = json.loads(report.read_text())
    rows = []
    second_label = against if against else "dynamo preloaded"
    for preload, label in ((False, "as is"), (True, second_label)):
        rows.append(
            Row(
                NAME,
                f"tvae run (default{label_sets}) to the end of its first step, {label}",
                _bench.median(times[preload]),
                "s",
                note="imports " + (", ".join(imported[preload]) or "none of " + "/".join(WATCHED)),
                extra={"times_s": times[preload], "imported": imported[preload]},
            )
        )
    ratio = [b - a for a, b in zip(times[False], times[True], strict=True)]
    rows.append(Row(NAME, "saved per start (paired difference, median)", _bench.median(ratio), "s"))
    return rows


if __name__ == "__main__":
    import _bench

    parser = _bench.parser(__doc__ or NAME)
    parser.add_argument("--repeats", type=int, default=None, help="pairs of runs")
    parser.add_argument("--against", default=None, help="an earlier tree to time interleaved")
    cli_args = parser.parse_args()
    _bench.emit(run(cli_args), cli_args.json)
