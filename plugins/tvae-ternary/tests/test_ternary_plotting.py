from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tvae_ternary.geometry import expmap0, radius
from tvae_ternary.plotting import (
    LatentPlotCallback,
    disk_coordinates,
    draw_curves,
    plot_latent,
    read_metrics,
    resolve_checkpoint,
)
from tvae_ternary.space import valuation_table

from tvae_core import UsageError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG from its header."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def ternary_eval(
    n: int = 4, latent_dim: int = 6, seed: int = 0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Outputs and batch of an evaluation pass: points on the ball, shells by valuation."""
    gen = torch.Generator().manual_seed(seed)
    val = valuation_table(n)
    direction = torch.nn.functional.normalize(torch.randn(3**n, latent_dim, generator=gen), dim=1)
    tangent = direction * (2.0 - 0.2 * val.double()).unsqueeze(1) / 2
    index = torch.arange(3**n)
    trits = torch.stack([(index // 3**k) % 3 - 1 for k in range(n)], 1).float()
    outputs = {"z_mean": expmap0(tangent, 1.0).float(), "curvature": torch.tensor(1.0)}
    return outputs, {"x": trits, "index": index, "valuation": val}


ball_points = st.integers(1, 40).flatmap(
    lambda rows: st.tuples(
        st.lists(st.floats(-3, 3), min_size=rows * 3, max_size=rows * 3),
        st.floats(0.1, 4.0),
    ).map(lambda t: (torch.tensor(t[0], dtype=torch.float64).reshape(rows, 3), t[1]))
)


@settings(max_examples=50, deadline=None)
@given(ball_points)
def test_disk_points_stay_inside_and_keep_their_hyperbolic_radius(
    case: tuple[torch.Tensor, float],
) -> None:
    tangent, c = case
    z = expmap0(tangent, c)
    points = torch.from_numpy(disk_coordinates(z, c))
    assert points.shape == (len(z), 2)
    assert bool((points.norm(dim=1) < 1.0).all())
    back = points / math.sqrt(c)  # from the unit disk to the ball of curvature c
    assert torch.allclose(radius(back, c), radius(z, c), atol=1e-6, rtol=1e-6)


def test_disk_coordinates_are_deterministic_and_reject_bad_input() -> None:
    outputs, _ = ternary_eval()
    z = outputs["z_mean"]
    first = disk_coordinates(z)
    assert (first == disk_coordinates(z.clone())).all()
    with pytest.raises(ValueError, match="z_mean must be a non-empty"):
        disk_coordinates(torch.zeros(0, 2))
    with pytest.raises(ValueError, match="curvature must be a positive number"):
        disk_coordinates(z, -1.0)


def test_plot_latent_writes_a_png(tmp_path: Path) -> None:
    outputs, batch = ternary_eval()
    logs = {"val/coverage": 1.0, "val/hierarchy": -0.8, "val/hierarchy_ceiling": -0.83}
    path = plot_latent(outputs, batch, tmp_path / "latent.png", logs, "test")
    width, height = png_size(path)
    assert width > 300 and height > 300
    with pytest.raises(UsageError, match="no 'z_mean' to plot"):
        plot_latent({"z": outputs["z_mean"]}, batch, tmp_path / "x.png")


def test_metrics_jsonl_to_curves(tmp_path: Path) -> None:
    records: list[dict[str, Any]] = [
        {
            "epoch": e,
            "step": 4 * (e + 1),
            "train/loss": 1 / (e + 1),
            "train/kl": 0.1,
            "lr": 1e-3,
            "beta": 0.5,
        }
        for e in range(6)
    ]
    records[2].update({"val/loss": 0.4, "val/kl": 0.1, "val/coverage": 0.5, "val/hierarchy": "nan"})
    records[5].update({"val/loss": 0.2, "val/kl": 0.1, "val/coverage": 1.0, "val/hierarchy": -0.8})
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert rows[5]["val/coverage"] == 1.0 and math.isnan(rows[2]["val/hierarchy"])
    png_size(draw_curves(rows, tmp_path / "curves.png"))
    (tmp_path / "bad.jsonl").write_text("{}\nnot json\n")
    with pytest.raises(UsageError, match=r"bad.jsonl:2: not a JSON line"):
        read_metrics(tmp_path / "bad.jsonl")


def fake_trainer(run_dir: Path | None) -> SimpleNamespace:
    outputs, batch = ternary_eval()
    return SimpleNamespace(run_dir=run_dir, rank=0, epoch=3, evaluate=lambda: (outputs, batch))


def test_callback_draws_the_disk_and_the_curves_at_fit_end(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text(
        "".join(json.dumps({"epoch": e, "train/loss": 1.0 / (e + 1)}) + "\n" for e in range(3))
    )
    trainer = fake_trainer(tmp_path)
    cb = LatentPlotCallback(every_n_epochs=2)
    cb.on_fit_start(trainer)  # type: ignore[arg-type]
    for epoch in range(3):
        cb.on_validation_end(epoch, {"val/coverage": 0.75, "val/hierarchy": -0.5})
        cb.on_epoch_end(epoch, {})
    cb.on_fit_end(trainer)  # type: ignore[arg-type]
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == [
        "curves.png",
        "depth_accuracy.png",
        "latent.png",
        "latent_epoch_0002.png",
        "radius_by_level.png",
    ]
    assert cb.timings_s["fit_end"] > 0


def test_callback_without_a_run_folder_draws_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cb = LatentPlotCallback()
    with caplog.at_level("WARNING", logger="tvae"):
        cb.on_fit_start(fake_trainer(None))  # type: ignore[arg-type]
    cb.on_fit_end(fake_trainer(None))  # type: ignore[arg-type]
    assert "no folder" in caplog.text and cb.written == []


def test_bad_callback_settings() -> None:
    with pytest.raises(ValueError, match="every_n_epochs must be >= 1 or None"):
        LatentPlotCallback(every_n_epochs=0)
    with pytest.raises(ValueError, match=r"filename must end in \.png"):
        LatentPlotCallback(filename="latent.jpg")


def test_resolve_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(UsageError, match="no such checkpoint"):
        resolve_checkpoint(tmp_path, "best")
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"")
    assert resolve_checkpoint(tmp_path, "best").name == "last.pt"  # falls back to last
    with pytest.raises(UsageError, match="expected best, last or a checkpoint file"):
        resolve_checkpoint(tmp_path, "newest")


PLUGIN = '''
import torch
from tvae_core import hookimpl


def reconstruction():
    """Cross-entropy of the trits."""
    def loss(outputs, batch):
        target = (batch["x"].round().long() + 1).reshape(-1)
        return torch.nn.functional.cross_entropy(outputs["logits"].reshape(-1, 3), target)
    loss.requires = {"outputs.logits", "batch.x"}
    return loss


@hookimpl
def tvae_register_datasets(register):
    register("ternary_ops", "tvae_ternary.data:TernaryOpsDataset")


@hookimpl
def tvae_register_models(register):
    register("ternary_vae", "tvae_ternary.model:TernaryVAE")


@hookimpl
def tvae_register_losses(register):
    register("reconstruction", reconstruction)


@hookimpl
def tvae_register_metrics(register):
    register("coverage", "tvae_ternary.metrics:Coverage")
    register("hierarchy", "tvae_ternary.metrics:Hierarchy")


@hookimpl
def tvae_register_callbacks(register):
    register("latent_plot", "tvae_ternary.plotting:LatentPlotCallback")
'''


def test_end_to_end_run_on_n4_then_redraw(tmp_path: Path) -> None:
    """A real run through the engine draws both plots; ``plot_run`` redraws them from best.pt."""
    from tvae_ternary.plotting import plot_run

    from tvae_core import PluginManager
    from tvae_core._config import build_config
    from tvae_core._engine import Trainer

    plugin = tmp_path / "plot_test_plugin.py"
    plugin.write_text(PLUGIN)
    pm = PluginManager([str(plugin), "tvae_callbacks.plugin"], autoload=False)
    config = {
        "seed": 0,
        "epochs": 4,
        "data": {"name": "ternary_ops", "n_trits": 4, "batch_size": 27},
        "model": {"name": "ternary_vae", "latent_dim": 4, "hidden_dims": [32]},
        "optimizer": {"name": "adam", "lr": 0.01},
        "scheduler": {"name": "constant"},
        "losses": [{"name": "reconstruction"}],
        "metrics": ["coverage", "hierarchy"],
        "callbacks": [
            {"name": "latent_plot"},
            {"name": "checkpoint", "save_interval": None, "monitor": "val/coverage", "mode": "max"},
        ],
        "trainer": {"val_every": 2, "progress": False},
        "plugins": {"required": []},
    }
    run = tmp_path / "run"
    summary = Trainer(build_config(config), plugins=pm, run_dir=run).fit()
    assert summary.status == "completed"
    png_size(run / "latent.png")
    png_size(run / "curves.png")
    written = plot_run(run, "best", tmp_path / "again", plugins=pm)
    assert sorted(p.name for p in written) == [
        "curves.png",
        "depth_accuracy.png",
        "latent.png",
        "radius_by_level.png",
    ]
    for path in written:
        png_size(path)
    disk = plot_run(run, "last", tmp_path / "disk", plugins=pm, radius="disk")
    assert {p.name for p in disk} == {p.name for p in written}


def test_plot_command(tmp_path: Path) -> None:
    import typer
    from tvae_ternary.plotting import register_plot_command
    from typer.testing import CliRunner

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """tvae"""

    register_plot_command(app)
    runner = CliRunner()
    result = runner.invoke(app, ["plot", "--help"])
    assert result.exit_code == 0
    assert "--checkpoint" in result.output and "best, last, or a checkpoint file" in result.output
    assert "--radius" in result.output
    result = runner.invoke(app, ["plot", str(tmp_path), "--radius", "linear"])
    assert isinstance(result.exception, UsageError)
    assert "--radius 'linear': expected log or disk" in str(result.exception)
    result = runner.invoke(app, ["plot", str(tmp_path / "missing")])
    assert isinstance(result.exception, UsageError)
    assert "no such run folder" in str(result.exception)
    # --out names a folder: a file there, or one that cannot be made, is a usage error.
    (tmp_path / "a_file").write_text("x")
    result = runner.invoke(app, ["plot", str(tmp_path), "--out", str(tmp_path / "a_file")])
    assert isinstance(result.exception, UsageError)
    assert "is a file; --out takes the folder" in str(result.exception)
    blocked = tmp_path / "a_file" / "sub"
    result = runner.invoke(app, ["plot", str(tmp_path), "--out", str(blocked)])
    assert isinstance(result.exception, UsageError)
    assert "cannot create the folder" in str(result.exception)


# -- the pictures' content ---------------------------------------------------------------------
def test_log_radius_shows_every_level_as_its_own_ring() -> None:
    """On the perfect embedding, the log scale puts level v+1 strictly inside level v."""
    import numpy as np
    from tvae_ternary.plotting import level_rings
    from tvae_ternary.space import perfect_embedding

    n = 5
    z = perfect_embedding(n, ratio=0.3, max_radius=2.0)
    v = valuation_table(n).numpy()
    for scale in ("log", "disk"):
        r = np.linalg.norm(disk_coordinates(z, 1.0, scale), axis=1)  # type: ignore[arg-type]
        assert (r < 1.0).all()
        for k in range(n):
            assert r[v == k + 1].max() < r[v == k].min(), (scale, k)
    rho = radius(z).numpy()
    log_rings = level_rings(rho, v, "log", 1.0)
    disk_rings = level_rings(rho, v, "disk", 1.0)
    assert list(log_rings) == list(range(n + 1))
    # Log-scale rings are evenly spaced for radii shrinking by one ratio (v = 0..n-1; the
    # origin operation, v = n, is at radius 0 and clipped to the innermost ring).
    gaps = np.diff([log_rings[k] for k in range(n)])
    assert np.allclose(gaps, gaps[0], rtol=0.05) and gaps[0] < 0
    # On the disk the deep rings crowd the centre: the two innermost are 10x closer there.
    assert disk_rings[n - 2] - disk_rings[n - 1] < 0.1 * (log_rings[n - 2] - log_rings[n - 1])
    with pytest.raises(ValueError, match="radius must be one of log, disk"):
        disk_coordinates(z, 1.0, "linear")  # type: ignore[arg-type]


def test_latent_figure_names_its_base_and_draws_a_ring_per_level() -> None:
    from tvae_ternary.plotting import latent_figure

    points = disk_coordinates(ternary_eval()[0]["z_mean"], 1.0, "log")
    _, batch = ternary_eval()
    v = batch["valuation"].numpy()
    fig = latent_figure(points, v, rings={k: 0.9 - 0.1 * k for k in range(5)}, base=2)
    disk, bar = fig.axes
    assert bar.get_ylabel() == "2-adic valuation v"
    assert [t.get_text() for t in disk.texts] == [f"v={k}" for k in range(5)]
    assert len(disk.patches) == 1 + 5  # the boundary and five rings


def test_radius_by_level_has_a_box_per_level_and_its_target() -> None:
    import numpy as np
    from tvae_ternary.plotting import radius_by_level_figure

    radii = {k: 1.5 * 0.65**k * np.linspace(0.9, 1.1, 5) for k in range(4)}
    targets = {k: 1.5 * 0.65**k for k in range(4)}
    fig = radius_by_level_figure(radii, targets, base=3)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert "3-adic valuation" in ax.get_xlabel()
    assert len([p for p in ax.patches if p.get_label() == "_box"]) == 4
    (markers,) = ax.collections
    assert np.allclose(markers.get_offsets(), [[k, targets[k]] for k in range(4)])
    # The boxes span each level's min..max (whiskers at 0 and 100 %).
    caps = sorted(round(float(y), 6) for line in ax.lines for y in line.get_ydata())
    assert caps[0] == pytest.approx(float(radii[3].min()), rel=1e-6)
    assert caps[-1] == pytest.approx(float(radii[0].max()), rel=1e-6)
    assert "2-adic" in radius_by_level_figure(radii, None, base=2).axes[0].get_xlabel()


def test_depth_accuracy_bars_are_the_accuracies() -> None:
    from tvae_ternary.plotting import depth_accuracy_figure

    depths = {1: 1.0, 2: 0.98, 3: 0.7}
    pairs = {0: 1.0, 1: 0.5}
    fig = depth_accuracy_figure(depths, pairs, base=3)
    by_depth, by_pair = fig.axes
    assert [p.get_height() for p in by_depth.patches] == [1.0, 0.98, 0.7]
    assert [p.get_height() for p in by_pair.patches] == [1.0, 0.5]
    assert [t.get_text() for t in by_pair.get_xticklabels()] == ["1<0", "2<1"]
    assert "3-adic" in by_depth.get_title()


def _curve_rows() -> list[dict[str, float]]:
    rows = []
    for e in range(1, 5):
        rows.append(
            {
                "epoch": e,
                "train/loss": 1.0 / e,
                "val/loss": 1.2 / e,
                "val/coverage": 0.25 * e,
                "val/radial_accuracy": 0.9,
                "val/level_radial_accuracy": 0.8,
                "val/level_radial_accuracy_1_0": 0.8,
                "val/depth_triplet_accuracy_3": 0.7,
                "val/hierarchy": -0.5,
                "val/hierarchy_ceiling": -0.83,
                "val/radius_v0_mean": 1.5,
                "val/radius_v1_mean": 1.0,
                "val/radius_v0_min": 1.4,
                "lr": 1e-3,
            }
        )
    return rows


def test_curves_put_hierarchy_apart_and_legends_outside_the_axes() -> None:
    from tvae_ternary.plotting import curve_panels, curves_figure

    panels = curve_panels(_curve_rows())
    assert panels["accuracies (validation)"] == [
        "val/coverage",
        "val/radial_accuracy",
        "val/level_radial_accuracy",
    ]
    assert panels["hierarchy (validation, lower is better)"] == [
        "val/hierarchy",
        "val/hierarchy_ceiling",
    ]
    assert panels["level radius (validation mean)"] == ["val/radius_v0_mean", "val/radius_v1_mean"]
    drawn = {k for keys in panels.values() for k in keys}
    assert "val/depth_triplet_accuracy_3" not in drawn and "val/radius_v0_min" not in drawn
    fig = curves_figure(_curve_rows())
    fig.canvas.draw()
    assert len(fig.axes) == len(panels)
    for ax in fig.axes:
        labels = {line.get_label() for line in ax.lines}
        if "val/hierarchy" in labels:
            assert labels == {"val/hierarchy", "val/hierarchy_ceiling"}
        legend = ax.get_legend()
        box, frame = legend.get_window_extent(), ax.get_window_extent()
        assert box.x0 >= frame.x1, ax.get_title()  # to the right of the axes, not over them
        assert box.x1 <= fig.bbox.x1 + 1  # and inside the figure


def test_radial_targets_come_from_the_configs_radial_loss() -> None:
    from tvae_ternary.plotting import radial_targets

    from tvae_core._config.schema import LossConfig

    losses = [LossConfig(name="reconstruction"), LossConfig(name="radial", ratio=0.65)]
    targets = radial_targets(SimpleNamespace(losses=losses), [0, 2])
    assert targets == pytest.approx({0: 1.5, 2: 1.5 * 0.65**2})  # max_radius: Radial's default
    assert radial_targets(SimpleNamespace(losses=[LossConfig(name="kl")]), [0]) is None


def test_plot_levels_reads_the_base_of_a_2adic_batch(tmp_path: Path) -> None:
    """A 2-adic batch (a base column) gets 2-adic depths; files written with sensible sizes."""
    from tvae_ternary.plotting import plot_levels
    from tvae_ternary.space import digits_from_index, perfect_embedding

    n = 5
    index = torch.arange(2**n)
    batch = {
        "x": (digits_from_index(index, n, 2) - 1).float(),
        "index": index,
        "valuation": valuation_table(n, base=2),
        "base": torch.full_like(index, 2),
    }
    outputs = {"z_mean": perfect_embedding(n, base=2), "curvature": torch.tensor(1.0)}
    written = plot_levels(outputs, batch, tmp_path, targets={k: 0.5**k for k in range(n + 1)})
    assert [p.name for p in written] == ["radius_by_level.png", "depth_accuracy.png"]
    for path in written:
        width, height = png_size(path)
        assert width > 500 and height > 300
