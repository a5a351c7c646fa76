"""Optimizers that start without importing ``torch._dynamo``, for plugins that build their own.

torch's ``Optimizer`` wraps ``add_param_group`` (called by every constructor), ``step``,
``zero_grad``, ``state_dict`` and ``load_state_dict`` in decorators whose first call imports
``torch._dynamo`` only to tell the compiler to leave them alone: 1-2.5 s of a run's start on a
shared CPU, about as long as ``import torch``. :class:`EagerStart` calls the functions under
those decorators while nothing is being compiled, and torch's decorated methods while
something is; steps, states and hooks are torch's, bit for bit. tvae's own ``adam``,
``adamw`` and ``sgd`` are :class:`Adam`, :class:`AdamW` and :class:`SGD` below.

Put it before torch's optimizer class in yours::

    class Lion(EagerStart, torch.optim.Optimizer): ...

and, to speed up a third-party optimizer whose overrides must still run, after that class
(its ``super()`` calls then reach torch's methods through :class:`EagerStart`)::

    class FastRiemannianAdam(geoopt.optim.RiemannianAdam, EagerStart): ...

Importing this module imports torch.
"""

from __future__ import annotations

from tvae_core._engine.optim import SGD, Adam, AdamW, EagerStart

__all__ = ["SGD", "Adam", "AdamW", "EagerStart"]
