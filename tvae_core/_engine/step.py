"""One training epoch: forward, composed loss, backward, clipping, optimizer step, per batch.

Non-finite values are checked where they cost nothing: on the CPU every step; on an
accelerator (where a check waits for the device) the gradient norms of an epoch are
accumulated and checked once, unless ``trainer.on_nonfinite: skip`` needs a per-step
decision. Under DDP a rank never skips a backward the others run (their all-reduce would
wait forever): a non-finite loss on one rank makes the all-reduced gradient non-finite on
every rank, so the gradient check decides, alike on all ranks.

With ``trainer.compile: step`` (or ``true``) the model's forward and every loss term run as
one ``torch.compile`` graph (:class:`CompiledStep`), their backward compiled with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from tvae_core._config.schema import RunConfig
from tvae_core._engine.build import RunParts
from tvae_core._engine.environment import Environment, keep_compile_cache, rank_seed
from tvae_core._engine.faults import gradient_culprit, nonfinite, too_many_skips
from tvae_core._engine.losses import LossRegistry, LossResult
from tvae_core._engine.records import StepLogs
from tvae_core._engine.state import Counters
from tvae_core._plugins.interfaces import TRAIN_PREFIX, CallbackList

Batch = Mapping[str, torch.Tensor]


class CompiledStep:
    """The model's forward and every loss term's value, as one compiled graph.

    AOTAutograd compiles the backward with it. The weighted sum stays outside
    (:meth:`LossRegistry.combine`), so a callback that changes a weight recompiles nothing.
    The first batch runs eagerly: terms check their first batch with host reads (a graph
    break), and tracing them afterwards gives one whole graph. A batch shaped unlike the one
    compiled (a short last batch) runs eagerly too, instead of compiling a second graph.
    Random draws come from torch's own generator (inductor's ``fallback_random``), so a
    compiled step draws the noise and the triplets an eager one does.
    """

    def __init__(self, model: Any, losses: LossRegistry) -> None:
        fns = [losses.get(name) for name in losses.names()]
        names = losses.names()

        def terms(batch: Batch) -> dict[str, torch.Tensor]:
            outputs = model(batch)
            return {name: fn(outputs, batch) for name, fn in zip(names, fns, strict=True)}

        self.losses, self.eager = losses, terms
        keep_compile_cache()
        self.compiled = torch.compile(terms, options={"fallback_random": True})
        self.warm = False
        self.shapes: tuple[Any, ...] | None = None

    def __call__(self, batch: Batch) -> LossResult:
        shapes = tuple((k, v.shape) for k, v in batch.items() if isinstance(v, torch.Tensor))
        if not self.warm:
            self.warm = True
            fn = self.eager
        elif self.shapes is None or shapes == self.shapes:
            self.shapes = shapes
            fn = self.compiled
        else:
            fn = self.eager
        return self.losses.combine(fn(batch))


def step_function(env: Environment, model: Any, losses: LossRegistry) -> Callable[..., LossResult]:
    """What a step evaluates: the batch's loss result, eagerly or through :class:`CompiledStep`."""
    if env.compile_mode == "step":
        return CompiledStep(model, losses)

    def eager(batch: Batch) -> LossResult:
        return losses.compose(model(batch), batch)

    return eager


