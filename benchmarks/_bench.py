"""Shared pieces of the benchmarks: the default run's components, timers, peak memory, output.

Every benchmark script is a module with ``run(args) -> list[Row]`` and a command line
(``python benchmarks/<name>.py [--quick] [--device D] [--json]``); ``run_all.py`` runs each in
its own process and tabulates the rows. Timings take the median of repeated measurements
after a warm-up, because the machines these run on are often shared.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tvae_ternary.bars import QUALITY_BAR as _BAR
from tvae_ternary.bars import bar_misses

HERE = Path(__file__).resolve().parent
FALLBACK_PLUGIN = HERE / "_ternary_components.py"

# A module to import before anything runs (a candidate fix to measure against the tree as is).
if os.environ.get("TVAE_BENCH_PRELOAD"):
    importlib.import_module(os.environ["TVAE_BENCH_PRELOAD"])

#: What the default run must reach (the project's quality bar for `tvae run`, balanced
#: accuracies included): ``tvae_ternary.bars``, as {key: (comparison, bound)}.
QUALITY_BAR: dict[str, tuple[str, float]] = {key: (op, bound) for key, op, bound in _BAR}


@dataclass
class Row:
    """One measured figure."""

    benchmark: str
    metric: str
    value: float | str | None
    unit: str = ""
    goal: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fewer repeats and sizes (a smoke run)")
    p.add_argument("--device", default="auto", help="trainer.device: auto, cpu, cuda, cuda:N")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        help="extra config override KEY=VALUE for every run (repeatable)",
    )
    return p


def emit(rows: Sequence[Row], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps([asdict(r) for r in rows]) + "\n")
        return
    for r in rows:
        value = f"{r.value:.4g}" if isinstance(r.value, float) else str(r.value)
        goal = f"  (goal {r.goal})" if r.goal else ""
        note = f"  [{r.note}]" if r.note else ""
        print(f"{r.benchmark:14s} {r.metric:42s} {value:>12s} {r.unit:8s}{goal}{note}")


def main(run: Callable[[argparse.Namespace], list[Row]], description: str) -> None:
    args = parser(description).parse_args()
    emit(run(args), args.json)


# -- the default run --------------------------------------------------------------------------
def plugin_manager() -> Any:
    """The installed plugins, or the fallback registration when ``ternary_vae`` is missing."""
    from tvae_core import PluginManager

    pm = PluginManager([])
    names = {c.name for c in pm.registry.all("model")}
    if "ternary_vae" not in names:
        pm = PluginManager([str(FALLBACK_PLUGIN)])
    return pm


def config(overrides: Iterable[str] = (), *, device: str = "auto") -> Any:
    """The embedded default config with ``overrides``; no progress bar, no install checks."""
    from tvae_core import load_config

    sets = ["plugins.required=[]", "trainer.progress=false", f"trainer.device={device}"]
    return load_config(None, [*sets, *overrides])


def synchronize(device: Any) -> None:
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.cuda.synchronize(device)


def trainer(
    overrides: Iterable[str] = (), *, device: str = "auto", callbacks: Sequence[Any] = ()
) -> Any:
    from tvae_core import Trainer

    pm = plugin_manager()
    if not any(c.name == "checkpoint" for c in pm.registry.all("callback")):
        # The fallback registration (no plugins installed, as on a bare GPU machine) has
        # the ternary components only: train without the default config's callbacks.
        overrides = ["callbacks=[]", *overrides]
    return Trainer(config(overrides, device=device), plugins=pm, callbacks=list(callbacks))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def train_epoch(tr: Any, epoch: int) -> dict[str, float]:
    """One training epoch of a set-up trainer through the engine's own loop (what ``fit`` runs)."""
    loop = getattr(tr, "_bench_loop", None)
    if loop is None:
        from tvae_core._engine.step import EpochLoop

        loop = EpochLoop(
            tr.config,
            tr.parts,
            tr.env,
            tr._forward_model,
            tr.callbacks,
            tr.counters,
            tr._last_path,
        )
        tr._bench_loop = loop
    logs: dict[str, float] = loop.run(epoch)
    return logs


def time_epochs(tr: Any, epochs: int, warmup: int = 1) -> list[float]:
    """Wall seconds of ``epochs`` training epochs of a set-up trainer (after ``warmup`` ones).

    Calls the engine's own epoch loop (the code `tvae run` runs per epoch), with the
    scheduler step; validation is timed separately.
    """
    times = []
    for e in range(warmup + epochs):
        synchronize(tr.device)
        t = time.perf_counter()
        train_epoch(tr, e)
        if tr.scheduler is not None:
            tr.scheduler.step()
        synchronize(tr.device)
        if e >= warmup:
            times.append(time.perf_counter() - t)
    return times


def peak_memory_mib(device: Any = None) -> float:
    """This process's peak resident memory (CPU) or peak CUDA allocation, in MiB."""
    import torch

    if device is not None and getattr(device, "type", "") == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def meets_bar(logs: dict[str, float]) -> bool:
    return not bar_misses(logs)
