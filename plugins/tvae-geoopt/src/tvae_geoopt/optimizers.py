"""``RiemannianAdam`` and ``RiemannianSGD``: geoopt's updates, torch's speed on ordinary weights.

geoopt is imported only when a manifold parameter is optimized (its inner optimizers live in
:mod:`tvae_geoopt._riemannian`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from tvae_core import optim
from tvae_geoopt.split import Params, SplitOptimizer


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_stabilize(stabilize: int | None) -> None:
    _check(
        stabilize is None or (isinstance(stabilize, int) and stabilize >= 1),
        f"stabilize must be None or a number of steps >= 1, got {stabilize!r}",
    )


class RiemannianAdam(SplitOptimizer):
    """Riemannian Adam: geoopt's update on manifold parameters, torch Adam on the rest.

    Drop-in for ``geoopt.optim.RiemannianAdam`` (same arguments, same results to float
    rounding): a ``geoopt.ManifoldParameter`` is updated by geoopt (Riemannian gradient,
    retraction, parallel transport of the first moment); every ordinary tensor by
    ``torch.optim.Adam``, whose update is what geoopt computes for it, with fused kernels.
    ``weight_decay`` is the L2 penalty of both (added to the gradient, not decoupled).

    Args:
        lr: learning rate.
        betas: coefficients of the running averages of the gradient and of its square.
        eps: term added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient (as in Adam and geoopt, not AdamW).
        amsgrad: use the AMSGrad variant (the maximum of the second moments so far).
        stabilize: every this many steps, project manifold parameters and their moments
            back onto the manifold to undo rounding drift; None never does.
        fused: torch's fused Adam kernel for ordinary parameters; None uses it wherever
            torch supports it (floating tensors on CPU or CUDA), False uses torch's default.
    """

    hyperparameters = ("lr", "betas", "eps", "weight_decay", "amsgrad")
    manifold_only = ("stabilize",)

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        stabilize: int | None = None,
        fused: bool | None = None,
    ) -> None:
        betas = (float(betas[0]), float(betas[1]))
        _check(math.isfinite(lr) and lr >= 0.0, f"lr must be a finite number >= 0, got {lr}")
        _check(eps >= 0.0, f"eps must be >= 0, got {eps}")
        _check(all(0.0 <= b < 1.0 for b in betas), f"betas must lie in [0, 1), got {betas}")
        _check(weight_decay >= 0.0, f"weight_decay must be >= 0, got {weight_decay}")
        _check_stabilize(stabilize)
        defaults: dict[str, Any] = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "stabilize": stabilize,
        }
        super().__init__(params, defaults, fused=fused)

    def _new_manifold_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        from tvae_geoopt._riemannian import EagerRiemannianAdam

        # geoopt has no type hints: its constructor's signature is unknown to the checker.
        make: Callable[..., torch.optim.Optimizer] = EagerRiemannianAdam
        return make(groups)

    def _new_euclidean_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        return optim.Adam(groups)


class RiemannianSGD(SplitOptimizer):
    """Riemannian SGD: geoopt's update on manifold parameters, torch SGD on the rest.

    Manifold parameters follow ``geoopt.optim.RiemannianSGD`` exactly; ordinary tensors
    follow ``torch.optim.SGD`` exactly. The two differ in one detail with momentum: geoopt
    seeds its momentum buffer with the first gradient and then applies the momentum
    update to it, so its first step is ``1 + momentum - dampening`` times torch's.

    Args:
        lr: learning rate.
        momentum: momentum factor; 0 is plain gradient descent.
        dampening: dampening of the momentum.
        weight_decay: L2 penalty added to the gradient.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
        stabilize: every this many steps, project manifold parameters and their momentum
            back onto the manifold to undo rounding drift; None never does.
        fused: torch's fused SGD kernel for ordinary parameters; None uses it wherever
            torch supports it (floating tensors on CPU or CUDA), False uses torch's default.
    """

    hyperparameters = ("lr", "momentum", "dampening", "weight_decay", "nesterov")
    manifold_only = ("stabilize",)
    # geoopt's SGD counts steps in its param groups (for ``stabilize``); keep it saved.
    mirrored = ("step",)

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        stabilize: int | None = None,
        fused: bool | None = None,
    ) -> None:
        _check(math.isfinite(lr) and lr >= 0.0, f"lr must be a finite number >= 0, got {lr}")
        _check(momentum >= 0.0, f"momentum must be >= 0, got {momentum}")
        _check(weight_decay >= 0.0, f"weight_decay must be >= 0, got {weight_decay}")
        _check(
            not nesterov or (momentum > 0.0 and dampening == 0.0),
            "nesterov needs momentum > 0 and dampening 0",
        )
        _check_stabilize(stabilize)
        defaults: dict[str, Any] = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "stabilize": stabilize,
        }
        super().__init__(params, defaults, fused=fused)

    def _new_manifold_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        from tvae_geoopt._riemannian import EagerRiemannianSGD

        make: Callable[..., torch.optim.Optimizer] = EagerRiemannianSGD
        return make(groups, lr=self.defaults["lr"])

    def _new_euclidean_optimizer(self, groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        return optim.SGD(groups)
