"""Callbacks that drive loss weights during training: ``homeostasis`` and ``curriculum``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tvae_core import Callback, ConfigError
from tvae_homeostasis._controller import HomeostasisController
from tvae_homeostasis._curriculum import CurriculumScheduler, Schedule

if TYPE_CHECKING:
    from tvae_core import LossRegistry


def _losses_of(trainer: Any, who: str) -> LossRegistry:
    losses = getattr(trainer, "losses", None)
    if losses is None:
        raise ConfigError(f"callback {who!r} needs a trainer with a loss registry (trainer.losses)")
    return losses


def _not_started(who: str) -> RuntimeError:
    return RuntimeError(
        f"callback {who!r}: on_fit_start(trainer) was not called; it gives the callback the "
        f"run's loss registry (trainer.losses)"
    )


def _check_loss(losses: LossRegistry, name: str, who: str, key: str) -> None:
    if name not in losses:
        known = ", ".join(losses.names()) or "none"
        raise ConfigError(
            f"callbacks: {who}.{key}: the run has no loss named {name!r} (its losses: {known})"
        )


class HomeostasisCallback(Callback):
    """Adapts a loss's weight (β of the KL) each epoch so that the KL stays near a target.

    At each epoch's end it reads ``logs[monitor]`` (by default the epoch's mean KL,
    ``train/kl``), feeds it to a :class:`HomeostasisController` and sets the weight of the
    loss ``loss`` to the controller's β for the next epoch; the run logs that weight as
    ``beta``. The controller's rule is documented on :class:`HomeostasisController`. A
    ``val/*`` monitor is only present on validation epochs; β is updated on those. The
    controller's state is saved in checkpoints and restored on resume.

    Args:
        target_kl: the KL to hold, in the units of ``monitor``; > 0.
        kl_tolerance: half-width of the band in which β is left alone; >= 0.
        beta_init: β to start from; None starts from the loss's configured weight
            (clipped to beta_min..beta_max).
        beta_min: smallest β; > 0.
        beta_max: largest β.
        gain: change of log β per epoch at full error; β moves by at most a factor
            exp(gain) per epoch.
        proportional_gain: proportional gain on log β; 0 (the default) is a pure
            integral controller.
        loss: name of the loss term whose weight is β.
        monitor: the epoch metric holding the KL, such as ``train/kl`` or ``val/kl``.
    """

    def __init__(
        self,
        target_kl: float = 1.0,
        kl_tolerance: float = 0.5,
        beta_init: float | None = None,
        beta_min: float = 1e-4,
        beta_max: float = 10.0,
        gain: float = 0.1,
        proportional_gain: float = 0.0,
        loss: str = "kl",
        monitor: str = "train/kl",
    ) -> None:
        start = beta_init if beta_init is not None else min(max(1.0, beta_min), beta_max)
        self.controller = HomeostasisController(
            target_kl=target_kl,
            kl_tolerance=kl_tolerance,
            beta_init=start,
            beta_min=beta_min,
            beta_max=beta_max,
            gain=gain,
            proportional_gain=proportional_gain,
        )
        self.beta_init = beta_init
        self.loss = loss
        self.monitor = monitor
        self._losses: LossRegistry | None = None
        self._restored = False

    @property
    def beta(self) -> float:
        """The β this callback sets (the controller's β for the last KL it saw)."""
        return self.controller.get_beta(self.controller.last_kl)

    def on_fit_start(self, trainer: Any) -> None:
        losses = _losses_of(trainer, "homeostasis")
        _check_loss(losses, self.loss, "homeostasis", "loss")
        prefix, _, term = self.monitor.partition("/")
        if prefix == "train" and term != "loss" and term not in losses:
            # The loop logs train/loss and train/<term> per loss term: say so before epoch 1.
            known = ", ".join(f"train/{n}" for n in ["loss", *losses.names()])
            raise ConfigError(
                f"callbacks: homeostasis.monitor: the run logs no {self.monitor!r} (it logs {known})"
            )
        self._losses = losses
        if not self._restored and self.beta_init is None:
            self.controller.reset(losses.weight(self.loss))
        self._apply()

    def _apply(self) -> None:
        if self._losses is not None:
            self._losses.set_weight(self.loss, self.beta)

    def on_validation_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        if self.monitor.startswith("val/") and self.monitor not in logs:
            raise ConfigError(self._missing_monitor(logs))

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        if self.monitor not in logs:
            if self.monitor.startswith("val/"):
                return  # not a validation epoch; β holds until the next measurement
            raise ConfigError(self._missing_monitor(logs))
        if self._losses is None:
            raise _not_started("homeostasis")
        self.controller.update(float(logs[self.monitor]))
        self._apply()

    def _missing_monitor(self, logs: Mapping[str, float]) -> str:
        keys = ", ".join(sorted(k for k in logs if "/" in k)) or "none"
        return (
            f"callbacks: homeostasis.monitor: {self.monitor!r} is not among the epoch's "
            f"metrics ({keys})"
        )

    def state_dict(self) -> dict[str, Any]:
        return {"controller": self.controller.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "controller" in state:
            self.controller.load_state_dict(state["controller"])
            self._restored = True
            self._apply()


class CurriculumCallback(Callback):
    """Ramps loss weights with the epoch: each named loss gets ``base weight × difficulty``.

    At each epoch's start it sets the weight of every loss in ``losses`` to its base
    weight times :meth:`CurriculumScheduler.get_difficulty` of the (0-based) epoch. It
    keeps no state: a resumed run gets the weights of its epoch. Do not give it the loss
    a ``homeostasis`` callback drives; the run refuses that at fit start.

    Args:
        losses: base weight of each loss to ramp, by loss name (``{padic_ranking: 0.5}``).
        start_difficulty: difficulty at epoch 0.
        end_difficulty: difficulty from epoch ``warmup_epochs`` on.
        warmup_epochs: epochs of the ramp; >= 0.
        schedule: shape of the ramp, ``linear`` or ``cosine``.
    """

    def __init__(
        self,
        losses: dict[str, float],
        start_difficulty: float = 0.1,
        end_difficulty: float = 1.0,
        warmup_epochs: int = 50,
        schedule: Schedule = "linear",
    ) -> None:
        if not losses:
            raise ValueError("losses must name at least one loss and its base weight")
        for name, weight in losses.items():
            if not math.isfinite(float(weight)):
                raise ValueError(f"losses.{name}: base weight must be finite, got {weight}")
        self.losses = {str(k): float(v) for k, v in losses.items()}
        self.scheduler = CurriculumScheduler(
            start_difficulty=start_difficulty,
            end_difficulty=end_difficulty,
            warmup_epochs=warmup_epochs,
            schedule=schedule,
        )
        self._registry: LossRegistry | None = None

    def weights(self, epoch: int) -> dict[str, float]:
        """The weight of each ramped loss at ``epoch``."""
        difficulty = self.scheduler.get_difficulty(epoch)
        return {name: base * difficulty for name, base in self.losses.items()}

    def on_fit_start(self, trainer: Any) -> None:
        registry = _losses_of(trainer, "curriculum")
        for name in self.losses:
            _check_loss(registry, name, "curriculum", f"losses.{name}")
        for other in getattr(trainer, "callbacks", None) or ():
            if isinstance(other, HomeostasisCallback) and other.loss in self.losses:
                raise ConfigError(
                    f"callbacks: curriculum.losses.{other.loss}: homeostasis already sets the "
                    f"weight of loss {other.loss!r}; ramp a different loss"
                )
        self._registry = registry

    def on_epoch_start(self, epoch: int) -> None:
        if self._registry is None:
            raise _not_started("curriculum")
        for name, weight in self.weights(epoch).items():
            self._registry.set_weight(name, weight)
