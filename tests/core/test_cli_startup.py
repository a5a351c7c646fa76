"""The listing commands start fast: ``tvae config`` and ``tvae --help`` import no config
schema (pydantic), torch or plugin module (issue 16, item 4; timings in benchmarks/README.md,
``python benchmarks/cli_startup.py``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tvae_core._config import default_config_text

_PROBE = """
import contextlib, io, json, sys
from tvae_core.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main({argv!r})
    except SystemExit:
        pass
heavy = ("pydantic", "torch", "torch._dynamo", "geoopt", "tvae_ternary", "tvae_core._config")
print(json.dumps({{"out": out.getvalue(), "imported": [m for m in heavy if m in sys.modules]}}))
"""


def _probe(argv: list[str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_tvae_config_prints_the_shipped_default_without_the_schema() -> None:
    result = _probe(["config"])
    assert result["out"] == default_config_text()
    assert result["imported"] == []


@pytest.mark.parametrize("argv", [["--help"], ["config", "--help"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    result = _probe(argv)
    assert "Usage" in str(result["out"])
    assert result["imported"] == []
