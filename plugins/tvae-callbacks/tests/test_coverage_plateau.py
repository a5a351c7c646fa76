from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tvae_callbacks import CoveragePlateauCallback


def run(cb: CoveragePlateauCallback, values: list[float | None]) -> int | None:
    for epoch, value in enumerate(values):
        cb.on_epoch_end(epoch, {} if value is None else {"val/coverage": value})
        if cb.should_stop():
            return epoch
    return None


def test_stops_when_the_target_is_reached() -> None:
    cb = CoveragePlateauCallback(threshold=0.95)
    assert run(cb, [0.2, 0.6, 0.96, 0.97]) == 2
    assert (
        cb.stop_reason
        == "coverage target reached: val/coverage = 0.9600 >= threshold 0.95 at epoch 3"
    )


def test_stops_when_coverage_stalls() -> None:
    cb = CoveragePlateauCallback(patience=3, min_improvement=0.01)
    assert run(cb, [0.5, 0.505, 0.509, 0.508, 0.6]) == 3
    assert cb.stop_reason is not None
    assert cb.stop_reason.startswith(
        "coverage plateau: val/coverage gained less than 0.01 for 3 epochs"
    )
    assert "best 0.5000 at epoch 1" in cb.stop_reason


def test_a_gain_of_exactly_min_improvement_counts() -> None:
    cb = CoveragePlateauCallback(patience=1, min_improvement=0.01)
    assert run(cb, [0.06, 0.07, 0.08, 0.09]) is None


def test_nan_is_a_stall_and_patience_counts_epochs_not_validations() -> None:
    cb = CoveragePlateauCallback(patience=2)
    # best at epoch 1; the NaN at epoch 3 is 2 epochs later (one validation without gain)
    assert run(cb, [0.5, None, math.nan, None, math.nan]) == 2
    assert cb.stop_reason is not None and "for 2 epochs" in cb.stop_reason
    longer = CoveragePlateauCallback(patience=4)
    assert run(longer, [0.5, None, math.nan, None, math.nan]) == 4


def test_a_percentage_is_rejected() -> None:
    cb = CoveragePlateauCallback()
    with pytest.raises(
        ValueError, match=r"val/coverage = 95 at epoch 1 is not a fraction in \[0, 1\]"
    ):
        cb.on_epoch_end(0, {"val/coverage": 95.0})


def test_seed_spelling_and_trainer_stop(fake_trainer) -> None:
    cb = CoveragePlateauCallback(monitor="val_coverage", threshold=0.9)
    cb.on_fit_start(fake_trainer)
    cb.on_epoch_end(0, {"val/coverage": 1.0})
    assert fake_trainer.control.stop_reason == cb.stop_reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 95.0}, r"threshold must be a fraction in \(0, 1\]"),
        ({"patience": 0}, "patience must be >= 1"),
        ({"min_improvement": -0.1}, "min_improvement must be a finite number >= 0"),
    ],
)
def test_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CoveragePlateauCallback(**kwargs)  # type: ignore[arg-type]


fractions = st.lists(st.one_of(st.none(), st.floats(0.0, 1.0), st.just(math.nan)), max_size=30)


@given(values=fractions, patience=st.integers(1, 5))
def test_stops_only_for_a_reason_and_resumes_identically(
    values: list[float | None], patience: int
) -> None:
    cb = CoveragePlateauCallback(patience=patience, threshold=0.99)
    stopped = run(cb, values)
    if stopped is not None:
        reached = values[stopped] is not None and values[stopped] >= 0.99  # type: ignore[operator]
        assert reached or cb.wait >= patience
        assert cb.stop_reason is not None
        assert cb.stop_reason.startswith(
            "coverage target reached" if reached else "coverage plateau"
        )
    half = len(values) // 2
    first = CoveragePlateauCallback(patience=patience, threshold=0.99)
    if run(first, values[:half]) is not None:
        return
    resumed = CoveragePlateauCallback(patience=patience, threshold=0.99)
    resumed.load_state_dict(first.state_dict())
    again = None
    for epoch in range(half, len(values)):
        value = values[epoch]
        resumed.on_epoch_end(epoch, {} if value is None else {"val/coverage": value})
        if resumed.should_stop():
            again = epoch
            break
    assert again == stopped
