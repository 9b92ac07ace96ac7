"""What the console's page tests share: an evaluated census export (so it carries evidence),
a tuning job's record written through the jobs store, reading charts back from the page, and
the screenshots the README shows."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from mlengine.jobs import JobKind, JobManager, JobState
from mlengine.jobs.manager import HOST
from mlengine.registry import Registry
from tests.serving import helpers as sh

DOCS = Path(__file__).resolve().parents[2] / "docs"


def shoot(page: Any, tmp_path: Path, name: str) -> Path:
    """A screenshot of the window as ``console-<name>.png``, made small (64 colours), in
    ``docs/`` with ``MLENGINE_CONSOLE_SHOTS=docs`` (the README shows them), else in
    ``tmp_path``; its path."""
    from PIL import Image

    folder = DOCS if os.environ.get("MLENGINE_CONSOLE_SHOTS") == "docs" else tmp_path
    image = Image.open(io.BytesIO(page.screenshot(full_page=True)))
    path = folder / f"console-{name}.png"
    image.convert("RGB").quantize(colors=64).save(path, optimize=True)
    return path


def train_evaluated(base: Path, steps: int, kind: str = "binary") -> Path:
    """A small census model (the serving tests' columns; ``binary``, or ``regression`` of the
    hours worked), trained ``steps`` steps and
    evaluated on held-out rows halfway and at the end, then exported: its export carries the
    last evaluation's evidence and the history of both."""
    from mlengine import estimator
    from mlengine import feature_column as fc
    from mlengine.data import census

    x, y = census.load("train")
    x = x[["age", "hours_per_week", "education", "occupation"]]
    train_x, train_y = x.head(400).reset_index(drop=True), y[:400].copy()
    eval_x, eval_y = x.iloc[400:800].reset_index(drop=True), y[400:800].copy()
    columns = [
        fc.numeric_column("age"),
        fc.numeric_column("hours_per_week", default_value=40.0),
        fc.categorical_column_with_vocabulary_list("education", sh.EDUCATION),
        fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=50),
    ]
    config = estimator.RunConfig(tf_random_seed=1, quiet=True, save_summary_steps=5)
    model: Any
    if kind == "binary":
        model = estimator.LinearClassifier(
            feature_columns=columns, model_dir=str(base / "model"), config=config
        )
    else:  # a regressor of the hours worked
        model = estimator.LinearRegressor(
            feature_columns=columns, model_dir=str(base / "model"), config=config
        )
        train_y = train_x["hours_per_week"].to_numpy("float32")
        eval_y = eval_x["hours_per_week"].to_numpy("float32")
    inputs = estimator.inputs
    for _ in range(2):  # two evaluations: the history holds a series of each eval metric
        model.train(
            input_fn=inputs.pandas_input_fn(
                train_x, train_y, batch_size=50, num_epochs=None, shuffle=True, seed=1
            ),
            steps=steps // 2,
        )
        model.evaluate(
            input_fn=inputs.pandas_input_fn(eval_x, eval_y, batch_size=100, shuffle=False)
        )
    return Path(model.export_saved_model(str(base / "exports")))


TRIALS = [  # best first, as ML Engine's trainingOutput lists them
    {"trialId": "3", "hyperparameters": {"learning_rate": 0.3, "optimizer": "Adam"},
     "finalMetric": {"trainingStep": "100", "objectiveValue": 0.78}, "state": "SUCCEEDED"},
    {"trialId": "1", "hyperparameters": {"learning_rate": 0.1, "optimizer": "Adam"},
     "finalMetric": {"trainingStep": "100", "objectiveValue": 0.71}, "state": "SUCCEEDED"},
    {"trialId": "4", "hyperparameters": {"learning_rate": 0.05, "optimizer": "Ftrl"},
     "finalMetric": {"trainingStep": "100", "objectiveValue": 0.69}, "state": "SUCCEEDED"},
    {"trialId": "2", "hyperparameters": {"learning_rate": 0.01, "optimizer": "SGD"},
     "finalMetric": {"trainingStep": "100", "objectiveValue": 0.64}, "state": "SUCCEEDED"},
]  # fmt: skip


