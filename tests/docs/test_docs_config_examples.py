"""Every YAML example in the docs and the plugin READMEs is a run that meets the bars, or says
what it demonstrates instead (issue 11, item 5).

The blocks are collected from ``README.md``, ``docs/**/*.md`` and ``plugins/*/README.md``: a
new example is covered without editing this file. Each ```` ```yaml ```` block is one of:

* **a run config or a fragment of one** (its top-level keys are config sections: ``callbacks:``,
  ``losses:``, ``data:``, ... or the seed guide's ``geometry`` / ``loss_weights``). It is merged
  into the default run as ``tvae run FILE`` merges a file (a section given replaces the
  default's; ``trainer`` and ``plugins`` merge key by key) and every component is built, as
  ``tvae validate FILE`` does (fast, in the default run);
* **a sweep file** (``set``, ``grid``, ``search``, ...): every grid variant is resolved against
  the default run, as ``tvae sweep`` does before training;
* anything else.

**The marker.** A block whose first line is a YAML comment ``# demonstrates: <what>`` shows a
feature and is not claimed to reach the bars (a tiny sweep, a setting that needs a server, a
component used twice). Every other config block is a claim that the run it makes, the default
run with the block merged in, meets the bars; the slow test trains each such run with
``tvae run`` (n = 9, as written) and checks them: coverage 1.0, hierarchy <= -0.830, radial,
triplet, level-radial and depth-triplet accuracy >= 0.99 (``summary.json``'s ``final``).
Blocks whose runs train alike (they differ only in callbacks that observe and never change
training: checkpoints, TensorBoard, plots, metric lines, MLflow) are trained once.

A sweep file or a block that is not a config must carry the marker; a config block, marked or
not, must validate. A block breaking either rule fails naming its file and line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from tvae_ternary.bars import QUALITY_BAR, bar_misses

try:  # the standard library's from Python 3.11; TOML blocks are then checked too
    import tomllib  # noqa: F401

    _TOML = True
except ImportError:  # pragma: no cover
    _TOML = False

from tests.docs.blocks import ROOT, Block, skip_unless_registered

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"^#\s*demonstrates:\s*\S.{8,}")
#: Top-level keys of the seed guide's shape, mapped onto config sections when a file loads.
_SEED_SHAPE_KEYS = {"geometry", "loss_weights"}
#: Callbacks that observe a run and never change what it trains.
OBSERVERS = {"checkpoint", "tensorboard", "latent_plot", "metrics", "mlflow"}


def _pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [*pages, *sorted(ROOT.glob("plugins/*/README.md"))]


def parse(block: Block) -> Any:
    """The block's data (TOML for a ``toml`` block, else YAML); raises on a syntax error."""
    if block.lang.lower() == "toml":
        import tomllib

        return tomllib.loads(block.code)
    return yaml.safe_load(block.code)


def config_examples() -> list[Block]:
    """The pages' config examples, with their page relative to the repository: every
    ```` ```yaml ```` block, and each ```` ```toml ```` block holding config or sweep keys (the
    others are other TOML files, such as a ``pyproject.toml``)."""
    out = []
    for path in _pages():
        if not path.is_file():
            continue
        text = path.read_text("utf-8")
        for match in _FENCE.finditer(text):
            lang = match.group(1).lower()
            line = text.count("\n", 0, match.start()) + 1
            block = Block(path.relative_to(ROOT).as_posix(), line, lang, match.group(2))
            if lang in ("yaml", "yml"):
                out.append(block)
            elif lang == "toml" and _TOML:
                try:
                    data = parse(block)
                except ValueError:
                    continue
                if kind(data) != "other":
                    out.append(block)
    return out


def marked(block: Block) -> bool:
    """Whether the block's first line says what it demonstrates."""
    return bool(_MARKER.match(block.code.lstrip("\n").split("\n", 1)[0]))


def kind(data: Any) -> str:
    """``config`` (a run config or a fragment), ``sweep`` (a sweep file) or ``other``."""
    from tvae_core._config import RunConfig
    from tvae_core._experiments.sweep import _KEYS as SWEEP_KEYS

    if not isinstance(data, dict) or not data:
        return "other"
    keys = set(data)
    if keys <= set(RunConfig.model_fields) | _SEED_SHAPE_KEYS:
        return "config"
    if keys <= set(SWEEP_KEYS) and keys & {"set", "grid", "search"}:
        return "sweep"
    return "other"


def _all_first_party_plugins_installed() -> bool:
    for project in ROOT.glob("plugins/*/pyproject.toml"):
        try:
            metadata.distribution(project.parent.name)
        except metadata.PackageNotFoundError:
            return False
    return True


EXAMPLES = config_examples()


