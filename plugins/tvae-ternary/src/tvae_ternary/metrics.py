"""The domain metrics, exactly as TERNARY.md defines them, over the whole evaluation set.

Each metric is a callable ``metric(outputs, batch)`` with a ``requires`` set, evaluated by the
engine on the model's eval-mode outputs (so ``z_mean`` is the posterior mean and ``logits``
decode it through the model's own latent path). The classes are the registered factories; the
functions are the same metrics for direct use. Radii are computed in float64; the triplet
metrics compare distances in float32 and compare again in float64 the triplets float32 could
order wrongly (their two distances within 1e-4 of each other), so they equal float64's.

- ``coverage``: fraction of rows whose decoded logits reproduce all n trits exactly.
- ``hierarchy``: Spearman(v(i), rho(z_i)) (negative is good), with its tie-limited ceiling.
- ``radial_accuracy``: over all pairs with v(i) > v(j), the fraction with rho(z_i) < rho(z_j).
- ``triplet_accuracy``: over a fixed seeded sample of triplets (a, p, q) of distinct rows with
  v(|a-p|) != v(|a-q|), the fraction where the 3-adically closer one is closer in d_c.
- ``level_radial_accuracy`` (level-balanced): for each adjacent level pair (k+1, k), the
  fraction of pairs (i in level k+1, j in level k) with rho(z_i) < rho(z_j); the minimum over
  k, each pair logged as ``level_radial_accuracy_{k+1}_{k}``.
- ``depth_triplet_accuracy`` (depth-balanced): for each depth k = 1..n-1, a fixed seeded sample
  of triplets (a, p, q) with v(|a-p|) = k and v(|a-q|) = k - 1; the fraction with
  d_c(a, p) < d_c(a, q); the minimum over k, each depth logged as ``depth_triplet_accuracy_{k}``.
- ``level_radius``: the mean, min and max radius of every valuation level
  (``radius_v{k}_mean`` / ``_min`` / ``_max``), which have no "best".

Directions (``higher_is_better``): hierarchy is better when lower, its ceiling is a constant;
coverage and every accuracy when higher.

Any prime base: the level metrics read the dataset's ``valuation``; the triplet metrics compare
p-adic distances of ``index`` in the base of the batch (:func:`tvae_ternary.space.base_of`: a
``base`` setting, else the batch's ``base`` column, else 3), and refuse a batch whose
``valuation`` is not the valuation of its ``index`` in that base.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from tvae_ternary.geometry import distance, radius
from tvae_ternary.space import (
    MAX_VALUATION,
    base_of,
    check_batch_valuations,
    pair_valuation,
    spearman_ceiling_from_ties,
)

Tensors = Mapping[str, torch.Tensor]

#: Triplets in the fixed sample of ``triplet_accuracy``.
DEFAULT_NUM_TRIPLETS = 100_000
#: Triplets per depth in the fixed sample of ``depth_triplet_accuracy``.
DEFAULT_TRIPLETS_PER_DEPTH = 10_000


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
    index: torch.Tensor,
    n_trits: int,
    num_triplets: int = DEFAULT_NUM_TRIPLETS,
    seed: int = 0,
    base: int = 3,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed sample of row positions (a, closer, farther) for ``triplet_accuracy``.

    Rows a, p, q are distinct and v(|a-p|) != v(|a-q|) (valuations in ``base``) for the
    operations ``index`` holds; ``closer`` is the one with the larger valuation.
    Deterministic in (index, seed).
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
        vp = pair_valuation(index[a], index[p], n_trits, base)
        vq = pair_valuation(index[a], index[q], n_trits, base)
        keep = (a != p) & (a != q) & (p != q) & (vp != vq)
        kept = cand[:, keep]
        parts.append(kept)
        found += kept.shape[1]
        if found >= num_triplets:
            break
    else:
        raise ValueError("the evaluation rows admit no triplet with different valuations")
    a, p, q = torch.cat(parts, dim=1)[:, :num_triplets]
    vp = pair_valuation(index[a], index[p], n_trits, base)
    vq = pair_valuation(index[a], index[q], n_trits, base)
    closer = torch.where(vp > vq, p, q)
    farther = torch.where(vp > vq, q, p)
    return a, closer, farther


def triplet_accuracy(
    outputs: Tensors,
    batch: Tensors,
    num_triplets: int = DEFAULT_NUM_TRIPLETS,
    seed: int = 0,
    base: int | None = None,
) -> float:
    """Fraction of the fixed triplet sample where the p-adically closer row is closer in d_c.

    ``base``: the prime p; None takes the batch's (:func:`tvae_ternary.space.base_of`).
    """
    p = _checked_base(batch, base, "triplet_accuracy")
    triplets = sample_triplets(batch["index"], _n_trits(batch), num_triplets, seed, p)
    return _triplet_score(outputs, triplets)


def _checked_base(batch: Tensors, base: int | None, where: str) -> int:
    p = base_of(batch, base)
    check_batch_valuations(batch, _n_trits(batch), p, where)
    return p


#: Relative gap under which float32 may order a triplet otherwise than float64 (its rounding
#: is ~1e-6 relative, ~1e-5 where 1 - c|z|^2 >= 1e-2): such triplets are compared in float64.
_FLOAT32_GAP = 1e-4
#: Points with 1 - c|z|^2 under this are compared in float64 (float32 keeps ~1e-5 there).
_FLOAT32_EDGE = 1e-2
#: Arguments of arccosh(1 + t) under this are compared in float64 (where d_c floors t).
_FLOAT32_TINY = 1e-9


def _triplet_score(outputs: Tensors, triplets: tuple[torch.Tensor, ...]) -> float:
    """The fraction with d_c(a, closer) < d_c(a, farther), exactly as float64 computes it."""
    return float(_triplet_correct(outputs, triplets).double().mean())


def _triplet_correct(outputs: Tensors, triplets: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Per triplet, whether d_c(a, closer) < d_c(a, farther), exactly as float64 decides it.

    d_c(a, x) = arccosh(1 + 2c|a - x|^2 / ((1 - c|a|^2)(1 - c|x|^2))) / sqrt(c) grows with
    |a - x|^2 / (1 - c|x|^2), so float32 compares that (one difference per pair, the norms
    once per point: 2-3x faster over 100k triplets than float64 distances). The triplets
    float32 could order otherwise than float64 (the two within :data:`_FLOAT32_GAP`, a point
    near the boundary, an argument under :data:`_FLOAT32_TINY`) are compared again as
    float64 distances, so the result is float64's. Every value is per triplet (the norms per
    point), so a concatenation of samples gives each sample's values.

    The rows are gathered with ``index_select`` (about 3x faster than advanced indexing on
    the CPU) and the differences squared in place: ``(x - a)^2`` is ``(a - x)^2`` to the bit.
    """
    a, closer, farther = triplets
    z_mean = outputs["z_mean"].detach().cpu()
    curvature = _curvature(outputs)
    curvature = curvature.cpu() if isinstance(curvature, torch.Tensor) else curvature
    c32 = curvature.float() if isinstance(curvature, torch.Tensor) else curvature
    z = z_mean.float()
    room = 1.0 - c32 * z.pow(2).sum(-1)  # 1 - c|z|^2, per point
    anchor = z.index_select(0, a)
    near = z.index_select(0, closer).sub_(anchor).pow_(2).sum(-1)
    near /= room.index_select(0, closer).clamp_min_(1e-7)
    far = z.index_select(0, farther).sub_(anchor).pow_(2).sum(-1)
    far /= room.index_select(0, farther).clamp_min_(1e-7)
    correct = near < far
    edge = room < _FLOAT32_EDGE
    unsure = (near - far).abs_() <= _FLOAT32_GAP * torch.maximum(near, far)
    unsure |= (
        2.0 * c32 * torch.minimum(near, far) / room.index_select(0, a).clamp_min_(1e-7)
        < _FLOAT32_TINY
    )
    if bool(edge.any()):
        unsure |= edge.index_select(0, a) | edge.index_select(0, closer)
        unsure |= edge.index_select(0, farther)
    rows = unsure.nonzero().squeeze(1)
    if rows.numel():
        z64 = z_mean.to(torch.float64)
        i, j, k = a[rows], closer[rows], farther[rows]
        correct[rows] = distance(z64[i], z64[j], curvature) < distance(z64[i], z64[k], curvature)
    return correct


