"""The code blocks of the other docs pages run, their configs are valid, and they cover the code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.docs.blocks import (
    DOCS,
    ROOT,
    Block,
    blocks,
    run_python,
    skip_unless_importable,
    skip_unless_registered,
)

PAGES = [
    "index.md",
    "getting-started.md",
    "guide/configuration.md",
    "guide/domain.md",
    "plugins/writing.md",
    "plugins/testing.md",
    "plugins/datasets.md",
]
PYTHON = [b for page in PAGES for b in blocks(page, "python") if not b.snippets]
SNIPPETS = [b for page in PAGES for b in blocks(page) if b.snippets]
YAML = [b for page in PAGES for b in blocks(page, "yaml")]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
    yield tmp_path


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.id)
def test_python_block_runs_and_its_tests_pass(block: Block, in_tmp: Path) -> None:
    skip_unless_importable(block.code)
    ns = run_python(block)
    for name, value in list(ns.items()):
        if name.startswith("test_") and callable(value):
            value()


@pytest.mark.parametrize("block", SNIPPETS, ids=lambda b: b.id)
def test_included_files_exist(block: Block) -> None:
    for path in block.snippets:
        assert (ROOT / path).is_file(), path


@pytest.mark.parametrize("block", YAML, ids=lambda b: b.id)
def test_yaml_block_is_a_valid_config(block: Block) -> None:
    from tvae_core import PluginManager, build_config
    from tvae_core._engine.build import plan_run

    config = build_config(yaml.safe_load(block.code), source=block.id, merge_default=True)
    pm = PluginManager()
    skip_unless_registered(config, pm)
    plan_run(config, pm, source=block.id)


def test_configuration_page_documents_every_key() -> None:
    from tvae_core._config import PluginsConfig, RunConfig, TrainerConfig

    text = (DOCS / "guide" / "configuration.md").read_text()
    for model in (RunConfig, TrainerConfig, PluginsConfig):
        for key in model.model_fields:
            assert f"| `{key}` |" in text, f"{model.__name__}.{key} is not documented"


def test_domain_page_states_the_hierarchy_ceilings() -> None:
    import math

    text = (DOCS / "guide" / "domain.md").read_text()
    for n in (2, 3, 4, 9):
        sizes = [2 * 3 ** (n - 1 - k) for k in range(n)] + [1]
        big_n = 3**n
        ties = sum(m * (m * m - 1) for m in sizes)
        ceiling = math.sqrt(1 - ties / (big_n * (big_n**2 - 1)))
        assert f"−{ceiling:.5f}" in text, (n, ceiling)


def test_every_page_is_in_the_navigation() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    generated = {"reference/hooks.md", "reference/components.md", "reference/cli.md"}
    for page in pages | generated:
        assert page in nav, page


def test_the_tutorials_check_output_is_what_the_example_plugin_gets() -> None:
    import re

    from tvae_core._tools.plugin_check import check_plugin

    shown = next(
        b for b in blocks("plugins/writing.md", "text") if "$ tvae plugins check" in b.code
    )
    expected = shown.code.strip().splitlines()[2:]  # after the prompt and the header line
    report = check_plugin(str(ROOT / "examples" / "tvae-example-plugin"))
    actual = report.render().splitlines()[1:]

    def timeless(lines: list[str]) -> list[str]:
        return [re.sub(r"imports in \d+ ms", "imports in N ms", line) for line in lines]

    assert timeless(actual) == timeless(expected)


def test_the_error_examples_are_what_tvae_prints(tmp_path: Path) -> None:
    from tvae_core import PluginManager, TvaeError
    from tvae_core._config import load_config
    from tvae_core._engine.build import plan_run

    pm = PluginManager()
    if ("loss", "padic_ranking") not in pm.registry or (
        "dataset",
        "ternary_ops",
    ) not in pm.registry:
        pytest.skip("tvae-losses and tvae-ternary are not installed")
    shown = next(b for b in blocks("guide/configuration.md", "text") if "error:" in b.code)
    files = [  # each shown as my.yaml, the page's name for the user's file
        "losses:\n  - {name: reconstruction}\n  - {name: kl}\n  - {name: padic_ranking, margn: 0.1}\n",
        "trainer: {val_every: 0}\n",
        "losses:\n  - {name: reconstruction}\n  - {name: kll}\n",
    ]
    printed = []
    for i, text in enumerate(files):
        (tmp_path / str(i)).mkdir()
        (tmp_path / str(i) / "my.yaml").write_text(text)
        with pytest.raises(TvaeError) as info:
            plan_run(load_config(tmp_path / str(i) / "my.yaml"), pm, source="my.yaml")
        printed.append(f"error: {info.value}".replace(f"{tmp_path / str(i)}/", ""))
    assert printed == shown.code.strip().splitlines()


def test_the_seed_shape_example_loads_and_its_error_is_what_tvae_prints(tmp_path: Path) -> None:
    from tvae_core import TvaeError
    from tvae_core._config import load_config

    page = "guide/configuration.md"
    example = next(b for b in blocks(page, "yaml") if "loss_weights" in b.code)
    (tmp_path / "seed.yaml").write_text(example.code)
    config = load_config(tmp_path / "seed.yaml")
    assert (config.model.latent_dim, config.optimizer.lr, config.loss_weights.ranking) == (
        8,
        1e-3,
        0.1,
    )
    shown = next(b for b in blocks(page, "text") if "2 problems" in b.code)
    (tmp_path / "my.yaml").write_text(
        "geometry: {latent_dim: 8, hidden: 3}\nloss_weights: {rankin: 0.1}\n"
    )
    with pytest.raises(TvaeError) as info:
        load_config(tmp_path / "my.yaml")
    printed = f"error: {info.value}".replace(f"{tmp_path}/", "")
    assert printed == shown.code.strip()
