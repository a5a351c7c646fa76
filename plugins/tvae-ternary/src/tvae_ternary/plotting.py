"""Plots of a run: the latent disk by valuation, radius by level, per-depth order, the curves.

- :class:`LatentPlotCallback` (config name ``latent_plot``) writes, at the end of a run,
  ``<run_dir>/latent.png`` (the disk), ``radius_by_level.png`` (a box of the hyperbolic radii
  of each valuation level, with the level's target radius), ``depth_accuracy.png`` (the
  triplet accuracy at each depth of the tree and the radial order of each adjacent level
  pair) and ``curves.png`` (the training curves).
- ``tvae plot RUN_DIR [--checkpoint best|last|PATH] [--radius log|disk]`` redraws them all
  from a run's folder.

The disk: each operation's posterior mean on the ball is taken to the tangent space at the
origin (log_0); its angle in the plot is that of its projection onto the two leading principal
directions of those tangent vectors (about the origin, not the mean: the origin is where high
valuations belong). Its distance from the centre is, with ``radius="log"`` (the default of the
plots), the log of its hyperbolic radius rescaled to the disk, so that levels whose radii
shrink geometrically show as evenly spaced rings; with ``radius="disk"`` the point is the
Poincaré disk's own: exp_0 in 2-D of a tangent vector of the full length, so every point keeps
its hyperbolic radius exactly and the boundary is the unit circle (coordinates scaled by
sqrt(c)). Each level's median radius is drawn as a ring of the level's colour.

Labels name the base of the valuation (3-adic for the ternary operations; a dataset of another
base gives its batches a ``base`` column, :func:`tvae_ternary.space.base_of`).

matplotlib (its object API on the Agg canvas, never pyplot, so a user's backend is left alone)
and torch are imported inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tvae_core import Callback, UsageError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from matplotlib.figure import Figure

    from tvae_core import PluginManager, RunContext

_log = logging.getLogger("tvae.ternary.plotting")

LATENT_PNG = "latent.png"
CURVES_PNG = "curves.png"
LEVELS_PNG = "radius_by_level.png"
DEPTHS_PNG = "depth_accuracy.png"

RadiusScale = Literal["log", "disk"]
RADIUS_SCALES = ("log", "disk")
#: Display radii of the log scale: the smallest radius shown sits at LOG_INNER, the largest
#: at LOG_OUTER; radii more than LOG_SPAN (a factor e^LOG_SPAN) below the largest are clipped.
LOG_INNER, LOG_OUTER, LOG_SPAN = 0.06, 0.96, math.log(1e4)


# -- the disk ---------------------------------------------------------------------------------
def _check_scale(radius: str) -> None:
    if radius not in RADIUS_SCALES:
        raise ValueError(f"radius must be one of {', '.join(RADIUS_SCALES)}, found {radius!r}")


def log_radius_range(rho: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """(lo, hi): the log radii the log scale maps to LOG_INNER and LOG_OUTER.

    hi is the log of the largest radius; lo that of the smallest positive one, but at most
    LOG_SPAN below hi (smaller radii are drawn on the innermost ring; radius 0 at the centre).
    """
    import numpy as np

    values = np.asarray(rho, dtype=np.float64)
    positive = values[values > 0]
    if positive.size == 0:
        return 0.0, 0.0
    hi = float(np.log(positive.max()))
    return max(float(np.log(positive.min())), hi - LOG_SPAN), hi


def log_display_radius(rho: Any, lo: float, hi: float) -> np.ndarray:
    """The disk radius of hyperbolic radii ``rho`` on the log scale of :func:`log_radius_range`."""
    import numpy as np

    values = np.asarray(rho, dtype=np.float64)
    if hi <= lo:
        shown = np.full(values.shape, (LOG_INNER + LOG_OUTER) / 2)
    else:
        logs = np.log(np.clip(values, math.exp(lo), None))
        shown = LOG_INNER + (LOG_OUTER - LOG_INNER) * (logs - lo) / (hi - lo)
    # The origin itself (radius 0: no log) is drawn at the centre.
    return np.where(values > 0, shown, 0.0)


def disk_coordinates(
    z_mean: torch.Tensor, curvature: float = 1.0, radius: RadiusScale = "disk"
) -> np.ndarray:
    """(N, 2) points in the unit disk: ``z_mean`` (N, D) on the ball, projected as described above."""
    import torch

    from tvae_ternary.geometry import expmap0, logmap0

    if z_mean.dim() != 2 or len(z_mean) == 0:
        raise ValueError(
            f"z_mean must be a non-empty (N, D) tensor, found shape {tuple(z_mean.shape)}"
        )
    if not math.isfinite(curvature) or curvature <= 0:
        raise ValueError(f"curvature must be a positive number, found {curvature!r}")
    _check_scale(radius)
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
    # A point orthogonal to the plane has no angle there: it is drawn at angle 0, at its radius.
    fallback = torch.tensor([[1.0, 0.0]], dtype=flat.dtype).expand_as(flat)
    unit = torch.where(flat_norm > 1e-12, flat / flat_norm.clamp_min(1e-12), fallback)
    if radius == "log":
        rho = 2.0 * norm.squeeze(1)  # rho(exp_0(u)) = 2 |u| for any c
        lo, hi = log_radius_range(rho.numpy())
        shown = torch.from_numpy(log_display_radius(rho.numpy(), lo, hi))
        return (unit * shown.unsqueeze(1)).numpy()
    plane = expmap0(unit * norm, curvature) * math.sqrt(curvature)
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


def _level_colours(top: int) -> Any:
    from matplotlib import colormaps

    return colormaps["viridis"].resampled(top + 1)


def draw_latent(
    points: np.ndarray,
    valuation: np.ndarray | None,
    path: str | Path,
    title: str = "",
    dpi: int = 110,
    rings: Mapping[int, float] | None = None,
    base: int = 3,
    boundary: bool = True,
) -> Path:
    """Scatter ``points`` (N, 2, in the unit disk) coloured by ``valuation`` into a PNG at ``path``.

    See :func:`latent_figure`.
    """
    return _save(latent_figure(points, valuation, title, dpi, rings, base, boundary), path)


def latent_figure(
    points: np.ndarray,
    valuation: np.ndarray | None,
    title: str = "",
    dpi: int = 110,
    rings: Mapping[int, float] | None = None,
    base: int = 3,
    boundary: bool = True,
) -> Figure:
    """The disk: ``points`` (N, 2, in the unit disk) coloured by ``valuation``.

    Higher valuations are drawn last and larger, so the few operations near the root of the
    3-adic tree stay visible over the thousands at valuation 0. ``rings`` maps a level to the
    disk radius of its ring (its median radius), drawn in the level's colour; ``boundary``
    draws the unit circle (the ball's boundary on the Poincaré disk).
    """
    import numpy as np
    from matplotlib.patches import Circle

    fig = _figure((7.0, 6.0), dpi)
    # Fixed axes (disk, colour bar) rather than a layout engine: layout passes cost a draw.
    ax = fig.add_axes((0.02, 0.02, 0.76, 0.86))
    if boundary:
        ax.add_patch(Circle((0.0, 0.0), 1.0, fill=False, color="0.2", linewidth=1.0))
    if valuation is None:
        ax.scatter(points[:, 0], points[:, 1], s=2, color="tab:blue", linewidths=0)
    else:
        valuation = np.asarray(valuation)
        order = np.argsort(valuation, kind="stable")
        top = int(valuation.max())
        from matplotlib.colors import BoundaryNorm

        cmap = _level_colours(top)
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
        for level, r in sorted((rings or {}).items()):
            colour = cmap(norm(level))
            ax.add_patch(Circle((0.0, 0.0), r, fill=False, color=colour, lw=0.8, ls="--"))
            angle = math.radians(100 - 9 * (level % 10))
            ax.text(
                r * math.cos(angle),
                r * math.sin(angle),
                f"v={level}",
                fontsize=6,
                color="0.1",
                ha="center",
                va="center",
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.6},
            )
        cax = fig.add_axes((0.81, 0.1, 0.03, 0.7))
        bar = fig.colorbar(scatter, cax=cax, ticks=range(top + 1))
        bar.set_label(f"{base}-adic valuation v")
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    return fig


# -- radius by level, accuracy by depth -------------------------------------------------------
def radius_by_level_figure(
    radii: Mapping[int, Any],
    targets: Mapping[int, float] | None = None,
    title: str = "",
    base: int = 3,
    dpi: int = 110,
) -> Figure:
    """A box of the hyperbolic radii of each valuation level (log scale), targets as markers.

    ``radii`` maps a level v to its operations' radii; ``targets`` maps a level to its target
    radius (the radial loss's R * ratio^v), drawn as a red bar across the level's box.
    """
    import numpy as np

    levels = sorted(radii)
    fig = _figure((7.5, 4.2), dpi)
    ax = fig.add_axes((0.1, 0.13, 0.68, 0.76))
    data = [np.clip(np.asarray(radii[k], dtype=np.float64), 1e-9, None) for k in levels]
    if levels:
        cmap = _level_colours(max(levels))
        boxes = ax.boxplot(
            data,
            positions=levels,
            widths=0.6,
            patch_artist=True,
            whis=(0, 100),
            showfliers=False,
            medianprops={"color": "black", "linewidth": 1.0},
        )
        for level, patch in zip(levels, boxes["boxes"], strict=True):
            patch.set_facecolor(cmap(level))
            patch.set_alpha(0.7)
            patch.set_label("_box")
    if targets:
        shown = [k for k in levels if k in targets]
        ax.scatter(
            shown,
            [targets[k] for k in shown],
            marker="_",
            s=500,
            color="tab:red",
            linewidths=2,
            zorder=5,
            label="target radius",
        )
    ax.set_yscale("log")
    ax.set_xticks(levels)
    ax.set_xlabel(f"{base}-adic valuation v (level)")
    ax.set_ylabel("hyperbolic radius (box: min, quartiles, max)")
    ax.set_title(title or "radius by level", fontsize=10)
    ax.grid(True, which="both", axis="y", alpha=0.3)
    counts = ", ".join(f"{k}: {len(radii[k])}" for k in levels)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    fig.text(0.8, 0.13, "operations per level\n" + _wrap(counts, 24), fontsize=6, va="bottom")
    return fig


def depth_accuracy_figure(
    depths: Mapping[int, float],
    level_pairs: Mapping[int, float] | None = None,
    title: str = "",
    base: int = 3,
    dpi: int = 110,
) -> Figure:
    """Bars: triplet accuracy at each depth k, and the radial order of each level pair (k+1, k).

    ``depths`` maps k to the fraction of (a, p, q) with p sharing exactly k low digits with a
    and q k - 1 for which p is the closer (``depth_triplet_accuracy_k``); ``level_pairs`` maps
    k to the fraction of pairs (level k+1, level k) ordered by radius
    (``level_radial_accuracy_{k+1}_{k}``). 0.5 is chance for both.
    """
    panels = [("depth", depths)] + ([("pair", level_pairs)] if level_pairs else [])
    fig = _figure((6.0 * len(panels), 3.8), dpi)
    width = 0.82 / len(panels)
    for i, (kind, values) in enumerate(panels):
        ax = fig.add_axes((0.07 + i * (width + 0.04), 0.15, width - 0.04, 0.7))
        keys = sorted(values)
        heights = [values[k] for k in keys]
        colours = [
            "tab:green" if h >= 0.99 else "tab:orange" if h >= 0.9 else "tab:red" for h in heights
        ]
        ax.bar(keys, heights, color=colours, width=0.7)
        for k, h in zip(keys, heights, strict=True):
            ax.text(k, min(h, 1.0) + 0.01, f"{h:.3f}", ha="center", va="bottom", fontsize=6)
        ax.axhline(0.5, color="0.4", ls=":", lw=1)
        ax.axhline(1.0, color="0.2", lw=0.6)
        ax.set_ylim(0.0, 1.1)
        ax.set_xticks(keys)
        if kind == "depth":
            ax.set_xlabel("depth k (p shares k low digits with a, q shares k - 1)")
            ax.set_title(f"triplet accuracy by depth ({base}-adic)", fontsize=10)
        else:
            ax.set_xticks(keys, [f"{k + 1}<{k}" for k in keys])
            ax.set_xlabel("level pair v+1 < v (radius)")
            ax.set_title("radial order of adjacent levels", fontsize=10)
        ax.set_ylabel("fraction ordered (0.5 = chance)")
        ax.grid(True, axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _wrap(text: str, width: int) -> str:
    lines, line = [], ""
    for part in text.split(", "):
        if line and len(line) + len(part) + 2 > width:
            lines.append(line + ",")
            line = part
        else:
            line = f"{line}, {part}" if line else part
    return "\n".join([*lines, line])


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
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


#: Per-level and per-depth keys: drawn by the level figures, left out of the curves.
_PER_LEVEL = re.compile(r"^val/(level_radial_accuracy_\d+_\d+|depth_triplet_accuracy_\d+)$")
_LEVEL_RADIUS = re.compile(r"^val/radius_v(\d+)_mean$")


def curve_panels(rows: Sequence[Mapping[str, float]]) -> dict[str, list[str]]:
    """The keys of each panel of ``curves.png``, by panel title (empty panels left out).

    losses: ``train/*`` and the ``val/*`` twins of loss terms; accuracies: coverage and the
    other validation fractions; hierarchy: ``val/hierarchy`` and its ceiling, on an axis of
    their own (a Spearman correlation, negative is good); level radius: each level's mean
    radius; other metrics; schedule: ``lr`` and ``beta``. Per-level-pair, per-depth and
    min/max radius keys are drawn by ``radius_by_level.png`` and ``depth_accuracy.png``.
    """
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    terms = {k[len("train/") :] for k in keys if k.startswith("train/")}
    losses = [k for k in keys if k.startswith("train/")] + [
        k for k in keys if k.startswith("val/") and k[len("val/") :] in terms
    ]
    rest = [k for k in keys if k.startswith("val/") and k not in losses]
    hierarchy = [k for k in rest if k in ("val/hierarchy", "val/hierarchy_ceiling")]
    radius = sorted(
        (k for k in rest if _LEVEL_RADIUS.match(k)),
        key=lambda k: int(_LEVEL_RADIUS.match(k).group(1)),  # type: ignore[union-attr]
    )
    skipped = {k for k in rest if _PER_LEVEL.match(k) or k.startswith("val/radius_v")}
    accuracies = [
        k
        for k in rest
        if k not in hierarchy
        and k not in skipped
        and (k == "val/coverage" or k.endswith("accuracy"))
    ]
    other = [k for k in rest if k not in {*hierarchy, *skipped, *accuracies}]
    panels: dict[str, list[str]] = {
        "losses (unweighted)": losses,
        "accuracies (validation)": accuracies,
        "hierarchy (validation, lower is better)": hierarchy,
        "level radius (validation mean)": radius,
        "other validation metrics": other,
        "schedule": [k for k in ("lr", "beta") if k in keys],
    }
    return {title: panel for title, panel in panels.items() if panel}


def curves_figure(rows: Sequence[Mapping[str, float]], dpi: int = 110) -> Figure:
    """The training curves, one panel per row of :func:`curve_panels`, legends outside the axes."""
    panels = curve_panels(rows)
    height = 2.3
    count = max(1, len(panels))
    fig = _figure((9.0, 0.5 + height * count), dpi)
    total = 0.5 + height * count
    for i, (title, keys) in enumerate(panels.items()):
        bottom = (total - (i + 1) * height + 0.35) / total
        ax = fig.add_axes((0.08, bottom, 0.6, (height - 0.75) / total))
        positive = True
        for key in keys:
            xs, ys = _series(rows, key)
            positive &= all(y > 0 for y in ys if math.isfinite(y))
            if key.endswith("_ceiling"):
                ax.plot(xs, ys, ":", color="0.4", label=key)
            elif title.startswith("losses"):
                style = "--" if key.startswith("val/") else "-"
                ax.plot(xs, ys, style, label=key, marker="." if len(xs) < 30 else None)
            elif title == "schedule":
                ax.plot(xs, ys, "-", label=key)
            else:
                label = key
                match = _LEVEL_RADIUS.match(key)
                if match:
                    label = f"v = {match.group(1)}"
                ax.plot(xs, ys, "-", marker="o", markersize=3, label=label)
        if title.startswith(("losses", "schedule", "level radius")) and positive:
            ax.set_yscale("log")
        else:  # plain tick values (hierarchy near its ceiling would read as an offset)
            ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        ax.set_title(title, fontsize=9, loc="left")
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=7)
        if i == len(panels) - 1:
            ax.set_xlabel("epoch")
        ax.legend(
            fontsize=6.5,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            ncol=2 if len(keys) > 8 else 1,
            frameon=False,
        )
    if not panels:
        ax = fig.add_axes((0.08, 0.1, 0.6, 0.8))
        ax.text(0.5, 0.5, "no metrics recorded", ha="center", va="center")
    return fig


def draw_curves(rows: Sequence[Mapping[str, float]], path: str | Path, dpi: int = 110) -> Path:
    """Training curves into a PNG (see :func:`curves_figure` and :func:`curve_panels`)."""
    # Fixed axes: tight_layout measures every label and costs as much as the drawing.
    return _save(curves_figure(rows, dpi), path)


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
def _radii(outputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
    import torch

    from tvae_ternary.geometry import radius

    return radius(outputs["z_mean"].detach().to(torch.float64).cpu(), _curvature_of(outputs))


def _base(batch: Mapping[str, torch.Tensor]) -> int:
    from tvae_ternary.space import base_of

    return base_of(batch)


def level_rings(
    rho: Any, valuation: Any, radius: RadiusScale, curvature: float
) -> dict[int, float]:
    """The disk radius of each level's median hyperbolic radius, on the plot's radius scale."""
    import numpy as np

    rho, valuation = np.asarray(rho, dtype=np.float64), np.asarray(valuation)
    medians = {int(k): float(np.median(rho[valuation == k])) for k in np.unique(valuation)}
    if radius == "log":
        lo, hi = log_radius_range(rho)
        return {k: float(log_display_radius(m, lo, hi)) for k, m in medians.items()}
    # The Poincaré disk (scaled by sqrt c): |x| = tanh(sqrt(c) rho / 2).
    return {k: math.tanh(math.sqrt(curvature) * m / 2) for k, m in medians.items()}


def plot_latent(
    outputs: Mapping[str, torch.Tensor],
    batch: Mapping[str, torch.Tensor],
    path: str | Path,
    val_logs: Mapping[str, float] | None = None,
    where: str = "",
    dpi: int = 110,
    radius: RadiusScale = "log",
) -> Path:
    """Draw the disk of an evaluation pass (``outputs["z_mean"]``, ``batch["valuation"]``).

    ``radius``: "log" (each level a ring, evenly spaced for radii shrinking geometrically) or
    "disk" (the Poincaré disk itself).
    """
    if "z_mean" not in outputs:
        raise UsageError(
            f"the model produced no 'z_mean' to plot (outputs: {', '.join(sorted(outputs))})"
        )
    _check_scale(radius)
    curvature = _curvature_of(outputs)
    points = disk_coordinates(outputs["z_mean"], curvature, radius)
    valuation = batch.get("valuation")
    n_trits = int(batch["x"].shape[-1]) if "x" in batch and batch["x"].dim() == 2 else None
    title = _title(n_trits, curvature, val_logs or {}, where or f"{len(points)} operations")
    if radius == "log":
        title = title.replace("Poincaré disk", "Latent by log hyperbolic radius", 1)
    rings = None
    values = None
    if valuation is not None:
        values = valuation.detach().cpu().numpy()
        rings = level_rings(_radii(outputs).numpy(), values, radius, curvature)
    return draw_latent(
        points, values, path, title, dpi, rings=rings, base=_base(batch), boundary=radius == "disk"
    )


def radial_targets(config: Any, levels: Sequence[int]) -> dict[int, float] | None:
    """Each level's target radius R * ratio^v from the config's ``radial`` loss, if it has one."""
    for entry in getattr(config, "losses", None) or []:
        if entry.component_name.rpartition(":")[2] != "radial":
            continue
        settings = entry.settings
        try:
            from tvae_losses.geometric import Radial

            term = Radial(**{k: v for k, v in settings.items() if k in _RADIAL_KEYS})
        except Exception:  # no tvae-losses, or settings it refuses: no targets to draw
            return None
        return {int(k): term.max_radius * term.ratio ** int(k) for k in levels}
    return None


_RADIAL_KEYS = ("max_radius", "ratio")


def plot_levels(
    outputs: Mapping[str, torch.Tensor],
    batch: Mapping[str, torch.Tensor],
    out_dir: str | Path,
    val_logs: Mapping[str, float] | None = None,
    targets: Mapping[int, float] | None = None,
    where: str = "",
    dpi: int = 110,
) -> list[Path]:
    """Draw ``radius_by_level.png`` and ``depth_accuracy.png`` of an evaluation pass.

    The per-depth and per-level-pair accuracies are the validation's
    (``val/depth_triplet_accuracy_k``, ``val/level_radial_accuracy_{k+1}_{k}``) when
    ``val_logs`` has them, else computed here with the metrics' definitions and defaults.
    """
    import numpy as np

    from tvae_ternary.metrics import depth_triplet_accuracy, level_radial_accuracies

    if "z_mean" not in outputs or "valuation" not in batch:
        raise UsageError("the level plots need outputs['z_mean'] and batch['valuation']")
    logs = val_logs or {}
    base = _base(batch)
    rho = _radii(outputs).numpy()
    v = batch["valuation"].detach().cpu().numpy()
    radii = {int(k): rho[v == k] for k in np.unique(v)}
    n = f", n = {int(batch['x'].shape[-1])}" if "x" in batch else ""
    head = f"{where}{n}" if where else n.lstrip(", ")
    written = [
        _save(
            radius_by_level_figure(radii, targets, f"radius by level, {head}", base, dpi),
            Path(out_dir) / LEVELS_PNG,
        )
    ]
    depths = _numbered(logs, r"val/depth_triplet_accuracy_(\d+)")
    if not depths and "index" in batch and "x" in batch:
        computed = depth_triplet_accuracy(outputs, batch)
        depths = _numbered(computed, r"depth_triplet_accuracy_(\d+)")
    pairs = _numbered(logs, r"val/level_radial_accuracy_(\d+)_\d+", shift=-1)
    if not pairs:
        pairs = level_radial_accuracies(outputs, batch)
    figure = depth_accuracy_figure(depths, pairs, f"order by depth and level, {head}", base, dpi)
    written.append(_save(figure, Path(out_dir) / DEPTHS_PNG))
    return written


def _numbered(logs: Mapping[str, float], pattern: str, shift: int = 0) -> dict[int, float]:
    found = {}
    for key, value in logs.items():
        match = re.fullmatch(pattern, key)
        if match:
            found[int(match.group(1)) + shift] = float(value)
    return found


class LatentPlotCallback(Callback):
    """At the end of a run, draw the run's figures into its folder.

    ``latent.png`` (the disk), ``radius_by_level.png`` and ``depth_accuracy.png`` (unless
    ``level_plots`` is false) and ``curves.png``. The disk's title carries the last
    validation's coverage and hierarchy. With ``every_n_epochs``, the disk is also drawn every
    that many epochs as ``latent_epoch_XXXX.png`` (XXXX = epochs completed). Only the main
    process draws; without a run folder it draws nothing.

    Args:
        filename: Name of the final disk plot in the run folder.
        every_n_epochs: Also draw the disk every this many epochs; None only at the end.
        curves_filename: Name of the training-curves plot; None skips it.
        dpi: Resolution of the PNGs.
        radius: The disk's radius scale: "log" (levels as evenly spaced rings) or "disk"
            (the Poincaré disk itself).
        level_plots: Also draw radius_by_level.png and depth_accuracy.png at the end.
    """

    def __init__(
        self,
        filename: str = LATENT_PNG,
        every_n_epochs: int | None = None,
        curves_filename: str | None = CURVES_PNG,
        dpi: int = 110,
        radius: RadiusScale = "log",
        level_plots: bool = True,
    ) -> None:
        if every_n_epochs is not None and every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1 or None, found {every_n_epochs}")
        if Path(filename).suffix.lower() != ".png":
            raise ValueError(f"filename must end in .png, found {filename!r}")
        _check_scale(radius)
        self.filename = filename
        self.every_n_epochs = every_n_epochs
        self.curves_filename = curves_filename
        self.dpi = dpi
        self.radius: RadiusScale = radius
        self.level_plots = level_plots
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
        assert self._trainer is not None
        outputs, batch = self._trainer.evaluate()
        path = folder / f"{stem}_epoch_{epoch + 1:04d}.png"
        self.written.append(
            plot_latent(
                outputs, batch, path, self.val_logs, f"epoch {epoch + 1}", self.dpi, self.radius
            )
        )
        self.timings_s["epochs"] += time.perf_counter() - t0

    def on_fit_end(self, trainer: RunContext) -> None:
        folder = self._folder()
        if folder is None:
            return
        t0 = time.perf_counter()
        try:
            where = f"epoch {getattr(trainer, 'epoch', '?')}"
            outputs, batch = trainer.evaluate()
            self.written.append(
                plot_latent(
                    outputs,
                    batch,
                    folder / self.filename,
                    self.val_logs,
                    where,
                    self.dpi,
                    self.radius,
                )
            )
            if self.level_plots:
                levels = sorted({int(k) for k in batch["valuation"].detach().cpu().tolist()})
                targets = radial_targets(getattr(trainer, "config", None), levels)
                self.written += plot_levels(
                    outputs, batch, folder, self.val_logs, targets, where, self.dpi
                )
            metrics = folder / "metrics.jsonl"
            if self.curves_filename is not None and metrics.is_file():
                self.written.append(
                    draw_curves(read_metrics(metrics), folder / self.curves_filename, self.dpi)
                )
        finally:
            self.timings_s["fit_end"] = time.perf_counter() - t0
            self._trainer = None


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
    radius: RadiusScale = "log",
) -> list[Path]:
    """Redraw a run folder's figures; returns the files written.

    ``latent.png``, ``radius_by_level.png``, ``depth_accuracy.png`` and (when the run has a
    ``metrics.jsonl``) ``curves.png``. The model is rebuilt from the checkpoint's own config
    (through the core, with the installed plugins), its weights loaded strictly, and the
    metrics of the config evaluated afresh for the titles and the per-depth bars. Files go to
    ``out_dir`` (default: the run folder). ``plugins`` provides the components (default: the
    installed plugins). ``radius`` is the disk's radius scale ("log" or "disk").
    """
    from tvae_core import model_from_checkpoint

    _check_scale(radius)
    run = Path(run_dir)
    if not run.is_dir():
        raise UsageError(f"{run}: no such run folder")
    ckpt_path = resolve_checkpoint(run, checkpoint)
    target = Path(out_dir) if out_dir is not None else run
    trainer, _ = model_from_checkpoint(ckpt_path, plugins)
    val_logs = trainer.validate()
    outputs, batch = trainer.evaluate()
    where = f"{ckpt_path.name}"
    written = [plot_latent(outputs, batch, target / LATENT_PNG, val_logs, where, radius=radius)]
    if "valuation" in batch:
        levels = sorted({int(k) for k in batch["valuation"].detach().cpu().tolist()})
        targets = radial_targets(trainer.config, levels)
        written += plot_levels(outputs, batch, target, val_logs, targets, where)
    metrics = run / "metrics.jsonl"
    if metrics.is_file():
        written.append(draw_curves(read_metrics(metrics), target / CURVES_PNG))
    return written


def register_plot_command(app: Any) -> None:
    """Add ``tvae plot RUN_DIR [--checkpoint best|last|PATH] [--out DIR] [--radius log|disk]``."""
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
        radius: str = typer.Option(
            "log",
            "--radius",
            help="latent.png's radius: log (levels as rings) or disk (the Poincaré disk).",
        ),
    ) -> None:
        """Draw a run's latent disk, radius by level, accuracy by depth and training curves."""
        if radius not in RADIUS_SCALES:
            raise UsageError(
                f"--radius {radius!r}: expected {' or '.join(RADIUS_SCALES)}", where="plot"
            )
        if out is not None:
            if out.exists() and not out.is_dir():
                raise UsageError(
                    f"--out {out}: is a file; --out takes the folder the PNGs go to", where="plot"
                )
            try:
                out.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UsageError(
                    f"--out {out}: cannot create the folder ({exc.strerror or exc}); choose a "
                    "writable one",
                    where="plot",
                ) from None
        for path in plot_run(run_dir, checkpoint, out, radius=radius):  # type: ignore[arg-type]
            typer.echo(str(path))
