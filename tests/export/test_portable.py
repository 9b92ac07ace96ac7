"""Portable exports of canned models: ``export_saved_model(..., export_onnx=True)``.

The graph (``model.onnx``, raw features in) runs in onnxruntime here and must give the
Predictor's outputs: logits within the bound of float32 rounding derived from the weights and
activations (:func:`mlengine.export.portable.logits_error_bound`), probabilities within a
quarter of it (the sigmoid's slope is at most 1/4; softmax moves a probability by at most
twice the largest logit change), classes equal wherever the logits are further than the
bound from a tie. Hash buckets and crosses come in as id inputs computed by mlengine
(``Predictor.onnx_inputs``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.data import census
from mlengine.errors import ExportFormatError, NotSupportedError
from mlengine.export import Predictor, load
from mlengine.export.onnx_runtime import check_graph
from mlengine.export.portable import predictor_logits_bound
from mlengine.feature_column.columns.vocabulary import VocabularyColumn

DOUBLE_SLACK = 1e-12  # the head's float64 arithmetic, in two runtimes


def run_graph(predictor: Predictor, instances: Any) -> dict[str, np.ndarray]:
    """onnxruntime on the export's model.onnx, fed by Predictor.onnx_inputs."""
    entry = predictor.manifest["members"]["onnx"]
    data = (Path(predictor.path) / entry["path"]).read_bytes()
    check_graph(data, "model.onnx")  # standard operator sets only, every tensor inline
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    names = [o["name"] for o in entry["outputs"]]
    return dict(zip(names, session.run(names, predictor.onnx_inputs(instances)), strict=True))


def assert_matches_predictor(predictor: Predictor, instances: Any) -> dict[str, np.ndarray]:
    got = run_graph(predictor, instances)
    want = predictor.predict(instances)
    bound = predictor_logits_bound(predictor, instances)
    assert sorted(got) == sorted(want)
    logits_key = "logits" if "logits" in want else "predictions"
    assert (np.abs(got[logits_key] - want[logits_key]) <= bound + DOUBLE_SLACK).all()
    if "probabilities" in want:
        # binary: |d sigmoid| <= |dz| / 4; softmax: |dp_i| <= 2 max_j |dz_j|
        slope = 0.25 if want["probabilities"].shape[1] == 2 else 2.0
        limit = slope * bound.max(axis=1, keepdims=True) + DOUBLE_SLACK
        assert (np.abs(got["probabilities"] - want["probabilities"]) <= limit).all()
    if "class_ids" in want:
        logits = want["logits"]
        top2 = np.sort(logits, axis=1)[:, -2:] if logits.shape[1] > 1 else None
        margin = np.abs(logits[:, 0]) if top2 is None else top2[:, 1] - top2[:, 0]
        clear = margin > 2 * bound.max(axis=1)
        assert clear.mean() > 0.9  # the comparison below covers most rows
        np.testing.assert_array_equal(got["class_ids"][clear], want["class_ids"][clear])
        np.testing.assert_array_equal(got["classes"][clear], want["classes"][clear])
    return got


@pytest.fixture(scope="module")
def portable(trained: Any, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """The tutorial's Wide & Deep exported with its portable graph."""
    base = tmp_path_factory.mktemp("portable")
    return load(trained.estimator.export_saved_model(str(base), export_onnx=True))


def test_census_graph_lists_its_inputs_and_needs_ids_only_for_hashes(
    portable: Predictor, export_dir: Path
) -> None:
    entry = portable.manifest["members"]["onnx"]
    assert entry["takes"] == "raw" and entry["path"] == "model.onnx"
    roles = {spec["name"]: spec["role"] for spec in entry["inputs"]}
    # The hash bucket and the two crosses: mlengine's stable hash, fed as ids.
    assert sorted(k for k, role in roles.items() if role == "ids") == [
        "ids/age_bucketized_X_education_X_occupation",
        "ids/education_X_occupation",
        "ids/occupation",
    ]
    # Every other column reads its raw feature: vocabularies, numbers, the bucketized age.
    assert sorted(k for k, role in roles.items() if role == "feature") == [
        "age",
        "capital_gain",
        "capital_loss",
        "education",
        "education_num",
        "hours_per_week",
        "marital_status",
        "relationship",
        "workclass",
    ]
    assert [o["name"] for o in entry["outputs"]] == [
        "class_ids",
        "classes",
        "logistic",
        "logits",
        "probabilities",
    ]
    # The portable graph changes nothing else: the same predictions as the plain export.
    plain = load(export_dir)
    assert "onnx" not in plain.manifest["members"]
    x, _ = census.load("test")
    rows = x.head(100)
    for key, values in plain.predict(rows).items():
        np.testing.assert_array_equal(portable.predict(rows)[key], values)


def test_census_graph_matches_the_predictor_on_test_rows(portable: Predictor) -> None:
    x, _ = census.load("test")
    assert_matches_predictor(portable, x.head(500))


def test_census_graph_takes_the_raw_strings_with_their_spaces(
    portable: Predictor, instances: list[dict[str, Any]]
) -> None:
    """The talk's instances: fed with their leading spaces, the graph strips them itself."""
    feed = portable.onnx_inputs(instances)
    for name in ("education", "marital_status", "relationship", "workclass"):
        feed[name] = np.asarray([instance[name] for instance in instances], dtype=object)
        assert feed[name][0].startswith(" ")
    entry = portable.manifest["members"]["onnx"]
    data = (Path(portable.path) / entry["path"]).read_bytes()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    raw = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed), strict=True))
    stripped = run_graph(portable, instances)
    for key, values in stripped.items():
        np.testing.assert_array_equal(raw[key], values)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_each_head_matches_the_predictor(
    kind: str, head_models: dict[str, Any], tmp_path: Path
) -> None:
    trained = head_models[kind]
    predictor = load(trained.estimator.export_saved_model(str(tmp_path), export_onnx=True))
    got = assert_matches_predictor(predictor, trained.x)
    if kind == "multiclass":  # the label vocabulary's names, from the graph
        assert set(got["classes"].ravel()) <= {"low", "mid", "high"}


