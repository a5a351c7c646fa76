"""The hostile-input matrix (issue 12, "Bars"): configs, checkpoints, paths and plugins.

Each row builds one hostile input in its own folder and runs the CLI on it in this
process. Every row must end with its exit code (2 unless it says otherwise), at most one
``error:`` line and no traceback, and must write nothing: the folder it ran in (inputs,
a victim folder and the original run copied there) is the same, bytes and mtimes, after
it as before. ``test_the_matrix_is_large`` keeps the table honest about its size; the
printed summary (``pytest -s``) gives inputs tried and handled.
"""

from __future__ import annotations

import io
import os
import pickle
import shutil
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.reliability.support import PLUGINS, cli, snapshot, toy_config, write_config

MARKER = "tvae_matrix_marker"


@dataclass(frozen=True)
class Row:
    name: str
    #: builds the input in the folder given (with ``good/r``, a finished toy run, copied
    #: in) and returns the command line after ``tvae``
    build: Callable[[Path], list[str]]
    code: int = 2


def _config(folder: Path, text: str, name: str = "bad.yaml") -> list[str]:
    (folder / name).write_text(text)
    return [*PLUGINS, "run", str(folder / name), "--out", str(folder / "out")]


def _config_bytes(folder: Path, data: bytes, name: str = "bad.yaml") -> list[str]:
    (folder / name).write_bytes(data)
    return [*PLUGINS, "run", str(folder / name), "--out", str(folder / "out")]


def _toy(folder: Path, *sets: str, **changes: Any) -> list[str]:
    path = write_config(folder / "toy.yaml", toy_config(**changes))
    extra = [x for s in sets for x in ("--set", s)]
    return [*PLUGINS, "run", str(path), "--out", str(folder / "out"), *extra]


def _state(folder: Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(folder / "good/r/checkpoints/last.pt", weights_only=True)
    return state


def _resume(folder: Path, path: Path) -> list[str]:
    return [*PLUGINS, "run", "--resume", str(path), "--out", str(folder / "out"), "-s", "epochs=4"]


def _ckpt(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], list[str]]:
    """A row resuming the good checkpoint after ``change(state)`` (which may return another)."""

    def build(folder: Path) -> list[str]:
        state = _state(folder)
        changed = change(state)
        path = folder / "evil.pt"
        torch.save(state if changed is None else changed, path)
        return _resume(folder, path)

    return build


def _ckpt_bytes(make: Callable[[bytes], bytes]) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        path = folder / "evil.pt"
        path.write_bytes(make((folder / "good/r/checkpoints/last.pt").read_bytes()))
        return _resume(folder, path)

    return build


def _in_run(make: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    """A row that damages the copied run's own files, then resumes the run."""

    def build(folder: Path) -> list[str]:
        make(folder / "good/r")
        return [*PLUGINS, "run", "--resume", str(folder / "good/r"), "-s", "epochs=4"]

    return build


class _Exploit:
    def __init__(self, where: Path) -> None:
        self.where = where

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[str]]:
        return (os.system, (f"touch {self.where / MARKER}",))


def _pickle_exploit(folder: Path) -> list[str]:
    path = folder / "evil.pt"
    path.write_bytes(pickle.dumps({"epoch": 1, "x": _Exploit(folder)}))
    return _resume(folder, path)


def _torch_exploit(folder: Path) -> list[str]:
    path = folder / "evil.pt"
    torch.save({"epoch": 1, "x": _Exploit(folder)}, path)
    return _resume(folder, path)


def _flip_weight(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size)
    out = bytearray(data)
    n, e = struct.unpack("<HH", out[info.header_offset + 26 : info.header_offset + 30])
    out[info.header_offset + 30 + n + e] ^= 0xFF
    return bytes(out)


def _zip_bomb(folder: Path) -> list[str]:
    buf = io.BytesIO()
    torch.save({"epoch": 0}, buf)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data/9", b"\0" * (32 << 20))
    path = folder / "evil.pt"
    path.write_bytes(buf.getvalue())
    return _resume(folder, path)


def _shared(levels: int, fanout: int) -> list[Any]:
    node: list[Any] = [0]
    for _ in range(levels):
        node = [node] * fanout
    return node


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(state: dict[str, Any]) -> None:
        state[key] = value

    return change


