"""The ``ternary_ops`` dataset: all 3^n operations as in-memory tensors on the device.

Batches hold ``x`` (B, n) float trits in {-1, 0, +1}, ``index`` (B,) long and ``valuation``
(B,) long. Shuffling comes from the run's seed through :class:`tvae_core.TensorDataset`.

The dataset is also a map-style torch dataset: ``ds[i]`` is training row ``i`` as a dict of
``x`` (n,), ``index`` and ``valuation`` (0-d), so ``DataLoader(ds, batch_size=B)`` collates
the batch dict the model takes, and ``DistributedSampler(ds)`` shards it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

from tvae_core import TensorDataset
from tvae_ternary.sampling import tree_order
from tvae_ternary.space import all_trits, check_n_trits, level_sizes, valuation_table

#: Seed of the train/validation split: fixed, so every run of a config evaluates the same rows.
SPLIT_SEED = 20_250_101


def held_out_operations(
    n_trits: int, val_fraction: float, split: str = "random", subtree_depth: int = 2
) -> torch.Tensor | None:
    """The sorted indices a split holds out for evaluation, or None when it holds out none.

    ``random``: ceil(val_fraction * 3^n) operations drawn with :data:`SPLIT_SEED`.
    ``subtree``: whole subtrees of the 3-adic tree. The operations whose lowest
    ``subtree_depth`` digits form one of ceil(val_fraction * 3^subtree_depth) prefixes (drawn
    with :data:`SPLIT_SEED`) are held out, so training never sees those low-digit
    combinations; the held-out fraction is that count over 3^subtree_depth (at
    val_fraction 0.5: 5/9 at depth 2, 14/27 at depth 3, 41/81 at depth 4). The draw keeps
    every digit value of every position in some trained prefix: a held-out operation is an
    unseen combination of seen digits (a digit value never trained on cannot be decoded by
    any model; so depth 1 is refused), redrawn until it does.
    """
    if split not in ("random", "subtree"):
        raise ValueError(f"split must be 'random' or 'subtree', got {split!r}")
    if isinstance(subtree_depth, bool) or not isinstance(subtree_depth, int):
        raise ValueError(f"subtree_depth must be an integer, got {subtree_depth!r}")
    if split == "subtree" and not 2 <= subtree_depth <= n_trits:
        raise ValueError(
            f"subtree_depth must lie in 2..n_trits={n_trits} (a depth-1 subtree is a digit value "
            f"never trained on), got {subtree_depth}"
        )
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    if val_fraction == 0:
        return None
    size = 3**n_trits
    gen = torch.Generator().manual_seed(SPLIT_SEED)
    if split == "random":
        n_val = math.ceil(val_fraction * size)
        held = torch.randperm(size, generator=gen)[:n_val] if n_val <= size - 1 else None
    else:
        prefixes = 3**subtree_depth
        count = math.ceil(val_fraction * prefixes)
        n_val = count * 3 ** (n_trits - subtree_depth)
        chosen = _held_out_prefixes(prefixes, count, subtree_depth, gen)
        if chosen is None:
            raise ValueError(
                f"val_fraction={val_fraction} with split='subtree' holds out {count} of the "
                f"{prefixes} subtrees of depth {subtree_depth} and leaves some digit value "
                "untrained: lower val_fraction or raise subtree_depth"
            )
        held = torch.isin(torch.arange(size) % prefixes, chosen).nonzero().squeeze(1)
    if not 3 <= n_val <= size - 1:
        raise ValueError(
            f"val_fraction={val_fraction} of {size} operations leaves {n_val} for "
            "evaluation and needs at least 3, with at least 1 left to train on"
        )
    assert held is not None
    return held.sort().values


def _held_out_prefixes(
    prefixes: int, count: int, depth: int, gen: torch.Generator
) -> torch.Tensor | None:
    """``count`` of the ``prefixes`` low-digit prefixes, the rest holding every digit value."""
    if prefixes - count < 3:
        return None
    powers = 3 ** torch.arange(depth)
    for _ in range(1000):
        perm = torch.randperm(prefixes, generator=gen)
        kept = torch.div(perm[count:, None], powers, rounding_mode="floor") % 3  # (kept, depth)
        if all(len(kept[:, k].unique()) == 3 for k in range(depth)):
            return perm[:count]
    return None


def ternary_tensors(n_trits: int, rows: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The batch tensors (``x``, ``index``, ``valuation``) of all operations or of ``rows``."""
    index = torch.arange(3**n_trits) if rows is None else rows
    trits = all_trits(n_trits)
    return {
        "x": trits[index].to(torch.float32),
        "index": index.clone(),
        "valuation": valuation_table(n_trits)[index].clone(),
    }


