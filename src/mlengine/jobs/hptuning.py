"""A hyperparameter tuning job's run: Optuna's study, the trials' processes, trainingOutput.

The job's supervisor runs :class:`Tuner` instead of a single trainer. The study lives in the
registry's database (Optuna's RDB storage, SQLite or PostgreSQL) under the job's
``studyName`` (its id, or the first job's when ``resumePreviousJobId`` continues one), so the
trials of several jobs, on several machines sharing one registry, join one study. Then, until
``maxTrials`` trials have run (the study's, counting those of earlier jobs):

* at most ``maxParallelTrials`` trials run at once, each ``python -m MODULE --job-dir
  <jobDir>/<trialId> ARGS... --name=value ...`` (through torchrun for several workers), with
  ``CLOUD_ML_TRIAL_ID``, ``CLOUD_ML_HP_METRIC_FILE`` and ``TF_CONFIG``'s ``task.trial`` set as
  ML Engine set them, its output in ``<run dir>/trials/<trialId>.log``;
* every trial's process runs in one process group, the job's, whose leader is a small anchor
  process recorded as the job's process: cancelling the job, or settling it after its
  supervisor died, stops every trial at once with the machinery of any job;
* a trial's metric is read from its evaluation summaries or hypertune reports
  (:mod:`mlengine.jobs.trial_metrics`); while it runs, with ``enableTrialEarlyStopping``, each
  new value goes to Optuna's pruner, which may stop it from its second value on
  (``isTrialStoppedEarly``);
* a trial that fails (exit status, no metric under the tag, a non-finite one) is FAILED with its
  reason; ``maxFailedTrials`` failures stop the job, FAILED;
* after each change, the job's ``trainingOutput`` is rewritten: ``completedTrialCount``,
  ``trials`` best first, ``isHyperparameterTuningJob``, ``hyperparameterMetricTag``.

Trials that were running when an earlier job's supervisor died are marked FAILED
(``interrupted``, not counted against ``maxFailedTrials``) when a job resumes the study, and
their parameters are run again; finished trials are kept.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from mlengine.errors import MLEngineError
from mlengine.jobs import hyperparameters as hp
from mlengine.jobs import processes, specs
from mlengine.jobs.entities import Job, JobState
from mlengine.jobs.logs import tail_lines
from mlengine.jobs.table import DATABASE_ENV, JobTable
from mlengine.jobs.trial_metrics import final_metric, metric_history
from mlengine.registry.entities import format_time

if TYPE_CHECKING:
    import optuna

    from mlengine.jobs.supervisor import Supervisor

LOST_AFTER_S = 120.0
METRIC_POLL_S = 2.0  # how often a running trial's metrics are read for the pruner
MIN_REPORTS_TO_PRUNE = 2  # intermediate values a trial has reported before it may be stopped
_ANCHOR = "import signal\nwhile True:\n    signal.pause()\n"
# Trial user attributes (Optuna's records of each trial).
TRIAL_ID, JOB_ID, JOB_DIR = "trialId", "jobId", "jobDir"
VALUES, STEP, ERROR, INTERRUPTED = "hyperparameters", "trainingStep", "errorMessage", "interrupted"
STOPPED_EARLY = "isTrialStoppedEarly"


def study_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage in the registry's database (its own tables beside mlengine's)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 60}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, skip_table_creation=False)


@dataclass
class RunningTrial:
    """One trial's process and what was read of its metrics so far."""

    trial: optuna.Trial
    trial_id: str
    job_dir: str
    metrics_file: str
    log_path: str
    proc: subprocess.Popen[bytes]
    reported: set[int] = field(default_factory=set)
    next_read: float = 0.0


def _trial_state(trial: optuna.trial.FrozenTrial) -> str:
    import optuna

    state = trial.state
    if state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED):
        return "SUCCEEDED"
    if state == optuna.trial.TrialState.FAIL:
        return "FAILED"
    return "RUNNING" if state == optuna.trial.TrialState.RUNNING else "QUEUED"