def level_radial_accuracies(outputs: Tensors, batch: Tensors) -> dict[int, float]:
    """For each adjacent level pair (k+1, k) present, the fraction with rho(level k+1) < rho(level k).

    Exact over all pairs (a binary search in the sorted radii of level k), keyed by k.
    """
    v = batch["valuation"]
    rho = _radii(outputs).cpu()
    v = v.detach().cpu()
    result: dict[int, float] = {}
    for k in range(int(v.max()) if v.numel() else 0):
        inner = rho[v == k + 1]
        outer = torch.sort(rho[v == k]).values
        if inner.numel() == 0 or outer.numel() == 0:
            continue
        # For each inner point, the outer points with a strictly larger radius.
        larger = outer.numel() - torch.searchsorted(outer, inner, side="right")
        result[k] = int(larger.sum()) / (inner.numel() * outer.numel())
    return result


def level_radial_accuracy(outputs: Tensors, batch: Tensors) -> dict[str, float]:
    """The minimum over adjacent level pairs (key ``level_radial_accuracy``) and each pair."""
    per_pair = level_radial_accuracies(outputs, batch)
    out = {"level_radial_accuracy": min(per_pair.values()) if per_pair else float("nan")}
    out.update({f"level_radial_accuracy_{k + 1}_{k}": a for k, a in per_pair.items()})
    return out


