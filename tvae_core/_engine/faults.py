"""What the loop says when training goes wrong: which component raised, which term went bad.

A fault in a component's code (a loss that raises at step 40) becomes one line naming the
component, its plugin, the epoch and step and the last good checkpoint; a non-finite loss,
gradient or weight names the loss term responsible when one can be found.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from tvae_core._engine.losses import LossRegistry
from tvae_core._errors import TrainingError, TvaeError, describe


def _last_good(checkpoint: Path | None) -> str:
    if checkpoint is not None and checkpoint.exists():
        return f"last good checkpoint: {checkpoint}"
    return "no checkpoint was written yet"


#: Where a component sits: its config key path, ``kind 'name'`` and its plugin's origin.
Owner = tuple[str, str, str]


class Owners:
    """Which component each built object (or function's code) belongs to."""

    def __init__(self) -> None:
        self._who: dict[int, Owner] = {}

    def add(self, obj: object, who: Owner) -> None:
        self._who[id(obj)] = who
        code = getattr(obj, "__code__", None)  # a function component (a metric closure)
        if code is not None:
            self._who[id(code)] = who

    def blame(self, exc: BaseException) -> Owner | None:
        """The component whose code raised ``exc`` (the innermost one), or None."""
        frames = []
        tb = exc.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        for frame in reversed(frames):
            obj = frame.f_locals.get("self")
            who = self._who.get(id(obj)) if obj is not None else None
            who = who or self._who.get(id(frame.f_code))
            if who is not None:
                return who
        return None


def component_fault(
    exc: BaseException, owners: Owners, epoch: int, step: int, checkpoint: Path | None
) -> TrainingError | None:
    """One line naming the component whose code raised ``exc`` (None: no component did).

    A ``sys.exit()`` in a component during training is a fault too (its exit code would
    end the command as if the run had gone well): blamed on the component, or on no one.
    """
    exiting = isinstance(exc, SystemExit)
    if not (isinstance(exc, Exception) or exiting) or isinstance(exc, TvaeError):
        return None
    what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else None
    who = owners.blame(exc)
    if who is None:
        if what is None:
            return None
        return TrainingError(
            f"a plugin {what} during training at epoch {epoch + 1}, step {step}",
            hint=_last_good(checkpoint),
        )
    where, component, plugin = who
    return TrainingError(
        f"{what or 'raised ' + describe(exc)} at epoch {epoch + 1}, step {step}",
        where=where,
        component=component,
        plugin=plugin,
        hint=_last_good(checkpoint),
    )


def nonfinite(
    what: str,
    epoch: int,
    step: int,
    terms: Mapping[str, Any],
    checkpoint: Path | None,
    culprit: str | None = None,
) -> TrainingError:
    """``non-finite <what> at epoch E, step S (the term to blame); last good checkpoint``."""
    bad = [n for n, t in terms.items() if not bool(torch.isfinite(t.value).all())]
    blame = f" (loss term {bad[0]!r} = {float(terms[bad[0]].value.detach())})" if bad else ""
    if culprit is not None:
        blame = f" (the gradient of loss term {culprit!r})"
    elif not bad:
        weights = [n for n, t in terms.items() if not math.isfinite(t.weight)]
        if weights:
            blame = f" (loss term {weights[0]!r} has weight {terms[weights[0]].weight})"
    return TrainingError(
        f"non-finite {what} at epoch {epoch + 1}, step {step}{blame}",
        hint=_last_good(checkpoint),
    )


def too_many_skips(count: int, cause: TrainingError) -> TrainingError:
    """``on_nonfinite: skip`` gave up: ``count`` steps in a row were skipped, the last for ``cause``."""
    return TrainingError(
        f"{count} steps in a row skipped (trainer.max_skipped_steps), the last for a "
        f"{cause.message}: the fault does not go away",
        hint=f"{cause.hint}; fix the cause, or raise trainer.max_skipped_steps",
    )


def gradient_culprit(
    model: torch.nn.Module,
    losses: LossRegistry,
    batch: Mapping[str, torch.Tensor],
    params: Sequence[torch.Tensor],
) -> str | None:
    """The first loss term whose own gradient is non-finite, from a re-run of the step."""
    try:
        with torch.random.fork_rng(devices=[]):
            result = losses.compose(model(batch), batch)  # the bare model: no DDP hooks
            for name, term in result.terms.items():
                grads = torch.autograd.grad(
                    term.value, params, retain_graph=True, allow_unused=True
                )
                if any(g is not None and not bool(torch.isfinite(g).all()) for g in grads):
                    return name
    except Exception:  # a diagnosis only: the run stops on the gradient either way
        return None
    return None
