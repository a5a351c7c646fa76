"""An Optuna study behind a sweep's ``search:`` section; each trial is an ordinary tvae run.

The study lives in an Optuna storage: by default SQLite at ``DIR/<sweep>/study.db``, or any
URL Optuna's RDB storage takes (``postgresql://...``, ``mysql://...``), or an Optuna journal
file (``journal:PATH``, for a disk several machines share). ``tvae sweep FILE`` creates the
study, or loads it when it exists, and runs trials until the study holds ``trials`` of them:
a rerun of an interrupted sweep goes on where it stopped. ``workers: N`` starts N - 1 more
local processes (``tvae sweep FILE --worker``) on the same storage; on other machines, run
``tvae sweep FILE --out DIR --worker`` against a shared storage URL.

With an RDB storage, workers send Optuna heartbeats: the trial of a worker that died (killed,
machine lost) is failed after ``2 * heartbeat_s`` and tried again with the same parameters,
continuing the same run folder from its ``last.pt``.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna

from tvae_core import ConfigError, Sweep, TrainingError
from tvae_optuna.pruning import OptunaPruning
from tvae_optuna.spec import PRUNERS, SAMPLERS, SearchSpec, parse_search

#: Set for the worker processes a sweep starts itself: their index (offsets sampler seeds).
WORKER_INDEX_ENV = "TVAE_SWEEP_WORKER_INDEX"
_COUNTED = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.FAIL,
    optuna.trial.TrialState.RUNNING,
    optuna.trial.TrialState.WAITING,
)


def open_storage(url: str | None, folder: Path, heartbeat_s: int | None = 60) -> Any:
    """The Optuna storage of ``url`` (None: SQLite in ``folder``)."""
    if url is None:
        url = f"sqlite:///{(folder / 'study.db').resolve()}"
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(url.removeprefix("journal:")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    from optuna.storages import RDBStorage

    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # Several local workers write one SQLite file: wait for its lock instead of failing.
        engine["connect_args"] = {"timeout": 60}
    heartbeat: dict[str, Any] = {}
    if heartbeat_s is not None:
        heartbeat = {"heartbeat_interval": heartbeat_s, "grace_period": 2 * heartbeat_s}
        try:  # Optuna >= 4.9 names the retry of a stale trial apart from failures
            from optuna.storages import RetryHeartbeatStaleTrialCallback

            with _quiet():
                retry = RetryHeartbeatStaleTrialCallback(max_retry=2)
            heartbeat["heartbeat_stale_trial_callback"] = retry
        except ImportError:
            from optuna.storages import RetryFailedTrialCallback

            heartbeat["failed_trial_callback"] = RetryFailedTrialCallback(max_retry=2)
    try:
        with _quiet():
            return RDBStorage(url, engine_kwargs=engine, **heartbeat)
    except Exception as exc:  # a bad URL, a missing driver, a server that does not answer
        raise ConfigError(
            f"Optuna cannot open {_shown(url)}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}",
            where="search.storage",
        ) from None


def _shown(url: str) -> str:
    """The storage URL without its password."""
    if url.startswith(("journal:", "sqlite")):
        return url
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def _make(kind: str, class_name: str, settings: Mapping[str, Any], module: Any) -> Any:
    cls = getattr(module, class_name)
    try:
        return cls(**settings)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Optuna's {cls.__name__} rejected its settings: {exc}", where=f"search.{kind}"
        ) from None


def _sampler(spec: SearchSpec, worker_index: int | None) -> Any:
    settings = dict(spec.sampler.settings)
    if settings.get("seed") is not None:
        # Workers of one study draw different streams; an outside worker draws an unseeded one.
        settings["seed"] = None if worker_index is None else int(settings["seed"]) + worker_index
    if spec.sampler.name == "grid":
        settings["search_space"] = {k: p.choices for k, p in spec.params.items()}
    return _make("sampler", SAMPLERS[spec.sampler.name], settings, optuna.samplers)


def _pruner(spec: SearchSpec) -> Any:
    if spec.pruner is None:
        return optuna.pruners.NopPruner()
    return _make("pruner", PRUNERS[spec.pruner.name], spec.pruner.settings, optuna.pruners)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna calls heartbeats "experimental" at every use; tvae documents and tests them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _counted(study: optuna.Study) -> int:
    """Trials that count towards ``trials``: all but failures that a retry replaces."""
    trials = study.get_trials(deepcopy=False, states=_COUNTED)
    # The retry of a stale trial records the first attempt's number ("failed_trial").
    retried = {t.system_attrs.get("failed_trial") for t in trials}
    return sum(
        1 for t in trials if not (t.state == optuna.trial.TrialState.FAIL and t.number in retried)
    )


class _Objective:
    """One trial: suggest the parameters, train a run per seed, return the metric's mean."""

    def __init__(self, sweep: Sweep, spec: SearchSpec, study_name: str) -> None:
        self.sweep = sweep
        self.spec = spec
        self.study_name = study_name
        self.set_args: list[str] = []
        # Pruning judges every epoch's validation: trials validate each epoch, unless the
        # sweep sets its own cadence (then Optuna sees every k-th epoch).
        if spec.prunes and not sweep.sets("trainer.val_every"):
            self.set_args.append("trainer.val_every=1")

    def __call__(self, trial: optuna.trial.Trial) -> float:
        sweep, spec = self.sweep, self.spec
        params = {path: space.suggest(trial, path) for path, space in spec.params.items()}
        seeds = sweep.seeds
        # A trial tried again after its worker died has the first attempt's user attributes:
        # its runs go on in the same folders.
        names = trial.user_attrs.get("runs") or [
            f"{sweep.name}-t{trial.number}" + (f"-s{seed}" if len(seeds) > 1 else "")
            for seed in seeds
        ]
        trial.set_user_attr("runs", names)
        values = []
        for i, (name, seed) in enumerate(zip(names, seeds, strict=True)):
            pruning = OptunaPruning(trial, spec.metric, report=spec.prunes and i == 0)
            record = sweep.run(
                name,
                params,
                seed,
                callbacks=[pruning],
                info={"trial": trial.number, "study": self.study_name, "worker_pid": os.getpid()},
                set_args=self.set_args,
            )
            if pruning.pruned_at is not None:
                trial.set_user_attr("pruned_at", pruning.pruned_at)
                sweep.echo(f"trial {trial.number} ({name}): pruned at epoch {pruning.pruned_at}")
                raise optuna.TrialPruned(f"pruned at epoch {pruning.pruned_at}")
            if record["status"] not in ("completed", "stopped_early"):
                raise TrainingError(f"trial {trial.number}: run {name} {record['status']}")
            source = record["final"] if spec.use == "final" else record["best"]
            if spec.metric not in source:
                available = ", ".join(sorted(k for k in source if k.startswith("val/")))
                raise ConfigError(
                    f"run {name} has no {spec.use} value of {spec.metric!r} (it has: {available})",
                    where="search.metric",
                    source=str(sweep.file),
                )
            values.append(float(source[spec.metric]))
        value = sum(values) / len(values)
        shown = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
        )
        sweep.echo(
            f"trial {trial.number} ({', '.join(names)}): {spec.metric} = {value:.6g} [{shown}]"
        )
        return value


