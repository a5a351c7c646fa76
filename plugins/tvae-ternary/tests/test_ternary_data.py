"""TernaryOpsDataset: tensors, shuffling from the seed, stratification, splits, errors."""

from __future__ import annotations

import pytest
import torch
from tvae_ternary.data import TernaryOpsDataset
from tvae_ternary.space import all_trits, valuation_table


def _setup(ds: TernaryOpsDataset, seed: int = 0) -> TernaryOpsDataset:
    ds.setup(device=torch.device("cpu"), seed=seed)
    return ds


def test_batches_hold_x_index_valuation_consistently() -> None:
    ds = _setup(TernaryOpsDataset(n_trits=4, batch_size=16))
    rows = list(ds.train_batches(0))
    assert len(rows) == ds.num_train_batches() == 6
    seen = torch.cat([b["index"] for b in rows])
    assert torch.equal(seen.sort().values, torch.arange(81))
    for b in rows:
        assert b["x"].dtype == torch.float32 and b["x"].shape[1] == 4
        assert torch.equal(b["x"], all_trits(4)[b["index"]].float())
        assert torch.equal(b["valuation"], valuation_table(4)[b["index"]])


def test_shuffle_depends_on_seed_and_epoch_only() -> None:
    a = _setup(TernaryOpsDataset(n_trits=4, batch_size=81), seed=1)
    b = _setup(TernaryOpsDataset(n_trits=4, batch_size=81), seed=1)
    c = _setup(TernaryOpsDataset(n_trits=4, batch_size=81), seed=2)
    first = next(a.train_batches(0))["index"]
    assert torch.equal(first, next(b.train_batches(0))["index"])
    assert not torch.equal(first, next(c.train_batches(0))["index"])
    assert not torch.equal(first, next(a.train_batches(1))["index"])


def test_eval_covers_all_operations_in_order_by_default() -> None:
    ds = _setup(TernaryOpsDataset(n_trits=5))
    index = torch.cat([b["index"] for b in ds.eval_batches()])
    assert torch.equal(index, torch.arange(243))
    assert ds.model_context() == {"input_dim": 243}


def test_stratified_epochs_see_every_level_often() -> None:
    ds = _setup(TernaryOpsDataset(n_trits=6, batch_size=32, stratified=True))
    v = torch.cat([b["valuation"] for b in ds.train_batches(0)])
    counts = torch.bincount(v, minlength=7)
    assert (counts >= 32).all()
    assert len(v) == len(ds) > 3**6


