"""Callbacks that drive loss weights during training: ``homeostasis`` and ``curriculum``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

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


#: The metrics homeostasis keeps β from trading away unless told otherwise (tvae-ternary's).
DEFAULT_GUARDS = ("val/coverage", "val/level_radial_accuracy", "val/depth_triplet_accuracy")


class HomeostasisCallback(Callback):
    """Adapts a loss's weight (β of the KL) each epoch so that the KL stays near a target.

    At each epoch's end it reads ``logs[monitor]`` (by default the epoch's mean KL,
    ``train/kl``), feeds it to a :class:`HomeostasisController` and sets the weight of the
    loss ``loss`` to the controller's β for the next epoch; the run logs that weight as
    ``beta``. The controller's rule is documented on :class:`HomeostasisController`. A
    ``val/*`` monitor is only present on validation epochs; β is updated on those. The
    controller's state is saved in checkpoints and restored on resume.

    **Units.** With ``kl_unit: dim`` (the default) ``target_kl`` and ``kl_tolerance`` are nats
    per latent dimension: the callback divides the monitored KL (the KL loss reports the sum
    over the model's ``latent_dim`` dimensions) by ``latent_dim`` before the controller sees
    it, so the seed guide's ``target_kl=1.0, kl_tolerance=0.5`` holds 8-24 nats in 16
    dimensions. ``kl_unit: total`` takes them as nats of the whole KL.

    **Information.** Telling N operations apart needs at least ln N nats in the latent. A band
    whose top, ``(target_kl + kl_tolerance)`` in total nats, lies below ln N (the model's
    ``input_dim`` operations) is refused at fit start: such a β drives coverage to zero.

    **Guards.** Each metric of ``guard`` (higher is better; by default coverage and the two
    balanced accuracies of tvae-ternary, ``val/coverage``, ``val/level_radial_accuracy`` and
    ``val/depth_triplet_accuracy``) is watched on the validation epochs that log it: while one
    lies more than ``guard_tolerance`` below its best, β is not raised, and it returns to the
    β in force at that best. So the KL pressure is never bought with decoded operations or
    with the order of the tree. A guard the run does not log is ignored; ``[]`` turns them
    off.

    Args:
        target_kl: the KL to hold, in ``kl_unit``s of the ``monitor``; > 0.
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
        kl_unit: "dim" (nats per latent dimension) or "total" (nats of the whole KL).
        guard: higher-is-better validation metrics β may not trade away (a name or a list).
        guard_tolerance: how far below its best the guard may fall before it acts; >= 0.
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
        kl_unit: Literal["dim", "total"] = "dim",
        guard: str | list[str] | None = None,
        guard_tolerance: float = 1e-3,
    ) -> None:
        if kl_unit not in ("dim", "total"):
            raise ValueError(f"kl_unit must be 'dim' or 'total', got {kl_unit!r}")
        if not (math.isfinite(guard_tolerance) and guard_tolerance >= 0):
            raise ValueError(f"guard_tolerance must be finite and >= 0, got {guard_tolerance}")
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
        self.kl_unit = kl_unit
        if guard is None:
            guard = list(DEFAULT_GUARDS)
        self.guard = [guard] if isinstance(guard, str) else [str(g) for g in guard]
        self.guard_tolerance = float(guard_tolerance)
        #: Latent dimensions the monitored KL is divided by (1 with kl_unit "total").
        self.kl_scale = 1
        #: Each guard's best value and the β in force when it was reached.
        self._guards: dict[str, tuple[float, float]] = {}
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
        self._check_units(getattr(trainer, "model", None))
        self._losses = losses
        if not self._restored and self.beta_init is None:
            self.controller.reset(losses.weight(self.loss))
        self._apply()

    def _check_units(self, model: Any) -> None:
        """Read the latent dimensions and refuse a band that cannot carry ln N nats."""
        dims = getattr(model, "latent_dim", None)
        if self.kl_unit == "dim":
            if not isinstance(dims, int) or dims < 1:
                raise ConfigError(
                    f"callbacks: homeostasis.kl_unit: 'dim' divides the KL by the model's "
                    f"latent_dim, and model {type(model).__name__} has none; set kl_unit: total "
                    "(target_kl in nats of the whole KL)"
                )
            self.kl_scale = dims
        else:
            self.kl_scale = 1
        size = getattr(model, "input_dim", None)
        if not isinstance(size, int) or size < 2:
            return
        top = (self.controller.target_kl + self.controller.kl_tolerance) * self.kl_scale
        need = math.log(size)
        if top < need:
            unit = f"per latent dimension x {self.kl_scale}" if self.kl_unit == "dim" else "total"
            raise ConfigError(
                f"callbacks: homeostasis.target_kl: the band holds the KL at most {top:.3g} nats "
                f"({unit}), below the ln {size} = {need:.3g} nats needed to tell the {size} "
                f"operations apart (it would drive coverage to zero); raise target_kl so "
                f"that (target_kl + kl_tolerance) x {self.kl_scale} >= {need:.3g}"
            )

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
        before = self.controller.beta
        self.controller.update(float(logs[self.monitor]) / self.kl_scale)
        self._apply_guards(logs, before)
        self._apply()

    def _apply_guards(self, logs: Mapping[str, float], before: float) -> None:
        """Keep β from trading a guard metric away (see the class docstring)."""
        ceiling = math.inf
        for name in self.guard:
            if name not in logs or not math.isfinite(value := float(logs[name])):
                continue
            best = self._guards.get(name)
            if best is None or value > best[0]:
                self._guards[name] = (value, before)
            elif value < best[0] - self.guard_tolerance:
                # Below its best: no more pressure than at that best, and no rise.
                ceiling = min(ceiling, before, best[1])
        if self.controller.beta > ceiling:
            self.controller.set_beta(ceiling)

    def _missing_monitor(self, logs: Mapping[str, float]) -> str:
        keys = ", ".join(sorted(k for k in logs if "/" in k)) or "none"
        return (
            f"callbacks: homeostasis.monitor: {self.monitor!r} is not among the epoch's "
            f"metrics ({keys})"
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "controller": self.controller.state_dict(),
            "guards": {name: [best, beta] for name, (best, beta) in self._guards.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "controller" in state:
            self.controller.load_state_dict(state["controller"])
            guards = state.get("guards") or {}
            self._guards = {str(k): (float(v[0]), float(v[1])) for k, v in guards.items()}
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
