"""Any prime base: the geometric terms read a 2-adic dataset's base (issue 11, item 6).

A 2-adic dataset, as another plugin would give it: ``x`` (digit - 1 per position), ``index``,
the 2-adic ``valuation`` and a ``base`` column (the prime, one entry per row).
"""

from __future__ import annotations

import math

import pytest
import torch
from tvae_losses.geometric import Geodesic, PadicRanking, Radial
from tvae_ternary.geometry import expmap0
from tvae_ternary.space import digits_from_index, perfect_embedding, valuation_table


def binary_batch(n: int, base_column: bool = True) -> dict[str, torch.Tensor]:
    index = torch.arange(2**n)
    batch = {
        "x": (digits_from_index(index, n, 2) - 1).float(),
        "index": index,
        "valuation": valuation_table(n, base=2),
    }
    if base_column:
        batch["base"] = torch.full_like(index, 2)
    return batch


def outputs_for(z: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"z_mean": z, "curvature": torch.tensor(1.0)}


def test_padic_ranking_compares_2adic_depths() -> None:
    n = 6
    batch = binary_batch(n)
    out = outputs_for(perfect_embedding(n, base=2))
    term = PadicRanking(margin=0.2, triplets_per_anchor=2, closest=4, log_distance=True)
    torch.manual_seed(0)
    assert float(term(out, batch)) == 0.0  # ordered at every 2-adic depth, gap ln 4 > 0.2
    assert term._base == 2
    p, q, ok, k = term._closest_pairs(batch["index"], n, 2)
    v = valuation_table(n, base=2)
    index = batch["index"]
    assert bool(ok.all())
    assert bool((v[(index[p] - index).abs()] == k).all())
    assert bool((v[(index[q] - index).abs()] == k - 1).all())
    # The same points read as 3-adic are refused, not silently given 3-adic distances.
    without = {key: t for key, t in batch.items() if key != "base"}
    with pytest.raises(ValueError, match="padic_ranking: batch\\['valuation'\\] is not the 3-adic"):
        PadicRanking()(out, without)
    explicit = PadicRanking(margin=0.2, triplets_per_anchor=2, closest=4, log_distance=True, base=2)
    torch.manual_seed(0)
    assert float(explicit(out, without)) == 0.0


def test_geodesic_targets_2adic_pair_valuations() -> None:
    n = 4
    batch = binary_batch(n)
    ratio = 0.5
    # An embedding with every pair exactly at R * ratio^v_2(|i - j|) does not exist in general;
    # compare against the definition on the 2-adic valuations instead.
    z = expmap0(0.3 * torch.randn(2**n, 3, generator=torch.Generator().manual_seed(0)))
    term = Geodesic(max_radius=1.0, ratio=ratio, anchors=0)
    got = float(term(outputs_for(z), batch))
    from tvae_ternary.geometry import pairwise_distance

    idx = batch["index"]
    v = valuation_table(n, base=2)[(idx[:, None] - idx[None, :]).abs()]
    off = idx[:, None] != idx[None, :]
    err = (pairwise_distance(z, z) - ratio ** v.double()).pow(2)
    assert got == pytest.approx(float(err[off].mean()), rel=1e-5)
    with pytest.raises(ValueError, match="geodesic: batch\\['valuation'\\] is not the 3-adic"):
        Geodesic()(outputs_for(z), binary_batch(n, base_column=False))


def test_radial_balances_levels_deeper_than_14() -> None:
    """Valuations above 14 (2^16 operations have up to 16) are levels of their own."""
    target = Radial(max_radius=1.0, ratio=0.5, log_space=True, balanced=True)
    v = torch.tensor([0, 15, 16])
    rho = target.target(v).double()
    rho[2] *= 2.0  # only the deepest level is off, by ln 2 in log radius
    direction = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    z = expmap0(direction * (rho / 2).unsqueeze(1))
    loss = float(target(outputs_for(z), {"valuation": v}))
    assert loss == pytest.approx(math.log(2.0) ** 2 / 3, rel=1e-5)
