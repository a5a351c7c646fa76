"""tvae-optuna: the ``search:`` section of ``tvae sweep`` files, run by Optuna.

- :func:`run_search` (behind the ``tvae_sweep_search`` hook): an Optuna study over config
  paths, each trial an ordinary tvae run folder; local worker processes, or any number of
  ``tvae sweep FILE --worker`` processes on one storage; resumable.
- :class:`OptunaPruning`: the callback that reports a trial's per-epoch validation metric to
  Optuna and stops the run when the pruner says so.
- :class:`SearchSpec`: the ``search:`` keys, checked.

Optuna is imported when a search runs, not when tvae lists its plugins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "OptunaPruning": "tvae_optuna.pruning",
    "SearchSpec": "tvae_optuna.spec",
    "ParamSpace": "tvae_optuna.spec",
    "run_search": "tvae_optuna.search",
    "open_storage": "tvae_optuna.search",
}

__all__ = ["OptunaPruning", "ParamSpace", "SearchSpec", "__version__", "open_storage", "run_search"]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)

if TYPE_CHECKING:
    from tvae_optuna.pruning import OptunaPruning
    from tvae_optuna.search import open_storage, run_search
    from tvae_optuna.spec import ParamSpace, SearchSpec
