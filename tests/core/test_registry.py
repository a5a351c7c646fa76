"""Component lookup, settings schemas derived from signatures, and settings errors."""

from __future__ import annotations

import pytest

from tvae_core import Component, ComponentNotFound, PluginManager, Registry, SettingsError


def factory(width: int, depth: int = 2, act: str = "relu") -> dict[str, object]:
    """A factory with documented settings.

    Args:
        width: units per layer.
        depth: how many layers.
    """
    return {"width": width, "depth": depth, "act": act}


def make(name: str = "net", plugin: str = "p") -> Component:
    return Component("model", name, plugin, "p-dist", "1.2", factory)


def test_schema_from_signature_with_docs_and_defaults() -> None:
    model = make().settings_model()
    fields = model.model_fields
    assert list(fields) == ["width", "depth", "act"]
    assert fields["width"].is_required()
    assert fields["depth"].default == 2
    assert fields["width"].description == "units per layer."


def test_validate_fills_defaults_and_rejects_unknown_keys() -> None:
    c = make()
    assert c.validate({"width": 3}, "model") == {"width": 3, "depth": 2, "act": "relu"}
    with pytest.raises(
        SettingsError, match=r"model.dpth: unknown key 'dpth'; did you mean 'depth'\?"
    ):
        c.validate({"width": 3, "dpth": 1}, "model")
    with pytest.raises(SettingsError, match=r"model\.width: Input should be a valid integer"):
        c.validate({"width": "wide"}, "model")
    with pytest.raises(SettingsError, match=r"model\.width: required setting is missing"):
        c.validate({}, "model")


def test_optimizer_schema_skips_params() -> None:
    pm = PluginManager([], autoload=False)
    fields = pm.registry.get("optimizer", "adam").settings_model().model_fields
    assert "params" not in fields
    assert fields["lr"].default == 1e-3


def test_lookup_suggests_close_names() -> None:
    reg = Registry()
    reg.add(make("padic_ranking"))
    with pytest.raises(ComponentNotFound, match="did you mean 'padic_ranking'"):
        reg.get("model", "padic_rankin")
    with pytest.raises(ComponentNotFound, match="unknown component kind"):
        reg.get("gadget", "x")


def test_build_turns_constructor_errors_into_settings_errors() -> None:
    def picky(x: int = 1) -> int:
        if x < 0:
            raise ValueError("x must be >= 0")
        return x

    c = Component("loss", "picky", "p", None, None, picky)
    with pytest.raises(SettingsError, match="rejected its settings: x must be >= 0"):
        c.build({"x": -1})


def test_non_finite_settings_are_refused() -> None:
    pm = PluginManager([], autoload=False)
    with pytest.raises(SettingsError, match=r"optimizer\.lr: Input should be a finite number"):
        pm.registry.get("optimizer", "adam").validate({"lr": float("inf")}, "optimizer")
