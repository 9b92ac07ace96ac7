"""Helpers of the job tests: trainer modules written to disk, waiting, and cleaning up.

Every process a test starts is accounted for: :func:`cleanup` cancels the jobs still active,
then SIGKILLs any supervisor or process group that survived, so no test leaves a process.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

from mlengine.jobs import JobManager
from mlengine.jobs.processes import group_alive, pid_alive

TRAINERS = {
    "ok.py": """
import sys
print("hello from the trainer", sys.argv[1:], flush=True)
print("a line on stderr", file=sys.stderr, flush=True)
""",
    "fail.py": """
print("about to fail", flush=True)
raise RuntimeError("boom in the trainer")
""",
    "sleepy.py": """
import os, signal, subprocess, sys, time
stubborn = "--stubborn" in sys.argv
if stubborn:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
code = "import signal, time\\n"
if stubborn:
    code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
code += "time.sleep(600)\\n"
child = subprocess.Popen([sys.executable, "-c", code])
# One that leaves the process group, as torchrun's workers do.
escaped = subprocess.Popen([sys.executable, "-c", code], start_new_session="--escape" in sys.argv)
print(f"ready {os.getpid()} {child.pid} {escaped.pid}", flush=True)
time.sleep(600)
""",
    "ddp.py": """
import os, sys
import torch
import torch.distributed as dist
dist.init_process_group("gloo", timeout=__import__("datetime").timedelta(seconds=30))
value = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(value)
# One string, one write: two ranks print at once into the same log.
print(f"rank {dist.get_rank()} of {dist.get_world_size()} sum {value.item():g} {sys.argv[1:]}",
      flush=True)
dist.destroy_process_group()
""",
    "ddp_sleepy.py": """
import os, time
print(f"worker {os.environ['RANK']} pid {os.getpid()}", flush=True)
time.sleep(600)
""",
    "tune.py": """
# A trainer for tuning jobs: objective -(x - 0.3)^2 - (units != "b") / 10, reported per step.
import argparse, os, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("--job-dir")
parser.add_argument("--x", type=float, default=0.0)
parser.add_argument("--units", default="a")
parser.add_argument("--n", type=int, default=1)
parser.add_argument("--how", default="report")  # report | summaries | none | crash | sleep
parser.add_argument("--steps", type=int, default=3)
parser.add_argument("--tag", default="score")
parser.add_argument("--pause", type=float, default=0.0)
args = parser.parse_args()
print("trial", os.environ.get("CLOUD_ML_TRIAL_ID"), "job-dir", args.job_dir, sys.argv[1:],
      flush=True)
if args.how == "crash":
    raise RuntimeError("boom in trial")
if args.how == "sleep":
    print(f"sleeping {os.getpid()}", flush=True)
    time.sleep(600)
objective = -((args.x - 0.3) ** 2) - (args.units != "b") / 10
by_trial = args.how == "by-trial"  # trial 1 scores 0 at every step, the others -1
if by_trial:
    args.how = "report"
for step in range(1, args.steps + 1):
    value = objective - (args.steps - step) / 10
    if by_trial:
        value = 0.0 if os.environ["CLOUD_ML_TRIAL_ID"] == "1" else -1.0
    if args.how == "report":
        from mlengine.hypertune import HyperTune
        HyperTune().report_hyperparameter_tuning_metric(
            hyperparameter_metric_tag=args.tag, metric_value=value, global_step=step * 100)
    elif args.how == "summaries":
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        writer = EventFileWriter(os.path.join(args.job_dir, "model", "eval"))
        summary = Summary(value=[Summary.Value(tag=args.tag, simple_value=value),
                                 Summary.Value(tag="loss", simple_value=1.0)])
        writer.add_event(Event(wall_time=time.time(), step=step * 100, summary=summary))
        writer.close()
    time.sleep(args.pause)
""",
    "tune_export.py": """
# A tuning trial that trains, evaluates (eval summaries) and exports a tiny census model.
import argparse
from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.data import census

parser = argparse.ArgumentParser()
parser.add_argument("--job-dir")
parser.add_argument("--learning-rate", type=float)
args = parser.parse_args()
x, y = census.load("train")
x, y = x.head(300), y[:300]
model = estimator.LinearClassifier(
    [fc.numeric_column("age"), fc.categorical_column_with_hash_bucket("occupation", 20)],
    model_dir=args.job_dir + "/model", optimizer=estimator.FtrlOptimizer(args.learning_rate),
    config=estimator.RunConfig(quiet=True))
model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=100, shuffle=False))
print(model.evaluate(estimator.inputs.pandas_input_fn(x, y, shuffle=False)), flush=True)
print("exported", model.export_saved_model(args.job_dir + "/export"), flush=True)
""",
    "custom.py": """
import sys
import torch
from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.data import census

job_dir = sys.argv[sys.argv.index("--job-dir") + 1]
x, y = census.load("train")
x, y = x.head(200), y[:200]
columns = [fc.numeric_column("age", normalizer_fn=fc.ZScore(38.6, 13.6)),
           fc.embedding_column(fc.categorical_column_with_hash_bucket("occupation", 20), 3)]

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.inputs = estimator.DenseFeatures(columns)
        self.out = torch.nn.Linear(self.inputs.output_dim, 1)

    def forward(self, features):
        return self.out(self.inputs(features))

model = estimator.ModuleEstimator(Net(), estimator.binary_classification_head(), "Adagrad",
                                  model_dir=job_dir + "/model",
                                  config=estimator.RunConfig(quiet=True))
model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=50, shuffle=False))
print("exported", model.export_saved_model(job_dir + "/export"), flush=True)
""",
}


def write_trainers(base: Path) -> Path:
    """``base/src/trainer/`` with the modules above; returns the package folder."""
    package = base / "src" / "trainer"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name, text in TRAINERS.items():
        (package / name).write_text(text.lstrip())
    return package


def wait_for_log(
    jobs: JobManager, job_id: str, pattern: str, timeout: float = 60.0
) -> re.Match[str]:
    """Poll the job's log until ``pattern`` appears (fails the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        found = re.search(pattern, jobs.read_logs(job_id))
        if found is not None:
            return found
        job = jobs.get_job(job_id)
        assert not job.state.is_final, (job, jobs.read_logs(job_id))
        assert time.monotonic() < deadline, f"{pattern!r} not in log: {jobs.read_logs(job_id)}"
        time.sleep(0.05)


def supervisor_pid(jobs: JobManager, job_id: str) -> int:
    """The pid of the job's supervisor, from the row's worker column (``host:pid[:token]``)."""
    return int(jobs.table.row(job_id).worker.split(":")[1])


def wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    """Wait for processes to end; returns those still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if pid_alive(pid)]
        if not alive:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if pid_alive(pid)]


def cleanup(jobs: JobManager, extra_pids: list[int] | None = None) -> None:
    """Cancel active jobs, then SIGKILL whatever of theirs still runs."""
    rows = jobs.table.rows()
    for row in rows:
        if row.state in ("QUEUED", "RUNNING", "CANCELLING"):
            with contextlib.suppress(Exception):
                jobs.cancel_job(row.job_id, wait=jobs.cancel_grace + 15)
    for row in jobs.table.rows():
        if row.process_id and group_alive(row.process_id):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(row.process_id, signal.SIGKILL)
        worker = (row.worker or "").split(":")
        if len(worker) > 1 and worker[1].isdigit() and int(worker[1]) != os.getpid():
            pid = int(worker[1])
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
    for pid in extra_pids or []:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
