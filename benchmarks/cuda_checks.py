"""CUDA-only checks: host-device syncs in the training loop, and each precision's smoke run.

Syncs: ``torch.cuda.set_sync_debug_mode("warn")`` makes every synchronising call warn; an
epoch of the engine's loop should sync only at its end (the epoch means' ``tolist`` and the
non-finite flag), never per step. Precision: a few epochs of the default run in 32,
bf16-mixed and 16-mixed (with its GradScaler): epoch time, and whether the losses stayed
finite, with the metrics of a validation at the end.

    python benchmarks/cuda_checks.py [--quick]
"""

from __future__ import annotations

import argparse
import warnings

import _bench
import torch
from _bench import Row

NAME = "cuda"


def syncs_per_epoch(tr: object, epoch: int) -> tuple[int, list[str]]:
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            _bench.train_epoch(tr, epoch)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    where = [str(w.message).splitlines()[0][:120] for w in caught if "synchroniz" in str(w.message)]
    return len(where), where


def run(args: argparse.Namespace) -> list[Row]:
    if not torch.cuda.is_available():
        return [Row(NAME, "CUDA checks", "skipped", note="no CUDA device")]
    rows: list[Row] = []
    tr = _bench.trainer(args.sets, device="cuda").setup()
    _bench.train_epoch(tr, 0)
    count, where = syncs_per_epoch(tr, 1)
    rows.append(
        Row(
            NAME,
            f"host-device syncs in one epoch ({tr.dataset.num_train_batches()} steps)",
            float(count),
            "",
            "a few per epoch, none per step",
            extra={"where": where},
        )
    )
    del tr
    epochs = 3 if args.quick else 6
    for precision in ("32", "bf16-mixed", "16-mixed"):
        tr = _bench.trainer(
            [f'trainer.precision="{precision}"', f"epochs={epochs}", *args.sets], device="cuda"
        ).setup()
        try:
            times = _bench.time_epochs(tr, epochs - 1)
            logs = tr.validate()
        except Exception as exc:
            rows.append(
                Row(
                    NAME,
                    f"{precision}: smoke run",
                    "failed",
                    note=f"{type(exc).__name__}: {exc}"[:200],
                )
            )
            continue
        scaler = getattr(tr, "scaler", None)
        metrics = {
            k: round(v, 4) for k, v in logs.items() if k in _bench.QUALITY_BAR or k == "val/loss"
        }
        rows.append(
            Row(
                NAME,
                f"{precision}: epoch",
                _bench.median(times),
                "s",
                note=f"GradScaler scale {scaler.get_scale():.0f}" if scaler is not None else "",
                extra={"after_epochs": epochs, "metrics": metrics},
            )
        )
        rows.append(
            Row(
                NAME,
                f"{precision}: val/loss after {epochs} epochs",
                logs.get("val/loss"),
                "",
                extra={"metrics": metrics},
            )
        )
    return rows


if __name__ == "__main__":
    _bench.main(run, __doc__ or NAME)
