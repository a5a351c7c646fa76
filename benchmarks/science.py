"""Objective/recipe candidates side by side (issue 11): the whole `tvae run` process per row.

Each candidate is the default run plus ``--set`` overrides; the table gives the summary's final
coverage, hierarchy, radial/triplet accuracy, the balanced metrics (the minimum over level pairs /
depths) and the wall time of the whole process. Run from the repository root::

    python benchmarks/science.py                      # every candidate, seed 0
    python benchmarks/science.py --seeds 0 1 2 3 4 --only default
    python benchmarks/science.py --only linear_log_balanced --set epochs=10
    python benchmarks/science.py --only default --set data.n_trits=6   # any n
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tvae_ternary.bars import QUALITY_BAR, meets

#: Issue 16's fewer steps undone: the default of round 5 (commit fb3b44e), 30 epochs at lr 1e-2
#: with every digit of the linear path read alike.
ROUND5 = ["epochs=30", "optimizer.lr=1.0e-2", "model.digit_scale=null"]
#: Issue 16's cheaper step undone too: the default of round 4 (commit 5c59df3), whose encoder
#: (it gives only the log-variance) was as wide as the decoder.
ROUND4 = [*ROUND5, "model.encoder_hidden_dims=[256,256]"]
#: Round 4 of issue 11 undone: the default of round 3 (commit 3dbb5e0, with latent_dim auto at
#: max(16, 2n)): one shell per valuation level and the model's own log-variance floor.
ROUND3 = [*ROUND4, "losses.radial.target=level", "model.logvar_min=-12.0"]
#: Round 2 of issue 11 (tree batches, depth-balanced ranking, a lighter radial term on a
#: smaller outer shell), undone: the default of round 1 (commit 19aa8f7).
ROUND1 = [
    *ROUND3,
    "data.sampling=uniform",
    "data.min_steps=1",
    "losses.padic_ranking.balanced=false",
    "losses.radial.weight=1.0",
    "losses.radial.max_radius=1.5",
]
#: The default run before issue 11 (the MLP mean, plain radial at ratio 0.5, random triplets),
#: as --set overrides of today's default; every candidate of round 1 starts from it (a later
#: --set of the same key wins).
PREVIOUS = [
    *ROUND1,
    "epochs=20",
    "optimizer.lr=5.0e-3",
    "model.linear_path=false",
    "model.mlp_mean=true",
    "losses.radial.log_space=false",
    "losses.radial.balanced=false",
    "losses.radial.ratio=0.5",
    "losses.padic_ranking.closest=0",
    "losses.padic_ranking.log_distance=false",
    "losses.padic_ranking.margin=0.1",
]
_LOG_BALANCED = ["losses.radial.log_space=true", "losses.radial.balanced=true"]
_CLOSEST = [
    "losses.padic_ranking.closest=4",
    "losses.padic_ranking.log_distance=true",
    "losses.padic_ranking.margin=0.2",
]
_R065 = ["losses.radial.ratio=0.65"]

_TREE = ["data.sampling=tree", "data.min_steps=39"]

#: name -> --set overrides on top of the default run ("default" is today's default: the
#: last candidate of round 2).
CANDIDATES: dict[str, list[str]] = {
    "default": [],
    # Issue 16, round 6: each digit's weights of the linear path at its scale
    # (model.digit_scale 0.65) make lr 3e-2 safe at every n, so 20 epochs suffice; without it
    # the same lr broke n >= 11. Fewer epochs still, for the margin they leave.
    "round5_default": ROUND5,
    "no_digit_scale": ["model.digit_scale=null"],
    "epochs15": ["epochs=15"],
    # Issue 16, round 5 (on its default): a cheaper step (a [64, 64] encoder for the
    # log-variance), and fewer steps (20 epochs), which needed a higher lr at n = 9 and broke
    # at n = 12 with one.
    "round4_default": ROUND4,
    "round4_20_epochs": [*ROUND4, "epochs=20"],
    "epochs20": [*ROUND5, "epochs=20"],
    "epochs25": [*ROUND5, "epochs=25"],
    "epochs20_lr2e2": [*ROUND5, "epochs=20", "optimizer.lr=2.0e-2"],
    "epochs20_lr3e2": [*ROUND5, "epochs=20", "optimizer.lr=3.0e-2"],
    "epochs20_lr4e2": [*ROUND5, "epochs=20", "optimizer.lr=4.0e-2"],
    "epochs20_lr5e2": [*ROUND5, "epochs=20", "optimizer.lr=5.0e-2"],
    # Round 4: each digit at its own scale (radial target digits) and a noise floor below
    # the deepest digit (logvar_min -16); run with --set data.n_trits=11 to see them part.
    "round3_default": ROUND3,
    "digits_target_floor12": ["model.logvar_min=-12.0"],
    "level_target_floor16": ["losses.radial.target=level"],
    # Round 2: from round 1's default, one change at a time.
    "round1_default": ROUND1,
    "tree_batches": [*ROUND1, *_TREE],
    "tree_balanced_ranking": [*ROUND1, *_TREE, "losses.padic_ranking.balanced=true"],
    "tree_balanced_radial03": [
        *ROUND1,
        *_TREE,
        "losses.padic_ranking.balanced=true",
        "losses.radial.weight=0.3",
    ],
    "tree_balanced_radial03_R1": [
        *ROUND1,
        *_TREE,
        "losses.padic_ranking.balanced=true",
        "losses.radial.weight=0.3",
        "losses.radial.max_radius=1.0",
    ],
    "tree_balanced_R1": [
        *ROUND1,
        *_TREE,
        "losses.padic_ranking.balanced=true",
        "losses.radial.max_radius=1.0",
    ],
    # Round 1.
    "previous_default": PREVIOUS,
    "linear_path": [*PREVIOUS, "model.linear_path=true"],
    "log_balanced_radial": [*PREVIOUS, *_LOG_BALANCED],
    "linear_log_balanced": [*PREVIOUS, "model.linear_path=true", *_LOG_BALANCED],
    "linear_log_balanced_r065": [*PREVIOUS, "model.linear_path=true", *_LOG_BALANCED, *_R065],
    "linear_log_balanced_r065_relmargin": [
        *PREVIOUS,
        "model.linear_path=true",
        *_LOG_BALANCED,
        *_R065,
        "losses.padic_ranking.relative_margin=true",
        "losses.padic_ranking.ratio=0.65",
    ],
    "linear_log_balanced_r065_closest": [
        *PREVIOUS,
        "model.linear_path=true",
        *_LOG_BALANCED,
        *_R065,
        *_CLOSEST,
    ],
    # Today's default at 20 epochs, lr 5e-3: the mean linear in the one-hot input alone.
    "linearonly_log_balanced_r065_closest": [
        *PREVIOUS,
        "model.linear_path=true",
        "model.mlp_mean=false",
        *_LOG_BALANCED,
        *_R065,
        *_CLOSEST,
    ],
}

COLUMNS = [
    ("coverage", "cov"),
    ("hierarchy", "hier"),
    ("radial_accuracy", "radial"),
    ("triplet_accuracy", "triplet"),
    ("level_radial_accuracy", "lvl_rad"),
    ("depth_triplet_accuracy", "dep_tri"),
]


#: The bars of issue 11 for a from-scratch run (n = 9 defaults; tvae_ternary.bars holds them);
#: `--check` exits 1 on a miss.
BARS: dict[str, tuple[str, float]] = {
    key.removeprefix("val/"): (op, bound) for key, op, bound in QUALITY_BAR
}


def misses(row: dict[str, float]) -> list[str]:
    """The bars a row misses, as 'key value (bar)' strings."""
    return [
        f"{key} {row[key]:.4f} (bar {op} {bar})"
        for key, (op, bar) in BARS.items()
        if not meets(row[key], op, bar)
    ]


def run_one(overrides: list[str], seed: int, out: Path, name: str) -> dict[str, float]:
    cmd = ["tvae", "run", "--json", "--out", str(out), "--name", name, "-s", f"seed={seed}"]
    cmd += ["-s", "callbacks=[]"]  # no TensorBoard/checkpoints: the objective alone
    for o in overrides:
        cmd += ["-s", o]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{name}: tvae run failed ({proc.returncode}): {proc.stderr[-400:]}")
    final = json.loads(proc.stdout)["final"]
    row = {key: float(final.get(f"val/{key}", float("nan"))) for key, _ in COLUMNS}
    row["wall_s"] = wall
    for k, v in final.items():
        if "level_radial_accuracy_" in k or "depth_triplet_accuracy_" in k:
            row[k.removeprefix("val/")] = float(v)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="candidate names")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra --set")
    parser.add_argument("--detail", action="store_true", help="print every level pair/depth")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a row misses a bar of issue 11"
    )
    args = parser.parse_args()
    names = args.only or list(CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        print(f"error: unknown candidate {unknown[0]!r}; choose from {', '.join(CANDIDATES)}")
        sys.exit(2)
    head = f"{'candidate':38s} {'seed':>4s} " + " ".join(f"{c:>7s}" for _, c in COLUMNS)
    print(head + f" {'wall_s':>6s}", flush=True)
    missed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for seed in args.seeds:
                row = run_one(CANDIDATES[name] + args.extra, seed, Path(tmp), f"{name}_{seed}")
                cells = " ".join(f"{row[k]:7.4f}" for k, _ in COLUMNS)
                print(f"{name:38s} {seed:4d} {cells} {row['wall_s']:6.1f}", flush=True)
                missed += [f"{name} seed {seed}: {m}" for m in misses(row)]
                if args.detail:
                    detail = {k: round(v, 3) for k, v in row.items() if k.count("_") > 2}
                    print("   ", detail, flush=True)

    if args.check:
        for line in missed:
            print(f"MISSED {line}")
        print("all bars met" if not missed else f"{len(missed)} bar(s) missed")
        sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
