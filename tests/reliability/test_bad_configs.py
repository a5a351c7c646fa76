"""Malformed configs end with exit code 2 and one line naming the key path; nothing starts.

Hypothesis breaks the toy config in every way a user can: wrong types, unknown keys,
unknown components, out-of-range and huge values, invalid YAML or TOML, empty files, random
text. Each run must exit with code 2, print one line without a traceback (naming the key
path where there is one) and leave no run folder behind.
"""

from __future__ import annotations

import copy
import math
import string
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.reliability.support import PLUGINS, cli, one_line, toy_config

BASE = toy_config(epochs=1)

# -- the ways to break a config: each draws (file text, suffix, words the error must hold) ------
Case = tuple[str, str, str | None]

identifiers = st.text(string.ascii_lowercase + "_", min_size=3, max_size=12).filter(
    lambda s: s.strip("_") != ""
)
not_an_int = st.one_of(
    st.text(max_size=5).filter(lambda s: not s.strip().lstrip("+-").isdigit()),
    st.lists(st.integers(), max_size=2),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)),
    st.dictionaries(identifiers, st.integers(), max_size=2),
)
not_a_component: st.SearchStrategy[Any] = st.one_of(
    st.integers(),
    st.lists(st.integers(), max_size=2),
    st.just({}),
    st.just({"name": ""}),
    st.floats(allow_nan=False),
)
huge = st.integers(min_value=10**19, max_value=10**40)


def _dump(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)


def _mutated(path: Sequence[str | int], value: Any) -> str:
    config = copy.deepcopy(BASE)
    node: Any = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return _dump(config)


