"""n = 12 (531,441 operations): one epoch, one validation and peak memory, bounded by design.

Training batches are index slices of the in-memory tensors; validation runs in training-
sized batches and the metrics are O(N log N) (radial accuracy) or sampled (100,000 triplets),
never all pairs. The run here is one epoch (1,038 steps at batch 512).

    python benchmarks/scale_n12.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import _bench
from _bench import Row

NAME = "n12"


def run(args: argparse.Namespace) -> list[Row]:
    n = 11 if args.quick else 12
    t = time.perf_counter()
    tr = _bench.trainer([f"data.n_trits={n}", *args.sets], device=args.device).setup()
    setup_s = time.perf_counter() - t
    epoch_s = _bench.time_epochs(tr, 1, warmup=0)[0]
    t = time.perf_counter()
    logs = tr.validate()
    _bench.synchronize(tr.device)
    val_s = time.perf_counter() - t
    dev = str(tr.device)
    return [
        Row(NAME, f"n={n}: setup (data, model, checks)", setup_s, "s", note=dev),
        Row(
            NAME,
            f"n={n}: one epoch ({tr.dataset.num_train_batches()} steps)",
            epoch_s,
            "s",
            note=dev,
        ),
        Row(
            NAME,
            f"n={n}: one validation over {3**n} ops",
            val_s,
            "s",
            extra={k: v for k, v in logs.items() if k.startswith("val/")},
        ),
        Row(
            NAME,
            f"n={n}: peak memory",
            _bench.peak_memory_mib(tr.device),
            "MiB",
            note="CUDA allocated" if dev.startswith("cuda") else "process RSS",
        ),
    ]


if __name__ == "__main__":
    _bench.main(run, __doc__ or NAME)
