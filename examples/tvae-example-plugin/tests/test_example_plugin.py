"""Tests of tvae-example-plugin with tvae's testing kit (no first-party plugin needed)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tvae_core.testing import check_component, plugin_manager, run_tiny, tiny_batch

from tvae_example import plugin
from tvae_example.callbacks import LrLogger
from tvae_example.losses import CentroidLoss
from tvae_example.metrics import LatentRadius


def test_registers_three_components_lazily() -> None:
    pm = plugin_manager(plugin)
    for kind, name in [
        ("loss", "centroid"),
        ("metric", "latent_radius"),
        ("callback", "lr_logger"),
    ]:
        component = pm.registry.get(kind, name)
        assert component.is_lazy and component.description


def test_plugin_module_does_not_import_torch() -> None:
    code = "import sys, tvae_example.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("kind", "name"), [("loss", "centroid"), ("metric", "latent_radius"), ("callback", "lr_logger")]
)
def test_components_conform(kind: str, name: str) -> None:
    check_component(kind, plugin_manager(plugin).registry.get(kind, name))


def test_centroid_is_zero_for_a_centred_cloud_and_grows_with_the_shift() -> None:
    z = torch.tensor([[0.5, 0.0], [-0.5, 0.0], [0.0, 0.3], [0.0, -0.3]])
    loss = CentroidLoss()
    assert float(loss({"z_mean": z}, tiny_batch())) == pytest.approx(0.0)
    assert float(loss({"z_mean": z + 0.1}, tiny_batch())) == pytest.approx(0.02)


def test_centroid_rejects_an_empty_key() -> None:
    with pytest.raises(ValueError, match="key"):
        CentroidLoss(key="")


def test_latent_radius_reports_mean_and_max() -> None:
    z = torch.tensor([[0.6, 0.8], [0.0, 0.5]])
    assert LatentRadius()({"z_mean": z}, {}) == pytest.approx(
        {"radius_mean": 0.75, "radius_max": 1.0}
    )


def test_lr_logger_state_round_trips() -> None:
    logger = LrLogger()
    logger.on_epoch_end(0, {"lr": 0.1})
    logger.on_epoch_end(1, {"lr": 0.05})
    fresh = LrLogger()
    fresh.load_state_dict(logger.state_dict())
    assert fresh.history == [(0, 0.1), (1, 0.05)]


def test_a_tiny_run_uses_all_three(tmp_path: Path) -> None:
    config = {
        "epochs": 3,
        "scheduler": {"name": "cosine"},
        "losses": [{"name": "tiny_reconstruction"}, {"name": "centroid", "weight": 0.5}],
        "metrics": ["tiny_coverage", "latent_radius"],
        "callbacks": ["lr_logger"],
    }
    summary = run_tiny(config, plugins=[plugin], run_dir=tmp_path / "run")
    assert summary.status == "completed"
    assert {"train/centroid", "val/radius_mean", "val/radius_max"} <= set(summary.final)
    assert "val/radius_max" not in summary.best
    rows = list(csv.DictReader((tmp_path / "run" / "lr.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert float(rows[0]["lr"]) > float(rows[2]["lr"])
