"""The engine: a run built from its config and trained; it needs torch.

``Trainer`` is importable from here on first use (``tvae_core.Trainer`` is the public name);
importing the package itself imports nothing.
"""

from typing import TYPE_CHECKING

from tvae_core._lazy import lazy_exports

__all__ = ["RunSummary", "Trainer", "model_from_checkpoint"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Trainer": "tvae_core._engine.trainer",
        "RunSummary": "tvae_core._engine.records",
        "model_from_checkpoint": "tvae_core._engine.trainer",
    },
    __all__,
)

if TYPE_CHECKING:
    from tvae_core._engine.records import RunSummary
    from tvae_core._engine.trainer import Trainer, model_from_checkpoint
