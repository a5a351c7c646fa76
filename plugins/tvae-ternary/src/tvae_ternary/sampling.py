"""Tree-structured batches: every depth of the 3-adic tree and every valuation level in each step.

A uniformly shuffled batch of 512 rows out of 19,683 (n = 9) almost never holds two operations
that share 6 or more low digits, nor the one or two operations of valuation 8 and 9, so the
geometric losses never see the comparisons the level- and depth-balanced metrics make. A tree
batch is built instead from

- ``level_rows`` rows of every valuation level the training rows hold (drawn at random inside
  the level), so every level's radius is trained in every step, and
- groups ``(a, p, q)``: an anchor ``a`` from a seeded permutation of the training rows, a depth
  ``k`` drawn uniformly from 1..n-1, ``p`` a training row sharing exactly ``k`` low digits with
  ``a`` and ``q`` one sharing exactly ``k - 1``: the closest comparison the tree has at depth
  ``k``, the one ``depth_triplet_accuracy`` measures.

Only training rows are drawn (never a held-out one). Rows sharing the low ``k`` digits of an
operation are one contiguous block once the operations are sorted by their digit-reversed index,
so each partner is one ``searchsorted`` and one uniform draw, vectorised over the epoch.
"""

from __future__ import annotations

import torch

from tvae_ternary.space import digit_powers, digits_from_index

__all__ = ["pick_exactly", "rank_other_than", "reversed_key", "shared_blocks", "tree_order"]


#: Up to this many indices, :func:`reversed_key` takes all their digits at once.
_ALL_DIGITS_AT_ONCE = 1 << 16


def reversed_key(index: torch.Tensor, n_trits: int, base: int = 3) -> torch.Tensor:
    """The index with its n base-``base`` digits reversed (digit 0 the most significant).

    Operations sharing their low k digits are then one contiguous block of sorted keys.
    A batch's keys are a handful of operators (all digits at once); the epoch's (up to 3^14
    rows, n times that memory at once) a loop over the digits.
    """
    if index.numel() > _ALL_DIGITS_AT_ONCE:
        key = torch.zeros_like(index)
        rest = index.clone()
        for _ in range(n_trits):
            key = key * base + rest % base
            rest = rest // base
        return key
    _, reversed_powers = digit_powers(n_trits, base, index.device)
    return digits_from_index(index, n_trits, base).mul_(reversed_powers).sum(-1)


