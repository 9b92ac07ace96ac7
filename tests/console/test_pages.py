"""The console's pictures in a real browser (Playwright over Debian's Chromium): a version's
curves drawn with its export's numbers, two versions compared, the prediction form prefilled
with a real instance and its attributions, a job's page with its failure reason, a tuning job's
trials plot, 404 pages, and no sideways scrolling on a 390 px phone.

Each chart keeps the numbers it draws as data attributes (see console.js); the tests read them
back from the SVG and compare them with the export's ``evidence.json``. The numbers travel as
JSON and as JavaScript's shortest float text, both exact for a double, hence ``==``.

``MLENGINE_CONSOLE_SHOTS=docs`` writes the pages' screenshots into ``docs/`` (the README shows
them; the models page's is test_browser's); otherwise they go to the test's folder.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console import helpers
from tests.console.test_browser import expect, wait_json

pytestmark = pytest.mark.timeout(300)
API = "/v1/projects/local"
PHONE = {"width": 390, "height": 844}
FAILING_TRAINER = """\
import sys

print("reading the training data", flush=True)
print("ValueError: the column 'age' holds 'forty'", file=sys.stderr, flush=True)
sys.exit(3)
"""


@pytest.fixture(scope="module")
def evaluated(exports_root: Path) -> dict[str, Path]:
    """Two evaluated exports of the census model (a short and a longer training), under the
    folder the servers may read exports from."""
    root = exports_root / "evaluated"
    return {
        "v1": helpers.train_evaluated(root / "v1", steps=8),
        "v2": helpers.train_evaluated(root / "v2", steps=60),
    }


def register(base: str, exports: dict[str, Path]) -> None:
    httpx.post(f"{base}{API}/models", json={"name": "census"}, timeout=30)
    for name, export in exports.items():
        created = httpx.post(
            f"{base}{API}/models/census/versions",
            json={"name": name, "deploymentUri": str(export)},
            timeout=30,
        )
        assert created.status_code == 200, created.text
        wait_json(f"{base}{API}/models/census/versions/{name}", lambda v: v["state"] == "READY")


def check_curves(p: Any, evidence: dict[str, Any], prefix: str = "") -> None:
    """The ROC, PR, calibration and history charts show the evidence's numbers."""
    curves = evidence["curves"]
    name = prefix.strip()
    roc = helpers.series(p, "roc")
    key = next(k for k in roc if k.startswith(prefix + "AUC") or (not prefix and "AUC" in k))
    assert roc[key]["x"] == curves["roc"]["fpr"] and roc[key]["y"] == curves["roc"]["tpr"]
    assert f"{curves['roc']['auc']:.4f}" in key
    pr = helpers.series(p, "pr")
    drawn = pr[name or "precision"]
    assert drawn["x"] == curves["pr"]["recall"] and drawn["y"] == curves["pr"]["precision"]
    calibration = helpers.series(p, "calibration")[name or "calibration"]
    bins = [b for b in curves["calibration"] if b["count"] > 0]
    assert calibration["x"] == [b["mean_predicted"] for b in bins]
    assert calibration["y"] == [b["fraction_positive"] for b in bins]
    loss = helpers.series(p, "history-loss")[f"{prefix}train".strip()]
    assert loss["x"] == [s for s, _ in evidence["history"]["train"]["loss"]]
    assert loss["y"] == [v for _, v in evidence["history"]["train"]["loss"]]


def at_phone_width(p: Any, name: str) -> None:
    """The page, drawn again 390 px wide, scrolls nothing sideways; back to the desktop."""
    desktop = p.viewport_size
    p.set_viewport_size(PHONE)
    try:
        time.sleep(0.2)  # the charts redraw on resize
        helpers.no_horizontal_scroll(p, name)
    finally:
        p.set_viewport_size(desktop)


