"""CurriculumScheduler: linear and cosine ramps, their ends, and the seed's loop."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tvae_homeostasis import CurriculumScheduler


def test_linear_ramp_values():
    s = CurriculumScheduler(start_difficulty=0.1, end_difficulty=1.0, warmup_epochs=50)
    assert s.get_difficulty(0) == pytest.approx(0.1)
    assert s.get_difficulty(25) == pytest.approx(0.55)
    assert s.get_difficulty(50) == pytest.approx(1.0)
    assert s.get_difficulty(500) == pytest.approx(1.0)
    assert s.get_difficulty(-3) == pytest.approx(0.1)


def test_cosine_ramp_values():
    s = CurriculumScheduler(0.0, 1.0, warmup_epochs=10, schedule="cosine")
    assert s.get_difficulty(0) == 0.0
    assert s.get_difficulty(5) == pytest.approx(0.5)
    assert s.get_difficulty(2) == pytest.approx(0.5 * (1 - math.cos(math.pi * 0.2)))
    assert s.get_difficulty(10) == 1.0


def test_zero_warmup_is_full_difficulty_from_the_start():
    assert CurriculumScheduler(0.1, 0.7, warmup_epochs=0).get_difficulty(0) == 0.7


def test_a_start_above_the_end_ramps_down():
    s = CurriculumScheduler(1.0, 0.2, warmup_epochs=4)
    assert [s.get_difficulty(e) for e in range(6)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.2])


@given(
    start=st.floats(-10, 10),
    end=st.floats(-10, 10),
    warmup=st.integers(0, 200),
    schedule=st.sampled_from(["linear", "cosine"]),
    epochs=st.lists(st.integers(0, 400), min_size=2, max_size=20),
)
def test_ramp_is_monotone_and_between_its_ends(start, end, warmup, schedule, epochs):
    s = CurriculumScheduler(start, end, warmup, schedule)
    values = [s.get_difficulty(e) for e in sorted(epochs)]
    low, high = min(start, end) - 1e-9, max(start, end) + 1e-9
    assert all(low <= v <= high for v in values)
    diffs = [b - a for a, b in itertools.pairwise(values)]
    sign = 1 if end >= start else -1
    assert all(sign * d >= -1e-9 for d in diffs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"warmup_epochs": -1}, "warmup_epochs must be a whole number >= 0"),
        ({"warmup_epochs": 2.5}, "warmup_epochs must be a whole number"),
        ({"schedule": "step"}, "schedule must be one of linear, cosine"),
        ({"start_difficulty": math.inf}, "start_difficulty must be a finite number"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CurriculumScheduler(**kwargs)


def test_seed_snippet_runs_as_shown():
    """The seed's "Curriculum Learning" loop, with only the import changed."""
    from tvae_homeostasis import CurriculumScheduler

    config = SimpleNamespace(loss_weights=SimpleNamespace(ranking=0.0))
    epochs, seen = 60, []

    scheduler = CurriculumScheduler(
        start_difficulty=0.1,
        end_difficulty=1.0,
        warmup_epochs=50,
    )

    for epoch in range(epochs):
        difficulty = scheduler.get_difficulty(epoch)

        # Use difficulty to filter data or adjust loss weights
        config.loss_weights.ranking = 0.1 * difficulty
        seen.append(config.loss_weights.ranking)
    assert seen[0] == pytest.approx(0.01)
    assert seen[-1] == pytest.approx(0.1)
    assert seen == sorted(seen)
