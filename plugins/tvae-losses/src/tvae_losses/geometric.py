"""Geometric terms on the Poincaré ball: 3-adic ranking, radial hierarchy, pair geodesics.

They read the points (``z_mean`` by default: the metrics judge the posterior mean) and the
curvature from the model's outputs, so a learnable curvature receives their gradients, and
the valuation v(|i - j|) from the cached table of ``tvae_ternary.space``. Distances use the
closed forms of ``tvae_ternary.geometry`` (one GEMM for all pairs of a batch). Targets agree
with one perfect embedding (TERNARY.md): radius(v) = R * ratio^v and
d(i, j) = R * ratio^v(|i - j|) for one ratio in (0, 1).

Any prime base p: the pair valuations are p-adic in the base of the batch
(:func:`tvae_ternary.space.base_of`: the term's ``base`` setting, else the batch's ``base``
column, else 3), read and checked against ``batch["valuation"]`` on the first call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch
from torch.nn import functional as F
from tvae_ternary.geometry import constant, pairwise_distance, radius, rowwise_distance
from tvae_ternary.sampling import pick_exactly, rank_other_than, reversed_key, shared_blocks
from tvae_ternary.space import (
    MAX_VALUATION,
    base_of,
    check_batch_valuations,
    digits_from_index,
    valuation_table,
)

Tensors = Mapping[str, torch.Tensor]
PointKey = Literal["z_mean", "z"]


def _curvature(outputs: Tensors) -> torch.Tensor | float:
    c = outputs.get("curvature")
    return 1.0 if c is None else c


def _check_scale(max_radius: float, ratio: float) -> None:
    if not max_radius > 0:
        raise ValueError(f"max_radius must be positive, got {max_radius}")
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"ratio must lie in (0, 1), got {ratio}")


class _PadicTerm:
    """The base of a term's p-adic valuations: found and checked on the first call, then kept."""

    name = "term"
    base: int | None = None
    _base: int | None = None

    def _batch_base(self, batch: Tensors, n: int) -> int:
        if self._base is None:
            base = base_of(batch, self.base)
            check_batch_valuations(batch, n, base, self.name)
            self._base = base
        return self._base


def _mean_per_group(
    values: torch.Tensor, weight: torch.Tensor, group: torch.Tensor
) -> torch.Tensor:
    """The mean over the groups present (weight > 0) of each group's weighted mean value.

    Groups are valuations or depths in 0..MAX_VALUATION, weights >= 0: two scatters, no host
    round trip (one scatter of both, stacked, costs more operators in its backward).
    """
    group = group.long().clamp(0, MAX_VALUATION)
    sums = torch.zeros(MAX_VALUATION + 1, dtype=values.dtype, device=values.device)
    counts = sums.index_add(0, group, weight)
    sums = sums.index_add(0, group, values * weight)
    # sign() is 1 for a group present (a positive weight sum) and 0 for one absent.
    present = counts.sign().sum()
    return (sums / counts.clamp_min(1e-12)).sum() / present.clamp_min(1.0)


def _uniform_rows(reps: int, widths: tuple[int, ...], device: torch.device) -> list[torch.Tensor]:
    """``reps`` rounds of ``torch.rand(w)`` for each width w in ``widths``, as (reps, w) draws.

    The same numbers, drawn from torch's generator in the same order, as the calls one by
    one (round 0's widths, then round 1's, ...). On the CPU that is one call: its generator
    fills a tensor element by element (the tests check the stream is the same); elsewhere
    (a GPU's generator depends on each call's shape) the calls are made one by one.
    """
    if device.type == "cpu":
        flat = torch.rand(reps, sum(widths), device=device)
        return list(flat.split(list(widths), dim=1))
    return _uniform_rows_one_by_one(reps, widths, device)


def _uniform_rows_one_by_one(
    reps: int, widths: tuple[int, ...], device: torch.device
) -> list[torch.Tensor]:
    """:func:`_uniform_rows` by one ``torch.rand`` call per round and width (any device)."""
    rounds = [[torch.rand(w, device=device) for w in widths] for _ in range(reps)]
    return [torch.stack([r[i] for r in rounds]) for i in range(len(widths))]