def _shown(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@st.composite
def wrong_types(draw: st.DrawFn) -> Case:
    key = draw(st.sampled_from(["seed", "epochs"]))
    return _mutated([key], draw(not_an_int)), ".yaml", key


@st.composite
def wrong_sections(draw: st.DrawFn) -> Case:
    key = draw(st.sampled_from(["data", "model", "optimizer", "scheduler", "trainer", "losses"]))
    value = draw(not_a_component)
    if key == "trainer" and isinstance(value, dict):
        value = 7
    path: list[str | int] = [key]
    if key == "losses":
        path, value = [key, 0], value if not isinstance(value, dict) or value else 3
    return _mutated(path, value), ".yaml", _shown(path) if key != "losses" else "losses"


TRAINER_BAD: dict[str, st.SearchStrategy[Any]] = {
    "device": st.one_of(st.integers(), st.sampled_from(["gpu", "cuda:x", "tpu", ""])),
    "precision": st.sampled_from(["8", "64", 16, "fp16", "bf16"]),
    "grad_clip": st.one_of(st.floats(max_value=0.0, allow_nan=False), st.just("big")),
    "val_every": st.one_of(st.integers(max_value=0), st.just("two"), st.just(1.5)),
    "checkpoint_every": st.one_of(st.integers(max_value=0), st.just([1])),
    "on_nonfinite": st.sampled_from(["ignore", "", 1, "STOP"]),
    "num_threads": st.one_of(st.integers(max_value=0), st.just("all")),
    "log_every_steps": st.integers(max_value=0),
    "progress": st.sampled_from(["maybe", 3, [True]]),
    "out_dir": st.sampled_from([5, [1], {"a": 1}]),
}


@st.composite
def bad_trainer_values(draw: st.DrawFn) -> Case:
    key = draw(st.sampled_from(sorted(TRAINER_BAD)))
    return _mutated(["trainer", key], draw(TRAINER_BAD[key])), ".yaml", f"trainer.{key}"


@st.composite
def unknown_keys(draw: st.DrawFn) -> Case:
    where: list[str | int] = draw(
        st.sampled_from(
            [[], ["trainer"], ["plugins"], ["model"], ["data"], ["optimizer"], ["losses", 0]]
        )
    )
    key = draw(identifiers.filter(lambda k: k not in _known(where)))
    return _mutated([*where, key], 1), ".yaml", _shown([*where, key])


def _known(where: Sequence[str | int]) -> set[str]:
    node: Any = BASE
    for part in where:
        node = node[part]
    extra = {"name", "weight", "in_dim", "size", "dim", "batch_size", "hidden", "dropout", "lr"}
    extra |= {"betas", "eps", "weight_decay", "amsgrad", "foreach", "maximize", "capturable"}
    extra |= {"differentiable", "fused", "decoupled_weight_decay", "scale", "required"}
    from tvae_core._config import RunConfig, TrainerConfig

    return set(node) | extra | set(RunConfig.model_fields) | set(TrainerConfig.model_fields)


@st.composite
def unknown_components(draw: st.DrawFn) -> Case:
    where: list[str | int] = draw(
        st.sampled_from(
            [
                ["data"],
                ["model"],
                ["optimizer"],
                ["scheduler"],
                ["losses", 0],
                ["metrics", 0],
                ["callbacks", 0],
            ]
        )
    )
    name = draw(identifiers.filter(lambda n: n not in _REGISTERED))
    # metrics and callbacks are given as bare names in the toy config
    path = where if where[0] in ("metrics", "callbacks") else [*where, "name"]
    return _mutated(path, name), ".yaml", f"{_shown(where)}.name"


_REGISTERED = {
    "toy_data",
    "toy_model",
    "latent_nan_model",
    "adam",
    "adamw",
    "sgd",
    "constant",
    "cosine",
    "warmup_cosine",
    "mse",
    "needs_missing",
    "faulty_mse",
    "toy_accuracy",
    "raising_metric",
    "recorder",
    "chaos",
    "raising_callback",
}


OUT_OF_RANGE: list[tuple[list[str | int], Any, str]] = [
    (["epochs"], 0, "epochs"),
    (["epochs"], -3, "epochs"),
    (["seed"], -1, "seed"),
    (["losses", 0, "weight"], float("nan"), "losses[0].weight"),
    (["losses", 0, "weight"], float("inf"), "losses[0].weight"),
    (["optimizer", "lr"], -0.5, "optimizer"),
    (["optimizer", "lr"], float("nan"), "optimizer"),
    (["data", "batch_size"], 0, "data"),
    (["data", "size"], 0, "data"),
    (["model", "hidden"], -4, "model"),
    (["model", "dropout"], 1.5, "model"),
    (["scheduler", "warmup_epochs"], -2, "scheduler"),
    (["losses"], [], "losses"),
    (["plugins", "required"], ["tvae-not-installed>=1"], "plugins.required[0]"),
    (["plugins", "required"], ["not a specifier!!"], "plugins.required[0]"),
    (["trainer", "device"], "cuda:3", "trainer.device"),
]


@st.composite
def out_of_range(draw: st.DrawFn) -> Case:
    path, value, words = draw(st.sampled_from(OUT_OF_RANGE))
    return _mutated(path, value), ".yaml", words


@st.composite
def huge_numbers(draw: st.DrawFn) -> Case:
    key: list[str | int] = draw(
        st.sampled_from(
            [
                ["epochs"],
                ["seed"],
                ["trainer", "num_threads"],
                ["model", "hidden"],
                ["data", "size"],
            ]
        )
    )
    # a component rejects it (too large for a tensor); the run's own keys name their path
    words = key[0] if key[0] in ("model", "data") else _shown(key)
    return _mutated(key, draw(huge)), ".yaml", words


@st.composite
def broken_text(draw: st.DrawFn) -> Case:
    """Damaged or random text; the error need not name a key (there may be none)."""
    good = _dump(BASE)
    kind = draw(st.sampled_from(["cut", "garbage", "random", "toml", "empty"]))
    if kind == "cut":
        return (
            good[: draw(st.integers(1, len(good) - 1))]
            + draw(st.sampled_from(["{", "[", ": :", '"'])),
            ".yaml",
            None,
        )
    if kind == "garbage":
        return (
            draw(st.sampled_from(["a: b: c", "- [", "key: 'open", "\t- x", "{a: 1, b", "? ? ?"])),
            ".yaml",
            None,
        )
    if kind == "random":
        return draw(st.text(max_size=60)), ".yaml", None
    if kind == "toml":
        return (
            draw(
                st.one_of(
                    st.text(max_size=40),
                    st.sampled_from(["seed = = 1", "[trainer\n", "epochs = 'x'"]),
                )
            ),
            ".toml",
            None,
        )
    return (
        draw(st.sampled_from(["", "\n\n", "# only a comment\n", "   "])),
        draw(st.sampled_from([".yaml", ".yml"])),
        "empty",
    )


every_case = st.one_of(
    wrong_types(),
    wrong_sections(),
    bad_trainer_values(),
    unknown_keys(),
    unknown_components(),
    out_of_range(),
    huge_numbers(),
    broken_text(),
)


def check_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, case: Case) -> str:
    text, suffix, words = case
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # hypothesis reuses tmp_path across examples
    path = folder / f"bad{suffix}"
    path.write_text(text)
    out = folder / "out"
    code, _, err = cli(capsys, "run", str(path), *PLUGINS, "--out", str(out), "--name", "r")
    line = one_line(err)
    assert code == 2, (text, line)
    assert line.startswith("error: "), line
    if words is not None:
        assert words in line, (text, line)
    assert not out.exists(), f"a run folder was created for: {line}"
    return line


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=every_case)
def test_every_malformed_config_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: Case
) -> None:
    check_refused(capsys, tmp_path, case)


@pytest.mark.parametrize(("path", "value", "words"), OUT_OF_RANGE)
def test_each_out_of_range_value(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    path: list[str | int],
    value: Any,
    words: str,
) -> None:
    check_refused(capsys, tmp_path, (_mutated(path, value), ".yaml", words))


def test_messages_suggest_the_close_match(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = check_refused(
        capsys, tmp_path, (_mutated(["model", "hiden"], 3), ".yaml", "model.hiden")
    )
    assert "did you mean 'hidden'?" in line
    line = check_refused(
        capsys, tmp_path, (_mutated(["optimizer", "name"], "adamm"), ".yaml", "optimizer.name")
    )
    assert "did you mean 'adam'?" in line


def test_overrides_are_checked_like_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(_dump(BASE))
    for override, words in [
        ("trainer.val_every=0", "trainer.val_every"),
        ("losses[5].weight=1", "index 5 is out of range"),
        ("epochs.x=1", "epochs"),
        ("losses.nope.weight=2", "no entry named 'nope'"),
        ("=3", "expected KEY.PATH=VALUE"),
        (f"epochs={10**30}", "epochs"),
        ("losses[0].weight=.nan", "losses[0].weight"),
    ]:
        code, _, err = cli(
            capsys, "run", str(path), *PLUGINS, "--set", override, "--out", str(tmp_path / "o")
        )
        assert code == 2, (override, err)
        assert words in one_line(err), (override, err)
        assert not (tmp_path / "o").exists()
    assert math.isfinite(1.0)
