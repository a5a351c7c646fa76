"""The default run's quality bar: one definition, and what a run misses of it."""

from __future__ import annotations

from tvae_ternary.bars import QUALITY_BAR, bar_misses, meets


def test_the_bar_holds_the_pair_weighted_and_the_balanced_accuracies() -> None:
    keys = [key for key, _, _ in QUALITY_BAR]
    assert keys == [
        "val/coverage",
        "val/hierarchy",
        "val/radial_accuracy",
        "val/triplet_accuracy",
        "val/level_radial_accuracy",
        "val/depth_triplet_accuracy",
    ]
    assert dict((k, (op, b)) for k, op, b in QUALITY_BAR)["val/hierarchy"] == ("<=", -0.830)


def test_misses_name_each_bar_a_run_misses() -> None:
    perfect = {key: (-0.832 if op == "<=" else 1.0) for key, op, _ in QUALITY_BAR}
    assert bar_misses(perfect) == []
    worse = {**perfect, "val/coverage": 0.9999, "val/hierarchy": -0.82}
    del worse["val/depth_triplet_accuracy"]
    assert bar_misses(worse) == [
        "val/coverage 0.9999 (bar >= 1.0)",
        "val/hierarchy -0.82 (bar <= -0.83)",
        "val/depth_triplet_accuracy None (bar >= 0.99)",
    ]


def test_a_bound_itself_passes() -> None:
    assert meets(0.99, ">=", 0.99) and meets(-0.83, "<=", -0.83)
    assert not meets(None, ">=", 0.0) and not meets(0.98, ">=", 0.99)
