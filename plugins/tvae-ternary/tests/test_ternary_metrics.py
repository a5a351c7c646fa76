"""The four domain metrics: definitions, ceilings, the perfect construction, speed."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tvae_ternary.data import ternary_tensors
from tvae_ternary.geometry import expmap0
from tvae_ternary.metrics import (
    Coverage,
    Hierarchy,
    RadialAccuracy,
    TripletAccuracy,
    coverage,
    hierarchy,
    radial_accuracy,
    sample_triplets,
    spearman,
    triplet_accuracy,
)
from tvae_ternary.space import hierarchy_ceiling, pair_valuation, perfect_embedding


def outputs_for(z: torch.Tensor, logits: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    out = {"z_mean": z, "curvature": torch.tensor(1.0)}
    if logits is not None:
        out["logits"] = logits
    return out


@pytest.mark.parametrize("n", [3, 5, 7])
def test_perfect_construction_scores_one(n: int) -> None:
    batch = ternary_tensors(n)
    out = outputs_for(perfect_embedding(n))
    assert radial_accuracy(out, batch) == 1.0
    assert triplet_accuracy(out, batch, num_triplets=20_000) == 1.0
    assert hierarchy(out, batch)["hierarchy"] <= hierarchy_ceiling(n) + 1e-9


@settings(derandomize=True, max_examples=10, deadline=None)
@given(st.integers(3, 8), st.integers(0, 1000))
def test_perfect_shells_with_jitter_score_the_ceiling(n: int, seed: int) -> None:
    batch = ternary_tensors(n)
    gen = torch.Generator().manual_seed(seed)
    rho = 2.0 * 0.5 ** batch["valuation"].double() + 1e-6 * torch.rand(
        3**n, generator=gen, dtype=torch.float64
    )
    direction = torch.randn(3**n, 4, generator=gen, dtype=torch.float64)
    z = expmap0(direction / direction.norm(dim=-1, keepdim=True) * rho.unsqueeze(1) / 2)
    h = hierarchy(outputs_for(z), batch)
    assert h["hierarchy"] == pytest.approx(h["hierarchy_ceiling"], abs=1e-9)
    assert h["hierarchy_ceiling"] == pytest.approx(hierarchy_ceiling(n))
    assert radial_accuracy(outputs_for(z), batch) == 1.0


def test_reversed_shells_score_zero_radial_accuracy() -> None:
    batch = ternary_tensors(4)
    rho = 0.1 + 0.2 * batch["valuation"].double()
    z = expmap0(torch.stack([rho / 2, torch.zeros_like(rho)], 1))
    assert radial_accuracy(outputs_for(z), batch) == 0.0
    assert hierarchy(outputs_for(z), batch)["hierarchy"] > 0.8


def test_radial_accuracy_matches_brute_force() -> None:
    batch = ternary_tensors(5)
    gen = torch.Generator().manual_seed(0)
    z = expmap0(torch.randn(3**5, 3, generator=gen, dtype=torch.float64) * 0.3)
    rho = 2 * torch.atanh(z.norm(dim=-1))
    v = batch["valuation"]
    higher = v.unsqueeze(1) > v.unsqueeze(0)
    smaller = rho.unsqueeze(1) < rho.unsqueeze(0)
    expected = (higher & smaller).sum().item() / higher.sum().item()
    assert radial_accuracy(outputs_for(z), batch) == pytest.approx(expected, abs=1e-6)


def test_spearman_with_ties_matches_pearson_of_average_ranks() -> None:
    a = torch.tensor([1, 2, 2, 3, 3, 3])
    b = torch.tensor([0.1, 0.5, 0.4, 0.9, 0.7, 0.8])
    assert spearman(a, b) == pytest.approx(0.9258, abs=1e-4)
    assert math.isnan(spearman(torch.ones(4), b[:4]))


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        pytest.param(
            "cuda",
            marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
        ),
    ],
)
def test_coverage_is_exactly_one_when_every_row_decodes(device: str) -> None:
    """The quality bar asks coverage >= 1.0: a perfect decoding must give 1.0, not 1 - 1ulp."""
    batch = {k: v.to(device) for k, v in ternary_tensors(9).items()}
    logits = torch.nn.functional.one_hot(batch["x"].long() + 1, 3).float()
    assert coverage({"logits": logits}, batch) == 1.0
    logits[:7, 0] = logits[:7, 0].roll(1, dims=-1)
    assert coverage({"logits": logits}, batch) == (3**9 - 7) / 3**9


def test_coverage_is_a_fraction_of_exact_rows() -> None:
    batch = ternary_tensors(3)
    logits = torch.nn.functional.one_hot(batch["x"].long() + 1, 3).float()
    assert coverage({"logits": logits}, batch) == 1.0
    logits[0, 0] = (
        torch.tensor([0.0, 0.0, 5.0]) if batch["x"][0, 0] != 1 else torch.tensor([5.0, 0, 0])
    )
    logits[1, 1] = (
        torch.tensor([0.0, 0.0, 5.0]) if batch["x"][1, 1] != 1 else torch.tensor([5.0, 0, 0])
    )
    logits[1, 2] = logits[1, 1]
    assert coverage({"logits": logits}, batch) == pytest.approx(25 / 27)


def test_triplets_are_fixed_valid_and_ordered() -> None:
    batch = ternary_tensors(6)
    a, closer, farther = sample_triplets(batch["index"], 6, 5000, seed=3)
    again = sample_triplets(batch["index"], 6, 5000, seed=3)
    assert all(torch.equal(x, y) for x, y in zip((a, closer, farther), again, strict=True))
    assert len(a) == 5000
    assert ((a != closer) & (a != farther) & (closer != farther)).all()
    idx = batch["index"]
    assert (pair_valuation(idx[a], idx[closer], 6) > pair_valuation(idx[a], idx[farther], 6)).all()


def test_triplet_accuracy_is_chance_for_random_points() -> None:
    batch = ternary_tensors(7)
    z = expmap0(torch.randn(3**7, 8, generator=torch.Generator().manual_seed(0)) * 0.2)
    assert 0.45 < triplet_accuracy(outputs_for(z), batch, num_triplets=20_000) < 0.55


def test_metric_factories_declare_requirements_and_agree() -> None:
    batch = ternary_tensors(4)
    out = outputs_for(
        perfect_embedding(4), torch.nn.functional.one_hot(batch["x"].long() + 1, 3).float()
    )
    for factory in (Coverage(), Hierarchy(), RadialAccuracy(), TripletAccuracy(num_triplets=1000)):
        assert factory.requires
        assert all(
            key.split(".", 1)[1] in (out if key.startswith("outputs") else batch)
            for key in factory.requires
        )
    assert Coverage()(out, batch) == 1.0
    assert TripletAccuracy(num_triplets=1000)(out, batch) == 1.0
    with pytest.raises(ValueError, match="num_triplets"):
        TripletAccuracy(num_triplets=0)


def test_all_four_metrics_on_all_operations_at_n9() -> None:
    """All four run on the full n = 9 space (their speed is measured in benchmarks/)."""
    batch = ternary_tensors(9)
    gen = torch.Generator().manual_seed(0)
    out = outputs_for(
        expmap0(torch.randn(3**9, 16, generator=gen) * 0.2), torch.randn(3**9, 9, 3, generator=gen)
    )
    metrics = [Coverage(), Hierarchy(), RadialAccuracy(), TripletAccuracy()]
    for m in metrics:  # the triplet sample is drawn once per evaluation set
        m(out, batch)
    values = [m(out, batch) for m in metrics]
    assert 0.0 <= values[0] <= 1.0
    assert values[1]["hierarchy_ceiling"] == pytest.approx(-0.83205, abs=1e-5)
    assert 0.0 <= values[2] <= 1.0 and 0.0 <= values[3] <= 1.0
