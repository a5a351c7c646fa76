"""The tvae plugin module of tvae-optuna: the search backend ``optuna`` of ``tvae sweep``.

The hook imports Optuna only when a sweep's search runs, so listing plugins stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tvae_core import hookimpl
from tvae_optuna import __version__

if TYPE_CHECKING:
    from tvae_core import Sweep

__all__ = ["__version__", "tvae_sweep_search"]

BACKEND = "optuna"


@hookimpl
def tvae_sweep_search(
    sweep: Sweep, worker: bool, max_trials: int | None
) -> Mapping[str, Any] | None:
    """Run ``sweep``'s ``search:`` section when its backend is ``optuna`` (the default)."""
    if str((sweep.search or {}).get("backend", BACKEND)) != BACKEND:
        return None
    from tvae_optuna.search import run_search

    return run_search(sweep, worker=worker, max_trials=max_trials)
