"""The domain metrics, exactly as TERNARY.md defines them, over the whole evaluation set.

Each metric is a callable ``metric(outputs, batch)`` with a ``requires`` set, evaluated by the
engine on the model's eval-mode outputs (so ``z_mean`` is the posterior mean and ``logits``
decode it through the model's own latent path). The classes are the registered factories; the
functions are the same metrics for direct use. Radii and distances are computed in float64.

- ``coverage``: fraction of rows whose decoded logits reproduce all n trits exactly.
- ``hierarchy``: Spearman(v(i), rho(z_i)) (negative is good), with its tie-limited ceiling.
- ``radial_accuracy``: over all pairs with v(i) > v(j), the fraction with rho(z_i) < rho(z_j).
- ``triplet_accuracy``: over a fixed seeded sample of triplets (a, p, q) of distinct rows with
  v(|a-p|) != v(|a-q|), the fraction where the 3-adically closer one is closer in d_c.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from tvae_ternary.geometry import distance, radius
from tvae_ternary.space import pair_valuation, spearman_ceiling_from_ties

Tensors = Mapping[str, torch.Tensor]

#: Triplets in the fixed sample of ``triplet_accuracy``.
DEFAULT_NUM_TRIPLETS = 100_000


def _curvature(outputs: Tensors) -> torch.Tensor | float:
    c = outputs.get("curvature")
    return 1.0 if c is None else c.detach().to(torch.float64)


def _radii(outputs: Tensors) -> torch.Tensor:
    return radius(outputs["z_mean"].detach().to(torch.float64), _curvature(outputs))


def _n_trits(batch: Tensors) -> int:
    return int(batch["x"].shape[-1])


def coverage(outputs: Tensors, batch: Tensors) -> float:
    """Fraction (in [0, 1]) of rows whose decoding reproduces every trit of ``batch["x"]``."""
    predicted = outputs["logits"].argmax(-1)
    target = batch["x"].round().long() + 1
    exact = (predicted == target).all(-1)
    # A count over the row count, divided on the host: a device mean may multiply by 1/N
    # instead (CUDA does), and 19683 * (1/19683) can fall one ulp short of a perfect 1.0.
    return int(exact.sum()) / max(exact.numel(), 1)


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..M with ties given their average rank (float64)."""
    sorted_values, order = torch.sort(values, stable=True)
    _, inverse, counts = torch.unique_consecutive(
        sorted_values, return_inverse=True, return_counts=True
    )
    ends = counts.cumsum(0).to(torch.float64)
    mean_rank_of_group = ends - (counts.to(torch.float64) - 1.0) / 2.0
    ranks = torch.empty_like(values, dtype=torch.float64)
    ranks[order] = mean_rank_of_group[inverse]
    return ranks


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation with average ranks for ties (nan if either is constant)."""
    ra, rb = _average_ranks(a), _average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = torch.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else float("nan")


def hierarchy(outputs: Tensors, batch: Tensors) -> dict[str, float]:
    """Spearman(v, rho(z_mean)) and the best value the valuation ties allow (its ceiling)."""
    v = batch["valuation"]
    ties = torch.bincount(v).tolist()
    return {
        "hierarchy": spearman(v, _radii(outputs)),
        "hierarchy_ceiling": -spearman_ceiling_from_ties(ties),
    }


def radial_accuracy(outputs: Tensors, batch: Tensors) -> float:
    """Over all pairs with v(i) > v(j), the fraction with rho(z_i) < rho(z_j) (strictly).

    Counted level by level with a binary search in the sorted radii of the higher levels, so
    it costs O(n N log N), not N^2.
    """
    v = batch["valuation"]
    rho = _radii(outputs)
    correct = 0
    total = 0
    for level in torch.unique(v).tolist():
        lower = rho[v == level]
        higher = torch.sort(rho[v > level]).values
        if higher.numel() == 0:
            continue
        correct += int(torch.searchsorted(higher, lower, side="left").sum())
        total += lower.numel() * higher.numel()
    return correct / total if total else float("nan")


def sample_triplets(
    index: torch.Tensor, n_trits: int, num_triplets: int = DEFAULT_NUM_TRIPLETS, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed sample of row positions (a, closer, farther) for ``triplet_accuracy``.

    Rows a, p, q are distinct and v(|a-p|) != v(|a-q|) for the operations ``index`` holds;
    ``closer`` is the one with the larger valuation. Deterministic in (index, seed).
    """
    index = index.detach().long().cpu()
    m = index.numel()
    if m < 3:
        raise ValueError(f"triplet_accuracy needs at least 3 evaluation rows, got {m}")
    gen = torch.Generator().manual_seed(seed)
    parts: list[torch.Tensor] = []
    found = 0
    for _ in range(1000):
        cand = torch.randint(0, m, (3, max(2 * (num_triplets - found), 1024)), generator=gen)
        a, p, q = cand
        vp = pair_valuation(index[a], index[p], n_trits)
        vq = pair_valuation(index[a], index[q], n_trits)
        keep = (a != p) & (a != q) & (p != q) & (vp != vq)
        kept = cand[:, keep]
        parts.append(kept)
        found += kept.shape[1]
        if found >= num_triplets:
            break
    else:
        raise ValueError("the evaluation rows admit no triplet with different valuations")
    a, p, q = torch.cat(parts, dim=1)[:, :num_triplets]
    vp = pair_valuation(index[a], index[p], n_trits)
    vq = pair_valuation(index[a], index[q], n_trits)
    closer = torch.where(vp > vq, p, q)
    farther = torch.where(vp > vq, q, p)
    return a, closer, farther