def test_version_page_draws_the_evidence_and_predicts_a_real_instance(
    page: Any, serve: Any, evaluated: dict[str, Path], tmp_path: Path
) -> None:
    p = page.page
    evidence = helpers.evidence_of(evaluated["v2"])
    assert evidence["evaluated"] and evidence["instances"]
    with serve(MLENGINE_TENSORBOARD_URL="http://127.0.0.1:6006/?logdir={logdir}") as (base, _):
        register(base, evaluated)
        p.goto(f"{base}/models/census/versions/v2")
        expect(p.locator('figure[data-chart="roc"] polyline')).to_be_visible()
        # ROC with its AUC, PR, calibration and the training history: the export's numbers.
        auc = p.locator('figure[data-chart="roc"] .auc')
        expect(auc).to_have_text(f"AUC {evidence['curves']['roc']['auc']:.4f}")
        assert float(auc.get_attribute("data-auc")) == evidence["curves"]["roc"]["auc"]
        check_curves(p, evidence)
        assert len(evidence["history"]["eval"]["auc"]) == 2
        for tag, points in evidence["history"]["eval"].items():
            drawn = helpers.series(p, f"history-{tag}")["eval"]
            assert drawn["x"] == [s for s, _ in points] and drawn["y"] == [v for _, v in points]
        # The confusion matrix at the threshold.
        confusion = evidence["curves"]["confusion"]
        cells = p.locator("#confusion tbody td").all_inner_texts()
        assert [int(c) for c in cells] == [n for row in confusion["matrix"] for n in row]
        expect(p.locator("#confusion caption")).to_contain_text(str(confusion["threshold"]))
        expect(p.locator("#evaluation")).to_have_text(
            f"Evaluated at global step {evidence['evaluation']['global_step']}."
        )
        # TensorBoard: the configured URL, with the run's directory.
        link = p.get_by_role("link", name="Open TensorBoard")
        assert evidence["model_dir"]
        expect(link).to_have_attribute(
            "href", "http://127.0.0.1:6006/?logdir=" + _quote(evidence["model_dir"])
        )
        expect(p.locator("#tensorboard code")).to_have_text(
            "mlengine tensorboard --model census --version v2"
        )

        # The form holds a real instance of the evaluation data, and it predicts.
        instances = p.get_by_label(re.compile("^Instances"))
        assert json.loads(instances.input_value()) == [evidence["instances"][0]]
        expect(p.locator("#instance-source")).to_contain_text("real instance")
        p.get_by_role("button", name="Predict").click()
        table = p.locator("#predictions")
        expect(table.locator("tbody tr")).to_have_count(1)
        answer = httpx.post(
            f"{base}{API}/models/census/versions/v2:predict",
            json={"instances": [evidence["instances"][0]]},
            timeout=30,
        ).json()["predictions"][0]
        expect(table.locator("tbody td").nth(1)).to_have_text(str(answer["classes"]))
        # Its attributions (the server's :explain), one bar per feature, adding up.
        expect(p.locator('figure[data-chart="attributions"]')).to_be_visible()
        attributions = helpers.bars(p, "attributions")
        assert set(attributions) == {"age", "hours_per_week", "education", "occupation"}
        explained = httpx.post(
            f"{base}{API}/models/census/versions/v2:explain",
            json={"instances": [evidence["instances"][0]]},
            timeout=30,
        ).json()["explanations"][0]["attributions_by_label"][0]
        assert attributions == explained["attributions"]  # the same request, run again
        helpers.shoot(p, tmp_path, "version")

        # Two versions side by side: both curves in the same charts.
        p.goto(f"{base}/models/census")
        p.get_by_role("link", name="Compare two versions").click()
        expect(p.locator("h1")).to_have_text("Compare versions of census")
        expect(p.locator('figure[data-chart="roc"] g.series')).to_have_count(2)
        for name in ("v1", "v2"):
            check_curves(p, helpers.evidence_of(evaluated[name]), prefix=f"{name} ")
        expect(p.locator("#compare-metrics thead th")).to_have_text(["Metric", "v1", "v2"])
        helpers.shoot(p, tmp_path, "compare")


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="-_.!~*'()")