@pytest.mark.parametrize(
    ("activation", "batch_norm"), [("elu", True), ("gelu", False)], ids=["elu-bn", "gelu"]
)
def test_dnn_activations_batch_norm_max_norm_and_normalisers(
    activation: str, batch_norm: bool, tmp_path: Path
) -> None:
    """numpy's forward is the Predictor's for elu; torch's for gelu (numpy has no erf)."""
    x, y = census.load("train")
    x, y = x.head(400).reset_index(drop=True), y[:400]
    occupation = fc.categorical_column_with_hash_bucket("occupation", 50)
    education = fc.categorical_column_with_vocabulary_list(
        "education", ["Bachelors", "HS-grad", "11th", "Masters"], num_oov_buckets=1
    )
    columns = [
        fc.numeric_column("age", normalizer_fn=fc.ZScore(38.6, 13.6)),
        fc.numeric_column("capital_gain", normalizer_fn=fc.Log1p()),
        fc.piecewise_linear_column(fc.numeric_column("hours_per_week"), [0, 30, 40, 50, 99]),
        fc.embedding_column(occupation, 4, max_norm=0.5),
        fc.embedding_column(education, 3, combiner="sqrtn"),
    ]
    model = estimator.DNNClassifier(
        hidden_units=[16, 8],
        feature_columns=columns,
        activation_fn=activation,
        batch_norm=batch_norm,
        model_dir=str(tmp_path / "model"),
        config=estimator.RunConfig(tf_random_seed=1, quiet=True),
    )
    model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=50, shuffle=False), steps=8)
    predictor = load(model.export_saved_model(str(tmp_path / "exports"), export_onnx=True))
    assert_matches_predictor(predictor, x)


def test_the_check_before_writing_catches_a_wrong_graph(
    trained: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column expression that is off by one id makes the export fail, naming the output."""
    original = VocabularyColumn.onnx_ids

    def shifted(self: VocabularyColumn, graph: Any, ids_of: Any) -> Any:
        ids = original(self, graph, ids_of)
        if self.key != "relationship" or ids is None:
            return ids
        one = graph.const(1, "one", np.int64)
        bumped = graph.op("Mod", graph.op("Add", ids.ids, one), graph.const(self.num_buckets))
        return type(ids)(str(bumped), ids.weights, ids.slots)

    monkeypatch.setattr(VocabularyColumn, "onnx_ids", shifted)
    with pytest.raises(NotSupportedError, match="portable ONNX graph's logits differ"):
        trained.estimator.export_saved_model(str(tmp_path), export_onnx=True)
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_baseline_has_no_graph_and_a_plain_export_no_inputs(
    tmp_path: Path, export_dir: Path, instances: list[dict[str, Any]]
) -> None:
    model = estimator.BaselineClassifier(
        model_dir=str(tmp_path / "model"), config=estimator.RunConfig(quiet=True)
    )
    model.train(
        estimator.inputs.numpy_input_fn(
            {"x": np.zeros(4)}, np.asarray([0, 1, 1, 0]), shuffle=False
        ),
        steps=1,
    )
    with pytest.raises(NotSupportedError, match="Baseline"):
        model.export_saved_model(str(tmp_path / "exports"), export_onnx=True)
    with pytest.raises(ExportFormatError, match="export_onnx=True"):
        load(export_dir).onnx_inputs(instances)


def test_manifest_entry_is_json_with_descriptions(portable: Predictor) -> None:
    manifest = json.loads((Path(portable.path) / "saved_model.json").read_text())
    for spec in manifest["members"]["onnx"]["inputs"]:
        assert spec["description"]
        if spec["role"] == "ids":
            assert "mlengine" in spec["description"] and spec["column"]


def test_the_census_programs_export_onnx_flag(tmp_path: Path) -> None:
    """``examples/census/wide_deep.py --export-onnx`` (one epoch of the tutorial's DNN)."""
    from tests.helpers import census_example

    summary = census_example().main(
        [
            "--model-type=deep",
            "--train-epochs=1",
            "--epochs-between-evals=1",
            "--batch-size=1024",
            f"--model-dir={tmp_path / 'model'}",
            f"--export-dir={tmp_path / 'exports'}",
            "--export-onnx",
            "--quiet",
        ]
    )
    predictor = load(summary["export"])
    assert predictor.manifest["members"]["onnx"]["takes"] == "raw"
    x, _ = census.load("test")
    assert_matches_predictor(predictor, x.head(200))
