"""Plots of a run: the latent Poincaré disk coloured by valuation, and the training curves.

- :class:`LatentPlotCallback` (config name ``latent_plot``) writes ``<run_dir>/latent.png`` and
  ``<run_dir>/curves.png`` at the end of a run.
- ``tvae plot RUN_DIR [--checkpoint best|last|PATH]`` redraws both from a run's folder.

The disk: each operation's posterior mean on the ball is taken to the tangent space at the
origin (log_0); its angle in the plot is that of its projection onto the two leading principal
directions of those tangent vectors (about the origin, not the mean: the origin is where high
valuations belong), its length is kept, and exp_0 in 2-D maps it back. So every point keeps its
hyperbolic radius exactly (valuation shells show as rings) and stays inside the disk.
Coordinates are scaled by sqrt(c) so that the boundary is the unit circle for any curvature.

matplotlib (its object API on the Agg canvas, never pyplot, so a user's backend is left alone)
and torch are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tvae_core import Callback, UsageError

if TYPE_CHECKING:
    import numpy as np
    import torch

    from tvae_core import PluginManager, RunContext

_log = logging.getLogger("tvae.ternary.plotting")

LATENT_PNG = "latent.png"
CURVES_PNG = "curves.png"


# -- the disk ---------------------------------------------------------------------------------
def disk_coordinates(z_mean: torch.Tensor, curvature: float = 1.0) -> np.ndarray:
    """(N, 2) points in the unit disk: ``z_mean`` (N, D) on the ball, projected as described above."""
    import torch

    from tvae_ternary.geometry import expmap0, logmap0

    if z_mean.dim() != 2 or len(z_mean) == 0:
        raise ValueError(
            f"z_mean must be a non-empty (N, D) tensor, found shape {tuple(z_mean.shape)}"
        )
    if not math.isfinite(curvature) or curvature <= 0:
        raise ValueError(f"curvature must be a positive number, found {curvature!r}")
    u = logmap0(z_mean.detach().to(torch.float64).cpu(), curvature)
    if u.shape[1] == 1:
        u = torch.cat([u, torch.zeros_like(u)], dim=1)
    # Principal directions from the D x D second-moment matrix: cheaper than an SVD of N x D.
    _, vectors = torch.linalg.eigh(u.T @ u)
    directions = vectors[:, [-1, -2]].T
    # SVD signs are arbitrary: make each direction's largest component positive, so that
    # redrawing the same embedding gives the same picture.
    largest = directions.abs().argmax(dim=1)
    signs = torch.sign(directions[torch.arange(2), largest])
    directions = directions * torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]
    flat = u @ directions.T
    # Keep each point's full tangent norm (hence its hyperbolic radius) and take only its
    # angle from the plane: valuation shells stay visible as rings instead of collapsing.
    norm = u.norm(dim=1, keepdim=True)
    flat_norm = flat.norm(dim=1, keepdim=True)
    flat = torch.where(flat_norm > 1e-12, flat / flat_norm.clamp_min(1e-12) * norm, flat)
    plane = expmap0(flat, curvature) * math.sqrt(curvature)
    return plane.numpy()


def _curvature_of(outputs: Mapping[str, Any]) -> float:
    c = outputs.get("curvature")
    return 1.0 if c is None else float(c)


def _title(n_trits: int | None, curvature: float, val_logs: Mapping[str, float], where: str) -> str:
    head = (
        f"Poincaré disk, {where}" + (f", n = {n_trits}" if n_trits else "") + f", c = {curvature:g}"
    )
    parts = []
    if "val/coverage" in val_logs:
        parts.append(f"coverage {val_logs['val/coverage']:.4f}")
    if "val/hierarchy" in val_logs:
        ceiling = val_logs.get("val/hierarchy_ceiling")
        extra = f" (ceiling {ceiling:.4f})" if ceiling is not None else ""
        parts.append(f"hierarchy {val_logs['val/hierarchy']:.4f}{extra}")
    return head + ("\n" + ", ".join(parts) if parts else "")


def draw_latent(
    points: np.ndarray,
    valuation: np.ndarray | None,
    path: str | Path,
    title: str = "",
    dpi: int = 110,
) -> Path:
    """Scatter ``points`` (N, 2, in the unit disk) coloured by ``valuation`` into a PNG at ``path``.

    Higher valuations are drawn last and larger, so the few operations near the root of the
    3-adic tree stay visible over the thousands at valuation 0.
    """
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.patches import Circle

    path = Path(path)
    fig = _figure((7.0, 6.0), dpi)
    # Fixed axes (disk, colour bar) rather than a layout engine: layout passes cost a draw.
    ax = fig.add_axes((0.02, 0.02, 0.76, 0.86))
    ax.add_patch(Circle((0.0, 0.0), 1.0, fill=False, color="0.2", linewidth=1.0))
    if valuation is None:
        ax.scatter(points[:, 0], points[:, 1], s=2, color="tab:blue", linewidths=0)
    else:
        valuation = np.asarray(valuation)
        order = np.argsort(valuation, kind="stable")
        top = int(valuation.max())
        from matplotlib.colors import BoundaryNorm

        cmap = colormaps["viridis"].resampled(top + 1)
        norm = BoundaryNorm(np.arange(-0.5, top + 1.5), cmap.N)
        v = valuation[order]
        scatter = ax.scatter(
            points[order, 0],
            points[order, 1],
            c=v,
            cmap=cmap,
            norm=norm,
            s=2.0 + 6.0 * v,
            linewidths=0,
            rasterized=True,
        )
        cax = fig.add_axes((0.81, 0.1, 0.03, 0.7))
        bar = fig.colorbar(scatter, cax=cax, ticks=range(top + 1))
        bar.set_label("3-adic valuation v")
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


# -- the curves -------------------------------------------------------------------------------
def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """The records of a ``metrics.jsonl`` with numeric values only (``"nan"`` becomes NaN)."""
    rows: list[dict[str, float]] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(f"{path}:{number}: not a JSON line") from None
        row: dict[str, float] = {}
        for key, value in record.items():
            if isinstance(value, bool) or value is None:
                continue
            try:
                row[key] = float(value)
            except (TypeError, ValueError):
                continue
        rows.append(row)
    return rows


def _series(rows: Sequence[Mapping[str, float]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for i, row in enumerate(rows):
        if key in row:
            xs.append(row.get("epoch", float(i)))
            ys.append(row[key])
    return xs, ys


def draw_curves(rows: Sequence[Mapping[str, float]], path: str | Path, dpi: int = 110) -> Path:
    """Training curves into a PNG: losses, validation metrics, and the learning rate and beta.

    Loss panel: ``train/*`` and the ``val/*`` twins of loss terms (log scale when all positive).
    Metric panel: the other ``val/*`` keys (coverage, hierarchy, ...), with ceilings dashed.
    """
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    terms = {k[len("train/") :] for k in keys if k.startswith("train/")}
    loss_keys = [k for k in keys if k.startswith("train/")] + [
        k for k in keys if k.startswith("val/") and k[len("val/") :] in terms
    ]
    metric_keys = [k for k in keys if k.startswith("val/") and k not in loss_keys]
    schedule_keys = [k for k in ("lr", "beta") if k in keys]
    panels = [p for p in (loss_keys, metric_keys, schedule_keys) if p]
    fig = _figure((5.0 * max(1, len(panels)), 4.0), dpi)
    axes = fig.subplots(1, max(1, len(panels)), squeeze=False)
    for ax, panel in zip(axes[0], panels, strict=False):
        if panel is loss_keys:
            positive = True
            for key in panel:
                xs, ys = _series(rows, key)
                style = "--" if key.startswith("val/") else "-"
                ax.plot(xs, ys, style, label=key, marker="." if len(xs) < 30 else None)
                positive &= all(y > 0 for y in ys if math.isfinite(y))
            if positive:
                ax.set_yscale("log")
            ax.set_title("losses (unweighted)")
        elif panel is metric_keys:
            for key in panel:
                xs, ys = _series(rows, key)
                if key.endswith("_ceiling"):
                    ax.plot(xs, ys, ":", color="0.4", label=key)
                else:
                    ax.plot(xs, ys, "-", marker="o", markersize=3, label=key)
            ax.set_title("validation metrics")
        else:
            for key in panel:
                xs, ys = _series(rows, key)
                ax.plot(xs, ys, "-", label=key)
            ax.set_yscale(
                "log" if all(y > 0 for k in panel for y in _series(rows, k)[1]) else "linear"
            )
            ax.set_title("schedule")
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    if not panels:
        axes[0][0].text(0.5, 0.5, "no metrics recorded", ha="center", va="center")
    # Fixed margins: tight_layout measures every label and costs as much as the drawing.
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9, wspace=0.25)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _preload_matplotlib() -> None:
    with contextlib.suppress(Exception):
        import matplotlib.backends.backend_agg
        import matplotlib.figure  # noqa: F401


def _figure(size: tuple[float, float], dpi: int) -> Any:
    """A figure drawn by the Agg canvas, without pyplot: no global state, no backend switch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


# -- from live tensors ------------------------------------------------------------------------
def plot_latent(
    outputs: Mapping[str, torch.Tensor],
    batch: Mapping[str, torch.Tensor],
    path: str | Path,
    val_logs: Mapping[str, float] | None = None,
    where: str = "",
    dpi: int = 110,
) -> Path:
    """Draw the disk of an evaluation pass (``outputs["z_mean"]``, ``batch["valuation"]``)."""
    if "z_mean" not in outputs:
        raise UsageError(
            f"the model produced no 'z_mean' to plot (outputs: {', '.join(sorted(outputs))})"
        )
    curvature = _curvature_of(outputs)
    points = disk_coordinates(outputs["z_mean"], curvature)
    valuation = batch.get("valuation")
    n_trits = int(batch["x"].shape[-1]) if "x" in batch and batch["x"].dim() == 2 else None
    title = _title(n_trits, curvature, val_logs or {}, where or f"{len(points)} operations")
    return draw_latent(
        points, None if valuation is None else valuation.cpu().numpy(), path, title, dpi
    )


class LatentPlotCallback(Callback):
    """At the end of a run, draw ``<run_dir>/latent.png`` (the disk) and ``<run_dir>/curves.png``.

    The title carries the last validation's coverage and hierarchy. With ``every_n_epochs``,
    the disk is also drawn every that many epochs as ``latent_epoch_XXXX.png`` (XXXX = epochs
    completed). Only the main process draws; without a run folder it draws nothing.

    Args:
        filename: Name of the final disk plot in the run folder.
        every_n_epochs: Also draw the disk every this many epochs; None only at the end.
        curves_filename: Name of the training-curves plot; None skips it.
        dpi: Resolution of the PNGs.
    """

    def __init__(
        self,
        filename: str = LATENT_PNG,
        every_n_epochs: int | None = None,
        curves_filename: str | None = CURVES_PNG,
        dpi: int = 110,
    ) -> None:
        if every_n_epochs is not None and every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1 or None, found {every_n_epochs}")
        if Path(filename).suffix.lower() != ".png":
            raise ValueError(f"filename must end in .png, found {filename!r}")
        self.filename = filename
        self.every_n_epochs = every_n_epochs
        self.curves_filename = curves_filename
        self.dpi = dpi
        self.val_logs: dict[str, float] = {}
        self.written: list[Path] = []
        self.timings_s: dict[str, float] = {"epochs": 0.0, "fit_end": 0.0}
        self._trainer: RunContext | None = None

    def _folder(self) -> Path | None:
        trainer = self._trainer
        if trainer is None or getattr(trainer, "rank", 0) != 0:
            return None
        run_dir = getattr(trainer, "run_dir", None)
        return Path(run_dir) if run_dir is not None else None

    def on_fit_start(self, trainer: RunContext) -> None:
        self._trainer = trainer
        if getattr(trainer, "rank", 0) == 0 and getattr(trainer, "run_dir", None) is None:
            _log.warning("latent_plot: the run has no folder; drawing nothing")
        elif self._folder() is not None:
            # Importing matplotlib takes about a second; do it beside training (which leaves a
            # core free by default) rather than at the end of the run.
            threading.Thread(
                target=_preload_matplotlib, name="tvae-preload-mpl", daemon=True
            ).start()

    def on_validation_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.val_logs = {k: float(v) for k, v in logs.items()}

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        folder = self._folder()
        n = self.every_n_epochs
        if folder is None or n is None or (epoch + 1) % n:
            return
        t0 = time.perf_counter()
        stem = Path(self.filename).stem
        self._draw_latent(folder / f"{stem}_epoch_{epoch + 1:04d}.png", f"epoch {epoch + 1}")
        self.timings_s["epochs"] += time.perf_counter() - t0

    def on_fit_end(self, trainer: RunContext) -> None:
        folder = self._folder()
        if folder is None:
            return
        t0 = time.perf_counter()
        try:
            self._draw_latent(folder / self.filename, f"epoch {getattr(trainer, 'epoch', '?')}")
            metrics = folder / "metrics.jsonl"
            if self.curves_filename is not None and metrics.is_file():
                self.written.append(
                    draw_curves(read_metrics(metrics), folder / self.curves_filename, self.dpi)
                )
        finally:
            self.timings_s["fit_end"] = time.perf_counter() - t0
            self._trainer = None

    def _draw_latent(self, path: Path, where: str) -> None:
        assert self._trainer is not None
        outputs, batch = self._trainer.evaluate()
        self.written.append(plot_latent(outputs, batch, path, self.val_logs, where, self.dpi))


# -- tvae plot --------------------------------------------------------------------------------
def resolve_checkpoint(run_dir: Path, checkpoint: str) -> Path:
    """``best`` or ``last`` in ``run_dir/checkpoints/``, or a path; one-line errors otherwise."""
    if checkpoint in ("best", "last"):
        path = run_dir / "checkpoints" / f"{checkpoint}.pt"
        if checkpoint == "best" and not path.is_file():
            fallback = run_dir / "checkpoints" / "last.pt"
            if fallback.is_file():
                _log.info("no best.pt in %s; using last.pt", run_dir / "checkpoints")
                return fallback
        if not path.is_file():
            raise UsageError(f"{path}: no such checkpoint (is {run_dir} a tvae run folder?)")
        return path
    path = Path(checkpoint)
    if not path.is_file():
        raise UsageError(f"--checkpoint {checkpoint!r}: expected best, last or a checkpoint file")
    return path


def plot_run(
    run_dir: str | Path,
    checkpoint: str = "best",
    out_dir: str | Path | None = None,
    plugins: PluginManager | None = None,
) -> list[Path]:
    """Redraw ``latent.png`` and ``curves.png`` of a run folder; returns the files written.

    The model is rebuilt from the checkpoint's own config (through the core, with the
    installed plugins), its weights loaded strictly, and the metrics of the config evaluated
    afresh for the title. Files go to ``out_dir`` (default: the run folder). ``plugins``
    provides the components (default: the installed plugins).
    """
    from tvae_core import model_from_checkpoint

    run = Path(run_dir)
    if not run.is_dir():
        raise UsageError(f"{run}: no such run folder")
    ckpt_path = resolve_checkpoint(run, checkpoint)
    target = Path(out_dir) if out_dir is not None else run
    trainer, _ = model_from_checkpoint(ckpt_path, plugins)
    val_logs = trainer.validate()
    outputs, batch = trainer.evaluate()
    written = [plot_latent(outputs, batch, target / LATENT_PNG, val_logs, f"{ckpt_path.name}")]
    metrics = run / "metrics.jsonl"
    if metrics.is_file():
        written.append(draw_curves(read_metrics(metrics), target / CURVES_PNG))
    return written


def register_plot_command(app: Any) -> None:
    """Add ``tvae plot RUN_DIR [--checkpoint best|last|PATH] [--out DIR]`` to the CLI."""
    import typer

    @app.command("plot")
    def plot(
        run_dir: Path = typer.Argument(..., help="A run folder (runs/<name>)."),
        checkpoint: str = typer.Option(
            "best", "--checkpoint", "-c", help="best, last, or a checkpoint file."
        ),
        out: Path | None = typer.Option(
            None, "--out", help="Folder for the PNGs (default: the run folder)."
        ),
    ) -> None:
        """Draw the latent Poincaré disk and the training curves of a run."""
        for path in plot_run(run_dir, checkpoint, out):
            typer.echo(str(path))
