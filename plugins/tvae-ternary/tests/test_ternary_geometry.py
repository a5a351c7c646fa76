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
    rowwise_distance,
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


@settings(derandomize=True, max_examples=15, deadline=None)
@given(st.integers(0, 10_000), curvatures)
def test_rowwise_distance_equals_gathered_rows_with_gradients(seed: int, c: float) -> None:
    """Same values and gradients (points and curvature) as distance() on the gathered rows."""
    gen = torch.Generator().manual_seed(seed)
    x0 = _points(seed, 40, 6, c)
    j = torch.randint(0, 40, (2, 3, 40), generator=gen)
    j[0, 0, :5] = torch.arange(5)  # a row against itself: d = 0 with a finite gradient
    rows = torch.arange(40)
    grads = []
    for fn in (
        lambda x, k: rowwise_distance(x, j, k),
        lambda x, k: distance(x[rows.expand_as(j)], x[j], k),
    ):
        x = x0.clone().requires_grad_()
        k = torch.tensor(c, dtype=torch.float64, requires_grad=True)
        d = fn(x, k)
        assert d.shape == j.shape
        (d * torch.linspace(0.5, 1.5, d.numel(), dtype=torch.float64).view_as(d)).sum().backward()
        assert x.grad is not None and k.grad is not None
        grads.append((d.detach(), x.grad, k.grad))
    (d_a, gx_a, gk_a), (d_b, gx_b, gk_b) = grads
    assert torch.allclose(d_a, d_b, rtol=1e-9, atol=1e-12)
    assert torch.isfinite(gx_a).all()
    assert torch.allclose(gx_a, gx_b, rtol=1e-7, atol=1e-9)
    assert torch.allclose(gk_a, gk_b, rtol=1e-7, atol=1e-9)


def test_rowwise_distance_float32_accuracy_down_to_the_deepest_level() -> None:
    """Pairs closer than the ranking loss's deepest level (1.5 * 0.5^8) keep float32 accuracy."""
    gen = torch.Generator().manual_seed(3)
    base = _points(3, 64, 16, 1.0, max_rho=3.0)
    step = torch.randn(64, 16, generator=gen, dtype=torch.float64)
    near = base + 1e-3 * step / step.norm(dim=-1, keepdim=True)
    x = torch.cat([base, near])
    j = torch.cat([torch.arange(64, 128), torch.arange(64)])  # row r against its twin
    d64 = distance(x, x[j])
    d32 = rowwise_distance(x.float(), j).double()
    assert d64.min() > 1e-3
    assert ((d32 - d64).abs() / d64).max() < 1e-3


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
