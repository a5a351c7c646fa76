"""CUDA checks of the observability code paths (run on a machine with a GPU).

- MetricsBuffer keeps CUDA scalars on the device and copies them in one transfer at flush.
- ProgressCallback reads the engine's lazy CUDA step logs only when it redraws: its per-step
  overhead on a CUDA loop is measured against the same loop without it.
- The tensorboard projector and the latent plot accept CUDA outputs.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from rich.console import Console
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tvae_tensorboard import MetricsBuffer, TensorBoardCallback
from tvae_ternary.plotting import LatentPlotCallback
from tvae_ternary.space import valuation_table

from tvae_core._engine.progress import ProgressCallback
from tvae_core._engine.records import StepLogs


def main() -> None:
    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    tmp = Path(tempfile.mkdtemp())
    name = (
        torch.cuda.get_device_name(0) if cuda else "CPU (no CUDA device: a dry run of the checks)"
    )
    print("device:", name, "torch", torch.__version__)

    # MetricsBuffer with CUDA scalars.
    buffer = MetricsBuffer(tmp / "tb")
    values = torch.linspace(0, 1, 50, device=dev)
    for step in range(50):
        buffer.add("train/loss", values[step] * 2, step=step)
    buffer.close()
    acc = EventAccumulator(str(tmp / "tb"))
    acc.Reload()
    got = [e.value for e in acc.Scalars("train/loss")]
    assert len(got) == 50 and abs(got[-1] - 2.0) < 1e-6, got[-5:]
    print("MetricsBuffer: 50 CUDA scalars written and read back")

    # ProgressCallback cost on a CUDA loop with lazy step logs.
    size = 2048 if cuda else 128
    w = torch.randn(size, size, device=dev) / size**0.5
    x = torch.randn(size, size, device=dev)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def loop(cb: ProgressCallback | None, steps: int = 400) -> float:
        sync()
        t0 = time.perf_counter()
        y = x
        for b in range(steps):
            y = torch.tanh(y @ w) * 0.5
            loss = y.square().mean()
            if cb is not None:
                cb.on_batch_end(b, StepLogs({"loss": loss.detach(), "train/loss": loss.detach()}))
        sync()
        return time.perf_counter() - t0

    loop(None, 50)
    trainer = SimpleNamespace(dataset=SimpleNamespace(num_train_batches=lambda: 400), epoch=0)
    for live in (False, True):
        cb = ProgressCallback(1, console=Console(file=io.StringIO(), force_terminal=live))
        cb.on_fit_start(trainer)  # type: ignore[arg-type]
        cb.on_epoch_start(0)
        base = min(loop(None) for _ in range(3))
        with_cb = min(loop(cb) for _ in range(3))
        cb.close()
        mode = "terminal" if live else "plain"
        print(
            f"ProgressCallback ({mode}): loop {base * 1e3:.1f} ms without, {with_cb * 1e3:.1f} ms with "
            f"({100 * (with_cb - base) / base:+.2f}%)"
        )

    # Projector and latent plot from CUDA outputs (n = 9).
    n = 9
    index = torch.arange(3**n, device=dev)
    z = torch.nn.functional.normalize(torch.randn(3**n, 16, device=dev), dim=1) * 0.7
    outputs = {"z_mean": z, "curvature": torch.tensor(1.0, device=dev)}
    batch = {
        "x": torch.stack([(index // 3**k) % 3 - 1 for k in range(n)], 1).float(),
        "index": index,
        "valuation": valuation_table(n, device=dev),
    }
    fake = SimpleNamespace(
        run_dir=tmp / "run",
        rank=0,
        epoch=60,
        config={"seed": 0},
        evaluate=lambda: (outputs, batch),
    )
    (tmp / "run").mkdir()
    tb = TensorBoardCallback()
    tb.on_fit_start(fake)  # type: ignore[arg-type]
    tb.on_epoch_end(0, {"train/loss": 1.0, "val/coverage": 1.0})
    tb.on_fit_end(fake)  # type: ignore[arg-type]
    rows = (
        (tmp / "run" / "tensorboard" / "00060" / "z_mean" / "tensors.tsv").read_text().count("\n")
    )
    assert rows == 3**n, rows
    print(f"tensorboard fit end from CUDA outputs: {tb.timings_s['fit_end']:.3f} s, {rows} rows")
    plot = LatentPlotCallback()
    plot.on_fit_start(fake)  # type: ignore[arg-type]
    plot.on_validation_end(59, {"val/coverage": 1.0, "val/hierarchy": -0.8})
    plot.on_fit_end(fake)  # type: ignore[arg-type]
    assert (tmp / "run" / "latent.png").read_bytes()[:4] == b"\x89PNG"
    print(f"latent plot from CUDA outputs: {plot.timings_s['fit_end']:.3f} s")
    print("CUDA CHECKS PASSED")


if __name__ == "__main__":
    main()
