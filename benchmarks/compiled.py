"""``trainer.compile`` (torch.compile) against eager, on the default run.

Two trainers of the same config in one process, one eager and one compiled, train
alternating epochs (so load on a shared machine hits both alike); the speed-up is the median
of the paired epoch ratios. The compiled trainer's first epoch, which includes compilation
(or loading it from the inductor cache), is reported on its own, with the number of epochs
after which compiling has paid for itself at this n.

    python benchmarks/compiled.py [--quick] [--mode step|forward] [--cold] [--device cuda]

``--cold`` compiles into a fresh, empty cache (a first run's cost); without it the run uses
tvae's cache (``TORCHINDUCTOR_CACHE_DIR``, else ``~/.cache/tvae/inductor``): run it twice
and the second run's first epoch is what a cached run pays.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import _bench
from _bench import Row

NAME = "compile"


def run(args: argparse.Namespace) -> list[Row]:
    mode = getattr(args, "mode", "step")
    if getattr(args, "cold", False):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="tvae-inductor-")
    rounds = 3 if args.quick else 8
    eager = _bench.trainer(args.sets, device=args.device).setup()
    steps = eager.dataset.num_train_batches()
    compiled = _bench.trainer([f"trainer.compile={mode}", *args.sets], device=args.device).setup()
    try:
        first = _bench.time_epochs(compiled, 1, warmup=0)[0]
    except Exception as exc:  # an inductor without a compiler, an unsupported op...
        return [Row(NAME, f"torch.compile ({mode})", "failed", note=f"{exc!r}"[:200])]
    eager_first = _bench.time_epochs(eager, 1, warmup=0)[0]
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(rounds):
        for which, tr in (("eager", eager), ("compiled", compiled)):
            times[which].append(_bench.time_epochs(tr, 1, warmup=0)[0])
    eager_s, compiled_s = _bench.median(times["eager"]), _bench.median(times["compiled"])
    ratio = _bench.median([e / c for e, c in zip(times["eager"], times["compiled"], strict=True)])
    # What compiling costs beyond the eager first epoch it replaces, and the epochs to repay it.
    extra_s = first - eager_first
    saved_s = eager_s - compiled_s
    dev = str(compiled.device)
    cache = os.environ.get("TORCHINDUCTOR_CACHE_DIR", "")
    return [
        Row(NAME, "eager: step (median)", 1e3 * eager_s / steps, "ms", note=dev),
        Row(NAME, f"compiled ({mode}): step (median)", 1e3 * compiled_s / steps, "ms", note=dev),
        Row(NAME, "speed-up per step (median of paired epochs)", ratio, "x"),
        Row(
            NAME,
            "compiled first epoch less eager's (compilation)",
            extra_s,
            "s",
            note="cold cache" if getattr(args, "cold", False) else f"cache {cache}",
            extra={"first_epoch_s": first, "eager_first_epoch_s": eager_first},
        ),
        Row(
            NAME,
            "epochs until compiling pays (this n)",
            extra_s / saved_s if saved_s > 0 else float("inf"),
            "epochs",
            extra={"steps_per_epoch": steps, "extra_s": extra_s, "saved_per_epoch_s": saved_s},
        ),
    ]


if __name__ == "__main__":
    cli = _bench.parser(__doc__ or NAME)
    cli.add_argument("--mode", choices=["step", "forward"], default="step")
    cli.add_argument("--cold", action="store_true", help="compile into a fresh, empty cache")
    cli_args = cli.parse_args()
    _bench.emit(run(cli_args), cli_args.json)
