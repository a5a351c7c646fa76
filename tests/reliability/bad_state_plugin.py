"""A callback whose checkpoint state holds what a safe load refuses (issue 12, item 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tvae_core import Callback, hookimpl


class BadState(Callback):
    """Saves a ``Path`` or a numpy scalar in its state, as a careless plugin would."""

    def __init__(self, kind: str = "path") -> None:
        self.kind = kind

    def state_dict(self) -> dict[str, Any]:
        value: Any = Path("somewhere") if self.kind == "path" else np.float64(0.5)
        return {"ok": 1, "bad": [value]}


@hookimpl
def tvae_register_callbacks(register: Any) -> None:
    register("bad_state", BadState, description="a callback whose state cannot be loaded")
