from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tvae_callbacks import EarlyStoppingCallback


def run(cb: EarlyStoppingCallback, values: list[float | None], key: str = "val/loss") -> int | None:
    """Feed one value per epoch (None: no validation that epoch); the epoch it stops at."""
    for epoch, value in enumerate(values):
        cb.on_epoch_end(epoch, {} if value is None else {key: value})
        if cb.should_stop():
            return epoch
    return None


def test_stops_after_patience_epochs_without_improvement() -> None:
    cb = EarlyStoppingCallback(patience=3, min_delta=0.0)
    assert run(cb, [5.0, 4.0, 4.0, 4.5, 4.0, 3.0]) == 4
    assert cb.stop_reason is not None
    assert "val/loss did not improve" in cb.stop_reason
    assert "best 4 at epoch 2" in cb.stop_reason


def test_improvements_smaller_than_min_delta_do_not_count() -> None:
    cb = EarlyStoppingCallback(patience=2, min_delta=0.1)
    assert run(cb, [1.0, 0.95, 0.91, 0.5]) == 2
    assert cb.best == 1.0


def test_mode_max_watches_for_increases() -> None:
    cb = EarlyStoppingCallback(patience=2, monitor="val/coverage", mode="max", min_delta=0.0)
    assert run(cb, [0.1, 0.5, 0.9, 0.9, 0.8], key="val/coverage") == 4
    assert cb.best == 0.9


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_never_improve(bad: float) -> None:
    cb = EarlyStoppingCallback(patience=2, min_delta=0.0)
    assert run(cb, [1.0, bad, bad]) == 2
    assert cb.best == 1.0


def test_never_finite_says_so() -> None:
    cb = EarlyStoppingCallback(patience=2)
    assert run(cb, [math.nan, math.nan]) == 1
    assert cb.stop_reason is not None and "never finite" in cb.stop_reason


def test_patience_counts_epochs_not_validations() -> None:
    # validation every 5 epochs: patience 20 is 4 validations without improvement
    values: list[float | None] = [None] * 60
    for i, v in zip(range(4, 60, 5), [3.0, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5], strict=False):
        values[i] = v
    cb = EarlyStoppingCallback(patience=20, min_delta=0.0)
    assert run(cb, values) == 29  # best at epoch 10, the 4th validation after it is epoch 30
    assert cb.wait == 20 and cb.best_epoch == 10
    assert cb.stop_reason is not None and "for 20 epochs (best 2 at epoch 10)" in cb.stop_reason


def test_epochs_without_the_metric_never_stop_by_themselves() -> None:
    cb = EarlyStoppingCallback(patience=2, min_delta=0.0)
    assert run(cb, [1.0, None, None, None]) is None
    assert run(cb, [1.0, None, None, None, 2.0]) == 4


def test_a_checkpoint_from_when_patience_counted_validations_still_loads() -> None:
    # state written before since_epoch existed: wait was 1 validation, best at epoch 10
    old = {"monitor": "val/loss", "mode": "min", "best": 2.0, "best_epoch": 10, "wait": 1}
    cb = EarlyStoppingCallback(patience=20, min_delta=0.0)
    cb.load_state_dict(old)
    assert cb.since_epoch == 10
    cb.on_epoch_end(24, {"val/loss": 2.5})  # epoch 25: 15 epochs since the best
    assert not cb.should_stop() and cb.wait == 15
    cb.on_epoch_end(29, {"val/loss": 2.5})  # epoch 30: 20 epochs
    assert cb.should_stop()


def test_a_loop_numbering_its_epochs_afresh_restarts_the_count() -> None:
    cb = EarlyStoppingCallback(patience=2, min_delta=0.0)
    assert run(cb, [1.0, 2.0]) is None
    assert run(cb, [2.0, 2.0, 2.0]) == 1  # a second loop from epoch 0 still stops


@pytest.mark.parametrize(
    ("monitor", "logged"), [("val_loss", "val/loss"), ("val/loss", "val_loss")]
)
def test_both_spellings_of_the_key_work(monitor: str, logged: str) -> None:
    cb = EarlyStoppingCallback(patience=1, monitor=monitor, min_delta=0.0)
    assert run(cb, [1.0, 1.0], key=logged) == 1
    assert cb.stop_reason is not None and logged in cb.stop_reason


def test_asks_the_trainer_to_stop(fake_trainer) -> None:
    cb = EarlyStoppingCallback(patience=1)
    cb.on_fit_start(fake_trainer)
    run(cb, [1.0, 2.0])
    assert fake_trainer.control.stop_requested
    assert fake_trainer.control.stop_reason == cb.stop_reason


def test_bad_settings_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="mode must be 'min' or 'max', found 'down'"):
        EarlyStoppingCallback(mode="down")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="patience must be >= 0"):
        EarlyStoppingCallback(patience=-1)
    with pytest.raises(ValueError, match="min_delta must be a finite number >= 0"):
        EarlyStoppingCallback(min_delta=-1.0)


def test_a_non_number_is_named() -> None:
    cb = EarlyStoppingCallback()
    with pytest.raises(TypeError, match=r"logs\['val/loss'\] must be a number"):
        cb.on_epoch_end(0, {"val/loss": "low"})


def test_state_is_plain_data_and_ignored_for_another_monitor() -> None:
    cb = EarlyStoppingCallback(patience=5)
    run(cb, [1.0, 2.0])
    state = cb.state_dict()
    assert state["best"] == 1.0 and state["wait"] == 1
    other = EarlyStoppingCallback(monitor="val/kl")
    other.load_state_dict(state)
    assert other.best is None and other.wait == 0


values = st.lists(
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32)), max_size=30
)


@given(values=values, split=st.integers(0, 30), patience=st.integers(0, 5))
def test_resuming_from_state_matches_an_uninterrupted_run(
    values: list[float | None], split: int, patience: int
) -> None:
    whole = EarlyStoppingCallback(patience=patience)
    expected = run(whole, values)
    split = min(split, len(values))
    if expected is not None and expected < split:
        return  # the run stopped before the checkpoint
    first = EarlyStoppingCallback(patience=patience)
    assert run(first, values[:split]) is None
    resumed = EarlyStoppingCallback(patience=patience)
    resumed.load_state_dict(first.state_dict())
    stopped = None
    for epoch in range(split, len(values)):
        value = values[epoch]
        resumed.on_epoch_end(epoch, {} if value is None else {"val/loss": value})
        if resumed.should_stop():
            stopped = epoch
            break
    assert stopped == expected
    assert resumed.stop_reason == whole.stop_reason
