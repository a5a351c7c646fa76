"""``tvae export``: a trained model's embeddings of its whole evaluation set, as ``.npz``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tvae_core._checkpoint import check_run_checkpoint, load_checkpoint
from tvae_core._config import build_config
from tvae_core._errors import UsageError
from tvae_core._plugins import PluginManager


def model_from_checkpoint(source: str | Path, plugins: PluginManager | None = None) -> Any:
    """A trainer built from a checkpoint's config with its weights loaded (eval only)."""
    from tvae_core._checkpoint import load_model_state
    from tvae_core._engine import Trainer

    path = Path(source)
    ckpt_path = path / "checkpoints" / "last.pt" if path.is_dir() else path
    best = path / "checkpoints" / "best.pt" if path.is_dir() else None
    if best is not None and best.is_file():
        ckpt_path = best
    ckpt = load_checkpoint(ckpt_path)
    check_run_checkpoint(ckpt, ckpt_path)
    config = build_config(ckpt["config"], source=str(ckpt_path))
    config.trainer.progress = False
    trainer = Trainer(config, plugins=plugins).setup()
    load_model_state(trainer.model, ckpt["model_state_dict"], ckpt_path)
    trainer.model.eval()
    return trainer, ckpt_path


def export_embeddings(
    source: str | Path, out: str | Path | None = None, plugins: PluginManager | None = None
) -> Path:
    """Write ``index``, ``z`` (posterior means on the ball), ``recon`` and ``curvature``."""
    import numpy as np

    trainer, _ = model_from_checkpoint(source, plugins)
    outputs, batch = trainer.evaluate()
    if "z_mean" not in outputs:
        raise UsageError(
            f"model {trainer.config.model.name!r} produces no 'z_mean' output to export"
        )
    arrays: dict[str, Any] = {"z": outputs["z_mean"].float().cpu().numpy()}
    if "index" in batch:
        arrays["index"] = batch["index"].cpu().numpy()
    if "logits" in outputs:
        arrays["recon"] = (outputs["logits"].argmax(-1) - 1).to(torch.int8).cpu().numpy()
    if "curvature" in outputs:
        arrays["curvature"] = np.asarray(float(outputs["curvature"]))
    if "valuation" in batch:
        arrays["valuation"] = batch["valuation"].cpu().numpy()
    src = Path(source)
    target = (
        Path(out)
        if out is not None
        else (src / "embeddings.npz" if src.is_dir() else src.with_suffix(".npz"))
    )
    np.savez(target, **arrays)
    return target
