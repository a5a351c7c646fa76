"""``tvae evaluate``: the validation metrics of a trained model, without training.

The run's own config is rebuilt from the checkpoint (``--set`` changes it: another data
split, more metrics, another device), the checkpoint's state is loaded, and the engine's own
:meth:`Trainer.validate` runs once. On the run's own data and device this gives exactly the
``val/*`` values of the run's last validation when the checkpoint is the one written after it
(``last.pt`` of a run that ended normally): the weights are the same, and validation draws
its random numbers (sampled loss terms) from its own seeded stream.

One exception, by design: ``val/loss`` is the weighted total with the loss weights saved in
the checkpoint, i.e. after the last epoch's callbacks; a callback that changes weights at
the end of an epoch (the homeostat on the KL weight) moves ``val/loss``, not the terms.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tvae_core._errors import UsageError

CHECKPOINT_CHOICES = ("last", "best")


def resolve_checkpoint(
    source: str | Path, checkpoint: str | None = None
) -> tuple[Path, Path | None]:
    """The checkpoint file ``source`` (a run folder or a file) and ``--checkpoint`` name.

    Returns the file and the run folder it belongs to (None for a loose checkpoint).
    """
    src = Path(source)
    if src.is_dir():
        which = checkpoint or "last"
        if which in CHECKPOINT_CHOICES:
            path = src / "checkpoints" / f"{which}.pt"
            if not path.is_file():
                have = sorted(p.name for p in (src / "checkpoints").glob("*.pt"))
                hint = f" (it has: {', '.join(have)})" if have else ""
                raise UsageError(f"{src}: no checkpoints/{which}.pt to evaluate{hint}")
            return path, src
        path = Path(which)
        if not path.is_absolute() and not path.exists():
            path = src / "checkpoints" / which
        return path, src
    if checkpoint is not None:
        raise UsageError(
            f"--checkpoint {checkpoint}: give it with a run folder, not with the checkpoint file {src}"
        )
    if not src.exists():
        raise UsageError(f"{src}: no such run folder or checkpoint file")
    run = src.parent.parent if src.parent.name == "checkpoints" else None
    return src, run if run is not None and (run / "run.json").is_file() else None


def evaluate(
    source: str | Path,
    *,
    checkpoint: str | None = None,
    overrides: Iterable[str] = (),
    plugins: Any = None,
) -> dict[str, Any]:
    """Validate the model of ``source`` once; the result is plain data (``--json`` prints it)."""
    from tvae_core._checkpoint import check_run_checkpoint, load_checkpoint
    from tvae_core._config import apply_overrides, build_config
    from tvae_core._engine import Trainer

    path, run = resolve_checkpoint(source, checkpoint)
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