def level_radius(outputs: Tensors, batch: Tensors) -> dict[str, float]:
    """Mean, min and max hyperbolic radius of every valuation level present."""
    v = batch["valuation"].detach().cpu()
    rho = _radii(outputs).cpu()
    out: dict[str, float] = {}
    for k in torch.unique(v).tolist():
        r = rho[v == k]
        out[f"radius_v{k}_mean"] = float(r.mean())
        out[f"radius_v{k}_min"] = float(r.min())
        out[f"radius_v{k}_max"] = float(r.max())
    return out


def _sample_in_group(
    anchors: torch.Tensor,
    index: torch.Tensor,
    depth: int,
    gen: torch.Generator,
    base: int = 3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each anchor row, a random row sharing exactly ``depth`` low digits with it.

    Returns (rows, found): ``found`` is False where the rejection rounds found none.
    """
    key = index % (base**depth)
    finer = index % (base ** (depth + 1))
    order = torch.argsort(key, stable=True)
    sorted_key = key[order]
    _, inverse, counts = torch.unique_consecutive(
        sorted_key, return_inverse=True, return_counts=True
    )
    starts = counts.cumsum(0) - counts
    group_of_row = torch.empty_like(inverse)
    group_of_row[order] = inverse
    g = group_of_row[anchors]
    rows = torch.zeros_like(anchors)
    found = torch.zeros(anchors.numel(), dtype=torch.bool)
    for _ in range(64):
        todo = (~found).nonzero().squeeze(1)
        if todo.numel() == 0:
            break
        gt = g[todo]
        offset = (torch.rand(todo.numel(), generator=gen, dtype=torch.float64) * counts[gt]).long()
        cand = order[starts[gt] + offset.clamp(max=counts[gt] - 1)]
        ok = finer[cand] != finer[anchors[todo]]
        rows[todo[ok]] = cand[ok]
        found[todo[ok]] = True
    return rows, found


def sample_depth_triplets(
    index: torch.Tensor,
    n_trits: int,
    per_depth: int = DEFAULT_TRIPLETS_PER_DEPTH,
    seed: int = 0,
    base: int = 3,
) -> dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For each depth k = 1..n-1, row positions (a, p, q) with v(|a-p|) = k, v(|a-q|) = k - 1.

    Valuations in ``base``. Anchors are drawn uniformly among the rows that admit such a p and
    q; deterministic in (index, seed). A depth no row admits is left out.
    """
    index = index.detach().long().cpu()
    gen = torch.Generator().manual_seed(seed)
    result: dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}
    for k in range(1, n_trits):
        # Rows whose depth-k group holds a row outside their depth-(k+1) group (for p), and
        # whose depth-(k-1) group holds one outside their depth-k group (for q).
        ok = torch.ones(index.numel(), dtype=torch.bool)
        for d in (k, k - 1):
            coarse = index % (base**d)
            fine = index % (base ** (d + 1))
            _, coarse_inv, coarse_n = torch.unique(coarse, return_inverse=True, return_counts=True)
            _, fine_inv, fine_n = torch.unique(fine, return_inverse=True, return_counts=True)
            ok &= coarse_n[coarse_inv] > fine_n[fine_inv]
        eligible = ok.nonzero().squeeze(1)
        if eligible.numel() == 0:
            continue
        a = eligible[torch.randint(0, eligible.numel(), (per_depth,), generator=gen)]
        p, found_p = _sample_in_group(a, index, k, gen, base)
        q, found_q = _sample_in_group(a, index, k - 1, gen, base)
        keep = found_p & found_q
        result[k] = (a[keep], p[keep], q[keep])
    return result


