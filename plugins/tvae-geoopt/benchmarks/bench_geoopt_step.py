"""Time an optimizer step of tvae_geoopt.RiemannianAdam against plain geoopt and torch Adam.

The model is the plain MLP VAE of TERNARY.md's performance facts: encoder 27-256-256-32
(mean and log-variance of a 16-d latent), decoder 16-256-256-27, batch 512. Two timings
per optimizer, interleaved over rounds:

- ``step``: ``optimizer.step()`` alone on fixed gradients;
- ``train``: zero_grad + forward + backward + step, one training step of the VAE.

Each round times ``--repeats`` calls and keeps their median; the report gives the median
over rounds and the best round (the least disturbed one on a shared machine).

With ``--manifold`` the model also holds a ``geoopt.ManifoldParameter`` (64 points on the
Poincaré ball pulled towards the latent means), to time the mixed case.

    python plugins/tvae-geoopt/benchmarks/bench_geoopt_step.py [--rounds 7] [--manifold]
        [--threads 2] [--device cpu|cuda] [--clock wall|cpu]

On a shared machine wall times swing with the load; ``--threads 1 --clock cpu`` times the
CPU work itself (one thread, so the process's CPU time is that thread's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable

import torch

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import geoopt

from tvae_geoopt import RiemannianAdam


class MlpVae(torch.nn.Module):
    """27-256-256-32 / 16-256-256-27, optionally with ball-valued prototypes."""

    def __init__(self, manifold: bool) -> None:
        super().__init__()
        self.enc = torch.nn.Sequential(
            torch.nn.Linear(27, 256), torch.nn.ReLU(),
            torch.nn.Linear(256, 256), torch.nn.ReLU(),
            torch.nn.Linear(256, 32),
        )  # fmt: skip
        self.dec = torch.nn.Sequential(
            torch.nn.Linear(16, 256), torch.nn.ReLU(),
            torch.nn.Linear(256, 256), torch.nn.ReLU(),
            torch.nn.Linear(256, 27),
        )  # fmt: skip
        self.ball = geoopt.PoincareBall()
        self.prototypes: geoopt.ManifoldParameter | None = None
        if manifold:
            points = self.ball.expmap0(0.1 * torch.randn(64, 16))
            self.prototypes = geoopt.ManifoldParameter(points, manifold=self.ball)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.enc(x).chunk(2, dim=-1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        logits = self.dec(z).view(-1, 9, 3)
        target = x.view(-1, 9, 3).argmax(-1)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 3), target.reshape(-1))
        loss = loss - 0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1).mean()
        if self.prototypes is not None:
            z_ball = self.ball.expmap0(0.1 * mu[:64].detach())
            loss = loss + self.ball.dist(self.prototypes, z_ball).pow(2).mean()
        return loss


def _median_ms(
    fn: Callable[[], object], repeats: int, device: torch.device, clock: Callable[[], float]
) -> float:
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(clock() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--manifold", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time, or the process's CPU time (robust on a busy machine; use --threads 1)",
    )
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    makers: dict[str, Callable[[torch.nn.Module], torch.optim.Optimizer]] = {
        "geoopt.RiemannianAdam": lambda m: geoopt.optim.RiemannianAdam(m.parameters(), lr=1e-3),
        "tvae_geoopt.RiemannianAdam": lambda m: RiemannianAdam(m.parameters(), lr=1e-3),
    }
    if not args.manifold:
        makers["torch.optim.Adam(fused)"] = lambda m: torch.optim.Adam(
            m.parameters(), lr=1e-3, fused=True
        )
    x = torch.nn.functional.one_hot(torch.randint(0, 3, (512, 9)), 3).float().view(512, 27)
    x = x.to(device)
    setups = {}
    for name, make in makers.items():
        torch.manual_seed(0)
        model = MlpVae(args.manifold).to(device)
        opt = make(model)
        model.loss(x).backward()
        opt.step()  # state initialised outside the timings

        def train(model: MlpVae = model, opt: torch.optim.Optimizer = opt) -> None:
            opt.zero_grad()
            model.loss(x).backward()
            opt.step()

        setups[name] = (opt.step, train)

    results: dict[str, dict[str, list[float]]] = {n: {"step": [], "train": []} for n in setups}
    for _ in range(args.rounds):
        for name, (step, train) in setups.items():
            results[name]["step"].append(_median_ms(step, args.repeats, device, clock))
            results[name]["train"].append(_median_ms(train, args.repeats, device, clock))

    summary = {
        name: {kind: round(statistics.median(v), 3) for kind, v in r.items()}
        for name, r in results.items()
    }
    # On a shared machine the best round is the least disturbed one; report both.
    best = {name: {kind: round(min(v), 3) for kind, v in r.items()} for name, r in results.items()}
    base = summary["geoopt.RiemannianAdam"]
    ours = summary["tvae_geoopt.RiemannianAdam"]
    report = {
        "torch": torch.__version__,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "threads": args.threads,
        "clock": args.clock,
        "manifold_parameter": args.manifold,
        "median_ms": summary,
        "best_round_ms": best,
        "speedup_step": round(base["step"] / ours["step"], 2),
        "speedup_train_step": round(base["train"] / ours["train"], 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
