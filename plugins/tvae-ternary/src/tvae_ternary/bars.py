"""The default run's quality bar: what a from-scratch run at n = 9 must reach (issue 11).

The one definition that everything checking a run against the bar reads: the test of the
default config, the docs' examples, the benchmarks. Each entry is (log key, comparison,
bound) on the run's final validation: every operation decodes, the levels are ordered
(``hierarchy`` at most -0.830, just above n = 9's ceiling of -0.83205), and the pair-weighted
and the level- and depth-balanced accuracies (the worst level pair, the worst depth) are at
least 0.99. Imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping

#: (key, ">=" or "<=", bound) for each bar, on a run's final ``val/`` logs.
QUALITY_BAR: tuple[tuple[str, str, float], ...] = (
    ("val/coverage", ">=", 1.0),
    ("val/hierarchy", "<=", -0.830),
    ("val/radial_accuracy", ">=", 0.99),
    ("val/triplet_accuracy", ">=", 0.99),
    ("val/level_radial_accuracy", ">=", 0.99),
    ("val/depth_triplet_accuracy", ">=", 0.99),
)


def meets(value: float | None, op: str, bound: float) -> bool:
    """Whether ``value`` passes one bar (a missing value does not)."""
    if value is None:
        return False
    return value >= bound if op == ">=" else value <= bound


def bar_misses(final: Mapping[str, float | None]) -> list[str]:
    """The bars ``final`` misses, each as ``key value (bar op bound)``; a missing key misses."""
    return [
        f"{key} {final.get(key)} (bar {op} {bound})"
        for key, op, bound in QUALITY_BAR
        if not meets(final.get(key), op, bound)
    ]
