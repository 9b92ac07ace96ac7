"""Training jobs with ``--workers N > 1``: torchrun, its rendezvous timeout, and cancelling it.

torchrun starts every worker in a session of its own, so these tests also check that a cancel
reaches processes outside the job's process group (the supervisor adopts them as a subreaper).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlengine.jobs import JobManager, JobState
from mlengine.jobs.processes import pid_alive
from tests.jobs.helpers import wait_for_log, wait_gone

pytestmark = pytest.mark.slow


@pytest.mark.timeout(90)
def test_two_workers_under_torchrun(sqlite_jobs: JobManager, trainer_package: Path) -> None:
    sqlite_jobs.submit_training(
        "ddp", "trainer.ddp", package_path=str(trainer_package), workers=2, args=["--x", "1"]
    )
    job = sqlite_jobs.wait("ddp", timeout=60)
    log = sqlite_jobs.read_logs("ddp")
    assert job.state is JobState.SUCCEEDED, (job.error_message, log)
    assert "torch.distributed.run" in log and "--nproc-per-node=2" in log
    ranks = sorted(re.findall(r"rank (\d) of 2 sum 3 \['--job-dir', '[^']+', '--x', '1'\]", log))
    assert ranks == ["0", "1"], log
    body = job.to_json()["trainingInput"]
    assert body["workerCount"] == "2" and body["scaleTier"] == "CUSTOM"
    assert body["rendezvousTimeout"] == "60s"


@pytest.mark.timeout(90)
def test_rendezvous_that_never_completes_fails_within_its_timeout(
    sqlite_jobs: JobManager, trainer_package: Path
) -> None:
    # Two machines are expected; only this one comes.
    sqlite_jobs.submit_training(
        "lonely",
        "trainer.ddp",
        package_path=str(trainer_package),
        workers=2,
        nnodes=2,
        rdzv_timeout=3,
    )
    job = sqlite_jobs.wait("lonely", timeout=60)
    assert job.state is JobState.FAILED
    assert job.start_time is not None and job.end_time is not None
    assert (job.end_time - job.start_time).total_seconds() < 40
    message = job.error_message or ""
    assert re.match(
        r"The torchrun rendezvous at 127\.0\.0\.1:\d+ did not complete within 3s: 2 node\(s\) "
        r"of 2 worker\(s\) were expected and not all joined\.",
        message,
    ), message
    assert "Last log lines:" in message


@pytest.mark.timeout(90)
def test_cancel_reaches_torchrun_workers_in_their_own_sessions(
    sqlite_jobs: JobManager, trainer_package: Path
) -> None:
    sqlite_jobs.submit_training(
        "ddp_sleep", "trainer.ddp_sleepy", package_path=str(trainer_package), workers=2
    )
    wait_for_log(sqlite_jobs, "ddp_sleep", r"worker 0 pid \d+")
    found = wait_for_log(sqlite_jobs, "ddp_sleep", r"worker 1 pid \d+")
    assert found is not None
    log = sqlite_jobs.read_logs("ddp_sleep")
    workers = [int(pid) for pid in re.findall(r"worker \d pid (\d+)", log)]
    assert len(workers) == 2 and all(pid_alive(pid) for pid in workers)
    job = sqlite_jobs.cancel_job("ddp_sleep", wait=30)
    assert job.state is JobState.CANCELLED
    assert wait_gone(workers) == []
