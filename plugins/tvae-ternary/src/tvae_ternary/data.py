"""The ``ternary_ops`` dataset: all 3^n operations as in-memory tensors on the device.

Batches hold ``x`` (B, n) float trits in {-1, 0, +1}, ``index`` (B,) long and ``valuation``
(B,) long. Shuffling comes from the run's seed through :class:`tvae_core.TensorDataset`.

The dataset is also a map-style torch dataset: ``ds[i]`` is training row ``i`` as a dict of
``x`` (n,), ``index`` and ``valuation`` (0-d), so ``DataLoader(ds, batch_size=B)`` collates
the batch dict the model takes, and ``DistributedSampler(ds)`` shards it.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from tvae_core import TensorDataset
from tvae_ternary.space import all_trits, check_n_trits, level_sizes, valuation_table

#: Seed of the train/validation split: fixed, so every run of a config evaluates the same rows.
SPLIT_SEED = 20_250_101


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
            and evaluates on all of them.
        drop_last: drop the last, smaller training batch of an epoch.
    """

    def __init__(
        self,
        n_trits: int = 9,
        batch_size: int = 512,
        stratified: bool = False,
        val_fraction: float = 0.0,
        drop_last: bool = False,
    ) -> None:
        check_n_trits(n_trits)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
        size = 3**n_trits
        n_val = math.ceil(val_fraction * size) if val_fraction > 0 else 0
        if val_fraction > 0 and not 3 <= n_val <= size - 1:
            raise ValueError(
                f"val_fraction={val_fraction} of {size} operations leaves {n_val} for "
                "evaluation and needs at least 3, with at least 1 left to train on"
            )
        if n_val:
            perm = torch.randperm(size, generator=torch.Generator().manual_seed(SPLIT_SEED))
            train = ternary_tensors(n_trits, perm[n_val:].sort().values)
            evaluation: dict[str, torch.Tensor] | None = ternary_tensors(
                n_trits, perm[:n_val].sort().values
            )
        else:
            train, evaluation = ternary_tensors(n_trits), None
        super().__init__(train, batch_size=batch_size, drop_last=drop_last, eval_tensors=evaluation)
        self.n_trits = n_trits
        self.stratified = stratified
        self.val_fraction = val_fraction
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
        """Training rows drawn per epoch (more than the rows held when stratified)."""
        rows = len(next(iter(self.tensors.values())))
        return rows if self._repeats is None else int(self._repeats.sum())

    def __len__(self) -> int:
        return self.rows_per_epoch

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        """Training row ``i`` of an epoch (rows of small levels repeat when stratified)."""
        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range for a dataset of {n} rows")
        if self._repeats is not None:
            if self._rows is None:
                self._rows = torch.repeat_interleave(
                    torch.arange(len(self._repeats)), self._repeats.cpu()
                )
            i = int(self._rows[i])
        return {k: v[i] for k, v in self.tensors.items()}

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """Row order of ``epoch``: a seeded permutation, with repeated rows when stratified."""
        order = super().epoch_order(epoch)
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