class TernaryOpsDataset(TensorDataset):
    """The 3^n ternary operations, batched by index slicing.

    Args:
        n_trits: trits per operation n (1..14); 3^n operations.
        batch_size: training rows per step.
        stratified: repeat the rows of the small, high-valuation levels so that every level
            appears at least ``batch_size`` times per epoch.
        val_fraction: fraction of operations held out for evaluation (seeded split); 0 trains
            and evaluates on all of them. The held-out operations are the evaluation set:
            the validation metrics are held-out metrics.
        split: how they are chosen: "random" (any operations) or "subtree" (whole subtrees:
            every operation whose lowest ``subtree_depth`` digits form one of
            ceil(val_fraction * 3^subtree_depth) seeded prefixes, the harder test; the
            fraction held out is that count over 3^subtree_depth, as ``held_out_fraction``
            says). See :func:`held_out_operations`.
        subtree_depth: digits of the held-out prefixes when ``split`` is "subtree" (1..n).
        drop_last: drop the last, smaller training batch of an epoch.
        sampling: "uniform" shuffles the rows (each row once per epoch); "tree" builds every
            batch from ``level_rows`` rows of each valuation level plus groups of an anchor and
            two partners sharing exactly k and k - 1 of its low digits (k uniform in 1..n-1),
            so each step compares every depth of the tree and places every level
            (:mod:`tvae_ternary.sampling`); an epoch has as many steps as a uniform one.
        level_rows: rows of each valuation level per batch when ``sampling`` is "tree".
        tree_partners: rows sharing exactly k digits with each anchor of a tree batch's
            groups (1: groups of three rows; 2 adds a second, so that the batch holds pairs
            at one 3-adic distance from an anchor for ``padic_isosceles``).
        min_steps: an epoch has at least this many training steps: at small n the rows are
            drawn again (each pass a fresh shuffle) until it does, so a recipe counted in
            epochs trains as many steps at every n (the default config sets 39, the steps of
            n = 9 at batch 512); 1 keeps one pass over the rows.
        eval_batch_size: evaluation rows per forward pass (None: ``batch_size``). Metrics see
            the concatenated outputs, so they do not depend on it; the validation loss terms
            are means over rows, except a term that balances within a batch (``radial`` with
            ``balanced``), whose ``val/`` value may differ slightly. Larger batches evaluate
            faster (fewer passes); memory grows with it.
    """

    def __init__(
        self,
        n_trits: int = 9,
        batch_size: int = 512,
        stratified: bool = False,
        val_fraction: float = 0.0,
        drop_last: bool = False,
        split: Literal["random", "subtree"] = "random",
        subtree_depth: int = 2,
        sampling: Literal["uniform", "tree"] = "uniform",
        level_rows: int = 2,
        min_steps: int = 1,
        tree_partners: int = 1,
        eval_batch_size: int | None = None,
    ) -> None:
        check_n_trits(n_trits)
        if sampling not in ("uniform", "tree"):
            raise ValueError(f"sampling must be 'uniform' or 'tree', got {sampling!r}")
        if sampling == "tree" and stratified:
            raise ValueError(
                "stratified and sampling='tree' both choose the batch rows: set one of them"
            )
        if isinstance(min_steps, bool) or not isinstance(min_steps, int) or min_steps < 1:
            raise ValueError(f"min_steps must be an integer >= 1, got {min_steps!r}")
        if (
            isinstance(tree_partners, bool)
            or not isinstance(tree_partners, int)
            or not (1 <= tree_partners <= 8)
        ):
            raise ValueError(f"tree_partners must be an integer in 1..8, got {tree_partners!r}")
        if level_rows < 0:
            raise ValueError(f"level_rows must be >= 0, got {level_rows}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if eval_batch_size is not None and (
            isinstance(eval_batch_size, bool)
            or not isinstance(eval_batch_size, int)
            or eval_batch_size < 1
        ):
            raise ValueError(
                f"eval_batch_size must be an integer >= 1 or None, got {eval_batch_size!r}"
            )
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
        held = held_out_operations(n_trits, val_fraction, split, subtree_depth)
        evaluation: dict[str, torch.Tensor] | None = None
        if held is not None:
            trained = torch.ones(3**n_trits, dtype=torch.bool)
            trained[held] = False
            train = ternary_tensors(n_trits, trained.nonzero().squeeze(1))
            evaluation = ternary_tensors(n_trits, held)
        else:
            train = ternary_tensors(n_trits)
        super().__init__(
            train,
            batch_size=batch_size,
            drop_last=drop_last,
            eval_tensors=evaluation,
            eval_batch_size=eval_batch_size,
        )
        self.n_trits = n_trits
        self.stratified = stratified
        self.sampling = sampling
        self.level_rows = level_rows
        self.min_steps = min_steps
        self.tree_partners = tree_partners
        self.val_fraction = val_fraction
        self.split = split
        self.subtree_depth = subtree_depth
        #: The fraction of all 3^n operations held out (0.0 without a split).
        self.held_out_fraction = 0.0 if held is None else len(held) / 3**n_trits
        self._repeats = self._level_repeats() if stratified else None
        self._rows: torch.Tensor | None = None

    def _level_repeats(self) -> torch.Tensor:
        """How many times each training row is drawn per epoch when stratified."""
        v = self.tensors["valuation"]
        counts = torch.bincount(v, minlength=self.n_trits + 1).clamp_min(1)
        per_level = torch.ceil(self.batch_size / counts.double()).clamp_min(1).long()
        return per_level[v]

    @property
    def rows_per_epoch(self) -> int:
        """Training rows drawn per epoch (more than the rows held when stratified, tree
        batches fill the last batch, and ``min_steps`` sets a floor)."""
        rows = self._rows_per_pass()
        if -(-rows // self.batch_size) >= self.min_steps:
            return rows
        return self.min_steps * self.batch_size

    def _rows_per_pass(self) -> int:
        rows = len(next(iter(self.tensors.values())))
        if self.sampling == "tree":
            return -(-rows // self.batch_size) * self.batch_size
        return rows if self._repeats is None else int(self._repeats.sum())

    def __len__(self) -> int:
        return self.rows_per_epoch

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        """Training row ``i`` of an epoch (rows of small levels repeat when stratified)."""
        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range for a dataset of {n} rows")
        if self.sampling == "tree":
            if self._rows is None:
                self._rows = self.epoch_order(0)
            i = int(self._rows[i])
        elif self._repeats is not None:
            if self._rows is None:
                self._rows = torch.repeat_interleave(
                    torch.arange(len(self._repeats)), self._repeats.cpu()
                )
            i = int(self._rows[i])
        return {k: v[i] for k, v in self.tensors.items()}

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """Row order of ``epoch``: seeded permutations, with repeated rows when stratified."""
        if self.sampling == "tree":
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            return tree_order(
                self.tensors["index"].cpu(),
                self.tensors["valuation"].cpu(),
                self.n_trits,
                steps=len(self) // self.batch_size,
                batch_size=self.batch_size,
                level_rows=self.level_rows,
                gen=gen,
                partners=self.tree_partners,
            )
        # Passes over the rows until the epoch's length, each its own shuffle from the epoch's
        # seeded generator (the first is the permutation the core's TensorDataset draws).
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        size, total = self._rows_per_pass(), len(self)
        passes: list[torch.Tensor] = []
        while sum(len(p) for p in passes) < total:
            perm = torch.randperm(size, generator=gen) if self.shuffle else torch.arange(size)
            passes.append(self._pass_order(perm))
        return torch.cat(passes)[:total]

    def _pass_order(self, order: torch.Tensor) -> torch.Tensor:
        """One pass's row order from a permutation of the pass (stratified rows repeat)."""
        if self._repeats is None:
            return order
        rows = torch.repeat_interleave(torch.arange(len(self._repeats)), self._repeats.cpu())
        return rows[order]

    def model_context(self) -> dict[str, Any]:
        return {"input_dim": 3**self.n_trits}

    @property
    def level_sizes(self) -> tuple[int, ...]:
        """Operations per valuation level over all 3^n operations."""
        return level_sizes(self.n_trits)