def triplet_accuracy(
    outputs: Tensors,
    batch: Tensors,
    num_triplets: int = DEFAULT_NUM_TRIPLETS,
    seed: int = 0,
) -> float:
    """Fraction of the fixed triplet sample where the 3-adically closer row is closer in d_c."""
    triplets = sample_triplets(batch["index"], _n_trits(batch), num_triplets, seed)
    return _triplet_score(outputs, triplets)


def _triplet_score(outputs: Tensors, triplets: tuple[torch.Tensor, ...]) -> float:
    a, closer, farther = triplets
    z = outputs["z_mean"].detach().to(torch.float64).cpu()
    c = _curvature(outputs)
    c = c.cpu() if isinstance(c, torch.Tensor) else c
    return float((distance(z[a], z[closer], c) < distance(z[a], z[farther], c)).double().mean())


class Coverage:
    """Fraction of all evaluated operations decoded back exactly (a fraction, not a percent)."""

    requires = frozenset({"outputs.logits", "batch.x"})

    def __call__(self, outputs: Tensors, batch: Tensors) -> float:
        return coverage(outputs, batch)


class Hierarchy:
    """Spearman between valuation and hyperbolic radius (logs hierarchy and its ceiling)."""

    requires = frozenset({"outputs.z_mean", "batch.valuation"})

    def __call__(self, outputs: Tensors, batch: Tensors) -> dict[str, float]:
        return hierarchy(outputs, batch)


class RadialAccuracy:
    """Fraction of pairs with v(i) > v(j) whose radii are ordered rho(z_i) < rho(z_j)."""

    requires = frozenset({"outputs.z_mean", "batch.valuation"})

    def __call__(self, outputs: Tensors, batch: Tensors) -> float:
        return radial_accuracy(outputs, batch)


class TripletAccuracy:
    """Fraction of a fixed seeded triplet sample ordered by d_c as by the 3-adic distance.

    Args:
        num_triplets: size of the fixed triplet sample.
        seed: seed of the triplet sample (independent of the run's seed).
    """

    requires = frozenset({"outputs.z_mean", "batch.index", "batch.x"})

    def __init__(self, num_triplets: int = DEFAULT_NUM_TRIPLETS, seed: int = 0) -> None:
        if num_triplets < 1:
            raise ValueError(f"num_triplets must be at least 1, got {num_triplets}")
        self.num_triplets = num_triplets
        self.seed = seed
        self._cache: tuple[torch.Tensor, tuple[torch.Tensor, ...]] | None = None

    def __call__(self, outputs: Tensors, batch: Tensors) -> float:
        index = batch["index"].detach().cpu()
        if self._cache is None or not torch.equal(self._cache[0], index):
            triplets = sample_triplets(index, _n_trits(batch), self.num_triplets, self.seed)
            self._cache = (index.clone(), triplets)
        return _triplet_score(outputs, self._cache[1])
