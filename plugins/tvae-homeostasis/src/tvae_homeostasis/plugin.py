"""The tvae plugin module of tvae-homeostasis: registers the ``homeostasis`` and ``curriculum`` callbacks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvae_core import hookimpl
from tvae_homeostasis import __version__

if TYPE_CHECKING:
    from tvae_core import RegisterFn

__all__ = ["__version__", "tvae_register_callbacks"]

_IMPL = "tvae_homeostasis._callbacks"


@hookimpl
def tvae_register_callbacks(register: RegisterFn) -> None:
    register(
        "homeostasis",
        f"{_IMPL}:HomeostasisCallback",
        description="Adapt the KL weight (beta) each epoch to keep the KL within target ± tolerance",
    )
    register(
        "curriculum",
        f"{_IMPL}:CurriculumCallback",
        description="Ramp loss weights from start to end difficulty over warmup_epochs",
    )
