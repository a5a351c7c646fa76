"""Data parallel on this machine: ``tvae run --nproc K`` against one process, same global batch.

One process with batch size ``K*B`` and K processes with ``B`` each see the same rows per
step (docs/scaling.md), so the comparison isolates what the extra processes buy: per-epoch
times are read from each run's ``metrics.jsonl`` (``time_s`` deltas between epochs that do
not validate), so start-up is excluded. On a CPU each process gets one thread.

    python benchmarks/ddp.py [--quick] [--nproc 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import _bench
from _bench import Row

NAME = "ddp"


def epoch_times(
    nproc: int, batch: int, epochs: int, args: argparse.Namespace, out: Path
) -> list[float]:
    name = f"p{nproc}"
    sets = [
        "plugins.required=[]",
        "trainer.progress=false",
        f"trainer.device={args.device}",
        f"epochs={epochs}",
        f"trainer.val_every={epochs + 1}",
        f"data.batch_size={batch}",
        "trainer.num_threads=1",
        *args.sets,
    ]
    cmd = [sys.executable, "-m", "tvae_core", "run", "--out", str(out), "--name", name]
    for s in sets:
        cmd += ["--set", s]
    if not _uses_entry_points():
        cmd += ["--plugin", str(_bench.FALLBACK_PLUGIN)]
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    subprocess.run(
        cmd, check=True, capture_output=True, env={**os.environ, "TVAE_NO_PLUGIN_COMMANDS": "1"}
    )
    marks = [
        json.loads(line)["time_s"]
        for line in (out / name / "metrics.jsonl").read_text().splitlines()
    ]
    # Epoch e's duration is marks[e] - marks[e-1]; the last epoch validates, so it is left out.
    return [b - a for a, b in itertools.pairwise(marks[:-1])]


def _uses_entry_points() -> bool:
    from tvae_core import PluginManager

    return any(c.name == "ternary_vae" for c in PluginManager([]).registry.all("model"))


def run(args: argparse.Namespace) -> list[Row]:
    k = args.nproc
    epochs = 4 if args.quick else 6
    with tempfile.TemporaryDirectory(prefix="tvae-ddp-") as tmp:
        one = _bench.median(epoch_times(1, 512, epochs, args, Path(tmp)))
        many = _bench.median(epoch_times(k, 512 // k, epochs, args, Path(tmp)))
    return [
        Row(NAME, "1 process, batch 512, 1 thread: epoch", one, "s", note=args.device),
        Row(NAME, f"{k} processes, batch {512 // k} each: epoch", many, "s", note=args.device),
        Row(NAME, f"speed-up of {k} processes", one / many, "x"),
    ]


if __name__ == "__main__":
    p = _bench.parser(__doc__ or NAME)
    p.add_argument("--nproc", type=int, default=2)
    a = p.parse_args()
    _bench.emit(run(a), a.json)
