"""``tvae export RUN|CHECKPOINT``: the embedding of every operation of a trained run, as ``.npz``.

The model is rebuilt from the checkpoint's own config (with the installed plugins), its
weights loaded strictly, and evaluated in eval mode on all 3^n operations — those the
dataset trains on and those its split holds out — in index order. The file holds:

    index       (N,)    int64   operation index 0..3^n-1
    z           (N, D)  float32 posterior mean on the ball (the model's ``z_mean``)
    recon       (N, n)  int8    decoded trits (argmax of ``logits``), when the model gives logits
    valuation   (N,)    int64   3-adic valuation, v(0) = n
    train       (N,)    bool    False for the operations the dataset's split holds out
    curvature   ()      float   the ball's curvature, when the model gives it

torch and numpy are imported inside the functions: listing commands stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tvae_core import UsageError

if TYPE_CHECKING:
    from tvae_core import PluginManager


@dataclass(frozen=True)
class Exported:
    """What :func:`export_run` wrote: the file, the checkpoint it came from, the rows."""

    path: Path
    checkpoint: Path
    epoch: int
    rows: int
    train_rows: int

    def describe(self) -> str:
        held = self.rows - self.train_rows
        return (
            f"exported {self.rows} operations ({self.train_rows} trained on, {held} held out) "
            f"from {self.checkpoint} (epoch {self.epoch}) to {self.path}"
        )


def _default_target(source: Path) -> Path:
    return source / "embeddings.npz" if source.is_dir() else source.with_suffix(".npz")


def export_run(
    source: str | Path,
    out: str | Path | None = None,
    *,
    checkpoint: str = "last",
    plugins: PluginManager | None = None,
) -> Exported:
    """Write every operation's embedding of a run (see the module docstring).

    ``source`` is a run folder or a checkpoint file; ``checkpoint`` picks ``last`` (the
    default), ``best`` or a checkpoint of the run folder (:func:`tvae_core.resolve_checkpoint`).
    ``out`` defaults to ``<run>/embeddings.npz``, or the checkpoint's name with ``.npz``.
    """
    import numpy as np
    import torch

    from tvae_core import model_from_checkpoint
    from tvae_ternary.data import ternary_tensors

    trainer, ckpt_path = model_from_checkpoint(source, plugins, checkpoint=checkpoint)
    dataset = trainer.dataset
    n_trits = getattr(dataset, "n_trits", None)
    if not isinstance(n_trits, int):
        raise UsageError(
            f"dataset {trainer.config.data.name!r} is not a space of ternary operations "
            "(it has no n_trits)",
            where="export",
            hint="export runs of the ternary_ops dataset",
        )
    everything = {k: v.to(trainer.device) for k, v in ternary_tensors(n_trits).items()}
    size = len(everything["index"])
    step = int(getattr(dataset, "eval_batch_size", 0) or 4096)
    parts: dict[str, list[torch.Tensor]] = {}
    scalars: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for start in range(0, size, step):
            batch = {k: v[start : start + step] for k, v in everything.items()}
            for key, value in trainer.model(batch).items():
                if value.dim() > 0 and len(value) == len(batch["index"]):
                    parts.setdefault(key, []).append(value)
                else:
                    scalars[key] = value
    outputs = {k: torch.cat(v) for k, v in parts.items()}
    if "z_mean" not in outputs:
        raise UsageError(
            f"model {trainer.config.model.name!r} produces no 'z_mean' output to export",
            where="export",
        )
    trained = torch.isin(everything["index"], dataset.tensors["index"].to(trainer.device))
    arrays: dict[str, Any] = {
        "index": everything["index"].cpu().numpy(),
        "z": outputs["z_mean"].float().cpu().numpy(),
        "valuation": everything["valuation"].cpu().numpy(),
        "train": trained.cpu().numpy(),
    }
    if "logits" in outputs:
        arrays["recon"] = (outputs["logits"].argmax(-1) - 1).to(torch.int8).cpu().numpy()
    curvature = outputs.get("curvature", scalars.get("curvature"))
    if curvature is not None:
        arrays["curvature"] = np.asarray(float(curvature.reshape(-1)[0]))
    target = Path(out) if out is not None else _default_target(Path(source))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as fh:  # savez appends .npz to a name; a file object keeps it
            np.savez(fh, **arrays)
    except OSError as exc:  # --out a folder, below a file, or where nothing may be written
        raise UsageError(
            f"cannot write {target}: {exc.strerror or exc}",
            where="export --out",
            hint="give a file path in a folder you can write to",
        ) from None
    return Exported(target, ckpt_path, trainer.epoch, size, int(trained.sum()))


def register_export_command(app: Any) -> None:
    """Add ``tvae export SOURCE [--checkpoint last|best|PATH] [--out FILE]`` to the CLI."""
    import typer

    @app.command("export")
    def export(
        source: Path = typer.Argument(..., help="A run folder or a checkpoint file."),
        checkpoint: str = typer.Option(
            "last",
            "--checkpoint",
            "-c",
            help="For a run folder: last (default), best, or a checkpoint file.",
        ),
        out: Path | None = typer.Option(
            None,
            "--out",
            "-o",
            help="The .npz to write (default: <run>/embeddings.npz or beside the checkpoint).",
        ),
        plugin: list[str] | None = typer.Option(
            None,
            "--plugin",
            "-p",
            help="Load a plugin by module name or .py path; 'no:NAME' blocks one. Repeatable.",
        ),
    ) -> None:
        """Write every operation's posterior mean (and decoding, and train/held-out flag) to an .npz."""
        from tvae_core import PluginManager

        done = export_run(source, out, checkpoint=checkpoint, plugins=PluginManager(plugin or []))
        typer.echo(done.describe())
