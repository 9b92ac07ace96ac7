"""Boosted trees and an ensemble (trees + Wide & Deep) served in every protocol: the answers
are the Predictor's, and the ensemble's probabilities are its members' average."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.errors import ExportFormatError, InvalidParameterError
from mlengine.export import Predictor, load
from mlengine.export.ensemble import export_ensemble
from mlengine.registry import Registry
from mlengine.serving import ServeSettings, create_app
from tests.serving import helpers as h


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from mlengine.data import census

    root = tmp_path_factory.mktemp("trees")
    x, y = census.load("train")
    x, y = x.head(600).reset_index(drop=True), y[:600]
    columns = [
        fc.numeric_column("age"),
        fc.numeric_column("hours_per_week", default_value=40.0),
        fc.categorical_column_with_vocabulary_list("education", h.EDUCATION),
        fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=50),
    ]
    trees = estimator.BoostedTreesClassifier(
        columns,
        n_batches_per_layer=1,
        n_trees=15,
        model_dir=root / "m",
        config=estimator.RunConfig(quiet=True, tf_random_seed=1),
    )
    trees.train(estimator.inputs.pandas_input_fn(x, pd.Series(y), shuffle=False))
    tree_path = Path(trees.export_saved_model(root / "trees"))
    wide_deep = h.train(root / "wd", "binary", steps=30)
    ensemble = Path(export_ensemble(root / "ensemble", [tree_path, wide_deep]))
    regressor = estimator.BoostedTreesRegressor(
        columns,
        n_batches_per_layer=1,
        n_trees=15,
        model_dir=root / "r",
        config=estimator.RunConfig(quiet=True, tf_random_seed=1),
    )
    regressor.train(
        estimator.inputs.pandas_input_fn(x, pd.Series(x["age"] / 10.0 + y), shuffle=False)
    )
    regressor_path = Path(regressor.export_saved_model(root / "regressor"))
    return {"trees": tree_path, "wd": wide_deep, "ens": ensemble, "regressor": regressor_path}


@pytest.fixture(scope="module")
def live(exported: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("trees_registry")
    with Registry(f"sqlite:///{root / 'r.db'}", root / "artifacts") as registry:
        for name in ("trees", "ens", "regressor"):
            registry.create_model(name)
            registry.create_version(name, "v1", str(exported[name]))
        client = h.LiveClient(create_app(registry, ServeSettings()))
        try:
            yield client
        finally:
            client.close()


@pytest.mark.parametrize("model", ["trees", "ens"])
def test_every_protocol_answers_the_predictor(
    live: Any, exported: dict[str, Path], model: str
) -> None:
    predictor = load(exported[model])
    for count in (1, 3):  # the row path, then the vectorised one
        instances = h.instances(count)
        expected = predictor.predict_instances(instances)
        for path in (f"/v1/projects/p/models/{model}:predict", f"/v1/models/{model}:predict"):
            answer = live.post(path, json={"instances": instances})
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"predictions": expected}
        classify = live.post(f"/v1/models/{model}:classify", json={"examples": instances}).json()
        assert [[s for _, s in r] for r in classify["results"]] == [
            e["probabilities"] for e in expected
        ]
        regress = live.post(f"/v1/models/{model}:regress", json={"examples": instances}).json()
        assert regress["results"] == [e["logistic"][0] for e in expected]
        tensors = [
            {
                "name": spec["name"],
                "shape": [count, 1],
                "datatype": "BYTES" if spec["dtype"] == "string" else "FP32",
                "data": [i.get(spec["name"]) for i in instances],
            }
            for spec in predictor.inputs
        ]
        v2 = live.post(f"/v2/models/{model}/infer", json={"inputs": tensors})
        assert v2.status_code == 200, v2.text
        outputs = {t["name"]: t["data"] for t in v2.json()["outputs"]}
        np.testing.assert_allclose(
            outputs["logistic"], [e["logistic"][0] for e in expected], rtol=1e-6
        )


def test_ensemble_averages_its_members_probabilities(exported: dict[str, Path]) -> None:
    instances = h.instances(3)
    members = [load(exported["trees"]), load(exported["wd"])]
    ensemble: Predictor = load(exported["ens"])
    want = np.mean([m.predict(instances)["probabilities"] for m in members], axis=0)
    got = ensemble.predict(instances)
    np.testing.assert_allclose(got["probabilities"], want, rtol=1e-9)
    assert got["class_ids"][:, 0].tolist() == want.argmax(axis=1).tolist()
    # The signature is the members' (their union of inputs).
    assert ensemble.input_names == sorted({n for m in members for n in m.input_names})


def test_members_of_different_tasks_are_refused(exported: dict[str, Path], tmp_path: Path) -> None:
    regression = h.train(tmp_path / "reg", "regression", steps=2)
    with pytest.raises(InvalidParameterError, match="must predict the same thing"):
        export_ensemble(tmp_path / "bad", [exported["trees"], regression])
    with pytest.raises(InvalidParameterError, match="ensembles do not nest"):
        export_ensemble(tmp_path / "bad", [exported["ens"], exported["trees"]])
    with pytest.raises(InvalidParameterError, match="two or more members"):
        export_ensemble(tmp_path / "bad", [exported["trees"]])


def _manifest(export: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((export / "saved_model.json").read_text())
    return loaded


def test_trees_and_ensembles_are_format_2_members(exported: dict[str, Path]) -> None:
    """One list of optional parts: neither kind has a top-level manifest key of its own."""
    trees, ens = _manifest(exported["trees"]), _manifest(exported["ens"])
    # (beside the trees' evaluation evidence, mlengine.export.evidence)
    assert set(trees["members"]) == {"lightgbm", "evidence"} and "lightgbm" not in trees
    assert set(ens["members"]) == {"ensemble"} and "ensemble" not in ens
    entry = ens["members"]["ensemble"]
    assert entry["average"] == "probabilities"
    assert [e["path"] for e in entry["exports"]] == [
        "members/0/saved_model.json",
        "members/1/saved_model.json",
    ]
    for part, source in zip(entry["exports"], (exported["trees"], exported["wd"]), strict=True):
        data = (source / "saved_model.json").read_bytes()
        assert part["bytes"] == len(data)
        assert part["sha256"] == hashlib.sha256(data).hexdigest()


def _ensemble_copy(exported: dict[str, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "ens"
    shutil.copytree(exported["ens"], copy)
    return copy


def test_a_tampered_ensemble_member_is_refused(exported: dict[str, Path], tmp_path: Path) -> None:
    # A member's manifest: the ensemble's digest of it no longer matches.
    copy = _ensemble_copy(exported, tmp_path)
    sub = copy / "members" / "0" / "saved_model.json"
    sub.write_text(sub.read_text().replace('"global_step": 15', '"global_step": 16'))
    with pytest.raises(ExportFormatError, match="member 'ensemble'.*does not match its sha256"):
        load(copy)
    # A member's trees: that member's own digest no longer matches.
    copy = _ensemble_copy(exported, tmp_path / "2")
    text = copy / "members" / "0" / "lightgbm.txt"
    text.write_text(text.read_text().replace("shrinkage=0.1", "shrinkage=0.2"))
    with pytest.raises(ExportFormatError, match="member 'lightgbm'.*does not match its sha256"):
        load(copy)


@pytest.mark.parametrize(
    "path", ["../x/saved_model.json", "members/0/../../saved_model.json", "saved_model.json"]
)
def test_an_ensemble_export_path_outside_members_is_refused(
    exported: dict[str, Path], tmp_path: Path, path: str
) -> None:
    copy = _ensemble_copy(exported, tmp_path)
    manifest = _manifest(copy)
    manifest["members"]["ensemble"]["exports"][0]["path"] = path
    (copy / "saved_model.json").write_text(json.dumps(manifest))
    with pytest.raises(ExportFormatError, match="'exports'\\[0\\] must be an object with 'path'"):
        load(copy)


def treeshap_tolerance(export: Path, magnitude: float) -> float:
    """How far TreeSHAP's sum may be from the trees' raw output, both float64: each tree's
    contributions are its leaves' values times weights of at most ``2 * depth + 2`` roundings
    each, so at most leaves x (2 x depth + 2) roundings per tree, each of at most one ulp of
    the magnitude (Σ|contributions| + |expected value|)."""
    import lightgbm

    booster = lightgbm.Booster(model_file=str(export / "lightgbm.txt"))
    dump = booster.dump_model()
    trees = dump["tree_info"]
    leaves = max(t["num_leaves"] for t in trees)
    depth = leaves  # a tree of L leaves is at most L - 1 deep
    roundings = len(trees) * leaves * (2 * depth + 2)
    return roundings * float(np.finfo(np.float64).eps) * magnitude


@pytest.mark.parametrize(
    "path", ["/v1/projects/p/models/{m}:explain", "/v1/models/{m}/versions/v1:explain"]
)
@pytest.mark.parametrize("model", ["trees", "regressor"])
def test_trees_explain_by_treeshap_adding_up_to_their_raw_output(
    live: Any, exported: dict[str, Path], path: str, model: str
) -> None:
    """ML Engine's and KServe v1's :explain of boosted trees: TreeSHAP over the raw features;
    baseline (the expected value) + attributions = the raw output (logit / prediction)."""
    instances = h.instances(3)
    answer = live.post(path.format(m=model), json={"instances": instances})
    assert answer.status_code == 200, answer.text
    predictor = load(exported[model])
    predicted = predictor.predict(instances)
    raw = predicted["logits"] if "logits" in predicted else predicted["predictions"]
    explanations = answer.json()["explanations"]
    assert len(explanations) == len(instances)
    expected_values = set()
    for row, explanation in enumerate(explanations):
        [by_label] = explanation["attributions_by_label"]
        assert by_label["method"] == "tree_shap" and by_label["approx_error"] == 0.0
        assert sorted(by_label["attributions"]) == sorted(predictor.input_names)
        values = list(by_label["attributions"].values())
        total = by_label["baseline_score"] + sum(values)
        magnitude = sum(map(abs, values)) + abs(by_label["baseline_score"])
        bound = treeshap_tolerance(exported[model], magnitude)
        assert abs(total - by_label["example_score"]) <= bound
        assert abs(by_label["example_score"] - float(raw[row][0])) <= bound
        expected_values.add(by_label["baseline_score"])
        if model == "trees":
            assert by_label["output_name"] == "logits" and by_label["label_index"] == 1
            assert by_label["label_name"] == "1"
        else:
            assert by_label["output_name"] == "predictions" and "label_name" not in by_label
    assert len(expected_values) == 1  # one baseline: the trees' expected value
    # The request's own baseline cannot be set for TreeSHAP: a clear 400.
    refused = live.post(
        path.format(m=model), json={"instances": instances, "baseline": instances[0]}
    )
    assert refused.status_code == 400 and "'baseline'" in refused.json()["error"]


def test_treeshap_sums_a_crosss_contribution_over_its_raw_features(tmp_path: Path) -> None:
    """Attributions are per raw feature: a bucketized column's goes to its source, a cross's
    is split over the raw features it crosses; the totals still add up."""
    from mlengine.data import census

    x, y = census.load("train")
    x, y = x.head(400).reset_index(drop=True), y[:400]
    age = fc.numeric_column("age")
    education = fc.categorical_column_with_vocabulary_list("education", h.EDUCATION)
    columns = [
        fc.bucketized_column(age, [25, 35, 45, 55]),
        fc.numeric_column("hours_per_week", default_value=40.0),
        fc.crossed_column(["education", "occupation"], hash_bucket_size=30),
        education,
    ]
    trees = estimator.BoostedTreesClassifier(
        columns,
        n_batches_per_layer=1,
        n_trees=5,
        model_dir=tmp_path / "m",
        config=estimator.RunConfig(quiet=True, tf_random_seed=1),
    )
    trees.train(estimator.inputs.pandas_input_fn(x, pd.Series(y), shuffle=False))
    export = Path(trees.export_saved_model(tmp_path / "e"))
    predictor = load(export)
    assert predictor.explains_itself
    instances = h.instances(4)
    found = predictor.attributions(instances)
    assert found.method == "tree_shap"
    assert sorted(found.names) == ["age", "education", "hours_per_week", "occupation"]
    own = list(
        trees.experimental_predict_with_explanations(
            estimator.inputs.pandas_input_fn(pd.DataFrame(instances), shuffle=False)
        )
    )
    where = {name: j for j, name in enumerate(found.names)}
    for i, row in enumerate(own):
        dfc = row["dfc"]
        cross = dfc["education_X_occupation"]
        bound = treeshap_tolerance(export, sum(map(abs, dfc.values())) + abs(row["bias"]))
        want = {
            "age": dfc["age_bucketized"],
            "hours_per_week": dfc["hours_per_week"],
            "education": dfc["education"] + cross / 2,
            "occupation": cross / 2,
        }
        for name, value in want.items():
            assert abs(found.values[i, 0, where[name]] - value) <= bound, name
        assert abs(found.expected[i, 0] - row["bias"]) <= bound
        assert abs(found.expected[i, 0] + found.values[i, 0].sum() - found.outputs[i, 0]) <= bound


def test_treeshap_of_a_multiclass_model_explains_the_predicted_class(tmp_path: Path) -> None:
    from mlengine.data import census

    x, _ = census.load("train")
    x = x.head(400).reset_index(drop=True)
    label = pd.Series(np.digitize(x["age"], [30, 45]))  # three classes
    trees = estimator.BoostedTreesClassifier(
        [fc.numeric_column("age"), fc.numeric_column("hours_per_week", default_value=40.0)],
        n_batches_per_layer=1,
        n_classes=3,
        n_trees=5,
        model_dir=tmp_path / "m",
        config=estimator.RunConfig(quiet=True, tf_random_seed=1),
    )
    trees.train(estimator.inputs.pandas_input_fn(x, label, shuffle=False))
    export = Path(trees.export_saved_model(tmp_path / "e"))
    with Registry(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "artifacts") as registry:
        registry.create_model("multi")
        registry.create_version("multi", "v1", str(export))
        client = h.LiveClient(create_app(registry, ServeSettings()))
        try:
            instances = h.instances(3)
            answer = client.post("/v1/models/multi:explain", json={"instances": instances})
        finally:
            client.close()
    assert answer.status_code == 200, answer.text
    predicted = load(export).predict(instances)
    for row, explanation in enumerate(answer.json()["explanations"]):
        [by_label] = explanation["attributions_by_label"]
        label_index = int(predicted["class_ids"][row][0])
        assert by_label["label_index"] == label_index and by_label["method"] == "tree_shap"
        values = list(by_label["attributions"].values())
        bound = treeshap_tolerance(export, sum(map(abs, values)) + abs(by_label["baseline_score"]))
        assert abs(by_label["example_score"] - predicted["logits"][row][label_index]) <= bound
        assert abs(by_label["baseline_score"] + sum(values) - by_label["example_score"]) <= bound
