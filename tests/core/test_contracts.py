"""The component contracts: one table, and the engine, the testing kit and plugins check agree.

Where copies of a contract used to disagree, the documented behaviour is what all three do
now: a scheduler's ``steps_per_epoch`` is filled from the run, a dataset is what
:class:`tvae_core.Dataset` says (``model_context`` included), a metric's
``higher_is_better`` decides its best.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from tvae_core import KINDS, Dataset, PluginError, RunContext, hookimpl
from tvae_core._engine.records import BestMetrics
from tvae_core._plugins import hookspecs
from tvae_core._plugins.contracts import (
    CONTRACTS,
    DEFAULT_HIGHER_IS_BETTER,
    HOOK_OF_KIND,
    metric_directions,
)
from tvae_core._plugins.interfaces import DATASET_METHODS, RunView
from tvae_core._tools.plugin_check import check_plugin
from tvae_core.testing import (
    TinyTernaryData,
    check_component,
    conformance_problems,
    run_tiny,
    tiny_trainer,
)


def test_one_table_names_every_kind_and_its_hook() -> None:
    assert KINDS == ("model", "dataset", "loss", "optimizer", "scheduler", "callback", "metric")
    specs = {
        n
        for n, f in vars(hookspecs).items()
        if inspect.isfunction(f) and n.startswith("tvae_register_")
    }
    assert set(HOOK_OF_KIND.values()) == specs - {"tvae_register_presets"}  # presets: no kind
    assert {c.section for c in CONTRACTS.values()} == {
        "model",
        "data",
        "losses",
        "optimizer",
        "scheduler",
        "callbacks",
        "metrics",
    }


def test_the_dataset_contract_is_the_dataset_protocol() -> None:
    members = {n for n in vars(Dataset) if not n.startswith("_")} - {"batch_size"}
    assert set(DATASET_METHODS) == members
    assert isinstance(TinyTernaryData(), Dataset)


def test_run_view_shows_exactly_the_run_context_protocol() -> None:
    protocol = {n for n in vars(RunContext) if not n.startswith("_")}
    view = {n for n in vars(RunView) if not n.startswith("_")}
    assert view == protocol
    trainer = tiny_trainer().setup()
    run = RunView(trainer)
    assert not hasattr(run, "optimizer") and not hasattr(run, "dataset")
    assert run.steps_per_epoch == 3 and run.epoch == 0 and run.is_main


# -- a scheduler needing steps_per_epoch: the docs promise it is filled from the run --------
def per_step_decay(
    optimizer: torch.optim.Optimizer, steps_per_epoch: int, total_epochs: int, floor: float = 0.1
) -> LRScheduler:
    """Linear decay over the run's steps, stepped per epoch."""
    total = steps_per_epoch * total_epochs
    return LambdaLR(optimizer, lambda e: max(floor, 1 - e * steps_per_epoch / total))


class StepsPlugin:
    __name__ = "steps_plugin"

    @hookimpl
    def tvae_register_schedulers(self, register: Any) -> None:
        register("per_step_decay", per_step_decay)


def test_a_scheduler_taking_steps_per_epoch_passes_the_check_and_the_run() -> None:
    check_component("scheduler", per_step_decay)
    seen: dict[str, int] = {}

    def spy(
        optimizer: torch.optim.Optimizer, steps_per_epoch: int, total_epochs: int
    ) -> LRScheduler:
        seen.update(steps_per_epoch=steps_per_epoch, total_epochs=total_epochs)
        return per_step_decay(optimizer, steps_per_epoch, total_epochs)

    class SpyPlugin:
        __name__ = "spy_plugin"

        @hookimpl
        def tvae_register_schedulers(self, register: Any) -> None:
            register("spy", spy)

    summary = run_tiny({"epochs": 2, "scheduler": {"name": "spy"}}, plugins=[SpyPlugin()])
    assert summary.status == "completed"
    assert seen == {"steps_per_epoch": 3, "total_epochs": 2}  # 27 operations in batches of 9


def test_a_set_steps_per_epoch_is_kept() -> None:
    trainer = tiny_trainer(
        {"scheduler": {"name": "per_step_decay", "steps_per_epoch": 7}}, plugins=[StepsPlugin()]
    ).setup()
    assert trainer.parts.planned["scheduler"].settings["steps_per_epoch"] == 7


