"""The built-in optimizers are torch's, bit for bit, without importing ``torch._dynamo``.

torch's ``Optimizer`` imports ``torch._dynamo`` on the first constructor, ``step`` or
``zero_grad`` (0.5-2.5 s of start-up on a 2-core CPU); tvae's subclasses call the
functions under those wrappers when nothing is being compiled (issue 16, item 4).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import torch

from tvae_core._engine import optim


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int = 5) -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        opt.zero_grad()
        x = torch.randn(8, 5, generator=g)
        model(x).pow(2).mean().backward()
        opt.step()


CASES: list[tuple[Any, type[torch.optim.Optimizer], dict[str, Any]]] = [
    (optim.adam, torch.optim.Adam, {"lr": 1e-2, "weight_decay": 0.1}),
    (optim.adam, torch.optim.Adam, {"lr": 1e-2, "fused": False}),
    (optim.adamw, torch.optim.AdamW, {"lr": 1e-2}),
    (optim.sgd, torch.optim.SGD, {"lr": 1e-2, "nesterov": True}),
]


@pytest.mark.parametrize(("factory", "torch_class", "kwargs"), CASES)
def test_same_steps_and_state_as_torch(
    factory: Any, torch_class: type[torch.optim.Optimizer], kwargs: dict[str, Any]
) -> None:
    ours_model, theirs_model = _model(), _model()
    ours = factory(ours_model.parameters(), **kwargs)
    torch_kwargs = dict(kwargs)
    if torch_class is not torch.optim.SGD:
        torch_kwargs.setdefault("fused", ours.defaults["fused"])
    else:
        torch_kwargs["momentum"] = ours.defaults["momentum"]
    theirs = torch_class(theirs_model.parameters(), **torch_kwargs)
    assert isinstance(ours, torch_class)
    _train(ours_model, ours)
    _train(theirs_model, theirs)
    for a, b in zip(ours_model.parameters(), theirs_model.parameters(), strict=True):
        assert torch.equal(a, b)
    mine, torch_state = ours.state_dict(), theirs.state_dict()
    assert mine["param_groups"] == torch_state["param_groups"]
    for key, state in torch_state["state"].items():
        for name, value in state.items():
            assert torch.equal(mine["state"][key][name], value), (key, name)
    # a state saved by one loads into the other and both train on alike
    theirs.load_state_dict(mine)
    ours.load_state_dict(torch_state)
    _train(ours_model, ours, 2)
    _train(theirs_model, theirs, 2)
    for a, b in zip(ours_model.parameters(), theirs_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_step_runs_without_grad_hooks_once_and_closure() -> None:
    model = _model()
    opt = optim.adam(model.parameters(), lr=1e-2)
    seen: list[str] = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: seen.append("post"))

    def closure() -> float:
        assert torch.is_grad_enabled()  # torch's step enables grad around the closure
        opt.zero_grad()
        loss = model(torch.ones(2, 5)).sum()
        loss.backward()
        return float(loss.detach())

    with torch.enable_grad():
        loss = opt.step(closure)
        assert torch.is_grad_enabled()  # restored after the step
    assert isinstance(loss, float)
    assert seen == ["pre", "post"]
    assert opt.param_groups[0]["params"][0].grad is not None


def test_a_method_without_torchs_wrappers_is_called_as_it_is() -> None:
    def plain(x: int) -> int:
        return x

    assert optim._unwrapped(plain) is plain
    assert optim._unwrapped(torch.optim.Optimizer.zero_grad) is not torch.optim.Optimizer.zero_grad


def test_building_and_training_does_not_import_dynamo() -> None:
    code = """
import sys, torch
from tvae_core._engine import optim
from torch.optim.lr_scheduler import LambdaLR
m = torch.nn.Linear(3, 2)
for factory in (optim.adam, optim.adamw, optim.sgd):
    opt = factory(m.parameters(), lr=1e-3)
    sched = optim.warmup_cosine(opt, warmup_epochs=1, total_epochs=3)
    for _ in range(2):
        opt.zero_grad()
        m(torch.ones(1, 3)).sum().backward()
        opt.step()
        sched.step()
    opt.load_state_dict(opt.state_dict())
print("torch._dynamo" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False", out.stderr[-2000:]
