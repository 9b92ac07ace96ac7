"""The console end to end: headless Chromium (Playwright) against a real ``mlengine serve``.

Models and versions (create, READY, set default, predict from the form, delete, refusals shown
on the page), the Jobs page (states, live log, cancel with confirmation) and the token flow.
Each test saves screenshots of the pages it visits in its output folder (``tmp_path``); the
models page's goes to ``docs/`` with ``MLENGINE_CONSOLE_SHOTS=docs`` (see test_pages).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.helpers import shoot
from tests.jobs.helpers import TRAINERS
from tests.serving import helpers as h

pytestmark = pytest.mark.timeout(240)
API = "/v1/projects/local"
TOKEN = "console-s3cret"
READY_TIMEOUT = 60_000  # ms: copying and checking an export, on a slow CI machine
EXPECT_TIMEOUT = 15_000  # ms
PREDICTION_COLUMNS = ["CLASS_IDS", "CLASSES", "LOGISTIC", "LOGITS", "PROBABILITIES"]
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def expect(locator: Any) -> Any:
    """Playwright's expect, with more patience than its 5 s default (a loaded CI machine)."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=EXPECT_TIMEOUT)
    return playwright_expect(locator)


def wait_json(url: str, predicate: Callable[[Any], bool], timeout: float = 90, **kw: Any) -> Any:
    """GET ``url`` until ``predicate(json)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        data = httpx.get(url, timeout=30, **kw).json()
        if predicate(data):
            return data
        assert time.monotonic() < deadline, data
        time.sleep(0.2)


def create_version_in_form(p: Any, name: str, origin: str) -> None:
    """Fill the Create version form and wait until the page says READY."""
    page = p.page
    page.get_by_label("Name").fill(name)
    page.get_by_label("Origin (export path or URL)").fill(origin)
    page.get_by_label("Description").fill(f"{name} from the test exports")
    page.get_by_role("button", name="Create version").click()
    expect(page.locator("#progress-text")).to_have_text(
        f"Version {name} is READY.", timeout=READY_TIMEOUT
    )


def test_models_versions_and_prediction(
    page: Any, serve: Any, exports: dict[str, Path], exports_root: Path, tmp_path: Path
) -> None:
    p = page.page
    with serve() as (base, _server):
        # Models: empty, then a model created from the form.
        p.goto(base + "/")
        expect(p.locator("#models-empty")).to_be_visible()
        p.get_by_label("Name").fill("census")
        p.get_by_label("Description").fill("Census income, Wide & Deep")
        p.get_by_role("button", name="Create model").click()
        expect(p.get_by_role("link", name="census", exact=True)).to_be_visible()
        expect(p.get_by_role("status")).to_have_text("Model census created.")
        # A duplicate name: the API's refusal is on the page.
        p.get_by_label("Name").fill("census")
        p.get_by_role("button", name="Create model").click()
        expect(p.get_by_role("alert")).to_contain_text("census")
        expect(p.get_by_role("alert")).to_contain_text(re.compile("already exists", re.I))
        # A name the registry refuses (the page has no rule of its own): the API's reason.
        p.get_by_label("Name").fill("2bad-name")
        p.get_by_role("button", name="Create model").click()
        expect(p.get_by_role("alert")).to_contain_text("2bad-name")
        expect(p.locator("#models tbody tr")).to_have_count(1)

        # Create version from the model's page; it becomes READY.
        p.get_by_role("link", name="census", exact=True).click()
        expect(p.locator("h1")).to_have_text("Model census")
        p.get_by_role("link", name="Create version").click()
        create_version_in_form(page, "v1", str(exports["v1"]))
        page.screenshot("create-version")
        # A bad origin (outside MLENGINE_ALLOWED_ORIGINS) is refused, and the page says why.
        p.get_by_label("Name").fill("vbad")
        p.get_by_label("Origin (export path or URL)").fill("/nowhere/allowed/export")
        p.get_by_role("button", name="Create version").click()
        expect(p.get_by_role("alert")).to_contain_text("not under an allowed prefix")
        # An allowed origin that does not exist: refused at once.
        p.get_by_label("Name").fill("vmissing")
        p.get_by_label("Origin (export path or URL)").fill(str(exports_root / "no_export"))
        p.get_by_role("button", name="Create version").click()
        expect(p.get_by_role("alert")).to_contain_text("does not exist")
        # An export whose weights are missing: accepted, then FAILED, with the reason shown.
        broken = tmp_path / "broken"
        shutil.copytree(exports["v1"], broken)
        for weights in broken.rglob("*.safetensors"):
            weights.unlink()
        p.get_by_label("Name").fill("vbroken")
        p.get_by_label("Origin (export path or URL)").fill(str(broken))
        p.get_by_role("button", name="Create version").click()
        expect(p.locator("#progress-text")).to_have_text(
            "Version vbroken FAILED.", timeout=READY_TIMEOUT
        )
        expect(p.get_by_role("alert")).to_contain_text("Version vbroken FAILED: ")
        page.screenshot("create-version-failed")
        # A second version (its export carries evaluation metrics), then set it as the default.
        evaluated = tmp_path / "evaluated"
        shutil.copytree(exports["v2"], evaluated)
        manifest = json.loads((evaluated / "saved_model.json").read_text())
        manifest["metrics"] = {"accuracy": 0.8125, "auc": 0.75, "global_step": 60}
        (evaluated / "saved_model.json").write_text(json.dumps(manifest))
        create_version_in_form(page, "v2", str(evaluated))
        p.get_by_role("link", name="Back to model census").click()
        rows = p.locator("#versions tbody tr")
        expect(rows.filter(has_text="v1").locator("td").nth(5)).to_have_text("Default")
        expect(rows.filter(has_text="v2").locator("td").nth(2)).to_have_text("READY")
        p.get_by_role("button", name="Set as default: version v2").click()
        expect(p.locator("tr[data-version=v2] td").nth(5)).to_have_text("Default")
        expect(p.locator("tr[data-version=v1] td").nth(5)).to_have_text("")
        expect(p.locator("#model-default")).to_have_text("v2")
        expect(p.get_by_role("button", name="Set as default: version v1")).to_be_visible()
        metrics = p.locator("#metrics")
        expect(metrics.locator("thead th")).to_have_text(["Metric", "v2"])
        expect(metrics.locator("tbody tr")).to_have_text(
            ["accuracy0.8125", "auc0.7500", "global_step60"]
        )

        # Deleting the default version is refused: confirmed, then the API's error is shown.
        asked = page.answer_dialog(accept=True)
        p.get_by_role("button", name="Delete version v2").click()
        expect(p.get_by_role("alert")).to_contain_text("default")
        assert asked and "Delete version v2" in asked[0]
        expect(p.locator("tr[data-version=v2]")).to_be_visible()
        page.screenshot("model")

        # Predict from the version page's form: the CLI's columns, sorted and upper-cased.
        p.get_by_role("link", name="v2", exact=True).first.click()
        expect(p.locator("h1")).to_have_text("Version v2 of census")
        instances = p.get_by_label(re.compile("^Instances"))
        expect(instances).to_have_value(re.compile('"age"'))
        prefilled = json.loads(instances.input_value())
        assert prefilled == [{"age": 0, "hours_per_week": 40, "education": "", "occupation": ""}]
        expect(p.locator("#metrics tbody tr").first).to_have_text("accuracy0.8125")
        p.get_by_role("button", name="Predict").click()
        table = p.locator("#predictions")
        expect(table).to_be_visible()
        headers = table.locator("thead th")
        expect(headers).to_have_text(PREDICTION_COLUMNS)
        expect(table.locator("tbody tr")).to_have_count(1)
        expect(table.locator("tbody td").nth(1)).to_have_text(re.compile(r"^\['[01]'\]$"))
        # Two instances typed in, as the CLI's census.json holds them.
        instances.fill(
            '{"instances": [{"age": 25, "education": "11th", "occupation": "Sales"},'
            ' {"age": 52, "education": "Masters", "occupation": "Exec-managerial",'
            ' "hours_per_week": 60}]}'
        )
        p.get_by_role("button", name="Predict").click()
        expect(table.locator("tbody tr")).to_have_count(2)
        page.screenshot("version")
        # A bad instance: the API's message on the page.
        instances.fill('[{"education": "11th"}]')
        p.get_by_role("button", name="Predict").click()
        expect(p.get_by_role("alert")).to_contain_text("age")
        expect(table).to_be_hidden()

        # Delete v1: dismissing the confirmation deletes nothing; accepting deletes it.
        p.get_by_role("link", name="census").first.click()
        expect(p.locator("tr[data-version=v1]")).to_be_visible()
        dismissed = page.answer_dialog(accept=False)
        p.get_by_role("button", name="Delete version v1").click()
        expect(p.locator("tr[data-version=v1]")).to_be_visible()
        assert dismissed and "Delete version v1 of census" in dismissed[0]
        page.answer_dialog(accept=True)
        p.get_by_role("button", name="Delete version v1").click()
        expect(p.locator("tr[data-version=v1]")).to_have_count(0)
        expect(p.get_by_role("status")).to_have_text("Version v1 deleted.")

        # The models page: default v2, two versions left (v2 and the FAILED vbroken).
        p.get_by_role("link", name="Models").first.click()
        row = p.locator("#models tbody tr").filter(has_text="census")
        expect(row.locator("td").nth(1)).to_have_text("v2")
        expect(row.locator("td").nth(2)).to_have_text("Census income, Wide & Deep")
        expect(row.locator("td").nth(3)).to_have_text("2")
        shot = shoot(p, tmp_path, "models")  # the README's (MLENGINE_CONSOLE_SHOTS=docs)
        assert shot.stat().st_size > 10_000

        # Check what the browser did against the API itself.
        versions = httpx.get(f"{base}{API}/models/census/versions", timeout=30).json()
        names = {v["name"].rsplit("/", 1)[-1]: v for v in versions["versions"]}
        assert set(names) == {"v2", "vbroken"}
        assert names["v2"]["isDefault"] and names["vbroken"]["state"] == "FAILED"
    assert sorted(path.name for path in tmp_path.glob("*.png") if path != shot) == [
        "create-version-failed.png",
        "create-version.png",
        "model.png",
        "version.png",
    ]


TRAINER = """\
import time

