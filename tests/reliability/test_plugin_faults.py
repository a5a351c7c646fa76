"""A faulty plugin is reported with its name and version; it breaks only the runs that need it.

Load-time faults (import failure, a raising hook, a bad hook signature, a name registered
twice) leave ``tvae list`` and ``tvae plugins`` working and every other plugin usable. A
component that raises mid-training fails the run with one line naming it and its plugin,
exit code 1, ``status: failed`` in the summary and the last checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.reliability.support import PLUGINS, cli, load_state, one_line, toy_config, write_config
from tvae_core import PluginManager
from tvae_core._plugins.discovery import EntryPointRecord, discover

HEADER = "from tvae_core import hookimpl\n__version__ = '9.9.1'\n"
BROKEN = {
    "import_fails": HEADER + "import a_module_that_is_nowhere\n",
    "hook_raises": HEADER
    + "@hookimpl\ndef tvae_register_losses(register):\n"
    + "    register('broken_loss', 'math:fabs')\n    raise RuntimeError('hook exploded')\n",
    "bad_signature": HEADER + "@hookimpl\ndef tvae_register_losses(registrar):\n    pass\n",
    "unknown_hook": HEADER + "@hookimpl\ndef tvae_register_lossez(register):\n    pass\n",
    "twice": HEADER
    + "@hookimpl\ndef tvae_register_losses(register):\n"
    + "    register('twice_loss', 'math:fabs')\n    register('twice_loss', 'math:fabs')\n",
    "bad_factory": HEADER
    + "@hookimpl\ndef tvae_register_losses(register):\n    register('lazy_loss', 'no_colon_here')\n",
    "raises_on_exit": HEADER + "raise SystemExit(3)\n",
}
EXPECTED_ERROR = {
    "import_fails": "import failed: ModuleNotFoundError",
    "hook_raises": "tvae_register_losses raised RuntimeError: hook exploded",
    "bad_signature": "registrar",
    "unknown_hook": "unknown hook 'tvae_register_lossez' (did you mean 'tvae_register_losses'?)",
    "twice": "registered loss 'twice_loss' twice",
    "bad_factory": "a lazy factory is written 'package.module:attribute'",
    "raises_on_exit": "import failed: SystemExit",
}


def _plugin(tmp_path: Path, name: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(BROKEN[name])
    return str(path)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_listing_survives_a_broken_plugin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    bad = _plugin(tmp_path, name)
    code, out, _ = cli(capsys, "plugins", "--json", *PLUGINS, "--plugin", bad)
    assert code == 0
    infos = {p["name"]: p for p in json.loads(out)}
    assert infos[name]["status"] == "failed"
    assert EXPECTED_ERROR[name] in infos[name]["error"]
    assert infos["toy_plugin"]["status"] == infos["fault_plugin"]["status"] == "loaded"
    code, out, _ = cli(capsys, "list", "loss", "--json", *PLUGINS, "--plugin", bad)
    assert code == 0
    assert {"mse", "faulty_mse"} <= {row["name"] for row in json.loads(out)}
    code, out, err = cli(capsys, "list", *PLUGINS, "--plugin", bad)
    assert code == 0 and "faulty_mse" in out
    assert err.strip() == "1 plugin(s) failed to load; see `tvae plugins`"


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_run_not_needing_the_broken_plugin_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    config = write_config(tmp_path / "ok.yaml", toy_config(epochs=1))
    bad = _plugin(tmp_path, name)
    code, _, err = cli(
        capsys, "run", str(config), *PLUGINS, "--plugin", bad, "--out", "out", "--json"
    )
    assert code == 0, err


@pytest.mark.parametrize(
    ("name", "loss"),
    [("hook_raises", "broken_loss"), ("twice", "twice_loss")],
)
def test_a_run_needing_the_broken_plugin_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, loss: str
) -> None:
    config = write_config(tmp_path / "needs.yaml", toy_config(epochs=1, losses=[{"name": loss}]))
    bad = _plugin(tmp_path, name)
    code, _, err = cli(capsys, "run", str(config), *PLUGINS, "--plugin", bad, "--out", "out")
    line = one_line(err)
    assert code == 2
    assert "losses[0].name" in line and f"{name!r}" in line and "9.9.1" in line
    assert EXPECTED_ERROR[name] in line
    assert not Path("out").exists()


@pytest.mark.parametrize(
    ("changes", "blamed"),
    [
        (
            {"losses": [{"name": "faulty_mse", "at_step": 6, "mode": "raise"}]},
            "losses[0]: loss 'faulty_mse' of plugin 'fault_plugin'",
        ),
        (
            {"metrics": [{"name": "raising_metric", "at_call": 1}]},
            "metric 'raising_metric' of plugin 'fault_plugin'",
        ),
        (
            {"callbacks": [{"name": "raising_callback", "at_epoch": 1}]},
            "callbacks[0]: callback 'raising_callback' of plugin 'fault_plugin'",
        ),
    ],
    ids=["loss", "metric", "callback"],
)
def test_a_component_raising_mid_training_fails_the_run_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, object], blamed: str
) -> None:
    config = write_config(
        tmp_path / "raise.yaml", toy_config(epochs=4, trainer={"val_every": 1}, **changes)
    )
    code, _, err = cli(capsys, "run", str(config), *PLUGINS, "--out", "out", "--name", "r")
    line = one_line(err)
    assert code == 1
    assert blamed in line, line
    run = Path("out/r")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert blamed in summary["error"]
    state = load_state(run / "checkpoints" / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model_state_dict"].values())


def test_a_factory_that_raises_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(
        tmp_path / "neg.yaml", toy_config(model={"name": "toy_model", "hidden": -5})
    )
    code, _, err = cli(capsys, "run", str(config), *PLUGINS, "--out", "out")
    line = one_line(err)
    assert code == 2
    assert line.startswith("error: model: model 'toy_model' of plugin 'toy_plugin'")
    assert "failed to build: RuntimeError" in line
    assert not Path("out").exists()


def test_two_plugins_giving_one_name_must_be_told_apart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other_mse.py"
    other.write_text(
        HEADER + "@hookimpl\ndef tvae_register_losses(register):\n"
        "    register('mse', 'tests.core.toy_plugin:MSE')\n"
    )
    config = write_config(tmp_path / "amb.yaml", toy_config(epochs=1))
    code, _, err = cli(capsys, "run", str(config), *PLUGINS, "--plugin", str(other), "--out", "out")
    line = one_line(err)
    assert code == 2
    assert "losses[0].name: loss 'mse' is provided by several plugins" in line
    assert "'toy_plugin:mse'" in line and "'other_mse:mse'" in line


@pytest.fixture
def installed_broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed distribution tvae-fake 1.2.3 whose entry point fails to import."""
    site = tmp_path / "site"
    info = site / "tvae_fake-1.2.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tvae-fake\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[tvae.plugins]\nfake = tvae_fake_plugin\n")
    (site / "tvae_fake_plugin.py").write_text("import a_module_that_is_nowhere\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("TVAE_DISABLE_PLUGIN_AUTOLOAD")

    def only_fake() -> list[EntryPointRecord]:  # the other installed plugins stay out
        return [e for e in discover("tvae.plugins") if e.distribution == "tvae-fake"]

    monkeypatch.setattr(PluginManager, "_entry_points", staticmethod(only_fake))


@pytest.mark.usefixtures("installed_broken_plugin")
def test_an_installed_plugin_that_fails_to_import_is_named_with_its_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "plugins", "--json", *PLUGINS)
    infos = {p["name"]: p for p in json.loads(out)}
    assert code == 0
    assert (infos["fake"]["distribution"], infos["fake"]["version"]) == ("tvae-fake", "1.2.3")
    assert infos["fake"]["status"] == "failed"
    config = write_config(
        tmp_path / "needs.yaml", toy_config(epochs=1, losses=[{"name": "fake_loss"}])
    )
    code, _, err = cli(capsys, "run", str(config), *PLUGINS, "--out", "out")
    line = one_line(err)
    assert code == 2
    assert "losses[0].name: no loss named 'fake_loss'" in line
    assert "'fake' (tvae-fake 1.2.3: import failed: ModuleNotFoundError" in line
    code, _, err = cli(
        capsys,
        "run",
        str(write_config(tmp_path / "ok.yaml", toy_config(epochs=1))),
        *PLUGINS,
        "--out",
        "out",
    )
    assert code == 0, err