def training_output(spec: dict[str, Any], trials: list[optuna.trial.FrozenTrial]) -> dict[str, Any]:
    """ML Engine's ``trainingOutput`` of a tuning job: its trials, best first."""
    sign = -1.0 if spec["goal"] == "MAXIMIZE" else 1.0
    shown = []
    for trial in trials:
        attrs = trial.user_attrs
        if TRIAL_ID not in attrs:
            continue
        entry: dict[str, Any] = {
            "trialId": attrs[TRIAL_ID],
            "hyperparameters": dict(attrs.get(VALUES, {})),
            "state": _trial_state(trial),
            "startTime": format_time(trial.datetime_start),
            "endTime": format_time(trial.datetime_complete),
        }
        if trial.value is not None:
            entry["finalMetric"] = {
                "trainingStep": str(int(attrs.get(STEP, 0))),
                "objectiveValue": trial.value,
            }
        if attrs.get(STOPPED_EARLY):
            entry[STOPPED_EARLY] = True
        if attrs.get(ERROR):
            entry["errorMessage"] = attrs[ERROR]
        if attrs.get(JOB_ID):
            entry["jobId"] = attrs[JOB_ID]
        shown.append({key: value for key, value in entry.items() if value is not None})

    def order(entry: dict[str, Any]) -> tuple[int, float, int]:
        rank = {"SUCCEEDED": 0, "RUNNING": 1, "QUEUED": 2}.get(entry["state"], 3)
        value = entry.get("finalMetric", {}).get("objectiveValue")
        key = sign * value if value is not None else math.inf
        return rank if value is not None else max(rank, 1), key, int(entry["trialId"])

    shown.sort(key=order)
    completed = sum(1 for entry in shown if entry["state"] == "SUCCEEDED")
    return {
        "completedTrialCount": str(completed),
        "trials": shown,
        "isHyperparameterTuningJob": True,
        "hyperparameterMetricTag": spec["hyperparameterMetricTag"],
    }