for step in range(600):
    print(f"step {step}: still training", flush=True)
    time.sleep(0.2)
"""


def test_jobs_page(page: Any, serve: Any, exports: dict[str, Path], tmp_path: Path) -> None:
    package = tmp_path / "trainer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(TRAINER)
    (package / "tune.py").write_text(TRAINERS["tune.py"].lstrip())
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "in.json").write_text(
        "".join(json.dumps(instance) + "\n" for instance in h.instances(3))
    )
    p = page.page
    with serve(MLENGINE_ALLOW_TRAINING_JOBS="1") as (base, _server):
        jobs = f"{base}{API}/jobs"
        try:
            httpx.post(f"{base}{API}/models", json={"name": "census"}, timeout=30)
            created = httpx.post(
                f"{base}{API}/models/census/versions",
                json={"name": "v1", "deploymentUri": str(exports["v1"])},
                timeout=30,
            )
            assert created.status_code == 200, created.text
            wait_json(f"{base}{API}/models/census/versions/v1", lambda v: v["state"] == "READY")
            predict_body = {
                "jobId": "predict_census",
                "predictionInput": {
                    "dataFormat": "JSON",
                    "inputPaths": [str(inputs / "*.json")],
                    "outputPath": str(tmp_path / "out"),
                    "modelName": "projects/local/models/census",
                },
            }
            submitted = httpx.post(jobs, json=predict_body, timeout=30)
            assert submitted.status_code == 200, submitted.text
            train_body = {
                "jobId": "train_slow",
                "trainingInput": {"pythonModule": "trainer.task", "packagePath": str(package)},
            }
            submitted = httpx.post(jobs, json=train_body, timeout=30)
            assert submitted.status_code == 200, submitted.text
            x = {"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 1}
            tune_body = {
                "jobId": "tune_two",
                "trainingInput": {
                    "pythonModule": "trainer.tune",
                    "packagePath": str(package),
                    "hyperparameters": {"goal": "MAXIMIZE", "hyperparameterMetricTag": "score",
                                        "maxTrials": 2, "params": [x]},
                },
            }  # fmt: skip
            submitted = httpx.post(jobs, json=tune_body, timeout=30)
            assert submitted.status_code == 200, submitted.text

            p.goto(base + "/jobs")
            tuning = p.locator("tr[data-job=tune_two] td")
            expect(tuning.nth(2)).to_have_text("SUCCEEDED", timeout=90_000)
            expect(tuning.nth(1)).to_have_text("Tuning: 2 of 2 trials")
            prediction = p.locator("tr[data-job=predict_census] td")
            expect(prediction.nth(0)).to_have_text("predict_census")
            expect(prediction.nth(1)).to_have_text("Prediction")
            expect(prediction.nth(2)).to_have_text("SUCCEEDED", timeout=90_000)
            expect(prediction.nth(3).locator("time")).to_be_visible()
            expect(prediction.nth(4).locator("time")).to_be_visible()
            expect(p.get_by_role("button", name="Cancel job predict_census")).to_have_count(0)

            training = p.locator("tr[data-job=train_slow] td")
            expect(training.nth(1)).to_have_text("Training")
            expect(training.nth(2)).to_have_text("RUNNING", timeout=60_000)
            # The live log tail.
            p.get_by_role("button", name="Log of job train_slow").click()
            log = p.locator("#log-text")
            expect(log).to_contain_text("step 0: still training", timeout=30_000)
            expect(p.locator("#log-state")).to_have_text("RUNNING: following the log…")
            lines = log.inner_text().count("\n")
            p.wait_for_function(
                "n => document.querySelector('#log-text').textContent.split('\\n').length > n + 1",
                arg=lines,
            )
            page.screenshot("jobs")

            # Cancel asks first: dismissed, nothing happens; accepted, the job is cancelled.
            dismissed = page.answer_dialog(accept=False)
            p.get_by_role("button", name="Cancel job train_slow").click()
            assert dismissed == ["Cancel job train_slow? Its processes are stopped."]
            time.sleep(0.5)
            assert httpx.get(f"{jobs}/train_slow", timeout=30).json()["state"] == "RUNNING"
            page.answer_dialog(accept=True)
            p.get_by_role("button", name="Cancel job train_slow").click()
            expect(training.nth(2)).to_have_text(re.compile("^CANCELL(ING|ED)$"))
            expect(training.nth(2)).to_have_text("CANCELLED", timeout=60_000)
            expect(p.locator("#log-state")).to_have_text("CANCELLED: the job is over.")
            expect(p.get_by_role("button", name="Cancel job train_slow")).to_have_count(0)
            page.screenshot("jobs-cancelled")

            # The prediction job's page: its counts, and its model linked.
            p.get_by_role("link", name="predict_census").click()
            expect(p.locator("h1")).to_have_text("Job predict_census")
            expect(p.locator("#job-details")).to_contain_text("Predictions3")
            p.get_by_role("link", name="projects/local/models/census", exact=True).click()
            expect(p.locator("h1")).to_have_text("Model census")
        finally:
            # Never leave a job's processes behind: they run outside the server's group.
            for job in httpx.get(jobs, timeout=30).json().get("jobs", []):
                if job["state"] not in FINAL:
                    httpx.post(f"{jobs}/{job['jobId']}:cancel", timeout=30)
            wait_json(jobs, lambda d: all(j["state"] in FINAL for j in d.get("jobs", [])), 60)


def test_token_flow(page: Any, serve: Any) -> None:
    p = page.page
    with serve(MLENGINE_API_TOKEN=TOKEN) as (base, _server):
        # The page itself loads without the token, then asks for it on the first 401.
        p.goto(base + "/")
        form = p.locator("#token-form")
        expect(form).to_be_visible()
        expect(p.locator("#token-message")).to_contain_text("needs an API token")
        page.screenshot("token")
        p.get_by_label("Token", exact=True).fill("wrong-token")
        p.get_by_role("button", name="Use token").click()
        expect(p.locator("#token-message")).to_have_text("The API token is not valid.")
        expect(form).to_be_visible()
        p.get_by_label("Token", exact=True).fill(TOKEN)
        p.get_by_role("button", name="Use token").click()
        expect(form).to_be_hidden()
        expect(p.locator("#models-empty")).to_be_visible()
        assert p.evaluate("sessionStorage.getItem('mlengine.apiToken')") == TOKEN
        # Then it works: create a model, reload (the token is kept for the tab), open Jobs.
        p.get_by_label("Name").fill("guarded")
        p.get_by_role("button", name="Create model").click()
        expect(p.get_by_role("link", name="guarded", exact=True)).to_be_visible()
        p.reload()
        expect(p.get_by_role("link", name="guarded", exact=True)).to_be_visible()
        expect(form).to_be_hidden()
        p.get_by_role("link", name="Jobs").click()
        expect(p.locator("#jobs-empty")).to_be_visible()
        expect(form).to_be_hidden()
        # Forgetting the token makes the page ask again.
        p.get_by_role("button", name="Forget API token").click()
        p.reload()
        expect(form).to_be_visible()
        unauthorized = httpx.get(f"{base}{API}/models", timeout=30)
        assert unauthorized.status_code == 401
