"""β homeostasis and curriculum schedules for tvae.

- :class:`HomeostasisController` adapts the KL weight β so that the KL stays within
  ``target_kl ± kl_tolerance`` (the seed's ``src.models.HomeostasisController``);
- :class:`CurriculumScheduler` ramps a difficulty over epochs (the seed's
  ``src.models.CurriculumScheduler``);
- the callbacks ``homeostasis`` (:class:`HomeostasisCallback`) and ``curriculum``
  (:class:`CurriculumCallback`) drive a run's loss weights with them.

Nothing here imports torch.
"""

from __future__ import annotations

from tvae_homeostasis._callbacks import CurriculumCallback, HomeostasisCallback
from tvae_homeostasis._controller import HomeostasisController
from tvae_homeostasis._curriculum import CurriculumScheduler

__version__ = "0.1.0"

__all__ = [
    "CurriculumCallback",
    "CurriculumScheduler",
    "HomeostasisCallback",
    "HomeostasisController",
    "__version__",
]
