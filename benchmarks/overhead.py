"""The engine's overhead against a hand-written loop on the same components.

Both loops train the same model with the same losses, optimizer, data and clipping (built
once by the engine); epochs alternate between the two so that load on a shared machine
hits both alike. The hand loop is the seed guide's loop plus clipping; the engine's adds
its per-step bookkeeping (non-finite checks, loss-term logging, callback events).

    python benchmarks/overhead.py [--quick] [--device cuda]
    python benchmarks/overhead.py --profile [--set trainer.compile=step]
    python benchmarks/overhead.py --profile --by-part   # op calls and time by where they come from

    python benchmarks/overhead.py --geometry-from OLD.py   # OLD.py: an earlier geometry.py
    python benchmarks/overhead.py --losses-from OLD.py [--sampling-from OLD_S.py]

``--profile`` instead profiles the engine's steps with ``torch.profiler``: operator calls per
step, the GEMMs' share of the step's operator time and the operators that take the most.
``--by-part`` splits the operator calls and their self time by the part of the step they come
from, the slowest part first: the batch sampler (the epoch's tree order, per step) and the
batch gather, the model, each loss term, the weighted sum, zero_grad, clipping and the
optimizer, each forward and backward (a backward operator is charged to the part whose
forward made its autograd node, matched by sequence number); with ``--by-part --top K`` each part's K slowest operators too.
``--geometry-from`` alternates engine epochs with ``tvae_ternary.geometry``'s functions as
they are and as ``OLD.py`` defines them (every module that imported one is patched), e.g.
``git show REV:plugins/tvae-ternary/src/tvae_ternary/geometry.py > /tmp/old.py``.
``--losses-from`` does the same with the loss terms: each term of the run whose class ``OLD.py``
(an earlier ``tvae_losses/geometric.py`` or ``vae.py``) defines is alternated with an instance
of the old class holding the same settings; ``--sampling-from`` (an earlier
``tvae_ternary/sampling.py``) gives that old module its own sampling helpers as well, and
``--geometry-from`` with it puts the old geometry under the old arm (the model's and the old
losses' calls alike): the whole step then alternates between two versions.
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


class _Labelled:
    """A callable (a loss term, a method) run inside a ``record_function`` range; its
    attributes are the wrapped callable's."""

    def __init__(self, fn: Any, label: str) -> None:
        self._fn, self._label = fn, label

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with torch.profiler.record_function(self._label):
            return self._fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fn, name)


#: Prefix of the ``record_function`` ranges :func:`profile_by_part` opens.
PART = "part: "


def _label_parts(tr: Any) -> Any:
    """Open a ``record_function`` range around every part of the engine's step; returns an undo."""
    import tvae_core._engine.step as step_module

    loop = getattr(tr, "_bench_loop", None)
    assert loop is not None, "train an epoch first: the engine's loop is built then"
    ds, losses, optimizer = tr.dataset, tr.parts.losses, tr.optimizer
    saved_losses = dict(losses._losses)
    saved = [(loop, "compute"), (ds, "_epoch_batches"), (ds, "epoch_order")]
    saved += [(optimizer, "step"), (optimizer, "zero_grad")]
    old = {(id(o), n): o.__dict__.get(n) for o, n in saved}
    clip = torch.nn.utils.clip_grad_norm_

    def labelled(fn: Any, label: str) -> Any:
        return _Labelled(fn, PART + label)

    batches, compute, model = ds._epoch_batches, loop.compute, loop.forward_model

    def epoch_batches(epoch: int) -> Any:
        it = batches(epoch)
        while True:
            with torch.profiler.record_function(PART + "data: batch gather"):
                batch = next(it, None)
            if batch is None:
                return
            yield batch

    def labelled_compute(batch: Any) -> Any:
        with torch.profiler.record_function(PART + "model"):
            outputs = model(batch)
        with torch.profiler.record_function(PART + "engine: weighted sum"):
            return losses.compose(outputs, batch)

    for name, fn in saved_losses.items():
        losses._losses[name] = labelled(fn, f"loss: {name}")
    ds._epoch_batches = epoch_batches
    ds.epoch_order = labelled(ds.epoch_order, "sampler: epoch order (tree_order)")
    loop.compute = labelled_compute if compute is not None else compute
    optimizer.step = labelled(optimizer.step, "engine: optimizer step")
    optimizer.zero_grad = labelled(optimizer.zero_grad, "engine: zero_grad")
    torch.nn.utils.clip_grad_norm_ = labelled(clip, "engine: clip_grad_norm_")
    assert step_module.torch.nn.utils.clip_grad_norm_ is torch.nn.utils.clip_grad_norm_

    def undo() -> None:
        losses._losses.clear()
        losses._losses.update(saved_losses)
        for o, n in saved:
            value = old[(id(o), n)]
            if value is None:
                o.__dict__.pop(n, None)
            else:
                setattr(o, n, value)
        loop.compute = compute
        torch.nn.utils.clip_grad_norm_ = clip

    return undo


