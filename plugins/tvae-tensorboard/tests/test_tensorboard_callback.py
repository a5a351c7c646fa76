from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tvae_tensorboard import TensorBoardCallback, flatten_config

from tvae_core import Trainer
from tvae_core.testing import tiny_trainer, tiny_valuation

# The core's tiny run: the 27 operations of n = 3 in batches of 9, the loss
# ``tiny_reconstruction``, the metric ``tiny_coverage``; the model outputs ``z_mean``.
CONFIG: dict[str, Any] = {
    "seed": 1,
    "epochs": 4,
    "scheduler": {"name": "constant"},
    "callbacks": [{"name": "tensorboard"}],
    "trainer": {"val_every": 2},
}


def trainer_for(config: dict[str, Any], run_dir: Path | None = None) -> Trainer:
    return tiny_trainer(config, ["tvae_tensorboard.plugin"], run_dir=run_dir)


def test_flatten_config_keys_components_by_name() -> None:
    flat = flatten_config(
        {
            "seed": 0,
            "model": {"name": "vae", "hidden_dims": [256, 256], "extra": None},
            "losses": [{"name": "reconstruction", "weight": 1.0}, {"name": "kl"}],
            "plugins": {"required": ["a>=1"]},
        }
    )
    assert flat == {
        "seed": 0,
        "model.name": "vae",
        "model.hidden_dims": "[256, 256]",
        "model.extra": "None",
        "losses.reconstruction.weight": 1.0,
        "losses.kl": True,
        "plugins.required": "['a>=1']",
    }


def test_a_run_writes_epoch_scalars_hparams_and_the_projector(tmp_path: Path) -> None:
    trainer = trainer_for(CONFIG, tmp_path / "run")
    summary = trainer.fit()
    assert summary.status == "completed"
    folder = tmp_path / "run" / "tensorboard"
    acc = EventAccumulator(str(folder))
    acc.Reload()
    tags = acc.Tags()
    assert {
        "train/loss",
        "train/tiny_reconstruction",
        "lr",
        "val/loss",
        "val/tiny_coverage",
    } <= set(tags["scalars"])
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]  # per epoch, from 1
    assert [e.step for e in acc.Scalars("val/tiny_coverage")] == [2, 4]
    assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")
    projector = (folder / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "z_mean:' in projector
    step_dir = folder / "00004" / "z_mean"
    assert (step_dir / "tensors.tsv").read_text().count("\n") == 27
    metadata = (step_dir / "metadata.tsv").read_text().splitlines()
    assert metadata[0] == "index\tvaluation" and metadata[5] == "4\t0" and metadata[10] == "9\t2"
    # Every operation, in order, with its 3-adic valuation (v(0) = n = 3).
    assert metadata[1:] == [f"{i}\t{v}" for i, v in enumerate(tiny_valuation(3).tolist())]
    (callback,) = [c for c in trainer.callbacks if isinstance(c, TensorBoardCallback)]
    assert callback.timings_s["fit_end"] > 0


def test_hparams_hold_the_flattened_config(tmp_path: Path) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    config = {**CONFIG, "epochs": 2, "callbacks": [{"name": "tensorboard", "log_embedding": False}]}
    trainer_for(config, tmp_path / "run").fit()
    acc = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    params = start.session_start_info.hparams
    assert params["data.batch_size"].number_value == 9
    assert params["optimizer.name"].string_value == "adam"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    names = {m.name.tag for m in experiment.experiment.metric_infos}
    assert {"val/loss", "val/tiny_coverage"} <= names
    assert not (tmp_path / "run" / "tensorboard" / "projector_config.pbtxt").exists()


def test_without_a_run_folder_it_writes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = trainer_for({**CONFIG, "epochs": 1})
    with caplog.at_level("WARNING", logger="tvae"):
        trainer.fit()
    assert "no folder" in caplog.text


def test_bad_setting() -> None:
    with pytest.raises(ValueError, match="embedding_max_points must be >= 1 or None"):
        TensorBoardCallback(embedding_max_points=0)
