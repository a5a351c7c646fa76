"""``benchmarks/memory.py`` measures a run's peak resident memory (here on the toy run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.reliability.support import PLUGINS, REPO, subprocess_env, toy_config, write_config


def test_memory_benchmark_reports_the_peak_of_a_toy_run(tmp_path: Path) -> None:
    config = write_config(tmp_path / "toy.yaml", toy_config(epochs=2))
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "memory.py"),
            str(config),
            "--epochs",
            "2",
            "--json",
            "--out",
            str(tmp_path / "runs"),
            "--",
            *PLUGINS,
        ],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "completed" and report["epochs"] == 2
    assert 50 < report["peak_rss_mib"] < report["limit_mib"] == 1024
    assert report["samples"] >= 1 and report["within_limit"]
    assert (tmp_path / "runs" / "memory" / "checkpoints" / "last.pt").exists()
