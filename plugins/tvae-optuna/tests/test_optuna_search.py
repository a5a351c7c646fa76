"""tvae-optuna: the search spec, trials as run folders, pruning, resuming, workers on one storage.

The runs are the core's tiny run (tvae_core.testing: n = 3, a few epochs), so each trial
trains in a fraction of a second; the worker test starts real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from tvae_optuna.spec import ParamSpace, parse_search

from tvae_core import ConfigError, run_sweep
from tvae_core.testing import TINY_CONFIG, plugin_manager, tiny_plugin

#: A module the worker processes load as a plugin (``--plugin``): the tiny kit's plugin.
TINY_PLUGIN_FILE = Path(__file__).parent / "tiny_kit_plugin.py"


def _sweep(tmp_path: Path, search: dict[str, Any], **extra: Any) -> Path:
    base = {
        **TINY_CONFIG,
        "epochs": 3,
        "scheduler": {"name": "constant"},
        "callbacks": [],
        "trainer": {**TINY_CONFIG["trainer"], "progress": False, "val_every": 2},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(base))
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump({"base": "tiny.yaml", "search": search, **extra}))
    return path


def _pm() -> Any:
    return plugin_manager(tiny_plugin, "tvae_optuna.plugin")


SEARCH = {
    "trials": 3,
    "metric": "val/tiny_coverage",
    "params": {"optimizer.lr": {"low": 1.0e-3, "high": 5.0e-2, "log": True}},
    "sampler": {"name": "random", "seed": 0},
}


def test_param_spaces_and_spec_errors() -> None:
    assert ParamSpace(low=1, high=4).type == "int"
    assert ParamSpace(low=1.0e-3, high=1.0).type == "float"
    assert ParamSpace(choices=[2, 4]).type == "categorical"
    bad = [
        ({**SEARCH, "trails": 3}, "search.trails: unknown key 'trails'; did you mean 'trials'?"),
        ({**SEARCH, "params": {"x": {"low": 2.0, "high": 1.0}}}, "low (2.0) is above high (1.0)"),
        (
            {**SEARCH, "params": {"x": {"low": 0.0, "high": 1.0, "log": True}}},
            "log range needs low > 0",
        ),
        ({**SEARCH, "sampler": "anneal"}, "sampler 'anneal' is not one of"),
        (
            {k: v for k, v in SEARCH.items() if k != "metric"},
            "search.metric: required key is missing",
        ),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError) as info:
            parse_search(data, "s.yaml")
        assert message in str(info.value) and "\n" not in str(info.value)


def test_a_search_runs_trials_as_run_folders_and_resumes(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, SEARCH, name="lr")
    results = run_sweep(sweep, tmp_path / "out", plugins=_pm())
    search = results["search"]
    assert search["direction"] == "maximize"  # tiny_coverage: higher is better (undeclared)
    assert [t["state"] for t in search["trials"]] == ["COMPLETE"] * 3
    for trial in search["trials"]:
        (run,) = trial["runs"]
        folder = tmp_path / "out" / run
        summary = json.loads((folder / "summary.json").read_text())
        assert trial["value"] == summary["final"]["val/tiny_coverage"]
        config = yaml.safe_load((folder / "config.yaml").read_text())
        assert config["optimizer"]["lr"] == trial["params"]["optimizer.lr"]
        assert json.loads((folder / "sweep.json").read_text())["trial"] == trial["number"]
    best = max(search["trials"], key=lambda t: t["value"])
    assert search["best"]["value"] == best["value"]
    assert (tmp_path / "out" / "lr" / "study.db").is_file()
    on_disk = json.loads((tmp_path / "out" / "lr" / "results.json").read_text())
    assert on_disk["search"]["trials"] == search["trials"]
    # Asking for more trials of the same study runs only the missing ones.
    sweep = _sweep(tmp_path, {**SEARCH, "trials": 4}, name="lr")
    again = run_sweep(sweep, tmp_path / "out", plugins=_pm())["search"]
    assert len(again["trials"]) == 4 and again["trials"][:3] == search["trials"]


def test_the_direction_comes_from_the_metric_or_the_sweep(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, {**SEARCH, "trials": 1, "metric": "val/loss"}, name="loss")
    assert run_sweep(sweep, tmp_path / "out", plugins=_pm())["search"]["direction"] == "minimize"
    sweep = _sweep(tmp_path, {**SEARCH, "trials": 1, "metric": "lr"}, name="lr-key")
    with pytest.raises(ConfigError, match="declares no direction"):
        run_sweep(sweep, tmp_path / "out", plugins=_pm())
    sweep = _sweep(
        tmp_path,
        {**SEARCH, "trials": 1, "metric": "val/nothing", "direction": "minimize"},
        name="x",
    )
    with pytest.raises(ConfigError, match="has no final value of 'val/nothing'"):
        run_sweep(sweep, tmp_path / "out", plugins=_pm())


def test_pruning_stops_a_trial_after_the_epoch_optuna_prunes_it(tmp_path: Path) -> None:
    # A coverage below 2 prunes at the first report past warm-up: every trial, at epoch 2 (step 1).
    pruner = {"name": "threshold", "lower": 2.0, "n_warmup_steps": 1}
    sweep = _sweep(tmp_path, {**SEARCH, "trials": 2, "pruner": pruner}, name="pruned")
    search = run_sweep(sweep, tmp_path / "out", plugins=_pm())["search"]
    assert [t["state"] for t in search["trials"]] == ["PRUNED", "PRUNED"]
    assert search["best"] is None
    folder = tmp_path / "out" / search["trials"][0]["runs"][0]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "stopped_early" and summary["epochs"] == 2
    assert summary["stop_reason"].startswith("pruned by Optuna at epoch 2")
    # Pruning judges each epoch: the trials validate every epoch.
    assert yaml.safe_load((folder / "config.yaml").read_text())["trainer"]["val_every"] == 1
    assert (folder / "checkpoints" / "last.pt").is_file()  # `tvae run --resume` continues it


def test_storage_mistakes_are_one_line(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path, {**SEARCH, "storage": "nosuchdb://x"}, name="bad")
    with pytest.raises(ConfigError, match=r"search\.storage: Optuna cannot open nosuchdb://x"):
        run_sweep(sweep, tmp_path / "out", plugins=_pm())


def test_a_journal_storage(tmp_path: Path) -> None:
    journal = tmp_path / "shared" / "study.log"
    sweep = _sweep(tmp_path, {**SEARCH, "trials": 2, "storage": f"journal:{journal}"}, name="j")
    search = run_sweep(sweep, tmp_path / "out", plugins=_pm())["search"]
    assert journal.is_file() and len(search["trials"]) == 2
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(
        study_name="j", storage=JournalStorage(JournalFileBackend(str(journal)))
    )
    assert len(study.trials) == 2


def test_two_worker_processes_share_one_study_prune_and_list_their_trials(tmp_path: Path) -> None:
    """The issue's bar: 4 trials, 2 parallel worker processes, one storage, pruning told to."""
    pruner = {"name": "threshold", "lower": 2.0, "n_warmup_steps": 1}
    search = {**SEARCH, "trials": 4, "workers": 2, "pruner": pruner}
    sweep = _sweep(tmp_path, search, name="two")
    env = {**os.environ, "TVAE_DISABLE_PLUGIN_AUTOLOAD": "1", "TVAE_NO_PLUGIN_COMMANDS": "1"}
    plugins = ["--plugin", str(TINY_PLUGIN_FILE), "--plugin", "tvae_optuna.plugin"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tvae_core",
            "sweep",
            str(sweep),
            "--out",
            str(tmp_path / "out"),
            "--json",
            *plugins,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["search"]
    assert "4 trials to run in 2 processes" in done.stderr
    assert len(results["trials"]) == 4 and results["counts"] == {"PRUNED": 4}
    study = optuna.load_study(
        study_name="two", storage=f"sqlite:///{tmp_path / 'out' / 'two' / 'study.db'}"
    )
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    listed = subprocess.run(
        [sys.executable, "-m", "tvae_core", "runs", str(tmp_path / "out"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    runs = {r["name"]: r for r in json.loads(listed.stdout)}
    assert set(runs) == {f"two-t{i}" for i in range(4)}
    assert all(r["status"] == "stopped_early" for r in runs.values())
    # Both processes trained, two trials each (the sweep splits the trials among them).
    pids = [
        json.loads(Path(r["path"], "sweep.json").read_text())["worker_pid"] for r in runs.values()
    ]
    assert sorted(pids.count(p) for p in set(pids)) == [2, 2]
