"""A run folder belongs to one run at a time (issue 12, items 5, 6 and 10).

The folder is locked with an OS lock (``flock`` on ``RUN/.lock``, released when the process
ends, SIGKILL included) and claimed before any file in it is touched; a second run on the
same ``--name``, a ``--resume`` of a run still training and a second ``Trainer.fit()`` on a
finished folder are refused in one line (exit 2), and nothing of the first run changes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TOY_PLUGIN
from tests.reliability.support import (
    PLUGINS,
    REPO,
    cli,
    one_line,
    subprocess_env,
    toy_config,
    write_config,
)
from tvae_core import PluginManager, Trainer
from tvae_core._config import build_config
from tvae_core._errors import UsageError
from tvae_core._run import rundir
from tvae_core._run.rundir import RunDir


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def held(tmp_path: Path) -> Iterator[RunDir]:
    """The folder out/r of a finished run, locked as a run still training would hold it."""
    folder = RunDir(tmp_path / "out" / "r")
    folder.claim(fresh=False)
    yield folder
    folder.release()


def test_a_second_run_on_a_name_in_use_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, held: RunDir
) -> None:
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    before = _snapshot(held.path)
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "out", "--name", "r")
    assert code == 2
    assert "run folder out/r is in use by another run (pid " in one_line(err)
    assert _snapshot(held.path) == before


def test_resuming_a_run_that_is_still_training_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "out", "--name", "r")
    assert code == 0, err
    folder = RunDir(tmp_path / "out" / "r")
    folder.claim(fresh=False)  # as the run would hold it, were it still training
    before = _snapshot(folder.path)
    try:
        args = [*PLUGINS, "run", "--resume", "out/r", "--set", "epochs=4"]
        code, _, err = cli(capsys, *args)
    finally:
        folder.release()
    assert code == 2
    assert "is in use by another run" in one_line(err)
    assert _snapshot(folder.path) == before
    code, _, err = cli(capsys, *args)  # once the lock is gone, it goes on
    assert code == 0, err


def test_a_sigkill_releases_the_lock(tmp_path: Path) -> None:
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from tvae_core._run.rundir import RunDir\n"
        "RunDir(Path(sys.argv[1])).claim(fresh=False)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "r")],
        env=subprocess_env(),
        cwd=REPO,
        check=False,
        timeout=60,
    )
    assert done.returncode == -9
    folder = RunDir(tmp_path / "r")
    folder.claim(fresh=True)  # free again
    folder.release()


def test_a_time_named_run_never_touches_the_folder_of_another(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another run started in the same second and holds out/T; its log must stay whole.
    monkeypatch.setattr(rundir, "new_run_name", lambda: "T")
    other = RunDir(tmp_path / "out" / "T")
    other.claim(fresh=True)
    other.append_metrics({"epoch": 0, "train/loss": 1.0})
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    # create() saw the name free (the other run had not made its folder yet)
    real_exists = Path.exists
    monkeypatch.setattr(
        Path, "exists", lambda p: False if p == tmp_path / "out/T" else real_exists(p)
    )
    before = _snapshot(other.path)
    try:
        code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", str(tmp_path / "out"))
    finally:
        monkeypatch.setattr(Path, "exists", real_exists)
        other.release()
    assert code == 0, err
    assert _snapshot(other.path) == before
    assert (tmp_path / "out/T-1/metrics.jsonl").read_text().count("\n") == 2


def test_the_python_api_refuses_a_folder_that_holds_a_run(tmp_path: Path) -> None:
    config = build_config(toy_config(epochs=2))
    pm = PluginManager([str(TOY_PLUGIN)], autoload=False)
    Trainer(config, plugins=pm, run_dir=tmp_path / "x").fit()
    before = _snapshot(tmp_path / "x")
    with pytest.raises(UsageError, match="already holds a run"):
        Trainer(config, plugins=pm, run_dir=tmp_path / "x").fit()
    assert _snapshot(tmp_path / "x") == before


def test_the_python_api_refuses_a_folder_in_use(tmp_path: Path, held: RunDir) -> None:
    config = build_config(toy_config(epochs=2))
    pm = PluginManager([str(TOY_PLUGIN)], autoload=False)
    with pytest.raises(UsageError, match="in use by another run"):
        Trainer(config, plugins=pm, run_dir=held.path).fit()
    assert not (held.path / "metrics.jsonl").exists()