def _run_trials(study: optuna.Study, objective: _Objective, total: int, quota: int | None) -> None:
    """Trials in this process until the study holds ``total`` (or ``quota`` ran here)."""
    done = 0
    while (quota is None or done < quota) and _counted(study) < total:
        with _quiet():
            study.optimize(objective, n_trials=1, catch=(TrainingError,), gc_after_trial=False)
        done += 1


def _summary(study: optuna.Study, spec: SearchSpec, storage: str) -> dict[str, Any]:
    trials: list[dict[str, Any]] = []
    for t in study.get_trials(deepcopy=False):
        trials.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": t.value if t.value is not None and math.isfinite(t.value) else None,
                "params": dict(t.params),
                "runs": list(t.user_attrs.get("runs", [])),
                "pruned_at": t.user_attrs.get("pruned_at"),
            }
        )
    best = None
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        b = study.best_trial
        best = {
            "number": b.number,
            "value": b.value,
            "params": dict(b.params),
            "runs": list(b.user_attrs.get("runs", [])),
        }
    counts: dict[str, int] = {}
    for row in trials:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    return {
        "backend": "optuna",
        "optuna": optuna.__version__,
        "study": study.study_name,
        "storage": storage,
        "metric": spec.metric,
        "use": spec.use,
        "direction": study.direction.name.lower(),
        "planned_trials": spec.trials,
        "counts": counts,
        "trials": trials,
        "best": best,
    }


