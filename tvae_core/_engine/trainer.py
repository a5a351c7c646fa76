"""The training loop: a run built from its config, trained epoch by epoch, recorded.

The loop owns what every run needs and leaves every decision about *what* to train to
components and callbacks. Its parts live beside it: building (:mod:`.build`), the process
around the run (:mod:`.environment`), one epoch of steps (:mod:`.step`), evaluation
(:mod:`.evaluation`), faults (:mod:`.faults`) and the checkpointed state (:mod:`.state`).
Callbacks see the run through a :class:`tvae_core.RunContext`; the order of their events
is documented on :class:`tvae_core.Callback`.
"""

from __future__ import annotations

import contextlib
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tvae_core._config.files import build_config
from tvae_core._config.schema import RunConfig
from tvae_core._engine.build import RunParts, build_run, check_required_plugins
from tvae_core._engine.environment import (
    Environment,
    Interrupted,
    interrupt_again,
    interrupt_signals,
    seed_everything,
)
from tvae_core._engine.evaluation import Evaluator
from tvae_core._engine.faults import component_fault, nonfinite
from tvae_core._engine.losses import LossRegistry
from tvae_core._engine.records import BestMetrics, RunSummary, StepLogs
from tvae_core._engine.runlog import RunLog, environment
from tvae_core._engine.state import Counters, capture, restore, version_changes
from tvae_core._engine.step import EpochLoop
from tvae_core._errors import TrainingError, UsageError
from tvae_core._plugins.interfaces import Callback, CallbackList, Control, RunView
from tvae_core._plugins.manager import PluginManager
from tvae_core._run.checkpoint import check_run_checkpoint, load_checkpoint, load_model_state
from tvae_core._run.checkpoint import save_checkpoint as write_checkpoint
from tvae_core._run.rundir import (
    BEST,
    CHECKPOINTS,
    LAST,
    RunDir,
    monotonic,
    resolve_checkpoint,
    utc_now,
)
from tvae_core._version import __version__
from tvae_core.logging import get_logger

__all__ = ["Interrupted", "RunSummary", "StepLogs", "Trainer", "model_from_checkpoint"]