def _by_part(events: Any) -> dict[str, dict[str, list[float]]]:
    """Each part's aten operator calls and self CPU time, by operator:
    {part: {op: [calls, self microseconds]}}.

    A forward operator belongs to the innermost part range around it; a backward one (under an
    ``autograd::engine::evaluate_function`` event) to the part whose forward made the node
    (the same sequence number), with " (backward)"; gradient accumulation into the model's
    parameters is the model's backward. Operators outside every range: "engine: other".
    """
    evaluate = "autograd::engine::evaluate_function: "
    forward_part: dict[int, str] = {}
    owner: dict[int, tuple[str, Any]] = {}  # id(event) -> ("fwd", part) or ("bwd", event)

    def find(e: Any) -> tuple[str, Any]:
        chain = []
        cur = e
        found: tuple[str, Any] = ("fwd", "engine: other")
        while cur is not None:
            if id(cur) in owner:
                found = owner[id(cur)]
                break
            chain.append(cur)
            if cur.name.startswith(PART):
                found = ("fwd", cur.name[len(PART) :])
                break
            if cur.name.startswith(evaluate):
                found = ("bwd", cur)
                break
            cur = cur.cpu_parent
        for c in chain:
            owner[id(c)] = found
        return found

    events = sorted(events, key=lambda e: e.time_range.start)
    for e in events:
        kind, where = find(e)
        if kind == "fwd" and e.sequence_nr >= 0 and not e.name.startswith(evaluate):
            forward_part[e.sequence_nr] = where  # the last one made the node (others peek)
    parts: dict[str, dict[str, list[float]]] = {}
    for e in events:
        if not e.name.startswith("aten::"):
            continue
        kind, where = find(e)
        if kind == "bwd":
            node = where
            if node.sequence_nr < 0:
                part = "model (backward)"  # AccumulateGrad: the parameters' gradients
            else:
                part = forward_part.get(node.sequence_nr, "engine: other") + " (backward)"
        else:
            part = where
        entry = parts.setdefault(part, {}).setdefault(e.name, [0, 0.0])
        entry[0] += 1
        entry[1] += e.self_cpu_time_total
    return parts


