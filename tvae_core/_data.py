"""Datasets held as tensors on the training device, batched without per-sample collation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

import torch

Batch = dict[str, torch.Tensor]


@runtime_checkable
class Dataset(Protocol):
    """What the engine needs from a dataset component."""

    batch_size: int

    def setup(self, *, device: torch.device, seed: int, rank: int = 0, world_size: int = 1) -> None:
        """Move the data to ``device`` and remember the run's seed and this rank's shard."""

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        """The training batches of ``epoch``; shuffling depends only on (seed, epoch)."""

    def num_train_batches(self) -> int:
        """How many batches :meth:`train_batches` yields per epoch on this rank."""

    def eval_batches(self) -> Iterator[Batch]:
        """The evaluation set in a fixed order (all of it, on every rank)."""

    def model_context(self) -> dict[str, Any]:
        """Values a model factory takes from the data when the config leaves them unset."""


class TensorDataset:
    """Rows of named tensors, batched by index slicing on the device they live on.

    Each epoch's order is a permutation drawn from a generator seeded with
    ``(seed, epoch)``, so a resumed run sees exactly the batches an uninterrupted one would.
    Under distributed training, rank ``r`` of ``w`` takes every ``w``-th batch of the
    global order, so each global step covers ``w * batch_size`` rows as a single process with
    that batch size would.
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

    def setup(self, *, device: torch.device, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.device = torch.device(device)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.tensors = {k: v.to(self.device) for k, v in self.tensors.items()}
        self.eval_tensors = {k: v.to(self.device) for k, v in self.eval_tensors.items()}

    def _global_batches(self) -> int:
        n = len(self)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def num_train_batches(self) -> int:
        return len(range(self.rank, self._global_batches(), self.world_size))

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The row order of ``epoch`` (on the CPU), identical on every rank."""
        n = len(self)
        if not self.shuffle:
            return torch.arange(n)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=gen)

    def train_batches(self, epoch: int) -> Iterator[Batch]:
        order = self.epoch_order(epoch).to(self.device)
        bs = self.batch_size
        for b in range(self.rank, self._global_batches(), self.world_size):
            idx = order[b * bs : (b + 1) * bs]
            yield {k: v.index_select(0, idx) for k, v in self.tensors.items()}

    def eval_batches(self) -> Iterator[Batch]:
        n = len(next(iter(self.eval_tensors.values())))
        for start in range(0, n, self.eval_batch_size):
            yield {k: v[start : start + self.eval_batch_size] for k, v in self.eval_tensors.items()}

    def model_context(self) -> dict[str, Any]:
        return {}
