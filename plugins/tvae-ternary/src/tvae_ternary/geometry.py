"""Closed-form Poincaré-ball geometry (curvature -c): distance, radius, exp_0 and log_0.

geoopt's ``PoincareBall`` is the manifold object the model holds (and Riemannian optimizers
use); these closed forms are what losses and metrics evaluate, because for all pairs of a
batch a GEMM-based ``|x - y|^2`` is ~15x faster than geoopt's Möbius form and stays accurate
in float32 at large distances (TERNARY.md). ``c`` may be a float or a 0-dim tensor (so a
learnable curvature receives gradients through every formula here).

A training step of the default run is bound by the number of operator calls, not by
arithmetic (benchmarks/README.md), so each map is one autograd node with a hand-written
backward: the ball maps are ``u * h(k |u|)`` for one scalar function ``h`` per map, and a
distance is ``(2 / sqrt c) asinh(q)`` (through log1p), ``q = sqrt(c) |x - y| / sqrt((1 - c|x|^2)(1 - c|y|^2))``
(the same value as ``arccosh(1 + 2c|x - y|^2 / ((1 - c|x|^2)(1 - c|y|^2)))``, with the same
floors). Under ``torch.compile`` each function is the plain formula instead (:class:`_Plain`),
which the tests hold every value and gradient of the hand-written backwards to.
"""

from __future__ import annotations

import math
from typing import Any

import torch

Curvature = float | torch.Tensor

#: Floor of ``1 - c|x|^2`` and of norms: keeps every formula finite near the boundary and at 0.
_EPS = 1e-7
#: Floor of the arccosh argument's offset: the gradient of arccosh is infinite at 1.
_MIN_ACOSH_OFFSET = 1e-12
#: The same floor on q = sqrt(t / 2), since arccosh(1 + t) = 2 asinh(sqrt(t / 2)).
_MIN_Q = math.sqrt(_MIN_ACOSH_OFFSET / 2)


_CONSTANTS: dict[tuple[float, torch.dtype, torch.device], torch.Tensor] = {}


def constant(value: float, like: torch.Tensor) -> torch.Tensor | float:
    """``value`` as a 0-dim tensor of ``like``'s dtype and device, cached: read-only.

    A Python float in an operator with a float32 tensor is first made a float64 tensor and
    copied to float32 (four aten calls more than the operator itself, in its backward too);
    the float32 constant is the same number without them. Under ``torch.compile`` (whose
    graph folds plain numbers) the float itself.
    """
    if torch.compiler.is_compiling():
        return value
    key = (value, like.dtype, like.device)
    found = _CONSTANTS.get(key)
    if found is None:
        # A normal tensor even when first asked for under inference mode: autograd may save
        # it for a backward later (an inference tensor cannot be saved).
        with torch.inference_mode(False):
            found = torch.tensor(value, dtype=like.dtype, device=like.device)
        _CONSTANTS[key] = found
    return found


def _num(value: Curvature, like: torch.Tensor) -> Curvature:
    """A tensor as it is; a float as :func:`constant`."""
    return value if isinstance(value, torch.Tensor) else constant(value, like)


def _two_over(k: Curvature, like: torch.Tensor) -> Curvature:
    """2 / k as Python computes ``2.0 / k``: ``k.reciprocal() * 2`` for a tensor."""
    if isinstance(k, torch.Tensor):
        return k.reciprocal() * constant(2.0, k)
    return constant(2.0 / k, like)


def _as_curvature(c: Curvature, like: torch.Tensor) -> Curvature:
    """A float stays a float (no operator calls); a tensor takes the dtype of ``like``."""
    if isinstance(c, torch.Tensor):
        return c.to(dtype=like.dtype, device=like.device)
    return float(c)


def _sqrt(c: Curvature) -> Curvature:
    return c.sqrt() if isinstance(c, torch.Tensor) else math.sqrt(c)


def _tiny(like: torch.Tensor) -> float:
    return torch.finfo(like.dtype).tiny


