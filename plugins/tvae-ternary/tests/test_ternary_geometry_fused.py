"""The one-node ball maps and distances against the plain formulas they replace.

``_reference`` (``geometry._Plain``) holds the formulas as they were written before the
hand-written backwards (issue 16, item 2): autograd differentiates them op by op, and
``torch.compile`` traces them in place of the autograd Functions. Every function must give the same
values and the same gradients (points and curvature) within float tolerance, including the
floors (the origin, coincident points, the boundary cap), and pass ``gradcheck`` in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tvae_ternary import geometry

Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# The formulas the hand-written backwards replace, which torch.compile traces instead.
_reference = geometry._Plain


def _ball(gen: torch.Generator, n: int, dim: int, c: float, max_rho: float) -> torch.Tensor:
    """Points of the ball of curvature -c with radii up to ``max_rho`` (float64)."""
    u = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    rho = max_rho * torch.rand(n, 1, generator=gen, dtype=torch.float64)
    return torch.tanh(c**0.5 * rho / 2) / c**0.5 * u / u.norm(dim=-1, keepdim=True)


def _cases(
    gen: torch.Generator, c: float, n: int = 24, dim: int = 5
) -> dict[str, tuple[torch.Tensor, Callable[..., Fn]]]:
    """name -> (input points, fn(module) -> f(x, c)) for every map and distance."""
    tangent = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    tangent[0] = 0.0  # the origin: every norm floor
    tangent[1] *= 40.0  # far out: tanh saturates, the soft cap bends
    points = _ball(gen, n, dim, c, 5.0)
    points[0] = 0.0
    others = _ball(gen, n - 3, dim, c, 5.0)
    off = ~torch.eye(n, dtype=torch.bool)
    j = torch.randint(0, n, (2, 3, n), generator=gen)
    j[0, 0, :4] = torch.arange(4)  # a row against itself: d = 0 at the floor
    beyond = points.clone()
    beyond[2] *= 1.2 / (c**0.5 * beyond[2].norm())  # outside the ball: log_0's and rho's cap
    return {
        "expmap0": (tangent, lambda m: lambda x, k: m.expmap0(x, k)),
        "logmap0": (beyond, lambda m: lambda x, k: m.logmap0(x, k)),
        "soft_clip_radius": (tangent, lambda m: lambda x, k: m.soft_clip_radius(x, 4.0)),
        "radius": (beyond, lambda m: lambda x, k: m.radius(x, k)),
        "rowwise_distance": (points, lambda m: lambda x, k: m.rowwise_distance(x, j, k)),
        # Off the diagonal: a point's distance to itself by the GEMM is rounding noise.
        "pairwise_distance": (
            points,
            lambda m: lambda x, k: m.pairwise_distance(x, None, k)[off],
        ),
        "pairwise_distance_xy": (
            points,
            lambda m: lambda x, k: m.pairwise_distance(x, others.to(x.dtype), k),
        ),
        "distance": (points, lambda m: lambda x, k: m.distance(x, x.flip(0), k)),
    }


def _value_and_grads(
    f: Fn, x0: torch.Tensor, c: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = x0.to(dtype).clone().requires_grad_()
    k = torch.tensor(c, dtype=dtype, requires_grad=True)
    out = f(x, k)
    weights = torch.linspace(0.5, 1.5, out.numel(), dtype=dtype).view_as(out)
    (out * weights).sum().backward()
    assert x.grad is not None
    grad_c = k.grad if k.grad is not None else torch.zeros((), dtype=dtype)
    return out.detach(), x.grad, grad_c


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float) -> bool:
    return bool(((a - b).abs() <= rtol * (b.abs().max() + 1e-30) + rtol * b.abs()).all())


@settings(derandomize=True, max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.5, 1.0, 2.0]))
def test_values_and_gradients_equal_the_plain_formulas_in_float64(seed: int, c: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    for name, (x0, make) in _cases(gen, c).items():
        got = _value_and_grads(make(geometry), x0, c, torch.float64)
        want = _value_and_grads(make(_reference), x0, c, torch.float64)
        for what, a, b in zip(("value", "grad x", "grad c"), got, want, strict=True):
            assert torch.isfinite(a).all(), (name, what)
            assert _close(a, b, 1e-9), (name, what, (a - b).abs().max())


@settings(derandomize=True, max_examples=10, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.5, 1.0, 2.0]))
def test_values_and_gradients_equal_the_plain_formulas_in_float32(seed: int, c: float) -> None:
    """Within float32 rounding of the same float64 truth (both forms round differently)."""
    gen = torch.Generator().manual_seed(seed)
    for name, (x0, make) in _cases(gen, c).items():
        if name.startswith("pairwise"):
            x0 = x0 * 0.9  # |x|^2 + |y|^2 - 2 x.y loses float32 digits near the boundary
        truth = _value_and_grads(make(_reference), x0, c, torch.float64)
        got = _value_and_grads(make(geometry), x0, c, torch.float32)
        plain = _value_and_grads(make(_reference), x0, c, torch.float32)
        for what, a, p, t in zip(("value", "grad x", "grad c"), got, plain, truth, strict=True):
            err_new = ((a.double() - t).abs().max() / (t.abs().max() + 1e-30)).item()
            err_old = ((p.double() - t).abs().max() / (t.abs().max() + 1e-30)).item()
            assert err_new <= max(4 * err_old, 1e-5), (name, what, err_new, err_old)


def test_gradcheck_in_float64() -> None:
    """Hand-written backwards against finite differences, in the points and the curvature."""
    gen = torch.Generator().manual_seed(0)
    for name, (x0, make) in _cases(gen, 1.0, n=7, dim=3).items():
        f = make(geometry)
        x = x0.clone()
        x[0] = 0.1  # away from the kinks of the floors, where finite differences straddle them
        if name in ("logmap0", "radius"):
            x[2] *= 0.5
        x.requires_grad_()
        k = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(f, (x, k), eps=1e-6, atol=1e-5), name


def test_floors_give_the_plain_formulas_gradients() -> None:
    """The origin, a point against itself and a point beyond the cap: zero or finite, as before."""
    x = torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)
    for fn in (geometry.radius, geometry.expmap0, geometry.logmap0):
        fn(x).sum().backward()
    geometry.soft_clip_radius(x, 4.0).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    same = torch.full((2, 3), 0.2, dtype=torch.float64, requires_grad=True)
    d = geometry.rowwise_distance(same, torch.tensor([[1, 0]]))
    assert torch.allclose(d, _reference.rowwise_distance(same, torch.tensor([[1, 0]]), 1.0))
    d.sum().backward()
    assert same.grad is not None and bool((same.grad == 0).all())


def test_each_map_is_one_autograd_node() -> None:
    """One node per idea: the result's backward leads straight to the input's."""
    x = (0.1 * torch.randn(8, 3)).requires_grad_()
    j = torch.randint(0, 8, (2, 8))
    for out in (
        geometry.expmap0(x),
        geometry.logmap0(x),
        geometry.soft_clip_radius(x, 4.0),
        geometry.radius(x),
        geometry.rowwise_distance(x, j),
        geometry.pairwise_distance(x),
    ):
        assert out.grad_fn is not None
        nexts = [fn for fn, _ in out.grad_fn.next_functions if fn is not None]
        assert nexts and all(type(fn).__name__ == "AccumulateGrad" for fn in nexts)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("tensor_c", [False, True])
def test_cached_constants_are_the_python_floats_to_the_bit(
    dtype: torch.dtype, tensor_c: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 0-dim constants (issue 16, item 2) give what the Python floats gave, to the bit.

    With ``constant`` returning the float, every formula is the one written with floats.
    """
    gen = torch.Generator().manual_seed(0)
    base = 0.4 * torch.randn(64, 5, generator=gen, dtype=dtype)
    base[0] = 0.0  # the origin's floors
    base[1] = base[1] / base[1].norm() * 0.9999  # near the cap
    j = torch.randint(0, 64, (3, 64), generator=gen)
    j[0, 2] = 2  # a point against itself

    def run() -> list[torch.Tensor]:
        x = base.clone().requires_grad_()
        c = torch.tensor(0.8, dtype=dtype, requires_grad=True) if tensor_c else 0.8
        outs = [
            geometry.expmap0(x, c),
            geometry.logmap0(x, c),
            geometry.soft_clip_radius(x, 4.0),
            geometry.radius(x, c),
            geometry.rowwise_distance(x, j, c),
        ]
        results = []
        for out in outs:
            w = torch.linspace(-1.0, 2.0, out.numel(), dtype=dtype).view_as(out)
            inputs = [x, c] if tensor_c and out is not outs[2] else [x]
            grads = torch.autograd.grad((out * w).sum(), inputs)  # type: ignore[arg-type]
            results += [out.detach(), *grads]
        return results

    fused = run()
    monkeypatch.setattr(geometry, "constant", lambda value, like: value)
    floats = run()
    for a, b in zip(fused, floats, strict=True):
        assert torch.equal(a, b)