class EpochLoop:
    """Trains the epochs of one run; :meth:`run` is one epoch, returning its ``train/*`` logs."""

    def __init__(
        self,
        config: RunConfig,
        parts: RunParts,
        env: Environment,
        forward_model: Any,
        callbacks: CallbackList,
        counters: Counters,
        last_checkpoint: Callable[[], Path | None],
    ) -> None:
        self.config, self.parts, self.env = config, parts, env
        self.forward_model, self.callbacks, self.counters = forward_model, callbacks, counters
        self.last_checkpoint = last_checkpoint
        self.clip = config.trainer.grad_clip
        self.skip_bad = config.trainer.on_nonfinite == "skip"
        self.max_skips = config.trainer.max_skipped_steps
        self.skips_in_a_row = 0  # across epochs: a fault that never goes away stops the run
        self.check_each_step = env.device.type == "cpu" or self.skip_bad
        self.params = [p for p in parts.model.parameters() if p.requires_grad]
        self.compute = step_function(env, forward_model, parts.losses)

    def _nonfinite(
        self, epoch: int, what: str, terms: Any = None, culprit: str | None = None
    ) -> Any:
        return nonfinite(
            what, epoch, self.counters.global_step, terms or {}, self.last_checkpoint(), culprit
        )

    def _skipped(self, epoch: int, what: str, terms: Any, batch: Any = None) -> None:
        """Count a skipped step; ``max_skipped_steps`` of them in a row stop the run."""
        self.skips_in_a_row += 1
        if self.skips_in_a_row < self.max_skips:
            return
        culprit = None
        if batch is not None:
            culprit = gradient_culprit(self.parts.model, self.parts.losses, batch, self.params)
        cause = self._nonfinite(epoch, what, terms, culprit)
        raise too_many_skips(self.skips_in_a_row, cause)

    def run(self, epoch: int) -> dict[str, float]:
        parts, env, cbs = self.parts, self.env, self.callbacks
        model, optimizer, losses = self.forward_model, parts.optimizer, parts.losses
        model.train()
        names = losses.names()
        sums: torch.Tensor | None = None
        steps = skipped = 0
        epoch_bad = torch.zeros((), dtype=torch.bool, device=env.device)
        distributed = env.world_size > 1
        if distributed:
            # Ranks draw independent noise (sampling, dropout), and a resumed run draws
            # exactly what an uninterrupted one would: the stream depends on (seed, epoch, rank).
            torch.manual_seed(rank_seed(self.config.seed, epoch, env.rank))
        check_loss = self.check_each_step and not distributed
        for batch_idx, batch in enumerate(parts.dataset.train_batches(epoch)):
            cbs.on_batch_start(batch_idx, batch)
            with env.autocast():
                result = self.compute(batch)
            total = result.total
            if check_loss and not bool(torch.isfinite(total)):
                if self.skip_bad:
                    skipped += 1
                    self._skipped(epoch, "loss", result.terms)
                    continue
                raise self._nonfinite(epoch, "loss", result.terms)
            optimizer.zero_grad(set_to_none=True)
            if env.scaler is not None:
                env.scaler.scale(total).backward()
                env.scaler.unscale_(optimizer)
            else:
                total.backward()
            cbs.on_after_backward(batch_idx)
            if self.clip is not None or distributed or self.check_each_step:
                norm = torch.nn.utils.clip_grad_norm_(
                    self.params, self.clip if self.clip is not None else math.inf
                )
                if env.scaler is None and self.check_each_step:
                    if not bool(torch.isfinite(norm)):
                        if self.skip_bad:
                            skipped += 1
                            optimizer.zero_grad(set_to_none=True)
                            self._skipped(epoch, "gradient", result.terms, batch)
                            continue
                        culprit = gradient_culprit(parts.model, losses, batch, self.params)
                        raise self._nonfinite(epoch, "gradient", result.terms, culprit)
                elif env.scaler is None:
                    epoch_bad |= ~torch.isfinite(norm)
            if env.scaler is not None:
                env.scaler.step(optimizer)
                env.scaler.update()
            else:
                optimizer.step()
            values = torch.stack(
                [total.detach().float()] + [result.terms[n].value.detach().float() for n in names]
            )
            sums = values if sums is None else sums + values
            steps += 1
            self.skips_in_a_row = 0
            self.counters.global_step += 1
            step_logs = {"loss": values[0], "train/loss": values[0]}
            step_logs.update({f"{TRAIN_PREFIX}{n}": values[i + 1] for i, n in enumerate(names)})
            cbs.on_batch_end(batch_idx, StepLogs(step_logs))
        if not self.check_each_step and bool(epoch_bad):
            raise self._nonfinite(epoch, "gradient")
        logs: dict[str, float] = {}
        if sums is not None:
            means = env.mean_over_ranks(sums / steps).tolist()
            logs[f"{TRAIN_PREFIX}loss"] = means[0]
            logs.update({f"{TRAIN_PREFIX}{n}": means[i + 1] for i, n in enumerate(names)})
            if not math.isfinite(means[0]) and not self.skip_bad:
                raise self._nonfinite(epoch, "loss")
        if skipped:
            logs[f"{TRAIN_PREFIX}skipped_steps"] = float(skipped)
        return logs
