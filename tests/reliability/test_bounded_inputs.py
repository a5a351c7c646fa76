"""Small hostile inputs do not tie up the machine (issue 12, item 3).

Nested YAML anchors, a checkpoint config that shares one list a billion times over, deep
nesting, a FIFO, ``/dev/zero`` or a huge file given as a config: each is refused in one
line with exit code 2 within moments, before anything expands it, and no error message
formats a whole hostile value.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.reliability.support import PLUGINS, cli, one_line, toy_config, write_config
from tvae_core._config.limits import MAX_CONFIG_BYTES, check_plain_data, short_repr
from tvae_core._errors import ConfigError

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def _shared(levels: int, fanout: int = 2) -> list[Any]:
    """A list that expands to fanout**levels leaves: each level holds the one below
    ``fanout`` times."""
    node: list[Any] = [0]
    for _ in range(levels):
        node = [node] * fanout
    return node


def _run(capsys: pytest.CaptureFixture[str], config: str, *extra: str) -> tuple[int, str, float]:
    start = time.perf_counter()
    code, _, err = cli(capsys, *PLUGINS, "run", config, "--out", "out", "--name", "r", *extra)
    return code, err, time.perf_counter() - start


@pytest.mark.parametrize(
    ("text", "suffix", "says"),
    [
        (LAUGHS, ".yaml", "holds more than 100000 values (counting each shared reference"),
        ("a: &a 1\nb: [" + ", ".join(["*a"] * 300) + "]\n", ".yaml", "more than 256 YAML aliases"),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", ".yaml", "nested more than 32 levels deep"),
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", ".toml", "nested more than 32 levels deep"),
        ("seed: " + "[" * 40 + "]" * 40 + "\n", ".yaml", "nested more than 32 levels deep"),
        ("seed: '" + "x" * 70_000 + "'\n", ".yaml", "a string of 70000 characters"),
    ],
    ids=[
        "anchors",
        "many-aliases",
        "deep-yaml",
        "deep-toml",
        "deep-seed",
        "long-string",
    ],
)
def test_a_hostile_config_file_is_refused_quickly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, suffix: str, says: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_text(text)
    code, err, took = _run(capsys, str(path))
    assert code == 2
    line = one_line(err)
    assert says in line and str(path) in line
    assert took < 5 and len(line) < 300
    assert not (tmp_path / "out").exists()


def test_the_anchors_are_571_bytes(tmp_path: Path) -> None:
    assert len(LAUGHS) < 600  # the reproduction: a file this small ran past 200 s


def test_a_fifo_a_device_and_a_huge_file_are_not_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    code, err, _ = _run(capsys, str(fifo))
    assert code == 2 and "is not a regular file" in one_line(err)
    code, err, _ = _run(capsys, "/dev/zero")  # reading it would never end
    assert code == 2 and "is not a regular file" in one_line(err)
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * MAX_CONFIG_BYTES + "\nseed: 1\n")
    code, err, _ = _run(capsys, str(big))
    assert code == 2 and "larger than 256 KiB" in one_line(err)
    assert not (tmp_path / "out").exists()


def test_a_hostile_set_value_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", toy_config())
    code, err, _ = _run(capsys, str(config), "--set", "data.x=" + "[" * 500 + "]" * 500)
    assert code == 2 and "--set data.x" in one_line(err)


def test_a_checkpoint_config_of_shared_references_is_refused_quickly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", toy_config(epochs=1))
    code, _, err = cli(capsys, *PLUGINS, "run", str(config), "--out", "good", "--name", "g")
    assert code == 0, err
    state = torch.load(tmp_path / "good/g/checkpoints/last.pt", weights_only=True)
    state["config"]["data"]["size"] = _shared(8, 20)  # 20**8 leaves in a few hundred bytes
    evil = tmp_path / "evil.pt"
    torch.save(state, evil)
    assert evil.stat().st_size < 64 << 10
    start = time.perf_counter()
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", str(evil), "--out", "out")
    assert code == 2
    line = one_line(err)
    assert "the checkpoint's config holds more than 100000 values" in line
    assert time.perf_counter() - start < 5 and len(line) < 300
    assert not (tmp_path / "out").exists()
    state["config"]["data"]["size"] = [list(range(50))] * 50  # within bounds, still wrong
    torch.save(state, evil)
    code, _, err = cli(capsys, *PLUGINS, "run", "--resume", str(evil), "--out", "out")
    assert code == 2
    line = one_line(err)
    assert "data.size" in line and len(line) < 300


def test_an_error_never_formats_a_whole_value() -> None:
    start = time.perf_counter()
    text = short_repr(_shared(200))  # 2**200 leaves: a plain repr would never end
    assert len(text) <= 60 and time.perf_counter() - start < 1
    assert len(short_repr("x" * 10**6)) <= 60


def test_plain_data_is_counted_without_recursion() -> None:
    with pytest.raises(ConfigError, match="holds more than 100000 values"):
        check_plain_data({"a": list(range(120_000))})
    deep: list[Any] = []
    for _ in range(100_000):  # deeper than Python's recursion limit
        deep = [deep]
    with pytest.raises(ConfigError, match="nested more than 32 levels deep"):
        check_plain_data(deep)