def _two_asinh(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(2 asinh(q), sqrt(1 + q^2)) for q >= 0, by log1p: torch's asinh is ~35x slower on CPU."""
    root = q.square().add_(constant(1.0, q)).sqrt_()
    return torch.log1p((q + root).mul_(q).mul_(constant(2.0, q))), root


class _ScaleRows(torch.autograd.Function):
    """``u * h(s)``, ``s = k max(|u|, eps)`` per row, with ``h(s) = phi(s) / s`` and
    ``phi`` = tanh (exp_0, the soft radius cap) or artanh of ``min(s, 1 - eps)`` (log_0)."""

    @staticmethod
    def forward(ctx: Any, u: torch.Tensor, k: Curvature, inverse: bool) -> torch.Tensor:
        n = torch.linalg.vector_norm(u, dim=-1, keepdim=True).clamp_min_(_EPS)
        s = n * _num(k, n)
        if inverse:
            capped = s.clamp(max=1.0 - _EPS)
            phi = torch.atanh(capped)
        else:
            capped = None
            phi = torch.tanh(s)
        h = phi / s
        ctx.inverse = inverse
        ctx.save_for_backward(u, n, phi, h, capped, k if isinstance(k, torch.Tensor) else None)
        ctx.k = k if not isinstance(k, torch.Tensor) else None
        return u * h

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, Any, None]:
        u, n, phi, h, capped, k_tensor = ctx.saved_tensors
        k = ctx.k if k_tensor is None else k_tensor
        dot = torch.linalg.vecdot(u, grad, dim=-1).unsqueeze(-1)
        # s h'(s) = phi'(s) - h(s); the row's own factor and the radial part of the chain rule.
        one = constant(1.0, phi)
        if ctx.inverse:
            inside = (one - capped.square()).reciprocal()
            dphi = torch.where(capped < constant(1.0 - _EPS, phi), inside, constant(0.0, phi))
        else:
            dphi = one - phi.square()
        a = (dphi - h) * dot
        grad_u = torch.addcmul(grad * h, u, a / n.square()) if ctx.needs_input_grad[0] else None
        grad_k = a.sum() / k if ctx.needs_input_grad[1] else None
        return grad_u, grad_k, None


class _Radius(torch.autograd.Function):
    """rho(x) = (2 / k) artanh(min(k |x|, 1 - eps)), ``k = sqrt c``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, k: Curvature) -> torch.Tensor:
        n = torch.linalg.vector_norm(x, dim=-1)
        m = (n * k).clamp_(max=1.0 - _EPS)
        rho = torch.atanh(m).mul_(_two_over(k, m))
        ctx.save_for_backward(x, n, m, rho, k if isinstance(k, torch.Tensor) else None)
        ctx.k = k if not isinstance(k, torch.Tensor) else None
        return rho

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, Any]:
        x, n, m, rho, k_tensor = ctx.saved_tensors
        k = ctx.k if k_tensor is None else k_tensor
        # d rho / d|x| = 2 / (1 - m^2) below the cap, 0 at it.
        zero = constant(0.0, m)
        inside = (constant(1.0, m) - m.square()).reciprocal() * constant(2.0, m)
        slope = torch.where(m < constant(1.0 - _EPS, m), inside, zero)
        grad_x = grad_k = None
        if ctx.needs_input_grad[0]:
            # x / |x| has no direction at 0: the gradient is 0 there, as norm's own backward.
            grad_x = x * torch.where(n > zero, grad * slope / n, zero).unsqueeze(-1)
        if ctx.needs_input_grad[1]:
            grad_k = (grad * (slope * n - rho)).sum() / k
        return grad_x, grad_k


class _RowwiseDistance(torch.autograd.Function):
    """d_c(x[r], x[j[..., r]]) by the asinh form; the gather's gradient is one ``index_add``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, j: torch.Tensor, c: Curvature) -> torch.Tensor:
        flat = j.reshape(-1)
        diff = x - x.index_select(0, flat).view(*j.shape, x.shape[-1])
        r = torch.linalg.vector_norm(diff, dim=-1)
        x2 = torch.linalg.vecdot(x, x, dim=-1)
        free = constant(1.0, x2) - _num(c, x2) * x2
        den = free.clamp_min(_EPS)
        sc = _sqrt(c)
        w = den.rsqrt()
        scale = (w * _num(sc, w)) * w.index_select(0, flat).view(j.shape)
        q = (r * scale).clamp_min_(_MIN_Q)
        d, root = _two_asinh(q)
        d = d.div_(_num(sc, d))
        ctx.save_for_backward(
            x,
            flat,
            diff,
            r,
            x2,
            den,
            free,
            scale,
            q,
            root,
            d,
            c if isinstance(c, torch.Tensor) else None,
        )
        ctx.c = c if not isinstance(c, torch.Tensor) else None
        return d

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, Any]:
        x, flat, diff, r, x2, den, free, scale, q, root, d, c_tensor = ctx.saved_tensors
        c = ctx.c if c_tensor is None else c_tensor
        sc = _sqrt(c)
        size, dim = x.shape
        # dL/dq, zero where q sat at its floor (as the clamp of the arccosh form).
        floor, zero = constant(_MIN_Q, q), constant(0.0, q)
        gq = torch.where(q > floor, grad / root, zero) * _two_over(sc, q)
        gqq = gq * q
        # The rows' own terms: q grows with |x_a - x_b| and with 1 / sqrt(1 - c|x|^2) of both.
        rows = gqq.reshape(-1, size).sum(0).index_add_(0, flat, gqq.reshape(-1))
        bent = (free > constant(_EPS, free)) * rows / den
        grad_x = None
        if ctx.needs_input_grad[0]:
            # The partner's side, negated before the scatter: index_add_ with alpha is ~4x slower.
            partner = diff * (gq * scale / r.clamp_min(_tiny(r))).neg_().unsqueeze(-1)
            grad_x = partner.reshape(-1, size, dim).sum(0).neg_()
            grad_x.index_add_(0, flat, partner.reshape(-1, dim))
            grad_x.addcmul_(x, (bent * c).unsqueeze(-1))
        grad_c = None
        if ctx.needs_input_grad[2]:
            grad_c = (gqq.sum() - (grad * d).sum()) / (2.0 * c) + (bent * x2).sum() / 2.0
        return grad_x, None, grad_c


