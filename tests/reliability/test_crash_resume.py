"""SIGKILL at any moment loses nothing: every crash resumes to the uninterrupted run's weights.

A toy run is started with ``python -m tvae_core run`` in a subprocess and killed with
SIGKILL at seeded moments: after a random optimizer step, at the end of an epoch before its
checkpoint, in the middle of a checkpoint write (part of the bytes on disk), right after a
checkpoint's rename, or from outside after a random delay. It is then continued with
``--resume last`` (itself possibly killed again), and the finished run must match an
uninterrupted run bit for bit: weights, optimizer moments, epoch count and metrics log.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.support import (
    PLUGINS,
    assert_same_training_state,
    cli,
    load_state,
    subprocess_env,
    toy_config,
    tvae_command,
    write_config,
)
from tvae_core._run.checkpoint import check_run_checkpoint, load_checkpoint

EPOCHS = 12
STEPS_PER_EPOCH = 4  # toy_data: 64 rows, batches of 16
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
KILL_WINDOW_S = 1.0  # external kills land within this long after training starts


def crash_config() -> dict[str, Any]:
    return toy_config(epochs=EPOCHS, callbacks=["recorder", "chaos"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The final checkpoint of the same run, never interrupted (in this process)."""
    import torch

    from tvae_core.cli import main

    folder = tmp_path_factory.mktemp("reference")
    config = write_config(folder / "crash.yaml", crash_config())
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TVAE_DISABLE_PLUGIN_AUTOLOAD", "1")
        mp.setenv("TVAE_NO_PLUGIN_COMMANDS", "1")
        mp.delenv("TVAE_CHAOS", raising=False)
        try:
            main(
                [
                    "run",
                    str(config),
                    *PLUGINS,
                    "--out",
                    str(folder / "out"),
                    "--name",
                    "ref",
                    "--json",
                ]
            )
        except SystemExit as exc:
            assert not exc.code, exc
        finally:
            torch.set_num_threads(threads)
    return load_state(folder / "out" / "ref" / "checkpoints" / "last.pt")


@dataclass
class Kill:
    """One planned SIGKILL: a ``TVAE_CHAOS`` plan, or ``external`` after ``delay_s``."""

    plan: str
    delay_s: float = 0.0

    @property
    def external(self) -> bool:
        return self.plan == "external"


@dataclass
class Trial:
    """What one crash trial saw, for the assertions and the failure message."""

    kills: list[str] = field(default_factory=list)
    resumed_epochs: list[int] = field(default_factory=list)
    torn_writes: int = 0
    nothing_to_resume: int = 0


def _checkpoint_epoch(run: Path) -> int | None:
    """The epoch of ``last.pt`` if there is one; it must always load as a whole checkpoint."""
    last = run / "checkpoints" / "last.pt"
    if not last.exists():
        return None
    state = load_checkpoint(last)  # raises on a truncated or foreign file
    check_run_checkpoint(state, last)
    return int(state["epoch"])


def random_kill(rng: random.Random, epoch: int) -> Kill:
    """A kill somewhere in what is left of the run, which resumes from ``epoch``."""
    kind = rng.choice(["step", "step", "save", "save", "replaced", "epoch_end", "external"])
    left = EPOCHS - epoch
    if kind == "step":
        return Kill(f"step:{rng.randint(epoch * STEPS_PER_EPOCH + 1, TOTAL_STEPS)}")
    if kind == "save":
        return Kill(f"save:{rng.randint(1, left)}:{rng.uniform(0.0, 1.0):.3f}")
    if kind == "replaced":
        return Kill(f"replaced:{rng.randint(1, left)}")
    if kind == "epoch_end":
        return Kill(f"epoch_end:{rng.randint(epoch, EPOCHS - 1)}")
    return Kill("external", delay_s=rng.uniform(0.0, KILL_WINDOW_S))


