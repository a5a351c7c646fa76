"""The split optimizer behaves as one torch optimizer: state, schedulers, groups, copies."""

from __future__ import annotations

import copy
import io
import pickle

import geoopt
import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LinearLR, SequentialLR
from tvae_geoopt import RiemannianAdam, RiemannianSGD, is_manifold_tensor


def _inner_lrs(optimizer) -> set[float]:
    inner = (optimizer.manifold_optimizer, optimizer.euclidean_optimizer)
    return {g["lr"] for opt in inner if opt is not None for g in opt.param_groups}


@pytest.mark.parametrize(
    "make_scheduler",
    [
        lambda opt: LambdaLR(opt, lambda epoch: 0.5**epoch),
        lambda opt: CosineAnnealingLR(opt, T_max=6),
        lambda opt: SequentialLR(
            opt,
            schedulers=[LinearLR(opt, start_factor=0.1, total_iters=3), CosineAnnealingLR(opt, 5)],
            milestones=[3],
        ),
    ],
    ids=["LambdaLR", "CosineAnnealingLR", "SequentialLR"],
)
def test_lr_schedulers_drive_both_inner_optimizers(
    make_scheduler, mixed_model, run_steps, max_difference
):
    ours, theirs = mixed_model(), mixed_model()
    optimizer = RiemannianAdam(ours.parameters(), lr=1e-2)
    reference = geoopt.optim.RiemannianAdam(theirs.parameters(), lr=1e-2)
    schedulers = (make_scheduler(optimizer), make_scheduler(reference))
    for _ in range(8):
        run_steps(ours, optimizer, 2)
        run_steps(theirs, reference, 2)
        assert _inner_lrs(optimizer) == {optimizer.param_groups[0]["lr"]}
        for scheduler in schedulers:
            scheduler.step()
        assert optimizer.param_groups[0]["lr"] == reference.param_groups[0]["lr"]
    assert max_difference(ours, theirs) < 2e-6


def test_per_group_hyperparameters_reach_the_right_inner_groups(mixed_model):
    model = mixed_model()
    optimizer = RiemannianAdam(
        [
            {"params": [model.points, *model.linear.parameters()], "lr": 0.1},
            {"params": [model.direction, model.scale], "weight_decay": 0.5},
        ],
        lr=1e-3,
    )
    model.loss().backward()
    optimizer.step()
    by_param = {}
    for inner in (optimizer.manifold_optimizer, optimizer.euclidean_optimizer):
        assert inner is not None
        for group in inner.param_groups:
            for p in group["params"]:
                by_param[id(p)] = (group["lr"], group["weight_decay"])
    assert by_param[id(model.points)] == (0.1, 0.0)
    assert by_param[id(model.linear.weight)] == (0.1, 0.0)
    assert by_param[id(model.direction)] == (1e-3, 0.5)
    assert by_param[id(model.scale)] == (1e-3, 0.5)


def test_add_param_group_routes_late_manifold_parameters(mixed_model):
    model = mixed_model()
    optimizer = RiemannianAdam(model.linear.parameters(), lr=1e-2)
    assert optimizer.manifold_optimizer is None
    optimizer.add_param_group({"params": [model.points], "lr": 5e-2})
    assert optimizer.manifold_optimizer is not None
    before = model.points.detach().clone()
    model.loss().backward()
    optimizer.step()
    assert not torch.equal(before, model.points.detach())
    assert model.ball.check_point_on_manifold(model.points)
    assert optimizer.manifold_optimizer.param_groups[0]["lr"] == 5e-2


def test_state_dict_has_torch_layout_and_round_trips_through_weights_only_load(
    mixed_model, run_steps, max_difference
):
    a, b = mixed_model(), mixed_model()
    opt_a = RiemannianAdam(a.parameters(), lr=1e-2, amsgrad=True)
    run_steps(a, opt_a, 5)
    state = opt_a.state_dict()
    n_params = len(list(a.parameters()))
    assert [g["params"] for g in state["param_groups"]] == [list(range(n_params))]
    buffer = io.BytesIO()
    torch.save({"optimizer_state_dict": state}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)["optimizer_state_dict"]

    b.load_state_dict(a.state_dict())
    opt_b = RiemannianAdam(b.parameters(), lr=1.0)  # lr comes back from the state
    opt_b.load_state_dict(loaded)
    assert opt_b.param_groups[0]["lr"] == 1e-2
    run_steps(a, opt_a, 5)
    run_steps(b, opt_b, 5)
    assert max_difference(a, b) == 0.0


