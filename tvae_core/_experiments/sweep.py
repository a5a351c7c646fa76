"""``tvae sweep``: many ordinary runs from one base config, and their results side by side.

A sweep file (YAML)::

    name: lr-seeds                 # optional; default: the file's stem
    base: my.yaml                  # optional; the default run when absent (relative to this file)
    set: {data.n_trits: 4}         # applied to every run
    grid: {optimizer.lr: [0.005, 0.01]}
    seeds: [0, 1]                  # or a count (3 means 0, 1, 2); default: the base's seed
    search: {...}                  # optional: handed to a search backend plugin (tvae-optuna)

The grid runs every combination of its lists, each with every seed, one after the other in
this process. Each run is an ordinary run folder ``DIR/<sweep>-g<i>-s<seed>`` (``tvae runs DIR``
lists it; ``tvae run --resume`` continues it) with a ``sweep.json`` saying what it is. Running
the sweep again reuses finished runs, continues interrupted ones from ``last.pt`` and starts
the rest. ``DIR/<sweep>/`` holds the sweep file as resolved and ``results.json``: every final
metric as mean and sample standard deviation over the seeds of each variant.

``search:`` is run by the plugin that implements the ``tvae_sweep_search`` hook for its
``backend`` (``optuna`` by default, from tvae-optuna); the plugin runs its trials through
:meth:`Sweep.run`, so trials are ordinary runs too.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tvae_core._config.files import (
    build_config,
    default_config_dict,
    merge_with_default,
    read_config_file,
)
from tvae_core._config.overrides import apply_overrides
from tvae_core._config.schema import RunConfig
from tvae_core._engine.build import build, check_required_plugins, plan, plan_run
from tvae_core._engine.records import BestMetrics
from tvae_core._engine.trainer import Trainer
from tvae_core._errors import ConfigError, PluginError, TvaeError, UsageError
from tvae_core._plugins.contracts import DEFAULT_HIGHER_IS_BETTER
from tvae_core._plugins.interfaces import VAL_PREFIX, Callback
from tvae_core._plugins.manager import PluginManager
from tvae_core._run.atomic import write_json_atomic, write_text_atomic
from tvae_core._run.checkpoint import check_run_checkpoint, load_checkpoint
from tvae_core._run.history import format_value, read_run
from tvae_core._run.rundir import CHECKPOINTS, LAST, RunDir

#: Summary statuses of a run that counts in the results (a stop by a callback is a result).
FINISHED = ("completed", "stopped_early")
_KEYS = ("name", "base", "set", "grid", "seeds", "search")


def _as_set_arg(path: str, value: Any) -> str:
    """``path=value`` for :func:`apply_overrides` (JSON is YAML's flow syntax)."""
    return f"{path}={json.dumps(value)}"


def read_sweep_file(path: Path) -> dict[str, Any]:
    """The sweep file's mapping, checked key by key with one-line errors."""
    import difflib

    data = read_config_file(path)
    source = str(path)
    for key in data:
        if key not in _KEYS:
            close = difflib.get_close_matches(str(key), _KEYS, n=1)
            raise ConfigError(
                f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else ""),
                source=source,
                hint=None if close else f"a sweep file has: {', '.join(_KEYS)}",
            )
    for key in ("set", "grid"):
        if not isinstance(data.get(key) or {}, Mapping):
            raise ConfigError(
                "expected a mapping of config paths, e.g. {optimizer.lr: 0.01}",
                where=key,
                source=source,
            )
    for key, values in (data.get("grid") or {}).items():
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"expected a non-empty list of values, found {values!r}",
                where=f"grid.{key}",
                source=source,
            )
    seeds = data.get("seeds")
    if seeds is not None:
        if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
            data["seeds"] = list(range(seeds))
        elif not (
            isinstance(seeds, list)
            and seeds
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
            and len(set(seeds)) == len(seeds)
        ):
            raise ConfigError(
                f"expected a list of distinct seeds (integers >= 0) or a count, found {seeds!r}",
                where="seeds",
                source=source,
            )
    search = data.get("search")
    if search is not None and not isinstance(search, Mapping):
        raise ConfigError(
            "expected a mapping (trials, metric, params, ...)", where="search", source=source
        )
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ConfigError(
            f"expected a plain folder name, found {name!r}", where="name", source=source
        )
    data["name"] = name
    return data


