"""The claims of README, getting-started and the guide pages hold (issue 17, item 6).

Every ``tvae`` command line in their shell blocks names a real command with real options,
the install lines name real folders, and the stated defaults and timings are the code's.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.blocks import DOCS, ROOT, blocks

SHELL_PAGES = [
    "../README.md",
    "getting-started.md",
    "guide/configuration.md",
    "guide/training.md",
    "guide/experiments.md",
]


def _command_lines() -> list[tuple[str, list[str]]]:
    out = []
    for page in SHELL_PAGES:
        for block in blocks(page, "bash"):
            joined = block.code.replace("\\\n", " ")
            for raw in joined.splitlines():
                for part in re.split(r"&&|\|", raw.split("  #")[0]):
                    words = shlex.split(part.split(" > ")[0], comments=True)
                    if words and words[0] == "tvae":
                        out.append((f"{block.id}: {part.strip()}", words[1:]))
    return out


COMMANDS = _command_lines()


def _help(words: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from tvae_core.cli import main

    try:
        main([*words, "-h"])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


@pytest.mark.parametrize(("where", "words"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_each_documented_command_and_option_exists(
    where: str, words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    command = []
    for word in words:  # the subcommand words: up to the first argument or option
        if word.startswith("-") or "/" in word or "." in word or "=" in word:
            break
        code, _ = _help([*command, word], capsys)
        if code != 0:
            break
        command.append(word)
        if word in ("run", "validate", "config", "show", "list", "export", "plot"):
            break
    assert command, f"{where}: no such tvae command"
    code, text = _help(command, capsys)
    assert code == 0, where
    for word in words:
        if word.startswith("--"):
            assert word.split("=")[0] in text, f"{where}: tvae {' '.join(command)} has no {word}"


def test_there_are_commands_to_check() -> None:
    assert len(COMMANDS) > 20


def test_install_lines_name_folders_of_this_repository() -> None:
    lines = [b.code for b in blocks("getting-started.md", "bash")]
    text = " ".join(lines).replace("\\\n", " ")
    paths = re.findall(r"-e (\S+)", text)
    assert len(paths) >= 7
    for path in paths:
        assert (ROOT / path / "pyproject.toml").is_file(), path
    # the published form is for later: no shell block installs by name from an index
    assert not re.search(r"^pip install tvae-", text, re.MULTILINE)
    assert (ROOT / "requirements-dev.txt").is_file()


def test_the_configuration_page_states_the_default_epochs() -> None:
    from tvae_core._config import RunConfig, default_config

    row = next(
        line
        for line in (DOCS / "guide" / "configuration.md").read_text().splitlines()
        if line.startswith("| `epochs` |")
    )
    assert f"`{RunConfig.model_fields['epochs'].default}`" in row
    assert f"default config, `tvae config`: `{default_config().epochs}`" in row


def test_getting_started_says_show_imports_torch_and_listing_does_not() -> None:
    text = (DOCS / "getting-started.md").read_text()
    assert "`tvae show` imports the" in text and "torch included" in text
    probe = (
        "import sys\n"
        "from tvae_core.cli import main\n"
        "try:\n    main({args})\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, file=sys.stderr)\n"
    )
    for args, imports_torch in ((["list", "loss"], False), (["show", "loss", "kl"], True)):
        done = subprocess.run(
            [sys.executable, "-c", probe.format(args=args)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.stderr.strip().splitlines()[-1] == str(imports_torch), args


def test_the_readme_begins_with_the_two_commands_and_states_the_suite_time() -> None:
    readme = (ROOT / "README.md").read_text()
    first, second = (b.code.strip() for b in blocks("../README.md", "bash")[:2])
    assert first == (
        "python3 -m venv .venv && . .venv/bin/activate && "
        "pip install -r requirements-dev.txt && tvae run"
    )
    assert second == ". .venv/bin/activate && python -m pytest -q"
    assert "about 7 minutes on a 2-core CPU machine" in readme
    assert Path(ROOT / "constraints.txt").is_file()


def test_the_home_page_has_no_code_line_wider_than_a_narrow_column() -> None:
    # at 1400 px the page's content column shows about 80 monospace characters
    for block in blocks("index.md"):
        for line in block.code.splitlines():
            assert len(line) <= 80, f"{block.id}: {line}"


def _early_stopping_examples() -> list[tuple[str, int, int, dict[str, object]]]:
    import yaml

    from tvae_core._config import default_config

    found = []
    for page in ("guide/configuration.md", "guide/training.md"):
        for block in blocks(page, "yaml"):
            data = yaml.safe_load(block.code)
            for cb in data.get("callbacks") or []:
                if isinstance(cb, dict) and cb.get("name") == "early_stopping":
                    epochs = data.get("epochs", default_config().epochs)
                    every = (data.get("trainer") or {}).get(
                        "val_every", default_config().trainer.val_every
                    )
                    found.append((block.id, epochs, every, cb))
    return found


@pytest.mark.parametrize(
    ("block_id", "epochs", "every", "stop"),
    _early_stopping_examples(),
    ids=[e[0] for e in _early_stopping_examples()],
)
def test_the_early_stopping_examples_stop_a_run(
    block_id: str, epochs: int, every: int, stop: dict[str, object]
) -> None:
    """The example's epochs, val_every and early_stopping entry, run on the tiny kit.

    ``min_delta`` is raised so that nothing after the first validation improves: the run
    must then stop, ``patience`` epochs (rounded up to a validation) after the first one.
    """
    from tvae_core.testing import tiny_trainer

    config = {
        "epochs": epochs,
        "callbacks": [{**stop, "min_delta": 1e9}],
        "trainer": {"val_every": every},
    }
    trainer = tiny_trainer(config, ["tvae_callbacks.plugin"])
    trainer.fit()
    reason = trainer.control.stop_reason or ""
    assert reason.startswith("early stopping: val/loss did not improve"), (block_id, reason)
    patience = int(stop["patience"])  # type: ignore[call-overload]
    assert trainer.epoch == every + -(-patience // every) * every, block_id  # in epochs


def test_the_set_blame_example_is_what_tvae_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tvae_core.cli import main

    text = (DOCS / "guide" / "configuration.md").read_text()
    shown = re.search(r"`(error: --set epochz=5: [^`]+)`", text)
    assert shown is not None
    (tmp_path / "my.yaml").write_text("epochs: 3\n")
    with pytest.raises(SystemExit) as info:
        main(["validate", str(tmp_path / "my.yaml"), "--set", "epochz=5"])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip() == shown.group(1)
