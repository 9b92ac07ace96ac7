"""Data-parallel training under torchrun: 2 CPU processes with gloo, against one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TRAINER = Path(__file__).with_name("trainer.py")
LEAVER = Path(__file__).with_name("leaver.py")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _torchrun(nproc: int, *args: str, script: Path = TRAINER) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={nproc}", "--max-restarts=0", "--monitor-interval=0.5",
        str(script), *args,
    ]  # fmt: skip


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def test_two_ranks_train_identical_weights_and_match_one_process(tmp_path: Path) -> None:
    # Global batch 256 either way: 2 ranks x 128, or 1 process x 256; same seed, 2 epochs.
    two = _run(_torchrun(2, str(tmp_path / "ddp"), str(tmp_path / "ddp"), "128", "2"), 240)
    assert two.returncode == 0, two.stderr[-3000:]
    one = _run([sys.executable, str(TRAINER), str(tmp_path / "one"), str(tmp_path / "one"),
                "256", "2"], 240)  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"ddp.{r}.json").read_text()) for r in (0, 1)]
    single = json.loads((tmp_path / "one.0.json").read_text())
    assert ranks[0]["weights"] == ranks[1]["weights"]  # the all-reduce kept replicas identical
    assert ranks[0]["auc"] == ranks[1]["auc"]  # metrics reduced exactly across ranks
    assert ranks[0]["global_step"] == ranks[1]["global_step"]
    assert abs(ranks[0]["global_step"] - single["global_step"]) <= 2
    assert abs(ranks[0]["auc"] - single["auc"]) < 0.003, (ranks[0]["auc"], single["auc"])
    # Only the chief wrote: one export, and every rank was told its path.
    assert ranks[0]["export"] == ranks[1]["export"]
    assert len([p for p in (tmp_path / "ddp" / "export").iterdir() if p.name.isdigit()]) == 1


def test_the_process_group_is_destroyed_before_the_interpreter_exits(tmp_path: Path) -> None:
    # Left to interpreter teardown, gloo aborted a rank now and then ("terminate called without
    # an active exception") after a run that had succeeded, and the job failed. Destroyed, the
    # group's gloo threads are gone too (they were not when torch._dynamo held the group).
    job = _run(_torchrun(2, str(tmp_path / "left"), script=LEAVER), 120)
    assert job.returncode == 0, job.stderr[-3000:]
    assert [(tmp_path / f"left.{r}").read_text() for r in (0, 1)] == ["destroyed", "destroyed"]


def test_resume_with_a_different_number_of_processes(tmp_path: Path) -> None:
    model_dir, out = str(tmp_path / "model"), str(tmp_path / "run")
    first = _run([sys.executable, str(TRAINER), model_dir, out + "a", "256", "1"], 240)
    assert first.returncode == 0, first.stderr[-3000:]
    step_one = json.loads(Path(out + "a.0.json").read_text())["global_step"]
    second = _run(_torchrun(2, model_dir, out + "b", "128", "2"), 240)
    assert second.returncode == 0, second.stderr[-3000:]
    step_two = json.loads(Path(out + "b.0.json").read_text())["global_step"]
    assert step_two > step_one  # resumed from the one-process checkpoint, kept counting


def test_a_killed_rank_fails_the_job_within_a_minute(tmp_path: Path) -> None:
    out = str(tmp_path / "run")
    job = subprocess.Popen(
        _torchrun(2, str(tmp_path / "model"), out, "64", "1", "--forever"),
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        pid_file = Path(out + ".1.pid")
        while not pid_file.exists() or not list(tmp_path.glob("model/events.out.tfevents*")):
            assert job.poll() is None, job.stdout.read() if job.stdout else ""
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        time.sleep(1.0)  # inside the training loop, in the middle of all-reduces
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        killed = time.monotonic()
        code = job.wait(timeout=60)
        assert code != 0
        assert time.monotonic() - killed < 60
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(timeout=10)
        if job.stdout:
            job.stdout.close()


CUSTOM_TRAINER = Path(__file__).with_name("custom_trainer.py")


def test_a_custom_estimator_trains_data_parallel_as_one_process(tmp_path: Path) -> None:
    """ModuleEstimator under torchrun: 2 ranks x 128 against 1 process x 256, one epoch."""
    two = _run(
        _torchrun(
            2, str(tmp_path / "ddp"), str(tmp_path / "ddp"), "128", "1", script=CUSTOM_TRAINER
        ),
        240,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    one = _run([sys.executable, str(CUSTOM_TRAINER), str(tmp_path / "one"), str(tmp_path / "one"),
                "256", "1"], 240)  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"ddp.{r}.json").read_text()) for r in (0, 1)]
    single = json.loads((tmp_path / "one.0.json").read_text())
    assert ranks[0]["weights"] == ranks[1]["weights"]  # averaged gradients: identical replicas
    assert ranks[0]["auc"] == ranks[1]["auc"]
    # Each rank's padded shard takes ceil(16281 / 128) steps, the one process ceil(32561 / 256).
    assert ranks[0]["global_step"] == ranks[1]["global_step"] == 128 == single["global_step"]
    assert abs(ranks[0]["auc"] - single["auc"]) < 0.003, (ranks[0]["auc"], single["auc"])
    assert ranks[0]["export"] == ranks[1]["export"]  # the chief's, told to every rank
    assert len([p for p in (tmp_path / "ddp" / "export").iterdir() if p.name.isdigit()]) == 1
    # Only the chief wrote checkpoints and summaries (one event file per train() call).
    assert len(list((tmp_path / "ddp").glob("events.out.tfevents*"))) == 1