def test_importances_are_a_bar_chart_and_damaged_evidence_is_said(
    page: Any, serve: Any, evaluated: dict[str, Path], tmp_path: Path
) -> None:
    """A version whose evidence holds importances draws them, largest first (a negative one
    left of zero, its value clear of its name); one whose
    evidence was damaged after export says so and still predicts."""
    import shutil

    from mlengine.export.members import MEMBERS_KEY, write_member

    export = tmp_path / "with_importances"
    shutil.copytree(evaluated["v1"], export)
    evidence = helpers.evidence_of(export)
    features = [
        {"name": "education", "importance": 41.5},
        {"name": "age", "importance": 27.25},
        {"name": "occupation", "importance": 8.0},
        {"name": "hours_per_week", "importance": -3.5},  # permutation: may be < 0
    ]
    evidence["importances"] = {"method": "gain", "features": features}
    entry = write_member(str(export), "evidence.json", json.dumps(evidence).encode())
    manifest = json.loads((export / "saved_model.json").read_text())
    manifest[MEMBERS_KEY]["evidence"] = entry
    (export / "saved_model.json").write_text(json.dumps(manifest))
    assert helpers.evidence_of(export)["importances"]["features"] == features
    p = page.page
    with serve() as (base, _):
        register(base, {"vimp": export})
        p.goto(f"{base}/models/census/versions/vimp")
        expect(p.locator('figure[data-chart="importances"]')).to_be_visible()
        drawn = helpers.bars(p, "importances")
        assert drawn == {f["name"]: f["importance"] for f in features}
        names = p.locator('figure[data-chart="importances"] rect.bar')
        assert [names.nth(i).get_attribute("data-name") for i in range(4)] == [
            f["name"] for f in features
        ]
        expect(p.locator("#importances-method")).to_have_text("Method: gain.")

        # Its stored copy damaged (same size, other bytes): the page says why, and the version
        # still predicts (loading checks a member's size; reading it, its sha256).
        stored = tmp_path / "home" / "artifacts" / "census" / "1" / "evidence.json"
        stored.write_bytes(stored.read_bytes().replace(b"true", b"TRUE", 1))
        p.reload()
        expect(p.locator("#evaluation")).to_contain_text("The export's evidence cannot be shown")
        expect(p.locator("#evaluation")).to_contain_text("sha256")
        expect(p.locator("figure.chart")).to_have_count(0)
        expect(p.locator("#instance-source")).to_contain_text("signature")
        p.get_by_role("button", name="Predict").click()
        expect(p.locator("#predictions tbody tr")).to_have_count(1)


def test_a_regressor_shows_its_residuals(
    page: Any, serve: Any, exports_root: Path, tmp_path: Path
) -> None:
    export = helpers.train_evaluated(exports_root / "regressor", steps=20, kind="regression")
    evidence = helpers.evidence_of(export)
    residuals = evidence["curves"]["residuals"]
    assert residuals and "roc" not in evidence["curves"]
    p = page.page
    with serve() as (base, _):
        register(base, {"vreg": export})
        p.goto(f"{base}/models/census/versions/vreg")
        expect(p.locator('figure[data-chart="residuals"]')).to_be_visible()
        drawn = helpers.series(p, "residuals")["mean residual"]
        assert drawn["x"] == [r["decile"] for r in residuals]
        assert drawn["y"] == [r["mean_residual"] for r in residuals]
        expect(p.locator('figure[data-chart="roc"]')).to_have_count(0)
        expect(p.locator("#confusion")).to_be_hidden()
        p.get_by_role("button", name="Predict").click()
        expect(p.locator("#predictions thead th")).to_have_text(["PREDICTION"])  # one output
        expect(p.locator('figure[data-chart="attributions"] figcaption')).to_contain_text(
            "predictions"
        )