def profile_by_part(args: argparse.Namespace) -> list[Row]:
    """Operator calls and self time per step by the part of the step they come from (forward
    and backward)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    tr = _bench.trainer(args.sets, device=args.device).setup()
    _bench.train_epoch(tr, 0)
    _bench.train_epoch(tr, 1)
    steps = tr.dataset.num_train_batches()
    undo = _label_parts(tr)
    try:
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            _bench.train_epoch(tr, 2)
    finally:
        undo()
    parts = _by_part(prof.events())

    def calls(ops: dict[str, list[float]]) -> float:
        return sum(c for c, _ in ops.values()) / steps

    def ms(ops: dict[str, list[float]]) -> float:
        return sum(t for _, t in ops.values()) / steps / 1e3

    rows = [
        Row(NAME, "aten operator calls per step", sum(calls(o) for o in parts.values())),
        Row(NAME, "aten self time per step", sum(ms(o) for o in parts.values()), "ms"),
    ]
    for part, ops in sorted(parts.items(), key=lambda kv: -ms(kv[1])):
        top = sorted(ops.items(), key=lambda kv: -kv[1][1])[: args.top]
        rows.append(
            Row(
                NAME,
                f"  {part}",
                ms(ops),
                "ms",
                note=f"{calls(ops):.0f} calls",
                extra={"calls": calls(ops), "ops": {k: v[0] / steps for k, v in top}},
            )
        )
        for op, (count, us) in top:
            rows.append(
                Row(NAME, f"      {op}", us / steps / 1e3, "ms", note=f"{count / steps:.3g} calls")
            )
    return rows


def _geometry_swaps(path: str) -> list[tuple[Any, str, Any, Any]]:
    """(module, name, current, old) for every imported use of a geometry function."""
    import sys
    from inspect import isfunction

    import tvae_ternary.geometry as current

    old = _load(path, "_old_geometry")
    # Functions only: typing's Any is callable too, and every module imports it.
    names = [n for n in dir(current) if not n.startswith("_") and isfunction(getattr(current, n))]
    swaps = []
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("tvae_"):
            continue
        for n in names:
            if getattr(module, n, None) is getattr(current, n) and hasattr(old, n):
                swaps.append((module, n, getattr(current, n), getattr(old, n)))
    return swaps


def _alternate(tr: Any, quick: bool, arm: Any) -> dict[str, list[float]]:
    """Step times (ms) of engine epochs alternating the "current" and "old" arms.

    ``arm(which)`` puts one arm in place; the first round is a warm-up, and the current arm
    is left in place at the end.
    """
    steps = tr.dataset.num_train_batches()
    times: dict[str, list[float]] = {"current": [], "old": []}
    for r in range((3 if quick else 8) + 1):
        for which in ("current", "old"):
            arm(which)
            t = time.perf_counter()
            _bench.train_epoch(tr, r)
            if r > 0:
                times[which].append(1e3 * (time.perf_counter() - t) / steps)
    arm("current")
    return times


def geometry_ab(args: argparse.Namespace) -> list[Row]:
    """Engine epochs with the current and an earlier geometry, alternating."""
    tr = _bench.trainer(args.sets, device=args.device).setup()
    swaps = _geometry_swaps(args.geometry_from)

    def arm(which: str) -> None:
        for module, n, new, old in swaps:
            setattr(module, n, new if which == "current" else old)

    times = _alternate(tr, args.quick, arm)
    ratio = _bench.median([o / c for o, c in zip(times["old"], times["current"], strict=True)])
    used = sorted({f"{m.__name__}.{n}" for m, n, _, _ in swaps})
    return [
        Row(NAME, "step, old geometry (median)", _bench.median(times["old"]), "ms"),
        Row(NAME, "step, current geometry (median)", _bench.median(times["current"]), "ms"),
        Row(NAME, "old / current (median of paired epochs)", ratio, "x", extra={"patched": used}),
    ]


def _load(path: str, name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def losses_ab(args: argparse.Namespace) -> list[Row]:
    """Engine epochs with the current and an earlier module's loss terms, alternating."""
    tr = _bench.trainer(args.sets, device=args.device).setup()
    old_module = _load(args.losses_from, "_old_losses")
    if args.sampling_from:
        old_sampling = _load(args.sampling_from, "_old_sampling")
        for n in dir(old_sampling):
            if not n.startswith("__") and hasattr(old_module, n):
                setattr(old_module, n, getattr(old_sampling, n))
    swaps: list[tuple[Any, str, Any, Any]] = []
    if args.geometry_from:
        # The old arm with the old geometry too: every tvae_ module's and the old losses'.
        swaps = _geometry_swaps(args.geometry_from)
        old_geometry = _load(args.geometry_from, "_old_geometry_for_losses")
        for n in ("pairwise_distance", "radius", "rowwise_distance", "distance", "expmap0"):
            if hasattr(old_module, n) and hasattr(old_geometry, n):
                setattr(old_module, n, getattr(old_geometry, n))
    current = dict(tr.parts.losses._losses)
    old: dict[str, Any] = {}
    for name, term in current.items():
        cls = getattr(old_module, type(term).__name__, None)
        if cls is None:
            continue
        twin = cls.__new__(cls)
        twin.__dict__.update(term.__dict__)
        old[name] = twin
    assert old, f"{args.losses_from} defines none of the run's loss classes"

    def arm(which: str) -> None:
        tr.parts.losses._losses.update(current if which == "current" else old)
        for module, n, new_fn, old_fn in swaps:
            setattr(module, n, new_fn if which == "current" else old_fn)

    times = _alternate(tr, args.quick, arm)
    ratio = _bench.median([o / c for o, c in zip(times["old"], times["current"], strict=True)])
    return [
        Row(NAME, "step, old losses (median)", _bench.median(times["old"]), "ms"),
        Row(NAME, "step, current losses (median)", _bench.median(times["current"]), "ms"),
        Row(
            NAME,
            "old / current (median of paired epochs)",
            ratio,
            "x",
            extra={
                "patched": sorted(old) + sorted({f"{m.__name__}.{n}" for m, n, _, _ in swaps}),
                "old_ms": times["old"],
                "current_ms": times["current"],
            },
        ),
    ]


def run(args: argparse.Namespace) -> list[Row]:
    if getattr(args, "profile", False):
        return profile_by_part(args) if getattr(args, "by_part", False) else profile(args)
    if getattr(args, "losses_from", None):
        return losses_ab(args)
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
    cli.add_argument(
        "--by-part", action="store_true", help="with --profile: calls and time by part"
    )
    cli.add_argument("--top", type=int, default=0, help="with --by-part: each part's K slowest ops")
    cli.add_argument("--geometry-from", help="an earlier geometry.py to alternate epochs with")
    cli.add_argument("--losses-from", help="an earlier losses module to alternate epochs with")
    cli.add_argument("--sampling-from", help="with --losses-from: its sampling.py")
    cli_args = cli.parse_args()
    _bench.emit(run(cli_args), cli_args.json)