def _set_config(path: list[str], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(state: dict[str, Any]) -> None:
        node = state["config"]
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return change


def _opt_moment(state: dict[str, Any]) -> None:
    entry = next(iter(state["optimizer_state_dict"]["state"].values()))
    entry["exp_avg"] = torch.zeros(1)


def _nan_weight(state: dict[str, Any]) -> None:
    key = next(iter(state["model_state_dict"]))
    state["model_state_dict"][key] = torch.full_like(state["model_state_dict"][key], float("nan"))


def _log_to_folder(run: Path) -> None:
    (run / "metrics.jsonl").unlink()
    (run / "metrics.jsonl").mkdir()


def _fifo(folder: Path) -> list[str]:
    os.mkfifo(folder / "fifo.yaml")
    return [*PLUGINS, "run", str(folder / "fifo.yaml")]


def _plugin(text: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        (folder / "plug.py").write_text(text)
        path = write_config(folder / "toy.yaml", toy_config(losses=[{"name": "its_loss"}]))
        return [*PLUGINS, "-p", str(folder / "plug.py"), "run", str(path), "--out", "out"]

    return build


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)

ROWS: list[Row] = [
    # -- configs ---------------------------------------------------------------------------
    Row("config-missing", lambda f: [*PLUGINS, "run", str(f / "nosuch.yaml")]),
    Row("config-directory", lambda f: [*PLUGINS, "run", str(f)]),
    Row("config-empty", lambda f: _config(f, "")),
    Row("config-bad-yaml", lambda f: _config(f, "a: [1, 2\n")),
    Row("config-bad-toml", lambda f: _config(f, "a = = 1\n", "bad.toml")),
    Row("config-top-level-list", lambda f: _config(f, "- 1\n- 2\n")),
    Row("config-bad-utf8", lambda f: _config_bytes(f, b"seed: \xff\xfe\n")),
    Row("config-nul-bytes", lambda f: _config_bytes(f, b"\0" * 64)),
    Row("config-anchors", lambda f: _config(f, LAUGHS)),
    Row("config-aliases", lambda f: _config(f, "a: &a 1\nb: [" + "*a, " * 300 + "]\n")),
    Row("config-deep-yaml", lambda f: _config(f, "a: " + "[" * 5000 + "]" * 5000 + "\n")),
    Row("config-deep-toml", lambda f: _config(f, "a = " + "[" * 5000 + "]" * 5000, "d.toml")),
    Row("config-long-string", lambda f: _config(f, "seed: '" + "x" * 70_000 + "'\n")),
    Row("config-huge-file", lambda f: _config(f, "#" * (300 << 10) + "\n")),
    Row("config-fifo", _fifo),
    Row("config-dev-zero", lambda f: [*PLUGINS, "run", "/dev/zero"]),
    Row("config-unknown-key", lambda f: _toy(f, hiden=3)),
    Row("config-unknown-trainer-key", lambda f: _toy(f, trainer={"val_evry": 1})),
    Row("config-wrong-type", lambda f: _toy(f, epochs="many")),
    Row("config-huge-number", lambda f: _toy(f, seed=10**30)),
    Row("config-negative-epochs", lambda f: _toy(f, epochs=-1)),
    Row("config-unknown-model", lambda f: _toy(f, model={"name": "nosuch"})),
    Row("config-unknown-loss", lambda f: _toy(f, losses=[{"name": "nosuch"}])),
    Row("config-bad-setting", lambda f: _toy(f, model={"name": "toy_model", "hidden": "x"})),
    Row("config-nan-weight", lambda f: _toy(f, losses=[{"name": "mse", "weight": float("nan")}])),
    Row("set-malformed", lambda f: _toy(f, "no-equals-sign")),
    Row("set-bad-path", lambda f: _toy(f, "losses[9].weight=1")),
    Row("set-deep-value", lambda f: _toy(f, "data.x=" + "[" * 500 + "]" * 500)),
    Row("set-wrong-type", lambda f: _toy(f, "trainer.val_every=often")),
    Row("set-skip-limit", lambda f: _toy(f, "trainer.max_skipped_steps=0")),
    # -- checkpoints -------------------------------------------------------------------------
    Row("ckpt-empty", _ckpt_bytes(lambda d: b"")),
    Row("ckpt-truncated", _ckpt_bytes(lambda d: d[: len(d) // 2])),
    Row("ckpt-random", _ckpt_bytes(lambda d: bytes(range(256)) * 8)),
    Row("ckpt-text", _ckpt_bytes(lambda d: b"epoch: 3\n")),
    Row("ckpt-flipped-weight", _ckpt_bytes(_flip_weight)),
    Row("ckpt-pickle-exploit", _pickle_exploit),
    Row("ckpt-torch-exploit", _torch_exploit),
    Row("ckpt-zip-bomb", _zip_bomb),
    Row("ckpt-not-a-dict", _ckpt(lambda s: [s])),
    Row("ckpt-missing-config", _ckpt(lambda s: s.pop("config") and None)),
    Row("ckpt-epoch-str", _ckpt(_set("epoch", "three"))),
    Row("ckpt-epoch-negative", _ckpt(_set("epoch", -1))),
    Row("ckpt-config-list", _ckpt(_set("config", ["seed", 3]))),
    Row("ckpt-config-shared", _ckpt(_set_config(["data", "size"], _shared(8, 20)))),
    Row("ckpt-config-wrong", _ckpt(_set_config(["trainer", "val_every"], "often"))),
    Row("ckpt-weights-list", _ckpt(_set("model_state_dict", [1, 2]))),
    Row("ckpt-nan-weight", _ckpt(_nan_weight)),
    Row("ckpt-moment-shape", _ckpt(_opt_moment)),
    Row("ckpt-rng-str", _ckpt(_set("rng", "x"))),
    Row("ckpt-best-list", _ckpt(_set("best", [1]))),
    Row("ckpt-weights-str", _ckpt(_set("loss_weights", {"mse": "heavy"}))),
    Row("ckpt-scheduler-list", _ckpt(_set("scheduler_state_dict", [1]))),
    Row("ckpt-callbacks-list", _ckpt(_set("callbacks", [1]))),
    Row("ckpt-deep-state", _ckpt(_set("callbacks", {"0:Recorder": {"x": _shared(100, 1)}}))),
    # -- run folders and paths -----------------------------------------------------------------
    Row("resume-nosuch", lambda f: [*PLUGINS, "run", "--resume", str(f / "nosuch")]),
    Row("resume-empty-folder", lambda f: [*PLUGINS, "run", "--resume", str(f)]),
    Row("resume-last-none", lambda f: [*PLUGINS, "run", "--resume", "last", "--out", str(f)]),
    Row("resume-and-config", lambda f: [*PLUGINS, "run", "x.yaml", "--resume", "last"]),
    Row("resume-completed", lambda f: [*PLUGINS, "run", "--resume", str(f / "good/r")]),
    Row(
        "resume-replaced-last",
        _in_run(lambda r: torch.save(_state(r.parent.parent), r / "checkpoints/last.pt")),
    ),
    Row(
        "resume-log-is-folder",
        _in_run(_log_to_folder),
    ),
    Row("name-with-slash", lambda f: [*_toy(f), "--name", "a/b"]),
    Row("name-dotdot", lambda f: [*_toy(f), "--name", ".."]),
    Row("name-taken", lambda f: [*_toy(f), "--out", str(f / "good"), "--name", "r"]),
    Row("out-below-a-file", lambda f: [*_toy(f), "--out", str(f / "toy.yaml/x")]),
    Row("runs-nosuch", lambda f: ["runs", str(f / "nosuch")]),
    Row("compare-one", lambda f: ["runs", "compare", str(f / "good/r")]),
    Row("new-plugin-proc", lambda f: ["new-plugin", "foo", "--dir", "/proc"]),
    Row("new-plugin-bad-name", lambda f: ["new-plugin", "../x", "--dir", str(f / "p")]),
    Row("evaluate-nosuch", lambda f: [*PLUGINS, "evaluate", str(f / "nosuch.pt")]),
    # -- plugins -----------------------------------------------------------------------------
    Row("plugin-nosuch", lambda f: ["-p", str(f / "nosuch.py"), "run"]),
    Row("plugin-import-fails", _plugin("raise RuntimeError('broken at import')\n")),
    Row(
        "plugin-hook-exits",
        _plugin(
            "import sys\nfrom tvae_core import hookimpl\n"
            "@hookimpl\ndef tvae_register_losses(register):\n    sys.exit(3)\n"
        ),
    ),
    Row(
        "plugin-factory-raises",
        _plugin(
            "from tvae_core import hookimpl\n"
            "def make():\n    raise ValueError('no')\n"
            "@hookimpl\ndef tvae_register_losses(register):\n"
            "    register('its_loss', make, description='raises')\n"
        ),
    ),
    Row(
        "plugin-prints-and-exits-in-import",
        _plugin("print('hi')\nimport sys\nsys.exit(0)\n"),
    ),
]


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.conftest import TOY_PLUGIN
    from tvae_core import PluginManager, Trainer
    from tvae_core._config import build_config

    folder = tmp_path_factory.mktemp("good") / "r"
    pm = PluginManager([str(TOY_PLUGIN)], autoload=False)
    config = build_config(toy_config(epochs=2))
    threads = torch.get_num_threads()
    try:
        Trainer(config, plugins=pm, run_dir=folder).fit()
    finally:
        torch.set_num_threads(threads)
    return folder


RESULTS: dict[str, bool] = {}


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_hostile_input(
    row: Row, good_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "case"
    folder.mkdir()
    shutil.copytree(good_run, folder / "good/r")
    (folder / "victim").mkdir()
    (folder / "victim/keep.txt").write_text("precious")
    args = row.build(folder)
    before = snapshot(folder)
    RESULTS[row.name] = False
    code, _, err = cli(capsys, *args)
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == row.code, err
    assert len(errors) == 1, err
    assert len([line for line in err.splitlines() if line.strip()]) <= 3, err  # + warnings
    assert len(errors[0]) < 600, errors[0]
    assert snapshot(folder) == before  # nothing written, nothing deleted
    assert not (folder / MARKER).exists()
    assert not (folder / "out").exists() and not Path("out").exists()
    RESULTS[row.name] = True


def test_the_matrix_is_large() -> None:
    assert len(ROWS) >= 75
    assert len({r.name for r in ROWS}) == len(ROWS)


def teardown_module() -> None:
    if RESULTS:
        handled = sum(RESULTS.values())
        print(f"\nhostile-input matrix: {len(RESULTS)} inputs tried, {handled} handled cleanly")
