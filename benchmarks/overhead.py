"""The engine's overhead against a hand-written loop on the same components.

Both loops train the same model with the same losses, optimizer, data and clipping (built
once by the engine); epochs alternate between the two so that load on a shared machine
hits both alike. The hand loop is the seed guide's loop plus clipping; the engine's adds
its per-step bookkeeping (non-finite checks, loss-term logging, callback events).

    python benchmarks/overhead.py [--quick] [--device cuda]
    python benchmarks/overhead.py --profile [--set trainer.compile=step]

    python benchmarks/overhead.py --geometry-from OLD.py   # OLD.py: an earlier geometry.py

``--profile`` instead profiles the engine's steps with ``torch.profiler``: operator calls per
step, the GEMMs' share of the step's operator time and the operators that take the most.
``--geometry-from`` alternates engine epochs with ``tvae_ternary.geometry``'s functions as
they are and as ``OLD.py`` defines them (every module that imported one is patched), e.g.
``git show REV:plugins/tvae-ternary/src/tvae_ternary/geometry.py > /tmp/old.py``.
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


#: The operators that are GEMMs (matrix products of the linear layers and their gradients).
GEMMS = frozenset({"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul"})


def profile(args: argparse.Namespace) -> list[Row]:
    """Operator calls and time by operator over the steps of one epoch (after a warm-up)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    tr = _bench.trainer(args.sets, device=args.device).setup()
    _bench.train_epoch(tr, 0)
    _bench.train_epoch(tr, 1)
    t = time.perf_counter()
    _bench.train_epoch(tr, 2)
    plain_s = time.perf_counter() - t
    steps = tr.dataset.num_train_batches()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        _bench.train_epoch(tr, 3)
    ops = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    calls = sum(e.count for e in ops) / steps
    self_us = sum(e.self_cpu_time_total for e in ops) / steps
    gemm_us = sum(e.self_cpu_time_total for e in ops if e.key in GEMMS) / steps
    gemm_calls = sum(e.count for e in ops if e.key in GEMMS) / steps
    rows = [
        Row(NAME, "step (unprofiled epoch / steps)", 1e3 * plain_s / steps, "ms"),
        Row(NAME, "aten operator calls per step", calls, extra={"gemm_calls": gemm_calls}),
        Row(NAME, "GEMM time per step (self)", gemm_us / 1e3, "ms"),
        Row(NAME, "other operators per step (self)", (self_us - gemm_us) / 1e3, "ms"),
    ]
    top = sorted(ops, key=lambda e: -e.self_cpu_time_total)[: 8 if args.quick else 20]
    for e in top:
        rows.append(
            Row(
                NAME,
                f"  {e.key} x{e.count / steps:.0f}",
                e.self_cpu_time_total / steps / 1e3,
                "ms",
            )
        )
    return rows


def _geometry_swaps(path: str) -> list[tuple[Any, str, Any, Any]]:
    """(module, name, current, old) for every imported use of a geometry function."""
    import importlib.util
    import sys

    import tvae_ternary.geometry as current

    spec = importlib.util.spec_from_file_location("_old_geometry", path)
    assert spec is not None and spec.loader is not None
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    names = [n for n in dir(current) if not n.startswith("_") and callable(getattr(current, n))]
    swaps = []
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("tvae_"):
            continue
        for n in names:
            if getattr(module, n, None) is getattr(current, n) and hasattr(old, n):
                swaps.append((module, n, getattr(current, n), getattr(old, n)))
    return swaps


def geometry_ab(args: argparse.Namespace) -> list[Row]:
    """Engine epochs with the current and an earlier geometry, alternating."""
    tr = _bench.trainer(args.sets, device=args.device).setup()
    swaps = _geometry_swaps(args.geometry_from)
    steps = tr.dataset.num_train_batches()
    rounds = 3 if args.quick else 8
    times: dict[str, list[float]] = {"current": [], "old": []}
    for r in range(rounds + 1):
        for which in ("current", "old"):
            for module, n, new, old in swaps:
                setattr(module, n, new if which == "current" else old)
            t = time.perf_counter()
            _bench.train_epoch(tr, r)
            if r > 0:
                times[which].append(1e3 * (time.perf_counter() - t) / steps)
    for module, n, new, _ in swaps:
        setattr(module, n, new)
    ratio = _bench.median([o / c for o, c in zip(times["old"], times["current"], strict=True)])
    used = sorted({f"{m.__name__}.{n}" for m, n, _, _ in swaps})
    return [
        Row(NAME, "step, old geometry (median)", _bench.median(times["old"]), "ms"),
        Row(NAME, "step, current geometry (median)", _bench.median(times["current"]), "ms"),
        Row(NAME, "old / current (median of paired epochs)", ratio, "x", extra={"patched": used}),
    ]


def run(args: argparse.Namespace) -> list[Row]:
    if getattr(args, "profile", False):
        return profile(args)
    if getattr(args, "geometry_from", None):
        return geometry_ab(args)
    tr = _bench.trainer(args.sets, device=args.device).setup()
    rounds = 3 if args.quick else 8
    engine: list[float] = []
    hand: list[float] = []
    for r in range(rounds + 1):
        for which, fn in (
            ("engine", lambda e: _bench.train_epoch(tr, e)),
            ("hand", lambda e: hand_epoch(tr, e)),
        ):
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
    cli = _bench.parser(__doc__ or NAME)
    cli.add_argument("--profile", action="store_true", help="profile the step's operators")
    cli.add_argument("--geometry-from", help="an earlier geometry.py to alternate epochs with")
    cli_args = cli.parse_args()
    _bench.emit(run(cli_args), cli_args.json)
