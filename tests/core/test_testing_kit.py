"""Tests of tvae_core.testing: the helpers plugin authors test their plugins with."""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tvae_core import Callback, PluginError, hookimpl
from tvae_core.testing import (
    ConformanceError,
    TinyCoverage,
    TinyKL,
    TinyReconstruction,
    TinyTernaryData,
    TinyVAE,
    check_component,
    conformance_problems,
    plugin_manager,
    run_tiny,
    tiny_batch,
    tiny_trits,
    tiny_valuation,
)


def _module_plugin(name: str = "kit_plugin", **hooks: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(module, hook, hookimpl(fn))
    return module


# -- plugin_manager ----------------------------------------------------------------------------
def test_plugin_manager_registers_a_module_object_without_installed_plugins() -> None:
    plugin = _module_plugin(
        tvae_register_losses=lambda register: register("kit_loss", TinyKL, description="d")
    )
    pm = plugin_manager(plugin)
    assert ("loss", "kit_loss") in pm.registry
    assert pm.registry.get("loss", "kit_loss").plugin == "kit_plugin"
    assert {i.name for i in pm.plugins()} == {"builtins", "kit_plugin"}


def test_plugin_manager_loads_a_py_path(tmp_path: Path) -> None:
    path = tmp_path / "path_plugin.py"
    path.write_text(
        "from tvae_core import hookimpl\n"
        "@hookimpl\n"
        "def tvae_register_metrics(register):\n"
        "    register('kit_metric', 'tvae_core.testing:TinyCoverage', description='d')\n"
    )
    pm = plugin_manager(str(path))
    assert pm.registry.get("metric", "kit_metric").plugin == "path_plugin"


def test_plugin_manager_is_strict_about_a_broken_plugin() -> None:
    bad = _module_plugin("typo_plugin", tvae_register_loses=lambda register: None)
    with pytest.raises(PluginError, match=r"typo_plugin.*tvae_register_losses"):
        plugin_manager(bad)
    pm = plugin_manager(bad, strict=False)
    assert [i.name for i in pm.failed()] == ["typo_plugin"]


def test_plugin_manager_gives_two_objects_of_one_name_distinct_names() -> None:
    a = _module_plugin("same", tvae_register_losses=lambda register: register("a_loss", TinyKL))
    b = _module_plugin("same", tvae_register_losses=lambda register: register("b_loss", TinyKL))
    pm = plugin_manager(a, b)
    assert pm.registry.get("loss", "b_loss").plugin == "same_2"


# -- the tiny space ----------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6))
def test_tiny_trits_encode_each_index_with_position_0_least_significant(n: int) -> None:
    trits = tiny_trits(n)
    assert trits.shape == (3**n, n)
    digits = (trits + 1).long()
    assert torch.equal((digits * 3 ** torch.arange(n)).sum(-1), torch.arange(3**n))
    assert bool((trits[0] == -1).all()) and bool((trits[-1] == 1).all())


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.data())
def test_tiny_valuation_is_the_largest_power_of_three_dividing_the_index(n: int, data: Any) -> None:
    v = tiny_valuation(n)
    assert int(v[0]) == n
    i = data.draw(st.integers(1, 3**n - 1))
    k = int(v[i])
    assert i % 3**k == 0 and i % 3 ** (k + 1) != 0


def test_tiny_dataset_batches_and_model_outputs_match_the_real_keys() -> None:
    data = TinyTernaryData(n_trits=2, batch_size=4)
    data.setup(device=torch.device("cpu"), seed=0)
    batches = list(data.train_batches(0))
    assert len(batches) == data.num_train_batches() == 3
    assert set(batches[0]) == {"x", "index", "valuation"}
    model = TinyVAE(**data.model_context())
    out = model(tiny_batch(2))
    assert out["logits"].shape == (9, 2, 3)
    assert set(out) == {"logits", "mu", "logvar", "z", "z_mean"}
    assert bool((out["z"].norm(dim=-1) < 1).all())


def test_tiny_model_rejects_an_input_dim_that_is_not_a_power_of_three() -> None:
    with pytest.raises(ValueError, match="power of 3"):
        TinyVAE(input_dim=28)


