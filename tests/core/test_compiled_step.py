"""``trainer.compile``: the setting, the inductor cache's place, and a compiled step that
trains like the eager one (issue 16, item 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tvae_core import ConfigError, Trainer, build_config
from tvae_core._engine.environment import compile_cache_dir
from tvae_core._engine.losses import LossRegistry


@pytest.mark.parametrize("value", [False, True, "step", "forward"])
def test_compile_accepts_booleans_and_modes(toy_config: dict[str, Any], value: Any) -> None:
    toy_config["trainer"]["compile"] = value
    assert build_config(toy_config).trainer.compile == value


@pytest.mark.parametrize("value", ["maybe", 1, "Step", None])
def test_a_bad_compile_value_is_one_line_naming_the_key(
    toy_config: dict[str, Any], value: Any
) -> None:
    toy_config["trainer"]["compile"] = value
    with pytest.raises(ConfigError) as info:
        build_config(toy_config)
    message = str(info.value)
    assert "trainer.compile" in message and "\n" not in message
    assert "'step' or 'forward'" in message


def test_the_cache_lives_under_the_user_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache_dir() == tmp_path / "tvae" / "inductor"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert compile_cache_dir() == tmp_path / "mine"


def test_combine_is_what_compose_sums() -> None:
    reg = LossRegistry()
    reg.add("a", lambda o, b: o["v"].sum(), 2.0)
    reg.add("b", lambda o, b: o["v"].mean(), 0.0)
    outputs = {"v": torch.tensor([1.0, 3.0])}
    composed = reg.compose(outputs, {})
    combined = reg.combine({"a": outputs["v"].sum(), "b": outputs["v"].mean()})
    assert composed.total.item() == combined.total.item() == 8.0
    assert combined.terms["b"].weight == 0.0 and combined.terms["b"].value.item() == 2.0


def _fit(toy_config: dict[str, Any], toy_pm: Any, compile_mode: Any) -> Trainer:
    toy_config["epochs"] = 3
    toy_config["trainer"]["compile"] = compile_mode
    trainer = Trainer(build_config(toy_config), plugins=toy_pm)
    trainer.fit()
    return trainer


@pytest.mark.slow
def test_the_compiled_step_trains_like_eager(
    toy_config: dict[str, Any], toy_pm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Same weights and losses within float tolerance; the dropout draws are eager's own."""
    from torch._dynamo.utils import counters

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    toy_config["data"]["size"] = 56  # a short last batch of 8: run eagerly, not recompiled
    eager = _fit(toy_config, toy_pm, False)
    torch._dynamo.reset()
    counters.clear()
    compiled = _fit(toy_config, toy_pm, "step")
    assert counters["stats"]["unique_graphs"] == 1  # one graph: no break, no recompile
    for (name, a), (_, b) in zip(
        eager.model.state_dict().items(), compiled.model.state_dict().items(), strict=True
    ):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), name
    for key in ("train/loss", "val/loss"):
        assert compiled.last_logs[key] == pytest.approx(eager.last_logs[key], rel=1e-4)
    assert any((tmp_path / "inductor").iterdir())  # the kernels stay for the next run
