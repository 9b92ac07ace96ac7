"""Tests of mlengine.training.metrics: exact AUCs, tf.estimator's metric keys, merging."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mlengine.errors import InvalidParameterError
from mlengine.training.metrics import (
    BinaryMetrics,
    MulticlassMetrics,
    RegressionMetrics,
    exact_auc,
    exact_pr_auc,
    merge_states,
)

BINARY_KEYS = {
    "accuracy",
    "accuracy_baseline",
    "auc",
    "auc_precision_recall",
    "average_loss",
    "label/mean",
    "precision",
    "recall",
    "prediction/mean",
}


def brute_force_auc(scores: list[float], labels: list[int], weights: list[float]) -> float:
    """Weighted pairwise count: P(positive scores above negative), ties count one half."""
    num = den = 0.0
    for s_i, y_i, w_i in zip(scores, labels, weights, strict=True):
        for s_j, y_j, w_j in zip(scores, labels, weights, strict=True):
            if y_i == 1 and y_j == 0:
                den += w_i * w_j
                num += w_i * w_j * (1.0 if s_i > s_j else 0.5 if s_i == s_j else 0.0)
    return num / den if den else 0.0


def integrated_pr_auc(scores: list[float], labels: list[int], weights: list[float]) -> float:
    """Numerical integral of the interpolated PR curve (Davis & Goadrich), midpoint rule.

    Between consecutive distinct thresholds tp and fp grow linearly together; precision along
    the segment is tp(x) / x with x = tp + fp, recall is tp / P.
    """
    s, y, w = np.asarray(scores), np.asarray(labels), np.asarray(weights, dtype=float)
    points = [(0.0, 0.0)]
    for threshold in sorted(set(scores), reverse=True):
        mask = s >= threshold
        points.append((float(np.sum(w * mask * y)), float(np.sum(w * mask * (1 - y)))))
    total_pos = points[-1][0]
    if total_pos == 0:
        return 0.0
    area = 0.0
    for (tp0, fp0), (tp1, fp1) in zip(points[:-1], points[1:], strict=True):
        if tp1 == tp0:
            continue
        t = (np.arange(4000) + 0.5) / 4000
        tp = tp0 + t * (tp1 - tp0)
        x = tp + fp0 + t * (fp1 - fp0)
        area += float(np.sum(tp / x)) / 4000 * (tp1 - tp0) / total_pos
    return area


def tf_200_threshold_aucs(probs: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """TensorFlow's AUC metric (200 thresholds, interpolation), re-implemented in numpy."""
    n = 200
    eps = 1e-7
    thresholds = np.array([-eps] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1 + eps])
    above = probs[None, :] > thresholds[:, None]
    tp = np.sum(above & (labels == 1), axis=1).astype(float)
    fp = np.sum(above & (labels == 0), axis=1).astype(float)
    fn = np.sum(~above & (labels == 1), axis=1).astype(float)
    tn = np.sum(~above & (labels == 0), axis=1).astype(float)
    tpr, fpr = tp / (tp + fn), fp / (fp + tn)
    roc = float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))
    dtp = tp[:-1] - tp[1:]
    p = tp + fp
    dp = p[:-1] - p[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(dp > 0, dtp / np.where(dp > 0, dp, 1), 0.0)
        intercept = tp[1:] - slope * p[1:]
        ratio = np.where((p[:-1] > 0) & (p[1:] > 0), p[:-1] / np.where(p[1:] > 0, p[1:], 1), 1.0)
        inc = slope * (dtp + intercept * np.log(ratio)) / (tp[1:] + fn[1:])
    return roc, float(np.sum(inc))


# ---------------------------------------------------------------- exact AUC, by hand


def test_exact_auc_hand_examples() -> None:
    # positives 0.9, 0.7; negatives 0.8, 0.1: pairs won 0.9>0.8, 0.9>0.1, 0.7>0.1, lost 0.7<0.8
    assert exact_auc([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]) == pytest.approx(0.75)
    assert exact_auc([0.5, 0.5], [1, 0]) == pytest.approx(0.5)  # a tie counts one half
    assert exact_auc([3.0, 2.0, 1.0], [1, 1, 0]) == pytest.approx(1.0)
    assert exact_auc([1.0, 2.0, 3.0], [1, 1, 0]) == pytest.approx(0.0)
    # a positive tied with one of two negatives, above the other: (0.5 + 1) / 2
    assert exact_auc([0.4, 0.4, 0.1], [1, 0, 0]) == pytest.approx(0.75)
    # weights: the won pair (0.9 > 0.8) has weight 1*1, the lost pair (0.7 < 0.8) 3*1
    assert exact_auc([0.9, 0.8, 0.7], [1, 0, 1], [1.0, 1.0, 3.0]) == pytest.approx(0.25)


def test_exact_auc_undefined_is_zero_and_inputs_accepted() -> None:
    assert exact_auc([0.1, 0.2], [1, 1]) == 0.0
    assert exact_auc([0.1, 0.2], [0, 0]) == 0.0
    assert exact_auc([], []) == 0.0
    assert exact_auc(torch.tensor([0.2, 0.1]), np.array([1, 0])) == 1.0
    with pytest.raises(InvalidParameterError, match="one length"):
        exact_auc([0.1, 0.2], [1])


def test_exact_pr_auc_hand_examples() -> None:
    # points (tp, fp): (0,0) (1,0) (1,1) (2,1) (2,2); P = 2.
    # segment 1: precision 1 over recall 0 -> 0.5: 0.5.
    # segment 3: tp = x - 1 for x = tp + fp in [2, 3]; integral of (1 - 1/x) dx / 2
    #            = (1 - ln 1.5) / 2.
    expected = 0.5 + (1 - math.log(1.5)) / 2  # 0.79727, average precision would be 0.8333
    assert exact_pr_auc([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]) == pytest.approx(expected)
    # all scores tied: one straight segment, precision = prevalence everywhere
    assert exact_pr_auc([0.5] * 4, [1, 0, 0, 0]) == pytest.approx(0.25)
    assert exact_pr_auc([3.0, 2.0, 1.0], [1, 1, 0]) == pytest.approx(1.0)
    assert exact_pr_auc([1.0, 2.0], [0, 0]) == 0.0


# ---------------------------------------------------------------- exact AUC, properties

scores_with_ties = st.lists(st.integers(0, 6).map(lambda v: v / 2), min_size=1, max_size=40)


@given(data=st.data(), scores=scores_with_ties)
def test_exact_auc_equals_pairwise_count(data: st.DataObject, scores: list[float]) -> None:
    n = len(scores)
    labels = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    weights = data.draw(
        st.lists(st.floats(0.0, 5.0, allow_subnormal=False), min_size=n, max_size=n)
    )
    expected = brute_force_auc(scores, labels, weights)
    assert exact_auc(scores, labels, weights) == pytest.approx(expected, abs=1e-9)
    unweighted = brute_force_auc(scores, labels, [1.0] * n)
    assert exact_auc(scores, labels) == pytest.approx(unweighted, abs=1e-12)


@given(data=st.data(), scores=scores_with_ties)
def test_integer_weights_equal_repeated_examples(data: st.DataObject, scores: list[float]) -> None:
    n = len(scores)
    labels = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    counts = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    rep_scores = [s for s, c in zip(scores, counts, strict=True) for _ in range(c)]
    rep_labels = [y for y, c in zip(labels, counts, strict=True) for _ in range(c)]
    for fn in (exact_auc, exact_pr_auc):
        weighted = fn(scores, labels, [float(c) for c in counts])
        assert weighted == pytest.approx(fn(rep_scores, rep_labels), abs=1e-9)


@given(data=st.data(), scores=scores_with_ties)
def test_exact_pr_auc_equals_integrated_curve(data: st.DataObject, scores: list[float]) -> None:
    n = len(scores)
    labels = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    weights = data.draw(st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=n, max_size=n))
    expected = integrated_pr_auc(scores, labels, weights)
    assert exact_pr_auc(scores, labels, weights) == pytest.approx(expected, abs=1e-6)


