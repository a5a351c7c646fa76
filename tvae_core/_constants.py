"""Defaults that more than one module needs: one source of truth each."""

from __future__ import annotations

#: Max gradient norm the trainer clips to unless ``trainer.grad_clip`` says otherwise.
DEFAULT_GRAD_CLIP = 1.0

#: Metric keys: ``train/<name>``, ``val/<name>``, ``lr``, ``beta``.
TRAIN_PREFIX = "train/"
VAL_PREFIX = "val/"
