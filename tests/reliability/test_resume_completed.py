"""Resuming a finished run leaves it untouched; ``--set epochs=N`` extends it (issue 12, item 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TOY_PLUGIN
from tests.reliability.support import PLUGINS, cli, one_line, snapshot, toy_config, write_config
from tvae_core import PluginManager, Trainer
from tvae_core._config import build_config
from tvae_core._errors import UsageError


def test_resuming_a_completed_run_changes_nothing_and_says_how_to_go_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "out", "--name", "r")
    assert code == 0, err
    run = tmp_path / "out/r"
    first = json.loads((run / "run.json").read_text())
    before = snapshot(run, lock=True)

    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", "out/r")
    assert code == 2
    line = one_line(err)
    assert "out/r has completed its 2 epochs; nothing to train" in line
    assert "tvae run --resume out/r --set epochs=4" in line
    assert snapshot(run, lock=True) == before

    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", "out/r", "--set", "epochs=4")
    assert code == 0, err
    epochs = [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 4
    info = json.loads((run / "run.json").read_text())
    assert (info["start_time"], info["argv"]) == (first["start_time"], first["argv"])
    assert [r["epoch"] for r in info["resumes"]] == [2]


def test_the_python_api_refuses_to_resume_a_completed_run(tmp_path: Path) -> None:
    config = build_config(toy_config(epochs=2))
    pm = PluginManager([str(TOY_PLUGIN)], autoload=False)
    Trainer(config, plugins=pm, run_dir=tmp_path / "x").fit()
    before = snapshot(tmp_path / "x", lock=True)
    again = Trainer(config, plugins=pm, run_dir=tmp_path / "x", resume_from=tmp_path / "x")
    with pytest.raises(UsageError, match="has completed its 2 epochs"):
        again.fit()
    assert snapshot(tmp_path / "x", lock=True) == before


def test_a_run_killed_after_its_last_checkpoint_is_finished_on_resume(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "out", "--name", "r")
    assert code == 0, err
    (tmp_path / "out/r/summary.json").unlink()  # killed before the summary was written
    code, out, err = cli(capsys, *PLUGINS, "run", "--resume", "out/r", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    assert json.loads((tmp_path / "out/r/summary.json").read_text())["epochs"] == 2


def test_wall_time_adds_up_across_resumes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tvae_core import save_checkpoint
    from tvae_core._run.checkpoint import load_checkpoint

    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "out", "--name", "r")
    assert code == 0, err
    last = tmp_path / "out/r/checkpoints/last.pt"
    state = load_checkpoint(last)
    first = json.loads((tmp_path / "out/r/summary.json").read_text())["wall_s"]
    assert 0 < state["wall_s"] <= first  # the checkpoint counts the time up to it
    save_checkpoint({**state, "wall_s": 1000.0}, last)  # as if the first process took 1000 s
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", "out/r", "--set", "epochs=3")
    assert code == 0, err
    total = json.loads((tmp_path / "out/r/summary.json").read_text())["wall_s"]
    assert 1000 < total < 1000 + 60
    assert load_checkpoint(last)["wall_s"] > 1000
