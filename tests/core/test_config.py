"""Config files, merging with the default, --set overrides, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tvae_core import ConfigError, build_config, load_config
from tvae_core._config import apply_overrides, default_config, default_config_text


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_default_config_round_trips_through_tvae_config_output(tmp_path: Path) -> None:
    p = write(tmp_path, "default.yaml", default_config_text())
    assert load_config(p) == default_config()


def test_yaml_and_toml_give_the_same_config(tmp_path: Path) -> None:
    y = write(tmp_path, "a.yaml", "seed: 7\nepochs: 3\nmodel: {name: ternary_vae, latent_dim: 8}\n")
    t = write(
        tmp_path, "a.toml", "seed = 7\nepochs = 3\n[model]\nname = 'ternary_vae'\nlatent_dim = 8\n"
    )
    assert load_config(y) == load_config(t)
    assert load_config(y).model.latent_dim == 8


def test_sections_replace_but_trainer_merges(tmp_path: Path) -> None:
    p = write(tmp_path, "a.yaml", "trainer: {val_every: 3}\nlosses: [{name: reconstruction}]\n")
    cfg = load_config(p)
    assert cfg.trainer.val_every == 3
    assert cfg.trainer.grad_clip == default_config().trainer.grad_clip
    assert [loss.name for loss in cfg.losses] == ["reconstruction"]


def test_string_shorthand_for_components(tmp_path: Path) -> None:
    p = write(tmp_path, "a.yaml", "optimizer: sgd\n")
    assert load_config(p).optimizer.name == "sgd"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("sede: 1\n", "sede: unknown key 'sede'; did you mean 'seed'?"),
        (
            "trainer: {grad_clp: 1}\n",
            "trainer.grad_clp: unknown key 'grad_clp'; did you mean 'grad_clip'?",
        ),
        ("epochs: many\n", "epochs: Input should be a valid integer"),
        ("epochs: 0\n", "epochs: Input should be greater than or equal to 1"),
        ("losses: [{weight: 1}]\n", "losses[0].name: required setting is missing"),
        ("losses: [{name: kl, weight: .nan}]\n", "losses[0].weight"),
        (
            "trainer: {precision: '64'}\n",
            "trainer.precision: Input should be '32', 'bf16-mixed' or '16-mixed'",
        ),
        ("trainer: {device: tpu}\n", "trainer.device"),
        ("- a\n- b\n", "expected a mapping of sections"),
        ("", "the file is empty"),
        ("seed: [1, 2\n", "invalid YAML at line"),
        ("seed: true\n", "seed: Input should be a valid integer"),
        (
            "losses: [{name: kl, weight: -1}]\n",
            "losses[0].weight: Input should be greater than or equal to 0",
        ),
    ],
)
def test_config_errors_are_one_line_with_key_path(tmp_path: Path, text: str, fragment: str) -> None:
    p = write(tmp_path, "bad.yaml", text)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    message = str(exc.value)
    assert fragment in message
    assert "\n" not in message
    assert str(p) in message


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "bad.toml", "seed = = 1"))


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("/nonexistent/config.yaml")


def test_overrides_by_path_index_and_name() -> None:
    cfg = load_config(
        overrides=[
            "model.latent_dim=8",
            "losses[0].weight=2",
            "losses.kl.free_bits=0.3",
            "trainer.val_every=4",
        ]
    )
    assert cfg.model.latent_dim == 8
    assert cfg.losses[0].weight == 2.0
    assert next(loss for loss in cfg.losses if loss.name == "kl").free_bits == 0.3
    assert cfg.trainer.val_every == 4


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("novalue", "expected KEY.PATH=VALUE"),
        ("losses[99].weight=1", "index 99 is out of range"),
        ("losses.nothere.weight=1", "no entry named 'nothere'"),
        ("seed.inner=1", "cannot set a key inside a int value"),
    ],
)
def test_override_errors(override: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        load_config(overrides=[override])


def test_seed_guide_views_of_the_config() -> None:
    cfg = load_config()
    assert cfg.geometry.latent_dim == cfg.model.latent_dim
    assert cfg.geometry.curvature == cfg.model.curvature
    assert cfg.optimizer.learning_rate == cfg.optimizer.lr
    cfg.loss_weights.ranking = 0.25
    assert next(loss for loss in cfg.losses if loss.name == "padic_ranking").weight == 0.25
    assert cfg.to_dict()["epochs"] == cfg.epochs
    with pytest.raises(AttributeError):
        _ = cfg.loss_weights.nonexistent


def test_loss_weights_take_a_term_name_or_its_unique_last_part() -> None:
    cfg = build_config(
        {"losses": [{"name": "padic_ranking"}, {"name": "soft_ranking"}, {"name": "kl"}]},
        merge_default=True,
    )
    cfg.loss_weights.kl = 0.5
    assert cfg.losses[2].weight == 0.5
    with pytest.raises(AttributeError, match="'ranking' is ambiguous"):
        _ = cfg.loss_weights.ranking


def test_build_config_merges_the_default_when_asked() -> None:
    cfg = build_config({"epochs": 3}, merge_default=True)
    assert cfg.epochs == 3 and cfg.model.name == default_config().model.name
    with pytest.raises(ConfigError) as info:
        build_config({"epochs": 3}, source="mine.yaml")  # no data, model, ... sections
    assert info.value.source == "mine.yaml" and info.value.where == "data"
    assert str(info.value) == "mine.yaml: data: required setting is missing"


def test_the_unused_log_every_steps_key_is_gone() -> None:
    with pytest.raises(ConfigError, match=r"--set trainer\.log_every_steps=10: unknown key"):
        load_config(overrides=["trainer.log_every_steps=10"])


@given(
    st.dictionaries(
        st.sampled_from(["seed", "epochs"]), st.integers(min_value=1, max_value=10**6), min_size=1
    )
)
def test_overrides_of_integers_round_trip(values: dict[str, int]) -> None:
    data = apply_overrides(
        yaml.safe_load(default_config_text()), [f"{k}={v}" for k, v in values.items()]
    )
    for k, v in values.items():
        assert data[k] == v