def shared_blocks(
    sorted_keys: torch.Tensor,
    keys: torch.Tensor,
    depth: torch.Tensor,
    n_trits: int,
    base: int = 3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the keys sharing at least ``depth`` low digits with each of ``keys`` start in
    ``sorted_keys``, and how many there are (``keys`` and ``depth`` broadcast)."""
    span = base ** (n_trits - depth)
    start = keys // span * span
    lo = torch.searchsorted(sorted_keys, start)
    return lo, torch.searchsorted(sorted_keys, start + span) - lo


def pick_exactly(
    lo: torch.Tensor,
    at_least: torch.Tensor,
    lo_next: torch.Tensor,
    at_least_next: torch.Tensor,
    u: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A uniformly drawn position (``u`` uniform in [0, 1)) sharing exactly d digits, and how
    many do: the block at depth d (``lo``, ``at_least``) less the one at d + 1 inside it."""
    count = at_least - at_least_next
    pos = lo + (u * count.clamp_min(1)).long()
    return torch.where(pos >= lo_next, pos + at_least_next, pos), count


def rank_other_than(u: torch.Tensor, count: torch.Tensor, avoid: torch.Tensor) -> torch.Tensor:
    """A uniform rank in 0..count-1 other than ``avoid`` wherever ``count`` >= 2 (``u``
    uniform in [0, 1)): a rank among the count - 1 others, shifted past the avoided one."""
    j = (u * (count - 1).clamp_min(1)).long()
    return torch.where(count >= 2, j + (j >= avoid).long(), j)


def _partners(
    keys: torch.Tensor,
    anchor_keys: torch.Tensor,
    depth: torch.Tensor,
    n_trits: int,
    gen: torch.Generator,
    avoid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (in ``keys``) of a row sharing exactly ``depth`` low digits with each anchor.

    Also returns each draw's rank j among those rows. With ``avoid`` (the ranks of an earlier
    draw at the same depths) a different row is drawn wherever there are two or more. Where
    no training row shares exactly ``depth`` digits, a uniformly random position is returned.
    """
    size = len(keys)
    lo, at_least = shared_blocks(keys, anchor_keys, depth, n_trits)
    lo_in, inner = shared_blocks(keys, anchor_keys, depth + 1, n_trits)
    u = torch.rand(len(anchor_keys), generator=gen, dtype=torch.float64)
    count = at_least - inner
    j = (u * count.clamp_min(1)).long() if avoid is None else rank_other_than(u, count, avoid)
    u_j = (j.to(torch.float64) + 0.5) / count.clamp_min(1).to(torch.float64)
    pos, _ = pick_exactly(lo, at_least, lo_in, inner, u_j if avoid is not None else u)
    fallback = (u * size).long()
    return torch.where(count > 0, pos, fallback).clamp(max=size - 1), j


def tree_order(
    index: torch.Tensor,
    valuation: torch.Tensor,
    n_trits: int,
    *,
    steps: int,
    batch_size: int,
    level_rows: int,
    gen: torch.Generator,
    partners: int = 1,
) -> torch.Tensor:
    """Row positions of one epoch of tree batches: ``steps`` blocks of ``batch_size`` rows.

    Args:
        index: the training rows' operation indices (any order).
        valuation: their valuations.
        n_trits: digits per operation.
        steps: batches in the epoch.
        batch_size: rows per batch.
        level_rows: rows of each valuation level per batch (levels absent from the training
            rows are skipped).
        gen: the epoch's generator (seeded by the run and the epoch).
        partners: rows sharing exactly ``k`` digits with each anchor per group (each one
            after the first a row other than the first wherever the depth holds two): with 2
            or more a batch holds pairs at one 3-adic distance from an anchor, which
            ``padic_isosceles`` compares.

    Returns:
        A (steps * batch_size,) long tensor of positions into ``index``.
    """
    rows = len(index)
    keys, by_key = torch.sort(reversed_key(index, n_trits))

    # Level rows: per batch, `level_rows` random rows of each present level.
    levels = [torch.nonzero(valuation == v).flatten() for v in range(n_trits + 1)]
    levels = [members for members in levels if len(members)]
    per_level = min(level_rows, max(batch_size // (3 * max(len(levels), 1)), 0))
    level_block = torch.empty(steps, 0, dtype=torch.long)
    if per_level:
        picks = [
            members[torch.randint(len(members), (steps, per_level), generator=gen)]
            for members in levels
        ]
        level_block = torch.cat(picks, dim=1)

    # Groups (a, p.., q): anchors from a seeded permutation, partners at depths k and k - 1.
    width = 2 + partners
    groups = (batch_size - level_block.shape[1]) // width
    fill = batch_size - level_block.shape[1] - width * groups
    total = steps * groups
    perm = torch.randperm(rows, generator=gen)
    anchors = perm.repeat(-(-total // rows))[:total] if total else perm[:0]
    anchor_keys = reversed_key(index[anchors], n_trits)
    if n_trits >= 2:
        depth = torch.randint(1, n_trits, (total,), generator=gen)
    else:
        depth = torch.ones(total, dtype=torch.long)
    p_pos, p_rank = _partners(keys, anchor_keys, depth, n_trits, gen)
    q_pos, _ = _partners(keys, anchor_keys, depth - 1, n_trits, gen)
    p, q = by_key[p_pos], by_key[q_pos]
    # Further partners at depth k, each a row other than p wherever the depth holds two.
    more = [
        by_key[_partners(keys, anchor_keys, depth, n_trits, gen, avoid=p_rank)[0]]
        for _ in range(partners - 1)
    ]
    group_block = torch.stack([anchors, p, *more, q], dim=1).reshape(steps, width * groups)
    filler = torch.randint(rows, (steps, fill), generator=gen)
    return torch.cat([level_block, group_block, filler], dim=1).reshape(-1)