class Trainer:
    """Builds a run from its config and trains it.

    Args:
        config: the run's configuration.
        plugins: the plugin manager to take components from (a default one if None).
        run_dir: where to write the run's files; None writes nothing (library use).
        resume_from: a checkpoint file or run folder to continue from.
        callbacks: extra callbacks, after those of the config.
        source: the config file, named in errors.
        resume_state: the checkpoint of ``resume_from``, when the caller already read it.
    """

    def __init__(
        self,
        config: RunConfig,
        *,
        plugins: PluginManager | None = None,
        run_dir: RunDir | Path | str | None = None,
        resume_from: str | Path | None = None,
        callbacks: list[Callback] | None = None,
        source: str | None = None,
        resume_state: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.plugins = plugins or PluginManager()
        if run_dir is not None and not isinstance(run_dir, RunDir):
            run_dir = RunDir(Path(run_dir))  # created and locked when the run starts
        self._run = run_dir
        self.resume_from = resume_from
        self.resume_state = resume_state
        #: whether an interrupted run's state reached checkpoints/interrupted.pt
        self.interrupt_saved = False
        self.extra_callbacks = list(callbacks or [])
        self.source = source
        self.control = Control()
        self.env = Environment(config.trainer)
        self.counters = Counters(BestMetrics({}, []))
        self._parts: RunParts | None = None
        #: How the run ended (also ``summary.json``); None until ``fit`` ends.
        self.summary: RunSummary | None = None

    # -- what callbacks see (tvae_core.RunContext) --------------------------------------
    @property
    def parts(self) -> RunParts:
        if self._parts is None:
            raise TrainingError("the trainer is not set up", hint="call setup() or fit() first")
        return self._parts

    @property
    def is_main(self) -> bool:
        return self.env.is_main

    @property
    def rank(self) -> int:
        return self.env.rank

    @property
    def world_size(self) -> int:
        return self.env.world_size

    @property
    def device(self) -> torch.device:
        return self.env.device

    @property
    def run_dir(self) -> Path | None:
        """The run's folder (None when the trainer writes no files, and on ranks other than 0)."""
        return self._run.path if self._run is not None and self.is_main else None

    @property
    def checkpoint_dir(self) -> Path | None:
        return self._run.checkpoints if self._run is not None and self.is_main else None

    @property
    def epoch(self) -> int:
        """Completed epochs."""
        return self.counters.epoch

    @property
    def global_step(self) -> int:
        return self.counters.global_step

    @property
    def steps_per_epoch(self) -> int:
        return int(self.parts.dataset.num_train_batches())

    @property
    def model(self) -> torch.nn.Module:
        return self.parts.model

    @property
    def dataset(self) -> Any:
        return self.parts.dataset

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.parts.optimizer

    @property
    def scheduler(self) -> Any:
        return self.parts.scheduler

    @property
    def losses(self) -> LossRegistry:
        return self.parts.losses

    @property
    def metrics(self) -> dict[str, Any]:
        return self.parts.metrics

    @property
    def best(self) -> dict[str, float]:
        """The best value of each metric so far (see :class:`BestMetrics`)."""
        return dict(self.counters.best.value)

    @property
    def best_epoch(self) -> dict[str, int]:
        return dict(self.counters.best.epoch)

    @property
    def last_logs(self) -> dict[str, float]:
        return self.counters.last_logs

    def direction(self, key: str) -> bool | None:
        """How ``key`` improves: True upwards, False downwards, None without a best."""
        return self.counters.best.direction(key)

    # -- building ------------------------------------------------------------------------
    def setup(self) -> Trainer:
        """Build every component (without training): what ``tvae validate`` runs."""
        if self._parts is not None:
            return self
        cfg = self.config
        check_required_plugins(cfg)
        self.env.start()
        seed_everything(cfg.seed)
        parts = build_run(cfg, self.plugins, self.env, self.source)
        self.callbacks = CallbackList(parts.callbacks + self.extra_callbacks)
        self.counters = Counters(BestMetrics(parts.metrics, parts.losses.names()))
        self.evaluator = Evaluator(parts, self.counters.best, seed=cfg.seed, device=self.device)
        self._forward_model = self.env.wrap(parts.model)
        self._parts = parts
        return self

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The full checkpoint of the run at the last completed epoch."""
        return capture(
            self.parts, self.callbacks, self.counters, self.config, self.plugins.versions()
        )

    def save_checkpoint(self, path: str | Path) -> Path | None:
        """Write the full state atomically; a bare file name goes into the run's ``checkpoints/``."""
        if not self.is_main:
            return None
        p = Path(path)
        if not p.is_absolute() and self.checkpoint_dir is not None and p.parent == Path("."):
            p = self.checkpoint_dir / p
        if p.name == BEST:
            # the summary names the epoch (and its metrics) that best.pt holds
            previous = self.counters.best_checkpoint
            self.counters.best_checkpoint = {
                "epoch": self.epoch,
                "metrics": {
                    k: float(v)
                    for k, v in self.last_logs.items()
                    if isinstance(v, (int, float)) and k.startswith("val/")
                },
            }
            try:
                return write_checkpoint(self.state_dict(), p)
            except BaseException:
                self.counters.best_checkpoint = previous
                raise
        return write_checkpoint(self.state_dict(), p)

    def load_state(self, ckpt: Mapping[str, Any], path: str | Path = "<checkpoint>") -> None:
        """Restore a checkpoint written by :meth:`state_dict` (strictly: no silent mismatch)."""
        restore(ckpt, path, self.parts, self.callbacks, self.counters)

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The model's outputs (eval mode, posterior means) over the eval set, and that set."""
        return self.evaluator.evaluate(self.global_step)

    def validate(self) -> dict[str, float]:
        """``val/loss``, ``val/<term>`` and every metric over the eval set."""
        return self.evaluator.validate(self.global_step)

    def _refuse_rewinding(self, path: Path, state: Mapping[str, Any]) -> None:
        """An earlier checkpoint of this very run folder would overwrite its later epochs."""
        if self._run is None or not self.is_main:
            return
        from tvae_core._run.branch import is_latest

        run = self._run.path
        if path.resolve().parent != (run / CHECKPOINTS).resolve() or is_latest(path, state, run):
            return
        raise UsageError(
            f"{path} is an earlier checkpoint of {run}; continuing {run} from it would "
            "overwrite its later epochs",
            hint="give the Trainer another run_dir to start a new run from it "
            "(tvae run --resume does this itself)",
        )

    # -- the loop --------------------------------------------------------------------------
    def fit(self) -> RunSummary:
        """Train until ``epochs``, a stop request, an interrupt or a fault; write the summary."""
        start = self._start = monotonic()
        self.setup()
        self.counters.started = start  # wall time adds up across resumes (Counters.wall_s)
        cfg, cbs = self.config, self.callbacks
        if self.resume_from is not None:
            state = self.resume_state
            path = Path(self.resume_from)
            if state is None:
                path = resolve_checkpoint(path).path
                state = load_checkpoint(path)
            self.load_state(state, path)
            self._refuse_rewinding(path, state)
            if self.epoch >= cfg.epochs and self._run is not None and self._run.finished():
                # nothing to train: a finished run stays exactly as it is (one killed after
                # its last checkpoint, before its summary, is finished now instead)
                where = self._run.path if self._run is not None else path
                raise UsageError(
                    f"{where} has completed its {cfg.epochs} epochs; nothing to train "
                    "(the run is left as it is)",
                    hint=f"to train longer: tvae run --resume {where} --set "
                    f"epochs={cfg.epochs + max(1, cfg.epochs)}",
                )
            changes = version_changes(state, self.plugins.versions())
            if changes and self.is_main:
                get_logger("tvae.engine").warning(
                    "resuming %s, written by other versions: %s", path, "; ".join(changes)
                )
        if self._run is not None and self.is_main:
            # The folder is this run's (locked) before anything in it is touched.
            self._run.claim(fresh=self.resume_from is None)
            # Records past the checkpoint (or of a start killed before its first one) are redone.
            self._run.truncate_metrics(self.epoch)
        self._write_run_files()
        if self._run is not None and self.is_main:
            cbs.append(RunLog(hide=self.counters.best.constants()))  # RUN/run.log
        if cfg.trainer.progress and self.is_main:
            from tvae_core._engine.progress import ProgressCallback

            cbs.append(
                ProgressCallback(total_epochs=cfg.epochs, hide=self.counters.best.constants())
            )
        loop = EpochLoop(
            cfg, self.parts, self.env, self._forward_model, cbs, self.counters, self._last_path
        )
        status, reason, error = "completed", f"reached epochs={cfg.epochs}", None
        view = RunView(self)
        try:
            with interrupt_signals():
                cbs.on_fit_start(view)
                while self.epoch < cfg.epochs:
                    if self._epoch(loop):
                        status = "stopped_early"
                        reason = self.control.stop_reason or "a callback asked to stop"
                        break
        except KeyboardInterrupt as exc:
            status = "interrupted"
            reason = (
                f"interrupted by {exc.args[0]}"
                if isinstance(exc, Interrupted) and exc.args
                else "interrupted by KeyboardInterrupt"
            )
            with contextlib.suppress(Exception):
                cbs.on_exception(exc)
            if self.checkpoint_dir is not None:
                # a second signal during the save ends it at once, and nothing claims it
                with contextlib.suppress(Exception, KeyboardInterrupt), interrupt_again():
                    write_checkpoint(self.state_dict(), self.checkpoint_dir / "interrupted.pt")
                    self.interrupt_saved = True
            raise
        except BaseException as exc:
            fault = component_fault(
                exc, self.parts.owners, self.epoch, self.global_step, self._last_path()
            )
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
            error = str(exc) if fault is None else str(fault)
            with contextlib.suppress(Exception):
                cbs.on_exception(exc)
            if fault is not None:
                raise fault from exc
            raise
        finally:
            # The summary first: on_fit_end may read run.summary and summary.json (a
            # tracking callback uploads them).
            summary = self._finish(status, reason, start, error)
            self._end_callbacks(view)
            # DDP's reducer holds the process group: let the wrapper go before the group
            # does, or rank > 0 tears gloo down at interpreter exit and aborts (SIGABRT).
            self._forward_model = loop.forward_model = self.parts.model
            self.env.close()
            if self._run is not None:
                self._run.release()
        return summary

    def _epoch(self, loop: EpochLoop) -> bool:
        """Train, validate, record and checkpoint one epoch; True if the run is to stop."""
        cfg, cbs, epoch = self.config, self.callbacks, self.epoch
        cbs.on_epoch_start(epoch)
        logs = loop.run(epoch)
        weights_ok = [torch.isfinite(p).all() for p in self.model.parameters()]
        if weights_ok and not bool(torch.stack(weights_ok).all()):
            # never validate, or save as a checkpoint, weights that are already lost
            raise nonfinite("weights", epoch, self.global_step, {}, self._last_path())
        if self.scheduler is not None:
            self.scheduler.step()
        if (
            (epoch + 1) % cfg.trainer.val_every == 0
            or epoch + 1 == cfg.epochs
            or self.control.stop_requested
        ):
            val_logs = self.validate()
            cbs.on_validation_end(epoch, val_logs)
            logs.update(val_logs)
        groups = self.optimizer.param_groups
        logs["lr"] = float(groups[0]["lr"])
        for group in groups[1:]:  # the model's own parameter groups, by name
            if isinstance(group.get("name"), str):
                logs[f"lr/{group['name']}"] = float(group["lr"])
        logs.update(self.losses.logged_weights())
        self.counters.epoch = epoch + 1
        self.counters.best.update(logs, epoch + 1)  # epochs are numbered from 1 in records
        self.counters.last_logs = {**self.counters.last_logs, **logs}
        if self._run is not None and self.is_main:
            self._run.append_metrics(
                {
                    "epoch": epoch + 1,  # 1-based, as on the console and in checkpoints
                    "step": self.global_step,
                    "time_s": round(monotonic() - self._start, 3),
                    **logs,
                }
            )
        cbs.on_epoch_end(epoch, logs)
        stop = self.control.stop_requested
        if cbs.should_stop() and not stop:
            self.control.request_stop(cbs.stop_reason or "a callback asked to stop")
            stop = True
        stop = self.env.agree(stop)
        if self.checkpoint_dir is not None and (
            self.epoch % cfg.trainer.checkpoint_every == 0 or stop or self.epoch == cfg.epochs
        ):
            self.save_checkpoint(self.checkpoint_dir / LAST)
        for name in self.control.save_requested:
            self.save_checkpoint(name)
        self.control.save_requested.clear()
        return stop

    def _last_path(self) -> Path | None:
        return self.checkpoint_dir / LAST if self.checkpoint_dir is not None else None

    def _write_run_files(self) -> None:
        if self._run is None or not self.is_main:
            return
        self._run.ensure()
        self._run.write_config(self.config.to_yaml())
        info = {
            "tvae": __version__,
            "torch": str(torch.__version__),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "plugins": self.plugins.versions(),
            "seed": self.config.seed,
            "start_time": utc_now(),
            "device": str(self.device),
            "precision": self.config.trainer.precision,
            "world_size": self.world_size,
            "resumed_from": str(self.resume_from) if self.resume_from else None,
            "argv": sys.argv,
            **environment(),
        }
        earlier = self._run.read_run_info() if self.resume_from is not None else None
        if earlier is not None:
            # a resume keeps the first start (its command, time) and lists each later one
            resumes = earlier.get("resumes")
            resumes = list(resumes) if isinstance(resumes, list) else []
            resumes.append({**info, "epoch": self.epoch})
            info = {**earlier, "resumed_from": info["resumed_from"], "resumes": resumes}
        self._run.write_run_info(info)

    def _end_callbacks(self, view: RunView) -> None:
        """``on_fit_end`` of every callback; one that fails is logged and the others still run."""
        for cb in self.callbacks:
            try:
                cb.on_fit_end(view)
            except Exception as exc:
                get_logger("tvae.engine").warning(
                    "callback %s failed at the end of the run: %s: %s",
                    type(cb).__name__,
                    type(exc).__name__,
                    exc,
                )

    def _finish(self, status: str, reason: str, start: float, error: str | None) -> RunSummary:
        summary = RunSummary(
            status=status,
            stop_reason=reason,
            epochs=self.epoch,
            wall_s=self.counters.wall_before + monotonic() - start,
            final=dict(self.last_logs),
            best=self.best,
            best_epoch=self.best_epoch,
            run_dir=str(self.run_dir) if self.run_dir is not None else None,
            error=error,
            best_checkpoint=self.counters.best_checkpoint,
        )
        self.summary = summary
        if self._run is not None and self.is_main:
            with contextlib.suppress(TrainingError):
                self._run.write_summary(summary.as_dict())
        return summary


def model_from_checkpoint(
    source: str | Path, plugins: PluginManager | None = None, *, checkpoint: str = "last"
) -> tuple[Trainer, Path]:
    """A trainer rebuilt from a checkpoint's own config, its weights loaded, in eval mode.

    ``source`` is a checkpoint file or a run folder; ``checkpoint`` picks ``last`` (the
    default), ``best`` or a file in a run folder (:func:`tvae_core.resolve_checkpoint`).
    Returns the trainer (set up, not trained; its ``epoch`` and ``global_step`` those of the
    checkpoint) and the checkpoint file read.
    """
    path = resolve_checkpoint(source, checkpoint).path
    ckpt = load_checkpoint(path)
    check_run_checkpoint(ckpt, path)
    config = build_config(ckpt["config"], source=str(path))
    config.trainer.progress = False
    trainer = Trainer(config, plugins=plugins).setup()
    load_model_state(trainer.model, ckpt["model_state_dict"], path)
    trainer.model.eval()
    trainer.counters.epoch = int(ckpt["epoch"])  # the counters say which weights these are
    trainer.counters.global_step = int(ckpt.get("global_step", 0))
    return trainer, path
