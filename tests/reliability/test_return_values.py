"""What a plugin's loss or metric returns is checked, and a wrong kind names the plugin and
the component (issue 12, item 19): one line, the run ends failed, last.pt intact."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import PLUGINS, cli, one_line, toy_config, write_config

RETURNS = ["--plugin", str(Path(__file__).parent / "return_plugin.py")]


def _run(capsys: pytest.CaptureFixture[str], config: dict[str, Any]) -> tuple[int, str]:
    path = write_config(Path("c.yaml"), config)
    code, _, err = cli(capsys, *PLUGINS, *RETURNS, "run", str(path), "--out", "out", "--name", "r")
    return code, err


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("vector", "returned a torch.float32 tensor of shape [4]"),
        ("none", "returned None"),
        ("float", "returned a float (a plain number has no gradient)"),
        ("str", "returned a str"),
        ("int_tensor", "returned a torch.int64 tensor of shape []"),
    ],
)
def test_a_loss_of_the_wrong_kind_names_itself(
    capsys: pytest.CaptureFixture[str], kind: str, what: str
) -> None:
    config = toy_config(
        epochs=2, losses=[{"name": "mse"}, {"name": "bad_return_loss", "kind": kind}]
    )
    code, err = _run(capsys, config)
    assert code == 1
    line = one_line(err)
    assert line.startswith("error: losses[1]: loss 'bad_return_loss' of plugin 'return_plugin'")
    assert what in line and "a loss returns a one-element floating-point tensor" in line
    assert json.loads(Path("out/r/summary.json").read_text())["status"] == "failed"


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("str", "returned a str for 'val/bad_return_metric'"),
        ("vector", "returned a tensor of shape [4] for 'val/bad_return_metric'"),
        ("none", "returned None for 'val/bad_return_metric'"),
        ("dict_str", "returned a str for 'val/a'"),
    ],
)
def test_a_metric_of_the_wrong_kind_names_itself(
    capsys: pytest.CaptureFixture[str], kind: str, what: str
) -> None:
    config = toy_config(
        epochs=2,
        metrics=[{"name": "bad_return_metric", "kind": kind}],
        trainer={"val_every": 1},
    )
    code, err = _run(capsys, config)
    assert code == 1
    line = one_line(err)
    assert "metrics[0]: metric 'bad_return_metric' of plugin 'return_plugin'" in line
    assert what in line


def test_numbers_and_one_element_tensors_are_fine(capsys: pytest.CaptureFixture[str]) -> None:
    config = toy_config(
        epochs=1, metrics=[{"name": "bad_return_metric", "kind": "float"}], trainer={"val_every": 1}
    )
    code, err = _run(capsys, config)
    assert code == 0, err