class Sweep:
    """One sweep: its file, its folders, and :meth:`run` to train one of its runs.

    What a search backend gets (see the ``tvae_sweep_search`` hook).
    """

    def __init__(
        self,
        file: str | Path,
        out_dir: str | Path,
        *,
        overrides: Sequence[str] = (),
        plugins: PluginManager | None = None,
        plugin_args: Sequence[str] = (),
    ) -> None:
        self.file = Path(file)
        self.spec = read_sweep_file(self.file)
        self.name: str = self.spec["name"]
        self.out_dir = Path(out_dir)
        self.folder = self.out_dir / self.name
        self.plugins = plugins if plugins is not None else PluginManager()
        self.plugin_args = list(plugin_args)
        self.overrides = list(overrides)
        base = self.spec.get("base")
        self.base: Path | None = None
        if base is not None:
            self.base = (
                (self.file.parent / str(base))
                if not Path(str(base)).is_absolute()
                else Path(str(base))
            )
        self.grid: dict[str, list[Any]] = dict(self.spec.get("grid") or {})
        self.search: dict[str, Any] | None = (
            dict(self.spec["search"]) if self.spec.get("search") is not None else None
        )
        self.seeds: list[int] = list(self.spec.get("seeds") or [self.config().seed])

    # -- configs -----------------------------------------------------------------------------
    def set_args(
        self, params: Mapping[str, Any] | None = None, seed: int | None = None
    ) -> list[str]:
        """The ``--set`` overrides of one run: the sweep's, its own params, its seed."""
        # Sweeps print one line per run instead of a progress bar (a ``set`` may turn it on).
        args = ["trainer.progress=false"]
        args += [_as_set_arg(k, v) for k, v in (self.spec.get("set") or {}).items()]
        args += self.overrides
        args += [_as_set_arg(k, v) for k, v in (params or {}).items()]
        if seed is not None:
            args.append(f"seed={seed}")
        return args

    def config(self, params: Mapping[str, Any] | None = None, seed: int | None = None) -> RunConfig:
        """The :class:`RunConfig` of one run of the sweep: the base with the sweep's values.

        A mistake in reading the base file names the base file; one in the resolved run
        names the sweep file.
        """
        data = (
            merge_with_default(read_config_file(self.base))
            if self.base is not None
            else default_config_dict()
        )
        return build_config(
            apply_overrides(data, self.set_args(params, seed)), source=str(self.file)
        )

    def sets(self, key: str) -> bool:
        """Whether the sweep file or ``--set`` gives ``key`` explicitly."""
        given = list(self.spec.get("set") or {}) + [
            o.partition("=")[0].strip() for o in self.overrides
        ]
        return key in given

    def check(self, params: Mapping[str, Any] | None = None, what: str = "") -> None:
        """Resolve one run's components without training: config mistakes show up front.

        ``what`` names the run in an error (``grid variant 1 ({'epochs': 0})``).
        """
        try:
            config = self.config(params, self.seeds[0])
            check_required_plugins(config)
            plan_run(config, self.plugins, source=str(self.file))
        except TvaeError as exc:
            if what:
                exc.where = f"{what}: {exc.where}" if exc.where else what
            if exc.source in (None, "<default config>"):
                exc.source = str(self.file)
            raise exc from None

    def direction(self, metric: str) -> bool | None:
        """Whether higher values of ``metric`` are better, as the run's ``best`` judges them.

        The engine's rule (:class:`tvae_core._engine.records.BestMetrics`): loss keys
        (``val/loss``, ``val/<term>``, ``train/*`` of a term) improve downwards; a metric's
        values follow its declared ``higher_is_better`` (a bool, or a mapping per key, None
        for a constant). A ``val/*`` key that no metric declares (a metric that declares
        nothing, or a key its mapping leaves out) is higher-is-better, the engine's
        documented default (``DEFAULT_HIGHER_IS_BETTER``). None: the key has no direction (a
        constant, ``lr``, a logged weight).
        """
        config = self.config(None, self.seeds[0])
        metrics = {
            entry.name: build(
                plan(self.plugins, "metric", entry, f"metrics[{i}]", source=str(self.file))
            )
            for i, entry in enumerate(config.metrics)
        }
        best = BestMetrics(metrics, [entry.name for entry in config.losses])
        higher = best.direction(metric)
        if higher is None and metric.startswith(VAL_PREFIX) and metric not in best.directions:
            return DEFAULT_HIGHER_IS_BETTER
        return higher

    # -- runs --------------------------------------------------------------------------------
    def run(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        seed: int | None = None,
        *,
        callbacks: Sequence[Callback] = (),
        info: Mapping[str, Any] | None = None,
        set_args: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Train the run ``DIR/name`` (or reuse it when it finished, or resume it); its record.

        ``callbacks`` are added to the run's own (a search's pruning callback); ``info`` goes
        into the run's ``sweep.json``; ``set_args`` are more overrides (``trainer.val_every=1``).
        The record is :func:`tvae_core._run.history.read_run`'s, plus ``reused``.
        """
        path = self.out_dir / name
        summary = path / "summary.json"
        last = path / CHECKPOINTS / LAST
        if summary.is_file():
            record = read_run(path)
            if record["status"] in FINISHED:
                return {**record, "reused": True}
        resume_state = None
        if last.is_file():
            resume_state = load_checkpoint(last)
            check_run_checkpoint(resume_state, last)
            config = build_config(resume_state["config"], source=str(last))
        else:
            config = self.config(params, seed)
            if set_args:
                config = build_config(
                    apply_overrides(config.to_dict(), set_args), source=str(self.file)
                )
        run_dir = RunDir(path)  # a failed start before its first checkpoint starts over
        run_dir.ensure()
        write_json_atomic(
            path / "sweep.json",
            {
                "sweep": self.name,
                "file": str(self.file),
                "params": dict(params or {}),
                "seed": config.seed,
                **(info or {}),
            },
        )
        trainer = Trainer(
            config,
            plugins=self.plugins,
            run_dir=run_dir,
            resume_from=last if resume_state is not None else None,
            resume_state=resume_state,
            callbacks=list(callbacks),
            source=str(self.file),
        )
        try:
            trainer.fit()
        except KeyboardInterrupt:
            raise
        except TvaeError as exc:
            _echo(f"{name}: failed: {exc}")
            record = read_run(path)
            if record["status"] == "unfinished":  # failed before training: no summary
                record.update(status="failed", stop_reason=str(exc))
            return {**record, "reused": False}
        return {**read_run(path), "reused": False}

    def worker_command(self, max_trials: int | None = None) -> list[str]:
        """The command line of one more worker process of this sweep's search."""
        cmd = [
            sys.executable,
            "-m",
            "tvae_core",
            "sweep",
            str(self.file),
            "--out",
            str(self.out_dir),
            "--worker",
        ]
        if max_trials is not None:
            cmd += ["--max-trials", str(max_trials)]
        for arg in self.overrides:
            cmd += ["--set", arg]
        for arg in self.plugin_args:
            cmd += ["--plugin", arg]
        return cmd

    def echo(self, message: str) -> None:
        """One progress line (stderr: stdout is for the table or ``--json``)."""
        _echo(message)


