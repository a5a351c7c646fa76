"""``MlflowCallback``: a tvae run as an MLflow run, through MLflow's own client."""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tvae_core import Callback, RunContext, flatten_config, get_logger, is_main_process

_log = get_logger("tvae.mlflow")

#: The files of a run folder logged as artifacts at the end (those that exist).
RUN_FILES = ("config.yaml", "run.json", "summary.json", "metrics.jsonl", "run.log")
#: tvae's summary status -> MLflow's run status.
STATUS = {
    "completed": "FINISHED",
    "stopped_early": "FINISHED",
    "interrupted": "KILLED",
    "failed": "FAILED",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def tracking_uri(setting: str | None = None) -> str | None:
    """The tracking URI a run uses: the setting, else ``MLFLOW_TRACKING_URI``, else None.

    None leaves the choice to MLflow's own default: a local store in the working folder
    (``./mlruns`` files with MLflow 2, ``sqlite:///mlflow.db`` with MLflow 3, which keeps
    ``./mlruns`` where that folder already holds experiments).
    """
    return setting or os.environ.get("MLFLOW_TRACKING_URI") or None


def _key(text: str) -> str:
    """A name MLflow accepts for a param or tag (``plugin:name`` keeps its parts)."""
    return _UNSAFE.sub("_", text)[:250]


def _run_info(run_dir: Path) -> dict[str, Any]:
    """The run folder's ``run.json`` (written before callbacks start), or nothing."""
    try:
        info = json.loads((run_dir / "run.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class MlflowCallback(Callback):
    """Log the run to MLflow: config as params, epoch metrics, tags, and its files at the end.

    Parameters are the resolved config flattened to ``section.key`` paths (components by
    name: ``losses.kl.weight``), logged once at the start. Every finite value of each epoch's
    logs (``train/*``, ``val/*``, ``lr``, ``beta``) is a metric at step = the epoch number (1-based), as
    in ``metrics.jsonl``. Tags hold tvae's version, each plugin's version (from the run
    folder's ``run.json``), the seed, the run folder, and at the end the status and stop
    reason. At the end the run folder's
    ``config.yaml``, ``run.json``, ``summary.json``, ``metrics.jsonl`` and plots (``*.png``,
    under ``plots/``; list ``mlflow`` after ``latent_plot`` to include its figures) are
    uploaded, and ``checkpoints/best.pt`` when asked. A resumed run goes on in the same
    MLflow run. Only rank 0 logs under distributed training.

    Args:
        tracking_uri: the MLflow tracking URI (``http://host:5000``, ``sqlite:///mlflow.db``,
            ``file:///abs/mlruns``); default ``MLFLOW_TRACKING_URI``, else MLflow's local default.
        experiment: the experiment's name (created when missing).
        run_name: the MLflow run's name; default the run folder's name.
        tags: more tags to set on the run.
        log_artifacts: upload the run's files at the end.
        log_best_checkpoint: upload ``checkpoints/best.pt`` too (it can be large).
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment: str = "tvae",
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
        log_artifacts: bool = True,
        log_best_checkpoint: bool = False,
    ) -> None:
        if not experiment:
            raise ValueError("experiment must be a non-empty name")
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.log_artifacts = log_artifacts
        self.log_best_checkpoint = log_best_checkpoint
        self.run_id: str | None = None
        self.client: Any = None
        self._uri: str | None = None
        self._failed_status: str | None = None
        self._warned = False

    # -- start -------------------------------------------------------------------------------
    def on_fit_start(self, run: RunContext) -> None:
        if not is_main_process(run):
            return
        from mlflow.tracking import MlflowClient

        self._uri = tracking_uri(self.tracking_uri)
        self.client = MlflowClient(tracking_uri=self._uri)
        if self.run_id is not None:  # resumed: the same MLflow run goes on
            self.client.update_run(self.run_id, status="RUNNING")
            return
        run_dir = run.run_dir
        name = self.run_name or (Path(run_dir).name if run_dir is not None else None)
        created = self.client.create_run(
            self._experiment_id(), run_name=name, tags=self._start_tags(run)
        )
        self.run_id = created.info.run_id
        self._log_params(flatten_config(run.config))

    def _experiment_id(self) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(self.experiment))
        except MlflowException:  # another process created it since
            found = self.client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return str(found.experiment_id)

    def _start_tags(self, run: RunContext) -> dict[str, str]:
        import tvae_core

        tags = {
            "tvae.version": tvae_core.__version__,
            "tvae.seed": str(run.config.seed),
            "tvae.world_size": str(run.world_size),
        }
        if run.run_dir is not None:
            tags["tvae.run_dir"] = str(Path(run.run_dir).resolve())
            for plugin, version in _run_info(Path(run.run_dir)).get("plugins", {}).items():
                tags[_key(f"tvae.plugin.{plugin}")] = str(version)
        tags.update({_key(k): str(v) for k, v in self.tags.items()})
        return tags

    def _log_params(self, flat: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        try:
            from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH as limit
        except ImportError:  # pragma: no cover
            limit = 6000
        params = []
        for key, value in flat.items():
            text = value if isinstance(value, str) else json.dumps(value)
            params.append(Param(_key(key), text[:limit]))
        for chunk in _chunks(params, 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=list(chunk))

    # -- epochs ------------------------------------------------------------------------------
    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        if self.run_id is None:
            return
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = []
        for key, value in logs.items():
            v = float(value)
            if math.isfinite(v):
                metrics.append(
                    Metric(_key(key), v, stamp, epoch + 1)
                )  # 1-based, as in metrics.jsonl
        try:
            for chunk in _chunks(metrics, 1000):
                self.client.log_batch(self.run_id, metrics=list(chunk))
        except Exception as exc:  # a tracking hiccup must not cost the training run
            if not self._warned:
                _log.warning(
                    "mlflow: could not log epoch %d: %s: %s", epoch, type(exc).__name__, exc
                )
                self._warned = True

    def on_exception(self, exc: BaseException) -> None:
        self._failed_status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"

    # -- end ---------------------------------------------------------------------------------
    def on_fit_end(self, run: RunContext) -> None:
        if self.run_id is None:
            return
        summary = run.summary  # written before on_fit_end, summary.json too
        status = STATUS.get(summary.status if summary else "", self._failed_status or "FINISHED")
        if summary is not None:
            self.client.set_tag(self.run_id, "tvae.status", summary.status)
            self.client.set_tag(self.run_id, "tvae.stop_reason", str(summary.stop_reason)[:5000])
        if self.log_artifacts and run.run_dir is not None:
            self._log_files(Path(run.run_dir))
        self.client.set_terminated(self.run_id, status=status)

    def _log_files(self, run_dir: Path) -> None:
        for name in RUN_FILES:
            if (run_dir / name).is_file():
                self.client.log_artifact(self.run_id, str(run_dir / name))
        for plot in sorted(run_dir.glob("*.png")):
            self.client.log_artifact(self.run_id, str(plot), artifact_path="plots")
        best = run_dir / "checkpoints" / "best.pt"
        if self.log_best_checkpoint and best.is_file():
            self.client.log_artifact(self.run_id, str(best), artifact_path="checkpoints")

    # -- resume ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "tracking_uri": self._uri}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        same_store = state.get("tracking_uri") == tracking_uri(self.tracking_uri)
        if state.get("run_id") and same_store:
            self.run_id = str(state["run_id"])