def test_exact_aucs_agree_with_tensorflows_200_thresholds() -> None:
    rng = np.random.default_rng(7)
    labels = (rng.random(20_000) < 0.3).astype(int)
    logits = rng.normal(size=labels.size) + 1.5 * labels
    probs = 1 / (1 + np.exp(-logits))
    tf_roc, tf_pr = tf_200_threshold_aucs(probs, labels)
    assert exact_auc(logits, labels) == pytest.approx(tf_roc, abs=2e-3)
    assert exact_pr_auc(logits, labels) == pytest.approx(tf_pr, abs=2e-3)


def test_exact_aucs_equal_tensorflows_when_scores_fall_between_its_thresholds() -> None:
    # Each distinct score sits alone between two of TF's thresholds, so TF's 200-point curve
    # has exactly the points of the exact curve (plus repeats): the areas must be equal.
    rng = np.random.default_rng(11)
    gaps = np.sort(rng.choice(198, size=25, replace=False))
    levels = (gaps + 0.5) / 199
    probs = rng.choice(levels, size=400)  # many ties
    labels = (rng.random(400) < probs).astype(int)
    tf_roc, tf_pr = tf_200_threshold_aucs(probs, labels)
    assert exact_auc(probs, labels) == pytest.approx(tf_roc, abs=1e-12)
    assert exact_pr_auc(probs, labels) == pytest.approx(tf_pr, abs=1e-12)
    # average precision (step-wise) is a different number on tied scores
    order = np.argsort(-probs, kind="stable")
    y = labels[order]
    ends = np.r_[probs[order][1:] != probs[order][:-1], True]
    tp, seen = np.cumsum(y)[ends], np.arange(1, 401)[ends]
    average_precision = float(np.sum(np.diff(np.r_[0, tp]) / tp[-1] * tp / seen))
    assert abs(average_precision - tf_pr) > 1e-3


