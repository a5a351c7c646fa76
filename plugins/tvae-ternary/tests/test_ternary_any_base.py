"""Any prime base: the metrics measure a 2-adic dataset with 2-adic distances (issue 11, item 6).

The dataset below is what a third party's plugin would write: binary operations on n bits,
its batches carrying ``x`` (digit - 1 per position, position 0 least significant), ``index``,
the 2-adic ``valuation`` and a ``base`` column (the prime, one entry per row).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from tvae_ternary.metrics import (
    DepthTripletAccuracy,
    TripletAccuracy,
    depth_triplet_accuracy,
    hierarchy,
    level_radial_accuracy,
    radial_accuracy,
    sample_depth_triplets,
    sample_triplets,
    triplet_accuracy,
)
from tvae_ternary.space import (
    digits_from_index,
    hierarchy_ceiling,
    pair_valuation,
    perfect_embedding,
    valuation_table,
)

from tvae_core import TensorDataset


class BinaryOps(TensorDataset):
    """All 2^n binary operations, a 2-adic dataset as another plugin would define it."""

    base = 2

    def __init__(self, n_bits: int = 6, batch_size: int = 16) -> None:
        index = torch.arange(2**n_bits)
        super().__init__(
            {
                "x": (digits_from_index(index, n_bits, 2) - 1).float(),
                "index": index,
                "valuation": valuation_table(n_bits, base=2),
                "base": torch.full_like(index, 2),
            },
            batch_size=batch_size,
        )


def eval_batch(ds: TensorDataset) -> dict[str, torch.Tensor]:
    """The evaluation set as the engine hands it to metrics: batches concatenated."""
    parts = list(ds.eval_batches())
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def outputs_for(z: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"z_mean": z, "curvature": torch.tensor(1.0)}


@pytest.mark.parametrize("n", [4, 7])
def test_the_2adic_construction_scores_one_on_every_metric(n: int) -> None:
    batch = eval_batch(BinaryOps(n))
    out = outputs_for(perfect_embedding(n, base=2))
    assert triplet_accuracy(out, batch, num_triplets=5000) == 1.0
    depth = depth_triplet_accuracy(out, batch, per_depth=2000)
    assert depth["depth_triplet_accuracy"] == 1.0
    assert sorted(k for k in depth if k[-1].isdigit()) == [
        f"depth_triplet_accuracy_{k}" for k in range(1, n)
    ]
    assert level_radial_accuracy(out, batch)["level_radial_accuracy"] == 1.0
    assert radial_accuracy(out, batch) == 1.0
    result = hierarchy(out, batch)
    assert result["hierarchy_ceiling"] == pytest.approx(hierarchy_ceiling(n, base=2))
    assert result["hierarchy"] <= result["hierarchy_ceiling"] + 1e-9


def test_triplets_are_drawn_by_2adic_distance() -> None:
    n = 6
    batch = eval_batch(BinaryOps(n))
    index = batch["index"]
    a, closer, farther = sample_triplets(index, n, 3000, seed=1, base=2)
    v_close = pair_valuation(index[a], index[closer], n, base=2)
    v_far = pair_valuation(index[a], index[farther], n, base=2)
    assert bool((v_close > v_far).all())
    for k, (a, p, q) in sample_depth_triplets(index, n, 500, seed=1, base=2).items():
        assert bool((pair_valuation(index[a], index[p], n, base=2) == k).all())
        assert bool((pair_valuation(index[a], index[q], n, base=2) == k - 1).all())
    # 3-adic depths of the same indices would differ: 1 and 3 share bit 0 (v_2 = 1), not v_3.
    assert int(pair_valuation(torch.tensor(1), torch.tensor(3), n, base=2)) == 1
    assert int(pair_valuation(torch.tensor(1), torch.tensor(3), n, base=3)) == 0


def test_the_base_comes_from_the_batch_or_the_setting_and_a_mismatch_is_refused() -> None:
    n = 5
    batch = eval_batch(BinaryOps(n))
    out = outputs_for(perfect_embedding(n, base=2))
    from_column = TripletAccuracy(num_triplets=2000)(out, batch)
    without = {k: v for k, v in batch.items() if k != "base"}
    assert TripletAccuracy(num_triplets=2000, base=2)(out, without) == from_column == 1.0
    assert DepthTripletAccuracy(per_depth=500, base=2)(out, without)["depth_triplet_accuracy"] == 1
    # Read as 3-adic, the 2-adic valuations do not match the indices: one clear error, not
    # silently wrong distances.
    for metric in (TripletAccuracy(num_triplets=100), DepthTripletAccuracy(per_depth=10)):
        with pytest.raises(ValueError, match="is not the 3-adic valuation of batch\\['index'\\]"):
            metric(out, without)
    with pytest.raises(ValueError, match="base must be a prime"):
        TripletAccuracy(base=4)(out, without)


PLUGIN = """
import torch
from tvae_core import TensorDataset, hookimpl
from tvae_ternary.geometry import expmap0
from tvae_ternary.space import digits_from_index, valuation_table


