"""Shared fixtures: the toy plugin, a toy config, and a plugin manager without autoload."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

TOY_PLUGIN = Path(__file__).parent / "core" / "toy_plugin.py"

TOY_CONFIG: dict[str, Any] = {
    "seed": 3,
    "epochs": 4,
    "data": {"name": "toy_data", "size": 64, "batch_size": 16},
    "model": {"name": "toy_model", "hidden": 8},
    "optimizer": {"name": "adam", "lr": 0.01},
    "scheduler": {"name": "warmup_cosine", "warmup_epochs": 1},
    "losses": [{"name": "mse"}],
    "metrics": ["toy_accuracy"],
    "callbacks": [{"name": "recorder"}],
    "trainer": {"val_every": 2, "progress": False},
    "plugins": {"required": []},
}


@pytest.fixture
def toy_config() -> dict[str, Any]:
    return copy.deepcopy(TOY_CONFIG)


@pytest.fixture
def toy_pm() -> Any:
    from tvae_core import PluginManager

    return PluginManager([str(TOY_PLUGIN)], autoload=False)


@pytest.fixture
def no_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