class Tuner:
    """Runs one tuning job under its supervisor: see the module's docstring."""

    def __init__(self, supervisor: Supervisor, job: Job) -> None:
        self.sup, self.job = supervisor, job
        self.table: JobTable = supervisor.table
        self.spec: dict[str, Any] = dict(job.input["hyperparameters"])
        self.budget = hp.trial_budget(self.spec)
        self.parallel = int(self.spec["maxParallelTrials"])
        self.max_failed = int(self.spec["maxFailedTrials"])
        self.tag = str(self.spec["hyperparameterMetricTag"])
        self.distributions = hp.distributions(self.spec)
        self.running: dict[int, RunningTrial] = {}
        self.trial_root = os.path.join(job.run_dir, "trials")
        self.anchor: subprocess.Popen[bytes] | None = None
        self.study: optuna.Study | None = None
        self.storage: optuna.storages.RDBStorage | None = None

    # ------------------------------------------------------------------ setup

    def start(self) -> subprocess.Popen[bytes]:
        """Open the study and start the job's process group (its anchor), recorded as the
        job's process; returns the anchor."""
        import optuna

        name = str(self.job.input.get("studyName") or self.job.job_id)
        self.storage = storage = study_storage(os.environ[DATABASE_ENV])
        direction: Literal["minimize", "maximize"] = hp.GOALS[self.spec["goal"]]
        self.study = optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=hp.sampler(self.spec),
            pruner=hp.pruner(self.spec),
            direction=direction,
            load_if_exists=True,
        )
        if self.study.direction.name.lower() != direction:
            raise MLEngineError(
                f"Study {name!r} was created to {self.study.direction.name.lower()} its "
                f"objective; this job's goal is {self.spec['goal']}."
            )
        self.recover()
        os.makedirs(self.trial_root, exist_ok=True)
        self.anchor = subprocess.Popen(
            [sys.executable, "-c", _ANCHOR],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            process_group=0,  # a new group in the supervisor's session: trials may join it
        )
        self.table.update(
            self.job.job_id, [JobState.RUNNING, JobState.CANCELLING], process_id=self.anchor.pid
        )
        self.log(
            f"mlengine: tuning job {self.job.job_id}: study {name!r}, {self.budget} trial(s), "
            f"{self.parallel} at once, objective {self.spec['goal']} {self.tag!r}"
        )
        self.publish()
        return self.anchor

    def recover(self) -> None:
        """Mark FAILED the trials left RUNNING by jobs that are over, and queue their
        parameters again (their supervisor died: they never finished)."""
        import optuna

        assert self.study is not None and self.storage is not None
        for trial in self.study.get_trials(deepcopy=False):
            if trial.state != optuna.trial.TrialState.RUNNING:
                continue
            owner = trial.user_attrs.get(JOB_ID)
            if owner == self.job.job_id:
                continue
            state = self.table.state(str(owner)) if owner else None
            if state is not None and not state.is_final:
                continue  # another job's live trial (another machine on the same study)
            storage = self.storage
            storage.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
            storage.set_trial_user_attr(
                trial._trial_id,
                ERROR,
                f"Trial {trial.user_attrs.get(TRIAL_ID)} was interrupted: job {owner}'s "
                "supervisor stopped while it ran; its parameters run again.",
            )
            storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
            self.study.enqueue_trial(dict(trial.params), skip_if_exists=False)
            self.log(f"mlengine: trial {trial.user_attrs.get(TRIAL_ID)} was interrupted: rerun")

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        """Run trials until the budget is spent, the job is cancelled, or too many failed;
        then record the job's final state."""
        started = last_ok = next_beat = time.monotonic()
        limit = specs.max_running_time(self.job.input)
        outcome = "done"
        while True:
            moment = time.monotonic()
            if limit is not None and moment - started > limit:
                outcome = "timeout"
                break
            # orphans only: the trials' own exit statuses are read by their Popen
            processes.reap_children(keep=[run.proc.pid for run in self.running.values()])
            try:
                if moment >= next_beat:
                    next_beat = moment + self.sup.heartbeat
                    state = self.table.beat(self.job.job_id, self.sup.me)
                else:
                    state = self.table.state(self.job.job_id)
                last_ok = moment
            except MLEngineError as error:
                print(f"mlengine supervisor: {error}", file=sys.stderr, flush=True)
                state = JobState.RUNNING if moment - last_ok < LOST_AFTER_S else None
            if state is JobState.CANCELLING:
                outcome = "cancelled"
                break
            if state is None or state.is_final:
                outcome = "lost"
                break
            changed = self.check_trials()
            if self.failed_count() >= self.max_failed > 0:
                outcome = "failed"
                break
            changed |= self.launch()
            if changed:
                self.publish()
            if not self.running:
                break
            time.sleep(min(0.2, self.sup.poll))
        self.finish(outcome)

    def counts(self) -> tuple[int, int]:
        """(trials spent against maxTrials, trials FAILED against maxFailedTrials)."""
        import optuna

        assert self.study is not None
        spent = failed = 0
        states = (optuna.trial.TrialState.WAITING,)
        for trial in self.study.get_trials(deepcopy=False):
            if trial.state in states or trial.user_attrs.get(INTERRUPTED):
                continue
            spent += 1
            failed += trial.state == optuna.trial.TrialState.FAIL
        return spent, failed

    def failed_count(self) -> int:
        return self.counts()[1]

    def launch(self) -> bool:
        """Start trials while fewer than maxParallelTrials run and the budget allows."""
        assert self.study is not None
        launched = False
        while len(self.running) < self.parallel and self.counts()[0] < self.budget:
            trial = self.study.ask(self.distributions)
            self.start_trial(trial)
            launched = True
        return launched

    def start_trial(self, trial: optuna.Trial) -> None:
        trial_id = str(trial.number + 1)
        values = hp.actual_values(self.spec, trial.params)
        shown = {name: hp.format_value(value) for name, value in values.items()}
        base = self.job.input.get("jobDir") or os.path.join(self.job.run_dir, "output")
        job_dir = os.path.join(str(base), trial_id)
        for key, value in (
            (TRIAL_ID, trial_id),
            (JOB_ID, self.job.job_id),
            (JOB_DIR, job_dir),
            (VALUES, shown),
        ):
            trial.set_user_attr(key, value)
        spec = dict(self.job.input)
        spec["jobDir"] = job_dir
        spec["args"] = [*spec.get("args", []), *hp.trial_args(values)]
        command = specs.training_command(spec, f"{self.job.job_id}_{trial_id}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLENGINE_JOBS_")}
        env = specs.training_environment(spec, env)
        config = json.loads(env["TF_CONFIG"])
        config["task"] = {"type": "master", "index": 0, "trial": trial_id}
        env["TF_CONFIG"] = json.dumps(config)
        metrics_file = os.path.join(self.trial_root, trial_id, "output.metrics")
        env.update(
            CLOUD_ML_TRIAL_ID=trial_id,
            CLOUD_ML_HP_METRIC_FILE=metrics_file,
            CLOUD_ML_HP_METRIC_TAG=self.tag,
        )
        os.makedirs(os.path.dirname(metrics_file), exist_ok=True)
        log_path = os.path.join(self.trial_root, f"{trial_id}.log")
        assert self.anchor is not None
        with open(log_path, "ab") as log:
            log.write(f"mlengine: trial {trial_id} runs: {' '.join(command)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=specs.package_root(spec) or os.getcwd(),
                process_group=self.anchor.pid,
            )
        self.running[trial.number] = RunningTrial(
            trial, trial_id, job_dir, metrics_file, log_path, proc
        )
        args = " ".join(hp.trial_args(values))
        self.log(f"mlengine: trial {trial_id} started: {args} (log: {log_path})")

    def check_trials(self) -> bool:
        """Settle trials that exited; feed the pruner the others' new metrics."""
        changed = False
        for number, run in list(self.running.items()):
            code = run.proc.poll()
            if code is not None:
                del self.running[number]
                self.settle_trial(run, code)
                changed = True
            elif self.spec["enableTrialEarlyStopping"] and time.monotonic() >= run.next_read:
                run.next_read = time.monotonic() + METRIC_POLL_S
                if self.maybe_prune(run):
                    del self.running[number]
                    changed = True
        return changed

    def maybe_prune(self, run: RunningTrial) -> bool:
        """Report new intermediate values; stop the trial if the pruner says so."""
        import optuna

        assert self.study is not None
        history, _ = metric_history(run.job_dir, run.metrics_file, self.tag)
        for step, value in history:
            if step not in run.reported and math.isfinite(value):
                run.trial.report(value, step)
                run.reported.add(step)
        # Never on a trial's first evaluation: one report says more about the learning rate
        # than about where the trial ends (the census demo's slow starters end best).
        if len(run.reported) < MIN_REPORTS_TO_PRUNE or not run.trial.should_prune():
            return False
        self.stop_trial(run)
        step = max(run.reported)
        run.trial.set_user_attr(STEP, step)
        run.trial.set_user_attr(STOPPED_EARLY, True)
        # Optuna takes the last reported value as a pruned trial's value.
        self.study.tell(run.trial, state=optuna.trial.TrialState.PRUNED)
        value = dict(history)[step]
        self.log(f"mlengine: trial {run.trial_id} stopped early at step {step}: {value:g}")
        return True

    def settle_trial(self, run: RunningTrial, code: int) -> None:
        """Tell Optuna how the exited trial went (its final metric, or why it FAILED)."""
        import optuna

        assert self.study is not None
        history, seen = metric_history(run.job_dir, run.metrics_file, self.tag)
        final = final_metric(history)
        reason = None
        if code != 0:
            reason = f"Trial {run.trial_id}'s trainer {processes.describe_exit(code)}"
            cause = self.sup_cause(run.log_path)
            reason += f": {cause}." if cause else "."
        elif final is None:
            tags = ", ".join(sorted(seen)) or "none"
            reason = (
                f"Trial {run.trial_id} wrote no {self.tag!r} metric (hyperparameterMetricTag): "
                f"no evaluation summary under {run.job_dir} has that tag (tags seen: {tags}) "
                "and the trainer reported none through hypertune."
            )
        elif not math.isfinite(final[1]):
            reason = f"Trial {run.trial_id}'s objective {self.tag!r} is {final[1]} (not finite)."
        if reason is not None:
            run.trial.set_user_attr(ERROR, reason)
            self.study.tell(run.trial, state=optuna.trial.TrialState.FAIL)
            self.log(f"mlengine: trial {run.trial_id} FAILED: {reason}")
            return
        assert final is not None
        step, value = final
        for s, v in history:  # the last values, so the pruner of later trials sees them
            if s not in run.reported and math.isfinite(v):
                run.trial.report(v, s)
        run.trial.set_user_attr(STEP, step)
        self.study.tell(run.trial, value)
        self.log(f"mlengine: trial {run.trial_id} SUCCEEDED: {self.tag} {value:g} at step {step}")

    @staticmethod
    def sup_cause(log_path: str) -> str | None:
        from mlengine.jobs.supervisor import last_exception

        return last_exception(tail_lines(log_path, 200))

    def stop_trial(self, run: RunningTrial) -> None:
        """SIGTERM one trial's processes (it and its descendants: the others share its process
        group), then SIGKILL what is left after the grace period."""
        pids = [run.proc.pid, *(info.pid for info in processes.descendants(run.proc.pid))]

        def alive() -> bool:
            return run.proc.poll() is None or any(processes.pid_alive(p) for p in pids[1:])

        for signum, wait in ((signal.SIGTERM, self.sup.grace), (signal.SIGKILL, 10.0)):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signum)
            deadline = time.monotonic() + wait
            while alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not alive():
                return

    # ------------------------------------------------------------------ the end

    def stop_all(self) -> None:
        """Stop every trial (the job's whole process group) and the anchor."""
        import optuna

        assert self.anchor is not None and self.study is not None
        processes.stop_tree(self.anchor.pid, self.sup.grace, root=os.getpid())
        for run in self.running.values():
            run.proc.wait(timeout=10)
            # Not the trial's fault: a job resuming the study runs these parameters again.
            run.trial.set_user_attr(INTERRUPTED, True)
            run.trial.set_user_attr(ERROR, f"Trial {run.trial_id} was stopped with the job.")
            self.study.tell(run.trial, state=optuna.trial.TrialState.FAIL)
            self.study.enqueue_trial(dict(run.trial.params), skip_if_exists=False)
        self.running.clear()
        self.anchor.wait(timeout=10)

    def finish(self, outcome: str) -> None:
        """Stop what still runs and record the job's final state with its trainingOutput."""
        if outcome == "lost":  # settled by someone else: only stop what runs
            if self.anchor is not None:
                processes.stop_tree(self.anchor.pid, self.sup.grace, root=os.getpid())
            return
        self.stop_all()
        output = self.output()
        job_id = self.job.job_id
        if outcome == "cancelled" or self.table.state(job_id) is JobState.CANCELLING:
            self.table.finish(job_id, JobState.CANCELLED, [JobState.CANCELLING], output=output)
            self.log("mlengine: the tuning job was cancelled")
            return
        failed = [t for t in output["trials"] if t["state"] == "FAILED"]
        message = None
        if outcome == "timeout":
            limit = self.job.input["scheduling"]["maxRunningTime"]
            message = f"The job ran longer than its maximum running time ({limit}) and was stopped."
        elif outcome == "failed":
            message = (
                f"{len(failed)} trial(s) failed, reaching maxFailedTrials "
                f"({self.max_failed}); the first: {self.first_error(failed)}"
            )
        elif output["completedTrialCount"] == "0":
            message = f"Every trial failed; the first: {self.first_error(failed)}"
        if message is not None:
            self.log(f"mlengine: {message}")
            self.table.finish(
                job_id, JobState.FAILED, output=output, error_message=message, exit_code=1
            )
            return
        best = output["trials"][0]
        self.log(
            f"mlengine: the tuning job SUCCEEDED: best trial {best['trialId']} "
            f"({best['finalMetric']['objectiveValue']:g}) of {output['completedTrialCount']}"
        )
        self.table.finish(job_id, JobState.SUCCEEDED, output=output, exit_code=0)

    @staticmethod
    def first_error(failed: list[dict[str, Any]]) -> str:
        if not failed:
            return "none recorded."
        first = min(failed, key=lambda t: int(t["trialId"]))
        return str(first.get("errorMessage") or f"trial {first['trialId']} failed.")

    def output(self) -> dict[str, Any]:
        assert self.study is not None
        return training_output(self.spec, self.study.get_trials(deepcopy=False))

    def publish(self) -> None:
        """Rewrite the job's trainingOutput from the study."""
        self.table.update(
            self.job.job_id,
            [JobState.RUNNING, JobState.CANCELLING],
            output=self.output(),
        )

    def log(self, line: str) -> None:
        self.sup.log(self.job, line)


logging.getLogger("optuna").setLevel(logging.WARNING)

__all__ = [
    "LOST_AFTER_S",
    "METRIC_POLL_S",
    "MIN_REPORTS_TO_PRUNE",
    "RunningTrial",
    "Tuner",
    "study_storage",
    "training_output",
]