def _load(block: Block) -> Any:
    try:
        return parse(block)
    except (yaml.YAMLError, ValueError) as exc:
        pytest.fail(f"{block.id}: the example is not valid {block.lang.upper()}: {exc}")


def _validate_config(block: Block, data: dict[str, Any]) -> None:
    """Merge into the default run and build every component, as ``tvae validate`` does."""
    from tvae_core import PluginManager, TvaeError
    from tvae_core._config.files import build_config
    from tvae_core._engine.trainer import Trainer

    pm = PluginManager()
    try:
        config = build_config(data, source=block.id, merge_default=True)
        if not _all_first_party_plugins_installed():
            skip_unless_registered(config, pm)
        Trainer(config, plugins=pm, source=block.id).setup()
    except TvaeError as exc:
        pytest.fail(f"{block.id}: the example does not validate: {exc}")


def _validate_sweep(block: Block, tmp_path: Path) -> None:
    """Resolve every grid variant against the default run, as ``tvae sweep`` does first."""
    from tvae_core import TvaeError
    from tvae_core._experiments.sweep import Sweep, variants

    file = tmp_path / f"sweep.{block.lang}"
    file.write_text(block.code)
    try:
        sweep = Sweep(file, tmp_path / "runs")
        for i, params in enumerate(variants(sweep.grid) if sweep.grid else [{}]):
            sweep.check(params, what=f"grid variant {i}")
    except TvaeError as exc:
        pytest.fail(f"{block.id}: the sweep file does not validate: {exc}")


def test_the_examples_are_collected_from_the_docs_and_every_plugin_readme() -> None:
    pages = {b.page for b in EXAMPLES}
    assert "docs/guide/configuration.md" in pages
    assert "plugins/tvae-homeostasis/README.md" in pages
    assert len(EXAMPLES) >= 15, [b.id for b in EXAMPLES]


def check_example(block: Block, tmp_path: Path) -> None:
    """Fail naming the block's file and line unless it validates or says what it demonstrates."""
    data = _load(block)
    what = kind(data)
    if what == "config":
        _validate_config(block, data)
    elif what == "sweep":
        _validate_sweep(block, tmp_path)
    if what != "config" and not marked(block):
        shape = "a sweep file" if what == "sweep" else "not a run config"
        pytest.fail(
            f"{block.id}: a YAML example that is {shape} does not reach the bars:"
            " start it with `# demonstrates: <what it shows>`"
        )


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: b.id)
def test_example_validates_or_states_what_it_demonstrates(block: Block, tmp_path: Path) -> None:
    check_example(block, tmp_path)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("callbacks:\n  - {name: early_stoping}\n", "does not validate"),
        ("losses: [{name: kl, weight: -1}]\n", "does not validate"),
        ("set: {epochs: 3}\ngrid: {optimizer.lr: [0.1]}\n", "start it with `# demonstrates:"),
        ("set: {epochz: 3}\n", "the sweep file does not validate"),
        ("nav: [index.md]\n", "start it with `# demonstrates:"),
        ("callbacks: [\n", "not valid YAML"),
    ],
)
def test_a_broken_or_unmarked_example_fails_naming_its_file_and_line(
    code: str, message: str, tmp_path: Path
) -> None:
    block = Block("docs/some/page.md", 42, "yaml", code)
    with pytest.raises(pytest.fail.Exception) as info:
        check_example(block, tmp_path)
    assert str(info.value).startswith("docs/some/page.md:42: "), info.value
    assert message in str(info.value), info.value


def test_a_toml_example_is_read_as_toml(tmp_path: Path) -> None:
    good = Block("docs/p.md", 7, "toml", '[[callbacks]]\nname = "tensorboard"\n')
    check_example(good, tmp_path)
    bad = Block("docs/p.md", 9, "toml", '[[callbacks]]\nname = "tensorbord"\n')
    with pytest.raises(pytest.fail.Exception, match=r"^docs/p.md:9: the example does not"):
        check_example(bad, tmp_path)


def test_the_marker_is_the_first_line_and_says_something(tmp_path: Path) -> None:
    assert marked(Block("p.md", 1, "yaml", "# demonstrates: a tiny sweep\nset: {epochs: 3}\n"))
    assert not marked(Block("p.md", 1, "yaml", "set: {epochs: 3}\n# demonstrates: a sweep\n"))
    assert not marked(Block("p.md", 1, "yaml", "# demonstrates:\nset: {epochs: 3}\n"))
    sweep = "# demonstrates: a tiny sweep\nset: {data.n_trits: 4}\n"
    check_example(Block("p.md", 1, "yaml", sweep), tmp_path)  # marked and valid: passes


