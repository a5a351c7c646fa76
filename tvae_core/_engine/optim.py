"""Factories of the built-in optimizers and learning-rate schedules."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler


def _fused_ok(params: list[Any]) -> bool | None:
    """Fused Adam kernels exist for floating tensors on CPU and CUDA in recent torch."""
    tensors = [
        p for group in params for p in (group["params"] if isinstance(group, dict) else [group])
    ]
    if not tensors or not all(
        isinstance(t, torch.Tensor) and t.is_floating_point() for t in tensors
    ):
        return None
    devices = {t.device.type for t in tensors}
    return True if devices <= {"cpu", "cuda"} and len(devices) == 1 else None


def adam(
    params: Iterable[Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    fused: bool | None = None,
) -> torch.optim.Optimizer:
    """Adam.

    Args:
        lr: learning rate.
        betas: coefficients of the running averages of the gradient and its square.
        eps: term added to the denominator for numerical stability.
        weight_decay: L2 penalty added to the gradient.
        fused: use the fused kernel; None picks it when every parameter allows it.
    """
    params = list(params)
    if fused is None:
        fused = _fused_ok(params)
    return torch.optim.Adam(
        params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused
    )


def adamw(
    params: Iterable[Any],
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    fused: bool | None = None,
) -> torch.optim.Optimizer:
    """AdamW.

    Args:
        lr: learning rate.
        betas: coefficients of the running averages of the gradient and its square.
        eps: term added to the denominator for numerical stability.
        weight_decay: decoupled weight decay.
        fused: use the fused kernel; None picks it when every parameter allows it.
    """
    params = list(params)
    if fused is None:
        fused = _fused_ok(params)
    return torch.optim.AdamW(
        params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused
    )


def sgd(
    params: Iterable[Any],
    lr: float = 1e-2,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> torch.optim.Optimizer:
    """SGD.

    Args:
        lr: learning rate.
        momentum: momentum factor.
        nesterov: use Nesterov momentum.
        weight_decay: L2 penalty added to the gradient.
    """
    return torch.optim.SGD(
        params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
    )


def constant(optimizer: torch.optim.Optimizer) -> LRScheduler:
    """Constant learning rate."""
    return LambdaLR(optimizer, lambda epoch: 1.0)


def cosine(
    optimizer: torch.optim.Optimizer, total_epochs: int = 100, min_lr_ratio: float = 0.0
) -> LRScheduler:
    """Cosine decay per epoch.

    Args:
        total_epochs: epochs of the decay; filled from the run's ``epochs`` when unset.
        min_lr_ratio: final learning rate as a fraction of the base rate.
    """
    return warmup_cosine(
        optimizer, warmup_epochs=0, total_epochs=total_epochs, min_lr_ratio=min_lr_ratio
    )


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    warmup_epochs: int = 5,
    total_epochs: int = 100,
    min_lr_ratio: float = 0.0,
    warmup_start_ratio: float = 0.1,
) -> LRScheduler:
    """Linear warm-up, then cosine decay, stepped per epoch.

    Args:
        warmup_epochs: epochs of linear warm-up.
        total_epochs: epochs of the whole schedule; filled from the run's ``epochs`` when unset.
        min_lr_ratio: final learning rate as a fraction of the base rate.
        warmup_start_ratio: first epoch's learning rate as a fraction of the base rate.
    """
    if warmup_epochs < 0 or total_epochs < 1:
        raise ValueError("warmup_epochs must be >= 0 and total_epochs >= 1")
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must lie in [0, 1], got {min_lr_ratio}")

    def factor(epoch: int) -> float:
        if epoch < warmup_epochs:
            return warmup_start_ratio + (1.0 - warmup_start_ratio) * epoch / max(1, warmup_epochs)
        span = max(1, total_epochs - warmup_epochs)
        progress = min(1.0, (epoch - warmup_epochs) / span)
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
