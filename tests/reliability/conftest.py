"""Every reliability test runs in its own folder, without autoloaded plugins or plugin commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("TVAE_NO_PLUGIN_COMMANDS", "1")
    monkeypatch.delenv("TVAE_CHAOS", raising=False)
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()  # toy runs set one thread; give the process its own back
    yield
    torch.set_num_threads(threads)
