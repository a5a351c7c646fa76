"""Small models with ordinary and manifold parameters, shared by the tvae-geoopt tests."""

from __future__ import annotations

from collections.abc import Callable

import geoopt
import pytest
import torch


class MixedModel(torch.nn.Module):
    """A linear layer, points on the Poincaré ball and a unit vector on the sphere."""

    def __init__(
        self, seed: int = 0, manifold: bool = True, dtype: torch.dtype = torch.float32
    ) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.ball = geoopt.PoincareBall()
        self.linear = torch.nn.Linear(4, 3)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(3, 4, generator=gen) * 0.5)
            self.linear.bias.copy_(torch.randn(3, generator=gen) * 0.1)
        self.scale = torch.nn.Parameter(torch.ones(3))
        self.points: geoopt.ManifoldParameter | None = None
        self.direction: geoopt.ManifoldParameter | None = None
        if manifold:
            points = self.ball.expmap0(torch.randn(5, 3, generator=gen) * 0.3)
            self.points = geoopt.ManifoldParameter(points, manifold=self.ball)
            sphere = geoopt.Sphere()
            self.direction = geoopt.ManifoldParameter(
                sphere.projx(torch.randn(3, generator=gen)), manifold=sphere
            )
        self.x = torch.randn(6, 4, generator=gen)
        if dtype != torch.float32:
            self.to(dtype)
            self.x = self.x.to(dtype)

    def loss(self) -> torch.Tensor:
        y = self.linear(self.x) * self.scale
        loss = (y.tanh() - 0.3).pow(2).sum()
        if self.points is not None and self.direction is not None:
            anchor = self.ball.expmap0(0.5 * y[:1].tanh())
            loss = loss + self.ball.dist(self.points, anchor).pow(2).sum()
            loss = loss + (1.0 - (self.direction * y.mean(0).tanh()).sum()).pow(2)
        return loss


def run_steps(model: MixedModel, optimizer: torch.optim.Optimizer, steps: int) -> None:
    """``steps`` training steps of ``model.loss`` with ``optimizer``."""
    for _ in range(steps):
        optimizer.zero_grad()
        model.loss().backward()
        optimizer.step()


def max_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """Largest absolute difference between the parameters of two same-shaped models."""
    return max(
        (p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )


@pytest.fixture
def mixed_model() -> Callable[..., MixedModel]:
    """The :class:`MixedModel` class (call it with a seed)."""
    return MixedModel


@pytest.fixture(name="run_steps")
def run_steps_fixture() -> Callable[[MixedModel, torch.optim.Optimizer, int], None]:
    return run_steps


@pytest.fixture(name="max_difference")
def max_difference_fixture() -> Callable[[torch.nn.Module, torch.nn.Module], float]:
    return max_difference