def depth_triplet_accuracy(
    outputs: Tensors,
    batch: Tensors,
    per_depth: int = DEFAULT_TRIPLETS_PER_DEPTH,
    seed: int = 0,
    base: int | None = None,
) -> dict[str, float]:
    """The minimum over depths (key ``depth_triplet_accuracy``) and each depth's accuracy.

    ``base``: the prime p; None takes the batch's (:func:`tvae_ternary.space.base_of`).
    """
    p = _checked_base(batch, base, "depth_triplet_accuracy")
    triplets = sample_depth_triplets(batch["index"], _n_trits(batch), per_depth, seed, p)
    return _depth_scores(outputs, triplets)


def _depth_scores(
    outputs: Tensors, triplets: Mapping[int, tuple[torch.Tensor, ...]]
) -> dict[str, float]:
    # One pass over every depth's triplets (the norms once, not once per depth), then each
    # depth's mean over its own slice: the same values as one pass per depth.
    depths = [k for k, t in triplets.items() if t[0].numel()]
    per_depth: dict[int, float] = {}
    if depths:
        joined = tuple(torch.cat([triplets[k][i] for k in depths]) for i in range(3))
        correct = _triplet_correct(outputs, joined)
        sizes = [triplets[k][0].numel() for k in depths]
        for k, part in zip(depths, correct.split(sizes), strict=True):
            per_depth[k] = float(part.double().mean())
    out = {"depth_triplet_accuracy": min(per_depth.values()) if per_depth else float("nan")}
    out.update({f"depth_triplet_accuracy_{k}": a for k, a in per_depth.items()})
    return out


class Coverage:
    """Fraction of all evaluated operations decoded back exactly (a fraction, not a percent)."""

    requires = frozenset({"outputs.logits", "batch.x"})

    def __call__(self, outputs: Tensors, batch: Tensors) -> float:
        return coverage(outputs, batch)


class Hierarchy:
    """Spearman between valuation and hyperbolic radius (logs hierarchy and its ceiling)."""

    requires = frozenset({"outputs.z_mean", "batch.valuation"})
    # Lower is better (negative: high valuation near the origin); the ceiling is a constant.
    higher_is_better: Mapping[str, bool | None] = {"hierarchy": False, "hierarchy_ceiling": None}

    def __call__(self, outputs: Tensors, batch: Tensors) -> dict[str, float]:
        return hierarchy(outputs, batch)