# ---------------------------------------------------------------- BinaryMetrics


def test_binary_metrics_by_hand() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0])
    labels = torch.tensor([1.0, 0.0, 0.0, 1.0])
    metrics = BinaryMetrics()
    metrics.update(logits, labels)
    result = metrics.result()
    assert set(result) == BINARY_KEYS
    assert all(isinstance(v, float) for v in result.values())
    # predicted positive: 2.0 and 0.5; correct: 2.0 (tp) and -1.0 (tn)
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["precision"] == pytest.approx(0.5)  # tp 1, fp 1
    assert result["recall"] == pytest.approx(0.5)  # tp 1, fn 1 (-3.0)
    assert result["label/mean"] == pytest.approx(0.5)
    assert result["accuracy_baseline"] == pytest.approx(0.5)
    p = torch.sigmoid(logits.double())
    assert result["prediction/mean"] == pytest.approx(float(p.mean()))
    bce = -(labels * torch.log(p) + (1 - labels) * torch.log(1 - p))
    assert result["average_loss"] == pytest.approx(float(bce.mean()))
    assert result["auc"] == pytest.approx(0.5)  # positive 2.0 wins both, -3.0 loses both


def test_binary_metrics_weighted() -> None:
    logits = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]])  # [n, 1] is accepted
    labels = torch.tensor([[1.0], [0.0], [0.0], [1.0]])
    weights = torch.tensor([1.0, 2.0, 3.0, 0.0])
    losses = torch.tensor([0.1, 0.2, 0.3, 100.0])
    metrics = BinaryMetrics()
    metrics.update(logits, labels, weights, losses=losses)
    result = metrics.result()
    assert result["accuracy"] == pytest.approx(3.0 / 6.0)  # correct: weights 1 + 2
    assert result["precision"] == pytest.approx(1.0 / 4.0)  # tp weight 1, fp weight 3
    assert result["recall"] == pytest.approx(1.0)  # the missed positive has weight 0
    assert result["label/mean"] == pytest.approx(1.0 / 6.0)
    assert result["accuracy_baseline"] == pytest.approx(5.0 / 6.0)
    assert result["average_loss"] == pytest.approx((0.1 + 0.4 + 0.9) / 6.0)
    assert result["auc"] == pytest.approx(1.0)  # the only weighted positive is on top
    expected_mean = float((torch.sigmoid(logits.double()).flatten() * weights).sum() / 6)
    assert result["prediction/mean"] == pytest.approx(expected_mean)


def test_binary_metrics_batches_and_merged_states_equal_one_pass() -> None:
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(300, generator=gen).round(decimals=1)  # rounded: many ties
    labels = (torch.rand(300, generator=gen) < 0.4).float()
    weights = torch.rand(300, generator=gen)
    whole = BinaryMetrics()
    whole.update(logits, labels, weights)
    batched = BinaryMetrics()
    parts = [BinaryMetrics(), BinaryMetrics(), BinaryMetrics()]
    for i, start in enumerate(range(0, 300, 50)):
        sl = slice(start, start + 50)
        batched.update(logits[sl], labels[sl], weights[sl])
        parts[i % 3].update(logits[sl], labels[sl], weights[sl])
    expected = whole.result()
    assert batched.result() == pytest.approx(expected, abs=1e-12)
    merged = merge_states([part.state() for part in parts])
    assert BinaryMetrics.result_from_state(merged) == pytest.approx(expected, abs=1e-12)
    assert expected["auc"] == pytest.approx(
        exact_auc(logits, labels, weights), abs=1e-6
    )  # float32 weights in the record


def test_state_layout_for_distributed_reduction() -> None:
    metrics = BinaryMetrics()
    metrics.update(torch.tensor([1.0, -1.0]), torch.tensor([1.0, 0.0]))
    state = metrics.state()
    sums = {k for k, v in state.items() if v.dim() == 0}
    records = {k for k, v in state.items() if v.dim() == 1}
    assert sums == set(BinaryMetrics.SUM_KEYS)
    assert records == {"scores", "labels", "weights"}
    assert all(state[k].dtype == torch.float64 for k in sums)
    assert all(state[k].shape == (2,) for k in records)
    with pytest.raises(InvalidParameterError, match="same keys"):
        merge_states([state, MulticlassMetrics(3).state()])
    with pytest.raises(InvalidParameterError, match="at least one"):
        merge_states([])


