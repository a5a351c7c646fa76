"""Wrong-typed run state, a damaged metrics log and other inputs of item 18 (issue 12):
one line, exit code 2, nothing written."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.reliability.support import PLUGINS, cli, one_line, snapshot, toy_config, write_config


@pytest.fixture(scope="module")
def good_state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tests.conftest import TOY_PLUGIN
    from tvae_core import PluginManager, Trainer
    from tvae_core._config import build_config

    folder = tmp_path_factory.mktemp("good") / "g"
    pm = PluginManager([str(TOY_PLUGIN)], autoload=False)
    Trainer(build_config(toy_config(epochs=2)), plugins=pm, run_dir=folder).fit()
    state: dict[str, Any] = torch.load(folder / "checkpoints/last.pt", weights_only=True)
    return state


def _bad_states(good: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    rng = good["rng"]
    sched = good["scheduler_state_dict"]
    return {
        "rng-str": ("rng", "x"),
        "rng-torch-str": ("rng", {**rng, "torch": "x"}),
        "rng-torch-short": ("rng", {**rng, "torch": torch.zeros(3, dtype=torch.uint8)}),
        "rng-python-short": ("rng", {**rng, "python": [3, [0] * 5, None]}),
        "rng-python-str": ("rng", {**rng, "python": "x"}),
        "best-list": ("best", [1]),
        "best-str": ("best", {"val/loss": "x"}),
        "best-epoch-str": ("best_epoch", "x"),
        "weights-list": ("loss_weights", [1]),
        "weights-str": ("loss_weights", {"mse": "heavy"}),
        "weights-nan": ("loss_weights", {"mse": float("nan")}),
        "scheduler-list": ("scheduler_state_dict", [1]),
        "scheduler-str": ("scheduler_state_dict", {**sched, "last_epoch": "x"}),
        "callbacks-list": ("callbacks", [1]),
        "callbacks-str": ("callbacks", {"0:Recorder": "x"}),
    }


CASES = list(_bad_states({"rng": {}, "scheduler_state_dict": {}}))  # the names only


@pytest.mark.parametrize("case", CASES)
def test_wrong_typed_state_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, good_state: dict[str, Any], case: str
) -> None:
    key, value = _bad_states(good_state)[case]
    state = copy.copy(good_state)
    state[key] = value
    path = tmp_path / f"{case}.pt"
    torch.save(state, path)
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", str(path), "--set", "epochs=3")
    assert code == 2, err
    line = one_line(err.replace(_trust_warning(err), ""))
    assert line.startswith(f"error: {path}: ")
    assert "cannot be restored" in line or "not a tvae run checkpoint" in line
    assert not Path("runs").exists()


def _trust_warning(err: str) -> str:
    """The warning every resume of this checkpoint prints: its out_dir is not trusted."""
    return next((line for line in err.splitlines() if "ignoring trainer.out_dir" in line), "")


@pytest.mark.parametrize(
    "damage",
    [b"\xff\xfe not utf-8\n", b'{"epoch": null, "x": 1}\n', b'{"epoch": "2"}\n', b"[1, 2]\n"],
    ids=["bad-utf8", "epoch-null", "epoch-str", "not-a-record"],
)
def test_a_damaged_metrics_log_is_mended_on_resume(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, damage: bytes
) -> None:
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "out", "--name", "r")
    assert code == 0, err
    log = tmp_path / "out/r/metrics.jsonl"
    log.write_bytes(log.read_bytes() + damage)
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", "out/r", "--set", "epochs=3")
    assert code == 0, err
    assert [json.loads(x)["epoch"] for x in log.read_text().splitlines()] == [1, 2, 3]
    code, _, err = cli(capsys, "runs", "out")
    assert code == 0, err


def test_a_metrics_log_that_is_a_folder_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "out", "--name", "r")
    assert code == 0, err
    log = tmp_path / "out/r/metrics.jsonl"
    log.unlink()
    log.mkdir()
    before = snapshot(tmp_path / "out/r")
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", "out/r", "--set", "epochs=3")
    assert code == 2
    assert "metrics.jsonl is not a file" in one_line(err)
    assert snapshot(tmp_path / "out/r") == before


def test_new_plugin_in_a_folder_that_cannot_be_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = cli(capsys, "new-plugin", "foo", "--dir", "/proc")
    assert code == 2
    assert "cannot create the plugin's files: /proc/tvae-foo" in one_line(err)
    (tmp_path / "afile").write_text("")
    code, _, err = cli(capsys, "new-plugin", "foo", "--dir", "afile")
    assert code == 2
    assert "cannot create the plugin's files" in one_line(err)


def test_a_model_that_does_not_fit_its_data_names_the_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pytest.importorskip("tvae_ternary")
    config = {
        "epochs": 1,
        "data": {"name": "ternary_ops", "n_trits": 3, "batch_size": 9},
        "model": {"name": "ternary_vae", "latent_dim": 2, "hidden_dims": [8]},
        "losses": [{"name": "reconstruction"}],
        "metrics": [],
        "callbacks": [],
        "trainer": {"device": "cpu", "progress": False},
    }
    path = write_config(tmp_path / "t.yaml", config)
    args = ["-p", "tvae_ternary.plugin", "-p", "tvae_losses.plugin", "run", str(path)]
    code, _, err = cli(capsys, *args, "--set", "data.n_trits=4", "--set", "model.input_dim=27")
    assert code == 2
    line = one_line(err)
    assert "model 'ternary_vae' of plugin" in line and "raised ValueError" in line
    assert not Path("runs").exists()
