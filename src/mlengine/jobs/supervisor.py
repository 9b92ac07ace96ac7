"""``python -m mlengine.jobs.supervisor JOB_ID``: the detached process that runs one job.

It claims the QUEUED job (→ RUNNING, start time), starts the job's command (a tuning job's
trials: :mod:`mlengine.jobs.hptuning`) in a new session
(so its own process group) with stdout and stderr appended to ``output.log``, and then, until
the command exits: heartbeats the row (how others tell a live supervisor from a dead one),
watches for CANCELLING (→ SIGTERM to the process tree, SIGKILL after the grace period), and
enforces ``scheduling.maxRunningTime``. It finally records SUCCEEDED, FAILED (exit status and
the last log lines) or CANCELLED with the end time, and stops anything the job left running.

The registry database URL arrives in ``MLENGINE_JOBS_DATABASE_URL`` (not on the command line,
which any local user can read), and is not passed on to the job's command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

from mlengine.errors import MLEngineError
from mlengine.jobs import processes, specs
from mlengine.jobs.entities import Job, JobKind, JobState
from mlengine.jobs.logs import error_with_tail, tail_lines
from mlengine.jobs.table import ARTIFACT_ROOT_ENV, DATABASE_ENV, JobTable, to_job
from mlengine.registry.db import Database
from mlengine.registry.queries import worker_id

LOST_AFTER_S = 120.0
_EXCEPTION_LINE = re.compile(
    r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b(: .*)?$"
)  # the database unreachable (or the row gone) this long: stop the job


class Terminated(Exception):
    """The supervisor itself received SIGTERM: stop the job and record it FAILED."""


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated()


def last_exception(log: str) -> str | None:
    """The last ``SomeError: message`` line of a Python traceback in ``log``, if any."""
    for line in reversed(log.splitlines()[-50:]):
        if _EXCEPTION_LINE.match(line):
            return line.strip()[:500]
    return None


class Supervisor:
    """Runs one job: see the module's docstring."""

    def __init__(
        self, table: JobTable, job_id: str, grace: float, poll: float, heartbeat: float
    ) -> None:
        self.table, self.job_id = table, job_id
        self.grace, self.poll, self.heartbeat = grace, poll, heartbeat
        self.me = worker_id()
        self.endpoint: str | None = None

    def run(self) -> int:
        job = to_job(self.table.row(self.job_id))
        if not self.table.start(self.job_id, self.me):
            return 0  # cancelled (or taken for dead) before it started
        proc: subprocess.Popen[bytes] | None = None
        try:
            if job.kind is JobKind.TRAINING and job.input.get("hyperparameters"):
                from mlengine.jobs.hptuning import Tuner  # optuna: only for tuning jobs

                tuner = Tuner(self, job)
                proc = tuner.start()
                tuner.run()
                return 0
            command, env = self.command(job)
            with open(job.log_path, "ab") as log:
                log.write(f"mlengine: job {job.job_id} runs: {' '.join(command)}\n".encode())
                log.flush()
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            self.table.update(
                self.job_id, [JobState.RUNNING, JobState.CANCELLING], process_id=proc.pid
            )
            outcome = self.watch(proc, specs.max_running_time(job.input))
            self.settle(job, proc, outcome)
        except Terminated:
            self.abort(job, proc, "The job's supervisor was terminated (SIGTERM).")
            return 1
        except (MLEngineError, OSError) as error:
            self.abort(job, proc, f"The job could not run: {' '.join(str(error).split())}")
            return 1
        except Exception as error:  # optuna's and the database driver's own errors
            name = type(error).__name__
            self.abort(job, proc, f"The job could not run: {name}: {' '.join(str(error).split())}")
            raise
        return 0

    def command(self, job: Job) -> tuple[list[str], dict[str, str]]:
        """The job's command line and environment."""
        env = {k: v for k, v in os.environ.items() if k not in (DATABASE_ENV, ARTIFACT_ROOT_ENV)}
        if job.kind is JobKind.TRAINING:
            command = specs.training_command(job.input, job.job_id)
            env = specs.training_environment(job.input, env)
            if len(command) > 3 and command[2] == "torch.distributed.run":
                self.endpoint = next(a for a in command if a.startswith("--rdzv-endpoint="))
            return command, env
        env["PYTHONUNBUFFERED"] = "1"
        return specs.prediction_command(job.input, self.export_dir(job), job.run_dir), env

    def export_dir(self, job: Job) -> str:
        """The local export a prediction job uses: its ``uri``, or the pinned version's copy."""
        if job.input.get("uri"):
            return str(job.input["uri"])
        from mlengine.registry import Registry

        url = os.environ[DATABASE_ENV]
        with Registry(url, os.environ.get(ARTIFACT_ROOT_ENV) or None) as registry:
            return registry.export_dir(job.input["modelName"], job.input.get("versionName"))

    def watch(self, proc: subprocess.Popen[bytes], limit: float | None) -> str:
        """Wait for ``proc``; returns ``exited``, ``cancelled``, ``timeout`` or ``lost``."""
        started = last_ok = time.monotonic()
        next_check = next_beat = started
        while proc.poll() is None:
            now = time.monotonic()
            if limit is not None and now - started > limit:
                self.stop(proc)
                return "timeout"
            if now >= next_check:
                next_check = now + self.poll
                processes.reap_children(keep=proc.pid)
                try:
                    if now >= next_beat:
                        next_beat = now + self.heartbeat
                        state = self.table.beat(self.job_id, self.me)
                    else:
                        state = self.table.state(self.job_id)
                    last_ok = now
                except MLEngineError as error:
                    print(f"mlengine supervisor: {error}", file=sys.stderr, flush=True)
                    state = JobState.RUNNING if now - last_ok < LOST_AFTER_S else None
                if state is JobState.CANCELLING:
                    self.stop(proc)
                    return "cancelled"
                if state is None or state.is_final:
                    self.stop(proc)  # row gone, or settled by someone who took us for dead
                    return "lost"
            time.sleep(min(0.1, self.poll))
        return "exited"

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the job's whole process tree, SIGKILL after the grace period, then reap."""
        processes.stop_tree(proc.pid, self.grace, root=os.getpid(), keep=proc.pid)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover (SIGKILLed already)
            proc.kill()
            proc.wait(timeout=10)

    def settle(self, job: Job, proc: subprocess.Popen[bytes], outcome: str) -> None:
        """Stop leftovers, then record the job's final state."""
        code = proc.wait()
        if processes.tree_alive(proc.pid, os.getpid()):
            processes.stop_tree(proc.pid, min(self.grace, 5.0), root=os.getpid())
        self.log(job, f"mlengine: the job's main process {processes.describe_exit(code)}")
        if outcome == "lost":
            return
        if outcome == "cancelled" or self.table.state(self.job_id) is JobState.CANCELLING:
            self.table.finish(
                self.job_id, JobState.CANCELLED, [JobState.CANCELLING], exit_code=code
            )
            return
        if outcome == "timeout":
            limit = job.input["scheduling"]["maxRunningTime"]
            message = f"The job ran longer than its maximum running time ({limit}) and was stopped."
            self.fail(job, error_with_tail(message, job.log_path), code)
            return
        if code == 0:
            output = self.output(job)
            if output is not None:
                self.table.finish(self.job_id, JobState.SUCCEEDED, output=output, exit_code=code)
                return
            self.fail(job, error_with_tail("The job left no result.json.", job.log_path), code)
            return
        self.fail(job, self.failure(job, code), code)

    def output(self, job: Job) -> dict[str, Any] | None:
        """trainingOutput (empty), or predictionOutput from the batch run's result.json."""
        if job.kind is JobKind.TRAINING:
            return {}
        try:
            with open(os.path.join(job.run_dir, "result.json"), encoding="utf-8") as handle:
                return dict(json.load(handle))
        except (OSError, ValueError):
            return None

    def failure(self, job: Job, code: int) -> str:
        """Why a job whose main process failed FAILED, in words, with its last log lines."""
        exit_text = processes.describe_exit(code)
        if job.kind is JobKind.PREDICTION:
            try:
                with open(os.path.join(job.run_dir, "error.txt"), encoding="utf-8") as handle:
                    return f"Batch prediction failed: {handle.read().strip()}"
            except OSError:
                return error_with_tail(f"Batch prediction {exit_text}.", job.log_path)
        module = job.input.get("pythonModule")
        tail = tail_lines(job.log_path, 200)
        if self.endpoint is not None and "RendezvousTimeoutError" in tail:
            endpoint = self.endpoint.partition("=")[2]
            timeout = job.input.get("rendezvousTimeout")
            nodes, workers = job.input.get("nnodes", 1), job.input.get("workerCount", 1)
            summary = (
                f"The torchrun rendezvous at {endpoint} did not complete within {timeout}: "
                f"{nodes} node(s) of {workers} worker(s) were expected and not all joined."
            )
            return error_with_tail(summary, job.log_path)
        summary = f"The trainer (python -m {module}) {exit_text}"
        if "No module named" in tail and "Traceback" not in tail:  # runpy found no module
            summary += f": module {module} was not found (check the module name and package path)"
        elif (cause := last_exception(tail)) is not None:
            summary += f": {cause}"
        return error_with_tail(summary + ".", job.log_path)

    def fail(self, job: Job, message: str, code: int | None) -> None:
        self.table.finish(self.job_id, JobState.FAILED, error_message=message, exit_code=code)

    def abort(self, job: Job, proc: subprocess.Popen[bytes] | None, reason: str) -> None:
        """Stop whatever runs and record FAILED, after an error of the supervisor itself."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if proc is not None:
            self.stop(proc)
        self.log(job, f"mlengine: {reason}")
        try:
            self.fail(job, error_with_tail(reason, job.log_path), None)
        except MLEngineError as error:
            print(f"mlengine supervisor: cannot record the failure: {error}", file=sys.stderr)

    @staticmethod
    def log(job: Job, line: str) -> None:
        try:
            with open(job.log_path, "ab") as handle:
                handle.write(f"{line}\n".encode())
        except OSError:
            pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the detached supervisor process."""
    parser = argparse.ArgumentParser(prog="python -m mlengine.jobs.supervisor")
    parser.add_argument("job_id")
    parser.add_argument("--grace", type=float, default=10.0, help="SIGTERM → SIGKILL, seconds")
    parser.add_argument("--poll", type=float, default=0.5, help="state check period, seconds")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="heartbeat period, seconds")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    processes.become_subreaper()
    database = Database(os.environ[DATABASE_ENV])
    try:
        supervisor = Supervisor(
            JobTable(database), args.job_id, args.grace, args.poll, args.heartbeat
        )
        return supervisor.run()
    finally:
        database.dispose()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
