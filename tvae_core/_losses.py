"""Weighted composition of loss terms: the seed's ``LossRegistry``."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from tvae_core._errors import ConfigError

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


def required_keys(component: object) -> set[str]:
    """The keys a loss or metric reads, from its optional ``requires`` attribute."""
    return set(getattr(component, "requires", ()) or ())


def missing_keys(component: object, outputs: Collection[str], batch: Collection[str]) -> list[str]:
    """The ``requires`` keys that neither place provides, sorted.

    ``"outputs.k"`` must be a model output, ``"batch.k"`` a batch key, a bare ``"k"`` either.
    """
    missing = []
    for key in sorted(required_keys(component)):
        scope, _, name = key.rpartition(".")
        if scope == "outputs":
            found = name in outputs
        elif scope == "batch":
            found = name in batch
        else:
            found = name in outputs or name in batch
        if not found:
            missing.append(key)
    return missing


class LossRegistry:
    """Named loss terms with mutable weights; ``compose`` sums ``weight * value``.

    A term whose weight is 0 is still evaluated (so its value is logged) but adds nothing
    and takes no part in the gradient. Weights are plain floats: callbacks such as
    homeostasis change them between steps with :meth:`set_weight`.
    """

    def __init__(self) -> None:
        self._losses: dict[str, LossFn] = {}
        self._weights: dict[str, float] = {}

    def add(self, name: str, loss: LossFn, weight: float = 1.0) -> None:
        """Add a term; names are unique within a registry."""
        if name in self._losses:
            raise ConfigError(f"loss {name!r} is added twice; give each loss term its own name")
        self._losses[name] = loss
        self._weights[name] = float(weight)

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
        terms: dict[str, LossTerm] = {}
        total: torch.Tensor | None = None
        for name, loss in self._losses.items():
            value = loss(outputs, batch)
            weight = self._weights[name]
            terms[name] = LossTerm(value, weight)
            if weight != 0.0:
                contribution = value * weight
                total = contribution if total is None else total + contribution
        if total is None:
            ref = next(iter(outputs.values()), None)
            total = torch.zeros((), device=ref.device if ref is not None else None)
        return LossResult(total, terms)

    def state_dict(self) -> dict[str, Any]:
        return {"weights": dict(self._weights)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, weight in state.get("weights", {}).items():
            if name in self._weights:
                self._weights[name] = float(weight)
