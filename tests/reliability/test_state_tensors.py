"""Every state tensor of a checkpoint is checked against the model and optimizer before it
is loaded (issue 12, item 2): a crafted moment used to end in an OOM kill or a segfault."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.reliability.support import PLUGINS, cli, load_state, one_line, toy_config, write_config


def _first_moment(ckpt: dict[str, Any]) -> dict[str, Any]:
    return ckpt["optimizer_state_dict"]["state"][0]


def _shape(ckpt: dict[str, Any]) -> None:
    _first_moment(ckpt)["exp_avg"] = torch.zeros(1)


def _dtype(ckpt: dict[str, Any]) -> None:
    m = _first_moment(ckpt)
    m["exp_avg_sq"] = m["exp_avg_sq"].double()


def _nan_moment(ckpt: dict[str, Any]) -> None:
    _first_moment(ckpt)["exp_avg"].view(-1)[0] = float("nan")


def _inf_step(ckpt: dict[str, Any]) -> None:
    _first_moment(ckpt)["step"] = torch.tensor(float("inf"))


def _vector_step(ckpt: dict[str, Any]) -> None:
    _first_moment(ckpt)["step"] = torch.zeros(10**6)


def _stray_state(ckpt: dict[str, Any]) -> None:
    ckpt["optimizer_state_dict"]["state"][999] = {"exp_avg": torch.zeros(3)}


def _group_count(ckpt: dict[str, Any]) -> None:
    groups = ckpt["optimizer_state_dict"]["param_groups"]
    groups.append(dict(groups[0]))


def _param_count(ckpt: dict[str, Any]) -> None:
    ckpt["optimizer_state_dict"]["param_groups"][0]["params"].pop()


def _nan_weight(ckpt: dict[str, Any]) -> None:
    weight = next(iter(ckpt["model_state_dict"].values()))
    weight.view(-1)[0] = float("nan")


def _weight_dtype(ckpt: dict[str, Any]) -> None:
    key = next(iter(ckpt["model_state_dict"]))
    ckpt["model_state_dict"][key] = ckpt["model_state_dict"][key].double()


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "moment shape": (_shape, "exp_avg has shape [1], the parameter"),
    "moment dtype": (_dtype, "exp_avg_sq has dtype torch.float64"),
    "NaN moment": (_nan_moment, "exp_avg holds NaN or Inf"),
    "Inf step": (_inf_step, "step holds NaN or Inf"),
    "vector step": (_vector_step, "step has shape [1000000], not a single number"),
    "stray state": (_stray_state, "state for parameter 999, which no group lists"),
    "group count": (_group_count, "2 parameter groups, the optimizer has 1"),
    "param count": (_param_count, "group 0 has"),
    "NaN weight": (_nan_weight, "holds NaN or Inf"),
    "weight dtype": (_weight_dtype, "dtype torch.float64 vs torch.float32"),
}


@pytest.fixture
def good_checkpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> dict[str, Any]:
    path = write_config(tmp_path / "c.yaml", toy_config(epochs=2))
    code, _, err = cli(capsys, *PLUGINS, "run", str(path), "--out", "good", "--name", "r")
    assert code == 0, err
    return load_state(tmp_path / "good/r/checkpoints/last.pt")


@pytest.mark.parametrize("case", list(CASES))
def test_a_state_tensor_that_does_not_fit_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    good_checkpoint: dict[str, Any],
    case: str,
) -> None:
    change, message = CASES[case]
    ckpt = {
        **good_checkpoint,
        "config": {**good_checkpoint["config"], "epochs": 4},
        "model_state_dict": {k: v.clone() for k, v in good_checkpoint["model_state_dict"].items()},
        "optimizer_state_dict": {
            "state": {
                pid: {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in s.items()}
                for pid, s in good_checkpoint["optimizer_state_dict"]["state"].items()
            },
            "param_groups": [
                {**g, "params": list(g["params"])}
                for g in good_checkpoint["optimizer_state_dict"]["param_groups"]
            ],
        },
    }
    change(ckpt)
    path = tmp_path / "crafted.pt"
    torch.save(ckpt, path)
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", str(path), "--out", "out")
    assert code == 2, err
    line = one_line(err)
    assert message in line and "crafted.pt" in line
    assert not (tmp_path / "out").exists()  # refused before anything was written