def test_loads_the_state_of_a_plain_geoopt_optimizer(mixed_model, run_steps, max_difference):
    ours, theirs = mixed_model(), mixed_model()
    reference = geoopt.optim.RiemannianAdam(theirs.parameters(), lr=1e-2)
    run_steps(theirs, reference, 5)
    ours.load_state_dict(theirs.state_dict())
    optimizer = RiemannianAdam(ours.parameters(), lr=1e-2)
    # Deep-copied: like torch's, load_state_dict keeps tensors that need no cast as they are.
    optimizer.load_state_dict(copy.deepcopy(reference.state_dict()))
    steps = {type(optimizer.state[p]["step"]) for p in (ours.points, ours.scale)}
    assert steps == {int, torch.Tensor}  # each inner optimizer's own form
    run_steps(ours, optimizer, 5)
    run_steps(theirs, reference, 5)
    assert max_difference(ours, theirs) < 2e-6


def test_sgd_state_round_trip_keeps_momentum_and_step_count(mixed_model, run_steps, max_difference):
    a, b = mixed_model(), mixed_model()
    opt_a = RiemannianSGD(a.parameters(), lr=1e-2, momentum=0.9, stabilize=3)
    run_steps(a, opt_a, 4)
    assert opt_a.param_groups[0]["step"] == 4
    b.load_state_dict(a.state_dict())
    opt_b = RiemannianSGD(b.parameters(), lr=1e-2, momentum=0.9, stabilize=3)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    assert opt_b.manifold_optimizer is not None
    assert opt_b.manifold_optimizer.param_groups[0]["step"] == 4
    run_steps(a, opt_a, 4)
    run_steps(b, opt_b, 4)
    assert max_difference(a, b) == 0.0


def test_load_state_dict_rejects_a_different_parameter_layout(mixed_model):
    model = mixed_model()
    saved = RiemannianAdam(model.parameters()).state_dict()
    other = RiemannianAdam(model.linear.parameters())
    with pytest.raises(ValueError, match="parameter group"):
        other.load_state_dict(saved)


def test_closure_is_evaluated_once_with_gradients(mixed_model):
    model = mixed_model()
    optimizer = RiemannianAdam(model.parameters(), lr=1e-2)
    calls = []

    def closure():
        calls.append(1)
        optimizer.zero_grad()
        loss = model.loss()
        loss.backward()
        return loss

    with torch.no_grad():
        loss = optimizer.step(closure)
    assert len(calls) == 1
    assert isinstance(loss, torch.Tensor)


def test_zero_grad_clears_every_parameter(mixed_model):
    model = mixed_model()
    optimizer = RiemannianSGD(model.parameters(), lr=1e-2)
    model.loss().backward()
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.loss().backward()
    optimizer.zero_grad(set_to_none=False)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_deepcopy_and_pickle_keep_the_routing_and_shared_state(mixed_model, run_steps):
    model = mixed_model()
    optimizer = RiemannianAdam(model.parameters(), lr=1e-2)
    run_steps(model, optimizer, 2)
    clones: list[RiemannianAdam] = [copy.deepcopy(optimizer), pickle.loads(pickle.dumps(optimizer))]
    for clone in clones:
        manifold, euclidean = clone.manifold_optimizer, clone.euclidean_optimizer
        assert manifold is not None and euclidean is not None
        assert manifold.state is clone.state
        assert euclidean.state is clone.state
        assert len(clone.state) == len(optimizer.state)


def test_grad_scaler_unscales_and_steps_through_the_facade(mixed_model, max_difference):
    ours, theirs = mixed_model(), mixed_model()
    optimizer = RiemannianAdam(ours.parameters(), lr=1e-2)
    reference = geoopt.optim.RiemannianAdam(theirs.parameters(), lr=1e-2)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    for _ in range(3):
        optimizer.zero_grad()
        scaler.scale(ours.loss()).backward()
        scaler.step(optimizer)
        scaler.update()
        reference.zero_grad()
        theirs.loss().backward()
        reference.step()
    assert max_difference(ours, theirs) < 2e-6


def test_manifold_tensors_are_recognised_by_type():
    ball = geoopt.PoincareBall()
    assert is_manifold_tensor(geoopt.ManifoldParameter(torch.zeros(2, 3), manifold=ball))
    assert is_manifold_tensor(geoopt.ManifoldTensor(torch.zeros(3), manifold=ball))
    assert not is_manifold_tensor(torch.nn.Parameter(torch.zeros(3)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, "lr must be"),
        ({"betas": (0.9, 1.0)}, "betas must lie"),
        ({"eps": -1e-8}, "eps must be"),
        ({"weight_decay": -0.1}, "weight_decay must be"),
        ({"stabilize": 0}, "stabilize must be"),
    ],
)
def test_adam_rejects_bad_settings_with_one_line(mixed_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        RiemannianAdam(mixed_model().parameters(), **kwargs)


def test_sgd_rejects_nesterov_without_momentum(mixed_model):
    with pytest.raises(ValueError, match="nesterov needs momentum"):
        RiemannianSGD(mixed_model().parameters(), nesterov=True)


def test_empty_parameter_list_is_an_error():
    with pytest.raises(ValueError, match="empty parameter list"):
        RiemannianAdam([])
