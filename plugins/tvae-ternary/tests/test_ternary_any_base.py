"""Any prime base: the metrics measure a 2-adic dataset with 2-adic distances (issue 11, item 6).

The dataset below is what a third party's plugin would write: binary operations on n bits,
its batches carrying ``x`` (digit - 1 per position, position 0 least significant), ``index``,
the 2-adic ``valuation`` and a ``base`` column (the prime, one entry per row).
"""

from __future__ import annotations

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
