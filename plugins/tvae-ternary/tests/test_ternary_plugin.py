"""The plugin module: lazy registrations, conformance of each component, no torch on import."""

from __future__ import annotations

import subprocess
import sys

import pytest
import tvae_ternary.plugin
from tvae_ternary.data import TernaryOpsDataset
from tvae_ternary.model import TernaryVAE

from tvae_core.testing import check_component, plugin_manager

COMPONENTS = [
    ("dataset", "ternary_ops"),
    ("model", "ternary_vae"),
    ("metric", "coverage"),
    ("metric", "hierarchy"),
    ("metric", "radial_accuracy"),
    ("metric", "triplet_accuracy"),
    ("callback", "latent_plot"),
]


def test_registers_every_component_lazily_with_a_description() -> None:
    pm = plugin_manager(tvae_ternary.plugin)
    for kind, name in COMPONENTS:
        component = pm.registry.get(kind, name)
        assert component.is_lazy
        assert component.description_given


def test_plugin_module_imports_neither_torch_nor_geoopt() -> None:
    code = (
        "import sys, tvae_ternary, tvae_ternary.plugin; "
        "bad = [m for m in ('torch', 'geoopt', 'matplotlib') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_settings_schemas_come_from_signatures() -> None:
    pm = plugin_manager(tvae_ternary.plugin)
    data = pm.registry.get("dataset", "ternary_ops").settings_model().model_fields
    assert {
        "n_trits",
        "batch_size",
        "stratified",
        "val_fraction",
        "drop_last",
        "split",
        "subtree_depth",
    } <= set(data)
    assert data["split"].description and data["subtree_depth"].default == 2
    model = pm.registry.get("model", "ternary_vae").settings_model().model_fields
    assert {"input_dim", "latent_dim", "curvature", "hidden_dims", "learn_curvature"} <= set(model)
    assert model["latent_dim"].description


@pytest.mark.parametrize(("kind", "name"), [c for c in COMPONENTS if c[0] in ("model", "metric")])
def test_components_conform_on_the_real_model_and_data(kind: str, name: str) -> None:
    pm = plugin_manager(tvae_ternary.plugin)
    dataset = TernaryOpsDataset(n_trits=3, batch_size=9)
    model = TernaryVAE(input_dim=27, latent_dim=4, hidden_dims=(16,))
    settings = {"num_triplets": 500} if name == "triplet_accuracy" else {}
    check_component(kind, pm.registry.get(kind, name), settings, model=model, dataset=dataset)


def test_dataset_conforms() -> None:
    check_component(
        "dataset", "tvae_ternary.data:TernaryOpsDataset", {"n_trits": 3, "batch_size": 5}
    )


def test_unknown_setting_is_rejected_with_a_suggestion() -> None:
    from tvae_core import SettingsError

    pm = plugin_manager(tvae_ternary.plugin)
    with pytest.raises(SettingsError, match=r"latent_dims.*latent_dim"):
        pm.registry.get("model", "ternary_vae").validate({"latent_dims": 3}, "model")
