"""The ternary space: index <-> trits, valuations, level sizes, d_3, the hierarchy ceiling."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tvae_ternary.space import (
    all_trits,
    hierarchy_ceiling,
    index_from_trits,
    level_sizes,
    n_trits_from_size,
    num_operations,
    padic_distance,
    pair_valuation,
    spearman_ceiling_from_ties,
    trits_from_index,
    valuation,
    valuation_table,
)

small_n = st.integers(min_value=1, max_value=7)


@settings(derandomize=True, deadline=None)
@given(small_n)
def test_index_trits_round_trip_covers_every_operation(n: int) -> None:
    trits = all_trits(n)
    assert trits.shape == (3**n, n)
    assert set(trits.unique().tolist()) <= {-1, 0, 1}
    assert torch.equal(index_from_trits(trits), torch.arange(3**n))
    assert torch.equal(trits_from_index(torch.arange(3**n), n), trits)


def test_trit_convention_position_zero_least_significant() -> None:
    assert all_trits(3)[0].tolist() == [-1, -1, -1]
    assert all_trits(3)[26].tolist() == [1, 1, 1]
    assert all_trits(3)[1].tolist() == [0, -1, -1]
    assert all_trits(3)[3].tolist() == [-1, 0, -1]


def test_level_sizes_n9() -> None:
    expected = (13122, 4374, 1458, 486, 162, 54, 18, 6, 2, 1)
    assert level_sizes(9) == expected
    counts = torch.bincount(valuation_table(9), minlength=10).tolist()
    assert tuple(counts) == expected


@settings(derandomize=True, deadline=None)
@given(small_n)
def test_level_sizes_match_table_and_sum_to_n(n: int) -> None:
    assert tuple(torch.bincount(valuation_table(n), minlength=n + 1).tolist()) == level_sizes(n)
    assert sum(level_sizes(n)) == num_operations(n)


def test_known_valuations() -> None:
    v = valuation_table(9)
    assert [int(v[i]) for i in (0, 1, 2, 4, 3, 9, 27, 81)] == [9, 0, 0, 0, 1, 2, 3, 4]
    for k in range(9):
        assert int(v[3**k]) == k


@settings(derandomize=True, deadline=None)
@given(st.integers(min_value=1, max_value=9), st.data())
def test_valuation_counts_leading_minus_one_trits(n: int, data: st.DataObject) -> None:
    i = data.draw(st.integers(min_value=1, max_value=3**n - 1))
    trits = trits_from_index(torch.tensor(i), n).tolist()
    leading = next(k for k, t in enumerate(trits) if t != -1)
    assert int(valuation(torch.tensor(i), n)) == leading


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.integers(min_value=2, max_value=6), st.data())
def test_d3_is_an_ultrametric(n: int, data: st.DataObject) -> None:
    size = 3**n
    a, b, c = (torch.tensor(data.draw(st.integers(0, size - 1))) for _ in range(3))
    dab, dbc, dac = padic_distance(a, b, n), padic_distance(b, c, n), padic_distance(a, c, n)
    assert dac <= torch.maximum(dab, dbc) + 1e-15
    assert padic_distance(a, a, n) == 0
    assert dab == padic_distance(b, a, n)


def test_pair_valuation_counts_equal_low_digits() -> None:
    n = 5
    i = torch.arange(3**n)
    j = torch.full_like(i, 7)
    shared = (trits_from_index(i, n) == trits_from_index(j, n)).long().cumprod(-1).sum(-1)
    assert torch.equal(pair_valuation(i, j, n), shared)


def test_hierarchy_ceiling_n9() -> None:
    assert hierarchy_ceiling(9) == pytest.approx(-0.83205, abs=1e-5)
    assert spearman_ceiling_from_ties([1, 1, 1]) == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [0, 2, 10, 19682, 3**15, -27])
def test_non_power_of_three_is_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="input_dim"):
        n_trits_from_size(bad)


def test_size_to_n() -> None:
    assert n_trits_from_size(19683) == 9
    assert n_trits_from_size(3) == 1


def test_tables_are_cached() -> None:
    assert valuation_table(6) is valuation_table(6)
    assert all_trits(6) is all_trits(6)


def test_other_bases_follow_the_same_convention() -> None:
    from tvae_ternary.space import check_base, digits_from_index, max_digits

    # 2-adic: v counts trailing zero bits, v(0) = n; d_2 = 2^-v(|i - j|).
    assert valuation_table(4, base=2).tolist() == [4, 0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0]
    assert level_sizes(4, base=2) == (8, 4, 2, 1, 1)
    assert level_sizes(3, base=5) == (100, 20, 4, 1)
    assert tuple(torch.bincount(valuation_table(3, base=5)).tolist()) == level_sizes(3, base=5)
    assert float(padic_distance(torch.tensor(1), torch.tensor(5), 4, base=2)) == 0.25
    assert int(pair_valuation(torch.tensor(3), torch.tensor(11), 4, base=2)) == 3
    assert valuation_table(5) is valuation_table(5, base=3)  # the default stays base 3
    assert hierarchy_ceiling(9) == hierarchy_ceiling(9, base=3)
    assert digits_from_index(torch.tensor([6, 1]), 3, base=2).tolist() == [[0, 1, 1], [1, 0, 0]]
    assert max_digits(2) == 22 and max_digits(3) == 14
    for bad in (1, 4, 9, 2.0, True):
        with pytest.raises(ValueError, match="base must be a prime"):
            check_base(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"n_trits must be an integer in 1\.\.22 for base 2"):
        valuation_table(23, base=2)


@pytest.mark.parametrize("base,n", [(3, 4), (2, 6), (5, 3)])
def test_perfect_embedding_orders_radius_by_valuation_and_distance_by_depth(
    base: int, n: int
) -> None:
    from tvae_ternary.geometry import distance, radius
    from tvae_ternary.space import perfect_embedding

    z = perfect_embedding(n, base, ratio=0.2, max_radius=1.5)
    assert z.shape == (base**n, 2 * n) and z.dtype == torch.float64
    rho = radius(z)
    assert float(rho.max()) == pytest.approx(1.5)
    v = valuation_table(n, base=base)
    # Every level strictly inside the one below it (the origin is operation 0, v = n).
    for k in range(n):
        assert float(rho[v == k + 1].max()) < float(rho[v == k].min())
    # Over all (a, p, q): sharing more low digits with a means closer to a.
    idx = torch.arange(base**n)
    a, p, q = torch.randint(0, base**n, (3, 4000), generator=torch.Generator().manual_seed(0))
    vp, vq = pair_valuation(idx[a], idx[p], n, base), pair_valuation(idx[a], idx[q], n, base)
    keep = (vp > vq) & (a != p)
    assert bool((distance(z[a], z[p]) < distance(z[a], z[q]))[keep].all())


def test_perfect_embedding_rejects_bad_settings() -> None:
    from tvae_ternary.space import perfect_embedding

    with pytest.raises(ValueError, match="ratio must lie in"):
        perfect_embedding(3, ratio=1.0)
    with pytest.raises(ValueError, match="base must be a prime"):
        perfect_embedding(3, base=6)
    with pytest.raises(ValueError, match="max_radius and curvature must be positive"):
        perfect_embedding(3, max_radius=0.0)


def test_a_compiled_lookup_reads_the_table_and_does_not_rebuild_it() -> None:
    """Under torch.compile the cached table is a constant of the graph: the lookup is one
    index, not the table's nine passes over 3^n rows in every compiled call."""
    from tvae_ternary.space import valuation_table

    torch._dynamo.reset()
    targets: list[str] = []

    def backend(gm: torch.fx.GraphModule, example_inputs: list[torch.Tensor]) -> object:
        targets.extend(str(node.target) for node in gm.graph.nodes)
        return gm.forward

    idx = torch.tensor([0, 1, 3, 9, 27, 81, 162])
    valuation_table(5)  # built once, eagerly, as the first batch's call does in a run
    try:
        got = torch.compile(lambda i: valuation_table(5)[i], backend=backend, fullgraph=True)(idx)
    finally:
        torch._dynamo.reset()
    assert torch.equal(got, torch.tensor([5, 0, 1, 2, 3, 4, 4]))
    assert targets and not [t for t in targets if "arange" in t or "remainder" in t or "mod" in t]
