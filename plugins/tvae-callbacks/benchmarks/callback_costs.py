"""Measure what each logging/monitoring callback costs a training run, per epoch and at fit end.

Every callback runs inside a wrapper that times each of its events, so the figures are the
callbacks' own time (not a difference of two noisy runs); the run's wall time is measured
around ``Trainer.fit`` (which includes the fit-end work). Usage::

    python plugins/tvae-callbacks/benchmarks/callback_costs.py                 # default config
    python plugins/tvae-callbacks/benchmarks/callback_costs.py --set epochs=20 --json

The callbacks measured (settings as a default config would use them) are in ``CANDIDATES``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tvae_core import Callback, PluginManager, load_config

CANDIDATES: list[dict[str, Any]] = [
    {"name": "metrics", "log_interval": 100},
    {"name": "checkpoint", "save_interval": 10, "monitor": "val/loss", "keep_last": 3},
    {"name": "early_stopping", "monitor": "val/loss", "patience": 20},
    {"name": "coverage_plateau", "threshold": 1.0, "patience": 10},
    {"name": "tensorboard"},
    {"name": "latent_plot"},
]

EVENTS = (
    "on_fit_start",
    "on_epoch_start",
    "on_batch_start",
    "on_after_backward",
    "on_batch_end",
    "on_validation_end",
    "on_epoch_end",
    "on_save_checkpoint",
    "on_fit_end",
)


class Timed(Callback):
    """Forwards every event to ``inner`` and adds up the seconds each event takes."""

    def __init__(self, inner: Callback, label: str) -> None:
        self.inner = inner
        self.label = label
        self.seconds: dict[str, float] = defaultdict(float)
        for event in EVENTS:
            setattr(self, event, self._timed(event))

    def _timed(self, event: str) -> Any:
        method = getattr(self.inner, event)

        def call(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return method(*args)
            finally:
                self.seconds[event] += time.perf_counter() - t0

        return call

    def should_stop(self) -> bool:
        stop = self.inner.should_stop()
        self.stop_reason = self.inner.stop_reason
        return stop

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.inner.load_state_dict(state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", help="config file (default: the embedded default)")
    parser.add_argument("--set", action="append", default=[], help="KEY.PATH=VALUE override")
    parser.add_argument("--plugin", action="append", default=[], help="extra plugin spec")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()

    from tvae_core import Trainer, build_config
    from tvae_core._engine.build import build, plan

    pm = PluginManager(args.plugin)
    base = load_config(args.config, args.set)
    data = base.to_dict()
    data["callbacks"] = []
    data["trainer"]["progress"] = False
    probe = build_config({**data, "callbacks": CANDIDATES})
    built = [
        build(plan(pm, "callback", entry, f"callbacks[{i}]"))
        for i, entry in enumerate(probe.callbacks)
    ]
    callbacks: list[Timed] = [
        Timed(cb, entry["name"]) for cb, entry in zip(built, CANDIDATES, strict=True)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            build_config(data),
            plugins=pm,
            run_dir=Path(tmp) / "run",
            callbacks=list[Callback](callbacks),
        )
        t0 = time.perf_counter()
        summary = trainer.fit()
        wall_s = time.perf_counter() - t0
    epochs = max(summary.epochs, 1)
    rows: list[dict[str, Any]] = []
    for cb in callbacks:
        fit_end = cb.seconds.get("on_fit_end", 0.0)
        during = sum(v for k, v in cb.seconds.items() if k != "on_fit_end")
        rows.append(
            {
                "callback": cb.label,
                "per_epoch_ms": round(1000 * during / epochs, 3),
                "fit_end_s": round(fit_end, 3),
                "total_s": round(during + fit_end, 3),
                "share_of_run_pct": round(100 * (during + fit_end) / wall_s, 2),
            }
        )
    result = {
        "epochs": summary.epochs,
        "status": summary.status,
        "run_wall_s": round(wall_s, 2),
        "epoch_s": round(summary.wall_s / epochs, 3),
        "final": {k: v for k, v in summary.final.items() if k.startswith("val/")},
        "callbacks": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{summary.epochs} epochs ({summary.status}), run {wall_s:.2f} s, {result['epoch_s']:.3f} s/epoch"
    )
    print(f"{'callback':<18}{'per epoch ms':>14}{'fit end s':>12}{'total s':>10}{'% of run':>10}")
    for row in rows:
        print(
            f"{row['callback']:<18}{row['per_epoch_ms']:>14.3f}{row['fit_end_s']:>12.3f}"
            f"{row['total_s']:>10.3f}{row['share_of_run_pct']:>10.2f}"
        )
    total = sum(r["total_s"] for r in rows)
    print(f"{'all':<18}{'':>14}{'':>12}{total:>10.3f}{100 * total / wall_s:>10.2f}")


if __name__ == "__main__":
    main()
