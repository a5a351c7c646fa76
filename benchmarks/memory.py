"""Peak resident memory of ``tvae run``: the default run must stay under 1 GB.

Runs ``python -m tvae_core run [CONFIG] --set epochs=N`` in a subprocess (the embedded
default config unless one is given), samples the resident set size of the process and its
children from ``/proc`` every few milliseconds, and cross-checks the kernel's high-water
mark (``VmHWM``, and ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it exits). The peak of
a default run is reached within its first epochs and first validation pass (the metrics
read the whole evaluation set), so a few epochs measure it; ``--epochs 0`` keeps the
config's own count.

    python benchmarks/memory.py                   # default run, 5 epochs, limit 1024 MiB
    python benchmarks/memory.py --epochs 0 --json # the whole default run, JSON result
    python benchmarks/memory.py my.yaml -- --plugin my_plugin.py   # arguments after -- go to tvae run

Exit code 0 when the peak is under ``--limit-mib``, 1 when over, 2 when the run failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

KIB_PER_MIB = 1024


def _status_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` field in KiB (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


class RssSampler(threading.Thread):
    """Samples the summed RSS of a process tree until stopped; keeps the peak (KiB)."""

    def __init__(self, pid: int, interval_s: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval_s = pid, interval_s
        self.peak_kib = 0
        self.hwm_kib = 0
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            tree = [self.pid, *_children(self.pid)]
            total = sum(_status_kib(p, "VmRSS") for p in tree)
            self.hwm_kib = max(self.hwm_kib, _status_kib(self.pid, "VmHWM"))
            self.peak_kib = max(self.peak_kib, total)
            self.samples += 1
            self._done.wait(self.interval_s)

    def stop(self) -> None:
        self._done.set()
        self.join()


def measure(
    config: str | None, epochs: int, out_dir: Path, extra: list[str], interval_s: float
) -> dict[str, Any]:
    """Run tvae once and return its peak memory and how it ended."""
    command = [sys.executable, "-m", "tvae_core", "run"]
    if config:
        command.append(config)
    command += [
        "--out",
        str(out_dir),
        "--name",
        "memory",
        "--json",
        "--set",
        "trainer.progress=false",
    ]
    if epochs > 0:
        command += ["--set", f"epochs={epochs}"]
    command += extra
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = RssSampler(proc.pid, interval_s)
    sampler.start()
    out, err = proc.communicate()
    sampler.stop()
    wall_s = time.perf_counter() - start
    rusage_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    summary: dict[str, Any] = {}
    with contextlib.suppress(json.JSONDecodeError):
        summary = json.loads(out)
    peak_kib = max(sampler.peak_kib, sampler.hwm_kib, rusage_kib)
    return {
        "command": " ".join(command[1:]),
        "exit_code": proc.returncode,
        "status": summary.get("status"),
        "epochs": summary.get("epochs"),
        "wall_s": round(wall_s, 1),
        "peak_rss_mib": round(peak_kib / KIB_PER_MIB, 1),
        "sampled_peak_mib": round(sampler.peak_kib / KIB_PER_MIB, 1),
        "kernel_hwm_mib": round(max(sampler.hwm_kib, rusage_kib) / KIB_PER_MIB, 1),
        "samples": sampler.samples,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "error": err.strip().splitlines()[-1] if proc.returncode else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", help="config file (default: the embedded default run)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs to run (0: the config's own)")
    parser.add_argument("--limit-mib", type=float, default=1024.0, help="fail above this peak")
    parser.add_argument("--interval-s", type=float, default=0.02, help="sampling interval")
    parser.add_argument(
        "--out", type=Path, default=None, help="parent of the run folder (default: a temp dir)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []  # after --: more run arguments
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    with tempfile.TemporaryDirectory(prefix="tvae-memory-") as tmp:
        out_dir = args.out or Path(tmp)
        result = measure(args.config, args.epochs, out_dir, extra, args.interval_s)
    result["limit_mib"] = args.limit_mib
    result["within_limit"] = result["peak_rss_mib"] <= args.limit_mib
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"peak RSS {result['peak_rss_mib']:.1f} MiB (limit {args.limit_mib:.0f} MiB; "
            f"sampled {result['sampled_peak_mib']:.1f}, kernel high-water {result['kernel_hwm_mib']:.1f}) "
            f"over {result['epochs']} epochs in {result['wall_s']:.1f} s: {result['status']}"
        )
        if result["error"]:
            print(f"run failed: {result['error']}", file=sys.stderr)
    if result["exit_code"] != 0:
        return 2
    return 0 if result["within_limit"] else 1


if __name__ == "__main__":
    sys.exit(main())
