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
