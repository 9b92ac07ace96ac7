"""Training jobs with real trainer processes: success, failure, cancel, killed processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from mlengine.errors import AlreadyExistsError, FailedPreconditionError, InvalidParameterError
from mlengine.jobs import JobManager, JobState
from mlengine.jobs.processes import group_alive, pid_alive
from tests.jobs.helpers import supervisor_pid, wait_for_log, wait_gone


@pytest.mark.timeout(120)
def test_trainer_succeeds_with_its_args_and_logs(
    jobs: JobManager, trainer_package: Path, tmp_path: Path
) -> None:
    job = jobs.submit_training(
        "hello_1",
        "trainer.ok",
        package_path=str(trainer_package),
        job_dir=str(tmp_path / "out"),
        args=["--steps", "3"],
        labels={"team": "census"},
    )
    assert job.state in (JobState.QUEUED, JobState.RUNNING)
    done = jobs.wait("hello_1", timeout=60)
    assert done.state is JobState.SUCCEEDED, done.error_message
    assert done.exit_code == 0 and done.error_message is None
    assert done.start_time is not None and done.end_time is not None
    assert done.create_time <= done.start_time <= done.end_time
    log = jobs.read_logs("hello_1")
    assert f"hello from the trainer ['--job-dir', '{tmp_path / 'out'}', '--steps', '3']" in log
    assert "a line on stderr" in log
    assert jobs.read_logs("hello_1", tail=1).count("\n") == 1
    body = done.to_json("proj")
    assert body["jobId"] == "hello_1" and body["state"] == "SUCCEEDED"
    assert body["labels"] == {"team": "census"}
    assert body["trainingInput"]["pythonModule"] == "trainer.ok"
    assert body["trainingInput"]["args"] == ["--steps", "3"]
    assert body["trainingInput"]["workerCount"] == "1"  # int64 as a string, as ML Engine
    assert body["endTime"].endswith("Z") and "errorMessage" not in body
    assert [j.job_id for j in jobs.list_jobs()] == ["hello_1"]
    assert jobs.list_jobs(states=["FAILED"]) == []


@pytest.mark.timeout(120)
def test_trainer_that_raises_fails_with_error_and_log_tail(
    jobs: JobManager, trainer_package: Path
) -> None:
    jobs.submit_training("boom", "trainer.fail", package_path=str(trainer_package.parent))
    job = jobs.wait("boom", timeout=60)
    assert job.state is JobState.FAILED
    assert job.exit_code == 1
    message = job.error_message or ""
    assert message.startswith(
        "The trainer (python -m trainer.fail) exited with code 1: "
        "RuntimeError: boom in the trainer."
    )
    assert "Last log lines:" in message and "about to fail" in message
    assert "Traceback" in message


@pytest.mark.timeout(120)
def test_missing_trainer_module_fails_clearly(
    sqlite_jobs: JobManager, trainer_package: Path
) -> None:
    sqlite_jobs.submit_training("nomodule", "trainer.nosuch", package_path=str(trainer_package))
    job = sqlite_jobs.wait("nomodule", timeout=60)
    assert job.state is JobState.FAILED
    assert "module trainer.nosuch was not found" in (job.error_message or "")
    assert "No module named trainer.nosuch" in (job.error_message or "")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stubborn", [False, True], ids=["polite", "ignores_sigterm"])
def test_cancel_stops_the_whole_process_group(
    jobs: JobManager, trainer_package: Path, stubborn: bool
) -> None:
    args = ["--escape"] + (["--stubborn"] if stubborn else [])
    jobs.submit_training("sleepy", "trainer.sleepy", package_path=str(trainer_package), args=args)
    found = wait_for_log(jobs, "sleepy", r"ready (\d+) (\d+) (\d+)")
    leader, child, escaped = (int(found.group(i)) for i in (1, 2, 3))
    assert all(pid_alive(pid) for pid in (leader, child, escaped))
    started = time.monotonic()
    job = jobs.cancel_job("sleepy", wait=30)
    took = time.monotonic() - started
    assert job.state is JobState.CANCELLED, job
    assert job.end_time is not None and job.error_message is None
    assert wait_gone([leader, child, escaped]) == []
    assert not group_alive(leader)
    if stubborn:  # SIGKILL comes only after the grace period
        assert took >= jobs.cancel_grace
    with pytest.raises(FailedPreconditionError, match=r"already CANCELLED"):
        jobs.cancel_job("sleepy")


@pytest.mark.timeout(120)
def test_killed_trainer_process_fails_the_job(
    sqlite_jobs: JobManager, trainer_package: Path
) -> None:
    jobs = sqlite_jobs
    jobs.submit_training("killed", "trainer.sleepy", package_path=str(trainer_package))
    found = wait_for_log(jobs, "killed", r"ready (\d+) (\d+)")
    leader, child = int(found.group(1)), int(found.group(2))
    os.kill(leader, signal.SIGKILL)
    job = jobs.wait("killed", timeout=60)
    assert job.state is JobState.FAILED
    assert (job.error_message or "").startswith(
        "The trainer (python -m trainer.sleepy) was killed by signal SIGKILL"
    )
    assert job.exit_code == -signal.SIGKILL
    assert wait_gone([child]) == []  # what the trainer left behind is stopped too


@pytest.mark.timeout(120)
def test_job_of_a_killed_supervisor_is_failed_on_the_next_list(
    jobs: JobManager, trainer_package: Path
) -> None:
    jobs.submit_training("orphan", "trainer.sleepy", package_path=str(trainer_package))
    found = wait_for_log(jobs, "orphan", r"ready (\d+) (\d+)")
    leader = int(found.group(1))
    supervisor = supervisor_pid(jobs, "orphan")
    os.kill(supervisor, signal.SIGKILL)
    assert wait_gone([supervisor]) == []
    (listed,) = jobs.list_jobs()
    assert listed.state is JobState.FAILED
    message = listed.error_message or ""
    assert "supervisor" in message and "stopped without recording" in message
    assert "Its remaining processes were killed." in message and "ready" in message
    assert wait_gone([leader]) == []
    assert not group_alive(leader)


@pytest.mark.timeout(120)
def test_max_running_time_stops_and_fails_the_job(
    sqlite_jobs: JobManager, trainer_package: Path
) -> None:
    sqlite_jobs.submit_training(
        "slow", "trainer.sleepy", package_path=str(trainer_package), max_running_time=1.5
    )
    job = sqlite_jobs.wait("slow", timeout=60)
    assert job.state is JobState.FAILED
    assert "longer than its maximum running time (1.5s)" in (job.error_message or "")


@pytest.mark.timeout(60)
def test_bad_submissions_are_refused_before_anything_runs(
    sqlite_jobs: JobManager, trainer_package: Path, tmp_path: Path
) -> None:
    jobs = sqlite_jobs
    with pytest.raises(InvalidParameterError, match=r"Invalid job id '1bad'"):
        jobs.submit_training("1bad", "trainer.ok")
    with pytest.raises(InvalidParameterError, match=r"Invalid job id '\.\./etc'"):
        jobs.submit_training("../etc", "trainer.ok")
    with pytest.raises(InvalidParameterError, match=r"Invalid module name 'trainer/ok.py'"):
        jobs.submit_training("j1", "trainer/ok.py")
    with pytest.raises(InvalidParameterError, match=r"Package path .*nowhere.* not a local"):
        jobs.submit_training("j1", "trainer.ok", package_path=str(tmp_path / "nowhere"))
    with pytest.raises(InvalidParameterError, match=r"worker count 0"):
        jobs.submit_training("j1", "trainer.ok", workers=0)
    with pytest.raises(InvalidParameterError, match=r"rendezvous endpoint 'nowhere'"):
        jobs.submit_training("j1", "trainer.ok", workers=2, rdzv_endpoint="nowhere")
    with pytest.raises(InvalidParameterError, match=r"label"):
        jobs.submit_training("j1", "trainer.ok", labels={"Bad Key": "x"})
    assert jobs.list_jobs() == []
    jobs.submit_training("j1", "trainer.ok", package_path=str(trainer_package))
    with pytest.raises(AlreadyExistsError, match=r"Job \(id=J1\) already exists \(as j1"):
        jobs.submit_training("J1", "trainer.ok", package_path=str(trainer_package))
    assert jobs.wait("j1", timeout=60).state is JobState.SUCCEEDED
    with pytest.raises(FailedPreconditionError, match=r"already SUCCEEDED"):
        jobs.cancel_job("j1")


@pytest.mark.timeout(120)
def test_a_custom_estimator_trains_and_exports_as_a_job(
    jobs: JobManager, trainer_package: Path, tmp_path: Path
) -> None:
    """A trainer module with a ModuleEstimator of its own: the job succeeds and its export
    (the network as ONNX) loads and predicts, without the trainer's code."""
    from mlengine.export import load

    jobs.submit_training(
        "custom_1", "trainer.custom", package_path=str(trainer_package), job_dir=str(tmp_path)
    )
    done = jobs.wait("custom_1", timeout=100)
    log = jobs.read_logs("custom_1")
    assert done.state is JobState.SUCCEEDED, (done.error_message, log)
    path = log.split("exported ", 1)[1].split()[0]
    predictor = load(path)
    assert predictor.manifest["members"]["onnx"]["takes"] == "encoded"
    answer = predictor.predict_instances([{"age": 40, "occupation": "Sales"}])
    assert len(answer) == 1 and abs(sum(answer[0]["probabilities"]) - 1.0) < 1e-12
