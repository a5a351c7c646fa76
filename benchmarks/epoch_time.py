"""Time per epoch and steps/s of the default run, and how they grow with n and batch size.

Rows: the default run at n = 9 (median epoch, steps/s, one validation, peak memory); the
same with n = 7..11 and with batch sizes 128..4096 at n = 9. Epochs run the engine's own
loop (``EpochLoop.run``, as ``fit`` runs it, and the scheduler step), so the figures are what `tvae run`
spends per epoch outside validation.

    python benchmarks/epoch_time.py [--quick] [--device cuda] [--set trainer.precision=bf16-mixed]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import _bench
import torch
from _bench import Row

NAME = "epoch_time"


def measure(overrides: list[str], args: argparse.Namespace, epochs: int) -> tuple[float, int, Any]:
    tr = _bench.trainer([*overrides, *args.sets], device=args.device).setup()
    times = _bench.time_epochs(tr, epochs)
    return _bench.median(times), tr.dataset.num_train_batches(), tr


def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    epochs = 2 if args.quick else 5
    epoch_s, steps, tr = measure([], args, epochs)
    dev = str(tr.device)
    rows.append(
        Row(
            NAME,
            f"default run (n=9, batch 512, {torch.get_num_threads()} threads): epoch",
            epoch_s,
            "s",
            note=dev,
            extra={"steps_per_epoch": steps},
        )
    )
    rows.append(Row(NAME, "default run: steps/s", steps / epoch_s, "1/s", note=dev))
    t = time.perf_counter()
    tr.validate()
    _bench.synchronize(tr.device)
    rows.append(Row(NAME, "default run: one validation (4 metrics)", time.perf_counter() - t, "s"))
    rows.append(
        Row(
            NAME,
            "default run: peak memory",
            _bench.peak_memory_mib(tr.device),
            "MiB",
            note="CUDA allocated" if dev.startswith("cuda") else "process RSS",
        )
    )
    del tr
    threads = torch.get_num_threads()
    if not dev.startswith("cuda") and threads > 1:
        one_s, _, _ = measure(["trainer.num_threads=1"], args, epochs)
        rows.append(Row(NAME, f"default run with 1 thread (not {threads}): epoch", one_s, "s"))
        torch.set_num_threads(threads)

    sweep_epochs = 1 if args.quick else 3
    for n in (7, 8, 10) if args.quick else (7, 8, 10, 11):
        s, k, _ = measure([f"data.n_trits={n}"], args, sweep_epochs)
        rows.append(
            Row(
                NAME,
                f"n={n} (3^{n}={3**n} ops, batch 512): epoch",
                s,
                "s",
                extra={"steps_per_epoch": k, "us_per_row": 1e6 * s / 3**n},
            )
        )
    for bs in (256, 2048) if args.quick else (128, 256, 1024, 2048, 4096):
        s, k, _ = measure([f"data.batch_size={bs}"], args, sweep_epochs)
        rows.append(
            Row(
                NAME,
                f"n=9, batch {bs}: epoch",
                s,
                "s",
                extra={"steps_per_epoch": k, "steps_per_s": k / s},
            )
        )
    return rows


if __name__ == "__main__":
    _bench.main(run, __doc__ or NAME)