def _echo(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the grid ---------------------------------------------------------------------------------
def variants(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values (one empty variant for an empty grid)."""
    keys = list(grid)
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))
    ]


def _stats(values: Sequence[float]) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n, "values": list(values)}


def aggregate(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every final metric over ``records``: mean, sample std (n - 1), n and the values."""
    finished = [r for r in records if r["status"] in FINISHED]
    keys: list[str] = []
    for r in finished:
        keys += [k for k in r["final"] if k not in keys]
    out = {}
    for key in keys:
        values = [float(r["final"][key]) for r in finished if key in r["final"]]
        values = [v for v in values if math.isfinite(v)]
        if values:
            out[key] = _stats(values)
    return out


def run_grid(sweep: Sweep) -> dict[str, Any]:
    """Every variant of the grid with every seed; the results per variant."""
    points = variants(sweep.grid)
    width = len(str(len(points) - 1))
    total = len(points) * len(sweep.seeds)
    out = []
    done = 0
    for i, params in enumerate(points):
        records = []
        for seed in sweep.seeds:
            name = f"{sweep.name}-g{i:0{width}d}-s{seed}" if sweep.grid else f"{sweep.name}-s{seed}"
            start = time.perf_counter()
            record = sweep.run(name, params, seed, info={"variant": i})
            done += 1
            how = "reused" if record["reused"] else f"{time.perf_counter() - start:.1f} s"
            shown = next((k for k in record["key_metrics"] if k != "val/loss"), "val/loss")
            value = record["final"].get(shown)
            sweep.echo(
                f"[{done}/{total}] {name}: {record['status']} ({how})"
                + (f", {shown} = {value:.4g}" if isinstance(value, float) else "")
            )
            records.append(record)
        out.append(
            {
                "variant": i,
                "params": params,
                "runs": [r["name"] for r in records],
                "status": [r["status"] for r in records],
                "metrics": aggregate(records),
            }
        )
    return {"params": list(sweep.grid), "seeds": sweep.seeds, "variants": out}


# -- the whole sweep --------------------------------------------------------------------------
def _search(sweep: Sweep, worker: bool, max_trials: int | None) -> dict[str, Any]:
    backend = str((sweep.search or {}).get("backend", "optuna"))
    results = sweep.plugins.pm.hook.tvae_sweep_search(
        sweep=sweep, worker=worker, max_trials=max_trials
    )
    if results is None:
        raise PluginError(
            f"no installed plugin runs searches with backend {backend!r}",
            where="search",
            source=str(sweep.file),
            hint="install tvae-optuna: pip install tvae-optuna" if backend == "optuna" else None,
        )
    return dict(results)


def run_sweep(
    file: str | Path,
    out_dir: str | Path,
    *,
    overrides: Sequence[str] = (),
    plugins: PluginManager | None = None,
    plugin_args: Sequence[str] = (),
    worker: bool = False,
    max_trials: int | None = None,
) -> dict[str, Any]:
    """Run the sweep of ``file`` under ``out_dir``; write and return its results."""
    sweep = Sweep(file, out_dir, overrides=overrides, plugins=plugins, plugin_args=plugin_args)
    if worker and sweep.search is None:
        raise UsageError(
            f"{sweep.file} has no search: section to work on",
            where="--worker",
            hint="a worker joins a sweep's search; the grid runs in the main process",
        )
    points = variants(sweep.grid)
    run_the_grid = not worker and (bool(sweep.grid) or sweep.search is None)
    if run_the_grid:
        for i, params in enumerate(points):
            sweep.check(params, f"grid variant {i} ({params})" if params else "")
    else:
        sweep.check()
    try:
        sweep.folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the sweep folder: {exc.strerror or exc}", source=str(sweep.folder)
        ) from None
    if not worker:
        write_text_atomic(
            sweep.folder / "sweep.yaml",
            yaml.safe_dump(
                {**sweep.spec, "seeds": sweep.seeds, "overrides": sweep.overrides}, sort_keys=False
            ),
        )
    results_file = sweep.folder / "results.json"
    results: dict[str, Any] = {}
    if results_file.is_file():
        try:
            results = json.loads(results_file.read_text("utf-8"))
        except ValueError:
            results = {}
    results.update({"sweep": sweep.name, "file": str(sweep.file), "out": str(sweep.out_dir)})
    if run_the_grid:
        results["grid"] = run_grid(sweep)
        write_json_atomic(results_file, results)
    if sweep.search is not None:
        results["search"] = _search(sweep, worker, max_trials)
        write_json_atomic(results_file, results)
    results["results_file"] = str(results_file)
    return results


def _cell(stats: Mapping[str, Any] | None) -> str:
    if not stats:
        return ""
    if stats["n"] == 1:
        return f"{stats['mean']:.4g}"
    return f"{stats['mean']:.4g} ± {stats['std']:.2g}"


def print_results(results: Mapping[str, Any], table: Callable[..., None]) -> None:
    """The grid as a table (metrics by variant, mean ± std over seeds) and the search's trials."""
    grid = results.get("grid")
    write = sys.stdout.write
    if grid:
        variants_ = grid["variants"]
        if len(variants_) > 1 or grid["params"]:
            for v in variants_:
                shown = ", ".join(f"{k}={json.dumps(x)}" for k, x in v["params"].items())
                write(f"v{v['variant']}: {shown}\n")
        keys: list[str] = []
        for v in variants_:
            keys += [k for k in v["metrics"] if k.startswith("val/") and k not in keys]
        n_seeds = len(grid["seeds"])
        write(
            f"mean ± std over {n_seeds} seed{'s' if n_seeds != 1 else ''} ({', '.join(map(str, grid['seeds']))})\n"
        )
        table(
            ["metric", *(f"v{v['variant']}" for v in variants_)],
            [[k, *(_cell(v["metrics"].get(k)) for v in variants_)] for k in keys],
        )
    search = results.get("search")
    if search:
        trials = search.get("trials") or []
        params: list[str] = []
        for t in trials:
            params += [k for k in t.get("params", {}) if k not in params]
        metric = search.get("metric", "value")
        write(
            f"search: {len(trials)} trials of study {search.get('study')!r}, {metric} ({search.get('direction', '')})\n"
        )
        table(
            ["trial", "state", metric, *params, "runs"],
            [
                [
                    str(t["number"]),
                    str(t["state"]).lower(),
                    "" if t.get("value") is None else f"{t['value']:.4g}",
                    *(format_value(t.get("params", {}).get(p)) for p in params),
                    ", ".join(t.get("runs") or []),
                ]
                for t in trials
            ],
        )
        best = search.get("best")
        if best:
            write(
                f"best: trial {best['number']}, {metric} = {best['value']:.6g}, params {json.dumps(best['params'])}\n"
            )
        else:
            write("best: none (no trial completed)\n")
    if results.get("results_file"):
        write(f"results: {results['results_file']}\n")


__all__ = ["Sweep", "aggregate", "run_sweep", "variants"]
