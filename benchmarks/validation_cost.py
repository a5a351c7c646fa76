"""What one validation costs next to one training epoch, in the default run.

A real ``fit`` of the default config (all its metrics, ``trainer.val_every: 1``) with a
callback that reads the clock at the start of each epoch, after its last training step and
at the end of its validation; the figures are medians over the epochs after the first
(whose validation also draws the triplet samples), and the first validation apart. Then a
breakdown of one validation on the trained model: the evaluation pass (forward and loss
terms over the evaluation set) and each metric, each the median of several calls.

    python benchmarks/validation_cost.py [--quick] [--epochs N] [--all-terms] [--set KEY=VALUE ...]

``--all-terms`` validates the ``train_only`` loss terms too (``padic_ranking``), as every
validation did before issue 16, item 3: the "before" of that change.
"""

from __future__ import annotations

import time
from typing import Any

import _bench
from _bench import Row

from tvae_core import Callback

NAME = "validation"


class Clock(Callback):
    """Per epoch: (training seconds, validation seconds)."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.steps = 0
        self.rows: list[tuple[float, float]] = []
        self._t0 = self._t1 = 0.0

    def on_fit_start(self, run: Any) -> None:
        self.steps = run.steps_per_epoch

    def on_epoch_start(self, epoch: int) -> None:
        _bench.synchronize(self.device)
        self._t0 = time.perf_counter()

    def on_batch_end(self, batch_idx: int, logs: Any) -> None:
        if batch_idx + 1 == self.steps:
            _bench.synchronize(self.device)
            self._t1 = time.perf_counter()

    def on_validation_end(self, epoch: int, logs: Any) -> None:
        _bench.synchronize(self.device)
        self.rows.append((self._t1 - self._t0, time.perf_counter() - self._t1))


def _timed(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return _bench.median(times)


def run(args: Any) -> list[Row]:
    import torch

    epochs = getattr(args, "epochs", None) or (4 if args.quick else 10)
    overrides = [f"epochs={epochs}", "trainer.val_every=1", *args.sets]
    probe = _bench.trainer(overrides, device=args.device)
    clock = Clock(probe.device)
    tr = _bench.trainer(overrides, device=args.device, callbacks=[clock]).setup()
    del probe
    if getattr(args, "all_terms", False):
        for name in tr.parts.losses.names():
            tr.parts.losses.get(name).train_only = False
    tr.fit()
    label = "all loss terms" if getattr(args, "all_terms", False) else "train_only terms skipped"
    train = _bench.median([t for t, _ in clock.rows[1:]])
    val = _bench.median([v for _, v in clock.rows[1:]])
    rows = [
        Row(NAME, "training epoch (median)", train, "s"),
        Row(NAME, "validation (median, after the first)", val, "s"),
        Row(NAME, "validation / training epoch", val / train, "", "<= 0.25", note=label),
        Row(NAME, "first validation", clock.rows[0][1], "s", note="draws the triplet samples"),
    ]
    repeats = 3 if args.quick else 7
    ev = tr.evaluator
    with torch.no_grad():
        rows.append(Row(NAME, "  evaluation pass", _timed(lambda: ev._pass(-1), repeats), "s"))
        outputs, batch, _ = ev._pass(-1)
        for name, metric in tr.parts.metrics.items():
            seconds = _timed(lambda m=metric: m(outputs, batch), repeats)
            rows.append(Row(NAME, f"  metric {name}", seconds, "s"))
    return rows


if __name__ == "__main__":
    parser = _bench.parser(__doc__ or NAME)
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the timed fit")
    parser.add_argument("--all-terms", action="store_true", help="validate train_only terms too")
    cli_args = parser.parse_args()
    _bench.emit(run(cli_args), cli_args.json)
