"""A run's files follow the user's umask, not mkstemp's 0600 (issue 12, item 13)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.support import PLUGINS, cli, toy_config, write_config


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_run_files_are_readable_by_colleagues(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, umask_022: None
) -> None:
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "out", "--name", "r")
    assert code == 0, err
    run = tmp_path / "out/r"
    for name in ("config.yaml", "run.json", "summary.json", "metrics.jsonl", "checkpoints/last.pt"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o644, name
