"""The split optimizers compute what plain geoopt and plain torch compute, to float rounding."""

from __future__ import annotations

import geoopt
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tvae_geoopt import RiemannianAdam, RiemannianSGD

# The fixtures are stateless (a class and two functions), so sharing them across examples is safe.
_SETTINGS = settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# In float64 rounding differences between the implementations (fused kernels, algebraically
# equal but reordered formulas) stay near 1e-14 even where the training dynamics amplify
# them; any difference in the algorithm would be orders of magnitude above this tolerance.
ATOL = 1e-10
F64 = torch.float64
STEPS = 15


@_SETTINGS
@given(
    lr=st.floats(1e-4, 5e-2),
    beta1=st.floats(0.0, 0.95),
    beta2=st.floats(0.9, 0.9999),
    weight_decay=st.sampled_from([0.0, 1e-3, 0.1]),
    amsgrad=st.booleans(),
    fused=st.sampled_from([None, False]),
)
def test_adam_matches_geoopt_on_a_model_with_manifold_parameters(
    mixed_model, run_steps, max_difference, lr, beta1, beta2, weight_decay, amsgrad, fused
):
    ours, theirs = mixed_model(dtype=F64), mixed_model(dtype=F64)
    kwargs = {"lr": lr, "betas": (beta1, beta2), "weight_decay": weight_decay, "amsgrad": amsgrad}
    run_steps(ours, RiemannianAdam(ours.parameters(), fused=fused, **kwargs), STEPS)
    run_steps(theirs, geoopt.optim.RiemannianAdam(theirs.parameters(), **kwargs), STEPS)
    assert max_difference(ours, theirs) < ATOL
    assert ours.ball.check_point_on_manifold(ours.points)


@_SETTINGS
@given(
    lr=st.floats(1e-4, 5e-2),
    weight_decay=st.sampled_from([0.0, 1e-2]),
    amsgrad=st.booleans(),
)
def test_adam_matches_torch_adam_on_ordinary_parameters(
    mixed_model, run_steps, max_difference, lr, weight_decay, amsgrad
):
    ours, theirs = mixed_model(manifold=False, dtype=F64), mixed_model(manifold=False, dtype=F64)
    kwargs = {"lr": lr, "weight_decay": weight_decay, "amsgrad": amsgrad}
    optimizer = RiemannianAdam(ours.parameters(), **kwargs)
    assert optimizer.manifold_optimizer is None
    run_steps(ours, optimizer, STEPS)
    run_steps(theirs, torch.optim.Adam(theirs.parameters(), **kwargs), STEPS)
    assert max_difference(ours, theirs) < ATOL


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_matches_geoopt_in_float32(mixed_model, run_steps, max_difference, amsgrad):
    ours, theirs = mixed_model(), mixed_model()
    run_steps(ours, RiemannianAdam(ours.parameters(), lr=1e-2, amsgrad=amsgrad), 25)
    run_steps(
        theirs, geoopt.optim.RiemannianAdam(theirs.parameters(), lr=1e-2, amsgrad=amsgrad), 25
    )
    assert max_difference(ours, theirs) < 2e-6


def test_adam_uses_fused_kernels_for_ordinary_parameters_only(mixed_model):
    model = mixed_model()
    optimizer = RiemannianAdam(model.parameters())
    euclidean, manifold = optimizer.euclidean_optimizer, optimizer.manifold_optimizer
    assert isinstance(euclidean, torch.optim.Adam)
    assert isinstance(manifold, geoopt.optim.RiemannianAdam)
    assert euclidean.param_groups[0]["fused"] is True
    assert {id(p) for p in manifold.param_groups[0]["params"]} == {
        id(model.points),
        id(model.direction),
    }
    ordinary = {id(p) for p in model.parameters()} - {id(model.points), id(model.direction)}
    assert {id(p) for p in euclidean.param_groups[0]["params"]} == ordinary


@_SETTINGS
@given(
    lr=st.floats(1e-3, 1e-2),
    momentum=st.sampled_from([0.0, 0.5, 0.9]),
    weight_decay=st.sampled_from([0.0, 1e-2]),
    nesterov=st.booleans(),
)
def test_sgd_matches_geoopt_on_manifold_and_torch_on_ordinary_parameters(
    mixed_model, run_steps, max_difference, lr, momentum, weight_decay, nesterov
):
    nesterov = nesterov and momentum > 0
    kwargs = {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "nesterov": nesterov}
    ours, geo, plain = mixed_model(dtype=F64), mixed_model(dtype=F64), mixed_model(dtype=F64)
    run_steps(ours, RiemannianSGD(ours.parameters(), **kwargs), STEPS)
    run_steps(geo, geoopt.optim.RiemannianSGD(geo.parameters(), **kwargs), STEPS)
    # The reference for ordinary parameters: torch SGD on them, geoopt on the manifold ones.
    reference = torch.optim.SGD([*plain.linear.parameters(), plain.scale], **kwargs)
    reference_manifold = geoopt.optim.RiemannianSGD([plain.points, plain.direction], **kwargs)
    for _ in range(STEPS):
        reference.zero_grad()
        reference_manifold.zero_grad()
        plain.loss().backward()
        reference.step()
        reference_manifold.step()
    assert max_difference(ours, plain) < ATOL
    if momentum == 0.0:  # without momentum geoopt and torch agree on every parameter
        assert max_difference(ours, geo) < ATOL


def test_sgd_first_momentum_step_differs_from_geoopt_as_documented(mixed_model):
    ours, geo = mixed_model(manifold=False), mixed_model(manifold=False)
    for model, optimizer in (
        (ours, RiemannianSGD(ours.parameters(), lr=0.1, momentum=0.9)),
        (geo, geoopt.optim.RiemannianSGD(geo.parameters(), lr=0.1, momentum=0.9)),
    ):
        start = model.scale.detach().clone()
        model.loss().backward()
        optimizer.step()
        model.delta = (model.scale.detach() - start).abs().sum()
    assert geo.delta / ours.delta == pytest.approx(1.9, rel=1e-4)


def test_stabilize_projects_manifold_parameters_back(mixed_model):
    model = mixed_model()
    optimizer = RiemannianAdam(model.parameters(), lr=1e-2, stabilize=1)
    with torch.no_grad():  # push a point off the sphere; stabilize must project it back
        model.direction.mul_(1.5)
    model.loss().backward()
    optimizer.step()
    assert model.direction.norm().item() == pytest.approx(1.0, abs=1e-6)
