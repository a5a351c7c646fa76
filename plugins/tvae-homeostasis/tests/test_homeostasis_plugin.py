"""The plugin registers both callbacks lazily, with documented settings that pass conformance."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest
import tvae_homeostasis.plugin
from tvae_homeostasis import CurriculumCallback, HomeostasisCallback

from tvae_core import SettingsError
from tvae_core.testing import check_component, plugin_manager


@pytest.fixture(scope="module")
def registry():
    return plugin_manager(tvae_homeostasis.plugin).registry


def test_entry_point_names_the_plugin_module():
    names = {ep.name: ep.value for ep in entry_points(group="tvae.plugins")}
    assert names.get("homeostasis") == "tvae_homeostasis.plugin"


def test_importing_the_plugin_does_not_import_torch():
    code = "import sys, tvae_homeostasis.plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_both_callbacks_are_registered_lazily_with_descriptions(registry):
    for name, cls in (("homeostasis", HomeostasisCallback), ("curriculum", CurriculumCallback)):
        component = registry.get("callback", name)
        assert component.is_lazy
        assert component.description
        assert component.load() is cls


def test_settings_schemas_document_every_setting(registry):
    homeostasis = registry.get("callback", "homeostasis").settings_model().model_fields
    assert {"target_kl", "kl_tolerance", "beta_init", "beta_min", "beta_max", "gain",
            "proportional_gain", "loss", "monitor", "kl_unit", "guard", "guard_tolerance"
            } == set(homeostasis)  # fmt: skip
    curriculum = registry.get("callback", "curriculum").settings_model().model_fields
    assert set(curriculum) == {
        "losses", "start_difficulty", "end_difficulty", "warmup_epochs", "schedule"
    }  # fmt: skip
    assert curriculum["losses"].is_required()
    assert all(f.description for f in [*homeostasis.values(), *curriculum.values()])


def test_config_settings_are_validated_with_key_paths(registry):
    curriculum = registry.get("callback", "curriculum")
    with pytest.raises(SettingsError, match=r"callbacks\[1\]\.schedule"):
        curriculum.validate({"losses": {"kl": 1.0}, "schedule": "step"}, "callbacks[1]")
    with pytest.raises(
        SettingsError, match=r"callbacks\[0\]\.target_kll.*did you mean 'target_kl'"
    ):
        registry.get("callback", "homeostasis").validate({"target_kll": 2.0}, "callbacks[0]")
    with pytest.raises(SettingsError, match=r"beta_init=99\.0 lies outside"):
        registry.get("callback", "homeostasis").build({"beta_init": 99.0})


def test_homeostasis_passes_the_core_conformance_check(registry):
    # The core checks callbacks in a tiny run with losses named reconstruction and kl.
    callback = check_component("callback", registry.get("callback", "homeostasis"), {})
    assert callback.controller.updates == 2


def test_curriculum_passes_the_core_conformance_check(registry):
    settings = {"losses": {"reconstruction": 1.0}, "warmup_epochs": 4}
    check_component("callback", registry.get("callback", "curriculum"), settings)