class RadialAccuracy:
    """Fraction of pairs with v(i) > v(j) whose radii are ordered rho(z_i) < rho(z_j)."""

    requires = frozenset({"outputs.z_mean", "batch.valuation"})

    def __call__(self, outputs: Tensors, batch: Tensors) -> float:
        return radial_accuracy(outputs, batch)


class TripletAccuracy:
    """Fraction of a fixed seeded triplet sample ordered by d_c as by the p-adic distance.

    Args:
        num_triplets: size of the fixed triplet sample.
        seed: seed of the triplet sample (independent of the run's seed).
        base: the prime p of the p-adic distance; None (the default) takes the dataset's:
            its batches' ``base`` column, else 3.
    """

    requires = frozenset({"outputs.z_mean", "batch.index", "batch.x"})

    def __init__(
        self, num_triplets: int = DEFAULT_NUM_TRIPLETS, seed: int = 0, base: int | None = None
    ) -> None:
        if num_triplets < 1:
            raise ValueError(f"num_triplets must be at least 1, got {num_triplets}")
        self.num_triplets = num_triplets
        self.seed = seed
        self.base = base
        self._cache: tuple[torch.Tensor, tuple[torch.Tensor, ...]] | None = None

    def __call__(self, outputs: Tensors, batch: Tensors) -> float:
        index = batch["index"].detach().cpu()
        if self._cache is None or not torch.equal(self._cache[0], index):
            p = _checked_base(batch, self.base, "triplet_accuracy")
            triplets = sample_triplets(index, _n_trits(batch), self.num_triplets, self.seed, p)
            self._cache = (index.clone(), triplets)
        return _triplet_score(outputs, self._cache[1])


class LevelRadialAccuracy:
    """Level-balanced radial order: the worst adjacent level pair (each pair logged too)."""

    requires = frozenset({"outputs.z_mean", "batch.valuation"})
    higher_is_better = True

    def __call__(self, outputs: Tensors, batch: Tensors) -> dict[str, float]:
        return level_radial_accuracy(outputs, batch)


class DepthTripletAccuracy:
    """Depth-balanced triplet order: the worst depth's closest comparisons (each depth too).

    Args:
        per_depth: triplets in the fixed sample of each depth.
        seed: seed of the triplet sample (independent of the run's seed).
        base: the prime p of the p-adic tree; None (the default) takes the dataset's: its
            batches' ``base`` column, else 3.
    """

    requires = frozenset({"outputs.z_mean", "batch.index", "batch.x"})
    higher_is_better = True

    def __init__(
        self, per_depth: int = DEFAULT_TRIPLETS_PER_DEPTH, seed: int = 0, base: int | None = None
    ) -> None:
        if per_depth < 1:
            raise ValueError(f"per_depth must be at least 1, got {per_depth}")
        self.per_depth = per_depth
        self.seed = seed
        self.base = base
        self._cache: tuple[torch.Tensor, dict[int, tuple[torch.Tensor, ...]]] | None = None

    def __call__(self, outputs: Tensors, batch: Tensors) -> dict[str, float]:
        index = batch["index"].detach().cpu()
        if self._cache is None or not torch.equal(self._cache[0], index):
            p = _checked_base(batch, self.base, "depth_triplet_accuracy")
            triplets = sample_depth_triplets(index, _n_trits(batch), self.per_depth, self.seed, p)
            self._cache = (index.clone(), dict(triplets))
        return _depth_scores(outputs, self._cache[1])


class LevelRadius:
    """The mean, min and max radius of every valuation level (no "best": descriptive)."""

    requires = frozenset({"outputs.z_mean", "batch.valuation"})

    # Every key a level can return (valuations up to MAX_VALUATION, in any base), no best.
    higher_is_better: Mapping[str, bool | None] = {
        f"radius_v{k}_{stat}": None
        for k in range(MAX_VALUATION + 1)
        for stat in ("mean", "min", "max")
    }

    def __call__(self, outputs: Tensors, batch: Tensors) -> dict[str, float]:
        return level_radius(outputs, batch)
