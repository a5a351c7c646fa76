"""docs/guide/experiments.md: its files are written and its commands run, in page order."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.core.test_cli import cli
from tests.docs.blocks import DOCS, blocks

PAGE = "guide/experiments.md"
_TITLED = re.compile(r'^```yaml title="([^"]+)"\n(.*?)^```', re.MULTILINE | re.DOTALL)


def _files() -> dict[str, str]:
    return dict(_TITLED.findall((DOCS / PAGE).read_text("utf-8")))


def _commands() -> list[str]:
    return [
        line.removeprefix("$ ")
        for b in blocks(PAGE, "console")
        for line in b.code.splitlines()
        if line.startswith("$ ")
    ]


def test_the_page_shows_files_and_commands() -> None:
    assert set(_files()) == {"lr.yaml", "search.yaml"}
    assert _commands()[0] == "tvae sweep lr.yaml --out runs"


def test_the_pages_commands_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tvae_core import PluginManager

    pm = PluginManager()
    for kind, name in (("dataset", "ternary_ops"), ("loss", "padic_ranking")):
        if (kind, name) not in pm.registry:
            pytest.skip("tvae-ternary and tvae-losses are not installed")
    has_optuna = any(i.name == "optuna" and i.status == "loaded" for i in pm.plugins())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TVAE_NO_PLUGIN_COMMANDS", "1")
    for name, text in _files().items():
        (tmp_path / name).write_text(text)
    outputs = {}
    for command in _commands():
        if "search.yaml" in command and not has_optuna:
            continue
        code, out, err = cli(capsys, *shlex.split(command)[1:])
        assert code == 0, (command, err)
        outputs[command] = (out, err)

    # The worked sweep: 4 runs and a mean +- std table (the bar).
    out, err = outputs["tvae sweep lr.yaml --out runs"]
    assert err.count("completed") == 4 and "mean ± std over 2 seeds (0, 1)" in out
    assert re.search(r"val/triplet_accuracy\s+\S+ ± \S+\s+\S+ ± \S+", out)
    runs = json.loads(cli(capsys, "runs", "runs", "--json")[1])
    names = {r["name"] for r in runs}
    assert {"lr-g0-s0", "lr-g0-s1", "lr-g1-s0", "lr-g1-s1"} <= names
    # evaluate reproduces the run's final validation exactly; padic_ranking is train_only.
    result = json.loads(outputs["tvae evaluate runs/lr-g1-s0 --json"][0])
    final = json.loads((tmp_path / "runs" / "lr-g1-s0" / "summary.json").read_text())["final"]
    assert result["metrics"] == {k: v for k, v in final.items() if k.startswith("val/")}
    assert "val/padic_ranking" not in result["metrics"] and "val/radial" in result["metrics"]
    printed = yaml.safe_load(outputs["tvae run --set data.n_trits=4 --print-config"][0])
    assert printed["data"]["n_trits"] == 4
    if has_optuna:
        results = json.loads((tmp_path / "runs" / "lr-search" / "results.json").read_text())
        search = results["search"]
        assert len(search["trials"]) == 4 and search["direction"] == "maximize"
        assert {f"lr-search-t{i}" for i in range(4)} <= names | {
            r["name"] for r in json.loads(cli(capsys, "runs", "runs", "--json")[1])
        }
