"""Objective/recipe candidates side by side (issue 11): the whole `tvae run` process per row.

Each candidate is the default run plus ``--set`` overrides; the table gives the summary's final
coverage, hierarchy, radial/triplet accuracy, the balanced metrics (the minimum over level pairs /
depths) and the wall time of the whole process. Run from the repository root::

    python benchmarks/science.py                      # every candidate, seed 0
    python benchmarks/science.py --seeds 0 1 2 3 4 --only default
    python benchmarks/science.py --only linear_log_balanced --set epochs=10
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The default run before issue 11 (the MLP mean, plain radial at ratio 0.5, random triplets),
#: as --set overrides of today's default; every candidate below starts from it (a later --set
#: of the same key wins).
PREVIOUS = [
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

#: name -> --set overrides on top of the default run ("default" is today's default: the
#: last candidate at 30 epochs and lr 1e-2).
CANDIDATES: dict[str, list[str]] = {
    "default": [],
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
    args = parser.parse_args()
    names = args.only or list(CANDIDATES)
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        print(f"error: unknown candidate {unknown[0]!r}; choose from {', '.join(CANDIDATES)}")
        sys.exit(2)
    head = f"{'candidate':38s} {'seed':>4s} " + " ".join(f"{c:>7s}" for _, c in COLUMNS)
    print(head + f" {'wall_s':>6s}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            for seed in args.seeds:
                row = run_one(CANDIDATES[name] + args.extra, seed, Path(tmp), f"{name}_{seed}")
                cells = " ".join(f"{row[k]:7.4f}" for k, _ in COLUMNS)
                print(f"{name:38s} {seed:4d} {cells} {row['wall_s']:6.1f}", flush=True)
                if args.detail:
                    detail = {k: round(v, 3) for k, v in row.items() if k.count("_") > 2}
                    print("   ", detail, flush=True)


if __name__ == "__main__":
    main()
