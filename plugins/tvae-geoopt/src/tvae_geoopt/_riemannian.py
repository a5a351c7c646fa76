"""geoopt's Riemannian optimizers, starting without ``torch._dynamo``: the inner ones of the facades.

:class:`tvae_core.optim.EagerStart` comes after geoopt's class in each MRO, so geoopt's own
overrides (its ``add_param_group`` adding ``stabilize``, its ``step``) run unchanged and
their ``super()`` calls reach torch's ``Optimizer`` methods without the compiler wrappers
whose first call imports ``torch._dynamo``. Imported only when a manifold parameter is
optimized, as it imports geoopt.
"""

from __future__ import annotations

import geoopt

from tvae_core.optim import EagerStart

__all__ = ["EagerRiemannianAdam", "EagerRiemannianSGD"]


class EagerRiemannianAdam(geoopt.optim.RiemannianAdam, EagerStart):
    """``geoopt.optim.RiemannianAdam`` that starts without importing ``torch._dynamo``."""


class EagerRiemannianSGD(geoopt.optim.RiemannianSGD, EagerStart):
    """``geoopt.optim.RiemannianSGD`` that starts without importing ``torch._dynamo``."""
