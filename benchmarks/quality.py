"""Quality of the default run: the four domain metrics and the wall time, two ways.

``loop``: a hand-written training loop over the plugin classes themselves (no engine), with
the settings of the embedded default config, timed from the first import. ``cli``: the real
``tvae run`` with the default config in a fresh process, timed around the whole process,
its figures read from the run's ``summary.json``. The bar (n = 9, all 19,683 operations,
from scratch): coverage 1.0, hierarchy <= -0.830, radial_accuracy >= 0.99,
triplet_accuracy >= 0.99, in under 60 s.

    python benchmarks/quality.py                 # both
    python benchmarks/quality.py --mode cli --set trainer.num_threads=1 --set seed=1
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

BAR = {
    "coverage": (1.0, ">="),
    "hierarchy": (-0.830, "<="),
    "radial_accuracy": (0.99, ">="),
    "triplet_accuracy": (0.99, ">="),
}


def _verdict(metrics: dict[str, float], wall_s: float) -> str:
    ok = all(
        metrics.get(k, float("nan")) >= v if op == ">=" else metrics.get(k, float("nan")) <= v
        for k, (v, op) in BAR.items()
    )
    return "meets the bar" if ok and wall_s < 60 else "MISSES the bar"


def _report(label: str, metrics: dict[str, float], wall_s: float, epochs: int) -> None:
    shown = "  ".join(f"{k} {metrics.get(k, float('nan')):.4f}" for k in BAR)
    print(f"{label}: {shown}  epochs {epochs}  wall {wall_s:.1f} s  -> {_verdict(metrics, wall_s)}")


def run_loop(overrides: list[str]) -> dict[str, float]:
    """Train with the default config's settings in a plain loop over the plugin classes."""
    import torch
    from tvae_losses import KL, PadicRanking, Radial, Reconstruction
    from tvae_ternary import (
        Coverage,
        Hierarchy,
        RadialAccuracy,
        TernaryOpsDataset,
        TernaryVAE,
        TripletAccuracy,
    )

    from tvae_core import load_config
    from tvae_core._builtin_components import adam, warmup_cosine

    cfg = load_config(None, overrides)
    if cfg.trainer.num_threads:
        torch.set_num_threads(cfg.trainer.num_threads)
    torch.manual_seed(cfg.seed)
    ds = TernaryOpsDataset(**cfg.data.settings)
    ds.setup(device=torch.device("cpu"), seed=cfg.seed)
    model = TernaryVAE(**{**ds.model_context(), **cfg.model.settings})
    opt = adam(model.parameters(), **cfg.optimizer.settings)
    sched = warmup_cosine(opt, total_epochs=cfg.epochs, **cfg.scheduler.settings)
    factories = {
        "reconstruction": Reconstruction,
        "kl": KL,
        "padic_ranking": PadicRanking,
        "radial": Radial,
    }
    losses = [(factories[e.name](**e.settings), e.weight) for e in cfg.losses]
    params = list(model.parameters())
    for epoch in range(cfg.epochs):
        model.train()
        for batch in ds.train_batches(epoch):
            out = model(batch)
            total = sum(w * fn(out, batch) for fn, w in losses)
            assert isinstance(total, torch.Tensor)
            opt.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.trainer.grad_clip)
            opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        batch = next(ds.eval_batches())
        out = model(batch)
    metrics: dict[str, float] = {}
    for metric in (Coverage(), Hierarchy(), RadialAccuracy(), TripletAccuracy()):
        value = metric(out, batch)
        metrics.update(value if isinstance(value, dict) else {type(metric).__name__: value})
    names = {
        "Coverage": "coverage",
        "RadialAccuracy": "radial_accuracy",
        "TripletAccuracy": "triplet_accuracy",
    }
    metrics = {names.get(k, k): v for k, v in metrics.items()}
    _report("loop", metrics, time.perf_counter() - START, cfg.epochs)
    return metrics


def run_cli(overrides: list[str]) -> dict[str, Any]:
    """``tvae run`` with the default config in a fresh process; figures from summary.json."""
    with tempfile.TemporaryDirectory(prefix="tvae-quality-") as out:
        cmd = [sys.executable, "-m", "tvae_core", "run", "--out", out, "--name", "quality"]
        for item in overrides:
            cmd += ["--set", item]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall_s = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
            raise SystemExit(f"tvae run failed with exit code {proc.returncode}")
        summary = json.loads((Path(out) / "quality" / "summary.json").read_text())
    metrics = {k.removeprefix("val/"): v for k, v in summary["final"].items()}
    _report("cli ", metrics, wall_s, summary["epochs"])
    return {"metrics": metrics, "wall_s": wall_s, "engine_wall_s": summary["wall_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["loop", "cli", "both"], default="both")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if args.mode in ("cli", "both"):
        run_cli(args.overrides)
    if args.mode in ("loop", "both"):
        global START
        START = time.perf_counter() if args.mode == "both" else START
        run_loop(args.overrides)


if __name__ == "__main__":
    main()
