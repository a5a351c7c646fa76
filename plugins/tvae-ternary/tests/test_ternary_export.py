"""``tvae export``: every operation of a trained run, the train/held-out flag, which checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tvae_ternary.export import export_run

from tvae_core import PluginManager, UsageError, hookimpl
from tvae_core.testing import TinyTernaryData, plugin_manager, tiny_plugin, tiny_trainer

PLUGINS = ["tvae_ternary.plugin", "tvae_losses.plugin", "tvae_callbacks.plugin"]
CONFIG = {
    "epochs": 3,
    "data": {"name": "ternary_ops", "n_trits": 3, "batch_size": 9, "val_fraction": 0.25},
    "model": {"name": "ternary_vae", "latent_dim": 2, "hidden_dims": [16]},
    "losses": [{"name": "reconstruction"}],
    "metrics": ["coverage"],
    "callbacks": [{"name": "checkpoint", "save_interval": 1, "monitor": "val/loss"}],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export") / "run"
    summary = tiny_trainer(CONFIG, PLUGINS, run_dir=folder).fit()
    assert summary.status == "completed"
    return folder


def _pm() -> PluginManager:
    return PluginManager(PLUGINS, autoload=False)


def test_every_operation_with_its_train_flag(run: Path, tmp_path: Path) -> None:
    done = export_run(run, tmp_path / "e.npz", plugins=_pm())
    data = np.load(done.path)
    assert list(data["index"]) == list(range(27))  # all of them, held-out ones included
    assert data["z"].shape == (27, 2) and data["recon"].shape == (27, 3)
    assert data["train"].dtype == bool
    assert int((~data["train"]).sum()) == 7  # ceil(0.25 * 27) held out by the split
    assert done.rows == 27 and done.train_rows == 20
    assert list(data["valuation"][:4]) == [3, 0, 0, 1]
    assert float(data["curvature"]) == pytest.approx(1.0)


def test_the_train_flag_is_the_datasets_split(run: Path, tmp_path: Path) -> None:
    from tvae_core import model_from_checkpoint

    data = np.load(export_run(run, tmp_path / "e.npz", plugins=_pm()).path)
    trainer, _ = model_from_checkpoint(run, _pm())
    held_out = set(trainer.dataset.eval_tensors["index"].tolist())
    assert {i for i, t in enumerate(data["train"]) if not t} == held_out


def test_last_is_the_default_and_best_or_a_file_can_be_asked_for(run: Path, tmp_path: Path) -> None:
    last = export_run(run, tmp_path / "a.npz", plugins=_pm())
    assert (last.checkpoint.name, last.epoch) == ("last.pt", 3)
    best = export_run(run, tmp_path / "b.npz", checkpoint="best", plugins=_pm())
    assert best.checkpoint.name == "best.pt"
    first = export_run(run, tmp_path / "c.npz", checkpoint="epoch_0001.pt", plugins=_pm())
    assert first.epoch == 1
    assert not np.array_equal(np.load(first.path)["z"], np.load(last.path)["z"])
    assert "exported 27 operations (20 trained on, 7 held out)" in last.describe()
    assert f"from {last.checkpoint} (epoch 3) to {last.path}" in last.describe()


def test_by_default_it_writes_into_the_run_folder(run: Path) -> None:
    assert export_run(run, plugins=_pm()).path == run / "embeddings.npz"


class Untyped(TinyTernaryData):
    """The tiny operations under a dataset that does not say it is a ternary space."""

    def __init__(self) -> None:
        super().__init__()
        del self.n_trits

    def model_context(self) -> dict[str, int]:
        return {"input_dim": 27}


class UntypedPlugin:
    __name__ = "untyped_plugin"

    @hookimpl
    def tvae_register_datasets(self, register: Any) -> None:
        register("untyped", Untyped)


def test_a_run_of_another_dataset_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "other"
    plugin = UntypedPlugin()
    tiny_trainer({"epochs": 1, "data": {"name": "untyped"}}, [plugin], run_dir=run).fit()
    with pytest.raises(UsageError, match="is not a space of ternary operations"):
        export_run(run, plugins=plugin_manager(tiny_plugin, plugin))


def test_the_command_prints_what_it_exported(run: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVAE_")}
    out = tmp_path / "cli.npz"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tvae_core",
            "export",
            str(run),
            "--checkpoint",
            "best",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("exported 27 operations") and "best.pt" in done.stdout
    assert out.is_file()


def test_a_subtree_split_exports_whole_held_out_subtrees_and_its_val_metrics(
    tmp_path: Path,
) -> None:
    """split=subtree: the train flag is False on whole low-digit subtrees; val/* is held out."""
    config = {
        **CONFIG,
        "data": {
            **CONFIG["data"],
            "val_fraction": 0.3,
            "split": "subtree",
            "subtree_depth": 2,
        },
        "metrics": ["coverage", "level_radial_accuracy"],
        "callbacks": [],
    }
    summary = tiny_trainer(config, PLUGINS, run_dir=tmp_path / "run").fit()
    data = np.load(export_run(tmp_path / "run", tmp_path / "e.npz", plugins=_pm()).path)
    held = ~data["train"]
    assert int(held.sum()) == 9  # ceil(0.3 * 9) = 3 of the 9 two-digit prefixes, 3 each
    prefixes = data["index"] % 9
    assert not set(prefixes[held]) & set(prefixes[~held])
    # The validation metrics are the held-out operations' metrics, recomputed from the file.
    trits = np.stack([(data["index"] // 3**k) % 3 - 1 for k in range(3)], axis=1)
    exact = (data["recon"] == trits).all(axis=1)
    assert summary.final["val/coverage"] == pytest.approx(float(exact[held].mean()))


def test_the_reported_metrics_equal_a_recomputation_from_the_export(tmp_path: Path) -> None:
    """Coverage, hierarchy, radial and level-radial order: summary.json = the exported file."""
    import torch
    from tvae_ternary.geometry import radius

    def ranks(a: np.ndarray) -> np.ndarray:
        """1-based ranks, ties at their average rank (Spearman's convention)."""
        _, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
        start = np.cumsum(counts) - counts
        return (start + (counts + 1) / 2.0)[inverse]

    config = {
        **CONFIG,
        "epochs": 4,
        "data": {"name": "ternary_ops", "n_trits": 4, "batch_size": 27},
        "metrics": ["coverage", "hierarchy", "radial_accuracy", "level_radial_accuracy"],
        "losses": [{"name": "reconstruction"}, {"name": "radial", "weight": 0.3}],
        "callbacks": [],
    }
    final = tiny_trainer(config, PLUGINS, run_dir=tmp_path / "run").fit().final
    data = np.load(export_run(tmp_path / "run", tmp_path / "e.npz", plugins=_pm()).path)
    trits = np.stack([(data["index"] // 3**k) % 3 - 1 for k in range(4)], axis=1)
    assert final["val/coverage"] == pytest.approx(float((data["recon"] == trits).all(1).mean()))
    rho = radius(torch.as_tensor(data["z"], dtype=torch.float64), float(data["curvature"]))
    rho_np, v = rho.numpy(), data["valuation"]
    rho_stat = np.corrcoef(ranks(v), ranks(rho_np))[0, 1]
    assert final["val/hierarchy"] == pytest.approx(float(rho_stat), abs=1e-5)
    inside = (v[:, None] > v[None, :]) & (rho_np[:, None] < rho_np[None, :])
    pairs = v[:, None] > v[None, :]
    assert final["val/radial_accuracy"] == pytest.approx(inside.sum() / pairs.sum(), abs=1e-6)
    for k in range(4):
        pair = (v[:, None] == k + 1) & (v[None, :] == k)
        value = float((pair & inside).sum() / pair.sum())
        assert final[f"val/level_radial_accuracy_{k + 1}_{k}"] == pytest.approx(value, abs=1e-6)