def test_job_pages_failure_reason_and_trials(page: Any, serve: Any, tmp_path: Path) -> None:
    package = tmp_path / "trainer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(FAILING_TRAINER)
    trials = helpers.record_tuning_job(tmp_path / "home", "tune_census")
    p = page.page
    with serve(MLENGINE_ALLOW_TRAINING_JOBS="1") as (base, _):
        jobs = f"{base}{API}/jobs"
        body = {
            "jobId": "train_broken",
            "trainingInput": {"pythonModule": "trainer.task", "packagePath": str(package)},
        }
        assert httpx.post(jobs, json=body, timeout=30).status_code == 200
        failed = wait_json(f"{jobs}/train_broken", lambda j: j["state"] == "FAILED")
        assert "forty" in failed["errorMessage"]

        # Job names in the list link to the job's page, whose top says why it failed.
        p.goto(f"{base}/jobs")
        p.get_by_role("link", name="train_broken").click()
        expect(p.locator("h1")).to_have_text("Job train_broken")
        failure = p.locator("#job-failure")
        expect(failure).to_be_visible()
        expect(failure).to_contain_text("FAILED: ")
        expect(failure).to_contain_text("the column 'age' holds 'forty'")
        assert failure.inner_text().strip() == f"FAILED: {failed['errorMessage']}".strip()
        details = p.locator("#job-details")
        expect(details).to_contain_text("FAILED")
        expect(details.locator("time")).to_have_count(3)  # created, started, ended
        expect(p.locator("#job-arguments")).to_contain_text("trainer.task")
        expect(p.locator("#log-text")).to_contain_text("reading the training data")
        expect(p.locator("#log-state")).to_have_text("FAILED: the job is over.")
        helpers.shoot(p, tmp_path, "job-failed")
        at_phone_width(p, "failed job")

        # A tuning job: the objective by trial and by each hyperparameter.
        p.goto(f"{base}/jobs/tune_census")
        expect(p.locator("#trials-section")).to_be_visible()
        by_id = sorted(trials["trials"], key=lambda t: int(t["trialId"]))  # listed best first
        by_trial = helpers.series(p, "trials")["auc"]
        assert by_trial["x"] == [1, 2, 3, 4]
        assert by_trial["y"] == [t["finalMetric"]["objectiveValue"] for t in by_id]
        best = helpers.series(p, "trials")["best so far (maximize)"]["y"]
        assert best == [0.71, 0.71, 0.78, 0.78]
        rate = helpers.series(p, "trials-learning_rate")["auc"]
        assert rate["x"] == [t["hyperparameters"]["learning_rate"] for t in by_id]
        optimizer = helpers.series(p, "trials-optimizer")["auc"]
        assert optimizer["x"] == [0, 2, 0, 1]  # Adam, SGD, Adam, Ftrl over the sorted names
        ticks = p.locator('figure[data-chart="trials-optimizer"] text.tick')
        expect(ticks.filter(has_text="Ftrl")).to_have_count(1)
        expect(p.locator("#trials tbody tr")).to_have_count(4)
        # Its folder: the command that shows it (no link: this server names no TensorBoard).
        command = "mlengine tensorboard --job tune_census"
        expect(p.locator("#tensorboard code")).to_have_text(command)
        expect(p.get_by_role("link", name="Open TensorBoard")).to_have_count(0)
        expect(p.locator("#trials-summary")).to_have_text(
            "4 trials completed; the best auc is 0.78 (trial 3, maximize)."
        )
        helpers.shoot(p, tmp_path, "job-tuning")
        at_phone_width(p, "tuning job")