class _PairwiseDistance(torch.autograd.Function):
    """d_c between every row of x (M, D) and of y (K, D), by one GEMM each way."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, y: torch.Tensor, c: Curvature) -> torch.Tensor:
        same = y is x
        x2 = torch.linalg.vecdot(x, x, dim=-1)
        y2 = x2 if same else torch.linalg.vecdot(y, y, dim=-1)
        sq = torch.addmm(x2.unsqueeze(1) + y2.unsqueeze(0), x, y.T, alpha=-2.0).clamp_min_(0.0)
        r = sq.sqrt_()
        sc = _sqrt(c)
        free_x = 1.0 - c * x2
        free_y = free_x if same else 1.0 - c * y2
        wx = free_x.clamp_min(_EPS).rsqrt()
        wy = wx if same else free_y.clamp_min(_EPS).rsqrt()
        q = (r * (wx * sc).unsqueeze(1) * wy.unsqueeze(0)).clamp_min_(_MIN_Q)
        d, root = _two_asinh(q)
        d = d.div_(sc)
        c_t = c if isinstance(c, torch.Tensor) else None
        ctx.save_for_backward(x, y, r, x2, y2, free_x, free_y, q, root, d, c_t)
        ctx.c = c if c_t is None else None
        return d

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, Any, Any]:
        x, y, r, x2, y2, free_x, free_y, q, root, d, c_tensor = ctx.saved_tensors
        c = ctx.c if c_tensor is None else c_tensor
        sc = _sqrt(c)
        gq = torch.where(q > _MIN_Q, grad / root, 0.0) * (2.0 / sc)
        gqq = gq * q
        # d q / d sq = q / (2 sq); sq = |x|^2 + |y|^2 - 2 x.y (held at 0 where it rounded below).
        g_sq = gqq / (2.0 * r.square().clamp_min(_tiny(r)))
        bent_x = (free_x > _EPS) * gqq.sum(1) / free_x.clamp_min(_EPS)
        bent_y = (free_y > _EPS) * gqq.sum(0) / free_y.clamp_min(_EPS)
        grad_x = grad_y = grad_c = None
        if ctx.needs_input_grad[0]:
            rows = 2.0 * g_sq.sum(1) + c * bent_x
            grad_x = torch.addmm(x * rows.unsqueeze(1), g_sq, y, alpha=-2.0)
        if ctx.needs_input_grad[1]:
            cols = 2.0 * g_sq.sum(0) + c * bent_y
            grad_y = torch.addmm(y * cols.unsqueeze(1), g_sq.T, x, alpha=-2.0)
        if ctx.needs_input_grad[2]:
            grad_c = (gqq.sum() - (grad * d).sum()) / (2.0 * c) + (
                (bent_x * x2).sum() + (bent_y * y2).sum()
            ) / 2.0
        return grad_x, grad_y, grad_c


class _Plain:
    """The same maps and distances written op by op, for ``torch.compile`` (a namespace).

    Under compilation inductor fuses these into a few kernels itself, and a graph without
    custom autograd Functions is one AOTAutograd can keep in its cache: a later run loads the
    compiled step instead of tracing its backward again (benchmarks/README.md, issue 16).
    The tests hold the hand-written backwards to these formulas' values and gradients.
    """

    @staticmethod
    def sqrt_c(c: Curvature, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(c, dtype=like.dtype, device=like.device).sqrt()

    @staticmethod
    def acosh1p(t: torch.Tensor) -> torch.Tensor:
        t = t.clamp_min(_MIN_ACOSH_OFFSET)
        return torch.log1p(t + torch.sqrt(t * (t + 2.0)))

    @staticmethod
    def den(sq_norm: torch.Tensor, c: Curvature) -> torch.Tensor:
        return (1.0 - c * sq_norm).clamp_min(_EPS)

    @staticmethod
    def distance(x: torch.Tensor, y: torch.Tensor, c: Curvature) -> torch.Tensor:
        sq = (x - y).pow(2).sum(-1)
        den = _Plain.den(x.pow(2).sum(-1), c) * _Plain.den(y.pow(2).sum(-1), c)
        return _Plain.acosh1p(2.0 * c * sq / den) / _Plain.sqrt_c(c, sq)

    @staticmethod
    def pairwise_distance(x: torch.Tensor, y: torch.Tensor | None, c: Curvature) -> torch.Tensor:
        y = x if y is None else y
        x2, y2 = x.pow(2).sum(-1), y.pow(2).sum(-1)
        sq = (x2.unsqueeze(1) + y2.unsqueeze(0) - 2.0 * (x @ y.T)).clamp_min(0.0)
        den = _Plain.den(x2, c).unsqueeze(1) * _Plain.den(y2, c).unsqueeze(0)
        return _Plain.acosh1p(2.0 * c * sq / den) / _Plain.sqrt_c(c, sq)

    @staticmethod
    def rowwise_distance(x: torch.Tensor, j: torch.Tensor, c: Curvature) -> torch.Tensor:
        other = x.index_select(0, j.reshape(-1)).view(*j.shape, x.shape[-1])
        diff = x - other
        sq = (diff * diff).sum(-1)
        den = _Plain.den((x * x).sum(-1), c)
        return _Plain.acosh1p(2.0 * c * sq / (den * den[j])) / _Plain.sqrt_c(c, sq)

    @staticmethod
    def radius(x: torch.Tensor, c: Curvature) -> torch.Tensor:
        sc = _Plain.sqrt_c(c, x)
        scaled = (sc * x.norm(dim=-1)).clamp(max=1.0 - _EPS)
        return 2.0 * torch.atanh(scaled) / sc

    @staticmethod
    def expmap0(u: torch.Tensor, c: Curvature) -> torch.Tensor:
        sc = _Plain.sqrt_c(c, u)
        norm = u.norm(dim=-1, keepdim=True).clamp_min(_EPS)
        return torch.tanh(sc * norm) * u / (sc * norm)

    @staticmethod
    def logmap0(x: torch.Tensor, c: Curvature) -> torch.Tensor:
        sc = _Plain.sqrt_c(c, x)
        norm = x.norm(dim=-1, keepdim=True).clamp_min(_EPS)
        scaled = (sc * norm).clamp(max=1.0 - _EPS)
        return torch.atanh(scaled) * x / (sc * norm)

    @staticmethod
    def soft_clip_radius(u: torch.Tensor, max_radius: float) -> torch.Tensor:
        norm = u.norm(dim=-1, keepdim=True).clamp_min(_EPS)
        rho = 2.0 * norm
        return u * (max_radius * torch.tanh(rho / max_radius) / rho)


def distance(x: torch.Tensor, y: torch.Tensor, c: Curvature = 1.0) -> torch.Tensor:
    """d_c(x, y) row by row (broadcasting over leading dims): shape ``x.shape[:-1]``."""
    if torch.compiler.is_compiling():
        return _Plain.distance(x, y, c)
    c = _as_curvature(c, x)
    sc = _sqrt(c)
    r = torch.linalg.vector_norm(x - y, dim=-1)
    den = (1.0 - c * torch.linalg.vecdot(x, x, dim=-1)).clamp_min(_EPS) * (
        1.0 - c * torch.linalg.vecdot(y, y, dim=-1)
    ).clamp_min(_EPS)
    q = (r * sc * den.rsqrt()).clamp_min(_MIN_Q)
    return _two_asinh(q)[0] / sc


def pairwise_distance(
    x: torch.Tensor, y: torch.Tensor | None = None, c: Curvature = 1.0
) -> torch.Tensor:
    """d_c between every row of ``x`` (M, D) and of ``y`` (K, D): (M, K), by one GEMM."""
    if torch.compiler.is_compiling():
        return _Plain.pairwise_distance(x, y, c)
    y = x if y is None else y
    out: torch.Tensor = _PairwiseDistance.apply(x, y, _as_curvature(c, x))
    return out


def rowwise_distance(x: torch.Tensor, j: torch.Tensor, c: Curvature = 1.0) -> torch.Tensor:
    """d_c(x[r], x[j[..., r]]): each row r of ``x`` (B, D) against the rows ``j[..., r]`` names.

    ``j`` holds row indices, shaped (..., B); the result has its shape. For many pairs among
    a batch's own points (the triplets of a ranking loss, each row an anchor): every row's
    norm is computed once, the anchor side is ``x`` itself (broadcast, never gathered) and
    each pair costs one difference of two rows. The difference is taken directly, never as
    ``|x|^2 + |y|^2 - 2 x.y``, which loses the smallest distances to cancellation in float32.
    """
    if torch.compiler.is_compiling():
        return _Plain.rowwise_distance(x, j, c)
    out: torch.Tensor = _RowwiseDistance.apply(x, j, _as_curvature(c, x))
    return out


def radius(x: torch.Tensor, c: Curvature = 1.0) -> torch.Tensor:
    """rho(x) = d_c(0, x) = (2 / sqrt c) artanh(sqrt c |x|): shape ``x.shape[:-1]``."""
    if torch.compiler.is_compiling():
        return _Plain.radius(x, c)
    out: torch.Tensor = _Radius.apply(x, _sqrt(_as_curvature(c, x)))
    return out


def expmap0(u: torch.Tensor, c: Curvature = 1.0) -> torch.Tensor:
    """exp_0: tangent vectors at the origin -> points of the ball, with rho(exp_0(u)) = 2|u|."""
    if torch.compiler.is_compiling():
        return _Plain.expmap0(u, c)
    out: torch.Tensor = _ScaleRows.apply(u, _sqrt(_as_curvature(c, u)), False)
    return out


def logmap0(x: torch.Tensor, c: Curvature = 1.0) -> torch.Tensor:
    """log_0: points of the ball -> tangent vectors at the origin; the inverse of :func:`expmap0`."""
    if torch.compiler.is_compiling():
        return _Plain.logmap0(x, c)
    out: torch.Tensor = _ScaleRows.apply(x, _sqrt(_as_curvature(c, x)), True)
    return out


def soft_clip_radius(u: torch.Tensor, max_radius: float) -> torch.Tensor:
    """Shrink tangent vectors so that rho(exp_0(u)) = max_radius * tanh(2|u| / max_radius).

    Smooth and order-preserving in the radius; near the origin it is the identity.
    """
    # u * R tanh(2n / R) / (2n) is u * h(k n) with exp_0's h(s) = tanh(s) / s and k = 2 / R.
    if torch.compiler.is_compiling():
        return _Plain.soft_clip_radius(u, max_radius)
    out: torch.Tensor = _ScaleRows.apply(u, 2.0 / max_radius, False)
    return out
