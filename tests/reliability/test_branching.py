"""A resume from an earlier checkpoint, or with other settings, is a new run (issue 12, item 8).

It starts a folder of its own (``RUN-branch``, ``-1``, ...) whose ``run.json`` names its
parent and whose ``metrics.jsonl`` starts with the parent's records up to the checkpoint;
the original's files stay as they were, bytes and mtimes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.reliability.support import (
    PLUGINS,
    assert_same_training_state,
    cli,
    load_state,
    one_line,
    snapshot,
    toy_config,
    write_config,
)


def _epochs(run: Path) -> list[int]:
    return [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Path:
    """out/r: 2 epochs, its epoch-2 state kept as epoch_0002.pt, then extended to 4."""
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "out", "--name", "r")
    assert code == 0, err
    folder = tmp_path / "out/r"
    shutil.copy(folder / "checkpoints/last.pt", folder / "checkpoints/epoch_0002.pt")
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", "out/r", "--set", "epochs=4")
    assert code == 0, err
    return folder


def test_an_earlier_checkpoint_starts_a_new_run_and_leaves_the_original(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, run: Path
) -> None:
    before = snapshot(run)
    early = run / "checkpoints/epoch_0002.pt"
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", str(early), "--set", "epochs=4")
    assert code == 0, err
    assert "starting a new run" in caplog.text and "is not the run's latest" in caplog.text
    assert snapshot(run) == before
    branch = run.parent / "r-branch"
    info = json.loads((branch / "run.json").read_text())
    assert info["parent"] == {"run": str(run), "checkpoint": str(early), "epoch": 2, "changed": {}}
    assert _epochs(branch) == [1, 2, 3, 4]
    # the same settings from the same state: the branch retraces the original bit for bit
    assert_same_training_state(
        load_state(branch / "checkpoints/last.pt"), load_state(run / "checkpoints/last.pt")
    )


def test_a_changed_setting_starts_a_new_run(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, run: Path
) -> None:
    before = snapshot(run)
    args = ["run", "--resume", "out/r", "--set", "epochs=6", "--set", "optimizer.lr=0.05"]
    for name in ("r-branch", "r-branch-1"):  # each branch takes a folder of its own
        code, _, err = cli(capsys, *PLUGINS, *args)
        assert code == 0, err
        assert "the config changes optimizer.lr" in caplog.text
        parent = json.loads((run.parent / name / "run.json").read_text())["parent"]
        assert parent["epoch"] == 4 and parent["changed"] == {"optimizer.lr": [0.01, 0.05]}
        assert _epochs(run.parent / name) == [1, 2, 3, 4, 5, 6]
    assert snapshot(run) == before


def test_a_branch_may_be_named_but_not_onto_a_run(
    capsys: pytest.CaptureFixture[str], run: Path
) -> None:
    before = snapshot(run)
    args = ["run", "--resume", "out/r", "--set", "epochs=5", "--set", "seed=9"]
    code, _, err = cli(capsys, *PLUGINS, *args, "--name", "r")
    assert code == 2
    assert "out/r already holds a run" in one_line(err)
    code, _, err = cli(capsys, *PLUGINS, *args, "--name", "other", "--out", "elsewhere")
    assert code == 0, err
    assert json.loads(Path("elsewhere/other/run.json").read_text())["parent"]["run"] == str(run)
    assert snapshot(run) == before


def test_a_branch_with_nothing_to_train_is_refused(
    capsys: pytest.CaptureFixture[str], run: Path
) -> None:
    before = snapshot(run)
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", "out/r", "--set", "optimizer.lr=0.5")
    assert code == 2
    assert "is at epoch 4 of 4; nothing to train" in one_line(err)
    assert sorted(p.name for p in run.parent.iterdir()) == ["r"]
    assert snapshot(run) == before


def test_train_longer_continues_the_run_itself(
    capsys: pytest.CaptureFixture[str], run: Path
) -> None:
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", "out/r", "--set", "epochs=5")
    assert code == 0, err
    assert _epochs(run) == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in run.parent.iterdir()) == ["r"]
    assert "parent" not in json.loads((run / "run.json").read_text())


def test_the_python_api_refuses_to_rewind_a_run_in_its_own_folder(run: Path) -> None:
    """``Trainer(run_dir=RUN, resume_from=RUN's earlier checkpoint)`` would overwrite RUN."""
    from tests.conftest import TOY_PLUGIN
    from tvae_core import PluginManager, Trainer
    from tvae_core._config import build_config
    from tvae_core._errors import UsageError

    before = snapshot(run)
    pm = PluginManager([str(TOY_PLUGIN)], autoload=False)
    early = run / "checkpoints/epoch_0002.pt"
    config = build_config(toy_config(epochs=4))
    trainer = Trainer(config, plugins=pm, run_dir=run, resume_from=early)
    with pytest.raises(UsageError, match=r"is an earlier checkpoint of .* overwrite its later"):
        trainer.fit()
    assert snapshot(run) == before
    # Another folder is a new run that starts from it.
    other = run.parent / "from-early"
    summary = Trainer(config, plugins=pm, run_dir=other, resume_from=early).fit()
    assert summary.status == "completed" and _epochs(other)[-1] == 4
    assert snapshot(run) == before