def _block_bounds(
    lo: torch.Tensor, at_least: torch.Tensor, depths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``lo`` and ``at_least`` (B, n + 1) of each row at ``depths`` (..., B): one gather."""
    width = lo.shape[1]
    cols = depths.reshape(-1, depths.shape[-1]).T  # (B, m)
    both = torch.cat([lo, at_least], dim=1).gather(1, torch.cat([cols, cols + width], dim=1))
    lo_d, at_d = both.T.reshape(2, *depths.shape)
    return lo_d, at_d


def _depth_blocks(
    index: torch.Tensor, n: int, base: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The batch sorted by digit-reversed index, and each row's shared-digit blocks in it.

    Returns ``order`` (sorted position -> row), ``lo`` and ``at_least`` (B, n + 1): where the
    rows sharing >= d low digits with each row start among the sorted rows and how many
    there are (d = 0..n; the row itself and its repeats share all n), and ``exactly``
    (B, n): how many share exactly d, d = 0..n-1. Rows sharing an anchor's low d digits are
    one contiguous range of the sorted keys, so this is a ``searchsorted`` per row and depth,
    O(B n log B), no B x B matrix.

    padic_ranking and padic_isosceles both need them for the same batch: the last call's
    result is kept (for the same ``index`` tensor, unmodified since, and the same n and
    base) and returned again, so a step computes them once. Treat them as read-only.
    """
    if torch.compiler.is_compiling() or index.is_inference():
        return _compute_depth_blocks(index, n, base)
    key = (index._version, n, base)
    last = _LAST_DEPTH_BLOCKS.get("blocks")
    if last is not None and last[0] is index and last[1] == key:
        return last[2]
    blocks = _compute_depth_blocks(index, n, base)
    _LAST_DEPTH_BLOCKS["blocks"] = (index, key, blocks)
    return blocks


_Blocks = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
#: The last batch's depth blocks: {"blocks": (index, (version, n, base), blocks)}.
_LAST_DEPTH_BLOCKS: dict[str, tuple[torch.Tensor, tuple[int, int, int], _Blocks]] = {}


def _compute_depth_blocks(index: torch.Tensor, n: int, base: int) -> _Blocks:
    keys = reversed_key(index, n, base)
    sorted_keys, order = keys.sort()
    depths = torch.arange(n + 1, device=index.device)
    lo, at_least = shared_blocks(sorted_keys, keys.unsqueeze(1), depths, n, base)
    return order, lo, at_least, at_least[:, :-1] - at_least[:, 1:]


class PadicRanking(_PadicTerm):
    """Triplet margin loss ordering hyperbolic distances by the 3-adic distance.

    For each anchor a of the batch, ``triplets_per_anchor`` random pairs (p, q) of other rows
    with v(|a-p|) != v(|a-q|) are drawn; the loss is the mean of
    ``relu(d_c(a, closer) - d_c(a, farther) + margin)``, where the closer one has the larger
    valuation. Sampling uses torch's global generator (seeded by the run).

    Args:
        margin: required gap in hyperbolic distance between the closer and farther pair.
        triplets_per_anchor: random triplets drawn per batch row.
        relative_margin: scale the margin by ratio^v(|a - closer|), so deep (small) subtrees
            are asked for gaps in proportion to their size.
        ratio: the scale ratio used by ``relative_margin``.
        points: which output to embed: the posterior mean "z_mean" or the sample "z".
        closest: add this many closest comparisons per anchor: a depth k drawn uniformly
            among the depths the batch holds a comparison for (p a row sharing exactly k
            low digits with it and q one sharing exactly k - 1: the comparisons the
            depth-balanced metric makes), so that every depth the batch holds is compared
            (random pairs almost always differ in the lowest digits; the dataset's tree
            batches hold every depth); 0 disables them.
        log_distance: compare log distances (a gap of ``margin`` in log d_c, which is scale
            free: every depth's comparisons count alike) instead of distances.
        balanced: weight every depth alike: the mean over the depths present of each
            depth's mean hinge (a comparison's depth is the larger valuation of its pair),
            instead of one mean over all comparisons, which the shallow depths decide.
        base: the prime p of the p-adic distance; None (the default) takes the dataset's:
            its batches' ``base`` column, else 3.
    """

    def __init__(
        self,
        margin: float = 0.1,
        triplets_per_anchor: int = 8,
        relative_margin: bool = False,
        ratio: float = 0.5,
        points: PointKey = "z_mean",
        closest: int = 0,
        log_distance: bool = False,
        balanced: bool = False,
        base: int | None = None,
    ) -> None:
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        if triplets_per_anchor < 1:
            raise ValueError(f"triplets_per_anchor must be at least 1, got {triplets_per_anchor}")
        if closest < 0:
            raise ValueError(f"closest must be >= 0 (0 disables it), got {closest}")
        _check_scale(1.0, ratio)
        self.margin = margin
        self.triplets_per_anchor = triplets_per_anchor
        self.relative_margin = relative_margin
        self.ratio = ratio
        self.points = points
        self.closest = closest
        self.log_distance = log_distance
        self.balanced = balanced
        self.base = base
        self._base: int | None = None
        self.requires = frozenset({f"outputs.{points}", "batch.index", "batch.x"})

    name = "padic_ranking"
    #: Validation skips it (no ``val/padic_ranking``; ``val/loss`` sums the other terms): its
    #: sampled comparisons are what the exact triplet metrics measure, at 2/3 of the cost of
    #: a validation (issue 16, item 3).
    train_only = True

    def _closest_pairs(
        self, index: torch.Tensor, n: int, base: int = 3
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(closest, B) rows p and q at depths k and k - 1 of each anchor, valid, and k."""
        pq, valid, k = self._closest_pair_block(index, n, base)
        return pq[0], pq[1], valid, k

    def _closest_pair_block(
        self, index: torch.Tensor, n: int, base: int = 3
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(2, closest, B) rows p and q at depths k and k - 1 of each anchor, valid, and k.

        The batch sorted by digit-reversed index puts the rows sharing an anchor's low d
        digits in one contiguous range, so the rows sharing exactly d are that range less the
        next one: a ``searchsorted`` per anchor and depth, O(B n log B), no B x B matrix.
        Repeats of the anchor's own operation share all n digits and are never partners.
        """
        size = index.numel()
        device = index.device
        order, lo, at_least, exactly = _depth_blocks(index, n, base)
        held = exactly > 0
        # Depths k in 1..n-1 with a comparison (k against k - 1) in the batch.
        usable = held[:, 1:] & held[:, :-1]
        # The draws of `closest` rounds (a depth pick, then p's and q's uniform), all at once.
        pick_u, u_p, u_q = _uniform_rows(self.closest, (usable.numel(), size, size), device)
        none = constant(-1.0, pick_u)
        pick = torch.where(usable, pick_u.view(self.closest, *usable.shape), none)
        k = pick.argmax(dim=2) + 1  # (closest, B)
        # p shares exactly k digits (the blocks at k and k + 1), q exactly k - 1 (k - 1 and k).
        lo_d, at_d = _block_bounds(lo, at_least, torch.stack([k, k - 1, k + 1, k]))
        pos, _ = pick_exactly(lo_d[:2], at_d[:2], lo_d[2:], at_d[2:], torch.stack([u_p, u_q]))
        return order[pos.clamp(max=size - 1)], usable.any(dim=1).expand_as(k), k

    def __call__(self, outputs: Tensors, batch: Tensors) -> torch.Tensor:
        z = outputs[self.points]
        index = batch["index"]
        n = batch["x"].shape[-1]
        size = z.shape[0]
        if size < 3:
            return z.sum() * 0.0
        k = self.triplets_per_anchor
        # Every row is the anchor of k triplets: pq[0] and pq[1] are (k, B) partners, with
        # offsets in 1..size-1 so that neither is the anchor itself (no rejection).
        rows = torch.arange(size, device=z.device)
        pq = (rows + torch.randint(1, size, (2, k, size), device=z.device)) % size
        base = self._batch_base(batch, n)
        v = valuation_table(n, index.device, base)[(index[pq] - index).abs()]
        vp, vq = v[0], v[1]
        # (2, k, B): the closer of each pair, then the farther.
        pairs = torch.where(vp > vq, pq, pq.flip(0))
        depth = torch.maximum(vp, vq)
        valid = vp != vq
        if self.closest > 0:
            cpq, cvalid, cdepth = self._closest_pair_block(index, n, base)
            pairs = torch.cat([pairs, cpq], dim=1)
            depth = torch.cat([depth, cdepth])
            valid = torch.cat([valid, cvalid])
        d = rowwise_distance(z, pairs, _curvature(outputs))
        if self.log_distance:
            d = torch.log(d.clamp_min(1e-6))
        gap = d[0] - d[1]
        if self.relative_margin:
            gap = gap + self.margin * self.ratio ** depth.clamp(max=MAX_VALUATION).to(z.dtype)
        else:
            gap = gap + constant(self.margin, gap)
        hinge = F.relu(gap)
        weight = valid.to(z.dtype)
        if not self.balanced:
            return (hinge * weight).sum() / weight.sum().clamp_min(1.0)
        return _mean_per_group(hinge.flatten(), weight.flatten(), depth.flatten())


class PadicIsosceles(_PadicTerm):
    """Rows at one 3-adic distance from an anchor at one hyperbolic distance from it.

    The 3-adic distance is an ultrametric: every row sharing exactly k low digits with an
    anchor lies at the same distance 3^-k from it, and the three values of a digit are
    mutually equidistant (an equilateral triangle). Ranking alone (depth k nearer than
    depth k - 1) is also met by a digit whose three values lie on a line, until the line's
    two ends, twice as far apart as its neighbours, reach past the digit before it: what
    fails from n = 10 (benchmarks/README.md). For each anchor this term draws ``pairs``
    times a depth k (uniformly among the depths where the batch holds two other rows sharing
    exactly k digits with it) and two such rows p, p', and charges
    ``relu(|log d_c(a, p) - log d_c(a, p')| - tolerance)``. The perfect embedding of the
    domain page spreads the distances of one depth by the digits below it (a factor
    1 / sqrt(1 - ratio^2), log 0.27 at ratio 0.65), which a ``tolerance`` of 0.3 leaves free.

    Tree batches with ``data.tree_partners: 2`` hold such pairs at every depth; uniform
    batches only at the shallow ones.

    Args:
        tolerance: the log-distance gap left free.
        pairs: comparisons per anchor.
        points: which output to embed: the posterior mean "z_mean" or the sample "z".
        balanced: weight every depth alike (the mean over depths of each depth's mean hinge).
        base: the prime p of the p-adic distance; None (the default) takes the dataset's.
    """

    name = "padic_isosceles"
    #: A training objective: validation skips it, as it does padic_ranking.
    train_only = True

    def __init__(
        self,
        tolerance: float = 0.3,
        pairs: int = 4,
        points: PointKey = "z_mean",
        balanced: bool = True,
        base: int | None = None,
    ) -> None:
        if not tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        if isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < 1:
            raise ValueError(f"pairs must be an integer >= 1, got {pairs!r}")
        self.tolerance = tolerance
        self.pairs = pairs
        self.points = points
        self.balanced = balanced
        self.base = base
        self._base = None
        self.requires = frozenset({f"outputs.{points}", "batch.index", "batch.x"})

    def __call__(self, outputs: Tensors, batch: Tensors) -> torch.Tensor:
        z = outputs[self.points]
        index = batch["index"]
        n = batch["x"].shape[-1]
        size = z.shape[0]
        if size < 3:
            return z.sum() * 0.0
        base = self._batch_base(batch, n)
        order, lo, at_least, exactly = _depth_blocks(index, n, base)
        usable = exactly >= 2  # (B, n): two rows sharing exactly d digits, d = 0..n-1
        # The draws of `pairs` rounds (a depth pick, then j1's and j2's uniform), all at once.
        pick_u, u1, u2 = _uniform_rows(self.pairs, (usable.numel(), size, size), z.device)
        none = constant(-1.0, pick_u)
        pick = torch.where(usable, pick_u.view(self.pairs, *usable.shape), none)
        k = pick.argmax(dim=2)  # (pairs, B)
        lo_d, at_d = _block_bounds(lo, at_least, torch.stack([k, k + 1]))
        count = at_d[0] - at_d[1]
        # Two distinct draws j1 != j2 among the `count` rows, placed as in pick_exactly.
        j1 = (u1 * count).long().clamp(max=count - 1).clamp_min(0)
        j2 = rank_other_than(u2, count, j1)
        u = (torch.stack([j1, j2]).to(torch.float64) + 0.5) / count.clamp_min(1).to(torch.float64)
        pos, _ = pick_exactly(lo_d[0], at_d[0], lo_d[1], at_d[1], u)
        pair = order[pos.clamp(max=size - 1)]  # (2, pairs, B)
        d = rowwise_distance(z, pair, _curvature(outputs))
        gap = (torch.log(d[0].clamp_min(1e-6)) - torch.log(d[1].clamp_min(1e-6))).abs()
        hinge = F.relu(gap - constant(self.tolerance, gap))
        weight = usable.any(dim=1).to(z.dtype).expand_as(hinge)
        depth = k
        if not self.balanced:
            return (hinge * weight).sum() / weight.sum().clamp_min(1.0)
        return _mean_per_group(hinge.flatten(), weight.flatten(), depth.flatten())


class Radial(_PadicTerm):
    """Error between each point's hyperbolic radius and its target radius.

    High valuation near the origin, one shell per level, in hyperbolic units (never a
    Euclidean norm). The valuation comes from ``batch["valuation"]``.

    Two targets: ``level`` puts every operation of valuation v at R * ratio^v, one shell per
    level; ``digits`` puts it where the perfect embedding of the domain page (each digit k a
    triangle of side R * ratio^k in a plane of its own) has it: R * sqrt(sum of ratio^(2k)
    over its non-zero digits k). Both order the levels (for ratio < 1/sqrt(2)), but a level's
    shell holds operations with any deeper digits, so fitting ``level`` shrinks every digit
    below its level's radius, and the deepest digits (with fewer digits below them) the least:
    at n = 11 their scales then shrink by 0.75-0.82 a digit instead of ``ratio``, too slowly
    for the closest comparisons. ``digits`` asks each digit for its own scale.

    Args:
        max_radius: R, the target radius of valuation 0 (hyperbolic units).
        ratio: shrink factor of the target radius per valuation level.
        points: which output to place: the posterior mean "z_mean" or the sample "z".
        log_space: compare log radii (each level at its own scale) instead of radii, so
            the deep levels' small shells count as much as the outer ones.
        balanced: weight every valuation level present in the batch alike (the mean of the
            per-level mean errors) instead of every row alike; levels 0 and 1 hold 89 % of
            the rows at n = 9 and otherwise decide the loss alone.
        target: "level" (R * ratio^v) or "digits" (the radius of the construction).
        base: the prime p of the digits for ``target: digits``; None (the default) takes the
            dataset's: its batches' ``base`` column, else 3.
    """

    name = "radial"

    def __init__(
        self,
        max_radius: float = 1.5,
        ratio: float = 0.5,
        points: PointKey = "z_mean",
        log_space: bool = False,
        balanced: bool = False,
        target: Literal["level", "digits"] = "level",
        base: int | None = None,
    ) -> None:
        _check_scale(max_radius, ratio)
        if target not in ("level", "digits"):
            raise ValueError(f"target must be 'level' or 'digits', got {target!r}")
        self.max_radius = max_radius
        self.ratio = ratio
        self.points = points
        self.log_space = log_space
        self.balanced = balanced
        self.target_kind = target
        self.base = base
        self._base = None
        self._tables: dict[tuple[int, int, str], torch.Tensor] = {}
        needs = {f"outputs.{points}", "batch.valuation"}
        if target == "digits":
            needs |= {"batch.index", "batch.x"}
        self.requires = frozenset(needs)

    def target(self, valuation: torch.Tensor) -> torch.Tensor:
        """R * ratio^v for a tensor of valuations (float32)."""
        return self.max_radius * torch.pow(self.ratio, valuation.to(torch.float32))

    def digits_target(self, index: torch.Tensor, n: int, base: int) -> torch.Tensor:
        """R * sqrt(sum over the non-zero base-p digits k of each index of ratio^(2k))."""
        nonzero = digits_from_index(index, n, base) != 0
        scale = torch.pow(self.ratio, 2.0 * torch.arange(n, device=index.device))
        return self.max_radius * (nonzero.to(torch.float32) @ scale.to(torch.float32)).sqrt()

    def digits_table(self, n: int, base: int, device: torch.device) -> torch.Tensor:
        """Every operation's ``digits`` target (float32, cached per n, base and device).

        :meth:`digits_target` of all p^n operations, where operation 0 (every digit zero, a
        construction radius of 0, which a log cannot compare) keeps the level target of
        valuation n. A batch's targets are then one gather instead of a dozen operators;
        the sum over digits is the same matrix-vector product, on blocks of 2^16 rows, which
        may round the last bit differently from a batch's (tests bound it).
        """
        key = (n, base, str(device))
        table = self._tables.get(key)
        if table is None:
            index = torch.arange(base**n, device=device)
            digits = torch.cat([self.digits_target(i, n, base) for i in index.split(1 << 16)])
            level = self.target(valuation_table(n, device, base))
            table = torch.where(digits > 0, digits, level)
            self._tables[key] = table
        return table

    def __call__(self, outputs: Tensors, batch: Tensors) -> torch.Tensor:
        z = outputs[self.points]
        rho = radius(z, _curvature(outputs))
        v = batch["valuation"]
        if self.target_kind == "digits":
            n = batch["x"].shape[-1]
            table = self.digits_table(n, self._batch_base(batch, n), z.device)
            target = table[batch["index"]]
        else:
            target = self.target(v)
        target = target.to(rho.dtype)
        if self.log_space:
            err = (torch.log(rho.clamp_min(1e-6)) - torch.log(target)).pow(2)
        else:
            err = (rho - target).pow(2)
        if not self.balanced:
            return err.mean()
        # The mean over levels of each level's mean error.
        return _mean_per_group(err, torch.ones_like(err), v)


class Geodesic(_PadicTerm):
    """Squared error of all in-batch pair distances against R * ratio^v(|i - j|).

    Every pair of distinct rows of the batch (one GEMM); the target is the pair distance of the
    perfect embedding, which agrees with the radial target (operation 0 sits at the origin).
    With ``log_space`` the error is taken between log distances, weighting every scale alike.

    Args:
        max_radius: R, the target distance of pairs that differ in the lowest digit.
        ratio: shrink factor of the target distance per shared low digit.
        log_space: compare log distances instead of distances.
        anchors: pair every row with only the first ``anchors`` rows of the (shuffled) batch,
            a random subset, to cut the cost from B^2 to B * anchors; 0 uses all rows.
        points: which output to place: the posterior mean "z_mean" or the sample "z".
        base: the prime p of the p-adic valuation; None (the default) takes the dataset's:
            its batches' ``base`` column, else 3.
    """

    name = "geodesic"

    def __init__(
        self,
        max_radius: float = 1.5,
        ratio: float = 0.5,
        log_space: bool = False,
        anchors: int = 64,
        points: PointKey = "z_mean",
        base: int | None = None,
    ) -> None:
        _check_scale(max_radius, ratio)
        if anchors < 0:
            raise ValueError(f"anchors must be >= 0 (0 uses every row), got {anchors}")
        self.anchors = anchors
        self.base = base
        self._base = None
        self.max_radius = max_radius
        self.ratio = ratio
        self.log_space = log_space
        self.points = points
        self.requires = frozenset({f"outputs.{points}", "batch.index", "batch.x"})

    def __call__(self, outputs: Tensors, batch: Tensors) -> torch.Tensor:
        z = outputs[self.points]
        index = batch["index"]
        n = batch["x"].shape[-1]
        k = z.shape[0] if self.anchors == 0 else min(self.anchors, z.shape[0])
        base = self._batch_base(batch, n)
        pair = (index.unsqueeze(1) - index[:k].unsqueeze(0)).abs()
        v = valuation_table(n, index.device, base)[pair]
        target = self.max_radius * torch.pow(self.ratio, v.to(z.dtype))
        d = pairwise_distance(z, z[:k], _curvature(outputs))
        off = index.unsqueeze(1) != index[:k].unsqueeze(0)
        err = torch.log(d.clamp_min(1e-6)) - torch.log(target) if self.log_space else d - target
        # A mask product, not boolean indexing: indexing waits for the device every step.
        return (err.pow(2) * off).sum() / off.sum().clamp_min(1)
