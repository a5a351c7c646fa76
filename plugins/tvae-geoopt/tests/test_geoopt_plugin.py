"""The plugin registers both optimizers lazily, with documented settings that build them."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import torch
import tvae_geoopt
from tvae_geoopt import RiemannianAdam, RiemannianSGD

from tvae_core import PluginManager, SettingsError
from tvae_core.testing import TinyVAE, check_component, run_tiny


@pytest.fixture(scope="module")
def registry():
    return PluginManager(["tvae_geoopt.plugin"], autoload=False).registry


def test_entry_point_names_the_plugin_module():
    names = {ep.name: ep.value for ep in entry_points(group="tvae.plugins")}
    assert names.get("geoopt") == "tvae_geoopt.plugin"


def test_importing_the_plugin_imports_neither_torch_nor_geoopt():
    code = (
        "import sys, tvae_geoopt.plugin as p; "
        "assert callable(p.tvae_register_optimizers); "
        "print(sorted(m for m in ('torch', 'geoopt') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_both_optimizers_are_registered_lazily_with_descriptions(registry):
    for name, cls in (("riemannian_adam", RiemannianAdam), ("riemannian_sgd", RiemannianSGD)):
        component = registry.get("optimizer", name)
        assert component.is_lazy
        assert component.description
        assert component.load() is cls


def test_settings_schema_documents_every_setting(registry):
    schema = registry.get("optimizer", "riemannian_adam").settings_model()
    fields = schema.model_fields
    assert set(fields) == {"lr", "betas", "eps", "weight_decay", "amsgrad", "stabilize", "fused"}
    assert all(f.description for f in fields.values())
    sgd_fields = registry.get("optimizer", "riemannian_sgd").settings_model().model_fields
    assert {"momentum", "dampening", "nesterov"} <= set(sgd_fields)


def test_config_settings_build_the_optimizer(registry):
    component = registry.get("optimizer", "riemannian_adam")
    settings = component.validate({"lr": 3e-3, "betas": [0.8, 0.99]}, "optimizer")
    model = torch.nn.Linear(3, 2)
    optimizer = component.build(settings, model.parameters())
    assert isinstance(optimizer, RiemannianAdam)
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.99)
    assert optimizer.param_groups[0]["lr"] == 3e-3


def test_unknown_and_ill_typed_settings_name_the_key(registry):
    component = registry.get("optimizer", "riemannian_sgd")
    with pytest.raises(SettingsError, match=r"optimizer\.momentun.*did you mean 'momentum'"):
        component.validate({"momentun": 0.9}, "optimizer")
    with pytest.raises(SettingsError, match=r"optimizer\.lr"):
        component.validate({"lr": "fast"}, "optimizer")


def test_out_of_range_settings_are_rejected_when_built(registry):
    component = registry.get("optimizer", "riemannian_sgd")
    settings = component.validate({"nesterov": True}, "optimizer")
    with pytest.raises(SettingsError, match="nesterov needs momentum"):
        component.build(settings, torch.nn.Linear(2, 2).parameters())


def test_package_exports_the_seed_names():
    assert tvae_geoopt.RiemannianAdam is RiemannianAdam
    assert tvae_geoopt.RiemannianSGD is RiemannianSGD
    assert set(tvae_geoopt.__all__) <= set(dir(tvae_geoopt))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = tvae_geoopt.Nope


def test_both_optimizers_pass_the_core_conformance_check(registry):
    for name in ("riemannian_adam", "riemannian_sgd"):
        optimizer = check_component("optimizer", registry.get("optimizer", name), {"lr": 1e-2})
        assert isinstance(optimizer, (RiemannianAdam, RiemannianSGD))


def test_a_tiny_run_trains_with_riemannian_adam_and_resumes(tmp_path):
    config = {"epochs": 3, "optimizer": {"name": "riemannian_adam", "lr": 1e-2}}
    summary = run_tiny(config, plugins=["tvae_geoopt.plugin"], run_dir=tmp_path)
    assert summary.status == "completed"
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    model = TinyVAE(input_dim=27, latent_dim=2, hidden=16)
    model.load_state_dict(checkpoint["model_state_dict"])
    optimizer = RiemannianAdam(model.parameters())
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)
    assert len(optimizer.state) == len(list(model.parameters()))
