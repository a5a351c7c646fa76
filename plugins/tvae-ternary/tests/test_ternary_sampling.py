"""Tree batches: every level and the closest comparison of every depth, training rows only."""

from __future__ import annotations

import pytest
import torch
from tvae_ternary.data import TernaryOpsDataset
from tvae_ternary.sampling import reversed_key
from tvae_ternary.space import valuation_table


def _setup(ds: TernaryOpsDataset, seed: int = 0) -> TernaryOpsDataset:
    ds.setup(device=torch.device("cpu"), seed=seed)
    return ds


def test_reversed_key_reverses_the_digits() -> None:
    index = torch.tensor([0, 1, 3, 9, 5, 80])
    # n = 4: 1 = (1,0,0,0) -> 27; 3 -> 9; 9 -> 3; 5 = (2,1,0,0) -> 2*27 + 9 = 63; 80 -> 80.
    assert reversed_key(index, 4).tolist() == [0, 27, 9, 3, 63, 80]


def _groups(batch: dict[str, torch.Tensor], levels: int, level_rows: int) -> torch.Tensor:
    start = levels * level_rows
    index = batch["index"]
    count = (len(index) - start) // 3
    return index[start : start + 3 * count].reshape(count, 3)


def test_tree_batches_hold_every_level_and_depth_comparisons() -> None:
    n = 6
    ds = _setup(TernaryOpsDataset(n_trits=n, batch_size=64, sampling="tree", level_rows=2))
    v = valuation_table(n)
    batches = list(ds.train_batches(0))
    # As many steps as a uniform epoch, every batch full.
    assert len(batches) == ds.num_train_batches() == -(-(3**n) // 64)
    depths = []
    for batch in batches:
        assert len(batch["index"]) == 64
        assert torch.equal(batch["valuation"], v[batch["index"]])
        # Two rows of each of the n + 1 levels lead the batch.
        lead = batch["valuation"][: 2 * (n + 1)]
        assert sorted(lead.tolist()) == sorted(list(range(n + 1)) * 2)
        g = _groups(batch, n + 1, 2)
        dp = v[(g[:, 0] - g[:, 1]).abs()]
        dq = v[(g[:, 0] - g[:, 2]).abs()]
        # p shares exactly k low digits with the anchor, q exactly k - 1 (full space: always).
        assert bool((dp - dq == 1).all())
        depths.append(dp)
    seen = torch.cat(depths)
    assert set(seen.tolist()) == set(range(1, n))


def test_tree_batches_draw_training_rows_only_and_are_seeded() -> None:
    n = 6
    ds = _setup(TernaryOpsDataset(n_trits=n, batch_size=64, sampling="tree", val_fraction=0.5))
    train = set(ds.tensors["index"].tolist())
    rows = torch.cat([b["index"] for b in ds.train_batches(3)])
    assert set(rows.tolist()) <= train
    again = _setup(TernaryOpsDataset(n_trits=n, batch_size=64, sampling="tree", val_fraction=0.5))
    assert torch.equal(rows, torch.cat([b["index"] for b in again.train_batches(3)]))
    other = torch.cat([b["index"] for b in again.train_batches(4)])
    assert not torch.equal(rows, other)
    # Most groups still find both partners among the half kept for training.
    v = valuation_table(n)
    lead = 2 * len(set(ds.tensors["valuation"].tolist()))
    g = _groups(next(iter(ds.train_batches(0))), 1, lead)
    ok = (v[(g[:, 0] - g[:, 1]).abs()] - v[(g[:, 0] - g[:, 2]).abs()]) == 1
    assert float(ok.double().mean()) > 0.8


def test_tree_dataset_indexes_like_its_first_epoch() -> None:
    ds = _setup(TernaryOpsDataset(n_trits=3, batch_size=16, sampling="tree"))
    assert len(ds) == 32  # ceil(27 / 16) full batches
    order = torch.cat([b["index"] for b in ds.train_batches(0)])
    assert [int(ds[i]["index"]) for i in range(len(ds))] == order.tolist()


def test_tree_partners_add_rows_at_the_same_depth() -> None:
    n = 6
    ds = _setup(
        TernaryOpsDataset(n_trits=n, batch_size=64, sampling="tree", level_rows=2, tree_partners=2)
    )
    v = valuation_table(n)
    lead = 2 * (n + 1)
    seen = []
    for batch in ds.train_batches(0):
        assert len(batch["index"]) == 64
        index = batch["index"]
        count = (len(index) - lead) // 4
        g = index[lead : lead + 4 * count].reshape(count, 4)  # (a, p, p', q)
        dp, dp2, dq = (v[(g[:, 0] - g[:, j]).abs()] for j in (1, 2, 3))
        assert bool((dp == dp2).all()) and bool((dp - dq == 1).all())
        assert bool((g[:, 1] != g[:, 2]).all())  # two different rows (every depth holds two)
        seen.append(dp)
    assert set(torch.cat(seen).tolist()) == set(range(1, n))
    # One partner keeps the groups of three, drawn as before.
    one = _setup(TernaryOpsDataset(n_trits=n, batch_size=64, sampling="tree", tree_partners=1))
    default = _setup(TernaryOpsDataset(n_trits=n, batch_size=64, sampling="tree"))
    assert torch.equal(one.epoch_order(2), default.epoch_order(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sampling": "levels"}, "sampling must be 'uniform' or 'tree'"),
        ({"tree_partners": 0}, "tree_partners must be an integer in 1..8"),
        ({"sampling": "tree", "stratified": True}, "set one of them"),
        ({"level_rows": -1}, "level_rows must be >= 0"),
    ],
)
def test_bad_sampling_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TernaryOpsDataset(n_trits=4, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("sampling", ["uniform", "tree"])
def test_min_steps_draws_the_rows_again_until_the_epoch_has_its_steps(sampling: str) -> None:
    ds = _setup(TernaryOpsDataset(n_trits=3, batch_size=16, sampling=sampling, min_steps=5))  # type: ignore[arg-type]
    batches = list(ds.train_batches(2))
    assert len(batches) == ds.num_train_batches() == 5
    assert all(len(b["index"]) == 16 for b in batches)
    rows = torch.cat([b["index"] for b in batches])
    assert set(rows.tolist()) <= set(range(27))
    if sampling == "uniform":
        # Whole passes: every operation twice in the first 54 rows, each pass its own order.
        assert sorted(rows[:27].tolist()) == list(range(27)) == sorted(rows[27:54].tolist())
        assert not torch.equal(rows[:27], rows[27:54])
    # One pass already holds enough steps: min_steps changes nothing.
    plain = _setup(TernaryOpsDataset(n_trits=5, batch_size=16, sampling=sampling))  # type: ignore[arg-type]
    floor = _setup(TernaryOpsDataset(n_trits=5, batch_size=16, sampling=sampling, min_steps=3))  # type: ignore[arg-type]
    assert torch.equal(plain.epoch_order(1), floor.epoch_order(1))
    with pytest.raises(ValueError, match="min_steps must be an integer >= 1"):
        TernaryOpsDataset(n_trits=3, min_steps=0)


def test_reversed_key_all_digits_at_once_is_the_digit_loop() -> None:
    """A batch's keys (all digits at once) equal the digit loop's (issue 16, item 2)."""
    from tvae_ternary import sampling

    def loop(index: torch.Tensor, n: int, base: int) -> torch.Tensor:
        key = torch.zeros_like(index)
        rest = index.clone()
        for _ in range(n):
            key = key * base + rest % base
            rest = rest // base
        return key

    for base, n in ((3, 1), (3, 9), (3, 14), (2, 20), (5, 9)):
        index = torch.randint(base**n, (2, 300), generator=torch.Generator().manual_seed(n))
        assert index.numel() <= sampling._ALL_DIGITS_AT_ONCE
        assert torch.equal(reversed_key(index, n, base), loop(index, n, base))
        big = torch.arange(min(base**n, sampling._ALL_DIGITS_AT_ONCE + 5))
        assert torch.equal(reversed_key(big, n, base), loop(big, n, base))