# -- a dataset is what the protocol says, in a run and in the kit ---------------------------
class NoContext:
    """Batches without a model_context(): the protocol requires one."""

    batch_size = 9

    def __init__(self) -> None:
        self.data = TinyTernaryData()

    def setup(self, **kw: Any) -> None:
        self.data.setup(**kw)

    def train_batches(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        return self.data.train_batches(epoch)

    def num_train_batches(self) -> int:
        return self.data.num_train_batches()

    def eval_batches(self) -> Iterator[dict[str, torch.Tensor]]:
        return self.data.eval_batches()


class NoContextPlugin:
    __name__ = "no_context_plugin"

    @hookimpl
    def tvae_register_datasets(self, register: Any) -> None:
        register("no_context", NoContext)


def test_a_dataset_without_model_context_fails_alike_in_the_kit_and_in_a_run() -> None:
    _, problems = conformance_problems("dataset", NoContext)
    assert [p.code for p in problems] == ["missing-members"]
    with pytest.raises(PluginError) as info:
        tiny_trainer({"data": {"name": "no_context"}}, plugins=[NoContextPlugin()]).setup()
    assert info.value.where == "data" and problems[0].message in info.value.message
    assert "model_context()" in str(info.value)


def test_plugins_check_reports_the_same_problem(tmp_path: Path) -> None:
    plugin = tmp_path / "dataset_check_plugin.py"
    plugin.write_text(
        "from tvae_core import hookimpl\n"
        "@hookimpl\n"
        "def tvae_register_datasets(register):\n"
        "    register('no_context', 'tests.core.test_contracts:NoContext', description='d')\n"
    )
    report = check_plugin(str(plugin))
    assert [p.code for p in report.errors] == ["missing-members"]


# -- metric directions ------------------------------------------------------------------
class Hierarchy:
    """Lower is better; its ceiling is a constant with no best."""

    higher_is_better: ClassVar = {"hierarchy": False, "hierarchy_ceiling": None}

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, outputs: Mapping[str, torch.Tensor], batch: Any) -> dict[str, float]:
        self.calls += 1
        return {"hierarchy": [-0.5, -0.8, -0.6][self.calls - 1], "hierarchy_ceiling": -0.83}


class Distortion:
    """Lower is better for every key it returns, declared once."""

    higher_is_better = False

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, outputs: Mapping[str, torch.Tensor], batch: Any) -> dict[str, float]:
        self.calls += 1
        return {"distortion_mean": [3.0, 1.0, 2.0][self.calls - 1], "distortion_max": 9.0}


class MetricsPlugin:
    __name__ = "direction_metrics"

    @hookimpl
    def tvae_register_metrics(self, register: Any) -> None:
        register("hierarchy", Hierarchy)
        register("distortion", Distortion)


def test_directions_of_a_bool_a_mapping_and_nothing() -> None:
    assert metric_directions("hierarchy", Hierarchy()) == (
        True,
        {"val/hierarchy": False, "val/hierarchy_ceiling": None},
    )
    assert metric_directions("distortion", Distortion()) == (False, {"val/distortion": False})
    assert metric_directions("plain", object()) == (True, {"val/plain": True})
    assert DEFAULT_HIGHER_IS_BETTER is True


def test_the_summary_best_follows_each_declared_direction(tmp_path: Path) -> None:
    summary = run_tiny(
        {"epochs": 3, "metrics": ["tiny_coverage", "hierarchy", "distortion"]},
        plugins=[MetricsPlugin()],
        run_dir=tmp_path / "run",
    )
    best, epoch = summary.best, summary.best_epoch
    assert best["val/hierarchy"] == -0.8 and epoch["val/hierarchy"] == 2  # lowest, not highest
    assert "val/hierarchy_ceiling" not in best  # a constant has no best
    assert best["val/distortion_mean"] == 1.0  # the bool applies to every key returned
    assert "val/tiny_coverage" in best and "lr" not in best
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["best"] == best


def test_best_metrics_without_declarations_keep_the_documented_defaults() -> None:
    best = BestMetrics({"acc": object()}, ["mse"])
    best.update({"val/acc": 0.5, "val/mse": 2.0, "train/loss": 3.0, "lr": 0.1}, 0)
    best.update({"val/acc": 0.7, "val/mse": 1.0, "train/loss": math.nan, "lr": 0.2}, 1)
    assert best.value == {"val/acc": 0.7, "val/mse": 1.0, "train/loss": 3.0}


def test_an_invalid_direction_is_refused_when_the_run_builds() -> None:
    class Confused:
        higher_is_better = "up"

        def __call__(self, outputs: Any, batch: Any) -> float:
            return 0.0

    class ConfusedPlugin:
        __name__ = "confused_plugin"

        @hookimpl
        def tvae_register_metrics(self, register: Any) -> None:
            register("confused", Confused)

    with pytest.raises(PluginError, match="higher_is_better is 'up'"):
        tiny_trainer({"metrics": ["confused"]}, plugins=[ConfusedPlugin()]).setup()
