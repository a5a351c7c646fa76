"""Run every benchmark, print one table, and append it as a dated section to README.md.

Each benchmark runs in its own process (so thread settings, compiled code and peak memory
do not leak between them) with a time limit; one that fails or times out is reported as
such and the rest go on.

    python benchmarks/run_all.py [--quick] [--device cuda] [--only epoch_time,overhead]
                                 [--set trainer.num_threads=1] [--no-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"

#: (script, time limit in seconds); the order of the table.
BENCHMARKS: tuple[tuple[str, int], ...] = (
    ("cli_startup", 300),
    ("epoch_time", 1800),
    ("overhead", 900),
    ("ddp", 900),
    ("flops", 600),
    ("time_to_quality", 1800),
    ("compiled", 1200),
    ("scale_n12", 1800),
)


def _run_one(name: str, limit: int, passthrough: list[str]) -> tuple[list[dict[str, Any]], float]:
    cmd = [sys.executable, str(HERE / f"{name}.py"), "--json", *passthrough]
    t = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, cwd=HERE)
    except subprocess.TimeoutExpired:
        return [{"benchmark": name, "metric": f"timed out after {limit} s", "value": None}], limit
    wall = time.perf_counter() - t
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return [{"benchmark": name, "metric": "failed", "value": None, "note": last[:160]}], wall
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| benchmark | figure | value | unit | goal | note |", "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [
            r["benchmark"],
            r["metric"],
            _fmt(r.get("value")),
            r.get("unit", ""),
            r.get("goal", ""),
            r.get("note", ""),
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def machine_line() -> str:
    sys.path.insert(0, str(HERE))
    import _bench

    info = _bench.machine()
    return ", ".join(f"{k} {v}" for k, v in info.items())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--device", default="auto")
    p.add_argument("--only", default="", help="comma-separated benchmark names")
    p.add_argument("--set", dest="sets", action="append", default=[])
    p.add_argument("--no-readme", action="store_true", help="print only; do not append")
    args = p.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    passthrough = ["--device", args.device, *(["--quick"] if args.quick else [])]
    for s in args.sets:
        passthrough += ["--set", s]
    load_before = os.getloadavg()[0]
    started = datetime.now(timezone.utc)
    rows: list[dict[str, Any]] = []
    for name, limit in BENCHMARKS:
        if only and name not in only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        got, wall = _run_one(name, limit, passthrough)
        print(f"  {name}: {wall:.0f} s", file=sys.stderr, flush=True)
        rows += got
    text = table(rows)
    print(text)
    command = "python benchmarks/run_all.py " + " ".join(sys.argv[1:])
    section = (
        f"\n## {started:%Y-%m-%d %H:%M} UTC\n\n"
        f"`{command.strip()}` on {machine_line()}; 1-minute load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after.\n\n{text}\n"
    )
    if not args.no_readme:
        with README.open("a", encoding="utf-8") as fh:
            fh.write(section)
        print(f"appended to {README}", file=sys.stderr)


if __name__ == "__main__":
    main()
