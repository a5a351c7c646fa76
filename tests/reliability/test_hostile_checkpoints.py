"""Broken or hostile checkpoints for ``--resume`` and ``tvae export``: one line, exit 2, nothing run.

Truncated at any byte, from another architecture, missing keys, wrong types, not a
checkpoint at all, or a pickle that tries to execute code: each is refused before any
training or writing starts, and the code inside the pickle never runs.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.support import PLUGINS, cli, one_line, toy_config, write_config
from tvae_core import CheckpointError
from tvae_core._run.checkpoint import load_checkpoint

MARKER = "tvae_pwned_marker"


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-epoch toy run (its folder), made once for the module."""
    from tvae_core.cli import main

    folder = tmp_path_factory.mktemp("good")
    config = write_config(folder / "toy.yaml", toy_config(epochs=2))
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
        mp.setenv("TVAE_NO_PLUGIN_COMMANDS", "1")
        try:
            main(["run", str(config), *PLUGINS, "--out", str(folder), "--name", "r", "--json"])
        except SystemExit as exc:
            assert not exc.code
        finally:
            torch.set_num_threads(threads)
    return folder / "r"


class Exploit:
    """Unpickling this would run a shell command that creates the marker file."""

    def __init__(self, where: Path) -> None:
        self.where = where

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return (os.system, (f"touch {self.where / MARKER}",))


def _good_state(good_run: Path) -> dict[str, Any]:
    return torch.load(good_run / "checkpoints" / "last.pt", weights_only=True)