# -- run_tiny ----------------------------------------------------------------------------------
def test_run_tiny_trains_and_writes_the_run_directory(tmp_path: Path) -> None:
    summary = run_tiny({"epochs": 3}, run_dir=tmp_path / "run", overrides=["optimizer.lr=0.05"])
    assert summary.status == "completed" and summary.epochs == 3
    assert {"train/loss", "val/loss", "val/tiny_coverage", "lr"} <= set(summary.final)
    run = Path(summary.run_dir)
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    assert (run / "checkpoints" / "last.pt").exists()


def test_run_tiny_uses_the_plugins_given() -> None:
    class Stopper(Callback):
        def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
            self.seen = epoch

        def should_stop(self) -> bool:
            self.stop_reason = "seen one epoch"
            return True

    plugin = _module_plugin(tvae_register_callbacks=lambda register: register("stopper", Stopper))
    summary = run_tiny({"epochs": 5, "callbacks": ["stopper"]}, plugins=[plugin])
    assert (summary.status, summary.stop_reason, summary.epochs) == (
        "stopped_early",
        "seen one epoch",
        1,
    )


# -- check_component ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "factory", "options"),
    [
        ("loss", TinyReconstruction, {}),
        ("loss", "tvae_core.testing:TinyKL", {}),
        ("metric", TinyCoverage, {}),
        ("model", TinyVAE, {"latent_dim": 3}),
        ("dataset", TinyTernaryData, {"n_trits": 2}),
        ("optimizer", "tvae_core._engine.optim:adam", {"lr": 0.1}),
        ("scheduler", "tvae_core._engine.optim:warmup_cosine", {"warmup_epochs": 2}),
        ("callback", Callback, {}),
    ],
)
def test_check_component_accepts_conforming_components(
    kind: str, factory: Any, options: dict[str, Any]
) -> None:
    assert check_component(kind, factory, options) is not None


def test_check_component_takes_a_registered_component() -> None:
    pm = plugin_manager()
    optimizer = check_component("optimizer", pm.registry.get("optimizer", "sgd"), {"lr": 0.1})
    assert isinstance(optimizer, torch.optim.SGD)


class VectorLoss:
    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        return outputs["mu"].pow(2).sum(-1)


class DetachedLoss:
    def __call__(
        self, outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        return outputs["mu"].mean().detach()


class ReadsMissing(TinyKL):
    requires = frozenset({"outputs.z_hyp"})


class Forgetful(Callback):
    def __init__(self) -> None:
        self.epochs = 0

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.epochs += 1

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs}


class Unsafe(Callback):
    def state_dict(self) -> dict[str, Any]:
        return {"when": object()}


def _bad_optimizer(params: Any, lr: float = 0.1) -> Any:
    return [lr]


def _tensor_model(input_dim: int) -> torch.nn.Module:
    return torch.nn.Linear(1, 1)


def _string_metric() -> Any:
    return lambda outputs, batch: "high"


@pytest.mark.parametrize(
    ("kind", "factory", "options", "message"),
    [
        ("loss", VectorLoss, {}, r"returned \(9,\); a loss returns a scalar tensor"),
        ("loss", DetachedLoss, {}, "has no gradient"),
        ("loss", ReadsMissing, {}, r"requires \['outputs.z_hyp'\]"),
        ("loss", TinyKL, {"margin": 1.0}, "unknown key 'margin'"),
        ("callback", Forgetful, {}, "does not restore the state"),
        ("callback", Unsafe, {}, "not checkpoint-safe"),
        ("callback", TinyKL, {}, "not a tvae_core.Callback"),
        ("optimizer", _bad_optimizer, {}, "returned a list, not a torch.optim.Optimizer"),
        ("scheduler", _bad_optimizer, {}, "not a torch.optim.lr_scheduler.LRScheduler"),
        ("model", _tensor_model, {}, "raised TypeError"),
        ("metric", _string_metric, {}, "is a str; return a float"),
        ("dataset", TinyKL, {}, "lacks setup"),
    ],
)
def test_check_component_names_what_is_wrong(
    kind: str, factory: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConformanceError, match=message):
        check_component(kind, factory, options)


def test_conformance_problems_returns_instead_of_raising() -> None:
    built, problems = conformance_problems("loss", VectorLoss)
    assert isinstance(built, VectorLoss) and len(problems) == 1


def test_check_component_rejects_a_bare_name() -> None:
    with pytest.raises(TypeError, match=r"pm\.registry\.get"):
        check_component("loss", "kl")
