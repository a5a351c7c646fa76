"""``tvae evaluate``: the validation metrics of a trained model, without training.

The run's own config is rebuilt from the checkpoint (``--set`` changes it: another data
split, more metrics, another device), the checkpoint's state is loaded, and the engine's own
:meth:`Trainer.validate` runs once. On the run's own data and device this gives exactly the
``val/*`` values of the run's last validation when the checkpoint is the one written after it
(``last.pt`` of a run that ended normally): the weights are the same, and validation draws
its random numbers (sampled loss terms and metrics) from its own seeded stream.

One exception, by design: ``val/loss`` is the weighted total with the loss weights saved in
the checkpoint, i.e. after the last epoch's callbacks; a callback that changes weights at
the end of an epoch (the homeostat on the KL weight) moves ``val/loss``, not the terms.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tvae_core._config.files import build_config
from tvae_core._config.overrides import apply_overrides
from tvae_core._engine.trainer import Trainer
from tvae_core._plugins.manager import PluginManager
from tvae_core._run.checkpoint import check_run_checkpoint, load_checkpoint
from tvae_core._run.rundir import resolve_checkpoint


def evaluate(
    source: str | Path,
    *,
    checkpoint: str = "last",
    overrides: Iterable[str] = (),
    plugins: PluginManager | None = None,
) -> dict[str, Any]:
    """Validate the model of ``source`` once; the result is plain data (``--json`` prints it).

    ``source`` and ``checkpoint`` are as :func:`tvae_core.resolve_checkpoint` takes them: a
    run folder with ``last`` (default), ``best`` (``last.pt`` when the run wrote no
    ``best.pt``) or a file name or path, or a checkpoint file.
    """
    ref = resolve_checkpoint(source, checkpoint)
    path, run = ref.path, ref.run_dir
    state = load_checkpoint(path)
    check_run_checkpoint(state, path)
    sets = list(overrides)
    data = apply_overrides(state["config"], sets)
    # Callbacks take no part in validation; building them (a TensorBoard writer, an MLflow
    # run) would only leave traces of a run that is not happening.
    data["callbacks"] = []
    data.setdefault("trainer", {})["progress"] = False
    config = build_config(data, source=str(path))
    trainer = Trainer(config, plugins=plugins, source=str(path)).setup()
    trainer.load_state(state, path)
    metrics = trainer.validate()
    return {
        "run": str(run) if run is not None else None,
        "checkpoint": str(path),
        "epoch": int(state["epoch"]),
        "overrides": sets,
        "device": str(trainer.device),
        "data": dict(config.data.model_dump(mode="json")),
        "metrics": metrics,
    }
