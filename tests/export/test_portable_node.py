"""The census model's portable graph run outside Python: onnxruntime-node, by node.

``tests/export/node/predict.mjs`` reads the export's manifest, builds the graph's inputs from
the talk's two raw instances (examples/census/census.json, leading spaces and all) and runs
``model.onnx``. The three id inputs (the occupation hash bucket and the two crosses) are
**computed by mlengine first** (``Predictor.onnx_inputs``), as the manifest says: ONNX cannot
compute mlengine's stable hash. Node's probabilities must be the Predictor's within a quarter
of the derived logit bound (:func:`mlengine.export.portable.logits_error_bound`; the
sigmoid's slope is at most 1/4).

onnxruntime-node is pinned in ``tests/export/node/package-lock.json`` and installed from the
npm registry alone, its CUDA download disabled (``ONNXRUNTIME_NODE_INSTALL=skip``, the flag
its install script documents): ``.ci/run`` does it, or by hand::

    ONNXRUNTIME_NODE_INSTALL=skip npm ci --prefix tests/export/node --no-audit --no-fund

Under ``CI=true`` a missing node or package fails this test; elsewhere it skips, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine.export import Predictor, load
from mlengine.export.portable import predictor_logits_bound

NODE_DIR = Path(__file__).resolve().parent / "node"
SCRIPT = NODE_DIR / "predict.mjs"
PACKAGE = NODE_DIR / "node_modules" / "onnxruntime-node" / "package.json"
INSTALL = "ONNXRUNTIME_NODE_INSTALL=skip npm ci --prefix tests/export/node --no-audit --no-fund"
DOUBLE_SLACK = 1e-12  # the head's float64 arithmetic in two runtimes


def node_or_missing() -> str:
    """The node binary, after checking the pinned package is installed."""
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not PACKAGE.is_file():
        problem = f"onnxruntime-node is not installed (run: {INSTALL})"
    else:
        pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
        installed = json.loads(PACKAGE.read_text())["version"]
        if installed != pinned["onnxruntime-node"]:
            problem = f"onnxruntime-node {installed} is installed, {pinned} is pinned"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem}; .ci/run installs it.")
        pytest.skip(problem)
    assert node is not None
    return node


def test_node_gives_the_predictors_probabilities_for_the_talks_instances(
    trained: Any, tmp_path: Path, instances: list[dict[str, Any]]
) -> None:
    node = node_or_missing()
    predictor: Predictor = load(
        trained.estimator.export_saved_model(str(tmp_path), export_onnx=True)
    )
    # The id inputs, computed by mlengine first: its stable hash of occupation and the crosses.
    ids = {
        k: v.tolist() for k, v in predictor.onnx_inputs(instances).items() if k.startswith("ids/")
    }
    assert sorted(ids) == [
        "ids/age_bucketized_X_education_X_occupation",
        "ids/education_X_occupation",
        "ids/occupation",
    ]
    ids_path = tmp_path / "ids.json"
    ids_path.write_text(json.dumps(ids))
    census_json = Path(__file__).resolve().parents[2] / "examples" / "census" / "census.json"
    done = subprocess.run(
        [node, str(SCRIPT), predictor.path, str(census_json), str(ids_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)
    want = predictor.predict(instances)
    bound = predictor_logits_bound(predictor, instances)
    probabilities = np.asarray(outputs["probabilities"]["data"]).reshape(2, 2)
    logits = np.asarray(outputs["logits"]["data"]).reshape(2, 1)
    assert outputs["probabilities"]["dims"] == [2, 2]
    assert (np.abs(logits - want["logits"]) <= bound + DOUBLE_SLACK).all()
    limit = bound / 4 + DOUBLE_SLACK
    assert (np.abs(probabilities - want["probabilities"]) <= limit).all()
    margin_clear = np.abs(want["logits"][:, 0]) > bound[:, 0]
    got_classes = np.asarray(outputs["classes"]["data"])
    np.testing.assert_array_equal(got_classes[margin_clear], want["classes"][margin_clear, 0])
    print(  # the figures for the note (pytest -s shows them)
        "node:", probabilities[:, 1].tolist(), "python:", want["probabilities"][:, 1].tolist()
    )
