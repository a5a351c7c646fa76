"""Validation computes only what it logs (issue 16, item 3).

A loss term that declares ``train_only = True`` trains but is neither computed nor logged
by validation (``val/loss`` sums the other terms); ``evaluate()`` computes no loss term.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import torch

from tvae_core import hookimpl
from tvae_core.testing import tiny_trainer


class CountingTerm:
    """A loss term counting its calls: 0.5 * mean(mu^2), optionally train-only."""

    requires = frozenset({"outputs.mu"})
    calls = 0

    def __init__(self, train_only: bool = False) -> None:
        self.train_only = train_only

    def __call__(self, outputs: Mapping[str, torch.Tensor], batch: Any) -> torch.Tensor:
        type(self).calls += 1
        return 0.5 * outputs["mu"].pow(2).mean()


class CountingPlugin:
    __name__ = "counting_term_plugin"

    @hookimpl
    def tvae_register_losses(self, register: Any) -> None:
        register("counting", CountingTerm)


def _trainer(train_only: bool) -> Any:
    losses = [
        {"name": "tiny_reconstruction", "weight": 1.0},
        {"name": "counting", "weight": 2.0, "train_only": train_only},
    ]
    return tiny_trainer({"epochs": 1, "losses": losses}, [CountingPlugin()]).setup()


def test_a_train_only_term_trains_but_is_not_validated() -> None:
    trainer = _trainer(train_only=True)
    trainer.fit()
    final = trainer.summary.final
    assert "train/counting" in final and "val/counting" not in final
    assert final["val/loss"] == pytest.approx(final["val/tiny_reconstruction"], rel=1e-6)
    CountingTerm.calls = 0
    trainer.validate()
    assert CountingTerm.calls == 0


def test_other_terms_are_validated_and_summed() -> None:
    trainer = _trainer(train_only=False)
    logs = trainer.validate()
    assert logs["val/loss"] == pytest.approx(
        logs["val/tiny_reconstruction"] + 2.0 * logs["val/counting"], rel=1e-6
    )


def test_evaluate_computes_no_loss_term() -> None:
    trainer = _trainer(train_only=False)
    CountingTerm.calls = 0
    outputs, batch = trainer.evaluate()
    assert CountingTerm.calls == 0
    assert len(outputs["mu"]) == len(batch["x"]) == 27


class BadInValidation:
    """Returns a plain float outside autograd (in validation): a wrong kind of value."""

    requires = frozenset({"outputs.mu"})

    def __call__(self, outputs: Mapping[str, torch.Tensor], batch: Any) -> Any:
        value = outputs["mu"].pow(2).mean()
        return value if torch.is_grad_enabled() else float(value)


class BadPlugin:
    __name__ = "bad_in_validation_plugin"

    @hookimpl
    def tvae_register_losses(self, register: Any) -> None:
        register("counting", CountingTerm)
        register("bad_in_validation", BadInValidation)


def test_a_term_failing_in_validation_is_named_with_its_plugin() -> None:
    from tvae_core import TrainingError

    losses = [
        {"name": "tiny_reconstruction"},
        {"name": "counting", "train_only": True},
        {"name": "bad_in_validation"},
    ]
    trainer = tiny_trainer({"epochs": 1, "losses": losses}, [BadPlugin()]).setup()
    with pytest.raises(TrainingError) as caught:
        trainer.validate()
    assert "bad_in_validation_plugin" in str(caught.value), str(caught.value)
