"""Fenced code blocks of the docs' Markdown pages, and a way to run Python ones."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
_SNIPPET = re.compile(r'^--8<-- "([^"]+)"\s*$', re.MULTILINE)
_FIRST_PARTY = re.compile(r"^\s*(?:from|import)\s+(tvae_[a-z]+)", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, code, page and the line it starts on."""

    page: str
    line: int
    lang: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def snippets(self) -> list[str]:
        """Files the block includes with ``--8<--`` (shown verbatim in the page)."""
        return _SNIPPET.findall(self.code)


def blocks(page: str, lang: str | None = None) -> list[Block]:
    """The fenced blocks of ``docs/<page>``, optionally of one language, in page order."""
    text = (DOCS / page).read_text("utf-8")
    out = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        block = Block(page, line, match.group(1), match.group(2))
        if lang is None or block.lang == lang:
            out.append(block)
    return out


def skip_unless_importable(*codes: str) -> None:
    """Skip the test when a first-party plugin package the code imports is not installed."""
    for code in codes:
        for package in _FIRST_PARTY.findall(code):
            if package != "tvae_core" and importlib.util.find_spec(package) is None:
                pytest.skip(f"{package} (a first-party plugin) is not installed")


def run_python(*parts: Block, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute blocks in order in one namespace.

    A first-party plugin that is not installed skips the test; one that is installed but
    lacks a name the docs import fails it, because then the docs are wrong.
    """
    ns: dict[str, Any] = namespace if namespace is not None else {"__name__": "docs_example"}
    for block in parts:
        try:
            exec(compile(block.code, block.id, "exec"), ns)
        except ModuleNotFoundError as exc:
            name = (exc.name or "").split(".")[0]
            if name.startswith("tvae_") and name != "tvae_core":
                pytest.skip(f"{block.id}: {name} (a first-party plugin) is not installed")
            raise
    return ns


def skip_unless_registered(config: Any, pm: Any) -> None:
    """Skip the test when a component the config names is not registered here."""
    names = [("dataset", config.data.component_name), ("model", config.model.component_name)]
    names += [("optimizer", config.optimizer.component_name)]
    if config.scheduler is not None:
        names.append(("scheduler", config.scheduler.component_name))
    names += [("loss", c.component_name) for c in config.losses]
    names += [("metric", c.component_name) for c in config.metrics]
    names += [("callback", c.component_name) for c in config.callbacks]
    missing = [f"{kind} {name}" for kind, name in names if (kind, name) not in pm.registry]
    if missing:
        pytest.skip(f"not registered by the plugins installed here: {', '.join(missing)}")
