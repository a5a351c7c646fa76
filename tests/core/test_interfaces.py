"""The interfaces plugins implement: callback state keyed by a stable key, the control object."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tvae_core import Callback, CallbackList, Control, is_main_process, load_checkpoint
from tvae_core.testing import FakeRun, tiny_trainer


class Counter(Callback):
    """Counts epochs; its state key names what it counts, as a configurable callback should."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.epochs = 0

    @property
    def state_key(self) -> str:
        return self._state_key_from(label=self.label)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float]) -> None:
        self.epochs += 1

    def state_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epochs = int(state["epochs"])


class Plain(Callback):
    def __init__(self, value: int = 0) -> None:
        self.value = value

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.value = int(state["value"])


def test_state_is_keyed_by_state_key_and_repeats_are_numbered() -> None:
    callbacks = CallbackList([Counter("a"), Plain(1), Plain(2), Counter("b")])
    assert callbacks.state_keys() == ["Counter[label=a]", "Plain", "Plain#2", "Counter[label=b]"]
    assert callbacks.state_dict()["Plain#2"] == {"value": 2}


def test_reordered_callbacks_get_their_own_state_back() -> None:
    saved = CallbackList([Counter("a"), Counter("b")])
    saved.callbacks[0].epochs, saved.callbacks[1].epochs = 3, 7
    a, b = Counter("a"), Counter("b")
    CallbackList([b, a]).load_state_dict(saved.state_dict())
    assert (a.epochs, b.epochs) == (3, 7)


def test_a_resume_with_callbacks_in_another_order_restores_each(tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = tiny_trainer({"epochs": 2}, run_dir=run, callbacks=[Counter("a"), Plain(5)])
    first.fit()
    b_then_a = [Plain(0), Counter("a")]
    resumed = tiny_trainer({"epochs": 3}, run_dir=run, callbacks=b_then_a, resume_from=run)
    resumed.fit()
    assert b_then_a[0].value == 5 and b_then_a[1].epochs == 3  # 2 restored + 1 more
    # ... and the engine's own run.log writer, which a run with a folder appends.
    assert set(load_checkpoint(run)["callbacks"]) == {"Counter[label=a]", "Plain", "RunLog"}


def test_checkpoints_keyed_by_position_still_resume() -> None:
    old = {"0:Counter": {"epochs": 4}, "1:Plain": {"value": 9}, "2:Counter": {"epochs": 6}}
    a, b, plain = Counter("a"), Counter("b"), Plain()
    CallbackList([plain, a, b]).load_state_dict(old)
    assert (a.epochs, b.epochs, plain.value) == (4, 6, 9)  # by class name, in order


def test_control_keeps_the_first_stop_reason_and_each_save_once() -> None:
    control = Control()
    control.request_stop("first")
    control.request_stop("second")
    control.request_save("a.pt")
    control.request_save("a.pt")
    assert (control.stop_reason, control.save_requested) == ("first", ["a.pt"])


def test_is_main_process_asks_the_run_then_torch_distributed() -> None:
    assert is_main_process(None) is True  # no process group in this test process
    assert is_main_process(FakeRun(rank=1)) is False
    assert is_main_process(FakeRun()) is True


def test_fake_run_saves_real_checkpoints(tmp_path: Path) -> None:
    run = FakeRun(run_dir=tmp_path / "run", epoch=3, model=torch.nn.Linear(2, 2))
    path = run.save_checkpoint("x.pt")
    assert path == tmp_path / "run" / "checkpoints" / "x.pt" and run.saved == [path]
    assert load_checkpoint(path)["epoch"] == 3
    assert FakeRun(run_dir=tmp_path, rank=1).save_checkpoint("y.pt") is None