def _start(cwd: Path, config: Path, resume: bool, kill: Kill) -> subprocess.Popen[str]:
    args = ["run", "--resume", "last"] if resume else ["run", str(config)]
    env = subprocess_env(TVAE_CHAOS_READY=str(cwd / "ready"))
    if not kill.external:
        env["TVAE_CHAOS"] = kill.plan
    return subprocess.Popen(
        tvae_command(*args, *PLUGINS, "--out", str(cwd / "out"), "--name", "r"),
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_process(proc: subprocess.Popen[str], kill: Kill, ready: Path) -> int:
    if kill.external:
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(kill.delay_s)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    try:
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:  # pragma: no cover - a hung child
            proc.kill()
    return proc.returncode


def run_trial(
    cwd: Path, kills: Iterator[Kill] | list[Kill], capsys: pytest.CaptureFixture[str]
) -> Trial:
    """Start, kill and resume the toy run per ``kills``; finish it in-process."""
    config = write_config(cwd / "crash.yaml", crash_config())
    run = cwd / "out" / "r"
    trial = Trial()
    for kill in kills:
        epoch = _checkpoint_epoch(run)
        ready = cwd / "ready"
        ready.unlink(missing_ok=True)
        proc = _start(cwd, config, resume=epoch is not None, kill=kill)
        code = _kill_process(proc, kill, ready)
        stderr = proc.stderr.read() if proc.stderr else ""
        assert code in (-signal.SIGKILL, 0), f"{kill.plan}: exit {code}: {stderr}"
        trial.kills.append(f"{kill.plan}{f'@{kill.delay_s:.2f}s' if kill.external else ''}")
        after = _checkpoint_epoch(run)
        if epoch is not None:
            assert after is not None and after >= epoch, "a crash took the checkpoint back"
        leftovers = list((run / "checkpoints").glob(".*.tmp")) if run.exists() else []
        trial.torn_writes += bool(leftovers)
        if code == 0:
            break  # an external kill that came after the end
        if after is None and run.exists():
            code, _, err = cli(
                capsys,
                "run",
                "--resume",
                "last",
                *PLUGINS,
                "--out",
                str(cwd / "out"),
                "--name",
                "r",
            )
            assert code == 2, err
            assert "no checkpoints/last.pt to continue from" in err and "Traceback" not in err
            trial.nothing_to_resume += 1
    epoch = _checkpoint_epoch(run)
    summary = run / "summary.json"
    if summary.is_file() and json.loads(summary.read_text())["status"] == "completed":
        # the last kill came after the run ended: a completed run is left as it is
        return trial
    if epoch is None:
        code, out, err = cli(
            capsys, "run", str(config), *PLUGINS, "--out", str(cwd / "out"), "--name", "r", "--json"
        )
    else:
        trial.resumed_epochs.append(epoch)
        code, out, err = cli(
            capsys,
            "run",
            "--resume",
            "last",
            *PLUGINS,
            "--out",
            str(cwd / "out"),
            "--name",
            "r",
            "--json",
        )
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    return trial


def check_finished_run(cwd: Path, reference: dict[str, Any], trial: Trial) -> None:
    run = cwd / "out" / "r"
    assert_same_training_state(load_state(run / "checkpoints" / "last.pt"), reference)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == list(range(1, EPOCHS + 1)), trial
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert not list(run.rglob(".*.tmp")), "stale temporary files were left behind"


@pytest.mark.parametrize(
    "kills",
    [
        pytest.param([Kill("save:3:0.5"), Kill("step:33")], id="mid-write-then-step"),
        pytest.param([Kill("replaced:2"), Kill("external", 0.3)], id="after-rename-then-external"),
        pytest.param([Kill("epoch_end:0")], id="before-first-checkpoint"),
    ],
)
def test_killed_runs_resume_to_identical_weights(
    tmp_path: Path, reference: dict[str, Any], kills: list[Kill], capsys: pytest.CaptureFixture[str]
) -> None:
    trial = run_trial(tmp_path, kills, capsys)
    check_finished_run(tmp_path, reference, trial)
    if kills[0].plan.startswith("save"):
        assert trial.torn_writes >= 1  # the kill did land inside a checkpoint write
    if kills[0].plan.startswith("epoch_end:0"):
        assert trial.nothing_to_resume == 1


def _random_kills(rng: random.Random, run: Path) -> Iterator[Kill]:
    for _ in range(rng.choice([1, 1, 2, 3])):
        epoch = _checkpoint_epoch(run) or 0
        if epoch == EPOCHS:  # killed after the last checkpoint: only the summary is left
            return
        yield random_kill(rng, epoch)


@pytest.mark.slow
def test_twenty_random_crash_trials(
    tmp_path: Path, reference: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(20260526)
    seen: list[Trial] = []
    for i in range(20):
        cwd = tmp_path / f"trial{i:02d}"
        cwd.mkdir()
        trial = run_trial(cwd, _random_kills(rng, cwd / "out" / "r"), capsys)
        check_finished_run(cwd, reference, trial)
        seen.append(trial)
    kills = [k for t in seen for k in t.kills]
    torn = sum(t.torn_writes for t in seen)
    kinds = sorted({k.split(":")[0].split("@")[0] for k in kills})
    print(f"\n{len(seen)} trials, {len(kills)} SIGKILLs ({', '.join(kinds)}), {torn} torn writes")
    assert len(kills) >= 20
    assert torn >= 1
