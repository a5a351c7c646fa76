"""What a checkpoint holds is checked when it is saved, not when a resume fails on it
(issue 12, item 9)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reliability.support import PLUGINS, cli, one_line, toy_config, write_config

BAD = Path(__file__).parent / "bad_state_plugin.py"


@pytest.mark.parametrize(("kind", "what"), [("path", "PosixPath"), ("numpy", "float64")])
def test_a_state_a_resume_could_not_load_fails_the_save(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, what: str
) -> None:
    config = toy_config(epochs=3, callbacks=[{"name": "bad_state", "kind": kind}])
    path = write_config(tmp_path / "c.yaml", config)
    code, _, err = cli(
        capsys, *PLUGINS, "--plugin", str(BAD), "run", str(path), "--out", "out", "--name", "r"
    )
    assert code == 1
    line = one_line(err)
    assert "the state of callback 'BadState' is not checkpoint-safe" in line
    assert f"holds a {what} at callbacks['BadState']['bad'][0]" in line
    assert not (tmp_path / "out/r/checkpoints/last.pt").exists()  # nothing unreadable saved
    assert json.loads((tmp_path / "out/r/summary.json").read_text())["status"] == "failed"
