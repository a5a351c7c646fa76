"""The fraction of this machine's measured matmul peak that the default run's training reaches.

The peak is the best of several large float32 GEMMs (bf16 too on CUDA). The default run's
work per epoch is counted by ``torch.utils.flop_counter`` on one training step (forward,
losses, backward) times the steps per epoch; the achieved rate divides it by the measured
epoch time. On a shared machine both drift by 10-20 % within a minute, so they are measured
in alternation: each round times a few large GEMMs and one training epoch, the fraction is
taken per round, and the median round is reported (with the spread of the rounds).

    python benchmarks/flops.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import _bench
import torch
from _bench import Row
from torch.utils.flop_counter import FlopCounterMode

NAME = "flops"


def gemm_peak(device: torch.device, dtype: torch.dtype, size: int, repeats: int) -> float:
    """Best GFLOP/s of ``size`` x ``size`` matrix products."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = 0.0
    for i in range(repeats + 1):
        _bench.synchronize(device)
        t = time.perf_counter()
        a @ b
        _bench.synchronize(device)
        if i:
            best = max(best, 2 * size**3 / (time.perf_counter() - t) / 1e9)
    return best


def step_flops(tr: Any) -> int:
    """FLOPs of one training step of the trainer's model and losses (its first batch)."""
    batch = next(iter(tr.dataset.train_batches(0)))
    counter = FlopCounterMode(display=False)
    with counter:
        outputs = tr.model(batch)
        tr.losses.compose(outputs, batch).total.backward()
    tr.optimizer.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def run(args: argparse.Namespace) -> list[Row]:
    tr = _bench.trainer(args.sets, device=args.device).setup()
    device = tr.device
    cuda = device.type == "cuda"
    size = 8192 if cuda else 2048
    rounds = 3 if args.quick else 9
    flops = step_flops(tr) * tr.dataset.num_train_batches()
    _bench.time_epochs(tr, 1)  # warm-up epoch (and the GEMM's first call below)
    peaks, epochs, fractions = [], [], []
    for _ in range(rounds):
        peak = gemm_peak(device, torch.float32, size, 3)
        (epoch_s,) = _bench.time_epochs(tr, 1, warmup=0)
        peaks.append(peak)
        epochs.append(epoch_s)
        fractions.append(100 * flops / epoch_s / 1e9 / peak)
    peak32 = max(peaks)
    rows = [
        Row(
            NAME,
            f"matmul peak float32 ({size}^3)",
            peak32,
            "GFLOP/s",
            note=str(device),
            extra={"threads": torch.get_num_threads(), "rounds_gflops": peaks},
        )
    ]
    if cuda:
        rows.append(
            Row(
                NAME,
                f"matmul peak bf16 ({size}^3)",
                gemm_peak(device, torch.bfloat16, size, 3),
                "GFLOP/s",
            )
        )
    epoch_s = _bench.median(epochs)
    steps = tr.dataset.num_train_batches()
    rows += [
        Row(NAME, "default run: work per epoch (counted)", flops / 1e9, "GFLOP"),
        Row(
            NAME,
            "default run: training step",
            1e3 * epoch_s / steps,
            "ms",
            note=f"{steps} steps per epoch",
            extra={"epoch_s": epochs},
        ),
        Row(NAME, "default run: achieved rate", flops / epoch_s / 1e9, "GFLOP/s"),
        Row(
            NAME,
            "default run: fraction of float32 matmul peak",
            _bench.median(fractions),
            "%",
            ">= 35 %",
            note=f"median of {rounds} rounds, range {min(fractions):.1f}-{max(fractions):.1f}",
            extra={"rounds_pct": fractions},
        ),
    ]
    return rows


if __name__ == "__main__":
    _bench.main(run, __doc__ or NAME)
