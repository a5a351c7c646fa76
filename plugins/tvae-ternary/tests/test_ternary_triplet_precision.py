"""The triplet metrics in float32 give float64's value exactly (issue 16, item 3).

Distances are compared in float32; triplets whose two distances are within the float32
gap are compared again in float64. These tests bound the error at zero: on embeddings
spread over the ball, crowded near its boundary and full of near ties, the score equals
the float64 computation, and the float32 comparison alone would not always.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tvae_ternary.geometry import distance, expmap0
from tvae_ternary.metrics import _triplet_score, sample_triplets


def _float64_score(z: torch.Tensor, triplets: tuple[torch.Tensor, ...], c: float) -> float:
    a, p, q = triplets
    z = z.to(torch.float64)
    return float((distance(z[a], z[p], c) < distance(z[a], z[q], c)).double().mean())


def _embedding(seed: int, rows: int, scale: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return expmap0(torch.randn(rows, 16, generator=g) * scale).float()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([0.01, 0.3, 1.0, 2.0, 4.0]))
def test_equal_to_float64_over_the_ball(seed: int, scale: float) -> None:
    index = torch.arange(243)
    triplets = sample_triplets(index, 5, num_triplets=5_000, seed=seed)
    z = _embedding(seed, 243, scale)
    for c in (1.0, 0.5):
        outputs = {"z_mean": z, "curvature": torch.tensor(c)}
        assert _triplet_score(outputs, triplets) == _float64_score(z, triplets, c)


def test_near_ties_are_decided_as_float64_decides_them() -> None:
    # p and q at distances from a that differ by ~1e-8 relative: float32 cannot tell them
    # apart, float64 can; and exact ties (the same point twice) count as not closer.
    g = torch.Generator().manual_seed(0)
    a = expmap0(torch.randn(400, 16, generator=g)).to(torch.float64)
    direction = torch.randn(400, 16, generator=g, dtype=torch.float64)
    p = a + 1e-3 * direction
    q = a + 1e-3 * (1 + torch.randn(400, 1, generator=g, dtype=torch.float64) * 1e-8) * direction
    z64 = torch.cat([a, p, q, a[:10]])
    z = z64.float()
    rows = torch.arange(400)
    triplets = (
        torch.cat([rows, rows[:10]]),
        torch.cat([rows + 400, rows[:10] + 1200]),
        torch.cat([rows + 800, rows[:10] + 1200]),
    )
    expected = _float64_score(z, triplets, 1.0)
    assert _triplet_score({"z_mean": z}, triplets) == expected
    i, j, k = triplets
    plain32 = float((distance(z[i], z[j]) < distance(z[i], z[k])).double().mean())
    assert plain32 != expected  # float32 alone orders some of them otherwise


def _score_before_issue16_item3(outputs: dict[str, torch.Tensor], triplets: tuple) -> float:
    """The score as it was before the index_select / in-place rewrite, kept to the letter."""
    from tvae_ternary.metrics import _FLOAT32_EDGE, _FLOAT32_GAP, _FLOAT32_TINY, _curvature

    a, closer, farther = triplets
    z_mean = outputs["z_mean"].detach().cpu()
    curvature = _curvature(outputs)
    curvature = curvature.cpu() if isinstance(curvature, torch.Tensor) else curvature
    c32 = curvature.float() if isinstance(curvature, torch.Tensor) else curvature
    z = z_mean.float()
    room = 1.0 - c32 * z.pow(2).sum(-1)
    anchor = z[a]
    near = (anchor - z[closer]).pow(2).sum(-1) / room[closer].clamp_min(1e-7)
    far = (anchor - z[farther]).pow(2).sum(-1) / room[farther].clamp_min(1e-7)
    correct = near < far
    edge = room < _FLOAT32_EDGE
    unsure = (near - far).abs() <= _FLOAT32_GAP * torch.maximum(near, far)
    unsure |= 2.0 * c32 * torch.minimum(near, far) / room[a].clamp_min(1e-7) < _FLOAT32_TINY
    unsure |= edge[a] | edge[closer] | edge[farther]
    rows = unsure.nonzero().squeeze(1)
    if rows.numel():
        z64 = z_mean.to(torch.float64)
        i, j, k = a[rows], closer[rows], farther[rows]
        correct[rows] = distance(z64[i], z64[j], curvature) < distance(z64[i], z64[k], curvature)
    return float(correct.double().mean())


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([0.01, 0.3, 1.0, 2.0, 4.0, 8.0]))
def test_same_scores_as_before_the_rewrite(seed: int, scale: float) -> None:
    # triplet_accuracy's score and every depth of depth_triplet_accuracy (now one pass over
    # the depths joined) equal the old per-sample computation, near the boundary too.
    from tvae_ternary.metrics import _depth_scores, sample_depth_triplets

    index = torch.arange(729)
    z = _embedding(seed, 729, scale)
    triplets = sample_triplets(index, 6, num_triplets=4_000, seed=seed)
    depth = sample_depth_triplets(index, 6, per_depth=1_000, seed=seed)
    for c in (1.0, 0.5):
        outputs = {"z_mean": z, "curvature": torch.tensor(c)}
        assert _triplet_score(outputs, triplets) == _score_before_issue16_item3(outputs, triplets)
        scores = _depth_scores(outputs, depth)
        for k, t in depth.items():
            assert scores[f"depth_triplet_accuracy_{k}"] == _score_before_issue16_item3(outputs, t)
        assert scores["depth_triplet_accuracy"] == min(
            _score_before_issue16_item3(outputs, t) for t in depth.values()
        )
