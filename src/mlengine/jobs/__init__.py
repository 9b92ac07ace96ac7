"""Training and batch prediction jobs, run in the background like ML Engine's Jobs.

:class:`JobManager` is the whole API (the CLI's ``mlengine jobs`` and the server's job routes
are thin layers over it)::

    from mlengine.jobs import JobManager

    with JobManager() as jobs:  # the registry of $MLENGINE_HOME / MLENGINE_DATABASE_URL
        job = jobs.submit_training("census_1", "trainer.task", package_path="trainer",
                                   args=["--train-steps", "1000"])
        jobs.wait(job.job_id).state           # JobState.SUCCEEDED
        print(jobs.read_logs(job.job_id, tail=20))

Each job runs under a detached supervisor (``python -m mlengine.jobs.supervisor``) in its own
process group; states, times and errors live in the registry database, logs and results in
``$MLENGINE_HOME/jobs/<job id>/``.

Modules:

* ``batch``: batch prediction: the process a prediction job runs
* ``entities``: the plain values: ``Job``, ``JobState``, ``JobKind``
* ``hptuning``: a hyperparameter tuning job's run: Optuna's study, trials, trainingOutput
* ``hyperparameters``: ML Engine's HyperparameterSpec, checked and mapped onto Optuna
* ``logs``: a job's log file: its last lines, read from the end
* ``manager``: :class:`JobManager`: the Python API of jobs
* ``processes``: a job's processes: detached start, liveness, the tree, stopping it all
* ``requests``: ML Engine's Job resource to submit arguments
* ``specs``: what a job runs: checked inputs and the command lines
* ``supervisor``: the detached process that runs one job
* ``table``: the ``mlengine_jobs`` table: every read and state change of a job
* ``tensorboard``: where TensorBoard should look: a training job's folder, a version's run
* ``trial_metrics``: a trial's metric, from its eval summaries or hypertune reports
"""

from mlengine.jobs.entities import ACTIVE_STATES, FINAL_STATES, Job, JobKind, JobState
from mlengine.jobs.manager import JobManager
from mlengine.jobs.requests import parse_job
from mlengine.jobs.table import validate_job_id

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "Job",
    "JobKind",
    "JobManager",
    "JobState",
    "parse_job",
    "validate_job_id",
]
