"""gcloud ml-engine's command lines as written: flags before the command, gcloud-wide and
Cloud-only flags, ``--format``/``--filter``/``--sort-by``/``--limit``, ``--config`` files,
updates, delete prompts, and one-line errors with gcloud's exit codes."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mlengine.cli import output
from mlengine.jobs import JobManager
from mlengine.registry import Registry

from .conftest import Cli, job_helpers

WARNING = "WARNING: Ignored, as they only mean something on Google Cloud: "


def warning_of(stderr: str) -> str:
    """The one WARNING line (there must be exactly one)."""
    lines = [line for line in stderr.splitlines() if line.startswith("WARNING:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.fixture
def census(cli: Cli, export_dir: Path) -> Path:
    """Model ``census`` with READY versions v1 (default) and v2."""
    cli("models", "create", "census")
    cli("versions", "create", "v1", "--model", "census", "--origin", str(export_dir))
    cli("versions", "create", "v2", "--model", "census", "--origin", str(export_dir))
    return export_dir


def test_the_talks_commands_with_cloud_flags(cli: Cli, export_dir: Path) -> None:
    created = cli("models", "--regions", "us-central1", "create", "census")
    assert warning_of(created.stderr) == WARNING + "--regions=us-central1."
    assert "Created model [census]." in created.stderr and created.stdout == ""
    version = cli(
        "versions", "create", "v1", "--model", "census", "--origin", str(export_dir),
        "--runtime-version", "1.4", "--python-version=3.5", "--framework", "TENSORFLOW",
        "--staging-bucket", "gs://bucket", "--project", "my-project",
    )  # fmt: skip
    assert warning_of(version.stderr) == WARNING + (
        "--runtime-version=1.4, --python-version=3.5, --staging-bucket=gs://bucket, "
        "--project=my-project."
    )
    # The warning comes first, before any progress line.
    assert version.stderr.startswith("WARNING:")
    listed = cli("--project", "my-project", "models", "list", "--format", "value(name)")
    assert listed.stdout == "census\n"
    assert "--project=my-project" in warning_of(listed.stderr)
    quiet = cli("-q", "versions", "list", "--model", "census", "--verbosity", "error",
                "--project", "p", "--format", "value(name,state)")  # fmt: skip
    assert quiet.stdout == "v1\tREADY\n" and "WARNING" not in quiet.stderr


def test_async_create_returns_an_operation_to_wait_for(cli: Cli, export_dir: Path) -> None:
    """``--async`` returns with the creation still running in a process of its own;
    ``operations describe|wait|list`` find it in the registry."""
    cli("models", "create", "census")
    result = cli("versions", "create", "v1", "--model", "census", "--origin", str(export_dir),
                 "--async")  # fmt: skip
    operation = yaml.safe_load(result.stdout)
    name = operation["name"]
    assert name.startswith("projects/local/operations/create_census_v1-")
    assert operation["metadata"]["operationType"] == "CREATE_VERSION"
    assert f"Check operation [{name}]" in result.stderr
    waited = yaml.safe_load(cli("operations", "wait", name).stdout)
    assert waited["done"] is True and waited["response"]["state"] == "READY"
    described = yaml.safe_load(cli("operations", "describe", name.rsplit("/", 1)[-1]).stdout)
    assert described == waited
    with Registry() as registry:
        assert registry.get_version("census", "v1").state.value == "READY"
    listed = cli("operations", "list", "--format", "value(name.basename(), done)").stdout
    assert f"{name.rsplit('/', 1)[-1]}\tTrue" in listed.splitlines()
    # An origin refused before anything starts is the command's own error.
    cli.fails("versions", "create", "v2", "--model", "census", "--origin", str(export_dir.parent),
              "--async", match="export")  # fmt: skip


def test_usage_errors_are_one_line_and_exit_2(cli: Cli) -> None:
    unknown = cli.usage("models", "create", "m", "--regoins", "x", match="--regoins")
    assert "(did you mean '--regions'?)" in unknown
    assert unknown.startswith("ERROR: (mlengine.models.create) unrecognized arguments:")
    assert "--description, --enable-console-logging, --enable-logging, --labels" in unknown
    cli.usage("versions", "list", match="Missing option '--model'")
    typo = cli.usage("models", "creat", "m", match="No such command 'creat'")
    assert typo.startswith("ERROR: (mlengine.models)") and "Did you mean 'create'" in typo
    cli.usage("models", "list", "--format", "tabel(name)", match="Unknown format name [tabel]")
    cli.usage("models", "list", "--filter", "name:(a", match="--filter [name:(a]")
    cli.usage("models", "list", "--limit", "0", match="'--limit'")
    cli.usage("models", "list", "--verbosity", "loud", match="debug, info, warning")
    cli.usage("models", "describe", "m", "--filter", "x", match="--filter")  # list flags only
    help_text = cli("models", "create", "--help").stdout
    assert "gcloud-wide flags" in help_text and "Google Cloud flags" in help_text
    assert "╭" in help_text  # typer's rich panels


def test_runtime_errors_are_one_line_and_exit_1(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.fails("models", "describe", "nope", match="Model (name=nope) not found.")

    def broken(self: Registry) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(Registry, "list_models", broken)
    crashed = cli.fails("models", "list", match="mlengine crashed (KeyError): 'surprise'")
    assert crashed.startswith("ERROR: (mlengine.models.list)")


def test_list_flags_filter_sort_limit_uri_flatten(cli: Cli, census: Path) -> None:
    cli("models", "create", "iris", "--labels", "team=ml")
    names = cli("versions", "list", "--model", "census", "--sort-by", "~number",
                "--format", "value(name)")  # fmt: skip
    assert names.stdout == "v2\nv1\n"
    only = cli("versions", "list", "--model", "census", "--filter", "isDefault=false",
               "--format", "value(name)")  # fmt: skip
    assert only.stdout == "v2\n"
    limited = cli("models", "list", "--sort-by", "name", "--limit", "1", "--uri")
    assert limited.stdout == "projects/local/models/census\n"
    labelled = cli("models", "list", "--filter", "labels.team:ml", "--format", "value(name)")
    assert labelled.stdout == "iris\n"
    table = cli("models", "list", "--filter", "NOT defaultVersion:*").stdout.splitlines()
    assert table[0].split() == ["NAME", "DEFAULT_VERSION_NAME", "CREATE_TIME"]
    assert [line.split()[0] for line in table[1:]] == ["iris"]
    empty = cli("models", "list", "--filter", "name:nothing")
    assert empty.stdout == "" and empty.stderr.strip() == "Listed 0 items."
    flat = cli("versions", "list", "--model", "census", "--flatten", "signature.inputs",
               "--filter", "number=1", "--format", "value(signature.inputs.name)")  # fmt: skip
    assert flat.stdout.split() == ["age", "occupation"]


def test_formats_of_one_resource(cli: Cli, census: Path) -> None:
    described = cli("models", "describe", "census").stdout
    assert yaml.safe_load(described)["defaultVersion"]["name"] == "v1"
    as_json = json.loads(cli("models", "describe", "census", "--format", "json").stdout)
    assert as_json["name"] == "census" and as_json["defaultVersion"]["isDefault"] is True
    value = cli("models", "describe", "census", "--format", "value(defaultVersion.name)")
    assert value.stdout == "v1\n"
    text = cli("versions", "describe", "v2", "--model", "census", "--format", "text").stdout
    pairs = {
        key: value.strip()
        for key, _, value in map(lambda line: line.partition(":"), text.splitlines())
    }
    assert pairs["signature.inputs[0].name"] == "age" and pairs["state"] == "READY"
    csv_out = cli("versions", "list", "--model", "census", "--format", "csv(name,state)").stdout
    assert csv_out.splitlines() == ["name,state", "v1,READY", "v2,READY"]
    default_keys = cli("versions", "list", "--model", "census", "--format", "csv").stdout
    assert default_keys.splitlines()[0].startswith("name,number,state,DEFAULT,createTime")
    created = cli("models", "create", "iris", "--format", "value(name)")
    assert created.stdout == "iris\n"


def test_version_config_files(cli: Cli, export_dir: Path, tmp_path: Path) -> None:
    cli("models", "create", "census")
    config = tmp_path / "version.yaml"
    config.write_text(
        f"deploymentUri: {export_dir}\ndescription: from the file\nruntimeVersion: '1.4'\n"
        "framework: TENSORFLOW\nautoScaling:\n  minNodes: 1\nlabels:\n  team: ml\n"
    )
    made = cli("versions", "create", "v1", "--model", "census", "--config", str(config),
               "--description", "from the flag")  # fmt: skip
    assert warning_of(made.stderr) == WARNING + "autoScaling (--config), runtimeVersion (--config)."
    v1 = json.loads(
        cli("versions", "describe", "v1", "--model", "census", "--format", "json").stdout
    )
    assert v1["description"] == "from the flag"  # flags override the file
    assert v1["labels"] == {"team": "ml"} and v1["deploymentUri"] == str(export_dir)
    as_json = tmp_path / "version.json"
    as_json.write_text(
        json.dumps({"deploymentUri": str(export_dir), "autoScaling": {"minNode": 1}})
    )
    message = cli.fails("versions", "create", "v2", "--model", "census", "--config", str(as_json),
                        match="Unknown key 'autoScaling.minNode'")  # fmt: skip
    assert "allowed in autoScaling: maxNodes, metrics, minNodes" in message
    broken = tmp_path / "broken.yaml"
    broken.write_text("description: [unclosed\n")
    cli.fails("versions", "create", "v2", "--model", "census", "--config", str(broken),
              match="is not valid YAML or JSON at line 2")  # fmt: skip
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    cli.fails("versions", "create", "v2", "--model", "census", "--config", str(listed),
              match="must hold a mapping of fields; it holds a list")  # fmt: skip
    cli.fails("versions", "create", "v2", "--model", "census",
              match="Either --origin must be provided or deploymentUri")  # fmt: skip


def test_framework_is_checked(cli: Cli, export_dir: Path) -> None:
    cli("models", "create", "census")
    args = ("versions", "create", "v1", "--model", "census", "--origin", str(export_dir))
    cli.fails(*args, "--framework", "scikit-learn", match="not scikit-learn or XGBoost")
    cli.usage(*args, "--framework", "caffe", match="'caffe' is not one of tensorflow")
    cli(*args, "--framework", "tensorflow")


def test_update_commands(cli: Cli, census: Path, tmp_path: Path) -> None:
    cli("models", "update", "census", "--description", "Census income",
        "--update-labels", "team=ml,stage=dev")  # fmt: skip
    cli("models", "update", "census", "--remove-labels", "stage", "--update-labels", "owner=me")
    model = json.loads(cli("models", "describe", "census", "--format", "json").stdout)
    assert model["description"] == "Census income"
    assert model["labels"] == {"team": "ml", "owner": "me"}
    assert cli("models", "update", "census").stderr.strip() == "No update to perform."
    config = tmp_path / "update.yaml"
    config.write_text("description: new words\nmanualScaling:\n  nodes: 2\n")
    changed = cli("versions", "update", "v2", "--model", "census", "--config", str(config),
                  "--clear-labels")  # fmt: skip
    assert "manualScaling (--config)" in warning_of(changed.stderr)
    v2 = json.loads(
        cli("versions", "describe", "v2", "--model", "census", "--format", "json").stdout
    )
    assert v2["description"] == "new words" and "labels" not in v2
    config.write_text("deploymentUri: /elsewhere\n")  # not a field `update` may change
    cli.fails("versions", "update", "v2", "--model", "census", "--config", str(config),
              match="Unknown key 'deploymentUri'")  # fmt: skip
    cli.fails("models", "update", "nope", "--description", "x", match="not found")


def test_delete_asks_on_a_terminal_only(
    cli: Cli, census: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "stdin_is_tty", lambda: True)
    refused = cli("versions", "delete", "v2", "--model", "census", code=1, stdin="n\n")
    assert "This will delete version [v2]..." in refused.stderr
    assert "Do you want to continue (Y/n)?" in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == (
        "ERROR: (mlengine.versions.delete) Aborted by user."
    )
    cli("versions", "describe", "v2", "--model", "census")  # still there
    cli("versions", "delete", "v2", "--model", "census", stdin="what\ny\n")
    cli.fails("versions", "describe", "v2", "--model", "census", match="not found")
    quiet = cli("versions", "delete", "v1", "--model", "census", "--quiet")
    assert "continue" not in quiet.stderr
    monkeypatch.setattr(output, "stdin_is_tty", lambda: False)  # a script: gcloud's default, yes
    silent = cli("models", "delete", "census")
    assert "continue" not in silent.stderr and "Deleted model [census]." in silent.stderr


def test_operations_of_the_cli(cli: Cli, export_dir: Path) -> None:
    listed = cli("operations", "list")
    assert listed.stdout == "" and listed.stderr.strip() == "Listed 0 items."
    assert cli("operations", "list", "--format", "json").stdout.strip() == "[]"
    cli("models", "create", "census")
    cli("versions", "create", "v1", "--model", "census", "--origin", str(export_dir))
    cli("models", "update", "census", "--description", "d")
    kinds = cli("operations", "list", "--format", "value(metadata.operationType)").stdout
    assert kinds.split() == ["CREATE_VERSION", "UPDATE_MODEL"]
    assert cli("operations", "list", "--filter", "done=false", "--limit", "5").stdout == ""
    message = cli.fails("operations", "wait", "projects/local/operations/create_census_v9-1",
                        match="not found")  # fmt: skip
    assert "Operation (name=create_census_v9-1)" in message
    [first] = cli("operations", "list", "--format", "value(name)", "--limit", "1").stdout.split()
    assert "nothing to cancel" in cli("operations", "cancel", first).stderr


@pytest.fixture
def jobs_cleanup(home: Path) -> Iterator[None]:
    """Whatever job a test starts is stopped afterwards."""
    yield
    with JobManager() as jobs:
        job_helpers.cleanup(jobs)


@pytest.mark.timeout(120)
def test_jobs_submit_training_with_a_config_and_cloud_flags(
    cli: Cli, trainer_package: Path, tmp_path: Path, jobs_cleanup: None
) -> None:
    config = tmp_path / "hptuning_config.yaml"
    config.write_text(
        "trainingInput:\n  scaleTier: CUSTOM\n  masterType: complex_model_m\n"
        "  pythonModule: trainer.fail\n  args: [--from-config]\n"
    )
    result = cli(
        "jobs", "submit", "training", "census_1", "--module-name", "trainer.env",
        "--package-path", f"{trainer_package}/", "--job-dir", str(tmp_path / "out"),
        "--region", "us-central1", "--runtime-version", "1.4", "--scale-tier", "STANDARD_1",
        "--config", str(config), "--stream-logs", "--", "--train-steps", "3",
    )  # fmt: skip
    assert warning_of(result.stderr) == WARNING + (
        "--region=us-central1, --runtime-version=1.4, --scale-tier=STANDARD_1, "
        "trainingInput.masterType (--config), "
        "trainingInput.scaleTier (--config)."
    )
    shown = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))
    # Flags override the file: the module and the arguments are the command line's.
    assert shown["args"] == ["--job-dir", str(tmp_path / "out"), "--train-steps", "3"]
    assert shown["job"] == {"job_name": "trainer.env", "args": ["--train-steps", "3"]}
    assert shown["environment"] == "cloud"
    state = cli(
        "jobs", "describe", "census_1", "--format", "value(state, trainingInput.pythonModule)"
    )
    assert state.stdout == "SUCCEEDED\ttrainer.env\n"
    for text, path in (
        ("trainingInput:\n  scaleTeir: BASIC\n", "trainingInput.scaleTeir"),
        (
            "trainingInput:\n  scheduling: {maxRunTime: 60s}\n",
            "trainingInput.scheduling.maxRunTime",
        ),
        ("trainingInputs: {}\n", "trainingInputs"),
    ):
        config.write_text(text)
        cli.fails("jobs", "submit", "training", "census_2", "--module-name", "trainer.ok",
                  "--config", str(config), match=f"Unknown field '{path}'")  # fmt: skip
    cli.usage("jobs", "submit", "training", "census_3", match="'--module-name'")
    if importlib.util.find_spec("gcsfs") is None:
        cli.fails(
            "jobs", "submit", "training", "census_4", "--module-name", "trainer.ok",
            "--job-dir", "gs://bucket/census", match="needs a package that is not installed",
        )  # fmt: skip


@pytest.mark.timeout(120)
def test_jobs_submit_prediction_as_the_census_readme(
    cli: Cli, census: Path, tmp_path: Path, jobs_cleanup: None
) -> None:
    instances = tmp_path / "census.json"
    instances.write_text('{"age": 25, "occupation": " Sales"}\n{"age": 52}\n')
    submitted = cli(
        "jobs", "submit", "prediction", "census_prediction", "--model", "census",
        "--version", "v1", "--data-format", "TEXT", "--region", "us-central1",
        "--input-paths", str(instances), "--output-path", str(tmp_path / "predictions"),
        "--stream-logs",
    )  # fmt: skip
    assert "--region=us-central1" in warning_of(submitted.stderr)
    count = cli("jobs", "describe", "census_prediction",
                "--format", "value(predictionOutput.predictionCount)")  # fmt: skip
    assert count.stdout == "2\n"
    summary = cli("jobs", "describe", "census_prediction", "--summarize", "--format", "json")
    assert summary.stdout.startswith("Job Overview\n") and "Predict Input Summary" in summary.stdout
    listed = cli("jobs", "list", "--filter", "state=SUCCEEDED", "--format", "value(jobId)")
    assert listed.stdout == "census_prediction\n"


@pytest.mark.parametrize(
    "args",
    [
        ("models", "add-iam-policy-binding", "census", "--member=user:a@b.c", "--role=x"),
        ("models", "get-iam-policy", "census", "--format", "json"),
        ("init-project",),
        ("locations", "list"),
    ],
)
def test_cloud_only_commands_say_so(cli: Cli, args: tuple[str, ...]) -> None:
    message = cli.fails(*args, match="needs Google Cloud:")
    assert message.startswith(f"ERROR: (mlengine.{'.'.join(args[:2])})")
