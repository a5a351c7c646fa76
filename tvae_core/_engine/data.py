"""Datasets held as tensors on the training device, batched without per-sample collation.

:class:`TensorDataset` implements :class:`tvae_core.Dataset` (the interface lives with the
other component interfaces, in :mod:`tvae_core._plugins.interfaces`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from tvae_core._plugins.interfaces import Batch


class BatchLoader:
    """A dataset's batches as a torch user expects a loader: re-iterable, with ``len()``.

    Each ``for batch in loader`` pass yields a whole epoch. A loader made for one ``epoch``
    repeats that epoch's order on every pass; a loader made without one starts at epoch 0
    and takes the next epoch on every pass (as a shuffling ``DataLoader`` reshuffles), and
    :meth:`set_epoch` picks the next pass's epoch (as on a ``DistributedSampler``). The
    batches are the same slices of on-device tensors the trainer takes: no collation.
    ``next(loader)`` also works, stepping through one pass.
    """

    def __init__(
        self,
        batches: Callable[[int], Iterator[Batch]],
        length: Callable[[], int],
        epoch: int | None,
    ) -> None:
        self._batches, self._length = batches, length
        self._fixed = epoch is not None
        self.epoch = 0 if epoch is None else epoch
        self._current: Iterator[Batch] | None = None

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next pass yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self._length()

    def __iter__(self) -> Iterator[Batch]:
        epoch = self.epoch
        if not self._fixed:
            self.epoch += 1
        return self._batches(epoch)

    def __next__(self) -> Batch:
        if self._current is None:
            self._current = iter(self)
        return next(self._current)


class TensorDataset:
    """Rows of named tensors, batched by index slicing on the device they live on.

    Each epoch's order is a permutation drawn from a generator seeded with
    ``(seed, epoch)``, so a resumed run sees exactly the batches an uninterrupted one would.
    Under distributed training with ``w`` ranks, global step ``s`` takes the block
    ``order[s*w*B : (s+1)*w*B]`` (``B = batch_size``) and rank ``r`` takes its ``r``-th slice
    of ``B`` rows, so a global step covers the rows a single process with batch size ``w*B``
    would see. The last, shorter block is split into ``w`` near-equal slices (every rank takes
    the same number of steps, which DDP needs); a tail shorter than ``w`` rows is dropped.

    It is also a map-style torch dataset: ``len(ds)`` training rows and ``ds[i]``, a dict of
    row ``i``'s tensors, so ``DataLoader(ds, batch_size=...)`` and a ``DistributedSampler``
    take it (collating row by row, which is slower than :meth:`train_batches`).
    """

    def __init__(
        self,
        tensors: Mapping[str, torch.Tensor],
        *,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        eval_tensors: Mapping[str, torch.Tensor] | None = None,
        eval_batch_size: int | None = None,
    ) -> None:
        lengths = {k: len(v) for k, v in tensors.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"tensors differ in length: {lengths}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.tensors: dict[str, torch.Tensor] = dict(tensors)
        self.eval_tensors: dict[str, torch.Tensor] = dict(
            eval_tensors if eval_tensors is not None else tensors
        )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        # Evaluating in training-sized batches keeps val losses comparable to train losses
        # (pairwise terms see the same number of pairs) and their memory bounded.
        self.eval_batch_size = eval_batch_size or batch_size
        self.seed = 0
        self.rank = 0
        self.world_size = 1
        self.device = torch.device("cpu")

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"row {i} out of range for a dataset of {n} rows")
        return {k: v[i] for k, v in self.tensors.items()}

    def setup(self, *, device: torch.device, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.device = torch.device(device)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.tensors = {k: v.to(self.device) for k, v in self.tensors.items()}
        self.eval_tensors = {k: v.to(self.device) for k, v in self.eval_tensors.items()}

    def _global_steps(self) -> int:
        """Steps per epoch, the same on every rank; each covers ``world_size * batch_size`` rows."""
        n, block = len(self), self.batch_size * self.world_size
        if self.drop_last:
            return n // block
        steps = -(-n // block)
        if 0 < n % block < self.world_size:
            steps -= 1  # a tail too short to give every rank a row
        return steps

    def num_train_batches(self) -> int:
        return self._global_steps()

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The row order of ``epoch`` (on the CPU), identical on every rank."""
        n = len(self)
        if not self.shuffle:
            return torch.arange(n)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=gen)

    def train_batches(self, epoch: int | None = None) -> BatchLoader:
        """The training batches of ``epoch`` as a :class:`BatchLoader` (``len()`` steps).

        Without ``epoch``, each pass over the loader is the next epoch (0, 1, 2, ...).
        """
        return BatchLoader(self._epoch_batches, self._global_steps, epoch)

    def _epoch_batches(self, epoch: int) -> Iterator[Batch]:
        order = self.epoch_order(epoch).to(self.device)
        bs, world, rank = self.batch_size, self.world_size, self.rank
        block = bs * world
        for s in range(self._global_steps()):
            rows = order[s * block : (s + 1) * block]
            if len(rows) == block:
                idx = rows[rank * bs : (rank + 1) * bs]
            else:
                idx = rows.tensor_split(world)[rank]
            yield {k: v.index_select(0, idx) for k, v in self.tensors.items()}

    def eval_batches(self) -> BatchLoader:
        """The evaluation set in a fixed order, as a :class:`BatchLoader` (``len()`` batches)."""
        return BatchLoader(lambda _epoch: self._eval_batches(), self._num_eval_batches, 0)

    def _num_eval_batches(self) -> int:
        n = len(next(iter(self.eval_tensors.values())))
        return -(-n // self.eval_batch_size)

    def _eval_batches(self) -> Iterator[Batch]:
        n = len(next(iter(self.eval_tensors.values())))
        for start in range(0, n, self.eval_batch_size):
            yield {k: v[start : start + self.eval_batch_size] for k, v in self.eval_tensors.items()}

    def model_context(self) -> dict[str, Any]:
        return {}
