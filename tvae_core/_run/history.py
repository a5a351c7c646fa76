"""Run history: read the run folders under a directory, list them, compare them.

What ``tvae runs`` and ``tvae runs compare`` show, and what a sweep reads back of each of
its runs. A run folder is one that holds ``run.json`` (written when training starts).
Everything here reads plain files (JSON and YAML) and imports neither torch nor the
plugins, so ``tvae runs`` is as quick as the folders are small.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tvae_core._errors import UsageError

#: How deep ``find_runs`` looks for run folders below the directory it is given.
MAX_DEPTH = 4
#: The largest config.yaml read back (as tvae_core._config.limits bounds config files).
MAX_CONFIG_BYTES = 256 << 10
#: Folders of a run that never hold another run.
_NOT_RUNS = {"checkpoints", "tensorboard", "__pycache__", ".git"}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_config(path: Path) -> dict[str, Any]:
    import yaml

    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return {}  # a run's own config.yaml is a few KiB; anything else is not read
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def is_run_folder(path: Path) -> bool:
    return (path / "run.json").is_file()


def find_runs(directory: str | Path) -> list[Path]:
    """Run folders under ``directory`` (itself included), oldest start first."""
    root = Path(directory)
    if not root.is_dir():
        raise UsageError(
            "no such folder", source=str(root), hint="give the folder your runs are in, e.g. runs"
        )
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        depth = len(here.relative_to(root).parts)
        if "run.json" in files:
            found.append(here)
            dirs[:] = []  # a run's subfolders are its own files, not more runs
            continue
        dirs[:] = sorted(d for d in dirs if d not in _NOT_RUNS and not d.startswith("."))
        if depth >= MAX_DEPTH:
            dirs[:] = []
    runs = [read_run(p) for p in found]
    runs.sort(key=lambda r: (r["start_time"] or "", r["name"]))
    return [Path(r["path"]) for r in runs]


def _last_epoch(metrics_file: Path) -> int | None:
    """Epochs recorded in ``metrics.jsonl`` (for a run without a summary yet)."""
    try:
        lines = metrics_file.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        epoch = record.get("epoch") if isinstance(record, dict) else None
        if isinstance(epoch, int) and not isinstance(epoch, bool):
            return epoch  # 1-based: the epochs completed
    return 0


def loss_term_names(config: Mapping[str, Any]) -> list[str]:
    """The loss terms of a resolved config (their val/train keys are losses, not metrics)."""
    out = []
    for entry in config.get("losses") or []:
        if isinstance(entry, Mapping) and entry.get("name"):
            out.append(str(entry.get("term") or entry["name"]))
        elif isinstance(entry, str):
            out.append(entry)
    return out


def key_metrics(
    final: Mapping[str, Any], best: Mapping[str, Any], losses: Iterable[str]
) -> list[str]:
    """The metrics worth a column: ``val/loss`` and each validation metric that has a best.

    Loss terms are left out (they are in the JSON), and so are constants, which have no best
    (the hierarchy's tie ceiling).
    """
    terms = {f"val/{t}" for t in losses}
    keys = [
        k
        for k in final
        if k.startswith("val/") and k not in terms and k != "val/loss" and (not best or k in best)
    ]
    return (["val/loss"] if "val/loss" in final else []) + sorted(keys)


def read_run(path: str | Path) -> dict[str, Any]:
    """One run's record: name, status, epochs, wall time, start, seed, final and best metrics."""
    p = Path(path)
    info = _read_json(p / "run.json")
    summary = _read_json(p / "summary.json")
    sweep = _read_json(p / "sweep.json")
    config = _read_config(p / "config.yaml")
    if summary:
        status = str(summary.get("status", "unknown"))
        epochs = summary.get("epochs")
    else:
        status = "unfinished"  # training now, or killed before it could write a summary
        epochs = _last_epoch(p / "metrics.jsonl")
    final = {k: v for k, v in (summary.get("final") or {}).items() if _is_number(v)}
    best = {k: v for k, v in (summary.get("best") or {}).items() if _is_number(v)}
    return {
        "name": p.name,
        "path": str(p),
        "status": status,
        "stop_reason": summary.get("stop_reason"),
        "epochs": epochs,
        "planned_epochs": config.get("epochs"),
        "wall_s": summary.get("wall_s"),
        "start_time": info.get("start_time"),
        "seed": info.get("seed", config.get("seed")),
        "sweep": sweep or None,
        "final": final,
        "best": best,
        "key_metrics": key_metrics(final, best, loss_term_names(config)),
        "has_last": (p / "checkpoints" / "last.pt").is_file(),
        "has_best": (p / "checkpoints" / "best.pt").is_file(),
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def format_value(value: Any) -> str:
    """A metric or setting for a table cell: 4 significant digits for floats."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def runs_table(
    runs: Sequence[Mapping[str, Any]], metrics: Sequence[str] | None = None
) -> tuple[list[str], list[list[str]]]:
    """Columns and rows for ``tvae runs``: the runs' key metrics, or the ``metrics`` asked for."""
    if metrics:
        shown = list(metrics)
    else:
        shown = []
        for run in runs:
            shown += [k for k in run["key_metrics"] if k not in shown]
    columns = ["name", "status", "epochs", "wall_s", "start", *shown]
    rows = []
    for run in runs:
        epochs = run["epochs"]
        planned = run.get("planned_epochs")
        rows.append(
            [
                run["name"],
                run["status"],
                "" if epochs is None else f"{epochs}/{planned}" if planned else str(epochs),
                "" if run["wall_s"] is None else f"{run['wall_s']:.1f}",
                (run["start_time"] or "").replace("T", " ").split("+")[0],
                *(format_value(run["final"].get(k)) for k in shown),
            ]
        )
    return columns, rows


# -- comparing ---------------------------------------------------------------------------------
def compare_runs(paths: Sequence[str | Path]) -> dict[str, Any]:
    """Config differences and final metrics of several runs, side by side."""
    # Here, not at the top: the config package brings pydantic, which listing runs never needs.
    from tvae_core._config.flatten import flatten_config
    from tvae_core._config.limits import check_plain_data

    if len(paths) < 2:
        raise UsageError("give at least two run folders", where="tvae runs compare")
    records = []
    flats = []
    for path in paths:
        p = Path(path)
        if not is_run_folder(p):
            raise UsageError("not a run folder (it has no run.json)", source=str(p))
        records.append(read_run(p))
        config = _read_config(p / "config.yaml")
        check_plain_data(config, source=str(p / "config.yaml"))  # aliases expand in flattening
        flats.append(flatten_config(config))
    keys: list[str] = []
    for flat in flats:
        keys += [k for k in flat if k not in keys]
    missing = object()
    differences = {}
    for key in keys:
        values = [flat.get(key, missing) for flat in flats]
        if any(v != values[0] for v in values[1:]):
            differences[key] = [None if v is missing else v for v in values]
    metric_keys: list[str] = []
    for record in records:
        metric_keys += [k for k in record["final"] if k not in metric_keys]
    metric_keys.sort(key=lambda k: (not k.startswith("val/"), k))
    return {
        "runs": [r["name"] for r in records],
        "paths": [r["path"] for r in records],
        "status": [r["status"] for r in records],
        "epochs": [r["epochs"] for r in records],
        "config": differences,
        "final": {k: [r["final"].get(k) for r in records] for k in metric_keys},
        "best": {
            k: [r["best"].get(k) for r in records]
            for k in metric_keys
            if any(k in r["best"] for r in records)
        },
    }