def test_a_constant_first_made_under_inference_mode_serves_a_backward() -> None:
    """An evaluation under inference mode first, then a training step: the cached constant is a
    normal tensor that autograd may save."""
    value = 0.123456  # a constant no other test has made
    x = torch.randn(4, 3)
    with torch.inference_mode():
        made = geometry.constant(value, x)
    assert isinstance(made, torch.Tensor) and not made.is_inference()
    y = torch.randn(4, 3, requires_grad=True)
    (y * made).sum().backward()  # saves the constant for y's gradient
    assert y.grad is not None and torch.equal(y.grad, torch.full((4, 3), value))


def test_torch_compile_traces_the_plain_formulas() -> None:
    """Compiled, every map is the plain formula: no autograd Function in the graph (which
    would keep AOTAutograd from caching the compiled step), the same values as eager."""
    torch._dynamo.reset()
    targets: list[str] = []

    def backend(
        gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]
    ) -> Callable[..., object]:
        targets.extend(str(node.target) for node in gm.graph.nodes)
        return gm.forward

    def every_map(x: torch.Tensor, j: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [
                geometry.rowwise_distance(x, j, c).sum(),
                geometry.pairwise_distance(x, None, c).sum(),
                geometry.distance(x, x.flip(0), c).sum(),
                geometry.radius(x, c).sum(),
                geometry.expmap0(x, c).sum(),
                geometry.logmap0(x, c).sum(),
                geometry.soft_clip_radius(x, 4.0).sum(),
            ]
        )

    gen = torch.Generator().manual_seed(0)
    x = (0.3 * torch.randn(16, 4, generator=gen)).requires_grad_()
    j = torch.randint(0, 16, (2, 16), generator=gen)
    c = torch.tensor(0.8, requires_grad=True)
    compiled = torch.compile(every_map, backend=backend, fullgraph=True)
    try:
        got = compiled(x, j, c)
    finally:
        torch._dynamo.reset()
    assert targets and not [t for t in targets if "autograd_function" in t]
    want = every_map(x, j, c)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    grads = torch.autograd.grad(got.sum(), [x, c])
    for a, b in zip(grads, torch.autograd.grad(want.sum(), [x, c]), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