def test_the_complete_recipes_are_claimed() -> None:
    """The configuration page's full example and the homeostasis README's are trained."""
    claimed = {b.page for b in EXAMPLES if kind(_parsed(b)) == "config" and not marked(b)}
    assert "docs/guide/configuration.md" in claimed
    assert "plugins/tvae-homeostasis/README.md" in claimed
    assert "docs/guide/training.md" in claimed


def _parsed(block: Block) -> Any:
    """The block's YAML, or None when it does not parse (the fast test reports that)."""
    try:
        return parse(block)
    except (yaml.YAMLError, ValueError):
        return None


def training_key(block: Block) -> str:
    """The run a config block makes, less what cannot change training (observers, output).

    A block that does not validate is its own run (the fast test names its mistake).
    """
    from tvae_core import TvaeError
    from tvae_core._config.files import build_config

    try:
        config = build_config(_parsed(block), source=block.id, merge_default=True)
    except TvaeError:
        return block.id
    data = config.to_dict()
    data["callbacks"] = [c for c in data["callbacks"] if c["name"] not in OBSERVERS]
    for key in ("out_dir", "progress"):
        data["trainer"].pop(key, None)
    return json.dumps(data, sort_keys=True, default=str)


def claimed_runs() -> list[list[Block]]:
    """The unmarked config blocks, grouped by the run they train (page order)."""
    groups: dict[str, list[Block]] = {}
    for block in EXAMPLES:
        if not marked(block) and kind(_parsed(block)) == "config":
            groups.setdefault(training_key(block), []).append(block)
    return list(groups.values())


def test_check_bars_names_each_missed_bar() -> None:
    good = {key: (-0.832 if op == "<=" else 1.0) for key, op, _ in QUALITY_BAR}
    assert bar_misses(good) == []
    bad = {**good, "val/hierarchy": -0.82, "val/depth_triplet_accuracy": 0.98}
    del bad["val/coverage"]
    assert bar_misses(bad) == [
        "val/coverage None (bar >= 1.0)",
        "val/hierarchy -0.82 (bar <= -0.83)",
        "val/depth_triplet_accuracy 0.98 (bar >= 0.99)",
    ]


@pytest.mark.slow  # one whole n = 9 `tvae run` each: 40-90 s on a loaded 2-core CPU
@pytest.mark.parametrize(
    "group", claimed_runs(), ids=lambda g: "+".join(b.id for b in g).replace("/", "_")
)
def test_the_example_trains_to_the_bars(group: list[Block], tmp_path: Path) -> None:
    """``tvae run FILE`` with the group's first block as the whole file, as a user runs it."""
    block = group[0]
    file = tmp_path / f"example.{block.lang}"
    file.write_text(block.code)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "tvae_core", "run", str(file), "--out", str(tmp_path)]
    done = subprocess.run(
        [*cmd, "--name", "run"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"{block.id}: tvae run failed:\n{done.stderr[-3000:]}"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    final = summary["final"]
    missed = bar_misses(final)
    figures = {key: final.get(key) for key, _, _ in QUALITY_BAR}
    covered = ", ".join(b.id for b in group)
    print(f"{covered}: {figures}")  # shown by pytest -rP
    assert not missed, f"{covered}: misses {'; '.join(missed)} (final: {figures})"


def guide_callbacks() -> list[Any]:
    """The training guide's unmarked ``callbacks:`` fragments, in page order, as one list."""
    entries: list[Any] = []
    for block in EXAMPLES:
        data = _parsed(block)
        in_guide = block.page == "docs/guide/training.md" and not marked(block)
        if in_guide and kind(data) == "config" and set(data) == {"callbacks"}:
            entries += data["callbacks"]
    return entries


@pytest.mark.slow  # one whole n = 9 `tvae run`: 25-90 s on a 2-core CPU
def test_the_training_guides_callbacks_together_train_to_the_bars(tmp_path: Path) -> None:
    """The seed's recipe as the guide gives it: the default run with all its callbacks at once."""
    entries = guide_callbacks()
    names = {e["name"] if isinstance(e, dict) else e for e in entries}
    assert {"early_stopping", "checkpoint", "metrics", "homeostasis"} <= names, names
    file = tmp_path / "guide.yaml"
    file.write_text(yaml.safe_dump({"callbacks": entries}, sort_keys=False))
    cmd = [sys.executable, "-m", "tvae_core", "run", str(file), "--out", str(tmp_path)]
    done = subprocess.run(
        [*cmd, "--name", "run"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"tvae run failed:\n{done.stderr[-3000:]}"
    final = json.loads((tmp_path / "run" / "summary.json").read_text())["final"]
    figures = {key: final.get(key) for key, _, _ in QUALITY_BAR}
    print(f"docs/guide/training.md callbacks {sorted(names)}: {figures}")  # pytest -rP
    missed = bar_misses(final)
    assert not missed, f"the training guide's callbacks: misses {'; '.join(missed)} ({figures})"
