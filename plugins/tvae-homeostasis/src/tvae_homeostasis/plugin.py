"""The tvae plugin module of tvae-homeostasis: the callbacks ``homeostasis`` and ``curriculum``.

Factories are lazy ``"module:attribute"`` strings with descriptions, so listing components
imports nothing heavy.
"""

from __future__ import annotations

from tvae_core import RegisterFn, hookimpl
from tvae_homeostasis import __version__

__all__ = ["__version__", "tvae_register_callbacks"]

_PKG = "tvae_homeostasis"


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register(
        "homeostasis",
        f"{_PKG}._callbacks:HomeostasisCallback",
        description="Adapt the KL weight (beta) each epoch to keep the KL within target ± tolerance",
    )
    register(
        "curriculum",
        f"{_PKG}._callbacks:CurriculumCallback",
        description="Ramp loss weights from start to end difficulty over warmup_epochs",
    )
