"""``tvae --help`` reads the installed distributions' entry points once for both groups."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import importlib.metadata as md, json, sys
calls = []
real = md.entry_points
def counting(**params):
    calls.append(params)
    return real(**params)
md.entry_points = counting
from tvae_core import cli
try:
    cli.main({argv!r})
except SystemExit:
    pass
print(json.dumps({{"calls": calls, "modules": sorted(m for m in ("torch", "geoopt", "pydantic")
                                                      if m in sys.modules)}}), file=sys.stderr)
"""


def _probe(argv: list[str]) -> tuple[dict, str]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stderr.strip().splitlines()[-1]), proc.stdout


def test_help_scans_entry_points_once_and_lists_plugin_commands() -> None:
    for argv in (["--help"], ["-h"]):
        found, out = _probe(argv)
        assert found["calls"] == [{}], found  # one reading of every group, not one per group
        assert found["modules"] == []
        assert "plot" in out and "A command of tvae-ternary" in out