def test_missing_things_are_404_pages(page: Any, serve: Any) -> None:
    p = page.page
    with serve() as (base, _):
        httpx.post(f"{base}{API}/models", json={"name": "census"}, timeout=30)
        for path, text in [
            ("/models/nope", "Model nope does not exist."),
            ("/models/nope/versions/v1", "Model nope does not exist."),
            ("/models/census/versions/v9", "Version v9 of model census does not exist."),
            ("/models/nope/new-version", "Model nope does not exist."),
            ("/jobs/nope", "Job nope does not exist."),
            ("/models/nope/compare", "Model nope does not exist."),
            ("/models/census/compare?a=v9", "Version v9 of model census does not exist."),
            ("/models/census/compare?a=v1&b=v9", "Version v1 of model census does not exist."),
        ]:
            response = p.goto(base + path)
            assert response.status == 404, path
            expect(p.locator("h1")).to_have_text("Not found")
            expect(p.locator("#not-found-text")).to_have_text(text)
            expect(p.get_by_role("link", name="Create version")).to_have_count(0)
            expect(p.get_by_role("button")).to_have_count(0)
            at_phone_width(p, f"404 {path}")
        assert p.goto(base + "/models/census").status == 200
        p.goto(base + "/models/census/new-version")
        expect(p.get_by_role("button", name="Create version")).to_be_visible()
        at_phone_width(p, "create version")


def test_with_a_token_the_script_shows_the_404(page: Any, serve: Any) -> None:
    """With an API token the page cannot look (it would tell anyone what exists): it answers
    its shell, and the script shows the not-found page once the API answers 404."""
    p = page.page
    with serve(MLENGINE_API_TOKEN="t0ken") as (base, _):
        p.goto(base + "/")
        p.get_by_label("Token", exact=True).fill("t0ken")
        p.get_by_role("button", name="Use token").click()
        assert p.goto(base + "/models/nope").status == 200
        expect(p.locator("#missing")).to_be_visible()
        expect(p.locator("#missing-text")).to_have_text("Model nope does not exist.")
        expect(p.locator("#content")).to_be_hidden()
        # Two versions compared, one of them missing: the same words as without a token.
        httpx.post(
            f"{base}{API}/models",
            json={"name": "census"},
            headers={"Authorization": "Bearer t0ken"},
            timeout=30,
        )
        p.goto(base + "/models/census/compare?a=v9")
        expect(p.locator("#missing-text")).to_have_text(
            "Version v9 of model census does not exist."
        )
        expect(p.locator("#content")).to_be_hidden()


def test_a_phone_scrolls_no_page_sideways(
    browser: Any, serve: Any, evaluated: dict[str, Path], tmp_path: Path
) -> None:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    context.set_default_timeout(20_000)
    errors: list[str] = []
    try:
        p = context.new_page()
        p.on("pageerror", lambda error: errors.append(str(error)))
        helpers.record_tuning_job(tmp_path / "home", "tune_census")
        with serve() as (base, _):
            register(base, evaluated)
            pages = {
                "models": ("/", "#models tbody tr"),
                "model": ("/models/census", "#versions tbody tr"),
                "version": ("/models/census/versions/v2", 'figure[data-chart="roc"]'),
                "compare": ("/models/census/compare", 'figure[data-chart="roc"]'),
                "jobs": ("/jobs", "#jobs tbody tr"),
                "job": ("/jobs/tune_census", 'figure[data-chart="trials"]'),
            }
            for name, (path, ready) in pages.items():
                p.goto(base + path)
                expect(p.locator(ready).first).to_be_visible()
                if name == "version":
                    p.get_by_role("button", name="Predict").click()
                    expect(p.locator('figure[data-chart="attributions"]')).to_be_visible()
                time.sleep(0.2)
                helpers.no_horizontal_scroll(p, name)
                if name == "model":
                    helpers.shoot(p, tmp_path, "phone-model")
            # The versions table is a card per row there, each cell labelled.
            p.goto(base + "/models/census")
            cell = p.locator("tr[data-version=v2] td").nth(2)
            expect(cell).to_have_attribute("data-label", "State")
            display = p.locator("#versions thead").evaluate("t => getComputedStyle(t).display")
            assert display == "none"
    finally:
        context.close()
    assert not errors, errors
