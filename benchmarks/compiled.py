"""``trainer.compile: true`` (torch.compile) against eager, on the default run.

The first compiled epoch includes compilation; it is reported on its own, and the steady
epoch time is the median of the following ones.

    python benchmarks/compiled.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import _bench
from _bench import Row

NAME = "compile"


def run(args: argparse.Namespace) -> list[Row]:
    epochs = 2 if args.quick else 4
    eager = _bench.trainer(args.sets, device=args.device).setup()
    eager_s = _bench.median(_bench.time_epochs(eager, epochs))
    del eager
    t = time.perf_counter()
    tr = _bench.trainer(["trainer.compile=true", *args.sets], device=args.device).setup()
    try:
        first = _bench.time_epochs(tr, 1, warmup=0)[0]
        setup_s = time.perf_counter() - t
        steady = _bench.median(_bench.time_epochs(tr, epochs, warmup=0))
    except Exception as exc:  # an inductor without a compiler, an unsupported op...
        return [Row(NAME, "torch.compile", "failed", note=f"{type(exc).__name__}: {exc}"[:200])]
    dev = str(tr.device)
    return [
        Row(NAME, "eager: epoch", eager_s, "s", note=dev),
        Row(
            NAME,
            "compiled: first epoch (incl. compilation)",
            first,
            "s",
            extra={"setup_and_first_s": setup_s},
        ),
        Row(NAME, "compiled: epoch", steady, "s", note=dev),
        Row(NAME, "compiled speed-up over eager", eager_s / steady, "x"),
    ]


if __name__ == "__main__":
    _bench.main(run, __doc__ or NAME)