def test_binary_metrics_degenerate_cases_give_zero_like_tensorflow() -> None:
    empty = BinaryMetrics().result()
    assert set(empty) == BINARY_KEYS
    assert empty["accuracy"] == 0.0 and empty["auc"] == 0.0 and empty["precision"] == 0.0
    metrics = BinaryMetrics()
    metrics.update(torch.tensor([-1.0, -2.0]), torch.tensor([0.0, 0.0]))
    result = metrics.result()
    assert result["precision"] == 0.0  # nothing predicted positive
    assert result["recall"] == 0.0  # no positives
    assert result["auc"] == 0.0
    assert result["accuracy"] == 1.0
    assert result["accuracy_baseline"] == 1.0


def test_binary_metrics_reject_bad_shapes() -> None:
    metrics = BinaryMetrics()
    with pytest.raises(InvalidParameterError, match="'logits'"):
        metrics.update(torch.zeros(4, 2), torch.zeros(4))
    with pytest.raises(InvalidParameterError, match="'labels'"):
        metrics.update(torch.zeros(4), torch.zeros(3))
    with pytest.raises(InvalidParameterError, match="'weights'"):
        metrics.update(torch.zeros(4), torch.zeros(4), torch.ones(5))
    with pytest.raises(InvalidParameterError, match="'losses'"):
        metrics.update(torch.zeros(4), torch.zeros(4), losses=torch.tensor(1.0))


# ---------------------------------------------------------------- multiclass and regression


def test_multiclass_metrics() -> None:
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 0, 2])
    weights = torch.tensor([1.0, 1.0, 2.0, 4.0])
    metrics = MulticlassMetrics(n_classes=3)
    metrics.update(logits, labels, weights)
    result = metrics.result()
    assert set(result) == {"accuracy", "average_loss"}
    assert result["accuracy"] == pytest.approx(2.0 / 8.0)
    ce = torch.nn.functional.cross_entropy(logits.double(), labels, reduction="none")
    assert result["average_loss"] == pytest.approx(float((ce * weights).sum() / 8.0))
    unweighted = MulticlassMetrics(3)
    unweighted.update(logits, labels[:, None])
    assert unweighted.result()["accuracy"] == pytest.approx(0.5)
    with pytest.raises(InvalidParameterError, match="n_classes"):
        MulticlassMetrics(1)
    with pytest.raises(InvalidParameterError, match=r"\[n, 3\]"):
        metrics.update(torch.zeros(2, 4), torch.zeros(2))


def test_regression_metrics_broadcast_weights_over_label_dimension() -> None:
    predictions = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    labels = torch.tensor([[1.0, 4.0], [2.0, 5.0]])
    weights = torch.tensor([1.0, 3.0])
    metrics = RegressionMetrics(label_dimension=2)
    metrics.update(predictions, labels, weights)
    result = metrics.result()
    assert set(result) == {"average_loss", "label/mean", "prediction/mean"}
    # squared errors [[0, 4], [1, 0]]; weights broadcast [[1, 1], [3, 3]]; total weight 8
    assert result["average_loss"] == pytest.approx((4.0 + 3.0) / 8.0)
    assert result["label/mean"] == pytest.approx((1 + 4 + 3 * (2 + 5)) / 8.0)
    assert result["prediction/mean"] == pytest.approx((1 + 2 + 3 * (3 + 5)) / 8.0)
    one = RegressionMetrics()
    one.update(torch.tensor([1.0, 2.0]), torch.tensor([[2.0], [2.0]]))
    assert one.result()["average_loss"] == pytest.approx(0.5)
    with pytest.raises(InvalidParameterError, match="label_dimension"):
        RegressionMetrics(0)
    with pytest.raises(InvalidParameterError, match=r"\[n, 2\]"):
        metrics.update(torch.zeros(3), torch.zeros(3))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_binary_metrics_on_cuda_do_not_sync_in_update() -> None:
    gen = torch.Generator().manual_seed(5)
    logits = torch.randn(1000, generator=gen)
    labels = (torch.rand(1000, generator=gen) < 0.5).float()
    weights = torch.rand(1000, generator=gen)
    on_cpu = BinaryMetrics()
    on_cpu.update(logits, labels, weights)
    on_gpu = BinaryMetrics()
    cuda = [t.cuda() for t in (logits, labels, weights)]
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for start in range(0, 1000, 100):
            on_gpu.update(*(t[start : start + 100] for t in cuda))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert on_gpu.state()["weight"].device.type == "cuda"
    assert on_gpu.result() == pytest.approx(on_cpu.result(), abs=1e-9)
