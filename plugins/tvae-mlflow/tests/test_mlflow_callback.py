"""tvae-mlflow: a run logged to a real MLflow tracking server and to a file store, read back.

The server is ``mlflow server`` started by the test on 127.0.0.1 on a free port (its own
SQLite backend and artifact folder); the test is skipped, saying why, only when that server
cannot start here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient
from tvae_mlflow.callback import tracking_uri

from tvae_core import Trainer
from tvae_core.testing import FakeRun, tiny_trainer

SERVER_START_S = 120


def _trainer(
    uri: str, run_dir: Path, *, epochs: int = 3, resume: bool = False, **settings: Any
) -> Trainer:
    config = {
        "seed": 5,
        "epochs": epochs,
        "callbacks": [{"name": "mlflow", "tracking_uri": uri, "experiment": "tests", **settings}],
        "trainer": {"val_every": 1},
    }
    last = run_dir / "checkpoints" / "last.pt"
    return tiny_trainer(
        config, ["tvae_mlflow.plugin"], run_dir=run_dir, resume_from=last if resume else None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A tracking server of this test's own, stopped at the end (its whole process group)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    log = (root / "server.log").open("w")
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--workers",
        "1",
    ]
    try:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as exc:
        pytest.skip(f"mlflow server cannot start here: {exc}")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    try:
        while True:
            if proc.poll() is not None:
                tail = (root / "server.log").read_text()[-500:]
                pytest.skip(f"mlflow server exited with code {proc.returncode}: {tail}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.skip(f"mlflow server did not answer on {url} within {SERVER_START_S} s")
            time.sleep(0.25)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the workers it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _only_run(client: MlflowClient) -> Any:
    experiment = client.get_experiment_by_name("tests")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    return run


def _check_logged(client: MlflowClient, run_dir: Path, summary: Any) -> Any:
    run = _only_run(client)
    assert run.info.status == "FINISHED" and run.info.run_name == run_dir.name
    # Per-epoch metrics at step = epoch, equal to metrics.jsonl.
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    history = client.get_metric_history(run.info.run_id, "val/tiny_coverage")
    assert [(m.step, m.value) for m in history] == [
        (r["epoch"], r["val/tiny_coverage"]) for r in records
    ]
    assert run.data.metrics["train/loss"] == summary.final["train/loss"]
    # Params: the resolved config, flattened.
    assert run.data.params["optimizer.lr"] == "0.01"
    assert run.data.params["data.n_trits"] == "3"
    assert run.data.params["callbacks.mlflow.experiment"] == "tests"
    # Tags: versions and the seed, the outcome.
    tags = run.data.tags
    assert tags["tvae.seed"] == "5" and tags["tvae.status"] == "completed"
    assert "tvae.version" in tags and "tvae.plugin.builtins" in tags
    # Artifacts: the run's files.
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "run.json", "summary.json", "metrics.jsonl"} <= names
    return run


def test_a_run_logs_to_a_tracking_server(server: str, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    summary = _trainer(server, run_dir).fit()
    assert summary.status == "completed"
    client = MlflowClient(tracking_uri=server)
    run = _check_logged(client, run_dir, summary)
    local = client.download_artifacts(run.info.run_id, "summary.json", str(tmp_path))
    assert json.loads(Path(local).read_text())["status"] == "completed"


def test_a_run_logs_to_a_file_store_and_a_resume_continues_its_mlflow_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow 3 keeps file stores behind this switch (its default local store is SQLite).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    run_dir = tmp_path / "run"
    _trainer(uri, run_dir, epochs=2, log_best_checkpoint=True).fit()
    summary = _trainer(uri, run_dir, resume=True, log_best_checkpoint=True).fit()
    assert summary.epochs == 3
    client = MlflowClient(tracking_uri=uri)
    run = _check_logged(client, run_dir, summary)  # one MLflow run for the resumed tvae run
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in history] == [1, 2, 3]


def test_the_tracking_uri_comes_from_the_setting_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://from-env:5000")
    assert tracking_uri("sqlite:///x.db") == "sqlite:///x.db"
    assert tracking_uri(None) == "http://from-env:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking_uri(None) is None  # MLflow's own local default


def test_only_rank_0_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tvae_mlflow import MlflowCallback

    rank1 = FakeRun(run_dir=tmp_path, rank=1, world_size=2)
    callback = MlflowCallback(tracking_uri="http://127.0.0.1:9")  # nothing listens there
    callback.on_fit_start(rank1)
    callback.on_epoch_end(0, {"train/loss": 1.0})
    callback.on_fit_end(rank1)
    assert callback.run_id is None and callback.client is None
