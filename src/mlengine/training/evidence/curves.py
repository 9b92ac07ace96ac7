"""The curves of one evaluation: a binary head's ROC, precision-recall, calibration and
confusion matrix, a regressor's residuals by decile, and how every stored series is kept small
(six significant digits, at most :data:`~mlengine.export.evidence.MAX_POINTS` points)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mlengine.export.evidence import CALIBRATION_BINS, DECILES, MAX_POINTS, MAX_TEXT
from mlengine.training.metrics import curve_points

#: The threshold of a binary head's confusion matrix: its ``class_ids`` (logit > 0).
BINARY_THRESHOLD = 0.5


def round6(value: float) -> float:
    """Six significant digits: what a chart needs, at a third of the JSON."""
    return float(f"{value:.6g}")


def rounded(values: Iterable[float]) -> list[float]:
    return [round6(float(v)) for v in values]


def downsample(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``limit`` of ``n`` points, evenly spread, both ends kept."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def binary_curves(
    logits: Tensor, positive: Tensor, weights: Tensor, labels: Sequence[str]
) -> dict[str, Any]:
    """ROC, precision-recall, calibration and the confusion matrix of a binary head.

    The ROC and PR points are the exact curve behind ``auc`` and ``auc_precision_recall``
    (every distinct score), downsampled; the thresholds are probabilities.
    """
    z = logits.detach().reshape(-1).to("cpu", torch.float64)
    pos = positive.detach().reshape(-1).to("cpu").bool()
    w = weights.detach().reshape(-1).to("cpu", torch.float64)
    if z.numel() == 0:
        return {}
    tp, fp, scores = curve_points(z, pos, w)
    n_pos, n_neg = float(tp[-1]), float(fp[-1])
    p_at = torch.sigmoid(scores)
    # The curve starts at (0, 0) above every score: threshold 1.
    thresholds = torch.cat([torch.ones(1, dtype=torch.float64), p_at]).numpy()
    tp_np, fp_np = tp.numpy(), fp.numpy()
    keep = downsample(len(tp_np))
    tpr = tp_np / n_pos if n_pos > 0 else np.zeros_like(tp_np)
    fpr = fp_np / n_neg if n_neg > 0 else np.zeros_like(fp_np)
    auc = float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1])) / 2)
    curves: dict[str, Any] = {
        "roc": {
            "fpr": rounded(fpr[keep]),
            "tpr": rounded(tpr[keep]),
            "thresholds": rounded(thresholds[keep]),
            "auc": round6(auc),
        }
    }
    # Precision is undefined at the origin (nothing predicted positive): the curve starts at
    # the first threshold.
    pr_keep = downsample(len(tp_np) - 1) + 1
    predicted = tp_np[pr_keep] + fp_np[pr_keep]
    precision = np.where(predicted > 0, tp_np[pr_keep] / np.maximum(predicted, 1e-300), 1.0)
    curves["pr"] = {
        "recall": rounded(tpr[pr_keep]),
        "precision": rounded(precision),
        "thresholds": rounded(thresholds[pr_keep]),
    }
    p = torch.sigmoid(z).numpy()
    y = pos.numpy()
    wn = w.numpy()
    bins = np.minimum((p * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
    counts = np.bincount(bins, minlength=CALIBRATION_BINS)
    weight = np.bincount(bins, weights=wn, minlength=CALIBRATION_BINS)
    predicted_sum = np.bincount(bins, weights=wn * p, minlength=CALIBRATION_BINS)
    positive_sum = np.bincount(bins, weights=wn * y, minlength=CALIBRATION_BINS)
    curves["calibration"] = [
        {
            "lower": round6(b / CALIBRATION_BINS),
            "upper": round6((b + 1) / CALIBRATION_BINS),
            "count": int(counts[b]),
            "mean_predicted": round6(predicted_sum[b] / weight[b]),
            "fraction_positive": round6(positive_sum[b] / weight[b]),
        }
        for b in range(CALIBRATION_BINS)
        if counts[b] > 0 and weight[b] > 0
    ]
    predicted_class = (z > 0).numpy().astype(np.int64)
    matrix = np.bincount(y.astype(np.int64) * 2 + predicted_class, minlength=4).reshape(2, 2)
    curves["confusion"] = {
        "threshold": BINARY_THRESHOLD,
        "labels": [str(v)[:MAX_TEXT] for v in labels],
        "matrix": matrix.tolist(),
    }
    return curves


def residual_deciles(
    predictions: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> list[dict[str, Any]]:
    """Mean prediction, label and residual (label - prediction) by decile of the prediction."""
    order = np.argsort(predictions, kind="stable")
    rows = []
    for decile, part in enumerate(np.array_split(order, DECILES), start=1):
        if len(part) == 0:
            continue
        w = weights[part]
        total = w.sum()
        if total <= 0:
            continue
        mean_prediction = float(np.dot(w, predictions[part]) / total)
        mean_label = float(np.dot(w, labels[part]) / total)
        rows.append(
            {
                "decile": decile,
                "count": len(part),
                "mean_prediction": round6(mean_prediction),
                "mean_label": round6(mean_label),
                "mean_residual": round6(mean_label - mean_prediction),
            }
        )
    return rows
