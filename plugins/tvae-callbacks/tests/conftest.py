"""Test doubles for the callbacks: the core's FakeRun, a RunContext without a trainer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tvae_core.testing import FakeRun


@pytest.fixture
def fake_trainer(tmp_path: Path) -> FakeRun:
    return FakeRun(run_dir=tmp_path / "run")
