"""Closed-form Poincaré geometry against geoopt (float64) and its own identities."""

from __future__ import annotations

import geoopt
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tvae_ternary.geometry import (
    distance,
    expmap0,
    logmap0,
    pairwise_distance,
    radius,
    soft_clip_radius,
)

curvatures = st.sampled_from([0.5, 1.0, 2.0])


def _points(seed: int, n: int, dim: int, c: float, max_rho: float = 5.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    u = u / u.norm(dim=-1, keepdim=True) * torch.rand(n, 1, generator=gen, dtype=torch.float64)
    return expmap0(u * max_rho / 2, c)


@settings(derandomize=True, max_examples=25, deadline=None)
@given(st.integers(0, 10_000), curvatures)
def test_distance_matches_geoopt_in_float64(seed: int, c: float) -> None:
    ball = geoopt.PoincareBall(c=torch.tensor(c, dtype=torch.float64))
    x, y = _points(seed, 64, 5, c), _points(seed + 1, 64, 5, c)
    ref = ball.dist(x, y)
    assert torch.allclose(distance(x, y, c), ref, rtol=1e-7, atol=1e-8)
    assert torch.allclose(radius(x, c), ball.dist0(x), rtol=1e-7, atol=1e-8)
    assert torch.allclose(expmap0(logmap0(x, c), c), x, atol=1e-10)
    u = ball.logmap0(x)
    assert torch.allclose(logmap0(x, c), u, atol=1e-8)
    assert torch.allclose(expmap0(u, c), ball.expmap0(u), atol=1e-10)


@settings(derandomize=True, max_examples=10, deadline=None)
@given(st.integers(0, 10_000), curvatures)
def test_pairwise_distance_equals_rowwise(seed: int, c: float) -> None:
    x, y = _points(seed, 20, 4, c), _points(seed + 7, 30, 4, c)
    d = pairwise_distance(x, y, c)
    assert d.shape == (20, 30)
    assert torch.allclose(d, distance(x.unsqueeze(1), y.unsqueeze(0), c), rtol=1e-6, atol=1e-6)


def test_float32_all_pairs_accurate_at_large_distances() -> None:
    x = _points(0, 256, 16, 1.0, max_rho=4.0)
    d32 = pairwise_distance(x.float(), None, 1.0).double()
    d64 = pairwise_distance(x, None, 1.0)
    off = ~torch.eye(256, dtype=torch.bool)
    assert (d32 - d64)[off].abs().max() < 1e-3


def test_radius_is_twice_tangent_norm() -> None:
    u = torch.tensor([[0.3, 0.4], [1.0, 0.0]], dtype=torch.float64)
    assert torch.allclose(radius(expmap0(u)), 2 * u.norm(dim=-1))


def test_distance_gradient_finite_at_coincident_points() -> None:
    x = torch.zeros(3, 4, requires_grad=True)
    d = pairwise_distance(x, None, torch.tensor(1.0, requires_grad=True))
    d.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_gradient_reaches_curvature() -> None:
    c = torch.tensor(1.0, requires_grad=True)
    x = _points(3, 8, 3, 1.0).float()
    (distance(x[:4], x[4:], c).sum() + radius(x, c).sum()).backward()
    assert c.grad is not None and c.grad.abs() > 0


def test_soft_clip_radius_bounds_and_orders() -> None:
    u = torch.linspace(0.01, 50, 100).unsqueeze(1) * torch.tensor([[0.6, 0.8]])
    rho = radius(expmap0(soft_clip_radius(u, 4.0)))
    assert rho.max() <= 4.0 + 1e-4
    assert (rho.diff() >= -1e-5).all()  # float32 saturates at the cap
    small = torch.tensor([[1e-3, 0.0]])
    assert torch.allclose(soft_clip_radius(small, 4.0), small, rtol=1e-4)


@pytest.mark.parametrize("c", [1.0, torch.tensor(2.0)])
def test_curvature_as_float_or_tensor(c: float | torch.Tensor) -> None:
    x = _points(1, 4, 3, 1.0).float()
    assert torch.isfinite(distance(x[:2], x[2:], c)).all()


def test_maps_have_finite_gradients_at_the_origin() -> None:
    x = torch.zeros(2, 3, requires_grad=True)
    total = radius(x).sum() + expmap0(x).sum() + logmap0(x).sum() + soft_clip_radius(x, 4.0).sum()
    total.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
