"""``tvae export RUN`` exports the checkpoint asked for, ``last`` by default, and says which
epoch it holds (issue 12, item 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.support import cli, one_line

pytest.importorskip("tvae_ternary")

PLUGINS = ["tvae_ternary.plugin", "tvae_losses.plugin", "tvae_callbacks.plugin"]
CONFIG = {
    "epochs": 3,
    "data": {"name": "ternary_ops", "n_trits": 3, "batch_size": 9, "val_fraction": 0.25},
    "model": {"name": "ternary_vae", "latent_dim": 2, "hidden_dims": [16]},
    "losses": [{"name": "reconstruction"}],
    "metrics": ["coverage"],
    # this tiny run's val/loss rises (seeded): best.pt stays at epoch 1, last.pt moves on
    "callbacks": [{"name": "checkpoint", "save_interval": 1, "monitor": "val/loss"}],
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tvae_core.testing import tiny_trainer

    folder = tmp_path_factory.mktemp("export") / "run"
    assert tiny_trainer(CONFIG, PLUGINS, run_dir=folder).fit().status == "completed"
    return folder


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """``export`` is an installed plugin's command: let the CLI find it."""
    monkeypatch.delenv("TVAE_NO_PLUGIN_COMMANDS")
    monkeypatch.delenv("TVAE_DISABLE_PLUGIN_AUTOLOAD")


def _export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return cli(capsys, "export", *args)


def test_the_default_is_last_and_the_epoch_is_printed(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], commands: None
) -> None:
    code, out, err = _export(capsys, str(run), "-o", str(tmp_path / "a.npz"))
    assert code == 0, err
    assert f"from {run / 'checkpoints/last.pt'} (epoch 3) to {tmp_path / 'a.npz'}" in out


def test_best_is_the_epoch_best_pt_holds(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], commands: None
) -> None:
    best = json.loads((run / "summary.json").read_text())["best_checkpoint"]["epoch"]
    assert best < 3  # the run is built so that best and last differ
    code, out, err = _export(
        capsys, str(run), "--checkpoint", "best", "-o", str(tmp_path / "b.npz")
    )
    assert code == 0, err
    assert f"from {run / 'checkpoints/best.pt'} (epoch {best})" in out


def test_a_named_or_given_file(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], commands: None
) -> None:
    code, out, err = _export(capsys, str(run), "-c", "epoch_0002.pt", "-o", str(tmp_path / "c.npz"))
    assert code == 0, err
    assert "epoch_0002.pt (epoch 2)" in out
    path = run / "checkpoints/epoch_0001.pt"
    code, out, err = _export(capsys, str(run), "-c", str(path), "-o", str(tmp_path / "d.npz"))
    assert code == 0, err
    assert f"from {path} (epoch 1)" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["-c", "nosuch.pt"], "no checkpoint 'nosuch.pt'"),
        (["-c", "best", "{run}/checkpoints/last.pt"], "is a checkpoint file already"),
    ],
)
def test_a_checkpoint_that_names_nothing_is_one_line(
    run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    commands: None,
    args: list[str],
    says: str,
) -> None:
    given = [a.format(run=run) for a in args]
    if not any("{run}" in a for a in args):
        given.append(str(run))
    code, _, err = _export(capsys, *given, "-o", str(tmp_path / "x.npz"))
    assert code == 2
    assert says in one_line(err)
    assert not (tmp_path / "x.npz").exists()


def test_an_out_path_that_cannot_be_written_is_one_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], commands: None
) -> None:
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir").mkdir()
    for out, says in (("adir", "Is a directory"), ("afile/x.npz", "cannot write")):
        code, _, err = _export(capsys, str(run), "-o", str(tmp_path / out))
        assert code == 2
        line = one_line(err)
        assert "export --out: cannot write" in line and says in line
    code, _, err = _export(capsys, str(run), "-o", str(tmp_path / "new/sub/x.npz"))
    assert code == 0, err  # missing folders are made
