"""DDP sharding of ``TensorDataset``: the ranks of a global step see what one process would.

Rank ``r`` of ``w`` with batch size ``B`` must, at every global step, hold its slice of the
block of ``w * B`` rows that a single process with batch size ``w * B`` takes at that step,
and every rank must take the same number of steps (DDP's all-reduce needs each rank's
backward). Checked directly on the dataset, without processes.
"""

from __future__ import annotations

import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tvae_core import TensorDataset


def _shards(
    size: int, batch: int, world: int, epoch: int = 0, drop_last: bool = False
) -> list[list[torch.Tensor]]:
    """Row indices of every step of ``epoch``, per rank."""
    out = []
    for rank in range(world):
        data = TensorDataset({"index": torch.arange(size)}, batch_size=batch, drop_last=drop_last)
        data.setup(device=torch.device("cpu"), seed=7, rank=rank, world_size=world)
        steps = [b["index"] for b in data.train_batches(epoch)]
        assert len(steps) == data.num_train_batches()
        out.append(steps)
    return out


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 300),
    batch=st.integers(1, 40),
    world=st.integers(1, 5),
    epoch=st.integers(0, 3),
)
def test_ranks_cover_the_single_process_batch_of_each_step(
    size: int, batch: int, world: int, epoch: int
) -> None:
    shards = _shards(size, batch, world, epoch)
    (single,) = _shards(size, batch * world, 1, epoch)
    steps = {len(s) for s in shards}
    assert len(steps) == 1, "every rank must take the same number of steps"
    n_steps = steps.pop()
    # Every step except a dropped tail (shorter than the number of ranks) matches exactly.
    assert n_steps in (len(single), len(single) - 1)
    if n_steps < len(single):
        assert 0 < len(single[-1]) < world
    for s in range(n_steps):
        union = torch.cat([shards[r][s] for r in range(world)])
        assert torch.equal(union, single[s])
        sizes = [len(shards[r][s]) for r in range(world)]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_full_steps_give_each_rank_batch_size_rows() -> None:
    shards = _shards(size=100, batch=16, world=2)
    # 100 rows in blocks of 32: three full steps, then a tail of 4 split 2 + 2.
    assert [len(b) for b in shards[0]] == [16, 16, 16, 2]
    assert [len(b) for b in shards[1]] == [16, 16, 16, 2]
    rows = torch.cat([b for rank in shards for b in rank])
    assert sorted(rows.tolist()) == list(range(100))


def test_drop_last_drops_the_short_block() -> None:
    shards = _shards(size=100, batch=16, world=2, drop_last=True)
    assert [len(b) for b in shards[0]] == [16, 16, 16]


def test_single_process_batches_are_unchanged() -> None:
    (steps,) = _shards(size=50, batch=16, world=1)
    assert [len(b) for b in steps] == [16, 16, 16, 2]


def test_nproc_relaunch_passes_the_same_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    from tvae_core import cli

    calls: list[list[str]] = []

    def fake_call(cmd: list[str]) -> int:
        calls.append(cmd)
        return 3

    monkeypatch.setattr("subprocess.call", fake_call)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("TVAE_NO_PLUGIN_COMMANDS", "1")
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "cfg.yaml", "--nproc", "3", "--set", "epochs=2", "--nproc=3", "--json"])
    assert exc.value.code == 3, "the workers' exit status is the command's"
    (cmd,) = calls
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in cmd and "--nproc-per-node=3" in cmd
    assert cmd[cmd.index("-m", 3) :] == [
        "-m",
        "tvae_core",
        "run",
        "cfg.yaml",
        "--set",
        "epochs=2",
        "--json",
    ]
