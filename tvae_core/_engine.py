"""The training loop: components from the config, epochs of steps, validation, checkpoints.

The loop owns what every run needs — seeding, device placement, mixed precision, gradient
clipping, the scheduler, validation cadence, distributed data parallel, checkpoints and
the run directory — and leaves every decision about *what* to train to components and
callbacks. The order of callback events is documented in :mod:`tvae_core._callbacks`.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tvae_core import _build
from tvae_core._callbacks import Callback, CallbackList, Control
from tvae_core._checkpoint import (
    FORMAT_VERSION,
    check_run_checkpoint,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
)
from tvae_core._config import RunConfig
from tvae_core._constants import TRAIN_PREFIX, VAL_PREFIX
from tvae_core._errors import CheckpointError, ConfigError, PluginError, TrainingError, TvaeError
from tvae_core._losses import LossRegistry, missing_keys
from tvae_core._plugins import PluginManager, _describe
from tvae_core._records import BestMetrics, RunSummary, StepLogs
from tvae_core._rundir import RunDir, monotonic, utc_now
from tvae_core._runlog import RunLog, environment
from tvae_core._runtime import (
    Interrupted,
    interrupt_signals,
    rank_seed,
    resolve_device,
    rng_state,
    seed_everything,
    set_rng_state,
)

__all__ = ["Interrupted", "RunSummary", "StepLogs", "Trainer"]

LAST = "last.pt"
BEST = "best.pt"


class Trainer:
    """Builds a run from its config and trains it.

    Args:
        config: the run's configuration.
        plugins: the plugin manager to take components from (a default one if None).
        run_dir: where to write the run's files; None writes nothing (library use).
        resume_from: a checkpoint file or run folder to continue from.
        callbacks: extra callbacks, after those of the config.
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
            path = Path(run_dir)
            (path / "checkpoints").mkdir(parents=True, exist_ok=True)
            run_dir = RunDir(path)
        self._run = run_dir
        self.resume_from = resume_from
        self.resume_state = resume_state
        self.extra_callbacks = list(callbacks or [])
        self.source = source
        self.control = Control()
        self.epoch = 0  # completed epochs
        self.global_step = 0
        self.best_metrics: BestMetrics | None = None
        self.last_logs: dict[str, float] = {}
        self._built = False
        self._eval_cache: tuple[int, dict[str, torch.Tensor], dict[str, torch.Tensor]] | None = None

    # -- properties callbacks use ----------------------------------------------------------
    @property
    def run_dir(self) -> Path | None:
        """The run's folder (None when the trainer writes no files, and on ranks other than 0)."""
        return self._run.path if self._run is not None and self.is_main else None

    @property
    def best(self) -> dict[str, float]:
        """The best value of each metric so far (see :class:`BestMetrics`)."""
        return dict(self.best_metrics.value) if self.best_metrics is not None else {}

    @property
    def best_epoch(self) -> dict[str, int]:
        return dict(self.best_metrics.epoch) if self.best_metrics is not None else {}

    @property
    def checkpoint_dir(self) -> Path | None:
        return self._run.checkpoints if self._run is not None and self.is_main else None

    # -- building --------------------------------------------------------------------------
    def setup(self) -> Trainer:
        """Build every component (without training): what ``tvae validate`` runs."""
        if self._built:
            return self
        cfg = self.config
        _build.check_required_plugins(cfg)
        self._init_distributed()
        if cfg.trainer.num_threads:
            torch.set_num_threads(cfg.trainer.num_threads)
        seed_everything(cfg.seed)
        planned = {p.where: p for p in _build.plan_run(cfg, self.plugins, self.source)}
        self._owners: dict[int, str] = {}  # id of a built component (or its code) -> who it is

        self.dataset = self._make(planned["data"])
        for attr in ("setup", "train_batches", "eval_batches", "num_train_batches"):
            if not callable(getattr(self.dataset, attr, None)):
                raise PluginError(
                    f"data: {planned['data'].component.origin} built a {type(self.dataset).__name__} "
                    f"without {attr}(); a dataset must implement tvae_core.Dataset"
                )
        self.dataset.setup(
            device=self.device, seed=cfg.seed, rank=self.rank, world_size=self.world_size
        )
        context = dict(getattr(self.dataset, "model_context", dict)())

        model_plan = _build.plan(
            self.plugins, "model", cfg.model, "model", context=context, source=self.source
        )
        self.model = self._make(model_plan)
        if not isinstance(self.model, torch.nn.Module):
            raise PluginError(
                f"model: {model_plan.component.origin} built a {type(self.model).__name__}, not a torch.nn.Module"
            )
        self.model.to(self.device)

        self.optimizer = self._make(planned["optimizer"], self.model.parameters())
        self.scheduler = None
        if "scheduler" in planned:
            self.scheduler = self._make(planned["scheduler"], self.optimizer)

        self.losses = LossRegistry()
        self._loss_components = {}
        for i, entry in enumerate(cfg.losses):
            p = planned[f"losses[{i}]"]
            fn = self._make(p)
            if not callable(fn):
                raise PluginError(
                    f"losses[{i}]: {p.component.origin} built a {type(fn).__name__}, which is not callable"
                )
            self.losses.add(entry.name, fn, entry.weight)
            self._loss_components[entry.name] = p
        self.metrics: dict[str, Any] = {}
        self._metric_components = {}
        for i, metric_entry in enumerate(cfg.metrics):
            p = planned[f"metrics[{i}]"]
            self.metrics[metric_entry.name] = self._make(p)
            self._metric_components[metric_entry.name] = p
        cbs = []
        for i, _entry in enumerate(cfg.callbacks):
            p = planned[f"callbacks[{i}]"]
            cb = self._make(p)
            if not isinstance(cb, Callback):
                raise PluginError(
                    f"callbacks[{i}]: {p.component.origin} built a {type(cb).__name__}, not a tvae_core.Callback"
                )
            cbs.append(cb)
        self.callbacks = CallbackList(cbs + self.extra_callbacks)
        self.best_metrics = BestMetrics(self.metrics, self.losses.names())

        self._check_required_keys()
        self._setup_precision()
        self._forward_model: Any = self.model
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._forward_model = DDP(self.model, device_ids=ids)
        if cfg.trainer.compile:
            # Compiling the DDP wrapper (not the bare module) keeps DDP's gradient all-reduce.
            self._forward_model = torch.compile(self._forward_model)
        self._built = True
        return self

    def _make(self, planned: _build.Planned, *leading: Any) -> Any:
        """Build one component; whatever its factory raises becomes one line naming it."""
        try:
            obj = _build.build(planned, *leading)
        except TvaeError:
            raise
        except Exception as exc:
            raise PluginError(
                f"{planned.where}: {planned.kind} {planned.component.name!r} of "
                f"{planned.component.origin} failed to build: {_describe(exc)}"
            ) from exc
        who = f"{planned.where}: {planned.kind} {planned.component.name!r} of {planned.component.origin}"
        self._owners[id(obj)] = who
        code = getattr(obj, "__code__", None)  # a function component (a metric closure)
        if code is not None:
            self._owners[id(code)] = who
        return obj

    def _component_fault(self, exc: BaseException) -> TrainingError | None:
        """One line naming the component whose code raised ``exc`` (None: no component did)."""
        if not isinstance(exc, Exception) or isinstance(exc, TvaeError):
            return None
        owners = getattr(self, "_owners", {})
        frames = []
        tb = exc.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        for frame in reversed(frames):  # the innermost component frame is the one to blame
            obj = frame.f_locals.get("self")
            who = owners.get(id(obj)) if obj is not None else None
            who = who or owners.get(id(frame.f_code))
            if who is not None:
                last = self.checkpoint_dir / LAST if self.checkpoint_dir is not None else None
                good = (
                    f"; last good checkpoint: {last}"
                    if last is not None and last.exists()
                    else "; no checkpoint was written yet"
                )
                return TrainingError(
                    f"{who} raised {_describe(exc)} at epoch {self.epoch}, "
                    f"step {self.global_step}{good}"
                )
        return None

    def _init_distributed(self) -> None:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        self.world_size, self.rank = 1, 0
        self._owns_process_group = False
        device_spec = self.config.trainer.device
        if world > 1:
            import torch.distributed as dist

            if not dist.is_initialized():
                use_cuda = torch.cuda.is_available() and device_spec != "cpu"
                if use_cuda:
                    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
                dist.init_process_group("nccl" if use_cuda else "gloo")
                self._owns_process_group = True
            self.world_size, self.rank = dist.get_world_size(), dist.get_rank()
            if device_spec.startswith("cuda:"):
                raise ConfigError(
                    f"trainer.device: {device_spec!r} would put every rank on one GPU; under "
                    "torchrun use 'cuda' or 'auto' (each rank takes the GPU of its LOCAL_RANK)"
                )
            if device_spec in ("auto", "cuda") and torch.cuda.is_available():
                device_spec = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        self.device = resolve_device(device_spec)

    @property
    def is_main(self) -> bool:
        return getattr(self, "rank", 0) == 0

    def _setup_precision(self) -> None:
        precision = self.config.trainer.precision
        self.scaler: Any = None
        self._autocast_dtype: torch.dtype | None = None
        if precision == "bf16-mixed":
            self._autocast_dtype = torch.bfloat16
        elif precision == "16-mixed":
            if self.device.type != "cuda":
                raise ConfigError(
                    "trainer.precision: '16-mixed' needs a CUDA device (it uses a GradScaler); "
                    "on this device use 'bf16-mixed' or '32'"
                )
            self._autocast_dtype = torch.float16
            self.scaler = torch.amp.GradScaler("cuda")

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._autocast_dtype)

    def _check_required_keys(self) -> None:
        """Every loss and metric must find the keys it reads, before the first step."""
        batch = next(iter(self.dataset.eval_batches()), None)
        if batch is None:
            raise PluginError(
                f"data: dataset {self.config.data.name!r} yields no evaluation batch (is it empty?)"
            )
        probe = {k: v[:2] for k, v in batch.items()}
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            was_training = self.model.training
            self.model.train()
            try:
                outputs = self.model(probe)
            finally:
                self.model.train(was_training)
        if not isinstance(outputs, Mapping):
            raise PluginError(
                f"model {self.config.model.name!r} returned a {type(outputs).__name__}; a model must return a dict of tensors"
            )
        have_out, have_batch = set(outputs), set(probe)
        checks = [
            (f"loss {n!r}", self.losses.get(n), self._loss_components[n]) for n in self.losses
        ]
        checks += [
            (f"metric {n!r}", m, self._metric_components[n]) for n, m in self.metrics.items()
        ]
        for what, component, planned in checks:
            for key in missing_keys(component, have_out, have_batch)[:1]:
                scope = key.rpartition(".")[0]
                if scope == "outputs":
                    where_, available = f"model {self.config.model.name!r}", have_out
                elif scope == "batch":
                    where_, available = f"dataset {self.config.data.name!r}", have_batch
                else:
                    where_, available = "the model or the dataset", have_out | have_batch
                raise PluginError(
                    f"{planned.where}: {what} of {planned.component.origin} reads {key!r}, which "
                    f"{where_} does not provide (it provides: {', '.join(sorted(available))})"
                )

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The full checkpoint of the run at the last completed epoch."""
        import tvae_core

        ckpt: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "scheduler_state_dict": self.scheduler.state_dict()
            if self.scheduler is not None
            else None,
            "loss_weights": self.losses.weights,
            "callbacks": self.callbacks.state_dict(),
            "rng": rng_state(),
            "best": self.best,
            "best_epoch": self.best_epoch,
            "config": self.config.to_dict(),
            "plugins": self.plugins.versions(),
            "tvae_version": tvae_core.__version__,
            "torch_version": str(torch.__version__),
        }
        self.callbacks.on_save_checkpoint(ckpt)
        return ckpt

    def save_checkpoint(self, path: str | Path) -> Path | None:
        """Write the full state atomically; relative paths go into the run's ``checkpoints/``."""
        if not self.is_main:
            return None
        p = Path(path)
        if not p.is_absolute() and self.checkpoint_dir is not None and p.parent == Path("."):
            p = self.checkpoint_dir / p
        return save_checkpoint(self.state_dict(), p)

    def load_state(self, ckpt: Mapping[str, Any], path: str | Path = "<checkpoint>") -> None:
        """Restore a checkpoint written by :meth:`state_dict` (strictly: no silent mismatch)."""
        check_run_checkpoint(ckpt, path)
        load_model_state(self.model, ckpt["model_state_dict"], path)
        try:
            self.optimizer.load_state_dict(ckpt["optimizer_state_dict"])
            if self.scheduler is not None and ckpt.get("scheduler_state_dict") is not None:
                self.scheduler.load_state_dict(ckpt["scheduler_state_dict"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(
                f"{path}: the optimizer or scheduler state does not fit: {exc}"
            ) from None
        self.losses.load_state_dict({"weights": ckpt.get("loss_weights", {})})
        self.callbacks.load_state_dict(ckpt.get("callbacks", {}))
        if "rng" in ckpt:
            set_rng_state(ckpt["rng"])
        self.epoch = int(ckpt["epoch"])
        self.global_step = int(ckpt.get("global_step", 0))
        if self.best_metrics is not None:
            self.best_metrics.value = dict(ckpt.get("best", {}))
            self.best_metrics.epoch = dict(ckpt.get("best_epoch", {}))
        self.callbacks.on_load_checkpoint(ckpt)

    # -- evaluation ------------------------------------------------------------------------
    def _eval_pass(
        self,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Outputs and batch over the whole eval set, and the eval set's mean loss terms."""
        model = self.model
        was_training = model.training
        model.eval()
        outs: dict[str, list[torch.Tensor]] = {}
        batches: dict[str, list[torch.Tensor]] = {}
        sums: dict[str, torch.Tensor] = {}
        count = 0
        # Validation draws from its own stream, seeded by the run's seed: its values are a
        # function of the weights (`tvae evaluate` reproduces them) and the training stream
        # does not depend on how often the run validates.
        accelerator = self.device.type if self.device.type != "cpu" else "cuda"
        devices = [self.device] if self.device.type != "cpu" else []
        try:
            # No autocast: metrics rank radii and distances, which bf16/fp16 outputs would tie.
            with torch.no_grad(), torch.random.fork_rng(devices, device_type=accelerator):
                torch.manual_seed(self.config.seed)
                for batch in self.dataset.eval_batches():
                    outputs = model(batch)
                    result = self.losses.compose(outputs, batch)
                    n = len(next(iter(batch.values())))
                    count += n
                    for name, term in result.terms.items():
                        sums[name] = sums.get(name, 0) + term.value.detach().float() * n
                    sums["loss"] = sums.get("loss", 0) + result.total.detach().float() * n
                    for k, v in outputs.items():
                        if isinstance(v, torch.Tensor) and v.dim() > 0 and len(v) == n:
                            outs.setdefault(k, []).append(v.detach())
                        elif isinstance(v, torch.Tensor):
                            outs.setdefault(k, [v.detach()])
                    for k, v in batch.items():
                        batches.setdefault(k, []).append(v)
        finally:
            model.train(was_training)
        cat_out = {k: (torch.cat(v) if v[0].dim() > 0 else v[0]) for k, v in outs.items()}
        cat_batch = {k: torch.cat(v) for k, v in batches.items()}
        means = {k: v / max(count, 1) for k, v in sums.items()}
        self._eval_cache = (self.global_step, cat_out, cat_batch)
        return cat_out, cat_batch, means

    def evaluate(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The model's outputs (eval mode, posterior means) over the eval set, and that set."""
        if self._eval_cache is not None and self._eval_cache[0] == self.global_step:
            return self._eval_cache[1], self._eval_cache[2]
        outputs, batch, _ = self._eval_pass()
        return outputs, batch

    def validate(self) -> dict[str, float]:
        """``val/loss``, ``val/<term>`` and every metric over the eval set."""
        outputs, batch, means = self._eval_pass()
        logs = {f"{VAL_PREFIX}{k}": float(v) for k, v in means.items()}
        for name, metric in self.metrics.items():
            try:
                value = metric(outputs, batch)
            except Exception as exc:
                origin = self._metric_components[name].component.origin
                raise TrainingError(
                    f"metric {name!r} of {origin} raised {type(exc).__name__}: {exc}"
                ) from exc
            if isinstance(value, Mapping):
                for k, v in value.items():
                    logs[f"{VAL_PREFIX}{k}"] = float(v)
            else:
                logs[f"{VAL_PREFIX}{name}"] = float(value)
        return logs

    # -- the loop --------------------------------------------------------------------------
    def _write_run_files(self) -> None:
        if self._run is None or not self.is_main:
            return
        import tvae_core

        self._run.ensure()
        self._run.write_config(self.config.to_yaml())
        self._run.write_run_info(
            {
                "tvae": tvae_core.__version__,
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
        )
        self.callbacks.append(
            RunLog()
        )  # RUN/run.log; last, so that callback states keep their keys

    def _reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.world_size > 1:
            import torch.distributed as dist

            tensor = tensor.clone()
            dist.all_reduce(tensor)
            tensor /= self.world_size
        return tensor

    def _broadcast_stop(self, stop: bool) -> bool:
        if self.world_size > 1:
            import torch.distributed as dist

            flag = torch.tensor(
                [1.0 if stop else 0.0], device=self.device if self.device.type == "cuda" else "cpu"
            )
            dist.broadcast(flag, 0)
            return bool(flag.item())
        return stop

    def _nonfinite(
        self, epoch: int, step: int, what: str, terms: Mapping[str, Any], culprit: str | None = None
    ) -> TrainingError:
        bad = [n for n, t in terms.items() if not bool(torch.isfinite(t.value).all())]
        blame = f" (loss term {bad[0]!r} = {float(terms[bad[0]].value.detach())})" if bad else ""
        if culprit is not None:
            blame = f" (the gradient of loss term {culprit!r})"
        elif not bad:
            weights = [n for n, t in terms.items() if not math.isfinite(t.weight)]
            blame = (
                f" (loss term {weights[0]!r} has weight {terms[weights[0]].weight})"
                if weights
                else ""
            )
        last = self.checkpoint_dir / LAST if self.checkpoint_dir is not None else None
        good = (
            f"; last good checkpoint: {last}"
            if last is not None and last.exists()
            else "; no checkpoint was written yet"
        )
        return TrainingError(f"non-finite {what} at epoch {epoch}, step {step}{blame}{good}")

    def _gradient_culprit(
        self, batch: Mapping[str, torch.Tensor], params: list[torch.Tensor]
    ) -> str | None:
        """The first loss term whose own gradient is non-finite, from a re-run of the step."""
        try:
            with torch.random.fork_rng(devices=[]):
                result = self.losses.compose(self.model(batch), batch)  # no DDP hooks
                for name, term in result.terms.items():
                    grads = torch.autograd.grad(
                        term.value, params, retain_graph=True, allow_unused=True
                    )
                    if any(g is not None and not bool(torch.isfinite(g).all()) for g in grads):
                        return name
        except Exception:  # a diagnosis only: the run stops on the gradient either way
            return None
        return None

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        model, optimizer, losses, cbs = (
            self._forward_model,
            self.optimizer,
            self.losses,
            self.callbacks,
        )
        model.train()
        names = losses.names()
        sums: torch.Tensor | None = None
        steps = 0
        skipped = 0
        clip = self.config.trainer.grad_clip
        params = [p for p in self.model.parameters() if p.requires_grad]
        skip_bad = self.config.trainer.on_nonfinite == "skip"
        # On the CPU every step is checked (a check costs nothing there). On an accelerator
        # a check waits for the device, so gradients are checked once an epoch, unless
        # bad steps are to be skipped: deciding per step needs the per-step check.
        check_each_step = self.device.type == "cpu" or skip_bad
        epoch_bad = torch.zeros((), dtype=torch.bool, device=self.device)
        distributed = self.world_size > 1
        if distributed:
            # Ranks draw independent noise (sampling, dropout), and a resumed run draws
            # exactly what an uninterrupted one would: the stream depends on (seed, epoch, rank).
            torch.manual_seed(rank_seed(self.config.seed, epoch, self.rank))
        # Under DDP a rank must never skip a backward the others run (their all-reduce would
        # wait forever): a non-finite loss on one rank makes the all-reduced gradient
        # non-finite on every rank, so the gradient check below decides, alike on all ranks.
        check_loss = check_each_step and not distributed
        for batch_idx, batch in enumerate(self.dataset.train_batches(epoch)):
            cbs.on_batch_start(batch_idx, batch)
            with self._autocast():
                outputs = model(batch)
                result = losses.compose(outputs, batch)
            total = result.total
            if check_loss and not bool(torch.isfinite(total)):
                if skip_bad:
                    skipped += 1
                    continue
                raise self._nonfinite(epoch, self.global_step, "loss", result.terms)
            optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(total).backward()
                self.scaler.unscale_(optimizer)
            else:
                total.backward()
            cbs.on_after_backward(batch_idx)
            if clip is not None or distributed or check_each_step:
                max_norm = clip if clip is not None else math.inf
                norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
                if self.scaler is None:
                    if check_each_step:
                        if not bool(torch.isfinite(norm)):
                            if skip_bad:
                                skipped += 1
                                optimizer.zero_grad(set_to_none=True)
                                continue
                            raise self._nonfinite(
                                epoch,
                                self.global_step,
                                "gradient",
                                result.terms,
                                self._gradient_culprit(batch, params),
                            )
                    else:
                        epoch_bad |= ~torch.isfinite(norm)
            if self.scaler is not None:
                self.scaler.step(optimizer)
                self.scaler.update()
            else:
                optimizer.step()
            values = torch.stack(
                [total.detach().float()] + [result.terms[n].value.detach().float() for n in names]
            )
            sums = values if sums is None else sums + values
            steps += 1
            self.global_step += 1
            step_logs = {"loss": values[0], "train/loss": values[0]}
            step_logs.update({f"{TRAIN_PREFIX}{n}": values[i + 1] for i, n in enumerate(names)})
            cbs.on_batch_end(batch_idx, StepLogs(step_logs))
        if not check_each_step and bool(epoch_bad):
            raise self._nonfinite(epoch, self.global_step, "gradient", {})
        logs: dict[str, float] = {}
        if sums is not None:
            means = self._reduce(sums / steps).tolist()
            logs[f"{TRAIN_PREFIX}loss"] = means[0]
            logs.update({f"{TRAIN_PREFIX}{n}": means[i + 1] for i, n in enumerate(names)})
            if not math.isfinite(means[0]) and not skip_bad:
                raise self._nonfinite(epoch, self.global_step, "loss", {})
        if skipped:
            logs[f"{TRAIN_PREFIX}skipped_steps"] = float(skipped)
        return logs

    def fit(self) -> RunSummary:
        """Train until ``epochs``, a stop request, an interrupt or a fault; write the summary."""
        start = monotonic()
        self.setup()
        if self.resume_from is not None:
            path = Path(self.resume_from)
            state = self.resume_state if self.resume_state is not None else load_checkpoint(path)
            self.load_state(state, path)
        if self._run is not None and self.is_main:
            # Records past the checkpoint (or of a start killed before its first one) are redone.
            self._run.truncate_metrics(self.epoch)
        self._write_run_files()
        if self.config.trainer.progress and self.is_main:
            try:
                from tvae_core._progress import ProgressCallback

                self.callbacks.append(ProgressCallback(total_epochs=self.config.epochs))
            except ImportError:  # pragma: no cover
                pass
        cfg = self.config
        status, reason, error = "completed", f"reached epochs={cfg.epochs}", None
        cbs = self.callbacks
        try:
            with interrupt_signals():
                cbs.on_fit_start(self)
                while self.epoch < cfg.epochs:
                    epoch = self.epoch
                    cbs.on_epoch_start(epoch)
                    logs = self._train_epoch(epoch)
                    weights_ok = [torch.isfinite(p).all() for p in self.model.parameters()]
                    if weights_ok and not bool(torch.stack(weights_ok).all()):
                        # never validate, or save as a checkpoint, weights that are already lost
                        raise self._nonfinite(epoch, self.global_step, "weights", {})
                    if self.scheduler is not None:
                        self.scheduler.step()
                    last_epoch = epoch + 1 == cfg.epochs
                    if (
                        (epoch + 1) % cfg.trainer.val_every == 0
                        or last_epoch
                        or self.control.stop_requested
                    ):
                        val_logs = self.validate()
                        cbs.on_validation_end(epoch, val_logs)
                        logs.update(val_logs)
                    logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
                    if "kl" in self.losses:
                        logs["beta"] = self.losses.weight("kl")
                    self.epoch = epoch + 1
                    if self.best_metrics is not None:
                        self.best_metrics.update(logs, epoch)
                    self.last_logs = {**self.last_logs, **logs}
                    if self._run is not None and self.is_main:
                        self._run.append_metrics(
                            {
                                "epoch": epoch,
                                "step": self.global_step,
                                "time_s": round(monotonic() - start, 3),
                                **logs,
                            }
                        )
                    cbs.on_epoch_end(epoch, logs)
                    stop = self.control.stop_requested
                    if cbs.should_stop() and not stop:
                        self.control.request_stop(cbs.stop_reason or "a callback asked to stop")
                        stop = True
                    stop = self._broadcast_stop(stop)
                    if self.checkpoint_dir is not None and (
                        self.epoch % cfg.trainer.checkpoint_every == 0
                        or stop
                        or self.epoch == cfg.epochs
                    ):
                        self.save_checkpoint(self.checkpoint_dir / LAST)
                    for name in self.control.save_requested:
                        self.save_checkpoint(name)
                    self.control.save_requested.clear()
                    if stop:
                        status, reason = (
                            "stopped_early",
                            self.control.stop_reason or "a callback asked to stop",
                        )
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
                with contextlib.suppress(Exception):
                    save_checkpoint(self.state_dict(), self.checkpoint_dir / "interrupted.pt")
            raise
        except BaseException as exc:
            fault = self._component_fault(exc)
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
            error = str(exc) if fault is None else str(fault)
            with contextlib.suppress(Exception):
                cbs.on_exception(exc)
            if fault is not None:
                raise fault from exc
            raise
        finally:
            # The summary first: on_fit_end may read trainer.summary and summary.json (a
            # tracking callback uploads them).
            summary = self._finish(status, reason, start, error)
            self._end_callbacks()
            self._close_distributed()
        return summary

    def _end_callbacks(self) -> None:
        """``on_fit_end`` of every callback; one that fails is logged and the others still run."""
        for cb in self.callbacks:
            try:
                cb.on_fit_end(self)
            except Exception as exc:
                from tvae_core.logging import get_logger

                get_logger("tvae.engine").warning(
                    "callback %s failed at the end of the run: %s: %s",
                    type(cb).__name__,
                    type(exc).__name__,
                    exc,
                )

    def _close_distributed(self) -> None:
        """Destroy the process group if this trainer created it (not one the caller made)."""
        if getattr(self, "_owns_process_group", False):
            import torch.distributed as dist

            with contextlib.suppress(Exception):
                dist.destroy_process_group()
            self._owns_process_group = False

    def _finish(self, status: str, reason: str, start: float, error: str | None) -> RunSummary:
        final = {k: v for k, v in self.last_logs.items()}
        summary = RunSummary(
            status=status,
            stop_reason=reason,
            epochs=self.epoch,
            wall_s=monotonic() - start,
            final=final,
            best=self.best,
            best_epoch=self.best_epoch,
            run_dir=str(self.run_dir) if self.run_dir is not None else None,
            error=error,
        )
        self.summary = summary
        if self._run is not None and self.is_main:
            with contextlib.suppress(TrainingError):
                self._run.write_summary(summary.as_dict())
        return summary
