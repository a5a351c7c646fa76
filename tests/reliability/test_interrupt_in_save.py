"""An interrupt that lands inside torch's checkpoint writer reaches the run as an interrupt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tvae_core._run import checkpoint as ckpt


def test_an_interrupt_inside_torch_save_is_raised_as_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint({"epoch": 1}, path)
    before = path.read_bytes()

    def cut_by_a_signal(obj: Any, fh: Any) -> None:
        # What torch does when a raising signal handler runs inside its C++ writer.
        try:
            raise KeyboardInterrupt("SIGTERM")
        except KeyboardInterrupt:
            raise RuntimeError(
                "[enforce fail at inline_container.cc:672] . unexpected pos"
            ) from None

    monkeypatch.setattr(ckpt.torch, "save", cut_by_a_signal)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        ckpt.save_checkpoint({"epoch": 2}, path)
    assert path.read_bytes() == before  # the previous checkpoint survives
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left behind
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"epoch": 1}


def test_other_write_failures_keep_their_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(obj: Any, fh: Any) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

    monkeypatch.setattr(ckpt.torch, "save", broken)
    with pytest.raises(Exception) as info:
        ckpt.save_checkpoint({"epoch": 2}, tmp_path / "last.pt")
    assert not isinstance(info.value, KeyboardInterrupt)
