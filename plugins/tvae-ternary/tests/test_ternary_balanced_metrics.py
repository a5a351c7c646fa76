"""The level- and depth-balanced metrics and the radius of each level."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tvae_ternary.data import ternary_tensors
from tvae_ternary.geometry import distance, expmap0, radius
from tvae_ternary.metrics import (
    DepthTripletAccuracy,
    Hierarchy,
    LevelRadialAccuracy,
    LevelRadius,
    depth_triplet_accuracy,
    level_radial_accuracy,
    level_radius,
    sample_depth_triplets,
)
from tvae_ternary.space import pair_valuation, perfect_embedding


def outputs_for(z: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"z_mean": z, "curvature": torch.tensor(1.0)}


@settings(derandomize=True, max_examples=6, deadline=None)
@given(st.integers(3, 8))
def test_perfect_construction_scores_one_on_every_level_and_depth(n: int) -> None:
    batch = ternary_tensors(n)
    out = outputs_for(perfect_embedding(n))
    levels = level_radial_accuracy(out, batch)
    depths = depth_triplet_accuracy(out, batch, per_depth=2000)
    assert levels["level_radial_accuracy"] == 1.0
    assert sorted(levels) == sorted(
        ["level_radial_accuracy"] + [f"level_radial_accuracy_{k + 1}_{k}" for k in range(n)]
    )
    assert all(v == 1.0 for v in levels.values())
    assert sorted(depths) == sorted(
        ["depth_triplet_accuracy"] + [f"depth_triplet_accuracy_{k}" for k in range(1, n)]
    )
    assert all(v == 1.0 for v in depths.values())


@settings(derandomize=True, max_examples=6, deadline=None)
@given(st.integers(4, 8), st.integers(0, 10_000))
def test_random_embedding_scores_low(n: int, seed: int) -> None:
    batch = ternary_tensors(n)
    gen = torch.Generator().manual_seed(seed)
    out = outputs_for(expmap0(torch.randn(3**n, 8, generator=gen, dtype=torch.float64) * 0.3))
    # The minimum over n level pairs / n - 1 depths of chance-level fractions sits below 0.5
    # plus sampling noise (the smallest levels hold 1 and 2 operations).
    assert level_radial_accuracy(out, batch)["level_radial_accuracy"] < 0.75
    assert depth_triplet_accuracy(out, batch, per_depth=2000)["depth_triplet_accuracy"] < 0.6


def test_level_pairs_match_brute_force() -> None:
    batch = ternary_tensors(4)
    gen = torch.Generator().manual_seed(3)
    z = expmap0(torch.randn(81, 4, generator=gen, dtype=torch.float64) * 0.4)
    rho = radius(z)
    # Ties count as wrong (strict order): duplicate two radii across levels 1 and 0.
    z[3] = z[1]
    rho = radius(z)
    got = level_radial_accuracy(outputs_for(z), batch)
    v = batch["valuation"]
    for k in range(4):
        inner, outer = rho[v == k + 1], rho[v == k]
        want = (inner.unsqueeze(1) < outer.unsqueeze(0)).double().mean().item()
        assert got[f"level_radial_accuracy_{k + 1}_{k}"] == pytest.approx(want, abs=1e-12)
    assert got["level_radial_accuracy"] == min(
        got[f"level_radial_accuracy_{k + 1}_{k}"] for k in range(4)
    )


def test_reversed_levels_score_zero() -> None:
    batch = ternary_tensors(5)
    z = perfect_embedding(5)
    rho = radius(z)
    flipped = z * ((4.0 - rho) / rho.clamp_min(1e-9)).unsqueeze(-1).clamp(max=10) * 0.01
    flipped[0] = torch.tensor([0.9] + [0.0] * (z.shape[1] - 1), dtype=z.dtype)
    out = outputs_for(flipped)
    assert level_radial_accuracy(out, batch)["level_radial_accuracy"] == 0.0


def test_depth_triplets_share_exactly_k_and_k_minus_1_digits() -> None:
    n = 6
    batch = ternary_tensors(n)
    # A subset of rows (a validation split): the sample must stay inside it.
    keep = torch.randperm(3**n, generator=torch.Generator().manual_seed(1))[:300]
    index = batch["index"][keep]
    triplets = sample_depth_triplets(index, n, per_depth=500, seed=7)
    assert set(triplets) <= set(range(1, n)) and 1 in triplets
    for k, (a, p, q) in triplets.items():
        assert bool((pair_valuation(index[a], index[p], n) == k).all())
        assert bool((pair_valuation(index[a], index[q], n) == k - 1).all())
    again = sample_depth_triplets(index, n, per_depth=500, seed=7)
    for k in triplets:
        assert all(torch.equal(x, y) for x, y in zip(triplets[k], again[k], strict=True))


def test_depth_accuracy_matches_direct_distances() -> None:
    n = 5
    batch = ternary_tensors(n)
    z = expmap0(torch.randn(3**n, 6, generator=torch.Generator().manual_seed(2)) * 0.3)
    out = outputs_for(z.double())
    got = depth_triplet_accuracy(out, batch, per_depth=300, seed=4)
    for k, (a, p, q) in sample_depth_triplets(batch["index"], n, 300, 4).items():
        zz = z.double()
        want = (distance(zz[a], zz[p]) < distance(zz[a], zz[q])).double().mean().item()
        assert got[f"depth_triplet_accuracy_{k}"] == pytest.approx(want)


def test_level_radius_reports_mean_min_max_of_each_level() -> None:
    batch = ternary_tensors(3)
    z = perfect_embedding(3)
    rho = radius(z)
    got = level_radius(outputs_for(z), batch)
    v = batch["valuation"]
    for k, stat in itertools.product(range(4), ("mean", "min", "max")):
        r = rho[v == k]
        assert got[f"radius_v{k}_{stat}"] == pytest.approx(float(getattr(r, stat)()))
    assert set(got) <= set(LevelRadius.higher_is_better)
    assert all(d is None for d in LevelRadius.higher_is_better.values())


def test_factories_declare_directions_and_cache_the_sample() -> None:
    batch = ternary_tensors(4)
    out = outputs_for(perfect_embedding(4))
    assert Hierarchy.higher_is_better == {"hierarchy": False, "hierarchy_ceiling": None}
    assert LevelRadialAccuracy.higher_is_better is True
    assert DepthTripletAccuracy.higher_is_better is True
    m = DepthTripletAccuracy(per_depth=200)
    assert m(out, batch) == m(out, batch)
    assert m(out, batch)["depth_triplet_accuracy"] == 1.0
    assert LevelRadialAccuracy()(out, batch)["level_radial_accuracy"] == 1.0
    with pytest.raises(ValueError, match="per_depth"):
        DepthTripletAccuracy(per_depth=0)