def run_search(
    sweep: Sweep, *, worker: bool = False, max_trials: int | None = None
) -> dict[str, Any]:
    """Run (or join, with ``worker``) the sweep's study; its summary for ``results.json``."""
    spec = parse_search(sweep.search or {}, str(sweep.file))
    for path, space in spec.params.items():
        sweep.check({path: space.example()}, f"search.params.{path}")
    direction = spec.direction
    if direction is None:
        higher = sweep.direction(spec.metric)
        if higher is None:
            raise ConfigError(
                f"{spec.metric!r} declares no direction (a constant or bookkeeping key)",
                where="search.metric",
                source=str(sweep.file),
                hint="name a metric, or give search.direction: maximize|minimize",
            )
        direction = "maximize" if higher else "minimize"
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial comes from here
    index_env = os.environ.get(WORKER_INDEX_ENV)
    worker_index = int(index_env) if index_env is not None else (None if worker else 0)
    try:
        storage = open_storage(spec.storage, sweep.folder, spec.heartbeat_s)
        sampler, pruner = _sampler(spec, worker_index), _pruner(spec)
    except ConfigError as exc:
        raise exc.locate(source=str(sweep.file)) from None
    shown = (
        _shown(spec.storage)
        if spec.storage
        else f"sqlite:///{(sweep.folder / 'study.db').resolve()}"
    )
    study_name = spec.study or sweep.name
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction=direction,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"study {study_name!r} in {shown} was made to "
            f"{study.direction.name.lower()}, not to {direction}",
            where="search",
            source=str(sweep.file),
            hint="name another study (search.study)",
        )
    objective = _Objective(sweep, spec, study_name)
    if worker or spec.workers == 1:
        _run_trials(study, objective, spec.trials, max_trials)
        return _summary(study, spec, shown)
    remaining = max(spec.trials - _counted(study), 0)
    quotas = [
        remaining // spec.workers + (1 if i < remaining % spec.workers else 0)
        for i in range(spec.workers)
    ]
    procs = []
    for i, quota in enumerate(quotas[1:], start=1):
        if quota:
            env = {**os.environ, WORKER_INDEX_ENV: str(i)}
            procs.append(subprocess.Popen(sweep.worker_command(quota), env=env))
    sweep.echo(
        f"study {study_name!r} ({shown}): {remaining} trials to run in {1 + len(procs)} processes"
    )
    try:
        if quotas[0]:
            _run_trials(study, objective, spec.trials, quotas[0])
    finally:
        codes = []
        for proc in procs:
            try:
                codes.append(proc.wait())
            except KeyboardInterrupt:  # the workers got the same SIGINT and stop by themselves
                with contextlib.suppress(Exception):
                    codes.append(proc.wait(timeout=60))
                raise
    failed = [c for c in codes if c != 0]
    if failed:
        sweep.echo(f"warning: {len(failed)} worker process(es) exited with code {failed[0]}")
    return _summary(study, spec, shown)
