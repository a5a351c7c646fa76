"""Errors carry their context as attributes and render it once, in one line."""

from __future__ import annotations

import pickle

import pytest

from tvae_core import ComponentNotFound, ConfigError, PluginError, SettingsError, TvaeError
from tvae_core.testing import tiny_trainer


def test_the_context_renders_in_a_fixed_order() -> None:
    error = SettingsError(
        "rejected its settings: margin must be >= 0",
        where="losses[2]",
        component="loss 'padic_ranking'",
        plugin="plugin 'losses' (tvae-losses 0.1.0)",
        hint="see `tvae show loss padic_ranking`",
        source="my.yaml",
    )
    assert str(error) == (
        "my.yaml: losses[2]: loss 'padic_ranking' of plugin 'losses' (tvae-losses 0.1.0) "
        "rejected its settings: margin must be >= 0; see `tvae show loss padic_ranking`"
    )
    assert error.message == "rejected its settings: margin must be >= 0"
    assert isinstance(error, ConfigError) and error.exit_code == 2


def test_an_outer_layer_adds_context_without_touching_the_message() -> None:
    error = ComponentNotFound("no loss named 'kll'")
    assert error.locate("losses[1].name", source="my.yaml") is error
    error.locate("ignored", source="ignored.yaml")  # the innermost context wins
    assert str(error) == "my.yaml: losses[1].name: no loss named 'kll'"


def test_context_survives_pickling() -> None:
    error = PluginError("failed to build: boom", where="model", component="model 'x'", code="c")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is PluginError and str(again) == str(error) and again.code == "c"


def test_a_run_error_names_the_path_the_component_and_the_plugin() -> None:
    with pytest.raises(TvaeError) as info:
        tiny_trainer({"losses": [{"name": "tiny_kl", "margin": 1.0}]}).setup()
    error = info.value
    assert (error.where, error.source) == ("losses[0].margin", "<tiny config>")
    assert error.message == "unknown key 'margin'"
    with pytest.raises(TvaeError) as info:
        tiny_trainer({"model": {"name": "tiny_vae", "latent_dim": -1}}).setup()
    assert info.value.context["component"] == "model 'tiny_vae'"
    assert info.value.context["plugin"].startswith("plugin 'tiny'")
    assert info.value.where == "model"