class BinaryOps(TensorDataset):
    def __init__(self, n_bits: int = 5, batch_size: int = 16, base_column: bool = True):
        index = torch.arange(2**n_bits)
        tensors = {
            "x": (digits_from_index(index, n_bits, 2) - 1).float(),
            "index": index,
            "valuation": valuation_table(n_bits, base=2),
        }
        if base_column:
            tensors["base"] = torch.full_like(index, 2)
        super().__init__(tensors, batch_size=batch_size)


class BitVAE(torch.nn.Module):
    def __init__(self, n_bits: int = 5, latent_dim: int = 4):
        super().__init__()
        self.encode = torch.nn.Linear(2 * n_bits, latent_dim)
        self.decode = torch.nn.Linear(latent_dim, 2 * n_bits)
        self.n = n_bits

    def forward(self, batch):
        onehot = torch.nn.functional.one_hot(batch["x"].long() + 1, 2).flatten(1).float()
        z = expmap0(0.5 * torch.tanh(self.encode(onehot)))
        return {"z_mean": z, "logits": self.decode(z).reshape(-1, self.n, 2)}


def reconstruction():
    def loss(outputs, batch):
        target = (batch["x"].long() + 1).reshape(-1)
        return torch.nn.functional.cross_entropy(outputs["logits"].reshape(-1, 2), target)
    loss.requires = {"outputs.logits", "batch.x"}
    return loss


@hookimpl
def tvae_register_datasets(register):
    register("binary_ops", BinaryOps)


@hookimpl
def tvae_register_models(register):
    register("bit_vae", BitVAE)


@hookimpl
def tvae_register_losses(register):
    register("bit_reconstruction", reconstruction)
"""


def _binary_run(tmp_path: Path, base_column: bool) -> Any:
    from tvae_core import PluginManager
    from tvae_core._config import build_config
    from tvae_core._engine import Trainer

    plugin = tmp_path / "binary_plugin.py"
    plugin.write_text(PLUGIN)
    pm = PluginManager([str(plugin), "tvae_ternary.plugin", "tvae_losses.plugin"], autoload=False)
    config = {
        "seed": 0,
        "epochs": 2,
        "data": {"name": "binary_ops", "base_column": base_column},
        "model": {"name": "bit_vae"},
        "optimizer": {"name": "adam", "lr": 0.01},
        "scheduler": {"name": "constant"},
        "losses": [
            {"name": "bit_reconstruction"},
            {"name": "padic_ranking", "closest": 2, "log_distance": True},
        ],
        "metrics": [
            {"name": "triplet_accuracy", "num_triplets": 2000},
            {"name": "depth_triplet_accuracy", "per_depth": 200},
            "level_radial_accuracy",
        ],
        "callbacks": [],
        "trainer": {"val_every": 1, "progress": False},
        "plugins": {"required": []},
    }
    return Trainer(build_config(config), plugins=pm, run_dir=tmp_path / "run").fit()


def test_a_2adic_dataset_runs_through_the_engine_with_2adic_terms(tmp_path: Path) -> None:
    """The base column reaches the loss (training batches) and the metrics (evaluation set)."""
    summary = _binary_run(tmp_path, base_column=True)
    assert summary.status == "completed", summary.error
    final = summary.final
    assert {f"val/depth_triplet_accuracy_{k}" for k in range(1, 5)} <= set(final)
    assert 0.0 <= final["val/triplet_accuracy"] <= 1.0


def test_a_2adic_dataset_without_its_base_is_refused_not_mismeasured(tmp_path: Path) -> None:
    from tvae_core import TvaeError

    with pytest.raises(TvaeError, match=r"is not the 3-adic valuation of batch\['index'\]") as info:
        _binary_run(tmp_path, base_column=False)
    assert "at epoch 1, step 0" in str(info.value)  # before the first step
