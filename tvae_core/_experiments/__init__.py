"""Runs of runs, above the engine: ``tvae sweep`` (grids, seeds, searches) and ``tvae evaluate``.

Both drive ordinary :class:`tvae_core.Trainer` runs and read run folders back through
:mod:`tvae_core._run.history`; nothing below this layer knows of them. ``tvae_core.Sweep`` is
the public name of what a search backend gets.
"""