def test_validation_split_is_disjoint_and_fixed() -> None:
    ds = _setup(TernaryOpsDataset(n_trits=5, val_fraction=0.2))
    train = torch.cat([b["index"] for b in ds.train_batches(0)])
    val = torch.cat([b["index"] for b in ds.eval_batches()])
    assert len(val) == 49 and len(train) == 243 - 49
    assert not set(train.tolist()) & set(val.tolist())
    again = _setup(TernaryOpsDataset(n_trits=5, val_fraction=0.2), seed=9)
    assert torch.equal(val, torch.cat([b["index"] for b in again.eval_batches()]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_trits": 0}, "n_trits"),
        ({"n_trits": 15}, "n_trits"),
        ({"batch_size": 0}, "batch_size"),
        ({"val_fraction": 1.0}, "val_fraction"),
        ({"n_trits": 1, "val_fraction": 0.5}, "val_fraction"),
        ({"eval_batch_size": 0}, "eval_batch_size"),
        ({"eval_batch_size": 1.5}, "eval_batch_size"),
        ({"eval_batch_size": True}, "eval_batch_size"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TernaryOpsDataset(**kwargs)  # type: ignore[arg-type]


def test_eval_batches_take_eval_batch_size() -> None:
    ds = TernaryOpsDataset(n_trits=6, batch_size=32, eval_batch_size=200)
    sizes = [len(b["index"]) for b in ds.eval_batches()]
    assert sizes == [200, 200, 200, 129] and len(ds.eval_batches()) == 4
    assert len(next(iter(ds.train_batches()))["index"]) == 32
    assert torch.equal(torch.cat([b["index"] for b in ds.eval_batches()]), torch.arange(729))
    # None (the default) evaluates in training-sized batches
    assert TernaryOpsDataset(n_trits=6, batch_size=32).eval_batch_size == 32


def test_n12_is_bounded() -> None:
    ds = TernaryOpsDataset(n_trits=12, batch_size=4096)
    size = sum(t.element_size() * t.numel() for t in ds.tensors.values())
    assert len(ds) == 3**12
    assert size < 100 * 2**20


def test_a_dataloader_and_a_distributed_sampler_take_the_dataset() -> None:
    from torch.utils.data import DataLoader, DistributedSampler
    from tvae_ternary import TernaryVAE

    ds = _setup(TernaryOpsDataset(n_trits=3, batch_size=9))
    loader = DataLoader(ds, batch_size=9, shuffle=True, generator=torch.Generator().manual_seed(0))
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    seen = torch.cat([b["index"] for b in batches])
    assert torch.equal(seen.sort().values, torch.arange(27))
    first = batches[0]
    assert first["x"].shape == (9, 3) and first["x"].dtype == torch.float32
    assert torch.equal(first["x"], all_trits(3)[first["index"]].float())
    assert torch.equal(first["valuation"], valuation_table(3)[first["index"]])
    out = TernaryVAE(input_dim=27, latent_dim=2)(first)
    assert out["logits"].shape == (9, 3, 3)
    shards = [list(DistributedSampler(ds, num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 14
    assert set(shards[0]) | set(shards[1]) == set(range(27))
    with pytest.raises(IndexError):
        ds[27]


def test_stratified_rows_index_like_the_epoch() -> None:
    ds = _setup(TernaryOpsDataset(n_trits=3, batch_size=9, stratified=True))
    rows = torch.stack([ds[i]["index"] for i in range(len(ds))])
    epoch = torch.cat([b["index"] for b in ds.train_batches(0)])
    assert torch.equal(rows.sort().values, epoch.sort().values)


def test_train_batches_is_a_reiterable_loader_with_len() -> None:
    ds = _setup(TernaryOpsDataset(n_trits=4, batch_size=16))
    fixed = ds.train_batches(3)
    assert len(fixed) == ds.num_train_batches() == 6
    one = [b["index"] for b in fixed]
    two = [b["index"] for b in fixed]
    assert len(one) == 6 and all(torch.equal(a, b) for a, b in zip(one, two, strict=True))
    loader = ds.train_batches()  # each pass is the next epoch, as a shuffling DataLoader
    passes = [torch.cat([b["index"] for b in loader]) for _ in range(3)]
    assert all(len(p) == 81 for p in passes)
    assert torch.equal(passes[1], torch.cat([b["index"] for b in ds.train_batches(1)]))
    assert not torch.equal(passes[0], passes[1])
    loader.set_epoch(0)
    assert torch.equal(torch.cat([b["index"] for b in loader]), passes[0])
    evaluation = ds.eval_batches()
    assert len(evaluation) == 6 == len(list(evaluation)) == len(list(evaluation))


def test_the_model_says_it_takes_the_batch_dict() -> None:
    from tvae_ternary import TernaryVAE

    model = TernaryVAE(input_dim=27, latent_dim=2)
    with pytest.raises(TypeError, match=r"takes the batch dict .* not a Tensor; call model"):
        model(torch.zeros(4, 3))


@pytest.mark.parametrize(("depth", "held"), [(2, 5 / 9), (3, 14 / 27), (4, 41 / 81)])
def test_subtree_split_holds_out_whole_subtrees(depth: int, held: float) -> None:
    n = 5
    ds = _setup(
        TernaryOpsDataset(n_trits=n, val_fraction=0.5, split="subtree", subtree_depth=depth)
    )
    train = torch.cat([b["index"] for b in ds.train_batches(0)])
    val = torch.cat([b["index"] for b in ds.eval_batches()])
    assert sorted(train.tolist() + val.tolist()) == list(range(3**n))
    assert ds.held_out_fraction == pytest.approx(held) == len(val) / 3**n
    # Every held-out prefix of `depth` low digits is held out whole, none of it is trained on.
    prefixes = 3**depth
    held_prefixes = set((val % prefixes).tolist())
    assert len(held_prefixes) == round(held * prefixes)
    assert not held_prefixes & set((train % prefixes).tolist())
    # ... and every digit value of every position is still trained on (seen digits, unseen
    # combinations).
    for k in range(n):
        assert set(((train // 3**k) % 3).tolist()) == {0, 1, 2}
    # Fixed by the split seed, not the run's.
    again = _setup(
        TernaryOpsDataset(n_trits=n, val_fraction=0.5, split="subtree", subtree_depth=depth), 7
    )
    assert torch.equal(val, torch.cat([b["index"] for b in again.eval_batches()]))


def test_random_split_is_the_default_and_the_subtree_split_is_harder() -> None:
    from tvae_ternary.data import held_out_operations

    random = held_out_operations(4, 0.5)
    assert random is not None and torch.equal(
        random, TernaryOpsDataset(n_trits=4, val_fraction=0.5, split="random").eval_tensors["index"]
    )
    # A random half leaves every 2-digit prefix in training; the subtree split does not.
    trained = torch.ones(81, dtype=torch.bool)
    trained[random] = False
    assert len(set((torch.arange(81)[trained] % 9).tolist())) == 9
    assert held_out_operations(4, 0.0, "subtree") is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "prefix", "val_fraction": 0.5}, "split must be 'random' or 'subtree'"),
        (
            {"split": "subtree", "subtree_depth": 0, "val_fraction": 0.5},
            r"subtree_depth must lie in 2\.\.n_trits=4",
        ),
        (
            {"split": "subtree", "subtree_depth": 5, "val_fraction": 0.5},
            "subtree_depth must lie in",
        ),
        (
            {"split": "subtree", "subtree_depth": 1, "val_fraction": 0.5},
            "a depth-1 subtree is a digit value never trained on",
        ),
        (
            {"split": "subtree", "subtree_depth": 2, "val_fraction": 0.8},
            "holds out 8 of the 9 subtrees of depth 2 and leaves some digit value untrained",
        ),
        ({"split": "subtree", "subtree_depth": 4, "val_fraction": 0.01}, "needs at least 3"),
    ],
)
def test_bad_split_settings_are_one_line_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        TernaryOpsDataset(n_trits=4, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("sampling", ["uniform", "tree"])
def test_no_batch_of_an_epoch_holds_a_held_out_operation(sampling: str) -> None:
    ds = TernaryOpsDataset(
        n_trits=5, batch_size=32, val_fraction=0.5, split="subtree", sampling=sampling
    )
    ds = _setup(ds)
    held = set(ds.eval_tensors["index"].tolist())
    seen = {i for b in ds.train_batches(0) for i in b["index"].tolist()}
    assert seen and not seen & held