def _write_zip_pickle(path: Path, payload: bytes) -> None:
    """A torch zip checkpoint whose data.pkl is ``payload``."""
    buf = io.BytesIO()
    torch.save({"epoch": 0}, buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = payload if item.filename.endswith("data.pkl") else src.read(item)
            dst.writestr(item, data)


def make_case(name: str, good_run: Path, where: Path) -> Path:
    """Write the broken checkpoint ``name`` into ``where``; its path."""
    path = where / f"{name}.pt"
    good = good_run / "checkpoints" / "last.pt"
    if name == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif name == "empty":
        path.write_bytes(b"")
    elif name == "text":
        path.write_text("epoch: 3\nmodel_state_dict: {}\n")
    elif name == "pickle_exploit":
        path.write_bytes(pickle.dumps(Exploit(where)))
    elif name == "torch_exploit":
        torch.save({"epoch": 1, "payload": Exploit(where)}, path)
    elif name == "zip_exploit":
        _write_zip_pickle(path, pickle.dumps({"epoch": Exploit(where)}, protocol=2))
    else:
        state = _good_state(good_run)
        if name == "missing_keys":
            del state["model_state_dict"], state["optimizer_state_dict"]
        elif name == "wrong_architecture":
            state["model_state_dict"]["enc.weight"] = torch.zeros(16, 4)
            del state["model_state_dict"]["dec.bias"]
        elif name == "extra_weights":
            state["model_state_dict"]["surprise.weight"] = torch.zeros(3)
        elif name == "config_not_a_mapping":
            state["config"] = ["seed", 3]
        elif name == "config_invalid":
            state["config"]["epochs"] = "many"
        elif name == "epoch_not_a_number":
            state["epoch"] = "three"
        elif name == "weights_not_a_mapping":
            state["model_state_dict"] = [1, 2, 3]
        elif name == "not_a_dict":
            state = [state]  # type: ignore[assignment]
        elif name == "optimizer_mismatch":
            state["optimizer_state_dict"]["param_groups"] = []
        else:  # pragma: no cover
            raise AssertionError(name)
        torch.save(state, path)
    return path


LOAD_CASES = [
    "truncated",
    "empty",
    "text",
    "pickle_exploit",
    "torch_exploit",
    "zip_exploit",
    "not_a_dict",
]
STATE_CASES = [
    "missing_keys",
    "wrong_architecture",
    "extra_weights",
    "config_not_a_mapping",
    "config_invalid",
    "epoch_not_a_number",
    "weights_not_a_mapping",
]
RESUME_ONLY = ["optimizer_mismatch"]


def _files(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", LOAD_CASES + STATE_CASES + RESUME_ONLY)
def test_resume_refuses_a_broken_checkpoint(
    case: str, good_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "r"
    shutil.copytree(good_run, run)
    bad = make_case(case, good_run, tmp_path)
    shutil.copy(bad, run / "checkpoints" / "last.pt")
    before = _files(tmp_path)
    for target in (str(bad), str(run)):
        code, _, err = cli(
            capsys, "run", "--resume", target, *PLUGINS, "--out", str(tmp_path / "new")
        )
        line = one_line(err)
        assert code == 2, line
        assert line.startswith("error: ") and ".pt" in line, line
    assert not (tmp_path / MARKER).exists()
    assert _files(tmp_path) == before  # nothing written: no run folder, no summary, no checkpoint
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("case", LOAD_CASES + STATE_CASES)
def test_export_refuses_a_broken_checkpoint(
    case: str,
    good_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("tvae_ternary", reason="tvae export is tvae-ternary's command")
    # The command comes from the installed tvae-ternary: plugin commands on, as for a user.
    monkeypatch.delenv("TVAE_NO_PLUGIN_COMMANDS")
    monkeypatch.delenv("TVAE_DISABLE_PLUGIN_AUTOLOAD")
    bad = make_case(case, good_run, tmp_path)
    code, _, err = cli(capsys, "export", str(bad), *PLUGINS, "--out", str(tmp_path / "e.npz"))
    line = one_line(err)
    assert code == 2, line
    assert line.startswith(f"error: {bad}"), line
    assert not (tmp_path / MARKER).exists()
    assert not (tmp_path / "e.npz").exists()


def test_messages_say_what_is_wrong(good_run: Path, tmp_path: Path) -> None:
    expected = {
        "truncated": "truncated, damaged or not a torch checkpoint",
        "pickle_exploit": "refused; nothing was executed",
        "torch_exploit": "refused; nothing was executed",
        "zip_exploit": "refused; nothing was executed",
        "not_a_dict": "not a tvae checkpoint",
    }
    for case, words in expected.items():
        with pytest.raises(CheckpointError, match=words):
            load_checkpoint(make_case(case, good_run, tmp_path))
    assert not (tmp_path / MARKER).exists()


@pytest.fixture(scope="module")
def good_bytes(good_run: Path) -> bytes:
    return (good_run / "checkpoints" / "last.pt").read_bytes()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.floats(min_value=0.0, max_value=0.9999))
def test_a_checkpoint_cut_anywhere_is_refused(
    good_bytes: bytes, tmp_path: Path, cut: float
) -> None:
    path = tmp_path / "cut.pt"
    path.write_bytes(good_bytes[: int(len(good_bytes) * cut)])
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(at=st.floats(min_value=0.0, max_value=0.9999), byte=st.integers(0, 255))
def test_a_corrupted_byte_never_crashes_the_loader(
    good_bytes: bytes, tmp_path: Path, at: float, byte: int
) -> None:
    data = bytearray(good_bytes)
    data[int(len(data) * at)] = byte
    path = tmp_path / "flip.pt"
    path.write_bytes(bytes(data))
    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(state, dict)  # a flip inside tensor data still loads as data


@pytest.mark.parametrize("name", ["archive/data\n.pkl", "archive/\x1b[31mred", "archive/é\r"])
def test_a_damaged_record_name_is_named_on_one_printable_line(tmp_path: Path, name: str) -> None:
    """A flipped byte can turn a record's name into a newline or an escape code (hypothesis
    found ``archive/.storage_\\nlignment``): the CRC error names it escaped, on one line."""
    path = tmp_path / "named.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(name, b"payload bytes of the record")
    data = bytearray(path.read_bytes())
    at = data.index(b"payload")
    data[at] ^= 0xFF  # the record's data no longer matches its CRC
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="fails its CRC check") as info:
        load_checkpoint(path)
    text = str(info.value)
    assert text.isprintable() and "\n" not in text
    assert ascii(name)[1:-1] in text
