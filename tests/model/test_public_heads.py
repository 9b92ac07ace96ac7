"""The public heads: tf.estimator's names and arguments, losses worked out by hand, metric keys.

Losses are compared in float64 (the heads compute in the logits' dtype), so the tolerance is
a few float64 ulps of the terms' magnitudes (all below 10 here): 1e-12.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.errors import DataError, InvalidParameterError, NotSupportedError
from mlengine.model.heads import head_from_config
from mlengine.training.head_metrics import metrics_for_head

TOL = 1e-12


def test_the_canned_estimators_heads_are_the_public_ones() -> None:
    head = estimator.binary_classification_head()
    assert type(head) is estimator.BinaryClassHead
    columns = [fc.numeric_column("x")]
    canned = estimator.DNNClassifier(hidden_units=[2], feature_columns=columns)._head  # type: ignore[attr-defined]
    assert type(canned) is type(head) and canned.config() == head.config()


@pytest.mark.parametrize(
    "make",
    [
        lambda: estimator.binary_classification_head(weight_column="w", thresholds=[0.3], name="a"),
        lambda: estimator.multi_class_head(3, label_vocabulary=["x", "y", "z"], name="b"),
        lambda: estimator.regression_head(label_dimension=2, loss_reduction="sum"),
        lambda: estimator.multi_label_head(4, thresholds=[0.2, 0.7]),
        lambda: estimator.poisson_regression_head(compute_full_loss=False),
        lambda: estimator.logistic_regression_head(weight_column="w"),
    ],
)
def test_every_head_round_trips_through_its_config(make: object) -> None:
    head = make()  # type: ignore[operator]
    again = head_from_config(head.config())
    assert type(again) is type(head) and again.config() == head.config()


@pytest.mark.parametrize(
    "make",
    [
        lambda: estimator.binary_classification_head(label_vocabulary=["no", "yes"]),
        lambda: estimator.multi_class_head(3, label_vocabulary=["x", "y", "z"]),
        lambda: estimator.regression_head(label_dimension=2),
        lambda: estimator.multi_label_head(4),
        lambda: estimator.poisson_regression_head(),
        lambda: estimator.logistic_regression_head(),
    ],
)
def test_every_heads_onnx_predictions_are_its_predictions(make: object) -> None:
    """The head's ONNX nodes (portable exports) against its numpy predictions on the same
    float32 logits: both in float64, a few operations each (exp, a division, a log), so a
    few float64 ulps apart (1e-14 relative covers 45 of them); onnxruntime's sigmoid is
    accurate to a few ulps of 1 rather than of its value (it gives 0.0 for sigmoid(-70)), so
    values below 1 may also differ by 4 ulps of 1 (4 * 2^-53) absolutely."""
    import onnxruntime

    from mlengine.feature_column.onnx_graph import GraphInput, OnnxGraph

    head = make()  # type: ignore[operator]
    width = head.logits_dimension
    graph = OnnxGraph()
    logits = graph.input(GraphInput("logits", "float32", [-1, width], "feature"))
    outputs = head.onnx_predictions(graph, logits)
    model = graph.model(
        [(t, f"out/{k}", dtype, shape) for k, (t, dtype, shape) in outputs.items()], "h", ""
    )
    rng = np.random.default_rng(3)
    z = (rng.normal(0, 4, (64, width)) * rng.choice([1, 1e-3, 30], (64, 1))).astype(np.float32)
    z[0] = 0.0  # a tie: class 0, as numpy's argmax and p > 0.5 decide
    session = onnxruntime.InferenceSession(model.SerializeToString())
    got = dict(zip(outputs, session.run([f"out/{k}" for k in outputs], {"logits": z}), strict=True))
    want = head.predictions(z)
    assert sorted(got) == sorted(want) == sorted(head.prediction_keys)
    for key, values in want.items():
        if values.dtype.kind in "iO":
            np.testing.assert_array_equal(got[key], values)
        else:
            assert got[key].shape == values.shape
            np.testing.assert_allclose(got[key], values, rtol=1e-14, atol=4 * 2.0**-53)


def test_poisson_loss_is_tfs_log_poisson_loss_with_stirlings_term() -> None:
    head = estimator.poisson_regression_head()
    z = torch.tensor([[0.5], [1.2], [-0.3]], dtype=torch.float64)
    y = torch.tensor([[0.0], [3.0], [1.0]], dtype=torch.float64)
    # exp(z) - y z, plus y log y - y + 0.5 log(2 pi y) where y > 1 (only the second row)
    expected = [
        math.exp(0.5),
        math.exp(1.2) - 3 * 1.2 + 3 * math.log(3) - 3 + 0.5 * math.log(2 * math.pi * 3),
        math.exp(-0.3) + 0.3,
    ]
    assert head.unreduced_loss(z, y).tolist() == pytest.approx(expected, abs=TOL)
    partial = estimator.poisson_regression_head(compute_full_loss=False)
    assert partial.unreduced_loss(z, y)[1].item() == pytest.approx(math.exp(1.2) - 3.6, abs=TOL)
    out = head.predictions(z)
    assert set(out) == {"logits", "predictions"}
    np.testing.assert_allclose(out["predictions"], np.exp(z.numpy()), rtol=1e-15)
    with pytest.raises(DataError, match="counts >= 0"):
        head.encode_labels([1.0, -2.0])


def test_logistic_regression_loss_predictions_and_label_range() -> None:
    head = estimator.logistic_regression_head()
    z = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    y = torch.tensor([[0.25], [1.0]], dtype=torch.float64)
    # sigmoid cross-entropy: log(1 + e^z) - y z
    expected = [math.log(2.0), math.log(1 + math.exp(2.0)) - 2.0]
    assert head.unreduced_loss(z, y).tolist() == pytest.approx(expected, abs=TOL)
    p = head.predictions(z)["predictions"][:, 0]
    assert p.tolist() == pytest.approx([0.5, 1 / (1 + math.exp(-2.0))], abs=TOL)
    with pytest.raises(DataError, match=r"labels in \[0, 1\]"):
        head.encode_labels([0.5, 1.5])


def test_multi_label_loss_is_the_mean_over_classes_and_labels_come_as_names() -> None:
    head = estimator.multi_label_head(3, label_vocabulary=["a", "b", "c"])
    labels = head.encode_labels([["a", "c"], [], ["b"]])
    assert labels.tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    z = torch.tensor([[1.0, -1.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
    # per class log(1 + e^z) - y z: log(1+e) - 1, log(1+e^-1), log 2; mean of the three
    expected = (math.log(1 + math.e) - 1 + math.log(1 + math.exp(-1)) + math.log(2)) / 3
    assert head.unreduced_loss(z, y).item() == pytest.approx(expected, abs=TOL)
    assert set(head.predictions(z)) == {"logits", "probabilities"}
    with pytest.raises(DataError, match="'d' of example 0 is not in label_vocabulary"):
        head.encode_labels([["d"]])
    with pytest.raises(DataError, match="0 or 1"):
        estimator.multi_label_head(2).encode_labels([[0, 2]])


def test_multi_label_metrics_rank_every_example_and_class() -> None:
    head = estimator.multi_label_head(2, thresholds=[0.5])
    metrics = metrics_for_head(head)
    logits = torch.tensor([[2.0, -1.0], [0.5, 1.0]])
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    metrics.update(logits, labels, None, head.unreduced_loss(logits, labels))
    result = metrics.result()
    assert set(result) == {
        "auc",
        "auc_precision_recall",
        "average_loss",
        "accuracy/positive_threshold_0.5",
        "precision/positive_threshold_0.5",
        "recall/positive_threshold_0.5",
    }
    # scores 2, -1, 0.5, 1 with labels 1, 0, 0, 1: both positives rank above both negatives
    assert result["auc"] == 1.0
    # p > 0.5 for logits 2, 0.5, 1: tp 2, fp 1, fn 0
    assert result["precision/positive_threshold_0.5"] == pytest.approx(2 / 3)
    assert result["recall/positive_threshold_0.5"] == 1.0
    assert result["accuracy/positive_threshold_0.5"] == pytest.approx(3 / 4)


def test_poisson_metrics_average_the_predictions_not_the_logits() -> None:
    head = estimator.poisson_regression_head()
    metrics = metrics_for_head(head)
    z = torch.tensor([[0.0], [math.log(3.0)]])
    metrics.update(z, torch.tensor([[1.0], [2.0]]), None, None)
    assert metrics.result()["prediction/mean"] == pytest.approx(2.0, abs=1e-6)


@pytest.mark.parametrize(
    "call, named",
    [
        (lambda: estimator.binary_classification_head(loss_fn=abs), "loss_fn"),
        (lambda: estimator.regression_head(inverse_link_fn=abs), "inverse_link_fn"),
        (lambda: estimator.multi_label_head(3, classes_for_class_based_metrics=[1]), "classes_for"),
    ],
)
def test_unsupported_arguments_are_named(call: object, named: str) -> None:
    with pytest.raises(NotSupportedError, match=named):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    "call, named",
    [
        (lambda: estimator.binary_classification_head(thresholds=[1.5]), "'thresholds'"),
        (lambda: estimator.multi_label_head(1), "'n_classes'"),
        (lambda: estimator.regression_head(weight_column=3), "'weight_column'"),
        (lambda: estimator.logistic_regression_head(name="a/b"), "'name'"),
    ],
)
def test_bad_arguments_are_named(call: object, named: str) -> None:
    with pytest.raises(InvalidParameterError, match=named):
        call()  # type: ignore[operator]
