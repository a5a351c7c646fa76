"""Compatibility: the built-in optimizer and schedule factories moved to ``tvae_core._engine.optim``.

Kept for code written against the old private path (``benchmarks/quality.py`` on the
``science`` branch); remove once nothing imports it.
"""

from tvae_core._engine.optim import adam, adamw, constant, cosine, sgd, warmup_cosine

__all__ = ["adam", "adamw", "constant", "cosine", "sgd", "warmup_cosine"]
