"""The export directory: layout, manifest contents, timestamps and atomicity."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlengine
from mlengine.export import FORMAT_NAME, FORMAT_VERSION, load
from tests import tolerance
from tests.export import helpers as h


def _version_dirs(base: Path) -> list[str]:
    return sorted(name for name in os.listdir(base) if name.isdigit())


def test_layout_is_timestamp_dir_with_manifest_variables_and_assets(
    vocab_file_model: Any,
) -> None:
    export = vocab_file_model.export_dir
    assert re.fullmatch(r"\d{10}", export.name)
    assert abs(int(export.name) - time.time()) < 3600
    assert (export / "saved_model.json").is_file()
    assert (export / "variables" / "variables.safetensors").is_file()
    assert (export / "assets").is_dir()
    assert os.listdir(export.parent) == [export.name]  # no .temp-* left behind


def test_vocabulary_file_is_copied_into_assets(vocab_file_model: Any) -> None:
    export = vocab_file_model.export_dir
    manifest = h.read_manifest(export)
    assert manifest["assets"] == {"education": "assets/education.vocab"}
    asset = export / "assets" / "education.vocab"
    assert asset.read_text().split() == ["Bachelors", "HS-grad", "11th", "Masters"]
    (column,) = [
        c
        for c in manifest["model_spec"]["linear_feature_columns"]
        if c["config"]["key"] == "education"
    ]
    assert column["config"]["vocabulary_file"] == "assets/education.vocab"  # relative, inside


def test_model_loads_after_the_original_vocabulary_file_is_deleted(vocab_file_model: Any) -> None:
    original = Path(vocab_file_model.estimator.model_dir).parent / "education.txt"
    assert not original.exists()  # the fixture deleted it after the export
    predictor = load(vocab_file_model.export_dir)
    rows = vocab_file_model.x.head(50)
    predictions = list(
        vocab_file_model.estimator.predict(
            input_fn=mlengine.estimator.inputs.pandas_input_fn(rows, shuffle=False)
        )
    )
    expected = {key: np.stack([p[key] for p in predictions]) for key in predictions[0]}
    rounding = tolerance.Bound.of_export(vocab_file_model.export_dir).logits(rows)
    tolerance.assert_predictions_close(predictor.predict(rows), expected, rounding)


def test_manifest_describes_the_model(trained: Any) -> None:
    manifest = h.read_manifest(trained.export_dir)
    assert manifest["format"] == FORMAT_NAME == "mlengine-export"
    assert manifest["format_version"] == FORMAT_VERSION == 2
    # A canned export carries its evidence (mlengine.export.evidence) and no other member.
    assert set(manifest["members"]) == {"evidence"}
    assert manifest["estimator"] == "DNNLinearCombinedClassifier"
    assert manifest["mlengine_version"] == mlengine.__version__
    spec = manifest["model_spec"]
    assert spec["dnn_hidden_units"] == [100, 75, 50, 25]
    assert {c["class_name"] for c in spec["linear_feature_columns"]} >= {
        "VocabularyColumn",
        "HashBucketColumn",
        "BucketizedColumn",
        "CrossedColumn",
    }
    assert manifest["head"]["kind"] == "binary"
    assert manifest["head"]["n_classes"] == 2
    assert "label_vocabulary" in manifest and manifest["label_vocabulary"] is None
    assert manifest["global_step"] == 300
    created = manifest["created"]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", created)
    assert created.endswith("+00:00")


def test_manifest_holds_the_last_eval_metrics(trained: Any) -> None:
    metrics = h.read_manifest(trained.export_dir)["metrics"]
    assert {"accuracy", "auc", "loss", "average_loss", "precision", "recall"} <= set(metrics)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["global_step"] == 300
    assert load(trained.export_dir).metrics == metrics


def test_manifest_without_evaluation_has_no_metrics(vocab_file_model: Any) -> None:
    assert h.read_manifest(vocab_file_model.export_dir)["metrics"] == {}


def test_signature_inputs_list_name_dtype_shape_required_default(trained: Any) -> None:
    inputs = {i["name"]: i for i in h.read_manifest(trained.export_dir)["signature"]["inputs"]}
    assert sorted(inputs) == [
        "age", "capital_gain", "capital_loss", "education", "education_num", "hours_per_week",
        "marital_status", "occupation", "relationship", "workclass",
    ]  # fmt: skip
    for numeric in ("age", "capital_gain", "capital_loss", "education_num", "hours_per_week"):
        assert inputs[numeric] == {
            "name": numeric,
            "dtype": "float32",
            "shape": [-1],
            "required": True,
            "default": None,
        }
    for categorical in ("education", "marital_status", "occupation", "relationship", "workclass"):
        assert inputs[categorical]["dtype"] == "string"
        assert inputs[categorical]["required"] is False


def test_signature_lists_the_default_of_a_numeric_column(vocab_file_model: Any) -> None:
    inputs = {
        i["name"]: i for i in h.read_manifest(vocab_file_model.export_dir)["signature"]["inputs"]
    }
    assert inputs["hours_per_week"]["required"] is False
    assert inputs["hours_per_week"]["default"] == 40.0
    assert inputs["age"]["required"] is True
    assert inputs["age"]["default"] is None
    assert inputs["education"]["required"] is False


def test_signature_outputs_of_a_binary_classifier(trained: Any) -> None:
    outputs = {o["name"]: o for o in h.read_manifest(trained.export_dir)["signature"]["outputs"]}
    assert sorted(outputs) == h.BINARY_KEYS
    assert outputs["probabilities"]["shape"] == [-1, 2]
    assert outputs["classes"]["dtype"] == "string"
    assert outputs["class_ids"]["dtype"] == "int64"


def test_signature_defs_of_classifiers_and_regressors(
    trained: Any, head_models: dict[str, Any]
) -> None:
    binary = h.read_manifest(trained.export_dir)["signature_defs"]
    assert {"serving_default", "predict", "classification", "regression"} <= set(binary)
    assert binary["classification"]["outputs"] == {"classes": "classes", "scores": "probabilities"}
    assert binary["regression"]["outputs"] == {"outputs": "logistic"}
    assert binary["serving_default"]["method_name"] == "tensorflow/serving/predict"

    multiclass = h.read_manifest(head_models["multiclass"].export_dir)
    assert {"serving_default", "predict", "classification"} <= set(multiclass["signature_defs"])
    assert multiclass["label_vocabulary"] == ["low", "mid", "high"]
    assert multiclass["head"]["n_classes"] == 3

    regression = h.read_manifest(head_models["regression"].export_dir)["signature_defs"]
    assert {"serving_default", "predict", "regression"} <= set(regression)
    assert "classification" not in regression
    assert regression["regression"]["outputs"] == {"outputs": "predictions"}


def test_variables_hold_every_weight_by_name(trained: Any) -> None:
    from safetensors import safe_open

    manifest = h.read_manifest(trained.export_dir)
    path = trained.export_dir / "variables" / "variables.safetensors"
    with safe_open(str(path), framework="pt") as handle:
        names = set(handle.keys())
    assert names == set(manifest["variables"])
    assert any(name.startswith("linear.") for name in names)
    assert any(name.startswith("dnn.") for name in names)


def test_export_returns_a_str_and_quick_exports_get_distinct_dirs(
    trained: Any, tmp_path: Path
) -> None:
    paths = [trained.estimator.export_saved_model(tmp_path) for _ in range(3)]
    assert all(isinstance(p, str) for p in paths)
    assert len(set(paths)) == 3
    stamps = [int(Path(p).name) for p in paths]
    assert stamps == sorted(stamps)
    assert stamps[-1] - stamps[0] <= 5  # the next free second, no sleeping
    assert sorted(os.listdir(tmp_path)) == sorted(Path(p).name for p in paths)
    for path in paths:
        assert (Path(path) / "saved_model.json").is_file()


def test_failing_export_leaves_neither_version_nor_temp_dir(
    trained: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlengine.export.writer as writer

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(writer, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        trained.estimator.export_saved_model(tmp_path)
    assert os.listdir(tmp_path) == []


def test_export_of_a_column_key_with_path_characters_stays_in_assets(tmp_path: Path) -> None:
    from mlengine import feature_column as fc
    from mlengine.export.writer import export_model
    from mlengine.model import build_model

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\n")
    column = fc.categorical_column_with_vocabulary_file("../../evil/key", str(vocab))
    spec = {
        "estimator": "LinearClassifier",
        "head": {"kind": "binary", "n_classes": 2},
        "linear_feature_columns": [fc.to_config(column)],
    }
    export = Path(
        export_model(tmp_path / "exports", build_model(spec), estimator_name="X", global_step=0)
    )
    assert sorted(os.listdir(tmp_path)) == ["exports", "vocab.txt"]
    assert _version_dirs(tmp_path / "exports") == [export.name]
    (asset,) = (export / "assets").iterdir()
    assert asset.name.endswith(".vocab") and "evil" in asset.name
    manifest = json.loads((export / "saved_model.json").read_text())
    assert manifest["assets"] == {"../../evil/key": f"assets/{asset.name}"}
    predictor = load(export)
    out = predictor.predict({"../../evil/key": ["a", "b", "zzz"]})
    assert out["logits"].shape == (3, 1)


def test_two_vocabulary_files_of_one_key_get_two_assets(tmp_path: Path) -> None:
    """The linear part and the DNN may read one key through different vocabulary files."""
    import torch

    from mlengine import feature_column as fc
    from mlengine.export.writer import export_model
    from mlengine.model import build_model
    from mlengine.model.encode import Encoder

    short, long = tmp_path / "short.txt", tmp_path / "long.txt"
    short.write_text("a\nb\n")
    long.write_text("c\nb\na\nd\n")
    spec = {
        "estimator": "DNNLinearCombinedClassifier",
        "head": {"kind": "binary", "n_classes": 2},
        "linear_feature_columns": [
            fc.to_config(fc.categorical_column_with_vocabulary_file("k", str(short)))
        ],
        "dnn_feature_columns": [
            fc.to_config(
                fc.indicator_column(fc.categorical_column_with_vocabulary_file("k", str(long)))
            )
        ],
        "dnn_hidden_units": [4],
    }
    torch.manual_seed(0)
    model = build_model(spec)
    export = Path(export_model(tmp_path / "exports", model, estimator_name="X", global_step=0))
    assert sorted(p.name for p in (export / "assets").iterdir()) == ["k-2.vocab", "k.vocab"]
    assert (export / "assets" / "k-2.vocab").read_text().split() == ["c", "b", "a", "d"]
    features = {"k": ["a", "b", "c", "d", "e"]}
    with torch.no_grad():
        expected = model.network(Encoder(model, torch.device("cpu")).inputs(features))
    out = load(export).predict(features)
    rounding = tolerance.Bound.of_export(export).logits(features)
    tolerance.assert_close(out["logits"], expected.numpy(), rounding, "logits")