def record_tuning_job(home: Path, job_id: str) -> dict[str, Any]:
    """A finished hyperparameter tuning job, recorded through the jobs store (its insert, start
    and finish, as a supervisor records them) with ML Engine's ``trainingOutput``; returns
    that output."""
    output = {
        "isHyperparameterTuningJob": True,
        "completedTrialCount": str(len(TRIALS)),
        "trials": TRIALS,
    }
    spec = {
        "pythonModule": "trainer.task",
        "packagePath": "/tmp/trainer",
        "jobDir": str(home / "tuning_run"),
        "hyperparameters": {
            "goal": "MAXIMIZE",
            "hyperparameterMetricTag": "auc",
            "maxTrials": len(TRIALS),
        },
    }
    with Registry(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as registry:
        jobs = JobManager(registry, home=home)
        run_dir = jobs.jobs_root / job_id
        run_dir.mkdir(parents=True)
        (run_dir / "output.log").write_text("trial 1 ...\ntrial 4: auc = 0.69\n")
        jobs.table.insert(job_id, JobKind.TRAINING, spec, {}, HOST, str(run_dir), "test")
        assert jobs.table.start(job_id, "test")
        assert jobs.table.finish(job_id, JobState.SUCCEEDED, output=output)
        recorded = jobs.get_job(job_id).to_json("local")
    assert recorded["trainingOutput"]["trials"] == TRIALS, recorded
    return output


def series(page: Any, chart: str) -> dict[str, dict[str, list[float]]]:
    """Each drawn series of a chart (``data-chart``): its name → the x and y it shows."""
    found = page.eval_on_selector_all(
        f'figure[data-chart="{chart}"] g.series',
        """groups => groups.map(g => [g.dataset.series, g.dataset.x, g.dataset.y,
                                      g.querySelectorAll('polyline, circle').length])""",
    )
    out = {}
    for name, xs, ys, shapes in found:
        assert shapes > 0, f"series {name} of chart {chart} draws nothing"
        out[name] = {
            "x": [float(v) for v in xs.split()] if xs else [],
            "y": [float(v) for v in ys.split()] if ys else [],
        }
    return out


def bars(page: Any, chart: str) -> dict[str, float]:
    """Each bar of a bar chart: its name → the value it shows."""
    found = page.eval_on_selector_all(
        f'figure[data-chart="{chart}"] rect.bar',
        "rects => rects.map(r => [r.dataset.name, r.dataset.value, r.getBBox().width])",
    )
    assert all(width > 0 for _, _, width in found), found
    # In each row the name, the bar and its value text are side by side, none over another.
    overlaps = page.eval_on_selector(
        f'figure[data-chart="{chart}"] svg',
        """svg => {
            const boxes = (cls) => [...svg.querySelectorAll(cls)]
                .map(e => e.getBoundingClientRect());
            const [names, rects, texts] = [boxes('text.bar-label'), boxes('rect.bar'),
                                           boxes('text.bar-value')];
            const apart = (a, b) => a.right <= b.left + 0.5 || b.right <= a.left + 0.5;
            return rects.flatMap((rect, i) => [[names[i], rect], [names[i], texts[i]],
                                               [rect, texts[i]]]
                .filter(([a, b]) => !apart(a, b)).map(() => i));
        }""",
    )
    assert not overlaps, f"{chart}: texts over bars or names in rows {overlaps}"
    return {name: float(value) for name, value, _ in found}


def no_horizontal_scroll(page: Any, name: str) -> None:
    """The page is no wider than the window (nothing scrolls sideways)."""
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth)
            .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)"""
    )
    assert widths[0] <= widths[1], (
        f"the {name} page is {widths[0]} px wide in a {widths[1]} px window: {wide}"
    )


def evidence_of(export: Path) -> dict[str, Any]:
    """The export's evidence, as the server answers it."""
    from mlengine.export.evidence import read_evidence

    found = read_evidence(export)
    assert found is not None, f"{export} carries no evidence"
    return json.loads(json.dumps(found.to_json()))
