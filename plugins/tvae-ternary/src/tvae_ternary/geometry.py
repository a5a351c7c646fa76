"""Closed-form Poincaré-ball geometry (curvature -c): distance, radius, exp_0 and log_0.

geoopt's ``PoincareBall`` is the manifold object the model holds (and Riemannian optimizers
use); these closed forms are what losses and metrics evaluate, because for all pairs of a
batch a GEMM-based ``|x - y|^2`` is ~15x faster than geoopt's Möbius form and stays accurate
in float32 at large distances (TERNARY.md). ``c`` may be a float or a 0-dim tensor (so a
learnable curvature receives gradients through every formula here).
"""

from __future__ import annotations

import torch

Curvature = float | torch.Tensor

#: Floor of ``1 - c|x|^2`` and of norms: keeps every formula finite near the boundary and at 0.
_EPS = 1e-7
#: Floor of the arccosh argument's offset: the gradient of arccosh is infinite at 1.
_MIN_ACOSH_OFFSET = 1e-12


def _sqrt_c(c: Curvature, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(c, dtype=like.dtype, device=like.device).sqrt()


def _acosh1p(t: torch.Tensor) -> torch.Tensor:
    """arccosh(1 + t) for t >= 0, accurate for small t and with a finite gradient at t = 0."""
    t = t.clamp_min(_MIN_ACOSH_OFFSET)
    return torch.log1p(t + torch.sqrt(t * (t + 2.0)))


def _conformal_denominator(sq_norm: torch.Tensor, c: Curvature) -> torch.Tensor:
    return (1.0 - c * sq_norm).clamp_min(_EPS)


def distance(x: torch.Tensor, y: torch.Tensor, c: Curvature = 1.0) -> torch.Tensor:
    """d_c(x, y) row by row (broadcasting over leading dims): shape ``x.shape[:-1]``."""
    sq = (x - y).pow(2).sum(-1)
    den = _conformal_denominator(x.pow(2).sum(-1), c) * _conformal_denominator(y.pow(2).sum(-1), c)
    return _acosh1p(2.0 * c * sq / den) / _sqrt_c(c, sq)


def pairwise_distance(
    x: torch.Tensor, y: torch.Tensor | None = None, c: Curvature = 1.0
) -> torch.Tensor:
    """d_c between every row of ``x`` (M, D) and of ``y`` (K, D): (M, K), by one GEMM."""
    y = x if y is None else y
    x2 = x.pow(2).sum(-1)
    y2 = x2 if y is x else y.pow(2).sum(-1)
    sq = (x2.unsqueeze(1) + y2.unsqueeze(0) - 2.0 * (x @ y.T)).clamp_min(0.0)
    den = _conformal_denominator(x2, c).unsqueeze(1) * _conformal_denominator(y2, c).unsqueeze(0)
    return _acosh1p(2.0 * c * sq / den) / _sqrt_c(c, sq)


def rowwise_distance(x: torch.Tensor, j: torch.Tensor, c: Curvature = 1.0) -> torch.Tensor:
    """d_c(x[r], x[j[..., r]]): each row r of ``x`` (B, D) against the rows ``j[..., r]`` names.

    ``j`` holds row indices, shaped (..., B); the result has its shape. For many pairs among
    a batch's own points (the triplets of a ranking loss, each row an anchor): every row's
    norm is computed once, the anchor side is ``x`` itself (broadcast, never gathered) and
    each pair costs one difference of two rows. The difference is taken directly, never as
    ``|x|^2 + |y|^2 - 2 x.y``, which loses the smallest distances to cancellation in float32.
    """
    other = x.index_select(0, j.reshape(-1)).view(*j.shape, x.shape[-1])
    diff = x - other
    sq = (diff * diff).sum(-1)
    den = _conformal_denominator((x * x).sum(-1), c)
    return _acosh1p(2.0 * c * sq / (den * den[j])) / _sqrt_c(c, sq)


def radius(x: torch.Tensor, c: Curvature = 1.0) -> torch.Tensor:
    """rho(x) = d_c(0, x) = (2 / sqrt c) artanh(sqrt c |x|): shape ``x.shape[:-1]``."""
    sc = _sqrt_c(c, x)
    scaled = (sc * x.norm(dim=-1)).clamp(max=1.0 - _EPS)
    return 2.0 * torch.atanh(scaled) / sc


def expmap0(u: torch.Tensor, c: Curvature = 1.0) -> torch.Tensor:
    """exp_0: tangent vectors at the origin -> points of the ball, with rho(exp_0(u)) = 2|u|."""
    sc = _sqrt_c(c, u)
    norm = u.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    return torch.tanh(sc * norm) * u / (sc * norm)


def logmap0(x: torch.Tensor, c: Curvature = 1.0) -> torch.Tensor:
    """log_0: points of the ball -> tangent vectors at the origin; the inverse of :func:`expmap0`."""
    sc = _sqrt_c(c, x)
    norm = x.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    scaled = (sc * norm).clamp(max=1.0 - _EPS)
    return torch.atanh(scaled) * x / (sc * norm)


def soft_clip_radius(u: torch.Tensor, max_radius: float) -> torch.Tensor:
    """Shrink tangent vectors so that rho(exp_0(u)) = max_radius * tanh(2|u| / max_radius).

    Smooth and order-preserving in the radius; near the origin it is the identity.
    """
    norm = u.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    rho = 2.0 * norm
    return u * (max_radius * torch.tanh(rho / max_radius) / rho)
