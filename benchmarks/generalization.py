"""Generalization (issue 11, item 4): the default run trained on part of the tree, scored on the rest.

Each row is one whole ``tvae run`` of the default recipe with ``data.val_fraction`` (0.5 by
default) and a split: ``random`` holds out operations anywhere, ``subtree`` holds out whole
subtrees (every operation whose lowest ``--depth`` digits form one of the held-out prefixes,
the harder test). The validation metrics are the held-out operations' metrics: coverage,
hierarchy (with its ceiling over the held-out levels), radial/triplet accuracy and the
balanced ``level_radial_accuracy`` / ``depth_triplet_accuracy``. Run from the repository root::

    python benchmarks/generalization.py                       # random and subtree, seed 0
    python benchmarks/generalization.py --seeds 0 1 2 --splits subtree --depth 3
    python benchmarks/generalization.py --set epochs=10 --detail
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from science import COLUMNS, run_one  # the same whole-process runner

SPLITS = ("random", "subtree")


def overrides(split: str, fraction: float, depth: int) -> list[str]:
    sets = [f"data.val_fraction={fraction}", f"data.split={split}"]
    return sets + ([f"data.subtree_depth={depth}"] if split == "subtree" else [])


def held_out_fraction(split: str, fraction: float, depth: int, n_trits: int) -> float:
    from tvae_ternary.data import held_out_operations

    held = held_out_operations(n_trits, fraction, split, depth)
    return 0.0 if held is None else len(held) / 3**n_trits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="*", default=list(SPLITS), choices=SPLITS)
    parser.add_argument("--fraction", type=float, default=0.5, help="data.val_fraction")
    parser.add_argument("--depth", type=int, default=2, help="data.subtree_depth (subtree)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0])
    parser.add_argument("--n-trits", type=int, default=9, help="data.n_trits")
    parser.add_argument("--set", dest="extra", action="append", default=[], help="extra --set")
    parser.add_argument("--detail", action="store_true", help="print every level pair/depth")
    args = parser.parse_args()
    head = f"{'split':8s} {'held':>6s} {'seed':>4s} " + " ".join(f"{c:>7s}" for _, c in COLUMNS)
    print(head + f" {'wall_s':>6s}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for split in args.splits:
            held = held_out_fraction(split, args.fraction, args.depth, args.n_trits)
            for seed in args.seeds:
                sets = overrides(split, args.fraction, args.depth)
                sets += [f"data.n_trits={args.n_trits}", *args.extra]
                row = run_one(sets, seed, Path(tmp), f"{split}_{seed}")
                cells = " ".join(f"{row[k]:7.4f}" for k, _ in COLUMNS)
                print(f"{split:8s} {held:6.3f} {seed:4d} {cells} {row['wall_s']:6.1f}", flush=True)
                if args.detail:
                    detail = {k: round(v, 3) for k, v in row.items() if k.count("_") > 2}
                    print("   ", detail, flush=True)


if __name__ == "__main__":
    main()
