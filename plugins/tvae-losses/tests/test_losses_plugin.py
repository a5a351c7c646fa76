"""The plugin module and create_registry_from_training_config."""

from __future__ import annotations

import subprocess
import sys

import pytest
import tvae_losses.plugin
from tvae_losses import create_registry_from_training_config

from tvae_core import LossRegistry, SettingsError, load_config
from tvae_core.testing import check_component, plugin_manager

LOSSES = ["reconstruction", "kl", "padic_ranking", "radial", "geodesic"]


def test_registers_every_loss_lazily_with_a_description() -> None:
    pm = plugin_manager(tvae_losses.plugin)
    for name in LOSSES:
        component = pm.registry.get("loss", name)
        assert component.is_lazy and component.description_given


def test_plugin_module_does_not_import_torch() -> None:
    code = "import sys, tvae_losses, tvae_losses.plugin; sys.exit('torch' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", LOSSES)
def test_losses_conform_on_the_real_model_and_data(name: str) -> None:
    pytest.importorskip("tvae_ternary")
    from tvae_ternary.data import TernaryOpsDataset
    from tvae_ternary.model import TernaryVAE

    pm = plugin_manager(tvae_losses.plugin)
    check_component(
        "loss",
        pm.registry.get("loss", name),
        model=TernaryVAE(input_dim=81, latent_dim=4, hidden_dims=(16,)),
        dataset=TernaryOpsDataset(n_trits=4, batch_size=27),
    )


def test_registry_from_the_default_config() -> None:
    registry = create_registry_from_training_config(load_config())
    assert isinstance(registry, LossRegistry)
    assert registry.names() == [
        "reconstruction",
        "kl",
        "padic_ranking",
        "padic_isosceles",
        "radial",
    ]
    assert registry.weight("kl") == pytest.approx(1e-3)


def test_registry_from_plain_data_with_a_plugin_manager() -> None:
    pm = plugin_manager(tvae_losses.plugin)
    data = {"losses": [{"name": "radial", "weight": 2.0, "ratio": 0.25}, {"name": "kl"}]}
    registry = create_registry_from_training_config(data, pm)
    assert registry.names() == ["radial", "kl"]
    assert registry.weight("radial") == 2.0
    assert registry.get("radial").ratio == 0.25


def test_bad_loss_settings_name_the_key_path() -> None:
    pm = plugin_manager(tvae_losses.plugin)
    with pytest.raises(SettingsError, match=r"losses\[0\]\.margn.*margin"):
        create_registry_from_training_config(
            {"losses": [{"name": "padic_ranking", "margn": 1}]}, pm
        )


def test_a_run_logs_the_kl_weight_as_beta() -> None:
    from tvae_core.testing import run_tiny

    summary = run_tiny(
        {"losses": [{"name": "tiny_reconstruction"}, {"name": "kl", "weight": 0.25}]},
        plugins=[tvae_losses.plugin],
    )
    assert summary.final["beta"] == 0.25 and "beta" not in summary.best
