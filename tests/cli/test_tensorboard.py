"""``mlengine tensorboard``: the folder of a run, a training job or a version, and a real
TensorBoard serving it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlengine.export.evidence import read_evidence
from mlengine.jobs import Job, JobKind, JobState
from mlengine.jobs.tensorboard import (
    TENSORBOARD_URL_ENV,
    job_logdir,
    tensorboard_link,
)
from tests.cli.helpers import Cli


def _job(kind: JobKind, **input_fields: object) -> Job:
    return Job(
        job_id="census_1",
        kind=kind,
        state=JobState.SUCCEEDED,
        input=dict(input_fields),
        create_time=datetime.now(UTC),
        host="here",
        run_dir="/tmp/run",
    )


def test_a_jobs_folder_is_its_job_dir_else_its_trainers_absolute_model_dir() -> None:
    assert job_logdir(_job(JobKind.TRAINING, jobDir="/runs/census")) == "/runs/census"
    assert job_logdir(_job(JobKind.TRAINING, args=["--model-dir", "/m/c"])) == "/m/c"
    assert job_logdir(_job(JobKind.TRAINING, args=["--model_dir=/m/d"])) == "/m/d"
    assert job_logdir(_job(JobKind.TRAINING, args=["--model-dir", "relative"])) is None
    assert job_logdir(_job(JobKind.PREDICTION, modelName="census")) is None


def test_the_consoles_link_names_the_folder_the_command_and_a_configured_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TENSORBOARD_URL_ENV, raising=False)
    assert tensorboard_link(None) is None
    assert tensorboard_link("/runs/my census") == {
        "logdir": "/runs/my census",
        "command": "tensorboard --logdir '/runs/my census'",
        "url": None,
    }
    monkeypatch.setenv(TENSORBOARD_URL_ENV, "http://127.0.0.1:6006")
    link = tensorboard_link("/runs/c")
    assert link is not None and link["url"] == "http://127.0.0.1:6006"


def test_a_versions_folder_is_the_model_dir_its_evidence_recorded(
    cli: Cli, export_dir: Path
) -> None:
    evidence = read_evidence(export_dir)
    assert evidence is not None and evidence.model_dir is not None
    cli("models", "create", "census")
    cli("versions", "create", "v1", "--model", "census", "--origin", str(export_dir))
    out = cli("tensorboard", "--model", "census", "--version", "v1", "--print-command").stdout
    assert out.split()[:3] == ["tensorboard", "--logdir", evidence.model_dir]
    default = cli("tensorboard", "--model", "census", "--print-command").stdout
    assert default == out
    assert out.split()[3:] == ["--host", "127.0.0.1", "--port", "6006"]


def test_what_cannot_be_shown_is_refused_in_one_line(cli: Cli, tmp_path: Path) -> None:
    cli.fails("tensorboard", "--print-command", match="Name one of LOGDIR, --job or --model")
    cli.fails("tensorboard", "x", "--job", "j", match="Name one of LOGDIR, --job or --model")
    cli.fails("tensorboard", "x", "--version", "v1", match="--version needs --model")
    cli.fails("tensorboard", "--job", "nope", "--print-command", match="nope")
    cli.fails("tensorboard", "--model", "nope", "--print-command", match="nope")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(120)
def test_tensorboard_serves_the_runs_training_and_evaluation(export_dir: Path) -> None:
    evidence = read_evidence(export_dir)
    assert evidence is not None and evidence.model_dir is not None
    port = _free_port()
    command = [sys.executable, "-m", "mlengine.cli.main", "tensorboard", evidence.model_dir]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        deadline = time.monotonic() + 90
        runs: list[str] = []
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/data/runs", timeout=5
                ) as response:
                    runs = json.loads(response.read())
            except OSError:
                pass
            if {".", "eval"} <= set(runs):
                break
            time.sleep(0.5)
        assert {".", "eval"} <= set(runs), (runs, server.poll())
    finally:
        server.terminate()
        server.wait(timeout=30)
