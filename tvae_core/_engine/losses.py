"""Weighted composition of loss terms: the seed's ``LossRegistry``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import torch

from tvae_core._errors import ConfigError, TrainingError

LossFn = Callable[[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class LossTerm:
    """One term of a composed loss: its unweighted value and the weight it was given."""

    value: torch.Tensor
    weight: float

    @property
    def weighted(self) -> torch.Tensor:
        return self.value * self.weight


@dataclass(frozen=True)
class LossResult:
    """What :meth:`LossRegistry.compose` returns: the scalar ``total`` and each term."""

    total: torch.Tensor
    terms: dict[str, LossTerm]


class LossRegistry:
    """Named loss terms with mutable weights; ``compose`` sums ``weight * value``.

    A term whose weight is 0 is still evaluated (so its value is logged) but adds nothing
    and takes no part in the gradient. Weights are plain floats: callbacks such as
    homeostasis change them between steps with :meth:`set_weight`.
    """

    def __init__(self) -> None:
        self._losses: dict[str, LossFn] = {}
        self._weights: dict[str, float] = {}
        self._owners: dict[str, tuple[str, str, str | None]] = {}

    def add(
        self,
        name: str,
        loss: LossFn,
        weight: float = 1.0,
        *,
        owner: tuple[str, str, str | None] | None = None,
    ) -> None:
        """Add a term; names are unique within a registry.

        ``owner`` (config slot, component label, plugin) names the term in an error about
        what it returns; without it the term's name does.
        """
        if name in self._losses:
            raise ConfigError(
                f"loss {name!r} is added twice", hint="give each loss term its own name"
            )
        self._losses[name] = loss
        self._weights[name] = float(weight)
        if owner is not None:
            self._owners[name] = owner

    register = add

    def __contains__(self, name: object) -> bool:
        return name in self._losses

    def __iter__(self) -> Iterator[str]:
        return iter(self._losses)

    def __len__(self) -> int:
        return len(self._losses)

    def names(self) -> list[str]:
        return list(self._losses)

    def get(self, name: str) -> LossFn:
        return self._losses[self._known(name)]

    def weight(self, name: str) -> float:
        return self._weights[self._known(name)]

    def set_weight(self, name: str, weight: float) -> None:
        self._weights[self._known(name)] = float(weight)

    def logged_weights(self) -> dict[str, float]:
        """The current weight of each term that names a log key for it (``weight_log_key``).

        The KL term of tvae-losses declares ``beta``, so its weight is logged as ``beta``.
        """
        out: dict[str, float] = {}
        for name, loss in self._losses.items():
            key = getattr(loss, "weight_log_key", None)
            if isinstance(key, str) and key and key not in out:
                out[key] = self._weights[name]
        return out

    @property
    def weights(self) -> dict[str, float]:
        return dict(self._weights)

    def _known(self, name: str) -> str:
        if name not in self._losses:
            raise KeyError(f"no loss term named {name!r}; terms: {', '.join(self._losses)}")
        return name

    def compose(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> LossResult:
        """Evaluate every term on ``outputs`` and ``batch`` and sum the weighted values."""
        values = {name: loss(outputs, batch) for name, loss in self._losses.items()}
        ref = next(iter(outputs.values()), None)
        return self.combine(values, device=ref.device if ref is not None else None)

    def combine(self, values: Mapping[str, Any], device: torch.device | None = None) -> LossResult:
        """The result of the terms' ``values`` (one per term, by name) at the current weights.

        What :meth:`compose` does after evaluating the terms; a compiled step evaluates them
        in its graph and combines them here, so the weights stay plain floats that callbacks
        change between steps without recompiling anything. ``device`` holds the total when
        every weight is 0 (else the first term's device).
        """
        terms: dict[str, LossTerm] = {}
        total: torch.Tensor | None = None
        for name in self._losses:
            value = values[name]
            if not (
                isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point()
            ):
                self._bad_return(name, value)
            weight = self._weights[name]
            terms[name] = LossTerm(value, weight)
            if weight != 0.0:
                contribution = value * weight
                total = contribution if total is None else total + contribution
        if total is None:
            first = next(iter(terms.values()), None)
            total = torch.zeros((), device=first.value.device if first is not None else device)
        return LossResult(total, terms)

    def _bad_return(self, name: str, value: Any) -> NoReturn:
        if isinstance(value, torch.Tensor):
            what = f"a {value.dtype} tensor of shape {list(value.shape)}"
        elif isinstance(value, (int, float)):
            what = f"a {type(value).__name__} (a plain number has no gradient)"
        else:
            what = "None" if value is None else f"a {type(value).__name__}"
        where, component, plugin = self._owners.get(name, (None, f"loss term {name!r}", None))
        raise TrainingError(
            f"returned {what}",
            where=where,
            component=component,
            plugin=plugin,
            hint="a loss returns a one-element floating-point tensor (e.g. a mean)",
        )

    def state_dict(self) -> dict[str, Any]:
        return {"weights": dict(self._weights)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, weight in state.get("weights", {}).items():
            if name in self._weights:
                self._weights[name] = float(weight)
