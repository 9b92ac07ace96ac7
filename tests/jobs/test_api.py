"""The jobs API without long-running processes: schema migration, the Job resource, the
REST body (``submit``), cancel of a QUEUED job, dead supervisors elsewhere, and log reading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlengine.errors import InvalidParameterError, NotFoundError, NotSupportedError
from mlengine.jobs import Job, JobKind, JobManager, JobState, parse_job
from mlengine.jobs.logs import follow, tail_lines
from mlengine.registry import Registry, migrations
from mlengine.registry.queries import worker_id


def test_jobs_migration_upgrades_a_version_1_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:  # a registry as schema version 1 left it, with a model
        migrations.MIGRATIONS[0].apply(conn)
        migrations.metadata.create_all(conn, tables=[migrations.schema_table])
        conn.execute(
            migrations.schema_table.insert().values(
                version=1, description="models and versions", applied_at=datetime.now(UTC)
            )
        )
    with Registry(url, tmp_path / "a") as registry:
        registry.create_model("census")
    with Registry(url, tmp_path / "a") as registry, JobManager(registry) as jobs:
        assert registry.get_model("census").name == "census"
        assert jobs.list_jobs() == []
    with engine.connect() as conn:
        recorded = conn.execute(sa.select(migrations.schema_table.c.version)).scalars().all()
        assert sa.inspect(conn).has_table("mlengine_jobs")
    engine.dispose()
    assert sorted(recorded) == list(range(1, migrations.schema_version() + 1))  # every one since


def test_job_json_is_ml_engines_resource() -> None:
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    job = Job(
        job_id="batch",
        kind=JobKind.PREDICTION,
        state=JobState.SUCCEEDED,
        input={"dataFormat": "JSON", "modelName": "census", "versionName": "v1", "batchSize": 64},
        create_time=created,
        host="h",
        run_dir="/r",
        start_time=created,
        end_time=created,
        output={"outputPath": "/o", "predictionCount": 3, "errorCount": 0},
    )
    assert job.to_json("p") == {
        "jobId": "batch",
        "predictionInput": {
            "dataFormat": "JSON",
            "modelName": "projects/p/models/census",
            "versionName": "projects/p/models/census/versions/v1",
            "batchSize": "64",
        },
        "createTime": "2026-01-02T03:04:05.000000Z",
        "startTime": "2026-01-02T03:04:05.000000Z",
        "endTime": "2026-01-02T03:04:05.000000Z",
        "state": "SUCCEEDED",
        "predictionOutput": {"outputPath": "/o", "predictionCount": "3", "errorCount": "0"},
    }
    assert job.to_json()["predictionInput"]["modelName"] == "census"
    assert job.log_path == "/r/output.log"


def test_parse_job_reads_ml_engine_bodies() -> None:
    kind, job_id, kwargs = parse_job(
        {
            "jobId": "t1",
            "labels": {"a": "b"},
            "trainingInput": {
                "pythonModule": "trainer.task",
                "packageUris": ["/src/trainer"],
                "args": ["--x", "1"],
                "workerCount": "2",
                "region": "us-central1",
                "scheduling": {"maxRunningTime": "3600s"},
            },
        }
    )
    assert (kind, job_id) == (JobKind.TRAINING, "t1")
    assert kwargs["package_path"] == "/src/trainer" and kwargs["workers"] == 2
    assert kwargs["max_running_time"] == 3600.0 and kwargs["labels"] == {"a": "b"}
    kind, _, kwargs = parse_job(
        {
            "jobId": "p1",
            "predictionInput": {
                "dataFormat": "JSON",
                "inputPaths": ["/in/*.json"],
                "outputPath": "/out",
                "versionName": "projects/p/models/census/versions/v2",
            },
        }
    )
    assert kind is JobKind.PREDICTION
    assert (kwargs["model"], kwargs["version"]) == ("census", "v2")
    with pytest.raises(InvalidParameterError, match="Unknown field 'trainingInputs'"):
        parse_job({"jobId": "x", "trainingInputs": {}})
    with pytest.raises(InvalidParameterError, match="exactly one of trainingInput"):
        parse_job({"jobId": "x"})
    with pytest.raises(InvalidParameterError, match="Invalid job id 'x y'"):
        parse_job({"jobId": "x y", "trainingInput": {"pythonModule": "m"}})
    with pytest.raises(InvalidParameterError, match="Invalid workerCount 'two'"):
        parse_job({"jobId": "x", "trainingInput": {"pythonModule": "m", "workerCount": "two"}})
    with pytest.raises(InvalidParameterError, match="Invalid args '--x'"):
        parse_job({"jobId": "x", "trainingInput": {"pythonModule": "m", "args": "--x"}})
    with pytest.raises(NotSupportedError, match="TF_RECORD"):
        parse_job(
            {
                "jobId": "x",
                "predictionInput": {
                    "dataFormat": "TF_RECORD",
                    "inputPaths": ["a"],
                    "outputPath": "b",
                    "modelName": "m",
                },
            }
        )


@pytest.mark.timeout(120)
def test_submit_a_rest_body_and_allowed_origins(
    tmp_path: Path, trainer_package: Path, sqlite_jobs: JobManager
) -> None:
    job = sqlite_jobs.submit(
        {
            "jobId": "rest_1",
            "trainingInput": {"pythonModule": "trainer.ok", "packagePath": str(trainer_package)},
        }
    )
    assert job.kind is JobKind.TRAINING
    assert sqlite_jobs.wait("rest_1", timeout=60).state is JobState.SUCCEEDED
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    allowed = tmp_path / "allowed"
    with Registry(url, tmp_path / "artifacts", allowed_origins=[str(allowed)]) as registry:
        guarded = JobManager(registry, home=tmp_path / "home")
        with pytest.raises(InvalidParameterError, match="not under an allowed prefix"):
            guarded.submit(
                {
                    "jobId": "rest_2",
                    "trainingInput": {
                        "pythonModule": "trainer.ok",
                        "packagePath": str(trainer_package),
                    },
                }
            )
    assert [j.job_id for j in sqlite_jobs.list_jobs()] == ["rest_1"]


def test_cancel_of_a_queued_job_is_immediate(sqlite_jobs: JobManager, tmp_path: Path) -> None:
    # A QUEUED row whose supervisor has not started (this process stands for its submitter).
    run_dir = str(tmp_path / "home" / "jobs" / "queued")
    spec = {"pythonModule": "trainer.ok", "args": [], "jobDir": "/tmp/x"}
    sqlite_jobs.table.insert("queued", JobKind.TRAINING, spec, {}, "here", run_dir, worker_id())
    job = sqlite_jobs.cancel_job("queued")
    assert job.state is JobState.CANCELLED and job.end_time is not None
    assert sqlite_jobs.table.start("queued", worker_id()) is False  # the supervisor backs off


def test_silent_supervisor_on_another_host_is_taken_for_dead(
    jobs: JobManager, tmp_path: Path
) -> None:
    spec = {"pythonModule": "trainer.ok", "args": [], "jobDir": "/tmp/x"}
    for job_id in ("quiet", "chatty"):
        jobs.table.insert(job_id, JobKind.TRAINING, spec, {}, "elsewhere", "/nowhere", "me")
        jobs.table.update(job_id, [JobState.QUEUED], state=JobState.RUNNING)
    old = datetime.now(UTC) - jobs.stale_after - timedelta(seconds=5)
    jobs.table.update("quiet", [JobState.RUNNING], worker="elsewhere:42:t", heartbeat_time=old)
    jobs.table.update("chatty", [JobState.RUNNING], worker="elsewhere:43:t")
    assert jobs.reap_stale() == ["quiet"]
    quiet = jobs.get_job("quiet")
    assert quiet.state is JobState.FAILED
    assert "supervisor (elsewhere:42:t) stopped" in (quiet.error_message or "")
    assert jobs.get_job("chatty").state is JobState.RUNNING
    with pytest.raises(Exception, match="runs on host elsewhere"):
        jobs.read_logs("chatty")
    with pytest.raises(NotFoundError, match=r"Job \(id=nosuch\) not found"):
        jobs.get_job("nosuch")
    jobs.table.finish("chatty", JobState.FAILED)  # nothing of it runs here to clean up


def test_tail_and_follow(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    assert tail_lines(str(log), 5) == ""
    log.write_text("".join(f"line {i}\n" for i in range(10000)))
    assert tail_lines(str(log), 2) == "line 9998\nline 9999\n"
    assert tail_lines(str(log), 0) == ""
    states = iter([False, True])
    text = "".join(follow(str(log), lambda: next(states), poll=0.01))
    assert text == log.read_text()
