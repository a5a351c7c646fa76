"""The engine's overhead against a hand-written loop on the same components.

Both loops train the same model with the same losses, optimizer, data and clipping (built
once by the engine); epochs alternate between the two so that load on a shared machine
hits both alike. The hand loop is the seed guide's loop plus clipping; the engine's adds
its per-step bookkeeping (non-finite checks, loss-term logging, callback events).

    python benchmarks/overhead.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import _bench
import torch
from _bench import Row

NAME = "overhead"


def hand_epoch(tr: Any, epoch: int) -> None:
    """The seed guide's training loop with clipping, on the trainer's own components."""
    model, optimizer, losses = tr.model, tr.optimizer, tr.losses
    params = [p for p in model.parameters() if p.requires_grad]
    clip = tr.config.trainer.grad_clip
    model.train()
    for batch in tr.dataset.train_batches(epoch):
        outputs = model(batch)
        result = losses.compose(outputs, batch)
        optimizer.zero_grad(set_to_none=True)
        result.total.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()


def run(args: argparse.Namespace) -> list[Row]:
    tr = _bench.trainer(args.sets, device=args.device).setup()
    rounds = 3 if args.quick else 8
    engine: list[float] = []
    hand: list[float] = []
    for r in range(rounds + 1):
        for which, fn in (("engine", tr._train_epoch), ("hand", lambda e: hand_epoch(tr, e))):
            _bench.synchronize(tr.device)
            t = time.perf_counter()
            fn(r)
            _bench.synchronize(tr.device)
            if r > 0:  # the first round warms both up
                (engine if which == "engine" else hand).append(time.perf_counter() - t)
    med_ratio = _bench.median(engine) / _bench.median(hand) - 1.0
    min_ratio = min(engine) / min(hand) - 1.0
    pair_ratio = _bench.median([e / h for e, h in zip(engine, hand, strict=True)]) - 1.0
    dev = str(tr.device)
    return [
        Row(NAME, "hand-written loop: epoch (median)", _bench.median(hand), "s", note=dev),
        Row(NAME, "engine: epoch (median)", _bench.median(engine), "s", note=dev),
        Row(
            NAME,
            "engine overhead (median of paired ratios)",
            100 * pair_ratio,
            "%",
            "<= 2 %",
            extra={
                "median_ratio_pct": 100 * med_ratio,
                "min_ratio_pct": 100 * min_ratio,
                "engine_s": engine,
                "hand_s": hand,
            },
        ),
    ]


if __name__ == "__main__":
    _bench.main(run, __doc__ or NAME)
