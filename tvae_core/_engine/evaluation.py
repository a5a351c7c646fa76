"""Evaluation: the model's outputs over the whole evaluation set, its losses and its metrics.

Metrics see the evaluation set at once (outputs and batches concatenated, model in eval
mode, no gradient, no autocast: metrics rank radii and distances, which bf16/fp16 outputs
would tie). One pass per step count is kept, so a callback's ``evaluate()`` after
validation costs nothing.

Validation computes the loss terms it logs (``val/<term>``, and ``val/loss`` their weighted
sum) in the same pass, except a term that declares ``train_only = True``: such a term (a
regulariser the metrics already measure, such as ``padic_ranking`` beside the triplet
metrics) is neither computed nor logged, and ``val/loss`` is the sum of the others.
``evaluate()`` computes no loss term at all.

Evaluation draws its random numbers (a sampled loss term or metric) from its own stream,
seeded with the run's seed at every validation (and every uncached ``evaluate``): its values are a function of the weights (``tvae
evaluate`` reproduces a run's ``val/*`` from its checkpoint), and the training stream does
not depend on how often the run validates.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from tvae_core._engine.build import Planned, RunParts
from tvae_core._engine.records import BestMetrics
from tvae_core._errors import TrainingError, describe
from tvae_core._plugins.interfaces import VAL_PREFIX

Tensors = dict[str, torch.Tensor]


class Evaluator:
    """Evaluates one run's model on its dataset; results are cached per global step.

    ``seed`` seeds evaluation's own random stream (on the CPU and on ``device``).
    """

    def __init__(
        self,
        parts: RunParts,
        best: BestMetrics,
        *,
        seed: int = 0,
        device: torch.device | None = None,
    ) -> None:
        self.parts = parts
        self.best = best
        self.seed = seed
        self.device = device if device is not None else torch.device("cpu")
        self._cache: tuple[int, Tensors, Tensors] | None = None

    def _validated_losses(self) -> Any:
        """The run's loss registry without its ``train_only`` terms (itself if it has none)."""
        losses = self.parts.losses
        skipped = [n for n in losses.names() if getattr(losses.get(n), "train_only", False)]
        if not skipped:
            return losses
        kept = type(losses)()
        owners = getattr(losses, "_owners", {})  # what an error about a term names
        for name in losses.names():
            if name not in skipped:
                kept.add(name, losses.get(name), losses.weight(name), owner=owners.get(name))
        return kept

    def _pass(
        self, step: int, with_losses: bool = True
    ) -> tuple[Tensors, Tensors, dict[str, torch.Tensor]]:
        """Outputs and batch over the whole eval set, and the eval set's mean loss terms
        (none without ``with_losses``; ``train_only`` terms never)."""
        model = self.parts.model
        losses = self._validated_losses() if with_losses else None
        was_training = model.training
        model.eval()
        outs: dict[str, list[torch.Tensor]] = {}
        batches: dict[str, list[torch.Tensor]] = {}
        sums: dict[str, Any] = {}
        count = 0
        try:
            with torch.no_grad():
                for batch in self.parts.dataset.eval_batches():
                    outputs = model(batch)
                    n = len(next(iter(batch.values())))
                    count += n
                    if losses is not None:
                        result = losses.compose(outputs, batch)
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
        self._cache = (step, cat_out, cat_batch)
        return cat_out, cat_batch, {k: v / max(count, 1) for k, v in sums.items()}

    @contextlib.contextmanager
    def _own_stream(self) -> Iterator[None]:
        """Evaluation's random stream: seeded afresh, the training stream restored after."""
        # fork_rng saves and restores the CPU stream and the accelerator's of ``devices``.
        accelerator = self.device.type if self.device.type != "cpu" else "cuda"
        devices = [self.device] if self.device.type != "cpu" else []
        with torch.random.fork_rng(devices, device_type=accelerator):
            torch.manual_seed(self.seed)
            yield

    def evaluate(self, step: int) -> tuple[Tensors, Tensors]:
        """The model's outputs (eval mode, posterior means) over the eval set, and that set."""
        if self._cache is not None and self._cache[0] == step:
            return self._cache[1], self._cache[2]
        with self._own_stream():
            outputs, batch, _ = self._pass(step, with_losses=False)
        return outputs, batch

    def validate(self, step: int) -> dict[str, float]:
        """``val/loss``, ``val/<term>`` and every metric over the eval set."""
        with self._own_stream():  # the loss terms' draws, then the metrics'
            return self._validate(step)

    def _validate(self, step: int) -> dict[str, float]:
        outputs, batch, means = self._pass(step)
        logs = {f"{VAL_PREFIX}{k}": float(v) for k, v in means.items()}
        owners = {key: f"loss term {key[len(VAL_PREFIX) :]!r}" for key in logs}
        owners[f"{VAL_PREFIX}loss"] = "the run's total loss"
        for name, metric in self.parts.metrics.items():
            planned = self.parts.component_of("metrics", name)
            try:
                value = metric(outputs, batch)
            except Exception as exc:
                raise TrainingError(f"raised {describe(exc)}", **planned.blame) from exc
            pairs = (
                [(f"{VAL_PREFIX}{k}", v) for k, v in value.items()]
                if isinstance(value, Mapping)
                else [(f"{VAL_PREFIX}{name}", value)]
            )
            for key, v in pairs:
                if key in owners:
                    raise TrainingError(
                        f"returned {key!r}, which is {owners[key]}'s: it would be overwritten",
                        hint="rename the key, or give the entry another name",
                        **planned.blame,
                    )
                owners[key] = f"metric {name!r}"
                logs[key] = _metric_value(v, key, planned)
            if isinstance(value, Mapping):
                self.best.learn(name, [k for k, _ in pairs])
        return logs


def _metric_value(value: Any, key: str, planned: Planned) -> float:
    """A metric's value as a float; anything but a number or a one-element tensor is an error
    naming the metric and its plugin."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        return float(value)
    if isinstance(value, numbers.Real):  # int, float, numpy scalars
        return float(value)
    if isinstance(value, torch.Tensor):
        what = f"a tensor of shape {list(value.shape)}"
    else:
        what = "None" if value is None else f"a {type(value).__name__}"
    raise TrainingError(
        f"returned {what} for {key!r}",
        hint="a metric returns a number, a one-element tensor, or a dict of them",
        **planned.blame,
    )
