"""Helpers of the reliability tests: toy configs, the CLI in-process and in a subprocess."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from tests.conftest import TOY_CONFIG, TOY_PLUGIN
from tvae_core.cli import main

FAULT_PLUGIN = Path(__file__).parent / "fault_plugin.py"
PLUGINS = ["--plugin", str(TOY_PLUGIN), "--plugin", str(FAULT_PLUGIN)]
REPO = Path(__file__).resolve().parents[2]


def toy_config(**changes: Any) -> dict[str, Any]:
    """The core's toy run on one CPU thread (fast and bit-reproducible), with ``changes`` applied.

    The CPU even where a GPU is present: these tests pin the CPU's exact behaviour (a check
    at every step, identical weights after a resume); CUDA's own tests ask for ``cuda``.
    """
    config = copy.deepcopy(TOY_CONFIG)
    config["trainer"] = {
        **config["trainer"],
        "device": "cpu",
        "num_threads": 1,
        "checkpoint_every": 1,
    }
    for key, value in changes.items():
        if key == "trainer":
            config["trainer"].update(value)
        else:
            config[key] = value
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``tvae ARGS`` in this process; the exit code, stdout and stderr."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TVAE_")}
    env.update(TVAE_DISABLE_PLUGIN_AUTOLOAD="1", TVAE_NO_PLUGIN_COMMANDS="1", PYTHONPATH=str(REPO))
    env.update(extra)
    return env


def tvae_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tvae_core", *args]


def run_tvae(
    cwd: Path, *args: str, timeout_s: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``tvae ARGS`` in a subprocess; its result (a SIGKILLed run has returncode -9)."""
    return subprocess.run(
        tvae_command(*args),
        cwd=cwd,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def load_state(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_training_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Same epoch, step, weights and optimizer moments, bit for bit."""
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"])
    assert a["model_state_dict"].keys() == b["model_state_dict"].keys()
    for key, value in a["model_state_dict"].items():
        assert torch.equal(value, b["model_state_dict"][key]), key
    for pid, state in a["optimizer_state_dict"]["state"].items():
        for key, value in state.items():
            other = b["optimizer_state_dict"]["state"][pid][key]
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(other)), (pid, key)


def one_line(err: str) -> str:
    """The single line of ``err``, failing if there are several or a traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def snapshot(folder: Path, *, lock: bool = False) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and mtime (the run lock only with ``lock``)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file() and (lock or p.name != ".lock")
    }
