"""A plugin whose metric declares its directions at registration (issue 12, item 11).

``scores`` logs ``falling`` (-1, -2, ... : lower is better), ``rising`` (1, 2, ...: higher
is better) and ``ceiling`` (a constant with no best), one step per validation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tvae_core import hookimpl


def scores() -> Any:
    calls = [0]

    def metric(outputs: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, float]:
        calls[0] += 1
        return {"falling": -float(calls[0]), "rising": float(calls[0]), "ceiling": 1.0}

    return metric


@hookimpl
def tvae_register_metrics(register: Any) -> None:
    register(
        "scores",
        scores,
        description="falling, rising and a constant ceiling",
        higher_is_better={"falling": False, "rising": True, "ceiling": None},
    )
