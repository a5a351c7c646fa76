"""The seed guide's config views write through, and a file in the seed's shape loads (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tvae_core import Trainer, load_config
from tvae_core._errors import ConfigError

SMALL = [
    "data.n_trits=3",
    "data.batch_size=9",
    "metrics=[coverage]",
    "callbacks=[]",
    "trainer.device=cpu",
    "trainer.progress=false",
]


def test_geometry_view_writes_the_model_settings_and_the_run_builds_them() -> None:
    config = load_config(None, SMALL)
    config.geometry.latent_dim = 3
    config.geometry.curvature = 0.5
    assert config.model.latent_dim == 3 and config.to_dict()["model"]["curvature"] == 0.5
    trainer = Trainer(config)
    trainer.setup()
    out = trainer.model(next(iter(trainer.dataset.eval_batches())))
    assert out["mu"].shape[-1] == 3


def test_geometry_view_refuses_other_keys_clearly() -> None:
    config = load_config(None)
    with pytest.raises(AttributeError, match=r"config.model.hidden_dims = \.\.\."):
        config.geometry.hidden_dims = [8]
    assert "hidden_dims" in config.model.settings and config.model.hidden_dims == [256, 256]


def test_learning_rate_writes_lr_and_the_optimizer_takes_it() -> None:
    config = load_config(None, [*SMALL, "scheduler=null"])
    config.optimizer.learning_rate = 1e-3
    assert config.optimizer.lr == 1e-3 and "learning_rate" not in config.to_dict()["optimizer"]
    trainer = Trainer(config)
    trainer.setup()
    assert trainer.optimizer.param_groups[0]["lr"] == 1e-3


def test_a_file_in_the_seed_shape_is_mapped(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "epochs: 3\n"
        "geometry: {latent_dim: 8, curvature: 0.5}\n"
        "optimizer: {learning_rate: 1.0e-3}\n"
        "loss_weights: {ranking: 0.1, kl: 0.02}\n"
    )
    config = load_config(path)
    assert (config.model.name, config.model.latent_dim, config.model.curvature) == (
        "ternary_vae",
        8,
        0.5,
    )
    assert (config.optimizer.name, config.optimizer.lr) == ("adam", 1e-3)
    weights = {loss.term: loss.weight for loss in config.losses}
    assert weights["padic_ranking"] == 0.1 and weights["kl"] == 0.02
    assert weights["reconstruction"] == 1.0
    assert "geometry" not in config.to_dict() and "loss_weights" not in config.to_dict()


def test_every_problem_of_a_seed_shaped_file_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "geometry: {latent_dim: 8, hidden: 3}\n"
        "model: {name: ternary_vae, latent_dim: 16}\n"
        "optimizer: {name: adam, lr: 0.01, learning_rate: 0.001}\n"
        "loss_weights: {rankin: 0.1}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert text.startswith(f"{path}: 4 problems: ")
    for part in ("geometry.hidden", "geometry.latent_dim", "optimizer.learning_rate", "'rankin'"):
        assert part in text
    assert "\n" not in text


def test_a_nameless_component_changes_the_default_one() -> None:
    from tvae_core._config import build_config

    config = build_config({"model": {"latent_dim": 4}}, merge_default=True)
    assert config.model.name == "ternary_vae" and config.model.latent_dim == 4
    assert config.model.hidden_dims == [256, 256]  # the default's other settings stay


def test_loss_weights_writes_reach_the_registries_built_from_the_config() -> None:
    import copy
    import pickle

    pytest.importorskip("tvae_losses")
    from tvae_losses import create_registry_from_training_config

    config = load_config(None, SMALL)
    registry = create_registry_from_training_config(config)
    trainer = Trainer(config)
    trainer.setup()
    config.loss_weights.ranking = 0.05  # the seed guide's curriculum line
    assert registry.weights["padic_ranking"] == 0.05
    assert trainer.losses.weights["padic_ranking"] == 0.05
    pair = copy.deepcopy({"config": config, "registry": registry})
    pair["config"].loss_weights.kl = 0.5  # a copied pair stays bound, apart from the original
    assert pair["registry"].weights["kl"] == 0.5 and registry.weights["kl"] != 0.5
    assert pickle.loads(pickle.dumps(config)).loss_weights.ranking == 0.05
    with pytest.raises(ValueError, match="finite number >= 0"):
        config.loss_weights.ranking = -1.0
